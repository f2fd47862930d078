"""The public report card's area maps: an inline SVG choropleth of a page's units for one span, written by hand.

Only unit polygons are drawn (``organisation.boundaries``, matched on ``boundary_key``), never a coordinate of
an incident: lon/lat projected to the SVG box (x scaled by the cosine of the mean latitude), rounded to 1 decimal
in SVG units, holes and MultiPolygons kept (even-odd fill). A unit with no polygon of its own (a division) is
drawn as the polygons of the units below it, outlined where its edge is not shared between them.

Each unit is filled from the figure the page's table and ``data.csv`` publish (disclosure-controlled, never a
raw count): a published count in one of four equal classes from 0 (``class_width``: a round width, the same
shade for the same class on every map) of a sequential palette, and labelled with its area's name and figure
(so it is readable without colour); a count not shown ("fewer than 5", "withheld") in a neutral grey
with a hatch defined inside the SVG, labelled with those words; no data white. Every text is escaped; the map
is ``role="img"`` with its ``<title>`` and a ``<desc>`` giving every unit's figure and the units not drawn.
Nothing refers outside the SVG (only ``url(#…)`` to its own pattern).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import Any

from compstat.config import Config
from compstat.errors import ConfigError
from compstat.packs.maps import boundary_geometries

Point = tuple[float, float]
Ring = tuple[Point, ...]
Polygon = tuple[Ring, ...]  # the outer ring, then its holes

WIDTH, MAP_HEIGHT, MARGIN = 640, 340, 12
LEGEND_ROW = 24
PALETTE = ("#eff3ff", "#bdd7e7", "#6baed6", "#2171b5")  # ColorBrewer Blues: light to dark
SUPPRESSED_FILL, HATCH = "#e0e0e0", "#6b6b6b"
OUTLINE = "#1a1a1a"  # at least 3:1 against every fill (tests/test_publish.py works it out)
LABEL = "#1a1a1a"  # on a white halo: 17:1
NO_DATA = "#ffffff"


@dataclass(frozen=True)
class MapUnit:
    """One unit on a map: its code, name, the figure as published (None when not shown) and the words shown."""

    code: str
    name: str
    value: int | None
    text: str
    status: str  # "" (a figure), "fewer than N", "withheld", "no data"


# --- boundaries -------------------------------------------------------------------------


def boundaries(config: Config) -> dict[str, tuple[Polygon, ...]] | None:
    """Each unit's polygons from ``organisation.boundaries`` (None when not configured)."""
    org = config.organisation
    if not org.boundaries:
        return None
    path = config.resolve_path(org.boundaries)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"organisation.boundaries: cannot read {path} ({exc.strerror})") from None
    return _read(path, org.boundary_key, stamp)


@lru_cache(maxsize=4)
def _read(path: Path, key: str, stamp: int) -> dict[str, tuple[Polygon, ...]]:
    """Each unit's polygons, holes kept (``packs.maps.boundary_geometries`` reads the file)."""
    polygons = {code: tuple(p for g in geometries for p in _polygons(g))
                for code, geometries in boundary_geometries(path, key, stamp).items()}
    return {code: found for code, found in polygons.items() if found}


def _polygons(geometry: Mapping[str, Any]) -> list[Polygon]:
    kind, coords = geometry.get("type"), geometry.get("coordinates") or []
    if kind == "GeometryCollection":
        return [p for g in geometry.get("geometries") or [] if isinstance(g, dict) for p in _polygons(g)]
    polygons = [coords] if kind == "Polygon" else coords if kind == "MultiPolygon" else []
    out = []
    for polygon in polygons:
        rings = []
        for ring in polygon or []:
            try:
                points = tuple((float(p[0]), float(p[1])) for p in ring)
            except (TypeError, ValueError, IndexError):
                points = ()
            if len(points) >= 3 and all(math.isfinite(x) and math.isfinite(y) for x, y in points):
                rings.append(points)
            elif not rings:
                break  # no outer ring: the polygon is skipped
        if rings:
            out.append(tuple(rings))
    return out


# --- classes ------------------------------------------------------------------------------


STEPS = (1, 2, 2.5, 5)  # a class's width: one of these times a power of ten, and a whole number


def class_width(largest: int) -> int:
    """The width of the map's equal classes: the smallest whole round number (1, 2, 5, 10, 20, 25, 50, ...)
    such that four classes from 0 hold every figure up to ``largest``."""
    need, power = (largest + 1) / len(PALETTE), 1
    while True:
        for step in STEPS:
            width = step * power
            if width >= need and width == int(width):
                return int(width)
        power *= 10


