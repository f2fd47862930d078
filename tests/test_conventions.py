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
  - {id: loss, name: Value stolen, kind: value, aggregate: sum, filter: {category: theft}}
sources:
  - name: counts
    path: counts.csv
    decimal: ","
    columns: {unit: unidad, date: fecha, category: delito, value: total, latitude: lat, longitude: lon}
"""

COMMA_FILE = """\
unidad;fecha;delito;total;lat;lon
A;2026-03-02;burglary;4;6,25722555;-75,569854
A;2026-03-03;theft;1.234,5;6,2;-75,6
B;2026-03-03;theft;2,5;NA;-75,6
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
    """Rows 2-8 (file lines): values 4, 1,234.5, 2.5 (both thefts, read by a value measure: fractions allowed),
    3, '12.5' (not a number in a decimal-comma file), 1 and 2. Line 4's latitude 'NA', line 5's longitude
    '-75.61' (a decimal point) and line 7's latitude 95 cannot be used: those rows are counted without
    coordinates and kept with the reason."""
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


def test_decimal_applies_to_text_files_only(comma_config: Config, tmp_path: Path) -> None:
    """An Excel sheet gives numbers, not text in the file's decimal mark: 2.5 stays 2.5 under decimal ','."""
    path = tmp_path / "counts.xlsx"
    pd.DataFrame({"unidad": ["A"], "fecha": ["2026-03-02"], "delito": ["theft"], "total": [2.5],
                  "lat": [6.25], "lon": [-75.5]}).to_excel(path, index=False)
    source = comma_config.sources[0].model_copy(update={"path": str(path)})
    raw = read_file(source, path)
    mapped = map_rows(raw.frame, source, comma_config, raw.location, raw.first_line, TODAY)
    assert mapped.observations[["value", "latitude", "longitude"]].values.tolist() == [[2.5, 6.25, -75.5]]


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
    date_format: "%Y-%m-%dT%H:%M:%SZ"  # as config/medellin.yaml: the times as written (a zone would be converted)
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
    assert obs.loc[0, "occurred_at"] == "2019-04-23 12:30:00"  # date_format's literal 'Z': the time as written
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
    neither = MEDELLIN_CONFIG.replace("{path}", "x.csv").replace("    unit: MED\n", "")
    path.write_text(neither, encoding="utf-8")
    with pytest.raises(ConfigError, match="sources.0: columns.unit is missing: name the column"):
        load_config(path)


# --- pre-aggregated weekly totals across 1 January -------------------------------------------------

WEEKLY_CONFIG = """\
organisation: {name: Testshire Police, slug: testshire}
units:
  - {code: A, name: Alpha}
measures:
  - {id: burglary, name: Burglary, filter: {category: burglary}}
sources:
  - name: weekly
    path: weekly.csv
    date_is: DATE_IS
    columns: {unit: unit, date: week, category: offence, value: count}
"""
# Monday weeks: 2025-W01 = 30 Dec 2024 - 5 Jan 2025; 2026-W01 = 29 Dec 2025 - 4 Jan 2026; 2026-W02 = 5-11 Jan;
# 2026-W53 = 28 Dec 2026 - 3 Jan 2027; 2027-W01 = 4-10 Jan 2027. (week start, week end, total)
WEEKS = [("2024-12-30", "2025-01-05", 5), ("2025-12-29", "2026-01-04", 7), ("2026-01-05", "2026-01-11", 2),
         ("2026-12-28", "2027-01-03", 11), ("2027-01-04", "2027-01-10", 3)]


