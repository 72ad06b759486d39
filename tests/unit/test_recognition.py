import calendar
import random
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction
from itertools import pairwise

import pytest

from marginlens.revenue.documents import RevenueDocument, RevenueLine
from marginlens.revenue.recognition import (
    Run,
    allocate,
    by_day,
    by_month,
    day_totals,
    merge_runs,
    month_bounds,
    month_totals,
    period_days,
    recognise,
    recognise_against,
    split_proportionally,
    split_runs,
    sum_month,
    sum_range,
)

D = date


def ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    return int(datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp())


def doc(
    *lines: RevenueLine,
    kind: str = "invoice",
    id: str = "in_1",
    currency: str = "USD",
    occurred_at: datetime = datetime(2026, 3, 10, 23, 30, tzinfo=UTC),
    status: str = "active",
    related_id: str | None = None,
) -> RevenueDocument:
    return RevenueDocument(
        source="stripe",
        kind=kind,  # type: ignore[arg-type]
        id=id,
        customer_ref="cus_1",
        currency=currency,
        lines=tuple(lines),
        occurred_at=occurred_at,
        status=status,  # type: ignore[arg-type]
        related_id=related_id,
    )


def rule_cumulative(amount_minor: int, k: int, n: int) -> int:
    """The stated rule, written out independently of the code: the first `k` of `n` days hold the exact
    pro-rata share A x k / n rounded down (for A >= 0); a negative amount mirrors the positive one."""
    floored, _ = divmod(abs(amount_minor) * k, n)
    return -floored if amount_minor < 0 else floored


def rule_day_amounts(amount_minor: int, days: int) -> list[int]:
    """Each day of the rule: the cumulative share at its end minus the one at its start."""
    return [
        rule_cumulative(amount_minor, k, days) - rule_cumulative(amount_minor, k - 1, days)
        for k in range(1, days + 1)
    ]


def rule_month_amounts(amount_minor: int, first: date, last: date) -> dict[str, int]:
    """Each calendar month of the rule, from the cumulative shares at month ends only (no days)."""
    n = (last - first).days + 1
    months: dict[str, int] = {}
    year, month, before = first.year, first.month, 0
    while date(year, month, 1) <= last:
        month_end = min(date(year, month, calendar.monthrange(year, month)[1]), last)
        elapsed = (month_end - first).days + 1  # days of the period up to this month's end
        cumulative = rule_cumulative(amount_minor, elapsed, n)
        months[f"{year:04d}-{month:02d}"] = cumulative - before
        before = cumulative
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def assert_runs_match_days(runs: list[Run], days: dict[date, int]) -> None:
    """Runs are canonical (sorted, no zero runs, adjacent equal runs merged) and expand to `days`."""
    for before, after in pairwise(runs):
        assert before.last < after.first
        assert not (
            before.last + timedelta(days=1) == after.first and before.daily_minor == after.daily_minor
        )
    assert all(run.first <= run.last and run.daily_minor != 0 for run in runs)
    expanded = dict.fromkeys(days, 0)
    for run in runs:
        for offset in range(run.days):
            day = run.first + timedelta(days=offset)
            assert day in days and expanded[day] == 0
            expanded[day] = run.daily_minor
    assert expanded == days


# --- the acceptance example ---------------------------------------------------------------------


