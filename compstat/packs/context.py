"""From CycleData to template contexts: one frozen dataclass per pack section.

Every decision about what a pack shows (which rows, in what order, which marker, which
footnote) is made here, so the templates only loop and lay out. Contexts hold plain
Python values (str, float, date, tuples) so they pickle cheaply to render workers.
Figures stay unformatted numbers; the filters in ``filters.py`` format them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from compstat.actions import CLOSED, AgreementLine, judged_agreements
from compstat.analysis.measures import TOTAL
from compstat.config import SEVERITY_NAMES, Config, Measure, Unit, iter_units
from compstat.packs.briefing import Headline, Question, SupportOffer, unit_briefing
from compstat.packs.caveats import caveat_footnotes, comparison_caveats, marks
from compstat.packs.charts import (
    CumulativePanel,
    PeerRow,
    SpcSeries,
    TrendLine,
    cumulative_chart,
    hotspot_map,
    peer_chart,
    spc_chart,
    trend_panels,
)
from compstat.packs.cumulative import year_lines
from compstat.packs.filters import fmt_count, fmt_date, fmt_ratio, fmt_value
from compstat.packs.lookup import unit_records, unit_rows
from compstat.packs.maps import RECENT_DAYS, hotspots, map_windows, unit_outlines
from compstat.packs.themes import Themes, force_themes
from compstat.results import CycleData

OVERDUE_LABEL = "⚠ OVERDUE"
STALE_LABEL = "◷ STALE"
CHART_SCHEME = "chart"
NO_COMPARISON = "*"
CAUTION = "†"
TOTAL_NAME = "All units"
PERIOD_NOUN = {"weekly": "week", "monthly": "month"}
DIRECTIONS = {1: "▲ up", -1: "▼ down", 0: "= same"}
NO_FINDINGS = "No findings beyond normal variation"
NO_RECOGNITION = "No improvement beyond normal variation to recognise"
SPC_CHARTS_MAX = 3
CHAIR_FINDINGS = 10


# --- sections -----------------------------------------------------------------------


@dataclass(frozen=True)
class PageFrame:
    """Text repeated on every page (the running header and the footer beside the page number)
    and the PDF's metadata: ``created`` is the cycle's run time (ISO 8601), so two renders of
    the same cycle are byte-identical."""

    organisation: str
    header: str
    footer: str
    created: str


@dataclass(frozen=True)
class ContentsEntry:
    """One numbered section: its anchor (the HTML id), number, title and a line of detail."""

    anchor: str
    number: int
    title: str
    detail: str = ""


@dataclass(frozen=True)
class Contents:
    """The pack's sections in order: the cover's contents list (page numbers are filled in by
    the layout) and every section heading, so adding a section renumbers the rest."""

    entries: tuple[ContentsEntry, ...]

    def heading(self, anchor: str) -> str:
        entry = next(e for e in self.entries if e.anchor == anchor)
        return f"{entry.number}. {entry.title}"


@dataclass(frozen=True)
class UnitCover:
    """The unit pack's first page: who is accountable, for which period, how fresh the data is."""

    organisation: str
    unit_name: str
    unit_code: str
    commander: str
    division: str
    period_label: str
    period_start: date
    period_end: date
    meeting_date: date
    data_as_of: date | None
    run_at: datetime


@dataclass(frozen=True)
class ChairCover:
    """The chair's pack first page."""

    organisation: str
    period_label: str
    period_start: date
    period_end: date
    meeting_date: date
    n_units: int
    oldest_data_as_of: date | None
    run_at: datetime


@dataclass(frozen=True)
class ActionRow:
    """One action from the log, as promised at an earlier meeting.

    ``details`` are the (label, text) lines under the description: the measure, the last note
    (carried) or the closing note and the reason for dropping (closed), the carried action's
    escalation level and why, the support requested and offered, and "did it work?".
    ``stale_label`` says how long nobody has updated it."""

    id: int
    unit_code: str
    unit_name: str
    measure_name: str
    description: str
    owner: str
    due_date: date | None
    status: str
    meetings_carried: int
    overdue: bool
    overdue_label: str
    last_note: str
    closed: bool
    closed_on: date | None
    level: int = 0
    stale: bool = False
    stale_label: str = ""
    support_requested: str = ""
    support_offered: str = ""
    effect: str = ""
    closing_note: str = ""
    drop_reason: str = ""
    details: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class ActionLog:
    """Section 1: actions carried forward (overdue first) and those completed since the last meeting."""

    carried: tuple[ActionRow, ...]
    completed: tuple[ActionRow, ...]
    n_open: int
    n_overdue: int
    n_completed: int
    empty_message: str


@dataclass(frozen=True)
class WindowHeading:
    """One column group of the period table and its date ranges."""

    key: str
    label: str
    start: date
    end: date
    prev_start: date
    prev_end: date


@dataclass(frozen=True)
class TableCell:
    """One measure in one window: this year, last year, change and % change.

    ``pct_missing`` is what to show when there is no % change (``*`` when last year was 0);
    ``caution`` is ``†`` when both values are small numbers; ``mark`` holds the quality step's
    caveats (``‡`` not like-for-like, ``§`` fragile), explained in the table's footnotes.
    """

    current: float
    previous: float
    change: float
    pct_change: float
    pct_missing: str
    caution: str
    mark: str = ""


@dataclass(frozen=True)
class TableRow:
    """One reported measure across all windows."""

    measure_id: str
    name: str
    kind: str
    value_label: str
    note: str
    cells: tuple[TableCell, ...]
    assessment: tuple[str, ...] = ()


@dataclass(frozen=True)
class PeriodTable:
    """The CompStat table for one unit, with only the footnotes its markers need; ``columns`` is
    the table's width in cells (an assessment row spans it)."""

    unit_code: str
    windows: tuple[WindowHeading, ...]
    rows: tuple[TableRow, ...]
    footnotes: tuple[str, ...]
    columns: int


@dataclass(frozen=True)
class GlanceCell:
    """A unit's % change on one measure in the glance window, with its direction in words."""

    pct_change: float
    pct_missing: str
    caution: str
    mark: str
    direction: str
    current: float
    previous: float
    kind: str
    value_label: str


@dataclass(frozen=True)
class GlanceRow:
    """One unit (or the organisation, last) across the reported measures."""

    unit_code: str
    unit_name: str
    code_label: str
    is_total: bool
    cells: tuple[GlanceCell, ...]


