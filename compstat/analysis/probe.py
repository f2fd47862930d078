"""What to probe and what to recognise: findings across units and measures, ranked, in plain words.

A **finding** is one unit × measure × direction (concern or improvement) with at least one
piece of evidence. Concerns:

- ``change``: a significant change on the unit's own history (``significance``: q ≤ fdr) in
  the worse direction for the measure's polarity;
- ``spc``: the latest period is a special cause of concern on the unit's SPC chart, and the
  headline window moves the same way against last year: a special cause that last year shows
  too is the season (SPC charts are not seasonally adjusted), not a change;
- ``trajectory``: the delivery rating is red or amber-red;
- ``peers``: significantly worse than similar units.

Improvements (the recognition candidates) are of two kinds (``kind``):

- **most improved**, from the unit's own history: a significant change for the better
  (``change``) or an SPC special cause of improvement (``spc``, with the same season guard);
- **best**, when the unit is *not worsening* (no significant change for the worse, no SPC
  concern, no red or amber-red rating, not worse than its peers): significantly better than
  similar units (``better_than_peers``), a green delivery rating for a level or reduction
  target (``on_track``), or limits wholly on the right side of its target or standard
  (``consistently_passing``: the SPC assurance, or a floor's green rating).

A finding with both kinds is ``most improved and best``. Neutral measures (activity) give no
findings.

**Recognition agrees with the unit's own recent figures.** No improvement of either kind is
recognised on a measure whose recent windows against last year — the period and the last 28
days (3 months for a monthly cadence) — moved the wrong way by more than noise (``recent_wrong_way``): for a
count, by more than ``analysis.rare.min_events_difference`` events (2: "9 vs 5" over 28 days is 4
more burglaries, so a green trajectory or a place below similar units does not make the unit
"best" at burglary that month); for a rate or value, which has no events to judge noise by, at all.
So a recognition's reason never sits beside figures that contradict it.

**Rare events and small numbers.** No finding on a count measure may rest on a handful of
events (``rests_on_few_events``), concern and recognition alike: a finding whose cited comparison
has both counts below ``small_number`` (so never "0 against 0" or "1 against 0") is dropped, and so
is one whose cited comparison differs by at most ``analysis.rare.min_events_difference`` events
(2: never "13 against 11") when that comparison is its evidence (a significant change) or the series
is rare. A comparison that is only context (beside an SPC, peer or target finding on a series that
is not rare) is held to the first rule only, and is the first window, in the usual order, whose counts
are not both small (the year to date for a small unit whose 28 days are).

A rare-event series (``rare``) is judged by its method instead of an XmR chart: its SPC
evidence is its t-chart's judgement (the time between events; ``prompt_key`` ``t_chart`` for a
concern), never the period's count against a collapsed mean; its comparisons are the long ones
(the last 12 months against the 12 before, the year to date, 28 days or 3 months — not the
period alone), led by the 12 months.

**Score** = priority × size × certainty × (1 + ln(1 + persistence)) × lens × quality, where

- priority: ``analysis.measure_priority`` for the measure (default 1);
- size: |ln(ratio)| capped at ln 4 (a doubling or a halving is 0.69), of the first evidence
  there is: a significant change's rate ratio — in ``analysis.headline_window`` (default 28
  days, or 3 months), else the period, else the year to date; against last year before the
  multi-year baseline — else the latest period against the SPC mean, else the projection
  against the target, else the unit against its peers; a best-only finding takes the largest
  of its margins (unit / peer mean, projection / target, SPC mean / target);
- certainty: 1 − q for a change; 0.95 for SPC, trajectory, peer or best evidence (judged at
  about that level); the highest over the evidence;
- persistence: how many periods in a row the SPC chart has shown this special cause (0 if none);
- lens: 0.5 when the only evidence of a concern is the peer comparison (a second lens), else 1;
- quality: 0.25 when the comparison the reason cites (its window) is not like-for-like, 0.5
  when it is fragile, 0.125 when both (``QUALITY_WEIGHTS``, from the quality step's
  ``comparisons``), else 1: such a finding stays visible, marked in ``caveat`` and its reason,
  but ranks below findings on sound comparisons, so the chair is not sent to probe an artefact.
  An improvement on a comparison that is not like-for-like is not a recognition candidate at all
  (a fragile one is, marked): no one is thanked for a fall that may be missing data. Nor is a concern
  made of a comparison marked for missing data (a missing period, a collection gap recorded as zeros, a
  series that stopped: ``MISSING_DATA_WORDS``): the quality step's finding says what is missing, and the
  chair is not sent to probe it; a concern across a boundary or definition change stays, marked.

The words (each finding's reason, explanation, questions and support) are ``analysis.wording``'s.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from compstat.analysis.rare import LONG_WINDOW, METHOD_T
from compstat.analysis.spc import CONCERN, CONSISTENTLY_PASSING, IMPROVEMENT
from compstat.analysis.trajectory import AMBER_RED, GREEN, RED
from compstat.analysis.wording import NOT_LIKE_FOR_LIKE, PROMPTS, Phrasing, finding_words
from compstat.config import Config, Measure, iter_units
from compstat.figures import TOTAL

Record = dict[Any, Any]
CONCERN_DIRECTION = "concern"
IMPROVEMENT_DIRECTION = "improvement"
MOST_IMPROVED, BEST, BOTH = "most improved", "best", "most improved and best"
MAX_SIZE = math.log(4)
JUDGED_CERTAINTY = 0.95
PEER_LENS = 0.5
FRAGILE = "fragile"
QUALITY_WEIGHTS = {NOT_LIKE_FOR_LIKE: 0.25, FRAGILE: 0.5}
# the completeness check's reasons for a comparison that may be missing data (a missing period, a collection
# gap recorded as zeros, a series that stopped): no finding rests on such a comparison
MISSING_DATA_WORDS = ("missing data", "collection gap", "stopped: zero since")
FINDING_COLUMNS = [
    "rank", "unit_code", "unit_name", "measure_id", "measure_name", "direction", "kind", "score", "priority", "size",
    "certainty", "persistence", "quality", "evidence", "window", "basis", "current", "comparison", "pct_change",
    "q_value", "small_numbers", "variation", "periods_running", "peer_label", "delivery", "caveat", "reason",
    "explanation", "prompt_key", "question", "support",
]
def rank_findings(significance: pd.DataFrame, spc_latest: pd.DataFrame, peers: pd.DataFrame,
                  trajectory: pd.DataFrame, config: Config,
                  quality: pd.DataFrame | None = None,
                  rare: pd.DataFrame | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(concerns, improvements), each ranked by score with ``FINDING_COLUMNS`` (see the module docstring).

    ``quality``: the quality step's comparison marks (unit_code, measure_id, window,
    like_for_like, fragile, reason); None or empty: every comparison is sound. ``rare``: the
    rare-event series' judgement (``rare.RARE_COLUMNS``); None: no series is rare.
    """
    context = _Context(config, quality)
    by_key: dict[tuple[str, str], dict[str, list[Record]]] = defaultdict(lambda: defaultdict(list))
    frames = (("significance", significance), ("spc", spc_latest), ("peers", peers), ("trajectory", trajectory),
              ("rare", rare if rare is not None else pd.DataFrame(columns=["unit_code", "measure_id"])))
    for name, frame in frames:
        for record in frame.to_dict("records"):
            by_key[(str(record["unit_code"]), str(record["measure_id"]))][name].append(record)
    for evidence in by_key.values():
        if evidence.get("rare"):
            _rare_evidence(evidence)
    found: dict[str, list[dict[str, Any]]] = {CONCERN_DIRECTION: [], IMPROVEMENT_DIRECTION: []}
    for (unit, measure_id), evidence in by_key.items():
        if measure_id not in context.measures or context.measures[measure_id].polarity == "neutral":
            continue
        for direction in (CONCERN_DIRECTION, IMPROVEMENT_DIRECTION):
            finding = _finding(unit, measure_id, direction, evidence, context)
            if finding is not None:
                found[direction].append(finding)
    return _ranked(found[CONCERN_DIRECTION]), _ranked(found[IMPROVEMENT_DIRECTION])


