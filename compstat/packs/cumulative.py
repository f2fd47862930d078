"""Running totals through the year, this year against last: the year-to-date chart's data.

From daily totals (``CycleData.daily``) when the cycle provides them, so that this year's
last point equals the period table's year to date. Otherwise from the weekly (monthly)
``series``: one step per period, each period counted in the year its last day falls in.
Counts accumulate; a rate is the running numerator over the running denominator; supplied
values (means) have no meaningful running total and get no line.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt
import pandas as pd

from compstat.config import Measure
from compstat.packs.lookup import DAILY, SERIES, per_cycle, unit_rows
from compstat.results import CycleData


@dataclass(frozen=True)
class YearLines:
    """Day offsets from each year's first day and the running value on that day."""

    year_start: date
    this_days: tuple[int, ...]
    this_values: tuple[float, ...]
    last_days: tuple[int, ...]
    last_values: tuple[float, ...]
    daily: bool

    @property
    def this_total(self) -> float:
        return self.this_values[-1] if self.this_values else float("nan")

    @property
    def last_same_day(self) -> float:
        """Last year's running value on the same day as this year's latest."""
        if not self.this_days:
            return float("nan")
        earlier = [v for d, v in zip(self.last_days, self.last_values, strict=True) if d <= self.this_days[-1]]
        return earlier[-1] if earlier else float("nan")


def year_start(day: date, start_month: int) -> date:
    """The first day of the (calendar or financial) year that ``day`` falls in."""
    return date(day.year if day.month >= start_month else day.year - 1, start_month, 1)


def year_lines(data: CycleData, unit_code: str, measure: Measure) -> YearLines | None:
    """This year's and last year's running totals for one unit and measure (None for value measures)."""
    if measure.kind == "value":
        return None
    end = data.period.end
    this_start = year_start(end, data.config.cadence.year_start_month)
    last_start = date(this_start.year - 1, this_start.month, 1)
    if data.daily is not None:
        by_day = per_cycle(data, ("daily totals", unit_code, last_start, end),
                           lambda: _daily_totals(unit_rows(data, DAILY, unit_code), last_start, end))
        days, num, den = _daily(by_day, measure)
        daily = True
    else:
        days, num, den = _periodic(data, unit_code, measure, last_start, end)
        daily = False
    this = days >= np.datetime64(this_start)
    lines = []
    for mask, start in ((this, this_start), (~this, last_start)):
        offsets = ((days[mask] - np.datetime64(start)) // np.timedelta64(1, "D")).astype(int)
        running = np.cumsum(num[mask])
        if measure.kind == "rate":
            denominator = np.cumsum(den[mask])
            with np.errstate(divide="ignore", invalid="ignore"):
                running = np.where(denominator > 0, running / denominator * measure.per, np.nan)
        elif not daily:  # period steps: start the line from zero on the year's first day
            offsets, running = np.concatenate([[0], offsets]), np.concatenate([[0.0], running])
        lines.append((tuple(int(d) for d in offsets), tuple(float(v) for v in running)))
    (this_days, this_values), (last_days, last_values) = lines
    return YearLines(this_start, this_days, this_values, last_days, last_values, daily)


Arrays = tuple[npt.NDArray[np.datetime64], npt.NDArray[np.float64], npt.NDArray[np.float64]]


def _daily_totals(mine: pd.DataFrame, first: date, last: date) -> pd.DataFrame:
    """Every day from ``first`` to ``last`` (rows) by measure id (columns): the unit's daily totals,
    0 on days without any (``mine``: the unit's rows of ``CycleData.daily``)."""
    index = pd.date_range(first, last, freq="D")
    wide = mine.pivot_table(index=pd.to_datetime(mine["date"]), columns="measure_id", values="total",
                            aggfunc="sum", observed=True)
    return wide.reindex(index, fill_value=0.0).fillna(0.0)


def _daily(by_day: pd.DataFrame, measure: Measure) -> Arrays:
    """The measure's (or the rate's parts') daily totals from ``_daily_totals``."""
    def totals(measure_id: str | None) -> npt.NDArray[np.float64]:
        if measure_id not in by_day.columns:
            return np.zeros(len(by_day))
        return by_day[measure_id].to_numpy(dtype=float)

    if measure.kind == "rate":
        num, den = totals(measure.numerator), totals(measure.denominator)
    else:
        num = totals(measure.id)
        den = np.ones_like(num)
    return by_day.index.to_numpy().astype("datetime64[D]"), num, den


def _periodic(data: CycleData, unit_code: str, measure: Measure, first: date, last: date) -> Arrays:
    """Each period's last day (up to ``last``) with its value, or its numerator and denominator."""
    series = unit_rows(data, SERIES, unit_code)
    rows = series[series["measure_id"] == measure.id]
    rows = rows.sort_values("period_start")
    starts = pd.to_datetime(rows["period_start"])
    if data.config.cadence.period == "monthly":
        ends = starts + pd.offsets.MonthEnd(0)
    else:
        ends = starts + timedelta(days=6)
    keep = ((ends >= pd.Timestamp(first)) & (ends <= pd.Timestamp(last))).to_numpy()
    days = ends.to_numpy().astype("datetime64[D]")[keep]
    if measure.kind == "rate":
        num = rows["numerator"].to_numpy(dtype=float)[keep]
        den = rows["denominator"].to_numpy(dtype=float)[keep]
    else:
        num = rows["value"].to_numpy(dtype=float)[keep]
        den = np.ones_like(num)
    return days, np.nan_to_num(num), np.nan_to_num(den)