@dataclass(frozen=True)
class GlanceColumn:
    """A measure heading in the glance matrix, with its polarity."""

    measure_id: str
    name: str
    note: str


@dataclass(frozen=True)
class Glance:
    """Chair's matrix: units × reported measures, % change in one window, with the sentence saying how to read it."""

    window: WindowHeading
    lead: str
    columns: tuple[GlanceColumn, ...]
    rows: tuple[GlanceRow, ...]
    footnotes: tuple[str, ...]


@dataclass(frozen=True)
class Chart:
    """A chart's PNG with its title (set as text above it) and a text alternative. The page refers
    to it as ``src`` (``chart:<name>``, unique within the pack), which the renderer's URL fetcher
    serves from ``png``: no base64 in the HTML, and nothing else can be fetched under that name."""

    measure_id: str
    title: str
    alt: str
    name: str
    png: bytes

    @property
    def src(self) -> str:
        return f"{CHART_SCHEME}:{self.name}"


@dataclass(frozen=True)
class ChartSection:
    """An SPC chart per priority measure, year to date against last year (small multiples, one
    image), the unit against its similar units, and a two-year trend for each other measure.

    Each caption says how to read the chart without colour (style, marker and shape)."""

    year_to_date: Chart | None
    year_to_date_caption: str
    trends: Chart | None
    trend_caption: str
    spc: tuple[Chart, ...] = ()
    spc_caption: str = ""
    peers: Chart | None = None
    peers_caption: str = ""


@dataclass(frozen=True)
class MapSection:
    """Where the last 28 days' incidents ran above the unit's usual pattern.

    ``chart`` is None when the unit has no incidents with a location; ``summary`` states the
    counts in words, ``notes`` what the map leaves out (stray coordinates)."""

    chart: Chart | None
    summary: tuple[str, ...]
    caption: str
    notes: tuple[str, ...]


@dataclass(frozen=True)
class UnitHeadline:
    """The cover's headline: up to three things to probe and the one improvement to recognise;
    ``message`` stands in for an empty list, ``recognise_message`` for no improvement."""

    probes: tuple[Headline, ...]
    recognise: Headline | None
    message: str
    recognise_message: str


@dataclass(frozen=True)
class QualityNote:
    """One data-quality finding, in words; ``here`` says what of a finding about several units
    is this unit's (``"this unit: 1 row"``), empty otherwise."""

    severity: str
    message: str
    here: str = ""


@dataclass(frozen=True)
class QualityNotes:
    """The data-quality findings a unit's pack shows, most serious first: those about this unit
    (``notes``), those about the whole organisation or an input with no unit to point at
    (``force_notes``), and a count of those about other units only (shown in the chair's pack)."""

    notes: tuple[QualityNote, ...]
    force_notes: tuple[QualityNote, ...]
    empty_message: str
    others_message: str

    @property
    def count(self) -> int:
        return len(self.notes) + len(self.force_notes)


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
class FindingRow:
    """One ranked finding for the chair; ``kind`` says why a recognition candidate is one (most
    improved, best, or both; empty for concerns)."""

    rank: int
    unit_code: str
    unit_name: str
    measure_name: str
    reason: str
    kind: str = ""


@dataclass(frozen=True)
class LadderRow:
    """A unit on the intervention ladder: its escalation level for this meeting, and why."""

    unit_code: str
    unit_name: str
    level: int
    label: str
    reason: str


@dataclass(frozen=True)
class SeverityCount:
    severity: str
    count: int


@dataclass(frozen=True)
class QualitySummary:
    """Counts of findings by severity and the blocking and warning messages."""

    counts: tuple[SeverityCount, ...]
    notes: tuple[QualityNote, ...]
    empty_message: str


@dataclass(frozen=True)
class Findings:
    """A ranked list of findings across units (what to probe, or what to recognise)."""

    rows: tuple[FindingRow, ...]
    empty_message: str


@dataclass(frozen=True)
class Ladder:
    """Units on the intervention ladder (escalation level 1 or above)."""

    rows: tuple[LadderRow, ...]
    empty_message: str


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


@dataclass(frozen=True)
class ActionGroup:
    """Actions of one kind for the chair (overdue, or not yet due), each unit's together."""

    title: str
    rows: tuple[ActionRow, ...]


@dataclass(frozen=True)
class ChairActions:
    """Section 1 of the chair's pack: the action log with the overdue actions across units first."""

    log: ActionLog
    groups: tuple[ActionGroup, ...]


@dataclass(frozen=True)
class Questions:
    """Suggested challenge questions and support offers, each citing its evidence, with the
    sentences shown when there are none."""

    questions: tuple[Question, ...]
    support: tuple[SupportOffer, ...]
    questions_message: str
    support_message: str


# --- packs --------------------------------------------------------------------------


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


PackContext = UnitPack | ChairPack


