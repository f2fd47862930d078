"""The chair's pack: ``chair_pack`` assembles the organisation's sections in pack order into
``ChairPack``.

Page 1 says whom to probe (``first_page``: ranked probes, the ladder, overdue actions,
recognition); page 2 holds the agenda and contents. The pack has a **body** the chair reads before
the meeting, short whatever the force's size (actions, themes, the force's table, the host unit's
deep dive, the top findings to probe and recognise, the top of the intervention ladder, the
data-quality summary), and an **appendix** holding everything per unit
(units at a glance, every finding, the whole ladder, the units behind each theme, the actions not
yet due when there are many) and the force's charts. Lists cut short in the body say how many
more the appendix holds and where. Units are grouped by their parent (division, borough, area)
wherever the config has a middle level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

import pandas as pd

from compstat.config import Config
from compstat.figures import TOTAL
from compstat.packs.context.accountability import Ladder, ladder_section
from compstat.packs.context.actions import (
    ActionGroup,
    ActionRow,
    ChairActions,
    action_log,
    actions_detail,
)
from compstat.packs.context.agenda import Agenda, DeepDive, agenda_section, called_units, deep_dive
from compstat.packs.context.appendix import GlancePart, LadderGroup, glance_parts, ladder_by_parent
from compstat.packs.context.charts import ChartSection, chart_section
from compstat.packs.context.common import NO_FINDINGS, NO_RECOGNITION, plural, unit_names
from compstat.packs.context.cover import (
    ChairCover,
    Contents,
    ContentsEntry,
    PageFrame,
    page_frame,
)
from compstat.packs.context.findings import (
    APPENDIX_PER_UNIT,
    CHAIR_FINDINGS,
    FindingGroup,
    Findings,
    findings_by_parent,
    themes_section,
    top_findings,
)
from compstat.packs.context.first_page import ChairFirstPage, first_page
from compstat.packs.context.health import MeetingHealthSection, health_section
from compstat.packs.context.quality import QualityNote, QualitySummary, quality_summary
from compstat.packs.context.table import Glance, PeriodTable, glance, period_table_section
from compstat.packs.context.themes import ThemeRow, Themes
from compstat.results import CycleData

LADDER_ROWS = 10  # units on the ladder shown in the body (highest first); all in the appendix
QUALITY_NOTES = 10  # quality findings shown in the body (blocking, warning, then info); all in the appendix
ACTIONS_NOT_DUE = 10  # open actions not yet due shown in the body; more go to the appendix
CONTENTS_THEMES = 3  # themes named in the contents and on the agenda


CALLED_FINDINGS_LEAD = (f"Each called unit's top {APPENDIX_PER_UNIT} findings in rank order (the rank across all "
                        "units), units under their parent; every other unit's are on its CompStat sheet.")


@dataclass(frozen=True)
class ChairAppendix:
    """What the appendix holds; an empty tuple leaves that part out (the glance is always there).

    ``probe``/``recognition`` are every finding by parent when the body shows only the top ones;
    ``ladder`` the whole ladder by parent when the body shows only its top; ``actions_not_due`` the
    open actions not yet due when too many for the body; ``quality`` every blocking and warning
    finding when too many for the body."""

    glance: tuple[GlancePart, ...]
    glance_lead: str
    glance_footnotes: tuple[str, ...]
    themes: tuple[ThemeRow, ...]  # the measures whose units the appendix names (``Themes.details``)
    probe: tuple[FindingGroup, ...]
    recognition: tuple[FindingGroup, ...]
    ladder: tuple[LadderGroup, ...]
    actions_not_due: tuple[ActionRow, ...]
    quality: tuple[QualityNote, ...]
    findings_lead: str = (f"Each unit's top {APPENDIX_PER_UNIT} findings in rank order (the rank across all units), "
                          "units under their parent.")


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
    appendix: ChairAppendix
    first_page: ChairFirstPage
    host: DeepDive | None
    actions_more: str = ""  # where the open actions not yet due are, when the appendix holds them
    ladder_more: str = ""  # how many more units the appendix's ladder holds, and where
    quality_more: str = ""  # how many more quality findings the appendix holds, and where
    health: MeetingHealthSection | None = None  # the meeting's own health (the body's last section)


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
    frame = page_frame(data, f"{org} · chair's pack")
    names = unit_names(config)
    analysis = data.analysis

    # The appendix's sections, lettered in order; each present only when it holds something.
    log = action_log(data, None)
    overdue = tuple(r for r in log.carried if r.overdue)
    not_due = tuple(r for r in log.carried if not r.overdue)
    not_due_later = not_due if len(not_due) > ACTIONS_NOT_DUE else ()
    themes = themes_section(data)
    probe_frame = analysis.probe if analysis is not None else None
    recognition_frame = analysis.recognition if analysis is not None else None
    called = called_units(data) if config.packs.unit_packs == "called" else None
    appendix_probe = _of_called(probe_frame, called, config)
    appendix_recognition = _of_called(recognition_frame, called, config)
    whole_ladder = ladder_section(data)
    summary = quality_summary(data)
    every_note = (*summary.notes, *summary.info)  # every finding counted is listed: the body's first, the rest after
    sections = [
        ("glance", "Units at a glance", True),
        ("theme-units", "Units behind the themes", bool(themes.details)),
        ("probe-all", "What to probe, unit by unit",
         _count(probe_frame) > CHAIR_FINDINGS and _count(appendix_probe) > 0),
        ("recognition-all", "Recognition, unit by unit",
         _count(recognition_frame) > CHAIR_FINDINGS and _count(appendix_recognition) > 0),
        ("ladder-all", "The intervention ladder in full", len(whole_ladder.rows) > LADDER_ROWS),
        ("actions-not-due", "Open actions not yet due", bool(not_due_later)),
        ("trends", "Force-wide year to date and trends", True),
        ("quality-all", "Data-quality findings in full", len(every_note) > QUALITY_NOTES),
    ]
    kept = [(anchor, title) for anchor, title, keep in sections if keep]
    letters = {anchor: chr(ord("A") + i) for i, (anchor, _) in enumerate(kept)}
    titles = dict(kept)

    def where(anchor: str) -> str:
        return f"appendix {letters[anchor]} ({titles[anchor]})" if anchor in letters else ""

    probe = replace(top_findings(probe_frame, names, NO_FINDINGS, where("probe-all")), on_sheets=called is not None)
    recognition = replace(top_findings(recognition_frame, names, NO_RECOGNITION, where("recognition-all")),
                          on_sheets=called is not None)
    ladder = Ladder(whole_ladder.rows[:LADDER_ROWS], whole_ladder.empty_message)
    ladder_more = (f"… and {plural(len(whole_ladder.rows) - LADDER_ROWS, 'more unit')} on the ladder: every unit "
                   f"is listed in {where('ladder-all')}." if "ladder-all" in letters else "")
    quality = QualitySummary(summary.counts, every_note[:QUALITY_NOTES],
                             "No data-quality findings." if data.quality is not None else summary.empty_message)
    quality_more = (f"… and {plural(len(every_note) - QUALITY_NOTES, 'more finding')}: every one is listed in "
                    f"{where('quality-all')}." if "quality-all" in letters else "")
    groups = [ActionGroup(f"Overdue ({len(overdue)})", overdue)] if overdue else []
    if not_due and not not_due_later:
        groups.append(ActionGroup(f"Open, not yet due ({len(not_due)})", not_due))
    actions = ChairActions(log=log, groups=tuple(groups))
    actions_more = (f"{plural(len(not_due), 'open action')} not yet due: listed in {where('actions-not-due')}."
                    if not_due_later else "")
    agenda = agenda_section(data, log, themes, recognition, "section 4 of this pack")
    host = deep_dive(data, agenda.host) if agenda.host is not None else None
    health = health_section(data) if data.health is not None else None

    themed = [r for r in themes.rows if r.theme_label]
    themes_detail = ("none" if not themed else
                     ", ".join(r.measure_name for r in themed[:CONTENTS_THEMES])
                     + (f" and {len(themed) - CONTENTS_THEMES} more" if len(themed) > CONTENTS_THEMES else ""))
    body = [
        ("actions", "Actions from the last meeting", actions_detail(log)),
        ("themes", "Force-wide themes", themes_detail),
        ("performance", "Force-wide performance", ""),
        *([("host", "Host unit deep dive", f"{host.host.unit_name} ({host.host.unit_code})")] if host else []),
        ("probe", "What to probe", plural(probe.more + len(probe.rows), "finding")),
        ("recognition", "Recognition", plural(recognition.more + len(recognition.rows), "finding")),
        ("ladder", "Units on the intervention ladder", plural(len(whole_ladder.rows), "unit")),
        ("quality", "Data-quality summary", ""),
        *([("health", "Meeting health", health.detail)] if health is not None else []),
    ]
    entries = [ContentsEntry(anchor, n, title, detail) for n, (anchor, title, detail) in enumerate(body, start=1)]
    entries += [ContentsEntry(anchor, letters[anchor], title) for anchor, title in kept]
    numbers = {e.anchor: f"section {e.number} ({e.title})" for e in entries}
    front = first_page(data, whole_ladder, overdue,
                       {"probe": numbers["probe"], "recognition": numbers["recognition"], "actions": numbers["actions"],
                        "ladder": where("ladder-all") or numbers["ladder"]},
                       (NO_FINDINGS, NO_RECOGNITION))
    matrix = glance(data)
    appendix = ChairAppendix(
        glance=glance_parts(matrix, config), glance_lead=matrix.lead, glance_footnotes=matrix.footnotes,
        themes=themes.details,
        probe=findings_by_parent(appendix_probe, config) if "probe-all" in letters else (),
        recognition=findings_by_parent(appendix_recognition, config) if "recognition-all" in letters else (),
        ladder=ladder_by_parent(whole_ladder, config) if "ladder-all" in letters else (),
        actions_not_due=not_due_later, quality=every_note if "quality-all" in letters else (),
        **({} if called is None else {"findings_lead": CALLED_FINDINGS_LEAD}),
    )
    return ChairPack(
        template="chair_pack.html", filename="chair-pack.pdf", unit_code=None,
        title=f"{org} — chair's pack {data.period.label}", frame=frame, contents=Contents(tuple(entries)),
        cover=cover, actions=actions, table=period_table_section(data, TOTAL), glance=matrix,
        charts=chart_section(data, TOTAL), agenda=agenda, themes=themes, probe=probe, recognition=recognition,
        ladder=ladder, quality=quality, appendix=appendix, first_page=front, host=host,
        actions_more=actions_more, ladder_more=ladder_more,
        quality_more=quality_more, health=health,
    )


def _of_called(frame: pd.DataFrame | None, called: Mapping[str, str] | None, config: Config) -> pd.DataFrame | None:
    """The findings the appendix lists: with ``packs.unit_packs: called`` (``called`` given), those of the units
    the meeting calls and of the units above them (divisions, the organisation); every other unit's are on its
    CompStat sheet, and repeating 300 units' findings here made the national chair's pack 39 pages longer."""
    if frame is None or called is None:
        return frame
    keep = {*called, *config.parents().values(), TOTAL}
    return frame[frame["unit_code"].isin(keep)]


def _count(frame: pd.DataFrame | None) -> int:
    """How many findings about leaf units (not the organisation) ``frame`` holds."""
    if frame is None or frame.empty:
        return 0
    return int((frame["unit_code"] != TOTAL).sum())
