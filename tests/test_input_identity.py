"""An input's identity is its source and its content, not its path (issue #16): a moved, copied or
symlinked file adds nothing; a moved project gives the same figures; rows another input already
holds are counted once, at any volume."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import judge_cycle
from compstat.ingest import IngestReport, ingest_all
from compstat.periods import parse_period
from compstat.store import IngestedFile, Observation, RejectedRow, connect, transaction
from tests.conftest import SMALL_CONFIG
from tests.test_quality_cycle import TODAY, incidents

PERIOD = "2026-W10"


def project(root: Path, path: str = "site_a/incidents.csv", extra: str = "") -> Path:
    """The small config at ``root``, its incidents source at ``path`` (relative to the config)."""
    root.mkdir(parents=True, exist_ok=True)
    config = root / "testshire.yaml"
    config.write_text(SMALL_CONFIG.replace("path: incidents.csv", f"path: '{path}'") + extra, encoding="utf-8")
    return config


def ingest(config: Config, url: str) -> list[IngestReport]:
    engine = connect(url)
    try:
        with transaction(engine) as session:
            return ingest_all(session, config, TODAY, url)
    finally:
        engine.dispose()


def count(url: str, table: type = Observation) -> int:
    engine = connect(url)
    try:
        with transaction(engine) as session:
            return int(session.scalar(select(func.count()).select_from(table)) or 0)
    finally:
        engine.dispose()


def period_table(config: Config, url: str) -> bytes:
    """The cycle's period table as ``run-cycle`` writes it (``period_table.csv``), without the packs."""
    engine = connect(url)
    try:
        with transaction(engine) as session:
            data, _ = judge_cycle(session, config, parse_period(PERIOD, config.cadence), TODAY, url)
    finally:
        engine.dispose()
    return data.table.to_csv(index=False, float_format="%.6g").encode()


def test_same_bytes_at_a_new_path_add_nothing_and_the_move_is_reported(tmp_path: Path, store_url: str) -> None:
    config_path = project(tmp_path)
    (tmp_path / "site_a").mkdir()
    old = tmp_path / "site_a" / "incidents.csv"
    old.write_text(incidents(), encoding="utf-8")
    [first] = ingest(load_config(config_path), store_url)
    rows = count(store_url)
    assert first.status == "loaded" and rows == first.rows_loaded
    (tmp_path / "site_b").mkdir()
    new = tmp_path / "site_b" / "incidents.csv"
    shutil.move(old, new)
    config_path = project(tmp_path, "site_b/incidents.csv")
    [moved] = ingest(load_config(config_path), store_url)
    assert (moved.status, moved.location, moved.rows_loaded) == ("moved", str(new), 0)
    assert moved.note == f"same content as {old}, moved: nothing added"
    assert count(store_url) == rows  # never counted twice
    engine = connect(store_url)
    with transaction(engine) as session:  # the path change is recorded
        assert list(session.scalars(select(IngestedFile.path))) == [str(new)]
    engine.dispose()
    assert ingest(load_config(config_path), store_url)[0].status == "unchanged"


def test_run_cycle_says_the_input_moved(tmp_path: Path) -> None:
    config_path = project(tmp_path)
    (tmp_path / "site_a").mkdir()
    (tmp_path / "site_a" / "incidents.csv").write_text(incidents(), encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'store.db'}"
    ingest(load_config(config_path), db)
    (tmp_path / "site_b").mkdir()
    shutil.move(tmp_path / "site_a" / "incidents.csv", tmp_path / "site_b" / "incidents.csv")
    config_path = project(tmp_path, "site_b/incidents.csv")
    ran = CliRunner().invoke(app, ["run-cycle", "--config", str(config_path), "--db", db, "--period", PERIOD,
                                   "--out", str(tmp_path / "out"), "--today", TODAY.isoformat(), "--workers", "1"])
    assert ran.exit_code == 0, ran.output
    assert "0 new input(s), 0 rows loaded" in ran.output
    assert (f"{tmp_path / 'site_b' / 'incidents.csv'}: same content as {tmp_path / 'site_a' / 'incidents.csv'}, "
            "moved: nothing added") in " ".join(ran.output.split())


def test_a_symlink_or_another_mount_of_the_same_file_adds_nothing(tmp_path: Path, store_url: str) -> None:
    (tmp_path / "site_a").mkdir()
    (tmp_path / "site_a" / "incidents.csv").write_text(incidents(), encoding="utf-8")
    ingest(load_config(project(tmp_path)), store_url)
    rows = count(store_url)
    (tmp_path / "link.csv").symlink_to(tmp_path / "site_a" / "incidents.csv")
    (tmp_path / "mounted").symlink_to(tmp_path / "site_a", target_is_directory=True)
    for path in ("link.csv", "mounted/incidents.csv", "site_a/incidents.csv"):
        [report] = ingest(load_config(project(tmp_path, path)), store_url)
        assert report.status == "moved" and report.rows_loaded == 0, path
        assert count(store_url) == rows


