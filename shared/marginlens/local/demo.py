"""Demo data for the local stack: the seed document's story, sent through the public HTTP API.

The story
---------
A SaaS sells five AI features to its customers and picks the model behind each one: `summarize`
(long documents, on gpt-4.1), `translate` (claude-opus-4-5 on the premium plan, claude-sonnet-4 on
the standard one), `image_generation` (gpt-image-1), `chat` (Plexo's clinical copilot on
gpt-4.5-preview; Acme Legal's own fine-tuned `acme-finetune-v2`, which no price list knows) and
`agent` (a research agent on o1-pro). Every month reads the same:

* the story month S (the last complete UTC month) is the seed's snapshot: revenue $12,480.00, cost
  $8,340.00, margin $4,140.00 (33.17 %);
* Plexo Health pays $233.25 and costs $277.20: margin -18.84 %, `reprice_or_throttle`, and it lost
  money the month before too (its copilot moved to gpt-4.5-preview then), so 2 negative months;
* Helix Robotics pays $134.29 and costs $127.31: 5.20 %, `monitor`;
* Kestrel Capital (the agent's big user), Acme Legal, Lumen Learning, Vega Retail and Northwind
  Travel are healthy (33-37 %);
* `summarize` is 1,240 calls costing $820.00: simulated on gpt-5 (`POST /v1/simulations`
  `{"month": S, "feature": "summarize", "to_model": "gpt-5"}`) it costs $580.00, 29.3 % less;
* `translate` is 890 calls costing $640.00: on claude-sonnet-4-0 it costs $419.84, 34.4 % less
  (40 % on the premium Opus calls; the standard-plan calls are on Sonnet 4 already);
* Vega Retail's catalog renders: a batch job that starts at 00:00:03 UTC on the 1st of each month
  and sends 218 gpt-image-1 requests (ten 1536x1024 images each), a second apart, costing exactly
  $546.00. The `image_generation` budget (`IMAGE_BUDGET`: $600.00 a month, warning 75 %, critical
  90 %) is created before any usage is sent, so the current month C's batch crosses both
  thresholds: the budget reads 91.00 % `critical` and `GET /v1/alerts?month=C` lists
  `budget_warning` and `budget_critical`, on any day of the month from 00:05 UTC on the 1st;
* 12 acme-finetune-v2 calls a month are `unpriced` (the P&L's unpriced warning).

Revenue: Plexo, Helix, Northwind, Lumen and Vega pay through Stripe: one `invoice.paid` webhook per
month, signed with the stack's STRIPE_WEBHOOK_SECRET, each invoice's line covering the month.
Plexo, Helix and Northwind are mapped with `PUT /v1/customers/{id}` (`stripe_customer_id`), Lumen
and Vega by the `customer_id` metadata of their Stripe customer (a `customer.created` webhook).
Orbit Studio, a Stripe customer nobody has mapped yet, pays $49.00 from the story month on: the
P&L's unmapped Stripe revenue. Kestrel and Acme are invoiced outside Stripe: `POST /v1/revenue`,
one entry per month. Every invoice is paid (and every entry pushed) at 00:10 UTC on the 1st of its
month, for the whole month, so the current month's P&L has its whole revenue against the cost to
date (`GET /v1/pnl?from=C-01&to=<today>` spreads the revenue over the days so far).

Months, and what is sent for each (fewer, larger calls for the months around the story month)
-------------------------------------------------------------------------------------------
Each month M has one full set of calls, `month_events(M)`, made from M alone (request ids, tokens,
times): every call a layer. Which layers are sent depends on M's age (months before the current
one, C being 0):

* S (age 1): every call of M (2,500 calls: the feature counts above);
* C (age 0: the calls so far) and the month before S (age 2): the `daily` and `history` layers,
  89 large calls (Plexo's whole copilot, a third of the agent runs, a few summaries and
  translations) carrying about a quarter of S's cost, and for C Vega's batch;
* the 9 months before those (ages 3-11): the `history` layer alone, back to when each customer
  signed (`DemoCustomer.joined`): a few large calls (mostly agent runs), fewer the older the
  month, and the revenue of the customers signed by then, so the 12-month chart shows revenue
  growing as customers sign, cost growing faster, and the margin eroding from over 95 % to 33 %.

Seeding again (the same day, or later the same month) sends the same calls and entries again: each
is `duplicate` (usage), `unchanged` (revenue) or a redelivery (Stripe), and only the calls that
have happened since are new. Nothing conflicts, because every call of M is made from M alone.

When the month rolls over on a kept data dir, each month keeps what it was sent and gets the layers
of its new age that it lacked: the old C (now S) gets its `detail` calls and reads the story's
figures exactly again, while the months behind it keep more than a fresh seed would send them (the
month before S is then complete, and the one before that lost money for Plexo too, so Plexo's
negative streak reads 3, and one more with each month the data dir is kept). Nothing conflicts and
nothing is counted twice; delete `.marginlens/` for the exact story.

All money is Decimal; costs are computed here at the bundled genai-prices table, the table a new
data dir prices with.
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cache, reduce
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from marginlens.pricing.book import PriceBook

Layer = Literal["history", "daily", "batch", "detail"]

CURRENCY = "USD"
NANO = Decimal(1000)  # nano-dollars per token for a price of $1 per million tokens
MONTHS = 12  # the current month and the 11 before it
HISTORY_AGES = range(3, MONTHS)  # ages sent with the `history` layer only
PAID_AFTER = timedelta(minutes=10)  # invoices are paid (and entries pushed) this long after the 1st
WEEKEND_WEIGHT = 0.2  # the customers are businesses: a weekend day sees a fifth of a weekday's calls
SETTLED = timedelta(minutes=1)  # a call is sent once it is this old (as the first demo did)
EPOCH = datetime(2025, 1, 1, tzinfo=UTC)  # when the demo's Stripe customers were created

# The simulations the story tells (the module docstring), and what they give for the story month.
SIMULATIONS = {"summarize": "gpt-5", "translate": "claude-sonnet-4-0"}
IMAGE_BUDGET_ID = "image_generation"
IMAGE_BUDGET = {
    "scope": "feature",
    "target": "image_generation",
    "period": "monthly",
    "limit": "600.00",
    "warning_pct": 75,
    "critical_pct": 90,
}


def is_image_budget(stored: dict[str, Any]) -> bool:
    """Whether a `GET /v1/budgets` entry is the demo's budget, as the demo sets it."""
    return stored.get("id") == IMAGE_BUDGET_ID and all(
        Decimal(str(stored.get(name))) == Decimal(str(value))
        if name in ("limit", "warning_pct", "critical_pct")
        else stored.get(name) == value
        for name, value in IMAGE_BUDGET.items()
    )


