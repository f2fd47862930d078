"""A whole cycle on the small config, on both backends: outputs, store, re-runs and failures."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from pypdf import PdfReader
from sqlalchemy import func, select
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import run_cycle
from compstat.errors import DataError
from compstat.store import Cycle, CycleResult, Observation, connect, transaction
from tests.test_ingest import INCIDENTS, TODAY, write_incidents


def pdf_text(path: Path) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(path).pages)


def test_cycle_writes_packs_table_and_manifest(small_config: Config, store_url: str, tmp_path: Path) -> None:
    write_incidents(small_config)
    out = tmp_path / "cycles"
    outcome = run_cycle(small_config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1)
    folder = out / "testshire" / "2026-W10"
    assert outcome.out_dir == folder
    assert sorted(p.name for p in folder.iterdir()) == [
        "analysis_comparisons.csv", "analysis_findings.csv", "analysis_peers.csv", "analysis_rare.csv",
        "analysis_rare_events.csv", "analysis_significance.csv", "analysis_spc.csv", "analysis_trajectory.csv",
        "chair-pack.pdf", "manifest.json", "pack-A.pdf", "pack-B.pdf", "period_table.csv", "spc_charts.npz"]
    table = pd.read_csv(folder / "period_table.csv").set_index(["unit_code", "measure_id", "window"])
    assert table.loc[("A", "burglary", "28d"), ["current", "previous"]].tolist() == [5, 2]
    assert table.loc[("_total", "burglary", "ytd"), "unit_name"] == "Testshire Police"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["period"] == "2026-W10" and manifest["rows_rejected"] == 3
    assert manifest["inputs"][0]["sha256"] == outcome.ingest[0].sha256
    assert set(manifest["timings_seconds"]) >= {"ingest", "quality", "analysis", "actions", "packs"}
    assert "password" not in manifest["store"]
    text = pdf_text(folder / "pack-A.pdf")
    assert "Alpha" in text and "Supt Alpha" in text and "2026-W10" in text
    engine = connect(store_url)
    with transaction(engine) as session:
        cycle = session.scalar(select(Cycle).where(Cycle.period == "2026-W10"))
        assert cycle is not None
        stored = session.scalar(select(CycleResult.current).where(
            CycleResult.cycle_id == cycle.id, CycleResult.unit_code == "A",
            CycleResult.measure_id == "burglary", CycleResult.window == "ytd"))
        assert stored == 6
    engine.dispose()


def test_rerun_replaces_outputs(small_config: Config, store_url: str, tmp_path: Path) -> None:
    write_incidents(small_config)
    out = tmp_path / "cycles"
    run_cycle(small_config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1)
    stale = out / "testshire" / "2026-W10" / "stale.txt"
    stale.write_text("from an earlier run")
    run_cycle(small_config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1)
    assert not stale.exists()
    engine = connect(store_url)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Cycle)) == 1
    engine.dispose()


def test_failed_run_leaves_store_and_outputs(small_config: Config, store_url: str, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    write_incidents(small_config)
    out = tmp_path / "cycles"
    run_cycle(small_config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1)
    before = (out / "testshire" / "2026-W10" / "pack-A.pdf").read_bytes()
    write_incidents(small_config, INCIDENTS + "R30,B,2026-03-07,robbery,53.2,-2.2\n")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer crashed")

    monkeypatch.setattr("compstat.packs.render_packs", broken)
    with pytest.raises(RuntimeError, match="renderer crashed"):
        run_cycle(small_config, store_url, "2026-W10", out_root=out, today=TODAY, workers=1)
    assert (out / "testshire" / "2026-W10" / "pack-A.pdf").read_bytes() == before
    assert [p.name for p in (out / "testshire").iterdir()] == ["2026-W10"]  # no temporary folder left
    engine = connect(store_url)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == 18  # the new row was rolled back
    engine.dispose()


def test_no_data_for_period(small_config: Config, store_url: str, tmp_path: Path) -> None:
    write_incidents(small_config)
    with pytest.raises(DataError, match="no data for 2026-W20 .* the store holds 2025-02-01 to 2026-03-09"):
        run_cycle(small_config, store_url, "2026-W20", out_root=tmp_path, today=date(2026, 6, 1), workers=1)


def test_cli_run_cycle(small_config_path: Path, small_config: Config, tmp_path: Path) -> None:
    write_incidents(small_config)
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    args = ["run-cycle", "--config", str(small_config_path), "--db", db, "--period", "2026-W10",
            "--out", str(tmp_path / "out"), "--today", "2026-03-10", "--workers", "1"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "18 rows loaded, 3 rejected" in result.output
    assert "3 packs written to" in result.output
    bad = CliRunner().invoke(app, [*args[:-6], "--period", "2026-W30", "--today", "2026-08-01"])
    assert bad.exit_code == 1 and "no data for 2026-W30" in bad.output
    # `check` stops on a period with no data as `run-cycle` does (exit 1, the same message)
    checked = CliRunner().invoke(app, ["check", "--config", str(small_config_path), "--db", db, "--period", "2030-W01",
                                       "--today", "2030-01-10", "--out", str(tmp_path / "q.html")])
    assert checked.exit_code == 1 and "no data for 2030-W01" in checked.output, checked.output
    assert "the store holds 2025-02-01 to" in " ".join(checked.output.split())
    wrong = CliRunner().invoke(app, [*args[:-6], "--period", "last week"])
    assert wrong.exit_code == 2 and "expected an ISO week" in wrong.output
    listed = CliRunner().invoke(app, ["quarantine", "list", "--config", str(small_config_path), "--db", db])
    assert listed.exit_code == 0 and "is in the future" in listed.output
    assert "3 rejected rows and 2 counted without their unreadable coordinates" in listed.output


def test_cli_run_cycle_with_sheets_for_the_units_not_called(small_config_path: Path, tmp_path: Path) -> None:
    """``packs.unit_packs: called``: the host (A, named) gets the full pack, B its CompStat sheet, and the
    run and the manifest say so."""
    small_config_path.write_text(small_config_path.read_text() + "packs: {unit_packs: called}\n"
                                 "meeting: {host: {2026-W10: A}}\n", encoding="utf-8")
    write_incidents(load_config(small_config_path))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, ["run-cycle", "--config", str(small_config_path), "--db",
                                      f"sqlite:///{tmp_path / 'cli.db'}", "--period", "2026-W10", "--out", str(out),
                                      "--today", "2026-03-10", "--workers", "1"])
    assert result.exit_code == 0, result.output
    said = " ".join(result.output.split())
    assert "3 packs written to" in said
    assert "of these, 1 is a CompStat sheet, for the unit this meeting does not call (packs.unit_packs: called)" \
        in said
    folder = out / "testshire" / "2026-W10"
    manifest = json.loads((folder / "manifest.json").read_text())
    assert {name: p["sheet"] for name, p in manifest["packs"].items()} == {
        "pack-A.pdf": False, "pack-B.pdf": True, "chair-pack.pdf": False}
    assert "CompStat sheet" in pdf_text(folder / "pack-B.pdf")
    assert "CompStat sheet" not in pdf_text(folder / "pack-A.pdf")
