"""The store and the published outputs agree, and the store going away is one line (issue #17, items 6-8).

A cycle swaps its staged folder into the period's place and only then commits the store. A failure at each
point of that end (the swap, between the swap and the commit, a commit refused, a commit whose reply is lost,
a commit whose outcome cannot be checked) leaves a store and a period folder that hold the same run, or, when
the store cannot be asked, the earlier outputs with this run's kept aside until the next run settles them.
PostgreSQL ending the session mid-cycle (``pg_terminate_backend``, as a server shutdown does) is one line
naming the store, exit 1, nothing stored. A period folder or ``--out`` that is a file is refused, the file
kept. ``check`` and ``run-cycle`` stop alike on a header-only file.

Faults after the packs skip drawing them (``no_packs``): the outputs compared are the CSVs and the manifest."""

from __future__ import annotations

import json
import os
import sqlite3
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

import compstat.cycle
from compstat.cli import app
from compstat.config import load_config
from compstat.cycle import run_cycle
from compstat.store import Cycle, Observation, connect
from tests.hostile.conftest import PERIOD, SmallCycle, folder_snapshot, store_snapshot
from tests.test_ingest import INCIDENTS, TODAY

CycleFolder = Callable[[SmallCycle], Path]


def one_line(result: Result) -> str:
    """The error line, after checking there is exactly one and no traceback."""
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return " ".join(result.output[result.output.index("Error:"):].split())


def no_packs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("compstat.packs.render_packs", lambda *args, **kwargs: [])


def stored_run_at(db_path: Path) -> str | None:
    with sqlite3.connect(db_path) as conn:
        row = conn.execute("SELECT run_at FROM cycles WHERE period = ?", (PERIOD,)).fetchone()
    return None if row is None else datetime.fromisoformat(str(row[0])).isoformat()


def manifest_run_at(folder: Path) -> str:
    return str(json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["run_at"])


def stored_rows(db_path: Path) -> int:
    with sqlite3.connect(db_path) as conn:
        return int(conn.execute("SELECT count(*) FROM observations").fetchone()[0])


def refuse_swap(monkeypatch: pytest.MonkeyPatch, cycle: SmallCycle) -> None:
    """Moving the staged folder into the period's place fails."""
    real = os.rename

    def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(dst) == cycle.folder and Path(src).name.startswith(f".{PERIOD}.") and not str(src).endswith(".old"):
            raise PermissionError(13, "Permission denied", str(src), None, str(dst))
        real(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)


def fail_after_swap(monkeypatch: pytest.MonkeyPatch, cycle: SmallCycle) -> None:
    """An error once the new folder is in place, before the store commits (the kill point of test_kill)."""
    def pause(name: str) -> None:
        if name == "published":
            raise RuntimeError("failed between the swap and the commit")

    monkeypatch.setattr(compstat.cycle.Steps, "pause_for_tests", staticmethod(pause))


def refuse_commit(monkeypatch: pytest.MonkeyPatch, cycle: SmallCycle) -> None:
    """The store refuses the commit: nothing is committed."""
    def commit(self: Session) -> None:
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(Session, "commit", commit)


def lose_commit_reply(monkeypatch: pytest.MonkeyPatch, cycle: SmallCycle | None = None) -> None:
    """The commit is made, then its reply is lost: the store holds the run, the program saw an error."""
    real = Session.commit

    def commit(self: Session) -> None:
        real(self)
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("disk I/O error"))

    monkeypatch.setattr(Session, "commit", commit)


def store_unreachable_after_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """The store answers the run's first question (the committed run, at the start), then no more."""
    real = compstat.cycle.committed_run_at
    calls = []

    def committed_run_at(*args: Any) -> str | None:
        calls.append(args)
        if len(calls) > 1:
            raise OperationalError("SELECT", {}, sqlite3.OperationalError("unable to open database file"))
        return real(*args)

    monkeypatch.setattr(compstat.cycle, "committed_run_at", committed_run_at)


NOTHING_COMMITTED = {
    "the swap": refuse_swap,
    "between the swap and the commit": fail_after_swap,
    "the commit refused": refuse_commit,
}