# Models whose genai-prices entry has no context window: the provider's published one.
CONTEXT_WINDOWS = {"openai/gpt-4.5-preview": 128_000}
# The longest completion each model's API allows.
MAX_COMPLETION = {
    "openai/gpt-4.1": 32_768,
    "openai/gpt-4.5-preview": 16_384,
    "openai/o1-pro": 100_000,
    "anthropic/claude-opus-4-5": 64_000,
    "anthropic/claude-sonnet-4-0": 64_000,
}


@dataclass(frozen=True)
class DemoCustomer:
    customer_id: str
    name: str
    revenue: Decimal  # what it pays every month (the story month reads it exactly)
    billing: Literal["stripe", "api"]
    stripe_customer_id: str | None = None
    mapped_by: Literal["api", "metadata"] | None = None  # how MarginLens learns its Stripe customer
    joined: int = MONTHS - 1  # a customer since this many months before the current one

    @property
    def cost(self) -> Decimal:
        """What its usage costs in a full month (the story month), at the bundled prices."""
        return sum(
            (stream.cost for stream in STREAMS if stream.customer_id == self.customer_id and stream.cost),
            BATCH.cost if BATCH.customer_id == self.customer_id else Decimal(0),
        )


CUSTOMERS: tuple[DemoCustomer, ...] = (
    DemoCustomer("plexo", "Plexo Health", Decimal("233.25"), "stripe", "cus_DemoPlexoHealth", "api", 8),
    DemoCustomer("helix", "Helix Robotics", Decimal("134.29"), "stripe", "cus_DemoHelixRobotics", "api", 9),
    DemoCustomer("kestrel", "Kestrel Capital", Decimal("7507.46"), "api", joined=4),
    DemoCustomer("acme", "Acme Legal", Decimal("1700.00"), "api", joined=11),
    DemoCustomer(
        "lumen", "Lumen Learning", Decimal("1450.00"), "stripe", "cus_DemoLumenLearning", "metadata", 6
    ),
    DemoCustomer("vega", "Vega Retail", Decimal("985.00"), "stripe", "cus_DemoVegaRetail", "metadata", 5),
    DemoCustomer(
        "northwind", "Northwind Travel", Decimal("470.00"), "stripe", "cus_DemoNorthwindTravel", "api", 11
    ),
)
# A Stripe customer nobody has mapped to a MarginLens customer yet: unmapped revenue, no usage.
UNMAPPED = DemoCustomer("orbit", "Orbit Studio", Decimal("49.00"), "stripe", "cus_DemoOrbitStudio", None, 1)