def test_two_copies_found_in_one_run_are_loaded_once(tmp_path: Path, store_url: str) -> None:
    for site in ("site_a", "site_b"):
        (tmp_path / site).mkdir()
        (tmp_path / site / "incidents.csv").write_text(incidents(), encoding="utf-8")
    reports = ingest(load_config(project(tmp_path, "site_*/incidents.csv")), store_url)
    assert [r.status for r in reports] == ["loaded", "unchanged"]
    assert reports[1].note == f"same content as {tmp_path / 'site_a' / 'incidents.csv'}, a copy: nothing added"
    assert count(store_url) == reports[0].rows_loaded


def test_a_moved_and_re_saved_file_replaces_the_earlier_version(tmp_path: Path, store_url: str) -> None:
    """The folder moved and the file was re-saved on the way (Windows line endings, one more record):
    other bytes, so a new version, which replaces the one at the path no longer configured."""
    (tmp_path / "site_a").mkdir()
    (tmp_path / "site_a" / "incidents.csv").write_text(incidents(), encoding="utf-8")
    ingest(load_config(project(tmp_path)), store_url)
    rows = count(store_url)
    (tmp_path / "site_a" / "incidents.csv").unlink()
    (tmp_path / "site_b").mkdir()
    text = incidents() + "R99999,B,2026-03-08 11:00,robbery,53.1,-2.1\n"
    (tmp_path / "site_b" / "incidents.csv").write_bytes(text.replace("\n", "\r\n").encode())
    [report] = ingest(load_config(project(tmp_path, "site_b/incidents.csv")), store_url)
    assert report.status == "loaded" and report.rows_loaded == rows + 1
    assert count(store_url) == rows + 1


@pytest.mark.parametrize("what", ["project", "store alone", "project, files re-saved"])
def test_the_project_moved_gives_a_byte_identical_period_table(tmp_path: Path, what: str) -> None:
    before = tmp_path / "before"
    config_path = project(before, "data/incidents.csv")
    (before / "data").mkdir()
    (before / "data" / "incidents.csv").write_text(incidents(), encoding="utf-8")
    table = period_table(load_config(config_path), f"sqlite:///{before / 'store.db'}")
    after = tmp_path / "elsewhere" / "after"
    if what == "store alone":
        (tmp_path / "elsewhere").mkdir()
        shutil.move(before / "store.db", tmp_path / "elsewhere" / "store.db")
        url = f"sqlite:///{tmp_path / 'elsewhere' / 'store.db'}"
    else:
        shutil.copytree(before, after)
        shutil.rmtree(before)
        config_path, url = after / "testshire.yaml", f"sqlite:///{after / 'store.db'}"
        if what == "project, files re-saved":  # e.g. copied through a share that rewrites line endings
            data = after / "data" / "incidents.csv"
            data.write_bytes(data.read_bytes().replace(b"\n", b"\r\n"))
    rows = count(url)
    assert period_table(load_config(config_path), url) == table
    assert count(url) == rows


def weekly_lines(text: str, first: str, last: str) -> str:
    lines = text.splitlines()
    kept = [line for line in lines[1:] if first <= line.split(",")[2][:10] <= last]
    return "\n".join([lines[0], *kept]) + "\n"


def test_a_re_export_repeating_last_week_counts_it_once(tmp_path: Path, store_url: str) -> None:
    """Week 9's file, then a re-export holding week 9 again and week 10: week 9 counted once, with a finding."""
    config_path = project(tmp_path, "data/incidents-*.csv", extra="")
    config_path.write_text(config_path.read_text().replace("path: 'data/incidents-*.csv'",
                                                           "path: 'data/incidents-*.csv'\n    mode: append"))
    config = load_config(config_path)
    (tmp_path / "data").mkdir()
    everything = incidents()
    (tmp_path / "data" / "incidents-1.csv").write_text(weekly_lines(everything, "2025-01-01", "2026-03-01"))
    ingest(config, store_url)
    (tmp_path / "data" / "incidents-2.csv").write_text(weekly_lines(everything, "2026-02-23", "2026-03-08"))
    [_, report] = ingest(config, store_url)
    week9 = len(weekly_lines(everything, "2026-02-23", "2026-03-01").splitlines()) - 1
    assert report.rows_rejected == week9 and report.note == f"{week9} rows already held from another input: " \
                                                            "not counted"
    assert count(store_url) == len(everything.splitlines()) - 1  # every record once
    engine = connect(store_url)
    with transaction(engine) as session:
        reasons = list(session.scalars(select(RejectedRow.reason)))
        data, _ = judge_cycle(session, config, parse_period(PERIOD, config.cadence), TODAY, store_url)
        session.rollback()
    engine.dispose()
    assert len(reasons) == week9 and reasons[0].startswith(
        f"exact copy of a row already held from {tmp_path / 'data' / 'incidents-1.csv'} (input version 1, line ")
    found = [f for f in data.quality.findings if f.check == "duplicates"] if data.quality else []
    assert [(f.severity, f.rows) for f in found] == [("warning", week9)]
    assert found[0].message.startswith(f"{week9} rows of incidents-2.csv are exact copies of rows already held "
                                       "from incidents-1.csv (another input of incidents): quarantined and not "
                                       "counted")
    table = data.table.set_index(["unit_code", "measure_id", "window"])
    assert table.loc[("A", "burglary", "28d"), "current"] == 56  # 2 a day, not 2 a day plus week 9 again


