"""What a period's usage would have cost on another model, and which cheaper models to recommend.

Everything is computed from the day x feature x model aggregates (`AGG#FD`, or `AGG#CFD` for one
customer), never from events: a month costs at most one read per day and group, however many calls
it holds. Each day's token buckets (uncached input, cache read, cache write, output) are priced with
the target's prices in force at the start of that day (UTC), so a price change inside the month is
honoured; days sharing one price are summed and priced once. A target whose prices change with
the time of day (DeepSeek's off-peak hours) is priced half-hour slot by slot, from the slot
counters the day items keep, at the time the tokens were used.

Pricing sums instead of calls is exact for linear prices, which is what genai-prices computes for
all but two kinds of model, handled here:
- per-request fees (`requests_kcount`): genai-prices bills one request per calculation, so the other
  `events - 1` are added;
- context tiers (price per token depends on the call's own input size): the aggregates do not keep
  per-call sizes, so the base tier applies and the row says so (`tiered_prices_at_base`).
Cached tokens on a target with no cache price are billed as plain input (as genai-prices does), and
the row says so (`cache_priced_as_input`). Units beyond the four buckets (audio, reasoning and image
tokens, web searches: `pricing.units`) are priced with the target's prices for them; a unit the
target has no price for is left out and the row names it (`unpriced_units`). Usage of a price tier
(the Batch API, a service tier) is kept apart in the aggregates and priced with the target's prices
for that tier.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, Literal

from marginlens.core.money import ZERO, margin_pct, money_str, pct, pct_str
from marginlens.pricing.book import OVERRIDE_PRICED_KEYS, PriceBook, has_tiers, linear_cost
from marginlens.pricing.quality import QualityBook, QualityScore
from marginlens.pricing.types import ResolvedModel
from marginlens.pricing.units import priced_keys, unpriced_units
from marginlens.reports.pnl import Period
from marginlens.usage.ledger import (
    SLOT_COUNTERS,
    SLOT_MINUTES,
    SLOTS_PER_DAY,
    UNIT_PREFIX,
    Ledger,
    parse_tier_counter,
    slot_counter,
    tier_context,
    tier_counter,
)

THOUSAND = Decimal(1000)
QPD_PLACES = Decimal("0.0001")
GroupStatus = Literal["ok", "current_unscored", "cost_incomplete", "no_cheaper_candidate"]


@dataclass(frozen=True)
class TokenBuckets:
    events: int = 0
    prompt_tokens: int = 0  # the whole input; the two cache counts are parts of it
    completion_tokens: int = 0
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    units: Mapping[str, Decimal | int] = field(default_factory=dict)  # the other billable units

    def _combine(self, other: TokenBuckets, sign: int) -> TokenBuckets:
        units = dict(self.units)
        for key, value in other.units.items():
            units[key] = units.get(key, 0) + sign * value
        return TokenBuckets(
            self.events + sign * other.events,
            self.prompt_tokens + sign * other.prompt_tokens,
            self.completion_tokens + sign * other.completion_tokens,
            self.cached_tokens + sign * other.cached_tokens,
            self.cache_write_tokens + sign * other.cache_write_tokens,
            {key: value for key, value in units.items() if value},
        )

    def __add__(self, other: TokenBuckets) -> TokenBuckets:
        return self._combine(other, 1)

    def __sub__(self, other: TokenBuckets) -> TokenBuckets:
        return self._combine(other, -1)


def _unit_keys(row: Mapping[str, Any]) -> list[str]:
    """The units a row counts (every slot's and tier's units are among its own)."""
    return [key[len(UNIT_PREFIX) :] for key in row if key.startswith(UNIT_PREFIX)]


def _buckets(
    row: Mapping[str, Any], name: Callable[[str], str] = str, unit_keys: Iterable[str] | None = None
) -> TokenBuckets:
    """The buckets of a row, each counter read under `name` (a slot's, a price tier's)."""
    keys = _unit_keys(row) if unit_keys is None else unit_keys
    units = {key: row[name(UNIT_PREFIX + key)] for key in keys if row.get(name(UNIT_PREFIX + key))}
    events, prompt, completion, cached, cache_write = (int(row.get(name(c), 0)) for c in SLOT_COUNTERS)
    return TokenBuckets(events, prompt, completion, cached, cache_write, units)


@dataclass(frozen=True)
class Piece:
    """Tokens used at one point in time: a day (priced at its start), or a time-of-day slot of it.
    `timed` is False for the part of a day whose time of day is not known (stored before slots)."""

    at: datetime
    tokens: TokenBuckets
    timed: bool = True


@dataclass
class TierUsage:
    """A group's usage of one price tier (the standard one, the Batch API, a service tier), day by
    day and slot by slot."""

    days: dict[str, TokenBuckets] = field(default_factory=dict)
    slots: dict[str, dict[int, TokenBuckets]] = field(default_factory=dict)  # day -> slot -> tokens

    _sums: dict[tuple[bool, tuple[int, ...]], list[TokenBuckets]] = field(default_factory=dict, repr=False)
    _pieces: dict[bool, list[Piece]] = field(default_factory=dict, repr=False)

    def pieces(self, time_of_day: bool) -> list[Piece]:
        """The tokens in time order: one piece per day, or (`time_of_day`) per slot used, plus a
        day's tokens of no known slot at the start of that day."""
        if time_of_day not in self._pieces:
            found: list[Piece] = []
            for day in sorted(self.days):
                start = _day_start(day)
                if not time_of_day:
                    found.append(Piece(start, self.days[day]))
                    continue
                slotted = self.slots.get(day, {})
                for slot in sorted(slotted):
                    found.append(Piece(start + timedelta(minutes=slot * SLOT_MINUTES), slotted[slot]))
                rest = self.days[day] - sum(slotted.values(), TokenBuckets())
                if rest != TokenBuckets():
                    found.append(Piece(start, rest, timed=False))
            self._pieces[time_of_day] = found
        return self._pieces[time_of_day]

    def sums(self, time_of_day: bool, partition: tuple[int, ...]) -> list[TokenBuckets]:
        """Tokens summed per part, `partition[i]` being the part of the i-th piece in time order.
        Most targets keep one price all period: one part, summed once for every target."""
        key = (time_of_day, partition)
        if key not in self._sums:
            parts = [TokenBuckets()] * (max(partition, default=-1) + 1)
            for part, piece in zip(partition, self.pieces(time_of_day), strict=True):
                parts[part] = parts[part] + piece.tokens
            self._sums[key] = parts
        return self._sums[key]

    def add(self, day: str, tokens: TokenBuckets, slotted: Mapping[int, TokenBuckets]) -> None:
        self._sums.clear()
        self._pieces.clear()
        self.days[day] = self.days.get(day, TokenBuckets()) + tokens
        slots = self.slots.setdefault(day, {})
        for slot, slot_tokens in slotted.items():
            if slot_tokens != TokenBuckets():
                slots[slot] = slots.get(slot, TokenBuckets()) + slot_tokens


