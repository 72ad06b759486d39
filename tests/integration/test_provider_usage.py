"""Usage as providers report it: their usage objects posted raw, every billable unit, price tiers.

The expected cost of each call is what genai-prices itself computes from the provider's response
(`extract_usage(...).calc_price(...)`), so the mapping from a provider's object to MarginLens's
buckets is checked against the price data's own, not against numbers written here.
"""

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from genai_prices import Usage, data_snapshot, extract_usage

from marginlens.core.money import money_str
from marginlens.pricing.book import PriceBook
from marginlens.reports.pnl import Period
from marginlens.simulation.simulator import TargetModel, load_groups, simulate
from marginlens.storage.dynamodb import DynamoDBClient
from marginlens.usage.ingest import IngestResult
from marginlens.usage.ledger import Ledger
from marginlens.usage.reprice import reprice
from tests.integration.conftest import BASE_TIME, scan_all

pytestmark = pytest.mark.integration

Send = Callable[[Any], IngestResult]
SDK_RESPONSES = Path(__file__).parents[1] / "sdk" / "responses"
PROVIDER_RESPONSES = Path(__file__).parents[1] / "provider_usage"
AT = BASE_TIME - timedelta(days=2)
BEDROCK_MODEL = "anthropic.claude-3-5-sonnet-20241022-v2:0"


def response(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(), parse_float=Decimal)


def snapshot() -> Any:
    return data_snapshot._bundled_snapshot()


def expected_cost(body: dict[str, Any], provider: str, flavor: str, model: str | None = None) -> Decimal:
    """genai-prices' own price of the response: its extractor, then its calculation."""
    extracted = extract_usage(body, provider_id=provider, api_flavor=flavor)
    found = snapshot().find_provider_model(model, None, provider, None)[1] if model else None
    return extracted.calc_price(genai_request_timestamp=AT, model=found).total_price


# (file, provider as sent, api_flavor as sent, genai-prices provider id and flavor, model as sent)
SHAPES = [
    (PROVIDER_RESPONSES / "openai_chat_audio.json", "openai", "chat", ("openai", "chat"), None),
    (SDK_RESPONSES / "openai_chat_reasoning.json", "openai", None, ("openai", "chat"), None),
    (SDK_RESPONSES / "openai_responses.json", "openai", "responses", ("openai", "responses"), None),
    (SDK_RESPONSES / "anthropic.json", "anthropic", "messages", ("anthropic", "default"), None),
    (SDK_RESPONSES / "gemini.json", "gemini", None, ("google", "default"), None),
    (SDK_RESPONSES / "bedrock_converse.json", "bedrock", "converse", ("aws", "default"), BEDROCK_MODEL),
    (PROVIDER_RESPONSES / "openrouter_chat.json", "openrouter", "chat", ("openrouter", "chat"), None),
]


def raw_event(
    number: int, body: dict[str, Any], provider: str, flavor: str | None, model: str | None
) -> dict:
    root = "usageMetadata" if "usageMetadata" in body else "usage"
    event = {
        "request_id": f"raw_{number}",
        "customer_id": "acct_raw",
        "model": model or body.get("model") or body["modelVersion"],
        "provider": provider,
        "usage": body[root],
        "timestamp": AT.isoformat(),
    }
    if flavor:
        event["api_flavor"] = flavor
    return event


@pytest.mark.parametrize(("path", "provider", "flavor", "genai", "model"), SHAPES, ids=lambda v: str(v)[-30:])
def test_a_provider_usage_object_is_priced_as_genai_prices_prices_the_response(
    send: Send, ledger: Ledger, path: Path, provider: str, flavor: str | None, genai: tuple, model: str | None
) -> None:
    body = response(path)
    expected = expected_cost(body, *genai, model)
    assert expected > 0
    result = send(raw_event(1, body, provider, flavor, model)).results[0]
    assert result["status"] == "created" and result["price_status"] == "priced"
    assert result["cost"] == money_str(expected)

    stored = ledger.get_event("raw_1")
    assert stored is not None
    assert stored["cost"] == expected  # exactly, not rounded
    assert stored["usage"] == body["usageMetadata" if "usageMetadata" in body else "usage"]  # kept for audit
    assert stored["api_flavor"] == genai[1]
    extracted = extract_usage(body, provider_id=genai[0], api_flavor=genai[1]).usage._reported_values()
    assert stored["prompt_tokens"] == extracted["input_tokens"]
    assert stored["completion_tokens"] == extracted["output_tokens"]
    assert stored["cached_tokens"] == extracted.get("cache_read_tokens", 0)
    others = {k: v for k, v in extracted.items() if v and not k.startswith(("input_tokens", "output_tokens"))}
    others = {k: v for k, v in others.items() if k not in ("cache_read_tokens", "cache_write_tokens")}
    assert (stored.get("units") or {}) == others

    # The same object again is a duplicate; other numbers under the same request_id a conflict.
    assert send(raw_event(1, body, provider, flavor, model)).results[0]["status"] == "duplicate"


