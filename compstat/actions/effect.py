"""Did it work? The linked measure before and after an action was raised, tested as the analysis tests.

Once an action linked to a count measure is due, its unit's count in the ``days`` after the
meeting period that raised it is compared with the same number of days up to and including
that period's end (``days`` = the days since then, at most ``accountability.effect_max_days``,
at least 7). The test is the analysis's exact Poisson rate-ratio test
(``compstat.analysis.significance.rate_ratio_test``) with the same confidence level and the
unit's over-dispersion estimated from the 52 weeks before the action; a change is called
when the p-value is below 1 − confidence. Rates and supplied values are not assessed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from compstat.analysis.significance import MIN_PAIRS, rate_ratio_test, successive_difference_dispersion
from compstat.config import Config

MIN_DAYS = 7
HISTORY_WEEKS = 52
EFFECT_COLUMNS = ["effect", "effect_text", "effect_before", "effect_after", "effect_days", "effect_ratio",
                  "effect_p"]
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

    @property
    def text(self) -> str:
        if self.verdict in (TOO_EARLY, NOT_ASSESSED, ""):
            return self.verdict
        counts = f"{self.after:g} in the {self.days} days after vs {self.before:g} in the {self.days} days before"
        if self.verdict == NO_EVENTS:
            return f"{self.verdict} ({counts})"
        caveat = "; small numbers" if self.small_numbers else ""
        return f"{self.verdict}: {counts} (rate ratio {self.ratio:.2f}, p = {self.p_value:.3f}{caveat})"


def effect_days(raised_on: date, period_end: date, max_days: int) -> int:
    """Days in each of the before and after windows: the days since ``raised_on``, capped."""
    return max(0, min((period_end - raised_on).days, max_days))


def judge_effect(before: float, after: float, days: int, polarity: str, *, confidence: float = 0.95,
                 dispersion: float = 1.0, small_number: int = 10) -> Effect:
    """Compare equal windows of ``days`` days before and after; verdict by the measure's polarity."""
    if days < MIN_DAYS:
        return Effect(TOO_EARLY, before, after, days)
    if before + after == 0:
        return Effect(NO_EVENTS, before, after, days)
    test = rate_ratio_test(after, before, days, days, dispersion, confidence).iloc[0]
    ratio, p_value = float(test["rate_ratio"]), float(test["p_value"])
    small = before < small_number and after < small_number
    if not p_value < 1 - confidence:
        return Effect(NO_CHANGE, before, after, days, ratio, p_value, small)
    up = after > before
    if polarity == "neutral":
        verdict = CHANGED
    else:
        verdict = WORSENED if up == (polarity == "lower") else IMPROVED
    return Effect(verdict, before, after, days, ratio, p_value, small)


def action_effects(log: pd.DataFrame, daily: pd.DataFrame, config: Config, period_end: date,
                   meeting: date) -> pd.DataFrame:
    """``EFFECT_COLUMNS`` for each action in ``log`` (same index), from daily measure totals.

    ``daily`` holds unit_code, measure_id, date, total (``analysis.measures.daily_measures``).
    Blank for actions with no measure or not yet due.
    """
    measures = {m.id: m for m in config.measures}
    settings = config.accountability
    rows = []
    for row in log.to_dict(orient="records"):
        measure = measures.get(str(row["measure_id"])) if isinstance(row["measure_id"], str) else None
        if measure is None or pd.Timestamp(row["due_date"]).date() > meeting:
            rows.append(Effect(""))
            continue
        if measure.kind != "count":
            rows.append(Effect(NOT_ASSESSED))
            continue
        raised_on = pd.Timestamp(row["raised_on"]).date()
        days = effect_days(raised_on, period_end, settings.effect_max_days)
        mine = daily[(daily["unit_code"] == row["unit_code"]) & (daily["measure_id"] == measure.id)]
        before = _total(mine, raised_on - timedelta(days=days - 1), raised_on)
        after = _total(mine, raised_on + timedelta(days=1), raised_on + timedelta(days=days))
        phi = _dispersion(mine, raised_on) if config.analysis.overdispersion else 1.0
        rows.append(judge_effect(before, after, days, measure.polarity, confidence=config.analysis.confidence,
                                 dispersion=phi, small_number=config.small_number))
    return pd.DataFrame({
        "effect": [e.verdict for e in rows], "effect_text": [e.text for e in rows],
        "effect_before": [e.before for e in rows], "effect_after": [e.after for e in rows],
        "effect_days": [e.days for e in rows], "effect_ratio": [e.ratio for e in rows],
        "effect_p": [e.p_value for e in rows],
    }, index=log.index, columns=EFFECT_COLUMNS)


def history_start(raised_on: date, max_days: int) -> date:
    """The first day ``action_effects`` needs for an action raised on ``raised_on``."""
    return raised_on - timedelta(days=max(max_days, HISTORY_WEEKS * 7) + 7)


def _total(frame: pd.DataFrame, first: date, last: date) -> float:
    dates = frame["date"]
    return float(frame.loc[(dates >= pd.Timestamp(first)) & (dates <= pd.Timestamp(last)), "total"].sum())


def _dispersion(frame: pd.DataFrame, raised_on: date) -> float:
    """φ of the weekly counts in the year up to ``raised_on`` (1 when there are too few weeks)."""
    end = pd.Timestamp(raised_on)
    start = end - pd.Timedelta(days=HISTORY_WEEKS * 7 - 1)
    recent = frame[(frame["date"] >= start) & (frame["date"] <= end)]
    if recent.empty:
        return 1.0
    week = ((recent["date"] - start).dt.days // 7).to_numpy()
    weekly = np.bincount(week, weights=recent["total"].to_numpy(dtype=float), minlength=HISTORY_WEEKS)
    phi, pairs = successive_difference_dispersion(weekly)
    if pairs < MIN_PAIRS or math.isnan(phi):
        return 1.0
    return max(1.0, phi)
