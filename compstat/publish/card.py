"""The public report card's figures: each public measure's recent trend against last year, per unit, division
and the organisation, with disclosure control applied (``disclosure.protect``).

The trend is 13 spans of 28 days (weekly cadence) or 12 months (monthly) ending with the period, each against
the same span last year (``periods.prior_year_span`` / the same months). Only these spans are published: they
do not overlap, so no published figure is a sum of others across time. The organisation's and each division's
counts are the sums of their accountable units' (what the page's table adds up to), and each span, side and
measure is protected as one table whose groups are the divisions and the organisation.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from compstat.config import Config, Unit
from compstat.errors import DataError
from compstat.figures import build_figures, window_figures
from compstat.hierarchy import division_leaves
from compstat.periods import Period, Window, parse_period, prior_year_span, shift_years
from compstat.publish.disclosure import Group, Shown, protect

ORGANISATION = "_total"
WEEKLY_SPANS, MONTHLY_SPANS = 13, 12
CARD_COLUMNS = ["area", "area_name", "level", "measure_id", "measure_name", "span", "start", "end",
                "this_year", "this_year_status", "last_year_start", "last_year_end", "last_year", "last_year_status"]


@dataclass(frozen=True)
class Area:
    """A page of the card: the organisation, a division or an accountable unit."""

    code: str
    name: str
    level: str  # organisation | division | unit
    parent: str | None
    children: tuple[str, ...]


def areas(config: Config) -> list[Area]:
    """The organisation, then every unit in config order (divisions and accountable units); the organisation's
    children are the top-level units (or, when one unit holds every accountable unit, that unit's children)."""
    tops = config.units
    if len(tops) == 1 and tops[0].children and tops[0].code not in division_leaves(config):
        tops = tops[0].children  # that unit is the organisation itself
    out = [Area(ORGANISATION, config.organisation.name, "organisation", None, tuple(u.code for u in tops))]

    def walk(units: list[Unit], parent: str) -> None:
        for u in units:
            out.append(Area(u.code, u.name, "division" if u.children else "unit", parent,
                            tuple(c.code for c in u.children)))
            walk(u.children, u.code)

    walk(tops, ORGANISATION)
    return out


def groups(config: Config) -> list[Group]:
    """The sums a reader can use: each division and the organisation as the sum of its children."""
    return [(a.code, a.children) for a in areas(config) if a.children]


def spans(config: Config, period: Period) -> list[Window]:
    """The trend's spans, oldest first: 28-day spans (weekly) or months (monthly) ending with ``period``."""
    out: list[Window] = []
    if config.cadence.period == "weekly":
        end = period.end
        for i in range(WEEKLY_SPANS):
            last = end - timedelta(days=28 * i)
            first = last - timedelta(days=27)
            out.append(Window(f"28d-{i}", f"28 days to {last:%d %b %Y}", first, last,
                              *prior_year_span(first, last, config.cadence)))
    else:
        month = period
        for _ in range(MONTHLY_SPANS):
            prev_start = shift_years(month.start)
            prev = parse_period(f"{prev_start.year:04d}-{prev_start.month:02d}", config.cadence)
            out.append(Window(month.label, f"{month.start:%B %Y}", month.start, month.end, prev.start, prev.end))
            before = month.start - timedelta(days=1)
            month = parse_period(f"{before.year:04d}-{before.month:02d}", config.cadence)
    return out[::-1]


def card_figures(session: Session, config: Config, period: Period) -> pd.DataFrame:
    """The published figures (``CARD_COLUMNS``): every area × public measure × span, both sides protected."""
    windows = spans(config, period)
    measures = list(config.publish.measures)
    if not measures:
        return pd.DataFrame(columns=CARD_COLUMNS)
    first = min(w.prev_start for w in windows)
    figures = build_figures(session, config, first)
    leaves = [u.code for u in config.leaf_units]
    daily = figures.daily_between(first, period.end)
    if not (daily["date"] >= pd.Timestamp(period.start)).any():
        raise DataError(f"the store holds no data for {period.label}: run `compstat run-cycle --period {period.label}` "
                        "first (publish reads what the store holds)")
    raw = window_figures(daily, config, windows, figures.data_start, leaves, measures)
    raw = raw[raw["unit_code"].isin(leaves)]
    exact = raw_counts(raw, config)
    return protected(exact, config, windows)


def raw_counts(raw: pd.DataFrame, config: Config) -> dict[tuple[str, str, str], dict[str, int | None]]:
    """(measure, span, side) → every area's exact count (None where the span starts before the data)."""
    tables: dict[tuple[str, str, str], dict[str, int | None]] = {}
    everything = areas(config)
    below = division_leaves(config) | {ORGANISATION: [u.code for u in config.leaf_units]}
    for (measure, span, side), part in raw.groupby(["measure_id", "window", "side"]):
        by_unit = dict(zip(part["unit_code"], part["value"], strict=True))
        table: dict[str, int | None] = {}
        for area in everything:
            codes = below.get(area.code, [area.code])
            values = [by_unit.get(c, 0.0) for c in codes]
            table[area.code] = None if any(pd.isna(v) for v in values) else int(round(float(np.sum(values))))
        tables[(str(measure), str(span), str(side))] = table
    return tables


def protected(exact: dict[tuple[str, str, str], dict[str, int | None]], config: Config,
              windows: list[Window]) -> pd.DataFrame:
    """The card's rows from the exact tables, each table protected on its own."""
    rules = config.publish.disclosure
    sums = groups(config)
    shown: dict[tuple[str, str, str], dict[Hashable, Shown]] = {
        key: protect(table, sums, rules) for key, table in exact.items()}  # type: ignore[arg-type]
    rows = []
    for measure_id in config.publish.measures:
        measure = config.measure(measure_id)
        for area in areas(config):
            for w in windows:
                now = shown[(measure_id, w.key, "current")][area.code]
                then = shown[(measure_id, w.key, "previous")][area.code]
                rows.append({"area": area.code, "area_name": area.name, "level": area.level,
                             "measure_id": measure_id, "measure_name": measure.name, "span": w.label,
                             "start": w.start, "end": w.end, "this_year": now.value,
                             "this_year_status": _status(now), "last_year_start": w.prev_start,
                             "last_year_end": w.prev_end, "last_year": then.value,
                             "last_year_status": _status(then)})
    return pd.DataFrame(rows, columns=CARD_COLUMNS)


def _status(shown: Shown) -> str:
    """The words in place of a figure not shown ("fewer than 5", "withheld", "no data"); "" for a figure."""
    return "" if shown.value is not None else shown.text
