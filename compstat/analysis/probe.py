"""What to probe and what to recognise: findings across units and measures, ranked, in plain words.

A **finding** is one unit × measure × direction (concern or improvement) with at least one
piece of evidence:

- ``change``: a significant change on the unit's own history (``significance``: q ≤ fdr), in
  the worse (concern) or better (improvement) direction for the measure's polarity;
- ``spc``: the latest period is a special cause on the unit's SPC chart (concern or improvement),
  and the headline window moves the same way against last year: a special cause that last
  year shows too is the season (SPC charts are not seasonally adjusted), not a change;
- ``trajectory`` (concerns only): the delivery rating is red or amber-red;
- ``peers`` (concerns only): significantly worse than similar units.

Neutral measures (activity) give no findings. Improvements come from the unit's own history
only, so recognition goes to the most improved, not to the best.

**Score** = priority × size × certainty × (1 + ln(1 + persistence)) × lens, where

- priority: ``analysis.measure_priority`` for the measure (default 1);
- size: |ln(rate ratio)| of the headline comparison, capped at ln 4 (a doubling or a halving
  is 0.69); the headline is a significant change — in ``analysis.headline_window`` (default 28
  days, or 3 months), else the period, else the year to date; against last year before the
  multi-year baseline — else the latest period against the SPC mean, else the projection
  against the target, else the unit against its peers;
- certainty: 1 − q for a change; 0.95 for SPC, trajectory or peer evidence (judged at about
  that level); the highest over the evidence;
- persistence: how many periods in a row the SPC chart has shown this special cause (0 if none);
- lens: 0.5 when the only evidence is the peer comparison (a second lens), else 1.
"""

from __future__ import annotations

import math
from collections import defaultdict
from typing import Any

import numpy as np
import pandas as pd

from compstat.analysis.measures import TOTAL
from compstat.analysis.peers import ABOVE
from compstat.analysis.spc import CONCERN, IMPROVEMENT
from compstat.analysis.trajectory import AMBER_RED, RED
from compstat.config import Config, Measure

CONCERN_DIRECTION = "concern"
IMPROVEMENT_DIRECTION = "improvement"
MAX_SIZE = math.log(4)
JUDGED_CERTAINTY = 0.95
PEER_LENS = 0.5
FINDING_COLUMNS = [
    "rank", "unit_code", "unit_name", "measure_id", "measure_name", "direction", "score", "priority", "size",
    "certainty", "persistence", "evidence", "window", "basis", "current", "comparison", "pct_change", "q_value",
    "small_numbers", "variation", "periods_running", "peer_label", "delivery", "reason", "explanation", "question",
]
EXPLANATIONS = {
    "change": ("Compared with the same period in earlier years. 'Significant' means a change this large would "
               "rarely happen by chance, after allowing for crime's natural ups and downs and for the many "
               "comparisons made."),
    "spc": ("The chart (SPC) shows the range the unit's own history makes normal. A point outside it, or a long "
            "run on one side, is a 'special cause': something has changed (orange: a concern; blue: an "
            "improvement; grey: normal variation)."),
    "trajectory": ("The target's planned path through the year. The rating says how likely the target is to be "
                   "met at the current rate: green, amber-green, amber-red or red."),
    "peers": ("Compared with the average of similar units. 'Significantly' means the gap is larger than chance "
              "would explain; the unit's own history is the first test."),
    "small_numbers": "Small numbers: percentages on a handful of events swing widely, so read the counts.",
}
QUESTIONS = {
    CONCERN_DIRECTION: "What has changed here, what is being done about it, and what support would help?",
    IMPROVEMENT_DIRECTION: "What made the difference, and could other units use it?",
}
_RULE_TEXT = {
    "outside_limits": "outside the process limits",
    "trend": "a run of {trend} {periods}",
    "two_in_three": "2 of 3 {periods} close to a limit",
    "shift": "a run of {periods} {side} average",
}


