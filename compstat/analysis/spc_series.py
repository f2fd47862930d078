"""Making Data Count XmR charts on every unit × measure's weekly (or monthly) series.

Each series runs through ``spc.spc`` with the measure's polarity as the improvement direction
(lower → decrease, higher → increase, neutral → neutral), the per-period target if the measure
has one (for the assurance icon), and ``analysis.spc``'s options: the span charted
(``periods``), ``fix_after``, the ``baseline`` period, the declared change points (``rebase``,
for all units and measures or only those listed), ``trend_length``, ``shift_length`` and
``screen_outliers``. A baseline that starts before the charted span is read too: the chart is
computed from the baseline's first period and then cut to the span, so its limits (and any
run that began before the span) are the same as on the longer chart. The baseline holds the
periods that hold its start and end dates and every period between.
Periods before a unit's history starts are left out, so a unit with one year of data gets a
chart of that year; weeks without records inside the history are zero counts.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import numpy.typing as npt
import pandas as pd

from compstat.analysis.baselines import HistoryStarts
from compstat.analysis.chart_memo import ChartMemo
from compstat.analysis.measures import key_runs
from compstat.analysis.spc import (
    COMMON_CAUSE,
    RULE_NAMES,
    SPC_COLUMNS,
    FloatArray,
    Improvement,
    SpcOptions,
    assurance_of,
    variation_of,
)
from compstat.config import Config
from compstat.errors import UsageError
from compstat.ingest.dates import parse_dates
from compstat.periods import Period, period_containing, recent_periods

IMPROVEMENT_FOR_POLARITY: dict[str, Improvement] = {"lower": "decrease", "higher": "increase", "neutral": "neutral"}
DEFAULT_SPC_PERIODS = {"weekly": 104, "monthly": 36}
SPC_POINT_COLUMNS = ["unit_code", "measure_id", *SPC_COLUMNS]
SPC_LATEST_COLUMNS = [
    "unit_code", "measure_id", "x", "y", "mean", "lpl", "upl", "special_cause_rule", "point_type", "variation",
    "periods_running", "assurance", "target", "improvement", "n_points", "short_group_warning", "change_points",
]


def spc_periods(config: Config) -> int:
    """How many periods each chart covers."""
    return config.analysis.spc.periods or DEFAULT_SPC_PERIODS[config.cadence.period]


def chart_start(config: Config, period: Period) -> date:
    """The first day of the charted span (``spc_periods`` periods ending with ``period``)."""
    return recent_periods(period, config.cadence, spc_periods(config))[0].start


def series_start(config: Config, period: Period) -> date:
    """The first day the charts read: the charted span, or the baseline's first period if earlier."""
    first = chart_start(config, period)
    baseline = config.analysis.spc.baseline
    if baseline is not None and baseline.start is not None:
        first = min(first, period_containing(baseline.start, config.cadence).start)
    return first


def spc_options(config: Config, unit_code: str, measure_id: str, target: float | None = None) -> SpcOptions:
    """The SPC options for one unit × measure from the config."""
    settings = config.analysis.spc
    rebase = tuple(sorted(pd.Timestamp(c.date) for c in settings.rebase
                          if (not c.units or unit_code in c.units) and (not c.measures or measure_id in c.measures)))
    target_value = None if target is None or np.isnan(target) else float(target)
    baseline = settings.baseline
    return SpcOptions(improvement=IMPROVEMENT_FOR_POLARITY[config.measure(measure_id).polarity],
                      target=target_value, rebase=rebase, fix_after=settings.fix_after,
                      baseline_start=period_containing(baseline.start, config.cadence).start
                      if baseline and baseline.start else None,
                      baseline_end=baseline.end if baseline else None,
                      screen_outliers=settings.screen_outliers, trend_length=settings.trend_length,
                      shift_length=settings.shift_length)


def periods_running(points: pd.DataFrame) -> int:
    """How many of the latest observed points in a row share the latest point's special-cause type (0 if common)."""
    return running(points["point_type"].to_numpy(dtype=object))


def running(point_types: npt.NDArray[np.generic]) -> int:
    """``periods_running`` from a chart's point types (None or NaN where y is missing)."""
    types = point_types[~pd.isna(point_types)]
    if not types.size or types[-1] == COMMON_CAUSE:
        return 0
    differs = np.flatnonzero(types[::-1] != types[-1])
    return int(differs[0]) if differs.size else int(types.size)


def history_only(series: pd.DataFrame, history: HistoryStarts) -> pd.DataFrame:
    """``series`` with values before each series' history (``baselines.HistoryStarts``) set to NaN (a partial
    first period too)."""
    starts = history.for_rows(series["unit_code"], series["measure_id"])
    before = ~(series["period_start"] >= starts)
    return series.assign(value=series["value"].mask(before))


def spc_table(series: pd.DataFrame, config: Config, targets: dict[tuple[str, str], float] | None = None,
              first_charted: date | None = None, memo: ChartMemo | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """XmR charts for every unit × reported measure in ``series`` (``measures.period_series`` output,
    history-only).

    Returns (points, latest): every point with ``SPC_POINT_COLUMNS`` (leading periods without
    history dropped, and periods before ``first_charted`` when given: read only for the
    baseline), and per unit × measure the latest period (``SPC_LATEST_COLUMNS``), where
    ``variation`` is the latest observed point's type, ``periods_running`` how many periods in
    a row it has held (0 for common cause), and ``assurance`` the target's icon (None without).
    ``memo`` (``chart_memo.ChartMemo``) hands back an earlier run's chart of a series whose inputs are the same.
    """
    targets = targets or {}
    memo = memo if memo is not None else ChartMemo()
    reported = {m.id for m in config.reported_measures}
    frame = series[series["measure_id"].isin(reported)].sort_values(["unit_code", "measure_id", "period_start"])
    units = frame["unit_code"].to_numpy(dtype=object)
    measures = frame["measure_id"].to_numpy(dtype=object)
    xs = frame["period_start"].to_numpy()
    values = frame["value"].to_numpy(dtype=float, na_value=np.nan)
    first_x = np.datetime64(pd.Timestamp(first_charted)) if first_charted is not None else None
    charts: list[tuple[str, str, slice, dict[str, npt.NDArray[np.generic]]]] = []
    latest = []
    for start, stop in key_runs(units, measures):
        observed = np.flatnonzero(~np.isnan(values[start:stop]))
        if not observed.size:
            continue
        unit, measure_id = str(units[start]), str(measures[start])
        start += int(observed[0])
        options = spc_options(config, unit, measure_id, targets.get((unit, measure_id)))
        full = memo.chart(xs[start:stop], values[start:stop], options)
        cut = int(np.searchsorted(xs[start:stop], first_x)) if first_x is not None else 0
        if cut == stop - start:
            continue
        chart = {name: column[cut:] for name, column in full.items()}
        charts.append((unit, measure_id, slice(start + cut, stop), chart))
        rule, types = int(chart["rule"][-1]), chart["point_type"]
        latest.append({
            "unit_code": unit, "measure_id": measure_id, "x": pd.Timestamp(xs[stop - 1]), "y": values[stop - 1],
            "mean": chart["mean"][-1], "lpl": chart["lpl"][-1], "upl": chart["upl"][-1],
            "special_cause_rule": RULE_NAMES[rule], "point_type": types[-1], "variation": variation_of(types),
            "periods_running": running(full["point_type"]),
            "assurance": assurance_of(float(chart["lpl"][-1]), float(chart["upl"][-1]), options),
            "target": options.target if options.target is not None else np.nan,
            "improvement": options.improvement, "n_points": int((~np.isnan(values[start + cut:stop])).sum()),
            "short_group_warning": bool(chart["short_group_warning"][-1]),
            "change_points": ",".join(ts.date().isoformat() for ts in options.rebase),  # type: ignore[union-attr]
        })
    return _point_frame(charts, xs, values), pd.DataFrame(latest, columns=SPC_LATEST_COLUMNS)


def _point_frame(charts: list[tuple[str, str, slice, dict[str, npt.NDArray[np.generic]]]], xs: npt.NDArray[np.generic],
                 values: FloatArray) -> pd.DataFrame:
    """Every chart's points (``SPC_POINT_COLUMNS``) in one frame: ``chart_columns`` of each series, at the
    rows ``xs`` and ``values`` hold them."""
    if not charts:
        return pd.DataFrame(columns=SPC_POINT_COLUMNS)
    lengths = [rows.stop - rows.start for _, _, rows, _ in charts]
    picked = np.concatenate([np.arange(rows.start, rows.stop) for _, _, rows, _ in charts])

    def joined(name: str) -> npt.NDArray[np.generic]:
        return np.concatenate([chart[name] for _, _, _, chart in charts])

    rule = joined("rule")
    columns = {name: joined(name) for name in SPC_COLUMNS if name not in ("x", "y", "special_cause_rule",
                                                                            "point_type")}
    return pd.DataFrame({
        "unit_code": pd.Series(np.repeat([u for u, _, _, _ in charts], lengths), dtype="str"),
        "measure_id": pd.Series(np.repeat([m for _, m, _, _ in charts], lengths), dtype="str"),
        "x": xs[picked], "y": values[picked], **columns,
        "special_cause_rule": pd.Series(RULE_NAMES[rule], dtype="str"),
        "point_type": pd.Series(joined("point_type"), dtype="str"),
    }, columns=SPC_POINT_COLUMNS)


def spc_input(frame: pd.DataFrame, x: str, y: str) -> pd.DataFrame:
    """A chart's input from text columns (as read from a CSV): ``x`` as numbers or dates, ``y`` as
    numbers (blank or NA: a missing point). Raises UsageError naming the column and the CSV line
    for a missing column, an unparseable or infinite value or a repeated ``x``."""
    for column in (x, y):
        if column not in frame.columns:
            raise UsageError(f"no column '{column}' (the columns are: {', '.join(map(str, frame.columns))})")
    xs = frame[x].astype(str).str.strip().reset_index(drop=True)
    ys = frame[y].astype(str).str.strip().reset_index(drop=True)
    numbers = pd.to_numeric(xs, errors="coerce")
    if numbers.notna().all():
        x_values: pd.Series = numbers
    else:
        x_values = parse_dates(xs, None, None, "UTC")  # never a guessed day and month order
        unread = xs[x_values.isna()]
        if len(unread):  # ambiguous (read both ways) is named as such; anything else is not a date
            either = (parse_dates(unread, None, "day_first", "UTC").notna()
                      & parse_dates(unread, None, "month_first", "UTC").notna()).reindex(xs.index, fill_value=False)
            _check_parsed(xs, either, x, "a date in one order only (day and month could be either way round: "
                          "write dates as YYYY-MM-DD)")
            _check_parsed(xs, x_values.isna(), x, "a date or a number")
    y_values = pd.to_numeric(ys, errors="coerce").astype(float)
    _check_parsed(ys, y_values.isna() & ~ys.isin(["", "NA", "NaN", "nan"]), y, "a number")
    _check_parsed(ys, pd.Series(np.isinf(y_values)), y, "a finite number")
    repeated = np.flatnonzero(x_values.duplicated().to_numpy())
    if repeated.size:
        row = int(repeated[0])
        raise UsageError(f"column '{x}' line {row + 2}: '{xs.iloc[row]}' appears twice; "
                         "a chart needs one value per period")
    return pd.DataFrame({"x": x_values, "y": y_values})


def _check_parsed(text: pd.Series, bad: pd.Series, column: str, expected: str) -> None:
    rows = np.flatnonzero(bad.to_numpy(dtype=bool))
    if rows.size:
        row = int(rows[0])
        raise UsageError(f"column '{column}' line {row + 2}: '{text.iloc[row]}' is not {expected}")
