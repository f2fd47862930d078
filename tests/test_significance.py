"""Exact rate-ratio tests, over-dispersion and Benjamini–Hochberg, against values worked out by hand.

Binomial tails are summed from math.comb here, and Clopper–Pearson bounds found by bisection
on those sums, independently of the scipy special functions the module uses.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from compstat.analysis.significance import (
    NO_EVENTS,
    NORMAL_VARIATION,
    NOT_TESTED,
    SIGNIFICANT_DECREASE,
    SIGNIFICANT_INCREASE,
    benjamini_hochberg,
    dispersion_table,
    rate_ratio_test,
    significance_table,
    successive_difference_dispersion,
)
from compstat.config import Config
from compstat.figures import TOTAL


def upper_tail(k: int, n: int, p: float) -> float:
    """P(X ≥ k), X ~ Binomial(n, p), summed term by term."""
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(k, n + 1))


def lower_tail(k: int, n: int, p: float) -> float:
    return sum(math.comb(n, j) * p ** j * (1 - p) ** (n - j) for j in range(0, k + 1))


def solve(f: object, target: float) -> float:
    """The p in (0, 1) where the monotone ``f(p)`` equals ``target``, by bisection."""
    lo, hi = 0.0, 1.0
    increasing = f(0.75) > f(0.25)  # type: ignore[operator]
    for _ in range(200):
        mid = (lo + hi) / 2
        if (f(mid) < target) == increasing:  # type: ignore[operator]
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def clopper_pearson_ratio(k: int, n: int, scale: float = 1.0) -> tuple[float, float]:
    """Rate-ratio bounds from Clopper–Pearson bounds on p: P(X ≥ k | p_L) = P(X ≤ k | p_U) = 0.025."""
    p_low = solve(lambda p: upper_tail(k, n, p), 0.025) if k > 0 else 0.0
    p_high = solve(lambda p: lower_tail(k, n, p), 0.025) if k < n else 1.0
    high = math.inf if p_high == 1.0 else p_high / (1 - p_high) * scale
    return p_low / (1 - p_low) * scale, high


def test_five_against_three() -> None:
    """5 events vs 3, equal exposure: n = 8, p0 = 1/2. P(X ≥ 5) = (56 + 28 + 8 + 1) / 256 = 93/256,
    doubled: 186/256 = 0.7265625 (here the same as R's poisson.test, the distribution being symmetric)."""
    row = rate_ratio_test(5, 3).iloc[0]
    assert row["rate_ratio"] == pytest.approx(5 / 3)
    assert row["p_value"] == pytest.approx(186 / 256, rel=1e-12)
    low, high = clopper_pearson_ratio(5, 8)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-8)
    assert row["ci_low"] < 1 < row["ci_high"]


def test_unequal_exposures() -> None:
    """10 events in 7 days vs 2 in 14: p0 = 7/21 = 1/3, n = 12.
    P(X ≥ 10) = (66·2² + 12·2 + 1) / 3¹² = 289/531441; doubled 578/531441. RR = (10/7)/(2/14) = 10."""
    row = rate_ratio_test(10, 2, 7, 14).iloc[0]
    assert row["rate_ratio"] == pytest.approx(10.0)
    assert row["p_value"] == pytest.approx(578 / 531441, rel=1e-10)
    # p/(1-p) × t0/t1 = p/(1-p) × 2
    low, high = clopper_pearson_ratio(10, 12, scale=2.0)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high), rel=1e-8)
    assert row["ci_low"] > 1


@pytest.mark.parametrize(("t1", "t0"), [(7, 14), (28, 84), (67, 201), (7, 7)])
def test_central_p_value_against_scipy_binomial(t1: int, t0: int) -> None:
    """Integer counts at unequal exposures (a week against two, 28 days against a 3-year baseline, a year
    to date against three): the p-value is 2 × min(P(X ≤ y1), P(X ≥ y1)) for X ~ Binomial(y1 + y0,
    t1/(t1 + t0)), from scipy's binomial distribution. R's poisson.test and scipy's binomtest use the
    minimum-likelihood rule instead, which differs when the exposures are unequal: for 10 vs 2 at 7/14
    days it gives 0.00054 where the central rule gives 0.00109 (see the module docstring for the choice)."""
    y1, y0 = (a.ravel() for a in np.meshgrid(np.arange(0, 31), np.arange(0, 61, 3)))
    keep = (y1 + y0) > 0
    y1, y0 = y1[keep], y0[keep]
    got = rate_ratio_test(y1, y0, t1, t0)["p_value"].to_numpy()
    n, p = y1 + y0, t1 / (t1 + t0)
    central = np.minimum(1.0, 2 * np.minimum(stats.binom.cdf(y1, n, p), stats.binom.sf(y1 - 1, n, p)))
    np.testing.assert_allclose(got, central, rtol=1e-9, atol=1e-15)
    if t1 == 7 and t0 == 14:
        assert rate_ratio_test(10, 2, 7, 14)["p_value"].iloc[0] == pytest.approx(0.0010876, rel=1e-4)
        assert stats.binomtest(10, 12, 1 / 3).pvalue == pytest.approx(0.0005438, rel=1e-4)
    if t1 == t0:  # symmetric: the two rules agree
        minlike = [stats.binomtest(int(a), int(a + b), 0.5).pvalue for a, b in zip(y1, y0, strict=True)]
        np.testing.assert_allclose(got, minlike, rtol=1e-9)


def test_interval_and_p_value_agree_at_unequal_exposures() -> None:
    """The central p-value is below 0.05 exactly when the 95% interval excludes 1, at 28 vs 84 days too."""
    y1, y0 = np.meshgrid(np.arange(0, 60), np.arange(0, 120, 2))
    tested = rate_ratio_test(y1.ravel(), y0.ravel(), 28, 84, dispersion=1.3).dropna(subset=["p_value"])
    excludes = (tested["ci_low"] > 1) | (tested["ci_high"] < 1)
    assert ((tested["p_value"] < 0.05) == excludes).all()


def test_zero_and_tiny_counts() -> None:
    """0 vs 5: RR 0, lower bound 0; upper: (1 − p_U)⁵ = 0.025. p = 2 × (1/2)⁵ = 0.0625.
    5 vs 0: RR inf, upper bound inf; lower: p_L⁵ = 0.025. 0 vs 0: nothing to test."""
    result = rate_ratio_test([0, 5, 0, 1], [5, 0, 0, 0])
    none_now, none_before, none, one = (result.iloc[i] for i in range(4))
    p_high = 1 - 0.025 ** (1 / 5)
    assert none_now["rate_ratio"] == 0 and none_now["ci_low"] == 0
    assert none_now["ci_high"] == pytest.approx(p_high / (1 - p_high), rel=1e-10)
    assert none_now["p_value"] == pytest.approx(0.0625)
    p_low = 0.025 ** (1 / 5)
    assert math.isinf(none_before["rate_ratio"]) and math.isinf(none_before["ci_high"])
    assert none_before["ci_low"] == pytest.approx(p_low / (1 - p_low), rel=1e-10)
    assert none_before["p_value"] == pytest.approx(0.0625)
    assert none.isna().all()
    assert one["p_value"] == pytest.approx(1.0) and one["ci_low"] == pytest.approx(0.025 / 0.975)


def test_overdispersion_uses_effective_counts() -> None:
    """φ = 2: 10 vs 4 is tested as 5 vs 2 (n = 7, P(X ≥ 5) = 29/128, doubled 58/128); φ = 1.5:
    6 vs 3 as 4 vs 2 (n = 6, P(X ≥ 4) = 22/64, doubled 44/64). The estimate itself is unchanged."""
    result = rate_ratio_test([10, 6, 10], [4, 3, 4], dispersion=[2.0, 1.5, 0.5])
    assert result["rate_ratio"].tolist() == pytest.approx([2.5, 2.0, 2.5])
    assert result["p_value"].iloc[0] == pytest.approx(58 / 128, rel=1e-12)
    assert result["p_value"].iloc[1] == pytest.approx(44 / 64, rel=1e-12)
    plain = rate_ratio_test(10, 4).iloc[0]
    assert result["p_value"].iloc[2] == pytest.approx(plain["p_value"])  # φ below 1 counts as 1
    assert result["ci_low"].iloc[0] < plain["ci_low"] and result["ci_high"].iloc[0] > plain["ci_high"]


