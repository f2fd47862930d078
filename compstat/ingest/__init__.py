"""Ingest: read each configured source, validate it, and load what is new into the store.

Re-ingesting an input with the same content (SHA-256) adds nothing. A changed file at the
same path replaces the earlier version's rows (``mode: replace``, the default, for
extracts that are re-issued whole) or adds to them (``mode: append``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from compstat.config import Config, Source
from compstat.ingest.mapping import map_rows
from compstat.ingest.readers import RawInput, file_sha256, input_locations, read_file, read_query
from compstat.store import IngestedFile, Observation, RejectedRow, bulk_insert


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
    if source.mode == "replace":
        earlier = select(IngestedFile.id).where(
            IngestedFile.org == org, IngestedFile.source == source.name,
            IngestedFile.path == raw.location, IngestedFile.superseded.is_(False))
        earlier_ids = list(session.scalars(earlier))
        if earlier_ids:
            session.execute(delete(Observation).where(Observation.file_id.in_(earlier_ids)))
            session.execute(update(IngestedFile).where(IngestedFile.id.in_(earlier_ids)).values(superseded=True))
    record = IngestedFile(
        org=org, source=source.name, path=raw.location, sha256=raw.sha256,
        rows_read=mapped.rows_read, rows_loaded=mapped.rows_read - len(mapped.rejected) - mapped.rows_skipped,
        rows_rejected=len(mapped.rejected), rows_skipped=mapped.rows_skipped,
        ingested_at=datetime.now().replace(microsecond=0), superseded=False,
    )
    session.add(record)
    session.flush()
    conn = session.connection()
    bulk_insert(conn, Observation.__table__, mapped.observations.assign(org=org, file_id=record.id))  # type: ignore[arg-type]
    bulk_insert(conn, RejectedRow.__table__, mapped.rejected.assign(org=org, file_id=record.id))  # type: ignore[arg-type]
    return IngestReport(source.name, raw.location, raw.sha256, "loaded", record.rows_read,
                        record.rows_loaded, record.rows_rejected, record.rows_skipped,
                        tuple(str(c) for c in raw.frame.columns))
