"""Signed action sheets (issue #17, item 5): a commander's sheet changes only the actions of the unit and
export its signature names, whatever was edited in the file.

The probe catalogue's cases: the hidden ``_compstat`` sheet deleted, its unit cell edited, another unit's
signature copied in; and action ids added, a hidden version edited, a sheet from before signing, a
sheet signed by another store. Each runs on SQLite and PostgreSQL (``store_url``)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from openpyxl import load_workbook
from openpyxl.workbook.workbook import Workbook
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from compstat.actions import NewAction, add_action, update_action
from compstat.actions.spreadsheet import META_SHEET, SHEET, ImportReport, export_actions, import_action_updates
from compstat.cli import app
from compstat.config import Config
from compstat.errors import SourceError
from compstat.periods import parse_period
from compstat.store import Action, ActionUpdate, connect, transaction
from tests.test_actions_spreadsheet import COLUMN, rows_by_id

RAISED = datetime(2026, 3, 10, 12, 0)
EXPORTED = datetime(2026, 3, 11, 8, 0)


@dataclass
class Sheets:
    """A store with two open actions of unit A and two of B, and each unit's exported sheet."""

    engine: Engine
    config: Config
    a: list[int]
    b: list[int]
    a_sheet: Path
    b_sheet: Path

    def state(self) -> tuple[list[tuple[int, str, str, int]], int]:
        """Every action (id, unit, status, version) and the number of history rows."""
        with transaction(self.engine) as session:
            actions = [(a.id, a.unit_code, a.status, a.version) for a in session.scalars(select(Action).order_by(
                Action.id))]
            return actions, session.scalar(select(func.count()).select_from(ActionUpdate)) or 0

    def status(self, action_id: int) -> str:
        return next(s for i, _, s, _ in self.state()[0] if i == action_id)


def _import(sheets: Sheets, path: Path) -> ImportReport:
    with transaction(sheets.engine) as session:
        return import_action_updates(session, sheets.config, path, "Supt Alpha")


@pytest.fixture
def sheets(store_url: str, small_config: Config, tmp_path: Path) -> Iterator[Sheets]:
    engine = connect(store_url)
    raised, upcoming = (parse_period(p, small_config.cadence) for p in ("2026-W10", "2026-W11"))
    with transaction(engine) as session:
        ids = {unit: [add_action(session, small_config, raised, NewAction(unit, f"{unit}: {text}", f"Insp {unit}"),
                                 "chair", at=RAISED).id for text in ("Patrol the estate", "Check CCTV")]
               for unit in ("A", "B")}
        for unit in ("A", "B"):
            export_actions(session, small_config, unit, tmp_path / f"actions-{unit}.xlsx", upcoming, by="analyst",
                           at=EXPORTED)
    yield Sheets(engine, small_config, ids["A"], ids["B"], tmp_path / "actions-A.xlsx", tmp_path / "actions-B.xlsx")
    engine.dispose()


def meta_cells(book: Workbook) -> dict[str, int]:
    """The hidden sheet's row of each key."""
    meta = book[META_SHEET]
    return {str(meta.cell(r, 1).value): r for r in range(1, meta.max_row + 1)}


def take_over(book: Workbook, row: int, action_id: int, **values: object) -> None:
    """Point an A row at another action and fill it in (the id column is locked, but the sheet's
    protection has no password)."""
    sheet = book[SHEET]
    sheet.cell(row, COLUMN["id"]).value = action_id
    for key, value in values.items():
        sheet.cell(row, COLUMN[key]).value = value


def fill(book: Workbook, action_id: int, **values: object) -> int:
    sheet = book[SHEET]
    row = rows_by_id(sheet)[action_id]
    for key, value in values.items():
        sheet.cell(row, COLUMN[key]).value = value
    return row