def rests_on_few_events(current: Any, comparison: Any, small_number: int, min_difference: int,
                        difference_matters: bool = True) -> bool:
    """Whether a comparison of two counts is too thin to carry a finding: both below ``small_number``
    (0 against 0, 1 against 0 included), or — where ``difference_matters`` — at most ``min_difference``
    events apart. False without both counts (nothing to compare)."""
    if current is None or comparison is None or pd.isna(current) or pd.isna(comparison):
        return False
    if current < small_number and comparison < small_number:
        return True
    return difference_matters and abs(float(current) - float(comparison)) <= min_difference


def recent_wrong_way(tests: list[Record], measure: Measure, rising: bool, windows: list[str],
                     min_difference: int) -> Record | None:
    """The first of ``windows`` (against last year) whose figures moved against an improvement by more
    than noise, or None: for a count, more than ``min_difference`` events the wrong way; for a rate or
    a value, any move the wrong way. ``rising``: the improvement is the measure going up."""
    for window in windows:
        for row in tests:
            if row["window"] != window or row["basis"] != "last_year":
                continue
            current, comparison = row["current"], row["comparison"]
            if current is None or comparison is None or pd.isna(current) or pd.isna(comparison):
                continue
            against = (float(comparison) - float(current)) if rising else (float(current) - float(comparison))
            if against > (min_difference if measure.kind == "count" else 0):
                return row
    return None