def safe_filename(code: str) -> str:
    """A unit code made safe for a file name (letters, digits, ``.``, ``_``, ``-``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", code).strip(".") or "unit"


def pack_filenames(config: Config) -> dict[str, str]:
    """``pack-<code>.pdf`` per leaf unit; codes that clash once made safe get a numeric suffix."""
    out: dict[str, str] = {}
    used: set[str] = {"chair-pack.pdf"}
    for unit in config.leaf_units:
        stem = f"pack-{safe_filename(unit.code)}"
        name, n = f"{stem}.pdf", 2
        while name.lower() in used:
            name, n = f"{stem}-{n}.pdf", n + 1
        used.add(name.lower())
        out[unit.code] = name
    return out


def unit_pack(data: CycleData, unit: Unit) -> UnitPack:
    """The context for one leaf unit's pack."""
    config = data.config
    names = unit_names(config)
    parent = config.parents().get(unit.code)
    period = data.period
    frame = PageFrame(
        organisation=config.organisation.name,
        header=f"{unit.name} ({unit.code}) · briefing pack",
        footer=f"{config.organisation.name} · {_period_text(data)}",
        created=_w3c(data.run_at),
    )
    cover = UnitCover(
        organisation=config.organisation.name, unit_name=unit.name, unit_code=unit.code,
        commander=unit.commander or "not recorded", division=names.get(parent, parent) if parent else "—",
        period_label=period.label, period_start=period.start, period_end=period.end,
        meeting_date=data.meeting_date, data_as_of=data.data_as_of.get(unit.code), run_at=data.run_at,
    )
    actions = action_log(data, unit.code)
    hotspot = map_section(data, unit.code)
    analysis = data.analysis
    briefing = unit_briefing(unit.code, unit_rows(data, "analysis.probe", unit.code) if analysis else None,
                             unit_rows(data, "analysis.recognition", unit.code) if analysis else None,
                             _briefing_actions(unit_rows(data, "actions", unit.code)),
                             _escalation(data, unit.code), config.accountability.escalation.support_level)
    headline = UnitHeadline(probes=briefing.probes, recognise=briefing.recognise, message=NO_FINDINGS,
                            recognise_message=NO_RECOGNITION)
    questions = Questions(
        questions=briefing.questions, support=briefing.support,
        questions_message=f"No questions: {NO_FINDINGS.lower()}, and no overdue actions.",
        support_message="No support suggested this cycle.",
    )
    quality = quality_notes(data, unit.code)
    accountable = accountability(data, unit.code)
    charts = chart_section(data, unit.code, spc_measures(data, unit.code), peers=True)
    # The sections in pack order; numbering and the cover's contents follow this list.
    contents = Contents(tuple(ContentsEntry(anchor, n, title, detail) for n, (anchor, title, detail) in enumerate([
        ("actions", "Actions from the last meeting", _actions_detail(actions)),
        ("performance", "Performance against last year", ""),
        ("charts", "Charts: variation, year to date, similar units", _charts_detail(charts)),
        *([("map", f"Map: where the last {RECENT_DAYS} days ran above usual", "")] if hotspot else []),
        ("questions", "Suggested challenge questions and support",
         f"{_plural(len(questions.questions), 'question')}, {_plural(len(questions.support), 'offer')}"),
        ("quality", "Data-quality notes", _plural(quality.count, "finding") if quality.count else "none"),
        ("accountability", "Accountability", f"escalation level {accountable.level}"),
    ], start=1)))
    return UnitPack(
        template="unit_pack.html", filename=pack_filenames(config)[unit.code], unit_code=unit.code,
        title=f"{unit.name} ({unit.code}) — briefing pack {period.label}", frame=frame, contents=contents,
        cover=cover, actions=actions, table=period_table_section(data, unit.code, assess=True),
        charts=charts, map=hotspot, headline=headline, questions=questions, quality=quality,
        accountability=accountable,
    )


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
                      footer=f"{org} · {_period_text(data)}", created=_w3c(data.run_at))
    actions = chair_actions(action_log(data, None))
    themes = themes_section(data)
    names = unit_names(config)
    analysis = data.analysis
    probe = Findings(_finding_rows(analysis.probe if analysis is not None else None, names), NO_FINDINGS)
    recognition = Findings(_finding_rows(analysis.recognition if analysis is not None else None, names),
                           NO_RECOGNITION)
    ladder = ladder_section(data)
    agenda = agenda_section(data, actions.log, themes, recognition)
    contents = Contents(tuple(ContentsEntry(anchor, n, title, detail) for n, (anchor, title, detail) in enumerate([
        ("actions", "Actions from the last meeting", _actions_detail(actions.log)),
        ("themes", "Force-wide themes", themes.summary if any(r.theme_label for r in themes.rows) else "none"),
        ("performance", "Force-wide performance", ""),
        ("glance", "Units at a glance", ""),
        ("trends", "Force-wide year to date and trends", ""),
        ("probe", "What to probe", _plural(len(probe.rows), "finding")),
        ("recognition", "Recognition", _plural(len(recognition.rows), "finding")),
        ("ladder", "Units on the intervention ladder", _plural(len(ladder.rows), "unit")),
        ("quality", "Data-quality summary", ""),
    ], start=1)))
    return ChairPack(
        template="chair_pack.html", filename="chair-pack.pdf", unit_code=None,
        title=f"{org} — chair's pack {data.period.label}", frame=frame, contents=contents, cover=cover,
        actions=actions, table=period_table_section(data, TOTAL), glance=glance(data),
        charts=chart_section(data, TOTAL), agenda=agenda, themes=themes, probe=probe, recognition=recognition,
        ladder=ladder, quality=quality_summary(data),
    )


def chair_actions(log: ActionLog) -> ChairActions:
    """The chair's action log: every unit's overdue actions first (units in config order, as
    ``action_log`` sorts them), then those not yet due."""
    overdue = tuple(r for r in log.carried if r.overdue)
    later = tuple(r for r in log.carried if not r.overdue)
    groups = tuple(ActionGroup(title, rows) for title, rows in (
        (f"Overdue ({len(overdue)})", overdue), (f"Open, not yet due ({len(later)})", later)) if rows)
    return ChairActions(log=log, groups=groups)


def _briefing_actions(actions: pd.DataFrame) -> pd.DataFrame:
    """The action log with a missing escalation level read as 0 and missing text as empty (the
    briefing takes the level as an int and any non-empty text as given)."""
    if actions.empty:
        return actions
    fixes: dict[str, pd.Series] = {}
    if "escalation_level" in actions.columns and actions["escalation_level"].isna().any():
        fixes["escalation_level"] = actions["escalation_level"].astype("float").fillna(0).astype(int)
    for column in ("support_requested", "support_offered", "escalation_label"):
        if column in actions.columns and actions[column].isna().any():
            fixes[column] = actions[column].astype(object).where(actions[column].notna(), "")
    return actions.assign(**fixes) if fixes else actions


def _w3c(when: datetime) -> str:
    """A W3C date-time with its UTC offset, as PDF metadata needs (a naive time is local time)."""
    return (when if when.tzinfo else when.astimezone()).isoformat(timespec="seconds")


def _actions_detail(log: ActionLog) -> str:
    return f"{log.n_open} open, {log.n_overdue} overdue, {log.n_completed} completed"


def unit_names(config: Config) -> dict[str, str]:
    return {u.code: u.name for u in iter_units(config.units)} | {TOTAL: TOTAL_NAME}


def _period_text(data: CycleData) -> str:
    return f"{data.period.label} ({fmt_date(data.period.start)} – {fmt_date(data.period.end)})"


# --- actions ------------------------------------------------------------------------


