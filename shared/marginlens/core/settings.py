"""Settings from environment variables, read once per process."""

from __future__ import annotations

import os
from decimal import Decimal
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from marginlens.core.currency import ExchangeRates, normalize_code, parse_rates

# genai-prices' own DEFAULT_UPDATE_URL, spelled out: importing it loads that package's HTTP client
# into every function (tests/unit/test_settings.py keeps the two equal).
GENAI_PRICES_URL = (
    "https://raw.githubusercontent.com/pydantic/genai-prices/refs/heads/main/prices/new_data/v2/data.json"
)


class Settings(BaseModel):
    """Each field from the environment variable its alias names (any case), unless given as an
    argument by that name. A plain pydantic model: pydantic-settings' sources (dotenv, cloud secret
    stores, a CLI parser) would add about 30 ms to every cold start for a dictionary read."""

    model_config = ConfigDict(extra="ignore")

    def __init__(self, **values: Any) -> None:
        environment = {name.upper(): value for name, value in os.environ.items()}
        super().__init__(**{**environment, **values})

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
    # Fixed rates into the reporting currency, `EUR=1.08,GBP=1.27` (1 EUR = 1.08 USD). Revenue in a
    # currency without a rate is reported apart (`revenue_unconverted`), never added to a total.
    exchange_rates: str = Field("", validation_alias="MARGINLENS_EXCHANGE_RATES")
    # Which cost the P&L counts for an event the provider reported a cost for (OpenRouter's
    # `usage.cost`, `provider_cost`): MarginLens's own (`computed`) or the provider's (`provider`).
    cost_source: Literal["computed", "provider"] = Field("computed", validation_alias="COST_SOURCE")

    # SHA-256 (hex) of the bootstrap admin key; the plaintext never reaches a function.
    admin_key_sha256: str | None = Field(None, validation_alias="MARGINLENS_ADMIN_KEY_SHA256")
    key_cache_seconds: int = Field(30, validation_alias="MARGINLENS_KEY_CACHE_SECONDS")
    # How long a function keeps the price book (snapshot, overrides, aliases) before re-reading it.
    price_cache_seconds: int = Field(300, ge=0, le=900, validation_alias="MARGINLENS_PRICE_CACHE_SECONDS")
    # The genai-prices data file the refresh fetches (a mirror works: the same v2 JSON format).
    prices_url: str = Field(GENAI_PRICES_URL, validation_alias="MARGINLENS_PRICES_URL")
    # A refresh is refused when the new file lists more than this % fewer models than the current one.
    prices_max_shrink_pct: Decimal = Field(
        Decimal("5"), ge=0, le=100, validation_alias="MARGINLENS_PRICES_MAX_SHRINK_PCT"
    )
    # Alerts go to this SNS topic when set (on AWS), else to a local JSON-lines file (and stderr).
    alerts_topic_arn: str | None = Field(None, validation_alias="MARGINLENS_ALERTS_TOPIC_ARN")
    alerts_file: Path = Field(Path(".marginlens/alerts.jsonl"), validation_alias="MARGINLENS_ALERTS_FILE")
    # Reads of the aggregates first wait up to this long for the aggregator to catch up (0: never;
    # the local stack sets 5, so a report right after an ingest sees it). `consistent=true` on a
    # report waits up to `consistent_wait_seconds` whatever this says.
    # The table's stream (on AWS; else DescribeTable names it): reports read it for their freshness.
    stream_arn: str | None = Field(None, validation_alias="MARGINLENS_STREAM_ARN")
    reports_wait_seconds: float = Field(0, ge=0, le=25, validation_alias="MARGINLENS_REPORTS_WAIT_SECONDS")
    consistent_wait_seconds: float = Field(
        5, ge=0, le=25, validation_alias="MARGINLENS_CONSISTENT_WAIT_SECONDS"
    )
    # The local stack evaluates budgets this often (the check_budgets schedule on AWS); 0: never.
    budget_check_seconds: int = Field(60, ge=0, validation_alias="MARGINLENS_BUDGET_CHECK_SECONDS")
    # Operational alerts (marginlens.alerts.operations): a threshold each, and a minimum volume below which
    # nothing is sent (small numbers page nobody).
    ops_daily_cost_spike_pct: Decimal = Field(
        Decimal("10"), ge=0, validation_alias="OPS_DAILY_COST_SPIKE_PCT"
    )
    ops_daily_cost_min: Decimal = Field(Decimal("10.00"), ge=0, validation_alias="OPS_DAILY_COST_MIN")
    ops_feature_growth_pct: Decimal = Field(Decimal("5"), ge=0, validation_alias="OPS_FEATURE_GROWTH_PCT")
    ops_feature_growth_min: Decimal = Field(Decimal("5.00"), ge=0, validation_alias="OPS_FEATURE_GROWTH_MIN")
    ops_unpriced_min_events: int = Field(1, ge=1, validation_alias="OPS_UNPRICED_MIN_EVENTS")
    ops_unattributed_min_events: int = Field(1, ge=1, validation_alias="OPS_UNATTRIBUTED_MIN_EVENTS")

    # Recommendations: a candidate may score at most this % below the current model on the chosen
    # index, and groups (feature x model) costing less than the minimum in the period are left out.
    recommend_tolerance_pct: Decimal = Field(
        Decimal("3"), ge=0, lt=100, validation_alias="RECOMMEND_QUALITY_TOLERANCE_PCT"
    )
    recommend_min_cost: Decimal = Field(Decimal("1.00"), ge=0, validation_alias="RECOMMEND_MIN_COST")

    # OpenTelemetry GenAI spans (POST /v1/otlp/v1/traces): the span or resource attributes that name
    # the customer and the feature, comma-separated, the first one set winning (each name on the
    # span, then on its resource). No customer attribute: strict mode rejects the span, lenient mode
    # books it to `unattributed`; no feature attribute: `default`.
    otlp_customer_attributes: str = Field(
        "marginlens.customer_id,enduser.id,user.id", validation_alias="MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES"
    )
    otlp_feature_attributes: str = Field(
        "marginlens.feature,gen_ai.operation.name", validation_alias="MARGINLENS_OTLP_FEATURE_ATTRIBUTES"
    )

    # Stripe webhook signing secrets (`whsec_...`). Locally: the value itself, comma-separated while
    # a secret is rolled (both are accepted). On AWS: unset; the function reads the Secrets Manager
    # secret STRIPE_WEBHOOK_SECRET_NAME names (see marginlens.revenue.webhook.webhook_secrets).
    stripe_webhook_secret: SecretStr | None = Field(None, validation_alias="STRIPE_WEBHOOK_SECRET")
    stripe_webhook_secret_name: str | None = Field(None, validation_alias="STRIPE_WEBHOOK_SECRET_NAME")
    # Slack incoming webhook for alerts. Locally: the URL itself (alerts are also posted there). On
    # AWS: unset; the notifier reads the Secrets Manager secret SLACK_WEBHOOK_SECRET_NAME names.
    slack_webhook_url: SecretStr | None = Field(None, validation_alias="SLACK_WEBHOOK_URL")
    slack_webhook_secret_name: str | None = Field(None, validation_alias="SLACK_WEBHOOK_SECRET_NAME")
    # Reconciliation (marginlens.reconciliation): the providers' admin keys for their cost reports.
    # Locally: the keys themselves. On AWS: unset; the job reads the Secrets Manager secret
    # PROVIDER_ADMIN_KEYS_SECRET_NAME names, `{"openai": "sk-admin-...", "anthropic": "sk-ant-admin..."}`.
    openai_admin_key: SecretStr | None = Field(None, validation_alias="OPENAI_ADMIN_KEY")
    anthropic_admin_key: SecretStr | None = Field(None, validation_alias="ANTHROPIC_ADMIN_KEY")
    provider_admin_keys_secret_name: str | None = Field(
        None, validation_alias="PROVIDER_ADMIN_KEYS_SECRET_NAME"
    )
    # The cost APIs' base URLs (a proxy, or the local fakes the tests run).
    openai_costs_url: str = Field("https://api.openai.com", validation_alias="OPENAI_COSTS_URL")
    anthropic_costs_url: str = Field("https://api.anthropic.com", validation_alias="ANTHROPIC_COSTS_URL")
    # A day and provider whose recorded cost differs from the bill by more than this % raises a
    # `cost_variance` alert, when the bill or the record reaches RECONCILE_MIN_COST (USD).
    reconcile_variance_pct: Decimal = Field(Decimal("5"), gt=0, validation_alias="RECONCILE_VARIANCE_PCT")
    reconcile_min_cost: Decimal = Field(Decimal("1.00"), ge=0, validation_alias="RECONCILE_MIN_COST")
    # The Stripe customer metadata key whose value is the MarginLens customer id.
    stripe_customer_metadata_key: str = Field(
        "customer_id", min_length=1, validation_alias="STRIPE_CUSTOMER_METADATA_KEY"
    )
    # Where refunds of charges are counted: `charge` (charge.refunded, any API version) or `refund`
    # (refund.* events, API 2024-10-28+). See marginlens.revenue.stripe_events.
    stripe_refund_source: Literal["charge", "refund"] = Field(
        "charge", validation_alias="STRIPE_REFUND_SOURCE"
    )
    # Which Stripe mode counts as revenue: live (true, the default on AWS) or test (false, the local
    # stack's default: the Stripe CLI sends test events). Events of the other mode are acknowledged
    # and ignored, so test invoices never reach a live P&L.
    stripe_livemode: bool = Field(True, validation_alias="STRIPE_LIVEMODE")

    @field_validator("exchange_rates")
    @classmethod
    def _rates_parse(cls, value: str) -> str:
        parse_rates(value)  # a malformed setting fails at start-up, naming the bad entry
        return value

    @field_validator("otlp_customer_attributes", "otlp_feature_attributes")
    @classmethod
    def _attribute_names(cls, value: str) -> str:
        for name in attribute_names(value):
            if len(name) > 255 or any(char.isspace() or not char.isprintable() for char in name):
                raise ValueError(f"{name!r} is not an attribute name")
        return value

    @field_validator("reporting_currency")
    @classmethod
    def _currency_code(cls, value: str) -> str:
        return normalize_code(value)

    def rates(self) -> ExchangeRates:
        return ExchangeRates.parse(self.exchange_rates, self.reporting_currency)

    def otlp_customer_attribute_names(self) -> tuple[str, ...]:
        return attribute_names(self.otlp_customer_attributes)

    def otlp_feature_attribute_names(self) -> tuple[str, ...]:
        return attribute_names(self.otlp_feature_attributes)


def attribute_names(value: str) -> tuple[str, ...]:
    """`a.b, c.d,` -> ("a.b", "c.d"): an ordered list of attribute names (empty: none)."""
    return tuple(name.strip() for name in value.split(",") if name.strip())


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()