STANDARD_TIER = ""  # the tag of usage with no price context


@dataclass
class UsageGroup:
    """One feature on one model over the period, its usage kept apart by price tier."""

    feature: str
    model: str
    tiers: dict[str, TierUsage] = field(default_factory=dict)  # tier tag -> usage
    events: int = 0
    cost: Decimal = ZERO
    unpriced_events: int = 0

    def pieces(self, time_of_day: bool) -> list[Piece]:
        """The standard tier's pieces (see `TierUsage.pieces`)."""
        return self.tiers.get(STANDARD_TIER, TierUsage()).pieces(time_of_day)

    def add(self, row: Mapping[str, Any]) -> None:
        day = row["day"]
        tags = sorted({parsed[0] for key in row if (parsed := parse_tier_counter(key))})
        used_slots = [slot for slot in range(SLOTS_PER_DAY) if row.get(slot_counter(slot, "events"))]
        unit_keys = _unit_keys(row)  # once per row, not once per slot and tier

        def read(tag: str | None, slot: int | None) -> TokenBuckets:
            def name(counter: str) -> str:
                counter = tier_counter(tag, counter) if tag is not None else counter
                return slot_counter(slot, counter) if slot is not None else counter

            return _buckets(row, name, unit_keys)

        standard = read(None, None)
        standard_slots = {slot: read(None, slot) for slot in used_slots}
        for tag in tags:
            tier = read(tag, None)
            tier_slots = {slot: read(tag, slot) for slot in used_slots}
            self.tiers.setdefault(tag, TierUsage()).add(day, tier, tier_slots)
            standard = standard - tier
            standard_slots = {slot: standard_slots[slot] - tier_slots[slot] for slot in used_slots}
        self.tiers.setdefault(STANDARD_TIER, TierUsage()).add(day, standard, standard_slots)
        self.events += int(row.get("events", 0))
        self.cost += Decimal(row.get("cost", 0))
        self.unpriced_events += int(row.get("unpriced_events", 0))


