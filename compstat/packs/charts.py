"""Charts for the packs: pure functions from plain data to PNG bytes.

A cycle draws a dozen charts for each of up to ~80 packs, so drawing is kept cheap.
Creating axes and their ticks costs more than drawing them, so each process keeps one
Agg figure per chart layout, with its axes, and each chart removes what the last one drew
and sets every property it uses (limits, ticks, labels); no pyplot, so no figure can be
left open. Axes sit at fixed margins (no ``tight_layout``, which draws everything twice),
ticks are few and placed here rather than by date locators, and the PNG is RGB (no alpha
channel for WeasyPrint to split off) at 120 dpi, the printed size.

Every chart is drawn inside ``chart_style()`` (DejaVu Sans, Okabe-Ito colours). Lines
differ by style and marker as well as colour, so a greyscale print still reads; the map and
the peer chart use only black and greys and are greyscale PNGs. Titles and legends that the pack can set
as text are left to the HTML around the image.
"""

from __future__ import annotations

import functools
import math
import struct
import textwrap
import zlib
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from typing import Any, ParamSpec

import matplotlib
import numpy as np
import numpy.typing as npt
from matplotlib import patheffects
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, MaxNLocator
from matplotlib.typing import RcKeyType

from compstat.analysis.spc_chart import SPC_MARKS
from compstat.reuse import digest

# Okabe & Ito (2008), colour-blind safe.
OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermillion": "#D55E00", "purple": "#CC79A7",
}
WIDTH_IN, HEIGHT_IN, DPI = 7.0, 1.9, 120
THIS_YEAR = {"color": OKABE_ITO["blue"], "linestyle": "-", "linewidth": 1.4}
LAST_YEAR = {"color": OKABE_ITO["vermillion"], "linestyle": (0, (4, 2)), "linewidth": 1.1}
HOTSPOT_CMAP = "Greys"  # light → dark as the excess grows: the map is drawn in greys only

FloatArray = npt.NDArray[np.float64]

_RC: dict[RcKeyType, Any] = {
    "font.family": "DejaVu Sans",
    "font.size": 8,
    "axes.titlesize": 8.5,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.titlepad": 3,
    "axes.titley": 1.0,  # a fixed title position: the automatic one measures every tick label first
    "axes.edgecolor": "#555555",
    "axes.linewidth": 0.6,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.grid.axis": "y",
    "grid.color": "#DDDDDD",
    "grid.linewidth": 0.6,
    "xtick.color": "#333333",
    "ytick.color": "#333333",
    "xtick.major.size": 2.5,
    "ytick.major.size": 0,
    "xtick.labelsize": 7.5,
    "ytick.labelsize": 7.5,
    "legend.frameon": False,
    "legend.fontsize": 7.5,
    "text.parse_math": False,  # names from config or data ("$5k", "a $x$") are text, never mathtext
}

P = ParamSpec("P")
_FINGERPRINT: ContextVar[bool] = ContextVar("chart_fingerprint", default=False)
_RECORDED: ContextVar[dict[bytes, bytes] | None] = ContextVar("chart_recorded", default=None)


@contextmanager
def fingerprinting() -> Iterator[None]:
    """Within the block a chart function returns a digest of its name and arguments instead of
    drawing (``compstat.reuse``: a pack's input hash without the cost of its charts)."""
    token = _FINGERPRINT.set(True)
    try:
        yield
    finally:
        _FINGERPRINT.reset(token)


@contextmanager
def recording() -> Iterator[dict[bytes, bytes]]:
    """Within the block each chart drawn is recorded: its PNG → the digest ``fingerprinting`` gives it
    (a rendered pack's input hash without building its context twice)."""
    recorded: dict[bytes, bytes] = {}
    token = _RECORDED.set(recorded)
    try:
        yield recorded
    finally:
        _RECORDED.reset(token)


def drawn(draw: Callable[P, bytes]) -> Callable[P, bytes]:
    """A chart function that ``fingerprinting`` can stand in for and ``recording`` records."""
    @functools.wraps(draw)
    def chart(*args: P.args, **kwargs: P.kwargs) -> bytes:
        if _FINGERPRINT.get():
            return digest(draw.__qualname__, args, kwargs).encode()
        png = draw(*args, **kwargs)
        recorded = _RECORDED.get()
        if recorded is not None:
            recorded[png] = digest(draw.__qualname__, args, kwargs).encode()
        return png
    return chart


# One figure per layout per process, kept with its axes (see the module docstring).
_LAYOUTS: dict[tuple[str, float, float], tuple[Figure, list[Any]]] = {}


