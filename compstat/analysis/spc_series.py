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
import pandas as pd

from compstat.analysis.baselines import HistoryStarts
from compstat.analysis.spc import COMMON_CAUSE, SPC_COLUMNS, Improvement, SpcOptions, assurance, spc, variation
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
    types = points["point_type"].dropna().to_numpy(dtype=object)
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
              first_charted: date | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """XmR charts for every unit × reported measure in ``series`` (``measures.period_series`` output,
    history-only).

    Returns (points, latest): every point with ``SPC_POINT_COLUMNS`` (leading periods without
    history dropped, and periods before ``first_charted`` when given: read only for the
    baseline), and per unit × measure the latest period (``SPC_LATEST_COLUMNS``), where
    ``variation`` is the latest observed point's type, ``periods_running`` how many periods in
    a row it has held (0 for common cause), and ``assurance`` the target's icon (None without).
    """
    targets = targets or {}
    reported = {m.id for m in config.reported_measures}
    frame = series[series["measure_id"].isin(reported)].sort_values(["unit_code", "measure_id", "period_start"])
    points, latest = [], []
    keys: list[tuple[str, str, int]] = []
    for (unit, measure_id), group in frame.groupby(["unit_code", "measure_id"], sort=True):
        observed = np.flatnonzero(group["value"].notna().to_numpy())
        if not observed.size:
            continue
        group = group.iloc[observed[0]:]
        options = spc_options(config, str(unit), str(measure_id), targets.get((str(unit), str(measure_id))))
        full = spc(group, x="period_start", y="value", options=options)
        chart = full
        if first_charted is not None and full["x"].iloc[0] < pd.Timestamp(first_charted):
            chart = full[full["x"] >= pd.Timestamp(first_charted)].reset_index(drop=True)
        if chart.empty:
            continue
        points.append(chart)
        keys.append((str(unit), str(measure_id), len(chart)))
        last = chart.iloc[-1]
        latest.append({
            "unit_code": unit, "measure_id": measure_id, "x": last["x"], "y": last["y"], "mean": last["mean"],
            "lpl": last["lpl"], "upl": last["upl"], "special_cause_rule": last["special_cause_rule"],
            "point_type": last["point_type"], "variation": variation(chart),
            "periods_running": periods_running(full), "assurance": assurance(chart, options),
            "target": options.target if options.target is not None else np.nan,
            "improvement": options.improvement, "n_points": int(chart["y"].notna().sum()),
            "short_group_warning": bool(last["short_group_warning"]),
            "change_points": ",".join(ts.date().isoformat() for ts in options.rebase),  # type: ignore[union-attr]
        })
    if points:
        point_frame = pd.concat(points, ignore_index=True)
        lengths = [n for _, _, n in keys]
        point_frame["unit_code"] = np.repeat([u for u, _, _ in keys], lengths)
        point_frame["measure_id"] = np.repeat([m for _, m, _ in keys], lengths)
        point_frame = point_frame[SPC_POINT_COLUMNS]
    else:
        point_frame = pd.DataFrame(columns=SPC_POINT_COLUMNS)
    return point_frame, pd.DataFrame(latest, columns=SPC_LATEST_COLUMNS)


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