def _too_few(cited: Record | None, is_change: bool, rare: bool, context: _Context) -> bool:
    """The guard on a count finding's cited comparison (``rests_on_few_events``): both counts below
    ``small_number``; or a difference of ``min_events_difference`` events or fewer when that comparison is
    the evidence itself (a significant change) or the series is rare. A rare series needs a comparison of
    counts; any other series' latest period against its SPC mean is judged by the XmR rules, not here."""
    if cited is None:
        return rare
    if cited["basis"] == "spc":
        return rare
    return rests_on_few_events(cited["current"], cited["comparison"], context.config.small_number,
                               context.config.analysis.rare.min_events_difference, is_change or rare)


def _rare_evidence(evidence: dict[str, list[Record]]) -> None:
    """A rare series' evidence: the long comparisons only (the 12 months first), and its t-chart's
    judgement in place of the SPC row (no SPC evidence from a long-window series, whose row has none)."""
    rare = evidence["rare"][0]
    long = {k: rare[k] for k in ("window", "current", "comparison", "rate_ratio", "pct_change", "q_value", "label",
                                 "judgement", "small_numbers")} | {"basis": "last_year"}
    evidence["significance"] = [long] + [r for r in evidence.get("significance", []) if r["window"] != "period"]
    if evidence.get("spc"):
        chart = evidence["spc"][0]
        evidence["spc"] = [{**chart, **{k: rare[k] for k in ("gap", "gap_mean", "gap_lpl", "gap_upl", "open_gap",
                                                             "judged")}}]


class _Context:
    def __init__(self, config: Config, quality: pd.DataFrame | None) -> None:
        settings = config.analysis
        self.config = config
        self.measures = {m.id: m for m in config.reported_measures}
        self.names = {u.code: u.name for u in iter_units(config.units)} | {TOTAL: config.organisation.name}
        self.weekly = config.cadence.period == "weekly"
        self.headline: str = settings.headline_window or ("28d" if self.weekly else "3m")
        self.window_order: list[str] = [self.headline, *(w for w in ("period", "28d", "3m", "ytd")
                                                         if w != self.headline)]
        # the recent windows a recognition must agree with (``recent_wrong_way``)
        self.recent_windows: list[str] = ["period", "28d" if self.weekly else "3m"]
        # the headline window first, then from the shortest: the most recent evidence leads
        self.rare_order = [LONG_WINDOW, "ytd", *(w for w in self.window_order if w not in ("ytd", "period"))]
        self.phrasing = Phrasing(self.weekly, settings.baseline_years)
        self.marks: dict[tuple[str, str, str], tuple[list[str], str]] = {}
        if quality is not None and not quality.empty:
            for row in quality.to_dict("records"):
                caveats = ([NOT_LIKE_FOR_LIKE] if not bool(row["like_for_like"]) else []) + (
                    [FRAGILE] if bool(row["fragile"]) else [])
                if caveats:
                    key = (str(row["unit_code"]), str(row["measure_id"]), str(row["window"]))
                    self.marks[key] = (caveats, str(row.get("reason") or ""))

    def order(self, evidence: dict[str, list[Record]]) -> list[str]:
        """The windows a finding's comparison is chosen from, first first (the long ones for a rare series)."""
        return self.rare_order if evidence.get("rare") else self.window_order


