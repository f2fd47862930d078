"""Ranking findings: the score formula, the plain-English reasons, questions and guards, on hand-made evidence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.probe import FINDING_COLUMNS, rank_findings
from compstat.analysis.wording import EXPLANATIONS, PROMPTS
from compstat.config import Config

SIGNIFICANCE = ["unit_code", "measure_id", "window", "basis", "current", "comparison", "rate_ratio", "pct_change",
                "q_value", "label", "judgement", "small_numbers"]
SPC = ["unit_code", "measure_id", "y", "mean", "lpl", "upl", "point_type", "variation", "periods_running",
       "special_cause_rule", "assurance", "target"]
PEERS = ["unit_code", "measure_id", "window", "value", "peer_mean", "label", "judgement", "basis"]
TRAJECTORY = ["unit_code", "measure_id", "target_kind", "confidence", "projection", "projection_low",
              "projection_high", "target_level"]
PER_YEAR = "per 1,000 residents a year"


def configured(config: Config, analysis: dict[str, Any], polarity: dict[str, str] | None = None,
               cadence: dict[str, Any] | None = None) -> Config:
    raw = config.model_dump()
    for m in raw["measures"]:
        m["polarity"] = (polarity or {}).get(m["id"], m["polarity"])
    return Config.model_validate({**raw, "analysis": analysis, "cadence": {**raw["cadence"], **(cadence or {})}})


def change(unit: str, measure: str, current: float, comparison: float, q: float, judgement: str = "",
           window: str = "28d", basis: str = "last_year", small: bool = False) -> tuple[Any, ...]:
    label = {"worse": "significant increase", "better": "significant decrease"}.get(judgement,
                                                                                   "within normal variation")
    return (unit, measure, window, basis, current, comparison, current / comparison,
            100 * (current / comparison - 1), q, label, judgement, small)


def chart(unit: str, measure: str, y: float, mean: float, point_type: str, running: int, rule: str | None,
          lpl: float = np.nan, upl: float = np.nan, assurance: str | None = None,
          target: float = np.nan) -> tuple[Any, ...]:
    return (unit, measure, y, mean, lpl, upl, point_type, point_type, running, rule, assurance, target)


def plan(unit: str, measure: str, confidence: str, projection: float, target: float, kind: str = "level",
         low: float = np.nan, high: float = np.nan) -> tuple[Any, ...]:
    return (unit, measure, kind, confidence, projection, low, high, target)


def peer(unit: str, measure: str, value: float, mean: float, judgement: str, window: str = "28d") -> tuple[Any, ...]:
    label = "significantly above" if value > mean else "significantly below"
    return (unit, measure, window, value, mean, label if judgement in ("worse", "better") else "within", judgement,
            PER_YEAR)


def evidence(significance: list[tuple[Any, ...]], spc: list[tuple[Any, ...]] = (),  # type: ignore[assignment]
             peers: list[tuple[Any, ...]] = (), trajectory: list[tuple[Any, ...]] = (),  # type: ignore[assignment]
             ) -> tuple[pd.DataFrame, ...]:
    return (pd.DataFrame(significance, columns=SIGNIFICANCE), pd.DataFrame(list(spc), columns=SPC),
            pd.DataFrame(list(peers), columns=PEERS), pd.DataFrame(list(trajectory), columns=TRAJECTORY))


def test_scores_reasons_and_ranking(small_config: Config) -> None:
    """A burglary (priority 2): up 112 vs 79 on last year's 28 days, q = 0.01; SPC concern for 3 weeks
    (a shift); red trajectory. Score = 2 × ln(112/79) × 0.99 × (1 + ln 4).
    B burglary: SPC improvement this week only (2 against a mean of 5), the 28 days down 20 vs 30 but not
    significant: score = 2 × ln(5/2) × 0.95 × (1 + ln 2) — a recognition candidate (most improved).
    B robbery: only significantly above its peers (3 vs 1.5): 1 × ln 2 × 0.95 × 0.5, on 14 robberies against 9
    (at 5 against 4 it would rest on a handful of events and give no finding: ``test_rare``)."""
    config = configured(small_config, {"measure_priority": {"burglary": 2}})
    frames = evidence(
        [change("A", "burglary", 112, 79, 0.01, "worse"), change("B", "burglary", 20, 30, 0.4),
         change("B", "robbery", 14, 9, 1.0), change("A", "burglary", 112, 100, 0.3, window="ytd")],
        spc=[chart("A", "burglary", 30, 20, "special_cause_concern", 3, "shift"),
             chart("B", "burglary", 2, 5, "special_cause_improvement", 1, "outside_limits")],
        peers=[peer("B", "robbery", 3.0, 1.5, "worse")],
        trajectory=[plan("A", "burglary", "red", 1250.0, 1000.0)],
    )
    probe, recognition = rank_findings(*frames, config)
    assert probe.columns.tolist() == FINDING_COLUMNS
    assert probe[["rank", "unit_code", "measure_id"]].values.tolist() == [[1, "A", "burglary"], [2, "B", "robbery"]]
    first = probe.iloc[0]
    assert first["score"] == pytest.approx(2 * math.log(112 / 79) * 0.99 * (1 + math.log(4)), abs=1e-4)
    assert first["evidence"] == "change,spc,trajectory" and first["persistence"] == 3
    assert first["reason"] == ("Burglary up 42% on last year's 28 days (112 vs 79), a significant increase; beyond "
                               "normal variation for 3 weeks running (a run of weeks above average); off track for "
                               "its target (red: projected 1,250 against 1,000)")
    assert first["explanation"] == " ".join(EXPLANATIONS[k] for k in ("change", "spc", "trajectory"))
    assert first["prompt_key"] == "change" and first["unit_name"] == "Alpha" and first["kind"] == ""
    assert first["question"] == ("Burglary is up 42% on last year's 28 days (112 vs 79): what is behind it — where, "
                                 "when, which offences or victims? What is being done about it, and when should we "
                                 "see the effect?")
    assert first["support"] == "An analyst's problem profile of burglary (where, when, who) before the next meeting"
    peer_only = probe.iloc[1]
    assert peer_only["score"] == pytest.approx(math.log(2) * 0.95 * 0.5, abs=1e-4)
    assert peer_only["reason"] == ("Robbery up 56% on last year's 28 days (14 vs 9, within normal variation); "
                                   "significantly above similar units (3 vs 1.5 per 1,000 residents a year)")
    assert peer_only["explanation"].endswith(EXPLANATIONS["peers"])
    assert recognition["unit_code"].tolist() == ["B"]
    improved = recognition.iloc[0]
    assert improved["score"] == pytest.approx(2 * math.log(5 / 2) * 0.95 * (1 + math.log(2)), abs=1e-4)
    assert improved["reason"] == ("Burglary down 33% on last year's 28 days (20 vs 30, within normal variation); "
                                  "beyond normal variation this week (outside the process limits)")
    assert improved["kind"] == "most improved" and improved["prompt_key"] == "improvement"
    assert improved["question"] == ("Burglary is 2 this week against an average of 5, beyond normal variation: what "
                                    "made the difference, and will it last? Could other units use it?")


def test_a_change_within_normal_variation_is_said_to_be(small_config: Config) -> None:
    """The issue's case: robbery up 50% (15 vs 10) but not significant, and significantly above similar units.
    The reason must not read as if the rise were real; peer rates are per 1,000 residents a year."""
    frames = evidence([change("A", "robbery", 15, 10, 0.6)], peers=[peer("A", "robbery", 1.2745, 0.4850, "worse")])
    probe, _ = rank_findings(*frames, small_config)
    assert probe.iloc[0]["reason"] == ("Robbery up 50% on last year's 28 days (15 vs 10, within normal variation); "
                                       "significantly above similar units (1.27 vs 0.485 per 1,000 residents a year)")
    assert probe.iloc[0]["question"] == ("Robbery is significantly above similar units (1.27 vs 0.485 per 1,000 "
                                         "residents a year): what explains the gap, and what do the units doing "
                                         "better do differently?")


def test_seasonal_special_cause_is_not_a_finding(small_config: Config) -> None:
    """An SPC concern (a rise) while the 28 days are down on last year is the season, not a change."""
    frames = evidence([change("A", "robbery", 90, 100, 0.5)],
                      spc=[chart("A", "robbery", 30, 20, "special_cause_concern", 2, "trend")])
    probe, recognition = rank_findings(*frames, small_config)
    assert probe.empty and recognition.empty


def test_neutral_measures_and_common_cause_give_nothing(small_config: Config) -> None:
    config = configured(small_config, {}, polarity={"robbery": "neutral"})
    frames = evidence([change("A", "robbery", 200, 100, 0.001, "change"), change("A", "burglary", 11, 10, 0.9)],
                      spc=[chart("A", "burglary", 11, 10, "common_cause", 0, None)])
    probe, recognition = rank_findings(*frames, config)
    assert probe.empty and recognition.empty


def test_headline_prefers_the_headline_window_then_last_year(small_config: Config) -> None:
    """Significant in the week (q 0.001) and in the 28 days against the baseline (q 0.02) and last year
    (q 0.04): the 28 days against last year leads. With no last year (a unit with one year of history),
    an SPC signal stands on its own; zero counts cap the size at ln 4."""
    frames = evidence([change("A", "burglary", 30, 10, 0.001, "worse", window="period"),
                       change("A", "burglary", 60, 30, 0.02, "worse", basis="baseline"),
                       change("A", "burglary", 60, 40, 0.04, "worse")])
    probe, _ = rank_findings(*frames, small_config)
    assert probe.iloc[0][["window", "basis", "current", "comparison"]].tolist() == ["28d", "last_year", 60, 40]
    assert probe.iloc[0]["size"] == pytest.approx(math.log(1.5), abs=1e-4)
    frames = evidence([("B", "burglary", "28d", "last_year", 6, np.nan, np.nan, np.nan, np.nan, "not tested", "",
                        False)],
                      spc=[chart("B", "burglary", 0, 3, "special_cause_improvement", 8, "shift")])
    _, recognition = rank_findings(*frames, small_config)
    assert recognition.iloc[0]["size"] == pytest.approx(math.log(4), abs=1e-4)
    assert recognition.iloc[0]["reason"] == ("Burglary 0 this week against an average of 3, beyond normal variation "
                                             "for 8 weeks running (a run of weeks below average)")


def test_each_evidence_type_has_its_own_question_citing_the_figure(small_config: Config) -> None:
    """One unit × measure per evidence type (A, B and the organisation × burglary and robbery, with the
    polarity of robbery flipped where a fall is needed); each finding uses its lead evidence's prompt."""
    frames = evidence(
        [change("A", "burglary", 112, 79, 0.01, "worse"), change("_total", "burglary", 50, 80, 0.01, "better")],
        spc=[chart("A", "robbery", 30, 12, "special_cause_concern", 1, "outside_limits", lpl=2, upl=22),
             chart("B", "burglary", 19, 12, "special_cause_concern", 9, "shift"),
             chart("B", "robbery", 25, 12, "special_cause_concern", 7, "trend"),
             chart("_total", "robbery", 20, 12, "special_cause_concern", 2, "two_in_three", lpl=2, upl=22)],
        trajectory=[plan("A", "burglary", "red", 1250.0, 1000.0)],
    )
    probe, recognition = rank_findings(*frames, small_config)
    questions = {(r["unit_code"], r["measure_id"]): (r["prompt_key"], r["question"]) for r in probe.to_dict("records")}
    assert questions[("A", "robbery")] == ("spc_outside_limits", (
        "Robbery was 30 this week, outside the range its own history makes normal (2 to 22): what happened, and "
        "is it a one-off or the start of something?"))
    assert questions[("B", "burglary")] == ("spc_shift", (
        "Burglary has been above its average of 12 for 9 weeks running: what changed when the run began, and what "
        "is the plan to bring it back?"))
    assert questions[("B", "robbery")] == ("spc_trend", (
        "Robbery has risen 7 weeks in a row (now 25): what is driving the steady rise, and what will turn it?"))
    assert questions[("_total", "robbery")][0] == "spc_two_in_three"
    assert "(now 20, against limits of 2 to 22)" in questions[("_total", "robbery")][1]
    trajectory_only = evidence([], trajectory=[plan("B", "burglary", "amber-red", 1100.0, 1000.0)])
    row = rank_findings(*trajectory_only, small_config)[0].iloc[0]
    assert row["prompt_key"] == "trajectory" and row["question"] == (
        "Burglary is projected to end the year at 1,100 against a target of 1,000 (amber-red): what will close the "
        "gap, and by when?")
    assert row["support"] == PROMPTS["trajectory"].support
    assert recognition.iloc[0]["prompt_key"] == "improvement"
    supports = [p.support for p in PROMPTS.values()]
    assert len(set(supports)) == len(supports)  # every evidence type offers its own support


