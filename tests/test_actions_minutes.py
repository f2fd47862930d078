"""After the meeting: the follow-up note per unit, and `compstat agreements show`."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.actions import NewAction, add_action, update_action
from compstat.actions.minutes import markdown_text, write_minutes
from compstat.cli import app
from compstat.config import Config, load_config
from compstat.periods import parse_period
from compstat.store import AnalysisRow, Cycle, CycleResult, connect, transaction
from tests.conftest import SMALL_CONFIG
from tests.test_quality_cycle import incidents

AGREEMENTS = """\
accountability:
  agreements:
    A:
      burglary: {officer: Supt Alpha, support_if: {change_pct_above: 20}, intervene_if: {change_pct_above: 50}}
"""


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "testshire.yaml"
    path.write_text(SMALL_CONFIG + AGREEMENTS, encoding="utf-8")
    return path


@pytest.fixture
def config(config_path: Path) -> Config:
    return load_config(config_path)


def record_two_meetings(config: Config, db: str) -> None:
    """Actions raised at W09 (one done since, one still open) and at W10 (a commitment, a data request)."""
    engine = connect(db)
    w09, w10 = (parse_period(p, config.cadence) for p in ("2026-W09", "2026-W10"))
    with transaction(engine) as session:
        old = add_action(session, config, w09, NewAction("A", "Patrol | the <b>estate</b>", "Insp A", None,
                                                         "burglary"), "chair", at=datetime(2026, 3, 3, 12))
        done = add_action(session, config, w09, NewAction("A", "Fix the lights", "Insp A"), "chair",
                          at=datetime(2026, 3, 3, 12))
        update_action(session, done.id, "Insp A", "done", "lights fixed by the council", at=datetime(2026, 3, 6, 9))
        update_action(session, old.id, "Insp A", note="half the estate done", at=datetime(2026, 3, 6, 9))
        add_action(session, config, w10, NewAction("A", "Target-harden 40 homes", "PS Cole", date(2026, 3, 24),
                                                   "burglary", support_requested="crime prevention officer",
                                                   support_offered="two days of the CPO"), "chair",
                   at=datetime(2026, 3, 10, 12))
        add_action(session, config, w10, NewAction("A", "Burglary by hour of day", "Analyst Kim", None, "burglary",
                                                   kind="data request"), "chair", at=datetime(2026, 3, 10, 12))
    engine.dispose()


def test_follow_up_note_lists_commitments_requests_and_carried_actions(config: Config, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    record_two_meetings(config, db)
    engine = connect(db)
    with transaction(engine) as session:
        paths = write_minutes(session, config, parse_period("2026-W10", config.cadence), out_root=tmp_path / "out")
    engine.dispose()
    assert [p.relative_to(tmp_path) for p in paths] == [Path("out/testshire/2026-W10/minutes/A.md"),
                                                        Path("out/testshire/2026-W10/minutes/B.md")]
    note = paths[0].read_text(encoding="utf-8")
    assert note.startswith("# Follow-up note: Alpha (A)\n\nTestshire Police · meeting of 2026-03-10 (period 2026-W10)")
    assert "- To: Supt Alpha\n- Send by: 2026-03-12\n- Next meeting: 2026-03-17\n" in note
    commitments = note.split("## Commitments made at this meeting")[1].split("##")[0]
    assert "| 3 | Target-harden 40 homes | PS Cole | 2026-03-24 | Burglary |" in commitments
    assert "hour of day" not in commitments
    requests = note.split("## Data requested for the next meeting")[1].split("##")[0]
    assert "| 4 | Burglary by hour of day | Analyst Kim | 2026-03-17 | Burglary |" in requests
    carried = note.split("## Actions still open from earlier meetings")[1].split("##")[0]
    assert ("| 1 | Patrol \\| the \\<b\\>estate\\</b\\> | Insp A | 2026-03-10 | open | 1 | 1 increased challenge "
            "| half the estate done |") in carried
    completed = note.split("## Completed since the last meeting")[1].split("##")[0]
    assert "| 2 | Fix the lights | Insp A | done | lights fixed by the council |" in completed
    assert "| 3 | Target-harden 40 homes | crime prevention officer | two days of the CPO |" in note
    assert ("| Burglary | Supt Alpha | 28 days: % change on last year above +20 | not met: no figure for 28 days "
            "(the cycle for this meeting has not run) | 28 days: % change on last year above +50 | not met: no "
            "figure for 28 days (the cycle for this meeting has not run) |") in note
    assert "| half the estate done | no incidents (0 in the 7 days after vs 0 in the 7 days before) |" in carried
    assert "- Escalation level: **increased challenge** (action 1: due 2026-03-10, not done at 1 meeting)" in note
    quiet = paths[1].read_text(encoding="utf-8")
    assert "No new commitments were recorded for this unit." in quiet
    assert "No accountability agreement is recorded for this unit." in quiet


def test_markdown_text_escapes_markup() -> None:
    assert markdown_text("a|b *c* _d_ [e](f) <g> `h` &amp; x & y\nz") == (
        "a\\|b \\*c\\* \\_d\\_ \\[e\\](f) \\<g\\> \\`h\\` \\&amp; x & y z")


def test_minutes_and_agreements_cli(config_path: Path, config: Config, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    record_two_meetings(config, db)
    (tmp_path / "incidents.csv").write_text(incidents("2026-03-22"), encoding="utf-8")  # no stored cycle: judged now
    runner = CliRunner()
    base = ["--config", str(config_path), "--db", db]
    written = runner.invoke(app, ["minutes", *base, "--period", "2026-W10", "--out", str(tmp_path / "cycles")])
    assert written.exit_code == 0, written.output
    assert "2 follow-up notes for the 2026-W10 meeting written to" in written.output
    assert (tmp_path / "cycles" / "testshire" / "2026-W10" / "minutes" / "A.md").exists()
    shown = runner.invoke(app, ["agreements", "show", "--config", str(config_path), "--unit", "A"])
    assert shown.exit_code == 0, shown.output
    assert "Supt Alpha" in shown.output and "28 days: % change on last year above +50" in shown.output
    assert ("Escalation ladder: 0 challenge → 1 increased challenge → 2 support plan → 3 formal intervention"
            in shown.output)
    none = runner.invoke(app, ["agreements", "show", "--config", str(config_path), "--unit", "B"])
    assert none.exit_code == 0 and "No accountability agreement is recorded for B." in none.output
    unknown = runner.invoke(app, ["agreements", "show", "--config", str(config_path), "--unit", "Q"])
    assert unknown.exit_code == 2
    assert unknown.output.strip() == "Error: --unit 'Q' is not an accountable unit in the config"
    listed = runner.invoke(app, ["actions", "list", *base, "--period", "2026-W10", "--unit", "A"])
    assert listed.exit_code == 0, listed.output
    assert "OVERDUE" in listed.output and "1 increased challenge" in listed.output
    assert "Unit A: level 1 increased challenge (action 1: due 2026-03-10, not done at 1 meeting)" in listed.output


def test_every_action_command_and_setting_is_documented() -> None:
    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text(encoding="utf-8")
    commands = ["actions list", "actions add", "actions update", "actions history", "actions export",
                "actions import ", "actions import-minutes", "agreements show", "minutes"]
    assert [c for c in commands if f"`compstat {c}" not in readme] == []
    keys = ["agreements.<unit>.<measure>.officer", "support_if", "escalation.levels", "escalation.missed_meetings",
            "escalation.concern_without_action", "escalation.support_level", "stale_after_days", "effect_max_days"]
    assert [k for k in keys if f"accountability.{k}" not in readme and f".{k}" not in readme] == []
    from compstat.config import AccountabilitySettings, EscalationLadder

    fields = [*AccountabilitySettings.model_fields, *EscalationLadder.model_fields]
    assert [f for f in fields if f not in readme] == []


def store_w10_cycle(config: Config, db: str) -> None:
    """What the W10 cycle showed: A's burglary 36 against 24 over 28 days (+50%: above the +20 support
    trigger, not above the +50 intervention trigger), and B's robbery in special-cause concern."""
    period = parse_period("2026-W10", config.cadence)
    engine = connect(db)
    with transaction(engine) as session:
        cycle = Cycle(org="testshire", period=period.label, period_start=period.start, period_end=period.end,
                      run_at=datetime(2026, 3, 9, 7, 0), output_dir="", manifest="{}")
        session.add(cycle)
        session.flush()
        session.add(CycleResult(cycle_id=cycle.id, unit_code="A", measure_id="burglary", window="28d",
                                current=36.0, previous=24.0))
        for unit, measure, variation in (("B", "robbery", "special_cause_concern"), ("A", "robbery", "common_cause")):
            session.add(AnalysisRow(cycle_id=cycle.id, section="spc", unit_code=unit, measure_id=measure,
                                    payload=json.dumps({"variation": variation, "series": {
                                        "point_type": ["special_cause_concern", variation]}})))
    engine.dispose()


