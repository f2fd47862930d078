"""Targets, trajectories, projections and delivery ratings, against figures worked out by hand.

Period 2026-W10 ends on Sunday 8 March 2026: 67 days of the year gone, 298 left (365 in all).
"""

from __future__ import annotations

import math
import statistics
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.baselines import HistoryStarts
from compstat.analysis.probe import rank_findings
from compstat.analysis.trajectory import (
    AMBER_GREEN,
    AMBER_RED,
    GREEN,
    RED,
    count_projection,
    distinct_figures,
    rate_delivery,
    target_plans,
    trajectory_table,
)
from compstat.config import Cadence, Config, load_config
from compstat.errors import ConfigError
from compstat.periods import parse_period

Z = 1.959963984540054
PERIOD = parse_period("2026-W10", Cadence())


def force(targets: dict[str, dict[str, Any]], analysis: dict[str, Any] | None = None) -> Config:
    measures: list[dict[str, Any]] = [
        {"id": "burglary", "name": "Burglary", "filter": {"category": "burglary"}},
        {"id": "seen", "name": "Seen in time", "filter": {"category": "seen"}, "report": False},
        {"id": "all", "name": "All", "filter": {"category": "all"}, "report": False},
        {"id": "timely", "name": "Timely", "kind": "rate", "numerator": "seen", "denominator": "all", "per": 100,
         "polarity": "higher"},
        {"id": "calls", "name": "Calls", "filter": {"category": "calls"}, "polarity": "neutral"},
    ]
    for m in measures:
        if m["id"] in targets:
            m["target"] = targets[m["id"]]
    return Config.model_validate({
        "organisation": {"name": "Target Police", "slug": "target"},
        "units": [{"code": "A", "name": "A"}, {"code": "B", "name": "B"}],
        "measures": measures, "analysis": analysis or {},
        "sources": [{"name": "s", "path": "x.csv", "columns": {"unit": "u", "date": "d"}}],
    })


def test_rate_delivery_four_ratings() -> None:
    """Lower is better, target 100: the interval's worse end is its high end."""
    assert rate_delivery(90, 80, 95, 100, True)[0] == GREEN
    assert rate_delivery(90, 80, 110, 100, True)[0] == AMBER_GREEN
    assert rate_delivery(110, 95, 120, 100, True)[0] == AMBER_RED
    assert rate_delivery(110, 105, 120, 100, True)[0] == RED
    assert rate_delivery(110, 105, 120, 100, False)[0] == GREEN
    assert rate_delivery(96, 90, 101, 95, False) == (
        AMBER_GREEN, "the projection meets the target, but the worse end of the interval does not")
    assert rate_delivery(np.nan, 1, 2, 3, True)[0] == ""


def test_count_projection_by_hand() -> None:
    """60 so far against 50 by the same date of a 120 baseline year: ratio 1.2, rest 70 → 84 more,
    projection 144; variance 84 + (70/50)² × 60 = 201.6. Without a baseline: 30 in 100 days with 265 to
    go → 79.5 more, variance 79.5 + 2.65² × 30 = 290.175. φ = 2 doubles each variance."""
    projection, low, high = count_projection(60, 50, 120, 100, 265, 1.0, Z)
    sd = math.sqrt(201.6)
    assert (projection, low, high) == pytest.approx((144, 144 - Z * sd, 144 + Z * sd))
    projection, low, high = count_projection(30, np.nan, np.nan, 100, 265, 2.0, Z)
    sd = math.sqrt(2 * 290.175)
    assert (projection, low, high) == pytest.approx((109.5, 109.5 - Z * sd, 109.5 + Z * sd))
    assert count_projection(0, 0, 0, 10, 355, 1.0, Z) == (0, 0, 0)  # nothing yet, nothing projected
    assert count_projection(5, 0, 0, 10, 0, 1.0, Z)[0] == 5  # the year is over


def burglary_daily(per_day: dict[tuple[str, int], float]) -> pd.DataFrame:
    """(unit, year) → burglaries every day of that year (to 8 March in 2026)."""
    parts = []
    for (unit, year), count in per_day.items():
        days = pd.date_range(f"{year}-01-01", "2026-03-08" if year == 2026 else f"{year}-12-31", freq="D")
        parts.append(pd.DataFrame({"unit_code": unit, "measure_id": "burglary", "date": days, "total": count,
                                   "n": int(count)}))
    return pd.concat(parts, ignore_index=True)


def run(config: Config, daily: pd.DataFrame, starts: dict[str, pd.Timestamp],
        spc_latest: pd.DataFrame | None = None, series: pd.DataFrame | None = None,
        ytd: dict[tuple[str, str], float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    plans = target_plans(daily, config, PERIOD, HistoryStarts(starts))
    if ytd is None:
        in_year = daily[daily["date"] >= "2026-01-01"]
        ytd = {(str(u), str(m)): float(t) for (u, m), t in in_year.groupby(["unit_code", "measure_id"])["total"]
               .sum().items()}
    comparisons = pd.DataFrame([(u, m, "ytd", v) for (u, m), v in ytd.items()],
                               columns=["unit_code", "measure_id", "window", "current"])
    dispersion = pd.DataFrame([(u, m, 1.0) for u, m in ytd], columns=["unit_code", "measure_id", "dispersion"])
    latest = spc_latest if spc_latest is not None else pd.DataFrame(
        columns=["unit_code", "measure_id", "mean", "lpl", "upl", "y", "assurance"])
    values = series if series is not None else pd.DataFrame(columns=["unit_code", "measure_id", "period_start",
                                                                     "value"])
    trajectory, path = trajectory_table(daily, values, comparisons, plans, latest, dispersion, config, PERIOD)
    return plans, trajectory.set_index(["unit_code", "measure_id"]), path


def test_reduction_against_last_year() -> None:
    """A: one burglary a day in 2025 (365) and in 2026 so far (67). Target: 10% below 365 = 328.5.
    Planned to date 328.5 × 67/365 = 60.3 (the baseline's share by 8 March); 67 is above it: off track.
    Projection 67 + 67/67 × 298 = 365, variance 298 + (298/67)² × 67 = 1,623.4: 286.0 to 444.0 — the
    projection misses 328.5 but the better end meets it: amber-red.
    B has data only from 2026: no baseline, so no target level and no rating."""
    config = force({"burglary": {"kind": "reduction", "value": 10}})
    daily = burglary_daily({("A", 2025): 1, ("A", 2026): 1, ("B", 2026): 2})
    starts = {"A": pd.Timestamp("2025-01-01"), "B": pd.Timestamp("2026-01-01")}
    plans, trajectory, path = run(config, daily, starts)
    plan = plans.set_index("unit_code").loc["A"]
    assert plan["baseline_value"] == 365 and plan["target_level"] == pytest.approx(328.5)
    assert plan["period_target"] == pytest.approx(328.5 * 7 / 365)
    a = trajectory.loc[("A", "burglary")]
    assert a["planned_to_date"] == pytest.approx(328.5 * 67 / 365) and a["actual_to_date"] == 67
    assert a["on_track"] is False
    sd = math.sqrt(298 + 298 ** 2 / 67)
    assert (a["projection"], a["projection_low"], a["projection_high"]) == pytest.approx(
        (365, 365 - Z * sd, 365 + Z * sd))
    assert a["confidence"] == AMBER_RED
    assert a["rule"] == ("projected 365 (95% interval 286 to 444) against a target of 328: the projection misses "
                         "the target, but the better end of the interval meets it")
    b = trajectory.loc[("B", "burglary")]
    assert np.isnan(b["target_level"]) and b["confidence"] == ""
    assert b["rule"] == "no target level: the unit has no baseline year"
    a_path = path[path["unit_code"] == "A"]
    first = a_path.iloc[0]  # 2026-W01 runs 29 Dec 2025 – 4 Jan 2026: the year's part is 1–4 January
    assert first["period_start"] == pd.Timestamp("2025-12-29") and first["period_end"] == pd.Timestamp("2026-01-04")
    assert first["planned"] == pytest.approx(328.5 * 4 / 365) and first["actual"] == 4
    assert a_path["actual"].dropna().iloc[-1] == 67 and a_path["planned"].iloc[-1] == pytest.approx(328.5)


def test_seasonal_shape_and_multi_year_baseline() -> None:
    """Baseline = mean of 2025 (1 a day: 365) and 2024 (2 a day, leap year: 732) = 548.5; target 10% below:
    493.65. By 8 March: (67 + 2 × 68)/2 = 101.5 of the baseline's 548.5 — planned 493.65 × 101.5/548.5."""
    config = force({"burglary": {"kind": "reduction", "value": 10, "baseline": "multi_year_mean"}},
                   {"baseline_years": 2})
    daily = burglary_daily({("A", 2024): 2, ("A", 2025): 1, ("A", 2026): 1})
    plans, trajectory, _ = run(config, daily, {"A": pd.Timestamp("2024-01-01")})
    plan = plans.set_index("unit_code").loc["A"]
    assert plan["baseline_value"] == 548.5 and plan["baseline_years"] == 2
    a = trajectory.loc[("A", "burglary")]
    assert a["planned_to_date"] == pytest.approx(493.65 * 101.5 / 548.5)
    assert a["projection"] == pytest.approx(67 + 67 / 101.5 * (548.5 - 101.5))


def test_level_target_for_a_count() -> None:
    """A level target of 300 for the year, one burglary a day: the projection (365) misses it, but the
    better end of its interval (365 − 1.96 × √1,623.4 = 286) meets it: amber-red."""
    config = force({"burglary": {"kind": "level", "value": 300}})
    daily = burglary_daily({("A", 2025): 1, ("A", 2026): 1})
    _, trajectory, _ = run(config, daily, {"A": pd.Timestamp("2025-01-01")})
    assert trajectory.loc[("A", "burglary"), "target_level"] == 300
    assert trajectory.loc[("A", "burglary"), "confidence"] == AMBER_RED


def latest(rows: list[tuple[str, float, float, float, float, str]]) -> pd.DataFrame:
    return pd.DataFrame([(u, "timely", mean, low, high, y, icon) for u, mean, low, high, y, icon in rows],
                        columns=["unit_code", "measure_id", "mean", "lpl", "upl", "y", "assurance"])


def test_floor_follows_spc_assurance() -> None:
    """A 95% floor, higher is better. A: limits 96–99 (consistently passing) → green. B: mean 94, limits
    90–98 (hit and miss, mean below) → amber-red; on track means the latest value meets the floor."""
    config = force({"timely": {"kind": "floor", "value": 95}})
    empty = pd.DataFrame(columns=["unit_code", "measure_id", "date", "total", "n"])
    charts = latest([("A", 97.5, 96, 99, 98, "consistently_passing"), ("B", 94, 90, 98, 96, "inconsistent")])
    _, trajectory, path = run(config, empty, {"A": pd.Timestamp("2025-01-01"), "B": pd.Timestamp("2025-01-01")},
                              spc_latest=charts, ytd={("A", "timely"): 97.0, ("B", "timely"): 93.0})
    a, b = trajectory.loc[("A", "timely")], trajectory.loc[("B", "timely")]
    assert a["confidence"] == GREEN and a["on_track"]
    assert (a["projection"], a["projection_low"], a["projection_high"]) == (97.5, 96, 99)
    assert b["confidence"] == AMBER_RED and b["on_track"]
    assert b["rule"].startswith("standard 95 each period; SPC mean 94, process limits 90 to 98: the mean misses")
    assert (path["planned"] == 95).all()


def test_level_target_for_a_rate() -> None:
    """Timely, level 90, higher is better; no baseline data, so the path is flat at 90. Year to date 85;
    the last 13 weeks alternate 84, 86 (mean 84.92). Projection = f × 85 + (1 − f) × 84.92 with
    f = 67/365; sd = (1 − f) × s × √(1/13 + 1/43), 43 weeks being left in the year."""
    config = force({"timely": {"kind": "level", "value": 90}})
    values = [84.0, 86.0] * 6 + [84.0]
    series = pd.DataFrame({"unit_code": "A", "measure_id": "timely", "value": values,
                           "period_start": pd.date_range("2025-12-08", periods=13, freq="7D")})
    empty = pd.DataFrame(columns=["unit_code", "measure_id", "date", "total", "n"])
    _, trajectory, _ = run(config, empty, {"A": pd.Timestamp("2025-12-08")}, series=series,
                           ytd={("A", "timely"): 85.0})
    a = trajectory.loc[("A", "timely")]
    f = 67 / 365
    mean, spread = statistics.mean(values), statistics.stdev(values)
    projection = f * 85 + (1 - f) * mean
    sd = (1 - f) * spread * math.sqrt(1 / 13 + 1 / 43)
    assert (a["projection"], a["projection_low"], a["projection_high"]) == pytest.approx(
        (projection, projection - Z * sd, projection + Z * sd))
    assert a["planned_to_date"] == 90 and not a["on_track"] and a["confidence"] == RED


def test_neutral_measures_are_not_judged() -> None:
    config = force({"calls": {"kind": "level", "value": 100}})
    empty = pd.DataFrame(columns=["unit_code", "measure_id", "date", "total", "n"])
    _, trajectory, _ = run(config, empty, {"A": pd.Timestamp("2025-01-01")}, ytd={("A", "calls"): 10.0})
    assert trajectory.loc[("A", "calls"), "confidence"] == ""
    assert "neutral" in trajectory.loc[("A", "calls"), "rule"]


# --- whose target: per-unit values, the organisation's, and shares of it ---


def plans_by_unit(config: Config, daily: pd.DataFrame, starts: dict[str, pd.Timestamp],
                  measure: str = "burglary") -> pd.DataFrame:
    plans = target_plans(daily, config, PERIOD, HistoryStarts(starts))
    return plans[plans["measure_id"] == measure].set_index("unit_code")


TWO_UNITS = {"A": pd.Timestamp("2025-01-01"), "B": pd.Timestamp("2025-01-01"), "_total": pd.Timestamp("2025-01-01")}


def test_count_level_is_shared_by_baseline_not_copied_to_every_unit() -> None:
    """A force-wide level of 900 burglaries. Last year A had 365 (1 a day), B 730 (2 a day): A's share
    is 365/1,095 = 1/3 → 300, B's 600; the organisation keeps 900 (its target per week: 900 × 7/365)."""
    config = force({"burglary": {"kind": "level", "value": 900}})
    plans = plans_by_unit(config, burglary_daily({("A", 2025): 1, ("B", 2025): 2}), TWO_UNITS)
    assert plans.loc["A", "target_level"] == pytest.approx(300)
    assert plans.loc["B", "target_level"] == pytest.approx(600)
    assert plans.loc["_total", "target_level"] == 900
    assert plans.loc["A", "period_target"] == pytest.approx(300 * 7 / 365)
    assert plans.loc["_total", "period_target"] == pytest.approx(900 * 7 / 365)
    assert plans.loc["A", "target_value"] == 900 and plans.loc["_total", "target_basis"] == "the organisation's target"
    assert plans.loc["A", "target_basis"] == ("a share of the organisation's 900, by the unit's share of the "
                                              "baseline year (300)")


def test_units_own_count_targets_and_the_remainder() -> None:
    """units: {A: 80}: A's own 80; B gets what is left of 900, 820 (the only unit left, so all of it)."""
    config = force({"burglary": {"kind": "level", "value": 900, "units": {"A": 80}}})
    daily = burglary_daily({("A", 2025): 1, ("B", 2025): 2})
    plans = plans_by_unit(config, daily, TWO_UNITS)
    assert plans.loc["A", "target_level"] == 80 and plans.loc["A", "target_basis"] == "the unit's own target"
    assert plans.loc["A", "target_value"] == 80
    assert plans.loc["B", "target_level"] == pytest.approx(820) and plans.loc["_total", "target_level"] == 900
    assert plans.loc["B", "target_basis"].startswith("a share of the organisation's 820 left after the units with "
                                                     "their own targets (80)")
    both = plans_by_unit(force({"burglary": {"kind": "level", "value": 900, "units": {"A": 80, "B": 95}}}),
                         daily, TWO_UNITS)
    assert both["target_level"].to_dict() == {"A": 80, "B": 95, "_total": 900}
    over = plans_by_unit(force({"burglary": {"kind": "level", "value": 900, "units": {"A": 1000}}}), daily, TWO_UNITS)
    assert np.isnan(over.loc["B", "target_level"])
    assert over.loc["B", "target_basis"] == "no target: the units' own targets (1,000) exceed the organisation's (900)"


def test_unit_without_a_baseline_gets_no_share() -> None:
    """B is new in 2026: no baseline year, so no count target; A, the only unit with a baseline, gets all 900.
    B's trajectory says why it has no rating."""
    config = force({"burglary": {"kind": "level", "value": 900}})
    daily = burglary_daily({("A", 2025): 1, ("A", 2026): 1, ("B", 2026): 2})
    starts = {"A": pd.Timestamp("2025-01-01"), "B": pd.Timestamp("2026-01-01")}
    plans, trajectory, _ = run(config, daily, starts)
    plans = plans.set_index("unit_code")
    assert plans.loc["A", "target_level"] == pytest.approx(900) and np.isnan(plans.loc["B", "target_level"])
    assert trajectory.loc[("B", "burglary"), "confidence"] == ""
    assert trajectory.loc[("B", "burglary"), "rule"] == ("no target: the unit has no baseline year to share the "
                                                         "organisation's target by")


def test_count_floor_is_shared_and_reductions_and_rates_apply_per_unit() -> None:
    """A count floor of 30 a week for the force: A (1/3 of last year) 10 a week, B 20. A reduction's
    percentage applies to each unit (A's own 20%: 365 × 0.8 = 292; B 10%: 730 × 0.9 = 657). A rate level
    (timely 90%) is scale-free: B keeps 90, A its own 85."""
    daily = burglary_daily({("A", 2025): 1, ("B", 2025): 2})
    floor = plans_by_unit(force({"burglary": {"kind": "floor", "value": 30}}), daily, TWO_UNITS)
    assert floor.loc["A", "period_target"] == pytest.approx(10) and floor.loc["B", "period_target"] == pytest.approx(20)
    assert floor.loc["_total", "period_target"] == 30
    cut = plans_by_unit(force({"burglary": {"kind": "reduction", "value": 10, "units": {"A": 20}}}), daily, TWO_UNITS)
    assert cut.loc["A", "target_level"] == pytest.approx(292) and cut.loc["B", "target_level"] == pytest.approx(657)
    assert cut.loc["B", "target_basis"] == "the target every unit shares"
    rate = plans_by_unit(force({"timely": {"kind": "level", "value": 90, "units": {"A": 85}}}), daily, TWO_UNITS,
                         "timely")
    assert rate["target_level"].to_dict() == {"A": 85, "B": 90, "_total": 90}


def test_per_unit_targets_reach_the_spc_assurance() -> None:
    """analyse_cycle hands each unit's own weekly target to its SPC chart: A 80 × 7/365, B 820 × 7/365,
    the organisation 900 × 7/365 (one burglary a day for A, two for B, from 2025)."""
    from compstat.analysis.analyse import analyse_cycle
    from compstat.periods import comparison_windows

    config = force({"burglary": {"kind": "level", "value": 900, "units": {"A": 80}}})
    daily = burglary_daily({("A", 2025): 1, ("A", 2026): 1, ("B", 2025): 2, ("B", 2026): 2})
    total = daily.groupby(["measure_id", "date"], as_index=False)[["total", "n"]].sum().assign(unit_code="_total")
    daily = pd.concat([daily, total], ignore_index=True)
    result = analyse_cycle(daily, config, PERIOD, comparison_windows(PERIOD, config.cadence), date(2025, 1, 1))
    spc = result.spc[result.spc["measure_id"] == "burglary"].set_index("unit_code")
    assert spc["target"].to_dict() == pytest.approx({"A": 80 * 7 / 365, "B": 820 * 7 / 365, "_total": 900 * 7 / 365})
    assert spc.loc["A", "assurance"] == "consistently_failing"  # 7 a week, limits around 7, target 1.5


def test_target_units_must_be_accountable_units(small_config_path: Path) -> None:
    """An unknown code, and a division (a unit with children), are errors naming the key and its line."""
    text = small_config_path.read_text(encoding="utf-8")
    text = text.replace("filter: {category: burglary}, polarity: lower}",
                        "filter: {category: burglary}, polarity: lower,\n"
                        "     target: {kind: level, value: 900, units: {A: 80, Z: 5, D1: 9}}}")
    small_config_path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        load_config(small_config_path)
    lines = str(error.value).splitlines()
    assert lines[1].endswith("measures.0.target.units.Z: 'Z' is not a unit code (the accountable units are A, B)")
    assert lines[2].endswith("measures.0.target.units.D1: 'D1' has units below it: targets are set for accountable "
                             "units (those without children)")
    assert lines[1].strip().startswith(f"{small_config_path}:")


# --- the year a week belongs to ---


def test_week_53_closes_its_own_year() -> None:
    """2026-W53 (28 Dec 2026 – 3 Jan 2027) holds its Thursday, 31 Dec, in 2026: the trajectory assesses
    the whole of 2026. One burglary a day in 2025 and 2026: target 10% below 365 = 328.5; actual 365
    (1 Jan – 31 Dec, the days of 2027 left out); nothing left to project, so the interval is the actual
    itself, 365 → red. 2027-W01 (4–10 Jan 2027) starts 2027: its year to date is 1–10 January."""
    from compstat.periods import comparison_windows

    w53 = parse_period("2026-W53", Cadence())
    ytd = comparison_windows(w53, Cadence())[2]
    assert (ytd.start, ytd.end, ytd.prev_start, ytd.prev_end) == (date(2026, 1, 1), date(2026, 12, 31),
                                                                  date(2025, 1, 1), date(2025, 12, 31))
    w01 = comparison_windows(parse_period("2027-W01", Cadence()), Cadence())[2]
    assert (w01.start, w01.end) == (date(2027, 1, 1), date(2027, 1, 10))
    config = force({"burglary": {"kind": "reduction", "value": 10}})
    days = pd.date_range("2025-01-01", "2027-01-03", freq="D")
    daily = pd.DataFrame({"unit_code": "A", "measure_id": "burglary", "date": days, "total": 1.0, "n": 1})
    plans = target_plans(daily, config, w53, HistoryStarts({"A": pd.Timestamp("2025-01-01")}))
    assert plans.set_index("unit_code").loc["A", "year_start"] == date(2026, 1, 1)
    comparisons = pd.DataFrame([("A", "burglary", "ytd", 365.0)], columns=["unit_code", "measure_id", "window",
                                                                           "current"])
    dispersion = pd.DataFrame([("A", "burglary", 1.0)], columns=["unit_code", "measure_id", "dispersion"])
    empty = pd.DataFrame(columns=["unit_code", "measure_id", "mean", "lpl", "upl", "y", "assurance"])
    values = pd.DataFrame(columns=["unit_code", "measure_id", "period_start", "value"])
    trajectory, path = trajectory_table(daily, values, comparisons, plans, empty, dispersion, config, w53)
    a = trajectory.set_index("unit_code").loc["A"]
    assert (a["projection"], a["projection_low"], a["projection_high"]) == pytest.approx((365, 365, 365))
    assert a["planned_to_date"] == pytest.approx(328.5) and a["confidence"] == RED
    a_path = path[path["unit_code"] == "A"]
    assert a_path["actual"].iloc[-1] == 365 and a_path["period_end"].iloc[-1] == pd.Timestamp("2026-12-31")


def test_monthly_trajectory() -> None:
    """Monthly, period 2026-03: 90 days gone (31 + 28 + 31), 275 left. One burglary a day in 2025 and 2026:
    target 328.5; planned 328.5 × 90/365; projection 90 + 90/90 × 275 = 365, variance 275 + (275/90)² × 90;
    the target per month is 328.5/12. The path has 12 months, January's planned 328.5 × 31/365."""
    config = Config.model_validate({**force({"burglary": {"kind": "reduction", "value": 10}}).model_dump(),
                                    "cadence": {"period": "monthly"}})
    march = parse_period("2026-03", config.cadence)
    days = pd.date_range("2025-01-01", "2026-03-31", freq="D")
    daily = pd.DataFrame({"unit_code": "A", "measure_id": "burglary", "date": days, "total": 1.0, "n": 1})
    plans = target_plans(daily, config, march, HistoryStarts({"A": pd.Timestamp("2025-01-01")}))
    plan = plans.set_index("unit_code").loc["A"]
    assert plan["period_target"] == pytest.approx(328.5 / 12)
    comparisons = pd.DataFrame([("A", "burglary", "ytd", 90.0)], columns=["unit_code", "measure_id", "window",
                                                                          "current"])
    dispersion = pd.DataFrame([("A", "burglary", 1.0)], columns=["unit_code", "measure_id", "dispersion"])
    empty = pd.DataFrame(columns=["unit_code", "measure_id", "mean", "lpl", "upl", "y", "assurance"])
    values = pd.DataFrame(columns=["unit_code", "measure_id", "period_start", "value"])
    trajectory, path = trajectory_table(daily, values, comparisons, plans, empty, dispersion, config, march)
    a = trajectory.set_index("unit_code").loc["A"]
    sd = math.sqrt(275 + (275 / 90) ** 2 * 90)
    assert a["planned_to_date"] == pytest.approx(328.5 * 90 / 365)
    assert (a["projection"], a["projection_low"], a["projection_high"]) == pytest.approx(
        (365, 365 - Z * sd, 365 + Z * sd))
    a_path = path[path["unit_code"] == "A"]
    assert len(a_path) == 12 and a_path["planned"].iloc[0] == pytest.approx(328.5 * 31 / 365)
    assert a_path["actual"].tolist()[:3] == [31, 59, 90] and a_path["actual"].iloc[3:].isna().all()


def test_a_projection_and_target_that_round_alike_are_told_apart() -> None:
    """The issue's case: "off track: projected 104 against 104" for 103.7 against 103.5. A: one burglary a
    day in 2025 and 2026 (projection 365) against a 0.1% reduction (364.635): both round to 365, so the rule
    and the probe's reason and question show one decimal, 365.0 against 364.6. Equal figures stay as they are."""
    assert distinct_figures(103.725, 103.5) == ("103.7", "103.5")
    assert distinct_figures(103.5, 103.5) == ("104", "104")
    assert distinct_figures(2_000.04, 2_000.01) == ("2,000.04", "2,000.01")
    assert distinct_figures(0.123451, 0.123459, ".4g") == ("0.12345", "0.12346")
    assert distinct_figures(110.0, 90.0) == ("110", "90")
    config = force({"burglary": {"kind": "reduction", "value": 0.1}})
    daily = burglary_daily({("A", 2025): 1, ("A", 2026): 1})
    _, trajectory, _ = run(config, daily, {"A": pd.Timestamp("2025-01-01")})
    a = trajectory.loc[("A", "burglary")]
    assert (a["projection"], a["target_level"], a["confidence"]) == (pytest.approx(365), pytest.approx(364.635),
                                                                     AMBER_RED)
    assert a["rule"].startswith("projected 365.0 (95% interval 286 to 444) against a target of 364.6: ")
    empty = pd.DataFrame(columns=["unit_code", "measure_id", "window", "basis"])
    probe, _ = rank_findings(empty, empty, empty, trajectory.reset_index(), config)
    row = probe.set_index(["unit_code", "measure_id"]).loc[("A", "burglary")]
    assert "off track for its target (amber-red: projected 365.0 against 364.6)" in row["reason"]
    assert "projected to end the year at 365.0 against a target of 364.6" in row["question"]
