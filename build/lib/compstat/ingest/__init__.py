"""Ingest: read each configured source, validate it, and load what is new into the store.

Re-ingesting an input with the same content (SHA-256) adds nothing. A changed file at the
same path replaces the earlier version's rows (``mode: replace``, the default, for
extracts that are re-issued whole) or adds to them (``mode: append``). A replaced version's
observations are not deleted: they move to ``superseded_observations``, marked with the
version that replaced them, so that a cycle can be re-issued from exactly the data it used
(``inputs_in_use`` lists the versions a cycle reads; ``compstat.reissue``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import delete, insert, literal, select, update
from sqlalchemy.orm import Session

from compstat.config import Config, Source
from compstat.errors import UsageError
from compstat.ingest.mapping import map_rows
from compstat.ingest.readers import RawInput, file_sha256, input_locations, read_file, read_query
from compstat.store import (
    OBSERVATION_FIELDS,
    IngestedFile,
    Observation,
    RejectedRow,
    SupersededObservation,
    bulk_insert,
)

QUARANTINE_COLUMNS = ["source", "file", "row", "field", "reason", "raw"]
INPUT_COLUMNS = ["file_id", "source", "path", "sha256", "rows_read", "rows_loaded", "rows_rejected", "rows_skipped",
                 "columns"]


@dataclass(frozen=True)
class IngestReport:
    """What happened to one input in this run."""

    source: str
    location: str
    sha256: str
    status: str  # "loaded" or "unchanged"
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    columns: tuple[str, ...] = ()  # the input's column names as read (empty when unchanged)


def ingest_all(session: Session, config: Config, today: date, store_url: str) -> list[IngestReport]:
    """Ingest every configured source; the caller's transaction makes it all-or-nothing."""
    reports: list[IngestReport] = []
    for source in config.sources:
        for raw in _new_inputs(session, config, source, store_url):
            if isinstance(raw, IngestReport):
                reports.append(raw)
            else:
                reports.append(load_input(session, config, source, raw, today))
    return reports


def _new_inputs(session: Session, config: Config, source: Source,
                store_url: str) -> list[RawInput | IngestReport]:
    if source.resolved_format == "sql":
        candidates: list[RawInput | IngestReport] = [read_query(source, store_url)]
    else:
        candidates = []
        for path in input_locations(source, config):
            sha = file_sha256(path)
            if _already_loaded(session, config.organisation.slug, source.name, sha):
                candidates.append(IngestReport(source.name, str(path), sha, "unchanged"))
            else:
                candidates.append(read_file(source, path, sha))
    out: list[RawInput | IngestReport] = []
    for item in candidates:
        if isinstance(item, RawInput) and _already_loaded(session, config.organisation.slug, source.name, item.sha256):
            out.append(IngestReport(source.name, item.location, item.sha256, "unchanged"))
        else:
            out.append(item)
    return out


def _already_loaded(session: Session, org: str, source: str, sha: str) -> bool:
    found = session.scalar(select(IngestedFile.id).where(
        IngestedFile.org == org, IngestedFile.source == source,
        IngestedFile.sha256 == sha, IngestedFile.superseded.is_(False)))
    return found is not None