def test_best_performers_are_recognised_as_well_as_the_most_improved(small_config: Config) -> None:
    """B burglary: significantly below similar units (2 vs 4 a year), no change for the worse → best,
    score ln 2 × 0.95. A robbery: green delivery (projected 80 against 100) → best, ln 1.25 × 0.95.
    B robbery: the SPC limits wholly below its weekly target of 10 (mean 5) → best, ln 2 × 0.95.
    A burglary is better than its peers but significantly worse than last year: no recognition.
    The organisation's burglary: a significant fall and green delivery → most improved and best, scored
    on its change, 1 × ln(80/50) × 0.99."""
    frames = evidence(
        [change("B", "burglary", 20, 22, 0.7), change("A", "burglary", 40, 20, 0.01, "worse"),
         change("_total", "burglary", 50, 80, 0.01, "better")],
        spc=[chart("B", "robbery", 4, 5, "common_cause", 0, None, lpl=1, upl=9, assurance="consistently_passing",
                   target=10)],
        peers=[peer("B", "burglary", 2.0, 4.0, "better"), peer("A", "burglary", 2.0, 4.0, "better")],
        trajectory=[plan("A", "robbery", "green", 80.0, 100.0), plan("_total", "burglary", "green", 700.0, 900.0)],
    )
    _, recognition = rank_findings(*frames, small_config)
    rows = recognition.set_index(["unit_code", "measure_id"])
    assert ("A", "burglary") not in rows.index
    b = rows.loc[("B", "burglary")]
    assert (b["kind"], b["evidence"], b["prompt_key"]) == ("best", "better_than_peers", "better_than_peers")
    assert b["score"] == pytest.approx(math.log(2) * 0.95, abs=1e-4)
    assert b["reason"] == ("Burglary down 9% on last year's 28 days (20 vs 22, within normal variation); "
                           "significantly below similar units (2 vs 4 per 1,000 residents a year)")
    assert b["question"] == ("Burglary is significantly below similar units (2 vs 4 per 1,000 residents a year) and "
                             "not getting worse: what do you do that they could copy?")
    a = rows.loc[("A", "robbery")]
    assert (a["kind"], a["evidence"]) == ("best", "on_track")
    assert a["score"] == pytest.approx(math.log(1.25) * 0.95, abs=1e-4)
    assert a["question"] == ("Robbery is on course for its target (80 projected against 100, green): what will keep it "
                             "there to the year end?")
    passing = rows.loc[("B", "robbery")]
    assert (passing["kind"], passing["evidence"]) == ("best", "consistently_passing")
    assert passing["score"] == pytest.approx(math.log(2) * 0.95, abs=1e-4)
    assert passing["reason"] == ("Robbery 4 this week against an average of 5, meeting its target every week "
                                 "(process limits 1 to 9, target 10)")
    assert passing["question"] == ("Robbery meets its target of 10 every week (normal range 1 to 9): what keeps it so "
                                   "reliable?")
    org = rows.loc[("_total", "burglary")]
    assert (org["kind"], org["evidence"]) == ("most improved and best", "change,on_track")
    assert org["score"] == pytest.approx(math.log(80 / 50) * 0.99, abs=1e-4)


def test_findings_on_caveated_comparisons_are_marked_and_down_weighted(small_config: Config) -> None:
    """The quality step marks A's burglary 28 days not like-for-like and B's fragile: their scores are
    × 0.25 and × 0.5, the caveat is a column and the reason says so. A mark on another window (ytd) does
    not touch a finding that cites the 28 days."""
    frames = evidence([change("A", "burglary", 112, 79, 0.01, "worse"), change("B", "burglary", 112, 79, 0.01, "worse"),
                       change("A", "robbery", 112, 79, 0.01, "worse")])
    marks = pd.DataFrame([("A", "burglary", "28d", False, False, "unit A's boundary changed on 1 Feb 2026"),
                          ("B", "burglary", "28d", True, True, "a change one cycle of revisions could erase"),
                          ("A", "robbery", "ytd", False, False, "definition change")],
                         columns=["unit_code", "measure_id", "window", "like_for_like", "fragile", "reason"])
    plain, _ = rank_findings(*frames, small_config)
    probe, _ = rank_findings(*frames, small_config, quality=marks)
    base = math.log(112 / 79) * 0.99
    rows = probe.set_index(["unit_code", "measure_id"])
    assert rows.loc[("A", "burglary"), "score"] == pytest.approx(base * 0.25, abs=1e-4)
    assert rows.loc[("A", "burglary"), "caveat"] == "not like-for-like"
    assert rows.loc[("A", "burglary"), "reason"].endswith(
        "a significant increase. Caution: this comparison is not like-for-like (unit A's boundary changed on 1 Feb "
        "2026), so part of the change may be the data, not what happened")
    assert rows.loc[("B", "burglary"), "score"] == pytest.approx(base * 0.5, abs=1e-4)
    assert rows.loc[("B", "burglary"), "caveat"] == "fragile"
    assert rows.loc[("B", "burglary"), "reason"].endswith("so late recording could still erase it")
    assert rows.loc[("A", "robbery"), "score"] == pytest.approx(base, abs=1e-4)
    assert rows.loc[("A", "robbery"), "caveat"] == "" and rows.loc[("A", "robbery"), "quality"] == 1
    assert probe["unit_code"].tolist()[0] == "A" and probe["measure_id"].tolist()[0] == "robbery"
    assert plain["caveat"].eq("").all() and plain["score"].nunique() == 1
    assert EXPLANATIONS["quality"] in rows.loc[("A", "burglary"), "explanation"]


def test_monthly_cadence_leads_with_three_months(small_config: Config) -> None:
    """Monthly: the headline window is 3 months; the period is a month. Burglary up 112 vs 80 on last year's
    3 months (q 0.02) and a shift for 4 months: 1 × ln 1.4 × 0.98 × (1 + ln 5)."""
    config = configured(small_config, {}, cadence={"period": "monthly"})
    frames = evidence([change("A", "burglary", 112, 80, 0.02, "worse", window="3m"),
                       change("A", "burglary", 40, 25, 0.001, "worse", window="period")],
                      spc=[chart("A", "burglary", 40, 30, "special_cause_concern", 4, "shift")])
    probe, _ = rank_findings(*frames, config)
    row = probe.iloc[0]
    assert row["window"] == "3m"
    assert row["score"] == pytest.approx(math.log(1.4) * 0.98 * (1 + math.log(5)), abs=1e-4)
    assert row["reason"] == ("Burglary up 40% on last year's 3 months (112 vs 80), a significant increase; beyond "
                             "normal variation for 4 months running (a run of months above average)")
    only_month = evidence([change("B", "robbery", 40, 25, 0.001, "worse", window="period")])
    assert rank_findings(*only_month, config)[0].iloc[0]["reason"].startswith(
        "Robbery up 60% on the same month last year (40 vs 25)")


