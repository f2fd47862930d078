"""Ranking findings: the score formula, the plain-English reasons and the guards, on hand-made evidence."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.probe import EXPLANATIONS, FINDING_COLUMNS, QUESTIONS, rank_findings
from compstat.config import Config

SIGNIFICANCE = ["unit_code", "measure_id", "window", "basis", "current", "comparison", "rate_ratio", "pct_change",
                "q_value", "label", "judgement", "small_numbers"]
SPC = ["unit_code", "measure_id", "y", "mean", "point_type", "variation", "periods_running", "special_cause_rule"]
PEERS = ["unit_code", "measure_id", "window", "value", "peer_mean", "label", "judgement", "basis"]
TRAJECTORY = ["unit_code", "measure_id", "confidence", "projection", "target_level"]


def configured(config: Config, analysis: dict[str, Any], polarity: dict[str, str] | None = None) -> Config:
    raw = config.model_dump()
    for m in raw["measures"]:
        m["polarity"] = (polarity or {}).get(m["id"], m["polarity"])
    return Config.model_validate({**raw, "analysis": analysis})


def change(unit: str, measure: str, current: float, comparison: float, q: float, judgement: str = "",
           window: str = "28d", basis: str = "last_year", small: bool = False) -> tuple[Any, ...]:
    label = {"worse": "significant increase", "better": "significant decrease"}.get(judgement,
                                                                                   "within normal variation")
    return (unit, measure, window, basis, current, comparison, current / comparison,
            100 * (current / comparison - 1), q, label, judgement, small)


def evidence(significance: list[tuple[Any, ...]], spc: list[tuple[Any, ...]] = (),  # type: ignore[assignment]
             peers: list[tuple[Any, ...]] = (), trajectory: list[tuple[Any, ...]] = (),  # type: ignore[assignment]
             ) -> tuple[pd.DataFrame, ...]:
    return (pd.DataFrame(significance, columns=SIGNIFICANCE), pd.DataFrame(list(spc), columns=SPC),
            pd.DataFrame(list(peers), columns=PEERS), pd.DataFrame(list(trajectory), columns=TRAJECTORY))


def test_scores_reasons_and_ranking(small_config: Config) -> None:
    """A burglary (priority 2): up 112 vs 79 on last year's 28 days, q = 0.01; SPC concern for 3 weeks
    (a shift); red trajectory. Score = 2 × ln(112/79) × 0.99 × (1 + ln 4).
    B burglary: SPC improvement this week only (2 against a mean of 5), the 28 days down 20 vs 30 but not
    significant: score = 2 × ln(5/2) × 0.95 × (1 + ln 2) — a recognition candidate.
    B robbery: only significantly above its peers (3 vs 1.5): 1 × ln 2 × 0.95 × 0.5, on small numbers."""
    config = configured(small_config, {"measure_priority": {"burglary": 2}})
    frames = evidence(
        [change("A", "burglary", 112, 79, 0.01, "worse"), change("B", "burglary", 20, 30, 0.4),
         change("B", "robbery", 5, 4, 1.0, small=True), change("A", "burglary", 112, 100, 0.3, window="ytd")],
        spc=[("A", "burglary", 30, 20, "special_cause_concern", "special_cause_concern", 3, "shift"),
             ("B", "burglary", 2, 5, "special_cause_improvement", "special_cause_improvement", 1, "outside_limits")],
        peers=[("B", "robbery", "28d", 3.0, 1.5, "significantly above", "worse", "per 1,000 residents")],
        trajectory=[("A", "burglary", "red", 1250.0, 1000.0)],
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
    assert first["question"] == QUESTIONS["concern"] and first["unit_name"] == "Alpha"
    peer_only = probe.iloc[1]
    assert peer_only["score"] == pytest.approx(math.log(2) * 0.95 * 0.5, abs=1e-4)
    assert peer_only["reason"] == ("Robbery 5 against 4 for last year's 28 days (small numbers), significantly "
                                   "above similar units (3 vs 1.5 per 1,000 residents)")
    assert peer_only["explanation"].endswith(EXPLANATIONS["small_numbers"])
    assert recognition["unit_code"].tolist() == ["B"]
    improved = recognition.iloc[0]
    assert improved["score"] == pytest.approx(2 * math.log(5 / 2) * 0.95 * (1 + math.log(2)), abs=1e-4)
    assert improved["reason"] == ("Burglary down 33% on last year's 28 days (20 vs 30), beyond normal variation this "
                                  "week (outside the process limits)")
    assert improved["question"] == QUESTIONS["improvement"]


def test_seasonal_special_cause_is_not_a_finding(small_config: Config) -> None:
    """An SPC concern (a rise) while the 28 days are down on last year is the season, not a change."""
    frames = evidence([change("A", "robbery", 90, 100, 0.5)],
                      spc=[("A", "robbery", 30, 20, "special_cause_concern", "special_cause_concern", 2, "trend")])
    probe, recognition = rank_findings(*frames, small_config)
    assert probe.empty and recognition.empty


def test_neutral_measures_and_common_cause_give_nothing(small_config: Config) -> None:
    config = configured(small_config, {}, polarity={"robbery": "neutral"})
    frames = evidence([change("A", "robbery", 200, 100, 0.001, "change"), change("A", "burglary", 11, 10, 0.9)],
                      spc=[("A", "burglary", 11, 10, "common_cause", "common_cause", 0, None)])
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
                      spc=[("B", "burglary", 0, 3, "special_cause_improvement", "special_cause_improvement", 8,
                            "shift")])
    _, recognition = rank_findings(*frames, small_config)
    assert recognition.iloc[0]["size"] == pytest.approx(math.log(4), abs=1e-4)
    assert recognition.iloc[0]["reason"] == ("Burglary 0 this week against an average of 3, beyond normal variation "
                                             "for 8 weeks running (a run of weeks below average)")
