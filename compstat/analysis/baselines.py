"""Each window against the same span one and two years back and a multi-year mean, as counts and rates.

**Same period k years back.** Weekly windows (the week, 28 days) move back by whole weeks, so
weekdays line up: by the number of weeks nearest to k calendar years (52 weeks for one year,
104 for two, 156 or 157 for three); with ``cadence.prior_year: same_dates`` they move back to the
same calendar dates instead (``periods.prior_year_span``). A week is compared by calendar, not by week number: ISO
week 53 of a 53-week year (28 Dec 2026 – 3 Jan 2027) is compared with 29 Dec 2025 – 4 Jan
2026, and 2027-W01 with 5–11 January 2026. Months and the year to date move back by calendar
years (29 February → 28 February); the year to date of a week that straddles 1 January counts
the rows dated from 1 January, against the same calendar days a year earlier (a pre-aggregated weekly
total counts by its date, or by its week with ``sources[].date_is: week``). One year back is
always exactly the period table's comparison.

**History.** A unit's history starts at its first non-zero figure (or with the organisation's, if its
first record falls within ``GRACE_DAYS`` of the data's start). A span that starts before it has
no value (NaN), not a count of 0: a unit with one year of data has no comparison with the year
before. The multi-year baseline is the mean of the last ``analysis.baseline_years`` years
(default 3) that the unit's history covers; ``baseline_years`` says how many it rests on.

**Rates.** Count measures also get a rate per ``analysis.per_population`` residents (the
unit's configured population; a division's its own or the sum of its children's; the
organisation's is the sum of its units'). Rate measures
are already per their denominator.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import numpy as np
import pandas as pd
from pandas._libs.tslibs.nattype import NaTType

from compstat.analysis.measures import analysis_units
from compstat.config import Cadence, Config
from compstat.figures import TOTAL, measure_values
from compstat.hierarchy import division_populations
from compstat.periods import Window, month_end, prior_year_span, shift_years

GRACE_DAYS = 28
IMPLAUSIBLE_ZEROS = 1e-4  # a run of zeros less likely than this, at the series' own later rate, was not recorded
MIN_RATE_EVENTS = 10  # a series' later rate is judged on at least this many events after its first figure
COMPARISON_COLUMNS = [
    "unit_code", "measure_id", "window", "window_label", "start", "end", "days", "current", "numerator",
    "denominator", "last_year_start", "last_year_end", "last_year", "last_year_days", "two_years_ago_start",
    "two_years_ago_end", "two_years_ago", "baseline", "baseline_years", "baseline_total", "baseline_days",
    "population", "current_rate", "last_year_rate", "two_years_ago_rate", "baseline_rate",
]


def years_back(window: Window, years: int, cadence: Cadence) -> tuple[date, date]:
    """The span ``years`` years before ``window`` (see the module docstring)."""
    if years == 0:
        return window.start, window.end
    if window.key == "ytd":
        return shift_years(window.start, years), shift_years(window.end, years)
    if cadence.period == "weekly":
        return prior_year_span(window.start, window.end, cadence, years)
    return shift_years(window.start, years), month_end(shift_years(window.end.replace(day=1), years))


def unit_history_start(daily: pd.DataFrame, data_start: date | None, loaded_from: date | None = None,
                       grace_days: int = GRACE_DAYS) -> dict[str, pd.Timestamp]:
    """The first day of each unit's history (``TOTAL``: the organisation's); units without rows are absent.

    ``data_start`` is the organisation's first record; ``loaded_from`` the first day ``daily``
    was read from (a unit whose rows begin near either started no later). Zero rows before a
    unit's first non-zero figure (pre-aggregated data padded with zeros) are not history, as in
    the quality step (``quality.context.first_figures``); a unit with only zeros starts at its rows.
    """
    first = daily[daily["total"] != 0].groupby("unit_code")["date"].min()
    first = first.combine_first(daily.groupby("unit_code")["date"].min())
    org = pd.Timestamp(data_start) if data_start is not None else daily["date"].min()
    reference = max(org, pd.Timestamp(loaded_from)) if loaded_from is not None else org
    near = first <= reference + pd.Timedelta(days=grace_days)
    starts = {str(u): (org if is_near else pd.Timestamp(f)) for u, f, is_near in zip(first.index, first, near,
                                                                                      strict=True)}
    if pd.notna(org):
        starts[TOTAL] = org
    return starts


@dataclass(frozen=True)
class HistoryStarts:
    """Where each unit × measure series' history starts: its unit's (``units``, ``unit_history_start``), or
    later for a series whose zeros before its first figure its own rate cannot explain (``series``): a
    pre-aggregated source padded with zeros for a unit before it reported that measure. Such zeros are
    not a count of 0: a baseline year, a last year or an SPC period before the start has no value."""

    units: dict[str, pd.Timestamp]
    series: dict[tuple[str, str], pd.Timestamp] = field(default_factory=dict)

    def of(self, unit: str, measure: str) -> pd.Timestamp | NaTType:
        """The start of one series (NaT: the unit has no rows)."""
        later = self.series.get((unit, measure))
        return later if later is not None else self.units.get(unit, pd.NaT)

    def for_rows(self, units: pd.Series, measures: pd.Series) -> pd.Series:
        """The start of each row's series (rows of unit codes and measure ids)."""
        base = pd.Series(units.astype(str).map(self.units), index=units.index, dtype="datetime64[ns]")
        if not self.series:
            return base
        keys = pd.MultiIndex.from_arrays([units.astype(str), measures.astype(str)])
        later = pd.Series(self.series, dtype="datetime64[ns]").reindex(keys).to_numpy()
        return base.where(pd.isna(later), pd.Series(later, index=units.index))


