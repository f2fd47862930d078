"""Per-cycle lookups: a cycle's frames split by unit once per process, not filtered again for every pack.

A render worker builds dozens of packs from one ``CycleData``; filtering a 400,000-row frame
by unit code for each of them makes the packs' cost grow with units × rows. ``unit_rows``
splits a frame by ``unit_code`` the first time a pack asks and keeps the split for the most
recent ``CycleData`` (compared by identity, and held, so its id cannot be reused).
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

import pandas as pd

from compstat.results import CycleData

T = TypeVar("T")

_cache: tuple[CycleData, dict[str, dict[str, pd.DataFrame]]] | None = None
_records: tuple[CycleData, dict[str, dict[str, list[dict[Hashable, Any]]]]] | None = None


def frame_of(data: CycleData, name: str) -> pd.DataFrame | None:
    """The frame at a dotted attribute path of ``data`` (``"series"``, ``"analysis.spc_points"``), or None."""
    try:
        value = operator.attrgetter(name)(data)
    except AttributeError:  # no analysis, no points
        return None
    return value if isinstance(value, pd.DataFrame) else None


def unit_rows(data: CycleData, name: str, unit_code: str) -> pd.DataFrame:
    """The rows of ``frame_of(data, name)`` for one unit (an empty frame with the same columns if none)."""
    global _cache
    if _cache is None or _cache[0] is not data:
        _cache = (data, {})
    splits = _cache[1]
    frame = frame_of(data, name)
    if frame is None:
        return pd.DataFrame()
    if "unit_code" not in frame.columns:
        return frame.iloc[:0]
    if name not in splits:
        codes = frame["unit_code"].astype(str).to_numpy()
        splits[name] = {str(code): rows for code, rows in frame.groupby(codes, sort=False)}
    return splits[name].get(unit_code, frame.iloc[:0])


def unit_records(data: CycleData, name: str, unit_code: str) -> list[dict[Hashable, Any]]:
    """The rows of ``frame_of(data, name)`` for one unit as row dicts: the whole frame is converted
    once (one ``to_dict`` rather than one per unit) and cached alongside. Treat them as read-only."""
    global _records
    if _records is None or _records[0] is not data:
        _records = (data, {})
    if name not in _records[1]:
        frame = frame_of(data, name)
        grouped: dict[str, list[dict[Hashable, Any]]] = {}
        if frame is not None and "unit_code" in frame.columns:
            for row in frame.to_dict(orient="records"):
                grouped.setdefault(str(row["unit_code"]), []).append(row)
        _records[1][name] = grouped
    return _records[1][name].get(unit_code, [])


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
