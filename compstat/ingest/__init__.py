"""Ingest: read each configured source, validate it, and load what is new into the store.

An input's identity is its source (``sources[].name``) and its content (SHA-256), not its path:
the same content again adds nothing, wherever it lies. Found at a new path (the project or the
data folder moved, a share renamed, a symlink), the stored version's path is updated and the
move reported (``IngestReport.note``); a second copy in the same run is reported and skipped.

A changed input follows the source's ``mode``. ``replace`` (the default, for extracts that are
re-issued whole): the new version replaces the earlier version at the same path, and any earlier
version whose path is no longer one of the source's locations and whose dates overlap the new
one's (the folder moved and the file changed). ``append``: each new input adds rows. A replaced
version's observations are not deleted: they move to ``superseded_observations``, marked with
the version that replaced them, so that a cycle can be re-issued from exactly the data it used
(``inputs_in_use`` lists the versions a cycle reads; ``compstat.reissue``).

Rows of a new input that are exact copies of rows another input of the same source holds (every
mapped column equal) are quarantined, not counted, with the other input named: at any volume,
by a hash index over the stored rows of the new input's dates (``overlap``). Rows that share
a record key (or, for counts, a unit, day and category) with another input's row but differ
are counted and left to the duplicates check, which blocks the cycle on them. When the version a
quarantined copy copied is replaced, the copy counts again in its own input
(``restore_held_copies``).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import delete, func, insert, literal, select, update
from sqlalchemy.orm import Session

from compstat.cells import write_csv, write_xlsx
from compstat.config import Config, Source
from compstat.errors import UsageError
from compstat.files import file_sha256, replaced_atomically
from compstat.ingest.mapping import REJECTED_FIELDS, Mapped, map_rows
from compstat.ingest.readers import RawInput, input_locations, read_file, read_query
from compstat.schemas import INPUTS
from compstat.store import (
    OBSERVATION_FIELDS,
    IngestedFile,
    Observation,
    RejectedRow,
    SupersededObservation,
    bulk_insert,
)
from compstat.store.totals import forget_totals, store_totals

QUARANTINE_COLUMNS = ["source", "file", "row", "field", "reason", "raw"]
INPUT_COLUMNS = INPUTS.columns


@dataclass(frozen=True)
class IngestReport:
    """What happened to one input in this run."""

    source: str
    location: str
    sha256: str
    status: str  # "loaded", "unchanged", or "moved" (the same content found at a new path: nothing added)
    rows_read: int = 0
    rows_loaded: int = 0
    rows_rejected: int = 0
    rows_skipped: int = 0
    columns: tuple[str, ...] = ()  # the input's column names as read (empty when unchanged)
    bytes: int | None = None  # the file's size on disk (None for a query)
    note: str = ""  # e.g. "same content as <old path>, moved: nothing added"


def ingest_all(session: Session, config: Config, today: date, store_url: str) -> list[IngestReport]:
    """Ingest every configured source; the caller's transaction makes it all-or-nothing.

    A source's inputs are read and validated one ahead, on a second thread, while this one stores the
    input before (``_read_ahead``): a file's turn to be read comes as the one before it starts to be
    stored, so at most two inputs' validated rows are held, and none of the rows as read once validated."""
    reports: list[IngestReport] = []
    for source in config.sources:
        inputs, current = _new_inputs(session, config, source, store_url)
        with _read_ahead(source, config, today, [i for i in inputs if not isinstance(i, IngestReport)]) as ready:
            for item in inputs:
                if isinstance(item, IngestReport):
                    reports.append(item)
                else:
                    raw, mapped = next(ready)
                    reports.append(load_input(session, config, source, raw, mapped, current))
                    del raw, mapped
    return reports


