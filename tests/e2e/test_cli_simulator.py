"""`marginlens simulate`, `marginlens recommend` and `marginlens quality ...` against the local stack."""

import json
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from genai_prices import Usage

from marginlens.pricing.book import PriceBook
from tests.e2e.conftest import RunningStack
from tests.e2e.test_cli import invoke, row_of

pytestmark = pytest.mark.e2e

CUSTOMER = "sim_cust"
EVENTS = 30


def last_month() -> date:
    return (datetime.now(UTC).date().replace(day=1) - timedelta(days=1)).replace(day=1)


def summarize_events(month: date) -> list[dict[str, Any]]:
    """30 summarize calls on gpt-4o over last month: about $21, well above the $1 minimum."""
    return [
        {
            "request_id": f"sim_{month}_{n}",
            "customer_id": CUSTOMER,
            "model": "gpt-4o",
            "feature": "summarize",
            "prompt_tokens": 200_000 + n * 1_000,
            "completion_tokens": 20_000,
            "timestamp": datetime(month.year, month.month, 1 + n % 28, 10, n, tzinfo=UTC).isoformat(),
        }
        for n in range(EVENTS)
    ]


def send(stack: RunningStack, events: list[dict[str, Any]]) -> None:
    with stack.client() as client:
        for start in range(0, len(events), 100):
            batch = events[start : start + 100]
            results = client.post("/v1/usage", json={"events": batch}).json()["results"]
            assert [result["status"] for result in results] == ["created"] * len(batch)
            assert {result["price_status"] for result in results} == {"priced"}


def calc_price(model: str, event: dict[str, Any]) -> Decimal:
    provider, info = PriceBook.baseline().snapshot.find_provider_model(model, None, None, None)
    usage = Usage(input_tokens=event["prompt_tokens"], output_tokens=event["completion_tokens"])
    at = datetime.fromisoformat(event["timestamp"])
    return info.calc_price(usage, provider, genai_request_timestamp=at).total_price


@pytest.fixture
def seeded(local_stack: RunningStack) -> tuple[RunningStack, str, list[dict[str, Any]]]:
    month = last_month()
    events = summarize_events(month)
    send(local_stack, events)
    return local_stack, month.strftime("%Y-%m"), events


def test_simulate_prints_the_apis_exact_amounts(
    seeded: tuple[RunningStack, str, list[dict[str, Any]]],
) -> None:
    stack, month, events = seeded
    answer = invoke(stack, "simulate", "--to", "gpt-4o-mini", "--month", month, "--json")
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.stdout)
    [row] = body["rows"]
    assert (row["feature"], row["current_model"], row["events"]) == ("summarize", "openai/gpt-4o", EVENTS)
    assert body["to_model"]["id"] == "openai/gpt-4o-mini"
    expected_cost = sum((calc_price("gpt-4o", event) for event in events), Decimal(0))
    expected_simulated = sum((calc_price("gpt-4o-mini", event) for event in events), Decimal(0))
    assert Decimal(row["cost"]) == expected_cost > 1
    assert Decimal(row["simulated_cost"]) == expected_simulated
    assert Decimal(row["savings"]) == expected_cost - expected_simulated

    shown = invoke(stack, "simulate", "--to", "gpt-4o-mini", "--month", month)
    assert shown.exit_code == 0, shown.output
    assert row_of(shown.stdout, "summarize") == [
        "summarize",
        "openai/gpt-4o",
        str(EVENTS),
        row["cost"],
        row["simulated_cost"],
        row["savings"],
        row["savings_pct"],
    ]
    totals = body["totals"]
    assert row_of(shown.stdout, "total") == [
        "total",
        str(totals["events"]),
        totals["cost"],
        totals["simulated_cost"],
        totals["savings"],
        totals["savings_pct"],
    ]
    assert body["to_model"]["price_source"] in shown.stdout

    # The same days as a range give the same rows; another current model gives none.
    first = date.fromisoformat(f"{month}-01")
    last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
    ranged = invoke(
        stack, "simulate", "--to", "gpt-4o-mini", "--from-day", str(first), "--to-day", str(last), "--json"
    )
    assert ranged.exit_code == 0, ranged.output
    assert json.loads(ranged.stdout)["rows"] == body["rows"]
    other = invoke(stack, "simulate", "--to", "gpt-4o-mini", "--month", month, "--from-model", "gpt-4o-mini")
    assert other.exit_code == 0, other.output
    assert "No usage recorded" in other.stdout