def action_log(data: CycleData, unit_code: str | None) -> ActionLog:
    """The action log for one unit, or for every unit when ``unit_code`` is None."""
    frame = data.actions
    if frame.empty or "unit_code" not in frame.columns:
        rows: list[ActionRow] = []
    else:
        if unit_code is not None:
            frame = frame[frame["unit_code"] == unit_code]
        names = unit_names(data.config)
        measures = {m.id: m.name for m in data.config.measures}
        rows = [_action_row(r, names, measures) for r in frame.to_dict(orient="records")]
    order = {u.code: i for i, u in enumerate(data.config.leaf_units)}

    def key(row: ActionRow) -> tuple[int, str, bool, date, int]:
        return (order.get(row.unit_code, len(order)), row.unit_code, not row.overdue,
                row.due_date or date.max, row.id)

    carried = sorted((r for r in rows if not r.closed), key=key)
    completed = sorted((r for r in rows if r.closed), key=key)
    whose = "this unit" if unit_code is not None else "any unit"
    return ActionLog(
        carried=tuple(carried), completed=tuple(completed), n_open=len(carried),
        n_overdue=sum(r.overdue for r in carried), n_completed=len(completed),
        empty_message=f"There are no actions carried forward for {whose} from earlier meetings.",
    )


def _action_row(row: Record, names: dict[str, str], measures: dict[str, str]) -> ActionRow:
    status = _text(row.get("status"))
    closed = status in CLOSED
    overdue = not closed and _flag(row.get("overdue"))
    stale = not closed and _flag(row.get("stale"))
    measure_id = _text(row.get("measure_id"))
    measure_name = measures.get(measure_id, measure_id)
    level = 0 if closed or _is_missing(row.get("escalation_level")) else int(row["escalation_level"])
    label = _text(row.get("escalation_label"))
    days = row.get("days_since_update")
    last_note, closing_note, drop_reason = (_text(row.get(k)) for k in ("last_note", "closing_note", "drop_reason"))
    requested, offered = _text(row.get("support_requested")), _text(row.get("support_offered"))
    effect = _effect_words(_text(row.get("effect")), _text(row.get("effect_text")))
    details = [("Measure", measure_name)] if measure_name else []
    reason = _text(row.get("escalation_reason"))
    if not closed and label:
        details.append(("Escalation", f"level {level} {label}" + (f": {reason}" if reason else "")))
    if closed:
        details += [("Closing note", closing_note)] if closing_note and closing_note != drop_reason else []
        details += [("Reason dropped", drop_reason)] if status == "dropped" and drop_reason else []
    elif last_note:
        details.append(("Last note", last_note))
    details += [(k, v) for k, v in (("Support requested", requested), ("Support offered", offered),
                                    ("Did it work", effect)) if v]
    return ActionRow(
        id=int(row["id"]), unit_code=str(row["unit_code"]),
        unit_name=names.get(str(row["unit_code"]), str(row["unit_code"])),
        measure_name=measure_name, description=_text(row.get("description")),
        owner=_text(row.get("owner")), due_date=_as_date(row.get("due_date")),
        status=status.capitalize(),
        meetings_carried=0 if _is_missing(row.get("meetings_carried")) else int(row["meetings_carried"]),
        overdue=overdue, overdue_label=OVERDUE_LABEL if overdue else "",
        last_note=last_note, closed=closed, closed_on=_as_date(row.get("closed_on")),
        level=level, stale=stale, stale_label=(f"{STALE_LABEL}: no update for {int(_float(days))} days"
                                  if stale and not _is_missing(days) else STALE_LABEL if stale else ""),
        support_requested=requested, support_offered=offered, effect=effect, closing_note=closing_note,
        drop_reason=drop_reason, details=tuple(details),
    )


EFFECT_WORDS = {"too early": "too early to tell (fewer than 7 days since it was raised)",
                "not assessed": "not assessed (only counts are tested)"}


def _effect_words(verdict: str, text: str) -> str:
    """"Did it work?" in words: the verdict with its counts and test, or why there is none."""
    return EFFECT_WORDS.get(verdict, text)


def _flag(value: object) -> bool:
    return not _is_missing(value) and bool(value)


def _is_missing(value: object) -> bool:
    return value is None or (not isinstance(value, str) and bool(pd.isna(value)))  # type: ignore[call-overload]


def _text(value: object) -> str:
    return "" if _is_missing(value) else str(value)


def _as_date(value: object) -> date | None:
    if _is_missing(value):
        return None
    if isinstance(value, pd.Timestamp):
        return value.date()
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return pd.Timestamp(str(value)).date()


# --- the period table ---------------------------------------------------------------


def window_headings(data: CycleData) -> tuple[WindowHeading, ...]:
    return tuple(WindowHeading(w.key, w.label, w.start, w.end, w.prev_start, w.prev_end) for w in data.windows)


def period_table_section(data: CycleData, unit_code: str, assess: bool = False) -> PeriodTable:
    """Section 2: the unit's rows of ``data.table``, one per reported measure; with ``assess``,
    each row also carries the analysis' words (significance, SPC, peers, delivery confidence)."""
    config = data.config
    rows_by_key = _table_lookup(data, unit_code)
    windows = window_headings(data)
    words = assessments(data, unit_code) if assess else {}
    caveats = comparison_caveats(data)
    rows, marked = [], []
    for m in config.reported_measures:
        label, note = _labels(m)
        cells = []
        for w in windows:
            found = caveats.get((unit_code, m.id, w.key), ())
            cells.append(_cell(rows_by_key.get((m.id, w.key)), marks(found)))
            marked.append((m.name, w.label.lower(), found))
        rows.append(TableRow(measure_id=m.id, name=m.name, kind=m.kind, value_label=label, note=note,
                             cells=tuple(cells), assessment=words.get(m.id, ())))
    return PeriodTable(unit_code=unit_code, windows=windows, rows=tuple(rows),
                       footnotes=_footnotes([c for r in rows for c in r.cells], config)
                       + caveat_footnotes(marked, every=[m.name for m in config.reported_measures]),
                       columns=1 + 4 * len(windows))


POLARITY_NOTES = {"lower": "lower is better", "higher": "higher is better",
                  "neutral": "activity: neither better nor worse"}


def _labels(measure: Measure) -> tuple[str, str]:
    """Short unit labels go beside each value; long ones under the measure's name."""
    polarity = POLARITY_NOTES[measure.polarity]
    label = measure.unit_label
    if len(label) <= 3:
        return label, polarity
    return "", f"{label}; {polarity}"


Record = dict[Hashable, Any]


def _table_lookup(data: CycleData, unit_code: str) -> dict[tuple[str, str], Record]:
    rows = unit_records(data, "table", unit_code)
    return {(str(r["measure_id"]), str(r["window"])): r for r in rows}


