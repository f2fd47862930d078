"""Where and when a unit's incidents happen: repeat locations and a day-of-week × time-of-day table.

Both read incident records (sources without ``columns.value`` or ``values``) counted by a reported
count measure, over the headline window (the last 28 days for a weekly cadence, 3 months for a
monthly one), ``place_windows``:

- **Repeat locations** (``repeat_locations``): the named places (``sources[].columns.location``: an
  address, a block, a street, a location category) with at least ``MIN_REPEAT`` incidents in the
  window, most first, with their count in the window before and in the same window last year and the
  measures they were counted in. Fewer than ``MIN_REPEAT`` is not a repeat and is not listed: a place
  with one or two incidents says nothing a chair can act on.
- **Day × time of day** (``day_hour``): the window's incidents by weekday and four-hour band, where the
  records have a time. A source whose dates carry no time (every record at midnight, or dates only) has
  none stored (``occurred_at`` is null, ``ingest.mapping``), so it gives no table.

``load_incidents`` is the only function here that reads the store; the rest are pure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import pandas as pd
from sqlalchemy import String, cast, or_, select, union_all
from sqlalchemy.orm import Session

from compstat.config import WEEKDAYS, Config, Measure
from compstat.measure_filter import matches_filter
from compstat.periods import Window
from compstat.store import IngestedFile, Observation
from compstat.store.db import read_frame

MIN_REPEAT = 3  # incidents at one place in the window before it is listed as a repeat location
TOP_PLACES = 10
BAND_HOURS = 4
BANDS = tuple(f"{h:02d}–{h + BAND_HOURS:02d}" for h in range(0, 24, BAND_HOURS))
TOP_CELLS = 3  # the busiest cells marked (ties included)
MIN_MARKED = 3  # a cell with fewer incidents is never marked
INCIDENT_COLUMNS = ["unit_code", "occurred_on", "occurred_at", "category", "subcategory", "location",
                    "latitude", "longitude"]
PLACE_COLUMNS = ["rank", "location", "recent", "before", "last_year", "measures", "latitude", "longitude"]


@dataclass(frozen=True)
class PlaceWindows:
    """The headline window, the same length immediately before it, and the same window last year."""

    label: str  # "28 days", "3 months"
    recent_start: date
    recent_end: date
    before_start: date
    before_end: date
    last_year_start: date
    last_year_end: date

    @property
    def first_day(self) -> date:
        return min(self.before_start, self.last_year_start)

    def spans(self) -> list[tuple[date, date]]:
        """The days the three windows cover, as disjoint (first, last) spans in date order."""
        merged: list[tuple[date, date]] = []
        for start, end in sorted([(self.before_start, self.before_end), (self.recent_start, self.recent_end),
                                  (self.last_year_start, self.last_year_end)]):
            if merged and start <= merged[-1][1] + timedelta(days=1):
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        return merged


def headline_window(windows: Sequence[Window]) -> Window:
    """The window the tables cover: 28 days (weekly) or 3 months (monthly), else the period."""
    keyed = {w.key: w for w in windows}
    return keyed.get("28d") or keyed.get("3m") or keyed["period"]


def place_windows(window: Window) -> PlaceWindows:
    """``window`` with the span before it: as many days, or as many calendar months for ``3m``."""
    before_end = window.start - timedelta(days=1)
    if window.key == "3m":
        before_start = (pd.Timestamp(window.start) - pd.DateOffset(months=3)).date()
    else:
        before_start = before_end - timedelta(days=window.days - 1)
    return PlaceWindows(window.label, window.start, window.end, before_start, before_end,
                        window.prev_start, window.prev_end)


def incident_sources(config: Config) -> list[str]:
    """The sources of incident records (one row per incident: no value column or value expressions)."""
    return [s.name for s in config.sources if not s.columns.value and not s.values]


def load_incidents(session: Session, config: Config, windows: PlaceWindows) -> pd.DataFrame | None:
    """Leaf units' incident records with a location or a time in the three spans of ``windows``
    (``INCIDENT_COLUMNS``; ``occurred_at`` NaT and ``location`` None where unknown); None when no
    incident source maps a location and none has times."""
    sources = incident_sources(config)
    if not sources:
        return None
    day = Observation.occurred_on
    # One query per span, not one with the spans OR-ed: SQLite's planner then reads each span's days through the
    # (org, day) index, where with OR it read every row of the organisation (20M at national scale: 25 s).
    stmt = union_all(*[
        select(Observation.unit_code, cast(day, String(10)), cast(Observation.occurred_at, String(19)),
               Observation.category, Observation.subcategory, Observation.location, Observation.latitude,
               Observation.longitude)
        .join(IngestedFile, IngestedFile.id == Observation.file_id)
        .where(Observation.org == config.organisation.slug, IngestedFile.source.in_(sources), day.between(a, b),
               or_(Observation.location.is_not(None), Observation.occurred_at.is_not(None)))
        for a, b in windows.spans()])
    leaves = [u.code for u in config.leaf_units]

    def compact(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame[frame["unit_code"].isin(leaves)]
        return frame.assign(
            unit_code=frame["unit_code"].astype(pd.CategoricalDtype(leaves)),
            occurred_on=pd.to_datetime(frame["occurred_on"], format="%Y-%m-%d"),
            occurred_at=pd.to_datetime(frame["occurred_at"].str.slice(0, 19), format="%Y-%m-%d %H:%M:%S",
                                       errors="coerce"),
            latitude=pd.to_numeric(frame["latitude"], errors="coerce"),
            longitude=pd.to_numeric(frame["longitude"], errors="coerce"),
        )

    frame = read_frame(session.connection(), stmt, INCIDENT_COLUMNS, compact)
    return frame.reset_index(drop=True) if len(frame) else None


def counted_measures(incidents: pd.DataFrame, measures: Sequence[Measure]) -> pd.DataFrame:
    """One column per reported count measure: whether it counts each incident (category filters)."""
    chosen = [m for m in measures if m.kind == "count" and m.report]
    return pd.DataFrame({m.id: matches_filter(incidents, m) for m in chosen}, index=incidents.index, dtype=bool)


def _between(days: pd.Series, start: date, end: date) -> pd.Series:
    return (days >= pd.Timestamp(start)) & (days <= pd.Timestamp(end))


def repeat_locations(incidents: pd.DataFrame, measures: Sequence[Measure], windows: PlaceWindows,
                     min_count: int = MIN_REPEAT, top: int = TOP_PLACES) -> pd.DataFrame:
    """The named places of one unit's incidents with at least ``min_count`` in the recent window, most
    first (then by name), at most ``top`` (``PLACE_COLUMNS``).

    ``recent``, ``before`` and ``last_year`` count the incidents that a reported count measure counts
    in each span; ``measures`` names the measures of the recent incidents with their counts, most first
    (a measure without a filter, counting everything, is named only when no other measure counts them);
    ``latitude``/``longitude`` are the median of the recent incidents' coordinates (NaN if none)."""
    if incidents.empty or "location" not in incidents:
        return pd.DataFrame(columns=PLACE_COLUMNS)
    counts = counted_measures(incidents, measures)
    named = incidents["location"].notna() & counts.any(axis=1)
    rows, counts = incidents[named], counts[named]
    days = rows["occurred_on"]
    spans = {"recent": _between(days, windows.recent_start, windows.recent_end),
             "before": _between(days, windows.before_start, windows.before_end),
             "last_year": _between(days, windows.last_year_start, windows.last_year_end)}
    table = pd.DataFrame({k: mask.groupby(rows["location"]).sum() for k, mask in spans.items()}).astype(int)
    table = table[table["recent"] >= min_count]
    if table.empty:
        return pd.DataFrame(columns=PLACE_COLUMNS)
    table = (table.rename_axis("location").reset_index()
             .sort_values(["recent", "location"], ascending=[False, True], kind="stable").head(top))
    recent = rows[spans["recent"]]
    recent_counts = counts[spans["recent"]]
    names = {m.id: m.name for m in measures}
    filtered = {m.id for m in measures if m.filter.category or m.filter.subcategory}
    described, lat, lon = [], [], []
    for place in table["location"]:
        here = recent["location"].eq(place)
        per = recent_counts[here].sum()
        per = per[per > 0]
        if per.index.isin(list(filtered)).any():
            per = per[per.index.isin(list(filtered))]
        per = per.sort_values(ascending=False, kind="stable")
        described.append(", ".join(f"{names[str(m)]} {int(n)}" for m, n in per.items()))
        lat.append(float(recent.loc[here, "latitude"].median()))
        lon.append(float(recent.loc[here, "longitude"].median()))
    table = table.assign(rank=range(1, len(table) + 1), measures=described, latitude=lat, longitude=lon)
    return table[PLACE_COLUMNS].reset_index(drop=True)


