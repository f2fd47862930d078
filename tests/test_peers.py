"""Similar units: nearest peers by standardised distance, exact intervals, and the iQuanta labels."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.peers import (
    ABOVE,
    BELOW,
    WITHIN,
    context_frame,
    nearest_peers,
    peer_groups,
    peer_table,
    peer_variables,
    poisson_interval,
    proportion_interval,
)
from compstat.config import Config


def force(units: list[dict[str, Any]], analysis: dict[str, Any] | None = None) -> Config:
    return Config.model_validate({
        "organisation": {"name": "Peer Police", "slug": "peer"},
        "units": units,
        "measures": [
            {"id": "burglary", "name": "Burglary", "filter": {"category": "burglary"}},
            {"id": "seen", "name": "Seen in time", "filter": {"category": "seen"}, "report": False},
            {"id": "all", "name": "All", "filter": {"category": "all"}, "report": False},
            {"id": "timely", "name": "Timely", "kind": "rate", "numerator": "seen", "denominator": "all",
             "per": 100, "polarity": "higher"},
        ],
        "sources": [{"name": "s", "path": "x.csv", "columns": {"unit": "u", "date": "d"}}],
        "analysis": analysis or {},
    })


def units(populations: dict[str, float | None], context: dict[str, dict[str, float]] | None = None,
          ) -> list[dict[str, Any]]:
    return [{"code": c, "name": c, "population": p, "context": (context or {}).get(c, {})}
            for c, p in populations.items()]


def test_nearest_peers_by_hand() -> None:
    """x = 1, 2, 4, 8: P's nearest are Q (1 away) then R (3); Q's P (1) then R (2); R's Q then P; S's R then Q."""
    context = pd.DataFrame({"x": [1.0, 2.0, 4.0, 8.0]}, index=["P", "Q", "R", "S"])
    assert nearest_peers(context, 2) == {"P": ["Q", "R"], "Q": ["P", "R"], "R": ["Q", "P"], "S": ["R", "Q"]}
    assert nearest_peers(context, 10)["P"] == ["Q", "R", "S"]  # k is capped at the other units


def test_standardised_so_scale_does_not_matter() -> None:
    """Multiplying a variable by 1,000 changes nothing; a variable with no spread is ignored."""
    rng = np.random.default_rng(42)
    context = pd.DataFrame({"population": rng.uniform(4e4, 1.6e5, 9), "deprivation": rng.uniform(0, 1, 9),
                            "flat": 1.0}, index=[f"U{i}" for i in range(9)])
    scaled = context.assign(population=context["population"] / 1000)
    assert nearest_peers(context, 3) == nearest_peers(scaled, 3)
    assert nearest_peers(context.drop(columns="flat"), 3) == nearest_peers(context, 3)


def test_peer_variables_and_configured_groups() -> None:
    config = force(units({"A": 1e4, "B": 2e4, "C": 3e4}, {"A": {"dep": 0.1, "x": 1}, "B": {"dep": 0.2},
                                                            "C": {"dep": 0.3}}))
    assert peer_variables(config) == ["population", "dep"]
    assert context_frame(config, ["population", "dep"]).loc["B"].tolist() == [2e4, 0.2]
    assert peer_groups(config)["A"] == ("5 most similar", ["B", "C"])
    grouped = force(units({"A": 1e4, "B": 2e4, "C": 3e4}), {"peer_groups": {"city": ["A", "B"]}})
    assert peer_groups(grouped) == {"A": ("city", ["B"]), "B": ("city", ["A"])}
    bare = force(units({"A": None, "B": None, "C": None}))  # nothing to match on: every other unit
    assert peer_groups(bare) == {"A": ("all units", ["B", "C"]), "B": ("all units", ["A", "C"]),
                                 "C": ("all units", ["A", "B"])}


def test_poisson_interval_garwood() -> None:
    """Garwood's exact 95% interval for 5 events is 1.6235 to 11.6683; for 0, 0 to −ln 0.025 = 3.6889.
    With φ = 2, 10 events are treated as 5 effective events: twice their interval."""
    low, high = poisson_interval(np.array([5.0, 0.0, 10.0]), np.array([1.0, 1.0, 2.0]), 0.95)
    assert low.tolist() == pytest.approx([1.6235, 0.0, 3.2470], abs=1e-4)
    assert high.tolist() == pytest.approx([11.6683, 3.6889, 23.3366], abs=1e-4)


def test_proportion_interval_extremes() -> None:
    """0 of 10: upper (1 − p)¹⁰ = 0.025 → 0.3085; 10 of 10: lower p¹⁰ = 0.025 → 0.6915."""
    low, high = proportion_interval(np.array([0.0, 10.0]), np.array([10.0, 10.0]), np.ones(2), 0.95)
    assert low.tolist() == pytest.approx([0.0, 0.025 ** 0.1])
    assert high.tolist() == pytest.approx([1 - 0.025 ** 0.1, 1.0])


def comparisons(rows: list[tuple[str, str, float, float, float, float]]) -> pd.DataFrame:
    """unit, measure, current, numerator, denominator, population (28-day window)."""
    return pd.DataFrame(rows, columns=["unit_code", "measure_id", "current", "numerator", "denominator",
                                       "population"]).assign(window="28d")


def test_peer_table_labels() -> None:
    """Burglary per 1,000 residents: P1 100/10,000 → 10; P2 4; P3 5.5; P4 6; P5 has no population.
    P1's peers average (4 + 5.5 + 6)/3 = 5.17, below its interval (8.14 to 12.16): significantly above,
    worse. P2 against (10 + 5.5 + 6)/3 = 7.17: interval 2.86 to 5.45, below, better. P3 against 6.67:
    interval 4.14 to 7.16, within."""
    config = force(units({"P1": 1e4, "P2": 1e4, "P3": 1e4, "P4": 1e4, "P5": None}),
                   {"peer_groups": {"inner": ["P1", "P2", "P3", "P4", "P5"]}})
    frame = comparisons([("P1", "burglary", 100, np.nan, np.nan, 1e4), ("P2", "burglary", 40, np.nan, np.nan, 1e4),
                         ("P3", "burglary", 55, np.nan, np.nan, 1e4), ("P4", "burglary", 60, np.nan, np.nan, 1e4),
                         ("P5", "burglary", 60, np.nan, np.nan, np.nan)])
    dispersion = pd.DataFrame({"unit_code": ["P1", "P2", "P3", "P4", "P5"], "measure_id": "burglary",
                               "dispersion": 1.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    p1 = table.loc["P1"]
    assert p1["value"] == pytest.approx(10.0) and p1["peer_mean"] == pytest.approx(15.5 / 3)
    assert (p1["ci_low"], p1["ci_high"]) == pytest.approx((8.1364, 12.1627), abs=1e-4)
    assert p1["label"] == ABOVE and p1["judgement"] == "worse" and p1["n_peers"] == 3
    assert p1["peers"] == "P2,P3,P4,P5" and p1["peer_group"] == "inner"
    assert table.loc["P2", "label"] == BELOW and table.loc["P2", "judgement"] == "better"
    assert table.loc["P3", "label"] == WITHIN and table.loc["P3", "judgement"] == "similar"
    assert table.loc["P3", "pct_vs_peers"] == pytest.approx(100 * (5.5 / (20 / 3) - 1))
    assert table.loc["P5", "label"] == "" and np.isnan(table.loc["P5", "value"])
    assert p1["basis"] == "per 1,000 residents"


def test_peer_table_overdispersion_widens() -> None:
    """With φ = 4, P1's 100 events count as 25: interval 4 × (16.18 to 36.90) / 10 = 6.47 to 14.76 —
    still above 5.17; P2 (40 as 10: 1.92 to 7.36) is now within 7.17. (Intervals from χ² quantiles:
    Garwood's [χ²(2k, 0.025)/2, χ²(2k + 2, 0.975)/2].)"""
    config = force(units({"P1": 1e4, "P2": 1e4, "P3": 1e4, "P4": 1e4}), {"peer_groups": {"g": ["P1", "P2", "P3",
                                                                                               "P4"]}})
    frame = comparisons([("P1", "burglary", 100, np.nan, np.nan, 1e4), ("P2", "burglary", 40, np.nan, np.nan, 1e4),
                         ("P3", "burglary", 55, np.nan, np.nan, 1e4), ("P4", "burglary", 60, np.nan, np.nan, 1e4)])
    dispersion = pd.DataFrame({"unit_code": ["P1", "P2", "P3", "P4"], "measure_id": "burglary", "dispersion": 4.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    assert (table.loc["P1", "ci_low"], table.loc["P1", "ci_high"]) == pytest.approx((6.4715, 14.7620), abs=1e-3)
    assert table.loc["P1", "label"] == ABOVE and table.loc["P2", "label"] == WITHIN


def test_peer_table_proportions() -> None:
    """A rate measure that is a proportion (seen within time / all, × 100) gets a Clopper–Pearson interval:
    R1 90 of 100 (82.4% to 95.1%: beta quantiles B(0.025; 90, 11), B(0.975; 91, 10)) against R2 and R3's
    mean of 97% → significantly below; higher is better."""
    config = force(units({"R1": 1e4, "R2": 1e4, "R3": 1e4}), {"peer_groups": {"g": ["R1", "R2", "R3"]}})
    frame = comparisons([("R1", "timely", 90, 90, 100, 1e4), ("R2", "timely", 96, 960, 1000, 1e4),
                         ("R3", "timely", 98, 980, 1000, 1e4)])
    dispersion = pd.DataFrame({"unit_code": ["R1", "R2", "R3"], "measure_id": "timely", "dispersion": 1.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    r1 = table.loc["R1"]
    assert (r1["ci_low"], r1["ci_high"]) == pytest.approx((82.3777, 95.0995), abs=1e-3)
    assert r1["label"] == BELOW and r1["judgement"] == "worse" and r1["basis"] == "rate"
