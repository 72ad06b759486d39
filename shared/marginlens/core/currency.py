"""Currency exponents as Stripe counts them, and conversion into the reporting currency.

Stripe amounts are integers in the currency's minor unit, and Stripe decides what that unit is:

- Zero-decimal currencies: the amount *is* the major amount (`500` JPY is 500 yen). Stripe's list:
  BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF UGX VND VUV XAF XOF XPF.
- Three-decimal currencies: BHD JOD KWD OMR TND; `5120` KWD is 5.120 KWD. Stripe asks for the last
  digit of these amounts to be 0 (rounded to the nearest ten), which does not change how one reads them.
- Every other currency: two decimals (`1000` USD is 10.00 USD).

Special cases, for *reading* amounts from Stripe's API objects:

- ISK has been effectively zero-decimal since 2023-04-14, but it "will remain a two-decimal currency in
  the Stripe API, and an ISK amount of `100` will continue to represent 1 króna": exponent 2.
- HUF and TWD: Stripe treats them as zero-decimal for payouts only (manual payouts must be divisible by
  100); charges, invoices and refunds stay two-decimal: exponent 2.
- UGX is on Stripe's zero-decimal list: exponent 0.
The divisible-by-100 (or by-10) rules say which amounts Stripe *accepts*; the meaning of an amount
read back is still given by the exponent above.

Sources (Stripe's own pages, as retrieved 2026-11):
- https://docs.stripe.com/currencies (sections "Zero-decimal currencies", "Three-decimal currencies",
  "Special cases"); an archived copy with the same lists:
  https://web.archive.org/web/20220618095455/https://stripe.com/en-mt/docs/currencies
- https://support.stripe.com/questions/deprecation-of-fractional-isk-charges-and-refunds

Everything here is `Decimal` or `int`: a float is refused with `TypeError`, never silently accepted.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal, Inexact, InvalidOperation, localcontext
from types import MappingProxyType

# fmt: off
ZERO_DECIMAL_CURRENCIES = frozenset({
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA",
    "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF",
})
# fmt: on
THREE_DECIMAL_CURRENCIES = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})

_CODE = re.compile(r"[A-Z]{3}")


def normalize_code(currency: str) -> str:
    """`usd` -> `USD` (Stripe sends lower case); ValueError unless it is three ASCII letters."""
    if not isinstance(currency, str):
        raise TypeError(f"currency code must be a string, not {type(currency).__name__}")
    code = currency.strip().upper()
    if not _CODE.fullmatch(code):
        raise ValueError(f"not an ISO 4217 currency code: {currency!r}")
    return code


def exponent(currency: str) -> int:
    """The number of decimals in Stripe's minor unit for `currency`: 0, 2 or 3."""
    code = normalize_code(currency)
    if code in ZERO_DECIMAL_CURRENCIES:
        return 0
    if code in THREE_DECIMAL_CURRENCIES:
        return 3
    return 2


