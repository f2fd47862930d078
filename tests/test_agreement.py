"""Every command tells the same story as the packs: `run-cycle`, `analyse`, `actions list`, `minutes`
and `check` on the demo's 2026-W48 cycle (the session's ``demo_w48``) share one judgement — the same
probe and recognition findings in the same order, the same quality caveats, escalation levels and
"did it work" verdicts, the same quality findings, and the same refusal of a period with no data."""

from __future__ import annotations

import json
from datetime import date
from functools import cache
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy.orm import Session
from typer.testing import CliRunner

from compstat.actions import carry_forward_actions
from compstat.cli import app
from compstat.config import Config, load_config
from compstat.periods import parse_period
from compstat.preview import meeting_judgement, preview_analysis
from compstat.quality import check_data
from compstat.results import CycleData
from compstat.store import connect
from tests.packtext import pdf_text

Demo = tuple[list[str], Path, str, dict[str, object]]
TODAY = date(2026, 11, 30)
LEVELS = ["challenge", "increased challenge", "support plan", "formal intervention"]


@pytest.fixture(scope="module")
def demo(demo_w48: Demo) -> tuple[Config, str, Path, list[str]]:
    base, folder, _, raw = demo_w48
    return load_config(Path(base[1])), str(raw["store"]), folder, base


@pytest.fixture(scope="module")
def preview(demo: tuple[Config, str, Path, list[str]]) -> CycleData:
    """What `analyse` computes for 2026-W48 (``preview_analysis``), once for the module."""
    config, store, _, _ = demo
    return preview_analysis(config, store, "2026-W48", TODAY)


@cache
def pack(path: Path) -> str:
    return flat(pdf_text(path))


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def flat(text: str) -> str:
    return " ".join(text.split())


def test_analyse_finds_what_the_packs_found_in_the_same_order(demo: tuple[Config, str, Path, list[str]],
                                                              preview: CycleData) -> None:
    _, _, folder, base = demo
    data = preview
    assert data.analysis is not None
    packs = pd.read_csv(folder / "analysis_findings.csv")
    for direction, frame in (("concern", data.analysis.probe), ("improvement", data.analysis.recognition)):
        recorded = packs[packs["direction"] == direction]
        assert list(zip(frame["unit_code"], frame["measure_id"], frame["window"], strict=True)) == list(
            zip(recorded["unit_code"], recorded["measure_id"], recorded["window"], strict=True)), direction
        assert list(frame["rank"]) == list(recorded["rank"])
    code, output = invoke("analyse", *base, "--period", "2026-W48", "--today", TODAY.isoformat())
    assert code == 0, output
    assert f"What to probe: 2026-W48 ({(packs['direction'] == 'concern').sum()} found)" in output
    assert f"What to recognise: 2026-W48 ({(packs['direction'] == 'improvement').sum()} found)" in output
    counts = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["quality"]["counts"]
    assert (f"Quality, as in the packs: {counts['blocking']} blocking, {counts['warning']} warning and "
            f"{counts['info']} info finding(s)") in flat(output)
    chair = pack(folder / "chair-pack.pdf")
    top = data.analysis.probe.iloc[0]
    assert str(top["unit_name"]) in chair and str(top["measure_name"]) in chair


def test_analyse_recognises_nothing_the_quality_step_caveated(demo: tuple[Config, str, Path, list[str]],
                                                              preview: CycleData) -> None:
    """Before one judgement, `analyse` skipped the quality step: it recognised Castleton Moor's (S2)
    anti-social behaviour across the definition change of 1 October, and Eastgate's (E1) drug
    offences on a year to date the checks mark not like-for-like, which the packs leave out."""
    _, _, folder, _ = demo
    data = preview
    assert data.analysis is not None and data.quality is not None
    caveated = data.quality.comparisons
    marked = caveated[~caveated["like_for_like"].astype(bool) | caveated["fragile"].astype(bool)]
    marks = set(zip(marked["unit_code"], marked["measure_id"], marked["window"], strict=True))
    recognised = data.analysis.recognition
    assert ("S2", "asb") not in set(zip(recognised["unit_code"], recognised["measure_id"], strict=True))
    assert not marks & set(zip(recognised["unit_code"], recognised["measure_id"], recognised["window"], strict=True))
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    recorded = {(c["unit_code"], c["measure_id"], c["window"]) for c in manifest["quality"]["comparisons"]}
    assert recorded == set(zip(caveated["unit_code"], caveated["measure_id"], caveated["window"], strict=True))