def test_annual_invoice_spread_by_day_over_thirteen_months() -> None:
    """1,200.00 for 2026-01-15..2027-01-14 (a Stripe annual period, end exclusive)."""
    first, last = period_days(ts(2026, 1, 15), ts(2027, 1, 15))
    assert (first, last) == (D(2026, 1, 15), D(2027, 1, 14))
    assert (last - first).days + 1 == 365

    months = by_month(120000, first, last)

    # The rule by hand: the first k days hold floor(120000 x k / 365) cents, so a month holds the
    # cumulative share at its end minus the one at the previous month's end.
    # Days of the period up to each month end: Jan 15..31 is 17, then + 28, 31, 30, ... and 14 in 2027.
    cum_days = [17, 45, 76, 106, 137, 167, 198, 229, 259, 290, 320, 351, 365]
    # January: 17/365 of 1,200.00 = 55.89... -> 5589 cents (55.89).
    assert 120000 * 17 // 365 == 5589
    assert months["2026-01"] == 5589
    assert Decimal(120000 * 17) / 365 - months["2026-01"] < 1
    # February: floor(120000 x 45 / 365) - 5589 = 14794 - 5589 = 9205.
    assert months["2026-02"] == 14794 - 5589 == 9205
    # The thirteen calendar months it touches, each by its cumulative floors, add up to 1,200.00.
    assert list(months) == [
        "2026-01", "2026-02", "2026-03", "2026-04", "2026-05", "2026-06", "2026-07",
        "2026-08", "2026-09", "2026-10", "2026-11", "2026-12", "2027-01",
    ]  # fmt: skip
    previous = 0
    for month, elapsed in zip(months, cum_days, strict=True):
        month_end = min(month_bounds(month)[1], last)
        assert (month_end - first).days + 1 == elapsed
        assert months[month] == 120000 * elapsed // 365 - 120000 * previous // 365
        # Each month is within one cent of its exact pro-rata share.
        assert abs(Fraction(120000 * (elapsed - previous), 365) - months[month]) < 1
        previous = elapsed
    assert months == rule_month_amounts(120000, first, last)
    assert sum(months.values()) == 120000

    # The same in major units, and as compact runs: days of 328 or 329 cents (120000 / 365 = 328.77),
    # consecutive equal days merged.
    runs = split_runs(120000, first, last)
    days = by_day(120000, first, last)
    assert set(days.values()) == {328, 329}
    assert_runs_match_days(runs, days)
    assert runs[0] == Run(D(2026, 1, 15), D(2026, 1, 15), 328)  # floor(120000 / 365)
    assert (
        runs[-1].last == D(2027, 1, 14) and runs[-1].daily_minor == 329
    )  # 120000 - floor(120000 x 364 / 365)
    assert month_totals(runs) == months
    major = allocate(Decimal("1200.00"), first, last, "USD")
    assert major[D(2026, 1, 15)] == Decimal("3.28") and major[D(2027, 1, 14)] == Decimal("3.29")
    assert sum(major.values()) == Decimal("1200.00")


# --- the day split ------------------------------------------------------------------------------


def test_by_day_follows_the_rule() -> None:
    days = by_day(1000, D(2026, 3, 1), D(2026, 3, 3))
    # Cumulative floors 333, 666, 1000.
    assert days == {D(2026, 3, 1): 333, D(2026, 3, 2): 333, D(2026, 3, 3): 334}
    # 2 over 4 days: cumulative 0, 1, 1, 2.
    two = by_day(2, D(2026, 3, 1), D(2026, 3, 4))
    assert two == {
        D(2026, 3, 1): 0,
        D(2026, 3, 2): 1,
        D(2026, 3, 3): 0,
        D(2026, 3, 4): 1,
    }
    # Zero days are left out of the runs, so equal runs that are not contiguous stay apart.
    runs = split_runs(2, D(2026, 3, 1), D(2026, 3, 4))
    assert runs == [Run(D(2026, 3, 2), D(2026, 3, 2), 1), Run(D(2026, 3, 4), D(2026, 3, 4), 1)]
    assert_runs_match_days(runs, two)


def test_leap_year_period() -> None:
    first, last = period_days(ts(2028, 1, 1), ts(2029, 1, 1))
    assert (last - first).days + 1 == 366
    months = by_month(100000, first, last)  # 1,000.00 over 366 days
    # January: floor(100000 x 31 / 366) = 8469; February has 29 days, so its end is day 60:
    # floor(100000 x 60 / 366) - 8469 = 16393 - 8469 = 7924.
    assert months["2028-01"] == 100000 * 31 // 366 == 8469
    assert months["2028-02"] == 100000 * 60 // 366 - 8469 == 7924
    assert months["2028-03"] == 100000 * 91 // 366 - 100000 * 60 // 366
    assert months["2028-12"] == 100000 - 100000 * 335 // 366
    assert months == rule_month_amounts(100000, first, last)
    assert len(months) == 12 and sum(months.values()) == 100000
    assert_runs_match_days(split_runs(100000, first, last), by_day(100000, first, last))
    # A period across the leap day only.
    assert by_month(2900, D(2028, 2, 1), D(2028, 2, 29)) == {"2028-02": 2900}
    assert by_day(2900, D(2028, 2, 1), D(2028, 2, 29))[D(2028, 2, 29)] == 100


