"""The analysis of one cycle: one pure entry point, ``analyse_cycle``, and what it returns.

Daily totals in (``measures.daily_measures``), an ``AnalysisResult`` of DataFrames out:
comparisons → significance (with over-dispersion and the false discovery rate) → SPC per
series → peers → trajectories → ranked findings. ``store_rows`` and ``write_csvs`` turn the
result into the ``analysis_results`` rows and the analyst's CSVs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from compstat.analysis.baselines import analysis_start, comparison_table, history_starts
from compstat.analysis.chart_memo import ChartMemo
from compstat.analysis.measures import period_series
from compstat.analysis.peers import peer_plan, peer_table
from compstat.analysis.probe import FINDING_COLUMNS, rank_findings
from compstat.analysis.rare import METHOD_XMR, SPC_METHOD_COLUMNS, rare_analysis
from compstat.analysis.significance import dispersion_table, significance_table
from compstat.analysis.spc_series import chart_start, history_only, series_start, spc_table
from compstat.analysis.trajectory import target_plans, trajectory_table
from compstat.cells import write_csv
from compstat.config import Config, iter_units, target_unit_problems
from compstat.errors import ConfigError
from compstat.figures import TOTAL
from compstat.hierarchy import roll_up_marks, unit_levels
from compstat.periods import Period, Window
from compstat.schemas import ANALYSIS_FRAMES

CSV_FILES = {
    "probe": "analysis_findings.csv", "significance": "analysis_significance.csv", "spc": "analysis_spc.csv",
    "peers": "analysis_peers.csv", "trajectory": "analysis_trajectory.csv",
    "comparisons": "analysis_comparisons.csv", "rare": "analysis_rare.csv", "rare_events": "analysis_rare_events.csv",
}
FINDING_RESULT_COLUMNS = [*FINDING_COLUMNS, "level"]  # each finding's level: unit, division or organisation
SPC_SERIES_FIELDS = ["x", "y", "mean", "lpl", "upl", "point_type", "special_cause_rule", "rebase_group"]


@dataclass(frozen=True)
class AnalysisResult:
    """Everything the analysis found for one cycle; each frame's columns are named in its module.

    - ``comparisons``: per unit × measure × window, this span, one and two years back and the
      multi-year mean, as values and (counts) rates (``baselines.COMPARISON_COLUMNS``).
    - ``significance``: each count's rate-ratio test against last year and the baseline, with
      dispersion, q-value, label and small-numbers flag (``significance.SIGNIFICANCE_COLUMNS``).
    - ``spc``: the latest period of each unit × measure's chart, with the variation and
      assurance icons, how many periods the signal has run and the ``method`` that judged it:
      ``xmr``, or for a rare-event series ``t-chart`` or ``long window`` (``rare.SPC_METHOD_COLUMNS``;
      a rare series has no XmR limits and no assurance).
    - ``spc_points``: every point of every XmR chart, for drawing (``spc_series.SPC_POINT_COLUMNS``).
    - ``peers``: each unit against its similar units' average (``peers.PEER_COLUMNS``).
    - ``trajectory``: targets, projection, delivery rating and its rule (``trajectory.TRAJECTORY_COLUMNS``);
      ``trajectory_path``: planned and actual per period of the year (``trajectory.PATH_COLUMNS``).
    - ``rare``: each rare-event series' method, t-chart judgement and 12-month test (``rare.RARE_COLUMNS``);
      ``rare_points``: the t-charts' points (``rare.T_POINT_COLUMNS``); ``rare_events``: the
      factual list of rare series' counts (``rare.RARE_EVENT_COLUMNS``).
    - ``probe`` and ``recognition``: ranked concerns and improvements with plain-English
      reasons (``FINDING_RESULT_COLUMNS``: ``probe.FINDING_COLUMNS``, then ``level``: ``unit``,
      ``division`` or ``organisation``).
    - ``notes``: warnings about the settings (``check_settings``), e.g. units left without a
      peer comparison; not a frame.
    """

    comparisons: pd.DataFrame
    significance: pd.DataFrame
    spc: pd.DataFrame
    spc_points: pd.DataFrame
    peers: pd.DataFrame
    trajectory: pd.DataFrame
    trajectory_path: pd.DataFrame
    probe: pd.DataFrame
    recognition: pd.DataFrame
    rare: pd.DataFrame
    rare_points: pd.DataFrame
    rare_events: pd.DataFrame
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Every frame meets its schema (``compstat.schemas.ANALYSIS_FRAMES``) as it is produced."""
        for name, schema in ANALYSIS_FRAMES.items():
            schema.validate(getattr(self, name), "analysis.analyse")


def first_day_needed(config: Config, period: Period, windows: list[Window]) -> date:
    """The earliest day ``analyse_cycle`` reads: the SPC span and every comparison and baseline year."""
    return analysis_start(config, windows, series_start(config, period))


