"""Conventions and friction (issue #10 part 6): decimal-comma sources, a bad coordinate that does not
drop its record, pre-aggregated weekly totals across 1 January, numbers given as codes in the config, and
grouped warnings."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compstat.config import Config, load_config
from compstat.errors import ConfigError
from compstat.ingest import ingest_all, quarantined_rows
from compstat.ingest.mapping import COUNTED_WITHOUT_COORDINATES, map_rows, parse_numbers
from compstat.ingest.readers import read_file
from compstat.quality.checks import Validity
from compstat.store import connect, transaction
from tests.test_quality_checks import context, records, rejected

TODAY = date(2026, 3, 10)

# --- decimal commas --------------------------------------------------------------------------------

COMMA_CONFIG = """\
organisation: {name: Testshire Police, slug: testshire}
units:
  - {code: A, name: Alpha}
  - {code: B, name: Bravo}
measures:
  - {id: burglary, name: Burglary, filter: {category: burglary}}
sources:
  - name: counts
    path: counts.csv
    decimal: ","
    columns: {unit: unidad, date: fecha, category: delito, value: total, latitude: lat, longitude: lon}
"""

COMMA_FILE = """\
unidad;fecha;delito;total;lat;lon
A;2026-03-02;burglary;4;6,25722555;-75,569854
A;2026-03-03;burglary;1.234,5;6,2;-75,6
B;2026-03-03;burglary;2,5;NA;-75,6
B;2026-03-04;burglary;3;6,3;-75.61
B;2026-03-05;burglary;12.5;6,3;-75,6
B;2026-03-06;burglary;1;95,0;-75,6
A;2026-03-06;burglary;2;;
"""


@pytest.fixture
def comma_config(tmp_path: Path) -> Config:
    path = tmp_path / "comma.yaml"
    path.write_text(COMMA_CONFIG, encoding="utf-8")
    (tmp_path / "counts.csv").write_text(COMMA_FILE, encoding="utf-8")
    return load_config(path)


def test_parse_numbers_with_either_decimal_mark() -> None:
    text = pd.Series(["-75,5698", "1.234,5", "12.5", "1 234,5", "7", "abc", ""])
    comma = parse_numbers(text, ",").tolist()
    assert comma[:5] == [-75.5698, 1234.5, pytest.approx(np.nan, nan_ok=True), 1234.5, 7.0]
    assert all(np.isnan(v) for v in comma[5:])
    dot = parse_numbers(pd.Series(["-75.5698", "1,234.5", "-75,5698"]), ".").tolist()
    assert dot == [-75.5698, 1234.5, -755698.0]  # a comma is a thousands separator by default
    assert np.isnan(parse_numbers(pd.Series(["-75,5698"]), ".", thousands=False).iloc[0])  # coordinates


def test_decimal_comma_file_is_read_with_semicolons(comma_config: Config) -> None:
    """Rows 2-8 (file lines): values 4, 1,234.5, 2.5, 3, '12.5' (not a number in a decimal-comma file),
    1 and 2. Line 4's latitude 'NA', line 5's longitude '-75.61' (a decimal point) and line 7's latitude
    95 cannot be used: those rows are counted without coordinates and kept with the reason."""
    source = comma_config.sources[0]
    raw = read_file(source, comma_config.resolve_path("counts.csv"))
    assert list(raw.frame.columns) == ["unidad", "fecha", "delito", "total", "lat", "lon"]  # ';' by default
    mapped = map_rows(raw.frame, source, comma_config, raw.location, raw.first_line, TODAY)
    obs = mapped.observations.set_index("source_row")
    assert obs["value"].to_dict() == {2: 4.0, 3: 1234.5, 4: 2.5, 5: 3.0, 7: 1.0, 8: 2.0}
    assert (obs.loc[2, "latitude"], obs.loc[2, "longitude"]) == (6.25722555, -75.569854)
    assert obs.loc[[4, 5, 7, 8], "latitude"].isna().all() and obs.loc[[4, 5, 7, 8], "longitude"].isna().all()
    assert mapped.rejected[["source_row", "field", "reason"]].values.tolist() == [
        [6, "total", "value '12.5' is not a number"]]
    assert mapped.flagged[["source_row", "field", "reason"]].values.tolist() == [
        [4, "lat", "latitude 'NA' is not a number" + COUNTED_WITHOUT_COORDINATES],
        [5, "lon", "longitude '-75.61' is not a number" + COUNTED_WITHOUT_COORDINATES],
        [7, "lat", "latitude 95.0 is outside -90..90" + COUNTED_WITHOUT_COORDINATES],
    ]
    assert json.loads(mapped.flagged["raw"].iloc[0])["lat"] == "NA"


def test_flagged_coordinates_are_stored_and_reported_but_counted(comma_config: Config, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'comma.db'}"
    engine = connect(url)
    with transaction(engine) as session:
        report = ingest_all(session, comma_config, TODAY, url)[0]
        kept = quarantined_rows(session, "testshire")
    engine.dispose()
    assert (report.rows_read, report.rows_loaded, report.rows_rejected) == (7, 6, 1)
    assert kept["row"].tolist() == [4, 5, 6, 7]  # the rejected row and the three counted without coordinates


def test_validity_reports_rows_counted_without_coordinates(small_config: Config) -> None:
    flagged = rejected(
        (20, "lat", "latitude 'abc' is not a number" + COUNTED_WITHOUT_COORDINATES, {"unit": "B", "lat": "abc"}),
        (22, "lat", "latitude 95.0 is outside -90..90" + COUNTED_WITHOUT_COORDINATES, {"unit": "B", "lat": "95"}),
        (25, "lon", "longitude 'x' is not a number" + COUNTED_WITHOUT_COORDINATES, {"unit": "A", "lon": "x"}))
    found = Validity().run(context(small_config, records(), rejected=flagged))
    assert len(found) == 1  # not also a "quarantined, not counted" finding
    f = found[0]
    assert (f.check, f.severity, f.rows, f.units) == ("validity", "warning", 3, {"A": 1, "B": 2})
    assert f.message.startswith("3 rows of incidents.csv (lines 20, 22 and 25) have a coordinate that cannot be "
                                "read: 2 in 'lat' (e.g. latitude 'abc' is not a number); 1 in 'lon' (e.g. "
                                "longitude 'x' is not a number). They are counted in the figures, without "
                                "coordinates, so missing from the maps.")


MEDELLIN_CONFIG = """\
organisation: {name: Medellín, slug: medellin}
units:
  - {code: MED, name: Medellín}