def refused_whole(sheets: Sheets, path: Path, *match: str) -> None:
    """Importing ``path`` is refused as a whole with a message containing ``match``; nothing changed."""
    before = sheets.state()
    with pytest.raises(SourceError) as refused:
        _import(sheets, path)
    for text in match:
        assert text in str(refused.value), (text, str(refused.value))
    assert str(path) in str(refused.value)
    assert sheets.state() == before


# --- the probe catalogue's three cases ------------------------------------------------------------


def test_a_sheet_whose_hidden_sheet_was_deleted_is_refused(sheets: Sheets) -> None:
    """The catalogue: N2's sheet without ``_compstat`` dropped N3's action and closed N1's."""
    book = load_workbook(sheets.a_sheet)
    del book[META_SHEET]
    rows = rows_by_id(book[SHEET])
    take_over(book, rows[sheets.a[0]], sheets.b[0], status="dropped", reason="not ours")
    fill(book, sheets.a[1], status="done")
    book.save(sheets.a_sheet)
    refused_whole(sheets, sheets.a_sheet, "no signature", "export the unit's sheet again")
    assert sheets.status(sheets.b[0]) == "open" and sheets.status(sheets.a[1]) == "open"


def test_a_sheet_whose_unit_cell_was_edited_is_refused(sheets: Sheets) -> None:
    book = load_workbook(sheets.a_sheet)
    book[META_SHEET].cell(meta_cells(book)["unit"], 2).value = "B"
    rows = rows_by_id(book[SHEET])
    take_over(book, rows[sheets.a[0]], sheets.b[0], status="dropped", reason="not ours")
    book.save(sheets.a_sheet)
    refused_whole(sheets, sheets.a_sheet, "altered", "unit")
    assert sheets.status(sheets.b[0]) == "open"


def test_a_signature_copied_from_another_units_sheet_is_refused(sheets: Sheets) -> None:
    b_book = load_workbook(sheets.b_sheet)
    b_token = b_book[META_SHEET].cell(meta_cells(b_book)["signature"], 2).value
    book = load_workbook(sheets.a_sheet)
    book[META_SHEET].cell(meta_cells(book)["signature"], 2).value = b_token  # the unit cell still says A
    rows = rows_by_id(book[SHEET])
    take_over(book, rows[sheets.a[0]], sheets.b[0], status="dropped", reason="not ours")
    fill(book, sheets.a[1], status="done")
    book.save(sheets.a_sheet)
    refused_whole(sheets, sheets.a_sheet, "altered")
    assert sheets.status(sheets.b[0]) == "open" and sheets.status(sheets.a[1]) == "open"


def test_another_units_whole_hidden_sheet_changes_none_of_this_units_actions(sheets: Sheets) -> None:
    """B's hidden sheet copied whole into A's file makes it B's export: A's rows are then refused."""
    b_book = load_workbook(sheets.b_sheet)
    book = load_workbook(sheets.a_sheet)
    meta = book[META_SHEET]
    for row in b_book[META_SHEET].iter_rows():
        for cell in row:
            meta.cell(cell.row, cell.column).value = cell.value
    done = fill(book, sheets.a[0], status="done")
    book.save(sheets.a_sheet)
    report = _import(sheets, sheets.a_sheet)
    assert [(r.row, r.outcome) for r in report.rows] == [(done, "refused"), (done + 1, "refused")]
    assert f"action {sheets.a[0]} is not one of the actions this sheet was exported with" in report.rows[0].message
    assert sheets.status(sheets.a[0]) == "open"


# --- rows outside the signed export -----------------------------------------------------------------