def history_starts(daily: pd.DataFrame, data_start: date | None, loaded_from: date | None = None,
                   grace_days: int = GRACE_DAYS) -> HistoryStarts:
    """Each unit's history start (``unit_history_start``) and the later start of each of its series whose
    zeros before its first non-zero figure have a chance below ``IMPLAUSIBLE_ZEROS`` at the series' own
    daily rate after that figure (resting on at least ``MIN_RATE_EVENTS`` events): a homicide series quiet
    for a year keeps its unit's start; a weekly count of 4 that was 0 for a year did not start until its
    first figure."""
    units = unit_history_start(daily, data_start, loaded_from, grace_days)
    real = daily[(daily["total"] != 0) & (daily["unit_code"] != TOTAL)]
    if real.empty:
        return HistoryStarts(units)
    last = daily["date"].max()
    ordered = real.sort_values("date", kind="stable")
    per = ordered.groupby(["unit_code", "measure_id"]).agg(first=("date", "min"), total=("total", "sum"),
                                                           first_total=("total", "first"))
    unit_start = pd.Series(per.index.get_level_values("unit_code").map(units), index=per.index,
                           dtype="datetime64[ns]")
    seen_from = unit_start.clip(lower=daily["date"].min())  # zeros before the rows read are not seen
    zero_days = (per["first"] - seen_from).dt.days.astype(float)
    after = (per["total"] - per["first_total"]).abs()  # the first figure chose the start: its rate leaves it out
    rate = after / ((last - per["first"]).dt.days + 1).astype(float)
    late = ((zero_days > grace_days) & (after >= MIN_RATE_EVENTS)
            & (np.exp(-rate * zero_days) < IMPLAUSIBLE_ZEROS))
    series = {(str(u), str(m)): pd.Timestamp(f) for (u, m), f in per.loc[late, "first"].items()}
    return HistoryStarts(units, series)


class _DailyIndex:
    """Daily totals sorted by date, sliced by span without a full scan each time."""

    def __init__(self, daily: pd.DataFrame, config: Config) -> None:
        self.frame = daily.sort_values("date", kind="stable").reset_index(drop=True)
        self.dates = self.frame["date"].to_numpy()
        self.config = config
        units = analysis_units(config)
        self.grid = pd.MultiIndex.from_product([units, [m.id for m in config.reported_measures]],
                                               names=["unit_code", "measure_id"])
        self.counts = self.grid.get_level_values("measure_id").map(
            {m.id: m.kind == "count" for m in config.measures}).to_numpy(dtype=bool)

    def values(self, start: date, end: date) -> pd.DataFrame:
        """value, numerator, denominator per unit × reported measure over ``start``..``end``; counts 0-filled."""
        lo = np.searchsorted(self.dates, np.datetime64(start, "ns"), side="left")
        hi = np.searchsorted(self.dates, np.datetime64(end, "ns"), side="right")
        rows = self.frame.iloc[lo:hi]
        totals = rows.groupby(["unit_code", "measure_id"], as_index=False)[["total", "n"]].sum()
        values = measure_values(totals, self.config, []).set_index(["unit_code", "measure_id"])
        out = values.reindex(self.grid)[["value", "numerator", "denominator"]].astype(float)
        out.loc[self.counts, "value"] = out.loc[self.counts, "value"].fillna(0.0)
        return out


