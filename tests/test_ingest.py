"""Ingest on both backends: good rows load, bad rows are kept with reasons, nothing twice."""

from __future__ import annotations

import json
import re
import sys
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from compstat.config import Config
from compstat.errors import SourceError
from compstat.ingest import ingest_all
from compstat.ingest.mapping import WHITESPACE_RUN, location_names, map_rows
from compstat.store import IngestedFile, Observation, RejectedRow, SupersededObservation, connect, transaction

TODAY = date(2026, 3, 10)
INCIDENTS = """\
ref,unit,when,offence,lat,lon
R1,A,2026-03-03 10:00,burglary,53.1,-2.1
R2,A,2026-03-03 11:30,burglary,53.1,-2.1
R3,Alpha,2026-03-03,burglary,,
R4,A,2026-02-15,burglary,53.1,-2.1
R5,A,2026-02-15,burglary,53.1,-2.1
R6,A,2026-01-05,burglary,53.1,-2.1
R7,A,2025-03-04,burglary,53.1,-2.1
R8,A,2025-03-09,burglary,53.1,-2.1
R9,A,2025-02-01,burglary,53.1,-2.1
R10,A,2025-02-01,burglary,53.1,-2.1
R11,A,2025-02-01,burglary,53.1,-2.1
R12,A,2025-02-01,burglary,53.1,-2.1
R13,A,2026-03-09,burglary,53.1,-2.1
R14,A,2026-03-05,robbery,53.1,-2.1
R15,A,2026-03-05,robbery,53.1,-2.1
R16,B,2026-03-06,burglary,53.2,-2.2
R17,Z,2026-03-06,burglary,53.2,-2.2
R18,B,yesterday,burglary,53.2,-2.2
R19,B,2026-03-06,burglary,abc,-2.2
R20,B,2027-01-01,burglary,53.2,-2.2
R21,B,2026-03-04,burglary,95,-2.2
"""


def write_incidents(config: Config, text: str = INCIDENTS) -> Path:
    path = config.resolve_path("incidents.csv")
    path.write_text(text, encoding="utf-8")
    return path


def test_map_rows_keeps_every_bad_row_with_its_reason(small_config: Config) -> None:
    frame = pd.read_csv(pd.io.common.StringIO(INCIDENTS), dtype=str, keep_default_na=False)
    mapped = map_rows(frame, small_config.sources[0], small_config, "incidents.csv", 2, TODAY)
    assert mapped.rows_read == 21
    assert len(mapped.observations) == 18  # R19 and R21 are counted without their unreadable coordinates
    rejected = pd.concat([mapped.rejected, mapped.flagged]).set_index("source_row")
    assert rejected.loc[18, "reason"] == "unit 'Z' is not in the config (add it, or map it with unit_map)"
    assert rejected.loc[18, "field"] == "unit"
    assert rejected.loc[19, "field"] == "when" and "'yesterday' is not a date" in rejected.loc[19, "reason"]
    assert rejected.loc[20, "reason"] == "latitude 'abc' is not a number: counted, without coordinates (not on maps)"
    assert list(mapped.rejected["source_row"]) == [18, 19, 21] and list(mapped.flagged["source_row"]) == [20, 22]
    assert rejected.loc[21, "reason"] == "date '2027-01-01' is in the future"
    assert rejected.loc[22, "reason"] == "latitude 95.0 is outside -90..90: counted, without coordinates (not on maps)"
    assert json.loads(rejected.loc[18, "raw"])["ref"] == "R17"
    obs = mapped.observations.set_index("record_id")
    assert obs.loc["R3", "unit_code"] == "A"  # matched by unit name
    assert pd.isna(obs.loc["R3", "latitude"])  # blank coordinates are allowed
    assert obs.loc["R19", "unit_code"] == "B" and pd.isna(obs.loc["R19", "longitude"])  # the pair is dropped
    assert obs.loc["R1", "occurred_at"] == "2026-03-03 10:00:00"
    assert obs.loc["R1", "source_row"] == 2


