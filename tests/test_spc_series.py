"""SPC over every unit × measure: polarity, history, missing weeks, change points, targets; and the CSV input.

The worked series: 10, 12 alternating for 18 weeks, then 10, 30. Mean 238/20 = 11.9. Moving ranges:
eighteen of 2 and one of 20; mean 56/19 = 2.947; 20 ≥ 3.267 × 2.947 = 9.63 is screened out, so the
mean moving range is 2 and the limits 11.9 ± 5.32 = 6.58 to 17.22: the last week (30) is outside.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.analyse import first_day_needed
from compstat.analysis.baselines import HistoryStarts
from compstat.analysis.measures import period_series
from compstat.analysis.spc import COMMON_CAUSE, CONCERN, IMPROVEMENT, spc, variation
from compstat.analysis.spc_series import (
    chart_start,
    history_only,
    periods_running,
    series_start,
    spc_input,
    spc_options,
    spc_table,
)
from compstat.config import Config, load_config
from compstat.errors import ConfigError, UsageError
from compstat.figures import TOTAL
from compstat.periods import comparison_windows, parse_period

WORKED = [10.0, 12.0] * 9 + [10.0, 30.0]
START = pd.Timestamp("2026-01-05")


def configured(config: Config, analysis: dict[str, Any] | None = None, polarity: dict[str, str] | None = None,
               ) -> Config:
    raw = config.model_dump()
    for m in raw["measures"]:
        m["polarity"] = (polarity or {}).get(m["id"], m["polarity"])
    return Config.model_validate({**raw, "analysis": analysis or {}})


def series(rows: dict[tuple[str, str], list[float]]) -> pd.DataFrame:
    parts = [pd.DataFrame({"unit_code": u, "measure_id": m, "value": v, "numerator": np.nan, "denominator": np.nan,
                           "period_start": pd.date_range(START, periods=len(v), freq="7D")})
             for (u, m), v in rows.items()]
    return pd.concat(parts, ignore_index=True)


def test_polarity_decides_concern_or_improvement(small_config: Config) -> None:
    config = configured(small_config, polarity={"robbery": "higher"})
    points, latest = spc_table(series({("A", "burglary"): WORKED, ("A", "robbery"): WORKED}), config)
    latest = latest.set_index("measure_id")
    burglary = latest.loc["burglary"]
    assert (burglary["mean"], burglary["lpl"], burglary["upl"]) == pytest.approx((11.9, 11.9 - 5.32, 11.9 + 5.32))
    assert burglary["point_type"] == CONCERN and burglary["special_cause_rule"] == "outside_limits"
    assert burglary["improvement"] == "decrease" and burglary["periods_running"] == 1
    assert latest.loc["robbery", "point_type"] == IMPROVEMENT
    assert len(points) == 40 and set(points["unit_code"]) == {"A"}


def test_one_year_of_history_and_missing_weeks(small_config: Config) -> None:
    """B's history starts on 4 March 2026 (a Wednesday): its weeks before, and the partial week of
    2 March, are left out; a week inside the history with no records is a zero."""
    daily = pd.DataFrame({
        "unit_code": ["A", "A", "B", "B"], "measure_id": "burglary",
        "date": pd.to_datetime(["2026-01-06", "2026-03-24", "2026-03-04", "2026-03-17"]),
        "total": [2.0, 3.0, 1.0, 4.0], "n": [2, 3, 1, 4],
    })
    starts = {"A": pd.Timestamp("2026-01-01"), "B": pd.Timestamp("2026-03-04"), TOTAL: pd.Timestamp("2026-01-01")}
    frame = history_only(period_series(daily, small_config, date(2026, 1, 5), date(2026, 3, 29)),
                         HistoryStarts(starts))
    points, latest = spc_table(frame, small_config)
    a = points[(points["unit_code"] == "A") & (points["measure_id"] == "burglary")]
    assert a["y"].tolist() == [2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3]
    b = points[(points["unit_code"] == "B") & (points["measure_id"] == "burglary")]
    assert b["x"].tolist() == [pd.Timestamp("2026-03-09"), pd.Timestamp("2026-03-16"), pd.Timestamp("2026-03-23")]
    assert b["y"].tolist() == [0, 4, 0]
    assert latest.set_index(["unit_code", "measure_id"]).loc[("B", "burglary"), "n_points"] == 3


def test_change_point_recomputes_limits(small_config: Config) -> None:
    """A change point on 2 March 2026 for unit A: weeks 1–8 (5, 7 alternating, mean 6) and weeks 9–16
    (15, 17, mean 16) get their own limits, each 2.66 × 2 = 5.32 either side; B is not rebased."""
    values = [5.0, 7.0] * 4 + [15.0, 17.0] * 4
    config = configured(small_config, {"spc": {"rebase": [{"date": "2026-03-02", "units": ["A"],
                                                           "reason": "new recording rules"}]}})
    points, latest = spc_table(series({("A", "burglary"): values, ("B", "burglary"): values}), config)
    a = points[points["unit_code"] == "A"]
    assert a["rebase_group"].tolist() == [0] * 8 + [1] * 8
    assert a["mean"].tolist() == [6.0] * 8 + [16.0] * 8
    assert a["upl"].iloc[-1] == pytest.approx(16 + 5.32)
    assert (a["point_type"] == COMMON_CAUSE).all()
    b = points[points["unit_code"] == "B"]
    assert (b["rebase_group"] == 0).all() and b["mean"].iloc[0] == pytest.approx(11.0)
    assert latest.set_index("unit_code").loc["A", "change_points"] == "2026-03-02"
    assert spc_options(config, "B", "burglary").rebase == ()


def test_target_gives_assurance(small_config: Config) -> None:
    """Limits 6.58 to 17.22, lower is better: a target of 20 a week is always met, 12 is hit and miss."""
    frame = series({("A", "burglary"): WORKED, ("B", "burglary"): WORKED})
    _, latest = spc_table(frame, small_config, {("A", "burglary"): 20.0, ("B", "burglary"): 12.0})
    latest = latest.set_index("unit_code")
    assert latest.loc["A", "assurance"] == "consistently_passing" and latest.loc["A", "target"] == 20
    assert latest.loc["B", "assurance"] == "inconsistent"


def test_fix_after_and_no_screening(small_config: Config) -> None:
    """Limits from the first 4 points (10, 12, 10, 12: mean 11, moving range 2) are held."""
    config = configured(small_config, {"spc": {"fix_after": 4, "screen_outliers": False}})
    points, _ = spc_table(series({("A", "burglary"): WORKED}), config)
    assert points["mean"].tolist() == [11.0] * 20
    assert points["upl"].iloc[0] == pytest.approx(11 + 5.32)


def test_periods_running() -> None:
    frame = pd.DataFrame({"point_type": [COMMON_CAUSE, CONCERN, CONCERN, CONCERN, None]})
    assert periods_running(frame) == 3
    assert periods_running(pd.DataFrame({"point_type": [CONCERN, COMMON_CAUSE]})) == 0
    assert periods_running(pd.DataFrame({"point_type": [IMPROVEMENT] * 4})) == 4
    assert periods_running(pd.DataFrame({"point_type": pd.Series([], dtype=object)})) == 0


def text_frame(x: list[str], y: list[str]) -> pd.DataFrame:
    return pd.DataFrame({"week": x, "count": y})


def test_spc_input_parses_dates_numbers_and_blanks() -> None:
    out = spc_input(text_frame(["2026-01-05", "2026-01-12", "2026-01-19"], ["3", "", "NA"]), "week", "count")
    assert out["x"].tolist() == [pd.Timestamp("2026-01-05"), pd.Timestamp("2026-01-12"), pd.Timestamp("2026-01-19")]
    assert out["y"].iloc[0] == 3 and out["y"].iloc[1:].isna().all()
    day_first_only = spc_input(text_frame(["13/01/2026", "20/01/2026"], ["1", "2"]), "week", "count")
    assert day_first_only["x"].tolist() == [pd.Timestamp("2026-01-13"), pd.Timestamp("2026-01-20")]
    numbered = spc_input(text_frame(["1", "2"], ["4.5", "-1"]), "week", "count")
    assert numbered["x"].tolist() == [1, 2] and numbered["y"].tolist() == [4.5, -1]


@pytest.mark.parametrize(("x", "y", "message"), [
    (["2026-01-05", "soon"], ["1", "2"], "column 'week' line 3: 'soon' is not a date or a number"),
    (["1", "2"], ["1", "two"], "column 'count' line 3: 'two' is not a number"),
    (["1", "1"], ["1", "2"], "column 'week' line 3: '1' appears twice"),
    (["13/01/2026", "03/02/2026"], ["1", "2"], "column 'week' line 3: '03/02/2026' is not a date in one order only"),
])
def test_spc_input_errors(x: list[str], y: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        spc_input(text_frame(x, y), "week", "count")
    with pytest.raises(UsageError, match="no column 'value' .the columns are: week, count"):
        spc_input(text_frame(x, y), "week", "value")


def test_baseline_before_the_charted_span(small_config: Config) -> None:
    """analysis.spc.baseline: the 8 weeks from 5 Jan 2026 (5, 7 alternating: mean 6, range 2), charted
    span the last 12 of 20 weeks (20, 22 alternating). The chart is computed from the baseline and cut:
    12 points, every one on the baseline's limits 6 ± 5.32, above them, so the last 12 weeks are all a
    concern. The run began before the span: the baseline's last week (7, above the mean of 6) starts a run
    of 13 above the mean, so the signal has held 13 weeks. The series is read from the baseline's first
    week (the one holding 7 January)."""
    config = configured(small_config, {"spc": {"periods": 12, "baseline": {"start": "2026-01-07",
                                                                           "end": "2026-02-23"}}})
    period = parse_period("2026-W21", config.cadence)  # 18–24 May 2026: the 20th week from 5 January
    assert chart_start(config, period) == date(2026, 3, 2)
    assert series_start(config, period) == date(2026, 1, 5)  # the Monday of the week holding 7 January
    windows = comparison_windows(period, config.cadence)
    assert first_day_needed(config, period, windows) <= date(2026, 1, 5)
    values = [5.0, 7.0] * 4 + [20.0, 22.0] * 6
    points, latest = spc_table(series({("A", "burglary"): values}), config, first_charted=chart_start(config, period))
    assert len(points) == 12 and points["x"].iloc[0] == pd.Timestamp("2026-03-02")
    assert points["mean"].tolist() == [6.0] * 12 and points["upl"].iloc[0] == pytest.approx(6 + 5.32)
    assert (points["point_type"] == CONCERN).all()
    row = latest.iloc[0]
    assert row["n_points"] == 12 and row["periods_running"] == 13 and row["mean"] == 6


def test_baseline_settings_are_checked(small_config_path: Path) -> None:
    text = small_config_path.read_text(encoding="utf-8")
    small_config_path.write_text(text + "analysis:\n  spc:\n    baseline: {start: 2026-03-01, end: 2026-01-01}\n",
                                 encoding="utf-8")
    with pytest.raises(ConfigError, match=r"testshire.yaml:\d+: analysis.spc.baseline: start 2026-03-01 is after "
                                          r"end 2026-01-01"):
        load_config(small_config_path)
    small_config_path.write_text(text + "analysis:\n  spc:\n    baseline: {}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="analysis.spc.baseline: give start, end or both"):
        load_config(small_config_path)


def test_table_matches_one_chart_per_series(small_config: Config) -> None:
    """``spc_table`` charts every series from its own arrays (no DataFrame per series): each series' points and
    latest row are what ``spc.spc`` gives for that series alone, whatever the order of the rows, with leading
    weeks before the history dropped, a missing week kept as a gap, and a series with no value left out."""
    config = configured(small_config, {"spc": {"rebase": [{"date": "2026-03-02", "measures": ["robbery"]}]}})
    gap = [np.nan, np.nan, *WORKED[2:9], np.nan, *WORKED[10:]]
    frame = series({("B", "robbery"): WORKED, ("A", "burglary"): gap, ("A", "robbery"): [np.nan] * 20,
                    ("B", "burglary"): WORKED[::-1]})
    points, latest = spc_table(frame.sample(frac=1.0, random_state=3), config)
    assert list(zip(latest["unit_code"], latest["measure_id"], strict=True)) == [
        ("A", "burglary"), ("B", "burglary"), ("B", "robbery")]
    for row in latest.to_dict("records"):
        alone = frame[(frame["unit_code"] == row["unit_code"]) & (frame["measure_id"] == row["measure_id"])]
        alone = alone.iloc[int(np.flatnonzero(alone["value"].notna())[0]):]
        expected = spc(alone, x="period_start", y="value",
                       options=spc_options(config, row["unit_code"], row["measure_id"]))
        got = points[(points["unit_code"] == row["unit_code"]) & (points["measure_id"] == row["measure_id"])]
        pd.testing.assert_frame_equal(got.drop(columns=["unit_code", "measure_id"]).reset_index(drop=True), expected)
        last = expected.iloc[-1]
        assert (row["x"], row["mean"], row["upl"], row["point_type"]) == (last["x"], last["mean"], last["upl"],
                                                                          last["point_type"])
        assert row["variation"] == variation(expected) and row["periods_running"] == periods_running(expected)
        assert row["n_points"] == int(expected["y"].notna().sum())
    assert points.loc[points["unit_code"] == "A", "y"].isna().sum() == 1  # the gap; the leading weeks are dropped
    assert latest.set_index(["unit_code", "measure_id"]).loc[("B", "robbery"), "change_points"] == "2026-03-02"