@dataclass(frozen=True)
class Stream:
    """One customer's calls of one feature on one model, in a full month."""

    customer_id: str
    feature: str
    model: str
    events: int
    cost: Decimal | None  # their cost in a full month (None: a model no price list knows)
    prompt: int  # a typical call's prompt tokens
    completion: int  # and completion tokens
    history: int = 0  # of `events`: sent for every month back to the customer's joining
    daily: int = 0  # of `events`: also sent for the current month and the month before the story month
    fixed_share: Decimal | None = None  # of `cost`, what those carry (None: their share of `events`)
    steady: bool = False  # the same amount every month (otherwise it varies by up to 5 %)
    completion_ratio: Decimal | None = None  # completion / prompt tokens over the month
    sigma: float = 0.3  # spread of a call's tokens around the typical call


# gpt-4.1 summaries with 3.79 % as many completion as prompt tokens: 29.3 % cheaper on gpt-5.
SUMMARY_RATIO = Decimal("0.037921")
AGENT_RUN_SIZE = Decimal("1.15")  # the agent runs sent for every month are the larger ones
OPUS, SONNET = "claude-opus-4-5", "claude-sonnet-4-20250514"


def _calls(
    customer: str, feature: str, events: int, cost: str, history: int, daily: int, model: str | None = None
) -> Stream:
    """A stream of one of the SaaS's features, on the model it runs on (`model`: translate's plan)."""
    cost_value = Decimal(cost)
    if feature == "summarize":  # long documents on gpt-4.1's 1M-token window
        return Stream(customer, feature, "gpt-4.1", events, cost_value, 287_000, 10_900, history, daily,
                      completion_ratio=SUMMARY_RATIO)  # fmt: skip
    if feature == "translate":  # whole documents, about as long out as in
        return Stream(customer, feature, model or OPUS, events, cost_value, 22_000, 25_000, history, daily,
                      sigma=0.25)  # fmt: skip
    assert feature == "agent"  # research runs: long contexts, long reasoning
    return Stream(customer, feature, "o1-pro", events, cost_value, 85_000, 70_000, history, daily,
                  fixed_share=AGENT_RUN_SIZE * (history + daily) / events, sigma=0.12)  # fmt: skip


# Plexo Health's clinical copilot: every call sent for the months around the story month (it moved
# to gpt-4.5-preview the month before), none for older months.
PLEXO_COPILOT = Stream("plexo", "chat", "gpt-4.5-preview", 28, Decimal("236.00"), 100_000, 6_200, 0, 28,
                       fixed_share=Decimal(1), steady=True, sigma=0.08)  # fmt: skip

# Each customer's calls in a full month: (customer, feature, calls, cost, history calls, daily calls).
STREAMS: tuple[Stream, ...] = (
    # Plexo Health: the copilot, a few summaries and translations.
    PLEXO_COPILOT,
    _calls("plexo", "summarize", 50, "33.00", 1, 1),
    _calls("plexo", "translate", 11, "8.20", 0, 1),
    # Helix Robotics: two agent runs a month, a few summaries, translations on the standard plan.
    _calls("helix", "agent", 2, "105.00", 1, 1),
    _calls("helix", "summarize", 24, "16.00", 1, 0),
    _calls("helix", "translate", 9, "6.31", 0, 1, SONNET),
    # Kestrel Capital: the agent's big user.
    _calls("kestrel", "agent", 79, "4323.00", 8, 12),
    _calls("kestrel", "summarize", 568, "376.00", 1, 2),
    _calls("kestrel", "translate", 282, "202.20", 1, 1),
    # Acme Legal: contract review (agent), summaries, translations, and its own model's chat.
    _calls("acme", "agent", 15, "800.00", 3, 2),
    _calls("acme", "summarize", 303, "200.00", 1, 1),
    _calls("acme", "translate", 181, "130.00", 1, 1),
    Stream("acme", "chat", "acme-finetune-v2", 12, None, 3_000, 600, 2, 2),
    # Lumen Learning: course-building agent runs, lecture summaries, course translations.
    _calls("lumen", "agent", 12, "650.00", 2, 2),
    _calls("lumen", "summarize", 227, "150.00", 1, 1),
    _calls("lumen", "translate", 208, "150.00", 1, 1),
    # Vega Retail: the catalog renders (BATCH), product descriptions in 20 languages, summaries.
    _calls("vega", "translate", 116, "83.29", 1, 1, SONNET),
    _calls("vega", "summarize", 38, "25.00", 1, 0),
    # Northwind Travel: itinerary agent runs, guide translations, a few summaries.
    _calls("northwind", "agent", 4, "220.00", 1, 1),
    _calls("northwind", "translate", 83, "60.00", 1, 1),
    _calls("northwind", "summarize", 30, "20.00", 1, 0),
)