def test_missing_column_is_a_source_error(small_config: Config) -> None:
    frame = pd.DataFrame({"ref": ["x"], "unit": ["A"], "offence": ["burglary"], "lat": [""], "lon": [""]})
    with pytest.raises(SourceError, match="column\\(s\\) 'when' named in source 'incidents' not found"):
        map_rows(frame, small_config.sources[0], small_config, "incidents.csv", 2, TODAY)


def test_ingest_is_idempotent_and_replaces_changed_file(small_config: Config, store_url: str) -> None:
    path = write_incidents(small_config)
    engine = connect(store_url)
    with transaction(engine) as session:
        first = ingest_all(session, small_config, TODAY, store_url)
    assert [(r.status, r.rows_loaded, r.rows_rejected) for r in first] == [("loaded", 18, 3)]
    with transaction(engine) as session:
        again = ingest_all(session, small_config, TODAY, store_url)
        assert again[0].status == "unchanged"
        assert session.scalar(select(func.count()).select_from(Observation)) == 18
        assert session.scalar(select(func.count()).select_from(RejectedRow)) == 5  # 3 rejected, 2 flagged
    path.write_text(INCIDENTS + "R22,B,2026-03-07,robbery,53.2,-2.2\n", encoding="utf-8")
    with transaction(engine) as session:
        changed = ingest_all(session, small_config, TODAY, store_url)
        assert changed[0].rows_loaded == 19
        assert session.scalar(select(func.count()).select_from(Observation)) == 19
        assert session.scalar(select(func.count()).select_from(IngestedFile).where(
            IngestedFile.superseded.is_(True))) == 1
    engine.dispose()


def test_unreadable_file_changes_nothing(small_config: Config, store_url: str) -> None:
    write_incidents(small_config)
    engine = connect(store_url)
    with transaction(engine) as session:
        ingest_all(session, small_config, TODAY, store_url)
    small_config.resolve_path("incidents.csv").write_bytes("ref,unit\nbad".encode("utf-16"))
    with pytest.raises(SourceError, match="cannot be read as csv"), transaction(engine) as session:
        ingest_all(session, small_config, TODAY, store_url)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == 18
        assert session.scalar(select(func.count()).select_from(IngestedFile)) == 1
    engine.dispose()


@pytest.mark.parametrize("fmt", ["excel", "parquet"])
def test_excel_and_parquet(small_config: Config, tmp_path: Path, fmt: str) -> None:
    frame = pd.read_csv(pd.io.common.StringIO(INCIDENTS), dtype=str, keep_default_na=False)
    path = tmp_path / ("incidents.xlsx" if fmt == "excel" else "incidents.parquet")
    if fmt == "excel":
        frame.to_excel(path, index=False)
    else:
        frame.to_parquet(path)
    source = small_config.sources[0].model_copy(update={"path": str(path)})
    config = small_config.model_copy(update={"sources": [source]})
    from compstat.ingest.readers import read_file

    raw = read_file(source, path)
    mapped = map_rows(raw.frame, source, config, raw.location, raw.first_line, TODAY)
    assert (len(mapped.observations), len(mapped.rejected), len(mapped.flagged)) == (18, 3, 2)


def test_sql_source(small_config: Config, store_url: str, tmp_path: Path) -> None:
    if not store_url.startswith("sqlite"):
        pytest.skip("the query source is exercised against a SQLite file")
    src_url = f"sqlite:///{tmp_path / 'records.db'}"
    frame = pd.read_csv(pd.io.common.StringIO(INCIDENTS), dtype=str, keep_default_na=False)
    from sqlalchemy import create_engine

    records = create_engine(src_url)
    frame.to_sql("crimes", records, index=False)
    records.dispose()
    source = small_config.sources[0].model_copy(update={"path": None, "format": "sql", "url": src_url,
                                                        "query": "SELECT * FROM crimes"})
    config = small_config.model_copy(update={"sources": [source]})
    engine = connect(store_url)
    with transaction(engine) as session:
        reports = ingest_all(session, config, TODAY, store_url)
    assert (reports[0].rows_loaded, reports[0].rows_rejected) == (18, 3)
    with transaction(engine) as session:
        assert ingest_all(session, config, TODAY, store_url)[0].status == "unchanged"
    engine.dispose()


