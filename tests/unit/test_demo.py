"""The demo's story (`marginlens.local.demo`), computed offline from the generator at the bundled
prices: what `make run` must show, without a server."""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest

from marginlens.core.money import margin_pct, money_str, pct_str
from marginlens.local import demo
from marginlens.pricing.book import PriceBook
from marginlens.reports.pnl import action_for
from marginlens.revenue.recognition import month_totals, recognise
from marginlens.revenue.stripe_events import to_documents, verify

NOW = datetime(2026, 12, 2, 5, 17, 43, tzinfo=UTC)  # S = 2026-11, C = 2026-12
S, P, C = date(2026, 11, 1), date(2026, 10, 1), date(2026, 12, 1)
HEALTHY = Decimal(20)
BOOK = PriceBook.baseline()


def cost(event: demo.DemoEvent, model: str | None = None) -> Decimal | None:
    """What the server charges for the call (genai-prices itself, not the generator's arithmetic)."""
    price = BOOK.price(
        model or event.model,
        None,
        input_tokens=event.prompt_tokens,
        output_tokens=event.completion_tokens,
        cache_read_tokens=event.cached_tokens,
        cache_write_tokens=event.cache_write_tokens,
        at=event.timestamp,
    )
    return price.cost


def sent(now: datetime, month: date) -> list[demo.DemoEvent]:
    return [event for event in demo.demo_events(now) if demo.month_start(event.timestamp.date()) == month]


def costs_by_customer(events: list[demo.DemoEvent]) -> dict[str, Decimal]:
    totals: dict[str, Decimal] = defaultdict(Decimal)
    for event in events:
        totals[event.customer_id] += cost(event) or Decimal(0)
    return totals


def revenue_by_customer(now: datetime, month: date) -> tuple[dict[str, Decimal], dict[str, int]]:
    """Each customer's revenue recognised in `month`, from the pushed entries and the Stripe invoices
    (translated and recognised by the webhook's own code), and how many sources each has."""
    mapped = {c.stripe_customer_id: c.customer_id for c in demo.CUSTOMERS if c.stripe_customer_id}
    revenue: dict[str, Decimal] = defaultdict(Decimal)
    sources: dict[str, int] = defaultdict(int)
    for entry in demo.demo_revenue(now):
        if entry["month"] == f"{month:%Y-%m}":
            revenue[entry["customer_id"]] += Decimal(entry["amount"])
            sources[entry["customer_id"]] += 1
    for event in demo.stripe_invoice_events(now):
        (document,) = to_documents(event).documents
        cents = month_totals(recognise(document)).get(f"{month:%Y-%m}", 0)
        if cents:
            customer = mapped.get(document.customer_ref, f"unmapped:{document.customer_ref}")
            revenue[customer] += Decimal(cents) / 100
            sources[customer] += 1
    return revenue, sources


def test_the_story_month_reads_the_seeds_snapshot() -> None:
    assert demo.story_month(NOW) == S
    costs = costs_by_customer(sent(NOW, S))
    revenue, sources = revenue_by_customer(NOW, S)
    assert all(count == 1 for customer, count in sources.items() if not customer.startswith("unmapped:"))

    rows = {}
    for customer in demo.CUSTOMERS:
        margin = revenue[customer.customer_id] - costs[customer.customer_id]
        share = margin_pct(margin, revenue[customer.customer_id])
        rows[customer.customer_id] = (
            money_str(revenue[customer.customer_id]),
            money_str(costs[customer.customer_id]),
            pct_str(share),
            action_for(margin, share, HEALTHY),
        )
    assert rows["plexo"] == ("233.25", "277.20", "-18.84", "reprice_or_throttle")
    assert rows["helix"] == ("134.29", "127.31", "5.20", "monitor")
    healthy = [row for customer, row in rows.items() if customer not in ("plexo", "helix")]
    assert 4 <= len(healthy) <= 6
    assert all(row[3] == "healthy" and Decimal(row[2] or 0) > HEALTHY for row in healthy)

    total_revenue = sum(revenue[c.customer_id] for c in demo.CUSTOMERS)
    total_cost = sum(costs.values(), Decimal(0))
    assert (money_str(total_revenue), money_str(total_cost)) == ("12480.00", "8340.00")
    assert pct_str(margin_pct(total_revenue - total_cost, total_revenue)) == "33.17"
    # Orbit Studio's invoice reaches no customer: the unmapped Stripe revenue.
    assert revenue[f"unmapped:{demo.UNMAPPED.stripe_customer_id}"] == Decimal("49.00")


