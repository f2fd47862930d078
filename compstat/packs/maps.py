"""The hotspot map's data: where a unit's last 28 days of incidents ran above its usual pattern.

The usual pattern is each place's share of the unit's incidents over the 52 weeks before
the last 28 days. Applied to the last 28 days' total it gives what each place would
expect if nothing had changed; a cell is shaded only where the count over it and its
neighbours is clearly beyond that: an excess of at least 3, and a Poisson test on every
cell at 5% for the map as a whole (Bonferroni), so a chair is not sent after noise.
Stray coordinates (a London address in a Lancashire unit) cannot stretch the map: its
extent is the boundary when one is configured, else the points within reach of the 1st
to 99th percentiles. Boundary files are GeoJSON, read here with the json module.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage, stats

from compstat.config import Config
from compstat.errors import ConfigError
from compstat.packs.charts import FloatArray, HotspotGrid

RECENT_DAYS = 28
USUAL_DAYS = 364
CELLS_ACROSS = 22
CELL_SIZES_KM = (0.1, 0.2, 0.25, 0.5, 1.0, 2.0, 2.5, 5.0, 10.0, 20.0, 50.0)
KM_PER_DEGREE_LAT = 110.574
KM_PER_DEGREE_LON_AT_EQUATOR = 111.320
HOT_MIN_EXCESS = 3.0
MAP_ALPHA = 0.05  # chance that a map with no real change shows any shaded cell
MIN_EXPECTED = 0.5  # a place with no usual incidents still expects some chance of one

Ring = FloatArray  # (n, 2) longitude, latitude


@dataclass(frozen=True)
class MapWindows:
    """The last 28 days to the period end, and the 52 weeks before them."""

    recent_start: date
    recent_end: date
    usual_start: date
    usual_end: date


def map_windows(period_end: date) -> MapWindows:
    recent_start = period_end - timedelta(days=RECENT_DAYS - 1)
    usual_end = recent_start - timedelta(days=1)
    return MapWindows(recent_start, period_end, usual_end - timedelta(days=USUAL_DAYS - 1), usual_end)


@dataclass(frozen=True)
class Hotspots:
    """One unit's map: the grid to draw and the counts the pack states in words."""

    grid: HotspotGrid
    cell_km: float
    n_recent: int
    n_usual: int
    n_outside: int
    n_hot_cells: int
    max_excess: float


def hotspots(points: pd.DataFrame, windows: MapWindows, outlines: Iterable[Ring] = (),
             places: Iterable[tuple[str, float, float]] = ()) -> Hotspots | None:
    """The hotspot grid for one unit's points (occurred_on, latitude, longitude); None without points.
    ``places`` (name, latitude, longitude) are labelled where they fall on the map."""
    rings = [np.asarray(r, dtype=float) for r in outlines]
    days = pd.to_datetime(points["occurred_on"]).to_numpy()
    lat = points["latitude"].to_numpy(dtype=float)
    lon = points["longitude"].to_numpy(dtype=float)
    ok = np.isfinite(lat) & np.isfinite(lon) & (np.abs(lat) <= 90) & (np.abs(lon) <= 180)
    recent = ok & (days >= np.datetime64(windows.recent_start)) & (days <= np.datetime64(windows.recent_end))
    usual = ok & (days >= np.datetime64(windows.usual_start)) & (days <= np.datetime64(windows.usual_end))
    if not (recent | usual).any():
        return None
    origin_lat, origin_lon = _origin(lat[recent | usual], lon[recent | usual], rings)
    x, y = _to_km(lon, lat, origin_lat, origin_lon)
    km_rings = tuple(np.column_stack(_to_km(r[:, 0], r[:, 1], origin_lat, origin_lon)) for r in rings)
    x_edges, y_edges, cell = _edges(x[recent | usual], y[recent | usual], km_rings)
    recent_counts = np.histogram2d(y[recent], x[recent], bins=[y_edges, x_edges])[0]
    usual_counts = np.histogram2d(y[usual], x[usual], bins=[y_edges, x_edges])[0]
    n_recent, n_usual = int(recent_counts.sum()), int(usual_counts.sum())
    block_recent = _block_sum(recent_counts)
    expected = _block_sum(usual_counts) * (n_recent / n_usual if n_usual else 0.0)
    excess = block_recent - expected
    tested = (block_recent > 0) | (expected > 0)
    surprise = stats.poisson.sf(block_recent - 1, np.maximum(expected, MIN_EXPECTED))  # P(at least this many)
    hot = tested & (excess >= HOT_MIN_EXCESS) & (surprise < MAP_ALPHA / max(int(tested.sum()), 1))
    shown = np.where(hot, excess, 0.0)
    inside = _inside(x[recent], y[recent], x_edges, y_edges)
    grid = HotspotGrid(x_edges=x_edges, y_edges=y_edges, excess=shown,
                       usual=ndimage.gaussian_filter(usual_counts, sigma=1.0, mode="constant"),
                       recent_x=x[recent][inside], recent_y=y[recent][inside], outlines=km_rings,
                       labels=_labels(places, origin_lat, origin_lon, x_edges, y_edges))
    return Hotspots(grid=grid, cell_km=cell, n_recent=n_recent, n_usual=n_usual,
                    n_outside=int(recent.sum()) - n_recent, n_hot_cells=_clusters(hot),
                    max_excess=float(shown.max(initial=0.0)))


def _labels(places: Iterable[tuple[str, float, float]], origin_lat: float, origin_lon: float,
            x_edges: FloatArray, y_edges: FloatArray) -> tuple[tuple[float, float, str], ...]:
    """The places with coordinates on the map, in km, with their names."""
    out = []
    for name, lat, lon in places:
        if not (math.isfinite(lat) and math.isfinite(lon)):
            continue
        px, py = _to_km(np.array([lon]), np.array([lat]), origin_lat, origin_lon)
        if bool(_inside(px, py, x_edges, y_edges)[0]):
            out.append((float(px[0]), float(py[0]), str(name)))
    return tuple(out)