@contextmanager
def chart_style() -> Iterator[None]:
    """Matplotlib settings for pack charts, without touching the global rcParams."""
    with matplotlib.rc_context(_RC):
        yield


Rect = tuple[float, float, float, float]  # left, bottom, width, height in inches


@contextmanager
def _layout(name: str, width_in: float, height_in: float, rects: Sequence[Rect]) -> Iterator[tuple[Figure, list[Any]]]:
    """This process's figure for a layout, with one empty, visible axes per rect (made once,
    emptied after every chart however it ends)."""
    with chart_style():
        key = (name, width_in, height_in)
        if key not in _LAYOUTS:
            fig = Figure(figsize=(width_in, height_in), dpi=DPI, facecolor="white")
            FigureCanvasAgg(fig)
            axes = [fig.add_axes((left / width_in, bottom / height_in, width / width_in, height / height_in))
                    for left, bottom, width, height in rects]
            for ax, (_, _, width, height) in zip(axes, rects, strict=True):
                # Axis labels at fixed offsets (0.3 in out from the axes): placed automatically,
                # matplotlib would measure every tick label on every draw.
                ax.xaxis.set_label_coords(0.5, -0.3 / height)
                ax.yaxis.set_label_coords(-0.3 / width, 0.5)
            _LAYOUTS[key] = (fig, axes)
        fig, axes = _LAYOUTS[key]
        try:
            yield fig, axes
        finally:
            for ax in axes:
                _empty(ax)


def _empty(ax: Any) -> None:
    """Remove everything a chart drew on ``ax`` and undo the settings charts change."""
    for artist in [*ax.lines, *ax.collections, *ax.patches, *ax.texts, *ax.images]:
        artist.remove()
    if ax.legend_ is not None:
        ax.legend_.remove()
    ax.set_title("")
    ax.set_xlabel("")
    ax.set_ylabel("")
    ax.set_visible(True)


@contextmanager
def _figure(width_in: float, height_in: float) -> Iterator[Figure]:
    """A fresh figure, for charts whose axes differ each time (the map and its colour bar)."""
    with chart_style():
        fig = Figure(figsize=(width_in, height_in), dpi=DPI, facecolor="white")
        FigureCanvasAgg(fig)
        yield fig


def _png(fig: Figure, grey: bool = False) -> bytes:
    """Draw ``fig`` and encode it as an 8-bit PNG: RGB or, with ``grey`` (charts drawn in black, greys
    and white only), greyscale, a third of the bytes for the PDF writer, which decodes and re-encodes
    every image anyway."""
    canvas = fig.canvas
    assert isinstance(canvas, FigureCanvasAgg)
    canvas.draw()  # type: ignore[no-untyped-call]
    rgb = np.asarray(canvas.buffer_rgba())[:, :, :3]  # type: ignore[no-untyped-call]
    if grey:  # ITU-R 601 luma, as Pillow converts RGB to L
        return png_bytes(((rgb.astype(np.uint32) @ np.array([19595, 38470, 7471], dtype=np.uint32) + 0x8000) >> 16)
                         .astype(np.uint8))
    return png_bytes(rgb)


def png_bytes(pixels: npt.NDArray[np.uint8]) -> bytes:
    """A PNG of 8-bit pixels (height × width greys, or height × width × 3 RGB): every row unfiltered,
    deflated at level 1 (three times faster than Pillow's adaptive filters, and as small for charts,
    which are mostly flat colour); no metadata, so the bytes are reproducible."""
    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    rows = np.concatenate([np.zeros((height, 1), np.uint8), pixels.reshape(height, width * channels)], axis=1)
    header = struct.pack(">IIBBBBB", width, height, 8, 0 if channels == 1 else 2, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", _chunk(b"IHDR", header), _chunk(b"IDAT", zlib.compress(rows.tobytes(), 1)),
                     _chunk(b"IEND", b"")])


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


# --- time axes ----------------------------------------------------------------------


def month_ticks(first: date, last: date, max_ticks: int = 9) -> tuple[list[int], list[str]]:
    """Tick positions (proleptic ordinals) on month starts between ``first`` and ``last``, every
    1, 2, 3, 6 or 12 months so there are at most ``max_ticks``, labelled ``Jan`` with the year under
    the first tick and under each January."""
    months = [(y, m) for y in range(first.year, last.year + 1) for m in range(1, 13)
              if first <= date(y, m, 1) <= last]
    step = next((s for s in (1, 2, 3, 6, 12) if math.ceil(len(months) / s) <= max_ticks), 12)
    chosen = [ym for ym in months if (ym[1] - 1) % step == 0] or months[:1]
    positions, labels = [], []
    for i, (y, m) in enumerate(chosen):
        day = date(y, m, 1)
        positions.append(day.toordinal())
        labels.append(f"{day:%b}\n{y}" if i == 0 or m == 1 else f"{day:%b}")
    return positions, labels