def weekly_table(tmp_path: Path, date_is: str, dated_by: str, period: str) -> pd.DataFrame:
    from compstat.analysis.measures import daily_by_category
    from compstat.analysis.period_table import period_table
    from compstat.figures import daily_measures
    from compstat.periods import comparison_windows, parse_period

    tmp_path.mkdir(parents=True, exist_ok=True)
    path = tmp_path / "weekly.yaml"
    path.write_text(WEEKLY_CONFIG.replace("DATE_IS", date_is), encoding="utf-8")
    lines = ["unit,week,offence,count"] + [f"A,{start if dated_by == 'start' else end},burglary,{n}"
                                           for start, end, n in WEEKS]
    (tmp_path / "weekly.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    config = load_config(path)
    url = f"sqlite:///{tmp_path / 'weekly.db'}"
    engine = connect(url)
    when = parse_period(period, config.cadence)
    with transaction(engine) as session:
        ingest_all(session, config, date(2027, 1, 20), url)
        daily = daily_measures(daily_by_category(session, "testshire", date(2024, 1, 1), when.end), config)
    engine.dispose()
    table = period_table(daily, config, comparison_windows(when, config.cadence))
    return table[table["unit_code"] == "A"].set_index("window")[["current", "previous"]]


# (date_is, the file dates each week by its start or end) -> {period: (week, ytd current, ytd last year)}
STRADDLE = {
    ("day", "end"): {"2026-W01": (7, 7, 0), "2026-W53": (11, 9, 5), "2027-W01": (3, 14, 7)},
    ("day", "start"): {"2026-W01": (7, 0, 0), "2026-W53": (11, 13, 7), "2027-W01": (3, 3, 2)},
    ("week", "end"): {"2026-W01": (7, 7, 5), "2026-W53": (11, 20, 5), "2027-W01": (3, 3, 9)},
    ("week", "start"): {"2026-W01": (7, 7, 5), "2026-W53": (11, 20, 5), "2027-W01": (3, 3, 9)},
}


@pytest.mark.parametrize(("date_is", "dated_by"), list(STRADDLE))
def test_weekly_totals_across_1_january(tmp_path: Path, date_is: str, dated_by: str) -> None:
    """Worked by hand. ``date_is: day``: a weekly total counts in the year to date of the year its date falls
    in. Dated by week end, 2026-W01's 7 (dated 4 Jan 2026) counts in 2026, but 2025-W01's 5 (dated 5 Jan 2025)
    is after last year's 1-4 January, so 7 against 0; 2026-W53's 11 (dated 3 Jan 2027) is left out of 2026
    (7 + 2 = 9) and counted in 2027-W01's year to date (11 + 3 = 14, against 7 on 4 Jan 2026). Dated by week
    start, 2026-W01's 7 (29 Dec 2025) falls in 2025: 2026-W01's year to date is 0, and 2026's is 2 + 11 = 13
    against the 7 in the whole of 2025.
    ``date_is: week``: each total counts on its week's Thursday, in the year its week belongs to, whichever
    day dates it: 2026-W01 7 against 5; 2026 is 7 + 2 + 11 = 20 against 5; 2027-W01 3 against 7 + 2 = 9.
    The week itself is the weekly total in every case."""
    for period, (week, ytd, last_ytd) in STRADDLE[(date_is, dated_by)].items():
        table = weekly_table(tmp_path / period, date_is, dated_by, period)
        assert table.loc["period", "current"] == week, period
        assert (table.loc["ytd", "current"], table.loc["ytd", "previous"]) == (ytd, last_ytd), period


def test_week_totals_are_counted_on_the_middle_of_their_week() -> None:
    from compstat.ingest.mapping import week_middle

    days = pd.Series(pd.to_datetime(["2025-12-29 00:00", "2026-01-04 23:00", "2027-01-03 00:00", "2026-01-01 00:00"]))
    assert week_middle(days, 0).dt.strftime("%Y-%m-%d").tolist() == [
        "2026-01-01", "2026-01-01", "2026-12-31", "2026-01-01"]
    sunday = week_middle(days, 6)  # Sunday weeks: 28 Dec 2025 - 3 Jan 2026 holds 29 Dec and 1 Jan
    assert sunday.dt.strftime("%Y-%m-%d").tolist() == ["2025-12-31", "2026-01-07", "2027-01-06", "2025-12-31"]


def test_date_is_week_needs_a_weekly_cadence(tmp_path: Path) -> None:
    path = tmp_path / "monthly.yaml"
    path.write_text(WEEKLY_CONFIG.replace("DATE_IS", "week").replace("units:", "cadence: {period: monthly}\nunits:"),
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="source 'weekly': date_is: week needs cadence.period: weekly"):
        load_config(path)


# --- codes written as numbers in the config --------------------------------------------------------

NUMBER_CODES = """\
organisation: {name: X, slug: x}
units:
  - code: D1
    name: D
    children:
      - {code: "000", name: Zero}
      - {code: 001, name: One}
      - {code: 002, name: Two}
      - {code: 010, name: Ten}
      - {code: 12, name: Twelve}
measures:
  - {id: burglary, name: Burglary, target: {value: 5, units: {001: 3}}}
sources:
  - {name: s, path: x.csv, columns: {unit: u, date: d}, unit_map: {Central: "001"}}
"""


def test_codes_written_as_numbers_are_one_error_with_a_hint(tmp_path: Path) -> None:
    """``001`` unquoted is the number 1 to YAML (``010`` is octal 8): the first such value is named with the
    hint, the others are counted on one line, not one unexplained 'valid string' error each."""
    path = tmp_path / "codes.yaml"
    path.write_text(NUMBER_CODES, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert lines[0] == "invalid config"
    assert lines[1].strip() == (f"{path}:7: units.0.children.1.code: 1 is a number; quote it ('001') if the "
                                "code has leading zeros")
    assert lines[2].strip() == (f"{path}: and 4 more text values written as numbers, quote each: "
                                "units.0.children.2.code (line 8), units.0.children.3.code (line 9), "
                                "units.0.children.4.code (line 10), measures.0.target.units.1 (a key) (line 12)")
    assert len(lines) == 3 and "valid string" not in str(caught.value)


def test_a_number_read_in_octal_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "octal.yaml"
    path.write_text(NUMBER_CODES.replace("{code: 001, name: One}", "{code: \"001\", name: One}").replace(
        "{code: 002, name: Two}", "{code: \"002\", name: Two}"), encoding="utf-8")
    with pytest.raises(ConfigError, match=r"units.0.children.3.code: 8 is a number \(YAML reads 010 as 8\); "
                                          r"quote it \('010'\) if the code has leading zeros"):
        load_config(path)


def test_cli_exits_2_with_the_hint(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from compstat.cli import app

    path = tmp_path / "codes.yaml"
    path.write_text(NUMBER_CODES, encoding="utf-8")
    result = CliRunner().invoke(app, ["check", "--config", str(path)])
    assert result.exit_code == 2
    assert "1 is a number; quote it ('001') if the code has leading zeros" in result.output
    assert "Traceback" not in result.output and result.output.count("is a number") == 1


# --- warnings grouped by check ---------------------------------------------------------------------


def test_findings_are_grouped_by_check_with_counts() -> None:
    from compstat.quality import Finding
    from compstat.quality.summary import finding_sections, settings_lines

    many = [Finding("completeness", "warning", f"N{i}: burglary is low", unit_code=f"N{i}") for i in range(1, 12)]
    few = [Finding("validity", "warning", "3 rows of x.csv quarantined", units={"A": 3}),
           Finding("validity", "info", "2 rows have no coordinates")]
    sections = finding_sections(many + few)
    assert [(s.heading, s.summarised) for s in sections] == [("Quality warning (12)", 11), ("Quality info (1)", 0)]
    assert sections[0].lines == (
        "completeness: 11 warnings (units N1, N2, N3, N4, N5, N6, N7, N8 and 3 more); e.g. N1: burglary is low",
        "validity: 3 rows of x.csv quarantined")
    assert sections[1].lines == ("validity: 2 rows have no coordinates",)
    verbose = finding_sections(many + few, verbose=True)
    assert len(verbose[0].lines) == 12 and verbose[0].summarised == 0
    notes = [f"analysis.peer_variables: unit U{i} has no population: x" for i in range(6)] + ["units[].population: y"]
    assert settings_lines(notes) == ["analysis.peer_variables: 6 warnings; e.g. unit U0 has no population: x",
                                     "units[].population: y"]
    assert settings_lines(notes, verbose=True) == notes


UNKNOWN_UNITS = "".join(f"R{40 + i},Z{i},2026-03-0{i},burglary,53.2,-2.2\n" for i in range(1, 6))


def test_check_prints_findings_grouped_and_every_line_with_verbose(small_config_path: Path, small_config: Config,
                                                                    tmp_path: Path) -> None:
    """Five more unknown units (Z1-Z5) make eight validity warnings (the quarantined rows, the two rows counted
    without coordinates, and one per unknown unit Z, Z1-Z5): one line with the count, or all with --verbose."""
    from typer.testing import CliRunner

    from compstat.cli import app
    from tests.test_ingest import INCIDENTS, write_incidents

    write_incidents(small_config, INCIDENTS + UNKNOWN_UNITS)
    args = ["check", "--config", str(small_config_path), "--db", f"sqlite:///{tmp_path / 'c.db'}", "--period",
            "2026-W10", "--today", "2026-03-10", "--out", str(tmp_path / "q.html")]
    grouped = CliRunner().invoke(app, args)
    assert grouped.exit_code in (0, 1), grouped.output
    summary = next(line for line in grouped.output.splitlines() if "validity: " in line and " warnings (" in line)
    assert summary.strip().startswith("validity: 8 warnings (units B, Z, Z1, Z2, Z3, Z4 and Z5); e.g. 2 rows of ")
    assert "findings summarised by check: run with --verbose for every line" in grouped.output
    assert "'Z3' in 'unit'" not in grouped.output.replace(summary, "")
    verbose = CliRunner().invoke(app, [*args, "--verbose"])
    assert all(f"'Z{i}' in 'unit' (incidents) is not a unit in the config" in verbose.output for i in range(1, 6))
    warnings = verbose.output.split("Quality warning")[1].split("Quality info")[0].splitlines()
    assert sum(line.startswith("  validity: ") for line in warnings) == 8
    assert "summarised" not in verbose.output


def test_run_cycle_prints_the_settings_warnings(tmp_path: Path) -> None:
    """Bravo has no population while Alpha has one: the analysis warns that its counts are not compared with
    peers; run-cycle stored that warning but did not print it."""
    from typer.testing import CliRunner

    from compstat.cli import app
    from tests.conftest import SMALL_CONFIG
    from tests.test_ingest import write_incidents

    path = tmp_path / "testshire.yaml"
    path.write_text(SMALL_CONFIG.replace(", population: 80000", ""), encoding="utf-8")
    write_incidents(load_config(path))
    result = CliRunner().invoke(app, [
        "run-cycle", "--config", str(path), "--db", f"sqlite:///{tmp_path / 'r.db'}", "--period", "2026-W10",
        "--out", str(tmp_path / "out"), "--today", "2026-03-10", "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert "Settings warnings (1)" in result.output
    assert "  units[].population: unit B has no population: their counts are not compared with peers" in (
        result.output)


# --- cadence.prior_year everywhere the windows are read --------------------------------------------


def test_same_dates_in_the_period_table_and_the_quality_windows(small_config: Config, tmp_path: Path) -> None:
    """tests/test_ingest.py's rows, 2026-W10 (Mon 2 - Sun 8 Mar 2026). Alpha's burglaries last year: R7 on
    Tue 4 Mar 2025, R8 on Sun 9 Mar 2025, R9-R12 on 1 Feb 2025. By weekday last year's week is 3-9 Mar 2025
    (R7, R8: 2) and its 28 days 10 Feb - 9 Mar 2025 (2); by the same dates the week is 2-8 Mar 2025 (R7: 1)
    and the 28 days 9 Feb - 8 Mar 2025 (1). The year to date is by dates either way (5)."""
    from compstat.analysis.measures import daily_by_category
    from compstat.analysis.period_table import period_table
    from compstat.figures import daily_measures
    from compstat.periods import comparison_windows, parse_period
    from tests.test_ingest import write_incidents

    write_incidents(small_config)
    url = f"sqlite:///{tmp_path / 'p.db'}"
    engine = connect(url)
    with transaction(engine) as session:
        ingest_all(session, small_config, TODAY, url)
        by_category = daily_by_category(session, "testshire", date(2024, 1, 1), date(2026, 3, 8))
    engine.dispose()
    previous = {}
    for rule in ("same_weekday", "same_dates"):
        cadence = small_config.cadence.model_copy(update={"prior_year": rule})
        config = small_config.model_copy(update={"cadence": cadence})
        windows = comparison_windows(parse_period("2026-W10", cadence), cadence)
        table = period_table(daily_measures(by_category, config), config, windows)
        alpha = table[(table["unit_code"] == "A") & (table["measure_id"] == "burglary")].set_index("window")
        previous[rule] = alpha["previous"].to_dict()
        ctx = context(config, records())
        assert [(w.prev_start, w.prev_end) for w in ctx.windows] == [(w.prev_start, w.prev_end) for w in windows]
    assert previous == {"same_weekday": {"period": 2, "28d": 2, "ytd": 5},
                        "same_dates": {"period": 1, "28d": 1, "ytd": 5}}
