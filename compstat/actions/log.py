"""Raising and updating actions: the status rules, the audit history and conflict handling.

Every change is appended to ``action_updates`` (who, when, old → new, via what) with the
action's version after it; that table is never rewritten (the database refuses UPDATE and
DELETE on it). An update is written with a compare-and-set on the action's version, so two
people updating the same action at the same time never silently overwrite each other:
the later writer re-reads the action and re-applies its change when the earlier one touched
other fields (notes always append), or gets a ``ConflictError`` naming who changed what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from compstat.actions.sheets import read_rows
from compstat.config import Config
from compstat.errors import CompstatError, SourceError, UsageError
from compstat.files import file_sha256
from compstat.ingest.mapping import control_character_reason
from compstat.periods import Period, next_period
from compstat.store import Action, ActionUpdate, IngestedFile

STATUSES = ("open", "in progress", "done", "dropped")
CLOSED = ("done", "dropped")
KINDS = ("commitment", "data request")
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "open": ("in progress", "done", "dropped"),
    "in progress": ("open", "done", "dropped"),
    "done": ("open", "in progress"),  # reopening
    "dropped": ("open", "in progress"),
}
STATUS_FIELDS = frozenset({"status", "closed_on", "drop_reason"})  # changed together: one conflict group
MINUTES_COLUMNS = ["unit", "action", "owner", "due", "measure", "kind", "support_requested", "support_offered"]
REQUIRED_MINUTES_COLUMNS = ["unit", "action", "owner"]
MAX_ATTEMPTS = 3


class ConflictError(CompstatError):
    """An action changed under an update in a way that clashes with it; nothing was applied."""

    exit_code = 1


@dataclass(frozen=True)
class NewAction:
    """An action as raised at a meeting; ``due_date`` None means the next meeting."""

    unit_code: str
    description: str
    owner: str
    due_date: date | None = None
    measure_id: str | None = None
    kind: str = "commitment"
    support_requested: str = ""
    support_offered: str = ""


@dataclass(frozen=True)
class MinutesImport:
    """What ``import_minutes`` did: the actions added, or when the same file was imported before."""

    added: int
    imported_before: datetime | None = None

    def describe(self, path: Path) -> str:
        if self.imported_before is not None:
            return (f"{path}: already imported on {self.imported_before:%Y-%m-%d %H:%M}; "
                    "no actions added (a file is imported once, by content)")
        return f"{self.added} actions added from {path}."


@dataclass(frozen=True)
class ActionChange:
    """What an update asks for. None leaves a field as it is; a note is appended to the history."""

    status: str | None = None
    note: str = ""
    reason: str = ""
    support_requested: str | None = None
    support_offered: str | None = None
    due_date: date | None = None
    owner: str | None = None
    closed_on: date | None = None
    public: bool | None = None  # shown on the public report card


def meeting_date(config: Config, period: Period) -> date:
    """The day of the meeting that reviews ``period``."""
    return period.end + timedelta(days=config.cadence.meeting_lag_days)


def next_meeting_date(config: Config, raised: Period) -> date:
    """The meeting after the one that reviewed ``raised``: the default due date of its actions."""
    return meeting_date(config, next_period(raised, config.cadence))


def normalise_kind(value: str) -> str:
    """``commitment`` or ``data request`` (also accepts ``data-request`` and ``data``)."""
    text = " ".join(value.strip().lower().replace("-", " ").replace("_", " ").split())
    if text in ("", "action"):
        return "commitment"
    if text in ("data", "data request", "request"):
        return "data request"
    if text not in KINDS:
        raise UsageError(f"kind '{value}': expected commitment or data request")
    return text


def _now(at: datetime | None) -> datetime:
    return (at or datetime.now()).replace(microsecond=0)


def add_action(session: Session, config: Config, raised: Period, item: NewAction, by: str, *,
               at: datetime | None = None, via: str = "cli") -> Action:
    """Record a new action raised at the meeting for ``raised``."""
    if item.unit_code not in {u.code for u in config.leaf_units}:
        raise UsageError(f"unit '{item.unit_code}' is not in the config")
    if item.measure_id is not None and item.measure_id not in {m.id for m in config.measures}:
        raise UsageError(f"measure '{item.measure_id}' is not in the config")
    if not item.description.strip() or not item.owner.strip():
        raise UsageError("an action needs a description and a named owner")
    now = _now(at)
    action = Action(
        org=config.organisation.slug, unit_code=item.unit_code, measure_id=item.measure_id,
        description=item.description.strip(), owner=item.owner.strip(),
        due_date=item.due_date or next_meeting_date(config, raised), status="open", raised_period=raised.label,
        raised_on=raised.end, updated_at=now, last_note="", kind=normalise_kind(item.kind),
        support_requested=item.support_requested.strip(), support_offered=item.support_offered.strip(),
        drop_reason="", closing_note="", last_updated_by=by,
    )
    session.add(action)
    session.flush()
    session.add(ActionUpdate(action_id=action.id, at=now, by=by, field="created", old="", new="open",
                             note=action.description, version=action.version, via=via))
    session.flush()
    return action


NOT_PROGRESS = frozenset({"public"})  # history fields that leave ``updated_at`` (staleness) as it was


def update_action(session: Session, action_id: int, by: str, status: str | None = None, note: str = "", *,
                  reason: str = "", support_requested: str | None = None, support_offered: str | None = None,
                  due_date: date | None = None, owner: str | None = None, closed_on: date | None = None,
                  expected_version: int | None = None, strict: bool = False, org: str | None = None,
                  at: datetime | None = None, via: str = "cli", public: bool | None = None) -> Action:
    """Change an action and append every change to its history.

    ``expected_version`` is the version the caller read. If the action has moved on since,
    the change is re-applied when nobody else changed the same fields (notes always
    append) and refused with a ``ConflictError`` otherwise; with ``strict`` any change since
    is a conflict (the spreadsheet import). Invalid transitions raise ``UsageError``.
    """
    change = ActionChange(status, note.strip(), reason.strip(), support_requested, support_offered, due_date,
                          owner, closed_on, public)
    now = _now(at)
    based_on = expected_version
    for _ in range(MAX_ATTEMPTS):
        action = get_action(session, action_id, org)
        if based_on is not None and action.version != based_on:
            _refuse_if_clashing(session, action, based_on, change, strict)
        values, history = _plan(action, change, now)
        if not values:
            return action
        values["version"] = action.version + 1
        if any(field not in NOT_PROGRESS for field, *_ in history):  # publishing it is not the unit's progress
            values |= {"updated_at": now, "last_updated_by": by}
        written = session.execute(update(Action).where(Action.id == action.id, Action.version == action.version)
                                  .values(**values).execution_options(synchronize_session=False))
        if written.rowcount == 1:  # type: ignore[attr-defined]
            session.add_all(ActionUpdate(action_id=action.id, at=now, by=by, field=field, old=old, new=new,
                                         note=text, version=action.version + 1, via=via)
                            for field, old, new, text in history)
            session.flush()
            session.refresh(action)
            return action
        if based_on is None:  # someone committed between our read and our write
            based_on = action.version
    raise ConflictError(f"action {action_id} kept changing while it was being updated; try again")


def get_action(session: Session, action_id: int, org: str | None = None) -> Action:
    """The action as committed now (re-read from the store)."""
    action = session.get(Action, action_id, populate_existing=True)
    if action is None or (org is not None and action.org != org):
        raise UsageError(f"no action with id {action_id}")
    return action


def action_history(session: Session, action_id: int, org: str | None = None) -> list[ActionUpdate]:
    """Every recorded change to an action, oldest first."""
    get_action(session, action_id, org)
    return list(session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == action_id)
                                .order_by(ActionUpdate.id)))


def describe_update(update_row: ActionUpdate) -> str:
    """One history entry in words: ``status 'open' → 'done' by Insp A at 2026-11-20 10:02``."""
    what = f"{update_row.field} '{update_row.old}' → '{update_row.new}'"
    if update_row.field == "note":
        what = f"note '{update_row.note}'"
    return f"{what} by {update_row.by} at {update_row.at:%Y-%m-%d %H:%M}"


def _refuse_if_clashing(session: Session, action: Action, based_on: int, change: ActionChange,
                        strict: bool) -> None:
    since = list(session.scalars(select(ActionUpdate).where(
        ActionUpdate.action_id == action.id, ActionUpdate.version > based_on).order_by(ActionUpdate.id)))
    touched = {_group(f) for f in _fields(change)}
    clashes = since if strict else [u for u in since if _group(u.field) in touched]
    if not clashes and not (strict and action.version != based_on):
        return
    seen = "; ".join(describe_update(u) for u in clashes[-3:]) or "changed outside compstat"
    raise ConflictError(f"action {action.id} changed after version {based_on} was read ({seen}); "
                        f"this change was not applied: see `compstat actions history {action.id}` and try again")


def _group(field: str) -> str:
    return "status" if field in STATUS_FIELDS else field


def _fields(change: ActionChange) -> list[str]:
    fields = [name for name in ("status", "support_requested", "support_offered", "due_date", "owner", "closed_on",
                                "public")
              if getattr(change, name) is not None]
    return fields + (["drop_reason"] if change.reason else [])


def _plan(action: Action, change: ActionChange, now: datetime) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    """The column values and history entries (field, old, new, note) that ``change`` makes to ``action``."""
    new_status = _new_status(action, change)
    if change.closed_on is not None and (new_status or action.status) not in CLOSED:
        raise UsageError(f"a done-on date is only for closing an action (action {action.id} would be "
                         f"{new_status or action.status}): set the status to done with it")
    if new_status is not None:
        values, history = _status_change(action, change, new_status, now)
    else:
        values, history = _same_status(action, change, now)
    if change.note:
        values["last_note"] = change.note
    for name in ("support_requested", "support_offered", "owner"):
        wanted = getattr(change, name)
        if wanted is not None and wanted.strip() != getattr(action, name):
            if name == "owner" and not wanted.strip():
                raise UsageError("an action needs a named owner")
            values[name] = wanted.strip()
            history.append((name, getattr(action, name), wanted.strip(), ""))
    if change.due_date is not None and change.due_date != action.due_date:
        values["due_date"] = change.due_date
        history.append(("due_date", action.due_date.isoformat(), change.due_date.isoformat(), ""))
    if change.public is not None and change.public != action.public:
        values["public"] = change.public
        history.append(("public", str(action.public).lower(), str(change.public).lower(), ""))
    return values, history


def _new_status(action: Action, change: ActionChange) -> str | None:
    """The status asked for if it differs from the current one, checked against ``TRANSITIONS``."""
    new_status = change.status.strip().lower() if change.status is not None else None
    if new_status == action.status:
        new_status = None
    if new_status is not None:
        if new_status not in STATUSES:
            raise UsageError(f"status '{change.status}': expected one of {', '.join(STATUSES)}")
        allowed = TRANSITIONS[action.status]
        if new_status not in allowed:
            raise UsageError(f"action {action.id} is {action.status}: it can become {' or '.join(allowed)}, "
                             f"not {new_status} (reopen it first)")
        if new_status == "dropped" and not change.reason:
            raise UsageError(f"dropping action {action.id} needs a reason (--reason)")
    if change.reason and (new_status or action.status) != "dropped":
        raise UsageError(f"a reason is only for dropping an action (action {action.id} would be "
                         f"{new_status or action.status}); give it as a note")
    return new_status


def _status_change(action: Action, change: ActionChange, new_status: str,
                   now: datetime) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    values: dict[str, Any] = {"status": new_status}
    history: list[tuple[str, ...]] = [("status", action.status, new_status, change.note)]
    if new_status in CLOSED:
        values |= {"closed_on": _closed_on(change.closed_on or now.date(), now),
                   "closing_note": change.note or change.reason}
    else:  # reopened
        values |= {"closed_on": None, "closing_note": "", "drop_reason": ""}
    if new_status == "dropped":
        values["drop_reason"] = change.reason
        history.append(("drop_reason", action.drop_reason, change.reason, ""))
    return values, history


def _same_status(action: Action, change: ActionChange,
                 now: datetime) -> tuple[dict[str, Any], list[tuple[str, ...]]]:
    values: dict[str, Any] = {}
    history: list[tuple[str, ...]] = []
    if change.closed_on is not None and action.status in CLOSED and change.closed_on != action.closed_on:
        values["closed_on"] = _closed_on(change.closed_on, now)
        history.append(("closed_on", _iso(action.closed_on), change.closed_on.isoformat(), change.note))
    elif change.note:
        history.append(("note", action.last_note, change.note, change.note))
    if change.reason and change.reason != action.drop_reason:  # a dropped action's reason, restated
        values["drop_reason"] = change.reason
        history.append(("drop_reason", action.drop_reason, change.reason, ""))
    return values, history


def _closed_on(day: date, now: datetime) -> date:
    if day > now.date():
        raise UsageError(f"closed on {day} is in the future")
    return day


def _iso(value: date | None) -> str:
    return value.isoformat() if value else ""


def import_minutes(session: Session, config: Config, path: Path, raised: Period, by: str, *,
                   at: datetime | None = None) -> MinutesImport:
    """Add the actions listed in a meeting's minutes (CSV or XLSX; layout in the README).

    Columns: unit, action, owner (required); due (blank: the next meeting), measure, kind
    (commitment or data request), support_requested, support_offered. The same file (by
    content) is imported once; every bad row is reported and nothing is added if any row is
    bad (a value holding NUL or another control character is, as at ingest:
    ``mapping.control_character_reason``). A missing or unreadable file raises ``SourceError``.
    """
    if not path.is_file():
        raise SourceError(f"{path}: no such minutes file (expected a CSV or XLSX)")
    try:
        sha = file_sha256(path)
    except OSError as exc:
        raise SourceError(f"{path}: cannot be read ({exc.strerror})") from None
    org = config.organisation.slug
    seen = session.scalar(select(IngestedFile.ingested_at).where(
        IngestedFile.org == org, IngestedFile.source == "minutes", IngestedFile.sha256 == sha)
        .order_by(IngestedFile.id).limit(1))
    if seen is not None:
        return MinutesImport(0, seen)
    rows = read_rows(path, config.limits)
    columns = set(rows[0]) if rows else set()
    missing = [c for c in REQUIRED_MINUTES_COLUMNS if c not in columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(MINUTES_COLUMNS)}")
    items, errors = [], []
    units = {u.code for u in config.leaf_units}
    measures = {m.id for m in config.measures}
    for line, row in ((i, r) for i, r in enumerate(rows, start=2) if any(v for v in r.values())):
        due = pd.to_datetime(row.get("due", ""), format="ISO8601", errors="coerce") if row.get("due") else None
        measure = row.get("measure", "")
        held = next((r for r in (control_character_reason(k, v) for k, v in row.items()) if r), "")
        if held:  # the ingest's rule: a value holding NUL or another control character is refused
            errors.append(f"{path}:{line}: {held}")
        elif row["unit"] not in units:
            errors.append(f"{path}:{line}: unit '{row['unit']}' is not in the config")
        elif due is not None and pd.isna(due):
            errors.append(f"{path}:{line}: due '{row['due']}' is not a date (expected YYYY-MM-DD)")
        elif not row["action"] or not row["owner"]:
            errors.append(f"{path}:{line}: action and owner must not be empty")
        elif measure and measure not in measures:
            errors.append(f"{path}:{line}: measure '{measure}' is not in the config")
        else:
            try:
                kind = normalise_kind(row.get("kind", ""))
            except UsageError as exc:
                errors.append(f"{path}:{line}: {exc}")
                continue
            items.append(NewAction(row["unit"], row["action"], row["owner"], due.date() if due is not None else None,
                                   measure or None, kind, row.get("support_requested", ""),
                                   row.get("support_offered", "")))
    if errors:
        raise SourceError("minutes not imported:\n  " + "\n  ".join(errors))
    now = _now(at)
    for item in items:
        add_action(session, config, raised, item, by, at=now, via=f"minutes {path.name}")
    session.add(IngestedFile(org=org, source="minutes", path=str(path), sha256=sha, rows_read=len(rows),
                             rows_loaded=len(items), rows_rejected=0, rows_skipped=0,
                             ingested_at=now, superseded=False))
    return MinutesImport(len(items))