def _date_axis(ax: Any, first: date, last: date, max_ticks: int = 9) -> None:
    positions, labels = month_ticks(first, last, max_ticks)
    ax.xaxis.set_major_locator(FixedLocator(positions))
    ax.set_xticklabels(labels)
    ax.set_xlim(first.toordinal() - 2, last.toordinal() + 2)


def _value_axis(ax: Any, values: FloatArray, integer: bool, nbins: int = 4, from_zero: bool = True) -> None:
    """A y axis over ``values`` from zero, or (``from_zero=False``, for SPC charts, whose variation is
    the point) over their range with a margin, still from zero when that range comes close to it
    and never below zero for values that cannot be negative."""
    finite = values[np.isfinite(values)]
    top = float(finite.max()) if finite.size else 1.0
    low = float(finite.min()) if finite.size else 0.0
    bottom = min(0.0, low)
    if not from_zero and finite.size and top > low:
        margin = 0.08 * (top - low)
        bottom = low - margin
        if low >= 0 and bottom < 0.4 * top:
            bottom = 0.0
        top += margin
    else:
        top = top * 1.08 if top > 0 else 1.0
    ax.set_ylim(bottom, top)
    ax.yaxis.set_major_locator(MaxNLocator(nbins=nbins, steps=[1, 2, 2.5, 5, 10], integer=integer))


# --- trend --------------------------------------------------------------------------


@dataclass(frozen=True)
class TrendLine:
    """One measure's values per period, oldest first (NaN where there is no value)."""

    title: str
    starts: Sequence[date]
    values: Sequence[float]
    y_label: str = ""
    integer: bool = True


TREND_PANEL_IN = 1.5
MAX_IMAGE_IN = 7.6  # the tallest small-multiples image: with its title and caption, within an A4 page's 10.2 in


@drawn
def trend_panels(lines: Sequence[TrendLine], columns: int = 2) -> bytes:
    """Small multiples of two-year trends, one titled panel per measure: every period as a solid
    line with small circles (the year-to-date chart compares this year with last, so the panels
    stay uncluttered). Returns PNG bytes."""
    return _small_multiples("trends", lines, _trend_panel, columns, TREND_PANEL_IN, (0.4, 0.32, 0.52, 0.6))


