"""Hostile dates (issue #17, item 1): a day-first extract read month-first without a word (``01/12/2026`` as
12 January), and times with a zone crashing ingest (``Mixed timezones detected``, ``Cannot compare tz-naive and
tz-aware``). Now a source declares its order (``sources[].dayfirst``, ``organisation.date_order``), an undeclared
file whose values read both ways is refused with examples, and a time with a zone is converted to
``organisation.timezone``, its day taken there (``compstat.ingest.dates``)."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from compstat.analysis.period_table import period_table
from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import analysis_start, cycle_figures
from compstat.errors import ConfigError, SourceError
from compstat.ingest import ingest_all
from compstat.ingest.mapping import map_rows
from compstat.ingest.readers import read_file
from compstat.periods import comparison_windows, parse_period
from compstat.store import connect
from tests.conftest import SMALL_CONFIG
from tests.test_ingest import INCIDENTS, TODAY

SOURCE_END = "record_id: ref}\n"
UK_INCIDENTS = re.sub(r"(\d{4})-(\d\d)-(\d\d)", r"\3/\2/\1", INCIDENTS)  # the same records, dd/mm/yyyy


def configured(folder: Path, source: str = "", organisation: str = "", incidents: str = INCIDENTS) -> Config:
    """The small config in ``folder`` with ``source`` keys added to its one source and ``organisation`` keys to
    its organisation, and ``incidents`` as its file."""
    text = SMALL_CONFIG.replace(SOURCE_END, SOURCE_END + "".join(f"    {k}\n" for k in source.split(";") if k))
    if organisation:
        text = text.replace("slug: testshire}", f"slug: testshire, {organisation}}}")
    (folder / "testshire.yaml").write_text(text, encoding="utf-8")
    (folder / "incidents.csv").write_text(incidents, encoding="utf-8")
    return load_config(folder / "testshire.yaml")


def period_tables(config: Config, db: Path) -> tuple[pd.DataFrame, list[tuple[int, int, int]]]:
    """Ingest ``config``'s file into a new store and compute the 2026-W10 period table (as the cycle does),
    with each input's (rows read, loaded, rejected)."""
    url = f"sqlite:///{db}"
    engine = connect(url)
    try:
        with Session(engine) as session:
            reports = ingest_all(session, config, TODAY, url)
            period = parse_period("2026-W10", config.cadence)
            figures = cycle_figures(session, config, period)
            table = period_table(figures.daily_between(analysis_start(config, period), period.end), config,
                                 comparison_windows(period, config.cadence), figures.data_start)
    finally:
        engine.dispose()
    return table, [(r.rows_read, r.rows_loaded, r.rows_rejected) for r in reports]


def mapped(config: Config, dates: list[str]) -> pd.DataFrame:
    """``dates`` as the ``when`` of otherwise good rows of ``config``'s source, mapped: the rows kept."""
    frame = pd.DataFrame({"ref": [f"R{i}" for i in range(len(dates))], "unit": "A", "when": dates,
                          "offence": "burglary", "lat": "", "lon": ""})
    return map_rows(frame, config.sources[0], config, "incidents.csv", 2, TODAY).observations


def test_a_uk_day_first_extract_and_an_iso_extract_give_identical_period_tables(tmp_path: Path) -> None:
    """The Done-when of #17. Before: ``dayfirst`` was an unknown key, and undeclared the UK file was read
    month first (05/01/2026 as 1 May, quarantined as in the future; 04/03/2025 as 3 April)."""
    (tmp_path / "iso").mkdir()
    (tmp_path / "uk").mkdir()
    iso, iso_counts = period_tables(configured(tmp_path / "iso"), tmp_path / "iso.db")
    uk, uk_counts = period_tables(configured(tmp_path / "uk", "dayfirst: true", incidents=UK_INCIDENTS),
                                  tmp_path / "uk.db")
    assert uk_counts == iso_counts == [(21, 18, 3)]
    pd.testing.assert_frame_equal(uk, iso)
    assert iso["current"].sum() > 0


def test_the_file_s_own_values_decide_when_they_can_with_a_note(tmp_path: Path) -> None:
    """Undeclared, the UK file still reads day first: 15/02/2026 can only be read that way and no value only
    month first. The report says so (and how to make it certain); the period table is the ISO file's."""
    (tmp_path / "iso").mkdir()
    (tmp_path / "uk").mkdir()
    iso, _ = period_tables(configured(tmp_path / "iso"), tmp_path / "iso.db")
    config = configured(tmp_path / "uk", incidents=UK_INCIDENTS)
    uk, _ = period_tables(config, tmp_path / "uk.db")
    pd.testing.assert_frame_equal(uk, iso)
    url = f"sqlite:///{tmp_path / 'again.db'}"
    engine = connect(url)
    with Session(engine) as session:
        note = ingest_all(session, config, TODAY, url)[0].note
    engine.dispose()
    assert note.startswith("dates read dd/mm/yyyy, day first: 2 values can only be read that way, e.g. "
                           "'15/02/2026' (line 5), '15/02/2026' (line 6)")
    assert "sources[0].dayfirst: true" in note