@contextmanager
def _read_ahead(source: Source, config: Config, today: date,
                inputs: list[RawInput | tuple[Path, str]]) -> Iterator[Iterator[tuple[RawInput, Mapped]]]:
    """Each input read (a file when its turn comes) and validated, in order, the next one on another thread
    while the caller stores this one. Validation is mostly Arrow and NumPy and storing mostly SQLite, both of
    which let the other thread run: a national force's 20.8 million records (four yearly files) took 153 s
    instead of 213 s, at a peak of 3.6 GB instead of 2.4 GB. An error reading or validating an input is raised
    when the caller asks for that input."""
    def prepare(item: RawInput | tuple[Path, str]) -> tuple[RawInput, Mapped]:
        raw = item if isinstance(item, RawInput) else read_file(source, item[0], item[1], config.limits)
        mapped = map_rows(raw.frame, source, config, raw.location, raw.first_line, today, lines=raw.lines)
        return replace(raw, frame=raw.frame.iloc[:0]), mapped  # the rows as read are done with: only their names

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest-read-ahead")

    def in_order() -> Iterator[tuple[RawInput, Mapped]]:
        ahead = pool.submit(prepare, inputs[0]) if inputs else None
        for following in [*inputs[1:], None]:
            assert ahead is not None
            done = ahead.result()
            ahead = pool.submit(prepare, following) if following is not None else None
            yield done

    try:
        yield in_order()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _new_inputs(session: Session, config: Config, source: Source,
                store_url: str) -> tuple[list[RawInput | tuple[Path, str] | IngestReport], set[str]]:
    """The source's inputs as reports (content already held) or inputs to load (a query's rows, or a file's path
    and content hash, read when loaded), and its current locations.

    Content held by a version in use at another path is a move (the version's path is updated to
    the new one) when that path is no longer one of the source's locations, else a copy; content
    met twice in this run is loaded once."""
    org = config.organisation.slug
    live = {sha: (fid, path) for fid, path, sha in session.execute(
        select(IngestedFile.id, IngestedFile.path, IngestedFile.sha256).where(
            IngestedFile.org == org, IngestedFile.source == source.name, IngestedFile.superseded.is_(False))
        .order_by(IngestedFile.id))}
    if source.resolved_format == "sql":
        raw = read_query(source, store_url)
        if raw.sha256 in live:
            return [IngestReport(source.name, raw.location, raw.sha256, "unchanged")], {raw.location}
        return [raw], {raw.location}
    paths = input_locations(source, config)
    current = {str(p) for p in paths}
    out: list[RawInput | tuple[Path, str] | IngestReport] = []
    seen: dict[str, str] = {}  # content -> where this run met it first
    for path in paths:
        where, sha, size = str(path), file_sha256(path), _size(path)
        if sha in live:
            file_id, held = live[sha]
            if held == where:
                out.append(IngestReport(source.name, where, sha, "unchanged", bytes=size))
            elif held in current:
                out.append(IngestReport(source.name, where, sha, "unchanged", bytes=size,
                                        note=f"same content as {held}, a copy: nothing added"))
            else:
                session.execute(update(IngestedFile).where(IngestedFile.id == file_id).values(path=where))
                live[sha] = (file_id, where)
                out.append(IngestReport(source.name, where, sha, "moved", bytes=size,
                                        note=f"same content as {held}, moved: nothing added"))
        elif sha in seen:
            out.append(IngestReport(source.name, where, sha, "unchanged", bytes=size,
                                    note=f"same content as {seen[sha]}, a copy: nothing added"))
        else:
            seen[sha] = where
            out.append((path, sha))
    return out, current


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def load_input(session: Session, config: Config, source: Source, raw: RawInput, mapped: Mapped,
               current: Collection[str] = ()) -> IngestReport:
    """Store one validated input (``mapped``: ``map_rows`` of ``raw``): its observations and rejected rows.

    ``current``: the source's locations in this run; in ``mode: replace`` an earlier version at a
    path no longer among them is replaced when its dates overlap the new version's."""
    org = config.organisation.slug
    if len(raw.rejected):  # rows refused as read (a wrong number of fields, bytes not UTF-8): quarantined too
        mapped = replace(mapped, rows_read=mapped.rows_read + len(raw.rejected),
                         rejected=pd.concat([raw.rejected, mapped.rejected], ignore_index=True)
                         .sort_values("source_row", kind="stable", ignore_index=True))
    columns = tuple(str(c) for c in raw.frame.columns)
    record = IngestedFile(
        org=org, source=source.name, path=raw.location, sha256=raw.sha256, rows_read=mapped.rows_read,
        rows_loaded=0, rows_rejected=0, rows_skipped=mapped.rows_skipped,
        ingested_at=datetime.now().replace(microsecond=0), superseded=False, column_names=json.dumps(columns),
    )
    session.add(record)
    session.flush()
    if source.mode == "replace":
        supersede(session, _replaced(session, org, source.name, raw.location, mapped.observations, current,
                                     record.id), record.id)
    observations, copies = overlap(session, org, source.name, mapped.observations, record.id)
    rejected = pd.concat([mapped.rejected, copies], ignore_index=True) if len(copies) else mapped.rejected
    record.rows_rejected = int(rejected["source_row"].nunique()) if len(copies) else len(mapped.rejected)
    record.rows_loaded = mapped.rows_read - record.rows_rejected - mapped.rows_skipped
    session.flush()
    conn = session.connection()
    bulk_insert(conn, Observation.__table__, observations.assign(org=org, file_id=record.id))  # type: ignore[arg-type]
    store_totals(session, record.id, org, observations)  # summed while in memory: the figures need no pass over them
    kept_aside = pd.concat([rejected, mapped.flagged], ignore_index=True) if len(mapped.flagged) else \
        rejected  # flagged rows are counted; their unreadable field is kept with its reason
    bulk_insert(conn, RejectedRow.__table__, kept_aside.assign(org=org, file_id=record.id))  # type: ignore[arg-type]
    return IngestReport(source.name, raw.location, raw.sha256, "loaded", record.rows_read,
                        record.rows_loaded, record.rows_rejected, record.rows_skipped, columns, raw.bytes,
                        note="; ".join(n for n in (mapped.note, f"{len(copies):,} row{'s' if len(copies) != 1 else ''} "
                                                   "already held from another input: not counted" if len(copies)
                                                   else "") if n))


