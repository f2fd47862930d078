"""Size limits on spreadsheets, checked before a workbook is parsed.

An XLSX is a zip of XML files. Its central directory gives each member's uncompressed size
without expanding anything, and Python's ``zipfile`` (which openpyxl and pandas read through)
never yields more bytes than that size, so the declared sizes bound the work of parsing. The
rows of the sheet to be read are then counted by scanning its XML as a stream (bounded by the
byte limit just checked), never by building the workbook. A file over a limit is refused with
a ``SourceError`` (exit 2) naming the file, what it holds, the limit and the config key that
raises it.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from compstat.config import Limits
from compstat.errors import SourceError

RATIO_FROM_BYTES = 1 << 20  # members smaller than this (uncompressed) are not judged by their compression ratio
_ROW = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row[\s>/]")
_REL = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"


@dataclass(frozen=True)
class SheetLimits:
    """The limits for one kind of spreadsheet and the config keys that set them."""

    what: str  # "a data source", "a commanders' action sheet"
    rows: int
    bytes: int
    ratio: float
    rows_key: str
    bytes_key: str


@dataclass(frozen=True)
class SheetSize:
    """What a workbook holds, as read from its zip directory and one scan of the sheet's rows."""

    file_bytes: int
    xml_bytes: int  # every member, uncompressed
    rows: int | None  # rows of the sheet read, header included (None: not an XLSX sheet)


def source_limits(limits: Limits) -> SheetLimits:
    """The limits on a data source read as Excel."""
    return SheetLimits("a data source", limits.spreadsheet_rows, limits.spreadsheet_bytes, limits.compression_ratio,
                       "limits.spreadsheet_rows", "limits.spreadsheet_bytes")


def action_sheet_limits(limits: Limits) -> SheetLimits:
    """The limits on a commanders' action sheet or a meeting's minutes imported as XLSX."""
    return SheetLimits("a commanders' action sheet", limits.action_sheet_rows, limits.action_sheet_bytes,
                       limits.compression_ratio, "limits.action_sheet_rows", "limits.action_sheet_bytes")


def check_spreadsheet(path: Path, limits: SheetLimits, sheet: str | int | tuple[str, ...] | None = 0) -> SheetSize:
    """Refuse ``path`` before parsing if it is over ``limits``. ``sheet`` is the sheet to be read: a name
    (matched without case), a position, or the first of several names present (else the first sheet).
    A file that is not a zip is judged by its size on disk."""
    try:
        file_bytes = path.stat().st_size
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read as an XLSX workbook ({exc.strerror})") from None
    if not zipfile.is_zipfile(path):
        if file_bytes > limits.bytes:
            raise SourceError(_refusal(path, f"is {file_bytes:,} bytes", limits, "bytes"))
        return SheetSize(file_bytes, file_bytes, None)
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            xml_bytes = sum(m.file_size for m in members)
            if xml_bytes > limits.bytes:
                raise SourceError(_refusal(path, f"expands to {xml_bytes:,} bytes of XML ({file_bytes:,} bytes on "
                                                 "disk)", limits, "bytes"))
            for m in members:
                ratio = m.file_size / max(m.compress_size, 1)
                if m.file_size >= RATIO_FROM_BYTES and ratio > limits.ratio:
                    raise SourceError(
                        f"{path}: refused before reading: its member {m.filename} expands {ratio:,.0f} times "
                        f"(from {m.compress_size:,} to {m.file_size:,} bytes), more than the {limits.ratio:,.0f} "
                        "times allowed: a zip bomb or a corrupt file. If it is genuine, raise "
                        "limits.compression_ratio in the config")
            member = _sheet_member(archive, sheet)
            rows = count_rows(archive, member) if member else None
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, NotImplementedError) as exc:
        raise SourceError(f"{path}: cannot be read as an XLSX workbook ({exc})") from None
    if rows is not None and rows - 1 > limits.rows:
        raise SourceError(_refusal(path, f"holds {rows - 1:,} rows below its header", limits, "rows"))
    return SheetSize(file_bytes, xml_bytes, rows)


def count_rows(archive: zipfile.ZipFile, member: str) -> int:
    """The ``<row>`` elements of a worksheet's XML, counted while streaming it (no tree is built)."""
    count, tail = 0, b""
    with archive.open(member) as stream:
        while block := stream.read(1 << 20):
            chunk = tail + block
            cut = chunk.rfind(b"<")  # a tag that may continue in the next block is carried over
            cut = len(chunk) if cut < 0 else cut
            count += len(_ROW.findall(chunk, 0, cut))
            tail = chunk[cut:]
    return count + len(_ROW.findall(tail + b" "))


def _sheet_member(archive: zipfile.ZipFile, sheet: str | int | tuple[str, ...] | None) -> str | None:
    """The zip member holding the sheet (by name or position), or None if the workbook does not say."""
    names = set(archive.namelist())
    if "xl/workbook.xml" not in names or "xl/_rels/workbook.xml.rels" not in names:
        return None
    try:
        book = ElementTree.fromstring(archive.read("xl/workbook.xml"))
        rels = ElementTree.fromstring(archive.read("xl/_rels/workbook.xml.rels"))
    except ElementTree.ParseError:
        return None
    targets = {r.get("Id"): r.get("Target", "") for r in rels if r.tag.endswith("Relationship")}
    sheets = [(s.get("name", ""), targets.get(s.get(_REL))) for s in book.iter() if s.tag.endswith("}sheet")]
    wanted = (sheet,) if isinstance(sheet, str) else sheet if isinstance(sheet, tuple) else ()
    chosen = next((s for name in wanted for s in sheets if s[0].lower() == name.lower()), None)
    if chosen is None and not isinstance(sheet, str):
        position = sheet if isinstance(sheet, int) else 0
        chosen = sheets[position] if 0 <= position < len(sheets) else None
    if chosen is None or not chosen[1]:
        return None
    target = chosen[1]
    member = target.lstrip("/") if target.startswith("/") else posixpath.normpath(posixpath.join("xl", target))
    return member if member in names else None


def _refusal(path: Path, holds: str, limits: SheetLimits, kind: str) -> str:
    limit = f"{limits.rows:,} rows" if kind == "rows" else f"{limits.bytes:,} bytes"
    key = limits.rows_key if kind == "rows" else limits.bytes_key
    return (f"{path}: refused before reading: it {holds}; the limit for {limits.what} is {limit}. "
            f"To read it, raise {key} in the config")
