"""POST /v1/reprice and `marginlens reprice` over real HTTP: an unpriced event gets its cost, once."""

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import typer
from typer.testing import CliRunner

from marginlens import cli
from marginlens.cli.reprice import register
from tests.e2e.conftest import RunningStack

pytestmark = pytest.mark.e2e

MODEL = "acme-e2e-model"
PROBLEM = "application/problem+json"


def iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def cli_app() -> typer.Typer:
    """The `marginlens` root options with the reprice command, as marginlens.cli.main registers it."""
    app = typer.Typer()
    app.callback()(cli.root)
    register(app)
    return app


def test_unpriced_event_is_repriced_once_over_http(local_stack: RunningStack) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    day, month = at.date().isoformat(), at.strftime("%Y-%m")
    event = {
        "request_id": "req_reprice_1",
        "customer_id": "acct_rp",
        "model": MODEL,
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "timestamp": iso(at),
    }
    with local_stack.client() as http:
        created = http.post("/v1/usage", json=event)
        assert created.status_code == 200, created.text
        result = created.json()["results"][0]
        assert result["price_status"] == "unpriced" and result["cost"] is None
        pnl = http.get("/v1/customers/acct_rp/pnl", params={"month": month}).json()
        assert pnl["unpriced_events"] == 1 and pnl["cost"] == "0.00"

        put = http.put(
            f"/v1/prices/{MODEL}",
            json={
                "input_per_mtok": "1.00",
                "output_per_mtok": "2.00",
                "effective_from": iso(at - timedelta(days=1)),
            },
        )
        assert put.status_code == 200, put.text

        body = {"from": day, "to": day, "only_unpriced": True}
        first = http.post("/v1/reprice", json=body)
        assert first.status_code == 200, first.text
        report = first.json()
        assert report["period"] == {"from": day, "to": day} and report["only_unpriced"] is True
        assert report["events_examined"] == 1 and report["events_changed"] == 1
        assert report["old_cost"] == "0.00" and report["new_cost"] == "0.002"
        assert report["cost_delta"] == "0.002"
        assert report["unpriced_before"] == 1 and report["unpriced_after"] == 0

        stored = http.get("/v1/usage/req_reprice_1").json()
        assert stored["cost"] == "0.002" and stored["price_status"] == "priced"  # 1000 x 1 + 500 x 2
        assert stored["price_source"].startswith("override@") and stored["model_ref"] == MODEL
        assert stored["unit_prices_per_mtok"] == {"input": "1.00", "output": "2.00"}

        pnl = http.get("/v1/customers/acct_rp/pnl", params={"month": month}).json()
        assert pnl["cost"] == "0.002" and pnl["unpriced_events"] == 0 and pnl["events"] == 1
        assert [(row["model"], row["cost"]) for row in pnl["by_model"]] == [(MODEL, "0.002")]
        day_row = next(row for row in pnl["daily"] if row["day"] == day)
        assert day_row["cost"] == "0.002"
        totals = http.get("/v1/pnl", params={"month": month}).json()["totals"]
        assert Decimal(totals["cost"]) == Decimal("0.002") and totals["unpriced_events"] == 0

        # Again, and again over the whole range: nothing changes.
        second = http.post("/v1/reprice", json=body).json()
        assert second["events_changed"] == 0 and second["cost_delta"] == "0.00"
        everything = http.post("/v1/reprice", json={"from": day, "to": day}).json()
        assert everything["events_examined"] == 1 and everything["events_changed"] == 0
        assert http.get("/v1/customers/acct_rp/pnl", params={"month": month}).json()["cost"] == "0.002"

    # The CLI says the same.
    runner = CliRunner()
    args = [
        "--url",
        local_stack.url,
        "--api-key",
        local_stack.admin_key,
        "reprice",
        "--from",
        day,
        "--to",
        day,
    ]
    as_json = runner.invoke(cli_app(), [*args, "--only-unpriced", "--json"])
    assert as_json.exit_code == 0, as_json.output
    assert json.loads(as_json.output)["events_changed"] == 0
    table = runner.invoke(cli_app(), args)
    assert table.exit_code == 0, table.output
    assert "events examined" in table.output and "0.00" in table.output


def test_reprice_requests_are_checked(local_stack: RunningStack) -> None:
    with local_stack.client() as http:
        for body, pointer in (
            ({"from": "2026-02-10", "to": "2026-02-01"}, "/to"),
            ({"from": "2026-02-30", "to": "2026-03-01"}, "/from"),
            ({"from": "10/02/2026", "to": "2026-03-01"}, "/from"),
            ({"from": "2024-01-01", "to": "2025-06-01"}, "/to"),  # more than 366 days
            ({"to": "2026-03-01"}, "/from"),
            ({"from": "2026-02-01", "to": "2026-02-02", "only_unpriced": "yes"}, "/only_unpriced"),
            ({"from": "2026-02-01", "to": "2026-02-02", "everything": True}, "/everything"),
        ):
            response = http.post("/v1/reprice", json=body)
            assert response.status_code == 422, (body, response.text)
            assert response.headers["content-type"].startswith(PROBLEM)
            assert pointer in [error["pointer"] for error in response.json()["errors"]], (body, response.text)

        read_key = http.post("/v1/keys", json={"scope": "read", "name": "reader"}).json()["key"]
    with local_stack.client(read_key) as reader:
        assert reader.post("/v1/reprice", json={"from": "2026-02-01", "to": "2026-02-01"}).status_code == 403

    bad = CliRunner().invoke(
        cli_app(),
        ["--url", local_stack.url, "--api-key", local_stack.admin_key, "reprice", "--from", "x", "--to", "y"],
    )
    assert bad.exit_code != 0 and "YYYY-MM-DD" in bad.output