measures:
  - {id: firearm, name: Firearm homicides, filter: {category: Arma de fuego}}
sources:
  - name: homicides
    path: {path}
    decimal: ","
    unit: MED
    columns: {date: fecha_hecho, category: modalidad, latitude: latitud, longitude: longitud}
"""


def test_real_medellin_file_counts_every_record(shared_dir: Path, tmp_path: Path) -> None:
    """Every one of the 9,360 homicides is counted; the records whose coordinates pandas cannot read as
    decimal-comma numbers (read independently with pandas' own ``decimal=','``) are the ones flagged."""
    data = shared_dir / "data" / "medellin_homicides.csv"
    config_path = tmp_path / "medellin.yaml"
    config_path.write_text(MEDELLIN_CONFIG.replace("{path}", str(data)), encoding="utf-8")
    config = load_config(config_path)
    source = config.sources[0]
    raw = read_file(source, data)
    mapped = map_rows(raw.frame, source, config, raw.location, raw.first_line, date(2026, 12, 1))

    independent = pd.read_csv(data, sep=";", decimal=",", dtype={"sexo": str, "modalidad": str})
    unreadable = independent["latitud"].isna() | independent["longitud"].isna()
    assert len(independent) == 9360 and int(unreadable.sum()) == 81
    assert (len(mapped.observations), len(mapped.rejected), len(mapped.flagged)) == (9360, 0, 81)
    assert sorted(mapped.flagged["source_row"]) == [i + 2 for i in independent.index[unreadable]]
    assert set(mapped.flagged["reason"]) == {"latitude 'NA' is not a number" + COUNTED_WITHOUT_COORDINATES}  # both NA
    obs = mapped.observations.sort_values("source_row").reset_index(drop=True)
    assert np.allclose(obs["latitude"].dropna(), independent["latitud"].dropna())
    assert np.allclose(obs["longitude"].dropna(), independent["longitud"].dropna())
    assert (obs["unit_code"] == "MED").all()
    assert obs.loc[0, "occurred_at"] == "2019-04-23 12:30:00"  # the 'Z' suffix is dropped, the time kept
    assert int((obs["category"] == "Arma de fuego").sum()) == int((independent["modalidad"] == "Arma de fuego").sum())


def test_a_source_wide_unit_must_be_an_accountable_unit(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(MEDELLIN_CONFIG.replace("{path}", "x.csv").replace("unit: MED", "unit: NOPE"), encoding="utf-8")
    with pytest.raises(ConfigError, match="source 'homicides': unit 'NOPE' is not an accountable unit"):
        load_config(path)
    both = MEDELLIN_CONFIG.replace("{path}", "x.csv").replace("columns: {date", "columns: {unit: u, date")
    path.write_text(both, encoding="utf-8")
    with pytest.raises(ConfigError, match="give either columns.unit .* or unit"):
        load_config(path)
