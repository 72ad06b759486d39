"""Property: every P&L figure equals an independent plain-Python sum over what was sent.

Hypothesis generates a month of business: customers with arbitrary Unicode ids, usage events at
any second of any day with any token mix (retried, re-sent with other content), Stripe invoices
with service periods, cumulative refunds, credit notes (on one line or the whole invoice), voids
and customer mappings, pushed revenue entries and their corrections, all delivered in any order
and duplicated. It sends them through the real domain paths into the local engine, then checks
each P&L (whole months, date ranges across months, single days) against a model computed here
day by day from the inputs alone, to the Decimal, and that no stored cost, aggregate or
recognised figure is negative unless it is a refund or a credit.

The model is the specification, written the plain way: each day's share of a line is
floor(|A| k / n) - floor(|A| (k - 1) / n); a refund or credit spread over its invoice's lines is
split in proportion to them (floors, then the remaining minor units one each to the earliest
lines whose share is not exact); a call costs what genai-prices says at its own timestamp.
"""

from __future__ import annotations

import calendar
import os
import uuid
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import pytest
from genai_prices import Usage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from marginlens.core.currency import ExchangeRates
from marginlens.core.identifiers import customer_id_error
from marginlens.core.settings import Settings
from marginlens.local.streams import StreamPoller
from marginlens.pricing.book import PriceBook, PriceOverride
from marginlens.pricing.store import PriceStore
from marginlens.reports.pnl import Period, PnlReport
from marginlens.reports.revenue import LedgerRevenue
from marginlens.revenue.customers import CustomerStore
from marginlens.revenue.ledger import RevenueLedger
from marginlens.revenue.push import RevenueEntry, push
from marginlens.revenue.webhook import handle_stripe_event
from marginlens.simulation.simulator import TargetModel, load_groups, simulate
from marginlens.storage.dynamodb import DynamoDBClient, create_table, from_item, make_client
from marginlens.storage.streams import Stream, batch_of, make_streams_client
from marginlens.usage.aggregator import Aggregator
from marginlens.usage.ingest import ingest
from marginlens.usage.ledger import Ledger
from tests import stripe_fixtures as sf

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("MARGINLENS_PROPERTY_EXAMPLES", "25"))
HEALTHY = Decimal(20)
MONTHS = [date(2025, 12, 1), date(2026, 2, 1), date(2026, 11, 1)]
CUSTOM_MODEL = "acme-chat-v2"
CUSTOM_PRICES = {"input": Decimal("3"), "output": Decimal("15"), "cache_read": Decimal("0.3")}
MODELS = ["gpt-4o-mini", "gpt-4o", "deepseek-chat", CUSTOM_MODEL, "mystery-model-x"]
FEATURES = ["summarize", "chat"]
STRIPE_CUSTOMERS = ["cus_a", "cus_b", "cus_c"]
ONE_DAY = timedelta(days=1)


# --- the world -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventSpec:
    request_id: str
    customer: str
    model: str
    feature: str
    at: datetime
    prompt: int
    cached: int
    cache_write: int
    completion: int
    revenue_minor: int | None

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "customer_id": self.customer,
            "model": self.model,
            "feature": self.feature,
            "timestamp": self.at.isoformat().replace("+00:00", "Z"),
            "prompt_tokens": self.prompt,
            "completion_tokens": self.completion,
            "cached_tokens": self.cached,
            "cache_write_tokens": self.cache_write,
        }
        if self.revenue_minor is not None:
            body["revenue_amount"] = str(Decimal(self.revenue_minor) / 100)
            body["revenue_currency"] = "USD"
        return body


@dataclass(frozen=True)
class LineSpec:
    amount: int
    first: date
    last: date
    line_id: str


@dataclass
class World:
    month: date
    customers: list[str]
    events: list[EventSpec]
    # In delivery order: ("usage", payloads), ("stripe", event, tag), ("push", entry, tag), ("map", cus, id)
    actions: list[tuple[Any, ...]] = field(default_factory=list)
    invoices: dict[str, tuple[str, list[LineSpec]]] = field(default_factory=dict)  # id -> cus, lines