def test_list_and_minutes_judge_levels_on_the_stored_cycle(config_path: Path, config: Config, tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'store.db'}"
    record_two_meetings(config, db)
    store_w10_cycle(config, db)
    runner = CliRunner()
    base = ["--config", str(config_path), "--db", db, "--period", "2026-W10"]
    listed_a = runner.invoke(app, ["actions", "list", *base, "--unit", "A"])
    assert listed_a.exit_code == 0, listed_a.output
    assert ("Unit A: level 2 support plan (action 1: due 2026-03-10, not done at 1 meeting; Burglary: support "
            "trigger met (28 days: % change on last year above +20; 36 against 24 last year over 28 days, +50.0%))"
            ) in listed_a.output
    assert "has not run yet" not in listed_a.output
    listed_b = runner.invoke(app, ["actions", "list", *base, "--unit", "B"])
    assert "Unit B: level 1 increased challenge (Robbery in special-cause concern with no open action)" in (
        listed_b.output)
    written = runner.invoke(app, ["minutes", *base, "--out", str(tmp_path / "out")])
    assert written.exit_code == 0, written.output
    folder = tmp_path / "out" / "testshire" / "2026-W10" / "minutes"
    note_a, note_b = ((folder / f"{u}.md").read_text(encoding="utf-8") for u in ("A", "B"))
    assert "- Escalation level: **support plan** (action 1: due 2026-03-10, not done at 1 meeting; Burglary:" in note_a
    assert ("| 28 days: % change on last year above +20 | met: 36 against 24 last year over 28 days, +50.0% | 28 days: "
            "% change on last year above +50 | not met: 36 against 24 last year over 28 days, +50.0% |") in note_a
    assert "- Escalation level: **increased challenge** (Robbery in special-cause concern with no open action)" in (
        note_b)
    no_data = runner.invoke(app, ["actions", "list", "--config", str(config_path), "--db", db,
                                  "--period", "2026-W11", "--unit", "A"])
    assert no_data.exit_code == 2 and "source 'incidents': no file matches" in no_data.output  # nothing to judge on
    (tmp_path / "incidents.csv").write_text(incidents("2026-03-22"), encoding="utf-8")
    not_run = runner.invoke(app, ["actions", "list", "--config", str(config_path), "--db", db,
                                  "--period", "2026-W11", "--unit", "A"])
    assert not_run.exit_code == 0, not_run.output
    assert "The 2026-W11 cycle has not run yet: levels and \"did it work\" are judged on the data held now" in (
        not_run.output)
    future = runner.invoke(app, ["actions", "list", "--config", str(config_path), "--db", db, "--period", "2030-W01"])
    assert future.exit_code == 1 and "Traceback" not in future.output
    assert future.output.startswith("Error: no data for 2030-W01 (2029-12-31 to 2030-01-06); the store holds "
                                    "2025-01-01 to 2026-03-22")
