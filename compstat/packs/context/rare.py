"""Rare events in a unit's pack: the facts of each rare-event series and how it was judged
(``analysis.rare``, ``analysis.rare_events``), its t-chart, and why a long-window series has no chart.

A rare serious event is listed as a fact ("rare event: 1 this week; 14 this year to date against 25
last year") beside the method's own judgement; nothing here makes a claim the method does not.
"""

from __future__ import annotations

import pandas as pd

from compstat import numbers
from compstat.analysis.rare import METHOD_LONG, METHOD_T
from compstat.analysis.significance import NOT_TESTED
from compstat.packs.charts import SpcSeries, spc_chart
from compstat.packs.context.common import PERIOD_NOUN, float_of, spc_word, text_of
from compstat.packs.filters import fmt_count, fmt_date
from compstat.packs.lookup import RARE, RARE_EVENTS, RARE_POINTS, unit_records, unit_rows
from compstat.results import CycleData
from compstat.schemas import RareRow

T_CHART_CAPTION = (
    "A t-chart (rare events) has one point per event: the days since the event before it, so higher is a longer "
    "wait; its last point is the wait from the latest event to the period's end, still open. The limits are set "
    "on the days raised to the power 1/3.6 (which makes waiting times nearly symmetric) and drawn back in days; "
    "a wait beyond the upper limit is a special cause.")


def _days(value: object) -> str:
    return numbers.two_significant(float_of(value))


def rare_records(data: CycleData, unit_code: str) -> dict[str, RareRow]:
    """The unit's rare-event series by measure id (``analysis.rare``); empty without any."""
    return {str(r.measure_id): r for r in unit_records(data, RARE, unit_code)}


def method_word(row: RareRow, noun: str) -> str:
    """The method's judgement in words: the t-chart's judged gap or the long window's test."""
    if text_of(row.method) == METHOD_T:
        what = "between the last two events" if text_of(row.judged) == "latest" else "since the latest event"
        above = float_of(row.gap) > float_of(row.gap_mean)
        return (f"t-chart: {_days(row.gap)} days {what} (usually {_days(row.gap_mean)}, upper limit "
                f"{_days(row.gap_upl)}): {spc_word(row.point_type, above)}")
    span = "52 weeks" if noun == "week" else "12 months"
    label = text_of(row.label)
    verdict = "" if label in ("", NOT_TESTED) else f", {label}"
    return (f"long window: {fmt_count(float_of(row.current))} in the last {span} against "
            f"{fmt_count(float_of(row.comparison))} in the {span} before{verdict}")


def rare_words(data: CycleData, unit_code: str) -> dict[str, tuple[str, ...]]:
    """Per rare measure of the unit: the facts (this period, the year to date against last year's) and
    the method's judgement, for the period table's judgement line."""
    if data.analysis is None:
        return {}
    noun = PERIOD_NOUN[data.config.cadence.period]
    judged = rare_records(data, unit_code)
    out: dict[str, tuple[str, ...]] = {}
    for r in unit_records(data, RARE_EVENTS, unit_code):
        measure_id = str(r.measure_id)
        facts = (f"rare event: {fmt_count(float_of(r.period_count))} this {noun}; "
                 f"{fmt_count(float_of(r.ytd))} this year to date against {fmt_count(float_of(r.last_year_ytd))} "
                 "last year")
        words = [facts]
        if measure_id in judged:
            words.append(method_word(judged[measure_id], noun))
        out[measure_id] = tuple(words)
    return out


def t_chart_series(data: CycleData, unit_code: str, measure_id: str) -> SpcSeries | None:
    """The unit's t-chart of one measure (``analysis.rare_points``), None without one."""
    points = unit_rows(data, RARE_POINTS, unit_code)
    if points.empty:
        return None
    rows = points[points["measure_id"] == measure_id]
    if rows.empty:
        return None
    return SpcSeries(starts=[pd.Timestamp(x).date() for x in rows["x"]], values=[float_of(v) for v in rows["y"]],
                     mean=[float_of(v) for v in rows["mean"]], lower=[float_of(v) for v in rows["lpl"]],
                     upper=[float_of(v) for v in rows["upl"]],
                     point_types=[text_of(t) or "common_cause" for t in rows["point_type"]], y_label="days",
                     integer=False)


def t_chart_png(series: SpcSeries) -> bytes:
    return spc_chart(series)


def t_chart_alt(name: str, series: SpcSeries, row: RareRow, noun: str) -> str:
    special = sum(t not in ("", "common_cause") for t in series.point_types)
    last_closed = series.starts[-2] if len(series.starts) > 1 else series.starts[0]
    return (f"t-chart of {name}: days between events, {len(series.starts) - 1} gaps from "
            f"{fmt_date(series.starts[0])} to {fmt_date(last_closed)}"
            f" and the open wait to {fmt_date(series.starts[-1])}; {special} special-cause points; "
            f"{method_word(row, noun)}.")


def long_window_note(data: CycleData, unit_code: str, measure_ids: tuple[str, ...]) -> str:
    """Why the rare measures among ``measure_ids`` judged over a long window have no SPC chart ("" if none)."""
    judged = rare_records(data, unit_code)
    noun = PERIOD_NOUN[data.config.cadence.period]
    names = {m.id: m.name for m in data.config.measures}
    limit = data.config.analysis.rare.max_mean
    parts = [f"{names[m]} ({text_of(judged[m].why)}; {method_word(judged[m], noun)})"
             for m in measure_ids if m in judged and text_of(judged[m].method) == METHOD_LONG]
    if not parts:
        return ""
    return (f"Rare events, fewer than {limit:g} a {noun} on average, have no SPC chart of {noun}ly counts (its "
            "limits would collapse, so one event would read as a concern and every zero as an improvement). "
            "Without the date of each event or with too few events for a t-chart, they are judged by the exact "
            "test of the last 12 months against the 12 before: " + "; ".join(parts) + ".")