COUNTS = "unit,when,offence,count\n"


def test_counts_supplied_twice_are_counted_once_and_a_changed_total_blocks(tmp_path: Path, store_url: str) -> None:
    """A source of weekly counts (no record key): a re-export repeating a week is counted once; a week whose
    totals differ between two inputs blocks the cycle until one version stands."""
    extra_columns = "columns: {unit: unit, date: when, category: offence, value: count}"
    text = SMALL_CONFIG.replace("path: incidents.csv", "path: 'counts-*.csv'\n    mode: append").replace(
        "columns: {unit: unit, date: when, category: offence, latitude: lat, longitude: lon, record_id: ref}",
        extra_columns)
    (tmp_path / "counts.yaml").write_text(text, encoding="utf-8")
    config = load_config(tmp_path / "counts.yaml")
    days = pd.date_range("2025-01-01", "2026-03-08")
    lines = [f"{u},{d:%Y-%m-%d},burglary,{2 + (i % 3)}" for i, d in enumerate(days) for u in ("A", "B")]
    (tmp_path / "counts-1.csv").write_text(COUNTS + "\n".join(lines[:-14]) + "\n")
    ingest(config, store_url)
    (tmp_path / "counts-2.csv").write_text(COUNTS + "\n".join(lines[-28:]) + "\n")  # repeats the last 7 days held
    [_, report] = ingest(config, store_url)
    assert report.rows_rejected == 14 and count(store_url) == len(lines)
    changed = lines[-15].rsplit(",", 1)[0] + ",9"  # a total already held, now different
    (tmp_path / "counts-3.csv").write_text(COUNTS + changed + "\n")
    ingest(config, store_url)
    engine = connect(store_url)
    with transaction(engine) as session:
        data, _ = judge_cycle(session, config, parse_period(PERIOD, config.cadence), TODAY, store_url, preview=True)
        session.rollback()
    engine.dispose()
    blocking = [f for f in data.quality.findings if f.severity == "blocking"] if data.quality else []
    assert [f.check for f in blocking] == ["duplicates"]
    assert blocking[0].message.startswith("1 unit-day-category total of incidents from ")
    assert "are supplied by more than one input" in blocking[0].message


def test_50000_duplicated_rows_are_all_caught(tmp_path: Path) -> None:
    from compstat.bench import duplicated_rows

    started = time.perf_counter()
    result = duplicated_rows(tmp_path / "bench", 50_000)
    assert (result["caught"], result["counted"]) == (50_000, 50_000)
    assert time.perf_counter() - started < 30  # a few seconds on one core (compstat.bench measures it)



@pytest.mark.parametrize("reissued_to", ["2026-02-22", "2026-03-01"])
def test_rows_held_as_copies_count_again_when_what_they_copied_is_replaced(tmp_path: Path, store_url: str,
                                                                           reissued_to: str) -> None:
    """Week 9 is quarantined in the re-export as copies of the first file; the first file is then re-issued
    (``mode: replace``) without week 9, or with it: week 9 is counted once either way, never lost."""
    config = load_config(project(tmp_path, "data/incidents-*.csv"))
    (tmp_path / "data").mkdir()
    everything = incidents()
    first = tmp_path / "data" / "incidents-1.csv"
    first.write_text(weekly_lines(everything, "2025-01-01", "2026-03-01"))
    ingest(config, store_url)
    (tmp_path / "data" / "incidents-2.csv").write_text(weekly_lines(everything, "2026-02-23", "2026-03-08"))
    assert ingest(config, store_url)[1].rows_rejected > 0
    first.write_text(weekly_lines(everything, "2025-01-01", reissued_to) + "\n")  # other bytes: a new version
    ingest(config, store_url)
    assert count(store_url) == len(everything.splitlines()) - 1  # every record once
    table = pd.read_csv(pd.io.common.BytesIO(period_table(config, store_url)))
    table = table.set_index(["unit_code", "measure_id", "window"])
    assert table.loc[("A", "burglary", "28d"), "current"] == 56
