"""Data versions: a re-issued pack shows the figures the reviewers saw; column drift across an unchanged cycle.

One module-scoped story on SQLite: cycles 2026-W08 and W09 on the same file (W09 ingests nothing),
then the file is revised in place (``mode: replace``: late burglaries for W09, one more column) and
W10 runs; W09 is then re-issued, and finally re-run on the current data.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import CycleOutcome, run_cycle
from compstat.errors import DataError
from compstat.reissue import reissue_cycle
from compstat.store import (
    Cycle,
    CycleResult,
    FindingRow,
    IngestedFile,
    Observation,
    RejectedRow,
    SupersededObservation,
    connect,
    transaction,
)
from tests.conftest import SMALL_CONFIG
from tests.test_quality_cycle import incidents


@dataclass
class Story:
    config: Config
    config_path: Path
    url: str
    out: Path
    w09_table: bytes
    w09_analysis: dict[str, bytes]
    w10: CycleOutcome
    v1: str
    v2: str


def revised(text: str) -> str:
    """The same records plus a 'note' column, and Alpha's W09 burglaries that were recorded late."""
    lines = text.splitlines()
    out = [lines[0] + ",note"] + [line + "," for line in lines[1:]]
    out += [f"L{i},A,2026-02-2{4 + i % 3} 15:00,burglary,53.1,-2.1,recorded late" for i in range(5)]
    return "\n".join(out) + "\n"


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Story:
    root = tmp_path_factory.mktemp("reissue")
    path = root / "testshire.yaml"
    path.write_text(SMALL_CONFIG, encoding="utf-8")
    config = load_config(path)
    url = f"sqlite:///{root / 'store.db'}"
    out = root / "cycles"
    v1 = incidents(last="2026-03-01")
    config.resolve_path("incidents.csv").write_text(v1, encoding="utf-8")
    run_cycle(config, url, "2026-W08", out_root=out, today=date(2026, 3, 3), workers=1)
    run_cycle(config, url, "2026-W09", out_root=out, today=date(2026, 3, 3), workers=1)  # the same file
    w09 = out / "testshire" / "2026-W09"
    table = (w09 / "period_table.csv").read_bytes()
    analysis = {p.name: p.read_bytes() for p in w09.glob("analysis_*.csv")}
    v2 = revised(incidents(last="2026-03-08"))
    config.resolve_path("incidents.csv").write_text(v2, encoding="utf-8")
    w10 = run_cycle(config, url, "2026-W10", out_root=out, today=date(2026, 3, 10), workers=1)
    return Story(config, path, url, out, table, analysis, w10, v1, v2)


def store_snapshot(url: str) -> dict[str, object]:
    engine = connect(url)
    with transaction(engine) as session:
        snapshot: dict[str, object] = {
            table.__name__: session.scalar(select(func.count()).select_from(table))
            for table in (Observation, SupersededObservation, RejectedRow, Cycle, CycleResult, FindingRow)}
        snapshot["files"] = session.execute(select(IngestedFile.id, IngestedFile.superseded, IngestedFile.superseded_by)
                                            .order_by(IngestedFile.id)).all()
        snapshot["observed"] = session.execute(select(Observation.file_id, func.count(), func.sum(Observation.value))
                                               .group_by(Observation.file_id)).all()
        snapshot["manifests"] = session.execute(select(Cycle.period, Cycle.manifest).order_by(Cycle.period)).all()
    engine.dispose()
    return snapshot


def test_column_drift_is_found_across_a_cycle_with_unchanged_inputs(story: Story) -> None:
    w09 = json.loads((story.out / "testshire" / "2026-W09" / "manifest.json").read_text())
    assert [i["status"] for i in w09["inputs"]] == ["unchanged"] and w09["inputs"][0]["columns"] == []
    assert w09["data_versions"][0]["columns"] == ["ref", "unit", "when", "offence", "lat", "lon"]
    drift = [f for f in story.w10.findings if "columns of incidents changed" in f.message]
    assert [(f.severity, f.source) for f in drift] == [("warning", "incidents")]
    assert drift[0].message == ("the columns of incidents changed since the 2026-W09 cycle (added 'note'): check "
                                "that the mapped columns still mean what they did")


def test_the_manifest_records_every_input_version_used(story: Story) -> None:
    import hashlib

    manifest = json.loads((story.out / "testshire" / "2026-W10" / "manifest.json").read_text())
    (version,) = manifest["data_versions"]
    assert version["sha256"] == hashlib.sha256(story.v2.encode()).hexdigest()
    assert version["rows_loaded"] == len(story.v2.splitlines()) - 1
    w09 = json.loads((story.out / "testshire" / "2026-W09" / "manifest.json").read_text())
    assert w09["inputs"][0]["status"] == "unchanged"  # W09 loaded nothing, yet its figures' version is recorded
    assert w09["data_versions"][0]["sha256"] == hashlib.sha256(story.v1.encode()).hexdigest()
    assert w09["data_versions"][0]["file_id"] != version["file_id"]


def test_replaced_rows_are_kept_aside_not_deleted(story: Story) -> None:
    engine = connect(story.url)
    with transaction(engine) as session:
        first, second = session.execute(select(IngestedFile.id, IngestedFile.superseded, IngestedFile.superseded_by)
                                        .order_by(IngestedFile.id)).all()
        assert (first.superseded, first.superseded_by) == (True, second.id) and not second.superseded
        kept = session.execute(select(func.count(), func.min(SupersededObservation.superseded_by))
                               .where(SupersededObservation.file_id == first.id)).one()
        assert tuple(kept) == (len(story.v1.splitlines()) - 1, second.id)
        assert session.scalar(select(func.count()).select_from(Observation).where(
            Observation.file_id == first.id)) == 0
    engine.dispose()


