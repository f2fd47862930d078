"""Escalation: how far each action and each unit has climbed the ladder, and why (pure functions).

The rule, with the ladder of ``accountability.escalation`` (defaults: challenge →
increased challenge → support plan → formal intervention, reached at 1, 2 and 3 missed
meetings):

- An open action's *missed meetings* are the meetings held on or after its due date, up
  to and including this one, while it is still not done.
- Its level is the highest step whose ``missed_meetings`` it has reached (0 before it is due).
- A missed action whose measure is in special-cause concern goes one level higher.
- A unit's level is the highest level of its open actions; one higher when a measure is in
  special-cause concern with no open action answering it (``concern_without_action``); at
  least ``support_level`` when an agreement's ``support_if`` is met; the top level when an
  ``intervene_if`` is met. Levels never exceed the top of the ladder.
- A trigger is met when its raw figure crosses every bound it gives *and* the evidence it
  ``requires`` holds (``Evidence``: the analysis' significance table and SPC chart for that unit,
  measure and window, the way the bound points). A raw figure that crosses its bound on a change
  within normal variation is recorded on the trigger's row (``raw_met``, ``evidence``, ``note``):
  "not escalated" when the trigger required evidence, "escalated by the agreement's raw trigger"
  when it did not, so the packs can say so beside the level.

``meeting_escalation`` is the one place the unit level is worked out: the cycle (for the
packs), ``compstat actions list`` and ``compstat minutes`` all call it, so they agree.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import pandas as pd

from compstat import numbers
from compstat.analysis.significance import SIGNIFICANT_DECREASE, SIGNIFICANT_INCREASE
from compstat.analysis.spc import COMMON_CAUSE, CONCERN, IMPROVEMENT, NEUTRAL_HIGH, NEUTRAL_LOW
from compstat.config import Config, EscalationLadder, Trigger
from compstat.schemas import ESCALATION, TRIGGERS

Concerns = set[tuple[str, str]]
UNIT_LEVEL_COLUMNS = ["unit_code", "escalation_level", "escalation_label", "escalation_reason"]
TRIGGER_COLUMNS = ["unit_code", "measure_id", "officer", "trigger", "rule", "window", "current", "previous",
                   "pct_change", "in_concern", "met", "judged_on", "requires", "raw_met", "evidence", "note"]
REQUIREMENT_WORDS = {"none": "", "significant": "only if significant",
                     "spc": "only if a special cause on its SPC chart",
                     "either": "only if significant or a special cause on its SPC chart"}
UP, DOWN = "up", "down"
SPC_WORDS = {COMMON_CAUSE: "common cause variation", CONCERN: "a special cause of concern",
             IMPROVEMENT: "a special cause of improvement", NEUTRAL_HIGH: "a special cause (high)",
             NEUTRAL_LOW: "a special cause (low)"}
ROLLING_WINDOW = {"weekly": "28d", "monthly": "3m"}
WINDOW_NAMES = {"period": "the period", "28d": "28 days", "3m": "3 months", "ytd": "the year to date"}


@dataclass(frozen=True)
class Evidence:
    """What the analysis says about the changes triggers are judged on.

    ``significance``: (unit, measure, window) → (label, q-value) of the change against last year
    (``significance.significance_table``, basis ``last_year``); ``spc``: (unit, measure) → (variation,
    direction ``up``/``down``/``""``) of the latest period on its SPC chart.
    """

    significance: Mapping[tuple[str, str, str], tuple[str, float]] = field(default_factory=dict)
    spc: Mapping[tuple[str, str], tuple[str, str]] = field(default_factory=dict)


def evidence_from(significance: pd.DataFrame | None, spc: pd.DataFrame | None, config: Config) -> Evidence:
    """The ``Evidence`` of one cycle's analysis: its significance table and its SPC table's latest points."""
    tests: dict[tuple[str, str, str], tuple[str, float]] = {}
    if significance is not None and not significance.empty:
        rows = significance[significance["basis"] == "last_year"]
        for r in rows[["unit_code", "measure_id", "window", "label", "q_value"]].itertuples(index=False):
            tests[(str(r.unit_code), str(r.measure_id), str(r.window))] = (str(r.label), _number(r.q_value))
    charts: dict[tuple[str, str], tuple[str, str]] = {}
    if spc is not None and not spc.empty:
        polarity = {m.id: m.polarity for m in config.measures}
        for r in spc[["unit_code", "measure_id", "variation"]].itertuples(index=False):
            variation = r.variation if isinstance(r.variation, str) else ""
            charts[(str(r.unit_code), str(r.measure_id))] = (variation, _spc_direction(
                variation, polarity.get(str(r.measure_id), "lower")))
    return Evidence(tests, charts)


def _spc_direction(variation: str, polarity: str) -> str:
    """Which way a special cause points: a concern is up for a lower-is-better measure, and so on."""
    if variation == NEUTRAL_HIGH:
        return UP
    if variation == NEUTRAL_LOW:
        return DOWN
    if variation in (CONCERN, IMPROVEMENT):
        return UP if (variation == CONCERN) == (polarity != "higher") else DOWN
    return ""


def describe_rule(ladder: EscalationLadder) -> str:
    """The escalation rule in words, as configured."""
    steps = ", ".join(f"'{name}' after {n} missed meeting{'s' if n > 1 else ''}"
                      for name, n in zip(ladder.levels[1:], ladder.missed_meetings, strict=True))
    concern = (" A unit is one level higher when a measure is in special-cause concern with no open action "
               "answering it." if ladder.concern_without_action else "")
    return (f"Every open action starts at '{ladder.levels[0]}'. A meeting on or after its due date at which it is "
            f"not done is a missed meeting: {steps}. A missed action whose measure is in special-cause concern is "
            f"one level higher. A unit's level is the highest of its open actions.{concern} A met support trigger "
            f"raises the unit to at least '{ladder.levels[ladder.support_level]}'; a met intervention trigger to "
            f"'{ladder.levels[-1]}'. A trigger that requires evidence ('only if significant', 'only if a special "
            "cause on its SPC chart') is met only when the analysis finds the change beyond normal variation; a raw "
            "figure that crosses its bound within normal variation is reported beside the level.")


def level_for_missed(missed: int, ladder: EscalationLadder) -> int:
    """The ladder step reached after ``missed`` missed meetings."""
    return sum(missed >= n for n in ladder.missed_meetings)


def action_levels(log: pd.DataFrame, ladder: EscalationLadder, concerns: Concerns | None = None,
                  measure_names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``log`` with escalation_level, escalation_label and escalation_reason for each action.

    Reasons name measures by ``measure_names`` (id → name; the id where none is given).

    Needs the columns status, carried (open), missed_meetings, unit_code, measure_id, due_date.
    Closed actions are at level 0 with the reason "closed".
    """
    concerns = concerns or set()
    top = len(ladder.levels) - 1
    levels, reasons = [], []
    for row in log.to_dict(orient="records"):
        if not row["carried"]:
            levels.append(0)
            reasons.append(f"closed ({row['status']})")
            continue
        missed = int(row["missed_meetings"])
        level = level_for_missed(missed, ladder)
        if missed == 0:
            why = f"not yet due (due {row['due_date']})"
        else:
            why = f"due {row['due_date']}, not done at {missed} meeting{'s' if missed > 1 else ''}"
        measure = row["measure_id"]
        if missed and isinstance(measure, str) and (row["unit_code"], measure) in concerns:
            level += 1
            why += f"; {(measure_names or {}).get(measure, measure)} is in special-cause concern"
        levels.append(min(level, top))
        reasons.append(why)
    out = log.copy()
    out["escalation_level"] = pd.Series(levels, index=log.index, dtype="int64")
    out["escalation_label"] = [ladder.levels[k] for k in levels]
    out["escalation_reason"] = pd.Series(reasons, index=log.index, dtype=object)
    return out


