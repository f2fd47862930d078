"""The cycle's figures: the store aggregated once (``build_figures``), read by every step.

Each input version's daily totals (input, unit, category, subcategory, day: sum of values, count of
rows), made in the database once per version (``store.totals``) and read in one query from the
earliest day any step needs to the latest data; the category filters of the measures
are applied in pandas on that grouped frame, which is small (77 units × 3 years of incidents are
about 300,000 rows). Quality (``QualityContext``), the period table, the chart series, the analysis
and the actions' "did it work" all read the same ``Figures``, and every comparison figure (a
measure's value per unit over one side of a window) is computed by ``window_figures`` alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import cached_property

import numpy as np
import pandas as pd
from sqlalchemy import String, cast, func, select, update
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.hierarchy import roll_up
from compstat.ingest import inputs_in_use
from compstat.measure_filter import matches_filter
from compstat.periods import Window
from compstat.schemas import DAILY_SOURCES
from compstat.store import DailyTotal, IngestedFile, Observation, TotalledFile
from compstat.store.db import read_frame
from compstat.store.totals import (
    STREAM_COLUMNS,
    figures_frame,
    figures_stream,
    make_totals,
    stream_typed,
    untotalled,
)

DAILY_SOURCE_COLUMNS = DAILY_SOURCES.columns
FIGURE_COLUMNS = ["unit_code", "measure_id", "window", "side", "start", "end", "value", "numerator", "denominator"]
CATEGORY_KEYS = ["unit_code", "category", "subcategory", "date"]

TOTAL = "_total"  # the organisation as a whole, as a unit code
DAILY_COLUMNS = ["unit_code", "measure_id", "date", "total", "n"]


def daily_measures(by_category: pd.DataFrame, config: Config) -> pd.DataFrame:
    """Daily total and row count per unit and non-rate measure, plus each division's (the sum of
    its accountable units, ``hierarchy.roll_up``) and the organisation total (every unit code held)."""
    parts = []
    for m in config.measures:
        if m.kind == "rate":
            continue
        rows = by_category[matches_filter(by_category, m)]
        part = rows.groupby(["unit_code", "date"], as_index=False)[["total", "n"]].sum()
        parts.append(part.assign(measure_id=m.id))
    if not parts:
        return pd.DataFrame(columns=DAILY_COLUMNS)
    daily = pd.concat(parts, ignore_index=True)
    daily = daily[DAILY_COLUMNS]
    total = daily.groupby(["measure_id", "date"], as_index=False)[["total", "n"]].sum().assign(unit_code=TOTAL)
    return pd.concat([daily, roll_up(daily, config), total[DAILY_COLUMNS]], ignore_index=True)[DAILY_COLUMNS]


def measure_values(totals: pd.DataFrame, config: Config, keys: list[str]) -> pd.DataFrame:
    """Turn summed ``total``/``n`` per (unit, measure, *keys) into each measure's value.

    Counts are the total; supplied values are their mean (or sum); a rate is the
    numerator's total over the denominator's, times ``per`` (NaN when the denominator is 0).
    Returns unit_code, measure_id, *keys, value, and the numerator/denominator for rates.
    """
    index = ["unit_code", *keys]
    out = []
    by_measure = {mid: g.set_index(index) for mid, g in totals.groupby("measure_id")}
    empty = pd.DataFrame(columns=[*index, "total", "n"]).set_index(index)
    for m in config.measures:
        if m.kind == "rate":
            num = by_measure.get(m.numerator or "", empty)["total"]
            den = by_measure.get(m.denominator or "", empty)["total"]
            num, den = num.align(den, fill_value=0.0)
            value = (num / den.where(den != 0, np.nan)) * m.per
            frame = pd.DataFrame({"value": value, "numerator": num, "denominator": den})
        else:
            g = by_measure.get(m.id, empty)
            if m.kind == "value" and m.aggregate == "mean":
                value = g["total"] / g["n"].where(g["n"] != 0, np.nan)
            else:
                value = g["total"]
            frame = pd.DataFrame({"value": value.astype(float), "numerator": np.nan, "denominator": np.nan})
        out.append(frame.reset_index().assign(measure_id=m.id))
    result = pd.concat(out, ignore_index=True) if out else pd.DataFrame()
    return result[["unit_code", "measure_id", *keys, "value", "numerator", "denominator"]]


@dataclass(frozen=True)
class Figures:
    """The store's observations of one organisation from ``start`` on, aggregated once.

    - ``by_source``: ``DAILY_SOURCE_COLUMNS``, one row per source, unit code, category, subcategory
      and day from ``start`` to the latest data, every unit code in the store (also codes no longer
      in the config); ``source`` is the input's source name ("?" for an input no longer in use).
    - ``data_start``: the organisation's first record (all time), None for an empty store.
    The derived frames (cached) are views of it; ``daily_between`` cuts one step's span out.
    """

    config: Config
    start: date
    data_start: date | None
    by_source: pd.DataFrame

    @cached_property
    def by_category(self) -> pd.DataFrame:
        """Daily totals over all sources for every unit code in the store (``CATEGORY_KEYS``, total, n)."""
        return self.by_source.groupby(CATEGORY_KEYS, as_index=False)[["total", "n"]].sum()

    @cached_property
    def daily(self) -> pd.DataFrame:
        """Daily total and row count per unit and non-rate measure (``measures.DAILY_COLUMNS``), with each
        division's and the organisation's (``_total``: over every unit code in the store), from ``start``."""
        return daily_measures(self.by_category, self.config)

    def daily_between(self, first: date, last: date | None = None) -> pd.DataFrame:
        """``daily`` from ``first`` (not before ``start``) to ``last`` (default: the latest data)."""
        if first < self.start:
            raise ValueError(f"figures read from {self.start}, asked from {first}")
        return between(self.daily, first, last)

    def by_source_from(self, first: date) -> pd.DataFrame:
        """``by_source`` from ``first`` (not before ``start``)."""
        if first < self.start:
            raise ValueError(f"figures read from {self.start}, asked from {first}")
        return between(self.by_source, first, None)


def between(frame: pd.DataFrame, first: date, last: date | None) -> pd.DataFrame:
    """The rows of ``frame`` whose ``date`` is from ``first`` to ``last`` (inclusive), renumbered."""
    mask = frame["date"] >= pd.Timestamp(first)
    if last is not None:
        mask &= frame["date"] <= pd.Timestamp(last)
    return frame[mask].reset_index(drop=True)


def build_figures(session: Session, config: Config, start: date) -> Figures:
    """Aggregate the organisation's observations from ``start`` on: each input version's daily totals
    (``store.totals``: summed at ingest; a version whose totals were forgotten is summed here by one GROUP BY),
    read as one Arrow stream per version (``TotalledFile.figures``). A version whose stream is not yet kept (a
    store from before it was) has its totals' rows read, and its stream kept for the next cycle."""
    org = config.organisation.slug
    inputs = inputs_in_use(session, org)
    sources = dict(zip(inputs["file_id"], inputs["source"], strict=True))
    make_totals(session, untotalled(session, [int(i) for i in inputs["file_id"]]))
    held = session.execute(select(TotalledFile.file_id, TotalledFile.figures)
                           .join(IngestedFile, IngestedFile.id == TotalledFile.file_id)
                           .where(IngestedFile.org == org).order_by(TotalledFile.file_id)).all()
    parts = [figures_frame(stream).assign(file_id=int(i)) for i, stream in held if stream is not None]
    unread = [int(i) for i, stream in held if stream is None]
    if unread:
        parts.append(_keep_streams(session, unread))
    frame = pd.concat(parts, ignore_index=True) if parts else _no_totals()
    frame = frame[frame["date"] >= pd.Timestamp(start)]
    frame = frame.assign(source=frame["file_id"].map(sources).fillna("?"))
    keys = ["source", *CATEGORY_KEYS]
    by_source = frame.groupby(keys, as_index=False)[["total", "n"]].sum()[DAILY_SOURCE_COLUMNS]
    data_start = session.scalar(select(func.min(Observation.occurred_on)).where(Observation.org == org))
    return Figures(config=config, start=start, data_start=data_start,
                   by_source=DAILY_SOURCES.validate(by_source, "figures.build_figures"))


