"""Money and percentages: Decimal end to end, strings on the wire."""

from __future__ import annotations

import decimal
from decimal import ROUND_HALF_EVEN, Decimal

CENT = Decimal("0.01")
ZERO = Decimal(0)
# Python's default context keeps 28 significant digits: fewer than DynamoDB's 38, and fewer than a
# sum of many exact costs needs. Threads started after this import take it from DefaultContext.
MONEY_PRECISION = 60
decimal.DefaultContext.prec = MONEY_PRECISION
decimal.getcontext().prec = MONEY_PRECISION
# Wide enough to format anything DynamoDB can hold (up to 1E+125) to the cent.
_FORMAT = decimal.Context(prec=200)


def money_str(amount: Decimal) -> str:
    """An exact decimal string with at least two decimals: `8340.00`, `0.000066`, `-43.95`."""
    normalized = amount.normalize()
    exponent = normalized.as_tuple().exponent
    if not isinstance(exponent, int):
        raise ValueError(f"not a finite amount: {amount}")
    return format(normalized if exponent < -2 else normalized.quantize(CENT, context=_FORMAT), "f")


def money_display(amount: Decimal | str, currency: str = "USD") -> str:
    """Money as people read it, to the cent with its currency: `3.59 USD`, `12,480.00 USD`."""
    rounded = Decimal(amount).quantize(CENT, rounding=ROUND_HALF_EVEN, context=_FORMAT)
    return f"{rounded:,.2f} {currency}"


def pct(part: Decimal, whole: Decimal) -> Decimal | None:
    """`part / whole` in percent, rounded half-even to 2 places; None when `whole` is zero."""
    if whole == 0:
        return None
    return (part * 100 / whole).quantize(CENT, rounding=ROUND_HALF_EVEN, context=_FORMAT)


def margin_pct(margin: Decimal, revenue: Decimal) -> Decimal | None:
    """Margin as a share of revenue, with the margin's sign: against net negative revenue (refunds
    beyond sales) a loss stays negative (-100.00, not 100.00). None without revenue."""
    return pct(margin, abs(revenue))


def pct_str(value: Decimal | None) -> str | None:
    return None if value is None else format(value, "f")
