"""Revenue over real HTTP and the CLI: the seed's decision table, currencies, unmapped Stripe revenue,
and an invariant: the P&L equals a recomputation from the raw events and revenue entries."""

import csv
import io
import json
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from marginlens.core.currency import ExchangeRates, to_major, to_minor
from marginlens.core.money import money_str, pct, pct_str
from marginlens.reports.pnl import action_for
from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.recognition import by_month, month_bounds
from marginlens.usecases.services import reset, services
from tests.e2e.conftest import RunningStack
from tests.e2e.test_cli import invoke, row_of

pytestmark = pytest.mark.e2e

NOW = datetime.now(UTC).replace(microsecond=0)
LAST_MONTH = (NOW.date().replace(day=1) - timedelta(days=1)).replace(day=1)
MONTH = LAST_MONTH.strftime("%Y-%m")


@pytest.fixture
def with_rates(local_stack: RunningStack, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """Set MARGINLENS_EXCHANGE_RATES for the running stack (its handlers run in this process)."""

    def apply(rates: str) -> ExchangeRates:
        monkeypatch.setenv("MARGINLENS_EXCHANGE_RATES", rates)
        reset()
        return ExchangeRates.parse(rates)

    yield apply
    monkeypatch.delenv("MARGINLENS_EXCHANGE_RATES", raising=False)
    reset()


def key_with(stack: RunningStack, scope: str) -> str:
    with stack.client() as client:
        created = client.post("/v1/keys", json={"scope": scope, "name": f"revenue-{scope}"})
    assert created.status_code == 201, created.text
    return str(created.json()["key"])


def pnl(client: httpx.Client, **params: str) -> dict[str, Any]:
    response = client.get("/v1/pnl", params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def row(body: dict[str, Any], customer: str) -> dict[str, Any]:
    (found,) = [item for item in body["customers"] if item["customer_id"] == customer]
    return found


def stripe_invoice(
    invoice_id: str, stripe_customer: str, currency: str, amount_minor: int
) -> RevenueDocument:
    at = datetime(LAST_MONTH.year, LAST_MONTH.month, 12, 10, tzinfo=UTC)
    return RevenueDocument(
        "stripe",
        "invoice",
        invoice_id,
        stripe_customer,
        currency,
        (RevenueLine(amount_minor),),
        at,
        version_time=at,
    )


# --- the seed's decision table -----------------------------------------------------------------


def test_the_seeds_decision_table_over_http_and_the_cli(local_stack: RunningStack) -> None:
    with local_stack.client() as client:
        # A custom model at $1 per million input tokens: each call costs its prompt tokens / 1,000,000.
        price = client.put(
            "/v1/prices/seed-flat-llm",
            json={"input_per_mtok": "1", "output_per_mtok": "0", "effective_from": "2000-01-01T00:00:00Z"},
        )
        assert price.status_code == 200, price.text
        calls = {"plexo": [200_000_000, 77_200_000], "helix": [127_310_000]}  # 277.20 and 127.31
        events = [
            {
                "request_id": f"table_{customer}_{number}",
                "customer_id": customer,
                "model": "seed-flat-llm",
                "feature": "summarize",
                "prompt_tokens": tokens,
                "completion_tokens": 0,
                "timestamp": f"{MONTH}-{10 + number:02d}T12:00:00Z",
            }
            for customer, amounts in calls.items()
            for number, tokens in enumerate(amounts)
        ]
        sent = client.post("/v1/usage", json={"events": events}).json()
        assert sent["created"] == 3 and {r["price_status"] for r in sent["results"]} == {"priced"}
        first, last = month_bounds(MONTH)
        pushes = [
            {
                "external_id": "inv_plexo",
                "customer_id": "plexo",
                "amount": "233.25",
                "currency": "USD",
                "month": MONTH,
            },
            {
                "external_id": "inv_helix",
                "customer_id": "helix",
                "amount": "134.29",
                "currency": "usd",
                "period_start": first.isoformat(),
                "period_end": last.isoformat(),
            },
        ]
        for body in pushes:
            pushed = client.post("/v1/revenue", json=body)
            assert pushed.status_code == 201, pushed.text
            assert pushed.json()["recognised"] == [{"month": MONTH, "amount": body["amount"]}]
        for customer, name in (("plexo", "Plexo Health"), ("helix", "Helix Robotics")):
            assert client.put(f"/v1/customers/{customer}", json={"name": name}).status_code == 200
        report = pnl(client, month=MONTH)

    plexo, helix = row(report, "plexo"), row(report, "helix")
    assert {key: plexo[key] for key in ("name", "revenue", "cost", "margin", "margin_pct", "action")} == {
        "name": "Plexo Health",
        "revenue": "233.25",
        "cost": "277.20",
        "margin": "-43.95",
        "margin_pct": "-18.84",
        "action": "reprice_or_throttle",
    }
    assert {key: helix[key] for key in ("name", "revenue", "cost", "margin", "margin_pct", "action")} == {
        "name": "Helix Robotics",
        "revenue": "134.29",
        "cost": "127.31",
        "margin": "6.98",
        "margin_pct": "5.20",
        "action": "monitor",
    }
    assert plexo["revenue_unconverted"] == {} and report["totals"]["unmapped_revenue"] == "0.00"

    table = invoke(local_stack, "pnl", "--month", MONTH)
    assert table.exit_code == 0, table.output
    assert row_of(table.stdout, "plexo")[1:7] == ["Plexo Health", "233.25", "277.20", "-43.95", "-18.84", "2"]
    assert row_of(table.stdout, "helix")[1:6] == ["Helix Robotics", "134.29", "127.31", "6.98", "5.20"]
    assert "monitor" in row_of(table.stdout, "helix") and "reprice_or_throttle" in row_of(
        table.stdout, "plexo"
    )
    assert (
        "1 customer(s) lose money; what a cheaper model would give back: "
        f"marginlens recommend --customer plexo --month {MONTH}"
    ) in table.stdout

    as_csv = invoke(local_stack, "pnl", "--month", MONTH, "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    assert as_csv.stdout_bytes.count(b"\r\n") == 4  # header, two customers, totals: CRLF line ends
    records = list(csv.DictReader(io.StringIO(as_csv.stdout_bytes.decode(), newline="")))
    assert [(r["customer_id"], r["name"], r["margin_pct"], r["action"]) for r in records] == [
        ("plexo", "Plexo Health", "-18.84", "reprice_or_throttle"),
        ("helix", "Helix Robotics", "5.20", "monitor"),
        ("", "Total", "-10.06", ""),
    ]
    assert (records[-1]["revenue"], records[-1]["cost"], records[-1]["margin"]) == (
        "367.54",
        "404.51",
        "-36.97",
    )

    day = invoke(local_stack, "customers", "set", "plexo", "--name", "Plexo Health Inc.")
    assert day.exit_code == 0 and "Plexo Health Inc." in day.stdout
    with local_stack.client() as client:
        detail = client.get("/v1/customers/plexo/pnl", params={"month": MONTH}).json()
    assert detail["name"] == "Plexo Health Inc." and detail["revenue"] == "233.25"
    daily = {point["day"]: point["revenue"] for point in detail["daily"]}
    assert len(daily) == len(detail["daily"]) and sum(map(Decimal, daily.values())) == Decimal("233.25")
    assert detail["by_feature"][0] == {
        "feature": "summarize",
        "cost": "277.20",
        "events": 2,
        "prompt_tokens": 277_200_000,
        "completion_tokens": 0,
        "unpriced_events": 0,
        "estimated_cost": "0.00",
    }


# --- POST /v1/revenue ----------------------------------------------------------------------------


def test_revenue_push_is_idempotent_on_external_id_and_a_correction_replaces(
    local_stack: RunningStack,
) -> None:
    entry = {
        "external_id": "inv_123",
        "customer_id": "acct_123",
        "amount": "100.00",
        "currency": "USD",
        "month": MONTH,
    }
    with local_stack.client() as client:
        created = client.post("/v1/revenue", json=entry)
        again = client.post("/v1/revenue", json=entry)
        corrected = client.post("/v1/revenue", json={**entry, "amount": "90.50"})
        refund = client.post(
            "/v1/revenue",
            json={**entry, "external_id": "cn_123", "amount": "-10.50", "date": f"{MONTH}-20", "month": None},
        )
        report = pnl(client, month=MONTH)
    assert (created.status_code, created.json()["status"]) == (201, "created")
    assert (again.status_code, again.json()["status"]) == (200, "unchanged")
    assert (corrected.status_code, corrected.json()["status"]) == (200, "updated")
    assert corrected.json()["recognised"] == [{"month": MONTH, "amount": "90.50"}]
    assert refund.status_code == 201, refund.text
    assert refund.json()["period"] == {"from": f"{MONTH}-20", "to": f"{MONTH}-20"}
    assert row(report, "acct_123")["revenue"] == "80.00"  # 90.50 replaced 100.00, minus the 10.50 credit

    cli = invoke(
        local_stack,
        *("revenue", "push", "--external-id", "inv_cli", "--customer", "acct_123"),
        *("--amount", "500", "--currency", "JPY", "--month", MONTH),
    )
    assert cli.exit_code == 0, cli.output
    assert cli.stdout.startswith("created: inv_cli") and f"JPY 500 over {MONTH}-01" in cli.stdout


@pytest.mark.parametrize(
    ("change", "pointer"),
    [
        ({"amount": "1.001"}, "/amount"),  # finer than a cent
        ({"amount": "500.5", "currency": "JPY"}, "/amount"),  # yen have no minor unit
        ({"amount": 12.5}, "/amount"),  # money is never a JSON number
        ({"amount": "12,50"}, "/amount"),
        ({"currency": "US"}, "/currency"),
        ({"month": "2026-13"}, "/month"),
        ({"period_start": "2026-11-01"}, "/month"),  # with month
        ({"month": None, "period_end": "2026-11-30"}, "/period_start"),
        ({"month": None, "period_start": "2026-11-30", "period_end": "2026-11-01"}, "/period_end"),
        ({"month": None, "period_start": "2020-01-01", "period_end": "2026-11-01"}, "/period_end"),
        ({"date": "2026-11-02"}, "/date"),
        ({"external_id": "usage:req_1"}, "/external_id"),
        ({"customer_id": "a#b"}, "/customer_id"),
        ({"customer_id": "unmapped:cus_1"}, "/customer_id"),
        ({"surprise": 1}, "/surprise"),
    ],
)
def test_revenue_push_validation_points_at_the_field(
    local_stack: RunningStack, change: dict[str, Any], pointer: str
) -> None:
    entry = {
        "external_id": "inv_bad",
        "customer_id": "acct_1",
        "amount": "10.00",
        "currency": "USD",
        "month": "2026-11",
    }
    body = {key: value for key, value in {**entry, **change}.items() if value is not None}
    with local_stack.client() as client:
        refused = client.post("/v1/revenue", json=body)
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert [error["pointer"] for error in refused.json()["errors"]] == [pointer]


def test_revenue_routes_need_their_scopes(local_stack: RunningStack) -> None:
    entry = {"external_id": "inv_scope", "customer_id": "acct_1", "amount": "1.00", "currency": "USD"}
    for scope in ("ingest", "read"):
        with local_stack.client(key_with(local_stack, scope)) as client:
            assert client.post("/v1/revenue", json=entry).status_code == 403
            assert client.put("/v1/customers/acct_1", json={"name": "x"}).status_code == 403
            unmapped = client.get("/v1/revenue/unmapped").status_code
            assert unmapped == (200 if scope == "read" else 403)
    with httpx.Client(base_url=local_stack.url) as anonymous:
        assert anonymous.post("/v1/revenue", json=entry).status_code == 401


# --- currencies ----------------------------------------------------------------------------------


def test_minor_units_and_revenue_without_a_rate_over_http(local_stack: RunningStack, with_rates: Any) -> None:
    with_rates("JPY=0.0067")
    services().customers.put_customer("globex", "Globex", "cus_globex")
    for invoice_id, currency, minor in (("in_g_jpy", "JPY", 500), ("in_g_usd", "USD", 500)):
        assert (
            services().revenue.upsert(stripe_invoice(invoice_id, "cus_globex", currency, minor)).status
            == "created"
        )
    with local_stack.client() as client:
        eur = client.post(
            "/v1/revenue",
            json={
                "external_id": "inv_g_eur",
                "customer_id": "globex",
                "amount": "120",
                "currency": "EUR",
                "month": MONTH,
            },
        )
        assert eur.status_code == 201 and eur.json()["amount"] == "120.00"
        report = pnl(client, month=MONTH)
    globex = row(report, "globex")
    # JPY 500 is 500 yen (3.35 USD at 0.0067); USD 500 is 5.00; EUR has no rate: apart, in no total.
    assert (globex["revenue"], globex["revenue_unconverted"]) == ("8.35", {"EUR": "120.00"})
    assert (report["totals"]["revenue"], report["totals"]["revenue_unconverted"]) == (
        "8.35",
        {"EUR": "120.00"},
    )
    assert globex["margin"] == "8.35" and globex["action"] == "healthy"

    table = invoke(local_stack, "pnl", "--month", MONTH)
    assert "Revenue without an exchange rate, in no total: EUR 120.00" in table.stdout
    records = list(csv.DictReader(io.StringIO(invoke(local_stack, "pnl", "--month", MONTH, "--csv").stdout)))
    assert [(r["customer_id"], r["revenue"], r["revenue_unconverted_EUR"]) for r in records] == [
        ("globex", "8.35", "120.00"),
        ("", "8.35", "120.00"),
    ]


# --- unmapped Stripe revenue ---------------------------------------------------------------------


def test_unmapped_stripe_revenue_is_listed_then_moves_to_the_customer(local_stack: RunningStack) -> None:
    services().customers.record_from_stripe("cus_e2e", None, "E2E Stripe name", "billing@e2e.test")
    result = services().revenue.upsert(stripe_invoice("in_e2e", "cus_e2e", "USD", 5_000))
    assert result.status == "created" and result.customer_id is None
    with local_stack.client(key_with(local_stack, "read")) as reader:
        listed = reader.get("/v1/revenue/unmapped").json()
        before = pnl(reader, month=MONTH)
    (document,) = listed["data"]
    assert {
        key: document[key] for key in ("stripe_customer_id", "stripe_customer_name", "kind", "id", "amount")
    } == {
        "stripe_customer_id": "cus_e2e",
        "stripe_customer_name": "E2E Stripe name",
        "kind": "invoice",
        "id": "in_e2e",
        "amount": "50.00",
    }
    assert listed["totals"] == {"USD": "50.00"}
    assert before["customers"] == [] and before["totals"]["unmapped_revenue"] == "50.00"
    assert before["totals"]["revenue"] == "0.00"
    shown = invoke(local_stack, "revenue", "unmapped")
    assert shown.exit_code == 0 and "cus_e2e" in shown.stdout and "50.00" in shown.stdout
    assert (
        "unmapped Stripe customers, in no row: USD 50.00"
        in invoke(local_stack, "pnl", "--month", MONTH).stdout
    )

    mapped = invoke(
        local_stack, "customers", "set", "e2eco", "--name", "E2E Co", "--stripe-customer", "cus_e2e"
    )
    assert mapped.exit_code == 0, mapped.output
    assert "1 unmapped Stripe document moved" in mapped.stdout
    with local_stack.client() as client:
        assert client.get("/v1/revenue/unmapped").json() == {"data": [], "totals": {}}
        after = pnl(client, month=MONTH)
        again = client.put("/v1/customers/e2eco", json={"stripe_customer_id": "cus_e2e"})
        bad = client.put("/v1/customers/e2eco", json={"stripe_customer_id": "acct_nope"})
    e2eco = row(after, "e2eco")
    assert (e2eco["name"], e2eco["revenue"], e2eco["margin_pct"]) == ("E2E Co", "50.00", "100.00")
    assert after["totals"]["unmapped_revenue"] == "0.00" and after["totals"]["revenue"] == "50.00"
    assert (
        again.status_code == 200 and again.json()["revenue_moved"] == 0 and again.json()["name"] == "E2E Co"
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["pointer"] == "/stripe_customer_id"


# --- the invariant ---------------------------------------------------------------------------------

RATES = "EUR=1.0837,GBP=1.2719"  # JPY has none: reported apart
CURRENCIES = ("USD", "USD", "EUR", "GBP", "JPY")
MODELS = ("gpt-4o-mini", "claude-3-5-sonnet-20240620", "gemini-1.5-flash", "invariant-unknown-model")


def _amount(rng: random.Random, currency: str) -> str:
    minor = rng.randint(-20_000, 400_000) if rng.random() < 0.9 else -rng.randint(1, 50_000)
    return format(to_major(minor, currency), "f")


def test_pnl_and_the_cli_agree_with_a_recomputation_from_raw_events_and_entries(
    local_stack: RunningStack, with_rates: Any
) -> None:
    seed = random.randrange(1_000_000)
    rng = random.Random(seed)
    rates = with_rates(RATES)
    months_back = rng.randint(1, 11)
    month_first = NOW.date().replace(day=1)
    for _ in range(months_back):
        month_first = (month_first - timedelta(days=1)).replace(day=1)
    month = month_first.strftime("%Y-%m")
    first, last = month_bounds(month)
    customers = [f"inv_{letter}" for letter in "abcd"]
    note = f"seed {seed}, month {month}"

    # Usage: mostly in the month, some just before or after it; a few carry per-event revenue.
    events = []
    for number in range(160):
        at = datetime.combine(first - timedelta(days=8), datetime.min.time(), UTC) + timedelta(
            seconds=rng.randint(0, (last - first).days * 86_400 + 16 * 86_400)
        )
        if at > NOW - timedelta(minutes=10):
            continue
        event: dict[str, Any] = {
            "request_id": f"inv_{seed}_{number}",
            "customer_id": rng.choice(customers[:3]),  # inv_d only has revenue
            "model": rng.choice(MODELS),
            "prompt_tokens": rng.randint(1, 50_000),
            "completion_tokens": rng.randint(0, 5_000),
            "timestamp": at.isoformat().replace("+00:00", "Z"),
        }
        if rng.random() < 0.2:
            currency = rng.choice(CURRENCIES)
            event["revenue_amount"], event["revenue_currency"] = _amount(rng, currency), currency
        events.append(event)

    # Revenue entries: whole months, periods across month ends, single days; some corrected.
    entries: dict[str, dict[str, Any]] = {}
    for number in range(30):
        currency = rng.choice(CURRENCIES)
        entry: dict[str, Any] = {
            "external_id": f"rev_{seed}_{number}",
            "customer_id": rng.choice(customers),
            "amount": _amount(rng, currency),
            "currency": currency,
        }
        shape = rng.choice(("month", "period", "period", "date"))
        if shape == "month":
            entry["month"] = rng.choice([month, (first - timedelta(days=1)).strftime("%Y-%m")])
        elif shape == "period":
            start = first + timedelta(days=rng.randint(-60, 25))
            entry["period_start"] = start.isoformat()
            entry["period_end"] = (start + timedelta(days=rng.randint(0, 120))).isoformat()
        else:
            entry["date"] = (first + timedelta(days=rng.randint(-3, 33))).isoformat()
        entries[entry["external_id"]] = entry

    with local_stack.client() as client:
        for start in range(0, len(events), 100):
            sent = client.post("/v1/usage", json={"events": events[start : start + 100]})
            assert sent.status_code == 200 and sent.json()["created"] == len(events[start : start + 100]), (
                note
            )
        assert client.post("/v1/usage", json={"events": events[:20]}).json()["duplicates"] == 20
        for entry in entries.values():
            assert client.post("/v1/revenue", json=entry).status_code == 201, note
        for external_id in rng.sample(sorted(entries), 8):  # corrections replace; repeats change nothing
            corrected = {**entries[external_id], "amount": _amount(rng, entries[external_id]["currency"])}
            status = client.post("/v1/revenue", json=corrected).json()["status"]
            assert status == ("unchanged" if corrected == entries[external_id] else "updated"), note
            entries[external_id] = corrected
        costs: dict[str, Decimal] = defaultdict(Decimal)
        counts: dict[str, int] = defaultdict(int)
        for event in events:
            stored = client.get(f"/v1/usage/{event['request_id']}").json()
            if stored["timestamp"][:7] == month:
                counts[event["customer_id"]] += 1
                costs[event["customer_id"]] += Decimal(stored["cost"]) if stored["cost"] is not None else 0
        api = pnl(client, month=month)

    # The recomputation: each entry's share of the month by the day rule, in minor units per currency.
    minor: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for entry in entries.values():
        amount = to_minor(Decimal(entry["amount"]), entry["currency"])
        if "month" in entry:
            start, end = month_bounds(entry["month"])
        elif "date" in entry:
            start = end = date.fromisoformat(entry["date"])
        else:
            start, end = date.fromisoformat(entry["period_start"]), date.fromisoformat(entry["period_end"])
        minor[entry["customer_id"]][entry["currency"]] += by_month(amount, start, end).get(month, 0)
    for event in events:
        if "revenue_amount" in event and event["timestamp"][:7] == month:
            currency = event["revenue_currency"]
            minor[event["customer_id"]][currency] += to_minor(Decimal(event["revenue_amount"]), currency)

    expected: dict[str, dict[str, Any]] = {}
    for customer in customers:
        converted = sum(
            (rates.convert_minor(value, code) for code, value in minor[customer].items() if code != "JPY"),
            Decimal(0),
        )
        apart = {
            code: format(to_major(value, code), "f")
            for code, value in minor[customer].items()
            if code == "JPY" and value
        }
        if not counts[customer] and converted == 0 and not apart:
            continue  # no usage, and revenue netting to zero: no row
        margin = converted - costs[customer]
        expected[customer] = {
            "revenue": money_str(converted),
            "revenue_unconverted": apart,
            "cost": money_str(costs[customer]),
            "margin": money_str(margin),
            "margin_pct": pct_str(pct(margin, converted)),
            "events": counts[customer],
            "action": action_for(margin, pct(margin, converted), Decimal(20)),
        }
    got = {
        item["customer_id"]: {key: item[key] for key in expected.get(item["customer_id"], item)}
        for item in api["customers"]
    }
    assert got == expected, note
    total_revenue = sum((Decimal(item["revenue"]) for item in expected.values()), Decimal(0))
    total_cost = sum(costs[customer] for customer in expected)
    assert api["totals"]["revenue"] == money_str(total_revenue), note
    assert api["totals"]["cost"] == money_str(total_cost), note
    assert api["totals"]["margin"] == money_str(total_revenue - total_cost), note
    assert api["totals"]["events"] == sum(counts.values()), note
    jpy = sum(minor[customer]["JPY"] for customer in expected)
    assert api["totals"]["revenue_unconverted"] == (
        {"JPY": format(to_major(jpy, "JPY"), "f")} if jpy else {}
    ), note

    as_json = invoke(local_stack, "pnl", "--month", month, "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == api, note
    as_csv = invoke(local_stack, "pnl", "--month", month, "--csv")
    assert as_csv.exit_code == 0, as_csv.output
    *rows, totals = csv.DictReader(io.StringIO(as_csv.stdout_bytes.decode(), newline=""))
    assert [r["customer_id"] for r in rows] == [item["customer_id"] for item in api["customers"]], note
    for record in rows:
        for key in ("revenue", "cost", "margin", "margin_pct", "action"):
            assert record[key] == str(expected[record["customer_id"]][key] or ""), note
    assert (totals["revenue"], totals["cost"], totals["margin"], totals["events"]) == (
        api["totals"]["revenue"],
        api["totals"]["cost"],
        api["totals"]["margin"],
        str(api["totals"]["events"]),
    ), note
