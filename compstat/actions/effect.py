"""Did it work? The linked measure before and after an action was raised, tested as the analysis tests.

Once an action linked to a count measure is due, its unit's count in the ``days`` after the
meeting period that raised it is compared with the same number of days up to and including
that period's end. ``days`` = the days since then that have data for the unit — up to the
period's end and no later than the unit's data as of date (the quality step's: all of its
sources in), at most ``accountability.effect_max_days`` — so both windows are the same length
and fully covered by data; with fewer than ``MIN_DAYS`` (7) such days the verdict is
"too early" ("too early to tell", with the days of data there are). The rules are the
analysis's own (``compstat.analysis.significance``), imported:

- the exact Poisson rate-ratio test (``rate_ratio_test``) at ``analysis.confidence``;
- the over-dispersion φ the analysis would have used for the unit and measure at the meeting
  that raised the action: ``dispersion_table`` over the SPC span of periods up to that meeting
  (with ``analysis.overdispersion``), so a unit with too little history gets the median φ of
  the other units, as in the analysis;
- Benjamini–Hochberg across every action judged at the same meeting (all units): a change is
  called where ``q ≤ analysis.fdr``, as the analysis calls a change significant. The family is
  the meeting's actions, not the analysis's table: the actions are their own question asked
  of the meeting ("which responses worked?"), judged together once per meeting.

Rates and supplied values are not assessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from compstat.analysis.baselines import history_starts
from compstat.analysis.measures import period_series
from compstat.analysis.significance import benjamini_hochberg, dispersion_table, rate_ratio_test
from compstat.analysis.spc_series import chart_start, history_only
from compstat.config import Config
from compstat.periods import period_containing

MIN_DAYS = 7
EFFECT_COLUMNS = ["effect", "effect_text", "effect_before", "effect_after", "effect_days", "effect_ratio",
                  "effect_p", "effect_q"]
IMPROVED, WORSENED, CHANGED = "improved", "worsened", "changed"
NO_CHANGE, NO_EVENTS, TOO_EARLY, NOT_ASSESSED = "no significant change", "no incidents", "too early", "not assessed"


@dataclass(frozen=True)
class Effect:
    """The verdict on one action's measure, with the counts it rests on."""

    verdict: str
    before: float = math.nan
    after: float = math.nan
    days: int = 0
    ratio: float = math.nan
    p_value: float = math.nan
    small_numbers: bool = False
    q_value: float = math.nan

    @property
    def text(self) -> str:
        if self.verdict == TOO_EARLY:
            return (f"too early to tell: {self.days} day{'' if self.days == 1 else 's'} of data since it was "
                    f"raised (at least {MIN_DAYS} needed)")
        if self.verdict in (NOT_ASSESSED, ""):
            return self.verdict
        counts = f"{self.after:g} in the {self.days} days after vs {self.before:g} in the {self.days} days before"
        if self.verdict == NO_EVENTS:
            return f"{self.verdict} ({counts})"
        caveat = "; small numbers" if self.small_numbers else ""
        return (f"{self.verdict}: {counts} (rate ratio {self.ratio:.2f}, p = {self.p_value:.3f}, "
                f"q = {self.q_value:.3f}{caveat})")


def effect_days(raised_on: date, period_end: date, max_days: int, data_as_of: date | None = None,
                data_start: date | None = None) -> int:
    """Days in each of the before and after windows: the days since ``raised_on`` up to ``period_end``
    and, when given, no later than ``data_as_of`` (the last day with data) and no more than the days
    of data up to ``raised_on`` since ``data_start``; capped at ``max_days``."""
    last = period_end if data_as_of is None else min(period_end, data_as_of)
    days = min((last - raised_on).days, max_days)
    if data_start is not None:
        days = min(days, (raised_on - data_start).days + 1)
    return max(0, days)


def judge_effect(before: float, after: float, days: int, polarity: str, *, confidence: float = 0.95,
                 dispersion: float = 1.0, small_number: int = 10, fdr: float = 0.05,
                 q_value: float | None = None) -> Effect:
    """Compare equal windows of ``days`` days before and after; verdict by the measure's polarity.

    ``q_value`` is the action's Benjamini–Hochberg q-value among the actions judged at the
    meeting (``action_effects``); alone, an action is a family of one and q is its p-value.
    """
    if days < MIN_DAYS:
        return Effect(TOO_EARLY, before, after, days)
    if before + after == 0:
        return Effect(NO_EVENTS, before, after, days)
    test = rate_ratio_test(after, before, days, days, dispersion, confidence).iloc[0]
    ratio, p_value = float(test["rate_ratio"]), float(test["p_value"])
    q = p_value if q_value is None else float(q_value)
    small = before < small_number and after < small_number
    if not q <= fdr:
        return Effect(NO_CHANGE, before, after, days, ratio, p_value, small, q)
    up = after > before
    if polarity == "neutral":
        verdict = CHANGED
    else:
        verdict = WORSENED if up == (polarity == "lower") else IMPROVED
    return Effect(verdict, before, after, days, ratio, p_value, small, q)


@dataclass(frozen=True)
class _Counts:
    before: float
    after: float
    days: int
    dispersion: float
    polarity: str


