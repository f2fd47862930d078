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


SAME_DATES = Cadence(period="weekly", week_start="monday", prior_year="same_dates")
TUESDAY_SAME_DATES = Cadence(period="weekly", week_start="tuesday", prior_year="same_dates")


def test_same_dates_week_holding_29_february() -> None:
    """2024-W09 is Mon 26 Feb – Sun 3 Mar 2024 (holding 29 Feb). Same dates a year back: 26 Feb – 3 Mar
    2023, six days (2023 has no 29 Feb); 364 days back it is Mon 27 Feb – Sun 5 Mar 2023. The 28 days
    (5 Feb – 3 Mar 2024) go to 5 Feb – 3 Mar 2023 (27 days), or Mon 6 Feb – Sun 5 Mar 2023 by weekday."""
    period = parse_period("2024-W09", SAME_DATES)
    assert (period.start, period.end) == (date(2024, 2, 26), date(2024, 3, 3))
    week, d28, ytd = comparison_windows(period, SAME_DATES)
    assert (week.prev_start, week.prev_end) == (date(2023, 2, 26), date(2023, 3, 3))
    assert (week.prev_end - week.prev_start).days + 1 == 6
    assert (d28.start, d28.prev_start, d28.prev_end) == (date(2024, 2, 5), date(2023, 2, 5), date(2023, 3, 3))
    assert (ytd.prev_start, ytd.prev_end) == (date(2023, 1, 1), date(2023, 3, 3))  # unchanged: always same dates
    week_364, d28_364, _ = comparison_windows(period, WEEKLY)
    assert (week_364.prev_start, week_364.prev_end) == (date(2023, 2, 27), date(2023, 3, 5))
    assert (d28_364.prev_start, d28_364.prev_end) == (date(2023, 2, 6), date(2023, 3, 5))


def test_same_dates_28_days_ending_3_march_2025() -> None:
    """A Tuesday week: Tue 25 Feb – Mon 3 Mar 2025. Its 28 days are 4 Feb – 3 Mar 2025; the same dates of
    2024 are 4 Feb – 3 Mar 2024, 29 days because they hold 29 Feb 2024; the week goes to 25 Feb – 3 Mar 2024
    (8 days). 364 days back the 28 days are Tue 6 Feb – Mon 4 Mar 2024 and the week Tue 27 Feb – Mon 4 Mar."""
    period = period_containing(date(2025, 3, 3), TUESDAY_SAME_DATES)
    assert (period.start, period.end) == (date(2025, 2, 25), date(2025, 3, 3))
    week, d28, _ = comparison_windows(period, TUESDAY_SAME_DATES)
    assert (d28.start, d28.end, d28.prev_start, d28.prev_end) == (
        date(2025, 2, 4), date(2025, 3, 3), date(2024, 2, 4), date(2024, 3, 3))
    assert (d28.prev_end - d28.prev_start).days + 1 == 29
    assert (week.prev_start, week.prev_end) == (date(2024, 2, 25), date(2024, 3, 3))
    tuesday = Cadence(period="weekly", week_start="tuesday")
    week_364, d28_364, _ = comparison_windows(period, tuesday)
    assert (d28_364.prev_start, d28_364.prev_end) == (date(2024, 2, 6), date(2024, 3, 4))
    assert (week_364.prev_start, week_364.prev_end) == (date(2024, 2, 27), date(2024, 3, 4))


def test_same_dates_29_february_maps_to_28_february() -> None:
    """A Thursday week starting on 29 Feb 2024 (29 Feb – 6 Mar) goes to 28 Feb – 6 Mar 2023, like the year
    to date's rule; two years back (the baselines) 28 Feb – 6 Mar 2022."""
    from compstat.analysis.baselines import years_back

    thursday = Cadence(period="weekly", week_start="thursday", prior_year="same_dates")
    period = period_containing(date(2024, 2, 29), thursday)
    assert (period.start, period.end) == (date(2024, 2, 29), date(2024, 3, 6))
    week = comparison_windows(period, thursday)[0]
    assert (week.prev_start, week.prev_end) == (date(2023, 2, 28), date(2023, 3, 6))
    assert years_back(week, 1, thursday) == (week.prev_start, week.prev_end)
    assert years_back(week, 2, thursday) == (date(2022, 2, 28), date(2022, 3, 6))
    # 364 days (52 weeks) and 728 days (104 weeks) back by default
    default = Cadence(period="weekly", week_start="thursday")
    assert years_back(week, 2, default) == (date(2022, 3, 3), date(2022, 3, 9))


def test_same_dates_across_1_january() -> None:
    """2026-W01 is Mon 29 Dec 2025 – Sun 4 Jan 2026: same dates a year back 29 Dec 2024 – 4 Jan 2025."""
    week = comparison_windows(parse_period("2026-W01", SAME_DATES), SAME_DATES)[0]
    assert (week.prev_start, week.prev_end) == (date(2024, 12, 29), date(2025, 1, 4))
