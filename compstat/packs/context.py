"""From CycleData to template contexts: one frozen dataclass per pack section.

Every decision about what a pack shows (which rows, in what order, which marker, which
footnote) is made here, so the templates only loop and lay out. Contexts hold plain
Python values (str, float, date, tuples) so they pickle cheaply to render workers.
Figures stay unformatted numbers; the filters in ``filters.py`` format them.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import pandas as pd

from compstat.actions import CLOSED
from compstat.analysis.measures import TOTAL
from compstat.config import Config, Measure, Unit, iter_units
from compstat.packs.charts import TrendLine, trend_chart
from compstat.packs.filters import fmt_date
from compstat.results import CycleData

OVERDUE_LABEL = "⚠ OVERDUE"
NO_COMPARISON = "*"
CAUTION = "†"
TOTAL_NAME = "All units"
PERIODS_PER_YEAR = {"weekly": 52, "monthly": 12}
PERIOD_NOUN = {"weekly": "week", "monthly": "month"}
DIRECTIONS = {1: "▲ up", -1: "▼ down", 0: "= same"}


# --- sections -----------------------------------------------------------------------


@dataclass(frozen=True)
class PageFrame:
    """Text repeated on every page: the running header and the footer beside the page number."""

    organisation: str
    header: str
    footer: str


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
    """One action from the log, as promised at an earlier meeting."""

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
    ``caution`` is ``†`` when both values are small numbers.
    """

    current: float
    previous: float
    change: float
    pct_change: float
    pct_missing: str
    caution: str


@dataclass(frozen=True)
class TableRow:
    """One reported measure across all windows."""

    measure_id: str
    name: str
    kind: str
    value_label: str
    note: str
    cells: tuple[TableCell, ...]


@dataclass(frozen=True)
class PeriodTable:
    """The CompStat table for one unit, with only the footnotes its markers need."""

    unit_code: str
    windows: tuple[WindowHeading, ...]
    rows: tuple[TableRow, ...]
    footnotes: tuple[str, ...]


@dataclass(frozen=True)
class GlanceCell:
    """A unit's % change on one measure in the glance window, with its direction in words."""

    pct_change: float
    pct_missing: str
    caution: str
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
    """Chair's matrix: units × reported measures, % change in one window."""

    window: WindowHeading
    columns: tuple[GlanceColumn, ...]
    rows: tuple[GlanceRow, ...]
    footnotes: tuple[str, ...]


@dataclass(frozen=True)
class Chart:
    """A chart embedded as a ``data:`` URI, with a text alternative."""

    measure_id: str
    title: str
    alt: str
    data_uri: str


# --- packs --------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitPack:
    """Everything ``unit_pack.html`` renders for one leaf unit."""

    template: str
    filename: str
    unit_code: str
    title: str
    frame: PageFrame
    cover: UnitCover
    actions: ActionLog
    table: PeriodTable
    charts: tuple[Chart, ...]


@dataclass(frozen=True)
class ChairPack:
    """Everything ``chair_pack.html`` renders: the organisation and every unit."""

    template: str
    filename: str
    unit_code: None
    title: str
    frame: PageFrame
    cover: ChairCover
    actions: ActionLog
    table: PeriodTable
    glance: Glance
    charts: tuple[Chart, ...]


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
    )
    cover = UnitCover(
        organisation=config.organisation.name, unit_name=unit.name, unit_code=unit.code,
        commander=unit.commander or "not recorded", division=names.get(parent, parent) if parent else "—",
        period_label=period.label, period_start=period.start, period_end=period.end,
        meeting_date=data.meeting_date, data_as_of=data.data_as_of.get(unit.code), run_at=data.run_at,
    )
    return UnitPack(
        template="unit_pack.html", filename=pack_filenames(config)[unit.code], unit_code=unit.code,
        title=f"{unit.name} ({unit.code}) — briefing pack {period.label}", frame=frame, cover=cover,
        actions=action_log(data, unit.code), table=period_table_section(data, unit.code),
        charts=trend_charts(data, unit.code),
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
                      footer=f"{org} · {_period_text(data)}")
    return ChairPack(
        template="chair_pack.html", filename="chair-pack.pdf", unit_code=None,
        title=f"{org} — chair's pack {data.period.label}", frame=frame, cover=cover,
        actions=action_log(data, None), table=period_table_section(data, TOTAL),
        glance=glance(data), charts=trend_charts(data, TOTAL),
    )


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
    overdue = not closed and not _is_missing(row.get("overdue")) and bool(row.get("overdue"))
    measure_id = _text(row.get("measure_id"))
    return ActionRow(
        id=int(row["id"]), unit_code=str(row["unit_code"]),
        unit_name=names.get(str(row["unit_code"]), str(row["unit_code"])),
        measure_name=measures.get(measure_id, measure_id), description=_text(row.get("description")),
        owner=_text(row.get("owner")), due_date=_as_date(row.get("due_date")),
        status=status.capitalize(),
        meetings_carried=0 if _is_missing(row.get("meetings_carried")) else int(row["meetings_carried"]),
        overdue=overdue, overdue_label=OVERDUE_LABEL if overdue else "",
        last_note=_text(row.get("last_note")), closed=closed, closed_on=_as_date(row.get("closed_on")),
    )


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


