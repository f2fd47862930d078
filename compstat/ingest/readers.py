"""Read a configured source (CSV, Excel, Parquet files or a SQL query) into raw text frames.

Every value is read as text so that validation (``mapping.py``) sees exactly what the
file holds and can name what was wrong with it. Files are hashed as a stream, and a workbook
over the configured limits (``compstat.limits``) is refused before it is parsed.

A CSV is read by Arrow (``pyarrow.csv``) into Arrow-backed strings, never one Python string per
value. One bad row does not refuse the file: a row with more or fewer fields than the header, or
holding bytes that are not UTF-8 (the encoding a CSV is read in), is kept aside with its line in
the file and the reason (``RawInput.rejected``) and the rest loads. Each row keeps the line of the
file it starts on (``RawInput.lines``: quoted values may hold line breaks; blank lines are skipped).
A file is refused only when it cannot be read as a whole (no header, not text, no row with the
header's number of fields, or more than ``MAX_BAD_LINES`` lines not UTF-8: a file saved in another
encoding).
"""

from __future__ import annotations

import codecs
import csv
import glob
import hashlib
import io
import json
import lzma
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from compstat.config import Config, Limits, Source
from compstat.errors import SourceError
from compstat.files import file_sha256
from compstat.ingest.mapping import REJECTED_FIELDS
from compstat.limits import check_spreadsheet, source_limits
from compstat.store.db import require_driver


@dataclass(frozen=True)
class RawInput:
    """One readable input: where it came from, its content hash and its rows as text."""

    source: str
    location: str
    sha256: str
    frame: pd.DataFrame
    first_line: int  # line number of the first data row (for messages)
    bytes: int | None = None  # the file's size on disk (None for a query)
    lines: np.ndarray | None = None  # each row's line in the file (None: ``first_line`` on, one a row)
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=REJECTED_FIELDS))
    # rows refused as read (``REJECTED_FIELDS``: source_row is the line), quarantined with the rest


HEADER_BYTES = 1 << 20  # the header is read from the file's first MiB
BLOCK_BYTES = 1 << 26  # Arrow parses 64 MiB at a time: few chunks per column (each operation is per chunk)
MAX_BAD_LINES = 100  # more lines than this holding bytes that are not UTF-8: the file is not UTF-8
FIELD_COUNT = "{} field{} where the header has {}"
UNDECODED = re.compile("[\udc80-\udcff]+")  # bytes that are not UTF-8, as ``surrogateescape`` decodes them
NOT_UTF8 = "byte{} {} {} not UTF-8 (the encoding a CSV is read in){}"


def input_locations(source: Source, config: Config) -> list[Path]:
    """The files a file source names (its path may be a glob), sorted."""
    pattern = str(config.resolve_path(source.path or ""))
    matches = sorted(Path(p) for p in glob.glob(pattern))
    if not matches:
        raise SourceError(f"source '{source.name}': no file matches {pattern}")
    return matches


def read_file(source: Source, path: Path, sha256: str | None = None, limits: Limits | None = None) -> RawInput:
    """Read one file as text; raise SourceError if it cannot be read at all or is a workbook over ``limits``
    (the config's, default ``Limits()``)."""
    fmt = source.resolved_format
    sha = sha256 or file_sha256(path)
    if fmt == "excel":
        check_spreadsheet(path, source_limits(limits or Limits()), source.sheet)
    try:
        size = path.stat().st_size
        if fmt == "csv":
            sep = source.delimiter or ("\t" if path.suffix.lower() in {".tsv", ".tab"}
                                       else ";" if source.decimal == "," else ",")
            frame, lines, rejected = read_csv(path, sep)
            return RawInput(source.name, str(path), sha, frame, 2, size, lines, rejected)
        elif fmt == "excel":
            frame = pd.read_excel(path, sheet_name=source.sheet or 0, dtype=str, keep_default_na=False)
            first_line = 2
        else:
            frame = pd.read_parquet(path)
            frame = frame.astype("string").fillna("").astype(str)
            first_line = 1
    except SourceError:
        raise
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SourceError(f"{path}: cannot be read as {fmt} ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - readers raise many library-specific types
        raise SourceError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {_first_line(exc)})") from None
    return RawInput(source.name, str(path), sha, _as_text(frame), first_line, size)


