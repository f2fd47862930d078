"""From stored observations to measure values: daily totals, then any bucketing.

``daily_totals`` is the only function here that reads the store; the rest are pure
(DataFrame in, DataFrame out). The organisation as a whole appears as unit ``TOTAL``, and each
division (a unit with units below it, ``hierarchy``) under its own code: the sum of its units.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compstat.config import WEEKDAYS, Config
from compstat.figures import TOTAL, measure_values
from compstat.hierarchy import divisions
from compstat.store import Observation


def daily_by_category(session: Session, org: str, start: date, end: date) -> pd.DataFrame:
    """Sum of values and count of rows per unit, category, subcategory and day."""
    stmt = (
        select(Observation.unit_code, Observation.category, Observation.subcategory,
               Observation.occurred_on.label("date"), func.sum(Observation.value).label("total"),
               func.count().label("n"))
        .where(Observation.org == org, Observation.occurred_on >= start, Observation.occurred_on <= end)
        .group_by(Observation.unit_code, Observation.category, Observation.subcategory, Observation.occurred_on)
    )
    rows = session.execute(stmt).all()
    frame = pd.DataFrame(rows, columns=["unit_code", "category", "subcategory", "date", "total", "n"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["total"] = frame["total"].astype(float)
    frame["n"] = frame["n"].astype(int)
    return frame


def key_runs(*keys: npt.NDArray[Any]) -> list[tuple[int, int]]:
    """(start, stop) of each run of rows with the same values in every one of ``keys`` (the columns, as arrays, of
    a frame sorted by them): each series of a frame, sliced without a DataFrame per series."""
    if not len(keys[0]):
        return []
    changed = np.zeros(len(keys[0]) - 1, dtype=bool)
    for column in keys:
        changed |= column[1:] != column[:-1]
    edges = [0, *(np.flatnonzero(changed) + 1).tolist(), len(keys[0])]
    return list(zip(edges, edges[1:], strict=False))


def analysis_units(config: Config) -> list[str]:
    """The codes every table covers: the accountable units, the divisions, then ``TOTAL``."""
    return [u.code for u in config.leaf_units] + [u.code for u in divisions(config)] + [TOTAL]


def bucket_start(dates: pd.Series, config: Config) -> pd.Series:
    """The start date of the period (week or month) each date falls in."""
    if config.cadence.period == "monthly":
        return pd.Series(dates.dt.to_period("M").dt.start_time, index=dates.index)
    offset = (dates.dt.day_of_week - WEEKDAYS.index(config.cadence.week_start)) % 7
    return pd.Series(dates - pd.to_timedelta(offset, unit="D"), index=dates.index)


def period_series(daily: pd.DataFrame, config: Config, first: date, last: date) -> pd.DataFrame:
    """Each measure's value per period (week or month) from ``first`` to ``last`` inclusive.

    Periods with no rows are filled: counts with 0, rates and values with NaN.
    """
    frame = daily[(daily["date"] >= pd.Timestamp(first)) & (daily["date"] <= pd.Timestamp(last))]
    frame = frame.assign(period_start=bucket_start(frame["date"], config))
    totals = frame.groupby(["unit_code", "measure_id", "period_start"], as_index=False)[["total", "n"]].sum()
    values = measure_values(totals, config, ["period_start"])
    starts = pd.Series(pd.date_range(pd.Timestamp(first), pd.Timestamp(last), freq="D"))
    all_starts = pd.Index(bucket_start(starts, config).unique(), name="period_start")
    units = analysis_units(config)
    grid = pd.MultiIndex.from_product([units, [m.id for m in config.measures], all_starts],
                                      names=["unit_code", "measure_id", "period_start"])
    out = values.set_index(["unit_code", "measure_id", "period_start"]).reindex(grid).reset_index()
    kinds = {m.id: m.kind for m in config.measures}
    counts = out["measure_id"].map(kinds).eq("count")
    out.loc[counts, "value"] = out.loc[counts, "value"].fillna(0.0)
    return out