def _cell(row: Record | None, mark: str = "") -> TableCell:
    if row is None:
        nan = math.nan
        return TableCell(nan, nan, nan, nan, "–", "", mark)
    previous = _float(row["previous"])
    return TableCell(
        current=_float(row["current"]), previous=previous, change=_float(row["change"]),
        pct_change=_float(row["pct_change"]), pct_missing=NO_COMPARISON if previous == 0 else "–",
        caution=CAUTION if bool(row["small_numbers"]) else "", mark=mark,
    )


def _float(value: object) -> float:
    return math.nan if _is_missing(value) else float(value)  # type: ignore[arg-type]


def _footnotes(cells: list[TableCell] | list[GlanceCell], config: Config) -> tuple[str, ...]:
    notes = []
    if any(math.isnan(c.pct_change) and c.pct_missing == NO_COMPARISON for c in cells):
        notes.append(f"{NO_COMPARISON} no comparison: last year was 0")
    if any(c.caution for c in cells):
        notes.append(f"{CAUTION} fewer than {config.small_number} in both periods: treat the change with caution")
    return tuple(notes)


# --- the chair's glance -------------------------------------------------------------


def glance(data: CycleData) -> Glance:
    """Units × measures in the second window (28 days or 3 months), the organisation last."""
    config = data.config
    windows = window_headings(data)
    window = windows[1] if len(windows) > 1 else windows[0]
    measures = config.reported_measures
    columns = tuple(GlanceColumn(m.id, m.name, _labels(m)[1]) for m in measures)
    names = unit_names(config)
    caveats = comparison_caveats(data)
    rows, marked = [], []
    for code in [u.code for u in config.leaf_units] + [TOTAL]:
        lookup = _table_lookup(data, code)
        cells = []
        for m in measures:
            found = caveats.get((code, m.id, window.key), ())
            cells.append(_glance_cell(lookup.get((m.id, window.key)), m, marks(found)))
            marked.append((m.name, code if code != TOTAL else TOTAL_NAME.lower(), found))
        rows.append(GlanceRow(code, names[code], "" if code == TOTAL else code, code == TOTAL, tuple(cells)))
    lead = (f"% change on last year over {window.label} ({fmt_date(window.start)} – {fmt_date(window.end)} against "
            f"{fmt_date(window.prev_start)} – {fmt_date(window.prev_end)}). ▲ up, ▼ down, = same as last year; "
            "below each: this year vs last year.")
    return Glance(window=window, lead=lead, columns=columns, rows=tuple(rows),
                  footnotes=_footnotes([c for r in rows for c in r.cells], config) + caveat_footnotes(marked))


def _glance_cell(row: Record | None, measure: Measure, mark: str) -> GlanceCell:
    cell = _cell(row)
    if math.isnan(cell.change):
        direction = ""
    else:
        direction = DIRECTIONS[(cell.change > 0) - (cell.change < 0)]
    return GlanceCell(pct_change=cell.pct_change, pct_missing=cell.pct_missing, caution=cell.caution, mark=mark,
                      direction=direction, current=cell.current, previous=cell.previous, kind=measure.kind,
                      value_label=_labels(measure)[0])


# --- charts -------------------------------------------------------------------------


def chart_section(data: CycleData, unit_code: str, spc_ids: tuple[str, ...] = (), peers: bool = False) -> ChartSection:
    """An SPC chart per measure in ``spc_ids``, the year-to-date small multiples, with ``peers``
    the unit against its similar units, and a two-year trend for each other reported measure
    (an SPC chart already shows its measure's series)."""
    noun = PERIOD_NOUN[data.config.cadence.period]
    year_to_date, steps = year_to_date_chart(data, unit_code)
    spc = spc_charts(data, unit_code, spc_ids)
    peer, peer_caption = peer_section(data, unit_code) if peers else (None, "")
    charted = {c.measure_id for c in spc}
    return ChartSection(
        peers=peer, peers_caption=peer_caption,
        spc=spc,
        spc_caption=(f"Each {noun}'s value (grey line, small circles) with the mean (solid black line) and the "
                     "process limits (dashed): points between the limits are normal variation. Special causes are "
                     "marked by shape: ▲ triangle, a concern; ■ square, an improvement; ◆ diamond, a change in a "
                     "measure with no better direction."),
        year_to_date=year_to_date,
        year_to_date_caption=(
            f"Running total since the start of the year to {fmt_date(data.period.end)}. Solid line, circle: this "
            "year. Dashed line, triangle: last year to the same day; dotted: the rest of last year. Rates are "
            f"the running rate. {steps}"),
        trends=trend_chart(data, unit_code, skip=charted),
        trend_caption=(f"Each {noun}'s value over two years, oldest on the left; the year to date chart compares "
                       "this year with last."),
    )


def year_to_date_chart(data: CycleData, unit_code: str) -> tuple[Chart | None, str]:
    """One image of small multiples: each count or rate measure's running total, this year and last."""
    panels, phrases, daily = [], [], True
    for m in data.config.reported_measures:
        lines = year_lines(data, unit_code, m)
        if lines is None or not (lines.this_days or lines.last_days):
            continue
        daily = lines.daily
        label = _labels(m)[0]
        panels.append(CumulativePanel(
            title=m.name, year_start=lines.year_start, this_days=lines.this_days, this_values=lines.this_values,
            last_days=lines.last_days, last_values=lines.last_values, integer=m.kind == "count"))
        phrases.append(f"{m.name} {fmt_value(lines.this_total, m.kind, label)} against "
                       f"{fmt_value(lines.last_same_day, m.kind, label)}")
    steps = ("Daily steps." if daily else
             f"One step per {PERIOD_NOUN[data.config.cadence.period]}, counted in the year its last day falls in, "
             "so the latest point can differ slightly from the table's year to date.")
    if not panels:
        return None, steps
    alt = "Running totals this year against last year to the same day: " + "; ".join(phrases) + "."
    chart = Chart(measure_id="", title="Year to date against last year", alt=alt,
                  name="year-to-date.png", png=cumulative_chart(panels))
    return chart, steps


