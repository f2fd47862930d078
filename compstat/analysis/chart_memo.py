"""Reusing the XmR charts of unchanged series: a re-run of a period recomputes only the charts whose inputs changed.

``spc_series.spc_table`` asks a ``ChartMemo`` for each unit × measure's chart. The memo keys a chart by the
sha256 of everything ``spc.chart_columns`` reads (``chart_key``: the series' dates and values, bytes for bytes,
and its ``SpcOptions``: direction, target, change points, baseline and rules); it hands back the earlier run's
chart when the key is one it holds, and computes the chart otherwise. Either way it keeps the chart, so that
``save`` writes what this run charted for the next run of the same period (``cycle.run_cycle``: the file
``spc_charts.npz`` in the period's folder). A chart's columns depend on nothing else, so a reused chart is the
chart that would be computed; ``saved_charts`` gives none for a file written by other code (``version``: the
caller's code version, ``reuse.code_version``) or one it cannot read, and the charts are computed.

A new week moves every series' span, so nothing is reused then: the memo serves a re-run of the same period
after a few units' data were revised, where every other series is as it was.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from compstat.analysis.spc import (
    CHART_COLUMNS,
    COMMON_CAUSE,
    CONCERN,
    IMPROVEMENT,
    NEUTRAL_HIGH,
    NEUTRAL_LOW,
    SpcOptions,
    chart_columns,
)

Chart = dict[str, npt.NDArray[np.generic]]
CHART_FILE = "spc_charts.npz"
POINT_TYPES = (COMMON_CAUSE, IMPROVEMENT, CONCERN, NEUTRAL_HIGH, NEUTRAL_LOW)  # coded 0-4; -1: None (no value)


def chart_key(xs: npt.NDArray[np.generic], values: npt.NDArray[np.float64], options: SpcOptions) -> bytes:
    """The sha256 of one chart's inputs: the dates' and values' types and bytes, and the options' repr (floats
    and timestamps written exactly)."""
    hasher = hashlib.sha256()
    for array in (np.ascontiguousarray(xs), np.ascontiguousarray(values, dtype=np.float64)):
        hasher.update(f"{array.dtype.str}{array.shape}".encode())
        hasher.update(array.tobytes())
    hasher.update(repr(options).encode())
    return hasher.digest()


class ChartMemo:
    """The charts of an earlier run by ``chart_key``, and this run's (``charts``: series with the same inputs
    share one), with how many series were charted and how many of them reused a chart."""

    def __init__(self, earlier: dict[bytes, Chart] | None = None) -> None:
        self.earlier = earlier or {}
        self.charts: dict[bytes, Chart] = {}
        self.charted = self.reused = 0  # series charted, and of them those whose chart was the earlier run's

    def chart(self, xs: npt.NDArray[np.generic], values: npt.NDArray[np.float64], options: SpcOptions) -> Chart:
        """``chart_columns(xs, values, options)``: the earlier run's when its inputs were the same."""
        key = chart_key(xs, values, options)
        self.charted += 1
        chart = self.earlier.get(key)
        if chart is None:
            chart = chart_columns(pd.Series(xs), values, options)
        else:
            self.reused += 1
        self.charts[key] = chart
        return chart

    def save(self, path: Path, version: str) -> None:
        """Write this run's charts to ``path`` (a compressed npz: arrays only, no pickle), marked ``version``."""
        keys = list(self.charts)
        charts = [self.charts[k] for k in keys]
        columns = {name: np.concatenate([c[name] for c in charts]) if charts else np.zeros(0, dtype=np.int8)
                   for name in CHART_COLUMNS}
        columns["point_type"] = pd.Categorical(columns["point_type"], categories=POINT_TYPES).codes
        arrays: dict[str, Any] = {
            "version": np.array(version), "keys": np.frombuffer(b"".join(keys), dtype=np.uint8).reshape(-1, 32),
            "lengths": np.array([len(c["mean"]) for c in charts], dtype=np.int64),
            **{f"column_{name}": column for name, column in columns.items()}}
        with zipfile.ZipFile(path, "w") as archive:  # as ``np.savez_compressed``, but dated 1980 (the same charts
            for name, array in arrays.items():  # make the same bytes) and at deflate level 1 (half the time of 6)
                npy = io.BytesIO()
                np.lib.format.write_array(npy, np.asanyarray(array), allow_pickle=False)
                archive.writestr(zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1, 0, 0, 0)), npy.getvalue(),
                                 compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)


def saved_charts(path: Path, version: str) -> dict[bytes, Chart]:
    """The charts ``ChartMemo.save`` wrote at ``path`` with code of ``version``, by ``chart_key``; none if there
    is no file, it was written by other code, or it cannot be read as ``save`` writes it."""
    try:
        with path.open("rb") as file, np.load(file, allow_pickle=False) as saved:
            if str(saved["version"]) != version:
                return {}
            keys, lengths = saved["keys"], saved["lengths"]
            columns = {name: saved[f"column_{name}"] for name in CHART_COLUMNS}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return {}
    codes = columns["point_type"]
    if (keys.ndim != 2 or keys.shape[1:] != (32,) or len(keys) != len(lengths) or (lengths < 0).any()
            or any(len(column) != int(lengths.sum()) for column in columns.values())
            or codes.dtype.kind != "i" or (codes.size and not -1 <= codes.min() <= codes.max() < len(POINT_TYPES))):
        return {}
    columns["point_type"] = np.array([*POINT_TYPES, None], dtype=object)[codes]
    cuts = np.cumsum(lengths)[:-1]
    split = {name: np.split(column, cuts) for name, column in columns.items()}
    return {bytes(key): {name: parts[i] for name, parts in split.items()} for i, key in enumerate(keys)}
