"""The quality step inside a cycle and on its own, on both backends: stop, override, revisions, report."""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import run_cycle
from compstat.errors import BlockedError
from compstat.ingest import IngestReport, ingest_all
from compstat.ingest.mapping import map_rows
from compstat.periods import parse_period
from compstat.quality import assess, check_data, load_context, run_quality
from compstat.quality import context as quality_context
from compstat.quality.checks import Completeness, Duplicates
from compstat.store import Cycle, IngestedFile, Observation, connect, transaction
from compstat.store.db import shares_connections
from tests.conftest import SMALL_CONFIG

TODAY = date(2026, 3, 10)
BLOCKING_COMPLETENESS = "quality:\n  checks:\n    completeness: {severity: blocking}\n"


def incidents(last: str = "2026-03-08", without_b_from: str | None = None,
              one_a_burglary_from: str | None = None) -> str:
    """Every day: Alpha two burglaries and a robbery, Bravo two burglaries, from 1 January 2025 to ``last``."""
    lines = ["ref,unit,when,offence,lat,lon"]
    n = 0
    for day in pd.date_range("2025-01-01", last):
        for unit, offences in (("A", ["burglary", "burglary", "robbery"]), ("B", ["burglary", "burglary"])):
            if unit == "B" and without_b_from and day >= pd.Timestamp(without_b_from):
                continue
            if unit == "A" and one_a_burglary_from and day >= pd.Timestamp(one_a_burglary_from):
                offences = ["burglary", "robbery"]
            for offence in offences:
                n += 1
                lines.append(f"R{n},{unit},{day:%Y-%m-%d} 10:00,{offence},53.1,-2.1")
    return "\n".join(lines) + "\n"


def config_with(tmp_path: Path, extra: str = "") -> tuple[Path, Config]:
    path = tmp_path / "testshire.yaml"
    path.write_text(SMALL_CONFIG + extra, encoding="utf-8")
    return path, load_config(path)


def write(config: Config, text: str) -> None:
    config.resolve_path("incidents.csv").write_text(text, encoding="utf-8")


def test_blocking_finding_stops_before_packs_and_the_override_is_recorded(tmp_path: Path, store_url: str) -> None:
    _, config = config_with(tmp_path, BLOCKING_COMPLETENESS)
    write(config, incidents())
    out = tmp_path / "cycles"
    first = run_cycle(config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1)
    assert first.quality is not None and first.quality.blocking == []
    folder = out / "testshire" / "2026-W10"
    before = (folder / "pack-A.pdf").read_bytes()
    write(config, incidents(without_b_from="2026-03-02"))
    with pytest.raises(BlockedError) as stopped:
        run_cycle(config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1)
    message = str(stopped.value)
    assert "(2 blocking findings)" in message
    assert "completeness: Bravo (B): no records at all for 2026-W10 although it averages 14.0 records a week" in message
    assert "timeliness: Bravo (B): incidents data as of 2026-03-01" in message
    assert "run with --accept-warnings to go ahead anyway" in message
    assert (folder / "pack-A.pdf").read_bytes() == before
    assert [p.name for p in (out / "testshire").iterdir()] == ["2026-W10"]
    engine = connect(store_url)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == len(incidents().splitlines()) - 1
    engine.dispose()
    outcome = run_cycle(config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1, accept_warnings=True)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["quality"]["accept_warnings"] is True
    assert [(f["check"], f["unit_code"]) for f in manifest["quality"]["accepted_blocking"]] == [
        ("completeness", "B"), ("timeliness", "B")]
    assert manifest["quality"]["data_as_of_by_source"]["incidents"] == {"A": "2026-03-08", "B": "2026-03-01"}
    assert manifest["units"] == {"A": "Alpha", "B": "Bravo"}
    assert outcome.quality is not None and len(outcome.quality.accepted) == 2
    engine = connect(store_url)
    with transaction(engine) as session:
        stored = session.scalar(select(Cycle.manifest).where(Cycle.period == "2026-W10"))
        assert stored is not None and json.loads(stored)["quality"]["accept_warnings"] is True
    engine.dispose()