def test_plexo_lost_money_the_month_before_too_but_not_the_one_before_that() -> None:
    plexo = next(customer for customer in demo.CUSTOMERS if customer.customer_id == "plexo")
    before = demo.add_months(P, -1)
    for month in (P, before):
        revenue, _ = revenue_by_customer(NOW, month)
        assert revenue["plexo"] == plexo.revenue
    assert costs_by_customer(sent(NOW, P))["plexo"] > plexo.revenue
    assert costs_by_customer(sent(NOW, before))["plexo"] < plexo.revenue


def simulated(feature: str) -> tuple[int, Decimal, Decimal]:
    events = [event for event in demo.month_events(S) if event.feature == feature]
    current = sum((cost(event) or Decimal(0) for event in events), Decimal(0))
    target = sum((cost(event, demo.SIMULATIONS[feature]) or Decimal(0) for event in events), Decimal(0))
    return len(events), current, target


def test_the_features_and_their_simulations_look_like_the_seeds_table() -> None:
    summaries, summaries_cost, on_gpt5 = simulated("summarize")
    translations, translations_cost, on_sonnet = simulated("translate")
    assert (summaries, translations) == (1240, 890)
    assert abs(summaries_cost - 820) < Decimal("0.05") and abs(on_gpt5 - 580) < Decimal("0.05")
    assert pct_str(margin_pct(summaries_cost - on_gpt5, summaries_cost)) == "29.27"
    assert abs(translations_cost - 640) < Decimal("0.05")
    assert abs(on_sonnet - Decimal("419.84")) < Decimal("0.05")
    assert pct_str(margin_pct(translations_cost - on_sonnet, translations_cost)) == "34.40"
    features = {event.feature for event in demo.month_events(S)}
    assert features == {"summarize", "translate", "image_generation", "chat", "agent"}


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 1, 0, 5, tzinfo=UTC),  # the 1st, the renders done
        NOW,
        datetime(2026, 12, 17, 13, 0, tzinfo=UTC),
        datetime(2026, 12, 31, 23, 59, 59, tzinfo=UTC),
        datetime(2027, 2, 28, 23, 0, tzinfo=UTC),
    ],
)
def test_the_current_months_renders_are_91_percent_of_the_image_budget(now: datetime) -> None:
    current = demo.month_start(now.date())
    renders = [event for event in sent(now, current) if event.feature == "image_generation"]
    spent = sum((cost(event) or Decimal(0) for event in renders), Decimal(0))
    limit = Decimal(demo.IMAGE_BUDGET["limit"])
    assert len(renders) == demo.BATCH.requests
    assert spent == Decimal("546.00") == limit * Decimal("0.91")
    assert spent * 100 >= limit * demo.IMAGE_BUDGET["critical_pct"] > limit * demo.IMAGE_BUDGET["warning_pct"]
    assert demo.is_image_budget({"id": demo.IMAGE_BUDGET_ID, **demo.IMAGE_BUDGET, "limit": "600.00"})


def payloads(now: datetime) -> dict[str, dict[str, object]]:
    return {event.request_id: event.payload() for event in demo.demo_events(now)}


def test_the_same_day_gives_the_same_calls_at_any_hour() -> None:
    morning, evening = datetime(2026, 12, 9, 9, tzinfo=UTC), datetime(2026, 12, 9, 22, tzinfo=UTC)
    early, late, later = payloads(morning), payloads(evening), payloads(datetime(2026, 12, 24, tzinfo=UTC))
    assert early and len(later) > len(early)
    for request_id, body in early.items():  # seeding again later finds each as a duplicate
        assert late[request_id] == later[request_id] == body
    demo.month_events.cache_clear()
    assert payloads(morning) == early  # made from the month alone, not from a cache or the clock
    assert demo.demo_revenue(morning) == demo.demo_revenue(evening)
    assert demo.stripe_invoice_events(morning) == demo.stripe_invoice_events(evening)


def test_a_later_seed_sends_what_an_earlier_one_sent_unchanged_even_across_months() -> None:
    first = payloads(NOW)
    for later in (datetime(2026, 12, 20, tzinfo=UTC), datetime(2027, 1, 5, 12, tzinfo=UTC)):
        again = payloads(later)
        assert all(again[key] == body for key, body in first.items() if key in again)
    # After the roll-over on a kept data dir, the new story month holds what both seeds sent: all of it.
    december = {key for key in first if key.startswith("demo_2026-12")} | {
        event.request_id for event in sent(datetime(2027, 1, 5, 12, tzinfo=UTC), C)
    }
    assert december == {event.request_id for event in demo.month_events(C)}
    entries = {entry["external_id"]: entry for entry in demo.demo_revenue(NOW)}
    for entry in demo.demo_revenue(datetime(2027, 1, 5, 12, tzinfo=UTC)):
        assert entries.get(entry["external_id"], entry) == entry