def _replaced(session: Session, org: str, source: str, location: str, observations: pd.DataFrame,
              current: Collection[str], new_id: int) -> list[int]:
    """The versions in use that a new version of ``source`` at ``location`` replaces (``mode: replace``):
    the one at the same path, and those whose path is gone from ``current`` and whose dates overlap."""
    versions = session.execute(select(IngestedFile.id, IngestedFile.path).where(
        IngestedFile.org == org, IngestedFile.source == source, IngestedFile.superseded.is_(False),
        IngestedFile.id != new_id)).all()
    out = [int(i) for i, path in versions if path == location]
    gone = [int(i) for i, path in versions if current and path != location and path not in current]
    first, last = _span(observations)
    if gone and first is not None:
        spans = select(Observation.file_id, func.min(Observation.occurred_on), func.max(Observation.occurred_on)) \
            .where(Observation.file_id.in_(gone)).group_by(Observation.file_id)
        out += [int(i) for i, start, end in session.execute(spans).all() if str(start) <= last and str(end) >= first]
    return out


def _span(observations: pd.DataFrame) -> tuple[str | None, str]:
    """The first and last day (``YYYY-MM-DD``) of mapped observations; (None, "") when there are none."""
    if observations.empty:
        return None, ""
    days = observations["occurred_on"].astype(str)
    return str(days.min()), str(days.max())