def trend_chart(data: CycleData, unit_code: str, skip: set[str] | None = None) -> Chart | None:
    """Two-year trends of the unit's reported measures, except those in ``skip``, as small
    multiples in one image; None when every measure is skipped."""
    cadence = data.config.cadence.period
    noun = PERIOD_NOUN[cadence]
    series = unit_rows(data, "series", unit_code)
    lines, phrases = [], []
    for m in data.config.reported_measures:
        if skip and m.id in skip:
            continue
        rows = series[series["measure_id"] == m.id].sort_values("period_start")
        starts = [pd.Timestamp(s).date() for s in rows["period_start"]]
        values = [float(v) for v in rows["value"]]
        lines.append(TrendLine(title=m.name + (f" ({m.unit_label})" if m.unit_label else ""), starts=starts,
                               values=values,
                               y_label=m.unit_label if len(m.unit_label) <= 3 else "", integer=m.kind == "count"))
        span = f"{len(starts)} {noun}s from {fmt_date(starts[0])} to {fmt_date(starts[-1])}" if starts else "no data"
        phrases.append(f"{m.name}, {span}")
    if not lines:
        return None
    alt = f"Line charts per {noun}: " + "; ".join(phrases) + "."
    return Chart(measure_id="", title=f"Two-year trend per {noun}" + (", other measures" if skip else ""), alt=alt,
                 name="trends.png", png=trend_panels(lines))


def peer_section(data: CycleData, unit_code: str) -> tuple[Chart | None, str]:
    """The unit against its similar units in the headline window (``analysis.peers``): one row per
    measure with a comparison, and the caption naming the similar units; (None, "") without any."""
    if data.analysis is None or data.analysis.peers.empty:
        return None, ""
    window = headline_window(data)
    peers = data.analysis.peers
    peers = peers[peers["window"] == window]
    by_key = {(str(r["unit_code"]), str(r["measure_id"])): r for r in peers.to_dict(orient="records")}
    names = unit_names(data.config)
    level = f"{data.config.analysis.confidence * 100:g}%"
    rows, phrases, group = [], [], ""
    for m in data.config.reported_measures:
        r = by_key.get((unit_code, m.id))
        if r is None or not _text(r["label"]) or not _float(r["peer_mean"]) > 0:
            continue
        codes = [c for c in _text(r["peers"]).split(",") if c]
        others = [_float(by_key[(c, m.id)]["value"]) for c in codes if (c, m.id) in by_key]
        group = group or f"{_text(r['peer_group'])}: " + ", ".join(f"{names.get(c, c)} ({c})" for c in codes)
        rows.append(PeerRow(label=m.name, value=_float(r["value"]), low=_float(r["ci_low"]),
                            high=_float(r["ci_high"]), peer_mean=_float(r["peer_mean"]), peers=others,
                            verdict=_text(r["label"])))
        basis = _text(r["basis"])
        unit_label = basis if basis not in ("rate", "value") else m.unit_label
        unit_label = unit_label if unit_label == "%" else f" {unit_label}".rstrip()
        phrases.append(f"{m.name} {_sig(r['value'])}{unit_label} ({level} interval {_sig(r['ci_low'])} to "
                       f"{_sig(r['ci_high'])}) against {_sig(r['peer_mean'])} for similar units "
                       f"({fmt_ratio(_float(r['value']) / _float(r['peer_mean']))}): {_text(r['label'])}")
    if not rows:
        return None, ""
    label = next((w.label for w in data.windows if w.key == window), window).lower()
    chart = Chart(measure_id="", title=f"Against similar units, last {label}" if window != "ytd"
                  else "Against similar units, year to date",
                  alt="The unit against the average of its similar units: " + "; ".join(phrases) + ".",
                  name="peers.png", png=peer_chart(rows))
    caption = (f"This unit's rate (black dot) as a multiple of the average of its similar units (the vertical line "
               f"at 1×), with its {level} interval (black line); hollow circles: each similar unit ({group}). Counts "
               f"are rates per {data.config.analysis.per_population:,.0f} residents. A line wholly right of 1× is "
               "significantly above the similar units, wholly left significantly below, crossing 1× within; arrow "
               "heads: beyond the axis.")
    return chart, caption


def _sig(value: object) -> str:
    """Three significant figures: 0.0978, 12.3, 1,234."""
    number = _float(value)
    if math.isnan(number):
        return "–"
    return f"{number:,.0f}" if abs(number) >= 1000 else f"{number:.3g}"


# --- map ----------------------------------------------------------------------------


def map_section(data: CycleData, unit_code: str) -> MapSection | None:
    """The hotspot map of one unit; None when the cycle has no incident locations at all."""
    if data.points is None:
        return None
    windows = map_windows(data.period.end)
    recent = f"{fmt_date(windows.recent_start)} – {fmt_date(windows.recent_end)}"
    points = unit_rows(data, "points", unit_code)
    outlines = unit_outlines(data.config, unit_code)
    spots = hotspots(points, windows, outlines)
    if spots is None or spots.n_recent == 0:
        return MapSection(chart=None, caption="", notes=(), summary=(
            f"No incidents with a location in the last {RECENT_DAYS} days ({recent}): there is nothing to map.",))
    cell = f"{spots.cell_km:g} km" if spots.cell_km >= 1 else f"{spots.cell_km * 1000:g} m"
    summary = [f"{_plural(spots.n_recent, 'incident')} with a location in the last {RECENT_DAYS} days ({recent}), "
               f"against {fmt_count(spots.n_usual)} in the 52 weeks before."]
    if spots.n_hot_cells:
        summary.append(f"{_plural(spots.n_hot_cells, 'area')} ran clearly above the usual pattern, by up to "
                       f"{fmt_count(spots.max_excess)} incidents (shaded).")
    else:
        summary.append("No area ran clearly above the usual pattern: the differences are within normal variation.")
    notes: tuple[str, ...] = ()
    if spots.n_outside:
        notes = (f"{_plural(spots.n_outside, 'incident')} in the last {RECENT_DAYS} days "
                 f"{'lies' if spots.n_outside == 1 else 'lie'} far outside the unit's usual area and "
                 f"{'is' if spots.n_outside == 1 else 'are'} not shown: check the coordinates.",)
    caption = (f"Square cells of {cell}. Shading (darker = more): incidents in the last {RECENT_DAYS} days above "
               "the usual number, counted over each cell and its eight neighbours, only where beyond normal "
               "variation. Usual: each place's share of the 52 weeks before, applied to the last "
               f"{RECENT_DAYS} days' total. Dots: the last {RECENT_DAYS} days' incidents. Grey contours: the usual "
               "pattern (dotted, dashed, solid: a quarter, half and three quarters of its peak)."
               + (" Black line: the unit boundary." if outlines else ""))
    alt = (f"Map of {unit_code}: {summary[0]} {summary[1]}")
    chart = Chart(measure_id="", title="Where the last 28 days ran above the usual pattern", alt=alt,
                  name="map.png", png=hotspot_map(spots.grid))
    return MapSection(chart=chart, summary=tuple(summary), caption=caption, notes=notes)


