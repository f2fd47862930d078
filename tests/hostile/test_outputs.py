"""Hostile outputs (issue #17, item 4): one file per unit, CSV cells that never run as formulas, exports
put in place only when complete, chart text never read as maths, folders and files that follow the umask."""

from __future__ import annotations

import csv
import os
import stat
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path

import matplotlib
import pandas as pd
import pytest
import yaml
from openpyxl import Workbook, load_workbook  # type: ignore[import-untyped]
from typer.testing import CliRunner

from compstat.cells import FORMULA_PREFIXES, read_csv
from compstat.cli import app
from compstat.config import load_config
from compstat.cycle import run_cycle, staged_output
from compstat.errors import ConfigError
from compstat.files import write_atomically
from compstat.ingest import export_quarantine
from compstat.safepaths import NameClashError, unique_names
from tests.conftest import SMALL_CONFIG
from tests.hostile.conftest import PERIOD
from tests.test_ingest import INCIDENTS, TODAY

UNIT_NAME = '=HYPERLINK("http://example.com/x","Alpha")'
MEASURE_NAME = "@SUM(1+1)*cmd|' /C calc'!A0"
OTHER_MEASURE = "-2+3+cmd|' /C calc'!A0"
QUARANTINED = pd.DataFrame({"source": ["s"], "file": ["f.csv"], "row": [3], "field": ["unit"],
                            "reason": ["unit 'X' is not in the config"], "raw": ["@x"]})
BAD_ROW = "R98,A,not\x07a date,burglary,53.1,-2.1\n"  # quarantined; its reason holds the BEL character


def config_text(**names: str) -> str:
    """The small config with the units' codes or names and the measures' names replaced (``A_code``,
    ``A_name``, ``burglary_name``...)."""
    raw = yaml.safe_load(SMALL_CONFIG)
    for unit in raw["units"][0]["children"]:
        unit["code"], unit["name"] = names.get(f"{unit['code']}_code", unit["code"]), names.get(
            f"{unit['code']}_name", unit["name"])
    for measure in raw["measures"]:
        measure["name"] = names.get(f"{measure['id']}_name", measure["name"])
    return yaml.safe_dump(raw, allow_unicode=True)


@pytest.fixture
def umask_022() -> Iterator[None]:
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