COUNTS = """\
unit,when,offence,count
A,2026-03-02,burglary,4
A,2026-03-03,burglary,-3
B,2026-03-03,burglary,abc
B,2026-03-04,burglary,"1,234"
B,2026-03-05,burglary,
"""


def test_negative_and_non_numeric_counts_are_rejected_with_reasons(small_config: Config) -> None:
    columns = small_config.sources[0].columns.model_copy(update={
        "value": "count", "latitude": None, "longitude": None, "record_id": None})
    source = small_config.sources[0].model_copy(update={"columns": columns})
    frame = pd.read_csv(pd.io.common.StringIO(COUNTS), dtype=str, keep_default_na=False)
    mapped = map_rows(frame, source, small_config, "counts.csv", 2, TODAY)
    assert mapped.observations[["unit_code", "value"]].values.tolist() == [["A", 4.0], ["B", 1234.0]]
    assert mapped.rejected[["source_row", "field", "reason"]].values.tolist() == [
        [3, "count", "value '-3' is negative"],
        [4, "count", "value 'abc' is not a number"],
        [6, "count", "value '' is not a number"],
    ]
    assert json.loads(mapped.rejected["raw"].iloc[1]) == {"unit": "B", "when": "2026-03-03", "offence": "burglary",
                                                          "count": "abc"}


def test_a_replaced_version_is_kept_and_can_be_put_back(small_config: Config, store_url: str) -> None:
    from compstat.reissue import restore_versions

    write_incidents(small_config)
    engine = connect(store_url)
    with transaction(engine) as session:
        ingest_all(session, small_config, TODAY, store_url)
        first = session.scalar(select(IngestedFile.id))
    write_incidents(small_config, INCIDENTS.replace("R2,A,2026-03-03 11:30", "R2,B,2026-03-03 11:30"))
    with transaction(engine) as session:
        ingest_all(session, small_config, TODAY, store_url)
        units = session.execute(select(Observation.unit_code, func.count()).group_by(Observation.unit_code)
                                .order_by(Observation.unit_code)).all()
        assert [tuple(u) for u in units] == [("A", 14), ("B", 4)]  # R2 now in Bravo
        assert session.scalar(select(func.count()).select_from(SupersededObservation)) == 18
    with transaction(engine) as session:
        restore_versions(session, "testshire", "2026-W10", [{"file_id": first, "sha256": session.scalar(
            select(IngestedFile.sha256).where(IngestedFile.id == first))}])
        units = session.execute(select(Observation.unit_code, func.count()).group_by(Observation.unit_code)
                                .order_by(Observation.unit_code)).all()
        assert [tuple(u) for u in units] == [("A", 15), ("B", 3)]  # as the first version had it
        session.rollback()
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Observation).where(Observation.unit_code == "B")) == 4
    engine.dispose()


def test_map_rows_in_chunks_is_the_same_as_at_once(small_config: Config) -> None:
    """Validation runs in chunks of rows: exact copies are caught across chunks, lines and times stay as read."""
    copies = ("R2,A,2026-03-03 11:30,burglary,53.1,-2.1\nR6, A ,2026-01-05,burglary,53.1,-2.1\n"
              "R17,Z,2026-03-06,burglary,53.2,-2.2\n")
    frame = pd.read_csv(pd.io.common.StringIO(INCIDENTS + copies), dtype=str, keep_default_na=False)
    source = small_config.sources[0]  # with a record key (ref): exact copies are looked for
    whole = map_rows(frame, source, small_config, "incidents.csv", 2, TODAY)
    chunked = map_rows(frame, source, small_config, "incidents.csv", 2, TODAY, chunk_rows=4)
    pd.testing.assert_frame_equal(chunked.observations, whole.observations)
    pd.testing.assert_frame_equal(chunked.rejected.reset_index(drop=True), whole.rejected.reset_index(drop=True))
    pd.testing.assert_frame_equal(chunked.flagged.reset_index(drop=True), whole.flagged.reset_index(drop=True))
    reasons = chunked.rejected.set_index("source_row")["reason"]
    assert reasons[23].startswith("exact copy of row 3 ") and reasons[24].startswith("exact copy of row 7 ")
    assert reasons[25].startswith("unit 'Z' is not in the config")  # a copy of a rejected row: rejected as it was
    assert chunked.observations.set_index("record_id").loc["R6", "occurred_at"] == "2026-01-05 00:00:00"