def _keep_streams(session: Session, file_ids: list[int]) -> pd.DataFrame:
    """The totals of ``file_ids`` read from their rows (``STREAM_COLUMNS`` and ``file_id``), each version's
    kept as its stream (``TotalledFile.figures``) so that the next cycle reads it at once."""
    day = cast(DailyTotal.occurred_on, String(10))  # ISO text: one vectorised parse beats per-row dates
    stmt = (select(DailyTotal.file_id, DailyTotal.unit_code, DailyTotal.category, DailyTotal.subcategory, day,
                   DailyTotal.total, DailyTotal.n).where(DailyTotal.file_id.in_(file_ids)))
    # the driver's tuples (SQLite) or COPY's CSV (PostgreSQL), not SQLAlchemy's rows: text and numbers only
    frame = read_frame(session.connection(), stmt, ["file_id", *STREAM_COLUMNS],
                       lambda chunk: stream_typed(chunk, "date"))
    if frame.empty:
        frame = _no_totals()
    mine = dict(iter(frame.groupby("file_id", sort=False)))
    for file_id in file_ids:
        version = mine.get(file_id, _no_totals())
        session.execute(update(TotalledFile).where(TotalledFile.file_id == file_id)
                        .values(figures=figures_stream(version)))
    return frame


def _no_totals() -> pd.DataFrame:
    """No totals, with the columns and types of some."""
    return pd.DataFrame({"file_id": pd.Series(dtype="int64"), "unit_code": pd.Series(dtype="str"),
                         "category": pd.Series(dtype="str"), "subcategory": pd.Series(dtype="str"),
                         "date": pd.Series(dtype="datetime64[us]"), "total": pd.Series(dtype=float),
                         "n": pd.Series(dtype="int64")})


