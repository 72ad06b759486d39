from decimal import Context, Decimal

import pytest

from marginlens.core.currency import (
    THREE_DECIMAL_CURRENCIES,
    ZERO_DECIMAL_CURRENCIES,
    ExchangeRates,
    exponent,
    parse_rates,
    to_major,
    to_minor,
)

STRIPE_ZERO_DECIMAL = ["BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA"]
STRIPE_ZERO_DECIMAL += ["PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF", "XPF"]
STRIPE_THREE_DECIMAL = ["BHD", "JOD", "KWD", "OMR", "TND"]


def test_stripe_lists_are_exactly_the_documented_ones() -> None:
    assert set(STRIPE_ZERO_DECIMAL) == ZERO_DECIMAL_CURRENCIES
    assert set(STRIPE_THREE_DECIMAL) == THREE_DECIMAL_CURRENCIES


@pytest.mark.parametrize("code", STRIPE_ZERO_DECIMAL)
def test_zero_decimal(code: str) -> None:
    assert exponent(code) == 0
    assert exponent(code.lower()) == 0


@pytest.mark.parametrize("code", STRIPE_THREE_DECIMAL)
def test_three_decimal(code: str) -> None:
    assert exponent(code) == 3


@pytest.mark.parametrize("code", ["USD", "EUR", "GBP", "usd", "CAD", "INR"])
def test_two_decimal(code: str) -> None:
    assert exponent(code) == 2


@pytest.mark.parametrize("code", ["ISK", "HUF", "TWD"])
def test_special_cases_are_read_as_two_decimal(code: str) -> None:
    # Stripe: "ISK will remain a two-decimal currency in the Stripe API, and an ISK amount of `100`
    # will continue to represent 1 króna"; HUF and TWD are zero-decimal for payouts only.
    assert exponent(code) == 2
    assert to_major(500, code) == Decimal("5.00")


def test_ugx_is_zero_decimal() -> None:
    assert to_major(500, "UGX") == Decimal("500")


def test_to_major_is_exact_and_keeps_the_exponent() -> None:
    assert to_major(500, "JPY") == Decimal("500")
    assert str(to_major(500, "JPY")) == "500"
    assert str(to_major(500, "USD")) == "5.00"
    assert str(to_major(-1, "usd")) == "-0.01"
    assert str(to_major(5120, "KWD")) == "5.120"
    assert str(to_major(0, "EUR")) == "0.00"
    assert to_major(123456789012345678901234567890, "USD") == Decimal("1234567890123456789012345678.90")


def test_to_major_refuses_non_integers() -> None:
    with pytest.raises(TypeError):
        to_major(5.0, "USD")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        to_major(True, "USD")


def test_to_minor_round_trips_and_refuses_extra_decimals() -> None:
    assert to_minor(Decimal("233.25"), "USD") == 23325
    assert to_minor(Decimal("-233.2"), "usd") == -23320
    assert to_minor(Decimal("500"), "JPY") == 500
    assert to_minor(Decimal("5.12"), "KWD") == 5120
    for amount in (-10001, -1, 0, 1, 99, 123456):
        for code in ("USD", "JPY", "KWD"):
            assert to_minor(to_major(amount, code), code) == amount
    with pytest.raises(ValueError, match="more decimals than JPY"):
        to_minor(Decimal("1.5"), "JPY")
    with pytest.raises(ValueError, match="more decimals"):
        to_minor(Decimal("0.001"), "USD")
    with pytest.raises(TypeError):
        to_minor(1.5, "USD")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        to_minor(Decimal("NaN"), "USD")


@pytest.mark.parametrize("bad", ["", "US", "USDX", "12A", "U$D"])
def test_bad_currency_codes(bad: str) -> None:
    with pytest.raises(ValueError, match="currency code"):
        exponent(bad)


def test_parse_rates() -> None:
    assert parse_rates("EUR=1.08,GBP=1.27") == {"EUR": Decimal("1.08"), "GBP": Decimal("1.27")}
    assert parse_rates(" eur = 1.08 , JPY=0.0067 ") == {"EUR": Decimal("1.08"), "JPY": Decimal("0.0067")}
    assert parse_rates("") == {}
    assert parse_rates("   ") == {}
    rates = parse_rates("EUR=1.08")
    assert isinstance(rates["EUR"], Decimal)
    assert str(rates["EUR"]) == "1.08"


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("EUR=1.08,GBP", "'GBP'"),
        ("EUR=1.08,GBP=abc", "'GBP=abc'"),
        ("EUR=1.08,GBP=-1", "'GBP=-1'"),
        ("EUR=0", "'EUR=0'"),
        ("EUR=NaN", "'EUR=NaN'"),
        ("EUR=Infinity", "'EUR=Infinity'"),
        ("EURO=1.1", "'EURO=1.1'"),
        ("EUR=1.08,eur=1.09", "'eur=1.09'"),
        ("EUR=1.08,,GBP=1.27", "stray comma"),
        ("EUR=1.08,", "stray comma"),
    ],
)
def test_parse_rates_names_the_bad_entry(text: str, named: str) -> None:
    with pytest.raises(ValueError, match=named):
        parse_rates(text)


def test_convert() -> None:
    rates = ExchangeRates.parse("EUR=1.08,GBP=1.27,JPY=0.0067", reporting_currency="USD")
    assert rates.convert(Decimal("100.00"), "EUR") == Decimal("108.0000")
    assert rates.convert(Decimal("-10.00"), "gbp") == Decimal("-12.7000")
    assert rates.convert(Decimal("1500"), "JPY") == Decimal("10.0500")
    assert rates.convert_minor(150000, "JPY") == Decimal("1005.0000")
    assert rates.convert_minor(12345, "EUR") == Decimal("133.3260")


def test_reporting_currency_converts_at_one_and_unknown_is_none() -> None:
    rates = ExchangeRates({"EUR": Decimal("1.08")}, reporting_currency="usd")
    assert rates.reporting_currency == "USD"
    assert rates.convert(Decimal("12.34"), "USD") == Decimal("12.34")
    assert rates.rate("usd") == Decimal(1)
    assert rates.convert(Decimal("12.34"), "CHF") is None
    assert rates.convert_minor(1234, "CHF") is None
    assert rates.rate("CHF") is None
    assert dict(rates.rates) == {"EUR": Decimal("1.08")}


def test_reporting_currency_in_the_mapping_must_be_one() -> None:
    assert ExchangeRates({"USD": Decimal(1), "EUR": Decimal("1.08")}).rate("USD") == 1
    with pytest.raises(ValueError, match="converts at 1"):
        ExchangeRates({"USD": Decimal("1.01")})


def test_no_floats_anywhere() -> None:
    with pytest.raises(TypeError, match="float"):
        ExchangeRates({"EUR": 1.08})  # type: ignore[dict-item]
    rates = ExchangeRates({"EUR": Decimal("1.08")})
    with pytest.raises(TypeError):
        rates.convert(1.0, "EUR")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        ExchangeRates({"EUR": Decimal("-1")})


def test_conversion_is_exact_beyond_default_precision() -> None:
    # 30 significant digits times 6: the default 28-digit context would round the product.
    amount = Decimal("123456789012345678901234567.891")
    rates = ExchangeRates({"EUR": Decimal("1.23456")})
    # The same product in integers: 123456789012345678901234567891e-3 * 123456e-5.
    expected_units = 123456789012345678901234567891 * 123456
    assert rates.convert(amount, "EUR") == Decimal(expected_units).scaleb(-8, context=Context(prec=100))