def test_cli_exit_codes_and_overrides(tmp_path: Path) -> None:
    path, config = config_with(tmp_path, BLOCKING_COMPLETENESS)
    write(config, incidents(without_b_from="2026-03-02"))
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["run-cycle", "--config", str(path), "--db", db, "--period", "2026-W10", "--out", str(tmp_path / "out"),
            "--today", "2026-03-10", "--workers", "1"]
    runner = CliRunner()
    stopped = runner.invoke(app, args)
    assert stopped.exit_code == 1 and "Error: the quality check stopped the cycle for 2026-W10" in stopped.output
    assert not (tmp_path / "out" / "testshire" / "2026-W10").exists()
    still = runner.invoke(app, [*args, "--go-ahead"])
    assert still.exit_code == 1 and "1 blocking finding" in still.output  # the completeness finding remains
    went = runner.invoke(app, [*args, "--go-ahead", "--accept-warnings"])
    assert went.exit_code == 0, went.output
    assert "Quality blocking (1)" in went.output and "Quality warning (1)" in went.output
    assert "Went ahead despite 1 blocking finding(s) (--accept-warnings)" in went.output
    assert "Went ahead without the data of B" in went.output
    manifest = json.loads((tmp_path / "out" / "testshire" / "2026-W10" / "manifest.json").read_text())
    assert manifest["quality"]["go_ahead_if_stale"] is True and manifest["quality"]["stale_units"] == ["B"]


def test_revisions_since_the_last_cycle(tmp_path: Path) -> None:
    _, config = config_with(tmp_path)
    url = f"sqlite:///{tmp_path / 'store.db'}"
    write(config, incidents(last="2026-03-01", one_a_burglary_from="2026-02-23"))
    run_cycle(config, url, "2026-W09", out_root=tmp_path / "out", today=date(2026, 3, 3), workers=1)
    write(config, incidents())  # W09's other burglaries arrive late
    outcome = run_cycle(config, url, "2026-W10", out_root=tmp_path / "out", today=TODAY, workers=1)
    assert outcome.quality is not None
    revised = [f for f in outcome.findings if f.check == "revisions" and f.unit_code == "A"]
    assert revised[0].message.startswith("Alpha (A): Burglary for the period 2026-02-23 to 2026-03-01 was 7 in the "
                                         "2026-W09 pack and is now 14 (+7)")
    comparisons = outcome.quality.comparisons.set_index(["unit_code", "measure_id", "window"])
    assert comparisons.loc[("A", "burglary", "period"), "fragile"]  # 14 vs 14 last year: within a +7 revision


def test_check_alone_stores_nothing_and_writes_the_report(tmp_path: Path) -> None:
    path, config = config_with(tmp_path, BLOCKING_COMPLETENESS)
    write(config, incidents(without_b_from="2026-03-02").replace("R5,B,", "R5,Bravo & <Sons>,"))
    db = f"sqlite:///{tmp_path / 'check.db'}"
    report = tmp_path / "quality.html"
    result = CliRunner().invoke(app, ["check", "--config", str(path), "--db", db, "--period", "2026-W10",
                                      "--today", "2026-03-10", "--out", str(report)])
    assert result.exit_code == 1, result.output  # a finding would block the cycle
    assert "nothing was stored" in result.output and f"Quality report written to {report}" in result.output
    engine = connect(db)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(IngestedFile)) == 0
    engine.dispose()
    html = report.read_text(encoding="utf-8")
    assert "&lt;Sons&gt;" in html and "<Sons>" not in html  # data is escaped
    cells = _cells(html)
    assert "The cycle would stop before the packs: 2 blocking findings" in html
    assert ["blocking", "completeness", "Bravo (B)", "", "", cells[5]] == cells[:6]
    assert cells[5].startswith("Bravo (B): no records at all for 2026-W10")
    pdf = tmp_path / "quality.pdf"
    made = CliRunner().invoke(app, ["check", "--config", str(path), "--db", db, "--period", "2026-W10",
                                    "--today", "2026-03-10", "--out", str(pdf)])
    assert made.exit_code == 1
    text = "".join(page.extract_text() or "" for page in PdfReader(pdf).pages)
    assert "Data quality: Testshire Police" in " ".join(text.split())
    wrong = CliRunner().invoke(app, ["check", "--config", str(path), "--db", db, "--out", str(tmp_path / "q.txt")])
    assert wrong.exit_code == 2 and "written as .html or .pdf" in wrong.output


