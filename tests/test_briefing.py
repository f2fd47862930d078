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
