"""Places and times: location names and times of day from ingest to the store, the repeat-locations and
day × time-of-day tables (hand-worked frames), the migration, and the map's boundary and named places."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from alembic import command
from alembic.config import Config as AlembicConfig
from PIL import Image
from sqlalchemy import create_engine, inspect, text

from compstat.analysis.places import (
    BANDS,
    PlaceWindows,
    busiest_cells,
    day_hour,
    exactly_midnight,
    load_incidents,
    place_windows,
    repeat_locations,
)
from compstat.config import Config, load_config
from compstat.ingest import ingest_all
from compstat.ingest.mapping import map_rows
from compstat.packs.charts import DPI, MAP_COMPACT_MAX_IN, MAP_WIDTH_IN, hotspot_map, map_figure_size
from compstat.packs.context.unit import unit_pack
from compstat.packs.maps import hotspots, map_windows
from compstat.packs.render import render_html, templates_dir
from compstat.periods import Window
from compstat.results import CycleData
from compstat.store import connect, transaction
from compstat.store.db import MIGRATIONS
from compstat.store.models import LOCATION_LENGTH
from tests.test_packs import HOTSPOT, LEAVES, cycle_data  # noqa: F401 - cycle_data is a fixture

TODAY = date(2026, 3, 10)
CONFIG = """\
organisation: {{name: Test, slug: t}}
units:
  - {{code: A, name: Alpha}}
  - {{code: B, name: Beta}}
measures:
  - {{id: all, name: All crime}}
  - {{id: burglary, name: Burglary, filter: {{category: burglary}}}}
  - {{id: robbery, name: Robbery, filter: {{category: robbery}}}}
sources:
  - name: incidents
    path: incidents.csv
    columns: {{unit: unit, date: when, category: offence, location: {location}}}
  - name: weekly
    path: weekly.csv
    columns: {{unit: unit, date: week, category: offence, value: count}}
