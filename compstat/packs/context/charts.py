"""The charts section: which charts a pack shows, with their titles, text alternatives and
captions (SPC charts of the priority measures, year to date against last year, the unit against
its similar units, two-year trends); ``compstat.packs.charts`` draws them.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from compstat import numbers
from compstat.packs.charts import (
    CumulativePanel,
    PeerRow,
    SpcSeries,
    TrendLine,
    cumulative_chart,
    peer_chart,
    spc_chart,
    trend_panels,
)
from compstat.packs.context.common import (
    PERIOD_NOUN,
    float_of,
    headline_window,
    measure_labels,
    plural,
    spc_word,
    text_of,
    unit_names,
)
from compstat.packs.context.rare import (
    T_CHART_CAPTION,
    long_window_note,
    rare_records,
    t_chart_alt,
    t_chart_png,
    t_chart_series,
)
from compstat.packs.cumulative import year_lines
from compstat.packs.filters import fmt_date, fmt_ratio, fmt_value
from compstat.packs.lookup import PROBE, SERIES, SPC_POINTS, per_cycle, unit_rows
from compstat.results import CycleData

CHART_SCHEME = "chart"
SPC_CHARTS_MAX = 3
TREND_TWO_COLUMNS = 8  # more trend panels than this go three to a row, so the chart fits on a page


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
    not_drawn: tuple[str, ...] = ()  # a chart the pack should hold but cannot draw, and why
    rare_note: str = ""


def chart_section(data: CycleData, unit_code: str, spc_ids: tuple[str, ...] = (), peers: bool = False) -> ChartSection:
    """An SPC chart per measure in ``spc_ids``, the year-to-date small multiples, with ``peers``
    the unit against its similar units, and a two-year trend for each other reported measure
    (an SPC chart already shows its measure's series)."""
    noun = PERIOD_NOUN[data.config.cadence.period]
    year_to_date, steps = year_to_date_chart(data, unit_code)
    spc = spc_charts(data, unit_code, spc_ids)
    t_charts = any(c.name.startswith("t-chart") for c in spc)
    peer, peer_caption = peer_section(data, unit_code) if peers else (None, "")
    charted = {c.measure_id for c in spc}
    names = {m.id: m.name for m in data.config.measures}
    not_drawn = [f"{names[m]}: no SPC chart — no {noun}ly values to chart for this unit" for m in spc_ids
                 if m not in charted]
    if year_to_date is None:
        not_drawn.append("Year to date against last year: no chart — no count or rate measure has values this "
                         "year or last")
    if peers and peer is None:
        not_drawn.append(f"Similar units: no comparison — {no_peers_reason(data, unit_code)}")
    return ChartSection(
        not_drawn=tuple(not_drawn),
        peers=peer, peers_caption=peer_caption,
        spc=spc,
        spc_caption=(f"Each {noun}'s value (grey line, small circles) with the mean (solid black line) and the "
                     "process limits (dashed): points between the limits are normal variation. Special causes are "
                     "marked by shape: ▲ triangle, a concern; ■ square, an improvement; ◆ diamond, a change in a "
                     "measure with no better direction." + (f" {T_CHART_CAPTION}" if t_charts else "")),
        rare_note=long_window_note(data, unit_code, spc_ids),
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
        label = measure_labels(m)[0]
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
    series = unit_rows(data, SERIES, unit_code)
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
                 name="trends.png", png=trend_panels(lines, columns=2 if len(lines) <= TREND_TWO_COLUMNS else 3))


def peer_section(data: CycleData, unit_code: str) -> tuple[Chart | None, str]:
    """The unit against its similar units in the headline window (``analysis.peers``): one row per
    measure with a comparison, and the caption naming the similar units; (None, "") without any."""
    if data.analysis is None or data.analysis.peers.empty:
        return None, ""
    window = headline_window(data)
    by_key = per_cycle(data, ("peers by unit and measure", window), lambda: _peers_by_key(data, window))
    names = unit_names(data.config)
    level = f"{data.config.analysis.confidence * 100:g}%"
    rows, phrases, group, any_count = [], [], "", False
    for m in data.config.reported_measures:
        r = by_key.get((unit_code, m.id))
        if r is None or not text_of(r["label"]) or not float_of(r["peer_mean"]) > 0:
            continue
        codes = [c for c in text_of(r["peers"]).split(",") if c]
        present = [c for c in codes if (c, m.id) in by_key]
        others = [float_of(by_key[(c, m.id)]["value"]) for c in present]
        group = group or f"{text_of(r['peer_group'])}: " + ", ".join(f"{names.get(c, c)} ({c})" for c in codes)
        rows.append(PeerRow(label=m.name, value=float_of(r["value"]), low=float_of(r["ci_low"]),
                            high=float_of(r["ci_high"]), peer_mean=float_of(r["peer_mean"]), peers=others,
                            verdict=text_of(r["label"]), peer_codes=present, code=unit_code,
                            mean_text=f"average {_sig(r['peer_mean'])}"))
        basis = text_of(r["basis"])
        any_count = any_count or basis not in ("rate", "value")
        unit_label = basis if basis not in ("rate", "value") else m.unit_label
        unit_label = unit_label if unit_label == "%" else f" {unit_label}".rstrip()
        each = ", ".join(f"{c} {_sig(v)}" for c, v in zip(present, others, strict=True))
        phrases.append(f"{m.name} {_sig(r['value'])}{unit_label} ({level} interval {_sig(r['ci_low'])} to "
                       f"{_sig(r['ci_high'])}) against {_sig(r['peer_mean'])} for similar units "
                       f"({fmt_ratio(float_of(r['value']) / float_of(r['peer_mean']))}): {text_of(r['label'])}"
                       + (f"; each similar unit: {each}" if each else ""))
    if not rows:
        return None, ""
    label = next((w.label for w in data.windows if w.key == window), window).lower()
    chart = Chart(measure_id="", title=f"Against similar units, last {label}" if window != "ytd"
                  else "Against similar units, year to date",
                  alt=(f"{names.get(unit_code, unit_code)} ({unit_code}) against the average of its similar units "
                       f"({group}): " + "; ".join(phrases) + "."),
                  name="peers.png", png=peer_chart(rows))
    caption = (f"This unit's rate (black dot, its code in bold) as a multiple of the average of its similar units "
               f"(the vertical line at 1×; the average itself under each verdict), with its {level} interval (black "
               f"line); hollow circles, labelled with their codes: each similar unit ({group}). "
               + (f"Counts are rates per {data.config.analysis.per_population:,.0f} residents. " if any_count else "")
               + "A line wholly right of 1× is significantly above the similar units, wholly left significantly "
               "below, crossing 1× within; arrow heads: beyond the axis.")
    return chart, caption


def _peers_by_key(data: CycleData, window: str) -> dict[tuple[str, str], dict[Hashable, Any]]:
    """The analysis' peer rows of ``window`` by (unit, measure): the same for every pack of the cycle."""
    assert data.analysis is not None
    peers = data.analysis.peers
    peers = peers[peers["window"] == window]
    return {(str(r["unit_code"]), str(r["measure_id"])): r for r in peers.to_dict(orient="records")}


def no_peers_reason(data: CycleData, unit_code: str) -> str:
    """Why a unit has no similar-units comparison to chart, from the analysis' notes (``peers.note``)."""
    if data.analysis is None:
        return "the analysis was not run for this cycle"
    peers = data.analysis.peers
    if peers.empty:
        return "no unit could be compared with similar units in this cycle"
    window = headline_window(data)
    mine = peers[(peers["unit_code"] == unit_code) & (peers["window"] == window)]
    notes = list(dict.fromkeys(text_of(n) for n in mine["note"] if text_of(n)))
    if not notes:
        return "no similar units to compare with"
    if any(n.startswith("no population") for n in notes):
        return ("no population given for this unit (a count is compared with similar units per resident)"
                + "".join(f"; {n}" for n in notes if not n.startswith("no population")))
    return "; ".join(notes)


def _sig(value: object) -> str:
    """Three significant figures: 0.0978, 12.3, 1,234."""
    return numbers.significant(float_of(value))


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
        mine = unit_rows(data, PROBE, unit_code).sort_values("rank")
        ids = [m for m in dict.fromkeys(str(x) for x in mine["measure_id"]) if m in reported]
    return tuple(ids[:SPC_CHARTS_MAX] or reported[:SPC_CHARTS_MAX])


def spc_charts(data: CycleData, unit_code: str, measure_ids: tuple[str, ...]) -> tuple[Chart, ...]:
    """One XmR chart per measure from ``analysis.spc_points``; a rare-event series' t-chart from
    ``analysis.rare_points`` instead, and none for one judged over a long window (``long_window_note``)."""
    if data.analysis is None or not measure_ids:
        return ()
    points = unit_rows(data, SPC_POINTS, unit_code)
    measures = {m.id: m for m in data.config.measures}
    noun = PERIOD_NOUN[data.config.cadence.period]
    rare = rare_records(data, unit_code)
    charts: list[Chart] = []
    for measure_id in measure_ids:
        m = measures[measure_id]
        if measure_id in rare:
            series = t_chart_series(data, unit_code, measure_id)
            if series is not None:
                row = rare[measure_id]
                word = spc_word(row.point_type, float_of(row.gap) > float_of(row.gap_mean))
                charts.append(Chart(measure_id=measure_id, title=f"{m.name}: days between events, t-chart "
                                    f"(latest: {word})",
                                    alt=t_chart_alt(m.name, series, row, noun),
                                    name=f"t-chart-{len(charts) + 1}.png", png=t_chart_png(series)))
            continue
        rows = points[points["measure_id"] == measure_id].sort_values("x")
        if rows.empty:
            continue
        starts = [pd.Timestamp(x).date() for x in rows["x"]]
        types = [text_of(t) for t in rows["point_type"]]
        series = SpcSeries(starts=starts, values=[float_of(v) for v in rows["y"]],
                           mean=[float_of(v) for v in rows["mean"]], lower=[float_of(v) for v in rows["lpl"]],
                           upper=[float_of(v) for v in rows["upl"]], point_types=types,
                           y_label=m.unit_label if len(m.unit_label) <= 3 else "", integer=m.kind == "count")
        last = rows.iloc[-1]
        word = spc_word(last["point_type"], float_of(last["y"]) > float_of(last["mean"]))
        special = sum(t not in ("", "common_cause") for t in types)
        alt = (f"SPC chart of {m.name} per {noun}, {len(starts)} {noun}s from {fmt_date(starts[0])} to "
               f"{fmt_date(starts[-1])}; {special} special-cause points; latest {noun}: {word}.")
        charts.append(Chart(measure_id=measure_id, title=f"{m.name}: SPC chart per {noun} (latest: {word})",
                            alt=alt, name=f"spc-{len(charts) + 1}.png", png=spc_chart(series)))
    return tuple(charts)


def charts_detail(charts: ChartSection) -> str:
    count = len(charts.spc) + sum(c is not None for c in (charts.trends, charts.year_to_date, charts.peers))
    return plural(count, "chart")
