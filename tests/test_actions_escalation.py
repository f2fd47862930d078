"""Escalation over successive meetings, concerns without actions, agreement triggers, staleness,
and what each meeting's log carries forward."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from compstat.actions import (
    Evidence,
    NewAction,
    add_action,
    agreement_triggers,
    carry_forward_actions,
    check_agreements,
    describe_rule,
    evidence_from,
    meeting_escalation,
    unit_levels,
    update_action,
)
from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import run_cycle
from compstat.errors import ConfigError
from compstat.periods import parse_period
from compstat.store import connect, transaction
from tests.conftest import SMALL_CONFIG

# Weekly, Monday start, meetings 2 days after each week: W10 meets Tue 10 March 2026, W11 on 17 March,
# W12 on 24 March, W13 on 31 March, W14 on 7 April.
RAISED_AT = datetime(2026, 3, 10, 12, 0)
ACCOUNTABILITY = """\
accountability:
  agreements:
    A:
      burglary:
        officer: Supt Alpha
        support_if: {change_pct_above: 20}
        intervene_if: {change_pct_above: 50, window: ytd}
  stale_after_days: 14
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "accountable.yaml"
    path.write_text(SMALL_CONFIG + ACCOUNTABILITY, encoding="utf-8")
    return load_config(path)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = connect(f"sqlite:///{tmp_path / 'store.db'}")
    yield engine
    engine.dispose()


def log_at(engine: Engine, config: Config, label: str,
           concerns: set[tuple[str, str]] | None = None) -> pd.DataFrame:
    with transaction(engine) as session:
        return carry_forward_actions(session, config, parse_period(label, config.cadence), concerns).set_index("id")


def raise_at_w10(engine: Engine, config: Config, item: NewAction) -> int:
    with transaction(engine) as session:
        return add_action(session, config, parse_period("2026-W10", config.cadence), item, "chair", at=RAISED_AT).id


def test_escalation_climbs_one_level_per_missed_meeting(config: Config, engine: Engine) -> None:
    action = raise_at_w10(engine, config, NewAction("A", "Target-harden the estate", "Insp A", date(2026, 3, 24),
                                                    "burglary"))
    with transaction(engine) as session:  # in progress does not stop the clock: only done does
        update_action(session, action, "Insp A", "in progress", "started", at=datetime(2026, 3, 16, 9, 0))
    seen = []
    for label in ("2026-W11", "2026-W12", "2026-W13", "2026-W14", "2026-W15"):
        row = log_at(engine, config, label).loc[action]
        seen.append((int(row["meetings_carried"]), int(row["missed_meetings"]), bool(row["overdue"]),
                     int(row["escalation_level"]), row["escalation_label"]))
    assert seen == [
        (1, 0, False, 0, "challenge"),
        (2, 1, True, 1, "increased challenge"),
        (3, 2, True, 2, "support plan"),
        (4, 3, True, 3, "formal intervention"),
        (5, 4, True, 3, "formal intervention"),  # the top of the ladder
    ]
    assert log_at(engine, config, "2026-W13").loc[action, "escalation_reason"] == (
        "due 2026-03-24, not done at 2 meetings")
    with transaction(engine) as session:
        update_action(session, action, "Insp A", "done", "estate done", at=datetime(2026, 4, 8, 9, 0))
    after = log_at(engine, config, "2026-W15").loc[action]
    assert (after["status"], bool(after["carried"]), int(after["escalation_level"])) == ("done", False, 0)
    assert after["closing_note"] == "estate done"
    assert action not in log_at(engine, config, "2026-W16").index  # completed appears once


def test_concern_raises_an_overdue_action_and_a_unit_without_one(config: Config, engine: Engine) -> None:
    action = raise_at_w10(engine, config, NewAction("A", "Burglary plan", "Insp A", None, "burglary"))
    concerns = {("A", "burglary"), ("B", "robbery")}
    not_due = log_at(engine, config, "2026-W10", concerns)
    assert action not in not_due.index  # raised at this meeting: carried from the next one
    at_w11 = log_at(engine, config, "2026-W11", concerns)
    assert int(at_w11.loc[action, "escalation_level"]) == 2  # 1 missed meeting, +1 for the concern
    assert at_w11.loc[action, "escalation_reason"].endswith("Burglary is in special-cause concern")
    levels = unit_levels(at_w11.reset_index(), config, concerns=concerns).set_index("unit_code")
    assert levels.loc["A", "escalation_level"] == 2  # the concern is answered by an open action
    assert levels.loc["B", "escalation_level"] == 1
    assert levels.loc["B", "escalation_reason"] == "Robbery in special-cause concern with no open action"
    quiet = config.model_copy(update={"accountability": config.accountability.model_copy(update={
        "escalation": config.accountability.escalation.model_copy(update={"concern_without_action": False})})})
    assert unit_levels(at_w11.reset_index(), quiet, concerns=concerns).set_index("unit_code").loc[
        "B", "escalation_level"] == 0


