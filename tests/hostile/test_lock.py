"""The store lock: one cycle at a time on a store, no action written while a cycle runs, action
updates together between cycles, and a killed cycle never leaves the store locked. Both backends."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.errors import UsageError
from compstat.store.lock import StoreBusyError, cycle_lock, shared_lock, wait_seconds
from tests.hostile import slow_cycle

HOLDER = """\
import sys, time
from compstat.store.lock import cycle_lock

with cycle_lock(sys.argv[1], "2026-W10", "testshire"):
    print("held", flush=True)
    time.sleep(600)
"""


def cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output  # no traceback
    return result.exit_code, result.output


def hold_cycle_lock(store_url: str) -> subprocess.Popen[str]:
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, store_url], stdout=subprocess.PIPE, text=True,
                              env={**os.environ, "PYTHONPATH": str(slow_cycle.ROOT)})
    assert holder.stdout is not None and holder.stdout.readline() == "held\n"
    return holder


def add_action(config: Path, store_url: str) -> None:
    code, output = cli("actions", "add", "--config", str(config), "--db", store_url, "--unit", "A",
                       "--action", "Patrol the estate", "--owner", "Insp A", "--by", "chair", "--period", "2026-W09")
    assert code == 0, output


@pytest.mark.slow
def test_second_cycle_and_action_update_wait_then_name_the_running_cycle(
        small_config_path: Path, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    add_action(small_config_path, store_url)
    running = slow_cycle.start(small_config_path, store_url, tmp_path)
    try:
        running.rendering()
        monkeypatch.setenv("COMPSTAT_LOCK_WAIT", "1")
        base = ["--config", str(small_config_path), "--db", store_url]
        named = (f"the testshire cycle for 2026-W10, process {running.proc.pid} on ",
                 f"started {date.today().isoformat()}T", "waited 1 s (COMPSTAT_LOCK_WAIT sets how long)")
        start = time.monotonic()
        code, output = cli("run-cycle", *base, "--out", str(tmp_path / "second"), "--period", "2026-W10",
                           "--today", slow_cycle.TODAY, "--workers", "1")
        assert code == 1 and "Error: another cycle is running on this store: " in output, output
        assert all(part in output for part in named), output
        assert 1 <= time.monotonic() - start < 15
        code, output = cli("actions", "update", "1", *base, "--by", "Insp A", "--note", "visited 12 houses")
        assert code == 1 and "Error: actions cannot be written while a cycle runs: " in output, output
        assert all(part in output for part in named), output
        code, output = cli("check", *base, "--period", "2026-W10", "--today", slow_cycle.TODAY)  # ingests, rolls back
        assert code == 1 and "Error: a cycle is running on this store: " in output, output
        assert all(part in output for part in named), output
        assert not (tmp_path / "second").exists()
    finally:
        running.kill()
    monkeypatch.setenv("COMPSTAT_LOCK_WAIT", "10")  # PostgreSQL ends the killed cycle's session at once
    code, output = cli("actions", "update", "1", *base, "--by", "Insp A", "--note", "visited 12 houses")
    assert (code, output) == (0, "Action 1 is open.\n")


def test_killed_cycle_leaves_the_lock_free(store_url: str) -> None:
    holder = hold_cycle_lock(store_url)
    try:
        with pytest.raises(StoreBusyError, match=f"another cycle is running on this store: the testshire cycle for "
                                                 f"2026-W10, process {holder.pid} on .*, started "):
            with cycle_lock(store_url, "2026-W11", "testshire", wait=0.3):
                pass
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
        assert holder.stdout is not None
        holder.stdout.close()
    with cycle_lock(store_url, "2026-W11", "testshire", wait=10) as me:
        assert me.pid == os.getpid()


def test_action_writes_run_together_between_cycles(small_config_path: Path, store_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COMPSTAT_LOCK_WAIT", "0.5")
    with shared_lock(store_url):  # another command writing actions
        add_action(small_config_path, store_url)
        code, output = cli("actions", "update", "1", "--config", str(small_config_path), "--db", store_url,
                           "--by", "Insp A", "--status", "in progress")
        assert code == 0, output
        with pytest.raises(StoreBusyError, match=r"the store is busy: other commands \(writing actions, checking or "
                                                 r"re-issuing\) hold it; waited 0.5 s"):
            with cycle_lock(store_url, "2026-W10", "testshire"):
                pass
    with cycle_lock(store_url, "2026-W10", "testshire", wait=0):
        pass


def test_lock_wait_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COMPSTAT_LOCK_WAIT", raising=False)
    assert wait_seconds() == 30
    monkeypatch.setenv("COMPSTAT_LOCK_WAIT", "2.5")
    assert wait_seconds() == 2.5
    for bad in ("soon", "-1", "nan", "inf"):
        monkeypatch.setenv("COMPSTAT_LOCK_WAIT", bad)
        with pytest.raises(UsageError, match=f"COMPSTAT_LOCK_WAIT='{bad}': expected a number of seconds"):
            wait_seconds()


def test_an_in_memory_store_has_no_lock() -> None:
    with cycle_lock("sqlite://", "2026-W10", "testshire", wait=0), cycle_lock("sqlite:///:memory:", "2026-W10",
                                                                              "testshire", wait=0):
        pass
