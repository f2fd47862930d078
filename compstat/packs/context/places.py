"""The "where and when" section of a unit's pack: its repeat locations and its incidents by day of the
week and time of day (``compstat.analysis.places``), each only where the data has them: named places
where a source maps ``columns.location``, times where the incident records carry them.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

from compstat.analysis.places import (
    BAND_HOURS,
    MIN_MARKED,
    MIN_REPEAT,
    TOP_CELLS,
    PlaceWindows,
    busiest_cells,
    day_hour,
    exactly_midnight,
    headline_window,
    place_windows,
    repeat_locations,
)
from compstat.packs.context.common import plural
from compstat.packs.filters import MISSING, fmt_date
from compstat.packs.lookup import INCIDENTS, per_cycle, unit_rows
from compstat.results import CycleData

MAP_PLACES = 5  # the top repeat locations labelled on the map
MARK = "◆"


@dataclass(frozen=True)
class PlaceRow:
    """One repeat location: its rank, name (data, escaped when rendered), counts and measures.
    ``before``/``last_year`` are None where the cycle has no records in that span."""

    rank: int
    location: str
    recent: int
    before: int | None
    last_year: int | None
    measures: str


@dataclass(frozen=True)
class RepeatLocations:
    intro: str
    columns: tuple[str, str, str, str]  # the recent span, the span before, last year, the measures
    rows: tuple[PlaceRow, ...]
    empty_message: str


@dataclass(frozen=True)
class DayHourCell:
    count: int
    marked: bool


@dataclass(frozen=True)
class DayHourRow:
    day: str
    cells: tuple[DayHourCell, ...]
    total: int


@dataclass(frozen=True)
class DayHour:
    intro: str
    bands: tuple[str, ...]
    rows: tuple[DayHourRow, ...]
    totals: tuple[int, ...]
    total: int
    notes: tuple[str, ...]
    empty_message: str
    mark: str = MARK


@dataclass(frozen=True)
class PlacesSection:
    """Repeat locations (None when no source maps a location) and the day × time table (None when no
    incident record has a time); the section is left out when both are None."""

    repeat: RepeatLocations | None
    day_hour: DayHour | None

    @property
    def detail(self) -> str:
        parts = []
        if self.repeat is not None:
            parts.append(plural(len(self.repeat.rows), "repeat location"))
        if self.day_hour is not None:
            parts.append("day and time of day")
        return "; ".join(parts)


def cycle_windows(data: CycleData) -> PlaceWindows:
    return place_windows(headline_window(data.windows))


def maps_locations(data: CycleData) -> bool:
    return any(s.columns.location for s in data.config.sources)


def unit_places(data: CycleData, unit_code: str) -> pd.DataFrame:
    """The unit's repeat locations (``analysis.places.repeat_locations``), computed once per cycle and unit
    (the table and the map both show them)."""
    def build() -> pd.DataFrame:
        return repeat_locations(unit_rows(data, INCIDENTS, unit_code), data.config.measures, cycle_windows(data))
    return per_cycle(data, ("places", unit_code), build)


def map_places(data: CycleData, unit_code: str) -> list[tuple[int, str, float, float]]:
    """The top ``MAP_PLACES`` repeat locations as (rank, name, latitude, longitude), for the map."""
    places = unit_places(data, unit_code).head(MAP_PLACES)
    return [(int(r["rank"]), str(r["location"]), float(r["latitude"]), float(r["longitude"]))
            for r in places.to_dict(orient="records")]


def _spans_with_data(data: CycleData, windows: PlaceWindows) -> tuple[bool, bool]:
    """Whether the cycle holds any incident record in the span before and in last year's span."""
    incidents = data.incidents
    if incidents is None or incidents.empty:
        return False, False
    days = incidents["occurred_on"]

    def held(start: object, end: object) -> bool:
        return bool(((days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))).any())  # type: ignore[arg-type]
    return held(windows.before_start, windows.before_end), held(windows.last_year_start, windows.last_year_end)