def read_csv(path: Path, sep: str) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame]:
    """A CSV file's rows as Arrow-backed text (header names stripped, repeated ones numbered as pandas does:
    ``x``, ``x.1``), each row's line in the file, and the rows kept aside (``REJECTED_FIELDS``): a wrong
    number of fields, or bytes that are not UTF-8. Raises SourceError when the file has no header or is
    not UTF-8 as a whole."""
    names = _header(path, sep)
    bad: list[tuple[int, int, str]] = []  # record number (the header is 1), fields, text
    undecoded: list[bool] = []  # a skipped row's text was not UTF-8: the file is read again, repaired

    def invalid(row: pacsv.InvalidRow) -> str:
        try:
            bad.append((int(row.number or 0), int(row.actual_columns), str(row.text)))
        except UnicodeDecodeError:
            undecoded.append(True)
        return "skip"

    def parse(data: Path | io.BytesIO) -> pa.Table:
        with _binary(data) as stream:
            return pacsv.read_csv(
                stream, read_options=pacsv.ReadOptions(use_threads=False, block_size=BLOCK_BYTES, column_names=names,
                                                       skip_rows=1),
                parse_options=pacsv.ParseOptions(delimiter=sep, newlines_in_values=True, ignore_empty_lines=False,
                                                 invalid_row_handler=invalid),
                convert_options=pacsv.ConvertOptions(column_types={n: pa.large_string() for n in names},
                                                     strings_can_be_null=False, quoted_strings_can_be_null=False))

    undecodable: list[tuple[int, bytes]] = []  # (line, bytes) of each sequence that is not UTF-8
    try:
        table = parse(path)
    except pa.ArrowInvalid as exc:
        if "UTF8" not in str(exc):
            raise
        undecoded.append(True)
    if undecoded:
        bad.clear()
        data, undecodable = _utf8_repaired(path)
        table = parse(io.BytesIO(data))
    lines, spans, bad_lines = _record_lines(table, bad)
    if bad and not table.num_rows:
        raise SourceError(f"{path}: cannot be read as csv: no row has the header's {len(names)} fields (line "
                          f"{bad_lines[0]} has {bad[0][1]}); is the header right, and the delimiter {sep!r}?")
    frame = table.to_pandas(types_mapper={pa.large_string(): pd.StringDtype("pyarrow", na_value=np.nan)}.get,
                            self_destruct=True, split_blocks=True)  # the table's memory passes to the frame
    del table
    blank = (spans == 1) & frame.eq("").all(axis=1).to_numpy(dtype=bool)  # a blank line: no row
    rejected = [(line, "row", _field_count(path, line, fields, len(names), text), _as_read(text, names, sep))
                for line, (_, fields, text) in zip(bad_lines, bad, strict=True)]
    if undecodable:
        ends = lines + spans - 1
        hit: dict[int, list[bytes]] = {}
        for line, seq in undecodable:
            row = int(np.searchsorted(lines, line, side="right")) - 1
            if 0 <= row < len(frame) and line <= ends[row]:
                hit.setdefault(row, []).append(seq)
        rejected += [(int(lines[row]), "row", _not_utf8(seqs),
                      json.dumps({str(k): v for k, v in frame.iloc[row].items()}, ensure_ascii=False))
                     for row, seqs in hit.items()]
        blank[list(hit)] = True
    if blank.any():
        frame, lines = frame[~blank].reset_index(drop=True), lines[~blank]
    out = pd.DataFrame(sorted(rejected), columns=REJECTED_FIELDS) if rejected else \
        pd.DataFrame(columns=REJECTED_FIELDS)
    return frame, lines, out


def _as_read(text: str, names: list[str], sep: str) -> str:
    """A row with a wrong number of fields as the raw JSON object of a quarantined row: its fields under the
    header's names in order, those beyond it as ``(field 8)``."""
    try:
        fields = next(csv.reader(io.StringIO(text, newline=""), delimiter=sep), [])
    except csv.Error:
        fields = [text]
    return json.dumps({names[i] if i < len(names) else f"(field {i + 1})": v for i, v in enumerate(fields)},
                      ensure_ascii=False)


def _field_count(path: Path, line: int, fields: int, expected: int, text: str) -> str:
    """Why a row with a wrong number of fields is not loaded; a row over several lines is most likely a quote
    not closed, named so. Raises SourceError when it runs over more than ``MAX_BAD_LINES`` lines: the rest
    of the file would be read as one value."""
    reason = FIELD_COUNT.format(fields, "" if fields == 1 else "s", expected)
    span = text.count("\n") + 1
    if span > MAX_BAD_LINES:
        raise SourceError(f"{path}: cannot be read as csv: a quote (\") opened on line {line} is not closed for "
                          f"{span:,} lines, which would be read as one value; close or remove it")
    if span > 1:
        reason += f" (lines {line} to {line + span - 1} read as one row: a quote opened in it is not closed?)"
    return reason