def test_one_day_period() -> None:
    assert by_day(12345, D(2026, 5, 5), D(2026, 5, 5)) == {D(2026, 5, 5): 12345}
    assert by_month(12345, D(2026, 5, 5), D(2026, 5, 5)) == {"2026-05": 12345}
    assert split_runs(12345, D(2026, 5, 5), D(2026, 5, 5)) == [Run(D(2026, 5, 5), D(2026, 5, 5), 12345)]
    # Stripe's one-off invoice items: start == end.
    assert period_days(ts(2026, 5, 5, 13), ts(2026, 5, 5, 13)) == (D(2026, 5, 5), D(2026, 5, 5))
    # Same-day period; and a period ending mid-day includes that day.
    assert period_days(ts(2026, 5, 5, 1), ts(2026, 5, 5, 23)) == (D(2026, 5, 5), D(2026, 5, 5))
    assert period_days(ts(2026, 5, 5, 10), ts(2026, 5, 7, 0, 0, 1)) == (D(2026, 5, 5), D(2026, 5, 7))
    assert period_days(ts(2026, 5, 5, 10), ts(2026, 5, 7)) == (D(2026, 5, 5), D(2026, 5, 6))


def test_period_days_rejects_reversed_periods() -> None:
    with pytest.raises(ValueError, match="before its start"):
        period_days(ts(2026, 5, 5), ts(2026, 5, 4))
    with pytest.raises(ValueError, match="before it starts"):
        by_day(100, D(2026, 5, 5), D(2026, 5, 4))


def test_jpy_amounts() -> None:
    # 10,000 yen over 3 days: yen are the minor unit; cumulative 3333, 6666, 10000.
    days = allocate(Decimal("10000"), D(2026, 4, 29), D(2026, 5, 1), "JPY")
    assert days == {
        D(2026, 4, 29): Decimal("3333"),
        D(2026, 4, 30): Decimal("3333"),
        D(2026, 5, 1): Decimal("3334"),
    }
    assert by_month(10000, D(2026, 4, 29), D(2026, 5, 1)) == {"2026-04": 6666, "2026-05": 3334}
    with pytest.raises(ValueError, match="more decimals than JPY"):
        allocate(Decimal("10000.5"), D(2026, 4, 29), D(2026, 5, 1), "JPY")


def test_negative_refund_line_mirrors_the_positive_one() -> None:
    first, last = D(2026, 1, 15), D(2027, 1, 14)
    positive = by_day(120000, first, last)
    negative = by_day(-120000, first, last)
    assert negative == {day: -amount for day, amount in positive.items()}
    assert by_month(-120000, first, last) == {
        month: -amount for month, amount in by_month(120000, first, last).items()
    }
    assert by_month(-120000, first, last)["2026-01"] == -5589
    # 7 over 3 days: cumulative 2, 4, 7, mirrored.
    assert split_runs(-7, D(2026, 1, 1), D(2026, 1, 3)) == [
        Run(D(2026, 1, 1), D(2026, 1, 2), -2),
        Run(D(2026, 1, 3), D(2026, 1, 3), -3),
    ]
    assert allocate(Decimal("-0.07"), D(2026, 1, 1), D(2026, 1, 3), "USD")[D(2026, 1, 1)] == Decimal("-0.02")
    assert allocate(Decimal("-0.07"), D(2026, 1, 1), D(2026, 1, 3), "USD")[D(2026, 1, 3)] == Decimal("-0.03")


def test_zero_amount() -> None:
    assert split_runs(0, D(2026, 1, 1), D(2026, 1, 31)) == []
    assert by_month(0, D(2026, 1, 1), D(2026, 2, 3)) == {"2026-01": 0, "2026-02": 0}


