"""The P&L's revenue side: the revenue ledger's month items, in the reporting currency.

Reports read the ledger's month partitions (one query per month, one item per document and
month), never usage events. Amounts are summed in each currency's minor units first and converted
once per customer and currency with the configured `ExchangeRates`, exactly (Decimal products,
never rounded). A currency without a rate stays apart, per currency, in minor units: the P&L shows
it as `revenue_unconverted` and never adds it to revenue, margin or a total.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from decimal import Decimal

from marginlens.core.currency import ExchangeRates
from marginlens.core.identifiers import UNMAPPED_PREFIX
from marginlens.reports.pnl import NO_REVENUE, Period, PeriodRevenue, Revenue
from marginlens.revenue.ledger import RevenueLedger
from marginlens.revenue.recognition import day_totals


def convert(currencies: Mapping[str, int], rates: ExchangeRates) -> Revenue:
    """Minor units per currency as one `Revenue`: converted where a rate exists, else kept apart."""
    converted = Decimal(0)
    unconverted: dict[str, int] = {}
    for currency, minor in currencies.items():
        if not minor:
            continue
        value = rates.convert_minor(minor, currency)
        if value is None:
            unconverted[currency] = unconverted.get(currency, 0) + minor
        else:
            converted += value
    return Revenue(converted, unconverted)


class LedgerRevenue:
    """`pnl.RevenueSource` over the revenue ledger."""

    def __init__(self, ledger: RevenueLedger, rates: ExchangeRates) -> None:
        self.ledger = ledger
        self.rates = rates

    def by_customer(self, period: Period) -> PeriodRevenue:
        customers: dict[str, Revenue] = {}
        unmapped = NO_REVENUE
        for customer, currencies in self.ledger.totals(period.first, period.last).items():
            revenue = convert(currencies, self.rates)
            if revenue == NO_REVENUE:
                continue  # e.g. an invoice fully refunded: nothing to show
            if customer.startswith(UNMAPPED_PREFIX):
                unmapped = unmapped + revenue
            else:
                customers[customer] = revenue
        return PeriodRevenue(customers, unmapped)

    def daily(self, customer_id: str, period: Period) -> dict[str, Revenue]:
        per_day: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for row in self.ledger.recognised(period.first, period.last):
            if row["customer_id"] != customer_id:
                continue
            for day, minor in day_totals(row["runs"], period.first, period.last).items():
                if minor:
                    per_day[day.isoformat()][row["currency"]] += minor
        return {day: convert(currencies, self.rates) for day, currencies in per_day.items()}