# --- one file per unit ------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [("N/2", "N_2"), ("N2", "n2"), ("../x", "/x")])
def test_unit_codes_that_would_share_a_file_are_refused_naming_both(tmp_path: Path, a: str, b: str) -> None:
    """Before: `N/2` and `N_2` loaded, and wrote `N_2.md` and `N_2-2.md` (earlier still, one `N_2.md`, one
    note lost): the reader could not tell which unit's file was which."""
    path = tmp_path / "c.yaml"
    path.write_text(config_text(A_code=a, B_code=b), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"units '{a}' and '{b}' would share output files"):
        load_config(path)
    result = CliRunner().invoke(app, ["check", "--config", str(path), "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2 and f"units '{a}' and '{b}' would share output files" in result.output
    assert "Traceback" not in result.output


def test_names_made_where_files_are_written_refuse_a_clash() -> None:
    """The guard behind the config's check (packs, minutes): a clash is an error naming both, never `-2`."""
    with pytest.raises(NameClashError, match="'N/2' and 'N_2' would both be written to the file 'N_2.md'"):
        unique_names(["N/2", "N_2"], suffix=".md")


# --- CSV cells never run as formulas ----------------------------------------------------


@pytest.fixture(scope="module")
def hostile_cycle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cycle of the small config whose unit and measure names are formulas, with a quarantined row holding
    a control character; returns its root (config, store ``s.db``, outputs under ``out``)."""
    root = tmp_path_factory.mktemp("hostile-outputs")
    (root / "c.yaml").write_text(config_text(A_name=UNIT_NAME, burglary_name=MEASURE_NAME,
                                             robbery_name=OTHER_MEASURE), encoding="utf-8")
    (root / "incidents.csv").write_text(INCIDENTS + BAD_ROW, encoding="utf-8")
    run_cycle(load_config(root / "c.yaml"), f"sqlite:///{root / 's.db'}", PERIOD, out_root=root / "out",
              today=TODAY, workers=1)
    return root


def test_no_csv_cell_of_a_cycle_is_a_live_formula(hostile_cycle: Path) -> None:
    """Before: `period_table.csv` and the `analysis_*.csv` files held `=HYPERLINK(...)` and `@SUM(...)` as written."""
    folder = hostile_cycle / "out" / "testshire" / PERIOD
    files = sorted(folder.glob("*.csv"))
    assert [f.name for f in files][-1] == "period_table.csv" and len(files) == 9
    negatives = 0
    for path in files:
        with path.open(encoding="utf-8", newline="") as handle:
            for cell in (c for row in csv.reader(handle) for c in row):
                if cell.startswith(FORMULA_PREFIXES):  # only numbers may start so: -12.5 stays a number
                    float(cell)
                    negatives += cell.startswith("-")
    assert negatives > 0
    table = pd.read_csv(folder / "period_table.csv", dtype=str)
    assert set(table["unit_name"]) >= {"'" + UNIT_NAME}
    assert set(table["measure_name"]) == {"'" + MEASURE_NAME, "'" + OTHER_MEASURE}
    back = read_csv(folder / "period_table.csv")  # what compstat reads back (an unchanged re-run): as written
    assert set(back["unit_name"]) >= {UNIT_NAME} and set(back["measure_name"]) == {MEASURE_NAME, OTHER_MEASURE}


# --- exports: complete or not at all, control characters shown ---------------------------


def test_quarantine_export_with_a_control_character(hostile_cycle: Path, tmp_path: Path) -> None:
    """Before: `quarantine list --export q.xlsx` stopped with openpyxl's IllegalCharacterError traceback and left
    a half-written q.xlsx."""
    out = tmp_path / "q.xlsx"
    result = CliRunner().invoke(app, ["quarantine", "list", "--config", str(hostile_cycle / "c.yaml"), "--db",
                                      f"sqlite:///{hostile_cycle / 's.db'}", "--export", str(out)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out)["quarantine"]
    cells = [str(c.value) for row in sheet.iter_rows(min_row=2) for c in row if c.value is not None]
    # the row is refused for its BEL (#17's one rule); a cell with one would show it as ␇ (tests/test_cells.py)
    assert any("holds the control character U+0007 (BEL)" in c for c in cells)
    assert not any("\x07" in c for c in cells)
    assert [p.name for p in tmp_path.iterdir()] == ["q.xlsx"]  # no temporary file left


def test_an_xlsx_export_shows_control_characters_and_keeps_formula_text(tmp_path: Path) -> None:
    """Before: openpyxl's IllegalCharacterError, a traceback; `=...` text would have been written as a formula."""
    path = tmp_path / "q.xlsx"
    export_quarantine(QUARANTINED.assign(reason="=cmd|' /C calc'!A0 \x00\x1b[2J"), path)
    sheet = load_workbook(path)["quarantine"]
    reason, raw = sheet.cell(2, 5), sheet.cell(2, 6)
    assert reason.value == "=cmd|' /C calc'!A0 ␀␛[2J" and reason.data_type == "s" and reason.quotePrefix
    assert raw.value == "@x" and raw.data_type == "s" and raw.quotePrefix and sheet.cell(2, 3).value == 3


@pytest.mark.parametrize("name", ["q.xlsx", "q.csv"])
def test_an_export_is_complete_or_not_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    """Before: a write that failed part-way (a full disk) left a half-written export in place of the earlier one."""
    path = tmp_path / name
    export_quarantine(QUARANTINED, path)
    before = path.read_bytes()
    if name.endswith(".xlsx"):
        save = Workbook.save

        def disk_full(self: Workbook, filename: object) -> None:  # the disk fills as the workbook is written
            save(self, filename)
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(Workbook, "save", disk_full)
    else:
        to_csv = pd.DataFrame.to_csv

        def disk_full_csv(self: pd.DataFrame, target: object, **options: object) -> None:
            to_csv(self.head(1), target, **options)  # type: ignore[call-overload]
            raise OSError(28, "No space left on device")

        monkeypatch.setattr(pd.DataFrame, "to_csv", disk_full_csv)
    more = pd.concat([QUARANTINED.assign(row=r) for r in range(4, 40)], ignore_index=True)
    with pytest.raises(OSError, match="No space left"):
        export_quarantine(more, path)
    assert path.read_bytes() == before  # the earlier export, whole
    assert [p.name for p in tmp_path.iterdir()] == [name]  # no temporary file left
    with pytest.raises(OSError, match="No space left"):
        export_quarantine(more, tmp_path / f"new-{name}")
    assert not (tmp_path / f"new-{name}").exists()


def test_actions_export_with_a_control_character(small_config_path: Path, tmp_path: Path) -> None:
    """Before: an action whose text held a control character stopped `actions export` with openpyxl's
    IllegalCharacterError traceback."""
    base = ["--config", str(small_config_path), "--db", f"sqlite:///{tmp_path / 's.db'}"]
    runner = CliRunner()
    added = runner.invoke(app, ["actions", "add", *base, "--unit", "A", "--action", "Ring\x07 the =bell", "--owner",
                                "@Insp A", "--by", "chair", "--period", "2026-W10", "--due", "2026-03-20"])
    assert added.exit_code == 0, added.output
    out = tmp_path / "a.xlsx"
    exported = runner.invoke(app, ["actions", "export", *base, "--unit", "A", "--period", "2026-W11", "--out",
                                   str(out)])
    assert exported.exit_code == 0, exported.output
    cells = {c.value: c for row in load_workbook(out)["Actions"].iter_rows() for c in row if isinstance(c.value, str)}
    assert "Ring␇ the =bell" in cells and cells["@Insp A"].quotePrefix and cells["@Insp A"].data_type == "s"


# --- chart text is never maths ----------------------------------------------------------


def test_chart_text_with_dollars_is_drawn_as_text() -> None:
    """Before: a measure named `Cost $\\oops$` stopped the cycle with matplotlib's `Unknown symbol: \\oops`
    (`$x$` in a name was drawn in italics)."""
    from compstat.analysis.spc import spc
    from compstat.analysis.spc_chart import spc_chart
    from compstat.packs.charts import PeerRow, TrendLine, chart_style, peer_chart, trend_panels

    name = "Cost $\\oops$ per $5"
    start = date(2026, 1, 5)
    png = trend_panels([TrendLine(title=name, starts=[start + timedelta(weeks=i) for i in range(8)],
                                  values=[float(i % 3) for i in range(8)], y_label=name)])
    assert png.startswith(b"\x89PNG")
    peers = [PeerRow(label=name, value=1.2, low=0.8, high=1.6, peer_mean=1.0, peers=[0.9, 1.1], verdict=name,
                     peer_codes=["$\\x$", "B"], code="$A$", mean_text=name)]
    assert peer_chart(peers).startswith(b"\x89PNG")
    points = pd.DataFrame({"x": range(12), "y": [float(i % 4) for i in range(12)]})
    assert spc_chart(spc(points), title=name, y_label=name).startswith(b"\x89PNG")
    with chart_style():
        assert matplotlib.rcParams["text.parse_math"] is False


# --- folders and files follow the umask -------------------------------------------------


def test_period_folder_follows_the_umask(tmp_path: Path, umask_022: None) -> None:
    """Before: the period folder was tempfile.mkdtemp's 0700 whatever the umask."""
    final = tmp_path / "out" / "org" / PERIOD
    with staged_output(final) as work:
        (work / "period_table.csv").write_text("x\n", encoding="utf-8")
    assert stat.S_IMODE(final.stat().st_mode) == 0o755
    assert stat.S_IMODE((final / "period_table.csv").stat().st_mode) == 0o644


def test_files_written_atomically_follow_the_umask(tmp_path: Path, umask_022: None) -> None:
    """Before: minutes, action exports and every file written via a temporary file were 0600."""
    path = tmp_path / "note.md"
    write_atomically(path, b"one")
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o640)  # an earlier file keeps the mode its owner gave it
    write_atomically(path, b"two")
    assert stat.S_IMODE(path.stat().st_mode) == 0o640 and path.read_bytes() == b"two"