def test_random_splits_are_exact_and_even() -> None:
    rng = random.Random(20261127)
    for _ in range(1500):
        amount = rng.choice(
            [rng.randint(-(10**9), 10**9), rng.randint(-500, 500), rng.randint(-(10**15), 10**15)]
        )
        first = D(2020, 1, 1) + timedelta(days=rng.randint(0, 3650))
        last = first + timedelta(days=rng.choice([0, 1, 6, 27, 30, 89, 364, 365, rng.randint(0, 2000)]))
        days = by_day(amount, first, last)
        values = list(days.values())
        assert len(values) == (last - first).days + 1
        assert sum(values) == amount
        assert max(values) - min(values) <= 1
        assert values == rule_day_amounts(amount, len(values))
        assert by_day(-amount, first, last) == {day: -value for day, value in days.items()}
        runs = split_runs(amount, first, last)
        assert_runs_match_days(runs, days)
        months = by_month(amount, first, last)
        assert sum(months.values()) == amount
        assert months == rule_month_amounts(amount, first, last)
        expected_months: dict[str, int] = {}
        for day, value in days.items():
            key = f"{day.year:04d}-{day.month:02d}"
            expected_months[key] = expected_months.get(key, 0) + value
        assert months == expected_months
        lo = first + timedelta(days=rng.randint(-40, 400))
        hi = lo + timedelta(days=rng.randint(-2, 400))
        assert sum_range(runs, lo, hi) == sum(value for day, value in days.items() if lo <= day <= hi)


# --- runs ---------------------------------------------------------------------------------------


def test_sum_range_and_months_over_runs() -> None:
    runs = split_runs(120000, D(2026, 1, 15), D(2027, 1, 14))
    assert sum_range(runs, D(2026, 1, 1), D(2026, 1, 31)) == 5589
    assert sum_range(runs, D(2025, 1, 1), D(2030, 1, 1)) == 120000
    # Oct 21 and 22 are days 280 and 281 of the period: a range holds its cumulative difference.
    assert (D(2026, 10, 21) - D(2026, 1, 15)).days + 1 == 280
    assert sum_range(runs, D(2026, 10, 21), D(2026, 10, 22)) == 120000 * 281 // 365 - 120000 * 279 // 365
    assert sum_range(runs, D(2027, 1, 15), D(2027, 2, 1)) == 0
    assert sum_range(runs, D(2026, 2, 1), D(2026, 1, 1)) == 0  # empty range
    assert sum_month(runs, "2026-02") == 9205
    assert month_bounds("2026-02") == (D(2026, 2, 1), D(2026, 2, 28))
    with pytest.raises(ValueError, match="YYYY-MM"):
        month_bounds("2026-13")
    series = day_totals(runs, D(2026, 1, 13), D(2026, 1, 16))
    # floor(120000 / 365) = 328, then floor(240000 / 365) - 328 = 657 - 328 = 329.
    assert series == {D(2026, 1, 13): 0, D(2026, 1, 14): 0, D(2026, 1, 15): 328, D(2026, 1, 16): 329}


def test_merge_runs_is_canonical_and_keeps_every_sum() -> None:
    rng = random.Random(7)
    for _ in range(300):
        runs: list[Run] = []
        for _ in range(rng.randint(0, 6)):
            first = D(2026, 1, 1) + timedelta(days=rng.randint(0, 120))
            last = first + timedelta(days=rng.randint(0, 90))
            runs.extend(split_runs(rng.randint(-50000, 50000), first, last))
        merged = merge_runs(runs)
        assert merged == merge_runs(merged) == merge_runs(reversed(runs))
        for before, after in pairwise(merged):
            assert before.last < after.first
            assert not (
                before.last + timedelta(days=1) == after.first and before.daily_minor == after.daily_minor
            )
        assert all(run.daily_minor != 0 for run in merged)
        span = (D(2025, 12, 1), D(2026, 9, 1))
        assert day_totals(merged, *span) == day_totals(runs, *span)
        assert {k: v for k, v in month_totals(merged).items() if v} == {
            k: v for k, v in month_totals(runs).items() if v
        }


def test_merge_runs_adds_overlaps_and_drops_cancelled_days() -> None:
    runs = [Run(D(2026, 1, 1), D(2026, 1, 10), 5), Run(D(2026, 1, 6), D(2026, 1, 15), -5)]
    assert merge_runs(runs) == [Run(D(2026, 1, 1), D(2026, 1, 5), 5), Run(D(2026, 1, 11), D(2026, 1, 15), -5)]
    assert merge_runs([Run(D(2026, 1, 1), D(2026, 1, 3), 2), Run(D(2026, 1, 4), D(2026, 1, 9), 2)]) == [
        Run(D(2026, 1, 1), D(2026, 1, 9), 2)
    ]
    assert merge_runs([]) == []
    assert Run(D(2026, 1, 1), D(2026, 1, 9), 2).total_minor == 18


