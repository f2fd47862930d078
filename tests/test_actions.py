"""The action log as far as the cycle spine needs it: raise, update with history, carry forward."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from compstat.actions import NewAction, add_action, carry_forward_actions, import_minutes, update_action
from compstat.cli import app
from compstat.config import Config
from compstat.errors import SourceError
from compstat.periods import parse_period
from compstat.store import ActionUpdate, connect, transaction


def test_carry_forward_ages_overdue_and_completed(small_config: Config, store_url: str) -> None:
    cadence = small_config.cadence
    engine = connect(store_url)
    with transaction(engine) as session:
        w8 = parse_period("2026-W08", cadence)
        patrol = NewAction("A", "Patrol the estate", "Insp A", date(2026, 3, 1))
        a = add_action(session, small_config, w8, patrol, "chair")
        b = add_action(session, small_config, w8, NewAction("B", "Review CCTV", "Insp B", date(2026, 3, 20)), "chair")
        c = add_action(session, small_config, w8, NewAction("B", "Old plan", "Insp B", date(2026, 2, 27)), "chair")
        ids = a.id, b.id, c.id
    with transaction(engine) as session:
        update_action(session, ids[2], "Insp B", status="done", note="finished")
        log = carry_forward_actions(session, small_config, parse_period("2026-W10", cadence)).set_index("id")
        assert log.loc[ids[0], "meetings_carried"] == 2 and bool(log.loc[ids[0], "overdue"])
        assert not bool(log.loc[ids[1], "overdue"])
        assert log.loc[ids[2], "status"] == "done" and not bool(log.loc[ids[2], "carried"])
        history = session.scalars(select(ActionUpdate).where(ActionUpdate.action_id == ids[2])).all()
        assert [(h.field, h.old, h.new, h.by) for h in history] == [
            ("created", "", "open", "chair"), ("status", "open", "done", "Insp B")]
    engine.dispose()


def test_closed_action_appears_once(small_config: Config, tmp_path: Path) -> None:
    engine = connect(f"sqlite:///{tmp_path / 's.db'}")
    cadence = small_config.cadence
    with transaction(engine) as session:
        action = add_action(session, small_config, parse_period("2026-W01", cadence),
                            NewAction("A", "x", "y", date(2026, 1, 20)), "chair")
        action.status, action.closed_on = "done", date(2026, 1, 14)  # closed during W03
        session.flush()
        assert len(carry_forward_actions(session, small_config, parse_period("2026-W03", cadence))) == 1
        assert len(carry_forward_actions(session, small_config, parse_period("2026-W04", cadence))) == 0
    engine.dispose()


def test_import_minutes_reports_every_bad_row(small_config: Config, tmp_path: Path) -> None:
    minutes = tmp_path / "minutes.csv"
    minutes.write_text("unit,action,owner,due,measure\nA,Do it,Insp A,2026-03-20,burglary\n"
                       "Q,Do it,Insp Q,2026-03-20,\nB,Do it,Insp B,soon,\n", encoding="utf-8")
    engine = connect(f"sqlite:///{tmp_path / 's.db'}")
    with pytest.raises(SourceError) as err, transaction(engine) as session:
        import_minutes(session, small_config, minutes, parse_period("2026-W10", small_config.cadence), "x")
    assert f"{minutes}:3: unit 'Q' is not in the config" in str(err.value)
    assert f"{minutes}:4: due 'soon' is not a date" in str(err.value)
    minutes.write_text("unit,action,owner,due,measure\nA,Do it,Insp A,2026-03-20,burglary\n", encoding="utf-8")
    with transaction(engine) as session:
        period = parse_period("2026-W10", small_config.cadence)
        assert import_minutes(session, small_config, minutes, period, "x") == 1
        assert import_minutes(session, small_config, minutes, period, "x") == 0  # same file: once
    engine.dispose()


def test_actions_cli(small_config_path: Path, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    base = ["--config", str(small_config_path), "--db", db]
    runner = CliRunner()
    added = runner.invoke(app, ["actions", "add", *base, "--unit", "A", "--action", "Visit hotspots",
                                "--owner", "Insp A", "--by", "chair", "--period", "2026-W10"])
    assert added.exit_code == 0 and "Action 1 raised for A, due 2026-03-17" in added.output
    updated = runner.invoke(app, ["actions", "update", *base, "1", "--by", "Insp A", "--status", "in progress"])
    assert updated.exit_code == 0 and "Action 1 is in progress" in updated.output
    wrong = runner.invoke(app, ["actions", "update", *base, "1", "--by", "Insp A", "--status", "finished"])
    assert wrong.exit_code == 2 or wrong.exit_code == 1
    assert "expected one of open, in progress, done, dropped" in wrong.output
    listed = runner.invoke(app, ["actions", "list", *base, "--period", "2026-W11"])
    assert "Visit hotspots" in listed.output and "in progress" in listed.output
    missing = runner.invoke(app, ["actions", "update", *base, "99", "--by", "x", "--note", "hello"])
    assert missing.exit_code != 0 and "no action with id 99" in missing.output
