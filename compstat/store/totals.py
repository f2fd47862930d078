"""Each input version's daily totals (``DailyTotal``): made once from its observations, forgotten when they change.

A cycle's figures are sums per unit, category and day. Summing the observations again each week costs
a pass over every stored record (20 million at national scale); the totals of an input version cannot
change unless its observations do, so they are made once and kept. Ingest sums a new version's rows while
it holds them (``store_totals``: a pandas group-by of the frame it inserts, no second pass over the table);
a version without totals (one whose totals were forgotten, or a store from before) gets them in the database
when a cycle next needs them (``make_totals``: one INSERT … SELECT … GROUP BY). Whatever adds to, moves or
restores a version's observations forgets them first (``forget_totals``: ingest's ``supersede`` and
``restore_held_copies``, ``reissue``). Each version's totals are also kept as one Arrow stream
(``TotalledFile.figures``, ``figures_stream``), which is what a cycle's figures read: one value per version.
"""

from __future__ import annotations

from collections.abc import Collection

import pandas as pd
import pyarrow as pa
from sqlalchemy import ColumnElement, Connection, Table, and_, case, delete, func, insert, select
from sqlalchemy.orm import Session

from compstat.store.db import bulk_insert, unindexed_on_sqlite
from compstat.store.models import DailyTotal, Observation, TotalledFile

TOTAL_KEYS = ("file_id", "org", "unit_code", "category", "subcategory", "occurred_on")
TOTAL_VALUES = ("total", "n", "blank", "min_lat", "max_lat", "min_lon", "max_lon")  # blank: rows without both
# coordinates; the box: of the rows with both (``DailyTotal``)


def of_org(session: Session | Connection, org: str) -> ColumnElement[bool]:
    """``DailyTotal.org == org`` for a query that reads most of the organisation's totals (a year or two of
    days): SQLite then reads the table in its own order, not each row through the (org, day) index, which
    takes 2.4 times as long (national: 6.1 s against 2.5 s for the figures; the coordinates' boxes 2.3 s
    against 0.9 s). PostgreSQL's planner chooses for itself."""
    return unindexed_on_sqlite(session, DailyTotal.org) == org


def untotalled(session: Session, file_ids: Collection[int]) -> list[int]:
    """The versions among ``file_ids`` whose totals are not made."""
    made = {int(i) for (i,) in session.execute(select(TotalledFile.file_id).where(TotalledFile.file_id.in_(file_ids)))}
    return sorted(set(file_ids) - made)


def make_totals(session: Session, file_ids: Collection[int]) -> None:
    """Sum the observations of ``file_ids`` (versions without totals) into ``daily_totals``."""
    if not file_ids:
        return
    keys = [getattr(Observation, k) for k in TOTAL_KEYS]
    lat, lon = Observation.latitude, Observation.longitude
    located = and_(lat.is_not(None), lon.is_not(None))
    summed = (select(*keys, func.sum(Observation.value), func.count(), func.sum(case((located, 0), else_=1)),
                     func.min(case((located, lat))), func.max(case((located, lat))),
                     func.min(case((located, lon))), func.max(case((located, lon))))
              .where(Observation.file_id.in_(file_ids)).group_by(*keys))
    session.execute(insert(DailyTotal).from_select([*TOTAL_KEYS, *TOTAL_VALUES], summed))
    session.execute(insert(TotalledFile), [{"file_id": int(i)} for i in file_ids])


def daily_totals(observations: pd.DataFrame) -> pd.DataFrame:
    """The rows ``make_totals`` would make of one version's observations (``unit_code``, ``category``,
    ``subcategory``, ``occurred_on`` as stored, ``value``, ``latitude``, ``longitude``) per unit, category,
    subcategory and day: ``total`` (sum of ``value``), ``n`` (rows), ``blank`` (rows without both coordinates)
    and the box of the rows with both (``min_lat`` … ``max_lon``, NaN without any)."""
    keys = list(TOTAL_KEYS[2:])
    located = observations["latitude"].notna() & observations["longitude"].notna()
    frame = observations[[*keys, "value"]].assign(blank=(~located).astype("int64"),
                                                  lat=observations["latitude"].where(located),
                                                  lon=observations["longitude"].where(located))
    summed = frame.groupby(keys, sort=False, observed=True, dropna=False).agg(
        total=("value", "sum"), n=("value", "size"), blank=("blank", "sum"), min_lat=("lat", "min"),
        max_lat=("lat", "max"), min_lon=("lon", "min"), max_lon=("lon", "max"))
    return summed.reset_index()


def store_totals(session: Session, file_id: int, org: str, observations: pd.DataFrame) -> None:
    """Record the daily totals of version ``file_id``, whose observations (all of them) were just inserted
    from ``observations``: what ``make_totals`` would sum from the table, without reading it back, and the
    same totals as the figures read them (``figures_stream``)."""
    totals = daily_totals(observations).assign(file_id=file_id, org=org)
    table: Table = DailyTotal.__table__  # type: ignore[assignment]
    bulk_insert(session.connection(), table, totals[[*TOTAL_KEYS, *TOTAL_VALUES]])
    stream = figures_stream(stream_typed(totals, "occurred_on"))
    session.execute(insert(TotalledFile), [{"file_id": int(file_id), "figures": stream}])


STREAM_COLUMNS = ["unit_code", "category", "subcategory", "date", "total", "n"]  # a version's totals, for figures


def stream_typed(totals: pd.DataFrame, day: str) -> pd.DataFrame:
    """``totals`` with the types of ``STREAM_COLUMNS``: ``date`` parsed from the ISO day in column ``day`` (text or
    dates), ``total`` float, ``n`` int."""
    return totals.assign(date=pd.to_datetime(totals[day].astype(str).str[:10], format="%Y-%m-%d"),
                         total=totals["total"].astype(float), n=totals["n"].astype("int64"))


def figures_stream(totals: pd.DataFrame) -> bytes:
    """A version's totals (``STREAM_COLUMNS``: ``date`` a datetime, ``total`` float, ``n`` int) as one
    LZ4-compressed Arrow IPC stream (``TotalledFile.figures``): the figures read one value per version, not
    its rows (``compstat.figures.build_figures``)."""
    table = pa.Table.from_pandas(totals[STREAM_COLUMNS], preserve_index=False)
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=pa.ipc.IpcWriteOptions(compression="lz4")) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue().to_pybytes())


def figures_frame(stream: bytes) -> pd.DataFrame:
    """The totals ``figures_stream`` wrote, as the frame it was given (``STREAM_COLUMNS``)."""
    frame: pd.DataFrame = pa.ipc.open_stream(stream).read_all().to_pandas()
    return frame[STREAM_COLUMNS]


def forget_totals(session: Session, file_ids: Collection[int]) -> None:
    """Drop the totals of ``file_ids``: their observations are about to change (made again when next needed)."""
    if not file_ids:
        return
    ids = [int(i) for i in file_ids]
    session.execute(delete(DailyTotal).where(DailyTotal.file_id.in_(ids)))
    session.execute(delete(TotalledFile).where(TotalledFile.file_id.in_(ids)))
