"""The chair's pack: ``chair_pack`` assembles the organisation's sections in pack order into
``ChairPack``.
"""

from __future__ import annotations

from dataclasses import dataclass

from compstat.analysis.measures import TOTAL
from compstat.packs.context.accountability import Ladder, ladder_section
from compstat.packs.context.actions import ChairActions, action_log, actions_detail, chair_actions
from compstat.packs.context.agenda import Agenda, agenda_section
from compstat.packs.context.charts import ChartSection, chart_section
from compstat.packs.context.common import NO_FINDINGS, NO_RECOGNITION, plural, unit_names
from compstat.packs.context.cover import ChairCover, Contents, ContentsEntry, PageFrame, period_text, w3c_date
from compstat.packs.context.findings import Findings, finding_rows, themes_section
from compstat.packs.context.quality import QualitySummary, quality_summary
from compstat.packs.context.table import Glance, PeriodTable, glance, period_table_section
from compstat.packs.context.themes import Themes
from compstat.results import CycleData


@dataclass(frozen=True)
class ChairPack:
    """Everything ``chair_pack.html`` renders: the organisation and every unit."""

    template: str
    filename: str
    unit_code: None
    title: str
    frame: PageFrame
    contents: Contents
    cover: ChairCover
    actions: ChairActions
    table: PeriodTable
    glance: Glance
    charts: ChartSection
    agenda: Agenda
    themes: Themes
    probe: Findings
    recognition: Findings
    ladder: Ladder
    quality: QualitySummary


def chair_pack(data: CycleData) -> ChairPack:
    """The context for the chair's pack."""
    config = data.config
    org = config.organisation.name
    leaves = config.leaf_units
    dates = [d for u in leaves if (d := data.data_as_of.get(u.code)) is not None]
    cover = ChairCover(
        organisation=org, period_label=data.period.label, period_start=data.period.start,
        period_end=data.period.end, meeting_date=data.meeting_date, n_units=len(leaves),
        oldest_data_as_of=min(dates) if dates else None, run_at=data.run_at,
    )
    frame = PageFrame(organisation=org, header=f"{org} · chair's pack",
                      footer=f"{org} · {period_text(data)}", created=w3c_date(data.run_at))
    actions = chair_actions(action_log(data, None))
    themes = themes_section(data)
    names = unit_names(config)
    analysis = data.analysis
    probe = Findings(finding_rows(analysis.probe if analysis is not None else None, names), NO_FINDINGS)
    recognition = Findings(finding_rows(analysis.recognition if analysis is not None else None, names),
                           NO_RECOGNITION)
    ladder = ladder_section(data)
    agenda = agenda_section(data, actions.log, themes, recognition)
    contents = Contents(tuple(ContentsEntry(anchor, n, title, detail) for n, (anchor, title, detail) in enumerate([
        ("actions", "Actions from the last meeting", actions_detail(actions.log)),
        ("themes", "Force-wide themes", themes.summary if any(r.theme_label for r in themes.rows) else "none"),
        ("performance", "Force-wide performance", ""),
        ("glance", "Units at a glance", ""),
        ("trends", "Force-wide year to date and trends", ""),
        ("probe", "What to probe", plural(len(probe.rows), "finding")),
        ("recognition", "Recognition", plural(len(recognition.rows), "finding")),
        ("ladder", "Units on the intervention ladder", plural(len(ladder.rows), "unit")),
        ("quality", "Data-quality summary", ""),
    ], start=1)))
    return ChairPack(
        template="chair_pack.html", filename="chair-pack.pdf", unit_code=None,
        title=f"{org} — chair's pack {data.period.label}", frame=frame, contents=contents, cover=cover,
        actions=actions, table=period_table_section(data, TOTAL), glance=glance(data),
        charts=chart_section(data, TOTAL), agenda=agenda, themes=themes, probe=probe, recognition=recognition,
        ladder=ladder, quality=quality_summary(data),
    )
