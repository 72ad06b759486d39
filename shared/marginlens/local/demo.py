"""Demo usage for the local stack: 30 days of a realistic SaaS, sent through the real ingest path.

Request ids are derived from the day, so seeding again the same day answers `duplicate` for every
event (idempotency, visible), and a later run only adds the days that are new.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    name: str
    calls_per_day: int
    # (feature, model, weight, typical prompt tokens, typical completion tokens)
    mix: tuple[tuple[str, str, int, int, int], ...]


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
    ),
    DemoCustomer(
        "northwind",
        "Northwind Travel",
        10,
        (
            ("translate", "openai/gpt-4o-mini", 5, 1500, 1400),
            ("summarize", "anthropic.claude-3-haiku-20240307-v1:0", 2, 4000, 500),
        ),
    ),
    DemoCustomer(
        "acme",
        "Acme Legal",
        8,
        (
            ("summarize", "claude-3-5-sonnet-20240620", 3, 12000, 900),
            ("translate", "acme-finetune-v2", 1, 1000, 900),  # not in any price list: unpriced
        ),
    ),
    DemoCustomer(
        "quanta",
        "Quanta Labs",
        6,
        (("summarize", "gemini-1.5-flash", 1, 3000, 400),),
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
            feature, model, _, prompt, completion = rng.choices(customer.mix, weights)[0]
            at = start + timedelta(seconds=rng.randint(0, 86399))
            if at > now - timedelta(minutes=1):
                continue
            prompt_tokens = _tokens(rng, prompt)
            events.append(
                {
                    "request_id": f"demo_{day.isoformat()}_{customer.customer_id}_{number}",
                    "customer_id": customer.customer_id,
                    "model": model,
                    "feature": feature,
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": _tokens(rng, completion),
                    "cached_tokens": prompt_tokens // 3
                    if feature == "summarize" and rng.random() < 0.4
                    else 0,
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
