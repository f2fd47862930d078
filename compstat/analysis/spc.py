"""Statistical process control: NHS England's "Making Data Count" XmR method.

A port of NHSRplotthedots (``ptd_spc``), checked against its published results
(``tests/test_spc.py``). Limits per rebase group: mean ± 2.66 × mean moving range, with
moving ranges ≥ 3.267 × their mean screened out first. Rules, in precedence order: outside
the limits, a run of 7 rising or falling, 2 of 3 close to a limit on one side, 7 on one side.
As in R, "close" means between two thirds of the way to a limit and the limit: a point
beyond a limit does not count towards 2 of 3.

Missing values (NaN in ``y``) are kept as rows but carry no signal: they are left out of
the mean, the moving ranges either side of them are dropped (a gap never bridges two
points into one moving range, as in R's ``abs(diff(y))``), and the rules run over the
observed points in order, so a run continues across a gap. Where this port departs from
NHSRplotthedots, it is where R fails or gives NaN limits; see ``spc``.

**Which points set the limits.** Each rebase group (the points from one change point to the
next) gets its own limits. Within a group they come from, in this order of precedence:

1. the baseline period (``baseline_start`` to ``baseline_end``, either end open), when the
   group holds observed points dated in it: the limits of those points are used for every
   point of the group, before and after the baseline;
2. else the group's first ``fix_after`` points (NHSRplotthedots' ``fix_after_n_points``);
3. else all its points.

So the baseline wins over ``fix_after``, and a change point always wins over both: a change
after the baseline starts a group whose limits come from its own points.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Literal

import numpy as np
import numpy.typing as npt
import pandas as pd

Improvement = Literal["increase", "decrease", "neutral"]
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int8]
BoolArray = npt.NDArray[np.bool_]

LIMIT = 2.66
CLOSE_LIMIT = 2 * (LIMIT / 3)  # same expression as R, so the same float
SCREEN = 3.267
SHORT_GROUP = 12

COMMON_CAUSE = "common_cause"
IMPROVEMENT = "special_cause_improvement"
CONCERN = "special_cause_concern"
NEUTRAL_HIGH = "neutral_high"
NEUTRAL_LOW = "neutral_low"
POINT_TYPES = (COMMON_CAUSE, IMPROVEMENT, CONCERN, NEUTRAL_HIGH, NEUTRAL_LOW)
RULES = ("outside_limits", "trend", "two_in_three", "shift")

CONSISTENTLY_PASSING = "consistently_passing"
CONSISTENTLY_FAILING = "consistently_failing"
INCONSISTENT = "inconsistent"

SPC_COLUMNS = [
    "x", "y", "rebase_group", "short_group_warning", "mean", "lpl", "upl", "outside_limits",
    "relative_to_mean", "close_to_limits", "special_cause_flag", "special_cause_rule", "point_type", "target",
]
_DIRECTION = {"increase": 1, "decrease": -1, "neutral": 0}
CHART_COLUMNS = (  # ``chart_columns``' arrays
    "rebase_group", "short_group_warning", "mean", "lpl", "upl", "outside_limits", "relative_to_mean",
    "close_to_limits", "special_cause_flag", "rule", "point_type", "target",
)


@dataclass(frozen=True)
class SpcOptions:
    """How to compute a chart; the defaults are NHSRplotthedots' except ``improvement``."""

    improvement: Improvement = "neutral"
    target: float | None = None
    rebase: tuple[pd.Timestamp | date, ...] = ()  # change points: limits recomputed from each onward
    fix_after: int | None = None  # limits from the first n rows of each rebase group, then held
    baseline_start: pd.Timestamp | date | None = None  # limits from the points in these dates (inclusive)
    baseline_end: pd.Timestamp | date | None = None
    screen_outliers: bool = True  # drop moving ranges ≥ 3.267 × their mean before setting limits
    trend_length: int = 7
    shift_length: int = 7

    def __post_init__(self) -> None:
        if self.improvement not in _DIRECTION:
            raise ValueError(f"improvement must be increase, decrease or neutral, not {self.improvement!r}")
        if self.fix_after is not None and self.fix_after < 2:
            raise ValueError(f"fix_after must be at least 2 (one moving range), not {self.fix_after}")
        if self.trend_length < 2 or self.shift_length < 2:
            raise ValueError("trend_length and shift_length must be at least 2")
        if (self.baseline_start is not None and self.baseline_end is not None
                and pd.Timestamp(self.baseline_start) > pd.Timestamp(self.baseline_end)):
            raise ValueError(f"the baseline starts ({self.baseline_start}) after it ends ({self.baseline_end})")

    @property
    def has_baseline(self) -> bool:
        return self.baseline_start is not None or self.baseline_end is not None


