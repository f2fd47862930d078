"""Targets and trajectories: the planned path to each target, the year-end projection and a delivery rating.

A target (``measures[].target``) is for the configured year (``cadence.year_start_month``)
the period belongs to (a week: the year holding most of its days, so 2026-W53 is assessed as
the end of 2026, with the year to date clipped at 31 December).

**Whose target.** ``value`` is the organisation's (``_total``); ``units`` gives units their
own values. A unit without its own value gets ``value`` unchanged when that is scale-free (a
rate's or value's level, any floor of a rate or value, and a reduction's percentage). A
count's ``level`` or ``floor`` is organisation-sized, so it is shared out: the remainder
(``value`` less the units' own values) goes to the other units in proportion to their
baseline (the year the target's ``baseline`` names), so the units' targets add up to the
organisation's. A unit without a baseline year (new in the data) gets no count target.
``target_basis`` says which rule applied.

**Counts** (level or reduction). The year's target total is ``value`` (level) or the baseline
year's total × (1 − value/100) (reduction), the baseline being last year or the mean of the
last ``analysis.baseline_years`` years the unit's history covers (``target.baseline``). The
planned path follows the baseline's seasonal shape: planned to date = target total × the
share of the baseline's year recorded by the same date (a straight line by days without a
baseline). The projection scales the rest of the baseline year by this year's ratio to date,
``Ŷ = A + (A / B_to_date) × B_rest`` (without a baseline, the rate so far carried on), with
variance ``φ·R̂ + (B_rest / B_to_date)²·φ·A`` (future counts plus the ratio's uncertainty).

**Rates and values** (level or reduction). The target level is ``value`` or the baseline
year's level × (1 − value/100); the path runs in a straight line from the baseline level to
the target by the year end. The projected year-end level blends the year to date with the
mean of the last ``RECENT_PERIODS`` periods by the share of the year left; its interval comes
from the spread of those recent values.

**Floors** (any kind) are a standard each period must meet: the projection is the SPC mean
and the interval the process limits, so the rating follows the Making Data Count assurance.

**Delivery confidence** (the Prime Minister's Delivery Unit's four ratings), with
``confidence`` (default 95%) intervals: green when even the interval's worse end meets the
target; amber-green when the projection meets it but the worse end does not; amber-red when
the projection misses but the better end meets it; red when even the better end misses.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from compstat.analysis.baselines import HistoryStarts
from compstat.config import Config, Measure, Target
from compstat.figures import TOTAL, measure_values
from compstat.periods import Period, period_containing, period_year_start, shift_years

GREEN, AMBER_GREEN, AMBER_RED, RED = "green", "amber-green", "amber-red", "red"
RATINGS = (GREEN, AMBER_GREEN, AMBER_RED, RED)
RECENT_PERIODS = {"weekly": 13, "monthly": 3}
PLAN_COLUMNS = [
    "unit_code", "measure_id", "kind", "target_kind", "target_value", "target_basis", "baseline_basis",
    "baseline_value",
    "baseline_years", "target_level", "period_target", "year_start", "year_end",
]
TRAJECTORY_COLUMNS = [
    "unit_code", "measure_id", "target_kind", "target_value", "target_basis", "target_level", "baseline_value",
    "year_end",
    "planned_to_date", "actual_to_date", "on_track", "projection", "projection_low", "projection_high",
    "confidence", "rule",
]
Record = dict[Any, Any]  # one row of a frame, as to_dict("records") gives it
PATH_COLUMNS = ["unit_code", "measure_id", "period_start", "period_end", "planned", "actual"]


def year_span(period: Period, config: Config) -> tuple[date, date]:
    """The configured year ``period`` belongs to (a week: the year holding most of its days), first and last day."""
    first = period_year_start(period, config.cadence)
    return first, date(first.year + 1, first.month, 1) - timedelta(days=1)


class _Cumulative:
    """Running daily totals per (unit, measure) from ``first`` to ``last``, for totals over any span."""

    def __init__(self, daily: pd.DataFrame, measure_ids: list[str], first: date, last: date) -> None:
        days = pd.date_range(first, last, freq="D")
        rows = daily[daily["measure_id"].isin(measure_ids) & (daily["date"] >= days[0]) & (daily["date"] <= days[-1])]
        self.first = first
        if rows.empty:
            self.values, self.columns = np.zeros((len(days), 0)), {}
            return
        wide = rows.pivot_table(index="date", columns=["unit_code", "measure_id"], values="total", aggfunc="sum")
        self.values = wide.reindex(days).fillna(0.0).cumsum().to_numpy(dtype=float)
        keys: list[Any] = list(wide.columns)
        self.columns = {(str(u), str(m)): i for i, (u, m) in enumerate(keys)}

    def total(self, key: tuple[str, str], start: date, end: date) -> float:
        """The total over ``start``..``end`` (clipped to the frame's days; 0 for a unit × measure it lacks)."""
        column = self.columns.get(key)
        if column is None or end < start or not len(self.values):
            return 0.0
        high = min((end - self.first).days, len(self.values) - 1)
        low = (start - self.first).days - 1
        before = self.values[low, column] if low >= 0 else 0.0
        return float(self.values[high, column] - before) if high >= 0 else 0.0


def target_plans(daily: pd.DataFrame, config: Config, period: Period,
                 history: HistoryStarts) -> pd.DataFrame:
    """Per unit × measure with a target: the baseline, the year's target level and the per-period target.

    ``target_level`` is the year's total for counts (level, reduction) and the level for rates
    and values; ``period_target`` is the same per period (a count total spread evenly over the
    year's periods), used for the SPC assurance icon. Which value applies to which unit is the
    module docstring's rule; ``target_value`` is the value it starts from and ``target_basis``
    says which in words. Columns: ``PLAN_COLUMNS``.
    """
    first, last = year_span(period, config)
    depth = config.analysis.baseline_years
    measures = [m for m in config.reported_measures if m.target is not None]
    leaves = [u.code for u in config.leaf_units]
    rows = []
    year_days = (last - first).days + 1
    per_period = 7 / year_days if config.cadence.period == "weekly" else 1 / 12
    sliced = {k: _year_values(daily, config, shift_years(first, k), shift_years(last, k)) for k in range(1, depth + 1)}
    for m in measures:
        target = m.target
        assert target is not None
        years = [1] if target.baseline == "last_year" else list(range(1, depth + 1))
        baselines: dict[str, tuple[float, int]] = {}
        for unit in [*leaves, TOTAL]:
            start = history.of(unit, m.id)
            covered = [k for k in years if pd.notna(start) and start <= pd.Timestamp(shift_years(first, k))]
            levels = [sliced[k].get((unit, m.id), np.nan) for k in covered]
            baseline = float(np.nanmean(levels)) if levels and not np.all(np.isnan(levels)) else np.nan
            baselines[unit] = (baseline, len(covered))
        values = _unit_target_values(m, leaves, {u: b for u, (b, _) in baselines.items()})
        for unit, (baseline, covered_years) in baselines.items():
            value, basis = values[unit]
            if target.kind == "reduction":
                level = baseline * (1 - value / 100)
            else:
                level = value
            if target.kind == "floor" or m.kind != "count":
                period_target = level
            else:
                period_target = level * per_period
            rows.append((unit, m.id, m.kind, target.kind, _start_value(target, unit, basis), _basis_text(
                target, unit, basis, level), target.baseline, baseline, covered_years, level, period_target,
                first, last))
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


def _unit_target_values(measure: Measure, leaves: list[str],
                        baselines: dict[str, float]) -> dict[str, tuple[float, str]]:
    """Each unit's (value, basis): ``own``, ``organisation``, ``every unit``, ``share`` or ``none``.

    A count's level or floor is organisation-sized: a unit without its own value gets the
    remainder (organisation's value less the units' own values) in proportion to its baseline
    among the units without their own value (``share``; the value returned is the unit's level).
    """
    target = measure.target
    assert target is not None
    out: dict[str, tuple[float, str]] = {TOTAL: (target.value, "organisation")}
    sized = measure.kind == "count" and target.kind in ("level", "floor")
    rest = [u for u in leaves if u not in target.units]
    remainder = target.value - sum(target.units.values())
    pool = float(np.nansum([baselines[u] for u in rest])) if rest else 0.0
    for unit in leaves:
        if unit in target.units:
            out[unit] = (target.units[unit], "own")
        elif not sized:
            out[unit] = (target.value, "every unit")
        elif remainder >= 0 and pool > 0 and not np.isnan(baselines[unit]):
            out[unit] = (remainder * baselines[unit] / pool, "share")
        else:
            out[unit] = (np.nan, "none")
    return out


def _start_value(target: Target, unit: str, basis: str) -> float:
    """The configured value a unit's target starts from (the organisation's for a share)."""
    return target.units[unit] if basis == "own" else target.value


def _basis_text(target: Target, unit: str, basis: str, level: float) -> str:
    """Where a unit's target comes from, in words."""
    if basis == "own":
        return "the unit's own target"
    if basis == "organisation":
        return "the organisation's target"
    if basis == "every unit":
        return "the target every unit shares"
    own = sum(target.units.values())
    remainder = target.value - own
    after = f" left after the units with their own targets ({own:,.4g})" if target.units else ""
    if basis == "share":
        return (f"a share of the organisation's {remainder:,.4g}{after}, by the unit's share of the baseline "
                f"year ({level:,.4g})")
    if remainder < 0:
        return f"no target: the units' own targets ({own:,.4g}) exceed the organisation's ({target.value:,.4g})"
    return "no target: the unit has no baseline year to share the organisation's target by"


def _year_values(daily: pd.DataFrame, config: Config, first: date, last: date) -> dict[tuple[str, str], float]:
    rows = daily[(daily["date"] >= pd.Timestamp(first)) & (daily["date"] <= pd.Timestamp(last))]
    totals = rows.groupby(["unit_code", "measure_id"], as_index=False)[["total", "n"]].sum()
    values = measure_values(totals, config, [])
    return {(str(u), str(m)): float(v) for u, m, v in values[["unit_code", "measure_id", "value"]].itertuples(
        index=False)}


def rate_delivery(projection: float, low: float, high: float, target: float, lower_is_better: bool) -> tuple[str,
                                                                                                             str]:
    """The delivery rating and the rule that produced it, from a projection, its interval and the target."""
    if any(np.isnan(v) for v in (projection, low, high, target)):
        return "", "no projection: not enough data"

    def meets(value: float) -> bool:
        return value <= target if lower_is_better else value >= target

    worse, better = (high, low) if lower_is_better else (low, high)
    if meets(worse):
        return GREEN, "even the worse end of the interval meets the target"
    if meets(projection):
        return AMBER_GREEN, "the projection meets the target, but the worse end of the interval does not"
    if meets(better):
        return AMBER_RED, "the projection misses the target, but the better end of the interval meets it"
    return RED, "even the better end of the interval misses the target"


def _floor_rating(assurance: str | None, mean: float, floor: float, lower_is_better: bool) -> tuple[str, str]:
    meets = mean <= floor if lower_is_better else mean >= floor
    if assurance == "consistently_passing":
        return GREEN, "the process limits lie wholly on the right side of the standard: it is met every period"
    if assurance == "consistently_failing":
        return RED, "the process limits lie wholly on the wrong side of the standard: it will not be met without change"
    if assurance == "inconsistent":
        if meets:
            return AMBER_GREEN, "the mean meets the standard, but the process limits straddle it (hit and miss)"
        return AMBER_RED, "the mean misses the standard and the process limits straddle it (hit and miss)"
    return "", "no assurance: the chart has no limits yet"


@dataclass(frozen=True)
class _Year:
    """What every trajectory of a cycle shares."""

    config: Config
    period: Period
    first: date
    last: date
    periods: list[Period]
    z: float

    @property
    def day(self) -> date:
        """The last day of the year assessed: the period's end, or the year's end for a week past it."""
        return min(self.period.end, self.last)

    @property
    def elapsed(self) -> int:
        return (self.day - self.first).days + 1

    @property
    def total_days(self) -> int:
        return (self.last - self.first).days + 1

    def linear(self, start: float, end: float) -> Callable[[date], float]:
        """A straight path from ``start`` at the year's start to ``end`` at its end, by days."""
        return functools.partial(_linear, self.first, self.total_days, start, end)

    def interval_text(self, projection: float, low: float, high: float, level: float, digits: str) -> str:
        """``projected 104 (95% interval 96 to 111) against a target of 98``; the projection and the
        target get the precision that tells them apart (``distinct_figures``: 103.7 against 103.5)."""
        shown, target = distinct_figures(projection, level, digits)
        return (f"projected {shown} ({self.config.analysis.confidence:.0%} interval {low:,{digits}} "
                f"to {high:,{digits}}) against a target of {target}")


MAX_EXTRA_DIGITS = 3


def distinct_figures(first: float, second: float, spec: str = ".0f") -> tuple[str, str]:
    """``first`` and ``second`` formatted by ``spec`` (``.0f``, ``.4g``; thousands separated), with as many
    more digits (up to ``MAX_EXTRA_DIGITS``) as it takes for two different numbers not to read the same:
    103.7 and 103.5 are "103.7" and "103.5", not "104" and "104". Equal numbers stay as ``spec`` gives them."""
    kind, precision = spec[-1], int(spec[1:-1] or 0)
    texts = (f"{first:,{spec}}", f"{second:,{spec}}")
    if texts[0] != texts[1] or first == second or math.isnan(first) or math.isnan(second):
        return texts
    for extra in range(1, MAX_EXTRA_DIGITS + 1):
        texts = (f"{first:,.{precision + extra}{kind}}", f"{second:,.{precision + extra}{kind}}")
        if texts[0] != texts[1]:
            break
    return texts


def _linear(first: date, total_days: int, start: float, end: float, day: date) -> float:
    return start + (end - start) * ((day - first).days + 1) / total_days


def trajectory_table(daily: pd.DataFrame, series: pd.DataFrame, comparisons: pd.DataFrame, plans: pd.DataFrame,
                     spc_latest: pd.DataFrame, dispersion: pd.DataFrame, config: Config,
                     period: Period) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The trajectory assessment per planned unit × measure, and each one's path through the year.

    ``series`` is the history-only period series; ``comparisons`` gives the year to date.
    Returns (trajectory with ``TRAJECTORY_COLUMNS``, path with ``PATH_COLUMNS``: cumulative
    counts for count targets, period values for rates, values and floors).
    """
    if plans.empty:
        return pd.DataFrame(columns=TRAJECTORY_COLUMNS), pd.DataFrame(columns=PATH_COLUMNS)
    settings = config.analysis
    first, last = year_span(period, config)
    year = _Year(config, period, first, last, _year_periods(config, first, last),
                 float(stats.norm.ppf(0.5 + settings.confidence / 2)))
    ytd = _by_key(comparisons[comparisons["window"] == "ytd"], "current")
    phis = _by_key(dispersion, "dispersion")
    latest = {(str(r["unit_code"]), str(r["measure_id"])): r for r in spc_latest.to_dict("records")}
    count_ids = sorted(set(plans.loc[(plans["kind"] == "count") & (plans["target_kind"] != "floor"), "measure_id"]))
    depth = settings.baseline_years
    cumulative = {k: _Cumulative(daily, count_ids, shift_years(first, k), shift_years(last, k))
                  for k in range(1, depth + 1)}
    this_year = _Cumulative(daily, count_ids, first, min(period.end, last))
    keys = ["unit_code", "measure_id"]
    planned = pd.MultiIndex.from_frame(series[keys].astype(str)).isin(pd.MultiIndex.from_frame(plans[keys].astype(str)))
    values_by_key = {(str(k[0]), str(k[1])): g for k, g in series[planned].sort_values(
        [*keys, "period_start"], kind="stable").groupby(keys, sort=False)}
    rows, paths = [], []
    for plan in plans.to_dict("records"):
        key = (str(plan["unit_code"]), str(plan["measure_id"]))
        measure = config.measure(key[1])
        actual = ytd.get(key, np.nan)
        values = values_by_key.get(key)
        if measure.polarity == "neutral":
            rows.append(_row(plan, np.nan, actual, (np.nan, np.nan, np.nan), "",
                             "a neutral measure has no direction to judge a target by"))
        elif plan["target_kind"] == "floor":
            row, path = _floor(plan, year, actual, latest.get(key), values, measure.polarity == "lower")
            rows.append(row)
            paths.append(path)
        elif measure.kind == "count":
            phi = max(phis.get(key, 1.0), 1.0) if settings.overdispersion else 1.0
            shape = _BaselineShape(cumulative, key, _covered_years(plan, depth), first, last, year.total_days)
            row, path = _count(plan, year, actual, shape, this_year, 1.0 if np.isnan(phi) else phi,
                               measure.polarity == "lower")
            rows.append(row)
            paths.append(path)
        else:
            row, path = _level(plan, year, actual, values, measure.polarity == "lower")
            rows.append(row)
            paths.append(path)
    path = pd.concat([p for p in paths if not p.empty], ignore_index=True) if paths else pd.DataFrame()
    return pd.DataFrame(rows, columns=TRAJECTORY_COLUMNS), path.reindex(columns=PATH_COLUMNS)


def _by_key(frame: pd.DataFrame, column: str) -> dict[tuple[str, str], float]:
    return {(str(u), str(m)): float(v) for u, m, v in frame[["unit_code", "measure_id", column]].itertuples(
        index=False)}


def _floor(plan: Record, year: _Year, actual: float, chart: Record | None, values: pd.DataFrame | None,
           lower: bool) -> tuple[dict[str, object], pd.DataFrame]:
    """A standard every period must meet, judged by the SPC assurance."""
    level = float(plan["target_level"])
    mean, low, high, latest = (float(chart[c]) if chart else np.nan for c in ("mean", "lpl", "upl", "y"))
    rating, why = _floor_rating(chart["assurance"] if chart else None, mean, level, lower)
    text = (f"standard {level:,.4g} each period; SPC mean {mean:,.4g}, process limits {low:,.4g} to {high:,.4g}: "
            f"{why}") if rating else why
    row = _row(plan, level, actual, (mean, low, high), rating, text, on_track=_meets(latest, level, lower))
    return row, _value_path(values, year.periods, year.linear(level, level), plan)


def _count(plan: Record, year: _Year, actual: float, shape: _BaselineShape, this_year: _Cumulative,
           phi: float, lower: bool) -> tuple[dict[str, object], pd.DataFrame]:
    """A year's total: planned by the baseline's seasonal shape, projected from the ratio to date."""
    level = float(plan["target_level"])
    period = year.period
    interval = count_projection(actual, shape.to_date(year.day), shape.total, year.elapsed,
                                year.total_days - year.elapsed, phi, year.z)
    planned = level * shape.share(year.day)
    rating, why = rate_delivery(*interval, level, lower)
    if rating:
        text = f"{year.interval_text(*interval, level, '.0f')}: {why}"
    else:
        basis = str(plan["target_basis"])
        text = (basis if basis.startswith("no target") else "no target level: the unit has no baseline year") \
            if np.isnan(level) else why
    row = _row(plan, planned, actual, interval, rating, text, on_track=_meets(actual, planned, lower))
    rows = []
    for p in year.periods:
        end = min(p.end, year.last)
        done = this_year.total((plan["unit_code"], plan["measure_id"]), year.first, end) if p.end <= period.end \
            else np.nan
        rows.append((plan["unit_code"], plan["measure_id"], pd.Timestamp(p.start), pd.Timestamp(end),
                     level * shape.share(end), done))
    return row, pd.DataFrame(rows, columns=PATH_COLUMNS)


def _level(plan: Record, year: _Year, actual: float, values: pd.DataFrame | None,
           lower: bool) -> tuple[dict[str, object], pd.DataFrame]:
    """A rate's or value's year-end level: a straight path, the year to date blended with recent periods."""
    level, baseline = float(plan["target_level"]), float(plan["baseline_value"])
    fraction = year.elapsed / year.total_days
    start = level if np.isnan(baseline) else baseline
    planned = start + (level - start) * fraction
    recent = (values["value"].dropna().tail(RECENT_PERIODS[year.config.cadence.period]) if values is not None
              else pd.Series(dtype=float))
    interval: tuple[float, float, float] = (np.nan, np.nan, np.nan)
    if len(recent) >= 2 and not np.isnan(actual):
        remaining = max(1, sum(1 for p in year.periods if p.end > year.period.end))
        projection = fraction * actual + (1 - fraction) * float(recent.mean())
        sd = (1 - fraction) * float(recent.std(ddof=1)) * float(np.sqrt(1 / len(recent) + 1 / remaining))
        interval = (projection, projection - year.z * sd, projection + year.z * sd)
    rating, why = rate_delivery(*interval, level, lower)
    text = f"{year.interval_text(*interval, level, '.4g')}: {why}" if rating else why
    row = _row(plan, planned, actual, interval, rating, text, on_track=_meets(actual, planned, lower))
    return row, _value_path(values, year.periods, year.linear(start, level), plan)


def count_projection(actual: float, base_to_date: float, base_total: float, elapsed_days: int, rest_days: int,
                     dispersion: float, z: float) -> tuple[float, float, float]:
    """Year-end count: projection, low, high (see the module docstring).

    With a baseline (``base_to_date`` > 0), the rest of the baseline year scaled by this year's
    ratio to date; without one (NaN or 0), the daily rate so far carried on for ``rest_days``.
    The low end is never below the count already recorded.
    """
    if np.isnan(actual):
        return np.nan, np.nan, np.nan
    if base_to_date > 0 and base_total >= base_to_date:
        rest, scale = base_total - base_to_date, (base_total - base_to_date) / base_to_date
        remainder = actual / base_to_date * rest
    else:
        scale = rest_days / elapsed_days
        remainder = actual * scale
    projection = actual + remainder
    sd = float(np.sqrt(dispersion * remainder + scale ** 2 * dispersion * actual))
    return projection, max(actual, projection - z * sd), projection + z * sd


class _BaselineShape:
    """The baseline year's cumulative share by date (straight line by days without a baseline)."""

    def __init__(self, cumulative: dict[int, _Cumulative], key: tuple[str, str], covered: list[int], first: date,
                 last: date, total_days: int) -> None:
        self.cumulative, self.key, self.covered, self.first, self.total_days = (cumulative, key, covered, first,
                                                                               total_days)
        self.total = self.to_date(last) if covered else np.nan
        self.seasonal = bool(covered) and self.total > 0

    def to_date(self, day: date) -> float:
        """Mean baseline count from the year's start to the same date (NaN without a baseline)."""
        if not self.covered:
            return np.nan
        return _mean([self.cumulative[k].total(self.key, shift_years(self.first, k), shift_years(day, k))
                      for k in self.covered])

    def share(self, day: date) -> float:
        if self.seasonal:
            return self.to_date(day) / self.total
        return ((day - self.first).days + 1) / self.total_days


def _covered_years(plan: Record, depth: int) -> list[int]:
    years = [1] if plan["baseline_basis"] == "last_year" else list(range(1, depth + 1))
    return years[: int(plan["baseline_years"])]


def _mean(values: list[float]) -> float:
    return float(np.mean(values)) if values else np.nan


def _meets(value: float, target: float, lower_is_better: bool) -> bool | None:
    if value is None or np.isnan(value) or np.isnan(target):
        return None
    return bool(value <= target) if lower_is_better else bool(value >= target)


def _row(plan: Record, planned: float, actual: float, interval: tuple[float, float, float],
         rating: str, rule: str, on_track: bool | None = None) -> dict[str, object]:
    return {
        "unit_code": plan["unit_code"], "measure_id": plan["measure_id"], "target_kind": plan["target_kind"],
        "target_value": plan["target_value"], "target_basis": plan["target_basis"],
        "target_level": plan["target_level"],
        "baseline_value": plan["baseline_value"], "year_end": plan["year_end"], "planned_to_date": planned,
        "actual_to_date": actual, "on_track": on_track, "projection": interval[0], "projection_low": interval[1],
        "projection_high": interval[2], "confidence": rating, "rule": rule,
    }


def _year_periods(config: Config, first: date, last: date) -> list[Period]:
    out = [period_containing(first, config.cadence)]
    while out[-1].end < last:
        out.append(period_containing(out[-1].end + timedelta(days=1), config.cadence))
    return out


def _value_path(values: pd.DataFrame | None, periods: list[Period], planned: Callable[[date], float],
                plan: Record) -> pd.DataFrame:
    by_start = values.set_index("period_start")["value"] if values is not None else pd.Series(dtype=float)
    rows = [(plan["unit_code"], plan["measure_id"], pd.Timestamp(p.start), pd.Timestamp(p.end), planned(p.end),
             float(by_start.get(pd.Timestamp(p.start), np.nan))) for p in periods]
    return pd.DataFrame(rows, columns=PATH_COLUMNS)
