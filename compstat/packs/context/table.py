"""The CompStat tables: a unit's (or the organisation's) period table, one row per reported
measure across the windows, and the chair's glance matrix of units × measures in one window; each
cell with its caveat marks (``*`` no comparison, ``†`` small numbers, the quality step's ``‡`` and
``§``) and only the footnotes those marks need.

A unit's (or a division's) period table is followed by a compact second table on the same column
grid (``LongerView``), from the analysis' ``comparisons`` (``analysis.baselines``): per window the
same span two years back, the 3-year mean of the same span (the years the history covers), this
year's % change on that mean, and this year's rate per ``analysis.per_population`` residents a year
(counts: ``current_rate`` × 365 / days, the basis of the similar-units comparison; a rate measure:
its numerator and denominator this year; a value measure: none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date

from compstat import schemas
from compstat.config import Config, Measure
from compstat.figures import TOTAL
from compstat.packs.context.assessments import assessments
from compstat.packs.context.caveats import caveat_footnotes, caveat_labels, comparison_caveats, marks
from compstat.packs.context.common import PERIOD_NOUN, TOTAL_NAME, float_of, measure_labels, unit_names
from compstat.packs.filters import fmt_count, fmt_date
from compstat.packs.lookup import COMPARISONS, TABLE, unit_records
from compstat.results import CycleData
from compstat.schemas import BaselineRow

NO_COMPARISON = "*"
CAUTION = "†"
DIRECTIONS = {1: "↑ up", -1: "↓ down", 0: "= same"}
SIGNIFICANT = {"significant increase": "▲ significant", "significant decrease": "▼ significant"}
SPECIAL_CAUSE = "● special cause"


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
class LongerCell:
    """One measure in one window against earlier years: the same span two years back, the mean of the
    same span over the last ``analysis.baseline_years`` years (``fewer`` is ``°`` when it rests on fewer),
    this year's % change on that mean with the comparison's quality marks, and this year's rate:
    ``rate`` per residents a year for a count, ``rate_text`` (numerator of denominator) for a rate measure."""

    two_years: float
    mean: float
    fewer: str
    pct_vs_mean: float
    mark: str
    rate: float
    rate_text: str = ""


@dataclass(frozen=True)
class LongerRow:
    """One reported measure across the windows, against earlier years and as a rate."""

    measure_id: str
    name: str
    kind: str
    value_label: str
    cells: tuple[LongerCell, ...]


@dataclass(frozen=True)
class LongerView:
    """The period table's second, compact table: earlier years and rates (see the module docstring)."""

    title: str
    rate_heading: str
    rows: tuple[LongerRow, ...]
    footnotes: tuple[str, ...]


@dataclass(frozen=True)
class PeriodTable:
    """The CompStat table for one unit, with only the footnotes its markers need; ``columns`` is
    the table's width in cells (an assessment row spans it); ``longer`` the second table (earlier
    years and rates) when asked for and the analysis ran."""

    unit_code: str
    windows: tuple[WindowHeading, ...]
    rows: tuple[TableRow, ...]
    footnotes: tuple[str, ...]
    columns: int
    longer: LongerView | None = None


@dataclass(frozen=True)
class GlanceCell:
    """A unit's % change on one measure in the glance window, with its direction in words; its
    significance against last year (``▲ significant``/``▼ significant``) and SPC signal
    (``● special cause``), symbol and word, where the analysis has them."""

    pct_change: float
    pct_missing: str
    caution: str
    mark: str
    direction: str
    current: float
    previous: float
    kind: str
    value_label: str
    significance: str = ""
    spc: str = ""


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


def window_headings(data: CycleData) -> tuple[WindowHeading, ...]:
    return tuple(WindowHeading(w.key, w.label, w.start, w.end, w.prev_start, w.prev_end) for w in data.windows)


def period_table_section(data: CycleData, unit_code: str, assess: bool = False, longer: bool = False) -> PeriodTable:
    """Section 2: the unit's rows of ``data.table``, one per reported measure; with ``assess``,
    each row also carries the analysis' words (significance, SPC, peers, delivery confidence);
    with ``longer``, the second table of earlier years and rates (``longer_view``)."""
    config = data.config
    rows_by_key = _table_lookup(data, unit_code)
    windows = window_headings(data)
    words = assessments(data, unit_code) if assess else {}
    caveats = comparison_caveats(data)
    rows, marked = [], []
    for m in config.reported_measures:
        label, note = measure_labels(m)
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
                       columns=1 + 4 * len(windows), longer=longer_view(data, unit_code) if longer else None)


