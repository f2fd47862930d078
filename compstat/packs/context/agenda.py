"""The chair's fixed agenda: actions, force-wide themes, the host unit's deep dive (by rotation
or named in the config) and recognition; and the host unit's deep-dive section: its key figures,
its findings to probe and recognise, its actions and the questions to ask.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import pandas as pd

from compstat.config import Unit
from compstat.packs.briefing import Headline, unit_briefing
from compstat.packs.context.accountability import unit_escalation
from compstat.packs.context.actions import ActionLog, ActionRow, action_log, actions_detail
from compstat.packs.context.caveats import caveat_footnotes, comparison_caveats
from compstat.packs.context.charts import spc_measures
from compstat.packs.context.common import NO_FINDINGS, NO_RECOGNITION, plural, unit_names
from compstat.packs.context.findings import CHAIR_FINDINGS, FindingRow, Findings, finding_rows
from compstat.packs.context.questions import Questions, briefing_actions
from compstat.packs.context.table import CAUTION, NO_COMPARISON, PeriodTable, period_table_section
from compstat.packs.context.themes import Themes
from compstat.packs.lookup import ACTIONS, PROBE, RECOGNITION, unit_rows
from compstat.quality.findings import listed
from compstat.results import CycleData


@dataclass(frozen=True)
class AgendaItem:
    number: int
    title: str
    detail: str


@dataclass(frozen=True)
class HostUnit:
    """The unit whose deep dive this meeting holds: ``meeting.host`` for the period if set, else by
    rotation through the accountable units in config order (one per period), the unit due first
    that has findings to probe (``chosen_by`` says which was due and why it was passed over)."""

    unit_code: str
    unit_name: str
    chosen_by: str
    concerns: tuple[Headline, ...]


@dataclass(frozen=True)
class Agenda:
    """The chair's fixed agenda: actions first, force-wide themes, the host unit, recognition."""

    items: tuple[AgendaItem, ...]
    host: HostUnit | None
    called: str = ""  # with packs.unit_packs: called, which units have full packs (``called_line``)


@dataclass(frozen=True)
class DeepDive:
    """The host unit's section of the chair's pack: who and why, where it stands (escalation level,
    overdue actions), the figures its findings cite (a period table of those measures), its
    findings to probe and to recognise, its actions and the questions and support to offer."""

    host: HostUnit
    commander: str
    escalation: str
    table: PeriodTable
    table_note: str
    probes: tuple[FindingRow, ...]
    recognition: tuple[FindingRow, ...]
    actions: tuple[ActionRow, ...]
    actions_summary: str
    questions: Questions
    empty_probes: str = NO_FINDINGS
    empty_recognition: str = NO_RECOGNITION


def host_unit(data: CycleData) -> HostUnit | None:
    """This meeting's host: ``meeting.host`` for the period if set, else the unit due in rotation
    (the period's ordinal modulo the number of units, in config order) or, when the unit due has
    nothing to probe, the next in rotation that has: a deep dive into a unit with no finding has
    nothing to ask, and the unit passed over comes up again when it has. With nothing to probe in
    any unit, the unit due hosts (and ``chosen_by`` says so)."""
    leaves = data.config.leaf_units
    if not leaves:
        return None
    probed = _probed_units(data)
    chosen = data.config.meeting.host.get(data.period.label)
    if chosen is not None:
        unit = next(u for u in leaves if u.code == chosen)
        how = "named in the config (meeting.host)"
    else:
        due = period_ordinal(data) % len(leaves)
        order = [(due + k) % len(leaves) for k in range(len(leaves))]
        index = next((i for i in order if leaves[i].code in probed), due)
        unit = leaves[index]
        how = f"in rotation ({index + 1} of {len(leaves)})"
        if index != due:
            passed = [leaves[i] for i in order[:order.index(index)]]
            names = ", ".join(f"{u.name} ({u.code})" for u in passed)
            how += f": {names}, due first, {'has' if len(passed) == 1 else 'have'} nothing to probe"
        elif not probed:
            how += ": no unit has findings to probe this period"
    concerns: tuple[Headline, ...] = ()
    if data.analysis is not None and not data.analysis.probe.empty:
        probe = data.analysis.probe
        mine = probe[probe["unit_code"] == unit.code].sort_values("rank").head(2)
        concerns = tuple(Headline(str(r["measure_name"]), str(r["reason"])) for r in mine.to_dict(orient="records"))
    return HostUnit(unit_code=unit.code, unit_name=unit.name, chosen_by=how, concerns=concerns)


def _probed_units(data: CycleData) -> set[str]:
    """The units with at least one finding to probe this cycle."""
    if data.analysis is None or data.analysis.probe.empty:
        return set()
    return {str(c) for c in data.analysis.probe["unit_code"]}


def period_ordinal(data: CycleData) -> int:
    """Consecutive periods have consecutive ordinals: weeks since day 1, or months since year 0."""
    start = data.period.start
    if data.config.cadence.period == "monthly":
        return start.year * 12 + start.month - 1
    return start.toordinal() // 7