def test_simulate_notes_unpriced_events_under_the_table(local_stack: RunningStack) -> None:
    month = last_month()
    at = datetime(month.year, month.month, 3, 12, tzinfo=UTC).isoformat()
    event = {
        "request_id": "sim_unpriced",
        "customer_id": CUSTOMER,
        "model": "acme-house-llm",
        "feature": "chat",
        "prompt_tokens": 1_000,
        "completion_tokens": 10,
        "timestamp": at,
    }
    with local_stack.client() as client:
        [result] = client.post("/v1/usage", json={"events": [event]}).json()["results"]
    assert result["price_status"] == "unpriced"

    shown = invoke(local_stack, "simulate", "--to", "gpt-4o-mini", "--month", month.strftime("%Y-%m"))
    assert shown.exit_code == 0, shown.output
    assert row_of(shown.stdout, "chat")[-2:] == ["-", "n/a"]  # no savings figure for an incomplete cost
    assert "chat on acme-house-llm: 1 of these events are unpriced" in shown.stdout
    assert "The totals cover 0 of 1 rows" in shown.stdout


def test_simulate_refuses_an_unknown_model_and_mixed_periods(local_stack: RunningStack) -> None:
    unknown = invoke(local_stack, "simulate", "--to", "no-such-model-xyz", "--month", "2026-01")
    assert unknown.exit_code == 1
    assert "no model matches 'no-such-model-xyz' in the price table" in unknown.stderr
    assert "/to_model" in unknown.stderr

    mixed = invoke(
        local_stack, "simulate", "--to", "gpt-4o-mini", "--month", "2026-01", "--from-day", "2026-01-01"
    )
    assert mixed.exit_code == 2
    assert "give either --month or --from-day/--to-day" in mixed.output


def test_recommend_lists_cheaper_models_with_their_sources(
    seeded: tuple[RunningStack, str, list[dict[str, Any]]],
) -> None:
    stack, month, _ = seeded
    args = ("recommend", "--month", month, "--limit", "50")
    answer = invoke(stack, *args, "--json")
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.stdout)
    [group] = body["groups"]
    assert (group["feature"], group["current_model"], group["status"]) == ("summarize", "openai/gpt-4o", "ok")
    by_model = {candidate["model"]: candidate for candidate in group["candidates"]}
    assert "openai/gpt-4o-mini" in by_model
    mini = by_model["openai/gpt-4o-mini"]

    shown = invoke(stack, *args)
    assert shown.exit_code == 0, shown.output
    current = group["current_quality"]
    assert (
        f"current score {current['score']} on arena_text ({current['source']}, {current['date']})"
        in shown.stdout
    )
    cells = row_of(shown.stdout, str(mini["rank"]))
    assert cells[:6] == [
        str(mini["rank"]),
        "openai/gpt-4o-mini",
        mini["quality"]["score"],
        mini["quality_change_pct"],  # against gpt-4o's score
        mini["quality"]["date"],  # the source's date
        "index snapshot",  # the source the heading names
    ]
    assert f"scores from {body['quality_index']['source']} ({body['quality_index']['date']})" in shown.stdout
    assert cells[-4:] == [
        mini["quality_per_dollar"],
        mini["simulated_cost"],
        mini["savings"],
        mini["savings_pct"],
    ]
    for candidate in group["candidates"]:
        row = row_of(shown.stdout, str(candidate["rank"]))
        assert (row[1], row[4]) == (candidate["model"], candidate["quality"]["date"])
    assert group["unscored"] and "Not ranked: no score on arena_text:" in shown.stdout
    for candidate in group["unscored"]:
        assert f"{candidate['model']}: simulated cost {candidate['simulated_cost']}" in shown.stdout

    # No tolerance: every candidate scores at least the current model's score.
    strict = invoke(stack, *args, "--tolerance", "0", "--json")
    assert strict.exit_code == 0, strict.output
    [strict_group] = json.loads(strict.stdout)["groups"]
    assert Decimal(strict_group["min_quality"]) == Decimal(current["score"])

    def ranked(of: dict[str, Any]) -> int:
        return len(of["candidates"]) + of["more_candidates"]

    assert ranked(strict_group) < ranked(group)
    assert "openai/gpt-4o-mini" in {candidate["model"] for candidate in strict_group["candidates"]}