def _small_multiples(name: str, panels: Sequence[Any], draw: Any, columns: int, panel_h: float,
                     margins: tuple[float, float, float, float]) -> bytes:
    """One panel per item, ``columns`` to a row (more when that would make the image taller than
    ``MAX_IMAGE_IN``: 19 measures' panels still fit on one page), each ``panel_h`` inches tall;
    ``margins`` are the left and bottom offsets of each panel's axes and the width and height they
    leave out."""
    left, bottom, less_w, less_h = margins
    columns = max(columns, math.ceil(len(panels) / max(1, int(MAX_IMAGE_IN // panel_h))))
    rows = max(1, math.ceil(len(panels) / columns))
    height = round(rows * panel_h + 0.05, 2)
    cell_w = WIDTH_IN / columns
    rects = [(col * cell_w + left, height - (row + 1) * panel_h + bottom, cell_w - less_w, panel_h - less_h)
             for row in range(rows) for col in range(columns)]
    with _layout(f"{name}-{columns}", WIDTH_IN, height, rects) as (fig, axes):
        for i, ax in enumerate(axes):
            if i < len(panels):
                draw(ax, panels[i])
            else:
                ax.set_visible(False)
        for i, ax in enumerate(axes[:len(panels)]):
            # a time axis shared with the panel below is labelled only there (a third less text to draw)
            below = axes[i + columns] if i + columns < len(panels) else None
            ax.xaxis.set_tick_params(labelbottom=below is None or below.get_xlim() != ax.get_xlim())
        return _png(fig)


def _trend_panel(ax: Any, line: TrendLine) -> None:
    x = np.array([d.toordinal() for d in line.starts], dtype=float)
    values = np.array(line.values, dtype=float)
    ax.plot(x, values, marker="o", markersize=1.5, color=THIS_YEAR["color"], linewidth=0.9)
    if len(x):
        _date_axis(ax, line.starts[0], line.starts[-1], max_ticks=5)
    else:
        ax.set_xticks([])
        ax.set_xlim(0, 1)
    _small_multiple_title(ax, line.title)
    ax.set_ylabel(line.y_label)
    _value_axis(ax, values, line.integer, nbins=3)


# --- cumulative: this year against last year -----------------------------------------


@dataclass(frozen=True)
class CumulativePanel:
    """One measure's running total (or running rate) through the year, this year and last.

    ``days`` count from the first day of the year (0 = the year's first day); this year's
    values stop at the period end, last year's run on (to show where last year finished).
    """

    title: str
    year_start: date
    this_days: Sequence[int]
    this_values: Sequence[float]
    last_days: Sequence[int]
    last_values: Sequence[float]
    integer: bool = True


@drawn
def cumulative_chart(panels: Sequence[CumulativePanel], columns: int = 3) -> bytes:
    """Small multiples, one panel per measure: this year's running total (solid, circle at the
    latest value) against last year's (dashed, triangle on the same day, fainter after it)."""
    return _small_multiples("cumulative", panels, _cumulative_panel, columns, CUMULATIVE_PANEL_IN,
                            (0.42, 0.3, 0.55, 0.55))


CUMULATIVE_PANEL_IN = 1.45
SMALL_TITLE_CHARS = 27  # what fits on one line over a third of the page's width
_THIRD_AXES_IN = WIDTH_IN / 3 - 0.55  # the width of a cumulative panel's axes, three to a row


def _small_multiple_title(ax: Any, title: str) -> None:
    """A panel title, on two smaller lines when it would not fit on one over the panel's width."""
    fits = int(SMALL_TITLE_CHARS * ax.get_position().width * WIDTH_IN / _THIRD_AXES_IN)
    if len(title) <= fits:
        ax.set_title(title)
    else:
        smaller = fits + (6 if fits >= SMALL_TITLE_CHARS else 2)  # at 7.5 pt; a narrow panel has no room to spare
        ax.set_title("\n".join(textwrap.wrap(title, smaller)[:2]), fontsize=7.5, linespacing=1.0)


def _cumulative_panel(ax: Any, panel: CumulativePanel) -> None:
    origin = panel.year_start.toordinal()
    this_x = np.array(panel.this_days, dtype=float) + origin
    this_y = np.array(panel.this_values, dtype=float)
    last_x = np.array(panel.last_days, dtype=float) + origin
    last_y = np.array(panel.last_values, dtype=float)
    end_day = float(panel.this_days[-1]) if len(panel.this_days) else -1.0
    so_far = np.array(panel.last_days, dtype=float) <= end_day
    ax.plot(last_x[so_far], last_y[so_far], **LAST_YEAR)
    ax.plot(last_x[~so_far], last_y[~so_far], color=LAST_YEAR["color"], linestyle=(0, (1, 2)), linewidth=0.9)
    ax.plot(this_x, this_y, **THIS_YEAR)
    if this_x.size:
        ax.plot(this_x[-1:], this_y[-1:], marker="o", markersize=4, color=THIS_YEAR["color"], linestyle="none")
    if so_far.any():
        ax.plot(last_x[so_far][-1:], last_y[so_far][-1:], marker="^", markersize=4.5, color=LAST_YEAR["color"],
                linestyle="none")
    _small_multiple_title(ax, panel.title)
    year_end = date(panel.year_start.year + 1, panel.year_start.month, 1).toordinal() - 1
    positions, labels = [], []
    for k in range(0, 12, 3):
        month = (panel.year_start.month - 1 + k) % 12 + 1
        year = panel.year_start.year + (panel.year_start.month - 1 + k) // 12
        positions.append(date(year, month, 1).toordinal())
        labels.append(f"{date(year, month, 1):%b}")
    ax.xaxis.set_major_locator(FixedLocator(positions))
    ax.set_xticklabels(labels)
    ax.set_xlim(origin - 3, year_end + 3)
    _value_axis(ax, np.concatenate([this_y, last_y]), panel.integer, nbins=3)


# --- hotspot map --------------------------------------------------------------------


@dataclass(frozen=True)
class HotspotGrid:
    """Where the last 28 days' incidents exceeded the unit's usual pattern, on square cells.

    Coordinates are kilometres east and north of a local origin. ``excess`` (rows = y,
    columns = x) is the count above what the usual share would give; ``usual`` is the usual
    pattern's density (for contour lines); ``outlines`` are boundary rings to draw; ``labels`` are
    named places to mark (x, y, text: the text is data, drawn as plain text).
    """

    x_edges: FloatArray
    y_edges: FloatArray
    excess: FloatArray
    usual: FloatArray
    recent_x: FloatArray
    recent_y: FloatArray
    outlines: tuple[FloatArray, ...] = field(default_factory=tuple)
    labels: tuple[tuple[float, float, str], ...] = field(default_factory=tuple)

    @property
    def shaded(self) -> bool:
        return bool((self.excess >= 0.5).any())


MAP_WIDTH_IN = 7.0
MAP_MAX_IN = (5.2, 4.3)  # the map itself at most this wide and tall; the figure is as tall as the map
MAP_MIN_HEIGHT_IN = 2.8
MAP_COMPACT_MAX_IN = (2.6, 2.5)  # a map with nothing shaded: smaller, the figure no wider than the map
MAP_LABEL_CHARS = 28  # a place name longer than this is cut (with …) on the map; the table has it whole


def map_size(width_km: float, height_km: float, largest: tuple[float, float] = MAP_MAX_IN) -> tuple[float, float]:
    """The map's drawn width and height in inches: as large as fits in ``largest``, at true proportions."""
    scale = min(largest[0] / max(width_km, 1e-9), largest[1] / max(height_km, 1e-9))
    return round(width_km * scale, 3), round(height_km * scale, 3)


def map_figure_size(grid: HotspotGrid) -> tuple[float, float]:
    """The map figure's width and height in inches: the printed width with room for the colour bar when
    any cell is shaded; else only as wide as the compact map (nothing shaded needs no empty frame)."""
    width_km, height_km = float(grid.x_edges[-1] - grid.x_edges[0]), float(grid.y_edges[-1] - grid.y_edges[0])
    if grid.shaded:
        return MAP_WIDTH_IN, round(max(map_size(width_km, height_km)[1], MAP_MIN_HEIGHT_IN) + 0.1, 2)
    map_w, map_h = map_size(width_km, height_km, MAP_COMPACT_MAX_IN)
    return round(map_w + 0.1, 2), round(map_h + 0.1, 2)


@drawn
def hotspot_map(grid: HotspotGrid) -> bytes:
    """Cells shaded by how many more incidents than usual the last 28 days had (darker = more),
    the usual pattern as grey contours, the last 28 days' incidents as small dots, the
    boundary as a black outline, the named places as numbered discs, a scale bar and,
    when any cell is shaded, a labelled colour bar (``map_figure_size``: smaller when nothing is shaded)."""
    width, height = map_figure_size(grid)
    map_w, map_h = map_size(float(grid.x_edges[-1] - grid.x_edges[0]), float(grid.y_edges[-1] - grid.y_edges[0]),
                            MAP_MAX_IN if grid.shaded else MAP_COMPACT_MAX_IN)
    with _figure(width, height) as fig:
        ax = fig.add_axes((0.05 / width, (height - map_h) / 2 / height, map_w / width, map_h / height))
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(True)
            spine.set_color("#AAAAAA")
            spine.set_linewidth(0.5)
        ax.set_xticks([])
        ax.set_yticks([])
        top = max(float(np.nanmax(grid.excess, initial=0.0)), 1.0)
        shaded = np.ma.masked_less(grid.excess, 0.5)
        mesh = ax.pcolormesh(grid.x_edges, grid.y_edges, shaded, cmap=HOTSPOT_CMAP, vmin=0, vmax=top,
                             edgecolors="none", zorder=1)
        if grid.usual.size and float(np.nanmax(grid.usual, initial=0.0)) > 0:
            centres_x = (grid.x_edges[:-1] + grid.x_edges[1:]) / 2
            centres_y = (grid.y_edges[:-1] + grid.y_edges[1:]) / 2
            peak = float(np.nanmax(grid.usual))
            ax.contour(centres_x, centres_y, grid.usual, levels=[peak * 0.25, peak * 0.5, peak * 0.75],
                       colors="#777777", linewidths=0.6, linestyles=["dotted", "dashed", "solid"], zorder=2)
        ax.plot(grid.recent_x, grid.recent_y, linestyle="none", marker=".", markersize=1.6, color="#000000",
                alpha=0.55, zorder=3)
        for ring in grid.outlines:
            ax.plot(ring[:, 0], ring[:, 1], color="#000000", linewidth=1.1, zorder=4)
        ax.set_xlim(float(grid.x_edges[0]), float(grid.x_edges[-1]))
        ax.set_ylim(float(grid.y_edges[0]), float(grid.y_edges[-1]))
        ax.set_aspect("equal", adjustable="box")
        _scale_bar(ax, float(grid.x_edges[-1] - grid.x_edges[0]))
        _place_labels(ax, grid.labels)
        if not grid.shaded:
            return _png(fig, grey=True)
        bar_h = min(map_h * 0.6, 2.4)
        cax = fig.add_axes(((map_w + 0.45) / width, (height - bar_h) / 2 / height, 0.16 / width,
                            bar_h / height))
        bar = fig.colorbar(mesh, cax=cax)
        bar.outline.set_linewidth(0.5)
        bar.locator = MaxNLocator(nbins=4, integer=True)
        bar.update_ticks()
        cax.grid(False)
        cax.tick_params(size=2, labelsize=7)
        cax.set_title("more incidents\nthan usual", fontsize=7.5, loc="left", pad=6, fontweight="bold")
        return _png(fig, grey=True)


def _place_labels(ax: Any, labels: Sequence[tuple[float, float, str]]) -> None:
    """Each named place as a white disc with a black edge holding its label (the repeat-locations table's
    number; the names are in the caption, where they cannot overlap or run off the map). Labels are data:
    drawn as plain text (no mathtext), cut to ``MAP_LABEL_CHARS``."""
    halo = [patheffects.withStroke(linewidth=2.0, foreground="white")]
    for x, y, text in labels:
        name = text if len(text) <= MAP_LABEL_CHARS else text[:MAP_LABEL_CHARS - 1].rstrip() + "…"
        ax.plot([x], [y], linestyle="none", marker="o", markersize=9.5, markerfacecolor="white",
                markeredgecolor="#000000", markeredgewidth=1.0, zorder=6)
        ax.text(x, y, name, fontsize=6.5, fontweight="bold", color="#000000", ha="center", va="center_baseline",
                zorder=7, path_effects=halo, parse_math=False, clip_on=True)


def _scale_bar(ax: Any, span_km: float) -> None:
    length = next((s for s in (0.25, 0.5, 1, 2, 5, 10, 20, 50) if s >= span_km / 6), 50.0)
    x0, y0 = ax.get_xlim()[0], ax.get_ylim()[0]
    pad = span_km * 0.03
    ax.plot([x0 + pad, x0 + pad + length], [y0 + pad, y0 + pad], color="#000000", linewidth=2.2,
            solid_capstyle="butt", zorder=5)
    label = f"{length:g} km" if length >= 1 else f"{length * 1000:g} m"
    ax.text(x0 + pad, y0 + pad * 1.4, label, fontsize=7, va="bottom", zorder=5)


# --- SPC: an XmR chart of one unit × measure ------------------------------------------

SPC_HEIGHT_IN = 1.85
# point type → (marker, colour, size): shape carries the meaning, colour repeats it.
SPC_MARKER_SIZE = {"^": 5.0, "s": 4.2, "D": 3.8}  # marks that look alike in size
# point type → (marker, colour, size): common cause small and grey, special causes as ``compstat spc`` draws them
SPC_MARKERS = {"common_cause": ("o", "#777777", 2.2)} | {
    point_type: (marker, colour, SPC_MARKER_SIZE[marker]) for point_type, (_, marker, colour) in SPC_MARKS.items()}


@dataclass(frozen=True)
class SpcSeries:
    """One XmR chart's points, oldest first: value, mean, process limits and point type."""

    starts: Sequence[date]
    values: Sequence[float]
    mean: Sequence[float]
    lower: Sequence[float]
    upper: Sequence[float]
    point_types: Sequence[str]
    y_label: str = ""
    integer: bool = True


@drawn
def spc_chart(series: SpcSeries) -> bytes:
    """The values as a thin line; the mean solid and the process limits dashed (they step at a
    rebase); special-cause points marked by shape (triangle concern, square improvement, diamond
    neutral). The pack's caption is the legend (a drawn legend costs a third of the chart's
    drawing). Returns PNG bytes."""
    rect = (0.42, 0.32, WIDTH_IN - 0.5, SPC_HEIGHT_IN - 0.42)
    with _layout("spc", WIDTH_IN, SPC_HEIGHT_IN, [rect]) as (fig, (ax,)):
        x = np.array([d.toordinal() for d in series.starts], dtype=float)
        values = np.array(series.values, dtype=float)
        ax.plot(x, values, color="#555555", linewidth=0.9)
        ax.plot(x, np.array(series.mean, dtype=float), color=OKABE_ITO["black"], linewidth=1.0)
        ax.plot(x, np.array(series.lower, dtype=float), color=OKABE_ITO["black"], linewidth=0.8,
                linestyle=(0, (4, 2)))
        ax.plot(x, np.array(series.upper, dtype=float), color=OKABE_ITO["black"], linewidth=0.8,
                linestyle=(0, (4, 2)))
        types = np.array([str(t) for t in series.point_types], dtype=object)
        for point_type, (marker, colour, size) in SPC_MARKERS.items():
            mask = types == point_type
            if mask.any():
                ax.plot(x[mask], values[mask], linestyle="none", marker=marker, markersize=size, color=colour)
        if len(x):
            _date_axis(ax, series.starts[0], series.starts[-1])
        else:
            ax.set_xticks([])
            ax.set_xlim(0, 1)
        ax.set_ylabel(series.y_label)
        nonnegative = all(v >= 0 for v in series.values if v == v)
        lower = [max(v, 0.0) if nonnegative else v for v in series.lower]  # a count's limit below 0 is 0
        finite = [v for v in (*series.values, *series.upper, *lower) if v == v]
        _value_axis(ax, np.array(finite, dtype=float), series.integer, from_zero=False)
        return _png(fig)


# --- peers: the unit against its similar units ------------------------------------------


@dataclass(frozen=True)
class PeerRow:
    """One measure: the unit's value with its interval, its similar units' average and each
    similar unit's value, all on the same basis (a rate per 1,000 residents, say); ``peer_codes``
    label the similar units' marks (in the order of ``peers``) and ``code`` the unit's own; ``mean_text``
    states the average (``average 1.07``) under the verdict."""

    label: str
    value: float
    low: float
    high: float
    peer_mean: float
    peers: Sequence[float]
    verdict: str = ""
    peer_codes: Sequence[str] = ()
    code: str = ""
    mean_text: str = ""


PEER_ROW_IN = 0.38
PEER_LEFT_IN, PEER_RIGHT_IN = 1.55, 1.25
PEER_MAX_STEPS = 3  # the axis runs at most to 8× and 1/8× the average
PEER_LABEL_PT = 5.5  # similar units' codes: small type, above or below their circle
PEER_LANE = 0.3  # a label's offset from its row, in rows (above, then below)
_CHAR_IN = 0.62 * PEER_LABEL_PT / 72  # DejaVu Sans' average character width at that size, in inches


def peer_label_positions(xs: Sequence[float], widths: Sequence[float], gap: float) -> list[tuple[float, int]]:
    """Where each label of one row goes: (x of its centre, lane: +1 above the row, -1 below), so no two
    labels overlap. Labels are placed left to right, each in the first lane with room at its mark's x,
    else in the lane that frees first, moved right just clear of the label before it (its mark then gets
    a thin leader). ``widths`` and ``gap`` are in the x axis' units."""
    placed: list[tuple[float, int]] = [(0.0, 0)] * len(xs)
    right = {1: -math.inf, -1: -math.inf}
    for i in sorted(range(len(xs)), key=lambda k: xs[k]):
        half = widths[i] / 2
        lane = next((lane for lane in (1, -1) if right[lane] + gap <= xs[i] - half), None)
        if lane is None:
            lane = min(right, key=lambda k: right[k])
            centre = right[lane] + gap + half
        else:
            centre = xs[i]
        right[lane] = centre + half
        placed[i] = (centre, lane)
    return placed


@drawn
def peer_chart(rows: Sequence[PeerRow]) -> bytes:
    """One row per measure, on a shared log scale of the ratio to the similar units' average
    (the vertical line at 1×): the unit as a black dot with its interval as a line and its code in
    bold, each similar unit as a hollow grey circle labelled with its code in small type (above or
    below the row, never overlapping), and the verdict and the average in words at the right. Values
    beyond the axis sit at its edge as arrow heads. Returns PNG bytes."""
    n = max(len(rows), 1)
    height = round(n * PEER_ROW_IN + 0.62, 2)
    rect = (PEER_LEFT_IN, 0.45, WIDTH_IN - PEER_LEFT_IN - PEER_RIGHT_IN, height - 0.55)
    with _layout(f"peers-{n}", WIDTH_IN, height, [rect]) as (fig, (ax,)):
        ratios = [_log2_ratios(r) for r in rows]
        finite = np.concatenate([r[np.isfinite(r)] for r in ratios]) if ratios else np.zeros(0)
        reach = float(np.abs(finite).max()) if finite.size else 1.0
        steps = int(min(max(math.ceil(reach + 0.05), 1), PEER_MAX_STEPS))
        edge = steps + 0.25
        per_inch = 2 * edge / rect[2]  # x units per inch
        ax.axvline(0.0, color=OKABE_ITO["black"], linewidth=0.9, zorder=1)
        # One artist per kind of mark, not per row: drawing cost grows with artists.
        marks: dict[str, tuple[list[float], list[float]]] = {"<": ([], []), ">": ([], []), "o": ([], [])}
        ends: dict[str, tuple[list[float], list[float]]] = {"<": ([], []), ">": ([], [])}
        lines, peer_x, peer_y, leaders = [], [], [], []
        for y, (row, values) in enumerate(zip(rows, ratios, strict=True)):
            level = float(n - 1 - y)
            value, low, high, *peers = np.clip(values, -edge, edge)
            if np.isfinite(low) and np.isfinite(high):
                lines.append(((low, level), (high, level)))
                for end, clipped, marker in ((low, values[1] < -edge, "<"), (high, values[2] > edge, ">")):
                    if clipped:
                        ends[marker][0].append(end)
                        ends[marker][1].append(level)
            codes = list(row.peer_codes) + [""] * (len(peers) - len(row.peer_codes))
            shown = [(float(x), code) for x, code in zip(peers, codes, strict=False) if np.isfinite(x)]
            peer_x += [x for x, _ in shown]
            peer_y += [level] * len(shown)
            labels = [(x, code, False) for x, code in shown if code]
            if row.code and np.isfinite(value):
                labels.insert(0, (float(value), row.code, True))
            widths = [(len(code) + 0.6) * _CHAR_IN * per_inch for _, code, _ in labels]
            spots = peer_label_positions([x for x, _, _ in labels], widths, 0.25 * _CHAR_IN * per_inch)
            for (x, code, own), width, (centre, lane) in zip(labels, widths, spots, strict=True):
                ax.text(centre, level + lane * PEER_LANE, code, ha="center", va="center", fontsize=PEER_LABEL_PT,
                        fontweight="bold" if own else "normal", color="#000000" if own else "#444444",
                        clip_on=False, zorder=5)
                if abs(centre - x) > width / 4:
                    leaders.append(((x, level), (centre, level + lane * PEER_LANE * 0.6)))
            if not np.isnan(values[0]):
                beyond = "<" if values[0] < -edge else ">" if values[0] > edge else "o"
                marks[beyond][0].append(value)
                marks[beyond][1].append(level)
            ax.text(edge + 0.12, level + (0.12 if row.mean_text else 0.0), row.verdict, va="center", ha="left",
                    fontsize=7.5, clip_on=False)
            if row.mean_text:
                ax.text(edge + 0.12, level - 0.2, row.mean_text, va="center", ha="left", fontsize=6.5,
                        color="#444444", clip_on=False)
        ax.add_collection(LineCollection(lines, colors=OKABE_ITO["black"], linewidths=1.6, capstyle="butt", zorder=2))
        ax.add_collection(LineCollection(leaders, colors="#888888", linewidths=0.4, zorder=2))
        for marker, (xs, ys) in ends.items():
            ax.plot(xs, ys, linestyle="none", marker=marker, markersize=4, color=OKABE_ITO["black"], zorder=3)
        ax.plot(peer_x, peer_y, linestyle="none", marker="o", markersize=3.6, markerfacecolor="white",
                markeredgecolor="#666666", markeredgewidth=0.8, zorder=3)
        for marker, (xs, ys) in marks.items():
            ax.plot(xs, ys, linestyle="none", marker=marker, markersize=5.2, color=OKABE_ITO["black"], zorder=4)
        ticks = list(range(-steps, steps + 1))
        ax.xaxis.set_major_locator(FixedLocator(ticks))
        ax.set_xticklabels([_ratio_label(t) for t in ticks])
        ax.set_xlim(-edge, edge)
        ax.yaxis.set_major_locator(FixedLocator(list(range(n))))
        ax.set_yticklabels([r.label for r in reversed(rows)] if rows else [""])
        ax.set_ylim(-0.6, n - 0.4)
        ax.tick_params(axis="y", length=0)
        ax.grid(False, axis="y")
        ax.grid(True, axis="x")
        ax.set_xlabel("times the similar units' average (log scale)", fontsize=7.5, labelpad=2)
        return _png(fig, grey=True)


def _log2_ratios(row: PeerRow) -> FloatArray:
    """log2 of (value, low, high, *peers) over the peer mean; -inf for zeros, NaN if there is no mean."""
    values = np.array([row.value, row.low, row.high, *row.peers], dtype=float)
    if not row.peer_mean > 0:
        return np.full(values.size, np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.log2(values / row.peer_mean)


def _ratio_label(step: int) -> str:
    return f"{2 ** step:g}×" if step >= 0 else f"1/{2 ** -step:g}×"