def day_hour(incidents: pd.DataFrame, measures: Sequence[Measure], start: date, end: date,
             week_start: str = "monday") -> pd.DataFrame:
    """One unit's timed incidents from ``start`` to ``end`` counted by weekday (rows, from ``week_start``)
    and four-hour band (columns ``BANDS``, the hour the band starts: 00–04 is 00:00 to 03:59). Empty
    (no rows) when no incident in the span has a time."""
    if incidents.empty:
        return pd.DataFrame(columns=list(BANDS))
    counted = counted_measures(incidents, measures).any(axis=1)
    at = incidents.loc[counted & incidents["occurred_at"].notna() & _between(incidents["occurred_on"], start, end),
                       "occurred_at"]
    if at.empty:
        return pd.DataFrame(columns=list(BANDS))
    first = WEEKDAYS.index(week_start)
    order = [WEEKDAYS[(first + i) % 7] for i in range(7)]
    day = at.dt.day_of_week.map(lambda d: WEEKDAYS[d])
    band = (at.dt.hour // BAND_HOURS).map(lambda b: BANDS[b])
    grid = pd.crosstab(pd.Categorical(day, categories=order), pd.Categorical(band, categories=list(BANDS)),
                       dropna=False)
    grid = grid.reindex(index=order, columns=list(BANDS), fill_value=0).astype(int)
    grid.index = [d.capitalize() for d in order]
    grid.index.name, grid.columns.name = "day", "band"
    return grid


def busiest_cells(grid: pd.DataFrame, top: int = TOP_CELLS, min_count: int = MIN_MARKED) -> set[tuple[str, str]]:
    """The (day, band) cells of ``day_hour`` to mark: the ``top`` highest, with any cell tied with the
    last of them (but when more than twice ``top`` tie, only the cells above the tie), and only cells
    holding at least ``min_count`` incidents."""
    counts = grid.to_numpy(dtype=int)
    ranked = sorted(((int(counts[i, j]), str(d), str(b)) for i, d in enumerate(grid.index)
                     for j, b in enumerate(grid.columns) if counts[i, j] >= min_count), key=lambda c: -c[0])
    if not ranked:
        return set()
    cut = ranked[min(top, len(ranked)) - 1][0]
    marked = {(d, b) for v, d, b in ranked if v >= cut}
    if len(marked) > 2 * top:
        marked = {(d, b) for v, d, b in ranked if v > cut}
    return marked


def exactly_midnight(incidents: pd.DataFrame, start: date, end: date) -> int:
    """Timed incidents in the span recorded at exactly 00:00, which some systems write for an unknown time."""
    if incidents.empty:
        return 0
    at = incidents.loc[incidents["occurred_at"].notna() & _between(incidents["occurred_on"], start, end),
                       "occurred_at"]
    return int((at == at.dt.normalize()).sum())
