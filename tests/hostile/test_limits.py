"""Spreadsheet limits (issue #12, item 5): a workbook over its rows or uncompressed-bytes limit, or a zip bomb,
is refused before it is parsed, with exit 2 and a message naming the file, what it holds, the limit and the key
that raises it; every input's size on disk is in the ingest report."""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from openpyxl import Workbook
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import load_config
from compstat.ingest import ingest_all
from compstat.store import connect, transaction
from tests.conftest import SMALL_CONFIG

MAIN = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
ROW = (b'<row r="2"><c r="A2" t="inlineStr"><is><t>A</t></is></c>'
       b'<c r="B2" t="inlineStr"><is><t>2026-03-02</t></is></c></row>')


def write_bomb(path: Path, sheet: str, megabytes: int) -> Path:
    """A well-formed XLSX whose one sheet's XML is ``megabytes`` MiB of rows, compressed about 130 times (its
    ``<dimension>`` claims two rows): written in chunks, so building it takes a few MB of memory."""
    parts = {
        "[Content_Types].xml": '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
        'content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships'
        '+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" '
        'ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override '
        'PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
        'spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
        'relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
        'relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{RELS}"><sheets>'
        f'<sheet name="{sheet}" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/'
        'package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/'
        'officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    }
    block = ROW * ((1 << 20) // len(ROW))
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w", force_zip64=True) as sheet_xml:
            sheet_xml.write(f'<?xml version="1.0"?><worksheet xmlns="{MAIN}"><dimension ref="A1:B2"/>'
                            '<sheetData>'.encode())
            for _ in range(megabytes):
                sheet_xml.write(block)
            sheet_xml.write(b"</sheetData></worksheet>")
    return path


@pytest.fixture
def no_parsing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any workbook is parsed: the limits must be checked before."""
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the workbook was parsed before its limits were checked")

    import compstat.actions.sheets  # imported before openpyxl is patched, so it is restored after

    monkeypatch.setattr(compstat.actions.sheets, "load_workbook", refuse)
    monkeypatch.setattr(pd, "read_excel", refuse)
    monkeypatch.setattr("openpyxl.load_workbook", refuse)


def excel_config(tmp_path: Path, limits: str = "") -> Path:
    config = tmp_path / "testshire.yaml"
    config.write_text(SMALL_CONFIG.replace("path: incidents.csv", "path: incidents.xlsx") + limits, encoding="utf-8")
    return config


def run_cycle(config: Path, tmp_path: Path) -> Any:
    return CliRunner().invoke(app, ["run-cycle", "--config", str(config), "--db", f"sqlite:///{tmp_path / 's.db'}",
                                    "--out", str(tmp_path / "out"), "--today", "2026-03-20"])


def test_a_data_source_bomb_is_refused_before_parsing(tmp_path: Path, no_parsing: None) -> None:
    """210 MB of sheet XML in a ~0.6 MB file: over the 200 MB default, refused from the zip directory alone."""
    bomb = write_bomb(tmp_path / "incidents.xlsx", "Sheet1", 210)
    assert bomb.stat().st_size < 2_500_000
    result = run_cycle(excel_config(tmp_path), tmp_path)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert str(bomb) in message and "refused before reading" in message
    assert "expands to 220," in message and "bytes of XML" in message  # 210 MiB and the other parts
    assert "the limit for a data source is 200,000,000 bytes" in message
    assert "raise limits.spreadsheet_bytes in the config" in message
    assert "Traceback" not in result.output


def test_a_zip_bomb_under_the_byte_limit_is_refused_by_its_compression_ratio(tmp_path: Path,
                                                                             no_parsing: None) -> None:
    bomb = write_bomb(tmp_path / "incidents.xlsx", "Sheet1", 8)
    result = run_cycle(excel_config(tmp_path), tmp_path)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{bomb}: refused before reading: its member xl/worksheets/sheet1.xml expands" in message
    assert "more than the 100 times allowed: a zip bomb or a corrupt file" in message
    assert "raise limits.compression_ratio in the config" in message


def test_a_data_source_over_its_row_limit_is_refused(tmp_path: Path, no_parsing: None) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["unit", "when", "offence", "lat", "lon", "ref"])
    for i in range(7):
        sheet.append(["A", "2026-03-02", "burglary", 51.5, -0.1, f"R{i}"])
    book.save(tmp_path / "incidents.xlsx")
    result = run_cycle(excel_config(tmp_path, "limits: {spreadsheet_rows: 5}\n"), tmp_path)
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert (f"{tmp_path / 'incidents.xlsx'}: refused before reading: it holds 7 rows below its header; the limit "
            "for a data source is 5 rows. To read it, raise limits.spreadsheet_rows in the config") in message


def test_rows_are_counted_from_the_sheet_itself_not_its_dimension(tmp_path: Path) -> None:
    """A ``<dimension>`` may lie (or be missing): the rows are counted in the sheet's XML, as a stream."""
    from compstat.limits import check_spreadsheet, source_limits

    bomb = write_bomb(tmp_path / "rows.xlsx", "Sheet1", 1)
    rows = (1 << 20) // len(ROW)
    config = load_config(excel_config(tmp_path, "limits: {compression_ratio: 1000}\n")).limits
    assert check_spreadsheet(bomb, source_limits(config)).rows == rows
    at_limit = source_limits(config.model_copy(update={"spreadsheet_rows": rows - 1}))
    assert check_spreadsheet(bomb, at_limit).rows == rows  # rows below the header: exactly at the limit
    with pytest.raises(Exception, match=f"holds {rows - 1:,} rows below its header"):
        check_spreadsheet(bomb, source_limits(config.model_copy(update={"spreadsheet_rows": rows - 2})))


def test_an_action_sheet_bomb_is_refused_before_parsing(tmp_path: Path, no_parsing: None) -> None:
    """`actions import` of a 30 MB-of-XML sheet: over the 20 MB action sheet default."""
    config = excel_config(tmp_path)
    bomb = write_bomb(tmp_path / "actions-A.xlsx", "Actions", 30)
    result = CliRunner().invoke(app, ["actions", "import", "--config", str(config), str(bomb), "--by", "Insp A",
                                      "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert f"{bomb}: refused before reading: it expands to" in message
    assert "the limit for a commanders' action sheet is 20,000,000 bytes" in message
    assert "raise limits.action_sheet_bytes in the config" in message


def test_minutes_over_the_action_sheet_row_limit_are_refused(tmp_path: Path, no_parsing: None) -> None:
    book = Workbook()
    book.create_sheet("Minutes")
    minutes = book["Minutes"]
    minutes.append(["unit", "action", "owner", "due"])
    for i in range(12):
        minutes.append(["A", f"Visit repeat victims {i}", "Insp A", "2026-03-20"])
    book.save(tmp_path / "minutes.xlsx")
    config = excel_config(tmp_path, "limits: {action_sheet_rows: 10}\n")
    result = CliRunner().invoke(app, ["actions", "import-minutes", "--config", str(config),
                                      str(tmp_path / "minutes.xlsx"), "--period", "2026-W10",
                                      "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 2, result.output
    message = " ".join(result.output.split())
    assert "holds 12 rows below its header; the limit for a commanders' action sheet is 10 rows" in message
    assert "raise limits.action_sheet_rows in the config" in message


def test_each_inputs_size_is_in_the_ingest_report(small_config_path: Path, tmp_path: Path) -> None:
    data = small_config_path.parent / "incidents.csv"
    data.write_text("unit,when,offence,lat,lon,ref\nA,2026-03-02,burglary,51.5,-0.1,R1\n", encoding="utf-8")
    config = load_config(small_config_path)
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    with transaction(engine) as session:
        first = ingest_all(session, config, pd.Timestamp("2026-03-20").date(), "")
    with transaction(engine) as session:
        again = ingest_all(session, config, pd.Timestamp("2026-03-20").date(), "")
    engine.dispose()
    assert [(r.status, r.bytes) for r in first] == [("loaded", data.stat().st_size)]
    assert [(r.status, r.bytes) for r in again] == [("unchanged", data.stat().st_size)]


def test_a_sheet_whose_dimension_understates_it_is_read_whole(tmp_path: Path) -> None:
    """Sheets are read read-only (as a stream), which would stop at a wrong ``<dimension>``: every row counts."""
    book = Workbook()
    minutes = book.active
    assert minutes is not None
    minutes.title = "Minutes"
    minutes.append(["unit", "action", "owner", "due"])
    for i in range(3):
        minutes.append(["A", f"Visit repeat victims {i}", "Insp A", "2026-03-20"])
    book.save(tmp_path / "written.xlsx")
    with zipfile.ZipFile(tmp_path / "written.xlsx") as source, \
            zipfile.ZipFile(tmp_path / "minutes.xlsx", "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                assert b'<dimension ref="A1:D4" />' in data
                data = data.replace(b'<dimension ref="A1:D4" />', b'<dimension ref="A1:A1" />')
            target.writestr(item, data)
    result = CliRunner().invoke(app, ["actions", "import-minutes", "--config", str(excel_config(tmp_path)),
                                      str(tmp_path / "minutes.xlsx"), "--period", "2026-W10",
                                      "--db", f"sqlite:///{tmp_path / 's.db'}"])
    assert result.exit_code == 0, result.output
    assert "3 actions added" in result.output