AMBIGUOUS = "ref,unit,when,offence,lat,lon\n" + "".join(
    f"R{i},A,{day},burglary,,\n" for i, day in enumerate(["03/03/2026", "05/01/2026", "01/03/2026 10:00",
                                                           "2026-03-02", "04/03/2026"]))


def test_an_ambiguous_undeclared_file_is_refused_with_examples(tmp_path: Path) -> None:
    """Before: loaded silently month first (05/01/2026 as 1 May: 'in the future'; 01/03/2026 as 3 January).
    Now the run stops before anything is stored: exit 2, one message naming the file, the ambiguous values
    with their lines and the keys to set; no traceback."""
    configured(tmp_path, incidents=AMBIGUOUS)
    db = tmp_path / "store.db"
    ran = CliRunner().invoke(app, ["run-cycle", "--config", str(tmp_path / "testshire.yaml"), "--db",
                                   f"sqlite:///{db}", "--period", "2026-W10", "--today", TODAY.isoformat(), "--out",
                                   str(tmp_path / "out"), "--workers", "1"])
    said = " ".join(ran.output.split())
    assert ran.exit_code == 2, ran.output
    assert "Traceback" not in ran.output and isinstance(ran.exception, SystemExit)
    assert (f"{tmp_path / 'incidents.csv'}: the dates in 'when' (source 'incidents') are ambiguous: 3 values read "
            "both as day/month and as month/day, e.g. '05/01/2026' (line 3), '01/03/2026 10:00' (line 4), "
            "'04/03/2026' (line 6), and no value decides which. Declare the order: sources[0].dayfirst: true "
            "(dd/mm/yyyy) or false (mm/dd/yyyy)") in said
    assert "organisation.date_order: day_first or month_first" in said
    assert not (tmp_path / "out" / "testshire" / "2026-W10").exists()


def test_values_that_contradict_each_other_are_refused(tmp_path: Path) -> None:
    """13/01/2026 can only be day first, 01/13/2026 only month first: no order fits the file."""
    config = configured(tmp_path)
    with pytest.raises(SourceError) as err:
        mapped(config, ["13/01/2026", "01/13/2026", "2026-01-05"])
    assert ("contradict each other: 1 value can only be day first, e.g. '13/01/2026' (line 2), and 1 value only "
            "month first, e.g. '01/13/2026' (line 3). Declare the order") in str(err.value)


def test_a_declared_order_reads_every_value_and_quarantines_what_does_not_fit(tmp_path: Path) -> None:
    """The source's dayfirst wins over the organisation's date_order; a value the declared order cannot read
    (01/13/2026 day first; 31/02/2026) is quarantined with its line, not read the other way."""
    config = configured(tmp_path, "dayfirst: false", "date_order: day_first")
    assert mapped(config, ["03/04/2026", "3.4.26", "2026/03/05"])["occurred_on"].tolist() == \
        ["2026-03-04", "2026-03-04", "2026-03-05"]
    config = configured(tmp_path, organisation="date_order: day_first")
    frame = pd.DataFrame({"ref": ["R1", "R2", "R3", "R4"], "unit": "A", "when": ["03/04/2025", "01/13/2026",
                                                                                   "31/02/2026", "3-4-2025 14:05"],
                          "offence": "burglary", "lat": "", "lon": ""})
    result = map_rows(frame, config.sources[0], config, "incidents.csv", 2, TODAY)
    assert result.observations["occurred_at"].tolist() == ["2025-04-03 00:00:00", "2025-04-03 14:05:00"]
    assert result.rejected["source_row"].tolist() == [3, 4]
    assert result.rejected["reason"].iloc[0] == ("date '01/13/2026' is not a date (expected a date such as "
                                                 "2026-11-23, 23/11/2026 (day first) or 2026-11-23 14:05)")


ZONED = ["2026-03-03 10:00", "2026-03-03T10:00:00Z", "2025-07-01T23:30:00Z", "2025-07-01T23:30:00+01:00",
         "2026-03-04T01:00:00-05:00", "01/07/2025 23:30:00+00:00"]


def test_times_with_and_without_a_zone_in_one_file_are_read_in_the_organisation_s_zone(tmp_path: Path) -> None:
    """Before: 'Mixed timezones detected' and a traceback. Now a zoned time is converted to Europe/London (the
    day taken there: 23:30 UTC on 1 July is 00:30 on 2 July); a naive one is already local."""
    config = configured(tmp_path, "dayfirst: true", "timezone: Europe/London")
    assert mapped(config, ZONED)["occurred_at"].tolist() == [
        "2026-03-03 10:00:00", "2026-03-03 10:00:00", "2025-07-02 00:30:00", "2025-07-01 23:30:00",
        "2026-03-04 06:00:00", "2025-07-02 00:30:00"]