def unit_levels(log: pd.DataFrame, config: Config, units: Iterable[str] | None = None,
                concerns: Concerns | None = None, triggered: pd.DataFrame | None = None) -> pd.DataFrame:
    """Each unit's level: its open actions, unanswered concerns and met agreement triggers.

    ``log`` is an action log with escalation levels (``action_levels``); ``triggered`` is
    ``agreement_triggers``' result (only its met triggers count). Returns ``UNIT_LEVEL_COLUMNS``,
    one row per unit.
    """
    ladder = config.accountability.escalation
    top = len(ladder.levels) - 1
    concerns = concerns or set()
    names = {m.id: m.name for m in config.measures}
    codes = list(units) if units is not None else [u.code for u in config.leaf_units]
    rows = []
    for code in codes:
        mine = log[(log["unit_code"] == code) & log["carried"].astype(bool)] if not log.empty else log
        level = int(mine["escalation_level"].max()) if len(mine) else 0
        reasons = [f"action {int(r['id'])}: {r['escalation_reason']}" for r in mine.to_dict(orient="records")
                   if int(r["escalation_level"]) == level and level > 0]
        answered = set(mine["measure_id"].dropna()) if len(mine) else set()
        unanswered = sorted(m for u, m in concerns if u == code and m not in answered)
        if unanswered and ladder.concern_without_action:
            level = min(level + 1, top)
            reasons.append(f"{', '.join(names.get(m, m) for m in unanswered)} in special-cause concern with no "
                           "open action")
        if triggered is not None and not triggered.empty:
            reported: set[str] = set()
            noted: set[str] = set()
            theirs = triggered[triggered["unit_code"] == code]
            raw = theirs["raw_met"].astype(bool) if "raw_met" in theirs else theirs["met"].astype(bool)
            crossed = theirs[theirs["met"].astype(bool) | raw]
            for t in crossed.sort_values("trigger", key=lambda s: s != "intervene").to_dict(orient="records"):
                measure = str(t["measure_id"])
                note = t["note"] if isinstance(t.get("note"), str) else ""
                if not t["met"]:  # a raw figure on a change within normal variation: said, not escalated
                    if note and measure not in reported | noted:
                        noted.add(measure)
                        reasons.append(note)
                    continue
                level = max(level, top if t["trigger"] == "intervene" else ladder.support_level)
                if measure not in reported:  # the intervention trigger says enough
                    reported.add(measure)
                    name = names.get(measure, measure)
                    reasons.append(f"{name}: {t['trigger']} trigger met ({t['rule']}; {t['judged_on']}"
                                   f"{_evidence_clause(t)})" + (f", {note}" if note else ""))
        rows.append({"unit_code": code, "escalation_level": level, "escalation_label": ladder.levels[level],
                     "escalation_reason": "; ".join(reasons) or "no open action has missed a meeting"})
    return pd.DataFrame(rows, columns=UNIT_LEVEL_COLUMNS)


