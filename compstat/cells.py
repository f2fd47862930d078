"""Cells of the CSV and XLSX files compstat writes: text is never read as a formula, and never holds a
character a spreadsheet refuses.

A spreadsheet opening a CSV reads a cell that starts with ``=``, ``+``, ``-`` or ``@`` (or a tab or a
carriage return) as a formula: a unit name, a measure name or a quarantined row from the data could
run one (CSV injection). ``write_csv`` writes every CSV: such text gets a leading ``'`` (OWASP's
advice), and so does text that is only quotes before one of them (``'=x`` → ``''=x``), so that
``restore`` gives back exactly the text (``read_csv``). Numbers stay numbers (``-12.5`` in a number
column, or text that is only a number, which no spreadsheet runs). In an XLSX, ``put_value`` writes such
text as a string with Excel's quote prefix (the text itself unchanged), and shows each control character
the format cannot hold (``openpyxl``'s ``IllegalCharacterError``) as its Unicode Control Picture
(BEL as ``␇``). ``write_xlsx`` replaces its file only when the workbook is complete; a CSV that replaces a
file in place is written inside ``files.replaced_atomically`` (a cycle's CSVs are in its staged folder).
"""

from __future__ import annotations

import math
import re
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from compstat.files import replaced_atomically

if TYPE_CHECKING:
    from openpyxl.cell.cell import Cell  # type: ignore[import-untyped]

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
_QUOTED = re.compile(r"^'*[=+\-@\t\r]")  # text that gets one more leading quote in a CSV
_RESTORABLE = re.compile(r"^'+[=+\-@\t\r]")  # text that loses one when read back
_XLSX_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")  # openpyxl's ILLEGAL_CHARACTERS_RE
_NUMBER = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?%?$")


def formula_like(value: object) -> bool:
    """Whether a spreadsheet would read ``value`` (text) as a formula."""
    return isinstance(value, str) and value.startswith(FORMULA_PREFIXES)


def csv_text(value: object) -> object:
    """``value`` as a CSV cell that no spreadsheet runs: text starting with a formula character (after any
    quotes) gets a leading ``'``, unless it is only a number; anything else is returned as it is."""
    if isinstance(value, str) and _QUOTED.match(value) and not _NUMBER.match(value):
        return QUOTE + value
    return value


def restore(value: object) -> object:
    """The text ``csv_text`` was given: one leading ``'`` removed where ``csv_text`` added it."""
    if isinstance(value, str) and _RESTORABLE.match(value):
        return value[1:]
    return value


def neutralised(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with ``csv_text`` applied to every text cell and column label; number, boolean and
    date columns as they are."""
    out = frame.rename(columns=csv_text)
    for i, dtype in enumerate(out.dtypes):
        if pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype):
            continue
        column = out.iloc[:, i].astype(object)
        if column.map(lambda v: isinstance(v, str) and _QUOTED.match(v) is not None).any():
            out.isetitem(i, column.map(csv_text).to_numpy())
    return out


def write_csv(frame: pd.DataFrame, path: Path | None = None, **options: Any) -> str | None:
    """``frame.to_csv(path, **options)`` with every text cell ``neutralised``; the text when ``path`` is None.
    A file replaced in place is written inside ``files.replaced_atomically`` (a cycle's are in its staged folder)."""
    text: str | None = neutralised(frame).to_csv(path, **options)
    return text


def read_csv(path: Path, **options: Any) -> pd.DataFrame:
    """A CSV that ``write_csv`` wrote, its text as it was before (``restore``)."""
    frame: pd.DataFrame = pd.read_csv(path, **options).rename(columns=restore)
    for i, dtype in enumerate(frame.dtypes):
        if not (pd.api.types.is_numeric_dtype(dtype) or pd.api.types.is_datetime64_any_dtype(dtype)):
            frame.isetitem(i, frame.iloc[:, i].map(restore).to_numpy())
    return frame


def xlsx_text(text: str) -> str:
    """``text`` with each character an XLSX cannot hold (C0 controls other than tab, line feed and
    carriage return) shown as its Unicode Control Picture."""
    return _XLSX_ILLEGAL.sub(lambda m: chr(0x2400 + ord(m.group())), text)


def put_value(cell: Cell, value: object) -> None:
    """Write ``value``; text stays text (a formula-like one with Excel's quote prefix), control
    characters shown (``xlsx_text``)."""
    if isinstance(value, str):
        cell.value = xlsx_text(value)
        cell.data_type = "s"
        if value.startswith(FORMULA_PREFIXES):
            cell.quotePrefix = True
    else:
        cell.value = value


def _plain(value: object) -> object:
    """A frame's cell as a value openpyxl writes: None for missing, Python numbers and datetimes."""
    if isinstance(value, np.datetime64):
        value = pd.Timestamp(value)
    elif isinstance(value, np.generic):
        value = value.item()
    if value is None or value is pd.NA or value is pd.NaT or (isinstance(value, float) and math.isnan(value)):
        return None
    if isinstance(value, pd.Timestamp):
        return (value.tz_localize(None) if value.tzinfo else value).to_pydatetime()
    if isinstance(value, (str, int, float, bool, date, datetime)):
        return value
    return str(value)


def write_xlsx(frame: pd.DataFrame, path: Path, sheet: str) -> None:
    """``frame`` as one sheet of an XLSX (header row, then a row per record), its text written by ``put_value``;
    ``path`` is replaced only once the workbook is complete."""
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell.cell import WriteOnlyCell

    workbook = Workbook(write_only=True)
    worksheet = workbook.create_sheet(sheet)

    def row(values: list[object]) -> list[Any]:
        cells = []
        for value in values:
            cell = WriteOnlyCell(worksheet)
            put_value(cell, _plain(value))
            cells.append(cell)
        return cells

    worksheet.append(row([str(c) for c in frame.columns]))
    for record in frame.itertuples(index=False, name=None):
        worksheet.append(row(list(record)))
    with replaced_atomically(path) as temp:
        workbook.save(temp)