def test_rows_added_for_actions_outside_the_export_are_refused(sheets: Sheets) -> None:
    """A valid A sheet with a row for B's action and one for an A action raised after the export:
    both refused, the sheet's own row applied."""
    with transaction(sheets.engine) as session:
        later = add_action(session, sheets.config, parse_period("2026-W10", sheets.config.cadence),
                           NewAction("A", "A: raised after the export", "Insp A"), "chair", at=EXPORTED).id
    book = load_workbook(sheets.a_sheet)
    sheet = book[SHEET]
    applied = fill(book, sheets.a[0], status="done")
    for extra, action_id in enumerate((sheets.b[0], later), start=sheet.max_row + 1):
        for column in COLUMN.values():
            sheet.cell(extra, column).value = sheet.cell(applied, column).value
        take_over(book, extra, action_id, status="dropped", reason="not needed")
    book.save(sheets.a_sheet)
    report = _import(sheets, sheets.a_sheet)
    outcomes = [(r.action_id, r.outcome) for r in report.rows if r.outcome != "unchanged"]
    assert outcomes == [(sheets.a[0], "applied"), (sheets.b[0], "refused"), (later, "refused")]
    assert not report.complete
    assert "belongs to unit B" in report.rows[2].message
    assert [sheets.status(i) for i in (sheets.a[0], sheets.b[0], later)] == ["done", "open", "open"]


def test_an_edited_hidden_version_cannot_hide_a_conflict(sheets: Sheets) -> None:
    """The version a row was exported at is signed: raising the hidden cell to the action's current
    version does not make a change made since the export disappear."""
    with transaction(sheets.engine) as session:
        update_action(session, sheets.a[0], "Supt HQ", "in progress", "HQ took this on", at=datetime(2026, 3, 12))
    book = load_workbook(sheets.a_sheet)
    row = fill(book, sheets.a[0], status="done", version=2)
    book.save(sheets.a_sheet)
    report = _import(sheets, sheets.a_sheet)
    assert [(r.row, r.outcome) for r in report.rows if r.outcome != "unchanged"] == [(row, "conflict")]
    assert sheets.status(sheets.a[0]) == "in progress"


# --- sheets not signed by this store --------------------------------------------------------------


def test_a_sheet_exported_before_signing_is_refused(sheets: Sheets) -> None:
    """A sheet written before this change (format 1: no signature) is refused, asking for a new export."""
    book = load_workbook(sheets.a_sheet)
    meta = book[META_SHEET]
    cells = meta_cells(book)
    meta.cell(cells["format"], 2).value = 1
    meta.delete_rows(cells["signature"])
    fill(book, sheets.a[0], status="done")
    book.save(sheets.a_sheet)
    refused_whole(sheets, sheets.a_sheet, "exported before sheets were signed", "export the unit's sheet again")


def test_a_sheet_signed_by_another_store_is_refused(sheets: Sheets, tmp_path: Path) -> None:
    other = connect(f"sqlite:///{tmp_path / 'other.db'}")
    path = tmp_path / "other-A.xlsx"
    with transaction(other) as session:
        for _ in range(2):
            add_action(session, sheets.config, parse_period("2026-W10", sheets.config.cadence),
                       NewAction("A", "A: elsewhere", "Insp A"), "chair", at=RAISED)
        export_actions(session, sheets.config, "A", path, parse_period("2026-W11", sheets.config.cadence))
    other.dispose()
    book = load_workbook(path)
    fill(book, sheets.a[0], status="done")
    book.save(path)
    refused_whole(sheets, path, "altered or not exported from this store")


# --- the CLI, and the key stays with the analysts ----------------------------------------------------