def populations(config: Config) -> dict[str, float]:
    """Each leaf unit's population, each division's (``hierarchy.division_populations``) and the
    organisation's (sum of its units', if all are known)."""
    pops = {u.code: float(u.population) if u.population else np.nan for u in config.leaf_units}
    known = [p for p in pops.values() if not np.isnan(p)]
    total = float(sum(known)) if known and len(known) == len(pops) else np.nan
    return pops | division_populations(config) | {TOTAL: total}


def comparison_table(daily: pd.DataFrame, config: Config, windows: list[Window],
                     starts: HistoryStarts) -> pd.DataFrame:
    """Per unit × reported measure × window: this span, one and two years back, and the multi-year mean.

    ``daily`` is ``measures.daily_measures`` output covering at least ``baseline_years`` (and
    two) years before the earliest window. Columns: ``COMPARISON_COLUMNS``. ``baseline_total``
    and ``baseline_days`` are the sums over the years the baseline rests on (for the test).
    """
    settings = config.analysis
    index = _DailyIndex(daily, config)
    depth = max(2, settings.baseline_years)
    codes = index.grid.get_level_values("unit_code")
    history = starts.for_rows(pd.Series(codes), pd.Series(index.grid.get_level_values("measure_id")))
    history.index = index.grid
    pops = codes.map(populations(config)).to_numpy(dtype=float)
    kinds = index.grid.get_level_values("measure_id").map({m.id: m.kind for m in config.measures})
    per_person = np.where(kinds == "count", settings.per_population / pops, np.nan)
    parts = []
    for w in windows:
        current = index.values(w.start, w.end)
        frame = pd.DataFrame({"window": w.key, "window_label": w.label, "start": w.start, "end": w.end,
                              "days": float(w.days), "current": current["value"],
                              "numerator": current["numerator"], "denominator": current["denominator"]},
                             index=index.grid)
        yearly, days = [], []
        for k in range(1, depth + 1):
            first, last = years_back(w, k, config.cadence)
            covered = (history <= pd.Timestamp(first)).to_numpy()
            value = index.values(first, last)["value"].where(covered)
            span_days = float((last - first).days + 1)
            if k <= 2:
                name = "last_year" if k == 1 else "two_years_ago"
                frame[f"{name}_start"], frame[f"{name}_end"], frame[name] = first, last, value
                if k == 1:
                    frame["last_year_days"] = span_days
            if k <= settings.baseline_years:
                yearly.append(value.to_numpy(dtype=float))
                days.append(np.where(covered, span_days, np.nan))
        stack, day_stack = np.vstack(yearly), np.vstack(days)
        used = (~np.isnan(stack)).sum(axis=0)
        with np.errstate(invalid="ignore"):
            frame["baseline_total"] = np.where(used > 0, np.nansum(stack, axis=0), np.nan)
            frame["baseline_days"] = np.where(used > 0, np.nansum(np.where(np.isnan(stack), np.nan, day_stack),
                                                                  axis=0), np.nan)
            frame["baseline"] = frame["baseline_total"] / np.where(used > 0, used, np.nan)
        frame["baseline_years"] = used
        frame["population"] = pops
        for column in ("current", "last_year", "two_years_ago", "baseline"):
            frame[f"{column}_rate"] = frame[column] * per_person
        parts.append(frame.reset_index())
    return pd.concat(parts, ignore_index=True)[COMPARISON_COLUMNS]


def analysis_start(config: Config, windows: list[Window], spc_start: date) -> date:
    """The first day the analysis needs: the SPC span and every window's comparison years."""
    depth = max(2, config.analysis.baseline_years)
    starts = [spc_start] + [years_back(w, k, config.cadence)[0] for w in windows for k in range(1, depth + 1)]
    year = [w for w in windows if w.key == "ytd"]
    if year:  # the trajectory's baseline years run from the year's start
        starts.append(shift_years(year[0].start, depth))
    return min(starts)
