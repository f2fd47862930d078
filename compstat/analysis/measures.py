"""From stored observations to measure values: daily totals, then any bucketing.

``daily_totals`` is the only function here that reads the store; the rest are pure
(DataFrame in, DataFrame out). The organisation as a whole appears as unit ``TOTAL``, and each
division (a unit with units below it, ``hierarchy``) under its own code: the sum of its units.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from compstat.analysis.hierarchy import divisions, roll_up
from compstat.config import WEEKDAYS, Config
from compstat.measure_filter import matches_filter
from compstat.store import Observation

TOTAL = "_total"
DAILY_COLUMNS = ["unit_code", "measure_id", "date", "total", "n"]


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


def analysis_units(config: Config) -> list[str]:
    """The codes every table covers: the accountable units, the divisions, then ``TOTAL``."""
    return [u.code for u in config.leaf_units] + [u.code for u in divisions(config)] + [TOTAL]


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