def test_an_all_utc_file_is_counted_on_local_days(tmp_path: Path) -> None:
    """Before: the +00:00 was dropped, so a summer evening after 23:00 counted on the day before."""
    config = configured(tmp_path, organisation="timezone: Europe/London")
    assert mapped(config, ["2026-03-03T10:00:00+00:00", "2025-07-01T23:30:00+00:00"])["occurred_on"].tolist() == \
        ["2026-03-03", "2025-07-02"]
    config = configured(tmp_path, organisation="timezone: America/New_York")
    assert mapped(config, ["2026-03-03T03:00:00Z"])["occurred_on"].tolist() == ["2026-03-02"]


def test_a_parquet_timestamp_with_a_zone_is_converted(tmp_path: Path) -> None:
    config = configured(tmp_path, organisation="timezone: Europe/London")
    path = tmp_path / "incidents.parquet"
    when = pd.to_datetime(["2026-03-03 10:00", "2025-07-01 23:30"]).tz_localize("UTC")
    pd.DataFrame({"ref": ["R1", "R2"], "unit": "A", "when": when, "offence": "burglary", "lat": [53.1, 53.1],
                  "lon": [-2.1, -2.1]}).to_parquet(path)
    source = config.sources[0].model_copy(update={"path": str(path)})
    raw = read_file(source, path)
    result = map_rows(raw.frame, source, config, raw.location, raw.first_line, TODAY)
    assert result.observations["occurred_at"].tolist() == ["2026-03-03 10:00:00", "2025-07-02 00:30:00"]
    assert result.rejected.empty


def test_times_with_a_zone_and_no_organisation_timezone_are_refused(tmp_path: Path) -> None:
    """The day of a zoned time depends on the zone: without organisation.timezone the file is refused (exit 2,
    one line, the values and their lines), not read as if the zone were the organisation's."""
    configured(tmp_path, incidents=INCIDENTS.replace("2026-03-03 11:30", "2026-03-03T11:30:00Z"))
    ran = CliRunner().invoke(app, ["check", "--config", str(tmp_path / "testshire.yaml"), "--db",
                                   f"sqlite:///{tmp_path / 'store.db'}", "--today", TODAY.isoformat()])
    said = " ".join(ran.output.split())
    assert ran.exit_code == 2, ran.output
    assert "Traceback" not in ran.output
    assert ("the dates in 'when' (source 'incidents'): 1 value carries a time zone or UTC offset, e.g. "
            "'2026-03-03T11:30:00Z' (line 3): set organisation.timezone") in said


@pytest.mark.parametrize(("source", "organisation", "message"), [
    ("", "timezone: Europe/Londres", "organisation.timezone: 'Europe/Londres' is not a time zone name"),
    ("date_format: '%Y-%m-%d %H:%M%z'", "", "date_format reads a time zone (%z or %Z): set organisation.timezone"),
    ("dayfirst: true;date_format: '%d/%m/%Y'", "", "give either date_format (the exact format) or dayfirst"),
    ("", "date_order: uk", "organisation.date_order: Input should be 'day_first' or 'month_first'"),
])
def test_date_settings_are_checked_with_the_config(tmp_path: Path, source: str, organisation: str,
                                                   message: str) -> None:
    with pytest.raises(ConfigError) as err:
        configured(tmp_path, source, organisation)
    assert message in str(err.value)


def test_rows_read_again_for_a_finding_are_read_in_the_file_s_order(tmp_path: Path) -> None:
    """The validity check reads the dates of rows of unknown units again: in the order the file decided (here
    day first, from 15/02/2026), 05/01/2026 is 5 January. Before: 1 May, and the finding's span ran to May."""
    configured(tmp_path, incidents=UK_INCIDENTS + "R40,Z9,05/01/2026,burglary,,\nR41,Z9,15/02/2026,burglary,,\n")
    ran = CliRunner().invoke(app, ["check", "--config", str(tmp_path / "testshire.yaml"), "--db",
                                   f"sqlite:///{tmp_path / 'store.db'}", "--period", "2026-W10", "--today",
                                   TODAY.isoformat(), "--out", str(tmp_path / "q.html"), "--verbose"])
    assert ran.exit_code in (0, 1), ran.output
    assert ("'Z9' in 'unit' (incidents) is not a unit in the config: 2 rows from 2026-01-05 to 2026-02-15"
            in " ".join(ran.output.split()))


def test_day_and_month_written_another_way_are_not_guessed(tmp_path: Path) -> None:
    """Before: 'Tue 03/04/2026' and '3/4' went to pandas' per-value parser and were read month first (4 March,
    3 April); now they are quarantined as not dates. Written forms with a month name are still read."""
    config = configured(tmp_path)
    frame = pd.DataFrame({"ref": ["R1", "R2", "R3"], "unit": "A", "when": ["Tue 03/04/2026", "3/4", "4 March 2026"],
                          "offence": "burglary", "lat": "", "lon": ""})
    result = map_rows(frame, config.sources[0], config, "incidents.csv", 2, TODAY)
    assert result.observations["occurred_on"].tolist() == ["2026-03-04"]
    assert result.rejected["source_row"].tolist() == [2, 3]