def _customer_ids() -> st.SearchStrategy[str]:
    tricky = st.sampled_from(["acct_1", "~tilde", "émile", "日本の顧客", "\U0001f600", "zz", "Ωmega", "a b"])
    free = st.text(
        alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp"), blacklist_characters="#"),
        min_size=1,
        max_size=10,
    )
    return st.one_of(tricky, free).filter(
        lambda value: value.strip() == value and customer_id_error(value) is None
    )


def _midnight(day: date) -> int:
    return int(datetime.combine(day, time.min, tzinfo=UTC).timestamp())


@st.composite
def worlds(draw: st.DrawFn) -> World:
    month = draw(st.sampled_from(MONTHS))
    days_in_month = calendar.monthrange(month.year, month.month)[1]
    month_start = datetime.combine(month, time.min, tzinfo=UTC)
    customers = draw(st.lists(_customer_ids(), min_size=1, max_size=4, unique=True))

    def moment() -> datetime:
        return month_start + timedelta(seconds=draw(st.integers(0, days_in_month * 86400 - 1)))

    events = []
    for number in range(draw(st.integers(0, 14))):
        prompt = draw(st.integers(0, 250_000))
        cached = draw(st.integers(0, prompt))
        cache_write = draw(st.integers(0, prompt - cached)) if draw(st.booleans()) else 0
        events.append(
            EventSpec(
                request_id=f"ev{number}",
                customer=draw(st.sampled_from(customers)),
                model=draw(st.sampled_from(MODELS)),
                feature=draw(st.sampled_from(FEATURES)),
                at=moment(),
                prompt=prompt,
                cached=cached,
                cache_write=cache_write,
                completion=draw(st.integers(0, 40_000)),
                revenue_minor=draw(st.one_of(st.none(), st.integers(1, 50_000))),
            )
        )
    world = World(month, customers, events)
    deliveries: list[tuple[Any, ...]] = []
    # Usage: each event sent once or twice, some re-sent under the same request_id with other content.
    payloads = [event.payload() for event in events for _ in range(draw(st.integers(1, 2)))]
    for event in events:
        if draw(st.integers(0, 5)) == 0:
            payloads.append({**event.payload(), "completion_tokens": event.completion + 1})
    payloads = draw(st.permutations(payloads))
    while payloads:
        size = draw(st.integers(1, 6))
        deliveries.append(("usage", payloads[:size]))
        payloads = payloads[size:]

    # Stripe: invoices with service periods, their refunds and credit notes, mappings.
    seconds = iter(range(10_000))  # distinct event times where order must be told apart
    for number in range(draw(st.integers(0, 3))):
        cus = draw(st.sampled_from(STRIPE_CUSTOMERS))
        lines = []
        line_objects = []
        for _ in range(draw(st.integers(1, 3))):
            first = month + timedelta(days=draw(st.integers(-45, days_in_month - 1)))
            length = draw(st.one_of(st.integers(1, 400), st.just(1), st.integers(1500, 1900)))
            last = first + timedelta(days=length - 1)
            amount = draw(st.integers(1, 300_000))
            if length == 1 and draw(st.booleans()):  # a one-off line: a zero-length period
                obj = sf.invoice_line(amount, start=_midnight(first) + 3600, end=_midnight(first) + 3600)
            else:
                obj = sf.invoice_line(amount, start=_midnight(first), end=_midnight(last + ONE_DAY))
            lines.append(LineSpec(amount, first, last, obj["id"]))
            line_objects.append(obj)
        invoice_id = f"in_prop_{number}"
        world.invoices[invoice_id] = (cus, lines)
        paid = int(moment().timestamp())
        states = [sf.invoice_paid(id=invoice_id, customer=cus, lines=line_objects, event_created=paid)]
        if draw(st.integers(0, 6)) == 0:
            voided = paid + draw(st.integers(0, 3))  # the same second too: void is final
            states.append(
                sf.invoice_voided(id=invoice_id, customer=cus, lines=line_objects, event_created=voided)
            )
        deliveries += [("stripe", state, f"invoice:{invoice_id}:{i}") for i, state in enumerate(states)]

        if draw(st.booleans()):  # a charge refunded once or more, cumulatively
            charge_id = f"ch_prop_{number}"
            linked = draw(st.booleans())  # pre-basil charges name their invoice
            cumulative, at = 0, int(moment().timestamp())
            for step in range(draw(st.integers(1, 3))):
                cumulative += draw(st.integers(1, 20_000))
                at += draw(st.integers(0, 2))  # the same second too: the larger refund wins
                event = sf.charge_refunded(
                    id=charge_id,
                    customer=cus,
                    amount=10_000_000,
                    amount_refunded=cumulative,
                    invoice=invoice_id if linked else None,
                    event_created=at,
                )
                deliveries.append(("stripe", event, f"refund:{charge_id}:{step}"))
        if draw(st.booleans()):  # a credit note, on one line or on the whole invoice
            note_id = f"cn_prop_{number}"
            note_lines = [
                sf.credit_note_line(
                    draw(st.integers(1, 50_000)),
                    invoice_line_item=draw(
                        st.one_of(st.none(), st.sampled_from([line.line_id for line in lines]))
                    ),
                )
                for _ in range(draw(st.integers(1, 2)))
            ]
            created = int(moment().timestamp())
            fields = {
                "id": note_id,
                "invoice": invoice_id,
                "customer": cus,
                "lines": note_lines,
                "created": created,
            }
            deliveries.append(
                ("stripe", sf.credit_note_created(event_created=created, **fields), f"cn:{note_id}:0")
            )
            if draw(st.integers(0, 4)) == 0:
                voided = created + draw(st.integers(0, 2))
                deliveries.append(
                    ("stripe", sf.credit_note_voided(event_created=voided, **fields), f"cn:{note_id}:1")
                )

    for cus in STRIPE_CUSTOMERS:
        for _ in range(draw(st.integers(0, 2))):
            mapped = draw(st.one_of(st.none(), st.sampled_from(customers)))
            metadata = {"customer_id": mapped} if mapped else {}
            at = _midnight(month) + 7 * next(seconds)
            event = sf.customer_event("customer.updated", id=cus, metadata=metadata, event_created=at)
            deliveries.append(("stripe", event, f"customer:{cus}:{at}"))
        if draw(st.integers(0, 5)) == 0:
            deliveries.append(("map", cus, draw(st.sampled_from(customers))))

    for number in range(draw(st.integers(0, 2))):  # pushed entries, some corrected by a later push
        for version in range(draw(st.integers(1, 2))):
            first = month + timedelta(days=draw(st.integers(-20, days_in_month - 1)))
            last = first + timedelta(days=draw(st.integers(0, 90)))
            amount = draw(st.integers(-30_000, 80_000).filter(bool))
            entry = RevenueEntry(
                f"entry_{number}", draw(st.sampled_from(customers)), amount, "USD", first, last
            )
            deliveries.append(("push", entry, f"push:{number}:{version}"))

    # Any order, and every Stripe delivery may come twice; pushes keep their own order (no clock).
    stripe_and_usage = [d for d in deliveries if d[0] != "push"]
    stripe_and_usage += [d for d in stripe_and_usage if d[0] == "stripe" and draw(st.integers(0, 3)) == 0]
    shuffled = list(draw(st.permutations(stripe_and_usage)))
    for push_delivery in [d for d in deliveries if d[0] == "push"]:
        shuffled.insert(draw(st.integers(0, len(shuffled))), push_delivery)
    world.actions = shuffled
    return world


