"""Settings: each field from its environment variable (any case), an argument winning over it."""

from __future__ import annotations

from decimal import Decimal

import pytest
from pydantic import ValidationError

from marginlens.core.settings import GENAI_PRICES_URL, Settings


def test_the_default_price_url_is_genai_prices_own() -> None:
    from genai_prices.update_prices import DEFAULT_UPDATE_URL

    assert GENAI_PRICES_URL == DEFAULT_UPDATE_URL
    assert Settings().prices_url == DEFAULT_UPDATE_URL


def test_a_setting_comes_from_its_variable_in_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGINLENS_TABLE", "from-env")
    monkeypatch.setenv("healthy_margin_pct", "35.5")
    settings = Settings()
    assert settings.table_name == "from-env"
    assert settings.healthy_margin_pct == Decimal("35.5")


def test_an_argument_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGINLENS_TABLE", "from-env")
    assert Settings(MARGINLENS_TABLE="given").table_name == "given"


def test_a_malformed_variable_fails_at_start_up_naming_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MARGINLENS_PRICE_CACHE_SECONDS", "9999")
    with pytest.raises(ValidationError, match="MARGINLENS_PRICE_CACHE_SECONDS"):
        Settings()


def test_the_otlp_attribute_lists_are_ordered_attribute_names(monkeypatch: pytest.MonkeyPatch) -> None:
    defaults = Settings()
    assert defaults.otlp_customer_attribute_names() == ("marginlens.customer_id", "enduser.id", "user.id")
    assert defaults.otlp_feature_attribute_names() == ("marginlens.feature", "gen_ai.operation.name")
    monkeypatch.setenv("MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES", " app.tenant , ,enduser.id")
    assert Settings().otlp_customer_attribute_names() == ("app.tenant", "enduser.id")
    monkeypatch.setenv("MARGINLENS_OTLP_CUSTOMER_ATTRIBUTES", "")
    assert Settings().otlp_customer_attribute_names() == ()
    monkeypatch.setenv("MARGINLENS_OTLP_FEATURE_ATTRIBUTES", "app feature")
    with pytest.raises(ValidationError, match="MARGINLENS_OTLP_FEATURE_ATTRIBUTES"):
        Settings()