@pytest.mark.parametrize("point", NOTHING_COMMITTED)
def test_a_failure_before_the_commit_leaves_store_and_outputs(small_cycle: SmallCycle, monkeypatch: pytest.MonkeyPatch,
                                                              point: str) -> None:
    """Each point before the store commits: exit 1, the store and the earlier outputs exactly as they were,
    nothing staged left (held on main too: this is the order issue #17 asks for)."""
    store, outputs = store_snapshot(small_cycle.db_path), folder_snapshot(small_cycle.folder)
    small_cycle.change_input()
    no_packs(monkeypatch)
    NOTHING_COMMITTED[point](monkeypatch, small_cycle)
    result = CliRunner().invoke(app, small_cycle.args())
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    if point != "between the swap and the commit":  # an unexpected error is not a user's: its traceback stays
        one_line(result)
    assert store_snapshot(small_cycle.db_path) == store
    assert folder_snapshot(small_cycle.folder) == outputs
    assert [p.name for p in small_cycle.folder.parent.iterdir()] == [PERIOD]


def test_a_commit_whose_reply_is_lost_keeps_the_outputs_the_store_holds(small_cycle: SmallCycle,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The commit went through but reported an error: the store is asked afresh, holds this run, so its
    outputs stay published (before: the earlier folder was put back, behind the store). Exit 0."""
    rows = stored_rows(small_cycle.db_path)
    small_cycle.change_input()
    no_packs(monkeypatch)
    lose_commit_reply(monkeypatch)
    result = CliRunner().invoke(app, small_cycle.args())
    monkeypatch.undo()
    assert result.exit_code == 0, result.output
    assert stored_rows(small_cycle.db_path) == rows + 1  # the new row was committed
    assert stored_run_at(small_cycle.db_path) == manifest_run_at(small_cycle.folder)
    assert [p.name for p in small_cycle.folder.parent.iterdir()] == [PERIOD]


@pytest.mark.parametrize("committed", [True, False], ids=["committed", "not committed"])
def test_an_unconfirmed_commit_is_settled_by_the_next_run(small_cycle: SmallCycle, monkeypatch: pytest.MonkeyPatch,
                                                          committed: bool) -> None:
    """The commit failed and the store cannot be asked whether it holds the run: exit 1 with one line saying
    so; the earlier outputs stand and this run's are kept as ``.<period>.unconfirmed``. The next run publishes
    them if the store holds that run, or removes them, so the store and the period folder agree."""
    outputs = folder_snapshot(small_cycle.folder)
    small_cycle.change_input()
    no_packs(monkeypatch)
    (lose_commit_reply if committed else refuse_commit)(monkeypatch, small_cycle)
    store_unreachable_after_start(monkeypatch)
    result = CliRunner().invoke(app, small_cycle.args())
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    pending = small_cycle.folder.with_name(f".{PERIOD}.unconfirmed")
    assert (f"Whether the store recorded this run of {PERIOD} could not be checked: the earlier outputs stand in "
            f"{small_cycle.folder} and this run's are kept in {pending}") in one_line(result)
    assert folder_snapshot(small_cycle.folder) == outputs
    unconfirmed_run = manifest_run_at(pending)

    no_packs(monkeypatch)
    again = CliRunner().invoke(app, small_cycle.args())
    assert again.exit_code == 0, again.output
    if committed:
        assert f"published the outputs of the run of {unconfirmed_run} in {small_cycle.folder}" in again.output
        assert "Nothing changed since the run of" in again.output  # they are this input's: they stand
    else:
        assert f"removed {pending}: the outputs of a run ({unconfirmed_run}) that the store did not record" \
               in again.output
    assert stored_run_at(small_cycle.db_path) == manifest_run_at(small_cycle.folder)
    assert [p.name for p in small_cycle.folder.parent.iterdir()] == [PERIOD]


def test_a_period_folder_or_out_that_is_a_file_is_refused(small_cycle: SmallCycle) -> None:
    """The period's folder is a file (before: moved aside as ``.<period>.old`` and replaced), ``reissue --out``
    is a file (before: replaced by a folder), ``spc --out`` below a file (before: "Error: Success"): one line
    naming it, exit 1, the file and the store as they were."""
    store = store_snapshot(small_cycle.db_path)
    blocker = small_cycle.root / "a-file"
    blocker.write_text("mine", encoding="utf-8")
    series = small_cycle.root / "series.csv"
    series.write_text("week,count\n1,3\n2,4\n3,5\n", encoding="utf-8")
    small_cycle.folder.rename(small_cycle.root / "earlier")
    small_cycle.folder.write_text("mine", encoding="utf-8")
    runs = {
        "run-cycle": (small_cycle.args(), small_cycle.folder),
        "reissue": (["reissue", "--config", str(small_cycle.config), "--db", small_cycle.db, "--period", PERIOD,
                     "--out", str(blocker), "--workers", "1"], blocker),
    }
    for name, (args, path) in runs.items():
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (name, result.output)
        assert one_line(result) == f"Error: cannot use {path}: it is a file, not a folder - choose another --out"
        assert path.read_text(encoding="utf-8") == "mine"
    spc = CliRunner().invoke(app, ["spc", str(series), "--x", "week", "--y", "count", "--out", str(blocker / "x.csv")])
    assert spc.exit_code == 1, spc.output
    assert one_line(spc).startswith(f"Error: cannot use {blocker / 'x.csv'}: a part of the path is a file")
    assert store_snapshot(small_cycle.db_path) == store
    assert sorted(p.name for p in small_cycle.folder.parent.iterdir()) == [PERIOD]


def test_check_and_run_cycle_stop_alike_on_a_header_only_file(small_config_path: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """A header-only file, first in a new store, then replacing the data a cycle was run on: ``check`` and
    ``run-cycle`` both exit 1 with the same line (no data). The probe's exit 0 from ``check`` does not happen
    on main: ``quality.run.require_data`` serves both since issue #11; this keeps them together."""
    data = tmp_path / "incidents.csv"
    header = INCIDENTS.splitlines()[0] + "\n"
    base = ["--config", str(small_config_path), "--db", f"sqlite:///{tmp_path / 'store.db'}", "--period", PERIOD,
            "--today", TODAY.isoformat()]
    no_packs(monkeypatch)
    for earlier in ("", INCIDENTS):
        if earlier:
            data.write_text(earlier, encoding="utf-8")
            assert CliRunner().invoke(app, ["run-cycle", *base, "--out", str(tmp_path / "cycles")]).exit_code == 0
        data.write_text(header, encoding="utf-8")
        checked = CliRunner().invoke(app, ["check", *base, "--out", str(tmp_path / "q.html")])
        ran = CliRunner().invoke(app, ["run-cycle", *base, "--out", str(tmp_path / "cycles")])
        assert checked.exit_code == ran.exit_code == 1, (checked.output, ran.output)
        assert one_line(checked) == one_line(ran) == \
            "Error: no data in the store for testshire: check the sources in the config"


# PostgreSQL going away ------------------------------------------------------------------------------------------

def postgres_only(store_url: str) -> None:
    if not store_url.startswith("postgresql"):
        pytest.skip("PostgreSQL ending the session: SQLite has no server")


def end_every_session(store_url: str) -> None:
    """What a server shutdown does to the store's sessions (the cycle's and its lock's): terminated, from
    another connection (``pg_terminate_backend``, allowed on one's own role's sessions)."""
    admin = create_engine(store_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            ended = conn.execute(text("SELECT array_agg(pid) FILTER (WHERE pg_terminate_backend(pid)) FROM "
                                      "pg_stat_activity WHERE datname = current_database() "
                                      "AND pid <> pg_backend_pid()")).scalar() or []
            # pg_terminate_backend only signals: wait until those sessions are gone, or a statement sent at once
            # (the commit) could still get through on a busy machine
            deadline = time.monotonic() + 10
            while conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = ANY(:p)"),
                               {"p": ended}).scalar() and time.monotonic() < deadline:
                time.sleep(0.02)
    finally:
        admin.dispose()
    assert len(ended) >= 2  # the cycle's session and its lock's


def ending_sessions(real: Callable[..., Any], store_url: str) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        end_every_session(store_url)
        return real(*args, **kwargs)

    return call


POINTS = {  # where the server goes away: a statement through SQLAlchemy, the ingest's COPY (the driver's own)
    "figures step": "compstat.cycle.cycle_figures",
    "ingest COPY": "compstat.ingest.bulk_insert",
}


@pytest.mark.parametrize(("command", "point"), [("run-cycle", "figures step"), ("run-cycle", "ingest COPY"),
                                                ("check", "ingest COPY")])
def test_postgres_going_away_mid_cycle_is_one_line(small_config_path: Path, store_url: str, tmp_path: Path,
                                                   monkeypatch: pytest.MonkeyPatch, command: str, point: str) -> None:
    """Before: a ``psycopg.errors.AdminShutdown`` traceback. Now one line naming the store (password hidden)
    and what to do, exit 1; nothing of the run is stored and no outputs are written."""
    postgres_only(store_url)
    (tmp_path / "incidents.csv").write_text(INCIDENTS, encoding="utf-8")
    module, name = POINTS[point].rsplit(".", 1)
    target = __import__(module, fromlist=[name])
    monkeypatch.setattr(target, name, ending_sessions(getattr(target, name), store_url))
    out = tmp_path / "cycles"
    args = ["--config", str(small_config_path), "--db", store_url, "--period", PERIOD, "--today", TODAY.isoformat()]
    result = CliRunner().invoke(app, [command, *args, "--out", str(out if command == "run-cycle" else out / "q.html")])
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    shown = make_url(store_url).render_as_string(hide_password=True)
    line = one_line(result)  # the server's words: "terminating connection due to administrator command", or the
    assert line.startswith(f"Error: lost the connection to the store {shown} (")  # driver's "the connection is lost"
    assert line.endswith("): the database server stopped or ended the session, and what was not committed was "
                         "rolled back - check that the server is running, then run the command again")
    engine = connect(store_url)
    try:
        with Session(engine) as session:
            assert session.scalar(select(func.count()).select_from(Observation)) == 0
            assert session.scalar(select(func.count()).select_from(Cycle)) == 0
    finally:
        engine.dispose()
    assert not (out / "testshire").exists() or not any((out / "testshire").iterdir())


def test_postgres_going_away_at_the_commit_puts_the_earlier_outputs_back(small_config_path: Path, store_url: str,
                                                                         tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """The server ends the session as the cycle commits (after the swap): the commit fails, the store (asked
    on a new connection) does not hold the run, so the earlier outputs go back; one line, exit 1."""
    postgres_only(store_url)
    (tmp_path / "incidents.csv").write_text(INCIDENTS, encoding="utf-8")
    no_packs(monkeypatch)
    config, out = load_config(small_config_path), tmp_path / "cycles"
    first = run_cycle(config, store_url, PERIOD, out_root=out, today=TODAY, workers=1)
    outputs = folder_snapshot(first.out_dir)
    (tmp_path / "incidents.csv").write_text(INCIDENTS + "R30,B,2026-03-07,robbery,53.2,-2.2\n", encoding="utf-8")
    monkeypatch.setattr(Session, "commit", ending_sessions(Session.commit, store_url))
    result = CliRunner().invoke(app, ["run-cycle", "--config", str(small_config_path), "--db", store_url,
                                      "--period", PERIOD, "--out", str(out), "--today", TODAY.isoformat()])
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert "Error: lost the connection to the store" in one_line(result)
    assert folder_snapshot(first.out_dir) == outputs
    engine = connect(store_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(Cycle.run_at)).isoformat() == manifest_run_at(first.out_dir)
    finally:
        engine.dispose()


def test_the_lock_lost_alone_stops_the_cycle_before_publishing(small_config_path: Path, store_url: str, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Only the session holding the cycle's lock is ended (the cycle's own lives on): another cycle could
    start, so the cycle stops before publishing and committing (``store.lock.require_lock``), one line, exit 1;
    the earlier run stays in the store and in the folder. Before: it went on and committed without the lock."""
    postgres_only(store_url)
    (tmp_path / "incidents.csv").write_text(INCIDENTS, encoding="utf-8")
    no_packs(monkeypatch)
    config, out = load_config(small_config_path), tmp_path / "cycles"
    first = run_cycle(config, store_url, PERIOD, out_root=out, today=TODAY, workers=1)
    outputs = folder_snapshot(first.out_dir)
    engine = connect(store_url)
    with engine.connect() as conn:
        rows = conn.scalar(select(func.count()).select_from(Observation))
    engine.dispose()
    (tmp_path / "incidents.csv").write_text(INCIDENTS + "R30,B,2026-03-07,robbery,53.2,-2.2\n", encoding="utf-8")
    real = compstat.cycle.cycle_figures

    def end_the_lock(*args: Any) -> Any:
        admin = create_engine(store_url, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            assert conn.execute(text("SELECT bool_and(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
                                     "datname = current_database() AND application_name LIKE 'compstat cycle %'")
                                ).scalar()
        admin.dispose()
        return real(*args)

    monkeypatch.setattr(compstat.cycle, "cycle_figures", end_the_lock)
    result = CliRunner().invoke(app, ["run-cycle", "--config", str(small_config_path), "--db", store_url,
                                      "--period", PERIOD, "--out", str(out), "--today", TODAY.isoformat()])
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert one_line(result) == (f"Error: the store's lock was lost during the testshire cycle for {PERIOD} (the "
                                "database ended the session that held it): nothing was recorded and the earlier "
                                "outputs stand. Run the cycle again")
    assert folder_snapshot(first.out_dir) == outputs
    engine = connect(store_url)
    try:
        with engine.connect() as conn:
            assert conn.scalar(select(Cycle.run_at)).isoformat() == manifest_run_at(first.out_dir)
            assert conn.scalar(select(func.count()).select_from(Observation)) == rows  # not the new row
    finally:
        engine.dispose()