def test_recommend_for_a_customer_shows_the_margin_after_the_best_swap(
    seeded: tuple[RunningStack, str, list[dict[str, Any]]],
) -> None:
    stack, month, _ = seeded
    revenue = {"external_id": "sim_rev", "customer_id": CUSTOMER, "amount": "40.00", "currency": "USD"}
    with stack.client() as client:
        first = date.fromisoformat(f"{month}-01")
        last = (first + timedelta(days=32)).replace(day=1) - timedelta(days=1)
        pushed = client.post(
            "/v1/revenue", json={**revenue, "period_start": str(first), "period_end": str(last)}
        )
    assert pushed.status_code == 201, pushed.text

    answer = invoke(stack, "recommend", "--month", month, "--customer", CUSTOMER, "--json")
    assert answer.exit_code == 0, answer.output
    body = json.loads(answer.stdout)
    customer = body["customer"]
    best = body["groups"][0]["candidates"][0]
    assert customer["revenue"] == "40.00"
    assert Decimal(customer["margin_after_best"]) == Decimal(customer["margin"]) + Decimal(best["savings"])

    shown = invoke(stack, "recommend", "--month", month, "--customer", CUSTOMER)
    assert shown.exit_code == 0, shown.output
    assert (
        f"revenue 40.00, cost {customer['cost']}, margin {customer['margin']} ({customer['margin_pct']}%)"
        in shown.stdout
    )
    assert (
        f"margin with the best swap in every group: {customer['margin_after_best']} "
        f"({customer['margin_pct_after_best']}%)" in shown.stdout
    )
    assert row_of(shown.stdout, "1")[-2:] == [best["margin_after"], best["margin_pct_after"]]


def test_recommend_explains_an_unscored_current_model_and_small_groups(local_stack: RunningStack) -> None:
    month = last_month()
    events = [
        {**event, "request_id": f"x{event['request_id']}", "model": "acme-house-llm", "feature": "draft"}
        for event in summarize_events(month)
    ]
    set_price = invoke(
        local_stack,
        "prices",
        "set",
        "acme-house-llm",
        "--input",
        "5",
        "--output",
        "15",
        "--effective-from",
        datetime(month.year, month.month, 1, tzinfo=UTC).isoformat(),
    )
    assert set_price.exit_code == 0, set_price.output
    send(local_stack, [*events, *summarize_events(month)[:1]])

    shown = invoke(local_stack, "recommend", "--month", month.strftime("%Y-%m"), "--min-cost", "5")
    assert shown.exit_code == 0, shown.output
    assert "draft on acme-house-llm" in shown.stdout
    assert "acme-house-llm has no score on arena_text" in shown.stdout
    assert "marginlens quality set acme-house-llm --index arena_text --score N" in shown.stdout
    assert "Left out: 1 feature/model group(s) costing less than 5.00" in shown.stdout  # one summarize call


def test_recommend_refuses_an_unknown_quality_index(local_stack: RunningStack) -> None:
    bad = invoke(local_stack, "recommend", "--quality", "vibes")
    assert bad.exit_code == 1
    assert "Error 422" in bad.stderr and "quality" in bad.stderr
    assert bad.stdout == ""


def test_quality_set_show_unset(local_stack: RunningStack) -> None:
    before = json.loads(invoke(local_stack, "quality", "show", "gpt-4o-mini", "--json").stdout)
    assert before["id"] == "openai/gpt-4o-mini"
    assert all(score["origin"] == "published" for score in before["quality"])
    published = {score["index"]: score for score in before["quality"]}

    set_score = invoke(
        local_stack,
        "quality",
        "set",
        "gpt-4o-mini",
        "--score",
        "1290",
        "--source",
        "our summarize eval",
        "--source-url",
        "https://example.com/eval",
        "--date",
        "2026-01-15",
    )
    assert set_score.exit_code == 0, set_score.output
    assert (
        "openai/gpt-4o-mini: 1290 on arena_text (our summarize eval, 2026-01-15, set by you)"
        in set_score.stdout
    )

    shown = invoke(local_stack, "quality", "show", "gpt-4o-mini")
    assert shown.exit_code == 0, shown.output
    assert row_of(shown.stdout, "arena_text") == [
        "arena_text",
        "1290",
        "our summarize eval",
        "2026-01-15",
        "user",
    ]
    assert "arena_text: https://example.com/eval" in shown.stdout
    for index, score in published.items():
        if index != "arena_text":
            assert row_of(shown.stdout, index)[1] == score["score"]

    unset = invoke(local_stack, "quality", "unset", "gpt-4o-mini", "--index", "arena_text")
    assert unset.exit_code == 0, unset.output
    assert "Removed your arena_text score of openai/gpt-4o-mini" in unset.stdout
    after = json.loads(invoke(local_stack, "quality", "show", "gpt-4o-mini", "--json").stdout)
    assert after["quality"] == before["quality"]

    again = invoke(local_stack, "quality", "unset", "gpt-4o-mini", "--index", "arena_text")
    assert again.exit_code == 1
    assert "Error 404" in again.stderr and "has no score of yours on arena_text" in again.stderr
    unknown = invoke(local_stack, "quality", "set", "no-such-model-xyz", "--score", "10")
    assert unknown.exit_code == 1 and "No model matches 'no-such-model-xyz'" in unknown.stderr