def load_groups(ledger: Ledger, period: Period, customer_id: str | None = None) -> list[UsageGroup]:
    """The period's feature x model groups (one customer's when `customer_id` is given)."""
    rows: list[dict[str, Any]] = []
    for month, first, last in period.months():
        rows += (
            ledger.customer_detail_days(month, customer_id, first, last)
            if customer_id is not None
            else ledger.feature_model_days(month, first, last)
        )
    return group_rows(rows)


def group_rows(rows: Iterable[Mapping[str, Any]]) -> list[UsageGroup]:
    """Day x feature x model aggregate rows as feature x model groups, costliest first."""
    groups: dict[tuple[str, str], UsageGroup] = {}
    for row in rows:
        key = (row["feature"], row["model"])
        groups.setdefault(key, UsageGroup(*key)).add(row)
    return sorted(groups.values(), key=lambda group: (-group.cost, group.feature, group.model))


@dataclass(frozen=True)
class Simulated:
    cost: Decimal | None  # None: the target has no token price on some day of the period
    cache_priced_as_input: bool = False
    tiered_prices_at_base: bool = False
    time_of_day_approximate: bool = False  # time-of-day prices met usage of no known hour
    unpriced_units: tuple[str, ...] = ()  # units of the usage the target has no price for

    def __add__(self, other: Simulated) -> Simulated:
        return Simulated(
            None if self.cost is None or other.cost is None else self.cost + other.cost,
            self.cache_priced_as_input or other.cache_priced_as_input,
            self.tiered_prices_at_base or other.tiered_prices_at_base,
            self.time_of_day_approximate or other.time_of_day_approximate,
            tuple(sorted({*self.unpriced_units, *other.unpriced_units})),
        )


def _day_start(day: str) -> datetime:
    return datetime.fromisoformat(day).replace(tzinfo=UTC)


def _linear(prices: Mapping[str, Decimal], tokens: TokenBuckets) -> Decimal:
    return linear_cost(
        prices,
        tokens.prompt_tokens,
        tokens.completion_tokens,
        tokens.cached_tokens,
        tokens.cache_write_tokens,
    )


def _cache_as_input(prices: Mapping[str, Any], tokens: TokenBuckets) -> bool:
    return (tokens.cached_tokens > 0 and prices.get("cache_read") is None) or (
        tokens.cache_write_tokens > 0 and prices.get("cache_write") is None
    )


def _time_of_day_bounds(resolved: ResolvedModel | None) -> list[time]:
    """The times of day at which the model's prices change (empty: none do)."""
    if resolved is None:
        return []
    from genai_prices.types import TimeOfDateConstraint  # loaded with the price book, on first use

    model = resolved.model
    constraints = [price.constraint for price in model.prices] if isinstance(model.prices, list) else []
    constraints += [variant.constraint for variant in model.price_variants or ()]
    return [
        moment
        for constraint in constraints
        if isinstance(constraint, TimeOfDateConstraint)
        for moment in (constraint.start_time, constraint.end_time)
    ]


def _at_base_tier(model_price: Any) -> Any:
    """The same prices with every context-length tier at its base (the aggregates keep no call sizes)."""
    from genai_prices.types import ModelPrice, TieredPrices

    return ModelPrice(
        **{
            key: value.base if isinstance(value, TieredPrices) else value
            for key, value in model_price.__dict__.items()
            if not key.startswith("_")
        }
    )


