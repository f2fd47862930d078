"""compstat/cells.py: CSV cells that no spreadsheet runs, read back as written (issue #17, item 4)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from compstat.cells import csv_text, read_csv, restore, write_csv, xlsx_text


@pytest.mark.parametrize(("text", "written"), [
    ("=1+2", "'=1+2"), ("+cmd", "'+cmd"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("'=x", "''=x"), ("-12.5", "-12.5"), ("+3%", "+3%"), ("Alpha", "Alpha"), ("'tis", "'tis"),
    ("", ""), ("-", "'-"),
])
def test_csv_text_and_restore(text: str, written: str) -> None:
    assert csv_text(text) == written
    assert restore(written) == text


def test_a_csv_keeps_numbers_and_quotes_text(tmp_path: Path) -> None:
    frame = pd.DataFrame({"=name": ["=1+2", "ok", None], "change": [-12.5, 3.0, float("nan")], "n": [-1, 2, 3]})
    assert write_csv(frame, index=False) == "'=name,change,n\n'=1+2,-12.5,-1\nok,3.0,2\n,,3\n"
    write_csv(frame, tmp_path / "f.csv", index=False)
    pd.testing.assert_frame_equal(read_csv(tmp_path / "f.csv"), frame)


def test_xlsx_text_shows_only_what_an_xlsx_cannot_hold() -> None:
    assert xlsx_text("a\x00b\x07c\x1bd\te\nf\rg\x7f") == "a␀b␇c␛d\te\nf\rg\x7f"
