"""Tables of the store. Every row belongs to one organisation (``org``, the config slug)."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    event,
    false,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

LOCATION_LENGTH = 200  # characters of a location name kept (an address, a block, a place category)


class Base(DeclarativeBase):
    pass


class UnitRow(Base):
    """A unit as configured for the latest cycle (synced from config)."""

    __tablename__ = "units"
    __table_args__ = (UniqueConstraint("org", "code"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    parent_code: Mapped[str | None] = mapped_column(String(64))
    commander: Mapped[str] = mapped_column(String(200), default="")
    is_leaf: Mapped[bool] = mapped_column(Boolean, default=True)


class MeasureRow(Base):
    """A measure as configured for the latest cycle (synced from config)."""

    __tablename__ = "measures"
    __table_args__ = (UniqueConstraint("org", "measure_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    measure_id: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(16))
    polarity: Mapped[str] = mapped_column(String(8))


class IngestedFile(Base):
    """One version of one input (file or query) and what became of its rows."""

    __tablename__ = "ingested_files"
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    source: Mapped[str] = mapped_column(String(100))
    path: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    rows_read: Mapped[int] = mapped_column(Integer)
    rows_loaded: Mapped[int] = mapped_column(Integer)
    rows_rejected: Mapped[int] = mapped_column(Integer)
    rows_skipped: Mapped[int] = mapped_column(Integer, default=0)
    ingested_at: Mapped[datetime] = mapped_column(DateTime)
    superseded: Mapped[bool] = mapped_column(Boolean, default=False)
    superseded_by: Mapped[int | None] = mapped_column(Integer)  # the version that replaced it (mode: replace)
    column_names: Mapped[str | None] = mapped_column(Text)  # the input's column names as read, a JSON list


class _ObservationFields:
    """The columns of a stored observation, shared by current and superseded observations."""

    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("ingested_files.id", ondelete="CASCADE"), index=True)
    org: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(String(64))
    occurred_on: Mapped[date] = mapped_column(Date)
    occurred_at: Mapped[datetime | None] = mapped_column(DateTime)
    category: Mapped[str] = mapped_column(String(200), default="")
    subcategory: Mapped[str] = mapped_column(String(200), default="")
    value: Mapped[float] = mapped_column(Float, default=1.0)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    record_id: Mapped[str | None] = mapped_column(String(100))
    source_row: Mapped[int] = mapped_column(Integer)
    location: Mapped[str | None] = mapped_column(String(LOCATION_LENGTH))  # a named place, as written (cut to length)


OBSERVATION_FIELDS = ("file_id", "org", "unit_code", "occurred_on", "occurred_at", "category", "subcategory", "value",
                      "latitude", "longitude", "record_id", "source_row", "location")


class Observation(_ObservationFields, Base):
    """An incident record (value 1) or a supplied count/value for a unit on a date: the current data.

    Every query for current figures reads this table only; rows of a replaced input version
    move to ``superseded_observations``.
    """

    __tablename__ = "observations"
    __table_args__ = (Index("ix_observations_org_date", "org", "occurred_on"),)


class SupersededObservation(_ObservationFields, Base):
    """An observation of an input version that a newer version replaced (``mode: replace``).

    Kept so that a cycle can be re-issued from exactly the data it was built from
    (``compstat reissue``); never read for current figures.
    """

    __tablename__ = "superseded_observations"
    superseded_by: Mapped[int] = mapped_column(Integer)  # the ingested_files.id of the replacing version


class DailyTotal(Base):
    """One input version's observations summed per unit, category, subcategory and day: what the figures
    read (``compstat.figures``), summed by ingest as it stores the version (``store.totals.store_totals``), or
    from ``observations`` by the database when a cycle needs them after they were forgotten, and kept.

    A version's rows here are a cache of its observations: whatever adds to or moves a version's
    observations deletes its rows here first (``ingest.forget_totals``), and they are made again.
    """

    __tablename__ = "daily_totals"
    __table_args__ = (Index("ix_daily_totals_org_date", "org", "occurred_on"),)
    file_id: Mapped[int] = mapped_column(ForeignKey("ingested_files.id", ondelete="CASCADE"), primary_key=True)
    org: Mapped[str] = mapped_column(String(64))
    unit_code: Mapped[str] = mapped_column(String(64), primary_key=True)
    category: Mapped[str] = mapped_column(String(200), primary_key=True)
    subcategory: Mapped[str] = mapped_column(String(200), primary_key=True)
    occurred_on: Mapped[date] = mapped_column(Date, primary_key=True)
    total: Mapped[float] = mapped_column(Float)
    n: Mapped[int] = mapped_column(Integer)
    blank: Mapped[int] = mapped_column(Integer, server_default="0")  # rows without both coordinates
    # the box of the rows with both coordinates (None: no such row); the quality check of coordinates outside
    # the area scans only the days whose box crosses its edge
    min_lat: Mapped[float | None] = mapped_column(Float)
    max_lat: Mapped[float | None] = mapped_column(Float)
    min_lon: Mapped[float | None] = mapped_column(Float)
    max_lon: Mapped[float | None] = mapped_column(Float)


class TotalledFile(Base):
    """An input version whose ``daily_totals`` are made (a version with no observations has none)."""

    __tablename__ = "totalled_files"
    file_id: Mapped[int] = mapped_column(ForeignKey("ingested_files.id", ondelete="CASCADE"), primary_key=True)
    figures: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)  # ``store.totals.figures_stream``


class RejectedRow(Base):
    """A row that could not be loaded, kept with the field and the reason."""

    __tablename__ = "rejected_rows"
    id: Mapped[int] = mapped_column(primary_key=True)
    file_id: Mapped[int] = mapped_column(ForeignKey("ingested_files.id", ondelete="CASCADE"), index=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    source_row: Mapped[int] = mapped_column(Integer)
    field: Mapped[str] = mapped_column(String(100))
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[str] = mapped_column(Text)


class Cycle(Base):
    """One run of one period; re-running a period replaces its row."""

    __tablename__ = "cycles"
    __table_args__ = (UniqueConstraint("org", "period"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64))
    period: Mapped[str] = mapped_column(String(16))
    period_start: Mapped[date] = mapped_column(Date)
    period_end: Mapped[date] = mapped_column(Date)
    run_at: Mapped[datetime] = mapped_column(DateTime)
    output_dir: Mapped[str] = mapped_column(Text)
    manifest: Mapped[str] = mapped_column(Text)


class CycleResult(Base):
    """One cell group of the CompStat table as computed (and shown) for a cycle."""

    __tablename__ = "cycle_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))
    measure_id: Mapped[str] = mapped_column(String(64))
    window: Mapped[str] = mapped_column(String(16))
    current: Mapped[float | None] = mapped_column(Float)
    previous: Mapped[float | None] = mapped_column(Float)


class AnalysisRow(Base):
    """One analysis result of a cycle (SPC, significance, peers, trajectory, ranked finding), as JSON."""

    __tablename__ = "analysis_results"
    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    section: Mapped[str] = mapped_column(String(32))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    measure_id: Mapped[str | None] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text)


class FindingRow(Base):
    """A data-quality finding of a cycle: what is wrong, where, how bad, how many rows."""

    __tablename__ = "findings"
    id: Mapped[int] = mapped_column(primary_key=True)
    cycle_id: Mapped[int] = mapped_column(ForeignKey("cycles.id", ondelete="CASCADE"), index=True)
    check_name: Mapped[str] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(64))
    measure_id: Mapped[str | None] = mapped_column(String(64))
    period: Mapped[str | None] = mapped_column(String(16))
    message: Mapped[str] = mapped_column(Text)
    rows: Mapped[int] = mapped_column(Integer, default=0)
    source: Mapped[str | None] = mapped_column(String(100))
    units: Mapped[str] = mapped_column(Text, default="{}", server_default="{}")  # JSON: unit code -> rows


class Action(Base):
    """A commitment made at a meeting, carried forward until done or dropped."""

    __tablename__ = "actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    unit_code: Mapped[str] = mapped_column(String(64))
    measure_id: Mapped[str | None] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(Text)
    owner: Mapped[str] = mapped_column(String(200))
    due_date: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16), default="open")
    raised_period: Mapped[str] = mapped_column(String(16))
    raised_on: Mapped[date] = mapped_column(Date)
    closed_on: Mapped[date | None] = mapped_column(Date)
    last_note: Mapped[str] = mapped_column(Text, default="")
    support_requested: Mapped[str] = mapped_column(Text, default="")
    support_offered: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    version: Mapped[int] = mapped_column(Integer, default=1)
    kind: Mapped[str] = mapped_column(String(16), default="commitment", server_default="commitment")
    drop_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    closing_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    last_updated_by: Mapped[str] = mapped_column(String(200), default="", server_default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())  # on the report card
    __mapper_args__ = {"version_id_col": version}


class ActionUpdate(Base):
    """Append-only history of every change to an action (who, when, old → new)."""

    __tablename__ = "action_updates"
    id: Mapped[int] = mapped_column(primary_key=True)
    action_id: Mapped[int] = mapped_column(ForeignKey("actions.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    by: Mapped[str] = mapped_column(String(200))
    field: Mapped[str] = mapped_column(String(64))
    old: Mapped[str] = mapped_column(Text, default="")
    new: Mapped[str] = mapped_column(Text, default="")
    note: Mapped[str] = mapped_column(Text, default="")
    version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # the action's version after
    via: Mapped[str] = mapped_column(String(200), default="", server_default="")  # cli, a spreadsheet, minutes


class SigningKey(Base):
    """A secret of the organisation that signs what leaves the store to come back (the commanders'
    action sheets, ``purpose`` "action sheets"): 32 random bytes as hex, made on first use, never
    written to a file the store sends out."""

    __tablename__ = "signing_keys"
    __table_args__ = (UniqueConstraint("org", "purpose"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64))
    purpose: Mapped[str] = mapped_column(String(32))
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime)


class WebUser(Base):
    """A person who signs in to ``compstat serve``: a role and, for commanders, the units they answer for.

    ``units`` holds unit codes separated by commas (leaf units for a commander, divisions for a division
    commander). The password is kept only as an Argon2 hash; ``must_change`` is set for a one-time password.
    ``failed_logins`` and ``locked_until`` throttle guessing (``web.accounts``)."""

    __tablename__ = "web_users"
    __table_args__ = (UniqueConstraint("org", "username"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    username: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str] = mapped_column(String(200), default="")
    role: Mapped[str] = mapped_column(String(16))
    units: Mapped[str] = mapped_column(Text, default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    must_change: Mapped[bool] = mapped_column(Boolean, default=True)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)
    last_login: Mapped[datetime | None] = mapped_column(DateTime)
    session_epoch: Mapped[int] = mapped_column(Integer, default=0)  # bumped on reset/disable: old sessions end


class Delivery(Base):
    """One file sent (or to be sent) to one recipient for one period: a briefing pack before the meeting
    (``kind`` "brief") or the follow-up minutes after it ("minutes"). Unique per org, period, kind, recipient
    and file, so a re-run sends nothing twice; ``status`` is "sent" or "failed" (retried next run, reported)."""

    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("org", "period", "kind", "recipient", "attachment"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    org: Mapped[str] = mapped_column(String(64), index=True)
    period: Mapped[str] = mapped_column(String(16))
    kind: Mapped[str] = mapped_column(String(16))
    unit_code: Mapped[str | None] = mapped_column(String(64))  # None: the chair's
    recipient: Mapped[str] = mapped_column(String(320))
    attachment: Mapped[str] = mapped_column(String(200))  # the file's name in the period's folder
    sha256: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    due_by: Mapped[datetime | None] = mapped_column(DateTime)  # brief_hours before / minutes_days after the meeting
    sent_at: Mapped[datetime | None] = mapped_column(DateTime)
    created_at: Mapped[datetime] = mapped_column(DateTime)


class HistoryIsAppendOnly(RuntimeError):
    """Raised on any attempt to change or delete a row of the action history."""


@event.listens_for(ActionUpdate, "before_update")
@event.listens_for(ActionUpdate, "before_delete")
def _history_is_append_only(_mapper: object, _connection: object, target: ActionUpdate) -> None:
    """The action history is never rewritten (the migration adds the same rule as database triggers)."""
    raise HistoryIsAppendOnly(f"action history is append-only: cannot change or delete update {target.id}")