def _span(start: object, end: object) -> str:
    return f"{fmt_date(start)} – {fmt_date(end)}"  # type: ignore[arg-type]


def repeat_section(data: CycleData, unit_code: str) -> RepeatLocations | None:
    if not maps_locations(data):
        return None
    w = cycle_windows(data)
    label = w.label
    before, last_year = _spans_with_data(data, w)
    places = unit_places(data, unit_code)
    rows = tuple(PlaceRow(rank=int(r["rank"]), location=str(r["location"]), recent=int(r["recent"]),
                          before=int(r["before"]) if before else None,
                          last_year=int(r["last_year"]) if last_year else None, measures=str(r["measures"]))
                 for r in places.to_dict(orient="records"))
    intro = (f"Named places with at least {MIN_REPEAT} incidents in the last {label} "
             f"({_span(w.recent_start, w.recent_end)}), most first; a place with fewer is not listed (one or two "
             f"incidents are not a repeat). Compared with the {label} before ({_span(w.before_start, w.before_end)}) "
             f"and the same {label} last year ({_span(w.last_year_start, w.last_year_end)})"
             + ("" if before and last_year else f"; {MISSING} where there are no records for that span") + ".")
    return RepeatLocations(
        intro=intro, columns=(f"Last {label}", f"{label.capitalize()} before", f"Same {label} last year",
                                f"Measures (last {label})"), rows=rows,
        empty_message=f"No named place had {MIN_REPEAT} or more incidents in the last {label}.")


def day_hour_section(data: CycleData, unit_code: str) -> DayHour | None:
    incidents = data.incidents
    if incidents is None or not incidents["occurred_at"].notna().any():
        return None
    w = cycle_windows(data)
    rows = unit_rows(data, INCIDENTS, unit_code)
    grid = day_hour(rows, data.config.measures, w.recent_start, w.recent_end, data.config.cadence.week_start)
    intro = (f"Incidents in the last {w.label} ({_span(w.recent_start, w.recent_end)}) by day of the week and "
             f"time of day, in {BAND_HOURS}-hour bands (00–{BAND_HOURS:02d} is midnight to "
             f"{BAND_HOURS - 1:02d}:59). {MARK} marks the busiest cells (the {TOP_CELLS} highest, ties included, "
             f"of at least {MIN_MARKED} incidents).")
    empty = f"No incident in the last {w.label} has a time of day."
    if grid.empty or int(grid.to_numpy().sum()) == 0:
        return DayHour(intro=intro, bands=(), rows=(), totals=(), total=0, notes=(), empty_message=empty)
    marked = busiest_cells(grid)
    counts = grid.to_numpy(dtype=int)
    out_rows = tuple(DayHourRow(day=str(day), total=int(counts[i].sum()),
                                cells=tuple(DayHourCell(int(counts[i, j]), (str(day), str(b)) in marked)
                                            for j, b in enumerate(grid.columns)))
                     for i, day in enumerate(grid.index))
    total = int(grid.to_numpy().sum())
    notes: tuple[str, ...] = ()
    midnight = exactly_midnight(rows, w.recent_start, w.recent_end)
    if midnight >= MIN_MARKED and midnight * 100 > total:
        notes = (f"{plural(midnight, 'incident')} of the {total} {'is' if midnight == 1 else 'are'} recorded at "
                 "exactly 00:00, which some systems write when the time is not known: "
                 f"{'it counts' if midnight == 1 else 'they count'} in 00–{BAND_HOURS:02d}.",)
    return DayHour(intro=intro, bands=tuple(str(b) for b in grid.columns), rows=out_rows,
                   totals=tuple(int(v) for v in grid.sum(axis=0)), total=total, notes=notes, empty_message=empty)


def places_section(data: CycleData, unit_code: str) -> PlacesSection | None:
    """Where and when the unit's incidents happen; None when the data has neither locations nor times."""
    repeat, timed = repeat_section(data, unit_code), day_hour_section(data, unit_code)
    if repeat is None and timed is None:
        return None
    return PlacesSection(repeat=repeat, day_hour=timed)
