"""Incremental cycles (``compstat.reuse``): an unchanged re-run reuses every pack, byte for byte; an
action of one unit re-renders that unit's pack, its division's and the chair's only; a changed
template re-renders them all."""

from __future__ import annotations

import json
import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat import reuse
from compstat.actions.log import NewAction, add_action
from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import CycleOutcome, run_cycle
from compstat.packs import render
from compstat.periods import parse_period
from compstat.resources import templates_dir
from compstat.store import connect, transaction
from tests.conftest import SMALL_CONFIG
from tests.test_ingest import INCIDENTS, TODAY, write_incidents

pytestmark = pytest.mark.slow  # each test renders a small force's packs two or three times

PERIOD = "2026-W10"
# Two divisions: D1 (A, B) and D2 (C): six packs.
TWO_DIVISIONS = SMALL_CONFIG.replace("""      - {code: B, name: Bravo, commander: Supt Bravo, population: 80000}
""", """      - {code: B, name: Bravo, commander: Supt Bravo, population: 80000}
  - code: D2
    name: Division Two
    commander: Ch Supt Two
    children:
      - {code: C, name: Charlie, commander: Supt Charlie, population: 60000}
""")
MORE_INCIDENTS = INCIDENTS + "".join(f"C{i},C,2026-0{1 + i % 3}-0{1 + i % 9},burglary,53.3,-2.3\n" for i in range(12))
# What the manifest says of this run itself: when, how long, what it ingested (nothing new: no rows rejected)
UNSTABLE_MANIFEST = {"run_at", "timings_seconds", "inputs", "rows_rejected", "packs", "packs_reused", "state"}


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "two.yaml"
    path.write_text(TWO_DIVISIONS, encoding="utf-8")
    loaded = load_config(path)
    write_incidents(loaded, MORE_INCIDENTS)
    return loaded


def cycle(config: Config, url: str, out: Path) -> CycleOutcome:
    return run_cycle(config, url, PERIOD, out_root=out, today=TODAY, workers=1)


def rendered(outcome: CycleOutcome) -> set[str]:
    return {p.name for p in outcome.packs} - {p.name for p in outcome.reused}


def files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.name != "manifest.json"}


def stable(manifest: dict[str, object]) -> dict[str, object]:
    quality = {k: v for k, v in dict(manifest["quality"]).items() if k != "check_seconds"}  # type: ignore[call-overload]
    return {k: v for k, v in manifest.items() if k not in UNSTABLE_MANIFEST} | {"quality": quality}


def test_unchanged_rerun_reuses_every_pack_byte_for_byte(config: Config, store_url: str, tmp_path: Path) -> None:
    url, out = store_url, tmp_path / "cycles"
    first = cycle(config, url, out)
    assert first.reused == [] and len(first.packs) == 6  # A, B, C, D1, D2 and the chair's
    assert len(first.pack_cpu_seconds) == 6 and all(s > 0 for s in first.pack_cpu_seconds)
    before, manifest = files(first.out_dir), json.loads((first.out_dir / "manifest.json").read_text())
    assert all(p["inputs"] and not p["reused"] for p in manifest["packs"].values())
    assert manifest["state"] and set(manifest["files"]) == set(before)

    second = cycle(config, url, out)  # nothing changed: the earlier outputs stand, the store untouched
    assert second.unchanged_since == manifest["run_at"]
    assert sorted(second.reused) == sorted(second.packs) == sorted(first.packs)
    assert second.pack_cpu_seconds == second.pack_seconds == [0.0] * 6  # none rendered
    assert files(second.out_dir) == before
    assert json.loads((second.out_dir / "manifest.json").read_text()) == manifest
    assert [f.message for f in second.findings] == [f.message for f in first.findings]


def test_next_days_rerun_reuses_every_pack_whose_inputs_are_unchanged(config: Config, tmp_path: Path) -> None:
    """Another day is another run (staleness is judged on today), but what the packs show is the same."""
    url, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "cycles"
    first = cycle(config, url, out)
    before, manifest = files(first.out_dir), json.loads((first.out_dir / "manifest.json").read_text())
    second = run_cycle(config, url, PERIOD, out_root=out, today=TODAY + timedelta(days=1), workers=1)
    assert second.unchanged_since is None
    assert sorted(second.reused) == sorted(second.packs)
    assert files(second.out_dir) == before  # every pack, table and analysis file the same bytes
    again = json.loads((second.out_dir / "manifest.json").read_text())
    assert stable(again) == stable(manifest)
    assert again["packs_reused"] == 6 and all(p["reused"] for p in again["packs"].values())