def load_input(session: Session, config: Config, source: Source, raw: RawInput, today: date) -> IngestReport:
    """Validate one input and store its observations and rejected rows."""
    org = config.organisation.slug
    mapped = map_rows(raw.frame, source, config, raw.location, raw.first_line, today)
    columns = tuple(str(c) for c in raw.frame.columns)
    record = IngestedFile(
        org=org, source=source.name, path=raw.location, sha256=raw.sha256,
        rows_read=mapped.rows_read, rows_loaded=mapped.rows_read - len(mapped.rejected) - mapped.rows_skipped,
        rows_rejected=len(mapped.rejected), rows_skipped=mapped.rows_skipped,
        ingested_at=datetime.now().replace(microsecond=0), superseded=False, column_names=json.dumps(columns),
    )
    session.add(record)
    session.flush()
    if source.mode == "replace":
        earlier = select(IngestedFile.id).where(
            IngestedFile.org == org, IngestedFile.source == source.name, IngestedFile.path == raw.location,
            IngestedFile.superseded.is_(False), IngestedFile.id != record.id)
        supersede(session, list(session.scalars(earlier)), record.id)
    conn = session.connection()
    bulk_insert(conn, Observation.__table__, mapped.observations.assign(org=org, file_id=record.id))  # type: ignore[arg-type]
    kept_aside = pd.concat([mapped.rejected, mapped.flagged], ignore_index=True) if len(mapped.flagged) else \
        mapped.rejected  # flagged rows are counted; their unreadable field is kept with its reason
    bulk_insert(conn, RejectedRow.__table__, kept_aside.assign(org=org, file_id=record.id))  # type: ignore[arg-type]
    return IngestReport(source.name, raw.location, raw.sha256, "loaded", record.rows_read,
                        record.rows_loaded, record.rows_rejected, record.rows_skipped, columns)


def supersede(session: Session, file_ids: list[int], by: int) -> None:
    """Mark input versions replaced by version ``by`` and move their observations aside (not deleted)."""
    if not file_ids:
        return
    fields = [getattr(Observation, f) for f in OBSERVATION_FIELDS]
    moved = select(*fields, literal(by)).where(Observation.file_id.in_(file_ids))
    session.execute(insert(SupersededObservation).from_select([*OBSERVATION_FIELDS, "superseded_by"], moved))
    session.execute(delete(Observation).where(Observation.file_id.in_(file_ids)))
    session.execute(update(IngestedFile).where(IngestedFile.id.in_(file_ids))
                    .values(superseded=True, superseded_by=by))


def inputs_in_use(session: Session, org: str) -> pd.DataFrame:
    """The input versions the current figures are built from (``INPUT_COLUMNS``; columns as a tuple)."""
    stmt = (select(IngestedFile.id, IngestedFile.source, IngestedFile.path, IngestedFile.sha256,
                   IngestedFile.rows_read, IngestedFile.rows_loaded, IngestedFile.rows_rejected,
                   IngestedFile.rows_skipped, IngestedFile.column_names)
            .where(IngestedFile.org == org, IngestedFile.superseded.is_(False)).order_by(IngestedFile.id))
    frame = pd.DataFrame(list(map(tuple, session.execute(stmt).all())), columns=INPUT_COLUMNS)
    frame["columns"] = [tuple(json.loads(c)) if isinstance(c, str) and c else () for c in frame["columns"]]
    return frame


def quarantined_rows(session: Session, org: str, source: str | None = None) -> pd.DataFrame:
    """Every row quarantined at ingest from the inputs in use (``QUARANTINE_COLUMNS``), by file and row."""
    stmt = (select(IngestedFile.source, IngestedFile.path, RejectedRow.source_row, RejectedRow.field,
                   RejectedRow.reason, RejectedRow.raw)
            .join(IngestedFile, IngestedFile.id == RejectedRow.file_id)
            .where(RejectedRow.org == org, IngestedFile.superseded.is_(False))
            .order_by(IngestedFile.path, RejectedRow.source_row))
    if source is not None:
        stmt = stmt.where(IngestedFile.source == source)
    return pd.DataFrame(list(map(tuple, session.execute(stmt).all())), columns=QUARANTINE_COLUMNS)


def check_export_path(path: Path) -> None:
    """Quarantined rows are exported as .csv or .xlsx."""
    if path.suffix.lower() not in (".csv", ".xlsx"):
        raise UsageError(f"'{path}': quarantined rows are written to a .csv or an .xlsx file")


def export_quarantine(rows: pd.DataFrame, path: Path) -> None:
    """Write quarantined rows (``quarantined_rows``) to a .csv or .xlsx file."""
    check_export_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        rows.to_excel(path, index=False, sheet_name="quarantine")
    else:
        rows.to_csv(path, index=False)
