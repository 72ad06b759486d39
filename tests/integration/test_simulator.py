"""The simulator re-prices aggregates exactly, reads no events, and recommends within the tolerance."""

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from genai_prices import Usage

from marginlens.core.settings import Settings
from marginlens.pricing.book import PriceBook, PriceOverride
from marginlens.pricing.quality import PublishedScores, QualityBook, QualityStore, published
from marginlens.reports.pnl import Period
from marginlens.simulation.simulator import (
    RecommendationSettings,
    Recommender,
    TargetModel,
    load_groups,
    simulate,
)
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.ingest import IngestResult
from marginlens.usage.ledger import Ledger
from tests.integration.test_reports import count_items_read, seed

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]


def last_month() -> date:
    first_of_this = datetime.now(UTC).date().replace(day=1)
    return (first_of_this - timedelta(days=1)).replace(day=1)


def summarize_on_gpt4o(count: int, month: date) -> list[dict[str, Any]]:
    """`count` summarize calls on gpt-4o over the month, with varied and partly cached inputs."""
    events = []
    for n in range(count):
        prompt = 800 + (n * 7919) % 30_000
        events.append(
            {
                "request_id": f"sum_{month}_{n}",
                "customer_id": f"cust_{n % 3}",
                "model": "gpt-4o",
                "feature": "summarize",
                "prompt_tokens": prompt,
                "cached_tokens": (prompt // 2) if n % 3 == 0 else 0,
                "completion_tokens": 50 + (n * 104_729) % 1_500,
                "timestamp": datetime(month.year, month.month, 1 + n % 28, 9, n % 60, tzinfo=UTC).isoformat(),
            }
        )
    return events


def send_all(send: Send, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 100):
        batch = events[start : start + 100]
        assert send({"events": batch}).count("created") == len(batch)


def calc_price(model: str, event: dict[str, Any]) -> Decimal:
    """genai-prices' own price of one call, as the acceptance criterion states it."""
    provider, info = PriceBook.baseline().snapshot.find_provider_model(model, None, None, None)
    usage = Usage(
        input_tokens=event["prompt_tokens"],
        cache_read_tokens=event["cached_tokens"],
        output_tokens=event["completion_tokens"],
    )
    at = datetime.fromisoformat(event["timestamp"])
    return info.calc_price(usage, provider, genai_request_timestamp=at).total_price


def test_simulated_cost_is_the_sum_of_genai_prices_per_call_exactly(send: Send, ledger: Ledger) -> None:
    month = last_month()
    events = summarize_on_gpt4o(90, month)
    send_all(send, events)

    groups = load_groups(ledger, Period.parse(month.strftime("%Y-%m"), None, None))
    result = simulate(groups, TargetModel(PriceBook.baseline(), "gpt-4o-mini"))

    [row] = result["rows"]
    expected_cost = sum((calc_price("gpt-4o", event) for event in events), Decimal(0))
    expected_simulated = sum((calc_price("gpt-4o-mini", event) for event in events), Decimal(0))
    assert (row["feature"], row["current_model"], row["events"]) == ("summarize", "openai/gpt-4o", 90)
    assert row["simulated_model"] == "openai/gpt-4o-mini"
    assert Decimal(row["cost"]) == expected_cost
    assert Decimal(row["simulated_cost"]) == expected_simulated
    assert Decimal(row["savings"]) == expected_cost - expected_simulated
    expected_pct = ((expected_cost - expected_simulated) * 100 / expected_cost).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_EVEN
    )
    assert row["savings_pct"] == str(expected_pct)
    assert row["cache_priced_as_input"] is False  # gpt-4o-mini has a cache price
    assert result["totals"]["savings"] == row["savings"] and result["totals"]["rows_compared"] == 1


def test_cached_tokens_on_a_target_without_cache_prices_are_plain_input_and_said(
    send: Send, ledger: Ledger
) -> None:
    month = last_month()
    events = summarize_on_gpt4o(12, month)
    send_all(send, events)
    at = datetime(month.year, month.month, 1, tzinfo=UTC)
    book = PriceBook.baseline()
    book.overrides = {
        "no-cache-llm": [PriceOverride("no-cache-llm", "no-cache-llm", at, Decimal("2"), Decimal("8"))]
    }

    [row] = simulate(
        load_groups(ledger, Period.parse(month.strftime("%Y-%m"), None, None)),
        TargetModel(book, "no-cache-llm"),
    )["rows"]

    prompt = sum(event["prompt_tokens"] for event in events)
    completion = sum(event["completion_tokens"] for event in events)
    assert Decimal(row["simulated_cost"]) == (prompt * 2 + completion * 8) / Decimal(1_000_000)
    assert row["cache_priced_as_input"] is True
    assert any("cached tokens are priced as plain input" in note for note in row["notes"])


def test_a_simulation_reads_as_many_items_for_20_events_as_for_2000(
    send: Send, ledger: Ledger, client: DynamoDBClient
) -> None:
    small, large = last_month(), (last_month() - timedelta(days=1)).replace(day=1)
    seed(send, 20, small)
    seed(send, 2000, large)
    target = TargetModel(PriceBook.baseline(), "gpt-4o")

    reads = []
    for month in (small, large):
        read, stop = count_items_read(client)
        result = simulate(load_groups(ledger, Period.parse(month.strftime("%Y-%m"), None, None)), target)
        stop()
        reads.append(read["items"])
        assert result["totals"]["events"] == (20 if month == small else 2000)
    assert reads[0] == reads[1] > 0