def test_interval_and_p_value_agree() -> None:
    """Doubling the smaller tail makes 'p < 0.05' the same statement as 'the 95% interval excludes 1'."""
    y1, y0 = np.meshgrid(np.arange(0, 40), np.arange(0, 40))
    result = rate_ratio_test(y1.ravel(), y0.ravel(), dispersion=1.7)
    tested = result.dropna(subset=["p_value"])
    excludes = (tested["ci_low"] > 1) | (tested["ci_high"] < 1)
    assert ((tested["p_value"] < 0.05) == excludes).all()


def test_benjamini_hochberg_by_hand() -> None:
    """p = (0.01, 0.04, 0.03, 0.005), m = 4. Sorted: 0.005·4/1 = 0.02, 0.01·4/2 = 0.02, 0.03·4/3 = 0.04,
    0.04·4/4 = 0.04; running minimum from the top changes nothing. NaN is left out of m.
    p = (0.04, 0.02, 0.5): 0.02·3 = 0.06, 0.04·3/2 = 0.06, 0.5."""
    q = benjamini_hochberg([0.01, 0.04, 0.03, 0.005, np.nan])
    assert q[:4].tolist() == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert np.isnan(q[4])
    assert benjamini_hochberg([0.04, 0.02, 0.5]).tolist() == pytest.approx([0.06, 0.06, 0.5])
    assert benjamini_hochberg([0.9, 0.95]).tolist() == pytest.approx([0.95, 0.95])
    assert benjamini_hochberg([]).size == 0


def test_benjamini_hochberg_matches_scipy() -> None:
    p = np.random.default_rng(42).uniform(size=200) ** 3
    assert benjamini_hochberg(p) == pytest.approx(stats.false_discovery_control(p, method="bh"))


def test_successive_differences_by_hand() -> None:
    """y = 2, 4, 3, 7: squared differences 4 + 1 + 16 = 21; pair sums 6 + 7 + 10 = 23; φ = 21/23.
    A missing week drops both pairs it is part of: 2, NaN, 3, 7 leaves (3, 7): 16/10."""
    assert successive_difference_dispersion([2, 4, 3, 7]) == (pytest.approx(21 / 23), 3)
    assert successive_difference_dispersion([2, np.nan, 3, 7]) == (pytest.approx(1.6), 1)
    phi, pairs = successive_difference_dispersion([0, 0, 0])
    assert np.isnan(phi) and pairs == 2


