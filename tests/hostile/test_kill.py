"""``kill -9`` at each step of a cycle (issue #12, a probe that held): the store and the earlier outputs
are unchanged, and the re-run's figures are identical to an uninterrupted run's.

The cycle runs as ``compstat run-cycle`` in a child process that stops once a step's work is done (its
store writes made, not committed; for ``packs``, the PDFs written to the staged folder) through the
test-only hook ``cycle.Steps.pause_for_tests`` (``COMPSTAT_TEST_PAUSE_AT``), and is killed there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from compstat.config import load_config
from compstat.cycle import committed_run_at, remove_stale, run_cycle
from compstat.store import connect
from tests.hostile.conftest import PERIOD, SmallCycle, folder_snapshot, store_snapshot
from tests.test_ingest import TODAY

ROOT = Path(__file__).resolve().parents[2]
STEPS = ["ingest", "quality", "analysis", "packs"]
FIGURES = ["period_table.csv", "analysis_findings.csv", "analysis_spc.csv", "analysis_significance.csv"]


def figures(folder: Path) -> dict[str, bytes]:
    return {name: (folder / name).read_bytes() for name in FIGURES}


def rerun(cycle: SmallCycle) -> Path:
    return run_cycle(load_config(cycle.config), cycle.db, PERIOD, out_root=cycle.out, today=TODAY, workers=1).out_dir


@pytest.fixture(scope="module")
def uninterrupted(ran_cycle: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, bytes]:
    """The figures of the changed input's cycle, run without a kill."""
    cycle = SmallCycle(tmp_path_factory.mktemp("uninterrupted") / "small")
    shutil.copytree(ran_cycle, cycle.root)
    cycle.change_input()
    return figures(rerun(cycle))


def kill_at(cycle: SmallCycle, step: str, timeout: float = 60) -> None:
    """Run ``run-cycle`` in a child process until ``step`` is done, then SIGKILL it (and its process group)."""
    marker = cycle.root / "paused-at"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COMPSTAT_TEST_PAUSE_AT": step,
           "COMPSTAT_TEST_PAUSE_FILE": str(marker)}
    child = subprocess.Popen([sys.executable, "-m", "compstat.cli", *cycle.args()], cwd=ROOT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + timeout
        while not marker.exists():
            if child.poll() is not None:
                output = child.stdout.read().decode() if child.stdout else ""
                pytest.fail(f"run-cycle ended (rc {child.returncode}) before pausing at {step}:\n{output}")
            if time.monotonic() > deadline:
                pytest.fail(f"run-cycle did not reach {step} within {timeout} s")
            time.sleep(0.05)
    finally:
        os.killpg(child.pid, signal.SIGKILL)
        child.wait(timeout=30)
        if child.stdout:
            child.stdout.close()
    assert child.returncode == -signal.SIGKILL


@pytest.mark.slow
@pytest.mark.parametrize("step", STEPS)
def test_kill_at_each_step_changes_nothing(small_cycle: SmallCycle, uninterrupted: dict[str, bytes],
                                           step: str) -> None:
    store, outputs = store_snapshot(small_cycle.db_path), folder_snapshot(small_cycle.folder)
    small_cycle.change_input()  # the killed run had a new row and new figures to store
    kill_at(small_cycle, step)
    assert store_snapshot(small_cycle.db_path) == store
    assert folder_snapshot(small_cycle.folder) == outputs
    assert figures(rerun(small_cycle)) == uninterrupted


@pytest.mark.slow
def test_kill_between_publishing_and_committing_puts_the_earlier_outputs_back(small_cycle: SmallCycle) -> None:
    """Killed once the new folder is in place but before the store commits: the store is unchanged, and the
    next start finds outputs the store never committed, so it puts the earlier ones back (``remove_stale``)."""
    store, outputs = store_snapshot(small_cycle.db_path), folder_snapshot(small_cycle.folder)
    small_cycle.change_input()
    kill_at(small_cycle, "published")
    assert store_snapshot(small_cycle.db_path) == store
    assert folder_snapshot(small_cycle.folder) != outputs  # the new outputs, which the store does not hold
    engine = connect(small_cycle.db)
    try:
        removed = remove_stale(small_cycle.folder, committed_run_at(engine, "testshire", PERIOD))
    finally:
        engine.dispose()
    assert len(removed) == 1  # the uncommitted outputs, set aside and removed
    assert folder_snapshot(small_cycle.folder) == outputs
