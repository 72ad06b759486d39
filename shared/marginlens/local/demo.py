"""Demo usage for the local stack: 30 days of a realistic SaaS, sent through the real ingest path.

Request ids and values are derived from the day alone, so seeding again answers `duplicate` for
every event already sent (idempotency, visible) and adds only the calls that have happened since:
the rest of today, and the days that are new.

Revenue: each customer pays a monthly amount (`demo_revenue`, pushed through POST /v1/revenue),
set from what its usage costs over the whole month at the bundled prices, so the P&L shows every
action: Plexo Health loses money (`reprice_or_throttle`), Helix Robotics is thin (`monitor`), the
others are `healthy`. External ids name the customer and month: pushing again is `unchanged`.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    name: str
    calls_per_day: int
    # (feature, model, weight, typical prompt tokens, typical completion tokens)
    mix: tuple[tuple[str, str, int, int, int], ...]
    # Monthly revenue / the month's usage cost at the bundled prices: below 1 loses money.
    revenue_to_cost: Decimal = Decimal(2)


CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer(
        "plexo",
        "Plexo Health",
        24,
        (
            ("summarize", "gpt-4o", 5, 6000, 700),
            ("translate", "claude-3-5-sonnet-20240620", 2, 2500, 2200),
            ("image_generation", "gpt-4o", 1, 900, 300),
        ),
        Decimal("0.84"),  # margin about -19 %: reprice_or_throttle
    ),
    DemoCustomer(
        "helix",
        "Helix Robotics",
        14,
        (
            ("summarize", "gpt-4o-mini", 4, 5000, 600),
            ("translate", "gemini-1.5-flash", 3, 2000, 1800),
            ("image_generation", "gpt-4o", 1, 800, 250),
        ),
        Decimal("1.10"),  # margin about 9 %: monitor
    ),
    DemoCustomer(
        "northwind",
        "Northwind Travel",
        10,
        (
            ("translate", "openai/gpt-4o-mini", 5, 1500, 1400),
            ("summarize", "anthropic.claude-3-haiku-20240307-v1:0", 2, 4000, 500),
        ),
        Decimal("1.9"),
    ),
    DemoCustomer(
        "acme",
        "Acme Legal",
        8,
        (
            ("summarize", "claude-3-5-sonnet-20240620", 3, 12000, 900),
            ("translate", "acme-finetune-v2", 1, 1000, 900),  # not in any price list: unpriced
        ),
        Decimal("1.6"),
    ),
    DemoCustomer(
        "quanta",
        "Quanta Labs",
        6,
        (("summarize", "gemini-1.5-flash", 1, 3000, 400),),
        Decimal(3),
    ),
)


def _tokens(rng: random.Random, typical: int) -> int:
    return max(1, int(rng.lognormvariate(0, 0.35) * typical))


def events_for_day(day: date, now: datetime) -> list[dict[str, Any]]:
    rng = random.Random(day.isoformat())  # noqa: S311 (demo data, reproducible on purpose)
    events: list[dict[str, Any]] = []
    start = datetime.combine(day, time(), tzinfo=UTC)
    for customer in CUSTOMERS:
        weights = [entry[2] for entry in customer.mix]
        for number in range(customer.calls_per_day + rng.randint(-2, 2)):
            # Every value is drawn whether or not the call has happened yet: the same day gives the
            # same events at any hour, so seeding again finds duplicates, never conflicts.
            feature, model, _, prompt, completion = rng.choices(customer.mix, weights)[0]
            at = start + timedelta(seconds=rng.randint(0, 86399))
            prompt_tokens = _tokens(rng, prompt)
            completion_tokens = _tokens(rng, completion)
            cached = feature == "summarize" and rng.random() < 0.4
            if at > now - timedelta(minutes=1):
                continue
            events.append(
                {
                    "request_id": f"demo_{day.isoformat()}_{customer.customer_id}_{number}",
                    "customer_id": customer.customer_id,
                    "model": model,
                    "feature": feature,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "cached_tokens": prompt_tokens // 3 if cached else 0,
                    "timestamp": at.isoformat().replace("+00:00", "Z"),
                }
            )
    return events


def demo_events(now: datetime, days: int = 30) -> list[dict[str, Any]]:
    today = now.date()
    return [
        event
        for offset in range(days - 1, -1, -1)
        for event in events_for_day(today - timedelta(offset), now)
    ]


def _month_costs(month: date) -> dict[str, Decimal]:
    """What each customer's demo usage costs over the whole month, at the bundled prices."""
    from marginlens.pricing.book import PriceBook

    book = PriceBook.baseline()
    whole_month = datetime.max.replace(tzinfo=UTC)  # every call of every day, future ones included
    costs = {customer.customer_id: Decimal(0) for customer in CUSTOMERS}
    for number in range(calendar.monthrange(month.year, month.month)[1]):
        for event in events_for_day(month + timedelta(days=number), whole_month):
            price = book.price(
                event["model"],
                None,
                input_tokens=event["prompt_tokens"],
                output_tokens=event["completion_tokens"],
                cache_read_tokens=event["cached_tokens"],
                cache_write_tokens=0,
                at=datetime.fromisoformat(event["timestamp"]),
            )
            costs[event["customer_id"]] += price.cost or Decimal(0)
    return costs


def demo_revenue(now: datetime, days: int = 30) -> list[dict[str, Any]]:
    """One POST /v1/revenue body per customer and month the demo window touches: a monthly amount,
    recognised over the month, the same whatever day it is pushed (so pushing again is `unchanged`)."""
    today = now.date()
    month = (today - timedelta(days=days - 1)).replace(day=1)
    entries = []
    while month <= today:
        costs = _month_costs(month)
        for customer in CUSTOMERS:
            amount = (costs[customer.customer_id] * customer.revenue_to_cost).quantize(Decimal("0.01"))
            entries.append(
                {
                    "external_id": f"demo_{customer.customer_id}_{month:%Y-%m}",
                    "customer_id": customer.customer_id,
                    "amount": str(amount),
                    "currency": "USD",
                    "month": f"{month:%Y-%m}",
                }
            )
        month = (month + timedelta(days=32)).replace(day=1)
    return entries
