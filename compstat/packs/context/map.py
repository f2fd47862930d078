"""The hotspot map section of a unit's pack: where the last 28 days' incidents ran above the
unit's usual pattern (``compstat.packs.maps``), with the counts in words and what the map leaves out.
"""

from __future__ import annotations

from dataclasses import dataclass

from compstat.packs.charts import hotspot_map, map_figure_size
from compstat.packs.context.charts import Chart
from compstat.packs.context.common import plural
from compstat.packs.context.places import map_places
from compstat.packs.filters import fmt_count, fmt_date
from compstat.packs.lookup import POINTS, unit_rows
from compstat.packs.maps import RECENT_DAYS, hotspots, map_windows, unit_outlines
from compstat.results import CycleData


@dataclass(frozen=True)
class MapSection:
    """Where the last 28 days' incidents ran above the unit's usual pattern.

    ``chart`` is None when the unit has no incidents with a location; ``summary`` states the
    counts in words, ``notes`` what the map leaves out (stray coordinates). ``compact``: nothing is
    shaded, so the map is drawn small (``width_mm`` wide) with its caption beside it."""

    chart: Chart | None
    summary: tuple[str, ...]
    caption: str
    notes: tuple[str, ...]
    compact: bool = False
    width_mm: int = 0


def map_section(data: CycleData, unit_code: str) -> MapSection | None:
    """The hotspot map of one unit; None when the cycle has no incident locations at all."""
    if data.points is None:
        return None
    windows = map_windows(data.period.end)
    recent = f"{fmt_date(windows.recent_start)} – {fmt_date(windows.recent_end)}"
    points = unit_rows(data, POINTS, unit_code)
    outlines = unit_outlines(data.config, unit_code)
    places = map_places(data, unit_code)
    spots = hotspots(points, windows, outlines, [(str(rank), lat, lon) for rank, _, lat, lon in places])
    if spots is None or spots.n_recent == 0:
        return MapSection(chart=None, caption="", notes=(), summary=(
            f"No incidents with a location in the last {RECENT_DAYS} days ({recent}): there is nothing to map.",))
    shown = {text for _, _, text in spots.grid.labels}
    key = "; ".join(f"{rank} {name}" for rank, name, _, _ in places if str(rank) in shown)
    cell = f"{spots.cell_km:g} km" if spots.cell_km >= 1 else f"{spots.cell_km * 1000:g} m"
    summary = [f"{plural(spots.n_recent, 'incident')} with a location in the last {RECENT_DAYS} days ({recent}), "
               f"against {fmt_count(spots.n_usual)} in the 52 weeks before."]
    if spots.n_hot_cells:
        summary.append(f"{plural(spots.n_hot_cells, 'area')} ran clearly above the usual pattern, by up to "
                       f"{fmt_count(spots.max_excess)} incidents (shaded).")
    else:
        summary.append("No area ran clearly above the usual pattern: the differences are within normal variation.")
    notes: tuple[str, ...] = ()
    if spots.n_outside:
        notes = (f"{plural(spots.n_outside, 'incident')} in the last {RECENT_DAYS} days "
                 f"{'lies' if spots.n_outside == 1 else 'lie'} far outside the unit's usual area and "
                 f"{'is' if spots.n_outside == 1 else 'are'} not shown: check the coordinates.",)
    caption = (f"Square cells of {cell}. Shading (darker = more): incidents in the last {RECENT_DAYS} days above "
               "the usual number, counted over each cell and its eight neighbours, only where beyond normal "
               "variation. Usual: each place's share of the 52 weeks before, applied to the last "
               f"{RECENT_DAYS} days' total. Dots: the last {RECENT_DAYS} days' incidents. Grey contours: the usual "
               "pattern (dotted, dashed, solid: a quarter, half and three quarters of its peak)."
               + (" Black line: the unit boundary." if outlines else "")
               + (f" Numbered discs: repeat locations, numbered as in the table: {key}." if key else ""))
    alt = (f"Map of {unit_code}: {summary[0]} {summary[1]}"
           + (" The unit boundary is drawn." if outlines else "")
           + (f" Repeat locations marked: {key}." if key else ""))
    chart = Chart(measure_id="", title="Where the last 28 days ran above the usual pattern", alt=alt,
                  name="map.png", png=hotspot_map(spots.grid))
    width_in = map_figure_size(spots.grid)[0]
    return MapSection(chart=chart, summary=tuple(summary), caption=caption, notes=notes,
                      compact=not spots.grid.shaded, width_mm=round(width_in * 25.4))
