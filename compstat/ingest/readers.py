"""Read a configured source (CSV, Excel, Parquet files or a SQL query) into raw text frames.

Every value is read as text so that validation (``mapping.py``) sees exactly what the
file holds and can name what was wrong with it. Files are hashed as a stream, and a workbook
over the configured limits (``compstat.limits``) is refused before it is parsed.
"""

from __future__ import annotations

import glob
import hashlib
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.exc import SQLAlchemyError

from compstat.config import Config, Limits, Source
from compstat.errors import SourceError
from compstat.files import file_sha256
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
            frame = pd.read_csv(path, dtype=str, keep_default_na=False, sep=sep, encoding="utf-8-sig")
            first_line = 2
        elif fmt == "excel":
            frame = pd.read_excel(path, sheet_name=source.sheet or 0, dtype=str, keep_default_na=False)
            first_line = 2
        else:
            frame = pd.read_parquet(path)
            frame = frame.astype("string").fillna("").astype(str)
            first_line = 1
    except (OSError, ValueError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise SourceError(f"{path}: cannot be read as {fmt} ({_first_line(exc)})") from None
    except Exception as exc:  # noqa: BLE001 - readers raise many library-specific types
        raise SourceError(f"{path}: cannot be read as {fmt} ({type(exc).__name__}: {_first_line(exc)})") from None
    return RawInput(source.name, str(path), sha, _as_text(frame), first_line, size)


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
