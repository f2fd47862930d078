"""Hostile rows (issue #17, items 2 and 3): one bad row of a CSV - a field too many or too few, a byte that
is not UTF-8 - is quarantined with its line in the file and the reason, and the rest loads; a file is
refused only when unreadable as a whole. A value holding NUL or another control character is refused by
one rule, the same on SQLite and PostgreSQL, for data sources and for minutes."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from compstat.actions import import_minutes
from compstat.cli import app
from compstat.config import Config
from compstat.errors import SourceError
from compstat.ingest import ingest_all, quarantined_rows
from compstat.periods import parse_period
from compstat.store import Action, Observation, connect, transaction
from tests.hostile.conftest import SmallCycle
from tests.test_ingest import INCIDENTS, TODAY

GOOD = 18  # INCIDENTS' rows counted (tests/test_ingest.py)


def ingest(config: Config, store_url: str, data: bytes) -> tuple[int, list[tuple[int, str, str]]]:
    """Write ``data`` as the small config's incidents.csv, ingest it: (observations, quarantined (row, field,
    reason) beyond INCIDENTS' own three rows)."""
    config.resolve_path("incidents.csv").write_bytes(data)
    engine = connect(store_url)
    with transaction(engine) as session:
        ingest_all(session, config, TODAY, store_url)
    with transaction(engine) as session:
        count = int(session.scalar(select(func.count()).select_from(Observation)) or 0)
        rows = quarantined_rows(session, config.organisation.slug)
    engine.dispose()
    quarantined = [(int(r), str(f), str(why)) for r, f, why in zip(rows["row"], rows["field"], rows["reason"],
                                                                     strict=True) if int(r) > 22]
    return count, quarantined


def test_a_row_with_a_field_too_many_or_too_few_is_quarantined_with_its_line(small_config: Config,
                                                                              store_url: str) -> None:
    """Before: ``Expected 6 fields in line 24, saw 8``: the whole file refused (exit 2). Now the two rows are
    quarantined with their line in the file (a quoted value over three lines before them counted), the
    rest loads, and the rows after them keep their own line numbers."""
    text = (INCIDENTS + '"R22\nsecond line\nthird line",B,2026-03-04,burglary,53.2,-2.2\n'  # lines 23-25
            + 'R23,B,2026-03-04,"bur\nglary",53.2,-2.2\n'  # lines 26-27
            + "R24,B,2026-03-04,burglary,53.2,-2.2,extra,more\n" + "R25,B,2026-03-04\n"
            + "R26,Q,2026-03-04,burglary,53.2,-2.2\n")
    count, quarantined = ingest(small_config, store_url, text.encode("utf-8"))
    assert count == GOOD + 2  # R22 and R23 (whose category holds a line break: not burglary, still counted)
    assert quarantined == [
        (28, "row", "8 fields where the header has 6"),
        (29, "row", "3 fields where the header has 6"),
        (30, "unit", "unit 'Q' is not in the config (add it, or map it with unit_map)"),
    ]


def test_a_byte_that_is_not_utf8_quarantines_its_row_only(small_config: Config, store_url: str) -> None:
    """Before: ``'utf-8' codec can't decode byte 0x96 in position 1021: invalid start byte`` (a position in a
    parser chunk), the file refused. Now the row holding the cp1252 dash is quarantined with its line and the
    byte named, and every other row loads."""
    data = (INCIDENTS.encode("utf-8") + b"R22,B,2026-03-04,burglary \x96 dwelling,53.2,-2.2\n"
            + b"R23,B,2026-03-04,burglary,53.2,-2.2\n")
    count, quarantined = ingest(small_config, store_url, data)
    assert count == GOOD + 1
    assert quarantined == [(23, "row", "byte 0x96 is not UTF-8 (the encoding a CSV is read in); saved as cp1252 "
                                       "(Windows), where it reads '\u2013'?")]


def test_a_file_not_in_utf8_at_all_is_refused_naming_a_line(small_config_path: Path, tmp_path: Path) -> None:
    """A whole cp1252 file (every row with a £) is refused, not quarantined row by row: one line that names
    how many lines, the first one and its byte; exit 2, no traceback."""
    rows = "".join(f"R{i},A,2026-03-03,burglary \u00a3{i},53.1,-2.1\n" for i in range(150))
    (tmp_path / "incidents.csv").write_bytes(("ref,unit,when,offence,lat,lon\n" + rows).encode("cp1252"))
    result = CliRunner().invoke(app, ["check", "--config", str(small_config_path), "--db",
                                      f"sqlite:///{tmp_path / 's.db'}", "--today", TODAY.isoformat()])
    assert result.exit_code == 2, result.output
    assert "is not UTF-8 (the encoding a CSV is read in): 150 lines hold bytes that are not, the first line 2 " \
           "(byte 0xa3 is not UTF-8" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_nul_and_control_characters_are_quarantined_on_every_store(small_config: Config, store_url: str) -> None:
    """Before: a NUL in a value loaded on SQLite and failed the ingest on PostgreSQL (``PostgreSQL text fields
    cannot contain NUL (0x00) bytes``), a traceback. Now the row is quarantined on both with the character
    named; a tab is kept; a NUL in a column the source does not read is kept in the row as read."""
    text = (INCIDENTS + "R22,B,2026-03-04,burg\x00lary,53.2,-2.2\n" + "R23,B\x1b[2J,2026-03-04,burglary,53.2,-2.2\n"
            + "R24,B,2026-03-04,burglary\tdwelling,53.2,-2.2\n")
    count, quarantined = ingest(small_config, store_url, text.encode("utf-8"))
    assert count == GOOD + 1  # R24: its tab is kept
    hint = ": not loaded (a value may hold tabs and line breaks, no other control character)"
    assert quarantined == [(23, "offence", "'offence' holds the control character U+0000 (NUL)" + hint),
                           (24, "unit", "'unit' holds the control character U+001B (ESC)" + hint)]


