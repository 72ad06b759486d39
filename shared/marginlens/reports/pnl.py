"""The per-customer P&L, assembled from aggregates only (never from events).

A month's report is one query (customer/month items) plus one per earlier month needed to count
`negative_margin_months`; a date range reads the customer/day items of the months it touches.
Revenue comes from a `RevenueSource` (the revenue ledger's month items, converted into the
reporting currency: `marginlens.reports.revenue`). Revenue in a currency without an exchange
rate is reported apart, per currency (`revenue_unconverted`), and is in no revenue, margin or
total; revenue of an unmapped Stripe customer is no customer's row, only `unmapped_revenue`.
"""

from __future__ import annotations

import calendar
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any, Literal, Protocol

from marginlens.core.bounds import year_error
from marginlens.core.currency import to_major
from marginlens.core.money import margin_pct, money_str, pct_str
from marginlens.usage.ledger import SUMMED, CostSource, Ledger, sum_counters, with_cost_source

Action = Literal["reprice_or_throttle", "monitor", "healthy"]
MAX_RANGE_DAYS = 366
MAX_STREAK_MONTHS = 24


class PeriodError(ValueError):
    def __init__(self, pointer: str, detail: str) -> None:
        super().__init__(detail)
        self.pointer = pointer
        self.detail = detail


@dataclass(frozen=True)
class Period:
    first: date
    last: date

    @classmethod
    def parse(cls, month: str | None, from_: str | None, to: str | None) -> Period:
        if month is not None:
            if from_ is not None or to is not None:
                raise PeriodError("/month", "give either month or from/to, not both")
            try:
                year, number = (int(part) for part in month.split("-"))
                first = date(year, number, 1)
            except ValueError as error:
                raise PeriodError("/month", "month must be YYYY-MM") from error
            if len(month) != 7:
                raise PeriodError("/month", "month must be YYYY-MM")
            if (bad_year := year_error(year)) is not None:
                raise PeriodError("/month", bad_year)
            return cls(first, date(year, number, calendar.monthrange(year, number)[1]))
        if from_ is None or to is None:
            raise PeriodError("/month", "give month=YYYY-MM or both from and to (YYYY-MM-DD)")
        parsed = []
        for name, value in (("from", from_), ("to", to)):
            try:
                parsed.append(date.fromisoformat(value))
            except ValueError as error:
                raise PeriodError(f"/{name}", f"{name} must be YYYY-MM-DD") from error
        for name, day in (("from", parsed[0]), ("to", parsed[1])):
            if (bad_year := year_error(day.year)) is not None:
                raise PeriodError(f"/{name}", bad_year)
        first, last = parsed
        if last < first:
            raise PeriodError("/to", "to must not be before from")
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise PeriodError("/to", f"a period spans at most {MAX_RANGE_DAYS} days")
        return cls(first, last)

    @property
    def is_calendar_month(self) -> bool:
        return (
            self.first.day == 1
            and self.first.year == self.last.year
            and self.first.month == self.last.month
            and self.last.day == calendar.monthrange(self.first.year, self.first.month)[1]
        )

    def months(self) -> list[tuple[str, str, str]]:
        """(month, first day, last day) for each calendar month the period touches."""
        spans = []
        start = self.first
        while start <= self.last:
            end_of_month = date(start.year, start.month, calendar.monthrange(start.year, start.month)[1])
            end = min(end_of_month, self.last)
            spans.append((start.strftime("%Y-%m"), start.isoformat(), end.isoformat()))
            start = end + timedelta(days=1)
        return spans

    def days(self) -> list[str]:
        return [
            (self.first + timedelta(days=offset)).isoformat()
            for offset in range((self.last - self.first).days + 1)
        ]

    def as_dict(self) -> dict[str, str]:
        return {"from": self.first.isoformat(), "to": self.last.isoformat()}