def analyse_cycle(daily: pd.DataFrame, config: Config, period: Period, windows: list[Window],
                  data_start: date | None = None, quality: pd.DataFrame | None = None,
                  charts: ChartMemo | None = None) -> AnalysisResult:
    """The whole analysis of ``period`` from daily totals read from ``first_day_needed`` onwards.

    ``data_start`` is the organisation's first record (default: the first day in ``daily``).
    ``quality`` is the quality step's comparison marks (``QualityResult.comparisons``): findings
    resting on a comparison marked not like-for-like or fragile are marked and down-weighted (a
    division's comparison is not like-for-like when one of its units' is, ``hierarchy.roll_up_marks``).
    Divisions are analysed as units are; ``probe`` and ``recognition`` say each finding's ``level``
    (``unit``, ``division``, ``organisation``). ``charts`` (``chart_memo.ChartMemo``) holds an earlier run's
    XmR charts: the charts of series whose inputs are unchanged are taken from it, and it keeps this run's.
    Raises ConfigError when the ``analysis`` settings name unknown units, measures or variables.
    """
    notes = tuple(check_settings(config))
    quality = roll_up_marks(quality, config)
    first_chart_day = chart_start(config, period)
    starts = history_starts(daily, data_start, first_day_needed(config, period, windows))
    comparisons = comparison_table(daily, config, windows, starts)
    reported = {m.id for m in config.reported_measures}
    first_read = series_start(config, period)
    series = period_series(daily, config, first_read, period.end)
    series = history_only(series[series["measure_id"].isin(reported)], starts)
    spc_series = series
    if first_read < first_chart_day:  # a baseline before the charted span: chart from it, then cut
        series = series[series["period_start"] >= pd.Timestamp(first_chart_day)]
    dispersion = dispersion_table(series, config)
    significance = significance_table(comparisons, dispersion, config)
    plans = target_plans(daily, config, period, starts)
    targets = {(str(u), str(m)): float(t) for u, m, t in plans[["unit_code", "measure_id", "period_target"]]
               .itertuples(index=False)}
    rare = rare_analysis(daily, series, comparisons, dispersion, config, period, starts)
    keys = pd.MultiIndex.from_frame(spc_series[["unit_code", "measure_id"]].astype(str))
    xmr_series = spc_series[~keys.isin(list(rare.keys))] if rare.keys else spc_series
    spc_points, spc_latest = spc_table(xmr_series, config, targets, first_chart_day, charts)
    parts = [frame for frame in (spc_latest.assign(method=METHOD_XMR), rare.spc_rows) if not frame.empty]
    spc_latest = pd.concat(parts, ignore_index=True)[SPC_METHOD_COLUMNS] if parts else pd.DataFrame(
        columns=SPC_METHOD_COLUMNS)
    spc_latest = spc_latest.sort_values(["unit_code", "measure_id"], kind="stable").reset_index(drop=True)
    peers = peer_table(comparisons, dispersion, config, quality)
    trajectory, path = trajectory_table(daily, series, comparisons, plans, spc_latest, dispersion, config, period)
    probe, recognition = rank_findings(significance, spc_latest, peers, trajectory, config, quality, rare.judgement)
    levels = unit_levels(config, TOTAL)
    probe, recognition = (f.assign(level=f["unit_code"].map(levels)) for f in (probe, recognition))
    return AnalysisResult(comparisons, significance, spc_latest, spc_points, peers, trajectory, path, probe,
                          recognition, rare.judgement, rare.points, rare.events, notes)


def check_settings(config: Config) -> list[str]:
    """The analysis settings' warnings (``peers.peer_plan``: comparisons or matching variables they drop).

    Raises ConfigError naming the key when ``analysis`` or a target refers to a unit or measure
    that does not exist.
    """
    settings = config.analysis
    leaves = {u.code for u in config.leaf_units}
    codes = {u.code for u in iter_units(config.units)}
    measures = {m.id for m in config.measures}
    problems = []
    seen: dict[str, str] = {}
    for name, members in settings.peer_groups.items():
        for code in members:
            if code not in leaves:
                problems.append(f"analysis.peer_groups.{name}: '{code}' is not an accountable unit")
            elif code in seen:
                problems.append(f"analysis.peer_groups.{name}: '{code}' is already in group '{seen[code]}'")
            seen.setdefault(code, name)
    problems += [f"analysis.measure_priority: unknown measure '{m}'" for m in settings.measure_priority
                 if m not in measures]
    for i, change in enumerate(settings.spc.rebase):
        problems += [f"analysis.spc.rebase.{i}.units: unknown unit '{c}'" for c in change.units if c not in codes]
        problems += [f"analysis.spc.rebase.{i}.measures: unknown measure '{m}'" for m in change.measures
                     if m not in measures]
    problems += [f"{'.'.join(map(str, loc))}: {message}" for loc, message in target_unit_problems(config)]
    if problems:
        raise ConfigError("invalid analysis settings\n  " + "\n  ".join(problems))
    return peer_plan(config).warnings


