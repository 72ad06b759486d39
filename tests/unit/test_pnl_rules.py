from datetime import date
from decimal import Decimal

import pytest

from marginlens.reports.pnl import Period, PeriodError, action_for, previous_month

HEALTHY = Decimal(20)


def test_the_seed_decision_table() -> None:
    # Plexo Health: revenue 233.25, cost 277.20; Helix Robotics: revenue 134.29, cost 127.31.
    assert action_for(Decimal("-43.95"), Decimal("-18.84"), HEALTHY) == "reprice_or_throttle"
    assert action_for(Decimal("6.98"), Decimal("5.20"), HEALTHY) == "monitor"
    assert action_for(Decimal("50"), Decimal("20.00"), HEALTHY) == "healthy"
    assert action_for(Decimal("0"), None, HEALTHY) == "monitor"


def test_periods() -> None:
    november = Period.parse("2026-11", None, None)
    assert (november.first, november.last, november.is_calendar_month) == (
        date(2026, 11, 1),
        date(2026, 11, 30),
        True,
    )
    assert Period.parse("2028-02", None, None).last == date(2028, 2, 29)
    span = Period.parse(None, "2026-10-15", "2026-12-02")
    assert not span.is_calendar_month
    assert span.months() == [
        ("2026-10", "2026-10-15", "2026-10-31"),
        ("2026-11", "2026-11-01", "2026-11-30"),
        ("2026-12", "2026-12-01", "2026-12-02"),
    ]
    assert len(span.days()) == 49
    assert previous_month("2026-01") == "2025-12"


@pytest.mark.parametrize(
    ("month", "from_", "to", "pointer"),
    [
        ("2026-13", None, None, "/month"),
        ("2026-1", None, None, "/month"),
        (None, "2026-11-05", None, "/month"),
        (None, "2026-11-05", "2026-11-01", "/to"),
        (None, "nope", "2026-11-01", "/from"),
        ("2026-11", "2026-11-01", "2026-11-02", "/month"),
        (None, "2025-01-01", "2026-11-01", "/to"),
    ],
)
def test_bad_periods(month: str | None, from_: str | None, to: str | None, pointer: str) -> None:
    with pytest.raises(PeriodError) as error:
        Period.parse(month, from_, to)
    assert error.value.pointer == pointer
