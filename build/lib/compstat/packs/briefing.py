"""The challenger's briefing for one unit: what to probe, what to recognise, what to ask, what to offer.

Pure: the ranked findings (``AnalysisResult.probe`` / ``.recognition``) and the action log in,
plain dataclasses out. Every question and offer cites the figure or the action it rests on, so
nobody needs the analyst in the room to explain it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pandas as pd

from compstat.actions import CLOSED
from compstat.actions.effect import NOT_ASSESSED, TOO_EARLY

HEADLINE_PROBES = 3
UNMEASURED = (TOO_EARLY, NOT_ASSESSED)  # effect verdicts that say nothing yet
SUPPORT_PLAN_LEVEL = 2


@dataclass(frozen=True)
class Headline:
    """One line of the cover: the measure and why it matters now."""

    measure: str
    reason: str


@dataclass(frozen=True)
class Question:
    """A suggested challenge question and the evidence it cites."""

    topic: str
    question: str
    evidence: str


@dataclass(frozen=True)
class SupportOffer:
    offer: str
    because: str


@dataclass(frozen=True)
class Briefing:
    probes: tuple[Headline, ...]
    recognise: Headline | None
    questions: tuple[Question, ...]
    support: tuple[SupportOffer, ...]


def unit_briefing(unit_code: str, probe: pd.DataFrame | None, recognition: pd.DataFrame | None,
                  actions: pd.DataFrame, escalation: tuple[int, str, str] | None = None,
                  support_level: int = SUPPORT_PLAN_LEVEL) -> Briefing:
    """The headline (top three concerns, the one improvement to recognise), questions and offers.

    ``escalation`` is the unit's (level, label, reason) for this meeting (``CycleData.escalation``);
    at ``support_level`` or above a support plan is offered, citing why the unit is there.
    """
    concerns = _rows(probe, unit_code)
    improvements = _rows(recognition, unit_code)
    probes = tuple(Headline(str(r["measure_name"]), str(r["reason"])) for r in concerns[:HEADLINE_PROBES])
    recognise = Headline(str(improvements[0]["measure_name"]), str(improvements[0]["reason"])) if improvements else None

    mine = _unit_actions(actions, unit_code)
    questions = [_action_question(a) for a in mine if a.get("carried") and a.get("overdue")]
    for r in concerns:
        questions.append(Question(str(r["measure_name"]), str(r["question"]), str(r["reason"])))
        questions += [_working_question(a, str(r["measure_name"])) for a in mine
                      if a.get("carried") and not a.get("overdue") and _text(a.get("status")) not in CLOSED
                      and _text(a.get("measure_id")) == _text(r.get("measure_id")) != ""]
    if recognise is not None:
        questions.append(Question(recognise.measure, str(improvements[0]["question"]), recognise.reason))

    support = [SupportOffer(_support_for(r), str(r["reason"])) for r in concerns[:2]]
    if recognise is not None and _text(improvements[0].get("support")):
        support.append(SupportOffer(_text(improvements[0]["support"]), recognise.reason))
    for action in _unit_actions(actions, unit_code):
        if action.get("carried") and str(action.get("support_requested") or "").strip():
            support.append(SupportOffer(f"Respond to the support asked for: {action['support_requested']}",
                                        f"Action {action['id']}: {action['description']}"))
    if escalation is not None and escalation[0] >= support_level:
        level, label, reason = escalation
        support.append(SupportOffer("Agree a support plan with named help from headquarters",
                                    f"The unit is at escalation level {level} ({label})"
                                    + (f": {reason}" if reason else "")))
    return Briefing(probes, recognise, tuple(questions), tuple(support))


def _support_for(finding: dict[str, Any]) -> str:
    """The support the analysis offers for the finding's evidence, else a problem profile of the measure."""
    return _text(finding.get("support")) or (f"Analyst support: a problem profile of "
                                             f"{str(finding['measure_name']).lower()} (where, when, who) before the "
                                             "next meeting")


def _working_question(action: dict[str, Any], measure_name: str) -> Question:
    """For a concern with an open action on the same measure: is that action working? Cites the
    action's measured effect when there is one, else its status and age."""
    effect, text = _text(action.get("effect")), _text(action.get("effect_text"))
    raised = _text(action.get("raised_on"))
    carried = 0 if _text(action.get("meetings_carried")) == "" else int(action["meetings_carried"])
    age = f"raised {pd.Timestamp(raised).strftime('%-d %b %Y')}, " if raised else ""
    age += f"carried {carried} meeting{'' if carried == 1 else 's'}"
    if effect and effect not in UNMEASURED:
        evidence = f"Action {action['id']} ({action['description']}): {text or effect}"
    else:
        evidence = f"Action {action['id']} ({action['description']}): {_text(action.get('status')) or 'open'}, {age}"
        if effect in UNMEASURED:
            evidence += f"; effect on {measure_name.lower()}: {effect}"
    return Question(f"{measure_name}: action {action['id']}",
                    f"Action {action['id']} was agreed for this: is it working, and what changes if it is not?",
                    evidence)


def _text(value: object) -> str:
    """A cell as text: empty for None, NaN and NaT."""
    return "" if value is None or (not isinstance(value, str) and bool(pd.isna(value))) else str(value)  # type: ignore[call-overload]


def _action_question(action: dict[str, Any]) -> Question:
    due = pd.Timestamp(action["due_date"]).strftime("%-d %b %Y")
    return Question(
        f"Action {action['id']}",
        f"This was due on {due} and is still {action['status']}: what stopped it, and when will it be done?",
        f"Promised: {action['description']} (owner {action['owner']}, "
        f"carried {action.get('meetings_carried', 0)} meeting(s))",
    )


def _rows(frame: pd.DataFrame | None, unit_code: str) -> list[dict[str, Any]]:
    if frame is None or frame.empty:
        return []
    mine = frame[frame["unit_code"] == unit_code]
    if "rank" in mine.columns:
        mine = mine.sort_values("rank")
    return mine.to_dict(orient="records")  # type: ignore[return-value]


def _unit_actions(actions: pd.DataFrame, unit_code: str) -> list[dict[str, Any]]:
    if actions.empty:
        return []
    return actions[actions["unit_code"] == unit_code].to_dict(orient="records")  # type: ignore[return-value]
