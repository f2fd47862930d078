"""Raising and updating actions: every status transition, dropping needs a reason, the history
is append-only, minutes from CSV or XLSX."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlalchemy import Engine, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from compstat.actions import (
    TRANSITIONS,
    NewAction,
    action_history,
    add_action,
    import_minutes,
    next_meeting_date,
    update_action,
)
from compstat.config import Config
from compstat.errors import SourceError, UsageError
from compstat.periods import parse_period
from compstat.store import Action, ActionUpdate, connect, transaction
from compstat.store.models import HistoryIsAppendOnly

RAISED_AT = datetime(2026, 3, 10, 12, 0)  # the 2026-W10 meeting (period 2-8 March, meeting lag 2 days)
LATER = datetime(2026, 3, 12, 9, 30)
ALLOWED = [(start, end) for start, ends in TRANSITIONS.items() for end in ends]
REFUSED = [("done", "dropped"), ("dropped", "done")]


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def raise_action(session: Session, config: Config, unit: str = "A", due: date | None = None,
                 measure: str | None = "burglary") -> Action:
    item = NewAction(unit, "Patrol the estate", "Insp A", due, measure)
    return add_action(session, config, parse_period("2026-W10", config.cadence), item, "chair", at=RAISED_AT)


def move_to(session: Session, action: Action, status: str) -> None:
    if status != "open":
        update_action(session, action.id, "Insp A", status, reason="not needed" if status == "dropped" else "",
                      at=LATER)


def test_the_transitions_are_the_documented_ones() -> None:
    assert len(ALLOWED) == 10 and set(REFUSED).isdisjoint(ALLOWED)
    assert all(start != end for start, end in ALLOWED)


@pytest.mark.parametrize(("start", "end"), ALLOWED)
def test_allowed_transition(small_config: Config, engine: Engine, start: str, end: str) -> None:
    with transaction(engine) as session:
        action = raise_action(session, small_config)
        move_to(session, action, start)
        reason = "superseded by the CCTV plan" if end == "dropped" else ""
        updated = update_action(session, action.id, "Insp B", end, "moving on", reason=reason,
                                at=datetime(2026, 3, 13, 8, 0))
        assert updated.status == end
        assert updated.closed_on == (date(2026, 3, 13) if end in ("done", "dropped") else None)
        assert updated.drop_reason == reason
        assert updated.closing_note == ("moving on" if end in ("done", "dropped") else "")
        assert (updated.last_note, updated.last_updated_by) == ("moving on", "Insp B")
        last = [u for u in action_history(session, action.id) if u.field == "status"][-1]
        assert (last.old, last.new, last.by, last.note, last.version) == (start, end, "Insp B", "moving on",
                                                                        updated.version)


@pytest.mark.parametrize(("start", "end"), REFUSED)
def test_refused_transition_changes_nothing(small_config: Config, engine: Engine, start: str, end: str) -> None:
    with transaction(engine) as session:
        action = raise_action(session, small_config)
        move_to(session, action, start)
        before = len(action_history(session, action.id))
        with pytest.raises(UsageError, match=f"is {start}: it can become open or in progress, not {end}"):
            update_action(session, action.id, "Insp B", end, reason="because")
        assert session.get(Action, action.id).status == start  # type: ignore[union-attr]
        assert len(action_history(session, action.id)) == before


def test_dropping_needs_a_reason(small_config: Config, engine: Engine) -> None:
    with transaction(engine) as session:
        action = raise_action(session, small_config)
        with pytest.raises(UsageError, match=f"dropping action {action.id} needs a reason"):
            update_action(session, action.id, "Insp A", "dropped", "no longer needed?")
        with pytest.raises(UsageError, match=f"dropping action {action.id} needs a reason"):
            update_action(session, action.id, "Insp A", "dropped", reason="   ")
        with pytest.raises(UsageError, match="a reason is only for dropping an action"):
            update_action(session, action.id, "Insp A", "done", reason="finished early")
        dropped = update_action(session, action.id, "Insp A", "dropped", reason="series detected", at=LATER)
        assert (dropped.status, dropped.drop_reason, dropped.closing_note) == ("dropped", "series detected",
                                                                               "series detected")
        fields = [(u.field, u.old, u.new) for u in action_history(session, action.id)]
        assert fields[-2:] == [("status", "open", "dropped"), ("drop_reason", "", "series detected")]
        reopened = update_action(session, action.id, "chair", "open", "reopened at the meeting", at=LATER)
        assert (reopened.drop_reason, reopened.closed_on, reopened.closing_note) == ("", None, "")


def test_unknown_status_and_action(small_config: Config, engine: Engine) -> None:
    with transaction(engine) as session:
        action = raise_action(session, small_config)
        with pytest.raises(UsageError, match="status 'finished': expected one of open, in progress, done, dropped"):
            update_action(session, action.id, "Insp A", "finished")
        with pytest.raises(UsageError, match="no action with id 99"):
            update_action(session, 99, "Insp A", note="hello")
        with pytest.raises(UsageError, match=f"no action with id {action.id}"):
            update_action(session, action.id, "Insp A", note="hello", org="another-force")


def test_notes_support_due_and_done_date_are_recorded(small_config: Config, engine: Engine) -> None:
    with transaction(engine) as session:
        action = raise_action(session, small_config)
        update_action(session, action.id, "Insp A", note="first visits done", support_requested="two PCSOs",
                      at=LATER)
        update_action(session, action.id, "Supt HQ", support_offered="tactical patrol team",
                      due_date=date(2026, 4, 1), at=LATER)
        update_action(session, action.id, "Insp A", "done", closed_on=date(2026, 3, 11), at=LATER)
        with pytest.raises(UsageError, match="in the future"):
            update_action(session, action.id, "Insp A", closed_on=date(2026, 3, 20), at=LATER)
        final = update_action(session, action.id, "Insp A", "done", at=LATER)  # no change: nothing recorded
        assert (final.closed_on, final.support_requested, final.support_offered, final.due_date) == (
            date(2026, 3, 11), "two PCSOs", "tactical patrol team", date(2026, 4, 1))
        history = [(u.field, u.old, u.new, u.by) for u in action_history(session, action.id)]
        assert history == [
            ("created", "", "open", "chair"), ("note", "", "first visits done", "Insp A"),
            ("support_requested", "", "two PCSOs", "Insp A"),
            ("support_offered", "", "tactical patrol team", "Supt HQ"),
            ("due_date", "2026-03-17", "2026-04-01", "Supt HQ"), ("status", "open", "done", "Insp A"),
        ]
        assert [u.version for u in action_history(session, action.id)] == [1, 2, 2, 3, 3, 4]


def test_due_defaults_to_the_next_meeting(small_config: Config, engine: Engine) -> None:
    with transaction(engine) as session:
        action = raise_action(session, small_config)
        assert action.due_date == next_meeting_date(small_config, parse_period("2026-W10", small_config.cadence))
        assert action.due_date == date(2026, 3, 17)  # W11 ends Sunday 15 March; the meeting is 2 days later
        with pytest.raises(UsageError, match="unit 'Z' is not in the config"):
            raise_action(session, small_config, unit="Z")
        with pytest.raises(UsageError, match="measure 'arson' is not in the config"):
            raise_action(session, small_config, measure="arson")
        with pytest.raises(UsageError, match="kind 'wish'"):
            add_action(session, small_config, parse_period("2026-W10", small_config.cadence),
                       NewAction("A", "x", "y", kind="wish"), "chair")


def test_history_is_append_only(small_config: Config, store_url: str) -> None:
    engine = connect(store_url)
    with transaction(engine) as session:
        action_id = raise_action(session, small_config).id
    with pytest.raises(HistoryIsAppendOnly, match="append-only"), transaction(engine) as session:
        entry = session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == action_id)).one()
        entry.note = "rewritten"
        session.flush()
    for sql in ("UPDATE action_updates SET note = 'rewritten'", "DELETE FROM action_updates"):
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.execute(text(sql))
    with transaction(engine) as session:
        assert [u.note for u in action_history(session, action_id)] == ["Patrol the estate"]
    engine.dispose()


def test_import_minutes_from_xlsx(small_config: Config, engine: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Minutes"
    sheet.append(["Unit", "Action", "Owner", "Due", "Measure", "Kind", "Support requested"])
    sheet.append(["A", "=HYPERLINK(\"http://x\",\"map\") hotspots", "Insp A", datetime(2026, 3, 20), "burglary",
                  "", "two PCSOs"])
    sheet.append(["B", "Robbery by hour of day", "Analyst", None, "robbery", "data-request", ""])
    sheet.append([None, None, None, None, None, None, None])
    path = tmp_path / "minutes.xlsx"
    book.save(path)
    period = parse_period("2026-W10", small_config.cadence)
    with transaction(engine) as session:
        assert import_minutes(session, small_config, path, period, "clerk", at=RAISED_AT).added == 2
        actions = session.scalars(select(Action).order_by(Action.id)).all()
        assert [(a.description, a.kind, a.due_date, a.support_requested) for a in actions] == [
            ("=HYPERLINK(\"http://x\",\"map\") hotspots", "commitment", date(2026, 3, 20), "two PCSOs"),
            ("Robbery by hour of day", "data request", date(2026, 3, 17), ""),
        ]
        assert action_history(session, actions[0].id)[0].via == "minutes minutes.xlsx"


def test_import_minutes_reports_bad_rows_in_xlsx(small_config: Config, engine: Engine, tmp_path: Path) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["unit", "action", "owner", "due", "measure", "kind"])
    sheet.append(["A", "ok", "Insp A", "2026-03-20", "arson", ""])
    sheet.append(["A", "ok", "Insp A", "2026-03-20", "", "wish"])
    path = tmp_path / "bad.xlsx"
    book.save(path)
    with pytest.raises(SourceError) as err, transaction(engine) as session:
        import_minutes(session, small_config, path, parse_period("2026-W10", small_config.cadence), "clerk")
    assert f"{path}:2: measure 'arson' is not in the config" in str(err.value)
    assert f"{path}:3: kind 'wish'" in str(err.value)
    (tmp_path / "broken.xlsx").write_text("not a workbook", encoding="utf-8")
    with pytest.raises(SourceError, match="cannot be read as an XLSX workbook"), transaction(engine) as session:
        import_minutes(session, small_config, tmp_path / "broken.xlsx",
                       parse_period("2026-W10", small_config.cadence), "clerk")