FEWER_YEARS = "°"


def longer_view(data: CycleData, unit_code: str) -> LongerView | None:
    """The unit's rows of ``analysis.comparisons`` as the period table's second table; None without them."""
    found = {(str(r.measure_id), str(r.window)): r for r in unit_records(data, COMPARISONS, unit_code)}
    if not found:
        return None
    config = data.config
    years = config.analysis.baseline_years
    per = config.analysis.per_population
    caveats = comparison_caveats(data)
    rows = []
    for m in config.reported_measures:
        cells = []
        for w in data.windows:
            r = found.get((m.id, w.key))
            cells.append(_longer_cell(r, m, years, per, marks(caveats.get((unit_code, m.id, w.key), ()))))
        rows.append(LongerRow(m.id, m.name, m.kind, measure_labels(m)[0], tuple(cells)))
    all_cells = [c for r in rows for c in r.cells]
    notes = []
    if any(c.fewer for c in all_cells):
        notes.append(f"{FEWER_YEARS} the mean of fewer than {years} years: the unit's history does not reach back "
                     f"{years} years")
    shown = [mark for mark in ("‡", "§") if any(mark in c.mark for c in all_cells)]
    if shown:
        notes.append(f"{' '.join(shown)} the caveats of the table above: the mean includes last year's span")
    kinds = {m.kind for m in config.reported_measures}
    counts_note = (f"Per {per:,.0f} a year: this year's count per {per:,.0f} residents, over a year "
                   "(as against similar units)")
    if "count" in kinds and all(math.isnan(c.rate) for r in rows if r.kind == "count" for c in r.cells):
        counts_note += ": no population is given for this unit"
    notes.append(counts_note + ("; a rate measure: this year's numerator of its denominator" if "rate" in kinds
                                else "") + ("; a value measure: none" if "value" in kinds else ""))
    lead = (f"Against earlier years and per {per:,.0f} residents: each span two years back, its mean over the "
            f"{years} years before this one, and this year's rate")
    return LongerView(title=lead, rate_heading=f"Per {per:,.0f} a year", rows=tuple(rows), footnotes=tuple(notes))


def _longer_cell(row: BaselineRow | None, measure: Measure, years: int, per: float, mark: str) -> LongerCell:
    if row is None:
        nan = math.nan
        return LongerCell(nan, nan, "", nan, mark, nan)
    mean, current = float_of(row.baseline), float_of(row.current)
    used = float_of(row.baseline_years)
    pct = (current - mean) / mean * 100 if mean > 0 and not math.isnan(current) else math.nan
    rate, rate_text = math.nan, ""
    if measure.kind == "count":
        rate = float_of(row.current_rate) * 365 / float_of(row.days)
    elif measure.kind == "rate":
        numerator, denominator = float_of(row.numerator), float_of(row.denominator)
        if not (math.isnan(numerator) or math.isnan(denominator)):
            rate_text = f"{fmt_count(numerator)} of {fmt_count(denominator)}"
    return LongerCell(two_years=float_of(row.two_years_ago), mean=mean,
                      fewer=FEWER_YEARS if 0 < used < years else "", pct_vs_mean=pct,
                      mark=mark if not math.isnan(mean) else "", rate=rate, rate_text=rate_text)


def _table_lookup(data: CycleData, unit_code: str) -> dict[tuple[str, str], schemas.TableRow]:
    rows = unit_records(data, TABLE, unit_code)
    return {(str(r.measure_id), str(r.window)): r for r in rows}


def _cell(row: schemas.TableRow | None, mark: str = "") -> TableCell:
    if row is None:
        nan = math.nan
        return TableCell(nan, nan, nan, nan, "–", "", mark)
    previous = float_of(row.previous)
    return TableCell(
        current=float_of(row.current), previous=previous, change=float_of(row.change),
        pct_change=float_of(row.pct_change), pct_missing=NO_COMPARISON if previous == 0 else "–",
        caution=CAUTION if bool(row.small_numbers) else "", mark=mark,
    )