def action_effects(log: pd.DataFrame, daily: pd.DataFrame, config: Config, period_end: date,
                   meeting: date, data_start: date | None = None,
                   data_as_of: dict[str, date] | None = None) -> pd.DataFrame:
    """``EFFECT_COLUMNS`` for each action in ``log`` (same index), from daily measure totals.

    ``daily`` holds unit_code, measure_id, date, total (``analysis.measures.daily_measures``),
    for every unit (the dispersion falls back on the other units) from ``history_start``;
    ``data_start`` is the organisation's first record (default: the first day in ``daily``).
    ``data_as_of``: the last day each unit's data is complete to (``QualityResult.data_as_of``);
    for a unit not in it, the last day ``daily`` holds for that unit. The after-window ends there.
    Blank for actions with no measure or not yet due.
    """
    measures = {m.id: m for m in config.measures}
    settings = config.accountability
    first_record = data_start  # the before-window starts no earlier (when known)
    if data_start is None and not daily.empty:
        data_start = pd.Timestamp(daily["date"].min()).date()
    counted: dict[object, _Counts] = {}
    fixed: dict[object, Effect] = {}
    dispersions: dict[tuple[date, str], dict[str, float]] = {}
    last_days: dict[str, date | None] = {}
    for index, row in zip(log.index, log.to_dict(orient="records"), strict=True):
        measure = measures.get(str(row["measure_id"])) if isinstance(row["measure_id"], str) else None
        if measure is None or pd.Timestamp(row["due_date"]).date() > meeting:
            fixed[index] = Effect("")
            continue
        if measure.kind != "count":
            fixed[index] = Effect(NOT_ASSESSED)
            continue
        raised_on = pd.Timestamp(row["raised_on"]).date()
        unit = str(row["unit_code"])
        if unit not in last_days:
            last_days[unit] = unit_data_as_of(daily, unit, data_as_of)
        days = effect_days(raised_on, period_end, settings.effect_max_days, last_days[unit], first_record)
        mine = daily[(daily["unit_code"] == row["unit_code"]) & (daily["measure_id"] == measure.id)]
        before = _total(mine, raised_on - timedelta(days=days - 1), raised_on)
        after = _total(mine, raised_on + timedelta(days=1), raised_on + timedelta(days=days))
        phi = 1.0
        if config.analysis.overdispersion:
            key = (raised_on, measure.id)
            if key not in dispersions:
                dispersions[key] = unit_dispersions(daily, config, measure.id, raised_on, data_start)
            phi = dispersions[key].get(str(row["unit_code"]), 1.0)
        counted[index] = _Counts(before, after, days, phi, measure.polarity)
    tested = {i: c for i, c in counted.items() if c.days >= MIN_DAYS and c.before + c.after > 0}
    q_values: dict[object, float] = {}
    if tested:
        keys = list(tested)
        tests = rate_ratio_test([tested[k].after for k in keys], [tested[k].before for k in keys],
                                [tested[k].days for k in keys], [tested[k].days for k in keys],
                                [tested[k].dispersion for k in keys], config.analysis.confidence)
        q_values = dict(zip(keys, benjamini_hochberg(tests["p_value"].to_numpy()).tolist(), strict=True))
    rows = []
    for index in log.index:
        if index in fixed:
            rows.append(fixed[index])
            continue
        c = counted[index]
        rows.append(judge_effect(c.before, c.after, c.days, c.polarity, confidence=config.analysis.confidence,
                                 dispersion=c.dispersion, small_number=config.small_number,
                                 fdr=config.analysis.fdr, q_value=q_values.get(index)))
    return pd.DataFrame({
        "effect": [e.verdict for e in rows], "effect_text": [e.text for e in rows],
        "effect_before": [e.before for e in rows], "effect_after": [e.after for e in rows],
        "effect_days": [e.days for e in rows], "effect_ratio": [e.ratio for e in rows],
        "effect_p": [e.p_value for e in rows], "effect_q": [e.q_value for e in rows],
    }, index=log.index, columns=EFFECT_COLUMNS)


def unit_data_as_of(daily: pd.DataFrame, unit: str, data_as_of: dict[str, date] | None = None) -> date | None:
    """The last day ``unit``'s data is in: ``data_as_of[unit]`` when given, else its last day in ``daily``
    (None when it has none)."""
    if data_as_of is not None and unit in data_as_of:
        return data_as_of[unit]
    days = daily.loc[daily["unit_code"] == unit, "date"]
    return None if days.empty else pd.Timestamp(days.max()).date()


def unit_dispersions(daily: pd.DataFrame, config: Config, measure_id: str, raised_on: date,
                     data_start: date | None = None) -> dict[str, float]:
    """φ per unit for ``measure_id`` as the analysis of the meeting period ending ``raised_on``
    estimated it (``significance.dispersion_table`` over the SPC span up to that period)."""
    raised = period_containing(raised_on, config.cadence)
    first = chart_start(config, raised)
    of_measure = daily[daily["measure_id"] == measure_id]
    if of_measure.empty:
        return {}
    series = period_series(of_measure, config, first, raised.end)
    series = series[series["measure_id"] == measure_id]
    series = history_only(series, history_starts(of_measure, data_start, first))
    table = dispersion_table(series, config)
    return {str(u): float(phi) for u, phi in zip(table["unit_code"], table["dispersion"], strict=True)
            if not np.isnan(phi)}


def history_start(raised_on: date, max_days: int, config: Config) -> date:
    """The first day ``action_effects`` needs for an action raised on ``raised_on``: the SPC span
    of the raising period (for the dispersion) and the window before it."""
    first = chart_start(config, period_containing(raised_on, config.cadence))
    return min(first, raised_on - timedelta(days=max_days))


def _total(frame: pd.DataFrame, first: date, last: date) -> float:
    dates = frame["date"]
    return float(frame.loc[(dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last)), "total"].sum())
