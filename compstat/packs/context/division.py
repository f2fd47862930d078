"""A division's pack (a patrol borough, an area: a unit with units below it): ``division_pack``
assembles its sections in pack order into ``DivisionPack``.

The division's own figures are the sums of its units' (``hierarchy``), judged as a
unit's are. The pack leads with its commander and its own headline findings, then its units side
by side, its period table and charts (the unit pack's builders), what to probe and recognise in
its units, the actions of its units, questions and support, and the data-quality notes about
its units.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from compstat import schemas
from compstat.config import Unit
from compstat.hierarchy import division_leaves
from compstat.packs.briefing import unit_briefing
from compstat.packs.context.actions import ActionLog, action_log, actions_detail
from compstat.packs.context.appendix import GlancePart, glance_parts
from compstat.packs.context.charts import ChartSection, chart_section, charts_detail, spc_measures
from compstat.packs.context.common import NO_FINDINGS, NO_RECOGNITION, headline_window, plural, unit_names
from compstat.packs.context.cover import Contents, ContentsEntry, PageFrame, page_frame
from compstat.packs.context.findings import FindingRow, Findings
from compstat.packs.context.quality import QualityNotes, division_quality_notes
from compstat.packs.context.questions import Questions, UnitHeadline, briefing_actions
from compstat.packs.context.table import Glance, PeriodTable, period_table_section, units_glance, window_headings
from compstat.packs.lookup import ACTIONS, PROBE, RECOGNITION, Frame, unit_records, unit_rows
from compstat.results import CycleData

UNIT_FINDINGS = 10  # findings of its units listed in a division's pack, each way


@dataclass(frozen=True)
class DivisionCover:
    """The division pack's first page: who is accountable, its units, the period, how fresh the data is;
    ``part_of`` names the division above it (empty for a division directly under the organisation)."""

    organisation: str
    name: str
    code: str
    commander: str
    part_of: str
    units: str
    n_units: int
    period_label: str
    period_start: date
    period_end: date
    meeting_date: date
    data_as_of: date | None
    run_at: datetime


@dataclass(frozen=True)
class DivisionPack:
    """Everything ``division_pack.html`` renders for one division."""

    template: str
    filename: str
    unit_code: str
    title: str
    frame: PageFrame
    contents: Contents
    cover: DivisionCover
    headline: UnitHeadline
    units: Glance
    unit_parts: tuple[GlancePart, ...]  # ``units`` in parts of at most ``appendix.GLANCE_COLUMNS`` measures
    table: PeriodTable
    charts: ChartSection
    probe: Findings
    recognition: Findings
    actions: ActionLog
    questions: Questions
    quality: QualityNotes


def division_pack(data: CycleData, division: Unit, filename: str) -> DivisionPack:
    """The context for one division's pack (``filename``: its PDF's name, ``unit.pack_filenames``)."""
    config = data.config
    names = unit_names(config)
    leaves = division_leaves(config)[division.code]
    children = [c.code for c in division.children]
    parent = config.parents().get(division.code)
    period = data.period
    frame = page_frame(data, f"{division.name} ({division.code}) · division pack")
    as_of = [data.data_as_of[c] for c in leaves if c in data.data_as_of]
    cover = DivisionCover(
        organisation=config.organisation.name, name=division.name, code=division.code,
        commander=division.commander or "not recorded",
        part_of=names.get(parent, parent) if parent else "",
        units=", ".join(f"{names[c]} ({c})" for c in children), n_units=len(children),
        period_label=period.label, period_start=period.start, period_end=period.end,
        meeting_date=data.meeting_date, data_as_of=min(as_of) if as_of else None, run_at=data.run_at,
    )
    analysis = data.analysis
    briefing = unit_briefing(division.code,
                             unit_rows(data, PROBE, division.code) if analysis else None,
                             unit_rows(data, RECOGNITION, division.code) if analysis else None,
                             briefing_actions(unit_rows(data, ACTIONS, division.code)))
    headline = UnitHeadline(probes=briefing.probes, recognise=briefing.recognise, message=NO_FINDINGS,
                            recognise_message=NO_RECOGNITION)
    questions = Questions(
        questions=briefing.questions, support=briefing.support,
        questions_message=f"No questions about the division's own figures: {NO_FINDINGS.lower()}.",
        support_message="No support suggested for the division as a whole this cycle.",
    )
    headings = window_headings(data)
    window = next((w for w in headings if w.key == headline_window(data)), headings[min(1, len(headings) - 1)])
    side_by_side = units_glance(data, children, division.code, window)
    side_by_side = replace(side_by_side, lead=f"{side_by_side.lead} The division's row (last) combines its units: "
                           "counts are their sum; rates and averages are worked out over all their records.")
    actions = _actions(data, leaves)
    probe = _unit_findings(data, PROBE, children, names, "No unit of this division has a finding "
                           "beyond normal variation.")
    recognition = _unit_findings(data, RECOGNITION, children, names,
                                 "No unit of this division has an improvement beyond normal variation to recognise.")
    quality = division_quality_notes(data, leaves, names)
    charts = chart_section(data, division.code, spc_measures(data, division.code), peers=True)
    contents = Contents(tuple(ContentsEntry(anchor, n, title, detail) for n, (anchor, title, detail) in enumerate([
        ("units", f"Its units side by side: {window.label.lower()}", plural(len(children), "unit")),
        ("performance", "The division against last year", ""),
        ("charts", "Charts: variation, year to date, other divisions", charts_detail(charts)),
        ("probe", "What to probe in its units", plural(len(probe.rows), "finding")),
        ("recognition", "What to recognise in its units", plural(len(recognition.rows), "finding")),
        ("actions", "Actions of its units from the last meeting", actions_detail(actions)),
        ("questions", "Suggested challenge questions and support",
         f"{plural(len(questions.questions), 'question')}, {plural(len(questions.support), 'offer')}"),
        ("quality", "Data-quality notes", plural(quality.count, "finding") if quality.count else "none"),
    ], start=1)))
    return DivisionPack(
        template="division_pack.html", filename=filename, unit_code=division.code,
        title=f"{division.name} ({division.code}) — division pack {period.label}", frame=frame, contents=contents,
        cover=cover, headline=headline, units=side_by_side,
        unit_parts=glance_parts(side_by_side, config),
        table=period_table_section(data, division.code, assess=True, longer=True), charts=charts, probe=probe,
        recognition=recognition, actions=actions, questions=questions, quality=quality,
    )


def _actions(data: CycleData, leaves: list[str]) -> ActionLog:
    """The action log of the division's units, in config order (``action_log`` over every unit, narrowed)."""
    every = action_log(data, None)
    mine = set(leaves)
    carried = tuple(r for r in every.carried if r.unit_code in mine)
    completed = tuple(r for r in every.completed if r.unit_code in mine)
    return replace(every, carried=carried, completed=completed, n_open=len(carried),
                   n_overdue=sum(r.overdue for r in carried), n_completed=len(completed),
                   empty_message="There are no actions carried forward for the division's units from earlier "
                                 "meetings.")


def _unit_findings(data: CycleData, frame: Frame[schemas.FindingRow], children: list[str], names: dict[str, str],
                   empty: str) -> Findings:
    """The ranked findings of the division's units (and sub-divisions), ranked among themselves."""
    rows: list[FindingRow] = []
    for code in children:
        for r in unit_records(data, frame, code):
            kind = r.kind
            rows.append(FindingRow(int(r.rank), code, names.get(code, code), str(r.measure_name),
                                   str(r.reason), "" if kind is None or kind != kind else str(kind)))
    rows.sort(key=lambda f: f.rank)
    ranked = tuple(replace(f, rank=i) for i, f in enumerate(rows[:UNIT_FINDINGS], start=1))
    return Findings(rows=ranked, empty_message=empty)