@dataclass(frozen=True)
class Batch:
    """Vega Retail's catalog renders: requests at the very start of every month."""

    customer_id: str = "vega"
    feature: str = "image_generation"
    model: str = "gpt-image-1"
    requests: int = 218
    images: int = 10  # per request (the images API's `n`)
    image_tokens: int = 6_240  # a 1536x1024 high-quality image
    prompt: int = 1_700  # the prompt and the product's reference photo
    start: timedelta = timedelta(seconds=3)
    spacing: timedelta = timedelta(seconds=1)
    cost: Decimal = Decimal("546.00")


BATCH = Batch()


@dataclass(frozen=True)
class DemoEvent:
    request_id: str
    customer_id: str
    feature: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    timestamp: datetime
    layer: Layer
    max_age: int  # the oldest age of its month at which it is sent
    cached_tokens: int = 0
    cache_write_tokens: int = 0

    def payload(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "request_id": self.request_id,
            "customer_id": self.customer_id,
            "model": self.model,
            "feature": self.feature,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "timestamp": _iso(self.timestamp),
        }
        if self.cached_tokens:
            body["cached_tokens"] = self.cached_tokens
        if self.cache_write_tokens:
            body["cache_write_tokens"] = self.cache_write_tokens
        return body

    def sent_at(self, age: int) -> bool:
        """Whether a seed sends this call when its month is `age` months old."""
        if self.layer == "detail":
            return age == 1
        if self.layer == "batch":
            return age <= 1
        return age <= self.max_age


# --- months ---------------------------------------------------------------------------------


def month_start(day: date) -> date:
    return day.replace(day=1)


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def story_month(now: datetime) -> date:
    """S: the last complete UTC calendar month before `now`."""
    return add_months(month_start(now.astimezone(UTC).date()), -1)


def month_days(month: date) -> int:
    return calendar.monthrange(month.year, month.month)[1]


def month_bounds(month: date) -> tuple[date, date]:
    return month, month.replace(day=month_days(month))


def window(now: datetime) -> list[tuple[date, int]]:
    """(month, age) for the 12 months the demo covers, oldest first."""
    current = month_start(now.astimezone(UTC).date())
    return [(add_months(current, -age), age) for age in range(MONTHS - 1, -1, -1)]


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _start(month: date) -> datetime:
    return datetime(month.year, month.month, 1, tzinfo=UTC)


# --- prices ---------------------------------------------------------------------------------


@cache
def price_book() -> PriceBook:
    from marginlens.pricing.book import PriceBook

    return PriceBook.baseline()


@dataclass(frozen=True)
class UnitPrices:
    """Nano-dollars per token, by bucket (exact: every price here has at most 3 decimals)."""

    ref: str
    input: int
    output: int
    cache_read: int | None
    cache_write: int | None

    def cost(self, event: DemoEvent) -> int:
        uncached = event.prompt_tokens - event.cached_tokens - event.cache_write_tokens
        return (
            uncached * self.input
            + event.cached_tokens * (self.cache_read if self.cache_read is not None else self.input)
            + event.cache_write_tokens * (self.cache_write if self.cache_write is not None else self.input)
            + event.completion_tokens * self.output
        )


def _nano(price: Decimal | None) -> int | None:
    if price is None:
        return None
    value = price * NANO
    if value != value.to_integral_value():
        raise ValueError(f"a price of {price} per million tokens is not a whole number of nano-dollars")
    return int(value)


@cache
def unit_prices(model: str, month: date) -> UnitPrices | None:
    """The bundled prices of `model` in `month` (None: unpriced). The demo's models keep one price
    all month (the unit tests check every call against the price book itself)."""
    book = price_book()
    resolved = book.resolve(model)
    if resolved is None:
        return None
    prices = book.upstream_unit_prices(resolved, _start(month) + timedelta(days=14))
    return UnitPrices(
        resolved.ref,
        _nano(prices["input"]) or 0,
        _nano(prices["output"]) or 0,
        _nano(prices.get("cache_read")),
        _nano(prices.get("cache_write")),
    )


def nano_cost(event: DemoEvent, month: date) -> int | None:
    prices = unit_prices(event.model, month)
    return prices.cost(event) if prices else None


def context_window(ref: str) -> int | None:
    if ref in CONTEXT_WINDOWS:
        return CONTEXT_WINDOWS[ref]
    resolved = price_book().resolve(ref)
    window_size = getattr(resolved.model, "context_window", None) if resolved else None
    return int(window_size) if window_size else None


# --- one month's calls ------------------------------------------------------------------------


def _rng(month: date, *parts: str) -> random.Random:
    return random.Random(":".join(("marginlens-demo", f"{month:%Y-%m}", *parts)))  # noqa: S311 (reproducible)


