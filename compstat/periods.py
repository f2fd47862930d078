"""Periods (ISO-labelled weeks or calendar months) and the CompStat comparison windows.

A weekly period is labelled like ``2026-W47``: the ISO week, shifted to start on the
configured weekday (a Sunday-start week begins the day before the ISO Monday). A monthly
period is labelled ``2026-11``.

Comparison windows and their "same period last year":
- week and 28 days: shifted back 364 days (52 weeks), so weekdays line up (``cadence.prior_year:
  same_weekday``, the default), or the same calendar dates one year back (``same_dates``, as NYPD-style
  tables do; 29 February maps to 28 February, so last year's span may be a day shorter or longer);
- month and 3 months: the same calendar months one year back;
- year to date: from the start of the (configurable) year to the period end, against the
  same calendar dates one year back (29 February maps to 28 February).

A week belongs to the year holding most of its days (its middle day: the Thursday of a
Monday week, as ISO 8601 does), for the year to date and the trajectories. So 2026-W53
(28 Dec 2026 – 3 Jan 2027) is the last week of 2026: its year to date is the whole of 2026
(1 January – 31 December, the days after 31 December left out), and 2027-W01 starts the
new year. A last week that ends before 31 December (2024-W52 ends on 29 December) leaves
those days to the next year's first week, outside both years to date.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from compstat.config import MONTH_LABEL, WEEK_LABEL, WEEKDAYS, Cadence
from compstat.errors import UsageError

SHIFT_52_WEEKS = timedelta(days=364)


@dataclass(frozen=True)
class Period:
    label: str
    start: date
    end: date  # inclusive


@dataclass(frozen=True)
class Window:
    """One column group of the CompStat table: a current range and its comparison."""

    key: str
    label: str
    start: date
    end: date
    prev_start: date
    prev_end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1


def _week_offset(cadence: Cadence) -> int:
    """Days the configured week starts before the ISO Monday."""
    return (7 - WEEKDAYS.index(cadence.week_start)) % 7


def parse_period(label: str, cadence: Cadence) -> Period:
    """Turn a label such as 2026-W47 or 2026-11 into a Period for this cadence."""
    if cadence.period == "weekly":
        m = WEEK_LABEL.match(label)
        if not m:
            raise UsageError(f"period '{label}': expected an ISO week such as 2026-W47")
        try:
            monday = date.fromisocalendar(int(m[1]), int(m[2]), 1)
        except ValueError:
            raise UsageError(f"period '{label}': year {m[1]} has no week {m[2]}") from None
        start = monday - timedelta(days=_week_offset(cadence))
        return Period(label, start, start + timedelta(days=6))
    m = MONTH_LABEL.match(label)
    if not m or not 1 <= int(m[2]) <= 12:
        raise UsageError(f"period '{label}': expected a month such as 2026-11")
    start = date(int(m[1]), int(m[2]), 1)
    return Period(label, start, month_end(start))


def period_containing(day: date, cadence: Cadence) -> Period:
    if cadence.period == "monthly":
        return parse_period(f"{day.year:04d}-{day.month:02d}", cadence)
    start = day - timedelta(days=(day.weekday() - WEEKDAYS.index(cadence.week_start)) % 7)
    iso = (start + timedelta(days=_week_offset(cadence))).isocalendar()
    return parse_period(f"{iso.year:04d}-W{iso.week:02d}", cadence)


def last_complete_period(today: date, cadence: Cadence) -> Period:
    """The most recent period that ended before ``today``."""
    return period_containing(period_containing(today, cadence).start - timedelta(days=1), cadence)


def previous_period(period: Period, cadence: Cadence) -> Period:
    return period_containing(period.start - timedelta(days=1), cadence)


def next_period(period: Period, cadence: Cadence) -> Period:
    return period_containing(period.end + timedelta(days=1), cadence)


def recent_periods(period: Period, cadence: Cadence, count: int) -> list[Period]:
    """``count`` consecutive periods ending with ``period``, oldest first."""
    out = [period]
    while len(out) < count:
        out.append(previous_period(out[-1], cadence))
    return out[::-1]


def comparison_windows(period: Period, cadence: Cadence) -> list[Window]:
    """The CompStat windows for a period: the period, a short rolling window, year to date."""
    end = period.end
    ys = period_year_start(period, cadence)
    ytd_end = min(end, _add_months(ys, 12) - timedelta(days=1))
    ytd = Window("ytd", "Year to date", ys, ytd_end, shift_years(ys), shift_years(ytd_end))
    if cadence.period == "weekly":
        d28 = end - timedelta(days=27)
        return [
            Window("period", "Week", period.start, end, *prior_year_span(period.start, end, cadence)),
            Window("28d", "28 days", d28, end, *prior_year_span(d28, end, cadence)),
            ytd,
        ]
    three = _add_months(period.start, -2)
    return [
        Window("period", "Month", period.start, end, shift_years(period.start), month_end(shift_years(period.start))),
        Window("3m", "3 months", three, end, shift_years(three), month_end(shift_years(period.start))),
        ytd,
    ]


def prior_year_span(start: date, end: date, cadence: Cadence, years: int = 1) -> tuple[date, date]:
    """The span ``years`` years before a weekly window ``start``–``end`` (week, 28 days), as
    ``cadence.prior_year`` says: whole weeks back (364 days for one year: the number of weeks nearest to
    the calendar years, so weekdays line up), or the same calendar dates (29 February as 28 February)."""
    if cadence.prior_year == "same_dates":
        return shift_years(start, years), shift_years(end, years)
    if years == 1:
        return start - SHIFT_52_WEEKS, end - SHIFT_52_WEEKS
    shift = timedelta(days=7 * round((start - shift_years(start, years)).days / 7))
    return start - shift, end - shift


def period_year_start(period: Period, cadence: Cadence) -> date:
    """The first day of the year ``period`` belongs to: a week's is the year holding its middle day."""
    day = period.start + timedelta(days=3) if cadence.period == "weekly" else period.start
    return year_start(day, cadence.year_start_month)


def year_start(day: date, start_month: int) -> date:
    year = day.year if day.month >= start_month else day.year - 1
    return date(year, start_month, 1)


def shift_years(day: date, years: int = 1) -> date:
    try:
        return day.replace(year=day.year - years)
    except ValueError:  # 29 February
        return day.replace(year=day.year - years, day=28)


def _add_months(day: date, months: int) -> date:
    index = day.year * 12 + day.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def month_end(first: date) -> date:
    return _add_months(first, 1) - timedelta(days=1)