def test_one_units_action_rerenders_its_pack_its_divisions_and_the_chairs(config: Config, tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "cycles"
    cycle(config, url, out)
    engine = connect(url)
    with transaction(engine) as session:
        add_action(session, config, parse_period("2026-W09", config.cadence),
                   NewAction("A", "Patrol the estate", "Insp A", date(2026, 3, 20)), "chair",
                   at=datetime(2026, 3, 3, 9))
    engine.dispose()
    second = cycle(config, url, out)
    assert rendered(second) == {"pack-A.pdf", "pack-D1.pdf", "chair-pack.pdf"}
    assert {p.name for p in second.reused} == {"pack-B.pdf", "pack-C.pdf", "pack-D2.pdf"}


def test_a_changed_template_rerenders_every_pack(config: Config, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    url, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "cycles"
    cycle(config, url, out)
    copy = tmp_path / "templates"
    shutil.copytree(templates_dir(), copy)
    with (copy / "pack.css").open("a", encoding="utf-8") as css:
        css.write("\n/* a changed stylesheet */\n")
    monkeypatch.setattr(reuse, "templates_dir", lambda: copy)
    monkeypatch.setattr(render, "templates_dir", lambda: copy)
    reuse.code_version.cache_clear()
    try:
        second = cycle(config, url, out)
    finally:
        reuse.code_version.cache_clear()
    assert second.reused == [] and len(second.packs) == 6


def test_a_pack_whose_file_changed_is_rendered_again(config: Config, tmp_path: Path) -> None:
    url, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "cycles"
    first = cycle(config, url, out)
    (first.out_dir / "pack-B.pdf").write_bytes(b"not the pack the manifest recorded")
    second = cycle(config, url, out)
    assert rendered(second) == {"pack-B.pdf"}
    assert (second.out_dir / "pack-B.pdf").read_bytes().startswith(b"%PDF")


def test_digest_is_canonical_and_refuses_what_it_cannot_read() -> None:
    assert reuse.digest({"b": 1, "a": (1.5, None)}) == reuse.digest({"a": (1.5, None), "b": 1})
    assert reuse.digest(1) != reuse.digest(1.0) != reuse.digest("1")
    assert reuse.digest(("ab", "c")) != reuse.digest(("a", "bc"))
    with pytest.raises(reuse.Unhashable):
        reuse.digest(object())


def test_a_new_incident_for_one_unit_rerenders_the_packs_that_show_it(config: Config, tmp_path: Path) -> None:
    """A new burglary in A's week changes A's figures, D1's (its sum), the chair's, and the similar units'
    average that B and C are compared with (A is among their similar units; D1 is D2's): here every pack
    shows it, so none is reused. In a big force only the units whose similar units include A would be."""
    url, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "cycles"
    cycle(config, url, out)
    write_incidents(config, MORE_INCIDENTS + "R99,A,2026-03-08,burglary,53.1,-2.1\n")
    second = cycle(config, url, out)
    assert second.unchanged_since is None
    assert rendered(second) == {"pack-A.pdf", "pack-B.pdf", "pack-C.pdf", "pack-D1.pdf", "pack-D2.pdf",
                                "chair-pack.pdf"}


def weekly_incidents(weeks: int = 110) -> str:
    """Two to six incidents a week of each measure in each unit, up to the week of 2 March 2026: frequent enough
    for XmR charts (a rare series has a t-chart, not memoised)."""
    rows = ["ref,unit,when,offence,lat,lon"]
    for week in range(weeks):
        day = date(2026, 3, 4) - timedelta(weeks=week)
        for u, unit in enumerate("ABC"):
            for m, offence in enumerate(("burglary", "robbery")):
                rows += [f"W{week}{unit}{m}{i},{unit},{day.isoformat()},{offence},53.1,-2.1"
                         for i in range(2 + (week * 7 + u * 13 + m * 29) ** 2 % 5)]
    return "\n".join(rows) + "\n"


def test_a_revision_for_one_unit_recharts_only_the_series_that_hold_it(config: Config, tmp_path: Path) -> None:
    """The XmR charts of a re-run: a robbery added to B's week changes B's, D1's and the force's robbery series;
    those three are charted again, every other series' chart is the first run's (``analysis.chart_memo``), and
    the analysis and every pack's inputs are those of a run without the earlier charts."""
    url, out = f"sqlite:///{tmp_path / 'store.db'}", tmp_path / "cycles"
    write_incidents(config, weekly_incidents())
    first = cycle(config, url, out)
    charted = first.charts_reused[1]
    assert first.charts_reused == (0, charted) and charted == 12  # 2 measures × (A, B, C, D1, D2, the force)
    write_incidents(config, weekly_incidents() + "R99,B,2026-03-05,robbery,53.1,-2.1\n")
    second = CliRunner().invoke(app, ["run-cycle", "--config", str(tmp_path / "two.yaml"), "--db", url, "--out",
                                      str(out), "--period", PERIOD, "--today", TODAY.isoformat(), "--workers", "1"])
    assert second.exit_code == 0, second.output
    assert f"reused {charted - 3} of {charted} XmR charts (unchanged series)" in second.output
    fresh = run_cycle(config, url, PERIOD, out_root=tmp_path / "fresh", today=TODAY, workers=1)
    assert fresh.charts_reused == (0, charted)
    rerun = first.out_dir  # the period's folder: now the second run's outputs
    for name in ("analysis_spc.csv", "analysis_findings.csv", "spc_charts.npz"):
        assert (rerun / name).read_bytes() == (fresh.out_dir / name).read_bytes(), name
    inputs = [{name: p["inputs"] for name, p in json.loads((folder / "manifest.json").read_text())["packs"].items()}
              for folder in (rerun, fresh.out_dir)]
    assert inputs[0] == inputs[1]