def period_table_section(data: CycleData, unit_code: str) -> PeriodTable:
    """Section 2: the unit's rows of ``data.table``, one per reported measure."""
    config = data.config
    rows_by_key = _table_lookup(data.table, unit_code)
    windows = window_headings(data)
    rows = []
    for m in config.reported_measures:
        label, note = _labels(m)
        cells = tuple(_cell(rows_by_key.get((m.id, w.key))) for w in windows)
        rows.append(TableRow(measure_id=m.id, name=m.name, kind=m.kind, value_label=label, note=note,
                             cells=cells))
    return PeriodTable(unit_code=unit_code, windows=windows, rows=tuple(rows),
                       footnotes=_footnotes([c for r in rows for c in r.cells], config))


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


def _table_lookup(table: pd.DataFrame, unit_code: str) -> dict[tuple[str, str], Record]:
    rows = table[table["unit_code"] == unit_code].to_dict(orient="records")
    return {(str(r["measure_id"]), str(r["window"])): r for r in rows}


def _cell(row: Record | None) -> TableCell:
    if row is None:
        nan = math.nan
        return TableCell(nan, nan, nan, nan, "–", "")
    previous = _float(row["previous"])
    return TableCell(
        current=_float(row["current"]), previous=previous, change=_float(row["change"]),
        pct_change=_float(row["pct_change"]), pct_missing=NO_COMPARISON if previous == 0 else "–",
        caution=CAUTION if bool(row["small_numbers"]) else "",
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
    rows = []
    for code in [u.code for u in config.leaf_units] + [TOTAL]:
        lookup = _table_lookup(data.table, code)
        cells = tuple(_glance_cell(lookup.get((m.id, window.key)), m) for m in measures)
        rows.append(GlanceRow(code, names[code], "" if code == TOTAL else code, code == TOTAL, cells))
    return Glance(window=window, columns=columns, rows=tuple(rows),
                  footnotes=_footnotes([c for r in rows for c in r.cells], config))


def _glance_cell(row: Record | None, measure: Measure) -> GlanceCell:
    cell = _cell(row)
    if math.isnan(cell.change):
        direction = ""
    else:
        direction = DIRECTIONS[(cell.change > 0) - (cell.change < 0)]
    return GlanceCell(pct_change=cell.pct_change, pct_missing=cell.pct_missing, caution=cell.caution,
                      direction=direction, current=cell.current, previous=cell.previous, kind=measure.kind,
                      value_label=_labels(measure)[0])


# --- charts -------------------------------------------------------------------------


def trend_charts(data: CycleData, unit_code: str) -> tuple[Chart, ...]:
    """Section 3: one trend chart per reported measure for the unit."""
    cadence = data.config.cadence.period
    noun = PERIOD_NOUN[cadence]
    series = data.series[data.series["unit_code"] == unit_code]
    charts = []
    for m in data.config.reported_measures:
        rows = series[series["measure_id"] == m.id].sort_values("period_start")
        starts = [pd.Timestamp(s).date() for s in rows["period_start"]]
        values = [float(v) for v in rows["value"]]
        title = f"{m.name} per {noun}" + (f" ({m.unit_label})" if m.unit_label else "")
        line = TrendLine(title=title, starts=starts, values=values, periods_per_year=PERIODS_PER_YEAR[cadence],
                         y_label=m.unit_label, integer=m.kind == "count")
        png = trend_chart(line)
        span = f"{fmt_date(starts[0])} to {fmt_date(starts[-1])}" if starts else "no periods"
        alt = (f"Line chart of {m.name} per {noun}, {len(starts)} {noun}s from {span}; dashed line: "
               f"the same {noun} a year earlier.")
        charts.append(Chart(measure_id=m.id, title=title, alt=alt,
                            data_uri="data:image/png;base64," + base64.b64encode(png).decode("ascii")))
    return tuple(charts)