# --- the rules, on one rebase group's observed points (vectors as NHSRplotthedots tests them) ---


def _trailing_sum(a: npt.NDArray[np.bool_] | IntArray, window: int) -> npt.NDArray[np.int64]:
    """Sum of ``a[i - window + 1 : i + 1]`` at each i (fewer terms at the start)."""
    total = np.cumsum(a, dtype=np.int64)
    out = total.copy()
    out[window:] -= total[:-window]
    return out


def part_of_run(flags: npt.ArrayLike, n: int) -> BoolArray:
    """True where a flag is set at this point or one of the next ``n - 1``: every point of a run
    flagged at its last point (R's ``ptd_part_of_seven_trend``)."""
    hit = np.asarray(flags) != 0
    return _trailing_sum(hit[::-1], n)[::-1] > 0


def shift_flags(relative_to_mean: npt.ArrayLike, n: int = 7) -> IntArray:
    """1 at a point that ends ``n`` in a row on one side of the mean (0 = on the mean breaks a
    run), else 0 (R's ``ptd_seven_point_one_side_mean``)."""
    side = np.asarray(relative_to_mean, dtype=float)
    same = np.zeros(side.shape, dtype=bool)
    same[1:] = side[1:] == side[:-1]
    flags: IntArray = ((_trailing_sum(same, n - 1) == n - 1) & (side != 0) & ~np.isnan(side)).astype(np.int8)
    return flags


def trend_flags(y: npt.ArrayLike, n: int = 7) -> IntArray:
    """1 (increasing) or -1 (decreasing) at a point that ends ``n`` points each strictly above
    (below) the one before, else 0; a tie breaks a trend (R's ``ptd_seven_point_trend``)."""
    values = np.asarray(y, dtype=float)
    step = np.zeros(values.shape, dtype=np.int8)
    step[1:] = np.sign(np.diff(values))
    up = _trailing_sum(step == 1, n - 1) == n - 1
    down = _trailing_sum(step == -1, n - 1) == n - 1
    flags: IntArray = up.astype(np.int8) - down.astype(np.int8)
    return flags


def two_in_three_flags(close_to_limits: npt.ArrayLike, relative_to_mean: npt.ArrayLike) -> IntArray:
    """1 at every point of a window of 3 consecutive points with at least 2 close to a limit and
    all 3 on the same side of the mean, else 0 (R's ``ptd_two_in_three``)."""
    close = np.asarray(close_to_limits, dtype=bool)
    side = np.nan_to_num(np.asarray(relative_to_mean, dtype=float)).astype(np.int8)
    # a window is judged at its last point; windows running off either end can never hold 3 sides
    window_ok = (_trailing_sum(close, 3) >= 2) & (np.abs(_trailing_sum(side, 3)) == 3)
    return part_of_run(window_ok, 3).astype(np.int8)


def _special_cause(y: FloatArray, side: FloatArray, close: BoolArray, outside: BoolArray,
                   options: SpcOptions) -> tuple[npt.NDArray[np.int8], IntArray]:
    """Per observed point: the rule that fired (index into RULES + 1, 0 = none) and its direction.

    As NHSRplotthedots' ``ptd_special_cause_type``: a trend's direction is the trend's, not the
    side of the mean, so a rising run below the mean is an improvement when higher is better.
    """
    trend = part_of_run(trend_flags(y, options.trend_length), options.trend_length)
    two = (two_in_three_flags(close, side) == 1) & close
    shift = part_of_run(shift_flags(side, options.shift_length), options.shift_length)
    rule = np.select([outside, trend, two, shift], [1, 2, 3, 4], 0).astype(np.int8)
    above = np.where(side > 0, 1, -1).astype(np.int8)
    direction = np.where(rule > 0, above, 0).astype(np.int8)
    if trend.any():
        # a point inside a trend takes the step to its right, the trend's last point the step to its left
        step = np.sign(np.diff(y)).astype(np.int8)
        right = np.append(step, step[-1:])
        left = np.insert(step, 0, 0)
        next_in_trend = np.append(trend[1:], False)
        trend_dir = np.where(np.where(next_in_trend & trend, right, left) == 1, 1, -1)
        direction = np.where(rule == 2, trend_dir, direction).astype(np.int8)
    return rule, direction