def called_units(data: CycleData) -> dict[str, str]:
    """The accountable units this meeting calls, each with why, in config order: the host unit, the
    units of the chair's top findings to probe (the ``CHAIR_FINDINGS`` the chair's pack lists), units
    at or above the escalation ladder's support level, and ``packs.full``. With ``packs.unit_packs:
    called`` these get the full pack and every other unit a CompStat sheet (``context.sheet``)."""
    config = data.config
    reasons: dict[str, list[str]] = {}
    host = host_unit(data)
    if host is not None:
        reasons.setdefault(host.unit_code, []).append("the host unit")
    probe = data.analysis.probe if data.analysis is not None else None
    ranks: dict[str, list[str]] = {}
    for row in finding_rows(probe, {}, CHAIR_FINDINGS):
        ranks.setdefault(row.unit_code, []).append(str(row.rank))
    for code, mine in ranks.items():
        reasons.setdefault(code, []).append(f"the chair's {'finding' if len(mine) == 1 else 'findings'} to probe "
                                            f"({'rank' if len(mine) == 1 else 'ranks'} {listed(mine, CHAIR_FINDINGS)})")
    support = config.accountability.escalation.support_level
    for unit in config.leaf_units:
        level = unit_escalation(data, unit.code)[0]
        if level >= support:
            reasons.setdefault(unit.code, []).append(f"escalation level {level}")
    for code in config.packs.full:
        reasons.setdefault(code, []).append("named in the config (packs.full)")
    return {u.code: "; ".join(reasons[u.code]) for u in config.leaf_units if u.code in reasons}


def called_line(data: CycleData) -> str:
    """With ``packs.unit_packs: called``, the units whose full packs this meeting has, named, and what the rest
    have; empty when every unit has its full pack."""
    if data.config.packs.unit_packs != "called":
        return ""
    called = called_units(data)
    names = unit_names(data.config)
    others = len(data.config.leaf_units) - len(called)
    listed = ", ".join(f"{names.get(code, code)} ({code})" for code in called) or "none"
    return (f"Full briefing packs for the {plural(len(called), 'unit')} this meeting calls: {listed}. "
            f"The other {plural(others, 'unit')} {'has' if others == 1 else 'have'} a CompStat sheet "
            "(packs.unit_packs: called).")


def agenda_section(data: CycleData, actions: ActionLog, themes: Themes, recognition: Findings,
                   host_where: str = "") -> Agenda:
    """The fixed agenda: actions, force-wide themes, the host unit's deep dive, good practice and
    recognition; ``host_where`` names the section holding the deep dive."""
    host = host_unit(data)
    if host is None:
        host_detail = "no accountable units"
    else:
        top = host.concerns[0].measure if host.concerns else NO_FINDINGS.lower()
        host_detail = (f"{host.unit_name} ({host.unit_code}), {host.chosen_by}; top concern: {top}"
                       + (f"; {host_where}" if host_where else ""))
    return Agenda(items=(
        AgendaItem(1, "Actions from the last meeting", actions_detail(actions)),
        AgendaItem(2, "Force-wide themes", themes.summary),
        AgendaItem(3, "Host unit deep dive", host_detail),
        AgendaItem(4, "Good practice and recognition",
                   "; ".join(f"{r.unit_name}: {r.measure_name}" for r in recognition.rows[:3]) or NO_RECOGNITION),
    ), host=host, called=called_line(data))


def deep_dive(data: CycleData, host: HostUnit) -> DeepDive:
    """The host unit's deep dive: its key figures (the period table of the measures its findings
    cite, else its charted measures), every finding about it, its actions and the questions."""
    config = data.config
    unit: Unit = next(u for u in config.leaf_units if u.code == host.unit_code)
    names = unit_names(config)
    analysis = data.analysis
    probes = _unit_findings(analysis.probe if analysis is not None else None, unit.code, names)
    recognition = _unit_findings(analysis.recognition if analysis is not None else None, unit.code, names)
    by_name = {m.name: m.id for m in config.reported_measures}
    cited = [by_name[f.measure_name] for f in (*probes, *recognition) if f.measure_name in by_name]
    keys = list(dict.fromkeys(cited)) or list(spc_measures(data, unit.code))
    whole = period_table_section(data, unit.code, assess=True)
    rows = tuple(r for r in whole.rows if r.measure_id in keys)
    cells = [c for r in rows for c in r.cells]
    caveats = comparison_caveats(data)
    marked = [(r.name, w.label.lower(), caveats.get((unit.code, r.measure_id, w.key), ()))
              for r in rows for w in whole.windows]
    notes = tuple(n for n in whole.footnotes  # the table's own footnotes, for the cells shown
                  if (n.startswith(NO_COMPARISON) and any(c.pct_missing == NO_COMPARISON and c.previous == 0
                                                          for c in cells))
                  or (n.startswith(CAUTION) and any(c.caution for c in cells)))
    notes += caveat_footnotes(marked)
    table = replace(whole, rows=rows, footnotes=notes)
    table_note = ("The measures its findings cite; every measure is in its own pack." if cited
                  else "Its charted measures (nothing to probe or recognise); every measure is in its own pack.")
    level, label, reason = unit_escalation(data, unit.code)
    log = action_log(data, unit.code)
    briefing = unit_briefing(unit.code, unit_rows(data, PROBE, unit.code) if analysis else None,
                             unit_rows(data, RECOGNITION, unit.code) if analysis else None,
                             briefing_actions(unit_rows(data, ACTIONS, unit.code)),
                             (level, label, reason), config.accountability.escalation.support_level)
    questions = Questions(questions=briefing.questions, support=briefing.support,
                          questions_message=f"No questions: {NO_FINDINGS.lower()}, and no overdue actions.",
                          support_message="No support suggested this cycle.")
    return DeepDive(
        host=host, commander=unit.commander or "not recorded",
        escalation=f"{level} ({label or ('no escalation' if level == 0 else f'level {level}')})"
                   + (f": {reason}" if reason else ""),
        table=table, table_note=table_note, probes=probes, recognition=recognition,
        actions=(*log.carried, *log.completed), actions_summary=actions_detail(log), questions=questions,
    )


def _unit_findings(frame: pd.DataFrame | None, unit_code: str, names: dict[str, str]) -> tuple[FindingRow, ...]:
    if frame is None or frame.empty:
        return ()
    return finding_rows(frame[frame["unit_code"] == unit_code], names, None)
