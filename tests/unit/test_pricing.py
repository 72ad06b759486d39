"""Prices from genai-prices: names resolve, costs are exact, unknown models are unpriced."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from genai_prices import Usage, calc_price

from marginlens.pricing.book import PriceBook

BOOK = PriceBook.baseline()
resolve = BOOK.resolve
price_call = BOOK.price

AT = datetime(2026, 11, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("name", "provider", "model"),
    [
        ("gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("GPT-4o-mini", "openai", "gpt-4o-mini"),
        ("openai/gpt-4o-mini", "openai", "gpt-4o-mini"),
        ("gpt-4o-mini-2024-07-18", "openai", "gpt-4o-mini"),
        ("claude-3-5-sonnet-20240620", "anthropic", "claude-3-5-sonnet"),
        ("claude-3.5-sonnet", "anthropic", "claude-3-5-sonnet"),
        ("anthropic/claude-3.5-sonnet", "anthropic", "claude-3-5-sonnet"),
        (
            "anthropic.claude-3-5-sonnet-20240620-v1:0",
            "aws",
            "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            "us.anthropic.claude-3-5-sonnet-20240620-v1:0",
            "aws",
            "regional.anthropic.claude-3-5-sonnet-20240620-v1:0",
        ),
        (
            "bedrock/anthropic.claude-3-haiku-20240307-v1:0",
            "aws",
            "regional.anthropic.claude-3-haiku-20240307-v1:0",
        ),
        ("vertex_ai/gemini-2.0-flash", "google", "gemini-2.0-flash"),
        ("gemini-1.5-flash", "google", "gemini-1.5-flash"),
        ("azure/gpt-4o", "azure", "gpt-4o"),
        ("openrouter/anthropic/claude-3.5-sonnet", "openrouter", "anthropic/claude-3.5-sonnet"),
    ],
)
def test_names_resolve(name: str, provider: str, model: str) -> None:
    resolved = resolve(name)
    assert resolved is not None, name
    assert (resolved.provider.id, resolved.model.id) == (provider, model)


def test_provider_hint_is_used() -> None:
    resolved = resolve("gpt-4o", "azure")
    assert resolved is not None and resolved.provider.id == "azure"


def test_seed_cost_equals_genai_prices() -> None:
    price = price_call(
        "gpt-4o-mini",
        None,
        input_tokens=120,
        output_tokens=80,
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=AT,
    )
    expected = calc_price(
        Usage(input_tokens=120, output_tokens=80), "gpt-4o-mini", genai_request_timestamp=AT
    )
    assert price.status == "priced" and price.cost == expected.total_price == Decimal("0.000066")
    assert isinstance(price.cost, Decimal) and price.unit_prices["input"] == Decimal("0.15")


def test_cached_tokens_are_part_of_the_input() -> None:
    whole = price_call(
        "claude-3-5-sonnet",
        None,
        input_tokens=1000,
        output_tokens=0,
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=AT,
    )
    cached = price_call(
        "claude-3-5-sonnet",
        None,
        input_tokens=1000,
        output_tokens=0,
        cache_read_tokens=500,
        cache_write_tokens=0,
        at=AT,
    )
    assert whole.cost == Decimal("0.003")  # 1000 x $3/M
    assert cached.cost == Decimal("0.00165")  # 500 x $3/M + 500 x $0.30/M


def test_unknown_model_is_unpriced_not_zero() -> None:
    price = price_call(
        "in-house-llm-7b",
        None,
        input_tokens=10,
        output_tokens=10,
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=AT,
    )
    assert price.status == "unpriced" and price.cost is None and price.resolved is None


def test_estimated_events_say_so() -> None:
    price = price_call(
        "gpt-4o-mini",
        None,
        input_tokens=10,
        output_tokens=10,
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=AT,
        estimated=True,
    )
    assert price.status == "estimated" and price.cost is not None


def test_the_baseline_has_thousands_of_models() -> None:
    assert BOOK.info.model_count >= 2000 and BOOK.info.fetched_at is None
