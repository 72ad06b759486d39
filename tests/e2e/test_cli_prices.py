"""`marginlens prices ...` and `marginlens reprice` against the local stack."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from tests.e2e.conftest import RunningStack
from tests.e2e.test_cli import invoke

pytestmark = pytest.mark.e2e


def test_the_models_list_has_thousands_of_priced_models(local_stack: RunningStack) -> None:
    priced, total, cursor = 0, None, None
    with local_stack.client() as client:
        while True:
            params = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/models", params=params).json()
            total = page["total"]
            priced += sum(1 for model in page["data"] if model["prices_per_mtok"].get("input") is not None)
            cursor = page["next_cursor"]
            if cursor is None:
                break
    assert total is not None and total >= 2000 and priced >= 2000


def test_prices_show_resolves_a_bedrock_id(local_stack: RunningStack) -> None:
    result = invoke(local_stack, "prices", "show", "us.anthropic.claude-3-5-sonnet-20240620-v1:0")
    assert result.exit_code == 0, result.output
    assert "aws/regional.anthropic.claude-3-5-sonnet-20240620-v1:0" in result.output
    assert "3.00" in result.output and "15.00" in result.output  # input and output per 1M tokens
    assert "bundled with the package" in result.output
    shown = json.loads(invoke(local_stack, "prices", "show", "claude-3.5-sonnet", "--json").output)
    assert shown["id"] == "anthropic/claude-3-5-sonnet" and shown["snapshot"]["fetched_at"] is None


def test_custom_price_alias_and_reprice_from_the_cli(local_stack: RunningStack) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)
    events = [
        {
            "request_id": "cli_p1",
            "customer_id": "cli_cust",
            "model": "acme-llm",
            "prompt_tokens": 2_000_000,
            "completion_tokens": 500_000,
            "timestamp": at.isoformat(),
        },
        {
            "request_id": "cli_p2",
            "customer_id": "cli_cust",
            "model": "prod-gpt4o-mini",
            "prompt_tokens": 1_000_000,
            "completion_tokens": 0,
            "timestamp": at.isoformat(),
        },
    ]
    with local_stack.client() as client:
        sent = client.post("/v1/usage", json={"events": events}).json()
    assert [r["price_status"] for r in sent["results"]] == ["unpriced", "unpriced"]

    set_price = invoke(
        local_stack,
        "prices",
        "set",
        "acme-llm",
        "--input",
        "1.50",
        "--output",
        "6",
        "--effective-from",
        (at - timedelta(days=1)).isoformat(),
    )
    assert set_price.exit_code == 0, set_price.output
    alias = invoke(local_stack, "prices", "alias", "prod-gpt4o-mini", "gpt-4o-mini")
    assert alias.exit_code == 0 and "openai/gpt-4o-mini" in alias.output

    day = at.date().isoformat()
    first = invoke(local_stack, "reprice", "--from", day, "--to", day, "--only-unpriced", "--json")
    assert first.exit_code == 0, first.output
    report = json.loads(first.output)
    assert report["events_changed"] == 2
    expected = Decimal("3.00") + Decimal("3.00") + Decimal("0.15")  # 2M x 1.50 + 0.5M x 6 ; 1M x 0.15
    assert Decimal(report["new_cost"]) == expected
    again = json.loads(invoke(local_stack, "reprice", "--from", day, "--to", day, "--json").output)
    assert again["events_changed"] == 0

    pnl = json.loads(invoke(local_stack, "pnl", "--from", day, "--to", day, "--json").output)
    (row,) = [row for row in pnl["customers"] if row["customer_id"] == "cli_cust"]
    assert Decimal(row["cost"]) == expected and row["unpriced_events"] == 0
