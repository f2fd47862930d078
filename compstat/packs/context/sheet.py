"""A unit's CompStat sheet: what a unit the meeting does not call gets instead of the full pack
when ``packs.unit_packs`` is ``called`` (issue #13): the cover's facts, its findings to probe and
to recognise, its actions in a line, why it has a sheet, and the CompStat table (week, 28 days
and year to date against last year). No charts, map or places: those are what make a full pack
cost a second and a half of a core, and a force of hundreds of units calls a few to each meeting.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from compstat.config import Unit
from compstat.packs.context.accountability import accountability
from compstat.packs.context.actions import action_log, actions_detail
from compstat.packs.context.common import plural
from compstat.packs.context.cover import PageFrame, UnitCover, page_frame
from compstat.packs.context.questions import UnitHeadline
from compstat.packs.context.table import PeriodTable, period_table_section
from compstat.packs.context.unit import pack_filenames, unit_cover, unit_headline
from compstat.results import CycleData


@dataclass(frozen=True)
class UnitSheet:
    """Everything ``unit_sheet.html`` renders for one leaf unit the meeting does not call."""

    template: str
    filename: str
    unit_code: str
    title: str
    frame: PageFrame
    cover: UnitCover
    why: str  # why this unit has a sheet, not the full pack, and which units have full packs
    headline: UnitHeadline
    actions: str  # the action log in a line (``actions_detail``)
    table: PeriodTable


def unit_sheet(data: CycleData, unit: Unit, called: Mapping[str, str]) -> UnitSheet:
    """The context of one unit's CompStat sheet; ``called``: the units with full packs (``agenda.called_units``)."""
    support = data.config.accountability.escalation.support_level
    actions = action_log(data, unit.code)
    headline, _ = unit_headline(data, unit, "the table's footnotes mark the comparisons")
    why = (f"This unit is not called to this meeting, so this sheet gives its figures, findings and actions. "
           f"Full briefing packs (charts, map, questions) go to the {plural(len(called), 'unit')} the meeting "
           f"calls: the host unit, the units of the chair's top findings to probe and units at escalation "
           f"level {support} or above (packs.unit_packs: called).")
    return UnitSheet(
        template="unit_sheet.html", filename=pack_filenames(data.config)[unit.code], unit_code=unit.code,
        title=f"{unit.name} ({unit.code}) — CompStat sheet {data.period.label}",
        frame=page_frame(data, f"{unit.name} ({unit.code}) · CompStat sheet"),
        cover=unit_cover(data, unit, actions, accountability(data, unit.code)), why=why, headline=headline,
        actions=actions_detail(actions), table=period_table_section(data, unit.code, assess=False, longer=False),
    )