@dataclass(frozen=True)
class _Evidence:
    """What one unit × measure shows in one direction."""

    changes: list[Record]
    chart: Record | None  # the SPC latest row, when it is a special cause this way
    plan: Record | None  # the trajectory row, when it is off track (concern)
    peer: Record | None  # the peer row, when worse (concern) or better (best)
    best: list[str]  # best evidence keys: better_than_peers, on_track, consistently_passing
    best_plan: Record | None
    best_chart: Record | None

    @property
    def kinds(self) -> list[str]:
        own = [k for k, hit in (("change", bool(self.changes)), ("spc", self.chart is not None)) if hit]
        concern = [k for k, hit in (("trajectory", self.plan is not None),
                                    ("peers", self.peer is not None and not self.best)) if hit]
        return own + concern + self.best


def _finding(unit: str, measure_id: str, direction: str, evidence: dict[str, list[Record]],
             context: _Context) -> dict[str, Any] | None:
    worse = direction == CONCERN_DIRECTION
    measure = context.measures[measure_id]
    rising = worse == (measure.polarity == "lower")
    tests = evidence.get("significance", [])
    windows = context.order(evidence)
    found = _gather(evidence, tests, worse, rising, context, windows)
    kinds = found.kinds
    if not kinds:
        return None
    if not worse and recent_wrong_way(tests, measure, rising, context.recent_windows,
                                      context.config.analysis.rare.min_events_difference) is not None:
        return None  # recognition never contradicts the unit's own recent figures
    order = {w: i for i, w in enumerate(windows)}
    headline = min(found.changes, key=lambda r: (order.get(r["window"], 9), r["basis"] != "last_year"),
                   default=None)
    shown = headline or _context_row(tests, context, windows, sizeable=True) or _context_row(tests, context, windows)
    cited = shown or _latest_as_comparison(found.chart or found.best_chart)
    if measure.kind == "count" and _too_few(cited, headline is not None, bool(evidence.get("rare")), context):
        return None  # a handful of events is a case to discuss, not a finding
    own = bool(found.changes) or found.chart is not None
    size = _size(headline, found)
    certainties = [1 - headline["q_value"]] if headline is not None else []
    if kinds != ["change"]:
        certainties.append(JUDGED_CERTAINTY)
    certainty = max(certainties)
    persistence = int(found.chart["periods_running"]) if found.chart is not None else 0
    lens = PEER_LENS if kinds == ["peers"] else 1.0
    priority = float(context.config.analysis.measure_priority.get(measure_id, 1.0))
    window = str(shown["window"]) if shown else ""
    caveats, caveat_reason = context.marks.get((unit, measure_id, window), ([], ""))
    if NOT_LIKE_FOR_LIKE in caveats and (not worse or missing_data(caveat_reason)):
        return None  # no recognition for what may be a change in the data, and no probe of data that may be missing
    quality = float(np.prod([QUALITY_WEIGHTS[c] for c in caveats])) if caveats else 1.0
    score = priority * size * certainty * (1 + math.log1p(persistence)) * lens * quality
    small = bool(shown["small_numbers"]) if shown is not None else False
    kind = "" if worse else (BOTH if own and found.best else MOST_IMPROVED if own else BEST)
    key = _prompt_key(kinds, found, worse)
    words = finding_words(measure, shown, cited, headline is not None, found, context.phrasing, rising=rising,
                          kinds=kinds, prompt_key=key, small=small, caveats=caveats, caveat_reason=caveat_reason)
    return {
        "unit_code": unit, "unit_name": context.names.get(unit, unit), "measure_id": measure_id,
        "measure_name": measure.name, "direction": direction, "kind": kind, "score": round(score, 4),
        "priority": priority, "size": round(size, 4), "certainty": round(certainty, 4), "persistence": persistence,
        "quality": quality, "evidence": ",".join(kinds), "window": window,
        "basis": shown["basis"] if shown else "", "current": shown["current"] if shown else np.nan,
        "comparison": shown["comparison"] if shown else np.nan, "pct_change": shown["pct_change"] if shown else np.nan,
        "q_value": shown["q_value"] if shown else np.nan, "small_numbers": small,
        "variation": _first_value(evidence.get("spc"), "variation"), "periods_running": persistence,
        "peer_label": _peer_label(evidence, context), "delivery": _first_value(evidence.get("trajectory"), "confidence",
                                                                              ""),
        "caveat": ", ".join(caveats), "reason": words["reason"], "explanation": words["explanation"],
        "prompt_key": key, "question": words["question"], "support": words["support"],
    }


