"""Reusing the XmR charts of unchanged series (``analysis.chart_memo``): a chart is reused only when its dates,
values and options are those it was computed from, and the charts it gives are those ``spc_table`` computes."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.chart_memo import ChartMemo, saved_charts
from compstat.analysis.spc import CHART_COLUMNS
from compstat.analysis.spc_series import spc_table
from compstat.config import Config
from tests.test_spc_series import WORKED, configured, series

VERSION = "code-1"
RISING = [float(v) for v in range(20)]
# A's burglary: the worked series (its last week a special cause); A's robbery rising (a trend); B's with a gap.
SERIES = {("A", "burglary"): WORKED, ("A", "robbery"): RISING, ("B", "burglary"): [*WORKED[:10], np.nan, *WORKED[11:]]}


def charted(config: Config, rows: dict[tuple[str, str], list[float]], memo: ChartMemo | None = None,
            targets: dict[tuple[str, str], float] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    return spc_table(series(rows), config, targets, memo=memo)


def saved(config: Config, path: Path, rows: dict[tuple[str, str], list[float]] = SERIES,
          targets: dict[tuple[str, str], float] | None = None) -> Path:
    memo = ChartMemo()
    charted(config, rows, memo, targets)
    memo.save(path, VERSION)
    return path


def test_saved_charts_come_back_as_computed(small_config: Config, tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """Every column keeps its type and values through the file, the point types' None (no value) included; the
    same charts saved at another time are the same bytes."""
    memo = ChartMemo()
    charted(small_config, SERIES, memo)
    memo.save(tmp_path / "charts.npz", VERSION)
    monkeypatch.setattr(time, "time", lambda: 2_000_000_000.0)
    memo.save(tmp_path / "again.npz", VERSION)
    assert (tmp_path / "charts.npz").read_bytes() == (tmp_path / "again.npz").read_bytes()
    loaded = saved_charts(tmp_path / "charts.npz", VERSION)
    assert loaded.keys() == memo.charts.keys() and len(loaded) == 3
    for key, chart in memo.charts.items():
        assert loaded[key].keys() == chart.keys()
        for name, column in chart.items():
            assert loaded[key][name].dtype == column.dtype, name
            assert pd.isna(column).tolist() == pd.isna(loaded[key][name]).tolist(), name
            assert [v for v in column if not pd.isna(v)] == [v for v in loaded[key][name] if not pd.isna(v)], name
    assert sum(chart["point_type"][10] is None for chart in loaded.values()) == 1  # B's week without a value


def test_a_rerun_reuses_the_unchanged_series_and_recomputes_the_changed(small_config: Config, tmp_path: Path) -> None:
    """B's last week is revised (30 → 11): its chart is computed again (now common cause), A's two are reused;
    both tables are those computed without a memo."""
    path = saved(small_config, tmp_path / "charts.npz")
    revised = {**SERIES, ("B", "burglary"): [*SERIES[("B", "burglary")][:-1], 11.0]}
    memo = ChartMemo(saved_charts(path, VERSION))
    points, latest = charted(small_config, revised, memo)
    assert (memo.reused, memo.charted) == (2, 3) and len(memo.charts) == 3
    fresh_points, fresh_latest = charted(small_config, revised)
    pd.testing.assert_frame_equal(points, fresh_points)
    pd.testing.assert_frame_equal(latest, fresh_latest)
    b = latest.set_index("unit_code").loc["B"]
    assert b["point_type"] == "common_cause"


@pytest.mark.parametrize("change", ["target", "polarity", "rebase", "dates"])
def test_a_chart_is_not_reused_when_what_it_was_computed_from_changed(small_config: Config, tmp_path: Path,
                                                                      change: str) -> None:
    """The same values with another target, improvement direction or change point, or a week later, are charted
    afresh: the options and dates are part of what a chart is reused for."""
    rows = {("A", "burglary"): WORKED}
    path = saved(small_config, tmp_path / "charts.npz", rows, {("A", "burglary"): 20.0})
    config, targets = small_config, {("A", "burglary"): 20.0}
    frame = series(rows)
    if change == "target":
        targets = {("A", "burglary"): 12.0}
    elif change == "polarity":
        config = configured(small_config, polarity={"burglary": "higher"})
    elif change == "rebase":
        config = configured(small_config, {"spc": {"rebase": ["2026-03-02"]}})
    else:
        frame = frame.assign(period_start=frame["period_start"] + pd.Timedelta(days=7))
    memo = ChartMemo(saved_charts(path, VERSION))
    points, latest = spc_table(frame, config, targets, memo=memo)
    assert memo.reused == 0
    fresh_points, fresh_latest = spc_table(frame, config, targets)
    pd.testing.assert_frame_equal(points, fresh_points)
    pd.testing.assert_frame_equal(latest, fresh_latest)


def test_charts_of_other_code_or_an_unreadable_file_are_not_used(small_config: Config, tmp_path: Path) -> None:
    path = saved(small_config, tmp_path / "charts.npz")
    assert len(saved_charts(path, VERSION)) == 3
    assert saved_charts(path, "code-2") == {}
    assert saved_charts(tmp_path / "none.npz", VERSION) == {}
    broken = tmp_path / "broken.npz"
    broken.write_bytes(path.read_bytes()[:200])
    assert saved_charts(broken, VERSION) == {}
    with np.load(path) as arrays:
        saved_arrays = dict(arrays)
    for name, altered in {
        "short": {"column_mean": saved_arrays["column_mean"][:-1]},  # not adding up to the charts' lengths
        "unknown point type": {"column_point_type": np.full_like(saved_arrays["column_point_type"], 7)},
        "no column": {"column_rule": None},
    }.items():
        arrays = {k: v for k, v in ({**saved_arrays, **altered}).items() if v is not None}
        np.savez(tmp_path / "altered.npz", **arrays)
        assert saved_charts(tmp_path / "altered.npz", VERSION) == {}, name


def test_the_saved_columns_are_the_charts(small_config: Config) -> None:
    memo = ChartMemo()
    charted(small_config, SERIES, memo)
    assert all(tuple(chart) == CHART_COLUMNS for chart in memo.charts.values())


def test_no_charts_saved_and_loaded(tmp_path: Path) -> None:
    ChartMemo().save(tmp_path / "empty.npz", VERSION)
    assert saved_charts(tmp_path / "empty.npz", VERSION) == {}