def test_split_proportionally() -> None:
    assert split_proportionally(100, [1, 1, 1]) == [34, 33, 33]
    assert split_proportionally(-100, [1, 1, 1]) == [-34, -33, -33]
    assert split_proportionally(-5000, [10000, 5000, 5000]) == [-2500, -1250, -1250]
    # Mixed signs: a full refund of a 100 plan with a -20 credit reverses both lines exactly.
    assert split_proportionally(-80, [100, -20]) == [-100, 20]
    assert split_proportionally(80, [-100, 20]) == [100, -20]  # weights summing below 0
    # The remainder goes to the earliest share that is not exact: 3 x [4, 1, 1] / 6 = [2, 0.5, 0.5].
    assert split_proportionally(3, [4, 1, 1]) == [2, 1, 0]
    assert split_proportionally(-3, [4, 1, 1]) == [-2, -1, 0]
    rng = random.Random(3)
    for _ in range(3000):
        weights = [rng.randint(-1000, 5000) for _ in range(rng.randint(1, 6))]
        weights += [rng.choice(weights)] * rng.randint(0, 3)  # repeats make exact shares likelier
        if sum(weights) == 0:
            continue
        total = rng.randint(-(10**6), 10**6)
        shares = split_proportionally(total, weights)
        assert sum(shares) == total
        for share, weight in zip(shares, weights, strict=True):
            exact = Decimal(total * weight) / sum(weights)
            assert abs(Decimal(share) - exact) < 1  # the floor or the ceiling of the exact share
    with pytest.raises(ValueError, match="sum to 0"):
        split_proportionally(10, [5, -5])


# --- documents ----------------------------------------------------------------------------------


def test_recognise_a_document() -> None:
    document = doc(
        RevenueLine(120000, D(2026, 1, 15), D(2027, 1, 14)),
        RevenueLine(500),  # no period: on occurred_at's UTC day
    )
    runs = recognise(document)
    assert sum_range(runs, D(2000, 1, 1), D(2100, 1, 1)) == 120500
    # 2026-03-10 is day 55 of the annual line (17 + 28 + 10): floor(120000 x 55 / 365) - floor(... 54 ...).
    assert (D(2026, 3, 10) - D(2026, 1, 15)).days + 1 == 55
    assert 120000 * 55 // 365 - 120000 * 54 // 365 == 18082 - 17753 == 329
    assert sum_range(runs, D(2026, 3, 10), D(2026, 3, 10)) == 329 + 500
    assert sum_month(runs, "2026-01") == 5589
    assert recognise(doc(RevenueLine(120000, D(2026, 1, 15), D(2027, 1, 14)), status="void")) == []


def test_a_line_without_period_falls_on_the_utc_day() -> None:
    evening_in_new_york = datetime(2026, 3, 31, 21, 0, tzinfo=timezone(timedelta(hours=-4)))  # 04-01 01:00Z
    runs = recognise(doc(RevenueLine(999), occurred_at=evening_in_new_york))
    assert runs == [Run(D(2026, 4, 1), D(2026, 4, 1), 999)]
    assert month_totals(runs) == {"2026-04": 999}


def test_a_line_with_half_a_period_is_refused() -> None:
    with pytest.raises(ValueError, match="one end"):
        recognise(doc(RevenueLine(100, D(2026, 1, 1), None)))


def invoice() -> RevenueDocument:
    return doc(
        RevenueLine(120000, D(2026, 1, 15), D(2027, 1, 14)),  # annual plan
        RevenueLine(3100, D(2026, 1, 1), D(2026, 1, 31)),  # a January add-on
        id="in_1",
        occurred_at=datetime(2026, 1, 15, 9, tzinfo=UTC),
    )


