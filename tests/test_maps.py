"""The hotspot map: the grid and its test, robust extents, boundary files, and loading the points."""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest
from PIL import Image

from compstat.config import Config
from compstat.cycle import MAP_DAYS, load_points
from compstat.errors import ConfigError
from compstat.ingest import ingest_all
from compstat.packs.charts import DPI, MAP_COMPACT_MAX_IN, MAP_MAX_IN, MAP_WIDTH_IN, hotspot_map, map_size
from compstat.packs.maps import RECENT_DAYS, USUAL_DAYS, hotspots, map_windows, read_boundaries, unit_outlines
from compstat.periods import parse_period
from compstat.store import connect, transaction
from tests.test_ingest import TODAY, write_incidents

END = date(2026, 3, 8)
WINDOWS = map_windows(END)


def scatter(n: int, lat: float, lon: float, spread: float, days: tuple[int, int], seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "occurred_on": pd.Timestamp(END) - pd.to_timedelta(rng.integers(days[0], days[1], n), unit="D"),
        "latitude": lat + rng.normal(0, spread, n), "longitude": lon + rng.normal(0, spread * 1.6, n)})


def test_windows_are_the_last_28_days_and_the_52_weeks_before() -> None:
    assert (WINDOWS.recent_start, WINDOWS.recent_end) == (date(2026, 2, 9), END)
    assert WINDOWS.usual_end == date(2026, 2, 8) and (WINDOWS.usual_end - WINDOWS.usual_start).days == USUAL_DAYS - 1
    assert RECENT_DAYS + USUAL_DAYS == MAP_DAYS


def test_a_planted_cluster_is_found_and_the_usual_pattern_is_not() -> None:
    usual = scatter(4000, 53.5, -2.3, 0.01, (0, 392), seed=1)
    cluster = scatter(30, 53.51, -2.32, 0.0005, (0, 28), seed=2)
    quiet = hotspots(usual, WINDOWS)
    assert quiet is not None and quiet.n_hot_cells == 0 and quiet.max_excess == 0
    assert quiet.n_recent + quiet.n_usual + quiet.n_outside == len(usual)
    found = hotspots(pd.concat([usual, cluster]), WINDOWS)
    assert found is not None and found.n_hot_cells == 1 and found.max_excess >= 20
    rows, cols = np.nonzero(found.grid.excess)
    x = (found.grid.x_edges[cols] + found.grid.x_edges[cols + 1]) / 2
    y = (found.grid.y_edges[rows] + found.grid.y_edges[rows + 1]) / 2
    hot_x, hot_y = -0.02 * 111.32 * np.cos(np.radians(53.5)), 0.01 * 110.574  # km from the unit's centre
    assert np.hypot(x.mean() - hot_x, y.mean() - hot_y) < 2 * found.cell_km


def test_stray_coordinates_do_not_stretch_the_map() -> None:
    usual = scatter(3000, 53.5, -2.3, 0.01, (0, 392), seed=3)
    strays = pd.DataFrame({"occurred_on": [pd.Timestamp(END)] * 2, "latitude": [51.50135, -2.3],
                           "longitude": [-0.14189, 53.5]})  # London, and latitude and longitude swapped
    spots = hotspots(pd.concat([usual, strays]), WINDOWS)
    assert spots is not None and spots.n_outside == 2
    width = spots.grid.x_edges[-1] - spots.grid.x_edges[0]
    assert width < 15 and len(spots.grid.x_edges) <= 23 and len(spots.grid.y_edges) <= 23


def test_no_points_no_map() -> None:
    assert hotspots(scatter(0, 53.5, -2.3, 0.01, (0, 1), seed=4), WINDOWS) is None
    old = scatter(50, 53.5, -2.3, 0.01, (400, 500), seed=5)  # all before the usual window
    assert hotspots(old, WINDOWS) is None


def test_hotspot_map_is_a_png_of_the_printed_size() -> None:
    usual = scatter(2000, 53.5, -2.3, 0.01, (0, 392), seed=6)
    cluster = scatter(25, 53.51, -2.32, 0.0005, (0, 28), seed=7)
    ring = np.array([[-2.36, 53.46], [-2.24, 53.46], [-2.24, 53.54], [-2.36, 53.54], [-2.36, 53.46]])
    for frame in (usual, pd.concat([usual, cluster])):
        spots = hotspots(frame, WINDOWS, [ring])
        assert spots is not None
        png = hotspot_map(spots.grid)
        width_km = spots.grid.x_edges[-1] - spots.grid.x_edges[0]
        height_km = spots.grid.y_edges[-1] - spots.grid.y_edges[0]
        if spots.grid.shaded:  # the printed width, room for the colour bar
            width_in, height_in = MAP_WIDTH_IN, max(map_size(width_km, height_km)[1], 2.8) + 0.1
        else:  # nothing shaded: a compact map, no wider than itself
            width_in, height_in = (v + 0.1 for v in map_size(width_km, height_km, MAP_COMPACT_MAX_IN))
            assert width_in < MAP_WIDTH_IN / 2
        with Image.open(io.BytesIO(png)) as image:
            image.load()
            assert abs(image.size[0] - width_in * DPI) <= 1 and abs(image.size[1] - height_in * DPI) <= 1
            assert image.mode == "L"  # greys only
    assert plt.get_fignums() == []