def _evidence_clause(row: Mapping[Hashable, Any]) -> str:
    """``; significant increase (q = 0.003)`` for a met trigger that required evidence."""
    if row.get("requires", "none") in ("none", None) or not row.get("evidence"):
        return ""
    return f"; {row['evidence']}"


def describe_trigger(trigger: Trigger, cadence: str = "weekly") -> str:
    """A trigger in words: ``28 days: % change on last year above +20``."""
    window = trigger.window or ROLLING_WINDOW[cadence]
    parts = []
    if trigger.change_pct_above is not None:
        parts.append(f"% change on last year above {trigger.change_pct_above:+g}")
    if trigger.change_pct_below is not None:
        parts.append(f"% change on last year below {trigger.change_pct_below:+g}")
    if trigger.value_above is not None:
        parts.append(f"value above {trigger.value_above:g}")
    if trigger.value_below is not None:
        parts.append(f"value below {trigger.value_below:g}")
    if trigger.concern:
        parts.append("in special-cause concern")
    requirement = REQUIREMENT_WORDS[trigger.requires]
    return f"{WINDOW_NAMES[window]}: " + " and ".join(parts) + (f", {requirement}" if requirement else "")


def trigger_direction(trigger: Trigger) -> str:
    """The way the trigger's bounds point: ``up`` (an "above" bound), ``down`` ("below"), or ``""``
    (both, or only ``concern``) — the way a significant change or special cause must go to count."""
    up = trigger.change_pct_above is not None or trigger.value_above is not None
    down = trigger.change_pct_below is not None or trigger.value_below is not None
    return UP if up and not down else DOWN if down and not up else ""


class Judged(NamedTuple):
    """What the analysis says of one trigger's change: ``significant`` and ``special`` (a special cause)
    the way the trigger points, ``known`` (a test or a chart judged it at all) and ``words``."""

    significant: bool
    special: bool
    known: bool
    words: str