def test_full_refund_against_the_invoice_mirrors_it() -> None:
    refund = doc(
        RevenueLine(-123100),
        kind="refund",
        id="re_1",
        related_id="in_1",
        occurred_at=datetime(2026, 6, 2, tzinfo=UTC),
    )
    result = recognise_against(refund, invoice())
    assert result.basis == "original" and not result.awaiting_original
    assert list(result.runs) == [Run(run.first, run.last, -run.daily_minor) for run in recognise(invoice())]
    span = (D(2025, 12, 1), D(2027, 2, 28))
    assert day_totals(result.runs, *span) == {
        day: -amount for day, amount in day_totals(recognise(invoice()), *span).items()
    }
    assert sum_month(result.runs, "2026-06") == -sum_month(recognise(invoice()), "2026-06")
    assert sum_month(result.runs, "2026-01") == -(5589 + 3100)


def test_partial_refund_in_proportion_to_the_original_lines() -> None:
    refund = doc(RevenueLine(-12310), kind="credit_note", id="cn_1", related_id="in_1")
    result = recognise_against(refund, invoice())
    # Weights in the order of first recognised day: the add-on (Jan 1) then the plan (Jan 15).
    # -12310 x 3100/123100 = -310 exactly; -12310 x 120000/123100 = -12000 exactly.
    assert split_proportionally(-12310, [3100, 120000]) == [-310, -12000]
    assert sum_range(result.runs, D(2026, 1, 1), D(2026, 1, 14)) == -10 * 14  # -310 over 31 days
    assert sum_range(result.runs, D(2000, 1, 1), D(2100, 1, 1)) == -12310
    # The plan's -12000 over 365 days: its 17 January days hold -floor(12000 x 17 / 365) = -558.
    assert 12000 * 17 // 365 == 558
    assert sum_month(result.runs, "2026-01") == -310 - 558 == -868
    # Each share follows the day rule over its line's days.
    plan_days = by_day(-12000, D(2026, 1, 15), D(2027, 1, 14))
    assert list(plan_days.values()) == rule_day_amounts(-12000, 365)
    assert sum_range(result.runs, D(2026, 2, 1), D(2027, 1, 14)) == sum(
        amount for day, amount in plan_days.items() if day >= D(2026, 2, 1)
    )


def test_refund_before_its_invoice_arrives_is_flagged() -> None:
    refund = doc(
        RevenueLine(-5000),
        kind="refund",
        id="re_2",
        related_id="in_missing",
        occurred_at=datetime(2026, 6, 2, 12, tzinfo=UTC),
    )
    result = recognise_against(refund, None)
    assert result.awaiting_original and result.basis == "awaiting_original"
    assert result.runs == (Run(D(2026, 6, 2), D(2026, 6, 2), -5000),)


def test_recognise_against_other_cases() -> None:
    plain = doc(RevenueLine(700))
    assert recognise_against(plain, None).basis == "own"
    assert recognise_against(plain, None).runs == tuple(recognise(plain))
    void = doc(RevenueLine(-700), kind="refund", id="re_3", related_id="in_1", status="void")
    assert recognise_against(void, invoice()).runs == ()
    wrong = doc(RevenueLine(-700), kind="refund", id="re_4", related_id="in_other")
    with pytest.raises(ValueError, match="references in_other"):
        recognise_against(wrong, invoice())
    other_currency = doc(RevenueLine(-700), kind="refund", id="re_5", related_id="in_1", currency="EUR")
    with pytest.raises(ValueError, match="EUR"):
        recognise_against(other_currency, invoice())
    netting_to_zero = doc(RevenueLine(1000, D(2026, 1, 1), D(2026, 1, 31)), RevenueLine(-1000), id="in_1")
    refund = doc(RevenueLine(-100), kind="refund", id="re_6", related_id="in_1")
    fallback = recognise_against(refund, netting_to_zero)
    assert fallback.basis == "own" and fallback.runs == tuple(recognise(refund))


def test_months_in_calendar() -> None:
    # by_month lists every month the period touches, with the right number of days each.
    months = by_month(
        sum(calendar.monthrange(2026, m)[1] for m in range(1, 13)), D(2026, 1, 1), D(2026, 12, 31)
    )
    assert months == {f"2026-{m:02d}": calendar.monthrange(2026, m)[1] for m in range(1, 13)}