def _origin(lat: FloatArray, lon: FloatArray, rings: list[Ring]) -> tuple[float, float]:
    if rings:
        every = np.concatenate(rings)
        return float(np.mean(every[:, 1])), float(np.mean(every[:, 0]))
    return float(np.median(lat)), float(np.median(lon))


def _to_km(lon: FloatArray, lat: FloatArray, origin_lat: float, origin_lon: float) -> tuple[FloatArray, FloatArray]:
    """An equirectangular projection around the origin: accurate to well under 1% across a unit."""
    scale = KM_PER_DEGREE_LON_AT_EQUATOR * math.cos(math.radians(origin_lat))
    return (lon - origin_lon) * scale, (lat - origin_lat) * KM_PER_DEGREE_LAT


def _edges(x: FloatArray, y: FloatArray, rings: tuple[FloatArray, ...]) -> tuple[FloatArray, FloatArray, float]:
    """Square cells over the boundary's box or, without one, over the points that lie within half
    the 1st-99th percentile span beyond it (a stray coordinate far away cannot stretch the map)."""
    if rings:
        every = np.concatenate(rings)
        x0, x1 = float(every[:, 0].min()), float(every[:, 0].max())
        y0, y1 = float(every[:, 1].min()), float(every[:, 1].max())
    else:
        (lo_x, hi_x), (lo_y, hi_y) = np.percentile(x, [1, 99]), np.percentile(y, [1, 99])
        reach = max(hi_x - lo_x, hi_y - lo_y, 0.5) / 2
        near = (x >= lo_x - reach) & (x <= hi_x + reach) & (y >= lo_y - reach) & (y <= hi_y + reach)
        x0, x1, y0, y1 = float(x[near].min()), float(x[near].max()), float(y[near].min()), float(y[near].max())
    span = max(x1 - x0, y1 - y0, 0.5)
    pad = span * 0.04
    x0, x1, y0, y1 = x0 - pad, x1 + pad, y0 - pad, y1 + pad
    cell = next((s for s in CELL_SIZES_KM if (span + 2 * pad) / s <= CELLS_ACROSS), CELL_SIZES_KM[-1])
    x_edges = np.arange(math.floor(x0 / cell), math.ceil(x1 / cell) + 1) * cell
    y_edges = np.arange(math.floor(y0 / cell), math.ceil(y1 / cell) + 1) * cell
    return x_edges.astype(float), y_edges.astype(float), cell


def _block_sum(counts: FloatArray) -> FloatArray:
    """Each cell's count plus its eight neighbours'."""
    return np.asarray(ndimage.uniform_filter(counts, size=3, mode="constant") * 9, dtype=float)


def _inside(x: FloatArray, y: FloatArray, x_edges: FloatArray, y_edges: FloatArray) -> Any:
    return (x >= x_edges[0]) & (x <= x_edges[-1]) & (y >= y_edges[0]) & (y <= y_edges[-1])


def _clusters(hot: Any) -> int:
    """Separate areas of hot cells (touching cells, diagonals included, are one area)."""
    if not hot.any():
        return 0
    return int(ndimage.label(hot, structure=np.ones((3, 3)))[1])


# --- boundaries ---------------------------------------------------------------------


def unit_outlines(config: Config, unit_code: str) -> tuple[Ring, ...]:
    """The outline rings of a unit from ``organisation.boundaries`` (none if not configured)."""
    org = config.organisation
    if not org.boundaries:
        return ()
    path = config.resolve_path(org.boundaries)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"organisation.boundaries: cannot read {path} ({exc.strerror})") from None
    return read_boundaries(path, org.boundary_key, stamp).get(unit_code, ())


@lru_cache(maxsize=4)
def boundary_geometries(path: Path, key: str, stamp: int = 0) -> dict[str, tuple[dict[str, Any], ...]]:
    """The GeoJSON geometries of each unit code, from a FeatureCollection (or one Feature) matched on
    ``properties[key]``: what the packs' maps and the public card's maps both draw from. ``stamp`` (the file's
    mtime) only refreshes the cache."""
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"organisation.boundaries: {path} is not a readable GeoJSON file ({exc})") from None
    if not isinstance(document, dict):
        raise ConfigError(f"organisation.boundaries: {path} is not a GeoJSON FeatureCollection or Feature")
    features = [document] if document.get("type") == "Feature" else document.get("features") or []
    out: dict[str, list[dict[str, Any]]] = {}
    for feature in features:
        if not isinstance(feature, dict):
            continue
        code = (feature.get("properties") or {}).get(key)
        if code is not None:
            out.setdefault(str(code), []).append(feature.get("geometry") or {})
    return {code: tuple(geometries) for code, geometries in out.items()}


@lru_cache(maxsize=4)
def read_boundaries(path: Path, key: str, stamp: int = 0) -> dict[str, tuple[Ring, ...]]:
    """Outer rings per unit code (its Polygon and MultiPolygon geometries, ``boundary_geometries``)."""
    rings = {code: tuple(ring for g in geometries for ring in _outer_rings(g))
             for code, geometries in boundary_geometries(path, key, stamp).items()}
    return {code: found for code, found in rings.items() if found}


def _outer_rings(geometry: dict[str, Any]) -> list[Ring]:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    rings = []
    for polygon in polygons:
        if polygon:
            ring = np.asarray([p[:2] for p in polygon[0]], dtype=float)
            if ring.ndim == 2 and len(ring) >= 3:
                rings.append(ring)
    return rings