def to_major(amount_minor: int, currency: str) -> Decimal:
    """A Stripe minor-unit amount as an exact Decimal in major units, at the currency's exponent.

    `to_major(500, "JPY") == Decimal("500")`, `to_major(500, "USD") == Decimal("5.00")` (two places
    kept), `to_major(-5120, "KWD") == Decimal("-5.120")`.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise TypeError(f"a minor-unit amount must be an int, not {type(amount_minor).__name__}")
    sign, digits, _ = Decimal(amount_minor).as_tuple()
    return Decimal((sign, digits, -exponent(currency)))  # built, not computed: never rounded


def to_minor(amount: Decimal, currency: str) -> int:
    """The exact minor-unit integer for a major-unit Decimal (`Decimal("233.25")` USD -> 23325).

    ValueError when the amount is finer than the currency's minor unit (`Decimal("1.5")` JPY): that is
    an input error, never something to round away silently.
    """
    if not isinstance(amount, Decimal):
        raise TypeError(f"an amount must be a Decimal, not {type(amount).__name__}")
    sign, digits, exp = amount.as_tuple()
    if not isinstance(exp, int):
        raise ValueError(f"not a finite amount: {amount}")
    scaled = Decimal((sign, digits, exp + exponent(currency)))  # exact shift of the decimal point
    integral = scaled.to_integral_value()
    if scaled != integral:
        raise ValueError(f"{amount} has more decimals than {normalize_code(currency)} allows")
    return int(integral)


def _exact_product(a: Decimal, b: Decimal) -> Decimal:
    """`a * b` with enough precision that nothing is rounded (and a trap if it ever were)."""
    digits = len(a.as_tuple().digits) + len(b.as_tuple().digits)
    with localcontext() as ctx:
        ctx.prec = max(ctx.prec, digits + 1)
        ctx.traps[Inexact] = True
        return a * b


def _parse_rate(currency: str, value: object, entry: str) -> Decimal:
    if isinstance(value, float):
        raise TypeError(f"exchange rate for {currency} must be a Decimal, not a float: {entry!r}")
    if isinstance(value, int) and not isinstance(value, bool):
        rate = Decimal(value)
    elif isinstance(value, Decimal):
        rate = value
    elif isinstance(value, str):
        try:
            rate = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError(
                f"bad exchange rate entry {entry!r}: {value.strip()!r} is not a number"
            ) from None
    else:
        raise TypeError(f"exchange rate for {currency} must be a Decimal, not {type(value).__name__}")
    if not rate.is_finite() or rate <= 0:
        raise ValueError(f"bad exchange rate entry {entry!r}: the rate must be a positive number")
    return rate


def parse_rates(text: str) -> dict[str, Decimal]:
    """Parse a settings string such as `EUR=1.08,GBP=1.27` into `{"EUR": Decimal("1.08"), ...}`.

    Each entry is `CODE=RATE`: one unit of CODE is worth RATE units of the reporting currency.
    Whitespace around entries is ignored and codes may be lower case; an empty string means no rates.
    A malformed entry, a rate that is not a positive number, or a currency given twice raises a
    ValueError naming the entry.
    """
    rates: dict[str, Decimal] = {}
    if not text.strip():
        return rates
    for raw in text.split(","):
        entry = raw.strip()
        if not entry:
            raise ValueError(f"empty exchange rate entry in {text!r} (stray comma?)")
        code_text, sep, rate_text = entry.partition("=")
        if not sep:
            raise ValueError(f"bad exchange rate entry {entry!r}: expected CODE=RATE, e.g. EUR=1.08")
        try:
            code = normalize_code(code_text)
        except ValueError:
            raise ValueError(
                f"bad exchange rate entry {entry!r}: {code_text.strip()!r} is not a currency code"
            ) from None
        if code in rates:
            raise ValueError(f"bad exchange rate entry {entry!r}: {code} is given more than once")
        rates[code] = _parse_rate(code, rate_text, entry)
    return rates


class ExchangeRates:
    """Fixed rates into the reporting currency: `rates["EUR"] == Decimal("1.08")` means 1 EUR = 1.08 USD.

    `convert` answers None for a currency without a rate: the caller reports such amounts apart and
    never adds them to a total. The reporting currency always converts at exactly 1.
    """

    def __init__(self, rates: Mapping[str, Decimal], reporting_currency: str = "USD") -> None:
        self.reporting_currency = normalize_code(reporting_currency)
        parsed: dict[str, Decimal] = {}
        for currency, value in rates.items():
            code = normalize_code(currency)
            entry = f"{currency}={value}"
            if code in parsed:
                raise ValueError(f"exchange rate for {code} is given more than once")
            parsed[code] = _parse_rate(code, value, entry)
        own = parsed.pop(self.reporting_currency, None)
        if own is not None and own != 1:
            raise ValueError(f"the reporting currency {self.reporting_currency} converts at 1, not {own}")
        self._rates: Mapping[str, Decimal] = MappingProxyType(parsed)

    @classmethod
    def parse(cls, text: str, reporting_currency: str = "USD") -> ExchangeRates:
        """Build from a settings string (`EUR=1.08,GBP=1.27`); see `parse_rates`."""
        return cls(parse_rates(text), reporting_currency)

    @property
    def rates(self) -> Mapping[str, Decimal]:
        """The configured rates (read-only), without the implicit reporting currency."""
        return self._rates

    def rate(self, currency: str) -> Decimal | None:
        code = normalize_code(currency)
        if code == self.reporting_currency:
            return Decimal(1)
        return self._rates.get(code)

    def convert(self, amount: Decimal, currency: str) -> Decimal | None:
        """`amount` (major units of `currency`) in the reporting currency, exactly; None without a rate.

        Not rounded: rounding belongs where a total is presented, after summing.
        """
        if not isinstance(amount, Decimal):
            raise TypeError(f"an amount must be a Decimal, not {type(amount).__name__}")
        rate = self.rate(currency)
        if rate is None:
            return None
        if rate == 1:
            return amount
        return _exact_product(amount, rate)

    def convert_minor(self, amount_minor: int, currency: str) -> Decimal | None:
        """A Stripe minor-unit amount in the reporting currency (major units); None without a rate."""
        return self.convert(to_major(amount_minor, currency), currency)

    def __repr__(self) -> str:
        pairs = ",".join(f"{code}={rate}" for code, rate in sorted(self._rates.items()))
        return f"ExchangeRates({pairs!r}, reporting_currency={self.reporting_currency!r})"