def test_openrouter_reported_cost_is_kept_beside_the_computed_one(send: Send, ledger: Ledger) -> None:
    body = response(PROVIDER_RESPONSES / "openrouter_chat.json")
    send(raw_event(2, body, "openrouter", None, None))
    stored = ledger.get_event("raw_2")
    assert stored is not None
    assert stored["provider_cost"] == body["usage"]["cost"] == Decimal("0.0082725")
    assert stored["cost"] == expected_cost(body, "openrouter", "chat")
    (row,) = ledger.customer_month(AT.strftime("%Y-%m"))
    assert row["reported_cost"] == Decimal("0.0082725") and row["reported_events"] == 1
    assert row["reported_computed_cost"] == stored["cost"]


# --- every billable unit, and price tiers -------------------------------------------------------


def upstream(model: str, provider: str) -> tuple[Any, Any]:
    return snapshot().find_provider_model(model, None, provider, None)


def test_web_searches_and_the_batch_tier_are_priced_and_the_simulator_and_reprice_agree(
    send: Send, ledger: Ledger, client: DynamoDBClient, settings: Any
) -> None:
    anthropic = response(SDK_RESPONSES / "anthropic.json")["usage"]
    searching = {**anthropic, "server_tool_use": {"web_search_requests": 3}}
    events = [
        {  # Anthropic's own object, with its server-side web searches
            **raw_event(
                10, {"usage": searching, "model": "claude-sonnet-4-20250514"}, "anthropic", None, None
            ),
            "feature": "research",
        },
        {  # token fields, and the searches as a unit
            "request_id": "ws_plain",
            "customer_id": "acct_raw",
            "model": "gpt-4.1-mini",
            "feature": "research",
            "prompt_tokens": 12_000,
            "cached_tokens": 4_000,
            "completion_tokens": 900,
            "units": {"web_searches": 2},
            "timestamp": AT.isoformat(),
        },
        *(
            {  # the Batch API: half price on gpt-4.1-mini
                "request_id": f"batch_{n}",
                "customer_id": "acct_raw",
                "model": "gpt-4.1-mini",
                "feature": "research",
                "prompt_tokens": 20_000 + n,
                "completion_tokens": 2_000,
                "batch": True,
                "timestamp": (AT - timedelta(hours=n)).isoformat(),
            }
            for n in range(3)
        ),
        {  # a flex service tier call
            "request_id": "flex_1",
            "customer_id": "acct_raw",
            "model": "o3",
            "provider": "openai",
            "feature": "research",
            "prompt_tokens": 5_000,
            "completion_tokens": 3_000,
            "service_tier": "flex",
            "timestamp": AT.isoformat(),
        },
    ]
    result = send({"events": events})
    assert result.count("created") == len(events), result.results

    provider, model = upstream("claude-sonnet-4-20250514", "anthropic")
    with_searches = extract_usage(
        {"usage": searching, "model": "claude-sonnet-4-20250514"}, provider_id="anthropic"
    )
    assert with_searches.usage.web_searches == 3
    expected_search = model.calc_price(with_searches.usage, provider, genai_request_timestamp=AT).total_price
    no_searches = model.calc_price(
        extract_usage(
            {"usage": anthropic, "model": "claude-sonnet-4-20250514"}, provider_id="anthropic"
        ).usage,
        provider,
        genai_request_timestamp=AT,
    ).total_price
    assert expected_search - no_searches == Decimal(3) * model.get_prices(AT).web_searches_kcount / 1000
    assert ledger.get_event("raw_10")["cost"] == expected_search  # type: ignore[index]

    mini_provider, mini = upstream("gpt-4.1-mini", "openai")
    plain = Usage(input_tokens=12_000, cache_read_tokens=4_000, output_tokens=900, web_searches=2)
    assert (
        ledger.get_event("ws_plain")["cost"]
        == mini.calc_price(plain, mini_provider, genai_request_timestamp=AT).total_price
    )  # type: ignore[index]
    for n in range(3):
        tokens = Usage(input_tokens=20_000 + n, output_tokens=2_000)
        at = AT - timedelta(hours=n)
        batch = mini.calc_price(
            tokens, mini_provider, genai_request_timestamp=at, price_context={"processing": "batch"}
        )
        standard = mini.calc_price(tokens, mini_provider, genai_request_timestamp=at)
        assert batch.total_price < standard.total_price  # the discount the price data gives
        stored = ledger.get_event(f"batch_{n}")
        assert stored is not None and stored["cost"] == batch.total_price
        assert stored["price_context"] == {"processing": "batch"}
    o3_provider, o3 = upstream("o3", "openai")
    flex = o3.calc_price(
        Usage(input_tokens=5_000, output_tokens=3_000),
        o3_provider,
        genai_request_timestamp=AT,
        price_context={"service_tier": "flex"},
    ).total_price
    assert (
        flex
        < o3.calc_price(
            Usage(input_tokens=5_000, output_tokens=3_000), o3_provider, genai_request_timestamp=AT
        ).total_price
    )
    assert ledger.get_event("flex_1")["cost"] == flex  # type: ignore[index]

    # The simulator on each event's own model gives back what ingest charged, tier by tier.
    stored_events = [ledger.get_event(e["request_id"]) for e in events]
    period = Period(AT.date() - timedelta(days=1), AT.date())
    groups = {group.model: group for group in load_groups(ledger, period)}
    book = PriceBook.baseline()
    for ref in ("openai/gpt-4.1-mini", "anthropic/claude-sonnet-4-0", "openai/o3"):
        ingested = sum((e["cost"] for e in stored_events if e and e["model_ref"] == ref), Decimal(0))
        simulated = TargetModel(book, ref).simulate(groups[ref])
        assert simulated.cost == ingested, ref

    # On a model with no web-search price, the simulator says the searches are left out.
    report = simulate([groups["openai/gpt-4.1-mini"]], TargetModel(book, "gpt-3.5-turbo"))
    (row,) = report["rows"]
    assert row["unpriced_units"] == ["web_searches"]
    assert any("web_searches" in note for note in row["notes"])

    # A reprice of everything with the same prices changes nothing: it prices as ingest did.
    again = reprice(
        client, settings.table_name, book, first_day=period.first, last_day=period.last,
        only_unpriced=False, now=datetime.now(UTC),
    )  # fmt: skip
    assert again.events_examined == len(events) and again.events_changed == 0


