"""The unit briefing: headline, questions and support offers cite their evidence."""

from __future__ import annotations

from datetime import date

import pandas as pd

from compstat.packs.briefing import unit_briefing


def probe_rows(unit: str, n: int) -> pd.DataFrame:
    return pd.DataFrame([{"rank": i + 1, "unit_code": unit, "measure_name": f"Measure {i}",
                          "reason": f"Measure {i} up {10 * (i + 1)}% on last year's 28 days",
                          "question": "What has changed here?"} for i in range(n)])


def actions(**overrides: object) -> pd.DataFrame:
    row = {"id": 7, "unit_code": "A", "description": "Patrol <the> estate", "owner": "Insp A",
           "due_date": date(2026, 3, 1), "status": "open", "carried": True, "overdue": True,
           "meetings_carried": 2, "support_requested": "", "escalation_level": 1,
           "escalation_label": "increased challenge"}
    row.update(overrides)
    return pd.DataFrame([row])


def test_headline_takes_top_three_and_one_recognition() -> None:
    recognition = pd.DataFrame([{"rank": 1, "unit_code": "A", "measure_name": "Burglary",
                                 "reason": "Burglary down 30%", "question": "What made the difference?"}])
    brief = unit_briefing("A", probe_rows("A", 5), recognition, actions())
    assert [h.measure for h in brief.probes] == ["Measure 0", "Measure 1", "Measure 2"]
    assert brief.recognise is not None and brief.recognise.reason == "Burglary down 30%"
    first = brief.questions[0]
    assert first.topic == "Action 7" and "due on 1 Mar 2026 and is still open" in first.question
    assert "Patrol <the> estate" in first.evidence  # escaped by the template, not here
    assert [q.evidence for q in brief.questions[1:6]] == list(probe_rows("A", 5)["reason"])
    assert brief.questions[-1].question == "What made the difference?"
    assert len(brief.support) == 2 and "Measure 0 up 10%" in brief.support[0].because


def test_other_units_and_nothing_to_say() -> None:
    brief = unit_briefing("B", probe_rows("A", 2), None, actions())
    assert brief.probes == () and brief.recognise is None and brief.questions == () and brief.support == ()


def test_support_requested_and_support_plan() -> None:
    brief = unit_briefing("A", None, None, actions(support_requested="Two extra PCSOs"),
                          (2, "support plan", "robbery: support trigger met"))
    offers = [s.offer for s in brief.support]
    assert "Respond to the support asked for: Two extra PCSOs" in offers
    plan = [s for s in brief.support if s.offer == "Agree a support plan with named help from headquarters"]
    assert [p.because for p in plan] == [
        "The unit is at escalation level 2 (support plan): robbery: support trigger met"]


def test_the_support_plan_follows_the_units_level_not_its_actions() -> None:
    """The offer depends on the unit's level for the meeting (triggers and concerns included), not
    on its actions' levels alone."""
    plan = "Agree a support plan with named help from headquarters"
    high_action = actions(escalation_level=3, escalation_label="formal intervention")

    def offers(frame: pd.DataFrame, *level: object, **kwargs: int) -> list[str]:
        return [s.offer for s in unit_briefing("A", None, None, frame, *level, **kwargs).support]

    assert plan not in offers(high_action, (1, "increased challenge", ""))
    assert plan in offers(actions(), (3, "formal intervention", ""))
    assert plan in offers(actions(), (1, "act", ""), support_level=1)
    assert plan not in offers(high_action)  # not assessed


def concern(measure_id: str) -> pd.DataFrame:
    return pd.DataFrame([{"rank": 1, "unit_code": "A", "measure_id": measure_id, "measure_name": "Robbery",
                          "reason": "Robbery up 50% on last year's 28 days (15 vs 10)",
                          "question": "What has changed here?"}])


def test_a_concern_with_an_open_action_asks_whether_it_is_working() -> None:
    """Not overdue, same measure: the effect is cited when measured, else the status and age."""
    measured = actions(id=9, measure_id="robbery", overdue=False, status="in progress", meetings_carried=3,
                       raised_on=date(2026, 2, 1), effect="worsened",
                       effect_text="worsened: 21 in the 28 days after vs 9 in the 28 days before (rate ratio 2.33, "
                                   "p = 0.027)")
    brief = unit_briefing("A", concern("robbery"), None, measured)
    assert [q.topic for q in brief.questions] == ["Robbery", "Robbery: action 9"]
    working = brief.questions[1]
    assert working.question == "Action 9 was agreed for this: is it working, and what changes if it is not?"
    assert working.evidence == ("Action 9 (Patrol <the> estate): worsened: 21 in the 28 days after vs 9 in the 28 "
                                "days before (rate ratio 2.33, p = 0.027)")
    early = unit_briefing("A", concern("robbery"), None, actions(
        id=9, measure_id="robbery", overdue=False, status="in progress", meetings_carried=1,
        raised_on=date(2026, 2, 22), effect="too early", effect_text="too early")).questions[1]
    assert early.evidence == ("Action 9 (Patrol <the> estate): in progress, raised 22 Feb 2026, carried 1 meeting; "
                              "effect on robbery: too early")
    unmeasured = unit_briefing("A", concern("robbery"), None, actions(
        id=9, measure_id="robbery", overdue=False, meetings_carried=2, raised_on=date(2026, 2, 8),
        effect=float("nan"), effect_text=float("nan"))).questions[1]
    assert unmeasured.evidence == "Action 9 (Patrol <the> estate): open, raised 8 Feb 2026, carried 2 meetings"


def test_no_working_question_for_other_measures_closed_or_overdue_actions() -> None:
    for row in ({"measure_id": "burglary", "overdue": False}, {"measure_id": "robbery", "status": "done",
                                                                 "overdue": False, "carried": True},
                {"measure_id": "robbery", "overdue": True}, {"measure_id": None, "overdue": False}):
        brief = unit_briefing("A", concern("robbery"), None, actions(**row))
        assert all("is it working" not in q.question for q in brief.questions), row


def test_support_offers_come_from_the_findings_when_the_analysis_gives_them() -> None:
    probe = concern("robbery").assign(support="An introduction to the similar units doing better")
    recognition = pd.DataFrame([{"rank": 1, "unit_code": "A", "measure_name": "Burglary", "reason": "Burglary down 30%",
                                 "question": "What made the difference?", "support": "Help to write it up"}])
    brief = unit_briefing("A", probe, recognition, actions(overdue=False, carried=False))
    assert [(s.offer, s.because) for s in brief.support] == [
        ("An introduction to the similar units doing better", "Robbery up 50% on last year's 28 days (15 vs 10)"),
        ("Help to write it up", "Burglary down 30%")]
    generic = unit_briefing("A", concern("robbery"), None, actions(overdue=False, carried=False)).support
    assert [s.offer for s in generic] == [
        "Analyst support: a problem profile of robbery (where, when, who) before the next meeting"]