def previous_month(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    return f"{year - 1}-12" if number == 1 else f"{year}-{number - 1:02d}"


def action_for(margin: Decimal, margin_pct: Decimal | None, healthy_pct: Decimal) -> Action:
    if margin < 0:
        return "reprice_or_throttle"
    if margin_pct is None or margin_pct < healthy_pct:
        return "monitor"  # no revenue and no cost is not evidence of health
    return "healthy"


def _figures(counters: Mapping[str, Decimal], revenue: Revenue) -> dict[str, Any]:
    cost = counters["cost"]
    margin = revenue.converted - cost
    return {
        "revenue": money_str(revenue.converted),
        "revenue_unconverted": revenue.unconverted_strings(),
        "cost": money_str(cost),
        "margin": money_str(margin),
        "margin_pct": pct_str(margin_pct(margin, revenue.converted)),
        "events": int(counters["events"]),
        "prompt_tokens": int(counters["prompt_tokens"]),
        "completion_tokens": int(counters["completion_tokens"]),
        "cached_tokens": int(counters["cached_tokens"]),
        "cache_write_tokens": int(counters["cache_write_tokens"]),
        "unpriced_events": int(counters["unpriced_events"]),
        "estimated_events": int(counters["estimated_events"]),
        "estimated_cost": money_str(counters["estimated_cost"]),
        **provider_cost_figures(counters),
    }


def provider_cost_figures(counters: Mapping[str, Decimal]) -> dict[str, Any]:
    """Our cost beside the provider's where it reported one (OpenRouter's `usage.cost`, a gateway's
    header): `provider_cost_difference` is the provider's figure minus ours, over the events both
    priced; `cost` above is whichever COST_SOURCE says."""
    return {
        "computed_cost": money_str(counters["computed_cost"]),
        "provider_cost": money_str(counters["reported_cost"]),
        "provider_cost_events": int(counters["reported_events"]),
        "provider_cost_difference": money_str(
            counters["reported_priced_cost"] - counters["reported_computed_cost"]
        ),
    }


def _group(rows: Iterable[dict[str, Any]], key: str) -> dict[str, dict[str, Decimal]]:
    grouped: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        grouped[row[key]].append(row)
    return {name: sum_counters(members) for name, members in grouped.items()}


@dataclass(frozen=True)
class Revenue:
    """Revenue in the reporting currency, plus what has no exchange rate: minor units per currency."""

    converted: Decimal = Decimal(0)
    unconverted_minor: Mapping[str, int] = field(default_factory=dict)

    def __add__(self, other: Revenue) -> Revenue:
        unconverted = dict(self.unconverted_minor)
        for currency, minor in other.unconverted_minor.items():
            unconverted[currency] = unconverted.get(currency, 0) + minor
        return Revenue(
            self.converted + other.converted,
            {currency: minor for currency, minor in unconverted.items() if minor},
        )

    def unconverted_strings(self) -> dict[str, str]:
        """`{"EUR": "120.00", "JPY": "500"}`: exact, at each currency's own number of decimals."""
        return {
            currency: format(to_major(minor, currency), "f")
            for currency, minor in sorted(self.unconverted_minor.items())
            if minor
        }


NO_REVENUE = Revenue()


@dataclass(frozen=True)
class PeriodRevenue:
    customers: Mapping[str, Revenue]
    unmapped: Revenue = NO_REVENUE  # revenue of Stripe customers not mapped to a customer yet


class RevenueSource(Protocol):
    def by_customer(self, period: Period) -> PeriodRevenue:
        """Revenue recognised in the period, per customer."""
        ...

    def daily(self, customer_id: str, period: Period) -> Mapping[str, Revenue]:
        """One customer's revenue per ISO day of the period (days without revenue may be left out)."""
        ...


class NoRevenue:
    """The revenue side of a report without revenue sources (cost-only reports and tests)."""

    def by_customer(self, period: Period) -> PeriodRevenue:
        return PeriodRevenue({})

    def daily(self, customer_id: str, period: Period) -> Mapping[str, Revenue]:
        return {}


no_revenue = NoRevenue()


class PnlReport:
    def __init__(
        self,
        ledger: Ledger,
        *,
        healthy_pct: Decimal,
        currency: str = "USD",
        revenue: RevenueSource = no_revenue,
        names: Callable[[], Mapping[str, str]] = dict,
        cost_source: CostSource = "computed",
    ) -> None:
        self.ledger = ledger
        self.cost_source = cost_source
        self.healthy_pct = healthy_pct
        self.currency = currency
        self.revenue = revenue
        self.names = names

    def _sourced(self, rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
        return [with_cost_source(row, self.cost_source) for row in rows]

    def _costs_by_customer(self, period: Period) -> dict[str, dict[str, Decimal]]:
        if period.is_calendar_month:
            rows = self._sourced(self.ledger.customer_month(period.first.strftime("%Y-%m")))
            return _group(rows, "customer_id")
        rows = []
        for month, first, last in period.months():
            rows += self._sourced(self.ledger.customer_days(month, first, last))
        return _group(rows, "customer_id")

    def _streaks(self, month: str, margins: Mapping[str, Decimal]) -> dict[str, int]:
        """Consecutive months with negative margin, ending with `month`, per customer."""
        streaks = {customer: 1 if margin < 0 else 0 for customer, margin in margins.items()}
        running = {customer for customer, count in streaks.items() if count}
        earlier = month
        for _ in range(MAX_STREAK_MONTHS - 1):
            if not running:
                break
            earlier = previous_month(earlier)
            year, number = (int(part) for part in earlier.split("-"))
            earlier_period = Period(
                date(year, number, 1), date(year, number, calendar.monthrange(year, number)[1])
            )
            costs = self._costs_by_customer(earlier_period)
            revenue = self.revenue.by_customer(earlier_period).customers
            for customer in list(running):
                counters = costs.get(customer)
                margin = revenue.get(customer, NO_REVENUE).converted - (
                    counters["cost"] if counters else Decimal(0)
                )
                if margin < 0:
                    streaks[customer] += 1
                else:
                    running.discard(customer)
        return streaks

    def _row(
        self,
        customer: str,
        counters: Mapping[str, Decimal],
        revenue: Revenue,
        streak: int,
        names: Mapping[str, str],
    ) -> dict[str, Any]:
        figures = _figures(counters, revenue)
        margin = revenue.converted - counters["cost"]
        return {
            "customer_id": customer,
            "name": names.get(customer),
            **figures,
            "action": action_for(margin, margin_pct(margin, revenue.converted), self.healthy_pct),
            "negative_margin_months": streak,
        }

    def report(self, period: Period) -> dict[str, Any]:
        costs = self._costs_by_customer(period)
        period_revenue = self.revenue.by_customer(period)
        revenue = period_revenue.customers
        customers = sorted(set(costs) | set(revenue))
        empty = dict.fromkeys(SUMMED, Decimal(0))
        margins = {c: revenue.get(c, NO_REVENUE).converted - costs.get(c, empty)["cost"] for c in customers}
        streaks = self._streaks(period.last.strftime("%Y-%m"), margins)
        names = self.names()  # one read per report, not per row
        rows = [
            self._row(c, costs.get(c, empty), revenue.get(c, NO_REVENUE), streaks[c], names)
            for c in customers
        ]
        rows.sort(key=lambda row: (Decimal(row["margin"]), row["customer_id"]))
        totals = sum_counters(costs.values())
        total_revenue = sum((revenue.get(c, NO_REVENUE) for c in customers), NO_REVENUE)
        unmapped = period_revenue.unmapped
        return {
            "period": period.as_dict(),
            "currency": self.currency,
            "cost_source": self.cost_source,
            "totals": {
                **_figures(totals, total_revenue),
                "unmapped_revenue": money_str(unmapped.converted),
                "unmapped_revenue_unconverted": unmapped.unconverted_strings(),
            },
            "customers": rows,
        }

    def detail_rows(self, customer_id: str, period: Period) -> list[dict[str, Any]]:
        """The customer's day x feature x model aggregate rows over the period."""
        rows: list[dict[str, Any]] = []
        for month, first, last in period.months():
            rows += self._sourced(self.ledger.customer_detail_days(month, customer_id, first, last))
        return rows

    def customer(
        self, customer_id: str, period: Period, rows: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """One customer's row with breakdowns; zeros for a period without usage or revenue.
        `rows`: its `detail_rows`, when the caller has read them already."""
        if rows is None:
            rows = self.detail_rows(customer_id, period)
        daily_revenue = self.revenue.daily(customer_id, period)
        revenue = sum(daily_revenue.values(), NO_REVENUE)
        counters = sum_counters(rows)
        margin = revenue.converted - counters["cost"]
        streak = self._streaks(period.last.strftime("%Y-%m"), {customer_id: margin})[customer_id]
        by_day = _group(rows, "day")
        empty = dict.fromkeys(SUMMED, Decimal(0))

        def breakdown(key: str) -> list[dict[str, Any]]:
            grouped = _group(rows, key)
            return [
                {key: name, **_cost_figures(grouped[name])}
                for name in sorted(grouped, key=lambda name: (-grouped[name]["cost"], name))
            ]

        def day_figures(day: str) -> dict[str, Any]:
            day_revenue = daily_revenue.get(day, NO_REVENUE)
            return {
                "day": day,
                "revenue": money_str(day_revenue.converted),
                "revenue_unconverted": day_revenue.unconverted_strings(),
                **_cost_figures(by_day.get(day, empty)),
            }

        return {
            "period": period.as_dict(),
            "currency": self.currency,
            **self._row(customer_id, counters, revenue, streak, self.names()),
            "by_feature": breakdown("feature"),
            "by_model": breakdown("model"),
            "daily": [day_figures(day) for day in period.days()],
        }


def _cost_figures(counters: Mapping[str, Decimal]) -> dict[str, Any]:
    return {
        "cost": money_str(counters["cost"]),
        "events": int(counters["events"]),
        "prompt_tokens": int(counters["prompt_tokens"]),
        "completion_tokens": int(counters["completion_tokens"]),
        "unpriced_events": int(counters["unpriced_events"]),
        "estimated_cost": money_str(counters["estimated_cost"]),
    }