def _recommender(book: PriceBook, quality: QualityBook, **overrides: Any) -> Recommender:
    options = {"index": "arena_text", "tolerance_pct": Decimal(3), "min_cost": Decimal(0), "limit": 50}
    return Recommender(book, quality, RecommendationSettings(**(options | overrides)))


def test_recommendations_for_gpt4o_are_cheaper_within_tolerance_ranked_by_quality_per_dollar(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Settings
) -> None:
    month = last_month()
    send_all(send, summarize_on_gpt4o(60, month))
    book = PriceBook.baseline()
    store = QualityStore(client, settings.table_name)
    at = datetime(month.year, month.month, 1, tzinfo=UTC)
    # A cheap in-house model scored by its team on another index only: unscored on arena_text.
    book.overrides = {
        "house-llm": [PriceOverride("house-llm", "house-llm", at, Decimal("0.01"), Decimal("0.02"))]
    }
    store.put("house-llm", "house-llm", "aa_intelligence", Decimal(20), "our eval", None, month)
    quality = store.book()

    [group] = _recommender(book, quality).recommend(
        load_groups(ledger, Period.parse(month.strftime("%Y-%m"), None, None))
    )[0]

    current = quality.score("openai/gpt-4o", "arena_text")
    assert current is not None and group["current_quality"]["score"] == format(current.score, "f")
    floor = current.score * Decimal("0.97")
    candidates = group["candidates"]
    assert group["status"] == "ok" and candidates
    cost = Decimal(group["cost"])
    for candidate in candidates:
        assert Decimal(candidate["simulated_cost"]) < cost
        assert Decimal(candidate["quality"]["score"]) >= floor
        assert candidate["quality"]["source"] and candidate["quality"]["date"]
        assert candidate["model"] != "openai/gpt-4o"
        change = (Decimal(candidate["quality"]["score"]) - current.score) * 100 / current.score
        assert candidate["quality_change_pct"] == str(
            change.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN)
        )
        assert Decimal(candidate["quality_change_pct"]) >= Decimal(-3)
    ratios = [Decimal(candidate["quality_per_dollar"]) for candidate in candidates]
    assert ratios == sorted(ratios, reverse=True)
    assert [candidate["rank"] for candidate in candidates] == list(range(1, len(candidates) + 1))
    # Every cheaper model scored below the floor is left out; the unscored one is listed apart.
    ranked = {candidate["model"] for candidate in candidates}
    for ref in quality.candidates():
        score = quality.score(ref, "arena_text")
        if score is not None and score.score < floor:
            assert ref not in ranked
    unscored = {candidate["model"]: candidate for candidate in group["unscored"]}
    assert "house-llm" in unscored and "house-llm" not in ranked
    assert unscored["house-llm"]["rank"] is None and unscored["house-llm"]["quality"] is None


def test_a_tighter_tolerance_only_removes_candidates(send: Send, ledger: Ledger) -> None:
    month = last_month()
    send_all(send, summarize_on_gpt4o(30, month))
    groups = load_groups(ledger, Period.parse(month.strftime("%Y-%m"), None, None))
    quality = QualityBook(published())
    loose = _recommender(PriceBook.baseline(), quality, tolerance_pct=Decimal(10), limit=500).recommend(
        groups
    )[0][0]
    tight = _recommender(PriceBook.baseline(), quality, tolerance_pct=Decimal(0), limit=500).recommend(
        groups
    )[0][0]
    loose_models = {candidate["model"] for candidate in loose["candidates"]}
    tight_models = {candidate["model"] for candidate in tight["candidates"]}
    assert tight_models < loose_models


def test_an_unscored_current_model_gets_no_ranking(send: Send, ledger: Ledger) -> None:
    month = last_month()
    send_all(send, summarize_on_gpt4o(10, month))
    groups = load_groups(ledger, Period.parse(month.strftime("%Y-%m"), None, None))
    data = published()
    without_gpt4o = tuple(model for model in data.models if "openai/gpt-4o" not in model.refs)
    quality = QualityBook(PublishedScores(data.indexes, without_gpt4o))
    [group] = _recommender(PriceBook.baseline(), quality).recommend(groups)[0]
    assert group["current_quality"] is None
    assert group["status"] == "current_unscored" and group["candidates"] == []


def test_each_day_is_priced_with_the_targets_price_in_force_that_day(send: Send, ledger: Ledger) -> None:
    month = last_month()
    events = summarize_on_gpt4o(56, month)
    send_all(send, events)
    switch = datetime(month.year, month.month, 15, tzinfo=UTC)
    book = PriceBook.baseline()
    resolved = book.resolve("gpt-4o-mini")
    assert resolved is not None
    # From the 15th the target costs what an override says; before, its upstream price.
    book.overrides = {
        resolved.ref: [PriceOverride(resolved.ref, "gpt-4o-mini", switch, Decimal("1"), Decimal("2"))]
    }

    [row] = simulate(
        load_groups(ledger, Period.parse(month.strftime("%Y-%m"), None, None)),
        TargetModel(book, "gpt-4o-mini"),
    )["rows"]

    def overridden(event: dict[str, Any]) -> Decimal:
        return (event["prompt_tokens"] * 1 + event["completion_tokens"] * 2) / Decimal(1_000_000)

    expected = sum(
        (
            overridden(event)
            if datetime.fromisoformat(event["timestamp"]) >= switch
            else calc_price("gpt-4o-mini", event)
            for event in events
        ),
        Decimal(0),
    )
    assert Decimal(row["simulated_cost"]) == expected
    assert row["cache_priced_as_input"] is True  # the override has no cache price
