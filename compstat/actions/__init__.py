"""The action log: commitments made at meetings, carried forward until done or dropped.

Every change is appended to ``action_updates`` (who, when, old → new); rows there are
never rewritten. Issue #5 deepens this module (escalation, spreadsheet round-trip).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import pandas as pd
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from compstat.config import Config
from compstat.errors import SourceError
from compstat.ingest.readers import file_sha256
from compstat.periods import Period, parse_period, previous_period
from compstat.store import Action, ActionUpdate, IngestedFile

STATUSES = ("open", "in progress", "done", "dropped")
CLOSED = ("done", "dropped")
MINUTES_COLUMNS = ["unit", "action", "owner", "due", "measure"]
ACTION_COLUMNS = [
    "id", "unit_code", "measure_id", "description", "owner", "due_date", "status", "raised_period",
    "raised_on", "closed_on", "last_note", "meetings_carried", "overdue", "carried",
]


@dataclass(frozen=True)
class NewAction:
    unit_code: str
    description: str
    owner: str
    due_date: date
    measure_id: str | None = None


def add_action(session: Session, config: Config, raised: Period, item: NewAction, by: str) -> Action:
    """Record a new action raised at the meeting for ``raised``."""
    units = {u.code for u in config.leaf_units}
    if item.unit_code not in units:
        raise SourceError(f"unit '{item.unit_code}' is not in the config")
    if item.measure_id is not None and item.measure_id not in {m.id for m in config.measures}:
        raise SourceError(f"measure '{item.measure_id}' is not in the config")
    now = datetime.now().replace(microsecond=0)
    action = Action(
        org=config.organisation.slug, unit_code=item.unit_code, measure_id=item.measure_id,
        description=item.description, owner=item.owner, due_date=item.due_date, status="open",
        raised_period=raised.label, raised_on=raised.end, updated_at=now,
        last_note="", support_requested="", support_offered="",
    )
    session.add(action)
    session.flush()
    session.add(ActionUpdate(action_id=action.id, at=now, by=by, field="created", old="", new="open",
                             note=item.description))
    return action


def import_minutes(session: Session, config: Config, path: Path, raised: Period, by: str) -> int:
    """Add the actions listed in a minutes CSV (columns: unit, action, owner, due, measure).

    The same file (by content) is imported once; every bad row is reported, nothing is
    added if any row is bad. Returns the number of actions added.
    """
    sha = file_sha256(path)
    org = config.organisation.slug
    seen = session.scalar(select(IngestedFile.id).where(
        IngestedFile.org == org, IngestedFile.source == "minutes", IngestedFile.sha256 == sha))
    if seen is not None:
        return 0
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        raise SourceError(f"{path}: cannot be read as CSV ({exc})") from None
    missing = [c for c in MINUTES_COLUMNS[:4] if c not in frame.columns]
    if missing:
        raise SourceError(f"{path}: missing column(s) {', '.join(missing)}; expected {', '.join(MINUTES_COLUMNS)}")
    items, errors = [], []
    units = {u.code for u in config.leaf_units}
    for i, row in enumerate(frame.to_dict(orient="records"), start=2):
        due = pd.to_datetime(row["due"], format="ISO8601", errors="coerce")
        if row["unit"] not in units:
            errors.append(f"{path}:{i}: unit '{row['unit']}' is not in the config")
        elif pd.isna(due):
            errors.append(f"{path}:{i}: due '{row['due']}' is not a date (expected YYYY-MM-DD)")
        elif not row["action"].strip() or not row["owner"].strip():
            errors.append(f"{path}:{i}: action and owner must not be empty")
        else:
            items.append(NewAction(row["unit"], row["action"].strip(), row["owner"].strip(),
                                   due.date(), row.get("measure") or None))
    if errors:
        raise SourceError("minutes not imported:\n  " + "\n  ".join(errors))
    for item in items:
        add_action(session, config, raised, item, by)
    session.add(IngestedFile(org=org, source="minutes", path=str(path), sha256=sha, rows_read=len(frame),
                             rows_loaded=len(items), rows_rejected=0, rows_skipped=0,
                             ingested_at=datetime.now().replace(microsecond=0), superseded=False))
    return len(items)


def update_action(session: Session, action_id: int, by: str, status: str | None = None,
                  note: str = "") -> Action:
    """Change an action's status and/or add a note, recording the change in its history."""
    action = session.get(Action, action_id)
    if action is None:
        raise SourceError(f"no action with id {action_id}")
    now = datetime.now().replace(microsecond=0)
    if status is not None and status != action.status:
        if status not in STATUSES:
            raise SourceError(f"status '{status}': expected one of {', '.join(STATUSES)}")
        session.add(ActionUpdate(action_id=action.id, at=now, by=by, field="status",
                                 old=action.status, new=status, note=note))
        action.status = status
        action.closed_on = now.date() if status in CLOSED else None
    elif note:
        session.add(ActionUpdate(action_id=action.id, at=now, by=by, field="note", old=action.last_note,
                                 new=note, note=note))
    if note:
        action.last_note = note
    action.updated_at = now
    session.flush()
    return action


def carry_forward_actions(session: Session, config: Config, period: Period) -> pd.DataFrame:
    """The action log for the meeting on ``period``: every open action raised before it,
    plus those closed since the previous meeting ("completed since last meeting").

    ``meetings_carried`` counts the meetings since the one that raised the action;
    ``overdue`` is true for an action still open after its due date.
    """
    org = config.organisation.slug
    last_meeting = previous_period(period, config.cadence)
    stmt = select(Action).where(
        Action.org == org, Action.raised_on < period.end,
        or_(Action.status.not_in(CLOSED), Action.closed_on > last_meeting.end),
    ).order_by(Action.unit_code, Action.due_date, Action.id)
    rows = []
    for a in session.scalars(stmt):
        raised = parse_period(a.raised_period, config.cadence)
        carried = _periods_between(raised, period, config)
        rows.append({
            "id": a.id, "unit_code": a.unit_code, "measure_id": a.measure_id, "description": a.description,
            "owner": a.owner, "due_date": a.due_date, "status": a.status, "raised_period": a.raised_period,
            "raised_on": a.raised_on, "closed_on": a.closed_on, "last_note": a.last_note,
            "meetings_carried": carried, "overdue": a.status not in CLOSED and a.due_date < period.end,
            "carried": a.status not in CLOSED,
        })
    return pd.DataFrame(rows, columns=ACTION_COLUMNS)


def _periods_between(earlier: Period, later: Period, config: Config) -> int:
    if config.cadence.period == "weekly":
        return max(0, (later.start - earlier.start).days // 7)
    return max(0, (later.start.year - earlier.start.year) * 12 + later.start.month - earlier.start.month)