class TargetModel:
    """A model to re-price usage on: an upstream model (with its price history) or an override."""

    def __init__(self, book: PriceBook, name: str) -> None:
        self.book = book
        self.name = name
        self.resolved: ResolvedModel | None = book.resolve(name)
        self.key = self.resolved.ref if self.resolved else book.override_key(name)
        self._spans: dict[tuple[datetime, str], tuple[str, str] | None] = {}
        bounds = _time_of_day_bounds(self.resolved)
        # Priced slot by slot when its prices change with the time of day; exactly so when every
        # change falls on a slot boundary (otherwise a slot is priced at its start, and said so).
        self.time_of_day = bool(bounds)
        self.off_grid = any((b.hour * 60 + b.minute) % SLOT_MINUTES or b.second for b in bounds)

    @property
    def known(self) -> bool:
        return self.resolved is not None or bool(self.book.overrides.get(self.key))

    def price_source(self, at: datetime) -> str:
        override = self.book.override_at(self.key, at)
        return override.version if override else self.book.source

    def span(self, at: datetime, tag: str = STANDARD_TIER) -> tuple[str, str] | None:
        """Which price applies at `at` to a tier (None: none), told apart by its values; kept per
        moment and tier."""
        if (at, tag) not in self._spans:
            override = self.book.override_at(self.key, at)
            if override is not None:
                self._spans[at, tag] = ("override", override.version)
            elif self.resolved is not None:
                prices = self.resolved.model.get_prices(at, tier_context(tag) or None)
                self._spans[at, tag] = ("upstream", repr(prices))
            else:
                self._spans[at, tag] = None
        return self._spans[at, tag]

    def simulate(self, group: UsageGroup) -> Simulated:
        """Each price tier of the group on this model's prices for that tier, summed."""
        total = Simulated(ZERO)
        for tag, usage in sorted(group.tiers.items()):
            total = total + self._simulate_tier(usage, tag)
        return total

    def _simulate_tier(self, usage: TierUsage, tag: str) -> Simulated:
        # Pieces (days, or slots for time-of-day prices) priced alike are summed and priced once.
        first_of: dict[tuple[str, str], int] = {}
        partition = []
        starts = []
        pieces = usage.pieces(self.time_of_day)
        for piece in pieces:
            span = self.span(piece.at, tag)
            if span is None:
                return Simulated(None)
            if span not in first_of:
                first_of[span] = len(first_of)
                starts.append(piece.at)
            partition.append(first_of[span])
        total = Simulated(ZERO)
        for at, tokens in zip(starts, usage.sums(self.time_of_day, tuple(partition)), strict=True):
            total = total + self._price(at, tokens, tier_context(tag))
            if total.cost is None:
                return total
        approximate = self.time_of_day and (self.off_grid or not all(piece.timed for piece in pieces))
        return total + Simulated(ZERO, time_of_day_approximate=approximate)

    def _price(self, at: datetime, tokens: TokenBuckets, context: Mapping[str, str]) -> Simulated:
        override = self.book.override_at(self.key, at)
        if override is not None:
            prices = override.unit_prices()
            return Simulated(
                _linear(prices, tokens),
                _cache_as_input(prices, tokens),
                unpriced_units=unpriced_units(OVERRIDE_PRICED_KEYS, tokens.units),
            )
        assert self.resolved is not None  # simulate() returned before pricing an unknown model
        model_price = self.resolved.model.get_prices(at, context or None)
        prices = self.book.upstream_unit_prices(self.resolved, at, context)
        if "input" not in prices or "output" not in prices:
            return Simulated(None)  # priced per image, per second...: not per token
        per_request = getattr(model_price, "requests_kcount", None)
        fee_per_call = per_request / THOUSAND if per_request else ZERO
        tiered = has_tiers(model_price)
        from genai_prices import Usage

        usage = Usage(
            input_tokens=tokens.prompt_tokens,
            output_tokens=tokens.completion_tokens,
            cache_read_tokens=tokens.cached_tokens,
            cache_write_tokens=tokens.cache_write_tokens,
            **tokens.units,
        )
        try:
            calculation = (_at_base_tier(model_price) if tiered else model_price).calc_price(usage)
        except (ValueError, LookupError):
            return Simulated(None)
        # calc_price bills one call's fee; the summed tokens stand for `events` calls.
        total = calculation["total_price"] + (tokens.events - 1) * fee_per_call
        return Simulated(
            total,
            _cache_as_input(prices, tokens),
            tiered_prices_at_base=tiered,
            unpriced_units=unpriced_units(priced_keys(model_price), tokens.units) if tokens.units else (),
        )


def _savings(
    cost: Decimal, simulated: Decimal | None, comparable: bool
) -> tuple[Decimal | None, Decimal | None]:
    if simulated is None or not comparable:
        return None, None
    return cost - simulated, pct(cost - simulated, cost)


