"""File-system faults (issue #12, item 1): a read-only folder, a full disk, a missing permission or a
path through a file, met at each of the cycle's write points, by the exports, minutes, demo and a
SQLite store, give one line naming the path and what to do, exit 1, and leave the store and earlier
outputs as they were. Faults are injected at the lowest level (``open``, ``os.mkdir``, ``os.rename``,
the store's commit) so they always run; real read-only and full tmpfs mounts run where mounting is
permitted (root), and are skipped elsewhere."""

from __future__ import annotations

import builtins
import errno
import io
import os
import shutil
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from typer.testing import CliRunner, Result

from compstat.cli import app
from tests.hostile.conftest import PERIOD, Mount, SmallCycle, folder_snapshot, store_snapshot


def fault(code: int, filename: str | None = None) -> OSError:
    return OSError(code, os.strerror(code), *([filename] if filename else []))


class _FullFile:
    """A file whose writes fail as on a full disk: ``OSError(ENOSPC)`` naming no file, as ``write`` does."""

    def __init__(self, real: Any) -> None:
        self._real = real

    def write(self, data: object) -> int:
        raise fault(errno.ENOSPC)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)

    def __enter__(self) -> _FullFile:
        return self

    def __exit__(self, *args: object) -> None:
        self._real.close()


def break_open(monkeypatch: pytest.MonkeyPatch, name: str, code: int, *, on_write: bool = False) -> None:
    """Opening ``name`` for writing fails with ``code`` (or, ``on_write``, opens and then every write fails)."""
    real_open = builtins.open

    def opener(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if isinstance(file, (str, Path)) and Path(file).name == name and any(m in mode for m in "wax"):
            if on_write:
                return _FullFile(real_open(file, mode, *args, **kwargs))
            raise fault(code, str(file))
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", opener)
    monkeypatch.setattr(io, "open", opener)


def break_mkdir(monkeypatch: pytest.MonkeyPatch, under: Path, code: int) -> None:
    real_mkdir = os.mkdir

    def mkdir(path: Any, *args: Any, **kwargs: Any) -> None:
        if Path(path).parent == under:
            raise fault(code, str(path))
        real_mkdir(path, *args, **kwargs)

    monkeypatch.setattr(os, "mkdir", mkdir)


def break_rename_to(monkeypatch: pytest.MonkeyPatch, target: Path, code: int) -> None:
    """Moving the staged folder (``.<name>.<random>``) to ``target`` fails with ``code``."""
    real_rename = os.rename

    def rename(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        if Path(dst) == target and Path(src).name.startswith(f".{target.name}.") and Path(src).suffix != ".old":
            raise OSError(code, os.strerror(code), str(src), None, str(dst))
        real_rename(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "rename", rename)


def break_commit(monkeypatch: pytest.MonkeyPatch) -> None:
    def commit(self: Session) -> None:
        raise OperationalError("COMMIT", {}, sqlite3.OperationalError("database or disk is full"))

    monkeypatch.setattr(Session, "commit", commit)


def one_line(result: Result) -> str:
    """The error line, after checking there is exactly one and no traceback."""
    assert "Traceback" not in result.output, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    return " ".join(result.output[result.output.index("Error:"):].split())


WritePoint = Callable[[pytest.MonkeyPatch, SmallCycle], None]
WRITE_POINTS: dict[str, tuple[WritePoint, str]] = {
    # point: (the fault, the line expected: {folder} the cycle's folder, {out} the output root, {db} the store)
    "staged folder": (lambda m, c: break_mkdir(m, c.folder.parent, errno.EROFS),
                      "cannot write {out}/testshire: read-only file system - choose another --out or make the "
                      "folder writable"),
    "pack PDF": (lambda m, c: break_open(m, "pack-A.pdf", errno.ENOSPC, on_write=True),
                 "no space left on device writing {folder}/pack-A.pdf: free space or choose another --out"),
    "CSV": (lambda m, c: break_open(m, "analysis_spc.csv", errno.EACCES),
            "cannot use {folder}/analysis_spc.csv: permission denied - give this user access to the folder or "
            "choose another --out"),
    "manifest": (lambda m, c: break_open(m, "manifest.json", errno.ENOSPC),
                 "no space left on device writing {folder}/manifest.json"),
    "swap into place": (lambda m, c: break_rename_to(m, c.folder, errno.EACCES),
                        "cannot use {folder}: permission denied"),
    "store commit": (lambda m, c: break_commit(m),
                     "no space left on device writing the store {db}: free space or choose another --db; "
                     "nothing was changed"),
}


@pytest.mark.parametrize("point", WRITE_POINTS)
def test_a_fault_at_each_write_point_leaves_store_and_outputs(small_cycle: SmallCycle, monkeypatch: pytest.MonkeyPatch,
                                                               point: str) -> None:
    store, outputs = store_snapshot(small_cycle.db_path), folder_snapshot(small_cycle.folder)
    small_cycle.change_input()  # the faulted run would store a new row and new figures
    inject, expected = WRITE_POINTS[point]
    if point not in ("staged folder", "pack PDF"):  # faults after the packs: skip drawing them (1.5 s each)
        monkeypatch.setattr("compstat.packs.render_packs", lambda *args, **kwargs: [])
    inject(monkeypatch, small_cycle)
    result = CliRunner().invoke(app, small_cycle.args())
    monkeypatch.undo()
    assert result.exit_code == 1, result.output
    assert expected.format(folder=small_cycle.folder, out=small_cycle.out, db=small_cycle.db_path) in one_line(result)
    assert store_snapshot(small_cycle.db_path) == store
    assert folder_snapshot(small_cycle.folder) == outputs
    assert [p.name for p in small_cycle.folder.parent.iterdir()] == [PERIOD]  # nothing staged is left


def test_out_through_a_file_for_each_writing_command(small_cycle: SmallCycle) -> None:
    """A real fault, as root too: ``--out`` below a regular file (ENOTDIR, EEXIST) for run-cycle, actions
    export, minutes, demo and check; the store is unchanged."""
    blocker = small_cycle.root / "a-file"
    blocker.write_text("not a folder", encoding="utf-8")
    base = ["--config", str(small_cycle.config), "--db", small_cycle.db]
    store = store_snapshot(small_cycle.db_path)
    commands = {
        "run-cycle": [*small_cycle.args()[:8], str(blocker / "cycles"), *small_cycle.args()[9:]],
        "actions export": ["actions", "export", *base, "--unit", "A", "--out", str(blocker / "a.xlsx")],
        "minutes": ["minutes", *base, "--period", PERIOD, "--out", str(blocker / "m")],
        "demo": ["demo", *base, "--out", str(blocker / "demo-data")],
        "check": ["check", *base, "--period", PERIOD, "--today", "2026-03-10", "--out", str(blocker / "q.html")],
    }
    for name, args in commands.items():
        result = CliRunner().invoke(app, args)
        assert result.exit_code == 1, (name, result.output)
        line = one_line(result)
        assert f"{blocker}" in line and "is a file, not a folder - choose another --out" in line, \
            (name, line)
    assert store_snapshot(small_cycle.db_path) == store


def test_read_only_sqlite_store(small_cycle: SmallCycle) -> None:
    """A real read-only store (SQLite's ``mode=ro``): run-cycle and an action update say so in one line."""
    read_only = f"sqlite:///file:{small_cycle.db_path}?mode=ro&uri=true"
    store, outputs = store_snapshot(small_cycle.db_path), folder_snapshot(small_cycle.folder)
    small_cycle.change_input()
    ran = CliRunner().invoke(app, [*small_cycle.args()[:4], read_only, *small_cycle.args()[5:]])
    added = CliRunner().invoke(app, ["actions", "add", "--config", str(small_cycle.config), "--db", read_only,
                                     "--unit", "A", "--action", "x", "--owner", "y", "--by", "z", "--period", PERIOD])
    for result in (ran, added):
        assert result.exit_code == 1, result.output
        assert one_line(result).startswith(
            f"Error: cannot write the store file:{small_cycle.db_path}: it is read-only (a read-only file system, "
            "file or folder) - make the store and its folder writable, or choose another --db")
    assert store_snapshot(small_cycle.db_path) == store
    assert folder_snapshot(small_cycle.folder) == outputs
    assert [p.name for p in small_cycle.folder.parent.iterdir()] == [PERIOD]


def test_a_full_disk_keeps_the_earlier_export(small_cycle: SmallCycle, monkeypatch: pytest.MonkeyPatch) -> None:
    """``actions export`` writes beside the file and swaps it in: a full disk leaves the earlier file whole."""
    base = ["actions", "export", "--config", str(small_cycle.config), "--db", small_cycle.db, "--unit", "A"]
    target = small_cycle.root / "a.xlsx"
    assert CliRunner().invoke(app, [*base, "--out", str(target)]).exit_code == 0
    before = target.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(os, "fdopen", lambda fd, *a, **k: _FullFile(real_fdopen(fd, *a, **k)))
    result = CliRunner().invoke(app, [*base, "--out", str(target), "--by", "someone else"])
    monkeypatch.undo()
    assert result.exit_code == 1
    assert one_line(result) == f"Error: no space left on device writing {target}: free space or choose another --out"
    assert target.read_bytes() == before
    assert sorted(p.name for p in small_cycle.root.glob("*.xlsx*")) == ["a.xlsx"]  # no temporary file left


# --- real mounts (root; skipped where mounting is not permitted) ---------------------------------------------------


def test_real_read_only_output_folder(small_cycle: SmallCycle, tmpfs: Mount) -> None:
    read_only = tmpfs(read_only=True)
    result = CliRunner().invoke(app, [*small_cycle.args()[:8], str(read_only / "cycles"), *small_cycle.args()[9:]])
    assert result.exit_code == 1
    assert one_line(result) == (f"Error: cannot write {read_only}/cycles: read-only file system - choose another "
                                "--out or make the folder writable")


@pytest.mark.slow
def test_real_full_disk_with_render_workers(small_cycle: SmallCycle, tmpfs: Mount) -> None:
    """A 100 kB tmpfs fills while two worker processes write the packs: the worker's error names its pack."""
    full = tmpfs(size="100k")
    store = store_snapshot(small_cycle.db_path)
    small_cycle.change_input()
    args = small_cycle.args()
    result = CliRunner().invoke(app, [*args[:8], str(full / "cycles"), *args[9:-1], "2"])
    assert result.exit_code == 1
    line = one_line(result)
    assert line.startswith(f"Error: no space left on device writing {full}/cycles/testshire/{PERIOD}/"), line
    assert line.endswith(".pdf: free space or choose another --out"), line
    assert store_snapshot(small_cycle.db_path) == store
    assert list((full / "cycles" / "testshire").iterdir()) == []


def test_real_store_in_a_read_only_folder(small_cycle: SmallCycle, tmpfs: Mount) -> None:
    folder = small_cycle.root / "store-folder"
    folder.mkdir()
    small_cycle.db_path.rename(folder / "store.db")
    store = store_snapshot(folder / "store.db")
    read_only = tmpfs(bind=folder, read_only=True)
    small_cycle.change_input()
    args = small_cycle.args()
    ran = CliRunner().invoke(app, [*args[:4], f"sqlite:///{read_only}/store.db", *args[5:]])
    fresh = CliRunner().invoke(app, [*args[:4], f"sqlite:///{read_only}/new.db", *args[5:]])
    assert (ran.exit_code, fresh.exit_code) == (1, 1)
    assert one_line(ran).startswith(f"Error: cannot write the store {read_only}/store.db: it is read-only")
    assert one_line(fresh) == (
        f"Error: cannot open the store {read_only}/new.db: its folder is missing, read-only or not accessible - "
        "check the folder (SQLite writes a journal beside the store) or choose another --db; nothing was changed")
    assert store_snapshot(folder / "store.db") == store


def test_real_full_disk_under_the_store(small_cycle: SmallCycle, tmpfs: Mount) -> None:
    """The store's disk has 24 kB left: the run stops at its first large write, names the store, and the
    store is as it was."""
    full = tmpfs(size=f"{small_cycle.db_path.stat().st_size // 1024 + 24}k")
    shutil.copy(small_cycle.db_path, full / "store.db")
    store, outputs = store_snapshot(full / "store.db"), folder_snapshot(small_cycle.folder)
    small_cycle.change_input()
    args = small_cycle.args()
    result = CliRunner().invoke(app, [*args[:4], f"sqlite:///{full}/store.db", *args[5:]])
    assert result.exit_code == 1
    assert one_line(result) == (f"Error: no space left on device writing the store {full}/store.db: free space or "
                                "choose another --db; nothing was changed")
    assert store_snapshot(full / "store.db") == store
    assert folder_snapshot(small_cycle.folder) == outputs
