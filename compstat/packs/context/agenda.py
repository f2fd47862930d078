"""The chair's fixed agenda: actions, force-wide themes, the host unit's deep dive (by rotation
or named in the config) and recognition.
"""

from __future__ import annotations

from dataclasses import dataclass

from compstat.packs.briefing import Headline
from compstat.packs.context.actions import ActionLog, actions_detail
from compstat.packs.context.common import NO_FINDINGS, NO_RECOGNITION
from compstat.packs.context.findings import Findings
from compstat.packs.context.themes import Themes
from compstat.results import CycleData


@dataclass(frozen=True)
class AgendaItem:
    number: int
    title: str
    detail: str


@dataclass(frozen=True)
class HostUnit:
    """The unit whose deep dive this meeting holds: by rotation through the accountable units in
    config order (one per period), unless ``meeting.host`` names one for the period."""

    unit_code: str
    unit_name: str
    chosen_by: str
    concerns: tuple[Headline, ...]


@dataclass(frozen=True)
class Agenda:
    """The chair's fixed agenda: actions first, force-wide themes, the host unit, recognition."""

    items: tuple[AgendaItem, ...]
    host: HostUnit | None


def host_unit(data: CycleData) -> HostUnit | None:
    """This meeting's host: ``meeting.host`` for the period if set, else the next accountable unit in
    config order, one per period (the period's ordinal modulo the number of units)."""
    leaves = data.config.leaf_units
    if not leaves:
        return None
    chosen = data.config.meeting.host.get(data.period.label)
    if chosen is not None:
        unit = next(u for u in leaves if u.code == chosen)
        how = "named in the config (meeting.host)"
    else:
        index = period_ordinal(data) % len(leaves)
        unit = leaves[index]
        how = f"in rotation ({index + 1} of {len(leaves)})"
    concerns: tuple[Headline, ...] = ()
    if data.analysis is not None and not data.analysis.probe.empty:
        probe = data.analysis.probe
        mine = probe[probe["unit_code"] == unit.code].sort_values("rank").head(2)
        concerns = tuple(Headline(str(r["measure_name"]), str(r["reason"])) for r in mine.to_dict(orient="records"))
    return HostUnit(unit_code=unit.code, unit_name=unit.name, chosen_by=how, concerns=concerns)


def period_ordinal(data: CycleData) -> int:
    """Consecutive periods have consecutive ordinals: weeks since day 1, or months since year 0."""
    start = data.period.start
    if data.config.cadence.period == "monthly":
        return start.year * 12 + start.month - 1
    return start.toordinal() // 7


def agenda_section(data: CycleData, actions: ActionLog, themes: Themes, recognition: Findings) -> Agenda:
    """The fixed agenda: actions, force-wide themes, the host unit's deep dive, good practice and recognition."""
    host = host_unit(data)
    if host is None:
        host_detail = "no accountable units"
    else:
        top = host.concerns[0].measure if host.concerns else NO_FINDINGS.lower()
        host_detail = f"{host.unit_name} ({host.unit_code}), {host.chosen_by}; top concern: {top}"
    return Agenda(items=(
        AgendaItem(1, "Actions from the last meeting", actions_detail(actions)),
        AgendaItem(2, "Force-wide themes", themes.summary),
        AgendaItem(3, "Host unit deep dive", host_detail),
        AgendaItem(4, "Good practice and recognition",
                   "; ".join(f"{r.unit_name}: {r.measure_name}" for r in recognition.rows[:3]) or NO_RECOGNITION),
    ), host=host)