def overlap(session: Session, org: str, source: str, observations: pd.DataFrame,
            new_id: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Split a new input's mapped rows into those to count and the exact copies of rows another input of
    ``source`` in use holds (``REJECTED_FIELDS``, the other input named), matched on every mapped column
    by a hash index over the stored rows of the same dates. As many copies of a row are caught as the
    store holds (three identical count rows stored, four arriving: one is new)."""
    first, last = _span(observations)
    empty = pd.DataFrame(columns=REJECTED_FIELDS)
    if first is None:
        return observations, empty
    fields = [getattr(Observation, c) for c in MATCHED]
    stmt = (select(*fields, Observation.source_row, IngestedFile.path, IngestedFile.id)
            .join(IngestedFile, IngestedFile.id == Observation.file_id)
            .where(Observation.org == org, IngestedFile.source == source, IngestedFile.superseded.is_(False),
                   IngestedFile.id != new_id, Observation.occurred_on >= date.fromisoformat(first),
                   Observation.occurred_on <= date.fromisoformat(last)))
    stored = pd.DataFrame(list(map(tuple, session.connection().execute(stmt).all())),
                          columns=[*MATCHED, "source_row", "path", "file_id"])
    if stored.empty:
        return observations, empty
    held = stored.assign(_h=row_hashes(stored), _k=0)
    held["_k"] = held.groupby("_h").cumcount()
    new = observations.reset_index(drop=True)
    arriving = pd.DataFrame({"_h": row_hashes(new)})
    arriving["_k"] = arriving.groupby("_h").cumcount()
    matched = arriving.merge(held[["_h", "_k", "source_row", "path", "file_id"]], on=["_h", "_k"], how="left")
    copy = matched["path"].notna().to_numpy()
    if not copy.any():
        return observations, empty
    rows = new[copy]
    same = matched[copy]
    reasons = [COPY_OF_STORED.format(path, int(fid), int(line))
               for path, fid, line in zip(same["path"], same["file_id"], same["source_row"], strict=True)]
    raw = rows[MATCHED].astype(object).where(rows[MATCHED].notna(), None).to_dict(orient="records")
    copies = pd.DataFrame({"source_row": rows["source_row"].to_numpy(), "field": "row", "reason": reasons,
                           "raw": [json.dumps(r, ensure_ascii=False, default=str) for r in raw]})
    # one entry per copied observation: a row of several values (``values:``) may give several
    return new[~copy].reset_index(drop=True), copies


MATCHED = ["unit_code", "occurred_on", "occurred_at", "category", "subcategory", "value", "latitude", "longitude",
           "record_id", "location"]  # the mapped columns that make two stored rows the same record
COPY_OF_STORED = "exact copy of a row already held from {} (input version {}, line {}): not counted"


def row_hashes(frame: pd.DataFrame) -> pd.Series:
    """One 64-bit hash per row of ``MATCHED`` columns, the same for a row as mapped and as read back from
    the store (dates, times and numbers written out one way; blanks as empty text)."""
    text = {}
    for column in MATCHED:
        values = frame[column]
        if column in ("value", "latitude", "longitude"):
            numbers = pd.to_numeric(values, errors="coerce").astype(float)
            text[column] = numbers.astype(str).where(numbers.notna(), "")
        elif column in ("occurred_on", "occurred_at"):
            when = pd.to_datetime(values, errors="coerce")
            text[column] = when.dt.strftime("%Y-%m-%d %H:%M:%S").where(when.notna(), "")
        else:
            text[column] = values.astype(object).where(values.notna(), "").astype(str)
    return pd.Series(pd.util.hash_pandas_object(pd.DataFrame(text), index=False).to_numpy(), index=frame.index)


def supersede(session: Session, file_ids: list[int], by: int) -> None:
    """Mark input versions replaced by version ``by`` and move their observations aside (not deleted)."""
    if not file_ids:
        return
    fields = [getattr(Observation, f) for f in OBSERVATION_FIELDS]
    moved = select(*fields, literal(by)).where(Observation.file_id.in_(file_ids))
    forget_totals(session, file_ids)
    session.execute(insert(SupersededObservation).from_select([*OBSERVATION_FIELDS, "superseded_by"], moved))
    session.execute(delete(Observation).where(Observation.file_id.in_(file_ids)))
    session.execute(update(IngestedFile).where(IngestedFile.id.in_(file_ids))
                    .values(superseded=True, superseded_by=by))
    restore_held_copies(session, file_ids)


def restore_held_copies(session: Session, file_ids: list[int]) -> None:
    """Count again, in their own input, the rows quarantined as copies of rows of versions ``file_ids`` that
    were just replaced: the rows they copied are no longer counted (a new version that holds them too finds
    them stored, and quarantines its own copies)."""
    marks = [f"(input version {i}, line " for i in file_ids]
    held = pd.DataFrame(list(map(tuple, session.execute(
        select(RejectedRow.id, RejectedRow.file_id, RejectedRow.org, RejectedRow.source_row, RejectedRow.reason,
               RejectedRow.raw)
        .join(IngestedFile, IngestedFile.id == RejectedRow.file_id)
        .where(IngestedFile.superseded.is_(False), RejectedRow.reason.like(COPY_OF_STORED.split("{", 1)[0] + "%"))
    ).all())), columns=["id", "file_id", "org", "source_row", "reason", "raw"])
    held = held[[any(m in r for m in marks) for r in held["reason"]]]
    if held.empty:
        return
    rows = pd.DataFrame([json.loads(r) for r in held["raw"]], columns=MATCHED)
    rows = rows.assign(source_row=held["source_row"].to_numpy(), file_id=held["file_id"].to_numpy(),
                       org=held["org"].to_numpy())
    forget_totals(session, [int(i) for i in rows["file_id"].unique()])
    bulk_insert(session.connection(), Observation.__table__, rows)  # type: ignore[arg-type]
    session.execute(delete(RejectedRow).where(RejectedRow.id.in_([int(i) for i in held["id"]])))
    back = held.groupby("file_id")["source_row"].nunique()
    for file_id, n in zip(back.index.tolist(), back.tolist(), strict=True):
        session.execute(update(IngestedFile).where(IngestedFile.id == int(file_id)).values(
            rows_loaded=IngestedFile.rows_loaded + int(n), rows_rejected=IngestedFile.rows_rejected - int(n)))


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
    """Write quarantined rows (``quarantined_rows``) to a .csv or .xlsx file, put in place only when complete,
    its text never read as a formula (``cells``)."""
    check_export_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        write_xlsx(rows, path, sheet="quarantine")
    else:
        with replaced_atomically(path) as temp:
            write_csv(rows, temp, index=False)