def window_figures(daily: pd.DataFrame, config: Config, windows: Sequence[Window], data_start: date | None,
                   units: Sequence[str] | None = None, measures: Sequence[str] | None = None) -> pd.DataFrame:
    """Every measure's value per unit for both sides of each window (``FIGURE_COLUMNS``): the one place
    comparison figures are computed (the quality checks and the period table read these).

    ``daily``: ``Figures.daily`` (or a span of it). ``units``: default the leaf units and ``_total``;
    ``measures``: default every measure. Counts missing in a window are 0; a side that starts before
    ``data_start`` has no value (NaN), not 0.
    """
    units = list(units) if units is not None else [u.code for u in config.leaf_units] + [TOTAL]
    measures = list(measures) if measures is not None else [m.id for m in config.measures]
    kinds = pd.Series({m.id: m.kind for m in config.measures})
    grid = pd.MultiIndex.from_product([units, measures], names=["unit_code", "measure_id"])
    parts = []
    for w in windows:
        for side, start, end in (("current", w.start, w.end), ("previous", w.prev_start, w.prev_end)):
            rows = daily[(daily["date"] >= pd.Timestamp(start)) & (daily["date"] <= pd.Timestamp(end))]
            totals = rows.groupby(["unit_code", "measure_id"], as_index=False)[["total", "n"]].sum()
            values = measure_values(totals, config, []).set_index(["unit_code", "measure_id"])
            values = values.reindex(grid).reset_index()
            counts = values["measure_id"].map(kinds).eq("count")
            values.loc[counts, "value"] = values.loc[counts, "value"].fillna(0.0)
            if data_start is not None and start < data_start:
                values["value"] = np.nan
            parts.append(values.assign(window=w.key, side=side, start=start, end=end))
    if not parts:
        return pd.DataFrame(columns=FIGURE_COLUMNS)
    return pd.concat(parts, ignore_index=True)[FIGURE_COLUMNS]
