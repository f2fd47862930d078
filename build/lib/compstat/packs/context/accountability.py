"""Accountability and escalation: a unit's agreements and triggers with its escalation level
for this meeting, and the chair's intervention ladder of units at level 1 or above.
"""

from __future__ import annotations

from dataclasses import dataclass

from compstat.actions import AgreementLine, judged_agreements
from compstat.packs.context.common import text_of, unit_names
from compstat.results import CycleData


@dataclass(frozen=True)
class Accountability:
    """Who answers for each measure, with the triggers for support and intervention and whether
    each is met at this meeting (with the figure it was judged on), and the unit's escalation
    level for this meeting (``CycleData.escalation``: actions, concerns and triggers)."""

    lines: tuple[AgreementLine, ...]
    empty_message: str
    level: int
    level_label: str
    level_reason: str


@dataclass(frozen=True)
class LadderRow:
    """A unit on the intervention ladder: its escalation level for this meeting, and why."""

    unit_code: str
    unit_name: str
    level: int
    label: str
    reason: str


@dataclass(frozen=True)
class Ladder:
    """Units on the intervention ladder (escalation level 1 or above)."""

    rows: tuple[LadderRow, ...]
    empty_message: str


def unit_escalation(data: CycleData, unit_code: str) -> tuple[int, str, str]:
    """The unit's escalation level for this meeting, its label and reason (``CycleData.escalation``,
    worked out once by the cycle: open actions, unanswered concerns, met agreement triggers)."""
    frame = data.escalation
    if frame is None or frame.empty:
        return 0, "", "escalation was not assessed in this cycle"
    mine = frame[frame["unit_code"] == unit_code]
    if mine.empty:
        return 0, "", ""
    r = mine.iloc[0]
    return int(r["escalation_level"]), text_of(r["escalation_label"]), text_of(r["escalation_reason"])


def accountability(data: CycleData, unit_code: str) -> Accountability:
    level, label, reason = unit_escalation(data, unit_code)
    return Accountability(
        lines=tuple(judged_agreements(data.config, unit_code, data.triggers)),
        empty_message="No accountability agreement is recorded for this unit.",
        level=level, level_label=label or ("no escalation" if level == 0 else f"level {level}"),
        level_reason=reason,
    )


def ladder_section(data: CycleData) -> Ladder:
    """Units at escalation level 1 or above for this meeting, highest first (config order within a level)."""
    names = unit_names(data.config)
    ladder = []
    for code in [u.code for u in data.config.leaf_units]:
        level, label, reason = unit_escalation(data, code)
        if level >= 1:
            ladder.append(LadderRow(code, names[code], level, label or f"level {level}", reason))
    ladder.sort(key=lambda r: -r.level)  # highest first; config order within a level
    return Ladder(rows=tuple(ladder), empty_message="No unit has actions escalated to level 1 or above.")