def judge_evidence(trigger: Trigger, key: tuple[str, str, str], evidence: Evidence | None) -> Judged:
    """The evidence for a trigger on ``key`` (unit, measure, window); ``evidence`` None: the analysis
    has not run, so nothing is known and neither holds."""
    if evidence is None:
        return Judged(False, False, False, "no significance test or SPC chart for this meeting (the cycle has not run)")
    way = trigger_direction(trigger)
    label, q = evidence.significance.get(key, ("", math.nan))
    variation, side = evidence.spc.get(key[:2], ("", ""))
    significant = label in (SIGNIFICANT_INCREASE, SIGNIFICANT_DECREASE) and (
        not way or (label == SIGNIFICANT_INCREASE) == (way == UP))
    special = side != "" and (not way or side == way)
    words = []
    if label:
        words.append(label + ("" if math.isnan(q) else f" (q = {numbers.q_value(q)})"))
    if variation:
        words.append(SPC_WORDS.get(variation, variation.replace("_", " ")) + " on its SPC chart")
    return Judged(significant, special, bool(label or variation),
                  ", ".join(words) or "no significance test or SPC chart for this change")


def requirement_holds(trigger: Trigger, significant: bool, special: bool) -> bool:
    """Whether the evidence a trigger ``requires`` holds (always, for ``none``)."""
    return {"none": True, "significant": significant, "spc": special,
            "either": significant or special}[trigger.requires]


def trigger_met(trigger: Trigger, current: float, pct_change: float, in_concern: bool) -> bool:
    """Every bound the trigger gives is crossed (a missing % change never crosses a % bound)."""
    checks = []
    if trigger.change_pct_above is not None:
        checks.append(not math.isnan(pct_change) and pct_change > trigger.change_pct_above)
    if trigger.change_pct_below is not None:
        checks.append(not math.isnan(pct_change) and pct_change < trigger.change_pct_below)
    if trigger.value_above is not None:
        checks.append(not math.isnan(current) and current > trigger.value_above)
    if trigger.value_below is not None:
        checks.append(not math.isnan(current) and current < trigger.value_below)
    if trigger.concern:
        checks.append(in_concern)
    return bool(checks) and all(checks)


def agreement_triggers(table: pd.DataFrame, config: Config, concerns: Concerns | None = None,
                       evidence: Evidence | None = None) -> pd.DataFrame:
    """Every support and intervention trigger of the agreements, judged on a period table
    (``TRIGGER_COLUMNS``): ``met`` says whether it escalates, ``judged_on`` the figure in words.

    ``table`` holds unit_code, measure_id, window, current, previous and pct_change (the
    cycle's period table, or ``carry_forward.stored_period_table``); with no row for a
    trigger's window (the cycle has not run) no % or value bound is crossed. ``raw_met``: the
    bounds alone are crossed; ``met`` also needs the evidence the trigger ``requires``
    (``evidence``: the cycle's significance and SPC; None: not assessed, so a trigger that requires
    evidence is never met). ``evidence`` says what the analysis found; ``note`` is the sentence the
    packs show when a raw figure crosses its bound on a change within normal variation (see
    ``evidence_note``), else empty.
    """
    concerns = concerns or set()
    cadence = config.cadence.period
    names = {m.id: m.name for m in config.measures}
    lookup = {(str(r["unit_code"]), str(r["measure_id"]), str(r["window"])): r
              for r in table.to_dict(orient="records")} if not table.empty else {}
    rows = []
    for unit_code, by_measure in config.accountability.agreements.items():
        for measure_id, agreement in by_measure.items():
            for name, trigger in (("intervene", agreement.intervene_if), ("support", agreement.support_if)):
                if trigger is None:
                    continue
                window = trigger.window or ROLLING_WINDOW[cadence]
                row = lookup.get((unit_code, measure_id, window))
                current = _number(row["current"]) if row else math.nan
                previous = _number(row.get("previous")) if row else math.nan
                pct = _number(row["pct_change"]) if row else math.nan
                in_concern = (unit_code, measure_id) in concerns
                raw = trigger_met(trigger, current, pct, in_concern)
                judged = judge_evidence(trigger, (unit_code, measure_id, window), evidence)
                met = raw and requirement_holds(trigger, judged.significant, judged.special)
                note = evidence_note(names.get(measure_id, measure_id), name, window, current, previous, pct,
                                     raw=raw, met=met, beyond_noise=judged.significant or judged.special,
                                     assessed=judged.known)
                rows.append({"unit_code": unit_code, "measure_id": measure_id, "officer": agreement.officer,
                             "trigger": name, "rule": describe_trigger(trigger, cadence), "window": window,
                             "current": current, "previous": previous, "pct_change": pct, "in_concern": in_concern,
                             "met": met,
                             "judged_on": describe_figure(trigger, window, current, previous, pct, in_concern,
                                                          found=row is not None),
                             "requires": trigger.requires, "raw_met": raw, "evidence": judged.words,
                             "note": note})
    return pd.DataFrame(rows, columns=TRIGGER_COLUMNS).astype({"met": bool, "in_concern": bool, "raw_met": bool})