def test_minutes_with_a_nul_are_refused_on_every_store(small_config: Config, store_url: str,
                                                       tmp_path: Path) -> None:
    """Before: a NUL in an action's text was added on SQLite and a traceback on PostgreSQL. Now, by the same
    rule, the row is reported (file, line, column, character) and nothing is imported, on both stores."""
    minutes = tmp_path / "minutes.csv"
    minutes.write_bytes(b"unit,action,owner\nA,Do it,Insp A\nB,Do \x00it,Insp B\n")
    engine = connect(store_url)
    period = parse_period("2026-W10", small_config.cadence)
    with pytest.raises(SourceError) as err, transaction(engine) as session:
        import_minutes(session, small_config, minutes, period, "x")
    assert f"{minutes}:3: 'action' holds the control character U+0000 (NUL)" in str(err.value)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Action)) == 0
    engine.dispose()


def test_a_quote_not_closed_is_named_not_swallowing_the_file(small_config: Config, tmp_path: Path) -> None:
    """A quote opened and not closed on its line makes the next lines one value: the row is quarantined naming
    the lines it swallowed; when it would swallow more than 100 lines the file is refused, naming the line
    where the quote opens (before: ``EOF inside string starting at row 22``, a parser's row, not the line,
    whatever the length)."""
    from compstat.ingest.readers import read_file

    source = small_config.sources[0]
    path = tmp_path / "incidents.csv"
    tail = "".join(f"R{i},B,2026-03-04,burglary,53.2,-2.2\n" for i in range(30, 33))
    path.write_text(INCIDENTS + 'R22,B,2026-03-04,"burglary,53.2,-2.2\n' + tail, encoding="utf-8")
    raw = read_file(source, path)
    assert len(raw.frame) == 21 and raw.rejected["source_row"].tolist() == [23]
    assert raw.rejected["reason"].tolist() == [
        "4 fields where the header has 6 (lines 23 to 26 read as one row: a quote opened in it is not closed?)"]
    path.write_text(INCIDENTS + 'R22,B,2026-03-04,"burglary,53.2,-2.2\n' + tail * 50, encoding="utf-8")
    with pytest.raises(SourceError, match=r'a quote \(\"\) opened on line 23 is not closed for 151 lines'):
        read_file(source, path)


def test_run_cycle_goes_on_past_a_bad_row(small_cycle: SmallCycle) -> None:
    """The CLI end to end: a cycle over a file with a field too many and a cp1252 byte exits 0, the quality
    report and ``quarantine list`` name the lines (before: exit 2, the file refused)."""
    (small_cycle.root / "incidents.csv").write_bytes(
        INCIDENTS.encode("utf-8") + b"R22,B,2026-03-04,burglary,53.2,-2.2,extra\n"
        + b"R23,B,2026-03-04,burglary \x96,53.2,-2.2\n")
    runner = CliRunner()
    result = runner.invoke(app, small_cycle.args())
    assert result.exit_code == 0, result.output
    listed = runner.invoke(app, ["quarantine", "list", "--config", str(small_cycle.config), "--db", small_cycle.db])
    assert listed.exit_code == 0, listed.output
    text = " ".join(listed.output.replace("│", " ").split())
    assert "23 row 7 fields where the header has 6" in text and "24 row byte 0x96 is not UTF-8" in text


def test_no_row_with_the_headers_fields_refuses_the_file(small_config: Config, tmp_path: Path) -> None:
    """Every row ending in a separator the header lacks: before, pandas took the first column as an index and
    shifted every value onto the next column's name (units read as dates); now the file is refused, naming a
    line and the counts."""
    from compstat.ingest.readers import read_file

    path = tmp_path / "incidents.csv"
    path.write_text("ref,unit,when,offence,lat,lon\n" + "".join(
        f"R{i},A,2026-03-03,burglary,53.1,-2.1,\n" for i in range(5)), encoding="utf-8")
    with pytest.raises(SourceError, match=r"no row has the header's 6 fields \(line 2 has 7\)"):
        read_file(small_config.sources[0], path)