def test_cli_refuses_a_tampered_sheet_in_one_line_and_the_key_is_not_in_the_file(
        small_config_path: Path, tmp_path: Path) -> None:
    from compstat.store.models import SigningKey

    db = f"sqlite:///{tmp_path / 'cli.db'}"
    base = ["--config", str(small_config_path), "--db", db]
    runner = CliRunner()
    for unit in ("A", "B"):
        added = runner.invoke(app, ["actions", "add", *base, "--unit", unit, "--action", "Visit hotspots",
                                    "--owner", "Insp", "--by", "chair", "--period", "2026-W10"])
        assert added.exit_code == 0, added.output
    out = tmp_path / "a.xlsx"
    exported = runner.invoke(app, ["actions", "export", *base, "--unit", "A", "--out", str(out),
                                   "--period", "2026-W11"])
    assert exported.exit_code == 0, exported.output
    engine = connect(db)
    with transaction(engine) as session:
        key = session.scalars(select(SigningKey.secret)).one()
    engine.dispose()
    with zipfile.ZipFile(out) as archive:
        text = b"".join(archive.read(n) for n in archive.namelist())
    assert len(key) == 64 and key.encode() not in text and key.upper().encode() not in text

    book = load_workbook(out)
    book[META_SHEET].cell(meta_cells(book)["unit"], 2).value = "B"
    take_over(book, 2, 2, status="dropped", reason="not ours")
    book.save(out)
    imported = runner.invoke(app, ["actions", "import", *base, str(out), "--by", "Insp A"])
    assert imported.exit_code == 2 and "Traceback" not in imported.output
    assert len(imported.output.strip().splitlines()) == 1 and "nothing was imported" in imported.output
    engine = connect(db)
    with transaction(engine) as session:
        assert [a.status for a in session.scalars(select(Action))] == ["open", "open"]
    engine.dispose()


def test_a_long_signature_spans_cells_and_still_verifies(sheets: Sheets, monkeypatch: pytest.MonkeyPatch,
                                                         tmp_path: Path) -> None:
    """A unit with thousands of actions has a token longer than a cell holds (32,767 characters): it is
    written across the row's cells and read back joined; a formula-like exporter name is signed as text."""
    import compstat.actions.spreadsheet as spreadsheet

    monkeypatch.setattr(spreadsheet, "CELL_TEXT", 40)
    path = tmp_path / "long.xlsx"
    with transaction(sheets.engine) as session:
        export_actions(session, sheets.config, "A", path, parse_period("2026-W11", sheets.config.cadence),
                       by="=HYPERLINK(1)")
    book = load_workbook(path)
    row = book[META_SHEET][meta_cells(book)["signature"]]
    assert len([c for c in row if c.value]) > 3
    done = fill(book, sheets.a[0], status="done")
    book.save(path)
    report = _import(sheets, path)
    assert [(r.row, r.outcome) for r in report.rows] == [(done, "applied"), (done + 1, "unchanged")]
    assert sheets.status(sheets.a[0]) == "done"


def test_a_store_from_before_signing_gets_its_key_on_the_first_export(store_url: str, small_config: Config,
                                                                     tmp_path: Path) -> None:
    """Migration 0006 adds ``signing_keys`` to an existing store; the first export makes the organisation's
    key, later ones reuse it; downgrading drops the table."""
    from alembic import command
    from alembic.config import Config as AlembicConfig
    from sqlalchemy import create_engine, inspect

    from compstat.actions.signing import signing_key
    from compstat.store.db import MIGRATIONS
    from compstat.store.models import SigningKey

    def alembic(conn: object) -> AlembicConfig:
        cfg = AlembicConfig()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        return cfg

    plain = create_engine(store_url)
    with plain.begin() as conn:
        command.upgrade(alembic(conn), "0005")
    assert "signing_keys" not in inspect(plain).get_table_names()
    engine = connect(store_url)  # brings the store up to date
    period = parse_period("2026-W11", small_config.cadence)
    with transaction(engine) as session:
        assert signing_key(session, "testshire") is None
        for n in range(2):
            export_actions(session, small_config, "A", tmp_path / f"a{n}.xlsx", period)
        keys = list(session.scalars(select(SigningKey)))
        assert [(k.org, k.purpose, len(k.secret)) for k in keys] == [("testshire", "action sheets", 64)]
        assert signing_key(session, "testshire", create=True) == bytes.fromhex(keys[0].secret)
    engine.dispose()
    with plain.begin() as conn:
        command.downgrade(alembic(conn), "0005")
    assert "signing_keys" not in inspect(plain).get_table_names()
    plain.dispose()