# --- limits and the chart's columns ---


def _rebase_groups(x: pd.Series, rebase: tuple[pd.Timestamp | date, ...]) -> npt.NDArray[np.int64]:
    """Number of change points on or before each x; change points before the first x are ignored."""
    if not rebase or x.empty:
        return np.zeros(len(x), dtype=np.int64)
    xs = (x if isinstance(x.dtype, np.dtype) and x.dtype.kind == "M" else pd.to_datetime(x)).to_numpy()
    changes = np.sort(np.array([pd.Timestamp(change).to_datetime64() for change in rebase]))
    changes = changes[changes >= xs[0]]
    return np.searchsorted(changes, xs, side="right").astype(np.int64)


def in_baseline(x: pd.Series, options: SpcOptions) -> BoolArray:
    """Whether each x lies in the options' baseline period (all False without one).

    Raises ValueError when a baseline is set and x are not dates."""
    if not options.has_baseline:
        return np.zeros(len(x), dtype=bool)
    if pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x):
        raise ValueError("a baseline period needs dates in x")
    xs = pd.to_datetime(x).to_numpy()
    inside = np.ones(len(x), dtype=bool)
    if options.baseline_start is not None:
        inside &= xs >= pd.Timestamp(options.baseline_start).to_datetime64()
    if options.baseline_end is not None:
        inside &= xs <= pd.Timestamp(options.baseline_end).to_datetime64()
    return inside


def _group_limits(y: FloatArray, options: SpcOptions, baseline: BoolArray | None = None) -> tuple[float, float]:
    """Mean and mean moving range of one rebase group's baseline (NaN where undefined): its points in
    ``baseline`` if any is observed, else its first ``fix_after`` points, else all of them."""
    if baseline is not None and (baseline & ~np.isnan(y)).any():
        base = y[baseline]
    else:
        base = y[: options.fix_after] if options.fix_after is not None else y
    observed = base[~np.isnan(base)]
    mean = float(observed.mean()) if observed.size else np.nan
    ranges = np.abs(np.diff(base))
    ranges = ranges[~np.isnan(ranges)]
    if not ranges.size:
        return mean, np.nan
    amr = float(ranges.mean())
    if options.screen_outliers and amr > 0:
        amr = float(ranges[ranges < SCREEN * amr].mean())
    return mean, amr


def spc(frame: pd.DataFrame, x: str = "x", y: str = "y", options: SpcOptions | None = None) -> pd.DataFrame:
    """An XmR chart per point, sorted by x: x, y, rebase_group, short_group_warning (fewer than 12
    observed points in the group), mean, lpl, upl, outside_limits, relative_to_mean,
    close_to_limits, special_cause_flag, special_cause_rule (one of RULES; missing for common cause),
    point_type (one of POINT_TYPES; missing where y is), target. Text columns have pandas' str dtype.

    Differences from NHSRplotthedots, all where R errors or gives NaN: missing y (see the
    module docstring); a constant group (mean moving range 0) gets limits equal to the mean,
    where R screens every range out and gives NaN; a rebase date between two points starts
    the new group at the next point (R ignores it). Neutral points are ``neutral_high`` /
    ``neutral_low`` (R: ``special_cause_neutral_high`` / ``_low``). Duplicate x values raise
    ValueError, as in R.
    """
    options = options or SpcOptions()
    xs = frame[x]
    if not xs.is_monotonic_increasing:
        order = np.argsort(xs.to_numpy(), kind="stable")
        xs = xs.iloc[order]
        values = frame[y].to_numpy(dtype=float, na_value=np.nan)[order]
    else:
        values = frame[y].to_numpy(dtype=float, na_value=np.nan)
    if not xs.is_unique:
        raise ValueError(f"duplicate values in {x!r}: an SPC chart needs one value per period")
    columns = chart_columns(xs.reset_index(drop=True), values, options)
    rule = columns.pop("rule")
    return pd.DataFrame({
        "x": xs.reset_index(drop=True), "y": values, **columns,
        "special_cause_rule": pd.Series(RULE_NAMES[rule], dtype="str"),
        "point_type": pd.Series(columns["point_type"], dtype="str"),
    }, columns=SPC_COLUMNS)


RULE_NAMES = np.array([None, *RULES], dtype=object)  # index: a chart's ``rule`` code (0 = none)