def rank_findings(significance: pd.DataFrame, spc_latest: pd.DataFrame, peers: pd.DataFrame,
                  trajectory: pd.DataFrame, config: Config) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(concerns, improvements), each ranked by score with ``FINDING_COLUMNS`` (see the module docstring)."""
    context = _Context(config)
    by_key: dict[tuple[str, str], dict[str, list[dict[Any, Any]]]] = defaultdict(lambda: defaultdict(list))
    for name, frame in (("significance", significance), ("spc", spc_latest), ("peers", peers),
                        ("trajectory", trajectory)):
        for record in frame.to_dict("records"):
            by_key[(str(record["unit_code"]), str(record["measure_id"]))][name].append(record)
    found: dict[str, list[dict[str, Any]]] = {CONCERN_DIRECTION: [], IMPROVEMENT_DIRECTION: []}
    for (unit, measure_id), evidence in by_key.items():
        if measure_id not in context.measures or context.measures[measure_id].polarity == "neutral":
            continue
        for direction in (CONCERN_DIRECTION, IMPROVEMENT_DIRECTION):
            finding = _finding(unit, measure_id, direction, evidence, context)
            if finding is not None:
                found[direction].append(finding)
    return _ranked(found[CONCERN_DIRECTION]), _ranked(found[IMPROVEMENT_DIRECTION])


class _Context:
    def __init__(self, config: Config) -> None:
        settings = config.analysis
        self.config = config
        self.measures = {m.id: m for m in config.reported_measures}
        self.names = {u.code: u.name for u in config.leaf_units} | {TOTAL: config.organisation.name}
        self.weekly = config.cadence.period == "weekly"
        self.period_word = "week" if self.weekly else "month"
        self.headline = settings.headline_window or ("28d" if self.weekly else "3m")
        self.window_order = [self.headline] + [w for w in ("period", "28d", "3m", "ytd") if w != self.headline]
        # the headline window first, then from the shortest: the most recent evidence leads
        self.years = settings.baseline_years
        self.fdr = settings.fdr

    def basis_phrase(self, window: str, label: str, basis: str) -> str:
        """How a comparison reads: "last year's 28 days", "the 3-year average for the same week"."""
        span = f"the same {self.period_word}" if window == "period" else f"the same {label.lower()}"
        if basis == "baseline":
            return f"the {self.years}-year average for {span}"
        return f"{span} last year" if window == "period" else f"last year's {label.lower()}"


def _finding(unit: str, measure_id: str, direction: str, evidence: dict[str, list[dict[Any, Any]]],
             context: _Context) -> dict[str, Any] | None:
    worse = direction == CONCERN_DIRECTION
    wanted = "worse" if worse else "better"
    tests = evidence.get("significance", [])
    changes = [r for r in tests if r["judgement"] == wanted]
    chart = _first(evidence.get("spc"))
    spc_type = CONCERN if worse else IMPROVEMENT
    rising = worse == (context.measures[measure_id].polarity == "lower")
    spc_hit = chart is not None and chart["point_type"] == spc_type and _same_way(
        _context_row(tests, context), rising)
    plan = _first(evidence.get("trajectory"))
    off_track = worse and plan is not None and plan["confidence"] in (RED, AMBER_RED)
    peer_rows = [r for r in evidence.get("peers", []) if r["window"] == context.headline]
    peer = peer_rows[0] if peer_rows else None
    peer_hit = worse and peer is not None and peer["judgement"] == "worse"
    if not (changes or spc_hit or off_track or peer_hit):
        return None
    order = {w: i for i, w in enumerate(context.window_order)}
    headline = min(changes, key=lambda r: (order.get(r["window"], 9), r["basis"] != "last_year"), default=None)
    shown = headline or _context_row(tests, context)
    if headline is not None:
        size = _log_ratio(headline["rate_ratio"])
    elif spc_hit and chart is not None:
        size = _log_ratio(chart["y"] / chart["mean"] if chart["mean"] else np.nan)
    elif off_track and plan is not None:
        size = _log_ratio(plan["projection"] / plan["target_level"] if plan["target_level"] else np.nan)
    elif peer is not None:
        size = _log_ratio(peer["value"] / peer["peer_mean"] if peer["peer_mean"] else np.nan)
    certainties = [1 - headline["q_value"]] if headline is not None else []
    if spc_hit or off_track or peer_hit:
        certainties.append(JUDGED_CERTAINTY)
    certainty = max(certainties)
    persistence = int(chart["periods_running"]) if spc_hit and chart is not None else 0
    kinds = [k for k, hit in (("change", bool(changes)), ("spc", spc_hit), ("trajectory", off_track),
                              ("peers", peer_hit)) if hit]
    lens = PEER_LENS if kinds == ["peers"] else 1.0
    priority = float(context.config.analysis.measure_priority.get(measure_id, 1.0))
    score = priority * size * certainty * (1 + math.log1p(persistence)) * lens
    small = bool(shown["small_numbers"]) if shown is not None else False
    measure = context.measures[measure_id]
    return {
        "unit_code": unit, "unit_name": context.names.get(unit, unit), "measure_id": measure_id,
        "measure_name": measure.name, "direction": direction, "score": round(score, 4), "priority": priority,
        "size": round(size, 4), "certainty": round(certainty, 4), "persistence": persistence,
        "evidence": ",".join(kinds), "window": shown["window"] if shown else "",
        "basis": shown["basis"] if shown else "", "current": shown["current"] if shown else np.nan,
        "comparison": shown["comparison"] if shown else np.nan, "pct_change": shown["pct_change"] if shown else np.nan,
        "q_value": shown["q_value"] if shown else np.nan, "small_numbers": small,
        "variation": chart["variation"] if chart else None, "periods_running": persistence,
        "peer_label": peer["label"] if peer else "", "delivery": plan["confidence"] if plan else "",
        "reason": _reason(measure, shown or _latest_as_comparison(chart),
                          headline is not None, chart if spc_hit else None, plan if off_track else None,
                          peer if peer_hit else None, context, rising=rising),
        "explanation": " ".join(EXPLANATIONS[k] for k in kinds + (["small_numbers"] if small else [])),
        "question": QUESTIONS[direction],
    }


def _latest_as_comparison(chart: dict[Any, Any] | None) -> dict[Any, Any] | None:
    """The latest period against its SPC mean, for a unit with nothing to compare with last year."""
    if chart is None or pd.isna(chart["y"]):
        return None
    return {"window": "latest", "basis": "spc", "current": chart["y"], "comparison": chart["mean"],
            "small_numbers": False, "pct_change": np.nan}


def _same_way(last_year: dict[Any, Any] | None, rising: bool) -> bool:
    """Whether the year-on-year change agrees with a rise (or fall); True when there is none to check."""
    if last_year is None or pd.isna(last_year["pct_change"]):
        return True
    return bool(last_year["pct_change"] > 0) if rising else bool(last_year["pct_change"] < 0)


def _first(rows: list[dict[Any, Any]] | None) -> dict[Any, Any] | None:
    return rows[0] if rows else None


def _context_row(tests: list[dict[Any, Any]], context: _Context) -> dict[Any, Any] | None:
    """The comparison to show when no change is significant: the headline window against last year."""
    for window in context.window_order:
        for row in tests:
            if row["window"] == window and row["basis"] == "last_year" and not pd.isna(row["comparison"]):
                return row
    return None


def _log_ratio(ratio: float) -> float:
    if ratio is None or pd.isna(ratio) or ratio < 0:
        return 0.0
    if ratio == 0 or np.isinf(ratio):
        return MAX_SIZE
    return float(min(abs(math.log(ratio)), MAX_SIZE))


def _number(value: float, unit_label: str = "") -> str:
    if pd.isna(value):
        return "n/a"
    text = f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 10 else f"{value:,.3g}"
    return f"{text}{unit_label}"


def _reason(measure: Measure, shown: dict[Any, Any] | None, significant: bool,
            chart: dict[Any, Any] | None, plan: dict[Any, Any] | None, peer: dict[Any, Any] | None,
            context: _Context, rising: bool) -> str:
    """One plain-English sentence: the headline comparison, then each piece of evidence.

    ``rising``: whether the finding's direction is the measure going up (a concern on a
    lower-is-better measure, an improvement on a higher-is-better one). A percentage measure's
    change is given in percentage points.
    """
    name, label_unit = measure.name, measure.unit_label
    headline = name
    if shown is not None:
        label = {"period": context.period_word.capitalize(), "28d": "28 days", "3m": "3 months",
                 "ytd": "year to date"}.get(shown["window"], shown["window"])
        against = context.basis_phrase(shown["window"], label, shown["basis"])
        now, then = _number(shown["current"], label_unit), _number(shown["comparison"], label_unit)
        points = shown["current"] - shown["comparison"]
        if shown["basis"] == "spc":
            headline = f"{name} {now} this {context.period_word} against an average of {then}"
        elif measure.kind != "count" and label_unit == "%" and not pd.isna(points):
            way = "up" if points > 0 else "down" if points < 0 else "unchanged"
            size = f" {abs(points):.1f} points" if way != "unchanged" else ""
            headline = f"{name} {way}{size} on {against} ({now} vs {then})"
        elif shown["small_numbers"] or pd.isna(shown["pct_change"]):
            headline = f"{name} {now} against {then} for {against}"
            if shown["small_numbers"]:
                headline += " (small numbers)"
        else:
            way = "up" if shown["pct_change"] > 0 else "down" if shown["pct_change"] < 0 else "unchanged"
            pct = f" {abs(shown['pct_change']):.0f}%" if way != "unchanged" else ""
            headline = f"{name} {way}{pct} on {against} ({now} vs {then})"
    evidence = []
    if significant and shown is not None:
        evidence.append(f"a {shown['label']}")
    if chart is not None:
        running = int(chart["periods_running"])
        when = f"for {running} {context.period_word}s running" if running > 1 else f"this {context.period_word}"
        detail = _RULE_TEXT.get(str(chart["special_cause_rule"]), "").format(
            periods=f"{context.period_word}s", trend="rising" if rising else "falling",
            side="above" if rising else "below")
        evidence.append(f"beyond normal variation {when}" + (f" ({detail})" if detail else ""))
    if plan is not None:
        projected, target = _number(plan["projection"], label_unit), _number(plan["target_level"], label_unit)
        evidence.append(f"off track for its target ({plan['confidence']}: projected {projected} against {target})")
    if peer is not None:
        side = "above" if peer["label"] == ABOVE else "below"
        per = "" if peer["basis"] in ("rate", "value") else f" {peer['basis']}"
        evidence.append(f"significantly {side} similar units ({_number(peer['value'], label_unit)} vs "
                        f"{_number(peer['peer_mean'], label_unit)}{per})")
    return headline + (", " + "; ".join(evidence) if evidence else "")


def _ranked(findings: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(findings, columns=[c for c in FINDING_COLUMNS if c != "rank"])
    frame = frame.sort_values(["score", "unit_code", "measure_id"], ascending=[False, True, True], kind="stable")
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame.reset_index(drop=True)[FINDING_COLUMNS]