def evidence_note(measure: str, name: str, window: str, current: float, previous: float, pct_change: float, *,
                  raw: bool, met: bool, beyond_noise: bool, assessed: bool = True) -> str:
    """The sentence beside the level when a raw figure crosses its bound on a change within normal
    variation: "Vehicle crime: raw intervene trigger (+87%, 28 vs 15 over 28 days) met, but within normal
    variation: not escalated" (the trigger required evidence), or "escalated by the agreement's raw
    trigger; the change is within normal variation" (it did not). Empty otherwise."""
    if not raw or (met and (beyond_noise or not assessed)):
        return ""
    if met:  # requires: none, and the analysis sees nothing beyond normal variation
        return "escalated by the agreement's raw trigger; the change is within normal variation"
    figure = _short_figure(window, current, previous, pct_change)
    why = "within normal variation" if assessed else "not confirmed (no significance test or SPC chart of it)"
    return f"{measure}: raw {name} trigger{figure} met, but {why}: not escalated"


def describe_figure(trigger: Trigger, window: str, current: float, previous: float, pct_change: float,
                    in_concern: bool, *, found: bool = True) -> str:
    """The figure a trigger was judged on: ``15 against 10 last year over 28 days, +50.0%``."""
    parts = []
    if any(b is not None for b in (trigger.change_pct_above, trigger.change_pct_below, trigger.value_above,
                                   trigger.value_below)):
        span = WINDOW_NAMES[window]
        if not found or math.isnan(current):
            parts.append(f"no figure for {span} (the cycle for this meeting has not run)")
        else:
            change = "no % change" if math.isnan(pct_change) else numbers.pct(pct_change)
            parts.append(f"{_figure(current)} against {_figure(previous)} last year over {span}, {change}")
    if trigger.concern:
        parts.append("in special-cause concern" if in_concern else "not in special-cause concern")
    return "; ".join(parts)


def meeting_escalation(log: pd.DataFrame, table: pd.DataFrame, config: Config,
                       concerns: Concerns | None = None,
                       evidence: Evidence | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Each unit's level (``UNIT_LEVEL_COLUMNS``) and every agreement trigger (``TRIGGER_COLUMNS``)
    for one meeting, from its action log (with ``action_levels``), period table, concerns and the
    analysis' evidence (``evidence_from``; None: not assessed)."""
    triggers = agreement_triggers(table, config, concerns, evidence)
    levels = unit_levels(log, config, concerns=concerns, triggered=triggers)
    producer = "actions.meeting_escalation"
    return ESCALATION.validate(levels, producer), TRIGGERS.validate(triggers, producer)


def _short_figure(window: str, current: float, previous: float, pct_change: float) -> str:
    """`` (+87%, 28 vs 15 over 28 days)``, or nothing without the figures."""
    if math.isnan(current) or math.isnan(previous):
        return ""
    change = "" if math.isnan(pct_change) else f"{numbers.pct_whole(pct_change)}, "
    return f" ({change}{_figure(current)} vs {_figure(previous)} over {WINDOW_NAMES[window]})"


def _figure(value: float) -> str:
    return "no figure" if math.isnan(value) else numbers.number(value)


def _number(value: object) -> float:
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return number