def _footnotes(cells: list[TableCell] | list[GlanceCell], config: Config) -> tuple[str, ...]:
    notes = []
    if any(math.isnan(c.pct_change) and c.pct_missing == NO_COMPARISON for c in cells):
        notes.append(f"{NO_COMPARISON} no comparison: last year was 0")
    if any(c.caution for c in cells):
        notes.append(f"{CAUTION} fewer than {config.small_number} in both periods: treat the change with caution")
    return tuple(notes)


def glance(data: CycleData) -> Glance:
    """Units × measures in the second window (28 days or 3 months), the organisation last."""
    windows = window_headings(data)
    window = windows[1] if len(windows) > 1 else windows[0]
    return units_glance(data, [u.code for u in data.config.leaf_units], TOTAL, window)


def units_glance(data: CycleData, codes: list[str], total: str, window: WindowHeading) -> Glance:
    """``codes`` × measures in ``window``, then ``total``'s row (the organisation's or a division's).
    Each different caveat gets its own numbered mark and footnote (``‡1``, ``‡2``)."""
    config = data.config
    measures = config.reported_measures
    columns = tuple(GlanceColumn(m.id, m.name, measure_labels(m)[1]) for m in measures)
    names = unit_names(config)
    caveats = comparison_caveats(data)
    judged = _judgements(data, window.key)
    marked = [(m.name, code if code != TOTAL else TOTAL_NAME.lower(), caveats.get((code, m.id, window.key), ()))
              for code in [*codes, total] for m in measures]
    labels = caveat_labels(marked)
    rows = []
    for code in [*codes, total]:
        lookup = _table_lookup(data, code)
        cells = []
        for m in measures:
            found = caveats.get((code, m.id, window.key), ())
            significance, spc = judged.get((code, m.id), ("", ""))
            cell = _glance_cell(lookup.get((m.id, window.key)), m, marks(found, labels))
            cells.append(replace(cell, significance=significance, spc=spc))
        rows.append(GlanceRow(code, names[code], "" if code == TOTAL else code, code == total, tuple(cells)))
    lead = (f"% change on last year over {window.label} ({fmt_date(window.start)} – {fmt_date(window.end)} against "
            f"{fmt_date(window.prev_start)} – {fmt_date(window.prev_end)}); where both counts are below "
            f"{config.small_number}, the counts instead (this year vs last). ↑ up, ↓ down, = same as last year; "
            f"{SIGNIFICANT['significant increase']} or {SIGNIFICANT['significant decrease']}: a significant rise or "
            f"fall against last year; {SPECIAL_CAUSE}: the latest {PERIOD_NOUN[config.cadence.period]} is beyond "
            "normal variation on the unit's SPC chart; below each % change: this year vs last year.")
    return Glance(window=window, lead=lead, columns=columns, rows=tuple(rows),
                  footnotes=_footnotes([c for r in rows for c in r.cells], config)
                  + caveat_footnotes(marked, numbered=True))


def _judgements(data: CycleData, window: str) -> dict[tuple[str, str], tuple[str, str]]:
    """(unit, measure) → its significance against last year in ``window`` and its SPC signal, in symbol and word."""
    analysis = data.analysis
    out: dict[tuple[str, str], tuple[str, str]] = {}
    if analysis is None:
        return out
    tests = analysis.significance
    if not tests.empty:
        chosen = tests[(tests["window"] == window) & (tests["basis"] == "last_year")]
        for r in chosen.to_dict(orient="records"):
            word = SIGNIFICANT.get(str(r["label"]), "")
            if word:
                out[(str(r["unit_code"]), str(r["measure_id"]))] = (word, "")
    spc = analysis.spc
    if not spc.empty:
        signals = ["special_cause_concern", "special_cause_improvement", "neutral_high", "neutral_low"]
        special = spc[spc["variation"].isin(signals)]
        for r in special.to_dict(orient="records"):
            key = (str(r["unit_code"]), str(r["measure_id"]))
            out[key] = (out.get(key, ("", ""))[0], SPECIAL_CAUSE)
    return out


def _glance_cell(row: schemas.TableRow | None, measure: Measure, mark: str) -> GlanceCell:
    cell = _cell(row)
    if math.isnan(cell.change):
        direction = ""
    else:
        direction = DIRECTIONS[(cell.change > 0) - (cell.change < 0)]
    return GlanceCell(pct_change=cell.pct_change, pct_missing=cell.pct_missing, caution=cell.caution, mark=mark,
                      direction=direction, current=cell.current, previous=cell.previous, kind=measure.kind,
                      value_label=measure_labels(measure)[0])
