"""A leaf unit's pack: ``unit_pack`` assembles its sections in pack order into ``UnitPack``, and
``pack_filenames`` gives each unit's PDF a safe, unique file name.
"""

from __future__ import annotations

from dataclasses import dataclass

from compstat.config import Config, Unit
from compstat.hierarchy import divisions
from compstat.packs.briefing import unit_briefing
from compstat.packs.context.accountability import Accountability, accountability, unit_escalation
from compstat.packs.context.actions import ActionLog, action_log, actions_detail
from compstat.packs.context.charts import ChartSection, chart_section, charts_detail, spc_measures
from compstat.packs.context.common import NO_FINDINGS, NO_RECOGNITION, plural, unit_names
from compstat.packs.context.cover import (
    Contents,
    ContentsEntry,
    PageFrame,
    UnitCover,
    page_frame,
)
from compstat.packs.context.map import MapSection, map_section
from compstat.packs.context.places import PlacesSection, places_section
from compstat.packs.context.quality import QualityNotes, quality_notes
from compstat.packs.context.questions import Questions, UnitHeadline, briefing_actions
from compstat.packs.context.table import PeriodTable, period_table_section
from compstat.packs.context.withheld import withheld_recognition
from compstat.packs.lookup import ACTIONS, PROBE, RECOGNITION, unit_rows
from compstat.packs.maps import RECENT_DAYS
from compstat.results import CycleData
from compstat.safepaths import unique_names

WITHHELD_ON_COVER = 2  # withheld improvements named on the cover; more are counted
NO_SOUND_RECOGNITION = "No improvement to recognise on a like-for-like comparison"


@dataclass(frozen=True)
class UnitPack:
    """Everything ``unit_pack.html`` renders for one leaf unit."""

    template: str
    filename: str
    unit_code: str
    title: str
    frame: PageFrame
    contents: Contents
    cover: UnitCover
    actions: ActionLog
    table: PeriodTable
    charts: ChartSection
    map: MapSection | None
    headline: UnitHeadline
    questions: Questions
    quality: QualityNotes
    accountability: Accountability
    places: PlacesSection | None = None


def pack_filenames(config: Config) -> dict[str, str]:
    """``pack-<code>.pdf`` per leaf unit, then per division (``hierarchy.divisions``), the code made
    a safe file name (``safepaths.safe_name``); codes that would share one are refused (``safepaths.unique_names``,
    and the config first)."""
    return unique_names([u.code for u in [*config.leaf_units, *divisions(config)]], prefix="pack-", suffix=".pdf",
                        default="unit", taken=["chair-pack.pdf"])


def unit_headline(data: CycleData, unit: Unit,
                  where: str = "see the data-quality notes") -> tuple[UnitHeadline, Questions]:
    """The cover's findings to probe and to recognise (improvements withheld as not like-for-like
    named, ``WITHHELD_ON_COVER`` of them, the rest counted: ``where`` says where to read why), and the
    questions and support they suggest."""
    analysis = data.analysis
    briefing = unit_briefing(unit.code, unit_rows(data, PROBE, unit.code) if analysis else None,
                             unit_rows(data, RECOGNITION, unit.code) if analysis else None,
                             briefing_actions(unit_rows(data, ACTIONS, unit.code)),
                             unit_escalation(data, unit.code), data.config.accountability.escalation.support_level)
    withheld = [w.sentence for w in withheld_recognition(data, unit.code)]
    if len(withheld) > WITHHELD_ON_COVER:
        more = len(withheld) - WITHHELD_ON_COVER + 1
        withheld = [*withheld[:WITHHELD_ON_COVER - 1],
                    f"… and {plural(more, 'more improvement')} not recognised because their comparisons are not "
                    f"like-for-like ({where})"]
    headline = UnitHeadline(probes=briefing.probes, recognise=briefing.recognise, message=NO_FINDINGS,
                            recognise_message=NO_RECOGNITION if not withheld else NO_SOUND_RECOGNITION,
                            withheld=tuple(withheld))
    questions = Questions(
        questions=briefing.questions, support=briefing.support,
        questions_message=f"No questions: {NO_FINDINGS.lower()}, and no overdue actions.",
        support_message="No support suggested this cycle.",
    )
    return headline, questions


def unit_cover(data: CycleData, unit: Unit, actions: ActionLog, accountable: Accountability) -> UnitCover:
    """The facts at the top of a unit's pack or sheet: who, where, level, overdue actions, dates."""
    config = data.config
    parent = config.parents().get(unit.code)
    names = unit_names(config)
    return UnitCover(
        organisation=config.organisation.name, unit_name=unit.name, unit_code=unit.code,
        commander=unit.commander or "not recorded", division=names.get(parent, parent) if parent else "—",
        period_label=data.period.label, period_start=data.period.start, period_end=data.period.end,
        meeting_date=data.meeting_date, data_as_of=data.data_as_of.get(unit.code), run_at=data.run_at,
        escalation=f"{accountable.level} ({accountable.level_label})" + (
            f": {accountable.level_reason}" if accountable.level_reason else ""),
        overdue=actions.n_overdue,
    )


def unit_pack(data: CycleData, unit: Unit) -> UnitPack:
    """The context for one leaf unit's pack."""
    config = data.config
    period = data.period
    frame = page_frame(data, f"{unit.name} ({unit.code}) · briefing pack")
    actions = action_log(data, unit.code)
    hotspot = map_section(data, unit.code)
    places = places_section(data, unit.code)
    headline, questions = unit_headline(data, unit)
    quality = quality_notes(data, unit.code)
    accountable = accountability(data, unit.code)
    cover = unit_cover(data, unit, actions, accountable)
    charts = chart_section(data, unit.code, spc_measures(data, unit.code), peers=True)
    # The sections in pack order; numbering and the cover's contents follow this list.
    contents = Contents(tuple(ContentsEntry(anchor, n, title, detail) for n, (anchor, title, detail) in enumerate([
        ("actions", "Actions from the last meeting", actions_detail(actions)),
        ("performance", "Performance against last year", ""),
        ("charts", "Charts: variation, year to date, similar units", charts_detail(charts)),
        *([("places", "Where and when: repeat locations, day and time", places.detail)] if places else []),
        *([("map", f"Map: where the last {RECENT_DAYS} days ran above usual", "")] if hotspot else []),
        ("questions", "Suggested challenge questions and support",
         f"{plural(len(questions.questions), 'question')}, {plural(len(questions.support), 'offer')}"),
        ("quality", "Data-quality notes", plural(quality.count, "finding") if quality.count else "none"),
        ("accountability", "Accountability", f"escalation level {accountable.level}"),
    ], start=1)))
    return UnitPack(
        template="unit_pack.html", filename=pack_filenames(config)[unit.code], unit_code=unit.code,
        title=f"{unit.name} ({unit.code}) — briefing pack {period.label}", frame=frame, contents=contents,
        cover=cover, actions=actions, table=period_table_section(data, unit.code, assess=True, longer=True),
        charts=charts, map=hotspot, headline=headline, questions=questions, quality=quality,
        accountability=accountable, places=places,
    )