# --- the model: what the figures must be ---------------------------------------------------------


def day_shares(amount: int, first: date, last: date) -> dict[date, int]:
    """Each day's minor units: floor(|A| k / n) - floor(|A| (k - 1) / n), signed like A."""
    days = (last - first).days + 1
    sign, whole = (-1 if amount < 0 else 1), abs(amount)
    return {
        first + timedelta(days=k - 1): sign * (whole * k // days - whole * (k - 1) // days)
        for k in range(1, days + 1)
    }


def proportional(total: int, weights: list[int]) -> list[int]:
    """`total` in proportion to `weights`: floors, then one unit each to the earliest inexact shares."""
    if total < 0:
        return [-share for share in proportional(-total, weights)]
    whole = sum(weights)
    shares = [total * weight // whole for weight in weights]
    for index in [i for i, weight in enumerate(weights) if total * weight % whole][: total - sum(shares)]:
        shares[index] += 1
    return shares


def expected_cost(event: EventSpec, book: PriceBook) -> Decimal | None:
    if event.model == CUSTOM_MODEL:
        uncached = event.prompt - event.cached - event.cache_write
        per_million = (
            uncached * CUSTOM_PRICES["input"]
            + event.cached * CUSTOM_PRICES["cache_read"]
            + event.cache_write * CUSTOM_PRICES["input"]  # no cache-write price: billed as input
            + event.completion * CUSTOM_PRICES["output"]
        )
        return per_million / 1_000_000
    try:
        provider, info = book.snapshot.find_provider_model(event.model, None, None, None)
    except LookupError:
        return None
    usage = Usage(
        input_tokens=event.prompt,
        cache_read_tokens=event.cached,
        cache_write_tokens=event.cache_write,
        output_tokens=event.completion,
    )
    try:
        return info.calc_price(usage, provider, genai_request_timestamp=event.at).total_price
    except (ValueError, LookupError):
        return None


@dataclass
class Expected:
    stored: dict[str, EventSpec]  # request_id -> the content first accepted
    costs: dict[str, Decimal | None]
    revenue: dict[str, dict[date, int]]  # customer (or unmapped:cus) -> day -> minor units


def model_of(world: World, book: PriceBook) -> Expected:
    by_id = {event.request_id: event for event in world.events}
    stored: dict[str, EventSpec] = {}
    mapping_api: dict[str, str] = {}
    latest_customer_event: dict[str, tuple[int, str | None]] = {}
    stripe_states: dict[str, list[dict[str, Any]]] = defaultdict(list)
    pushes: dict[str, RevenueEntry] = {}
    for action in world.actions:
        kind = action[0]
        if kind == "usage":
            for payload in action[1]:
                spec = by_id[payload["request_id"]]
                if payload["request_id"] not in stored:
                    changed = payload["completion_tokens"] != spec.completion
                    stored[payload["request_id"]] = (
                        EventSpec(**{**spec.__dict__, "completion": spec.completion + 1}) if changed else spec
                    )
        elif kind == "map":
            mapping_api[action[1]] = action[2]
        elif kind == "push":
            pushes[action[1].external_id] = action[1]  # no source clock: the last push is the state
        else:
            event = action[1]
            obj = event["data"]["object"]
            if obj["object"] == "customer":
                mapped = (obj["metadata"] or {}).get("customer_id")
                current = latest_customer_event.get(obj["id"])
                if current is None or event["created"] > current[0]:
                    latest_customer_event[obj["id"]] = (event["created"], mapped)
            else:
                stripe_states[f"{obj['object']}:{obj['id']}"].append(event)

    def attributed(cus: str) -> str:
        if cus in mapping_api:
            return mapping_api[cus]
        mapped = latest_customer_event.get(cus, (0, None))[1]
        return mapped if mapped else f"unmapped:{cus}"

    revenue: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))

    def book_days(owner: str, shares: dict[date, int]) -> None:
        for day, minor in shares.items():
            revenue[owner][day] += minor

    def over_invoice(owner: str, invoice_id: str, pooled: int, targeted: list[tuple[int, str]]) -> None:
        _, lines = world.invoices[invoice_id]
        by_line = {line.line_id: line for line in lines}
        for amount, line_id in targeted:
            book_days(owner, day_shares(amount, by_line[line_id].first, by_line[line_id].last))
        if pooled:
            ordered = sorted(enumerate(lines), key=lambda item: (item[1].first, item[0]))
            shares = proportional(pooled, [line.amount for _, line in ordered])
            for (_, line), share in zip(ordered, shares, strict=True):
                book_days(owner, day_shares(share, line.first, line.last))

    for key, states in stripe_states.items():
        # The state further along wins: the latest time, then void over active, the larger refund.
        def rank(event: dict[str, Any]) -> tuple[int, int, int]:
            obj = event["data"]["object"]
            void = 1 if obj.get("status") == "void" or event["type"].endswith("voided") else 0
            return (event["created"], void, obj.get("amount_refunded", 0))

        final = max(states, key=rank)
        obj = final["data"]["object"]
        owner = attributed(obj["customer"])
        if key.startswith("invoice:"):
            if obj["status"] != "void":
                for line in world.invoices[obj["id"]][1]:
                    book_days(owner, day_shares(line.amount, line.first, line.last))
        elif key.startswith("charge:"):
            refunded = -obj["amount_refunded"]
            if obj.get("invoice"):
                over_invoice(owner, obj["invoice"], refunded, [])
            else:
                day = datetime.fromtimestamp(final["created"], tz=UTC).date()
                book_days(owner, {day: refunded})
        elif obj["status"] != "void":  # a credit note
            targeted = [
                (-line["amount"], line["invoice_line_item"])
                for line in obj["lines"]["data"]
                if line["invoice_line_item"]
            ]
            pooled = -sum(line["amount"] for line in obj["lines"]["data"] if not line["invoice_line_item"])
            over_invoice(owner, obj["invoice"], pooled, targeted)
    for entry in pushes.values():
        book_days(entry.customer_id, day_shares(entry.amount_minor, entry.period_start, entry.period_end))  # type: ignore[arg-type]
    for event in stored.values():
        if event.revenue_minor is not None:
            book_days(event.customer, {event.at.date(): event.revenue_minor})
    costs = {request_id: expected_cost(event, book) for request_id, event in stored.items()}
    return Expected(stored, costs, revenue)