def _notes(group: UsageGroup, simulated: Simulated, target: str) -> list[str]:
    notes = []
    if group.unpriced_events:
        notes.append(
            f"{group.unpriced_events} of these events are unpriced, so the current cost is incomplete: "
            "reprice them (POST /v1/reprice) to compare."
        )
    if simulated.cost is None:
        notes.append(f"{target} has no per-token price for part of this period.")
    if simulated.cache_priced_as_input:
        notes.append(f"{target} has no cache price: cached tokens are priced as plain input.")
    if simulated.time_of_day_approximate:
        notes.append(
            f"{target} prices change with the time of day; usage recorded before MarginLens kept its "
            "half-hour (or a price change off the half-hour) is priced at the start of its day or slot."
        )
    if simulated.unpriced_units:
        notes.append(
            f"{target} has no price for {', '.join(simulated.unpriced_units)}, which this usage has: "
            "the simulated cost leaves them out."
        )
    if simulated.tiered_prices_at_base:
        notes.append(
            f"{target} prices long contexts higher; the aggregates keep no per-call size, so "
            "its base tier applies."
        )
    return notes


def simulation_row(group: UsageGroup, target: TargetModel, simulated: Simulated) -> dict[str, Any]:
    savings, savings_pct = _savings(group.cost, simulated.cost, group.unpriced_events == 0)
    return {
        "feature": group.feature,
        "current_model": group.model,
        "events": group.events,
        "cost": money_str(group.cost),
        "simulated_model": target.key,
        "simulated_cost": money_str(simulated.cost) if simulated.cost is not None else None,
        "savings": money_str(savings) if savings is not None else None,
        "savings_pct": pct_str(savings_pct),
        "unpriced_events": group.unpriced_events,
        "cache_priced_as_input": simulated.cache_priced_as_input,
        "tiered_prices_at_base": simulated.tiered_prices_at_base,
        "unpriced_units": list(simulated.unpriced_units),
        "time_of_day_approximate": simulated.time_of_day_approximate,
        "notes": _notes(group, simulated, target.key),
    }


def simulate(groups: Sequence[UsageGroup], target: TargetModel) -> dict[str, Any]:
    """Rows per feature and current model, and totals over the rows that can be compared."""
    rows, cost, simulated_cost, events, unpriced = [], ZERO, ZERO, 0, 0
    for group in groups:
        simulated = target.simulate(group)
        rows.append(simulation_row(group, target, simulated))
        events += group.events
        unpriced += group.unpriced_events
        if simulated.cost is not None and group.unpriced_events == 0:
            cost += group.cost
            simulated_cost += simulated.cost
    compared = [row for row in rows if row["savings"] is not None]
    return {
        "rows": rows,
        "totals": {
            "events": events,
            "unpriced_events": unpriced,
            "rows_compared": len(compared),
            "cost": money_str(cost),
            "simulated_cost": money_str(simulated_cost),
            "savings": money_str(cost - simulated_cost),
            "savings_pct": pct_str(pct(cost - simulated_cost, cost)),
        },
    }


# --- recommendations ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    target: TargetModel
    name: str | None
    simulated: Simulated
    quality: QualityScore | None

    @property
    def cost(self) -> Decimal:
        assert self.simulated.cost is not None
        return self.simulated.cost

    def quality_per_dollar(self) -> Decimal | None:
        if self.quality is None or self.cost == 0:
            return None
        return (self.quality.score / self.cost).quantize(QPD_PLACES, rounding=ROUND_HALF_EVEN)

    def rank_key(self) -> tuple[int, Decimal, Decimal, str]:
        # Highest quality per dollar first; a free model (no finite ratio) before all others.
        ratio = self.quality_per_dollar()
        return (0 if ratio is None else 1, -(ratio or ZERO), self.cost, self.target.key)


@dataclass(frozen=True)
class RecommendationSettings:
    index: str
    tolerance_pct: Decimal
    min_cost: Decimal
    limit: int