def _gather(evidence: dict[str, list[Record]], tests: list[Record], worse: bool, rising: bool,
            context: _Context, windows: list[str]) -> _Evidence:
    """The evidence in one direction (see the module docstring)."""
    changes = [r for r in tests if r["judgement"] == ("worse" if worse else "better")]
    chart = _first(evidence.get("spc"))
    plan = _first(evidence.get("trajectory"))
    peer_rows = [r for r in evidence.get("peers", []) if r["window"] == context.headline]
    peer = peer_rows[0] if peer_rows else None
    spc_hit = chart is not None and chart["point_type"] == (CONCERN if worse else IMPROVEMENT) and _same_way(
        _context_row(tests, context, windows), rising)
    if worse:
        off_track = plan is not None and plan["confidence"] in (RED, AMBER_RED)
        worse_peer = peer is not None and peer["judgement"] == "worse"
        return _Evidence(changes, chart if spc_hit else None, plan if off_track else None,
                         peer if worse_peer else None, [], None, None)
    worsening = (any(r["judgement"] == "worse" for r in tests)
                 or (chart is not None and chart["point_type"] == CONCERN)
                 or (plan is not None and plan["confidence"] in (RED, AMBER_RED))
                 or (peer is not None and peer["judgement"] == "worse"))
    best: list[str] = []
    best_plan = best_chart = None
    if not worsening:
        if peer is not None and peer["judgement"] == "better":
            best.append("better_than_peers")
        green = plan is not None and plan["confidence"] == GREEN
        if green and plan is not None and plan.get("target_kind") != "floor":
            best.append("on_track")
            best_plan = plan
        if (chart is not None and chart.get("assurance") == CONSISTENTLY_PASSING) or (
                green and plan is not None and plan.get("target_kind") == "floor"):
            best.append("consistently_passing")
            best_chart = chart
            best_plan = best_plan or plan
    return _Evidence(changes, chart if spc_hit else None, None,
                     peer if "better_than_peers" in best else None, best, best_plan, best_chart)


def _size(headline: Record | None, found: _Evidence) -> float:
    """The finding's size (see the module docstring)."""
    if headline is not None:
        return _log_ratio(headline["rate_ratio"])
    chart, plan, peer = found.chart, found.plan, found.peer
    if chart is not None and chart.get("method") == METHOD_T:
        return _log_ratio(_ratio(chart["gap"], chart["gap_mean"]))
    if chart is not None:
        return _log_ratio(_ratio(chart["y"], chart["mean"]))
    if plan is not None:
        return _log_ratio(_ratio(plan["projection"], plan["target_level"]))
    if peer is not None and not found.best:
        return _log_ratio(_ratio(peer["value"], peer["peer_mean"]))
    margins = [0.0]
    if peer is not None:
        margins.append(_log_ratio(_ratio(peer["value"], peer["peer_mean"])))
    if found.best_plan is not None and "on_track" in found.best:
        margins.append(_log_ratio(_ratio(found.best_plan["projection"], found.best_plan["target_level"])))
    if found.best_chart is not None:
        margins.append(_log_ratio(_ratio(found.best_chart["mean"], found.best_chart.get("target", np.nan))))
    elif found.best_plan is not None and "consistently_passing" in found.best:  # a floor: the SPC mean vs the floor
        margins.append(_log_ratio(_ratio(found.best_plan["projection"], found.best_plan["target_level"])))
    return max(margins)