def expected_report(expected: Expected, period: Period) -> dict[str, Any]:
    """The P&L of `period` from the model: rows by customer, totals, margins, actions, streaks."""

    def revenue_in(owner: str, first: date, last: date) -> Decimal:
        return (
            Decimal(
                sum(minor for day, minor in expected.revenue.get(owner, {}).items() if first <= day <= last)
            )
            / 100
        )

    def usage_in(customer: str, first: date, last: date) -> list[str]:
        return [
            request_id
            for request_id, event in expected.stored.items()
            if event.customer == customer and first <= event.at.date() <= last
        ]

    def cost_in(customer: str, first: date, last: date) -> Decimal:
        return sum((expected.costs[r] or Decimal(0) for r in usage_in(customer, first, last)), Decimal(0))

    customers = {e.customer for e in expected.stored.values() if period.first <= e.at.date() <= period.last}
    customers |= {
        owner
        for owner in expected.revenue
        if not owner.startswith("unmapped:") and revenue_in(owner, period.first, period.last) != 0
    }
    rows = {}
    for customer in customers:
        revenue = revenue_in(customer, period.first, period.last)
        cost = cost_in(customer, period.first, period.last)
        margin = revenue - cost
        margin_pct = (
            None if revenue == 0 else (margin * 100 / abs(revenue)).quantize(Decimal("0.01"), ROUND_HALF_EVEN)
        )
        action = (
            "reprice_or_throttle"
            if margin < 0
            else "monitor"
            if margin_pct is None or margin_pct < HEALTHY
            else "healthy"
        )
        streak, month_margin, month = 0, margin, period.last.replace(day=1)
        while month_margin < 0 and streak < 24:
            streak += 1
            month = (month - ONE_DAY).replace(day=1)
            end = month.replace(day=calendar.monthrange(month.year, month.month)[1])
            month_margin = revenue_in(customer, month, end) - cost_in(customer, month, end)
        ids = usage_in(customer, period.first, period.last)
        rows[customer] = {
            "revenue": revenue,
            "cost": cost,
            "margin": margin,
            "margin_pct": margin_pct,
            "action": action,
            "negative_margin_months": streak,
            "events": len(ids),
            "unpriced_events": sum(1 for r in ids if expected.costs[r] is None),
            "prompt_tokens": sum(expected.stored[r].prompt for r in ids),
            "completion_tokens": sum(expected.stored[r].completion for r in ids),
        }
    unmapped = sum(
        (
            revenue_in(owner, period.first, period.last)
            for owner in expected.revenue
            if owner.startswith("unmapped:")
        ),
        Decimal(0),
    )
    return {"rows": rows, "unmapped": unmapped}