def chart_columns(xs: pd.Series, values: FloatArray, options: SpcOptions) -> dict[str, npt.NDArray[np.generic]]:
    """``spc``'s columns as arrays, for ``values`` at ``xs`` (sorted, unique): as ``spc`` but for ``x`` and
    ``y``, and with ``rule`` (the rule's index in RULES + 1, 0 = none) in place of ``special_cause_rule``, and
    ``point_type`` an object array (None or NaN where y is missing). Charting thousands of series,
    ``spc_series.spc_table`` calls this, skipping a DataFrame per series."""
    n = len(values)
    group = _rebase_groups(xs, options.rebase)
    baseline = in_baseline(xs, options)
    mean, lpl, upl = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    short = np.zeros(n, dtype=bool)
    outside, close = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    side = np.full(n, np.nan)
    rule = np.zeros(n, dtype=np.int8)
    direction = np.zeros(n, dtype=np.int8)
    starts = np.flatnonzero(np.diff(group, prepend=-1))
    for start, stop in zip(starts, [*starts[1:], n], strict=False):
        part = values[start:stop]
        centre, amr = _group_limits(part, options, baseline[start:stop])
        low, high = centre - LIMIT * amr, centre + LIMIT * amr
        mean[start:stop], lpl[start:stop], upl[start:stop] = centre, low, high
        observed = np.flatnonzero(~np.isnan(part))
        short[start:stop] = observed.size < SHORT_GROUP
        if not observed.size:
            continue
        yo = part[observed]
        out_o = (yo > high) | (yo < low)
        close_o = ~out_o & ((yo < centre - CLOSE_LIMIT * amr) | (yo > centre + CLOSE_LIMIT * amr))
        side_o = np.sign(yo - centre)
        rule_o, dir_o = _special_cause(yo, side_o, close_o, out_o, options)
        at = start + observed
        outside[at], close[at], side[at], rule[at], direction[at] = out_o, close_o, side_o, rule_o, dir_o
    return {
        "rebase_group": group, "short_group_warning": short, "mean": mean, "lpl": lpl, "upl": upl,
        "outside_limits": outside, "relative_to_mean": side, "close_to_limits": close,
        "special_cause_flag": rule > 0, "rule": rule,
        "point_type": _point_types(rule, direction, np.isnan(values), _DIRECTION[options.improvement]),
        "target": np.full(n, np.nan if options.target is None else float(options.target)),
    }


def _point_types(rule: IntArray, direction: IntArray, missing: BoolArray,
                 improvement: int) -> npt.NDArray[np.object_]:
    if improvement == 0:
        kinds = np.where(direction > 0, NEUTRAL_HIGH, NEUTRAL_LOW)
    else:
        kinds = np.where(direction * improvement > 0, IMPROVEMENT, CONCERN)
    types = np.where(rule > 0, kinds, COMMON_CAUSE).astype(object)
    types[missing] = None
    return types


def assurance(result: pd.DataFrame, options: SpcOptions) -> str | None:
    """Whether the last point's limits meet ``options.target``: consistently_passing,
    consistently_failing or inconsistent (hit and miss). None without a target, with a neutral
    improvement direction (as R) or without limits (R says inconsistent there)."""
    if result.empty:
        return None
    return assurance_of(float(result["lpl"].iloc[-1]), float(result["upl"].iloc[-1]), options)


def assurance_of(lpl: float, upl: float, options: SpcOptions) -> str | None:
    """``assurance`` from the last point's limits."""
    if options.target is None or options.improvement == "neutral" or np.isnan(lpl) or np.isnan(upl):
        return None
    higher_is_better = options.improvement == "increase"
    if options.target > upl:
        return CONSISTENTLY_FAILING if higher_is_better else CONSISTENTLY_PASSING
    if options.target < lpl:
        return CONSISTENTLY_PASSING if higher_is_better else CONSISTENTLY_FAILING
    return INCONSISTENT


def variation(result: pd.DataFrame) -> str | None:
    """The variation icon: the point_type of the latest observed point (None if there is none)."""
    return variation_of(result["point_type"].to_numpy(dtype=object))


def variation_of(point_types: npt.NDArray[np.generic]) -> str | None:
    """``variation`` from a chart's point types (None or NaN where y is missing)."""
    observed = point_types[~pd.isna(point_types)]
    return None if not observed.size else str(observed[-1])