@pytest.mark.parametrize(
    "now",
    [
        datetime(2026, 12, 1, 0, 0, 30, tzinfo=UTC),
        datetime(2026, 12, 1, 0, 2, tzinfo=UTC),
        NOW,
        datetime(2027, 3, 31, 23, 59, tzinfo=UTC),
        datetime(2028, 2, 29, 12, tzinfo=UTC),
    ],
)
def test_no_call_or_payment_is_in_the_future_or_too_old(now: datetime) -> None:
    events = demo.demo_events(now)
    assert events
    assert all(event.timestamp <= now - timedelta(minutes=1) for event in events)
    assert all(now - event.timestamp < timedelta(days=400) for event in events)  # MAX_EVENT_AGE_DAYS
    for event in demo.stripe_invoice_events(now):
        assert event["created"] <= now.timestamp()
    for entry in demo.demo_revenue(now):
        assert date.fromisoformat(entry["month"] + "-01") <= now.date()


def test_every_model_is_priced_but_acmes_own_and_every_call_fits_its_model() -> None:
    unpriced = set()
    for event in demo.month_events(S):
        price = BOOK.price(
            event.model,
            None,
            input_tokens=event.prompt_tokens,
            output_tokens=event.completion_tokens,
            cache_read_tokens=event.cached_tokens,
            cache_write_tokens=event.cache_write_tokens,
            at=event.timestamp,
        )
        if price.status == "unpriced":
            unpriced.add(event.model)
            continue
        assert price.status == "priced"
        assert price.ref is not None
        if price.ref == "openai/gpt-image-1":  # an image model: its prompt is text and a photo
            assert event.prompt_tokens < 10_000 and event.completion_tokens == 10 * 6_240
            continue
        window = demo.context_window(price.ref)
        assert window, f"no context window known for {price.ref}"
        assert event.prompt_tokens + event.completion_tokens <= window, event
        assert event.completion_tokens <= demo.MAX_COMPLETION.get(price.ref, window), event
        assert 0 <= event.cached_tokens + event.cache_write_tokens <= event.prompt_tokens
        assert event.completion_tokens > 0 and event.prompt_tokens > 0
    assert unpriced == {"acme-finetune-v2"}
    assert sum(1 for event in demo.month_events(S) if event.model == "acme-finetune-v2") == 12


def test_the_invoices_are_signed_as_stripe_signs_them_and_five_customers_are_mapped() -> None:
    secret = "whsec_demo_unit_test"
    story_start = datetime(S.year, S.month, 1, tzinfo=UTC).timestamp()
    invoices = [event for event in demo.stripe_invoice_events(NOW) if event["created"] >= story_start]
    event = invoices[0]
    body = demo.stripe_body(event)
    stamp = int(time.time())
    assert verify(body, demo.stripe_signature(body, secret, stamp), [secret]).id == event["id"]
    customers = {invoice["data"]["object"]["customer"] for invoice in invoices}
    api = {c.stripe_customer_id for c in demo.CUSTOMERS if c.mapped_by == "api"}
    by_metadata = {
        event["data"]["object"]["id"]
        for event in demo.stripe_customer_events()
        if event["data"]["object"]["metadata"].get("customer_id")
    }
    assert len((api | by_metadata) & customers) >= 5
    assert demo.UNMAPPED.stripe_customer_id in customers - api - by_metadata
    put = {body.get("stripe_customer_id") for _, body in demo.demo_customers()}
    assert put - {None} == api


def test_the_history_grows_toward_the_story_month() -> None:
    """The 12-month chart: revenue as customers sign, cost faster, the margin eroding."""
    figures = []
    for month, _age in demo.window(NOW)[:-1]:  # the complete months
        revenue, _ = revenue_by_customer(NOW, month)
        total = sum(revenue[c.customer_id] for c in demo.CUSTOMERS)
        spent = sum(costs_by_customer(sent(NOW, month)).values(), Decimal(0))
        figures.append((total, spent, margin_pct(total - spent, total)))
    revenues = [total for total, _, _ in figures]
    assert revenues == sorted(revenues) and revenues[0] < revenues[-1] / 4
    assert figures[-1][1] == Decimal("8340.00") and figures[-3][1] < figures[-2][1] < figures[-1][1]
    margins = [share for _, _, share in figures[-4:]]
    assert all(share is not None for share in margins)
    assert margins == sorted(margins, reverse=True)  # type: ignore[type-var]