"""
INCIDENTS = """\
unit,when,offence,place
A,2026-03-03 10:15,burglary,  High   Street
A,2026-03-03 23:59,robbery,High Street
A,2026-03-04 00:00,burglary,
B,2026-03-05 14:00,burglary,<b>Mill & Co</b>
B,2026-03-06 09:00,other,Station Road
"""
DATE_ONLY = """\
unit,when,offence,place
A,2026-03-03 00:00,burglary,High Street
A,2026-03-04,robbery,High Street
"""
WEEKLY = "unit,week,offence,count\nA,2026-03-08 10:00,burglary,4\n"


def make_config(folder: Path, incidents: str = INCIDENTS, location: str = "place") -> Config:
    (folder / "config.yaml").write_text(CONFIG.format(location=location), encoding="utf-8")
    (folder / "incidents.csv").write_text(incidents, encoding="utf-8")
    (folder / "weekly.csv").write_text(WEEKLY, encoding="utf-8")
    return load_config(folder / "config.yaml")


def mapped(config: Config, text_: str) -> pd.DataFrame:
    frame = pd.read_csv(io.StringIO(text_), dtype=str, keep_default_na=False)
    return map_rows(frame, config.sources[0], config, "incidents.csv", 2, TODAY).observations


# --- ingest -------------------------------------------------------------------------


def test_location_is_read_as_written_spaces_collapsed_and_blank_is_none(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    obs = mapped(config, INCIDENTS)
    names = [x if isinstance(x, str) else None for x in obs["location"]]
    assert names == ["High Street", "High Street", None, "<b>Mill & Co</b>", "Station Road"]
    assert obs["occurred_at"].tolist()[:3] == ["2026-03-03 10:15:00", "2026-03-03 23:59:00", "2026-03-04 00:00:00"]
    long = mapped(config, "unit,when,offence,place\nA,2026-03-03,burglary," + "x" * 300 + "\n")
    assert long["location"].str.len().tolist() == [LOCATION_LENGTH]
    police_uk = mapped(config, "unit,when,offence,place\nA,2026-03-03,burglary,On or near Mill Lane\n"
                               "A,2026-03-03,burglary,On or near\nA,2026-03-03,burglary,On or nearby Park\n")
    names = [x if isinstance(x, str) else None for x in police_uk["location"]]
    assert names == ["Mill Lane", None, "On or nearby Park"]


def test_no_location_column_no_location(tmp_path: Path) -> None:
    config = make_config(tmp_path, location="null")
    assert config.sources[0].columns.location is None
    assert mapped(config, INCIDENTS)["location"].isna().all()


def test_date_only_and_midnight_only_sources_store_no_time(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    assert mapped(config, DATE_ONLY)["occurred_at"].isna().all()  # midnight everywhere is a date, not a time


def test_ingest_stores_location_and_time_and_the_loader_reads_them(tmp_path: Path, store_url: str) -> None:
    config = make_config(tmp_path)
    engine = connect(store_url)
    with transaction(engine) as session:
        ingest_all(session, config, TODAY, store_url)
    window = Window("28d", "28 days", date(2026, 2, 9), date(2026, 3, 8), date(2025, 2, 10), date(2025, 3, 9))
    with transaction(engine) as session:
        frame = load_incidents(session, config, place_windows(window))
    engine.dispose()
    assert frame is not None and len(frame) == 5  # the weekly counts are not incident records
    assert sorted(frame["location"].dropna()) == ["<b>Mill & Co</b>", "High Street", "High Street", "Station Road"]
    timed = frame.sort_values("occurred_at")
    assert timed["occurred_at"].dt.strftime("%H:%M").tolist() == ["10:15", "23:59", "00:00", "14:00", "09:00"]
    assert str(frame["unit_code"].dtype) == "category"


def test_date_only_source_gives_no_day_hour_table(tmp_path: Path, store_url: str) -> None:
    config = make_config(tmp_path, incidents=DATE_ONLY)
    engine = connect(store_url)
    with transaction(engine) as session:
        ingest_all(session, config, TODAY, store_url)
    window = Window("28d", "28 days", date(2026, 2, 9), date(2026, 3, 8), date(2025, 2, 10), date(2025, 3, 9))
    with transaction(engine) as session:
        frame = load_incidents(session, config, place_windows(window))
    engine.dispose()
    assert frame is not None and frame["occurred_at"].isna().all()
    assert day_hour(frame, config.measures, window.start, window.end).empty


# --- migration ----------------------------------------------------------------------


def _alembic(conn: object) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    return cfg


def test_migration_adds_location_to_existing_rows(store_url: str) -> None:
    engine = create_engine(store_url)
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), "0004")
        conn.execute(text("INSERT INTO ingested_files (org, source, path, sha256, rows_read, rows_loaded, "
                          "rows_rejected, rows_skipped, ingested_at, superseded) VALUES ('t', 's', 'p', 'x', 1, 1, "
                          "0, 0, '2026-01-01 00:00:00', false)"))
        conn.execute(text("INSERT INTO observations (file_id, org, unit_code, occurred_on, category, subcategory, "
                          "value, source_row) SELECT id, 't', 'A', '2026-01-01', 'c', '', 1, 2 FROM ingested_files"))
    with engine.begin() as conn:
        command.upgrade(_alembic(conn), "head")
    for table in ("observations", "superseded_observations"):
        assert "location" in {c["name"] for c in inspect(engine).get_columns(table)}
    with engine.begin() as conn:
        assert conn.execute(text("SELECT unit_code, location FROM observations")).all() == [("A", None)]
        command.downgrade(_alembic(conn), "0004")
    assert "location" not in {c["name"] for c in inspect(engine).get_columns("observations")}
    engine.dispose()


# --- repeat locations (hand-worked) --------------------------------------------------


class _M:
    """A stand-in measure: id, name, kind, report and a category filter."""

    def __init__(self, id_: str, name: str, categories: list[str]) -> None:
        from compstat.config import MeasureFilter

        self.id, self.name, self.kind, self.report = id_, name, "count", True
        self.filter = MeasureFilter(category=categories)


MEASURES = [_M("all", "All crime", []), _M("burglary", "Burglary", ["burglary"]), _M("robbery", "Robbery", ["robbery"])]
WINDOWS = PlaceWindows("28 days", date(2026, 2, 9), date(2026, 3, 8), date(2026, 1, 12), date(2026, 2, 8),
                       date(2025, 2, 10), date(2025, 3, 9))


def incidents(rows: list[tuple[str, str, str | None, str | None]]) -> pd.DataFrame:
    """(day, category, location, time) rows of one unit."""
    return pd.DataFrame({
        "unit_code": "A", "occurred_on": pd.to_datetime([r[0] for r in rows]),
        "occurred_at": pd.to_datetime([f"{r[0]} {r[3]}" if r[3] else None for r in rows]),
        "category": [r[1] for r in rows], "subcategory": "", "location": [r[2] for r in rows],
        "latitude": [53.0 + i * 0.001 for i in range(len(rows))], "longitude": -2.0,
    })


def test_repeat_locations_hand_worked() -> None:
    rows = (
        [("2026-03-01", "burglary", "High Street", None)] * 3 + [("2026-03-02", "robbery", "High Street", None)]
        + [("2026-02-01", "burglary", "High Street", None)] * 2  # the 28 days before
        + [("2025-03-01", "robbery", "High Street", None)]  # last year
        + [("2026-03-05", "robbery", "Mill Lane", None)] * 3
        + [("2026-03-05", "burglary", "Two Times Close", None)] * 2  # only 2: not a repeat
        + [("2026-03-06", "other", "Uncounted Row", None)] * 5  # no measure counts "other" but "all"
        + [("2026-03-06", "burglary", None, None)] * 4  # no location
        + [("2026-03-09", "burglary", "Mill Lane", None)] * 4  # after the window
    )
    table = repeat_locations(incidents(rows), MEASURES, WINDOWS)  # type: ignore[arg-type]
    assert table[["rank", "location", "recent", "before", "last_year", "measures"]].values.tolist() == [
        [1, "Uncounted Row", 5, 0, 0, "All crime 5"],  # counted by the catch-all measure alone: named
        [2, "High Street", 4, 2, 1, "Burglary 3, Robbery 1"],  # the catch-all is not named beside others
        [3, "Mill Lane", 3, 0, 0, "Robbery 3"],
    ]
    high = table.set_index("location").loc["High Street"]
    assert high["latitude"] == pytest.approx(np.median([53.0, 53.001, 53.002, 53.003]))
    assert repeat_locations(incidents(rows), MEASURES, WINDOWS, min_count=5)["location"].tolist() == ["Uncounted Row"]
    assert repeat_locations(incidents(rows[:0]), MEASURES, WINDOWS).empty  # type: ignore[arg-type]


def test_place_windows_before_and_last_year() -> None:
    weeks = Window("28d", "28 days", date(2026, 2, 9), date(2026, 3, 8), date(2025, 2, 10), date(2025, 3, 9))
    assert place_windows(weeks) == WINDOWS
    months = Window("3m", "3 months", date(2026, 1, 1), date(2026, 3, 31), date(2025, 1, 1), date(2025, 3, 31))
    w = place_windows(months)
    assert (w.before_start, w.before_end) == (date(2025, 10, 1), date(2025, 12, 31))


def test_place_windows_spans_are_disjoint_and_in_order() -> None:
    """``load_incidents`` reads one query per span (SQLite then reads each through its date index): the window
    before and the window itself touch and are read as one span; overlapping windows are read once."""
    weeks = Window("28d", "28 days", date(2026, 2, 9), date(2026, 3, 8), date(2025, 2, 10), date(2025, 3, 9))
    assert place_windows(weeks).spans() == [(date(2025, 2, 10), date(2025, 3, 9)),
                                            (date(2026, 1, 12), date(2026, 3, 8))]
    months = Window("3m", "3 months", date(2026, 1, 1), date(2026, 3, 31), date(2025, 1, 1), date(2025, 3, 31))
    assert place_windows(months).spans() == [(date(2025, 1, 1), date(2025, 3, 31)),
                                             (date(2025, 10, 1), date(2026, 3, 31))]
    year = PlaceWindows("a year", date(2026, 1, 1), date(2026, 12, 31), date(2025, 1, 1), date(2025, 12, 31),
                        date(2025, 1, 1), date(2025, 12, 31))
    assert year.spans() == [(date(2025, 1, 1), date(2026, 12, 31))]


# --- day x time of day (hand-worked) ------------------------------------------------


def test_day_hour_hand_worked() -> None:
    rows = [("2026-03-07", "burglary", None, "21:30")] * 4 + [("2026-03-07", "robbery", None, "20:00")]  # Saturday
    rows += [("2026-03-02", "burglary", None, "03:59"), ("2026-03-02", "burglary", None, "04:00")]  # Monday
    rows += [("2026-03-08", "burglary", None, None)]  # no time: left out
    rows += [("2026-03-09", "burglary", None, "12:00")]  # after the span
    grid = day_hour(incidents(rows), MEASURES, date(2026, 2, 9), date(2026, 3, 8))  # type: ignore[arg-type]
    assert list(grid.columns) == list(BANDS) == ["00–04", "04–08", "08–12", "12–16", "16–20", "20–24"]
    assert list(grid.index) == ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    assert grid.at["Saturday", "20–24"] == 5 and grid.at["Monday", "00–04"] == 1 and grid.at["Monday", "04–08"] == 1
    assert int(grid.to_numpy().sum()) == 7
    sunday_first = day_hour(incidents(rows), MEASURES, date(2026, 2, 9), date(2026, 3, 8), "sunday")  # type: ignore[arg-type]
    assert list(sunday_first.index)[:2] == ["Sunday", "Monday"]
    assert busiest_cells(grid) == {("Saturday", "20–24")}  # the others hold fewer than 3
    assert exactly_midnight(incidents(rows), date(2026, 2, 9), date(2026, 3, 8)) == 0


def test_busiest_cells_ties_and_small_numbers() -> None:
    grid = pd.DataFrame(0, index=["Monday", "Tuesday"], columns=list(BANDS))
    grid.iloc[0, :4] = [9, 5, 5, 5]
    grid.iloc[1, 0] = 2
    assert busiest_cells(grid) == {("Monday", "00–04"), ("Monday", "04–08"), ("Monday", "08–12"),
                                   ("Monday", "12–16")}  # the tie with the third is marked too
    assert busiest_cells(grid, min_count=6) == {("Monday", "00–04")}
    assert busiest_cells(grid * 0) == set()


# --- map: boundary and named places -------------------------------------------------


def test_map_draws_places_inside_and_is_compact_when_nothing_is_shaded() -> None:
    end = date(2026, 3, 8)
    rng = np.random.default_rng(3)
    days = pd.Timestamp(end) - pd.to_timedelta(rng.integers(0, 392, 1500), unit="D")
    points = pd.DataFrame({"occurred_on": days, "latitude": 53.5 + rng.normal(0, 0.01, 1500),
                           "longitude": -2.3 + rng.normal(0, 0.016, 1500)})
    ring = np.array([[-2.36, 53.46], [-2.24, 53.46], [-2.24, 53.54], [-2.36, 53.54], [-2.36, 53.46]])
    places = [("1", 53.5, -2.3), ("2", 51.5, -0.14), ("$\\frac{1}{0}$", 53.49, -2.29)]  # 2: far outside
    spots = hotspots(points, map_windows(end), [ring], places)
    assert spots is not None and not spots.grid.shaded
    assert [t for _, _, t in spots.grid.labels] == ["1", "$\\frac{1}{0}$"]  # drawn as plain text, no mathtext
    width, height = map_figure_size(spots.grid)
    assert width <= MAP_COMPACT_MAX_IN[0] + 0.1 < MAP_WIDTH_IN / 2
    with Image.open(io.BytesIO(hotspot_map(spots.grid))) as image:
        image.load()
        assert abs(image.size[0] - width * DPI) <= 1 and abs(image.size[1] - height * DPI) <= 1  # whole pixels
        assert image.mode == "L"
        pixels = np.asarray(image)
    plain = hotspot_map(replace(spots.grid, labels=()))
    with Image.open(io.BytesIO(plain)) as image:
        assert (np.asarray(image) != pixels).any()  # the labels are drawn


def test_demo_boundaries_hold_every_unit_and_its_records() -> None:
    from compstat.demo import FORCE_BOX, boundaries_geojson, demo_config, generate_incidents
    from compstat.packs.maps import _outer_rings

    geo = boundaries_geojson()
    codes = [f["properties"]["code"] for f in geo["features"]]
    assert sorted(codes) == sorted(f"{d}{i}" for d in "NSE" for i in range(1, 5))
    assert demo_config()["organisation"]["boundaries"] == "../demo-data/boundaries.geojson"
    assert demo_config()["sources"][0]["columns"]["location"] == "location"
    records = generate_incidents(date(2026, 11, 29))
    for feature in geo["features"]:
        ring = _outer_rings(feature["geometry"])[0]
        mine = records[records["unit"] == feature["properties"]["code"]]
        assert mine["longitude"].between(ring[:, 0].min(), ring[:, 0].max()).all()
        assert mine["latitude"].between(ring[:, 1].min(), ring[:, 1].max()).all()
        assert FORCE_BOX[0] <= ring[:, 1].min() and ring[:, 1].max() <= FORCE_BOX[1]
    assert records["location"].notna().all() and records["location"].nunique() > 100
    recent = records[(records["unit"] == "N4") & (records["recorded_at"] >= "2026-11-02")]
    top = recent["location"].value_counts()
    assert top["Bramley Park Interchange (bus and tram stops)"] >= 5  # the planted robbery series
    json.dumps(geo)  # writable as it is


# --- the pack: escaping, and nothing without locations or times ---------------------


def test_pack_section_escapes_location_text_and_is_absent_without_data(cycle_data: CycleData) -> None:  # noqa: F811
    config = cycle_data.config
    raw = {**config.model_dump(), "base_dir": config.base_dir, "sources": [{
        "name": "incidents", "path": "x.csv",
        "columns": {"unit": "unit", "date": "when", "category": "category", "location": "place"}}]}
    mapped_config = Config.model_validate(raw)
    end = pd.Timestamp(cycle_data.period.end)
    rows = pd.DataFrame({
        "unit_code": pd.Categorical(["N1"] * 4, categories=list(LEAVES)),
        "occurred_on": [end - pd.Timedelta(days=d) for d in (0, 1, 2, 3)],
        "occurred_at": [end - pd.Timedelta(days=d) + pd.Timedelta(hours=21) for d in (0, 1, 2, 3)],
        "category": "burglary", "subcategory": "", "location": "<script>x</script> & Co",
        "latitude": HOTSPOT[0], "longitude": HOTSPOT[1]})
    data = replace(cycle_data, config=mapped_config, incidents=rows)
    pack = unit_pack(data, mapped_config.leaf_units[0])
    assert pack.places is not None and pack.places.repeat is not None and pack.places.day_hour is not None
    assert [(r.location, r.recent) for r in pack.places.repeat.rows] == [("<script>x</script> & Co", 4)]
    html = render_html(pack.template, templates_dir(), pack=pack)
    assert "&lt;script&gt;x&lt;/script&gt; &amp; Co" in html and "<script" not in html
    assert "Where and when" in html and "Day of the week and time of day" in html
    assert pack.map is not None and "1 &lt;script&gt;" not in pack.map.caption  # the caption is text, escaped later
    assert "1 <script>x</script> & Co" in pack.map.caption
    # no source maps a location and no record has a time: no section, no contents line
    timeless = replace(cycle_data, incidents=rows.assign(occurred_at=pd.NaT))
    bare = unit_pack(timeless, cycle_data.config.leaf_units[0])
    assert bare.places is None and "places" not in [e.anchor for e in bare.contents.entries]
    dated = unit_pack(replace(data, incidents=rows.assign(occurred_at=pd.NaT)), mapped_config.leaf_units[0])
    assert dated.places is not None and dated.places.day_hour is None and dated.places.repeat is not None
