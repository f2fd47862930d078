"""Reading a commander's table (minutes or the action sheet, CSV or XLSX) as rows of text.

Shared by the minutes import (``actions.log``) and the spreadsheet round-trip (``actions.spreadsheet``),
so neither imports the other. A workbook over the action sheet limits is refused before it is parsed.
"""

from __future__ import annotations

import zipfile
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd
from openpyxl import load_workbook  # type: ignore[import-untyped]
from openpyxl.utils.exceptions import InvalidFileException  # type: ignore[import-untyped]

from compstat.config import Limits
from compstat.errors import SourceError
from compstat.limits import action_sheet_limits, check_spreadsheet

EDIT_MARK = "✎"  # marks the editable columns' headers; dropped when a header is read


def cell_text(value: object) -> str:
    """A cell's value as text: dates as YYYY-MM-DD, whole numbers without ``.0``, formulas literally."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def read_rows(path: Path, limits: Limits | None = None) -> list[dict[str, str]]:
    """The rows of a CSV or XLSX table as text, keyed by header (lower case, ``_`` for spaces).

    For a workbook, the sheet named ``Minutes`` or ``Actions`` if there is one, else the first; a
    workbook over the action sheet ``limits`` (default ``Limits()``) is refused before it is parsed.
    """
    if path.suffix.lower() in (".xlsx", ".xlsm"):
        workbook = open_workbook(path, limits, ("minutes", "actions"))
        names = {n.lower(): n for n in workbook.sheetnames}
        sheet = workbook[names.get("minutes") or names.get("actions") or workbook.sheetnames[0]]
        values = [[cell_text(v) for v in row] for row in sheet_rows(path, workbook, sheet)]
        workbook.close()
    else:
        try:
            frame = pd.read_csv(path, dtype=str, keep_default_na=False)
        except (OSError, ValueError, UnicodeDecodeError) as exc:
            raise SourceError(f"{path}: cannot be read as CSV ({exc})") from None
        values = [list(frame.columns)] + frame.to_numpy().tolist()
    if not values:
        return []
    header = [header_key(str(h)) for h in values[0]]
    return [{h: str(v).strip() for h, v in zip(header, row, strict=False) if h} for row in values[1:]]


def header_key(header: str) -> str:
    return "_".join(header.replace(EDIT_MARK, "").strip().lower().replace("-", " ").split())


READ_ERRORS = (OSError, InvalidFileException, zipfile.BadZipFile, KeyError, ValueError, SyntaxError, EOFError)


def open_workbook(path: Path, limits: Limits | None, sheet: str | tuple[str, ...]) -> Any:
    """The workbook, read-only (rows are parsed as they are iterated), after checking it against ``limits``."""
    check_spreadsheet(path, action_sheet_limits(limits or Limits()), sheet)
    try:
        return load_workbook(path, data_only=False, read_only=True)
    except READ_ERRORS as exc:  # SyntaxError: malformed XML (ElementTree.ParseError)
        raise SourceError(f"{path}: cannot be read as an XLSX workbook ({exc})") from None


def sheet_rows(path: Path, workbook: Any, sheet: Any) -> list[tuple[Any, ...]]:
    """Every row of ``sheet`` as values; a malformed sheet is a SourceError, not a traceback. The sheet's
    ``<dimension>`` is not trusted (read-only mode would stop at it): every row present is read."""
    try:
        sheet.reset_dimensions()
        return list(sheet.iter_rows(values_only=True))
    except READ_ERRORS as exc:
        workbook.close()
        raise SourceError(f"{path}: cannot be read as an XLSX workbook ({exc})") from None