def _cells(html: str) -> list[str]:
    """The text of every td of the findings table, in order."""

    class Cells(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.table = ""
            self.cells: list[str] = []
            self.cell: list[str] | None = None

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            if tag == "table":
                self.table = dict(attrs).get("class") or ""
            if tag == "td" and self.table == "findings":
                self.cell = []

        def handle_endtag(self, tag: str) -> None:
            if tag == "td" and self.cell is not None:
                self.cells.append(" ".join("".join(self.cell).split()))
                self.cell = None

        def handle_data(self, data: str) -> None:
            if self.cell is not None:
                self.cell.append(data)

    parser = Cells()
    parser.feed(html)
    return parser.cells


def test_exact_copies_are_quarantined_at_ingest(small_config: Config) -> None:
    text = incidents(last="2025-01-02")
    lines = text.splitlines()
    frame = pd.read_csv(pd.io.common.StringIO("\n".join([*lines, lines[1], lines[2]])), dtype=str,
                        keep_default_na=False)
    mapped = map_rows(frame, small_config.sources[0], small_config, "incidents.csv", 2, TODAY)
    assert mapped.rejected[["source_row", "field", "reason"]].values.tolist() == [
        [len(lines) + 1, "ref", "exact copy of row 2 (same ref and every other mapped column): not counted"],
        [len(lines) + 2, "ref", "exact copy of row 3 (same ref and every other mapped column): not counted"]]
    assert len(mapped.observations) == len(lines) - 1


def test_duplicates_across_inputs_in_the_store(tmp_path: Path, store_url: str) -> None:
    path, _ = config_with(tmp_path)
    text = path.read_text().replace("path: incidents.csv", "path: 'incidents-*.csv'\n    mode: append")
    path.write_text(text, encoding="utf-8")
    config = load_config(path)
    lines = incidents(last="2026-03-08").splitlines()
    (tmp_path / "incidents-1.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    alpha = next(line for line in reversed(lines) if ",A," in line)
    again = [lines[0], lines[-1], alpha.replace(",A,", ",B,")]  # an exact copy; the same ref, another unit
    (tmp_path / "incidents-2.csv").write_text("\n".join(again) + "\n", encoding="utf-8")
    engine = connect(store_url)
    with transaction(engine) as session:
        reports = ingest_all(session, config, TODAY, store_url)
        ctx = load_context(session, config, parse_period("2026-W10", config.cadence), reports, TODAY)
    engine.dispose()
    found = Duplicates().run(ctx)
    assert [f.severity for f in found] == ["warning", "blocking"]
    assert found[0].message.startswith("1 row of incidents-2.csv are exact copies of rows already held from "
                                       "incidents-1.csv (another input of incidents): quarantined and not counted")
    assert found[1].message.startswith("1 value of ref in incidents from 2025-01-01 to 2026-03-08 appear on 2 rows "
                                       f"of different inputs with different details (e.g. {alpha.split(',')[0]} in "
                                       "A, B): all of them are counted — say which version stands")


def _store_with_duplicates_and_strays(tmp_path: Path, quality: str = "") -> Config:
    """Two inputs sharing a ref in two units, an exact copy, and rows outside ``quality.area`` (``quality``:
    more of that section's YAML)."""
    area = "  area: {min_lat: 53.0, max_lat: 53.2, min_lon: -2.2, max_lon: -2.0}\n"
    path, _ = config_with(tmp_path, "quality:\n" + area + quality)
    text = path.read_text().replace("path: incidents.csv", "path: 'incidents-*.csv'\n    mode: append")
    path.write_text(text, encoding="utf-8")
    lines = incidents(last="2026-03-08").splitlines()
    strays = [line.replace(",53.1,-2.1", ",54.9,-2.1") for line in lines[-4:]]
    (tmp_path / "incidents-1.csv").write_text("\n".join(lines[:-4] + strays) + "\n", encoding="utf-8")
    alpha = next(line for line in reversed(lines) if ",A," in line)
    again = [lines[0], lines[-1], alpha.replace(",A,", ",B,")]
    (tmp_path / "incidents-2.csv").write_text("\n".join(again) + "\n", encoding="utf-8")
    return load_config(path)


def test_rows_read_beside_the_checks_give_what_reading_them_first_gives(tmp_path: Path, store_url: str) -> None:
    """``run_quality`` reads the coordinates and duplicates on a second thread while the first checks run: the
    findings and marks are those of reading everything first, on both stores."""
    config = _store_with_duplicates_and_strays(tmp_path)
    period = parse_period("2026-W10", config.cadence)
    engine = connect(store_url)
    try:
        with transaction(engine) as session:
            reports = ingest_all(session, config, TODAY, store_url)
            first = assess(load_context(session, config, period, reports, TODAY))
            with ThreadPoolExecutor(max_workers=1) as reads:
                beside = load_context(session, config, period, reports, TODAY, reads=reads)
                assert isinstance(beside.duplicates, Future) and isinstance(beside.coordinates, Future)
                pd.testing.assert_frame_equal(beside.duplicate_groups, first_context_frame(session, config, reports))
            result = run_quality(session, config, period, reports, TODAY)
    finally:
        engine.dispose()
    checks = {f.check for f in result.findings}
    assert {"duplicates", "validity"} <= checks
    assert any("outside" in f.message for f in result.findings if f.check == "validity")
    assert result.findings == first.findings
    pd.testing.assert_frame_equal(result.comparisons, first.comparisons)


def first_context_frame(session: Session, config: Config, reports: list[IngestReport]) -> pd.DataFrame:
    frame = load_context(session, config, parse_period("2026-W10", config.cadence), reports, TODAY).duplicates
    assert isinstance(frame, pd.DataFrame)
    return frame


def test_a_read_beside_the_checks_that_fails_stops_the_step_with_its_error(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The error of a read no check waited for (its check is off) still stops the step."""
    config = _store_with_duplicates_and_strays(tmp_path, "  checks:\n    duplicates: {enabled: false}\n")

    def broken(*args: object) -> pd.DataFrame:
        raise OperationalError("SELECT …", {}, Exception("disk I/O error"))

    monkeypatch.setattr(quality_context, "_duplicates", broken)
    _quality_stops(config, tmp_path, OperationalError, "disk I/O error")


def _quality_stops(config: Config, tmp_path: Path, error: type[Exception], match: str) -> None:
    """Ingest into a new SQLite store, run the quality step, which must raise ``error``, and roll back."""
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    try:
        with transaction(engine) as session:
            reports = ingest_all(session, config, TODAY, "")
            with pytest.raises(error, match=match):
                run_quality(session, config, parse_period("2026-W10", config.cadence), reports, TODAY)
            session.rollback()
    finally:
        engine.dispose()


def test_a_check_that_fails_waits_for_the_reads_beside_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A check's error leaves ``run_quality`` only once the reads on the session's connection are done: the
    caller may then roll back at once."""
    config = _store_with_duplicates_and_strays(tmp_path)
    real, done = quality_context._duplicates, threading.Event()

    def slow(*args: Any) -> pd.DataFrame:
        time.sleep(0.5)
        frame = real(*args)
        done.set()
        return frame

    def failing(self: object, ctx: object) -> list[object]:
        raise ValueError("a check's own error")

    monkeypatch.setattr(quality_context, "_duplicates", slow)
    monkeypatch.setattr(Completeness, "run", failing)
    real_rollback = Session.rollback

    def rollback(session: Session) -> None:
        assert done.is_set()  # the read beside the checks has ended before the caller rolls back
        real_rollback(session)

    monkeypatch.setattr(Session, "rollback", rollback)
    _quality_stops(config, tmp_path, ValueError, "a check's own error")
    assert done.is_set()


def test_an_in_memory_store_has_its_rows_read_before_the_checks(tmp_path: Path) -> None:
    """SQLite's driver refuses an in-memory database's connection to another thread: there the reads come
    first, with the same findings."""
    config = _store_with_duplicates_and_strays(tmp_path)
    on_file = connect(f"sqlite:///{tmp_path / 'file.db'}")
    assert shares_connections(on_file)
    on_file.dispose()
    engine = connect("sqlite://")
    assert not shares_connections(engine)
    try:
        with transaction(engine) as session:
            reports = ingest_all(session, config, TODAY, "sqlite://")
            result = run_quality(session, config, parse_period("2026-W10", config.cadence), reports, TODAY)
            session.rollback()
    finally:
        engine.dispose()
    assert {"duplicates", "validity"} <= {f.check for f in result.findings}


def test_a_source_of_few_rows_is_read_through_the_file_index_on_sqlite(tmp_path: Path, store_url: str) -> None:
    """The duplicates' reads of a source holding under half the rows in use leave SQLite's (org, day) index
    to read that source's rows by file; PostgreSQL's planner chooses for itself."""
    inputs = pd.DataFrame({"file_id": [1, 2], "rows_loaded": [90, 10]})
    engine = connect(store_url)
    try:
        with engine.connect() as connection:
            few = str(quality_context._of_org(connection, "testshire", inputs, [2]))
            many = str(quality_context._of_org(connection, "testshire", inputs, [1]))
            if connection.dialect.name == "sqlite":
                plan = connection.exec_driver_sql(
                    "EXPLAIN QUERY PLAN SELECT unit_code FROM observations WHERE (org || '') = 'x' "
                    "AND occurred_on >= '2026-01-01' AND file_id IN (2)").all()
                assert "ix_observations_file_id" in str(plan)
    finally:
        engine.dispose()
    assert "||" not in many
    assert ("||" in few) == store_url.startswith("sqlite")


def test_quarantine_list_by_source_and_export(tmp_path: Path) -> None:
    path, config = config_with(tmp_path)
    write(config, incidents(last="2025-01-03") + "R99,Z,2025-01-02,burglary,53.1,-2.1\n")
    db = f"sqlite:///{tmp_path / 'q.db'}"
    result = check_data(config, db, "2025-W01", date(2025, 1, 6))
    assert any("'Z' in 'unit'" in f.message for f in result.findings)
    engine = connect(db)
    with transaction(engine) as session:
        ingest_all(session, config, TODAY, db)
    engine.dispose()
    runner = CliRunner()
    base = ["quarantine", "list", "--config", str(path), "--db", db]
    listed = runner.invoke(app, [*base, "--source", "incidents"])
    assert listed.exit_code == 0 and "1 rejected rows" in listed.output and "unit 'Z' is not in the config" in (
        listed.output)
    xlsx = tmp_path / "rejected.xlsx"
    exported = runner.invoke(app, [*base, "--export", str(xlsx)])
    assert exported.exit_code == 0, exported.output
    sheet = pd.read_excel(xlsx)
    assert sheet[["source", "field"]].values.tolist() == [["incidents", "unit"]]
    assert json.loads(sheet.loc[0, "raw"])["ref"] == "R99"
    assert runner.invoke(app, [*base, "--source", "nope"]).exit_code == 2
    assert runner.invoke(app, [*base, "--export", str(tmp_path / "x.json")]).exit_code == 2


def test_supplied_totals_are_kept_aside_and_compared(tmp_path: Path) -> None:
    _, config = config_with(tmp_path, "quality:\n  totals: {incidents: ALL}\n")
    text = incidents(last="2026-03-08")
    totals = [f"T{i},ALL,2026-03-0{d} 12:00,burglary,," for i, d in enumerate([2, 3, 4, 5, 6, 7, 8] * 4 + [8, 8])]
    write(config, text + "\n".join(totals) + "\n")
    result = check_data(config, f"sqlite:///{tmp_path / 'store.db'}", "2026-W10", TODAY)
    found = [f for f in result.findings if f.check == "consistency"]
    assert [f.message for f in found] == [
        "Burglary: the organisation total supplied for the week 2026-03-02 to 2026-03-08 is 30 but the units add "
        "up to 28 (-2): rows for units outside the config, or a unit's figures are incomplete"]
    assert not any("'ALL'" in f.message for f in result.findings)  # not reported as an unknown unit


BAD_ROWS = "R98,Z,2025-01-02 10:00,burglary,53.1,-2.1\nR99,A,soon,burglary,53.1,-2.1\n"


@pytest.mark.parametrize("suffix", [".csv", ".xlsx"])
def test_check_exports_the_rows_it_quarantined_though_nothing_is_stored(tmp_path: Path, suffix: str) -> None:
    path, config = config_with(tmp_path)
    write(config, incidents(last="2026-03-08") + BAD_ROWS)
    db = f"sqlite:///{tmp_path / 'q.db'}"
    export = tmp_path / f"quarantined{suffix}"
    runner = CliRunner()
    checked = runner.invoke(app, ["check", "--config", str(path), "--db", db, "--period", "2026-W10", "--today",
                                  "2026-03-10", "--out", str(tmp_path / "q.html"), "--quarantine", str(export)])
    assert checked.exit_code == 0, checked.output
    text = " ".join(checked.output.split())
    assert "Nothing was stored, so export them with `compstat check --quarantine FILE.csv`" in text
    assert "compstat quarantine list" not in text and f"Quarantined rows written to {export}" in text
    rows = pd.read_csv(export, dtype=str) if suffix == ".csv" else pd.read_excel(export, dtype=str)
    lines = len(incidents(last="2026-03-08").splitlines())
    assert rows[["source", "row", "field"]].values.tolist() == [["incidents", str(lines + 1), "unit"],
                                                                 ["incidents", str(lines + 2), "when"]]
    assert rows["reason"].tolist() == ["unit 'Z' is not in the config (add it, or map it with unit_map)",
                                       "date 'soon' is not a date (expected a date such as 2026-11-23 or "
                                       "2026-11-23 14:05)"]
    assert [json.loads(r)["ref"] for r in rows["raw"]] == ["R98", "R99"]
    listed = runner.invoke(app, ["quarantine", "list", "--config", str(path), "--db", db])
    assert listed.exit_code == 0 and "0 rejected rows" in listed.output  # the check stored nothing
    assert "`compstat check --quarantine FILE.csv` exports the rows" in " ".join(listed.output.split())
    wrong = runner.invoke(app, ["check", "--config", str(path), "--db", db, "--quarantine", str(tmp_path / "q.txt")])
    assert wrong.exit_code == 2 and "--quarantine" in wrong.output and ".csv or an .xlsx" in wrong.output


def test_a_stopped_cycle_points_to_the_export_of_its_quarantined_rows(tmp_path: Path) -> None:
    path, config = config_with(tmp_path, "quality:\n  checks:\n    validity: {severity: blocking}\n")
    write(config, incidents(last="2026-03-08") + BAD_ROWS)
    db = f"sqlite:///{tmp_path / 'stop.db'}"
    stopped = CliRunner().invoke(app, ["run-cycle", "--config", str(path), "--db", db, "--period", "2026-W10",
                                       "--out", str(tmp_path / "out"), "--today", "2026-03-10", "--workers", "1"])
    assert stopped.exit_code == 1
    text = " ".join(stopped.output.split())
    assert "validity: 1 row of incidents.csv quarantined, not counted" in text
    assert "Nothing was stored, so export them with `compstat check --quarantine FILE.csv`" in text
    assert "List them with `compstat quarantine list`" not in text
    went = run_cycle(config, db, "2026-W10", out_root=tmp_path / "out", today=TODAY, workers=1, accept_warnings=True)
    quarantined = next(f for f in went.findings if "quarantined, not counted" in f.message)
    assert quarantined.message.endswith("List them with `compstat quarantine list`.")  # stored this time
    assert quarantined.units == {"A": 1}


def test_every_key_group_is_compared(tmp_path: Path) -> None:
    _, config = config_with(tmp_path)
    lines = incidents(last="2026-03-08").splitlines()
    same_refs = [line.replace(",A,", ",B,") for line in lines[-10:] if ",A," in line][:3]  # 3 refs in two units
    write(config, "\n".join(lines + same_refs) + "\n")
    result = check_data(config, f"sqlite:///{tmp_path / 'dupes.db'}", "2026-W10", TODAY)
    assert not [f for f in result.findings if "compared row by row" in f.message]
    examined = next(f for f in result.findings if "with different details" in f.message)
    assert examined.severity == "warning" and examined.message.startswith("3 values of ref")
