"""Leftovers after a kill: the staged output folder a killed cycle leaves is removed (and listed) at
the next start of the same period, render workers die with the run that started them, and the file
of data it gave them is removed by the next run that renders with workers."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.cycle import remove_stale
from compstat.packs import render
from tests.hostile import slow_cycle


@pytest.mark.slow
def test_kill_during_rendering_leaves_no_process_and_the_next_run_removes_its_folder(
        small_config_path: Path, tmp_path: Path) -> None:
    store = f"sqlite:///{tmp_path / 'store.db'}"
    running = slow_cycle.start(small_config_path, store, tmp_path, workers=2)
    try:
        workers = running.rendering()
        time.sleep(0.5)  # both workers started
        family = slow_cycle.descendants(running.proc.pid)  # forkserver, workers, resource tracker
        assert set(workers) <= family and len(family) >= 3
    finally:
        running.kill()
    end = time.monotonic() + 10
    while any(slow_cycle.alive(pid) for pid in family) and time.monotonic() < end:
        time.sleep(0.2)
    assert [pid for pid in family if slow_cycle.alive(pid)] == []
    payloads = [path for folder in {render.SHARED_MEMORY, Path(tempfile.gettempdir())} if folder.is_dir()
                for path in folder.glob(f"{render.PAYLOAD_PREFIX}{running.proc.pid}-*.pickle")]
    assert len(payloads) == 1  # the workers' data, which the next run with workers removes:
    render._remove_orphans(payloads[0].parent)
    assert not payloads[0].exists()
    org = running.out / "testshire"
    staged = [p for p in org.iterdir() if p.name.startswith(".2026-W10.")]
    assert len(staged) == 1 and not (org / "2026-W10").exists()  # what the kill left

    ran = CliRunner().invoke(app, ["run-cycle", "--config", str(small_config_path), "--db", store, "--out",
                                   str(running.out), "--period", "2026-W10", "--today", slow_cycle.TODAY,
                                   "--workers", "1"])
    assert ran.exit_code == 0, ran.output
    assert f"removed stale staged folder {staged[0]} (left by a run that was stopped)\n" in ran.output
    assert sorted(p.name for p in org.iterdir()) == ["2026-W10"]


def test_remove_stale_takes_only_the_periods_staged_folders(tmp_path: Path) -> None:
    final = tmp_path / "testshire" / "2026-W10"
    final.mkdir(parents=True)
    names = [".2026-W10.ab_12xyz", ".2026-W10.old", ".2026-W11.abcdefgh", ".2026-W10-reissued.abcdefgh",
             ".2026-W10.notstaged", "2026-W09"]
    for name in names:
        (final.parent / name).mkdir()
        (final.parent / name / "pack-A.pdf").write_bytes(b"%PDF")
    (final.parent / ".2026-W10.abcdefgh").write_text("a file, not a staged folder")
    (final.parent / ".2026-W10.12345678").symlink_to(final.parent / "2026-W09")
    removed = remove_stale(final)
    assert removed == [final.parent / ".2026-W10.ab_12xyz", final.parent / ".2026-W10.old"]
    assert sorted(p.name for p in final.parent.iterdir()) == sorted(
        [*names[2:], "2026-W10", ".2026-W10.abcdefgh", ".2026-W10.12345678"])
    assert (final.parent / "2026-W09" / "pack-A.pdf").exists()


def test_killed_while_swapping_the_earlier_outputs_are_put_back(tmp_path: Path) -> None:
    final = tmp_path / "testshire" / "2026-W10"
    old = final.with_name(".2026-W10.old")  # the earlier outputs, moved aside just before the kill
    old.mkdir(parents=True)
    (old / "pack-A.pdf").write_bytes(b"earlier")
    staged = final.with_name(".2026-W10.k1lled00")
    staged.mkdir()
    assert remove_stale(final) == [staged]
    assert (final / "pack-A.pdf").read_bytes() == b"earlier" and not old.exists()


def test_outputs_the_store_never_committed_give_way_to_the_earlier_ones(tmp_path: Path) -> None:
    """Killed after swapping folders but before the store committed: the period folder holds a run the store
    does not know (its manifest's run_at is not the stored cycle's), so the earlier outputs go back."""
    final = tmp_path / "testshire" / "2026-W10"
    final.mkdir(parents=True)
    (final / "manifest.json").write_text('{"run_at": "2026-03-12T09:00:00"}', encoding="utf-8")
    old = final.with_name(".2026-W10.old")
    old.mkdir()
    (old / "manifest.json").write_text('{"run_at": "2026-03-11T09:00:00"}', encoding="utf-8")
    removed = remove_stale(final, committed_run_at="2026-03-11T09:00:00")
    assert len(removed) == 1 and removed[0].name.startswith(".2026-W10.") and not old.exists()
    assert "2026-03-11" in (final / "manifest.json").read_text(encoding="utf-8")


def test_outputs_the_store_committed_are_kept(tmp_path: Path) -> None:
    """Killed after the commit, before the earlier outputs were removed: the new ones stand."""
    final = tmp_path / "testshire" / "2026-W10"
    final.mkdir(parents=True)
    (final / "manifest.json").write_text('{"run_at": "2026-03-12T09:00:00"}', encoding="utf-8")
    old = final.with_name(".2026-W10.old")
    old.mkdir()
    assert remove_stale(final, committed_run_at="2026-03-12T09:00:00") == [old]
    assert "2026-03-12" in (final / "manifest.json").read_text(encoding="utf-8")
