"""Periods and comparison windows, checked against dates worked out on a calendar."""

from __future__ import annotations

from datetime import date

import pytest

from compstat.config import Cadence
from compstat.errors import UsageError
from compstat.periods import (
    comparison_windows,
    last_complete_period,
    next_period,
    parse_period,
    period_containing,
    previous_period,
    recent_periods,
)

WEEKLY = Cadence(period="weekly", week_start="monday")
SUNDAY = Cadence(period="weekly", week_start="sunday")
MONTHLY = Cadence(period="monthly", year_start_month=4)


def test_iso_week() -> None:
    p = parse_period("2026-W47", WEEKLY)
    assert (p.start, p.end) == (date(2026, 11, 16), date(2026, 11, 22))


def test_sunday_week_starts_day_before_iso_monday() -> None:
    p = parse_period("2026-W47", SUNDAY)
    assert (p.start, p.end) == (date(2026, 11, 15), date(2026, 11, 21))
    assert period_containing(date(2026, 11, 21), SUNDAY).label == "2026-W47"
    assert period_containing(date(2026, 11, 22), SUNDAY).label == "2026-W48"


def test_week_53_and_year_boundary() -> None:
    p = parse_period("2026-W53", WEEKLY)
    assert (p.start, p.end) == (date(2026, 12, 28), date(2027, 1, 3))
    assert next_period(p, WEEKLY).label == "2027-W01"
    with pytest.raises(UsageError, match="has no week 53"):
        parse_period("2025-W53", WEEKLY)


def test_last_complete_period() -> None:
    assert last_complete_period(date(2026, 11, 23), WEEKLY).label == "2026-W47"  # a Monday
    assert last_complete_period(date(2026, 11, 22), WEEKLY).label == "2026-W46"  # a Sunday: W47 not over
    assert last_complete_period(date(2026, 11, 23), MONTHLY).label == "2026-10"
    assert last_complete_period(date(2026, 1, 5), MONTHLY).label == "2025-12"


def test_bad_labels() -> None:
    with pytest.raises(UsageError, match="expected an ISO week"):
        parse_period("2026-11", WEEKLY)
    with pytest.raises(UsageError, match="expected a month"):
        parse_period("2026-13", MONTHLY)


def test_weekly_windows() -> None:
    week, d28, ytd = comparison_windows(parse_period("2026-W10", WEEKLY), WEEKLY)
    assert (week.start, week.end, week.prev_start, week.prev_end) == (
        date(2026, 3, 2), date(2026, 3, 8), date(2025, 3, 3), date(2025, 3, 9))
    assert (d28.start, d28.prev_start, d28.prev_end, d28.days) == (
        date(2026, 2, 9), date(2025, 2, 10), date(2025, 3, 9), 28)
    assert (ytd.start, ytd.end, ytd.prev_start, ytd.prev_end) == (
        date(2026, 1, 1), date(2026, 3, 8), date(2025, 1, 1), date(2025, 3, 8))


def test_monthly_windows_with_april_year() -> None:
    month, three, ytd = comparison_windows(parse_period("2025-02", MONTHLY), MONTHLY)
    assert (month.start, month.end, month.prev_start, month.prev_end) == (
        date(2025, 2, 1), date(2025, 2, 28), date(2024, 2, 1), date(2024, 2, 29))
    assert (three.start, three.prev_start, three.prev_end) == (date(2024, 12, 1), date(2023, 12, 1), date(2024, 2, 29))
    assert (ytd.start, ytd.prev_start, ytd.prev_end) == (date(2024, 4, 1), date(2023, 4, 1), date(2024, 2, 28))


def test_recent_and_previous() -> None:
    p = parse_period("2026-W02", WEEKLY)
    assert previous_period(p, WEEKLY).label == "2026-W01"
    assert [q.label for q in recent_periods(p, WEEKLY, 3)] == ["2025-W52", "2026-W01", "2026-W02"]
