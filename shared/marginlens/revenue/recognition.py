"""Revenue recognition: each amount spread over the days it pays for, exactly, in minor units.

The precision rule
------------------
Work in the currency's minor units (cents, yen, fils: see `currency.exponent`), so every day holds a
whole number of minor units. An amount `A >= 0` over `n` inclusive days gives the first `k` days

    cumulative(k) = floor(A * k / n)

so day `k` holds `cumulative(k) - cumulative(k - 1)`, and a negative amount is the exact mirror of
the positive one. Every split adds back to `A` exactly (cumulative(n) = A), no two days differ by
more than one minor unit, the rule is deterministic, and any run of days (a month, a date range)
holds the exact pro-rata share rounded down to the minor unit, off by less than one minor unit:
1,200.00 over 2026-01-15..2027-01-14 gives January floor(120000 x 17 / 365) = 5,589 cents (55.89).

The compact form
----------------
Consecutive days with the same amount form a run, `Run(first, last, daily_minor)`, inclusive;
`sum_range` and `month_totals` sum runs over any range without expanding them. `merge_runs` turns any
set of runs (several lines, overlapping) into one canonical list: sorted, non-overlapping, no zero
runs, adjacent equal runs merged.

Documents
---------
`recognise(document)` gives a document's runs: a void document recognises nothing, a line with a
service period is spread over it, a line without one falls on the UTC day of `occurred_at`.
`recognise_against(document, original)` places a refund or credit note in the periods of the revenue it
gives back (see there).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from itertools import pairwise
from typing import Literal, NamedTuple

from marginlens.core.currency import to_major, to_minor
from marginlens.revenue.documents import RevenueDocument, RevenueLine

ONE_DAY = timedelta(days=1)


class Run(NamedTuple):
    """Every day from `first` to `last` (inclusive, UTC) carries `daily_minor` minor units."""

    first: date
    last: date
    daily_minor: int

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def total_minor(self) -> int:
        return self.daily_minor * self.days


# --- splitting ----------------------------------------------------------------------------------


def _check_int(value: int, name: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")


def _check_period(first: date, last: date) -> None:
    if isinstance(first, datetime) or isinstance(last, datetime):
        raise TypeError("a period is made of dates, not datetimes")
    if last < first:
        raise ValueError(f"period ends ({last}) before it starts ({first})")


def split_runs(amount_minor: int, first: date, last: date) -> list[Run]:
    """A line of `amount_minor` over `first`..`last` (inclusive) as runs of equal daily amounts.

    Day `k` holds floor(|A| k / n) - floor(|A| (k - 1) / n), signed like A (the module's precision
    rule); days holding zero are left out, so an amount of 0 gives [].
    """
    _check_int(amount_minor, "amount_minor")
    _check_period(first, last)
    days = (last - first).days + 1
    sign = -1 if amount_minor < 0 else 1
    total = abs(amount_minor)
    runs: list[Run] = []
    reached = 0
    for number in range(1, days + 1):
        cumulative = total * number // days
        daily, reached = sign * (cumulative - reached), cumulative
        if daily == 0:
            continue
        day = first + timedelta(days=number - 1)
        if runs and runs[-1].daily_minor == daily and runs[-1].last + ONE_DAY == day:
            runs[-1] = runs[-1]._replace(last=day)
        else:
            runs.append(Run(day, day, daily))
    return runs


def by_day(line_amount_minor: int, first: date, last: date) -> dict[date, int]:
    """Minor units per day for every day of the inclusive period (days holding 0 included)."""
    _check_int(line_amount_minor, "line_amount_minor")
    _check_period(first, last)
    days = {day: 0 for day in _days(first, last)}
    for run in split_runs(line_amount_minor, first, last):
        for day in _days(run.first, run.last):
            days[day] = run.daily_minor
    return days


def by_month(line_amount_minor: int, first: date, last: date) -> dict[str, int]:
    """Minor units per `YYYY-MM` for every calendar month the period touches: the sums of `by_day`."""
    totals = month_totals(split_runs(line_amount_minor, first, last))
    return {month_key(start): totals.get(month_key(start), 0) for start, _ in _months(first, last)}


def allocate(amount: Decimal, first: date, last: date, currency: str) -> dict[date, Decimal]:
    """`by_day` for a major-unit Decimal: each day's share as an exact Decimal in `currency`.

    The currency is needed to know its minor unit (the rule works in minor units). ValueError if
    `amount` is finer than that unit.
    """
    amount_minor = to_minor(amount, currency)
    return {day: to_major(minor, currency) for day, minor in by_day(amount_minor, first, last).items()}


def split_proportionally(total_minor: int, weights: Sequence[int]) -> list[int]:
    """`total_minor` split in proportion to `weights`, exactly (a refund over the original's lines).

    Each share is floor(|total| * w / W) (W the sum of weights), the remaining minor units go one each
    to the earliest shares that are not exact (so every share is the floor or the ceiling of its exact
    value), and a negative total mirrors the positive one. Weights may have mixed
    signs (an invoice's discount or proration-credit lines): the shares are then exactly `total / W`
    times each weight, rounded by that rule. ValueError when the weights sum to 0.
    """
    _check_int(total_minor, "total_minor")
    for weight in weights:
        _check_int(weight, "a weight")
    whole = sum(weights)
    if whole == 0:
        raise ValueError("cannot split in proportion to weights that sum to 0")
    if total_minor < 0:
        return [-share for share in split_proportionally(-total_minor, weights)]
    signed = list(weights) if whole > 0 else [-weight for weight in weights]
    whole = abs(whole)
    shares = [total_minor * weight // whole for weight in signed]
    remainder = total_minor - sum(shares)
    # The remainder equals the sum of the fractional parts, so fewer shares than it have one: each
    # share ends at the floor or the ceiling of its exact value.
    inexact = [index for index, weight in enumerate(signed) if total_minor * weight % whole]
    for index in inexact[:remainder]:
        shares[index] += 1
    return shares


# --- Stripe periods -----------------------------------------------------------------------------


def utc_day(moment: datetime) -> date:
    """The UTC calendar day of `moment`; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.date()
    return moment.astimezone(UTC).date()


def period_days(start_ts: int, end_ts: int) -> tuple[date, date]:
    """Stripe's `period.start`/`period.end` (Unix seconds, `end` exclusive) as inclusive UTC days.

    2026-01-15T00:00Z..2027-01-15T00:00Z gives (2026-01-15, 2027-01-14). The last day is the day of the
    last second covered (`end - 1`), so a period ending mid-day includes that day. A zero-length
    (`end == start`, Stripe's one-off invoice items) or same-day period is that one day. ValueError if
    `end` is before `start`.
    """
    _check_int(start_ts, "start_ts")
    _check_int(end_ts, "end_ts")
    if end_ts < start_ts:
        raise ValueError(f"period end {end_ts} is before its start {start_ts}")
    first = datetime.fromtimestamp(start_ts, tz=UTC).date()
    last = datetime.fromtimestamp(max(end_ts - 1, start_ts), tz=UTC).date()
    return first, last


# --- runs ---------------------------------------------------------------------------------------


def merge_runs(runs: Iterable[Run]) -> list[Run]:
    """The canonical form of a set of runs: per-day sums as sorted, non-overlapping runs.

    Overlapping runs add up day by day; zero days are dropped; adjacent runs with the same daily
    amount are merged. Every range sums to the same value before and after.
    """
    deltas: defaultdict[date, int] = defaultdict(int)
    for run in runs:
        _check_period(run.first, run.last)
        if run.daily_minor:
            deltas[run.first] += run.daily_minor
            deltas[run.last + ONE_DAY] -= run.daily_minor
    merged: list[Run] = []
    level = 0
    boundaries = sorted(deltas)
    for start, end in pairwise(boundaries):
        level += deltas[start]
        if level == 0:
            continue
        last = end - ONE_DAY
        if merged and merged[-1].daily_minor == level and merged[-1].last + ONE_DAY == start:
            merged[-1] = Run(merged[-1].first, last, level)
        else:
            merged.append(Run(start, last, level))
    return merged


def sum_range(runs: Iterable[Run], start: date, end: date) -> int:
    """Exact minor units the runs place on `start`..`end` (inclusive); 0 for an empty range."""
    if end < start:
        return 0
    total = 0
    for run in runs:
        overlap = (min(run.last, end) - max(run.first, start)).days + 1
        if overlap > 0:
            total += run.daily_minor * overlap
    return total


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """`"2026-02"` -> (2026-02-01, 2026-02-28)."""
    try:
        year_text, month_text = month.split("-")
        first = date(int(year_text), int(month_text), 1)
    except ValueError:
        raise ValueError(f"not a YYYY-MM month: {month!r}") from None
    return first, _next_month(first) - ONE_DAY


def sum_month(runs: Iterable[Run], month: str) -> int:
    """Exact minor units the runs place on one calendar month (`YYYY-MM`)."""
    first, last = month_bounds(month)
    return sum_range(runs, first, last)


def month_totals(runs: Iterable[Run]) -> dict[str, int]:
    """Minor units per `YYYY-MM` for every month some non-zero run touches, in month order."""
    totals: defaultdict[str, int] = defaultdict(int)
    for run in runs:
        if not run.daily_minor:
            continue
        for start, end in _months(run.first, run.last):
            totals[month_key(start)] += run.daily_minor * ((end - start).days + 1)
    return dict(sorted(totals.items()))


def day_totals(runs: Iterable[Run], start: date, end: date) -> dict[date, int]:
    """Minor units per day for every day of `start`..`end` (a daily series; zero days included)."""
    totals = dict.fromkeys(_days(start, end), 0) if start <= end else {}
    for run in runs:
        for day in _days(max(run.first, start), min(run.last, end)):
            totals[day] += run.daily_minor
    return totals


# --- documents ----------------------------------------------------------------------------------


def line_period(line: RevenueLine, document: RevenueDocument) -> tuple[date, date]:
    """The inclusive days a line is recognised over: its service period, else the document's day."""
    if line.period_start is None and line.period_end is None:
        day = utc_day(document.occurred_at)
        return day, day
    if line.period_start is None or line.period_end is None:
        raise ValueError(f"{document.key}: a line has only one end of its service period")
    _check_period(line.period_start, line.period_end)
    return line.period_start, line.period_end


def recognise(document: RevenueDocument) -> list[Run]:
    """The document's revenue as canonical runs (`merge_runs`): void -> []; each line over its period,
    or on the UTC day of `occurred_at` when it has none. Signs are kept (refund lines are negative)."""
    if document.status == "void":
        return []
    runs: list[Run] = []
    for line in document.lines:
        first, last = line_period(line, document)
        runs.extend(split_runs(line.amount_minor, first, last))
    return merge_runs(runs)


RecognitionBasis = Literal["own", "original", "awaiting_original"]


@dataclass(frozen=True)
class Recognition:
    """Runs for a document, and what they were placed against.

    - `own`: the document's own lines and dates (it references nothing, it is void, or its original's
      lines net to zero so there is nothing to be proportional to).
    - `original`: spread over the service periods of the document it references.
    - `awaiting_original`: it references a document that has not arrived yet, so it sits on its own
      lines/date for now; the ledger should recognise it again when the original arrives.
    """

    runs: tuple[Run, ...]
    basis: RecognitionBasis

    @property
    def awaiting_original(self) -> bool:
        return self.basis == "awaiting_original"


def recognise_against(document: RevenueDocument, original: RevenueDocument | None) -> Recognition:
    """Recognise a refund or credit note in the periods of the revenue it gives back.

    With `original` (the document named by `document.related_id`), a line naming one of the
    original's lines (`credits_line`) is spread over that line's days alone; the total of the other
    lines (negative for a refund) is split across the original's lines in proportion to their amounts
    (`split_proportionally`: lines ordered by first recognised day, then position, and any remainder
    minor units on the earliest lines whose share is not exact), and each share is spread over that
    line's days by the day rule. A full refund therefore mirrors the original's recognition day for
    day. The original's status does not matter: its periods are the facts being refunded.

    Without it (not arrived yet), the document is recognised on its own (`recognise`: its lines'
    periods if they have any, else its own date) and flagged `awaiting_original`.

    A document with no `related_id` is simply `recognise`d (basis `own`); a void one recognises nothing.
    ValueError if `original` is not the document referenced, or is in another currency.
    """
    if document.status == "void":
        return Recognition((), "own")
    if document.related_id is None:
        return Recognition(tuple(recognise(document)), "own")
    if original is None:
        return Recognition(tuple(recognise(document)), "awaiting_original")
    if original.id != document.related_id:
        raise ValueError(f"{document.key} references {document.related_id}, not {original.id}")
    if original.currency.upper() != document.currency.upper():
        raise ValueError(
            f"{document.key} is in {document.currency} but {original.key} is in {original.currency}"
        )
    # A line that names the invoice line it credits (Stripe's `invoice_line_item`) gives back that
    # line's revenue only, over that line's days: crediting a one-off setup fee moves nothing else.
    named = {line.id: line_period(line, original) for line in original.lines if line.id}
    runs: list[Run] = []
    pooled: list[RevenueLine] = []
    for line in document.lines:
        if line.credits_line is not None and line.credits_line in named:
            first, last = named[line.credits_line]
            runs.extend(split_runs(line.amount_minor, first, last))
        else:
            pooled.append(line)
    periods = sorted(
        (
            (line_period(line, original), index, line.amount_minor)
            for index, line in enumerate(original.lines)
        ),
        key=lambda item: (item[0][0], item[1]),
    )
    weights = [amount for _, _, amount in periods]
    total = sum(line.amount_minor for line in pooled)
    if total and sum(weights) == 0:
        if not runs:
            return Recognition(tuple(recognise(document)), "own")
        for line in pooled:  # nothing to be proportional to: the rest on its own dates
            first, last = line_period(line, document)
            runs.extend(split_runs(line.amount_minor, first, last))
    elif total:
        for ((first, last), _, _), share in zip(periods, split_proportionally(total, weights), strict=True):
            runs.extend(split_runs(share, first, last))
    return Recognition(tuple(merge_runs(runs)), "original")


# --- helpers ------------------------------------------------------------------------------------


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += ONE_DAY


def _next_month(day: date) -> date:
    return date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)


def _months(first: date, last: date) -> Iterator[tuple[date, date]]:
    """(start, end) of each calendar month's part of `first`..`last`."""
    start = first
    while start <= last:
        end = min(_next_month(start) - ONE_DAY, last)
        yield start, end
        start = end + ONE_DAY


__all__ = [
    "Recognition",
    "RecognitionBasis",
    "Run",
    "allocate",
    "by_day",
    "by_month",
    "day_totals",
    "line_period",
    "merge_runs",
    "month_bounds",
    "month_key",
    "month_totals",
    "period_days",
    "recognise",
    "recognise_against",
    "split_proportionally",
    "split_runs",
    "sum_month",
    "sum_range",
    "utc_day",
]