def test_a_long_context_tier_prices_the_whole_request_at_the_tier(send: Send, ledger: Ledger) -> None:
    from genai_prices.types import TieredPrices

    # A model whose input price rises past a context threshold (from the price data, whichever it is).
    found = next(
        (provider, model)
        for provider in snapshot().providers
        if provider.id in ("google", "anthropic")
        for model in provider.models
        if isinstance(getattr(model.get_prices(AT), "input_mtok", None), TieredPrices)
        and getattr(model.get_prices(AT), "output_mtok", None) is not None
    )
    provider, model = found
    prices = model.get_prices(AT)
    tier = prices.input_mtok.tiers[-1]
    prompt = tier.start + 50_000
    send(
        {
            "request_id": "long_1",
            "customer_id": "acct_raw",
            "model": model.id,
            "provider": provider.id,
            "prompt_tokens": prompt,
            "completion_tokens": 1_000,
            "timestamp": AT.isoformat(),
        }
    )
    output = prices.output_mtok
    output_rate = output.tiers[-1].price if isinstance(output, TieredPrices) else output
    whole_at_tier = (prompt * tier.price + 1_000 * output_rate) / Decimal(1_000_000)
    stored = ledger.get_event("long_1")
    assert stored is not None and stored["cost"] == whole_at_tier  # every input token at the tier's price