def _draw(rng: random.Random, typical: int, sigma: float) -> float:
    return typical * min(2.0, max(0.4, math.exp(rng.gauss(0, sigma))))


def _customer(customer_id: str) -> DemoCustomer:
    return next(customer for customer in CUSTOMERS if customer.customer_id == customer_id)


@dataclass
class _Call:
    """A call being calibrated: raw token sizes, then whole tokens."""

    event: DemoEvent
    prompt: float
    completion: float


def _limits(model: str, month: date) -> tuple[int, int]:
    prices = unit_prices(model, month)
    ref = prices.ref if prices else model
    window_size = context_window(ref) or 10_000_000
    completion = min(MAX_COMPLETION.get(ref, window_size // 2), window_size // 2)
    return window_size, completion


def _fit(calls: list[_Call], month: date, prompt_scale: float, completion_scale: float) -> None:
    """Whole tokens from the raw sizes, scaled, within the model's context window."""
    for call in calls:
        window_size, max_completion = _limits(call.event.model, month)
        completion = max(1, min(max_completion, round(call.completion * completion_scale)))
        prompt = max(1, min(window_size - completion, round(call.prompt * prompt_scale)))
        call.event = replace(call.event, prompt_tokens=prompt, completion_tokens=completion)


def _total(calls: Iterable[_Call], month: date) -> int:
    return sum(nano_cost(call.event, month) or 0 for call in calls)


def _scale_to(calls: list[_Call], month: date, target: int, ratio: Decimal | None = None) -> None:
    """Scale the calls' tokens so that they cost about `target` nano-dollars (and, with `ratio`,
    hold `ratio` completion tokens per prompt token overall)."""
    if not calls:
        return
    prices = unit_prices(calls[0].event.model, month)
    if prices is None or target <= 0:
        _fit(calls, month, 1.0, 1.0)
        return
    prompt = sum(call.prompt for call in calls)
    completion = sum(call.completion for call in calls)
    if ratio is None:
        raw = prompt * prices.input + completion * prices.output
        scale = target / raw
        _fit(calls, month, scale, scale)
    else:
        prompt_total = target / (prices.input + float(ratio) * prices.output)
        _fit(calls, month, prompt_total / prompt, float(ratio) * prompt_total / completion)
    for _ in range(3):  # the context window may have cut some calls short: make it up on the others
        missing = target - _total(calls, month)
        if abs(missing) < prices.output * len(calls):
            break
        open_calls = [
            call for call in calls if call.event.completion_tokens < _limits(call.event.model, month)[1]
        ]
        scale = 1 + missing / max(1, _total(open_calls, month))
        for call in open_calls:
            call.prompt *= scale
            call.completion *= scale
        _fit(open_calls, month, 1.0, 1.0)


def _history_age(index: int, count: int, joined: int) -> int:
    """The oldest age a history call is sent at: spread over 3-11, fewer calls the older the month."""
    spread = HISTORY_AGES.stop - HISTORY_AGES.start
    return min(joined, HISTORY_AGES.start + (index * spread) // max(1, count))


def _stream_calls(stream: Stream, month: date) -> list[_Call]:
    rng = _rng(month, stream.customer_id, stream.feature, stream.model)
    joined = _customer(stream.customer_id).joined
    days = [month + timedelta(days=offset) for offset in range(month_days(month))]
    weights = [WEEKEND_WEIGHT if day.weekday() >= 5 else 1.0 for day in days]
    order = list(range(stream.events))
    rng.shuffle(order)  # which calls are history, daily or detail
    rank = {number: position for position, number in enumerate(order)}
    calls = []
    for number in range(stream.events):
        position = rank[number]
        layer: Layer
        if position < stream.history:
            layer, max_age = "history", _history_age(position, stream.history, joined)
        elif position < stream.history + stream.daily:
            layer, max_age = "daily", 2
        else:
            layer, max_age = "detail", 1
        day = rng.choices(days, weights)[0]
        at = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=rng.randrange(86_400))
        event = DemoEvent(
            f"demo_{month:%Y-%m}_{stream.customer_id}_{stream.feature}_{number:04d}",
            stream.customer_id,
            stream.feature,
            stream.model,
            0,
            0,
            at,
            layer,
            max_age,
        )
        calls.append(
            _Call(event, _draw(rng, stream.prompt, stream.sigma), _draw(rng, stream.completion, stream.sigma))
        )
    return calls


def _batch_calls(month: date) -> list[DemoEvent]:
    rng = _rng(month, BATCH.customer_id, BATCH.feature)
    prices = unit_prices(BATCH.model, month)
    assert prices is not None
    completion = BATCH.images * BATCH.image_tokens
    target = int(BATCH.cost * 1_000_000_000)
    prompt_total, left = divmod(target - BATCH.requests * completion * prices.output, prices.input)
    if left or prompt_total < BATCH.requests:
        raise ValueError("the batch's cost is not reachable with whole prompt tokens")
    weights = [_draw(rng, BATCH.prompt, 0.3) for _ in range(BATCH.requests)]
    prompts = [int(prompt_total * weight / sum(weights)) for weight in weights]
    for index in range(prompt_total - sum(prompts)):
        prompts[index % BATCH.requests] += 1
    return [
        DemoEvent(
            f"demo_{month:%Y-%m}_{BATCH.customer_id}_{BATCH.feature}_{number:04d}",
            BATCH.customer_id,
            BATCH.feature,
            BATCH.model,
            prompts[number],
            completion,
            _start(month) + BATCH.start + BATCH.spacing * number,
            "batch",
            1,
        )
        for number in range(BATCH.requests)
    ]


def _variation(stream: Stream, month: date) -> Decimal:
    if stream.steady:
        return Decimal(1)
    rng = _rng(month, stream.customer_id, stream.feature, stream.model, "variation")
    return Decimal(1) + Decimal(rng.randrange(-50, 51)) / 1000


@cache
def month_events(month: date) -> tuple[DemoEvent, ...]:
    """Every call of `month`'s full story, made from the month alone: each customer's calls cost
    exactly its `cost`, each stream's (and so each feature's) to within a few cents of its `cost`."""
    month = month_start(month)
    events: list[DemoEvent] = []
    detail: dict[str, list[_Call]] = {}
    fixed_cost: dict[str, int] = {}
    for stream in STREAMS:
        calls = _stream_calls(stream, month)
        fixed = [call for call in calls if call.event.layer != "detail"]
        rest = [call for call in calls if call.event.layer == "detail"]
        full = int(stream.cost * 1_000_000_000) if stream.cost is not None else 0
        share = stream.fixed_share if stream.fixed_share is not None else Decimal(len(fixed)) / stream.events
        variation = _variation(stream, month)
        if not rest:  # no detail call to make up the rest: the fixed calls are the whole stream
            share, variation = Decimal(1), Decimal(1)
        _scale_to(fixed, month, int(full * share * variation))
        if stream.completion_ratio is None or not rest:
            _scale_to(rest, month, full - _total(fixed, month))
        else:
            # The ratio holds over the whole month: the detail calls make up for the fixed ones.
            prices = unit_prices(stream.model, month)
            assert prices is not None
            prompt_all = full / (prices.input + float(stream.completion_ratio) * prices.output)
            fixed_prompt = sum(call.event.prompt_tokens for call in fixed)
            fixed_completion = sum(call.event.completion_tokens for call in fixed)
            _fit(
                rest,
                month,
                (prompt_all - fixed_prompt) / sum(call.prompt for call in rest),
                (float(stream.completion_ratio) * prompt_all - fixed_completion)
                / sum(call.completion for call in rest),
            )
        detail.setdefault(stream.customer_id, []).extend(rest)
        fixed_cost[stream.customer_id] = fixed_cost.get(stream.customer_id, 0) + _total(fixed, month)
        events += [call.event for call in fixed]
    batch = _batch_calls(month)
    events += batch
    fixed_cost[BATCH.customer_id] += sum(nano_cost(event, month) or 0 for event in batch)
    for customer in CUSTOMERS:
        calls = detail[customer.customer_id]
        target = int(customer.cost * 1_000_000_000) - fixed_cost[customer.customer_id]
        _settle(calls, month, target)
        events += [call.event for call in calls]
    events.sort(key=lambda event: (event.customer_id, event.feature, event.timestamp, event.request_id))
    return tuple(events)


def _settle(calls: list[_Call], month: date, target: int) -> None:
    """Make the calls cost exactly `target` nano-dollars: completion tokens for the bulk, then cache
    reads and writes (parts of the prompt, at their own prices) for the last nano-dollars."""
    priced = [call for call in calls if unit_prices(call.event.model, month)]
    residual = target - _total(priced, month)
    # The bulk: completion tokens of the cheapest-output model, spread over its calls.
    coarse_model = min({call.event.model for call in priced}, key=lambda name: _output(name, month))
    coarse = [call for call in priced if call.event.model == coarse_model]
    step = _output(coarse_model, month)
    knobs = _knobs(priced, month)
    unit = reduce(math.gcd, (price for price, _, _ in knobs))
    if residual % math.gcd(unit, step):
        raise ValueError("the demo's cost targets are not reachable with whole tokens")
    for extra in range(0, 400):
        # `extra` coarse steps fewer, so that the rest (>= 0) is made of the small knobs.
        bulk = residual // step - extra
        rest = residual - bulk * step
        counts = _change(rest, [price for price, _, _ in knobs])
        if counts is not None:
            break
    else:
        raise ValueError("the demo's cost targets are not reachable with whole tokens")
    _spread(coarse, bulk)
    for (_, call, bucket), count in zip(knobs, counts, strict=True):
        if count:
            tokens = {"cached": "cached_tokens", "cache_write": "cache_write_tokens"}[bucket]
            call.event = replace(
                call.event,
                prompt_tokens=call.event.prompt_tokens + count,
                **{tokens: getattr(call.event, tokens) + count},
            )
    assert _total(priced, month) == target


def _output(model: str, month: date) -> int:
    prices = unit_prices(model, month)
    assert prices is not None
    return prices.output


def _knobs(calls: Sequence[_Call], month: date) -> list[tuple[int, _Call, str]]:
    """One call per model and cache bucket the calls' models price: (nano-dollars a token, call, bucket)."""
    knobs: dict[tuple[str, str], tuple[int, _Call, str]] = {}
    for call in sorted(calls, key=lambda call: -call.event.prompt_tokens):
        prices = unit_prices(call.event.model, month)
        assert prices is not None
        for bucket, price in (("cached", prices.cache_read), ("cache_write", prices.cache_write)):
            if price is not None and (call.event.model, bucket) not in knobs:
                knobs[(call.event.model, bucket)] = (price, call, bucket)
    return sorted(knobs.values(), key=lambda knob: knob[0])


def _change(amount: int, prices: Sequence[int]) -> list[int] | None:
    """Counts of `prices` adding up to `amount` (fewest tokens), or None."""
    if amount < 0:
        return None
    unit = reduce(math.gcd, prices)
    if amount % unit:
        return None
    size = amount // unit
    steps = [price // unit for price in prices]
    best: list[int | None] = [0] + [None] * size
    choice = [-1] * (size + 1)
    for value in range(1, size + 1):
        for index, step in enumerate(steps):
            before = best[value - step] if value >= step else None
            if before is not None and (best[value] is None or before + 1 < best[value]):  # type: ignore[operator]
                best[value], choice[value] = before + 1, index
    if best[size] is None:
        return None
    counts = [0] * len(prices)
    value = size
    while value:
        counts[choice[value]] += 1
        value -= steps[choice[value]]
    return counts


def _spread(calls: list[_Call], steps: int) -> None:
    """Add (or take) `steps` completion tokens over the calls, in proportion to their completions."""
    if not calls:
        if steps:
            raise ValueError("no call to settle the demo's cost on")
        return
    ordered = sorted(calls, key=lambda call: (-call.event.completion_tokens, call.event.request_id))
    total = sum(call.event.completion_tokens for call in ordered)
    if total + steps < len(ordered):
        raise ValueError("the demo's cost cannot be settled: a call would have no completion")
    changes = [steps * call.event.completion_tokens // total for call in ordered]
    for index in range(steps - sum(changes)):
        changes[index % len(ordered)] += 1
    for call, change in zip(ordered, changes, strict=True):
        call.event = replace(call.event, completion_tokens=call.event.completion_tokens + change)


# --- what a seed sends --------------------------------------------------------------------------


def demo_events(now: datetime) -> list[DemoEvent]:
    """The calls a seed at `now` sends: each month's layers for its age, the calls that have happened
    (at least a minute ago), the current month last, each month grouped by customer and feature."""
    settled = now.astimezone(UTC) - SETTLED
    chosen = []
    for month, age in window(now):
        for event in month_events(month):
            if (
                event.sent_at(age)
                and event.timestamp <= settled
                and _customer(event.customer_id).joined >= age
            ):
                chosen.append(event)
    return chosen


def demo_customers() -> list[tuple[str, dict[str, str]]]:
    """`PUT /v1/customers/{id}` bodies: the names, and the Stripe customers mapped through the API."""
    bodies = []
    for customer in CUSTOMERS:
        body = {"name": customer.name}
        if customer.mapped_by == "api" and customer.stripe_customer_id:
            body["stripe_customer_id"] = customer.stripe_customer_id
        bodies.append((customer.customer_id, body))
    return bodies


def _paid(month: date) -> datetime:
    return _start(month) + PAID_AFTER


def _billed(now: datetime) -> list[tuple[DemoCustomer, date]]:
    """(customer, month) for every monthly payment made by `now`, oldest month first."""
    paid = []
    for month, age in window(now):
        if _paid(month) > now.astimezone(UTC) - SETTLED:
            continue
        for customer in (*CUSTOMERS, UNMAPPED):
            if customer.joined >= age:
                paid.append((customer, month))
    return paid


def demo_revenue(now: datetime, *, stripe: bool = True) -> list[dict[str, Any]]:
    """`POST /v1/revenue` bodies: the customers invoiced outside Stripe (and, with `stripe=False`,
    the Stripe customers' invoices too, for a stack without a webhook signing secret)."""
    entries = []
    for customer, month in _billed(now):
        if customer.billing == "stripe" and (stripe or customer is UNMAPPED):
            continue
        external_id = (
            f"demo_{customer.customer_id}_{month:%Y-%m}"
            if customer.billing == "api"
            else _invoice_id(customer, month)
        )
        entries.append(
            {
                "external_id": external_id,
                "customer_id": customer.customer_id,
                "amount": str(customer.revenue),
                "currency": CURRENCY,
                "month": f"{month:%Y-%m}",
            }
        )
    return entries


# --- Stripe -------------------------------------------------------------------------------------

STRIPE_API_VERSION = "2026-10-28.endive"


def _invoice_id(customer: DemoCustomer, month: date) -> str:
    return f"in_Demo{customer.name.replace(' ', '')}{month:%Y%m}"


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


def _event(event_id: str, kind: str, obj: dict[str, Any], created: datetime) -> dict[str, Any]:
    return {
        "id": event_id,
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": _timestamp(created),
        "data": {"object": obj},
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": None, "idempotency_key": None},
        "type": kind,
    }


def _email(customer: DemoCustomer) -> str:
    return f"billing@{customer.customer_id}.example"


def stripe_customer_events() -> list[dict[str, Any]]:
    """`customer.created` for the Stripe customers mapped by metadata, and for the unmapped one."""
    events = []
    for customer in (*CUSTOMERS, UNMAPPED):
        if customer.billing != "stripe" or customer.mapped_by == "api":
            continue
        assert customer.stripe_customer_id
        metadata = {"customer_id": customer.customer_id} if customer.mapped_by == "metadata" else {}
        obj = {
            "id": customer.stripe_customer_id,
            "object": "customer",
            "created": _timestamp(EPOCH),
            "email": _email(customer),
            "livemode": False,
            "metadata": metadata,
            "name": customer.name,
        }
        events.append(
            _event(f"evt_DemoCustomer{customer.name.replace(' ', '')}", "customer.created", obj, EPOCH)
        )
    return events


def stripe_invoice_events(now: datetime) -> list[dict[str, Any]]:
    """One `invoice.paid` per Stripe customer and month paid by `now`: the month's subscription."""
    events = []
    for customer, month in _billed(now):
        if customer.billing != "stripe":
            continue
        assert customer.stripe_customer_id
        invoice_id = _invoice_id(customer, month)
        amount = int(customer.revenue * 100)
        created, paid = _start(month), _paid(month)
        line = {
            "id": f"il_{invoice_id[3:]}",
            "object": "line_item",
            "amount": amount,
            "currency": "usd",
            "description": f"1 x {customer.name} plan ({month:%B %Y})",
            "invoice": invoice_id,
            "livemode": False,
            "metadata": {},
            "period": {"start": _timestamp(created), "end": _timestamp(_start(add_months(month, 1)))},
            "pretax_credit_amounts": [],
            "quantity": 1,
            "taxes": [],
        }
        invoice = {
            "id": invoice_id,
            "object": "invoice",
            "amount_due": amount,
            "amount_paid": amount,
            "amount_remaining": 0,
            "billing_reason": "subscription_cycle",
            "collection_method": "charge_automatically",
            "created": _timestamp(created),
            "currency": "usd",
            "customer": customer.stripe_customer_id,
            "customer_email": _email(customer),
            "customer_name": customer.name,
            "lines": {"object": "list", "data": [line], "has_more": False, "total_count": 1},
            "livemode": False,
            "metadata": {},
            "number": f"DEMO-{customer.customer_id.upper()}-{month:%Y%m}",
            "period_start": _timestamp(created),
            "period_end": _timestamp(created),
            "status": "paid",
            "status_transitions": {
                "finalized_at": _timestamp(created + timedelta(minutes=5)),
                "paid_at": _timestamp(paid),
                "voided_at": None,
            },
            "subtotal": amount,
            "total": amount,
            "total_excluding_tax": amount,
        }
        events.append(_event(f"evt_Demo{invoice_id[3:]}Paid", "invoice.paid", invoice, paid))
    return events


def stripe_body(event: dict[str, Any]) -> bytes:
    return json.dumps(event, indent=2).encode("utf-8")


def stripe_signature(body: bytes, secret: str, timestamp: int) -> str:
    """Stripe's `Stripe-Signature` header: `t=<unix time>,v1=<HMAC-SHA256 of "t.body">`, what
    `stripe.Webhook.construct_event` verifies."""
    signed = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={signed}"