def test_levels_and_did_it_work_agree_in_the_list_the_minutes_and_the_packs(
        demo: tuple[Config, str, Path, list[str]], tmp_path: Path) -> None:
    config, store, folder, base = demo
    period = parse_period("2026-W48", config.cadence)
    judged = meeting_judgement(config, store, period)
    assert judged.recorded
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    as_of = {u: date.fromisoformat(d) for u, d in manifest["data_as_of"].items()}
    code, listed = invoke("actions", "list", *base, "--period", "2026-W48")
    assert code == 0, listed
    code, written = invoke("minutes", *base, "--period", "2026-W48", "--out", str(tmp_path))
    assert code == 0, written
    minutes = tmp_path / "demo" / "2026-W48" / "minutes"  # not in the session's demo folder, which others read
    judged_effects = judged.log[judged.log["effect_text"].astype(str) != ""]
    assert not judged_effects.empty
    for row in judged_effects.itertuples():
        unit = str(row.unit_code)
        # the after-window ends at the unit's data as of date, and the before-window is as long
        assert int(row.effect_days) <= (as_of[unit] - pd.Timestamp(row.raised_on).date()).days, row
        text = str(row.effect_text)
        assert flat(text) in pack(folder / f"pack-{unit}.pdf"), (unit, text)
        note = (minutes / f"{unit}.md").read_text(encoding="utf-8")
        assert text in note, (unit, text)
        assert " ".join(text.split()[:3]) in flat(listed), (unit, text)
    one_unit_lists = {int(level.escalation_level): str(level.unit_code) for level in judged.levels.itertuples()}
    assert set(one_unit_lists) >= {0, 1}  # `actions list --unit` once per level: each takes seconds
    for level in judged.levels.itertuples():
        unit, number = str(level.unit_code), int(level.escalation_level)
        assert f"Current escalation level: {number} ({LEVELS[number]})" in pack(folder / f"pack-{unit}.pdf"), unit
        note = (minutes / f"{unit}.md").read_text(encoding="utf-8")
        assert f"- Escalation level: **{LEVELS[number]}**" in note, unit
        if one_unit_lists[number] == unit:
            code, one = invoke("actions", "list", *base, "--period", "2026-W48", "--unit", unit)
            assert code == 0 and f"Unit {unit}: level {number} {LEVELS[number]} (" in flat(one), one


def test_did_it_work_waits_for_the_data(demo: tuple[Config, str, Path, list[str]]) -> None:
    """The issue's case: the log for the 2026-W49 meeting, a week whose data has not arrived. Harbour
    Quay's action raised at the W47 meeting had 14 "after" days by the calendar but only 7 with data:
    the windows are 7 days each, not 14 (then "improved, 1 vs 12")."""
    config, store, _, _ = demo
    w49 = parse_period("2026-W49", config.cadence)
    engine = connect(store)
    try:
        with Session(engine) as session:
            log = carry_forward_actions(session, config, w49)
    finally:
        engine.dispose()
    judged = log[log["effect"].astype(str) != ""]
    assert not judged.empty
    last = date(2026, 11, 29)
    for row in judged.itertuples():
        assert int(row.effect_days) <= (last - pd.Timestamp(row.raised_on).date()).days, row
    e2 = judged[judged["unit_code"] == "E2"].iloc[0]
    assert int(e2["effect_days"]) == 7


def test_check_finds_what_run_cycle_found(demo: tuple[Config, str, Path, list[str]], tmp_path: Path) -> None:
    config, store, folder, base = demo
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    result = check_data(config, store, "2026-W48", TODAY)
    assert result.counts() == manifest["quality"]["counts"]
    assert [(f["check"], f["severity"]) for f in manifest["findings"]] == [(f.check, f.severity)
                                                                          for f in result.findings]
    code, output = invoke("check", *base, "--period", "2026-W48", "--today", TODAY.isoformat(),
                          "--out", str(tmp_path / "quality.html"), "--quarantine", str(tmp_path / "q.csv"))
    assert code == 0, output
    exported = pd.read_csv(tmp_path / "q.csv", dtype=str)  # as `quarantine list` lists them
    totals = exported[exported["file"].str.endswith("force_summary.csv")]
    assert list(totals["row"]) == ["26"] and totals["reason"].str.startswith("value 'nil' is not a number").all()


def test_every_command_refuses_a_period_with_no_data(demo: tuple[Config, str, Path, list[str]],
                                                      tmp_path: Path) -> None:
    _, _, _, base = demo
    expected = "Error: no data for 2030-W01 (2029-12-31 to 2030-01-06); the store holds 2023-01-01 to 2026-11-29."
    for command in (["run-cycle", "--out", str(tmp_path / "cycles")], ["analyse"], ["check", "--out",
                    str(tmp_path / "q.html")], ["actions", "list"], ["minutes", "--out", str(tmp_path / "m")]):
        code, output = invoke(*command, *base, "--period", "2030-W01", "--today", "2030-01-08") if command[0] in (
            "run-cycle", "analyse", "check") else invoke(*command, *base, "--period", "2030-W01")
        assert code == 1, (command, output)
        assert expected in flat(output), (command, output)


def test_quarantine_lists_rejects_not_the_organisation_totals(demo: tuple[Config, str, Path, list[str]]) -> None:
    """The demo's force_summary.csv supplies organisation totals (kept aside for the consistency check,
    not rejects) and one whose count is 'nil': the consistency finding points to `compstat quarantine
    list`, which lists that row (line 26) with its reason, and counts the kept totals apart."""
    config, _, folder, base = demo
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    nil = next(f for f in manifest["findings"] if "'nil'" in f["message"])
    assert "(line 26)" in nil["message"] and "`compstat quarantine list`" in nil["message"]
    code, output = invoke("quarantine", "list", *base, "--source", "force_summary")
    assert code == 0, output
    text = flat(output)
    assert "1 rejected rows (24 organisation-total rows kept aside for the consistency check are not listed)" in text
    assert "force_summary.csv │ 26 │ count │ value 'nil' is not a number" in text
    assert "a total for the whole organisation" not in text
