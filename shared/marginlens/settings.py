"""Settings from environment variables, read once per process."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache
from pathlib import Path

from genai_prices.update_prices import DEFAULT_UPDATE_URL
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    table_name: str = Field("marginlens", validation_alias="MARGINLENS_TABLE")
    # Set locally (DynamoDB engine on loopback); unset on AWS.
    dynamodb_endpoint: str | None = Field(None, validation_alias="MARGINLENS_DYNAMODB_ENDPOINT")
    aws_region: str = Field("us-east-1", validation_alias="AWS_REGION")

    strict_customer_id: bool = Field(True, validation_alias="STRICT_CUSTOMER_ID")
    strict_token_counts: bool = Field(True, validation_alias="STRICT_TOKEN_COUNTS")
    token_estimate_factor: Decimal = Field(Decimal("1.1"), validation_alias="TOKEN_ESTIMATE_FACTOR")
    max_event_age_days: int = Field(400, validation_alias="MAX_EVENT_AGE_DAYS")
    max_future_skew_seconds: int = Field(300, validation_alias="MAX_FUTURE_SKEW_SECONDS")
    healthy_margin_pct: Decimal = Field(Decimal("20"), validation_alias="HEALTHY_MARGIN_PCT")
    reporting_currency: str = Field("USD", validation_alias="REPORTING_CURRENCY")

    # SHA-256 (hex) of the bootstrap admin key; the plaintext never reaches a function.
    admin_key_sha256: str | None = Field(None, validation_alias="MARGINLENS_ADMIN_KEY_SHA256")
    key_cache_seconds: int = Field(30, validation_alias="MARGINLENS_KEY_CACHE_SECONDS")
    # How long a function keeps the price book (snapshot, overrides, aliases) before re-reading it.
    price_cache_seconds: int = Field(300, ge=0, le=900, validation_alias="MARGINLENS_PRICE_CACHE_SECONDS")
    # The genai-prices data file the refresh fetches (a mirror works: the same v2 JSON format).
    prices_url: str = Field(DEFAULT_UPDATE_URL, validation_alias="MARGINLENS_PRICES_URL")
    # A refresh is refused when the new file lists more than this % fewer models than the current one.
    prices_max_shrink_pct: Decimal = Field(
        Decimal("5"), ge=0, le=100, validation_alias="MARGINLENS_PRICES_MAX_SHRINK_PCT"
    )
    # Alerts go to this SNS topic when set (on AWS), else to a local JSON-lines file (and stderr).
    alerts_topic_arn: str | None = Field(None, validation_alias="MARGINLENS_ALERTS_TOPIC_ARN")
    alerts_file: Path = Field(Path(".marginlens/alerts.jsonl"), validation_alias="MARGINLENS_ALERTS_FILE")


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