def classes(values: Sequence[int]) -> list[tuple[int, int]]:
    """Equal classes from 0 (``class_width`` wide) up to the one holding the largest published figure:
    ``[(low, high), ...]`` inclusive. Equal widths from zero, so a shade says how large a figure is, and two
    close figures are split only where a round boundary falls between them (the label gives each figure)."""
    if not values:
        return []
    width = class_width(max(values))
    return [(i * width, (i + 1) * width - 1) for i in range(max(values) // width + 1)]


def class_of(value: int, bands: Sequence[tuple[int, int]]) -> int:
    return next(i for i, (_, high) in enumerate(bands) if value <= high)


def _band_text(low: int, high: int) -> str:
    return f"{low:,}" if low == high else f"{low:,} to {high:,}"


# --- drawing ------------------------------------------------------------------------------


def area_map(map_id: str, title: str, intro: str, units: Sequence[MapUnit],
             shapes: Mapping[str, Sequence[Sequence[Polygon]]]) -> str | None:
    """The SVG map of ``units`` (each drawn from ``shapes[code]``: one or more units' polygons), or None when
    none has a shape. ``intro`` starts the description; every unit's figure and the units not drawn follow."""
    drawn = [u for u in units if shapes.get(u.code)]
    if not drawn:
        return None
    missing = [u for u in units if not shapes.get(u.code)]
    every = [pt for u in drawn for parts in shapes[u.code] for poly in parts for ring in poly for pt in ring]
    mean_lat = sum(p[1] for p in every) / len(every)
    kx = math.cos(math.radians(mean_lat))
    xs, ys = [p[0] * kx for p in every], [p[1] for p in every]
    span_x, span_y = max(max(xs) - min(xs), 1e-9), max(max(ys) - min(ys), 1e-9)
    scale = min((WIDTH - 2 * MARGIN) / span_x, (MAP_HEIGHT - 2 * MARGIN) / span_y)
    height = math.ceil(span_y * scale + 2 * MARGIN)
    off_x = (WIDTH - span_x * scale) / 2

    def project(p: Point) -> tuple[float, float]:
        return (round(off_x + (p[0] * kx - min(xs)) * scale, 1), round(MARGIN + (max(ys) - p[1]) * scale, 1))

    published = [u.value for u in drawn if u.value is not None and not u.status]
    bands = classes(published)
    statuses = sorted({u.status for u in drawn if u.status and u.status != "no data"},
                      key=lambda s: (not s.startswith("fewer"), s))  # "fewer than 5" before "withheld"
    used = {class_of(v, bands) for v in published}
    legend = [(PALETTE[i], _band_text(*band)) for i, band in enumerate(bands) if i in used]  # classes holding one
    legend += [(f"url(#{map_id}-hatch)", status) for status in statuses]
    if any(u.status == "no data" for u in drawn):
        legend.append((NO_DATA, "no data"))
    per_row = 3
    rows = math.ceil(len(legend) / per_row)
    total_h = height + 8 + rows * LEGEND_ROW

    shown_words = "; ".join(f"{u.name}: {u.text}" for u in units if shapes.get(u.code))
    hidden = [u for u in drawn if u.value is None]
    keys = ([f"hatched grey: {' or '.join(statuses)}"] if statuses else []) + (
        ["white: no data"] if any(u.status == "no data" for u in drawn) else [])
    shades = [_band_text(*b) for i, b in enumerate(bands) if i in used]
    description = (intro + (f" Shaded by equal classes from 0 ({len(shades)} shown: {', '.join(shades)}), "
                            "each area labelled with its name and figure." if published else "")
                   + (f" {len(hidden)} of the {len(drawn)} areas drawn have no figure shown ({'; '.join(keys)})."
                      if hidden else "")
                   + f" {shown_words}."
                   + (f" Not on the map (no boundary): {', '.join(u.name for u in missing)}." if missing else ""))
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {total_h}" width="100%" role="img" '
           f'aria-labelledby="{map_id}-title {map_id}-desc" class="map">',
           f'<title id="{map_id}-title">{escape(title)}</title>',
           f'<desc id="{map_id}-desc">{escape(description)}</desc>',
           f'<defs><pattern id="{map_id}-hatch" patternUnits="userSpaceOnUse" width="8" height="8" '
           f'patternTransform="rotate(45)"><rect width="8" height="8" fill="{SUPPRESSED_FILL}"/>'
           f'<line x1="0" y1="0" x2="0" y2="8" stroke="{HATCH}" stroke-width="3"/></pattern></defs>']
    labels = []
    for u in drawn:
        if u.value is not None and not u.status:
            band = class_of(u.value, bands)
            fill, klass = PALETTE[band], f"class-{band + 1}"  # a class's shade on every map
        elif u.status == "no data" or (u.value is None and not u.status):
            fill, klass = NO_DATA, "no-data"
        else:
            fill, klass = f"url(#{map_id}-hatch)", "suppressed"
        polygons = [[[project(p) for p in ring] for ring in poly] for part in shapes[u.code] for poly in part]
        d = " ".join("M" + " L".join(f"{x:g},{y:g}" for x, y in ring) + " Z" for poly in polygons for ring in poly)
        out.append(f'<g class="area {klass}" data-area="{escape(u.code)}"><title>{escape(u.name)}: '
                   f'{escape(u.text)}</title>')
        out.append(f'<path d="{d}" fill="{fill}" fill-rule="evenodd" stroke="{fill if "url" not in fill else "none"}"'
                   ' stroke-width="1"/>')
        outline = _outline(polygons)
        out.append(f'<path d="{outline}" fill="none" stroke="{OUTLINE}" stroke-width="1.5" stroke-linejoin="round"/>')
        out.append("</g>")
        x, y = _label_point(polygons)  # the area's name, and its figure below it
        halo = 'stroke="#ffffff" stroke-width="3" paint-order="stroke" stroke-linejoin="round"'
        labels.append(f'<text x="{x:g}" y="{y - 5:g}" text-anchor="middle" font-size="11" fill="{LABEL}" {halo} '
                      f'class="name">{escape(u.name)}</text>')
        labels.append(f'<text x="{x:g}" y="{y + 11:g}" text-anchor="middle" font-size="13" font-weight="bold" '
                      f'fill="{LABEL}" {halo} data-area="{escape(u.code)}">{escape(u.text)}</text>')
    out.extend(labels)
    for i, (fill, words) in enumerate(legend):
        lx, ly = MARGIN + (i % per_row) * 205, height + 8 + (i // per_row) * LEGEND_ROW
        out.append(f'<rect x="{lx}" y="{ly}" width="22" height="16" fill="{fill}" stroke="{OUTLINE}"/>'
                   f'<text x="{lx + 30}" y="{ly + 13}" font-size="13" fill="{LABEL}">{escape(words)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _outline(polygons: Sequence[Sequence[Sequence[tuple[float, float]]]]) -> str:
    """The edges of ``polygons`` not shared by two of them (a division's outline, not its units')."""
    count: dict[tuple[tuple[float, float], tuple[float, float]], int] = {}
    edges = []
    for poly in polygons:
        for ring in poly:
            for a, b in zip(ring, [*ring[1:], ring[0]], strict=True):
                if a == b:
                    continue
                key = (a, b) if a <= b else (b, a)
                count[key] = count.get(key, 0) + 1
                edges.append((a, b))
    kept = [(a, b) for a, b in edges if count[(a, b) if a <= b else (b, a)] == 1]
    return " ".join(f"M{a[0]:g},{a[1]:g} L{b[0]:g},{b[1]:g}" for a, b in kept) or "M0,0"


def _label_point(polygons: Sequence[Sequence[Sequence[tuple[float, float]]]]) -> tuple[float, float]:
    """Where the label goes: the area-weighted centroid of the outer rings (a division: of its units'), or the
    largest ring's box centre when that falls outside every ring or they have no area."""
    total = cx = cy = 0.0
    for poly in polygons:
        ring = poly[0]
        pairs = list(zip(ring, [*ring[1:], ring[0]], strict=True))
        a = sum(p[0] * q[1] - q[0] * p[1] for p, q in pairs) / 2
        if abs(a) < 1e-9:
            continue
        cx += sum((p[0] + q[0]) * (p[0] * q[1] - q[0] * p[1]) for p, q in pairs) / 6
        cy += sum((p[1] + q[1]) * (p[0] * q[1] - q[0] * p[1]) for p, q in pairs) / 6
        total += a
    if abs(total) > 1e-6:
        point = (cx / total, cy / total)
        if any(_inside(point, poly[0]) for poly in polygons):
            return round(point[0], 1), round(point[1], 1)
    largest = max((poly[0] for poly in polygons), key=lambda r: (max(p[0] for p in r) - min(p[0] for p in r))
                  * (max(p[1] for p in r) - min(p[1] for p in r)))
    xs, ys = [p[0] for p in largest], [p[1] for p in largest]
    return round((min(xs) + max(xs)) / 2, 1), round((min(ys) + max(ys)) / 2, 1)


def _inside(point: tuple[float, float], ring: Sequence[tuple[float, float]]) -> bool:
    """Ray casting: whether ``point`` lies inside ``ring``."""
    x, y, inside = point[0], point[1], False
    for (x1, y1), (x2, y2) in zip(ring, [*ring[1:], ring[0]], strict=True):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside
