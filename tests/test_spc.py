"""SPC (Making Data Count XmR) against NHSRplotthedots' published results and hand-worked cases.

The conformance cases are those of ``shared/conformance/spc/README.md``; cases 4 and 5 build
the monthly England A&E totals from ``shared/data/nhs_ae_attendances.csv`` here.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from datetime import date
from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from compstat.analysis.spc import (
    COMMON_CAUSE,
    CONCERN,
    CONSISTENTLY_FAILING,
    CONSISTENTLY_PASSING,
    IMPROVEMENT,
    INCONSISTENT,
    NEUTRAL_HIGH,
    NEUTRAL_LOW,
    SPC_COLUMNS,
    SpcOptions,
    assurance,
    part_of_run,
    shift_flags,
    spc,
    trend_flags,
    two_in_three_flags,
    variation,
)
from compstat.analysis.spc_chart import spc_chart

SHARED = Path(__file__).resolve().parents[2] / "shared"

# R: set.seed(123); rnorm(20)
RNORM_20 = [
    -0.56047565, -0.23017749, 1.55870831, 0.07050839, 0.12928774, 1.71506499, 0.46091621, -1.26506123,
    -0.68685285, -0.44566197, 1.22408180, 0.35981383, 0.40077145, 0.11068272, -0.55584113, 1.78691314,
    0.49785048, -1.96661716, 0.70135590, -0.47279141,
]
# Two outside points and nothing else: mean 174/16 = 10.875; 15 moving ranges summing to 98
# (none screened: the largest, 20, is below 3.267 × 98/15 = 21.3), so the limits are
# 10.875 ± 2.66 × 98/15 = [-6.503, 28.253]: 30 is above, -10 below.
TWO_OUTSIDE = [10, 12, 10, 12, 10, 12, 10, 12, 10, 12, 30, 12, 10, -10, 10, 12]


@pytest.fixture(scope="module")
def conformance() -> Path:
    """The shared conformance folder; its absence is a failure, not a skip."""
    folder = SHARED / "conformance" / "spc"
    if not (folder / "README.md").is_file() or not (SHARED / "data" / "nhs_ae_attendances.csv").is_file():
        pytest.fail(f"the SPC conformance cases are missing: expected them at {folder} and {SHARED / 'data'}")
    return folder


@pytest.fixture(scope="module")
def england_monthly(conformance: Path) -> pd.DataFrame:
    ae = pd.read_csv(conformance.parents[1] / "data" / "nhs_ae_attendances.csv", parse_dates=["period"])
    totals = ae.groupby("period", as_index=False)[["attendances", "breaches"]].sum()
    totals["performance"] = 1 - totals["breaches"] / totals["attendances"]
    return totals


def series(values: Sequence[float], start: str = "2024-01-01", freq: str = "MS") -> pd.DataFrame:
    return pd.DataFrame({"x": pd.date_range(start, periods=len(values), freq=freq), "y": values})


def limits(result: pd.DataFrame, row: int = 0) -> tuple[float, float, float]:
    point = result.iloc[row]
    return float(point["mean"]), float(point["lpl"]), float(point["upl"])


# --- conformance cases 1 to 5 ---


def test_case_1_limits() -> None:
    mean, lpl, upl = limits(spc(series(RNORM_20)))
    assert mean == pytest.approx(0.1416238, rel=1e-6)
    assert lpl == pytest.approx(-3.01138, rel=1e-5)
    assert upl == pytest.approx(3.294627, rel=1e-6)


def test_case_2_outlier_screening() -> None:
    values = list(RNORM_20)
    values[14] = 10.0
    mean, lpl, upl = limits(spc(series(values)))
    assert (mean, lpl, upl) == pytest.approx((0.6694159, -2.383666, 3.722497), rel=1e-6)
    mean, lpl, upl = limits(spc(series(values), options=SpcOptions(screen_outliers=False)))
    assert (mean, lpl, upl) == pytest.approx((0.6694159, -4.596625, 5.935457), rel=1e-6)


def test_case_3_seven_on_one_side() -> None:
    assert shift_flags([1, 1, 1, 1, 1, 1, 1, 1, -1]).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0]
    assert shift_flags([-1, -1, -1, -1, -1, -1, -1, -1, 1]).tolist() == [0, 0, 0, 0, 0, 0, 1, 1, 0]
    assert shift_flags([1] * 6).tolist() == [0] * 6
    assert shift_flags([1, 1, 1, 0, 1, 1, 1, 1]).tolist() == [0] * 8  # on the mean breaks the run
    assert shift_flags([]).tolist() == []


def test_case_3_trend() -> None:
    assert trend_flags(range(1, 8)).tolist() == [0, 0, 0, 0, 0, 0, 1]
    assert trend_flags([1, 2, 3, 3, 4, 5, 6]).tolist() == [0] * 7  # a tie breaks a trend
    assert trend_flags(range(7, 0, -1)).tolist() == [0, 0, 0, 0, 0, 0, -1]
    assert trend_flags([2, 1, 2, 3, 4, 5, 6, 7, 3]).tolist() == [0, 0, 0, 0, 0, 0, 0, 1, 0]
    assert trend_flags(range(1, 7)).tolist() == [0] * 6
    assert part_of_run(trend_flags(range(1, 8)), 7).tolist() == [True] * 7
    assert part_of_run(trend_flags([2, 7, 6, 5, 4, 3, 2, 1, 3]), 7).tolist() == [False] + [True] * 7 + [False]


def test_case_3_two_in_three() -> None:
    for close in ([1, 0, 1], [0, 1, 1], [1, 1, 0]):
        assert two_in_three_flags(close, [1, 1, 1]).tolist() == [1, 1, 1]
        assert two_in_three_flags(close, [-1, -1, -1]).tolist() == [1, 1, 1]
        assert two_in_three_flags(close, [1, -1, 1]).tolist() == [0, 0, 0]
    assert two_in_three_flags([0, 0, 1, 0, 1, 0, 0], [1] * 7).tolist() == [0, 0, 1, 1, 1, 0, 0]
    assert two_in_three_flags([1, 0, 0, 1], [1] * 4).tolist() == [0, 0, 0, 0]
    assert two_in_three_flags([0, 0, 1, 1, 0, 0, 0], [1] * 7).tolist() == [0, 1, 1, 1, 1, 0, 0]
    assert two_in_three_flags([], []).tolist() == []


@pytest.mark.parametrize(("measure", "improvement", "expected_file"), [
    ("attendances", "neutral", "nhs_ae_total_attendances_expected.csv"),
    ("performance", "increase", "nhs_ae_total_performance_expected.csv"),
])
def test_cases_4_and_5_england_ae(conformance: Path, england_monthly: pd.DataFrame, measure: str,
                                  improvement: str, expected_file: str) -> None:
    expected = pd.read_csv(conformance / expected_file, parse_dates=["x"])
    options = SpcOptions(improvement=improvement)  # type: ignore[arg-type]
    result = spc(england_monthly, x="period", y=measure, options=options)
    assert len(result) == len(expected) == 36
    assert result["x"].tolist() == expected["x"].tolist()
    np.testing.assert_array_equal(result["y"], expected["y"])
    for column in ("mean", "lpl", "upl"):
        np.testing.assert_allclose(result[column], expected[column], rtol=1e-9, atol=0, err_msg=column)
    for column in ("rebase_group", "relative_to_mean", "outside_limits", "close_to_limits",
                   "special_cause_flag", "short_group_warning"):
        np.testing.assert_array_equal(result[column].astype(float), expected[column].astype(float),
                                      err_msg=column)
    assert result["point_type"].tolist() == expected["point_type"].tolist()
    assert result["target"].isna().all() and expected["target"].isna().all()


def test_case_5_mixes_improvement_and_concern(conformance: Path, england_monthly: pd.DataFrame) -> None:
    result = spc(england_monthly, x="period", y="performance", options=SpcOptions(improvement="increase"))
    assert set(result["point_type"]) == {COMMON_CAUSE, IMPROVEMENT, CONCERN}
    assert variation(result) == COMMON_CAUSE  # March 2019 is inside the limits, below the mean


# --- hand-worked cases ---


def test_output_columns_and_order() -> None:
    frame = series([1, 3, 2, 4]).iloc[[2, 0, 3, 1]].rename(columns={"x": "week", "y": "count"})
    result = spc(frame, x="week", y="count")
    assert list(result.columns) == SPC_COLUMNS
    assert result["y"].tolist() == [1, 3, 2, 4]  # sorted by x
    assert result["x"].is_monotonic_increasing


def test_rebase_gives_limits_per_group() -> None:
    values = [1, 3, 2, 4, 10, 14, 12, 16]
    result = spc(series(values), options=SpcOptions(rebase=(date(2024, 5, 1),)))
    assert result["rebase_group"].tolist() == [0] * 4 + [1] * 4
    # group 0: mean 2.5, moving ranges 2, 1, 2; group 1: mean 13, moving ranges 4, 2, 4
    # (the 6 between the groups belongs to neither)
    assert limits(result, 0) == pytest.approx((2.5, 2.5 - 2.66 * 5 / 3, 2.5 + 2.66 * 5 / 3))
    assert limits(result, 7) == pytest.approx((13, 13 - 2.66 * 10 / 3, 13 + 2.66 * 10 / 3))
    assert result["short_group_warning"].all()


def test_rebase_date_between_points_starts_at_the_next_point_and_early_dates_are_ignored() -> None:
    options = SpcOptions(rebase=(pd.Timestamp("2023-06-01"), pd.Timestamp("2024-04-15")))
    result = spc(series([1, 3, 2, 4, 10, 14, 12, 16]), options=options)
    assert result["rebase_group"].tolist() == [0] * 4 + [1] * 4


def test_fix_after_holds_limits_from_the_first_points() -> None:
    result = spc(series([1, 3, 2, 4, 100, -50, 7]), options=SpcOptions(fix_after=4))
    for row in range(7):
        assert limits(result, row) == pytest.approx((2.5, 2.5 - 2.66 * 5 / 3, 2.5 + 2.66 * 5 / 3))
    assert result["outside_limits"].tolist() == [False] * 4 + [True, True, True]


def test_fix_after_applies_per_rebase_group() -> None:
    values = [1, 3, 2, 4, 99, 10, 14, 12, 16, -99]
    result = spc(series(values), options=SpcOptions(fix_after=4, rebase=(date(2024, 6, 1),)))
    assert limits(result, 4) == pytest.approx((2.5, 2.5 - 2.66 * 5 / 3, 2.5 + 2.66 * 5 / 3))
    assert limits(result, 9) == pytest.approx((13, 13 - 2.66 * 10 / 3, 13 + 2.66 * 10 / 3))


# Baseline series (monthly from Jan 2024): 5, 7, 5, 7 | 20, 22, 20, 22 (May–Aug) | 30, 32, 34, 30 (Sep–Dec).
BASELINE_SERIES = [5, 7, 5, 7, 20, 22, 20, 22, 30, 32, 34, 30]


def test_baseline_period_sets_the_limits_for_every_point() -> None:
    """Baseline May–Aug 2024: 20, 22, 20, 22 → mean 21, moving ranges 2, 2, 2 → limits 21 ± 5.32, held for
    every point, before the baseline too: the first four (5, 7) are below, the last four above."""
    options = SpcOptions(baseline_start=date(2024, 5, 1), baseline_end=date(2024, 8, 1))
    result = spc(series(BASELINE_SERIES), options=options)
    for row in range(12):
        assert limits(result, row) == pytest.approx((21, 21 - 5.32, 21 + 5.32))
    assert result["outside_limits"].tolist() == [True] * 4 + [False] * 4 + [True] * 4
    open_start = spc(series(BASELINE_SERIES), options=SpcOptions(baseline_end=date(2024, 4, 1)))
    assert limits(open_start, 11) == pytest.approx((6, 6 - 5.32, 6 + 5.32))  # Jan–Apr: 5, 7, 5, 7


def test_baseline_wins_over_fix_after_and_a_change_point_wins_over_both() -> None:
    """fix_after 2 alone: limits from 5, 7 (mean 6, mean moving range 2). With the baseline, the baseline's
    (21 ± 5.32). With a change point on 1 Sep 2024 as well, Sep–Dec is a new group holding no baseline
    point: its limits come from its first 2 points, 30 and 32 (mean 31, range 2), and without fix_after from
    all four (mean 31.5, ranges 2, 2, 4 → 8/3)."""
    fixed = spc(series(BASELINE_SERIES), options=SpcOptions(fix_after=2))
    assert limits(fixed, 11) == pytest.approx((6, 6 - 5.32, 6 + 5.32))
    window = {"baseline_start": date(2024, 5, 1), "baseline_end": date(2024, 8, 31)}
    both = spc(series(BASELINE_SERIES), options=SpcOptions(fix_after=2, **window))
    assert limits(both, 0) == pytest.approx((21, 21 - 5.32, 21 + 5.32))
    rebased = spc(series(BASELINE_SERIES), options=SpcOptions(fix_after=2, rebase=(date(2024, 9, 1),), **window))
    assert limits(rebased, 0) == pytest.approx((21, 21 - 5.32, 21 + 5.32))
    assert limits(rebased, 8) == pytest.approx((31, 31 - 5.32, 31 + 5.32))
    unfixed = spc(series(BASELINE_SERIES), options=SpcOptions(rebase=(date(2024, 9, 1),), **window))
    assert limits(unfixed, 11) == pytest.approx((31.5, 31.5 - 2.66 * 8 / 3, 31.5 + 2.66 * 8 / 3))


def test_baseline_needs_dates_and_order() -> None:
    with pytest.raises(ValueError, match="needs dates"):
        spc(pd.DataFrame({"x": range(12), "y": BASELINE_SERIES}), options=SpcOptions(baseline_end=date(2024, 4, 1)))
    with pytest.raises(ValueError, match="after it ends"):
        SpcOptions(baseline_start=date(2024, 5, 1), baseline_end=date(2024, 4, 1))


def test_improvement_direction_flips_improvement_and_concern() -> None:
    frame = series(TWO_OUTSIDE)
    mean, lpl, upl = limits(spc(frame))
    assert (mean, lpl, upl) == pytest.approx((10.875, 10.875 - 2.66 * 98 / 15, 10.875 + 2.66 * 98 / 15))
    expected = {
        "increase": (IMPROVEMENT, CONCERN),
        "decrease": (CONCERN, IMPROVEMENT),
        "neutral": (NEUTRAL_HIGH, NEUTRAL_LOW),
    }
    for improvement, (high, low) in expected.items():
        result = spc(frame, options=SpcOptions(improvement=improvement))  # type: ignore[arg-type]
        assert result["outside_limits"].tolist() == [i in (10, 13) for i in range(16)]
        types = result["point_type"].tolist()
        assert (types[10], types[13]) == (high, low), improvement
        assert types.count(COMMON_CAUSE) == 14
        assert result["special_cause_rule"].dropna().tolist() == ["outside_limits"] * 2
        assert variation(result) == COMMON_CAUSE


def test_a_trend_takes_its_own_direction_not_the_side_of_the_mean() -> None:
    # mean 170.5/13 = 13.115: the rising run 10 .. 13 is below it, yet (as in NHSRplotthedots'
    # ptd_special_cause_type) it is an improvement when higher is better; it also beats the shift
    values = [10, 10.5, 11, 11.5, 12, 12.5, 13, 20, 10, 20, 10, 20, 10]
    for improvement, kind in (("increase", IMPROVEMENT), ("decrease", CONCERN), ("neutral", NEUTRAL_HIGH)):
        result = spc(series(values), options=SpcOptions(improvement=improvement))  # type: ignore[arg-type]
        assert result["mean"].iloc[0] == pytest.approx(170.5 / 13)
        assert result["special_cause_rule"].tolist()[:8] == ["trend"] * 8
        assert result["point_type"].tolist() == [kind] * 8 + [COMMON_CAUSE] * 5


def test_falling_trend_is_low() -> None:
    values = [20, 10, 20, 10, 20, 13, 12.5, 12, 11.5, 11, 10.5, 10]
    result = spc(series(values), options=SpcOptions(improvement="decrease"))
    assert result["point_type"].tolist()[-7:] == [IMPROVEMENT] * 7


def test_two_in_three_flags_only_the_close_points() -> None:
    # mean 6/18; moving ranges 1 (x11), 3.5, 2.5, 2.5, 3.5, 1, 1: mean 25/17, none screened.
    # Close band: beyond 1/3 + (2/3)(2.66)(25/17) = 2.94, limit 1/3 + 2.66 × 25/17 = 4.25:
    # 3.0, 0.5, 3.0 is 2 of 3 close and all above the mean; only the two close points are flagged
    values = [0.5, -0.5] * 6 + [3.0, 0.5, 3.0, -0.5, 0.5, -0.5]
    result = spc(series(values), options=SpcOptions(improvement="increase"))
    assert limits(result) == pytest.approx((1 / 3, 1 / 3 - 2.66 * 25 / 17, 1 / 3 + 2.66 * 25 / 17))
    flagged = [False] * 12 + [True, False, True, False, False, False]
    assert not result["outside_limits"].any()
    assert result["close_to_limits"].tolist() == flagged
    assert result["special_cause_flag"].tolist() == flagged
    assert result["special_cause_rule"].dropna().tolist() == ["two_in_three"] * 2
    assert result["point_type"].iloc[12] == IMPROVEMENT


def test_assurance_against_the_last_limits() -> None:
    # y alternates 10, 12: mean 11, mean moving range 2, limits 11 ± 5.32 = [5.68, 16.32]
    frame = series([10, 12] * 8)
    cases = {
        ("increase", 20.0): CONSISTENTLY_FAILING,
        ("increase", 11.0): INCONSISTENT,
        ("increase", 2.0): CONSISTENTLY_PASSING,
        ("decrease", 20.0): CONSISTENTLY_PASSING,
        ("decrease", 11.0): INCONSISTENT,
        ("decrease", 2.0): CONSISTENTLY_FAILING,
        ("increase", 16.32): INCONSISTENT,  # on the limit is inside (strict comparisons, as R)
    }
    for (improvement, target), expected in cases.items():
        options = SpcOptions(improvement=improvement, target=target)  # type: ignore[arg-type]
        result = spc(frame, options=options)
        assert limits(result, -1) == pytest.approx((11, 5.68, 16.32))
        assert result["target"].eq(target).all()
        assert assurance(result, options) == expected, (improvement, target)
    assert assurance(spc(frame), SpcOptions(improvement="increase")) is None
    assert assurance(spc(frame), SpcOptions(improvement="neutral", target=20.0)) is None


def test_assurance_uses_the_latest_rebase_group() -> None:
    frame = series([10, 12] * 6 + [30, 32] * 6)
    options = SpcOptions(improvement="increase", target=20.0, rebase=(date(2025, 1, 1),))
    assert assurance(spc(frame, options=options), options) == CONSISTENTLY_PASSING


def test_missing_value_is_kept_without_signal_or_spurious_moving_range() -> None:
    result = spc(series([1, 3, 2, math.nan, 4, 2, 3]))
    # observed mean 15/6 = 2.5; moving ranges 2, 1, 2, 1: the two touching the gap are dropped
    # (bridging it would add |4 - 2| = 2)
    assert limits(result, 3) == pytest.approx((2.5, 2.5 - 2.66 * 1.5, 2.5 + 2.66 * 1.5))
    missing = result.iloc[3]
    assert math.isnan(missing["y"]) and math.isnan(missing["relative_to_mean"])
    assert not (missing["outside_limits"] or missing["close_to_limits"] or missing["special_cause_flag"])
    assert pd.isna(missing["point_type"]) and pd.isna(missing["special_cause_rule"])
    assert result["point_type"].notna().sum() == 6


def test_runs_continue_across_a_missing_value() -> None:
    # seven observed points above the mean, with a gap among them, and seven below
    result = spc(series([10, 14, 10, 14, math.nan, 10, 14, 10, 2, 6, 2, 6, 2, 6, 2]))
    assert result["mean"].iloc[0] == pytest.approx(108 / 14)
    assert result["special_cause_rule"].fillna("-").tolist() == ["shift"] * 4 + ["-"] + ["shift"] * 10
    high, low = [NEUTRAL_HIGH] * 4, [NEUTRAL_LOW] * 7
    assert result["point_type"].fillna("-").tolist() == high + ["-"] + high[:3] + low
    assert not result["short_group_warning"].any()  # 14 observed points


def test_missing_last_value_reports_the_latest_observed_point() -> None:
    result = spc(series(TWO_OUTSIDE[:11] + [math.nan]), options=SpcOptions(improvement="increase"))
    assert variation(result) == IMPROVEMENT
    assert variation(spc(series([math.nan, math.nan]))) is None


def test_constant_series_has_limits_on_the_mean_and_no_signal() -> None:
    # R screens every zero moving range out (0 < 3.267 × 0 is false) and gives NaN limits;
    # here a mean moving range of 0 gives limits equal to the mean
    for screen in (True, False):
        result = spc(series([5.0] * 10), options=SpcOptions(improvement="increase", screen_outliers=screen))
        assert (result["lpl"] == 5).all() and (result["upl"] == 5).all() and (result["mean"] == 5).all()
        assert (result["relative_to_mean"] == 0).all()
        assert not result["special_cause_flag"].any()
        assert set(result["point_type"]) == {COMMON_CAUSE}


def test_one_and_two_points() -> None:
    one = spc(series([7.0]))
    assert one["mean"].iloc[0] == 7 and one["lpl"].isna().all() and one["upl"].isna().all()
    assert one["point_type"].tolist() == [COMMON_CAUSE] and one["short_group_warning"].all()
    assert assurance(one, SpcOptions(improvement="increase", target=5.0)) is None
    two = spc(series([1.0, 3.0]))
    assert limits(two) == pytest.approx((2, 2 - 2.66 * 2, 2 + 2.66 * 2))
    assert two["point_type"].tolist() == [COMMON_CAUSE] * 2


def test_empty_frame() -> None:
    result = spc(pd.DataFrame({"x": pd.to_datetime([]), "y": pd.Series([], dtype=float)}))
    assert result.empty and list(result.columns) == SPC_COLUMNS


def test_integer_and_nullable_values() -> None:
    frame = pd.DataFrame({"x": pd.date_range("2024-01-01", periods=4, freq="W-MON"),
                          "y": pd.array([1, 3, None, 4], dtype="Int64")})
    result = spc(frame)
    assert result["y"].isna().tolist() == [False, False, True, False]
    assert result["mean"].iloc[0] == pytest.approx(8 / 3)


def test_invalid_input() -> None:
    frame = pd.DataFrame({"x": pd.to_datetime(["2024-01-01", "2024-01-01"]), "y": [1.0, 2.0]})
    with pytest.raises(ValueError, match="duplicate"):
        spc(frame)
    with pytest.raises(ValueError, match="improvement"):
        SpcOptions(improvement="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="fix_after"):
        SpcOptions(fix_after=1)


# --- the chart ---


def test_spc_chart_is_a_png_and_reproducible() -> None:
    values = list(TWO_OUTSIDE) + [math.nan, 11]
    options = SpcOptions(improvement="increase", target=25.0, rebase=(date(2025, 1, 1),))
    result = spc(series(values), options=options)
    open_figures = plt.get_fignums()
    png = spc_chart(result, "Performance", y_label="%")
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert png == spc_chart(result, "Performance", y_label="%")
    image = mpimg.imread(io.BytesIO(png), format="png")
    assert image.shape[:2] == (420, 1050)
    assert plt.get_fignums() == open_figures  # nothing left open in pyplot's registry


def test_spc_chart_without_target_or_signals() -> None:
    assert spc_chart(spc(series([1.0, 2.0, 1.5])), "Short").startswith(b"\x89PNG")
