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
    peer_plan,
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
    # C is in no group: it falls back to its nearest units (by population: B, 1 sd away, then A)
    assert peer_groups(grouped) == {"A": ("city", ["B"]), "B": ("city", ["A"]), "C": ("5 most similar", ["B", "A"])}
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
                                       "population"]).assign(window="28d", days=28.0)


YEAR = 365 / 28  # a 28-day count per 1,000 residents, as a yearly rate


def test_peer_table_labels() -> None:
    """Burglary per 1,000 residents in the 28 days: P1 100/10,000 → 10; P2 4; P3 5.5; P4 6; P5 has no
    population. P1's peers average (4 + 5.5 + 6)/3 = 5.17, below its interval (8.14 to 12.16):
    significantly above, worse. P2 against (10 + 5.5 + 6)/3 = 7.17: interval 2.86 to 5.45, below,
    better. P3 against 6.67: interval 4.14 to 7.16, within. The table gives each a year: × 365/28
    (P1: 130.4 per 1,000 residents a year)."""
    config = force(units({"P1": 1e4, "P2": 1e4, "P3": 1e4, "P4": 1e4, "P5": None}),
                   {"peer_groups": {"inner": ["P1", "P2", "P3", "P4", "P5"]}})
    frame = comparisons([("P1", "burglary", 100, np.nan, np.nan, 1e4), ("P2", "burglary", 40, np.nan, np.nan, 1e4),
                         ("P3", "burglary", 55, np.nan, np.nan, 1e4), ("P4", "burglary", 60, np.nan, np.nan, 1e4),
                         ("P5", "burglary", 60, np.nan, np.nan, np.nan)])
    dispersion = pd.DataFrame({"unit_code": ["P1", "P2", "P3", "P4", "P5"], "measure_id": "burglary",
                               "dispersion": 1.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    p1 = table.loc["P1"]
    assert p1["value"] == pytest.approx(10.0 * YEAR) and p1["peer_mean"] == pytest.approx(15.5 / 3 * YEAR)
    assert (p1["ci_low"], p1["ci_high"]) == pytest.approx((8.1364 * YEAR, 12.1627 * YEAR), abs=1e-3)
    assert p1["label"] == ABOVE and p1["judgement"] == "worse" and p1["n_peers"] == 3
    assert p1["peers"] == "P2,P3,P4,P5" and p1["peer_group"] == "inner"
    assert table.loc["P2", "label"] == BELOW and table.loc["P2", "judgement"] == "better"
    assert table.loc["P3", "label"] == WITHIN and table.loc["P3", "judgement"] == "similar"
    assert table.loc["P3", "pct_vs_peers"] == pytest.approx(100 * (5.5 / (20 / 3) - 1))
    assert table.loc["P5", "label"] == "" and np.isnan(table.loc["P5", "value"])
    assert table.loc["P5", "note"] == "no population: a count is compared with peers per resident"
    assert p1["basis"] == "per 1,000 residents a year" and p1["note"] == ""


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
    assert (table.loc["P1", "ci_low"], table.loc["P1", "ci_high"]) == pytest.approx((6.4715 * YEAR, 14.7620 * YEAR),
                                                                                    abs=1e-2)
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


def burglary_rows(codes: list[str], count: float = 50.0) -> list[tuple[str, str, float, float, float, float]]:
    return [(c, "burglary", count, np.nan, np.nan, 1e4) for c in codes]


def test_yearly_rate_by_hand() -> None:
    """9 burglaries in 28 days among 50,000 residents: 9 × 365/28 / 50 = 2.3464 per 1,000 a year."""
    config = force(units({"A": 5e4, "B": 5e4}))
    frame = comparisons([("A", "burglary", 9, np.nan, np.nan, 5e4), ("B", "burglary", 18, np.nan, np.nan, 5e4)])
    dispersion = pd.DataFrame({"unit_code": ["A", "B"], "measure_id": "burglary", "dispersion": 1.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    assert table.loc["A", "value"] == pytest.approx(9 * 365 / 28 / 50)
    assert table.loc["A", "peer_mean"] == pytest.approx(18 * 365 / 28 / 50)


def test_unit_in_no_configured_group_falls_back_to_nearest() -> None:
    """Groups {P1, P2} and {P3, P4}; P5 is in none: it is compared with its 2 nearest units by population
    (P4 at 45,000 and P3 at 40,000 against its 50,000), with a note, and a warning names it."""
    config = force(units({"P1": 1e4, "P2": 1.5e4, "P3": 4e4, "P4": 4.5e4, "P5": 5e4}),
                   {"peer_groups": {"small": ["P1", "P2"], "large": ["P3", "P4"]}, "peers_k": 2})
    plan = peer_plan(config)
    assert plan.groups["P5"] == ("2 most similar", ["P4", "P3"]) and plan.groups["P1"] == ("small", ["P2"])
    assert plan.notes == {"P5": "in no configured peer group: compared with its 2 most similar units"}
    assert plan.warnings == ["analysis.peer_groups: unit P5 is in no peer group: each is compared with its 2 most "
                             "similar units instead"]
    frame = comparisons(burglary_rows(["P1", "P2", "P3", "P4", "P5"]))
    dispersion = pd.DataFrame({"unit_code": ["P1", "P2", "P3", "P4", "P5"], "measure_id": "burglary",
                               "dispersion": 1.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    assert table.loc["P5", "peers"] == "P4,P3" and table.loc["P5", "label"] != ""
    assert table.loc["P5", "note"] == "in no configured peer group: compared with its 2 most similar units"
    assert table.loc["P1", "note"] == ""


def test_unit_missing_a_context_variable_gets_a_note_not_silence() -> None:
    """peer_variables [dep]: Q3 has no 'dep', so no similar units can be found for it: no comparison, a
    note saying why, and a warning. (Before, it lost its comparison silently.)"""
    config = force(units({"Q1": 1e4, "Q2": 1e4, "Q3": 1e4}, {"Q1": {"dep": 0.1}, "Q2": {"dep": 0.5}}),
                   {"peer_variables": ["dep"]})
    plan = peer_plan(config)
    assert "Q3" not in plan.groups and plan.notes["Q3"] == "no 'dep' to find similar units by"
    assert plan.warnings == ["analysis.peer_variables: unit Q3 has no 'dep': no similar units can be found for "
                             "them, so they get no peer comparison"]
    dispersion = pd.DataFrame({"unit_code": ["Q1", "Q2", "Q3"], "measure_id": "burglary", "dispersion": 1.0})
    table = peer_table(comparisons(burglary_rows(["Q1", "Q2", "Q3"])), dispersion, config).set_index("unit_code")
    assert table.loc["Q3", "label"] == "" and table.loc["Q3", "note"] == "no 'dep' to find similar units by"
    assert table.loc["Q1", "peers"] == "Q2"


def test_one_unit_without_population_is_reported() -> None:
    """R3 has no population: by default population is then left out of everyone's matching (they match on
    'dep' alone) and R3's counts cannot be compared per resident. Both are said: a warning, and the note
    on R3's row. A context key one unit lacks ('x', only R1 has it) is left out with a warning too."""
    config = force(units({"R1": 1e4, "R2": 2e4, "R3": None}, {"R1": {"dep": 0.1, "x": 1}, "R2": {"dep": 0.2},
                                                                "R3": {"dep": 0.3}}))
    assert peer_variables(config) == ["dep"]
    plan = peer_plan(config)
    assert plan.warnings == [
        "units[].population: unit R3 has no population: their counts are not compared with peers (a count is "
        "compared per resident); population is left out of the peer matching for every unit",
        "units[].context.x: units R2, R3 have no 'x': it is left out of the peer matching for every unit (set "
        "analysis.peer_variables to choose)",
    ]
    frame = comparisons([("R1", "burglary", 50, np.nan, np.nan, 1e4), ("R2", "burglary", 50, np.nan, np.nan, 2e4),
                         ("R3", "burglary", 50, np.nan, np.nan, np.nan)])
    dispersion = pd.DataFrame({"unit_code": ["R1", "R2", "R3"], "measure_id": "burglary", "dispersion": 1.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    assert table.loc["R3", "note"] == "no population: a count is compared with peers per resident"
    assert table.loc["R1", "label"] != "" and table.loc["R1", "peers"] == "R2,R3"


def test_notes_for_value_measures_and_peers_without_values() -> None:
    """A unit whose only peer has no population: 'none of its peers has a value'; every unit compared
    with every other when there is nothing to match on; complete settings give no warnings."""
    config = force(units({"S1": 1e4, "S2": None}), {"peer_groups": {"g": ["S1", "S2"]}})
    frame = comparisons([("S1", "burglary", 50, np.nan, np.nan, 1e4), ("S2", "burglary", 50, np.nan, np.nan, np.nan)])
    dispersion = pd.DataFrame({"unit_code": ["S1", "S2"], "measure_id": "burglary", "dispersion": 1.0})
    table = peer_table(frame, dispersion, config).set_index("unit_code")
    assert table.loc["S1", "note"] == "none of its peers has a value for this window"
    assert peer_plan(force(units({"T1": 1e4, "T2": 2e4}))).warnings == []


def test_peers_not_like_for_like_are_left_out_of_the_average() -> None:
    """As ``test_peer_table_labels``, but P4's 28 days miss a week (the quality step marks them not
    like-for-like): P1's average is P2 and P3's, (4 + 5.5)/2, and the caveat names P4. P2's peers would be
    P1, P3 and P4: P4 out, (10 + 5.5)/2. In a group of three where two are marked (Q1's peers Q2 and Q3),
    too few would be left: both stay in and the caveat says so. Without marks nothing changes."""
    config = force(units({"P1": 1e4, "P2": 1e4, "P3": 1e4, "P4": 1e4, "Q1": 1e4, "Q2": 1e4, "Q3": 1e4}),
                   {"peer_groups": {"inner": ["P1", "P2", "P3", "P4"], "outer": ["Q1", "Q2", "Q3"]}})
    figures = {"P1": 100, "P2": 40, "P3": 55, "P4": 60, "Q1": 50, "Q2": 30, "Q3": 70}
    frame = comparisons([(c, "burglary", n, np.nan, np.nan, 1e4) for c, n in figures.items()])
    dispersion = pd.DataFrame({"unit_code": list(figures), "measure_id": "burglary", "dispersion": 1.0})
    marks = pd.DataFrame([("P4", "burglary", "28d", False, False, "missing data in 2026-W45"),
                          ("Q2", "burglary", "28d", False, False, "stopped"),
                          ("Q3", "burglary", "28d", False, False, "stopped"),
                          ("P3", "burglary", "28d", True, True, "revisions")],  # fragile only: stays in
                         columns=["unit_code", "measure_id", "window", "like_for_like", "fragile", "reason"])
    plain = peer_table(frame, dispersion, config).set_index("unit_code")
    table = peer_table(frame, dispersion, config, marks).set_index("unit_code")
    assert plain.loc["P1", "peer_mean"] == pytest.approx(15.5 / 3 * YEAR) and plain.loc["P1", "caveat"] == ""
    p1 = table.loc["P1"]
    assert p1["peer_mean"] == pytest.approx(9.5 / 2 * YEAR) and p1["n_peers"] == 2 and p1["left_out"] == "P4"
    assert p1["caveat"] == "average of 2 of 3 similar units: P4 (P4) left out, not like-for-like"
    assert p1["peers"] == "P2,P3,P4"  # the group is still the group
    assert table.loc["P2", "peer_mean"] == pytest.approx(15.5 / 2 * YEAR)
    q1 = table.loc["Q1"]
    assert q1["peer_mean"] == pytest.approx(10.0 / 2 * YEAR) and q1["n_peers"] == 2 and q1["left_out"] == ""
    assert q1["caveat"] == ("average of both similar units, including Q2 (Q2), Q3 (Q3), not like-for-like (too few "
                            "without them): read with caution")
    assert table.loc["P4", "caveat"] == "" and table.loc["P4", "n_peers"] == 3  # its own mark is its cell's caveat
    assert (plain.drop(columns=["left_out", "caveat"]).loc[["P4", "Q2"]].equals(
        table.drop(columns=["left_out", "caveat"]).loc[["P4", "Q2"]]))