# --- the run ---------------------------------------------------------------------------------------


@dataclass
class Stack:
    settings: Settings
    client: DynamoDBClient
    ledger: Ledger
    revenue: RevenueLedger
    customers: CustomerStore
    book: PriceBook


def stack_for(endpoint: str, month: date) -> Stack:
    table = f"marginlens-prop-{uuid.uuid4().hex[:12]}"
    settings = Settings(MARGINLENS_DYNAMODB_ENDPOINT=endpoint, MARGINLENS_TABLE=table)
    client = make_client(settings)
    create_table(client, table)
    store = PriceStore(client, table, cache_seconds=0)
    store.put_override(
        PriceOverride(
            key=store.book().override_key(CUSTOM_MODEL),
            model=CUSTOM_MODEL,
            effective_from=datetime.combine(month - timedelta(days=400), time.min, tzinfo=UTC),
            input_mtok=CUSTOM_PRICES["input"],
            output_mtok=CUSTOM_PRICES["output"],
            cache_read_mtok=CUSTOM_PRICES["cache_read"],
        )
    )
    customers = CustomerStore(client, table)
    aggregator = Aggregator(client, table)
    poller = StreamPoller(
        Stream(client, make_streams_client(settings), table), lambda event: aggregator.apply(batch_of(event))
    )
    return Stack(
        settings,
        client,
        Ledger(client, table, before_read=poller.drain),  # reads see the aggregates caught up
        RevenueLedger(client, table, customers),
        customers,
        store.book(),
    )