class Recommender:
    """Cheaper models for each group, from every model that has a quality score of any kind."""

    def __init__(self, book: PriceBook, quality: QualityBook, settings: RecommendationSettings) -> None:
        self.book = book
        self.quality = quality
        self.settings = settings
        targets = (TargetModel(book, ref) for ref in quality.candidates())
        # Retired models are no recommendation, however cheap.
        self.targets = [
            target
            for target in targets
            if target.known and not (target.resolved and target.resolved.model.deprecated)
        ]

    def min_quality(self, current: QualityScore) -> Decimal:
        return current.score * (1 - self.settings.tolerance_pct / 100)

    def group(
        self, group: UsageGroup, margin: Decimal | None = None, revenue: Decimal | None = None
    ) -> dict[str, Any]:
        index = self.settings.index
        current = self.quality.score(group.model, index)
        ranked: list[Candidate] = []
        unscored: list[Candidate] = []
        comparable = group.unpriced_events == 0
        floor = self.min_quality(current) if current is not None else ZERO
        if comparable:
            seen: set[str] = {group.model.lower()}
            offers: set[tuple[str, str, Decimal]] = set()
            for target in self.targets:
                if target.key.lower() in seen:
                    continue
                seen.add(target.key.lower())
                score = self.quality.score(target.key, index)
                if score is not None and (current is None or score.score < floor):
                    continue  # scored, but not good enough (or nothing to compare with)
                simulated = target.simulate(group)
                if simulated.cost is None or simulated.cost >= group.cost:
                    continue  # not cheaper: no recommendation
                name = self.quality.name(target.key)
                offer = (name or target.key, target.key.split("/", 1)[0], simulated.cost)
                if offer in offers:
                    continue  # one provider listing the same model under two ids at one price
                offers.add(offer)
                candidate = Candidate(target, name, simulated, score)
                (unscored if score is None else ranked).append(candidate)
        ranked.sort(key=Candidate.rank_key)
        unscored.sort(key=lambda candidate: (candidate.cost, candidate.target.key))
        status: GroupStatus = (
            "cost_incomplete"
            if not comparable
            else "current_unscored"
            if current is None
            else "ok"
            if ranked
            else "no_cheaper_candidate"
        )
        limit = self.settings.limit
        return {
            "feature": group.feature,
            "current_model": group.model,
            "events": group.events,
            "cost": money_str(group.cost),
            "unpriced_events": group.unpriced_events,
            "status": status,
            "current_quality": current.as_dict() if current else None,
            "min_quality": format(self.min_quality(current), "f") if current else None,
            "candidates": [
                self._candidate(group, candidate, rank, margin, revenue, current)
                for rank, candidate in enumerate(ranked[:limit], start=1)
            ],
            "more_candidates": max(0, len(ranked) - limit),
            "unscored": [
                self._candidate(group, candidate, None, margin, revenue) for candidate in unscored[:limit]
            ],
            "more_unscored": max(0, len(unscored) - limit),
        }

    def _candidate(
        self,
        group: UsageGroup,
        candidate: Candidate,
        rank: int | None,
        margin: Decimal | None,
        revenue: Decimal | None,
        current: QualityScore | None = None,
    ) -> dict[str, Any]:
        savings = group.cost - candidate.cost
        change = (
            pct(candidate.quality.score - current.score, current.score)
            if candidate.quality is not None and current is not None
            else None
        )
        row: dict[str, Any] = {
            "rank": rank,
            "model": candidate.target.key,
            "name": candidate.name,
            "quality": candidate.quality.as_dict() if candidate.quality else None,
            "quality_change_pct": pct_str(change),
            "quality_per_dollar": pct_str(candidate.quality_per_dollar()),
            "simulated_cost": money_str(candidate.cost),
            "savings": money_str(savings),
            "savings_pct": pct_str(pct(savings, group.cost)),
            "cache_priced_as_input": candidate.simulated.cache_priced_as_input,
            "tiered_prices_at_base": candidate.simulated.tiered_prices_at_base,
            "unpriced_units": list(candidate.simulated.unpriced_units),
            "time_of_day_approximate": candidate.simulated.time_of_day_approximate,
        }
        if margin is not None:
            after = margin + savings
            row["margin_after"] = money_str(after)
            row["margin_pct_after"] = pct_str(margin_pct(after, revenue)) if revenue is not None else None
        return row

    def recommend(
        self, groups: Sequence[UsageGroup], margin: Decimal | None = None, revenue: Decimal | None = None
    ) -> tuple[list[dict[str, Any]], int]:
        """Recommendations for the groups at or above the minimum cost, and how many were below it."""
        kept = [group for group in groups if group.cost >= self.settings.min_cost]
        return [self.group(group, margin, revenue) for group in kept], len(groups) - len(kept)
