"""Fixtures shared by the hostile suite: a small cycle already run (its store and outputs to compare
with after a fault), exact snapshots of a SQLite store and of a folder, and real tmpfs mounts
(skipped where mounting is not permitted)."""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import SMALL_CONFIG
from tests.test_ingest import INCIDENTS, TODAY

PERIOD = "2026-W10"
NEW_ROW = "R30,B,2026-03-07,robbery,53.2,-2.2\n"  # a change the faulted re-run would store


@dataclass(frozen=True)
class SmallCycle:
    """A copy of the small config's folder after one cycle of ``PERIOD``: config, store, outputs."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "testshire.yaml"

    @property
    def db_path(self) -> Path:
        return self.root / "store.db"

    @property
    def db(self) -> str:
        return f"sqlite:///{self.db_path}"

    @property
    def out(self) -> Path:
        return self.root / "cycles"

    @property
    def folder(self) -> Path:
        return self.out / "testshire" / PERIOD

    def args(self, *more: str) -> list[str]:
        """``run-cycle`` on this copy, one worker, as of ``TODAY``."""
        return ["run-cycle", "--config", str(self.config), "--db", self.db, "--period", PERIOD, "--out",
                str(self.out), "--today", TODAY.isoformat(), "--workers", "1", *more]

    def change_input(self) -> None:
        (self.root / "incidents.csv").write_text(INCIDENTS + NEW_ROW, encoding="utf-8")


@pytest.fixture(scope="module")
def ran_cycle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The small config's ``PERIOD`` cycle, run once per module (copy it with ``small_cycle``)."""
    from compstat.config import load_config
    from compstat.cycle import run_cycle

    root = tmp_path_factory.mktemp("small-cycle")
    cycle = SmallCycle(root)
    cycle.config.write_text(SMALL_CONFIG, encoding="utf-8")
    (root / "incidents.csv").write_text(INCIDENTS, encoding="utf-8")
    run_cycle(load_config(cycle.config), cycle.db, PERIOD, out_root=cycle.out, today=TODAY, workers=1)
    return root


@pytest.fixture
def small_cycle(ran_cycle: Path, tmp_path: Path) -> SmallCycle:
    """A fresh copy of ``ran_cycle`` for one test."""
    root = tmp_path / "small"
    shutil.copytree(ran_cycle, root, symlinks=True)
    return SmallCycle(root)


def store_snapshot(db_path: Path) -> list[str]:
    """Every row of a SQLite store, as SQL text: equal snapshots, equal stores."""
    with sqlite3.connect(db_path) as conn:
        return list(conn.iterdump())


def folder_snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (relative name: bytes)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


Mount = Callable[..., Path]


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Mount]:
    """``tmpfs(size="100k", read_only=False, bind=None)``: a real tmpfs (or a bind mount of ``bind``),
    read-only if asked, unmounted after the test; skips where mounting is not permitted (not root, CI)."""
    mounted: list[Path] = []

    def mount(size: str = "1m", read_only: bool = False, bind: Path | None = None) -> Path:
        point = tmp_path / f"mnt-{uuid.uuid4().hex[:8]}"
        point.mkdir()
        command = ["mount", "--bind", str(bind), str(point)] if bind else [
            "mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(point)]
        if shutil.which("mount") is None or subprocess.run(command, capture_output=True).returncode != 0:
            pytest.skip("mounting a file system is not permitted here")
        mounted.append(point)
        if read_only:
            options = "remount,bind,ro" if bind else "remount,ro"
            subprocess.run(["mount", "-o", options, str(point)], check=True, capture_output=True)
        return point

    yield mount
    for point in reversed(mounted):
        subprocess.run(["umount", "-l", str(point)], capture_output=True)
