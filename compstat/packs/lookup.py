"""Per-cycle lookups: a cycle's frames split by unit once per process, not filtered again for every pack.

A render worker builds dozens of packs from one ``CycleData``; filtering a 400,000-row frame
by unit code for each of them makes the packs' cost grow with units × rows. ``unit_rows``
splits a frame by ``unit_code`` the first time a pack asks and keeps the split for the most
recent ``CycleData`` (compared by identity, and held, so its id cannot be reused).

A frame is named by a ``Frame`` (``SERIES``, ``PROBE``, ...): how to reach it in ``CycleData``
(attribute access mypy checks, not a dotted string) and its schema (``compstat.schemas``), so
``unit_records`` hands out typed rows.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import pandas as pd

from compstat import schemas
from compstat.analysis.analyse import AnalysisResult
from compstat.results import CycleData
from compstat.schemas import Schema

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class Frame(Generic[R]):
    """A frame of ``CycleData`` a pack reads: its schema (columns, row type) and how to get it."""

    schema: Schema[R]
    get: Callable[[CycleData], pd.DataFrame | None]

    @property
    def key(self) -> str:
        return self.schema.frame


def _analysis(get: Callable[[AnalysisResult], pd.DataFrame]) -> Callable[[CycleData], pd.DataFrame | None]:
    return lambda data: None if data.analysis is None else get(data.analysis)


TABLE = Frame(schemas.TABLE, lambda d: d.table)
SERIES = Frame(schemas.SERIES, lambda d: d.series)
ACTIONS = Frame(schemas.ACTIONS, lambda d: d.actions)
POINTS = Frame(schemas.POINTS, lambda d: d.points)
INCIDENTS = Frame(schemas.INCIDENTS, lambda d: d.incidents)
DAILY = Frame(schemas.DAILY, lambda d: d.daily)
COMPARISONS = Frame(schemas.BASELINES, _analysis(lambda a: a.comparisons))
SIGNIFICANCE = Frame(schemas.SIGNIFICANCE, _analysis(lambda a: a.significance))
SPC = Frame(schemas.SPC, _analysis(lambda a: a.spc))
SPC_POINTS = Frame(schemas.SPC_POINTS, _analysis(lambda a: a.spc_points))
PEERS = Frame(schemas.PEERS, _analysis(lambda a: a.peers))
TRAJECTORY = Frame(schemas.TRAJECTORY, _analysis(lambda a: a.trajectory))
PROBE = Frame(schemas.FINDINGS, _analysis(lambda a: a.probe))
RECOGNITION = Frame(schemas.RECOGNITION, _analysis(lambda a: a.recognition))
RARE = Frame(schemas.RARE, _analysis(lambda a: a.rare))
RARE_POINTS = Frame(schemas.RARE_POINTS, _analysis(lambda a: a.rare_points))
RARE_EVENTS = Frame(schemas.RARE_EVENTS, _analysis(lambda a: a.rare_events))

_cache: tuple[CycleData, dict[str, dict[str, pd.DataFrame]]] | None = None
_records: tuple[CycleData, dict[str, dict[str, list[Any]]]] | None = None


def frame_of(data: CycleData, frame: Frame[Any]) -> pd.DataFrame | None:
    """The frame in ``data``, or None (no analysis, no points)."""
    value = frame.get(data)
    return value if isinstance(value, pd.DataFrame) else None


def unit_rows(data: CycleData, frame: Frame[Any], unit_code: str) -> pd.DataFrame:
    """The rows of ``frame`` for one unit (an empty frame with the same columns if none)."""
    global _cache
    if _cache is None or _cache[0] is not data:
        _cache = (data, {})
    splits = _cache[1]
    found = frame_of(data, frame)
    if found is None:
        return pd.DataFrame()
    if "unit_code" not in found.columns:
        return found.iloc[:0]
    if frame.key not in splits:
        codes = found["unit_code"].astype(str).to_numpy()
        splits[frame.key] = {str(code): rows for code, rows in found.groupby(codes, sort=False)}
    return splits[frame.key].get(unit_code, found.iloc[:0])


def unit_records(data: CycleData, frame: Frame[R], unit_code: str) -> list[R]:
    """The rows of ``frame`` for one unit as typed rows (``frame.schema.row``): the whole frame is
    converted once and cached alongside. Missing values stay NaN (or None) as in the frame."""
    global _records
    if _records is None or _records[0] is not data:
        _records = (data, {})
    if frame.key not in _records[1]:
        grouped: dict[str, list[Any]] = {}
        rows: list[Any] = frame.schema.rows(frame_of(data, frame))  # every schema a pack reads has unit_code
        for row in rows:
            grouped.setdefault(str(row.unit_code), []).append(row)
        _records[1][frame.key] = grouped
    return _records[1][frame.key].get(unit_code, [])


_built: tuple[CycleData, dict[Hashable, object]] | None = None


def per_cycle(data: CycleData, key: Hashable, build: Callable[[], T]) -> T:
    """``build()`` for ``key``, computed once for the most recent ``CycleData`` (a value several
    sections of a pack, or several packs, derive from the same rows)."""
    global _built
    if _built is None or _built[0] is not data:
        _built = (data, {})
    if key not in _built[1]:
        _built[1][key] = build()
    return _built[1][key]  # type: ignore[return-value]