def _charts_detail(charts: ChartSection) -> str:
    count = len(charts.spc) + sum(c is not None for c in (charts.trends, charts.year_to_date, charts.peers))
    return _plural(count, "chart")


def _plural(n: int, word: str) -> str:
    return f"{fmt_count(n)} {word}{'' if n == 1 else 's'}"


# --- analysis: key-measure words, SPC charts --------------------------------------------

SPC_WORDS = {
    "common_cause": "● common cause",
    "special_cause_concern": "special cause — concern",
    "special_cause_improvement": "special cause — improvement",
    "neutral_high": "▲ special cause — high",
    "neutral_low": "▼ special cause — low",
}


def headline_window(data: CycleData) -> str:
    """The window the analysis headlines (``analysis.headline_window``; 28 days or 3 months)."""
    chosen = data.config.analysis.headline_window
    return chosen or ("28d" if data.config.cadence.period == "weekly" else "3m")


def spc_word(variation: object, above_mean: bool) -> str:
    """The SPC variation in words with a symbol (never colour alone): ``▲ special cause — concern``."""
    text = _text(variation)
    word = SPC_WORDS.get(text, text.replace("_", " "))
    if text in ("special_cause_concern", "special_cause_improvement"):
        word = ("▲ " if above_mean else "▼ ") + word
    return word


def assessments(data: CycleData, unit_code: str) -> dict[str, tuple[str, ...]]:
    """Per measure: significance against last year in the headline window, the SPC variation,
    the peer comparison and the delivery confidence, each where the analysis has one."""
    analysis = data.analysis
    if analysis is None:
        return {}
    window = headline_window(data)
    label = next((w.label for w in data.windows if w.key == window), window)
    out: dict[str, list[str]] = {}
    for r in unit_records(data, "analysis.significance", unit_code):
        if r["window"] != window or r["basis"] != "last_year":
            continue
        word = _text(r["label"]) + (" (small numbers)" if bool(r["small_numbers"]) else "")
        out.setdefault(str(r["measure_id"]), []).append(f"{label} vs last year: {word}")
    noun = PERIOD_NOUN[data.config.cadence.period]
    labels = {m.id: _labels(m)[0] for m in data.config.measures}
    for r in unit_records(data, "analysis.spc", unit_code):
        if _is_missing(r["variation"]):
            continue
        above = not _is_missing(r["y"]) and not _is_missing(r["mean"]) and float(r["y"]) > float(r["mean"])
        words = out.setdefault(str(r["measure_id"]), [])
        words.append(f"SPC: {spc_word(r['variation'], above)}")
        if _text(r.get("assurance")) in ASSURANCE_WORDS and not _is_missing(r.get("target")):
            target = fmt_value(float(r["target"]), "rate", labels.get(str(r["measure_id"]), ""))
            words.append(f"target: {ASSURANCE_WORDS[_text(r['assurance'])]} ({target} a {noun})")
    level = f"{data.config.analysis.confidence * 100:g}%"
    for r in unit_records(data, "analysis.peers", unit_code):
        if r["window"] == window and _text(r["label"]):
            out.setdefault(str(r["measure_id"]), []).append(f"peers: {_text(r['label'])}{_peer_ratio(r, level)}")
    for r in unit_records(data, "analysis.trajectory", unit_code):
        if _text(r["confidence"]):
            out.setdefault(str(r["measure_id"]), []).append(f"delivery confidence: {_text(r['confidence'])}")
    return {k: tuple(v) for k, v in out.items()}


ASSURANCE_WORDS = {
    "consistently_passing": "✓ consistently meets",
    "consistently_failing": "✗ consistently misses",
    "inconsistent": "~ hit and miss",
}


def _peer_ratio(row: Record, level: str) -> str:
    """`` (2.6× their average; 95% interval 1.4× to 4.4×)``, or nothing without a peer average above 0."""
    mean = _float(row.get("peer_mean"))
    if not mean > 0:
        return ""
    ratio, low, high = (_float(row.get(k)) / mean for k in ("value", "ci_low", "ci_high"))
    return f" ({fmt_ratio(ratio)} their average; {level} interval {fmt_ratio(low)} to {fmt_ratio(high)})"


def spc_measures(data: CycleData, unit_code: str) -> tuple[str, ...]:
    """The measures to chart: all reported if there are at most three, else the unit's top
    probed measures (the first reported ones when nothing is probed)."""
    reported = [m.id for m in data.config.reported_measures]
    if data.analysis is None:
        return ()
    if len(reported) <= SPC_CHARTS_MAX:
        return tuple(reported)
    probe = data.analysis.probe
    ids: list[str] = []
    if not probe.empty:
        mine = unit_rows(data, "analysis.probe", unit_code).sort_values("rank")
        ids = [m for m in dict.fromkeys(str(x) for x in mine["measure_id"]) if m in reported]
    return tuple(ids[:SPC_CHARTS_MAX] or reported[:SPC_CHARTS_MAX])


def spc_charts(data: CycleData, unit_code: str, measure_ids: tuple[str, ...]) -> tuple[Chart, ...]:
    """One XmR chart per measure from ``analysis.spc_points``."""
    if data.analysis is None or not measure_ids:
        return ()
    points = unit_rows(data, "analysis.spc_points", unit_code)
    measures = {m.id: m for m in data.config.measures}
    noun = PERIOD_NOUN[data.config.cadence.period]
    charts: list[Chart] = []
    for measure_id in measure_ids:
        m = measures[measure_id]
        rows = points[points["measure_id"] == measure_id].sort_values("x")
        if rows.empty:
            continue
        starts = [pd.Timestamp(x).date() for x in rows["x"]]
        types = [_text(t) for t in rows["point_type"]]
        series = SpcSeries(starts=starts, values=[_float(v) for v in rows["y"]],
                           mean=[_float(v) for v in rows["mean"]], lower=[_float(v) for v in rows["lpl"]],
                           upper=[_float(v) for v in rows["upl"]], point_types=types,
                           y_label=m.unit_label if len(m.unit_label) <= 3 else "", integer=m.kind == "count")
        last = rows.iloc[-1]
        word = spc_word(last["point_type"], _float(last["y"]) > _float(last["mean"]))
        special = sum(t not in ("", "common_cause") for t in types)
        alt = (f"SPC chart of {m.name} per {noun}, {len(starts)} {noun}s from {fmt_date(starts[0])} to "
               f"{fmt_date(starts[-1])}; {special} special-cause points; latest {noun}: {word}.")
        charts.append(Chart(measure_id=measure_id, title=f"{m.name}: SPC chart per {noun} (latest: {word})",
                            alt=alt, name=f"spc-{len(charts) + 1}.png", png=spc_chart(series)))
    return tuple(charts)


