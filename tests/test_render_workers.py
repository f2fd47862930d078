"""How the render workers get the cycle's data: a payload file, removed when the packs are done, and
files a killed run left removed by the next run (shared memory is not freed by itself)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from compstat.packs import render


def test_without_room_in_shared_memory_the_payload_goes_to_the_temporary_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(render, "SHARED_MEMORY", tmp_path / "absent")
    assert render._payload_folder(10) == Path(tempfile.gettempdir())
    monkeypatch.setattr(render, "SHARED_MEMORY", tmp_path)
    assert render._payload_folder(10) == tmp_path
    assert render._payload_folder(10**15) == Path(tempfile.gettempdir())  # a petabyte: no room


def test_payload_files_of_ended_runs_are_removed_and_others_kept(tmp_path: Path) -> None:
    ended = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                           text=True, check=True)
    dead = int(ended.stdout)
    orphan = tmp_path / f"{render.PAYLOAD_PREFIX}{dead}-abc.pickle"
    running = tmp_path / f"{render.PAYLOAD_PREFIX}{os.getpid()}-def.pickle"
    other = tmp_path / f"{render.PAYLOAD_PREFIX}notapid.pickle"
    unrelated = tmp_path / f"other-{dead}-abc.pickle"
    for path in (orphan, running, other, unrelated):
        path.write_bytes(b"x")
    render._remove_orphans(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([running.name, other.name, unrelated.name])
