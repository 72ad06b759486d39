"""The price book on DynamoDB: aliases, overrides with effective_from, custom models, tiers."""

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook, PriceOverride
from marginlens.pricing.store import PriceStore
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger

pytestmark = pytest.mark.integration

NOW = datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def store(client: DynamoDBClient, settings: Settings) -> PriceStore:
    return PriceStore(client, settings.table_name, cache_seconds=0)


def event(request_id: str, model: str, at: datetime, **fields: Any) -> dict[str, Any]:
    return {
        "request_id": request_id,
        "customer_id": "acct_1",
        "model": model,
        "prompt_tokens": 1_000_000,
        "completion_tokens": 100_000,
        "timestamp": at.isoformat(),
        **fields,
    }


def send(settings: Settings, ledger: Ledger, book: PriceBook, payload: Any) -> dict[str, Any]:
    result = ingest(
        payload, settings=settings, ledger=ledger, prices=book, now=datetime.now(UTC), key_id=None
    )
    return result.results[0]


def test_no_refresh_yet_means_the_bundled_baseline(store: PriceStore) -> None:
    info = store.current_info()
    assert info.fetched_at is None and info.model_count >= 2000
    assert store.book().info == info and store.history() == []


def test_alias_prices_a_deployment_name_as_its_model(
    store: PriceStore, settings: Settings, ledger: Ledger
) -> None:
    unpriced = send(settings, ledger, store.book(), event("a1", "my-azure-gpt4o", NOW - timedelta(hours=1)))
    assert unpriced["price_status"] == "unpriced"
    store.put_alias("my-azure-gpt4o", "azure/gpt-4o")
    book = store.book()
    priced = send(settings, ledger, book, event("a2", "My-Azure-GPT4o", NOW - timedelta(hours=1)))
    direct = book.price(
        "azure/gpt-4o",
        None,
        input_tokens=1_000_000,
        output_tokens=100_000,
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=NOW,
    )
    assert priced["price_status"] == "priced" and Decimal(priced["cost"]) == direct.cost
    assert ledger.get_event("a2")["model_ref"] == "azure/gpt-4o"


def test_override_applies_from_its_effective_time(
    store: PriceStore, settings: Settings, ledger: Ledger
) -> None:
    book = store.book()
    upstream = book.price(
        "gpt-4o-mini",
        None,
        input_tokens=1_000_000,
        output_tokens=100_000,
        cache_read_tokens=0,
        cache_write_tokens=0,
        at=NOW,
    )
    switch = NOW - timedelta(days=3)
    store.put_override(
        PriceOverride(
            key=book.override_key("gpt-4o-mini"),
            model="gpt-4o-mini",
            effective_from=switch,
            input_mtok=Decimal("0.10"),
            output_mtok=Decimal("0.40"),
        )
    )
    book = store.book()
    before = send(settings, ledger, book, event("o1", "openai/gpt-4o-mini", switch - timedelta(seconds=1)))
    after = send(settings, ledger, book, event("o2", "gpt-4o-mini-2024-07-18", switch))
    assert Decimal(before["cost"]) == upstream.cost  # 1M x 0.15 + 0.1M x 0.60 = 0.21
    assert Decimal(after["cost"]) == Decimal("0.10") + Decimal("0.04")
    stored = ledger.get_event("o2")
    assert stored["price_version"].startswith("override@") and stored["unit_prices_per_mtok"][
        "input"
    ] == Decimal("0.10")
    assert ledger.get_event("o1")["price_version"].startswith("genai-prices@")


def test_custom_model_gets_its_own_price(store: PriceStore, settings: Settings, ledger: Ledger) -> None:
    book = store.book()
    store.put_override(
        PriceOverride(
            key=book.override_key("acme-finetune-v2"),
            model="acme-finetune-v2",
            effective_from=NOW - timedelta(days=30),
            input_mtok=Decimal("2"),
            output_mtok=Decimal("8"),
            cache_read_mtok=Decimal("0.5"),
            provider="acme",
        )
    )
    result = send(
        settings,
        ledger,
        store.book(),
        event("c1", "ACME-finetune-v2", NOW - timedelta(hours=2), cached_tokens=400_000),
    )
    # 600k uncached x $2 + 400k cached x $0.5 + 100k out x $8, per million
    assert Decimal(result["cost"]) == Decimal("1.2") + Decimal("0.2") + Decimal("0.8")
    assert ledger.get_event("c1")["model_ref"] == "acme-finetune-v2"


def test_long_context_requests_are_billed_at_their_tier() -> None:
    book = PriceBook.baseline()

    def cost(tokens: int) -> Decimal:
        price = book.price(
            "gemini-1.5-pro",
            None,
            input_tokens=tokens,
            output_tokens=0,
            cache_read_tokens=0,
            cache_write_tokens=0,
            at=NOW,
        )
        assert price.cost is not None
        return price.cost

    assert cost(100_000) == Decimal("0.125")  # $1.25 / M up to 128k
    assert cost(200_000) == Decimal("0.5")  # the whole request at $2.50 / M above it


def test_estimated_events_show_in_the_pnl(client: DynamoDBClient, settings: Settings, ledger: Ledger) -> None:
    from marginlens.reports.pnl import Period, PnlReport

    lenient = settings.model_copy(update={"strict_token_counts": False})
    at = NOW - timedelta(days=1)
    chars = {
        "request_id": "e1",
        "customer_id": "est",
        "model": "gpt-4o-mini",
        "prompt_chars": 4000,
        "completion_chars": 400,
        "timestamp": at.isoformat(),
    }
    result = send(lenient, ledger, PriceBook.baseline(), chars)
    assert result["price_status"] == "estimated"
    stored = ledger.get_event("e1")
    assert (stored["prompt_tokens"], stored["completion_tokens"]) == (1100, 110)  # ceil(chars / 4 x 1.1)
    strict = ingest(
        chars | {"request_id": "e2"},
        settings=settings,
        ledger=ledger,
        prices=PriceBook.baseline(),
        now=datetime.now(UTC),
        key_id=None,
    )
    assert strict.status_code == 422
    report = PnlReport(ledger, healthy_pct=Decimal(20)).customer("est", Period(at.date(), at.date()))
    assert report["estimated_events"] == 1 and Decimal(report["estimated_cost"]) == Decimal(result["cost"])
