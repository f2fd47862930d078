"""The demo's follow-up story: actions raised at the 2026-W46 meeting, the follow-up note, a
commander's spreadsheet, and the 2026-W47 packs opening with the updated actions."""

from __future__ import annotations

from pathlib import Path

import yaml
from openpyxl import load_workbook
from typer.testing import CliRunner

from compstat.actions.spreadsheet import COLUMNS
from compstat.cli import app
from compstat.demo import write_config
from tests.packtext import pdf_text

COLUMN = {c.key: i for i, c in enumerate(COLUMNS, start=1)}
SHARE = "Share robbery suspect descriptions with the night-time economy partners"
PLAN = "Set up a problem-solving plan for the street robbery series around Bramley Park precinct"


def test_actions_raised_updated_from_a_spreadsheet_and_carried_into_the_next_packs(tmp_path: Path) -> None:
    config = tmp_path / "config" / "demo.yaml"
    raw = yaml.safe_load(Path("config/demo.yaml").read_text(encoding="utf-8"))
    raw["store"] = f"sqlite:///{tmp_path / 'demo.db'}"
    write_config(config, raw, header="test copy of config/demo.yaml")
    base = ["--config", str(config)]
    runner = CliRunner()

    def run(*args: str, code: int = 0) -> str:
        result = runner.invoke(app, list(args))
        assert result.exit_code == code, result.output
        return result.output

    run("demo", *base, "--out", str(tmp_path / "demo-data"), "--end", "2026-11-22")
    cycles = tmp_path / "cycles"
    run("minutes", *base, "--period", "2026-W46", "--out", str(cycles))
    note = (cycles / "demo" / "2026-W46" / "minutes" / "N4.md").read_text(encoding="utf-8")
    assert f"| 2 | {SHARE} | PS Dan Whitaker | 2026-11-20 | Robbery |" in note
    assert "| Robbery | Ch Insp Marcus Brennan | 28 days: % change on last year above +25 |" in note

    sheet_path = tmp_path / "N4.xlsx"
    assert "2 open actions of N4" in run("actions", "export", *base, "--unit", "N4", "--out", str(sheet_path),
                                         "--period", "2026-W47")
    book = load_workbook(sheet_path)
    sheet = book["Actions"]
    rows = {sheet.cell(r, COLUMN["action"]).value: r for r in range(2, sheet.max_row + 1)}
    sheet.cell(rows[SHARE], COLUMN["status"]).value = "done"
    sheet.cell(rows[SHARE], COLUMN["note"]).value = "Descriptions briefed to 14 venues on Friday"
    sheet.cell(rows[PLAN], COLUMN["status"]).value = "in progress"
    sheet.cell(rows[PLAN], COLUMN["note"]).value = "Problem profile drafted with the analyst"
    sheet.cell(rows[PLAN], COLUMN["support_requested"]).value = "Two days of a crime analyst"
    book.save(sheet_path)
    imported = run("actions", "import", *base, str(sheet_path), "--by", "Ch Insp Marcus Brennan")
    assert "2 applied, 0 unchanged, 0 conflicts, 0 malformed" in imported

    run("run-cycle", *base, "--period", "2026-W47", "--out", str(cycles), "--today", "2026-11-23")
    text = " ".join(pdf_text(cycles / "demo" / "2026-W47" / "pack-N4.pdf").split())
    cover_end = text.index("Page 1 of")  # the cover lists the sections; the first section follows it
    first_item = text.index("Actions from the last meeting", cover_end)
    assert first_item < text.index("Performance against last year", cover_end)
    actions = text[first_item:text.index("Performance against last year", cover_end)]
    assert "Problem profile drafted with the analyst" in actions and "In progress" in actions
    completed = actions.index("Completed since last meeting")
    assert completed < actions.index("Descriptions briefed to 14 venues on Friday")
    listed = run("actions", "list", *base, "--period", "2026-W47", "--unit", "N4")
    assert "Unit N4: level 3 formal intervention" in listed  # robbery up > 75% on last year: the agreement's trigger