# --- bad usage objects ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"api_flavor": "completions"}, "/api_flavor"),
        ({"usage": {"completion_tokens": 10}}, "/usage/prompt_tokens"),
        ({"usage": {"prompt_tokens": 100, "completion_tokens": -1}}, "/usage/completion_tokens"),
        (
            {
                "usage": {
                    "prompt_tokens": 100,
                    "completion_tokens": 5,
                    "prompt_tokens_details": {"cached_tokens": -3},
                }
            },
            "/usage/prompt_tokens_details/cached_tokens",
        ),
        ({"provider": None}, "/provider"),
        ({"provider": "nonesuch"}, "/provider"),
        ({"prompt_tokens": 10}, "/prompt_tokens"),
        ({"units": {"moon_landings": 1}}, "/units/moon_landings"),
        ({"units": {"web_searches": -2}}, "/units/web_searches"),
        ({"usage": {"prompt_tokens": 1, "completion_tokens": 1, "pad": "x" * 3000}}, "/usage"),
    ],
)
def test_a_bad_usage_object_is_refused_at_its_field_and_nothing_is_written(
    send: Send, client: DynamoDBClient, settings: Any, change: dict[str, Any], pointer: str
) -> None:
    event = {
        "request_id": "bad_1",
        "customer_id": "acct_raw",
        "model": "gpt-4o-mini",
        "provider": "openai",
        "api_flavor": "chat",
        "usage": {"prompt_tokens": 100, "completion_tokens": 5},
        **change,
    }
    event = {key: value for key, value in event.items() if value is not None}
    result = send(event)
    assert result.status_code == 422
    assert [error["pointer"] for error in result.errors()] == [pointer]
    assert not [
        item for item in scan_all(client, settings.table_name) if item["pk"]["S"].startswith("EVENT#")
    ]


# --- the provider's cost beside ours ------------------------------------------------------------


def test_the_pnl_shows_the_provider_cost_beside_ours_and_counts_it_when_told_to(
    send: Send, ledger: Ledger
) -> None:
    from marginlens.reports.pnl import PnlReport

    body = response(PROVIDER_RESPONSES / "openrouter_chat.json")
    plain = {
        "request_id": "plain_1",
        "customer_id": "acct_cs",
        "model": "gpt-4o-mini",
        "timestamp": AT.isoformat(),
    }
    events = [
        {**raw_event(30, body, "openrouter", None, None), "customer_id": "acct_cs"},
        {**plain, "prompt_tokens": 1_000, "completion_tokens": 100},
        {  # a gateway's cost header, on a model MarginLens has no price for
            **plain,
            "request_id": "gateway_1",
            "model": "in-house-llm-v2",
            "prompt_tokens": 500,
            "completion_tokens": 50,
            "provider_cost": "0.5000",
        },
    ]
    assert send({"events": events}).count("created") == 3
    ours = ledger.get_event("raw_30")["cost"]  # type: ignore[index]
    plain_cost = ledger.get_event("plain_1")["cost"]  # type: ignore[index]
    reported = Decimal("0.0082725")
    assert ours != reported  # the two figures differ: the difference is worth reporting
    period = Period(AT.date(), AT.date())

    computed = PnlReport(ledger, healthy_pct=Decimal(20)).report(period)
    assert computed["cost_source"] == "computed"
    (row,) = computed["customers"]
    assert row["cost"] == row["computed_cost"] == money_str(ours + plain_cost)
    assert row["provider_cost"] == money_str(reported + Decimal("0.5"))
    assert row["provider_cost_events"] == 2 and row["unpriced_events"] == 1
    assert row["provider_cost_difference"] == money_str(reported - ours)  # over the events both priced

    provider = PnlReport(ledger, healthy_pct=Decimal(20), cost_source="provider").report(period)
    (row,) = provider["customers"]
    assert row["cost"] == money_str(reported + Decimal("0.5") + plain_cost)
    assert row["computed_cost"] == money_str(ours + plain_cost)
    assert row["unpriced_events"] == 0  # the gateway's figure prices the call MarginLens could not
    assert provider["totals"]["cost"] == row["cost"]