# --- data quality and accountability ---------------------------------------------------


def _findings(data: CycleData) -> list[Any]:
    if data.quality is None:
        return []
    order = {s: i for i, s in enumerate(SEVERITY_NAMES)}
    return sorted(data.quality.findings, key=lambda f: order.get(f.severity, len(order)))


def quality_notes(data: CycleData, unit_code: str) -> QualityNotes:
    """The unit's own findings (``Finding.units`` names it), the organisation-wide ones (no unit
    named), and how many concern other units only; most serious first."""
    findings = _findings(data)
    mine = [f for f in findings if unit_code in f.units]
    force = [f for f in findings if not f.units]
    others = len(findings) - len(mine) - len(force)
    empty = ("Data-quality checks were not run for this cycle." if data.quality is None
             else "No data-quality finding concerns this unit.")
    others_message = (f"{_plural(others, 'finding')} about other units only {'is' if others == 1 else 'are'} "
                      "in the chair's pack." if others else "")
    return QualityNotes(notes=tuple(QualityNote(f.severity, f.message, _share_here(f, unit_code)) for f in mine),
                        force_notes=tuple(QualityNote(f.severity, f.message) for f in force),
                        empty_message=empty, others_message=others_message)


def _share_here(finding: Any, unit_code: str) -> str:
    """What of a finding about several units is this unit's, in words (empty when it is only this unit's
    or is about missing data or a change rather than rows)."""
    rows = finding.units[unit_code]
    if len(finding.units) == 1 or not rows:
        return ""
    return f"this unit: {_plural(rows, 'row')}" + (f" of {fmt_count(finding.rows)}" if finding.rows else "")


def _escalation(data: CycleData, unit_code: str) -> tuple[int, str, str]:
    """The unit's escalation level for this meeting, its label and reason (``CycleData.escalation``,
    worked out once by the cycle: open actions, unanswered concerns, met agreement triggers)."""
    frame = data.escalation
    if frame is None or frame.empty:
        return 0, "", "escalation was not assessed in this cycle"
    mine = frame[frame["unit_code"] == unit_code]
    if mine.empty:
        return 0, "", ""
    r = mine.iloc[0]
    return int(r["escalation_level"]), _text(r["escalation_label"]), _text(r["escalation_reason"])


def accountability(data: CycleData, unit_code: str) -> Accountability:
    level, label, reason = _escalation(data, unit_code)
    return Accountability(
        lines=tuple(judged_agreements(data.config, unit_code, data.triggers)),
        empty_message="No accountability agreement is recorded for this unit.",
        level=level, level_label=label or ("no escalation" if level == 0 else f"level {level}"),
        level_reason=reason,
    )


# --- the chair's findings ----------------------------------------------------------------


def _finding_rows(frame: pd.DataFrame | None, names: dict[str, str]) -> tuple[FindingRow, ...]:
    if frame is None or frame.empty:
        return ()
    frame = frame[frame["unit_code"] != TOTAL]
    rows = frame.sort_values("rank").head(CHAIR_FINDINGS).to_dict(orient="records")
    return tuple(FindingRow(int(r["rank"]), str(r["unit_code"]), names.get(str(r["unit_code"]), str(r["unit_code"])),
                            str(r["measure_name"]), str(r["reason"]), _text(r.get("kind"))) for r in rows)


def ladder_section(data: CycleData) -> Ladder:
    """Units at escalation level 1 or above for this meeting, highest first (config order within a level)."""
    names = unit_names(data.config)
    ladder = []
    for code in [u.code for u in data.config.leaf_units]:
        level, label, reason = _escalation(data, code)
        if level >= 1:
            ladder.append(LadderRow(code, names[code], level, label or f"level {level}", reason))
    ladder.sort(key=lambda r: -r.level)  # highest first; config order within a level
    return Ladder(rows=tuple(ladder), empty_message="No unit has actions escalated to level 1 or above.")


def themes_section(data: CycleData) -> Themes:
    """Force-wide themes (``themes.force_themes``) in the headline window, with the organisation's SPC words."""
    window = headline_window(data)
    label = next((w.label for w in data.windows if w.key == window), window)
    words: dict[str, str] = {}
    if data.analysis is not None:
        spc = data.analysis.spc
        for r in spc[spc["unit_code"] == TOTAL].to_dict(orient="records"):
            if not _is_missing(r["variation"]):
                above = not _is_missing(r["y"]) and not _is_missing(r["mean"]) and float(r["y"]) > float(r["mean"])
                words[str(r["measure_id"])] = spc_word(r["variation"], above)
    labels = {m.id: _labels(m)[0] for m in data.config.reported_measures}
    return force_themes(data, window, label, words, labels)


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
        AgendaItem(1, "Actions from the last meeting", _actions_detail(actions)),
        AgendaItem(2, "Force-wide themes", themes.summary),
        AgendaItem(3, "Host unit deep dive", host_detail),
        AgendaItem(4, "Good practice and recognition",
                   "; ".join(f"{r.unit_name}: {r.measure_name}" for r in recognition.rows[:3]) or NO_RECOGNITION),
    ), host=host)


def quality_summary(data: CycleData) -> QualitySummary:
    """Counts of quality findings by severity, with the blocking and warning messages."""
    findings = _findings(data)
    return QualitySummary(
        counts=tuple(SeverityCount(s, sum(f.severity == s for f in findings)) for s in SEVERITY_NAMES),
        notes=tuple(QualityNote(f.severity, f.message) for f in findings if f.severity in ("blocking", "warning")),
        empty_message=("Data-quality checks were not run for this cycle." if data.quality is None
                       else "No blocking or warning findings."),
    )
