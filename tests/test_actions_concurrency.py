"""Two commanders updating the same action at the same time: both updates are recorded, or one
gets a clear conflict, never a silent overwrite. Real concurrent sessions on each backend."""

from __future__ import annotations

import threading
import time
from datetime import datetime

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session

from compstat.actions import ConflictError, NewAction, action_history, add_action, get_action, update_action
from compstat.config import Config
from compstat.periods import parse_period
from compstat.store import connect, transaction

AT = datetime(2026, 3, 12, 9, 0)


def new_action(engine: Engine, config: Config) -> int:
    with transaction(engine) as session:
        return add_action(session, config, parse_period("2026-W10", config.cadence),
                          NewAction("A", "Patrol the estate", "Insp A"), "chair", at=AT).id


def test_interleaved_notes_are_both_recorded(small_config: Config, store_url: str) -> None:
    first, second = connect(store_url), connect(store_url)
    action_id = new_action(first, small_config)
    with Session(first) as a, Session(second) as b:
        read_a, read_b = get_action(a, action_id).version, get_action(b, action_id).version
        assert read_a == read_b == 1  # both commanders read version 1
        update_action(a, action_id, "Insp A", note="visited 12 houses", expected_version=read_a, at=AT)
        a.commit()
        merged = update_action(b, action_id, "PS B", "in progress", "leaflets out", expected_version=read_b, at=AT)
        b.commit()
        assert (merged.version, merged.status, merged.last_note) == (3, "in progress", "leaflets out")
    with transaction(first) as session:
        notes = [(u.by, u.field, u.note) for u in action_history(session, action_id)][1:]
    assert notes == [("Insp A", "note", "visited 12 houses"), ("PS B", "status", "leaflets out")]
    first.dispose()
    second.dispose()


def test_interleaved_status_changes_conflict(small_config: Config, store_url: str) -> None:
    first, second = connect(store_url), connect(store_url)
    action_id = new_action(first, small_config)
    with Session(first) as a, Session(second) as b:
        get_action(a, action_id), get_action(b, action_id)
        update_action(a, action_id, "Insp A", "done", "all visited", expected_version=1, at=AT)
        a.commit()
        with pytest.raises(ConflictError) as err:
            update_action(b, action_id, "PS B", "dropped", reason="duplicate", expected_version=1, at=AT)
        b.rollback()
    assert str(err.value).startswith(f"action {action_id} changed after version 1 was read (status 'open' → 'done' "
                                     "by Insp A at 2026-03-12 09:00); this change was not applied")
    with transaction(first) as session:
        assert get_action(session, action_id).status == "done"
        assert [u.field for u in action_history(session, action_id)] == ["created", "status"]
    first.dispose()
    second.dispose()


def _wait_until_blocked(engine: Engine) -> None:
    """Until another session waits on a row lock (PostgreSQL), or a moment (SQLite's busy wait)."""
    if engine.dialect.name != "postgresql":
        time.sleep(0.5)
        return
    with engine.connect() as conn:
        for _ in range(200):
            waiting = conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                                        "AND datname = current_database()")).scalar_one()
            if waiting:
                return
            time.sleep(0.05)
    raise AssertionError("the second update never waited for the first")


@pytest.mark.parametrize(("second_status", "second_note", "outcome"), [
    (None, "second note", "recorded"),
    ("done", "", "conflict"),
])
def test_racing_writers(small_config: Config, store_url: str, second_status: str | None, second_note: str,
                        outcome: str) -> None:
    """The first writer holds the row; the second reads version 1, blocks writing, then retries or conflicts."""
    first, second = connect(store_url), connect(store_url)
    action_id = new_action(first, small_config)
    results: dict[str, object] = {}

    def second_writer() -> None:
        try:
            with transaction(second) as session:
                results["action"] = update_action(session, action_id, "PS B", second_status, second_note,
                                                  at=AT).version
        except ConflictError as exc:
            results["error"] = exc

    with Session(first) as a:
        update_action(a, action_id, "Insp A", "in progress", "first note", at=AT)  # written, not committed
        thread = threading.Thread(target=second_writer)
        thread.start()
        _wait_until_blocked(first)
        a.commit()
    thread.join(timeout=60)
    assert not thread.is_alive()
    with transaction(first) as session:
        history = [(u.by, u.field, u.note) for u in action_history(session, action_id)][1:]
        final = get_action(session, action_id)
        status, last_note = final.status, final.last_note
    if outcome == "recorded":
        assert results == {"action": 3}
        assert history == [("Insp A", "status", "first note"), ("PS B", "note", "second note")]
        assert (status, last_note) == ("in progress", "second note")
    else:
        assert "status 'open' → 'in progress' by Insp A" in str(results["error"])
        assert history == [("Insp A", "status", "first note")]
        assert status == "in progress"
    first.dispose()
    second.dispose()


@pytest.mark.parametrize(("value", "required"), [("1", True), ("true", True), ("YES", True), (" yes ", True),
                                                 ("0", False), ("false", False), ("no", False), ("", False)])
def test_require_pg_counts_as_set_only_for_1_true_or_yes(monkeypatch: pytest.MonkeyPatch, value: str,
                                                         required: bool) -> None:
    from tests.conftest import require_postgres

    monkeypatch.setenv("COMPSTAT_REQUIRE_PG", value)
    assert require_postgres() is required
    monkeypatch.delenv("COMPSTAT_REQUIRE_PG")
    assert require_postgres() is False
