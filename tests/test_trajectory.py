"""Targets, trajectories, projections and delivery ratings, against figures worked out by hand.

Period 2026-W10 ends on Sunday 8 March 2026: 67 days of the year gone, 298 left (365 in all).
"""

from __future__ import annotations

import math
import statistics
from typing import Any

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.trajectory import (
    AMBER_GREEN,
    AMBER_RED,
    GREEN,
    RED,
    count_projection,
    rate_delivery,
    target_plans,
    trajectory_table,
)
from compstat.config import Cadence, Config
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
    plans = target_plans(daily, config, PERIOD, starts)
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
