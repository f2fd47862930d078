"""Reading figures back out of rendered packs (text extraction with pypdf)."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from pypdf import PdfReader

FIGURE = re.compile(r"^[+-]?[\d,]+(\.\d+)?%?$")


def pdf_text(path: Path) -> str:
    """The PDF's text, extracted once per file version (many tests read the same session's packs)."""
    stat = path.stat()
    return _extracted(str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)


@lru_cache(maxsize=512)
def _extracted(path: str, mtime_ns: int, size: int, inode: int) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def table_row(text: str, measure_name: str, groups: int = 3) -> list[str]:
    """The figures printed on a period-table row: the (this, last, change, %) groups after the
    measure's name and polarity note, however the cells wrapped."""
    flat = " ".join(text.split())
    found = re.search(re.escape(measure_name) + r" [^.]*?(is better|neither better nor worse)", flat)
    if not found:
        raise AssertionError(f"no table row for {measure_name!r} in the pack text")
    tokens = flat[found.end():].split()
    first = next(i for i, token in enumerate(tokens) if FIGURE.match(token))
    return tokens[first:first + 4 * groups]


def counts(tokens: list[str]) -> list[int]:
    """This year and last year for each window, from a row of (this, last, change, %) groups."""
    return [int(tokens[i].replace(",", "")) for g in range(0, len(tokens), 4) for i in (g, g + 1)]