def _json_lines(frame: pd.DataFrame) -> list[str]:
    """One JSON object per row (NaN and ±inf as null, dates as ISO text)."""
    if frame.empty:
        return []
    clean = frame.replace([np.inf, -np.inf], np.nan)
    text = clean.to_json(orient="records", lines=True, date_format="iso", double_precision=10)
    return text.rstrip("\n").split("\n")


def _chart_series(result: AnalysisResult) -> dict[tuple[str, str], dict[str, list[Any]]]:
    """Each charted series' points as JSON values, column by column (``SPC_SERIES_FIELDS``), by (unit, measure):
    its XmR chart's (``spc_points``), else its t-chart's (``rare_points``). One ``to_json`` of every point (a
    national force: 6,000 series), not one per series; the values are those a series' own ``to_json`` gives."""
    spc, rare = result.spc_points, result.rare_points
    charted = set(zip(spc["unit_code"], spc["measure_id"], strict=True))
    rare = rare[[key not in charted for key in zip(rare["unit_code"], rare["measure_id"], strict=True)]]
    points = pd.concat([frame for frame in (spc, rare) if not frame.empty] or [spc], ignore_index=True)
    if points.empty:
        return {}
    values = json.loads(points.reindex(columns=SPC_SERIES_FIELDS).to_json(
        orient="values", date_format="iso", double_precision=10))
    charts: dict[tuple[str, str], dict[str, list[Any]]] = {}
    groups: dict[Any, Any] = points.groupby(["unit_code", "measure_id"], sort=False).indices
    for (unit, measure), rows in groups.items():
        chosen = [values[i] for i in rows]
        charts[(str(unit), str(measure))] = {field: [row[j] for row in chosen]
                                             for j, field in enumerate(SPC_SERIES_FIELDS)}
    return charts


def store_rows(result: AnalysisResult) -> pd.DataFrame:
    """The ``analysis_results`` rows: section, unit_code, measure_id, payload (JSON).

    One row per unit × measure for comparisons, significance, peers and trajectory (a JSON
    list over windows and comparisons), spc (the latest point plus the chart's series, as
    lists) and trajectory_path; one row per finding for probe and recognition (with its rank);
    one row per settings warning for notes (no unit or measure; payload ``{"note": ...}``).
    """
    parts = []
    for section in ("comparisons", "significance", "peers", "trajectory", "trajectory_path", "rare"):
        frame: pd.DataFrame = getattr(result, section)
        if frame.empty:
            continue
        lines = pd.Series(_json_lines(frame), index=frame.index)
        grouped = lines.groupby([frame["unit_code"], frame["measure_id"]], sort=True).agg(lambda s: f"[{','.join(s)}]")
        parts.append(grouped.rename("payload").reset_index().assign(section=section))
    if not result.spc.empty:
        charts = _chart_series(result)
        no_chart: dict[str, list[Any]] = {k: [] for k in SPC_SERIES_FIELDS}
        payloads = [json.dumps({**json.loads(line), "series": charts.get(key, no_chart)}, separators=(",", ":"))
                    for line, key in zip(_json_lines(result.spc), result.spc[["unit_code", "measure_id"]].itertuples(
                        index=False, name=None), strict=True)]
        parts.append(result.spc[["unit_code", "measure_id"]].assign(section="spc", payload=payloads))
    for section in ("probe", "recognition"):
        frame = getattr(result, section)
        if not frame.empty:
            parts.append(frame[["unit_code", "measure_id"]].assign(section=section, payload=_json_lines(frame)))
    if result.notes:
        parts.append(pd.DataFrame({"section": "notes", "unit_code": None, "measure_id": None,
                                   "payload": [json.dumps({"note": n}) for n in result.notes]}))
    if not parts:
        return pd.DataFrame(columns=["section", "unit_code", "measure_id", "payload"])
    return pd.concat(parts, ignore_index=True)[["section", "unit_code", "measure_id", "payload"]]


def write_csvs(result: AnalysisResult, out: Path, config: Config) -> list[Path]:
    """The analyst's CSVs (``CSV_FILES``), with unit and measure names; findings hold concerns then improvements."""
    names = {u.code: u.name for u in iter_units(config.units)} | {TOTAL: config.organisation.name}
    measures = {m.id: m.name for m in config.measures}
    frames: dict[str, pd.DataFrame] = {
        "probe": pd.concat([result.probe, result.recognition], ignore_index=True),
        "significance": result.significance, "spc": result.spc, "peers": result.peers,
        "trajectory": result.trajectory, "comparisons": result.comparisons, "rare": result.rare,
        "rare_events": result.rare_events,
    }
    written = []
    for section, frame in frames.items():
        if "unit_name" not in frame.columns:
            frame = frame.assign(unit_name=frame["unit_code"].map(names),
                                 measure_name=frame["measure_id"].map(measures))
        path = out / CSV_FILES[section]
        write_csv(frame, path, index=False, float_format="%.6g")
        written.append(path)
    return written


def result_fields() -> list[str]:
    """The names of ``AnalysisResult``'s frames, in order."""
    return [f.name for f in fields(AnalysisResult) if f.name != "notes"]