def test_no_recognition_on_a_comparison_that_is_not_like_for_like(small_config: Config) -> None:
    """A's burglary fell significantly, but its 28 days miss a week of data (not like-for-like): it is no
    recognition candidate. B's identical fall is only fragile: it stays, marked, at half the score."""
    frames = evidence([change("A", "burglary", 40, 80, 0.01, "better"),
                       change("B", "burglary", 40, 80, 0.01, "better")])
    marks = pd.DataFrame([("A", "burglary", "28d", False, False, "missing data in 2026-W08"),
                          ("B", "burglary", "28d", True, True, "a change one cycle of revisions could erase")],
                         columns=["unit_code", "measure_id", "window", "like_for_like", "fragile", "reason"])
    _, recognition = rank_findings(*frames, small_config, quality=marks)
    assert recognition["unit_code"].tolist() == ["B"]
    assert recognition["caveat"].tolist() == ["fragile"]
    assert recognition["score"].iloc[0] == pytest.approx(math.log(2) * 0.99 * 0.5, abs=1e-4)


def test_no_probe_rests_on_a_comparison_that_may_be_missing_data(small_config: Config) -> None:
    """A's burglary rose significantly, but its 28 days hold a collection gap in last year's span: the
    quality finding says so, and no concern is made of it. B's rise across a boundary change stays, marked."""
    frames = evidence([change("A", "burglary", 112, 79, 0.01, "worse"), change("B", "burglary", 112, 79, 0.01, "worse"),
                       change("C", "burglary", 112, 79, 0.01, "worse")])
    marks = pd.DataFrame([("A", "burglary", "28d", False, False,
                           "probable collection gap: no weekly_counts data in 2025-W05 to 2025-W32 (28 weeks)"),
                          ("B", "burglary", "28d", False, False, "unit B's boundary changed on 1 Feb 2026"),
                          ("C", "burglary", "28d", False, False, "missing data in 2026-W08")],
                         columns=["unit_code", "measure_id", "window", "like_for_like", "fragile", "reason"])
    probe, _ = rank_findings(*frames, small_config, quality=marks)
    assert probe["unit_code"].tolist() == ["B"] and probe["caveat"].tolist() == ["not like-for-like"]