def test_custom_ladder(tmp_path: Path, engine: Engine) -> None:
    path = tmp_path / "ladder.yaml"
    path.write_text(SMALL_CONFIG + "accountability:\n  escalation:\n    levels: [watch, act]\n"
                    "    missed_meetings: [2]\n    support_level: 1\n", encoding="utf-8")
    config = load_config(path)
    action = raise_at_w10(engine, config, NewAction("A", "x", "Insp A"))
    assert [log_at(engine, config, p).loc[action, "escalation_label"] for p in ("2026-W11", "2026-W12")] == [
        "watch", "act"]
    assert "'act' after 2 missed meetings" in describe_rule(config.accountability.escalation)
    path.write_text(SMALL_CONFIG + "accountability:\n  escalation:\n    levels: [watch, act]\n"
                    "    missed_meetings: [1, 2]\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="accountability.escalation: missed_meetings needs one number per level"):
        load_config(path)


def test_stale_after_configured_days(config: Config, engine: Engine) -> None:
    action = raise_at_w10(engine, config, NewAction("A", "x", "Insp A", date(2026, 5, 1)))
    assert not bool(log_at(engine, config, "2026-W11").loc[action, "stale"])  # 7 days
    stale = log_at(engine, config, "2026-W12").loc[action]  # 14 days: not more than 14
    assert (bool(stale["stale"]), int(stale["days_since_update"])) == (False, 14)
    assert bool(log_at(engine, config, "2026-W13").loc[action, "stale"])  # 21 days
    with transaction(engine) as session:
        update_action(session, action, "Insp A", note="still on it", at=datetime(2026, 3, 30, 17, 0))
    assert not bool(log_at(engine, config, "2026-W13").loc[action, "stale"])


def test_agreement_triggers_raise_the_unit(config: Config) -> None:
    table = pd.DataFrame([
        {"unit_code": "A", "measure_id": "burglary", "window": "28d", "current": 30.0, "previous": 24.0,
         "pct_change": 25.0},
        {"unit_code": "A", "measure_id": "burglary", "window": "ytd", "current": 88.0, "previous": 80.0,
         "pct_change": 10.0},
    ])
    triggers = agreement_triggers(table, config)
    assert triggers[["unit_code", "trigger", "officer", "rule", "met", "judged_on"]].values.tolist() == [
        ["A", "intervene", "Supt Alpha", "the year to date: % change on last year above +50", False,
         "88 against 80 last year over the year to date, +10.0%"],
        ["A", "support", "Supt Alpha", "28 days: % change on last year above +20", True,
         "30 against 24 last year over 28 days, +25.0%"]]
    empty_log = pd.DataFrame(columns=["id", "unit_code", "measure_id", "carried", "escalation_level",
                                      "escalation_reason"])
    levels = unit_levels(empty_log, config, triggered=triggers).set_index("unit_code")
    assert levels.loc["A", "escalation_label"] == "support plan"
    assert levels.loc["B", "escalation_label"] == "challenge"
    table.loc[1, ["current", "pct_change"]] = [128.0, 60.0]
    triggers = agreement_triggers(table, config)
    assert list(triggers["met"]) == [True, True]
    levels, again = meeting_escalation(empty_log, table, config)
    assert again.equals(triggers)
    assert levels.set_index("unit_code").loc["A", "escalation_label"] == "formal intervention"
    assert levels.set_index("unit_code").loc["A", "escalation_reason"] == (
        "Burglary: intervene trigger met (the year to date: % change on last year above +50; "
        "128 against 80 last year over the year to date, +60.0%)")
    table["pct_change"] = math.nan  # no comparison: a % bound is never crossed
    assert not agreement_triggers(table, config)["met"].any()
    assert list(agreement_triggers(table.iloc[:0], config)["judged_on"]) == [
        "no figure for the year to date (the cycle for this meeting has not run)",
        "no figure for 28 days (the cycle for this meeting has not run)"]


def test_concern_triggers_are_judged_on_the_concerns(tmp_path: Path) -> None:
    path = tmp_path / "concern.yaml"
    path.write_text(SMALL_CONFIG + "accountability:\n  agreements:\n    B:\n      robbery: {officer: Insp B, "
                    "support_if: {concern: true}, intervene_if: {concern: true, change_pct_above: 100}}\n",
                    encoding="utf-8")
    config = load_config(path)
    table = pd.DataFrame([{"unit_code": "B", "measure_id": "robbery", "window": "28d", "current": 9.0,
                           "previous": 6.0, "pct_change": 50.0}])
    quiet = agreement_triggers(table, config, set()).set_index("trigger")
    assert not quiet["met"].any() and quiet.loc["support", "judged_on"] == "not in special-cause concern"
    judged = agreement_triggers(table, config, {("B", "robbery")}).set_index("trigger")
    assert (bool(judged.loc["support", "met"]), bool(judged.loc["intervene", "met"])) == (True, False)
    assert judged.loc["intervene", "judged_on"] == (
        "9 against 6 last year over 28 days, +50.0%; in special-cause concern")


def _requiring(tmp_path: Path, requires: str) -> Config:
    path = tmp_path / f"requires-{requires}.yaml"
    path.write_text(SMALL_CONFIG + "accountability:\n  agreements:\n    A:\n      burglary: {officer: Supt Alpha, "
                    f"support_if: {{change_pct_above: 20, requires: {requires}}}}}\n", encoding="utf-8")
    return load_config(path)


RAISED_28D = pd.DataFrame([{"unit_code": "A", "measure_id": "burglary", "window": "28d", "current": 30.0,
                            "previous": 24.0, "pct_change": 25.0}])
EMPTY_LOG = pd.DataFrame(columns=["id", "unit_code", "measure_id", "carried", "escalation_level", "escalation_reason"])


def _tested(label: str, q: float) -> pd.DataFrame:
    return pd.DataFrame([{"unit_code": "A", "measure_id": "burglary", "window": "28d", "basis": "last_year",
                          "label": label, "q_value": q},
                         {"unit_code": "A", "measure_id": "burglary", "window": "28d", "basis": "baseline",
                          "label": "significant increase", "q_value": 0.001}])  # the baseline is not what it asks


def _chart(variation: str) -> pd.DataFrame:
    return pd.DataFrame([{"unit_code": "A", "measure_id": "burglary", "variation": variation}])


def test_a_trigger_that_requires_evidence_fires_only_with_it(tmp_path: Path) -> None:
    """+25% over 28 days crosses a +20 bound; with ``requires`` the trigger escalates only when the
    significance test (against last year, upwards) or the SPC chart (a special cause upwards) agrees."""
    significant, spc, either = (_requiring(tmp_path, r) for r in ("significant", "spc", "either"))
    within = evidence_from(_tested("within normal variation", 0.84), _chart("common_cause"), significant)
    rise = evidence_from(_tested("significant increase", 0.003), _chart("common_cause"), significant)
    fall = evidence_from(_tested("significant decrease", 0.003), _chart("special_cause_improvement"), significant)
    concern = evidence_from(_tested("within normal variation", 0.84), _chart("special_cause_concern"), significant)
    cases = [(significant, None, False), (significant, within, False), (significant, rise, True),
             (significant, fall, False), (significant, concern, False), (spc, concern, True), (spc, rise, False),
             (spc, fall, False), (either, rise, True), (either, concern, True), (either, within, False)]
    for config, evidence, fires in cases:
        row = agreement_triggers(RAISED_28D, config, evidence=evidence).iloc[0]
        assert bool(row["raw_met"]) and bool(row["met"]) == fires, (config.accountability.agreements, evidence)
        level = unit_levels(EMPTY_LOG, config, triggered=agreement_triggers(RAISED_28D, config, evidence=evidence))
        assert level.set_index("unit_code").loc["A", "escalation_label"] == ("support plan" if fires else "challenge")
    row = agreement_triggers(RAISED_28D, significant, evidence=within).iloc[0]
    assert row["evidence"] == "within normal variation (q = 0.84), common cause variation on its SPC chart"
    assert row["note"] == ("Burglary: raw support trigger (+25%, 30 vs 24 over 28 days) met, but within normal "
                           "variation: not escalated")
    assert row["rule"] == "28 days: % change on last year above +20, only if significant"
    levels = unit_levels(EMPTY_LOG, significant, triggered=agreement_triggers(RAISED_28D, significant,
                                                                                  evidence=within))
    assert levels.set_index("unit_code").loc["A", "escalation_reason"] == row["note"]
    confirmed = agreement_triggers(RAISED_28D, significant, evidence=rise)
    assert confirmed.iloc[0]["note"] == ""
    assert unit_levels(EMPTY_LOG, significant, triggered=confirmed).set_index("unit_code").loc[
        "A", "escalation_reason"] == ("Burglary: support trigger met (28 days: % change on last year above +20, only "
                                      "if significant; 30 against 24 last year over 28 days, +25.0%; significant "
                                      "increase (q = 0.003), common cause variation on its SPC chart)")
    unassessed = agreement_triggers(RAISED_28D, significant).iloc[0]  # the cycle has not run: nothing confirms it
    assert not unassessed["met"] and "not confirmed" in unassessed["note"]
    below = RAISED_28D.assign(current=25.0, pct_change=4.2)  # the raw figure does not cross: nothing to say
    assert agreement_triggers(below, significant, evidence=rise).iloc[0]["note"] == ""
    assert isinstance(within, Evidence)


def test_a_raw_trigger_within_normal_variation_escalates_and_says_so(config: Config) -> None:
    """``requires: none`` (the default): the raw figure escalates, and the reason says the change is
    within normal variation when the analysis finds nothing beyond it (and nothing when it does)."""
    within = evidence_from(_tested("within normal variation", 0.84), _chart("common_cause"), config)
    levels, triggers = meeting_escalation(EMPTY_LOG, RAISED_28D, config, evidence=within)
    support = triggers.set_index("trigger").loc["support"]
    assert (bool(support["met"]), support["requires"]) == (True, "none")
    assert support["note"] == "escalated by the agreement's raw trigger; the change is within normal variation"
    assert levels.set_index("unit_code").loc["A", "escalation_reason"] == (
        "Burglary: support trigger met (28 days: % change on last year above +20; 30 against 24 last year over 28 "
        "days, +25.0%), escalated by the agreement's raw trigger; the change is within normal variation")
    rise = evidence_from(_tested("significant increase", 0.003), _chart("common_cause"), config)
    assert meeting_escalation(EMPTY_LOG, RAISED_28D, config, evidence=rise)[1].set_index("trigger").loc[
        "support", "note"] == ""


def test_trigger_requirement_is_validated(tmp_path: Path) -> None:
    path = tmp_path / "bad-requires.yaml"
    path.write_text(SMALL_CONFIG + "accountability:\n  agreements:\n    A:\n      burglary:\n        officer: X\n"
                    "        support_if: {change_pct_above: 20, requires: sometimes}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert "accountability.agreements.A.burglary.support_if.requires" in message
    assert "requires must be one of none, significant, spc, either (got 'sometimes')" in message
    assert _requiring(tmp_path, "SPC").accountability.agreements["A"]["burglary"].support_if.requires == "spc"
    rate = tmp_path / "rate.yaml"  # a rate is judged by its SPC chart, never by a significance test
    rate.write_text(SMALL_CONFIG.replace("measures:\n", "measures:\n  - {id: share, name: Share, kind: rate, "
                                         "numerator: burglary, denominator: robbery, polarity: lower}\n")
                    + "accountability:\n  agreements:\n    A:\n      share: {officer: X, intervene_if: "
                    "{value_above: 2, requires: significant}}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"accountability.agreements.A.share.intervene_if.requires: 'share' is a "
                       r"rate, which is never tested for significance \(only counts are\): use spc or either"):
        check_agreements(load_config(rate))


def test_agreements_must_name_known_units_and_measures(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SMALL_CONFIG + "accountability:\n  agreements:\n    Q: {burglary: {officer: X}}\n"
                    "    A: {arson: {officer: Y}}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        check_agreements(load_config(path))
    assert "accountability.agreements.Q: unit 'Q' is not an accountable unit" in str(err.value)
    assert "accountability.agreements.A.arson: measure 'arson' is not in the config" in str(err.value)
    with pytest.raises(ConfigError, match="accountability.agreements.Q: unit 'Q'"):  # before anything is read
        run_cycle(load_config(path), f"sqlite:///{tmp_path / 'never.db'}", "2026-W10")
    assert not (tmp_path / "never.db").exists()
    for command in (["run-cycle"], ["actions", "list"], ["agreements", "show"], ["minutes"]):
        result = CliRunner().invoke(app, [*command, "--config", str(path), "--db", f"sqlite:///{tmp_path / 's.db'}"]
                                    if command != ["agreements", "show"] else [*command, "--config", str(path)])
        assert result.exit_code == 2, (command, result.output)
        assert result.output.startswith(f"Error: {path}: invalid accountability agreements\n"
                                        "  accountability.agreements.Q: unit 'Q' is not an accountable unit\n"), command
    path.write_text(SMALL_CONFIG + "accountability:\n  agreements:\n    A: {burglary: {officer: X, support_if: {}}}\n",
                    encoding="utf-8")
    with pytest.raises(ConfigError, match="support_if: give at least one of"):
        load_config(path)


def test_overdue_from_the_meeting_on_its_due_date(config: Config, engine: Engine) -> None:
    """Due at a meeting means done by that meeting: not done at the meeting on its due date, an
    action is overdue and has missed that meeting; due the day after, it is neither."""
    on_the_day = raise_at_w10(engine, config, NewAction("A", "x", "Insp A", date(2026, 3, 17)))  # the W11 meeting
    day_after = raise_at_w10(engine, config, NewAction("A", "y", "Insp A", date(2026, 3, 18)))
    log = log_at(engine, config, "2026-W11")
    assert (bool(log.loc[on_the_day, "overdue"]), int(log.loc[on_the_day, "missed_meetings"])) == (True, 1)
    assert (bool(log.loc[day_after, "overdue"]), int(log.loc[day_after, "missed_meetings"])) == (False, 0)