def _ratio(numerator: Any, denominator: Any) -> float:
    if numerator is None or denominator is None or pd.isna(numerator) or pd.isna(denominator) or not denominator:
        return np.nan
    return float(numerator) / float(denominator)


def _prompt_key(kinds: list[str], found: _Evidence, worse: bool) -> str:
    """The ``PROMPTS`` entry for a finding: its first evidence type (an SPC signal by its rule)."""
    lead = kinds[0]
    if not worse:
        return "improvement" if lead in ("change", "spc") else lead
    if lead == "spc" and found.chart is not None and found.chart.get("method") == METHOD_T:
        return "t_chart"
    if lead == "spc" and found.chart is not None:
        rule = str(found.chart["special_cause_rule"])
        return f"spc_{rule}" if f"spc_{rule}" in PROMPTS else "spc_shift"
    return lead


def missing_data(reason: str) -> bool:
    """Whether a comparison's quality mark says its data may be missing (``MISSING_DATA_WORDS``)."""
    return any(words in reason for words in MISSING_DATA_WORDS)


def _peer_label(evidence: dict[str, list[Record]], context: _Context) -> str:
    rows = [r for r in evidence.get("peers", []) if r["window"] == context.headline]
    return str(rows[0]["label"]) if rows else ""


def _first_value(rows: list[Record] | None, column: str, default: Any = None) -> Any:
    return rows[0].get(column, default) if rows else default


def _latest_as_comparison(chart: Record | None) -> Record | None:
    """The latest period against its SPC mean, for a unit with nothing to compare with last year."""
    if chart is None or pd.isna(chart["y"]):
        return None
    return {"window": "latest", "basis": "spc", "current": chart["y"], "comparison": chart["mean"],
            "small_numbers": False, "pct_change": np.nan}


def _same_way(last_year: Record | None, rising: bool) -> bool:
    """Whether the year-on-year change agrees with a rise (or fall); True when there is none to check."""
    if last_year is None or pd.isna(last_year["pct_change"]):
        return True
    return bool(last_year["pct_change"] > 0) if rising else bool(last_year["pct_change"] < 0)


def _first(rows: list[Record] | None) -> Record | None:
    return rows[0] if rows else None


def _context_row(tests: list[Record], context: _Context, windows: list[str] | None = None,
                 sizeable: bool = False) -> Record | None:
    """The comparison to show when no change is significant: the headline window against last year
    (``windows``: the order to try, default the context's); with ``sizeable``, the first whose counts are
    not both below ``small_number`` (a longer window, such as the year to date, for a small unit)."""
    limit = context.config.small_number
    for window in windows or context.window_order:
        for row in tests:
            if row["window"] == window and row["basis"] == "last_year" and not pd.isna(row["comparison"]):
                if sizeable and row["current"] < limit and row["comparison"] < limit:
                    continue
                return row
    return None


def _log_ratio(ratio: float) -> float:
    if ratio is None or pd.isna(ratio) or ratio < 0:
        return 0.0
    if ratio == 0 or np.isinf(ratio):
        return MAX_SIZE
    return float(min(abs(math.log(ratio)), MAX_SIZE))


def _ranked(findings: list[dict[str, Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(findings, columns=[c for c in FINDING_COLUMNS if c != "rank"])
    frame = frame.sort_values(["score", "unit_code", "measure_id"], ascending=[False, True, True], kind="stable")
    frame.insert(0, "rank", np.arange(1, len(frame) + 1))
    return frame.reset_index(drop=True)[FINDING_COLUMNS]
