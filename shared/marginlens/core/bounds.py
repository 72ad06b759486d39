"""Every number that enters MarginLens has a realistic bound, checked at the door (a 422 with a
pointer), so that nothing stored can overflow DynamoDB's 38 digits or a report's arithmetic.

| what                                  | bound                                                  |
|---------------------------------------|--------------------------------------------------------|
| tokens (and characters) of one call   | 0 to 1,000,000,000 (characters: 4,000,000,000)         |
| a price per million tokens            | 0 to 100,000 (USD), at most 12 decimals                |
| an amount of money (revenue, budgets) | at most 1,000,000,000,000 in size, at most 10 decimals |
| a percentage                          | above 0 and below 100, at most 4 decimals              |
| a quality score                       | 0 to 1,000,000, at most 6 decimals                     |
| a metadata number                     | integers within +-2^53, decimals of at most 15 digits  |
| a Stripe amount (minor units)         | at most 10^15 in size; beyond, the event is refused    |
| a calendar year (month, from, to)     | 2000 to 2199                                           |

Money arithmetic runs with `marginlens.money.MONEY_PRECISION` significant digits, so every figure
within these bounds, and every sum of them, is exact.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Annotated

from pydantic import Field

MAX_TOKENS = 10**9
MAX_CHARS = 4 * 10**9
MAX_PRICE_PER_MTOK = Decimal(100_000)
MAX_AMOUNT = Decimal(10**12)
MAX_METADATA_INT = 2**53
MAX_METADATA_DIGITS = 15
MAX_STRIPE_MINOR = 10**15
MAX_QUALITY_SCORE = Decimal(10**6)
FIRST_YEAR, LAST_YEAR = 2000, 2199

TokenCount = Annotated[int, Field(strict=True, ge=0, le=MAX_TOKENS)]
CharCount = Annotated[int, Field(strict=True, ge=0, le=MAX_CHARS)]
PricePerMtok = Annotated[
    Decimal, Field(ge=0, le=MAX_PRICE_PER_MTOK, allow_inf_nan=False, decimal_places=12, max_digits=18)
]
Amount = Annotated[
    Decimal, Field(ge=-MAX_AMOUNT, le=MAX_AMOUNT, allow_inf_nan=False, decimal_places=10, max_digits=23)
]
PositiveAmount = Annotated[
    Decimal, Field(gt=0, le=MAX_AMOUNT, allow_inf_nan=False, decimal_places=10, max_digits=23)
]
NonNegativeAmount = Annotated[
    Decimal, Field(ge=0, le=MAX_AMOUNT, allow_inf_nan=False, decimal_places=10, max_digits=23)
]
Percent = Annotated[Decimal, Field(gt=0, lt=100, allow_inf_nan=False, decimal_places=4, max_digits=7)]
QualityScore = Annotated[
    Decimal, Field(ge=0, le=MAX_QUALITY_SCORE, allow_inf_nan=False, decimal_places=6, max_digits=13)
]


def metadata_number_error(value: int | Decimal) -> str | None:
    """Why a metadata number is out of bounds (None: it is within them)."""
    if isinstance(value, int):
        return (
            None if abs(value) <= MAX_METADATA_INT else f"integers in metadata are within +-2^53, not {value}"
        )
    if not value.is_finite():
        return "numbers in metadata must be finite"
    digits = len(value.as_tuple().digits)
    if digits > MAX_METADATA_DIGITS or abs(value.adjusted()) > MAX_METADATA_DIGITS:
        return f"decimals in metadata have at most {MAX_METADATA_DIGITS} digits"
    return None


def price_error(prices: Iterable[Decimal]) -> str | None:
    """Why prices per million tokens are out of bounds (None: all within them)."""
    for price in prices:
        if not price.is_finite() or not 0 <= price <= MAX_PRICE_PER_MTOK:
            return f"a price per million tokens is 0 to {MAX_PRICE_PER_MTOK}, not {price}"
        exponent = price.normalize().as_tuple().exponent
        if isinstance(exponent, int) and exponent < -12:
            return f"a price per million tokens has at most 12 decimals, not {price}"
    return None


def year_error(year: int) -> str | None:
    if FIRST_YEAR <= year <= LAST_YEAR:
        return None
    return f"years run from {FIRST_YEAR} to {LAST_YEAR}"