def test_the_whitespace_pattern_is_pythons_whitespace() -> None:
    """``WHITESPACE_RUN`` spells out the characters Python's ``\\s`` matches, so that pyarrow (RE2, whose ``\\s`` is
    ASCII only) can run it: every code point is checked."""
    python = {c for c in map(chr, range(sys.maxunicode + 1)) if re.fullmatch(r"\s", c)}
    assert WHITESPACE_RUN.startswith("[") and WHITESPACE_RUN.endswith("]+")
    assert set(WHITESPACE_RUN[1:-2]) == python


def test_location_names_collapse_every_kind_of_space() -> None:
    text = pd.Series(["On or near\u00a0 High\u3000\x0bStreet ", " \u2003 ", "Park\tRoad", "ON OR NEAR"], dtype="str")
    names = location_names(text)
    assert names.fillna("(blank)").tolist() == ["High Street", "(blank)", "Park Road", "(blank)"]


def test_a_sources_files_are_read_ahead_in_order_and_a_bad_one_stores_nothing(small_config: Config,
                                                                              store_url: str) -> None:
    """A source's inputs are validated one ahead on another thread while the one before is stored: the reports
    and the rows come in the files' order, each file's rows under its own input; a file that cannot be read,
    met after others were stored in the same run, fails the run and the store keeps nothing of it."""
    header, *rows = INCIDENTS.splitlines()
    parts = [rows[:7], rows[7:14], rows[14:]]
    for i, part in enumerate(parts):
        small_config.resolve_path(f"incidents-{i}.csv").write_text("\n".join([header, *part]) + "\n", encoding="utf-8")
    source = small_config.sources[0].model_copy(update={"path": "incidents-*.csv"})
    config = small_config.model_copy(update={"sources": [source]})
    engine = connect(store_url)
    try:
        with transaction(engine) as session:
            reports = ingest_all(session, config, TODAY, store_url)
            assert [Path(r.location).name for r in reports] == ["incidents-0.csv", "incidents-1.csv", "incidents-2.csv"]
            assert [(r.rows_read, r.rows_loaded) for r in reports] == [(7, 7), (7, 7), (7, 4)]
            stored = session.execute(select(IngestedFile.path, Observation.record_id).join(
                Observation, Observation.file_id == IngestedFile.id).order_by(Observation.id)).all()
            assert [Path(p).name[-5] + r for p, r in stored] == [
                f"{i}{row.split(',')[0]}" for i, part in enumerate(parts) for row in part
                if row.split(",")[0] not in ("R17", "R18", "R20")]
        small_config.resolve_path("incidents-3.csv").write_text("\n".join([header, rows[0].replace("R1,", "R99,")]))
        small_config.resolve_path("incidents-4.csv").write_bytes("ref,unit\nbad".encode("utf-16"))
        with pytest.raises(SourceError, match="incidents-4.csv.*cannot be read as csv"), \
                transaction(engine) as session:
            ingest_all(session, config, TODAY, store_url)
        with transaction(engine) as session:
            assert session.scalar(select(func.count()).select_from(Observation)) == 18
            assert session.scalar(select(func.count()).select_from(IngestedFile)) == 3
    finally:
        engine.dispose()