def run(world: World, stack: Stack) -> None:
    now = datetime.combine(world.month + timedelta(days=45), time.min, tzinfo=UTC)
    for action in world.actions:
        kind = action[0]
        if kind == "usage":
            result = ingest(
                {"events": action[1]},
                settings=stack.settings,
                ledger=stack.ledger,
                revenue=stack.revenue,
                prices=stack.book,
                now=now,
                key_id=None,
            )
            assert {r["status"] for r in result.results} <= {"created", "duplicate", "conflict"}, (
                result.results
            )
        elif kind == "stripe":
            handle_stripe_event(action[1], ledger=stack.revenue, customers=stack.customers, livemode=False)
        elif kind == "push":
            push(stack.revenue, action[1], now)
        else:
            stack.customers.put_customer(action[2], None, action[1])
            stack.revenue.remap(action[1])


def periods_of(world: World, draw_days: list[int]) -> Iterator[Period]:
    month = world.month
    last = month.replace(day=calendar.monthrange(month.year, month.month)[1])
    yield Period(month, last)  # a whole month
    yield Period(
        month + timedelta(days=draw_days[0] % 28), last + timedelta(days=1 + draw_days[1] % 40)
    )  # across months
    yield Period(month - timedelta(days=1 + draw_days[2] % 20), month + timedelta(days=draw_days[3] % 10))
    day = month + timedelta(days=draw_days[4] % 28)
    yield Period(day, day)  # a single day