def series_frame(rows: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    parts = []
    for (unit, measure), values in rows.items():
        parts.append(pd.DataFrame({"unit_code": unit, "measure_id": measure,
                                   "period_start": pd.date_range("2026-01-05", periods=len(values), freq="7D"),
                                   "value": values, "numerator": np.nan, "denominator": np.nan}))
    return pd.concat(parts, ignore_index=True)


def test_dispersion_table_floor_and_fallback(small_config: Config) -> None:
    """A: alternating 2, 8 (9 pairs): 9·36 / (9·10) = 3.6. B: constant 5 (φ = 0, floored to 1).
    Robbery A has 3 pairs only: it takes the median over units with enough history (A 1.0, B 1.0)."""
    series = series_frame({
        ("A", "burglary"): [2, 8] * 5, ("B", "burglary"): [5] * 10, ("A", "robbery"): [1, 3, 1, 3],
        ("B", "robbery"): [4] * 10, (TOTAL, "burglary"): [7, 13] * 5,
    })
    table = dispersion_table(series, small_config).set_index(["unit_code", "measure_id"])
    assert table.loc[("A", "burglary"), "dispersion"] == pytest.approx(3.6)
    assert table.loc[("A", "burglary"), "dispersion_source"] == "own history"
    assert table.loc[("B", "burglary"), "dispersion"] == 1.0
    assert table.loc[("A", "robbery"), "dispersion"] == 1.0
    assert table.loc[("A", "robbery"), "dispersion_source"] == "median of units"
    assert table.loc[(TOTAL, "burglary"), "dispersion"] == pytest.approx(9 * 36 / (9 * 20))


def comparisons_frame(rows: list[tuple[str, str, str, float, float, float, float]]) -> pd.DataFrame:
    """unit, measure, window, current, last year, baseline mean, baseline years (28-day windows)."""
    frame = pd.DataFrame(rows, columns=["unit_code", "measure_id", "window", "current", "last_year", "baseline",
                                        "baseline_years"])
    return frame.assign(days=28.0, last_year_days=28.0, baseline_total=frame["baseline"] * frame["baseline_years"],
                        baseline_days=28.0 * frame["baseline_years"])


def test_significance_table_labels_after_fdr(small_config: Config) -> None:
    """Three tests per basis: A burglary 60 vs 20 (p ≈ 1e-7, significant); B burglary 12 vs 8 (p ≈ 0.5);
    A robbery 3 vs 4 (small numbers). With φ = 1, only the first survives BH at 5%."""
    comparisons = comparisons_frame([
        ("A", "burglary", "28d", 60, 20, 20, 3), ("B", "burglary", "28d", 12, 8, 8, 3),
        ("A", "robbery", "28d", 3, 4, np.nan, 0),
    ])
    dispersion = pd.DataFrame({"unit_code": ["A", "B", "A"], "measure_id": ["burglary", "burglary", "robbery"],
                               "dispersion": [1.0, 1.0, 1.0]})
    table = significance_table(comparisons, dispersion, small_config).set_index(["unit_code", "measure_id", "basis"])
    first = table.loc[("A", "burglary", "last_year")]
    assert first["label"] == SIGNIFICANT_INCREASE and first["judgement"] == "worse"
    assert first["p_value"] == pytest.approx(2 * upper_tail(60, 80, 0.5), rel=1e-9)
    assert first["pct_change"] == pytest.approx(200.0)
    baseline = table.loc[("A", "burglary", "baseline")]
    assert baseline["comparison"] == 20 and baseline["comparison_days"] == 84
    assert baseline["p_value"] == pytest.approx(2 * upper_tail(60, 120, 0.25), rel=1e-9)
    assert table.loc[("B", "burglary", "last_year"), "label"] == NORMAL_VARIATION
    small = table.loc[("A", "robbery", "last_year")]
    assert small["small_numbers"] and small["label"] == NORMAL_VARIATION
    assert table.loc[("A", "robbery", "baseline"), "label"] == NOT_TESTED  # no baseline years
    p = table["p_value"].to_numpy()
    assert table["q_value"].to_numpy() == pytest.approx(benjamini_hochberg(p), nan_ok=True)


def test_significance_table_dispersion_and_direction(small_config: Config) -> None:
    """40 vs 20 is significant as Poisson (p ≈ 0.007) but not with φ = 4 (tested as 10 vs 5, p ≈ 0.30).
    A fall on a lower-is-better measure is 'better'; no events at all is 'no events'."""
    comparisons = comparisons_frame([("A", "burglary", "28d", 40, 20, 20, 1), ("B", "burglary", "28d", 5, 30, 30, 1),
                                     ("A", "robbery", "28d", 0, 0, 0, 1)])
    dispersion = pd.DataFrame({"unit_code": ["A", "B", "A"], "measure_id": ["burglary", "burglary", "robbery"],
                               "dispersion": [4.0, 1.0, 1.0]})
    table = significance_table(comparisons, dispersion, small_config).set_index(["unit_code", "measure_id", "basis"])
    assert table.loc[("A", "burglary", "last_year"), "p_value"] == pytest.approx(2 * upper_tail(10, 15, 0.5))
    assert table.loc[("A", "burglary", "last_year"), "label"] == NORMAL_VARIATION
    fall = table.loc[("B", "burglary", "last_year")]
    assert fall["label"] == SIGNIFICANT_DECREASE and fall["judgement"] == "better"
    assert table.loc[("A", "robbery", "last_year"), "label"] == NO_EVENTS