def test_recognition_never_contradicts_the_units_recent_figures(small_config: Config) -> None:
    """The issue's case: Kingsmead's burglary on course for its target (green) and its year to date down
    (53 vs 74), but its last 28 days up 9 vs 5 (+4 events, more than the 2 that are noise) and its week 4 vs 0:
    no recognition, neither "best" nor "most improved". B: the same green plan, 28 days 7 vs 5 (+2, noise)
    and the week 2 vs 2: recognised. C: a significant fall over the year to date, but its week up 6 vs 1
    (+5): no recognition. D: below similar units with 28 days up only 11 vs 10: recognised."""
    frames = evidence(
        [change("A", "burglary", 53, 74, 0.78, window="ytd"), change("A", "burglary", 9, 5, 1.0, small=True),
         change("A", "burglary", 4, 1e-9, 1.0, window="period", small=True),
         change("B", "burglary", 53, 74, 0.78, window="ytd"), change("B", "burglary", 7, 5, 1.0, small=True),
         change("B", "burglary", 2, 2, 1.0, window="period", small=True),
         change("C", "robbery", 40, 80, 0.01, "better", window="ytd"), change("C", "robbery", 8, 8, 1.0),
         change("C", "robbery", 6, 1, 0.3, window="period"),
         change("D", "robbery", 11, 10, 1.0)],
        peers=[peer("D", "robbery", 2.0, 4.0, "better")],
        trajectory=[plan("A", "burglary", "green", 57.0, 72.0), plan("B", "burglary", "green", 57.0, 72.0)],
    )
    frames[0].loc[frames[0]["current"] == 4, "comparison"] = 0.0  # the week: 4 against none last year
    _, recognition = rank_findings(*frames, small_config)
    assert sorted(map(tuple, recognition[["unit_code", "measure_id"]].values.tolist())) == [
        ("B", "burglary"), ("D", "robbery")]
    only_28d = [f.copy() for f in frames]  # without the week's rise, the 28 days alone still hold A back
    only_28d[0] = only_28d[0][~((only_28d[0]["unit_code"] == "A") & (only_28d[0]["window"] == "period"))]
    assert "A" not in set(rank_findings(*only_28d, small_config)[1]["unit_code"])
    rising_better = configured(small_config, {}, polarity={"robbery": "higher"})  # up is the right way for D now
    raised = evidence([change("D", "robbery", 10, 14, 1.0)], peers=[peer("D", "robbery", 4.0, 2.0, "better")])
    assert rank_findings(*raised, rising_better)[1].empty  # 10 vs 14: 4 fewer where more is better


def test_a_peer_average_without_like_for_like_peers_is_said_in_the_reason(small_config: Config) -> None:
    """The peer table's caveat (peers not like-for-like left out of the average) is in the reason."""
    frames = evidence([change("B", "robbery", 14, 9, 1.0)], peers=[peer("B", "robbery", 3.0, 1.5, "worse")])
    frames[2]["caveat"] = "average of 4 of 5 similar units: Northgate (N1) left out, not like-for-like"
    probe, _ = rank_findings(*frames, small_config)
    assert probe.iloc[0]["reason"] == (
        "Robbery up 56% on last year's 28 days (14 vs 9, within normal variation); significantly above similar units "
        "(3 vs 1.5 per 1,000 residents a year; average of 4 of 5 similar units: Northgate (N1) left out, not "
        "like-for-like)")