def test_findings_are_stored_with_the_cycle(story: Story) -> None:
    engine = connect(story.url)
    with transaction(engine) as session:
        cycle_id = session.scalar(select(Cycle.id).where(Cycle.period == "2026-W10"))
        rows = session.execute(select(FindingRow.check_name, FindingRow.message, FindingRow.severity,
                                      FindingRow.source, FindingRow.units, FindingRow.unit_code, FindingRow.rows,
                                      FindingRow.measure_id, FindingRow.period)
                               .where(FindingRow.cycle_id == cycle_id)).all()
        stored = {(r.check_name, r.message): r for r in rows}
    engine.dispose()
    assert {(f.check, f.message) for f in story.w10.findings} == set(stored)
    drift = next(r for (check, _), r in stored.items() if check == "consistency")
    assert (drift.severity, drift.source, json.loads(drift.units)) == ("warning", "incidents", {})
    revision = next(r for (check, message), r in stored.items() if check == "revisions" and r.unit_code == "A")
    assert revision.message.startswith("Alpha (A): Burglary for the period 2026-02-23 to 2026-03-01 was 14 in the "
                                       "2026-W09 pack and is now 19 (+5)")
    assert (revision.rows, revision.measure_id, revision.period, json.loads(revision.units)) == (
        5, "burglary", "2026-W09", {"A": 5})


def test_reissue_shows_the_figures_of_the_original_and_changes_nothing(story: Story) -> None:
    before = store_snapshot(story.url)
    target = story.out / "reissued-W09"
    outcome = reissue_cycle(story.config, story.url, "2026-W09", out_dir=target, workers=1)
    assert store_snapshot(story.url) == before
    assert (target / "period_table.csv").read_bytes() == story.w09_table
    assert {p.name: p.read_bytes() for p in target.glob("analysis_*.csv")} == story.w09_analysis
    assert sorted(p.name for p in outcome.packs) == ["chair-pack.pdf", "pack-A.pdf", "pack-B.pdf"]
    manifest = json.loads((target / "manifest.json").read_text())
    original = json.loads((story.out / "testshire" / "2026-W09" / "manifest.json").read_text())
    assert manifest["data_versions"] == original["data_versions"] and manifest["findings"] == original["findings"]
    assert manifest["reissue"]["cycle_run_at"] == original["run_at"]
    table = pd.read_csv(target / "period_table.csv").set_index(["unit_code", "measure_id", "window"])
    assert table.loc[("A", "burglary", "period"), "current"] == 14  # two a day, as the W09 pack showed


def test_reissue_failure_leaves_earlier_outputs_and_the_store_as_they_were(story: Story,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    target = story.out / "reissued-again"
    reissue_cycle(story.config, story.url, "2026-W08", out_dir=target, workers=1)
    files = {p.name: p.read_bytes() for p in target.iterdir()}
    before = store_snapshot(story.url)

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("renderer failed")

    monkeypatch.setattr("compstat.packs.render_packs", broken)
    with pytest.raises(RuntimeError, match="renderer failed"):
        reissue_cycle(story.config, story.url, "2026-W08", out_dir=target, workers=1)
    assert {p.name: p.read_bytes() for p in target.iterdir()} == files
    assert [p.name for p in target.parent.iterdir() if p.name.startswith(".")] == []
    assert store_snapshot(story.url) == before
    with pytest.raises(DataError, match="no cycle of 2026-W05 is recorded for testshire"):
        reissue_cycle(story.config, story.url, "2026-W05", out_dir=target, workers=1)


def test_reissue_command(story: Story) -> None:
    target = story.out / "cli-reissue"
    result = CliRunner().invoke(app, ["reissue", "--config", str(story.config_path), "--db", story.url,
                                      "--period", "2026-W09", "--out", str(target), "--workers", "1"])
    assert result.exit_code == 0, result.output
    assert f"2026-W09 re-issued from its recorded data versions: 3 packs and the period table written to {target}" in (
        " ".join(result.output.split()))
    assert (target / "period_table.csv").read_bytes() == story.w09_table
    missing = CliRunner().invoke(app, ["reissue", "--config", str(story.config_path), "--db", story.url,
                                       "--period", "2026-W01"])
    assert missing.exit_code == 1 and "no cycle of 2026-W01 is recorded" in missing.output


def test_rerun_shows_the_revised_figures_and_old_cycles_without_versions_refuse(story: Story) -> None:
    run_cycle(story.config, story.url, "2026-W09", out_root=story.out, today=date(2026, 3, 10), workers=1)
    table = pd.read_csv(story.out / "testshire" / "2026-W09" / "period_table.csv").set_index(
        ["unit_code", "measure_id", "window"])
    raw = pd.read_csv(pd.io.common.StringIO(story.v2), dtype=str)
    day = pd.to_datetime(raw["when"]).dt.normalize()
    late = int((raw["unit"].eq("A") & raw["offence"].eq("burglary") & day.between("2026-02-23", "2026-03-01")).sum())
    assert late == 19 and table.loc[("A", "burglary", "period"), "current"] == late
    engine = connect(story.url)
    with transaction(engine) as session:  # a cycle recorded before data versions were kept
        cycle = session.scalar(select(Cycle).where(Cycle.period == "2026-W08"))
        assert cycle is not None
        manifest = json.loads(cycle.manifest)
        cycle.manifest = json.dumps({k: v for k, v in manifest.items() if k != "data_versions"})
    engine.dispose()
    with pytest.raises(DataError, match="recorded without its data versions"):
        reissue_cycle(story.config, story.url, "2026-W08", out_dir=story.out / "old", workers=1)