def test_map_size_keeps_proportions() -> None:
    assert MAP_MAX_IN == (5.2, 4.3)
    assert map_size(10, 10) == (4.3, 4.3)
    assert map_size(20, 5) == (5.2, 1.3)
    assert map_size(5, 20) == (1.075, 4.3)


def boundary_config(tmp_path: Path, boundaries: object, key: str = "code") -> Config:
    (tmp_path / "areas.geojson").write_text(json.dumps(boundaries) if not isinstance(boundaries, str) else boundaries)
    return Config.model_validate({
        "organisation": {"name": "T", "slug": "t", "boundaries": "areas.geojson", "boundary_key": key},
        "units": [{"code": "A", "name": "A"}, {"code": "B", "name": "B"}], "measures": [], "sources": [],
        "base_dir": tmp_path})


def square(x: float, y: float) -> list[list[float]]:
    return [[x, y], [x + 1, y], [x + 1, y + 1], [x, y + 1], [x, y]]


def test_boundaries_are_read_from_geojson(tmp_path: Path) -> None:
    collection = {"type": "FeatureCollection", "features": [
        {"type": "Feature", "properties": {"ward": "A"}, "geometry": {"type": "Polygon", "coordinates": [
            square(0, 0), square(0.2, 0.2)]}},  # the hole is not drawn
        {"type": "Feature", "properties": {"ward": "B"}, "geometry": {"type": "MultiPolygon", "coordinates": [
            [square(5, 5)], [square(7, 7)]]}},
        {"type": "Feature", "properties": {"name": "no code"}, "geometry": {"type": "Polygon",
                                                                             "coordinates": [square(9, 9)]}},
        {"type": "Feature", "properties": {"ward": "C"}, "geometry": {"type": "Point", "coordinates": [1, 1]}},
    ]}
    config = boundary_config(tmp_path, collection, key="ward")
    a, b = unit_outlines(config, "A"), unit_outlines(config, "B")
    assert len(a) == 1 and a[0].tolist() == square(0, 0)
    assert [r[0].tolist() for r in b] == [[5, 5], [7, 7]]
    assert unit_outlines(config, "Z") == ()
    no_boundaries = config.model_copy(update={"organisation": config.organisation.model_copy(
        update={"boundaries": None})})
    assert unit_outlines(no_boundaries, "A") == ()


@pytest.mark.parametrize("content", ["{not json", "[1, 2]"])
def test_a_bad_boundary_file_is_a_config_error(tmp_path: Path, content: str) -> None:
    read_boundaries.cache_clear()
    config = boundary_config(tmp_path, content)
    with pytest.raises(ConfigError, match="organisation.boundaries"):
        unit_outlines(config, "A")


def test_a_missing_boundary_file_is_a_config_error(tmp_path: Path) -> None:
    config = boundary_config(tmp_path, {"type": "FeatureCollection", "features": []})
    (tmp_path / "areas.geojson").unlink()
    with pytest.raises(ConfigError, match=r"organisation.boundaries: cannot read .*areas.geojson"):
        unit_outlines(config, "A")


def test_load_points_reads_leaf_units_with_coordinates(small_config: Config, store_url: str) -> None:
    write_incidents(small_config, "ref,unit,when,offence,lat,lon\n"
                    "R1,A,2026-03-03 10:00,burglary,53.1,-2.1\n"
                    "R2,A,2026-03-03,burglary,,\n"  # no coordinates: not mapped
                    "R3,B,2025-02-09,robbery,53.2,-2.2\n"  # the day before the span: too old
                    "R4,B,2025-02-10,robbery,53.25,-2.25\n"  # the first day of the span
                    "R5,D1,2026-03-01,robbery,53.3,-2.3\n")  # a division, not an accountable unit
    period = parse_period("2026-W10", small_config.cadence)
    engine = connect(store_url)
    with transaction(engine) as session:
        ingest_all(session, small_config, TODAY, store_url)
        points = load_points(session, small_config, period)
        of_b = load_points(session, small_config, period, units=["B"])
        session.rollback()
    engine.dispose()
    assert points is not None and of_b is not None
    assert period.end - timedelta(days=MAP_DAYS - 1) == date(2025, 2, 10)
    rows = points.sort_values("occurred_on").astype({"unit_code": str}).to_dict(orient="records")
    assert rows == [
        {"unit_code": "B", "occurred_on": pd.Timestamp("2025-02-10"), "latitude": 53.25, "longitude": -2.25},
        {"unit_code": "A", "occurred_on": pd.Timestamp("2026-03-03"), "latitude": 53.1, "longitude": -2.1},
    ]
    assert list(points["unit_code"].cat.categories) == ["A", "B"]
    assert of_b.astype({"unit_code": str}).to_dict(orient="records") == rows[:1]  # the called units' only
    assert list(of_b["unit_code"].cat.categories) == ["A", "B"]


def test_no_points_without_coordinate_columns(small_config: Config) -> None:
    source = small_config.sources[0]
    plain = small_config.model_copy(update={"sources": [source.model_copy(update={
        "columns": source.columns.model_copy(update={"latitude": None, "longitude": None})})]})
    assert load_points(None, plain, parse_period("2026-W10", plain.cadence)) is None  # type: ignore[arg-type]