def assert_report_matches(report: dict[str, Any], wanted: dict[str, Any], period: Period) -> None:
    rows = {row["customer_id"]: row for row in report["customers"]}
    assert set(rows) == set(wanted["rows"]), period
    for customer, want in wanted["rows"].items():
        row = rows[customer]
        got = {
            "revenue": Decimal(row["revenue"]),
            "cost": Decimal(row["cost"]),
            "margin": Decimal(row["margin"]),
            "margin_pct": None if row["margin_pct"] is None else Decimal(row["margin_pct"]),
            "action": row["action"],
            "negative_margin_months": row["negative_margin_months"],
            "events": row["events"],
            "unpriced_events": row["unpriced_events"],
            "prompt_tokens": row["prompt_tokens"],
            "completion_tokens": row["completion_tokens"],
        }
        assert got == want, (period, customer)
    totals = report["totals"]
    revenue = sum((want["revenue"] for want in wanted["rows"].values()), Decimal(0))
    cost = sum((want["cost"] for want in wanted["rows"].values()), Decimal(0))
    assert (Decimal(totals["revenue"]), Decimal(totals["cost"]), Decimal(totals["margin"])) == (
        revenue,
        cost,
        revenue - cost,
    ), period
    assert totals["events"] == sum(want["events"] for want in wanted["rows"].values())
    assert Decimal(totals["unmapped_revenue"]) == wanted["unmapped"], period


def assert_nothing_negative_but_refunds(client: DynamoDBClient, table: str) -> None:
    """No stored cost or aggregate below zero; recognised revenue below zero only for refunds and credits."""
    items: list[dict[str, Any]] = []
    arguments: dict[str, Any] = {"TableName": table}
    while True:
        page = client.scan(**arguments)
        items += [from_item(item) for item in page["Items"]]
        if "LastEvaluatedKey" not in page:
            break
        arguments["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    for item in items:
        pk = item["pk"]
        if pk.startswith("AGG#"):
            negative = {
                name: value for name, value in item.items() if isinstance(value, Decimal) and value < 0
            }
            assert not negative, (pk, item["sk"], negative)
        elif pk.startswith("EVENT#"):
            assert item.get("cost", Decimal(0)) >= 0, pk
        elif pk.startswith("REV#M#"):
            kind = item["document"].split(":")[1]
            daily = [Decimal(run[2]) for run in item["runs"]]
            if kind == "invoice":
                assert all(value >= 0 for value in daily), (pk, item["document"])
            elif kind in ("refund", "credit_note"):
                assert all(value <= 0 for value in daily), (pk, item["document"])


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)
@given(world=worlds(), draw_days=st.lists(st.integers(0, 1000), min_size=5, max_size=5))
def test_every_pnl_figure_equals_an_independent_sum(
    dynamodb_endpoint: str, world: World, draw_days: list[int]
) -> None:
    stack = stack_for(dynamodb_endpoint, world.month)
    try:
        run(world, stack)
        expected = model_of(world, stack.book)
        report = PnlReport(
            stack.ledger,
            healthy_pct=HEALTHY,
            revenue=LedgerRevenue(stack.revenue, ExchangeRates.parse("")),
            names=stack.customers.names,
        )
        for period in periods_of(world, draw_days):
            assert_report_matches(report.report(period), expected_report(expected, period), period)
        # One customer's view adds up to its row, day by day.
        if expected.stored:
            customer = next(iter(expected.stored.values())).customer
            whole = next(periods_of(world, draw_days))
            detail = report.customer(customer, whole)
            assert sum(Decimal(day["cost"]) for day in detail["daily"]) == Decimal(detail["cost"])
            assert sum(Decimal(day["revenue"]) for day in detail["daily"]) == Decimal(detail["revenue"])
        # The simulator re-prices the month's tokens as genai-prices prices each call, at its time.
        month = next(periods_of(world, draw_days))
        in_month = [e for e in expected.stored.values() if month.first <= e.at.date() <= month.last]
        for target in ("gpt-4o-mini", "deepseek-chat"):
            rows = simulate(load_groups(stack.ledger, month), TargetModel(stack.book, target))["rows"]
            simulated = sum((Decimal(row["simulated_cost"]) for row in rows), Decimal(0))
            wanted = sum(
                (
                    expected_cost(EventSpec(**{**e.__dict__, "model": target}), stack.book) or Decimal(0)
                    for e in in_month
                ),
                Decimal(0),
            )
            assert simulated == wanted, target
        assert_nothing_negative_but_refunds(stack.client, stack.settings.table_name)
    finally:
        stack.client.delete_table(TableName=stack.settings.table_name)