def _header(path: Path, sep: str) -> list[str]:
    """The header's column names, stripped, as pandas names them: repeated ones numbered (``x``, ``x.1``), a
    blank one ``Unnamed: <position>``. Raises SourceError for a file that is not text (UTF-16, or a NUL byte
    in its header) or has no header."""
    with _binary(path, native=False) as stream:
        assert not isinstance(stream, str)
        start = stream.read(HEADER_BYTES)
    if start[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        raise SourceError(f"{path}: cannot be read as csv (it is UTF-16: save it as UTF-8)")
    try:
        text = io.StringIO(start.decode("utf-8-sig", errors="replace"), newline="")
        row = next(csv.reader(text, delimiter=sep), None)
    except csv.Error as exc:
        raise SourceError(f"{path}: cannot be read as csv (the header: {exc})") from None
    if row and any("\x00" in c for c in row):
        raise SourceError(f"{path}: cannot be read as csv (its first line holds NUL bytes: not a text file)")
    if not row or not any(c.strip() for c in row):
        raise SourceError(f"{path}: cannot be read as csv (no header row: the first line is empty)")
    names: list[str] = []
    for name in (c.strip() or f"Unnamed: {i}" for i, c in enumerate(row)):
        unique, k = name, 0
        while unique in names:
            k += 1
            unique = f"{name}.{k}"
        names.append(unique)
    return names


@contextmanager
def _binary(data: Path | io.BytesIO, native: bool = True) -> Iterator[str | io.BytesIO | IO[bytes]]:
    """A file's bytes to read, decompressed by the name's ending as pandas did (``.gz``, ``.bz2``, ``.zst``,
    ``.xz``, ``.zip`` of one file): with ``native``, a path Arrow reads (and decompresses) itself."""
    if isinstance(data, io.BytesIO):
        yield data
        return
    suffix = data.suffix.lower()
    if suffix == ".zip":
        with zipfile.ZipFile(data) as archive:
            members = [m for m in archive.namelist() if not m.endswith("/")]
            if len(members) != 1:
                raise SourceError(f"{data}: a .zip source must hold one file (it holds {len(members)})")
            with archive.open(members[0]) as stream:
                yield stream
    elif suffix == ".xz":
        with lzma.open(data) as stream:
            yield stream
    elif native:
        yield str(data)
    else:
        with pa.input_stream(str(data), compression="detect") as stream:
            yield cast(IO[bytes], stream)


def _record_lines(table: pa.Table, bad: list[tuple[int, int, str]]) -> tuple[np.ndarray, np.ndarray, list[int]]:
    """Each row's first line in the file and the number of lines it spans (a quoted value may hold line
    breaks), and the first line of each record skipped as invalid (``bad``: record numbers, the header 1)."""
    spans = np.ones(table.num_rows, dtype=np.int64)
    for column in table.columns:
        spans += np.asarray(pc.count_substring(column, "\n").to_numpy(zero_copy_only=False), dtype=np.int64)
    total = table.num_rows + len(bad)
    record_spans = np.ones(total, dtype=np.int64)  # every data record in file order (record number - 2)
    skipped = np.array([b[0] - 2 for b in bad], dtype=np.int64)
    good = np.ones(total, dtype=bool)
    good[skipped] = False
    record_spans[skipped] = [text.count("\n") + 1 for _, _, text in bad]
    record_spans[good] = spans
    starts = 2 + np.concatenate([[0], np.cumsum(record_spans)[:-1]]).astype(np.int64)
    return starts[good], spans, [int(v) for v in starts[skipped]]


def _utf8_repaired(path: Path) -> tuple[bytes, list[tuple[int, bytes]]]:
    """The file's bytes with every byte that is not UTF-8 replaced by ``?`` (the CSV's structure is ASCII, so
    unchanged), and the line and bytes of each run of such bytes. Raises SourceError when more than
    ``MAX_BAD_LINES`` lines hold one: the file is in another encoding."""
    with _binary(path, native=False) as stream:
        assert not isinstance(stream, str)
        text = stream.read().decode("utf-8", "surrogateescape")
    found: list[tuple[int, bytes]] = []
    line, at = 1, 0
    for match in UNDECODED.finditer(text):
        line += text.count("\n", at, match.start())
        at = match.start()
        found.append((line, bytes(ord(c) - 0xDC00 for c in match.group())))
    lines = sorted({n for n, _ in found})
    if len(lines) > MAX_BAD_LINES:
        raise SourceError(f"{path}: is not UTF-8 (the encoding a CSV is read in): {len(lines):,} lines hold bytes "
                          f"that are not, the first line {lines[0]} ({_not_utf8([found[0][1]])}); save it as UTF-8")
    return UNDECODED.sub(lambda m: "?" * len(m.group()), text).encode("utf-8"), found


def _not_utf8(seqs: list[bytes]) -> str:
    """Why a row's bytes are not loaded: each byte named, and what it is in cp1252 (Windows), a likely cause."""
    raw = b"".join(seqs)
    shown = ", ".join(f"0x{b:02x}" for b in raw)
    try:
        hint = f"; saved as cp1252 (Windows), where it reads '{raw.decode('cp1252')}'?"
    except UnicodeDecodeError:
        hint = ""
    return NOT_UTF8.format("s" if len(raw) > 1 else "", shown, "are" if len(raw) > 1 else "is", hint)


def read_query(source: Source, default_url: str) -> RawInput:
    """Run a source's SQL query (on its own ``url``, or the store) and read the result."""
    url = source.url or default_url
    require_driver(url)
    try:
        engine = create_engine(url)
        with engine.connect() as conn:
            frame = pd.read_sql(text(source.query or ""), conn)
        engine.dispose()
    except SQLAlchemyError as exc:
        raise SourceError(f"source '{source.name}': query failed ({_first_line(exc)})") from None
    frame = _as_text(frame.astype("string").fillna("").astype(str))
    sha = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
    return RawInput(source.name, f"query:{source.name}", sha, frame, 1)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    frame.columns = [str(c).strip() for c in frame.columns]
    return frame


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
