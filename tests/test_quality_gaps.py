"""Collection gaps recorded as zeros (issue #10): runs of zeros a series' own rate cannot explain, many units
dropping to zero together, a unit's history starting with zeros and a series that stops before the period;
their findings, severity and marks, and the marks explained in the unit's pack."""

from __future__ import annotations

import math
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pypdf import PdfReader

from compstat.analysis.baselines import unit_history_start
from compstat.config import Config, load_config
from compstat.cycle import CycleOutcome, run_cycle
from compstat.errors import BlockedError
from compstat.figures import daily_measures
from compstat.periods import parse_period
from compstat.quality import assess, gate
from compstat.quality.checks import Completeness, Structure
from compstat.quality.checks.completeness import VOLUME, completeness_gaps
from compstat.quality.checks.gaps import zero_runs
from compstat.quality.context import QualityContext, first_day_needed, first_figures
from tests.test_quality_checks import context, drop, records, with_config

UNITS = ["P1", "P2", "P3", "P4", "P5", "P6"]
RATES = {"burglary": 8.0, "robbery": 4.0, "assault": 6.0, "murder": 0.05}  # a week, per unit
GAPS_CONFIG = """\
organisation: {name: Gapford Police, slug: gapford}
store: sqlite:///unused.db
cadence: {period: weekly, week_start: monday, year_start_month: 1, meeting_lag_days: 2}
small_number: 10
units:
  - code: B1
    name: Borough One
    children:
""" + "".join(f"      - {{code: {u}, name: Precinct {u[1]}, commander: Capt {u}, population: 50000}}\n"
              for u in UNITS) + """\
measures:
  - {id: burglary, name: Burglary, filter: {category: burglary}}
  - {id: robbery, name: Robbery, filter: {category: robbery}}
  - {id: assault, name: Felony assault, filter: {category: assault}}
  - {id: murder, name: Murder, filter: {category: murder}}
sources:
  - name: weekly_counts
    path: weekly.csv
    columns: {unit: precinct, date: week, category: offence, value: count}
"""


@pytest.fixture
def gaps_config(tmp_path: Path) -> Config:
    path = tmp_path / "gapford.yaml"
    path.write_text(GAPS_CONFIG, encoding="utf-8")
    return load_config(path)


def weekly(start: str = "2023-01-02", end: str = "2026-10-04", seed: int = 10) -> pd.DataFrame:
    """Pre-aggregated weekly counts: one row per precinct, offence and week (dated its Monday), zeros
    included, Poisson at ``RATES``."""
    rng = np.random.default_rng(seed)
    weeks = pd.date_range(start, end, freq="W-MON")
    rows = [(u, week, offence, float(rng.poisson(rate))) for u in UNITS for offence, rate in RATES.items()
            for week in weeks]
    return pd.DataFrame(rows, columns=["unit_code", "date", "category", "value"]).assign(subcategory="")


def zeroed(rows: pd.DataFrame, first: str, last: str, units: list[str] | None = None,
           offences: list[str] | None = None) -> pd.DataFrame:
    """The rows with their counts set to 0 between two dates (a collection gap recorded as zeros)."""
    mask = rows["date"].between(pd.Timestamp(first), pd.Timestamp(last))
    if units:
        mask &= rows["unit_code"].isin(units)
    if offences:
        mask &= rows["category"].isin(offences)
    return rows.assign(value=rows["value"].where(~mask, 0.0))


def loaded(config: Config, rows: pd.DataFrame, period: str) -> QualityContext:
    """The quality context as the loader reads it: rows from the first day any check needs."""
    first = first_day_needed(config, parse_period(period, config.cadence))
    seen = first_figures(rows.rename(columns={"value": "total"}), first)  # the store holds the earlier rows
    return context(config, rows[rows["date"] >= pd.Timestamp(first)], period=period, first_seen=seen)


def chance_by_hand(k: int, events: float, periods: int) -> float:
    """P(k zero periods) for Poisson counts with ``events`` in ``periods`` before: (n / (n + k))^s."""
    return float((periods / (periods + k)) ** events)


def test_zero_runs_chance_is_the_predictive_poisson_one() -> None:
    """Worked by hand: steady 10 a week (φ = 1) with 3 zero weeks is a gap, (12/15)^120 = 2.5e-12; a rare
    series (2 events in the 12 weeks either side) with 12 zero weeks is not, (12/24)^2 = 0.25."""
    busy = np.array([[10.0] * 12 + [0.0] * 3 + [10.0] * 12])
    rare = np.array([[0.0] * 5 + [1.0] + [0.0] * 5 + [1.0] + [0.0] * 12 + [1.0, 0, 0, 0, 0, 1.0] + [0.0] * 6])
    judged = np.ones(busy.shape[1], dtype=bool)
    runs = zero_runs(busy, np.ones_like(busy, dtype=bool), judged, 12, 2, 1e-4, 20)
    assert len(runs) == 1 and (runs["first"].iloc[0], runs["last"].iloc[0]) == (12, 14)
    assert math.isclose(runs["chance"].iloc[0], chance_by_hand(3, 120, 12), rel_tol=1e-9)
    assert bool(runs["flagged"].iloc[0]) and not bool(runs["stopped"].iloc[0])
    judged = np.ones(rare.shape[1], dtype=bool)
    runs = zero_runs(rare, np.ones_like(rare, dtype=bool), judged, 12, 2, 1e-4, 20)
    long = runs[runs["periods"] == 12].iloc[0]
    # before: weeks 0-11 hold 2 events; after: weeks 24-35 hold 2; pairs inside the run are left out of φ,
    # and the others give φ = Σ Δ² / Σ (y_t + y_t-1) = 1 (every step is 0→1 or 1→0), so Poisson
    assert math.isclose(long["chance"], chance_by_hand(12, 2, 12), rel_tol=1e-9) and not long["flagged"]
    # a series that stops: only the side before counts, judged at the period's own probability
    stops = np.array([[4.0] * 20 + [0.0] * 4])
    runs = zero_runs(stops, np.ones_like(stops, dtype=bool), np.ones(24, dtype=bool), 12, 2, 1e-4, 20)
    assert bool(runs["stopped"].iloc[0]) and math.isclose(runs["chance"].iloc[0], chance_by_hand(4, 48, 12))
    assert bool(runs["flagged"].iloc[0])  # (12/16)^48 = 1.0e-6 < 1e-4


def test_clean_pre_aggregated_weeks_with_rare_zeros_raise_nothing(gaps_config: Config) -> None:
    """Murder at 0.05 a week is zero for months at a time: its zeros are not a gap."""
    for period in ("2026-W10", "2026-W40"):
        ctx = loaded(gaps_config, weekly(), period)
        assert Completeness().run(ctx) == [] and Structure().run(ctx) == []
        assert assess(ctx).comparisons.empty


def test_prior_year_gap_for_all_units_is_one_finding_and_marks_the_year_to_date(gaps_config: Config) -> None:
    """Zeros for every precinct and offence for 28 weeks of last year (2025-W05 to W32): one finding naming
    the input, the units, the periods and the measures; a warning, since only last year's year to date
    reads it; every unit's (and the force's) year to date marked not like-for-like."""
    rows = zeroed(weekly(), "2025-01-27", "2025-08-10")
    result = assess(loaded(gaps_config, rows, "2026-W40"))
    assert [(f.check, f.severity) for f in result.findings] == [("completeness", "warning")]
    found = result.findings[0]
    assert found.units == dict.fromkeys(UNITS, 0) and found.source == "incidents" and found.unit_code is None
    assert found.message.startswith(
        "Probable collection gap in incidents: 6 units (Precinct 1 (P1), Precinct 2 (P2), Precinct 3 (P3), "
        "Precinct 4 (P4), Precinct 5 (P5) and Precinct 6 (P6)) have zeros or no rows for every measure in "
        "2025-W05 to 2025-W32 (28 weeks)")
    assert found.message.endswith("last year's year to date comparisons are marked not like-for-like")
    marks = result.comparisons
    assert set(marks["window"]) == {"ytd"} and not marks["like_for_like"].any()
    assert set(zip(marks["unit_code"], marks["measure_id"], strict=True)) == {
        (u, m) for u in [*UNITS, "_total"] for m in RATES}
    assert set(marks["reason"]) == {"probable collection gap: no incidents data in 2025-W05 to 2025-W32 (28 weeks)"}


def test_gap_in_the_headline_comparisons_of_many_units_blocks(gaps_config: Config) -> None:
    """The same gap read by the 28 days and the week of last year (period 2026-W10) blocks: every unit's
    headline comparison is wrong. Raising the bar above 6 units (and 100%) makes it a warning."""
    rows = zeroed(weekly(), "2025-01-06", "2025-07-20")  # 2025-W02 to W29
    result = assess(loaded(gaps_config, rows, "2026-W10"))
    assert [(f.check, f.severity) for f in result.findings] == [("completeness", "blocking")]
    assert "It changes the headline comparisons of 6 units, so it blocks the cycle" in result.findings[0].message
    assert set(result.comparisons["window"]) == {"period", "28d", "ytd"}
    with pytest.raises(BlockedError, match="Probable collection gap in incidents"):
        gate(result)
    assert gate(result, accept_warnings=True).accepted == result.findings
    # two of six precincts (33%) in the headline: fewer than 3 units but at least a quarter, so blocking;
    # with the share raised to a half, a warning
    two = zeroed(weekly(), "2025-01-06", "2025-07-20", units=["P1", "P2"])
    found = assess(loaded(gaps_config, two, "2026-W10")).findings
    assert [(f.severity, sorted(f.units)) for f in found] == [("blocking", ["P1", "P2"])]
    relaxed = with_config(gaps_config, gaps={"min_run": 2, "blocking_units": 3, "blocking_share": 0.5})
    assert [f.severity for f in assess(loaded(relaxed, two, "2026-W10")).findings] == ["warning"]


def test_a_units_history_starting_with_zeros_is_not_history(gaps_config: Config) -> None:
    """P6's rows are all zeros until 2025-06-29 (padding before its data starts): its history starts on
    2025-06-30 for the quality step and the analysis alike, so last year's year to date covers only part
    of the span (structure, marked) and its leading zeros are no gap."""
    rows = zeroed(weekly(), "2023-01-02", "2025-06-29", units=["P6"])
    ctx = loaded(gaps_config, rows, "2026-W40")
    assert ctx.first_seen == {"P6": date(2025, 6, 30)}
    result = assess(ctx)
    assert [(f.check, f.severity, f.unit_code) for f in result.findings] == [("structure", "warning", "P6")]
    assert result.findings[0].message.startswith(
        "Precinct 6 (P6): its first non-zero figure is on 2025-06-30; its rows from 2024-10-07 are all zeros, "
        "which are not history, partway through last year's year to date")
    p6 = result.comparisons[result.comparisons["unit_code"] == "P6"]
    assert set(p6["window"]) == {"ytd"} and not p6["like_for_like"].any()
    daily = daily_measures(ctx.by_category, gaps_config)
    starts = unit_history_start(daily, ctx.data_start)
    assert starts["P6"] == pd.Timestamp("2025-06-30") and starts["P1"] == pd.Timestamp(ctx.data_start)


def test_one_series_stopping_before_the_period_is_found_and_marked(gaps_config: Config) -> None:
    """P2's robbery (4 a week) is zero from 2026-W37: it stopped four weeks before the period (W40 included).
    A warning (one series), and its comparisons this year are not like-for-like, so its fall is not read as
    an improvement. P3's murders stopping too is no finding: at 0.05 a week, months of zeros are usual."""
    rows = zeroed(weekly(), "2026-09-07", "2026-10-04", units=["P2"], offences=["robbery"])
    rows = zeroed(rows, "2026-04-01", "2026-10-04", units=["P3"], offences=["murder"])
    result = assess(loaded(gaps_config, rows, "2026-W40"))
    assert [(f.check, f.severity, f.unit_code, f.measure_id) for f in result.findings] == [
        ("completeness", "warning", "P2", "robbery")]
    message = result.findings[0].message
    assert message.startswith("Precinct 2 (P2): Robbery has been zero since 2026-W37 (4 weeks up to 2026-W40) "
                              "although it averaged ")
    assert message.endswith("this year's week, 28 days and year to date comparisons are marked not like-for-like")
    marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
    assert set(marks.index) == {(u, "robbery", w) for u in ("P2", "_total") for w in ("period", "28d", "ytd")}
    assert set(marks["reason"]) == {"Robbery stopped: zero since 2026-W37"}
    # the same with the rows missing rather than zero: the same finding
    missing = rows[~((rows["unit_code"] == "P2") & (rows["category"] == "robbery")
                     & (rows["date"] >= pd.Timestamp("2026-09-07")))]
    again = assess(loaded(gaps_config, missing, "2026-W40"))
    assert [f.message for f in again.findings] == [message]


def flat(text: str) -> str:
    """Text without whitespace: PDF extraction breaks lines where the layout does."""
    return "".join(text.split())


@pytest.fixture(scope="module")
def gap_cycle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, CycleOutcome]:
    """One cycle (2026-W40) of a pre-aggregated weekly input with every planted case: the prior-year gap in
    every unit but P6, P6's history starting with zeros, and P2's robbery stopping four weeks before."""
    folder = tmp_path_factory.mktemp("gap_cycle")
    (folder / "gapford.yaml").write_text(GAPS_CONFIG, encoding="utf-8")
    config = load_config(folder / "gapford.yaml")
    rows = zeroed(weekly(), "2025-01-27", "2025-08-10")
    rows = zeroed(rows, "2023-01-02", "2025-09-28", units=["P6"])
    rows = zeroed(rows, "2026-09-07", "2026-10-04", units=["P2"], offences=["robbery"])
    rows.rename(columns={"unit_code": "precinct", "date": "week", "category": "offence", "value": "count"})[
        ["precinct", "week", "offence", "count"]].to_csv(folder / "weekly.csv", index=False, date_format="%Y-%m-%d")
    outcome = run_cycle(config, f"sqlite:///{folder / 'store.db'}", "2026-W40", out_root=folder / "cycles",
                        today=date(2026, 10, 6), workers=1)
    return folder / "cycles" / "gapford" / "2026-W40", outcome


def pack_text(folder: Path, unit: str) -> str:
    return "\n".join(page.extract_text() or "" for page in PdfReader(folder / f"pack-{unit}.pdf").pages)


def test_planted_gaps_in_a_cycle_have_their_findings_and_marks_in_the_packs(
        gap_cycle: tuple[Path, CycleOutcome]) -> None:
    folder, outcome = gap_cycle
    quality = outcome.quality
    assert quality is not None and quality.blocking == []
    by_start = {f.message[:40]: f for f in quality.findings if f.severity != "info"}
    gap = next(f for f in quality.findings if f.message.startswith("Probable collection gap in weekly_counts"))
    assert gap.severity == "warning" and sorted(gap.units) == ["P1", "P2", "P3", "P4", "P5"]
    assert "2025-W05 to 2025-W32 (28 weeks)" in gap.message
    stopped = next(f for f in quality.findings if f.message.startswith("Precinct 2 (P2): Robbery has been zero"))
    starts = next(f for f in quality.findings if f.message.startswith("Precinct 6 (P6): its first non-zero figure"))
    assert stopped.severity == starts.severity == "warning", by_start
    cases = {"P1": [gap], "P2": [gap, stopped], "P6": [starts]}
    reasons = {"P1": ["probable collection gap: no weekly_counts data in 2025-W05 to 2025-W32 (28 weeks)"],
               "P2": ["Robbery stopped: zero since 2026-W37"], "P6": ["P6's data starts on 2025-09-29"]}
    for unit, findings in cases.items():
        text = flat(pack_text(folder, unit))
        assert flat("‡ not like-for-like") in text, unit
        for reason in reasons[unit]:
            assert flat(reason) in text, (unit, reason)  # the footnote
        for finding in findings:
            assert flat(finding.message[:150]) in text, (unit, finding.message)  # the finding, in the same pack
    # the stopped series is not recognised as an improvement, nor is any other figure inside the gap
    ranked = pd.read_csv(folder / "analysis_findings.csv", dtype={"unit_code": str})
    # ... and no probe rests on it either: the quality finding says the series stopped
    assert ranked[(ranked["unit_code"] == "P2") & (ranked["measure_id"] == "robbery")].empty
    ytd = ranked[(ranked["window"] == "ytd") & (ranked["unit_code"] != "P6")]
    assert (ytd["caveat"] == "not like-for-like").all()


def test_every_mark_in_every_unit_pack_has_its_footnote_and_finding(gap_cycle: tuple[Path, CycleOutcome]) -> None:
    """For each ‡ or § in a unit's pack: the footnote for that mark, the reason of each of the unit's marked
    comparisons, and a finding about the unit (or the whole force) from the check that marked it."""
    folder, outcome = gap_cycle
    quality = outcome.quality
    assert quality is not None
    marks = quality.comparisons
    for unit in [*UNITS]:
        text = pack_text(folder, unit)
        table = text.rsplit("Data-quality notes", 1)[0]
        mine = marks[marks["unit_code"] == unit]
        shown = [f for f in quality.findings if unit in f.units or not f.units]
        for mark, words in (("‡", "not like-for-like"), ("§", "fragile")):
            if mark in table:
                assert flat(f"{mark} {words}") in flat(text), (unit, mark)
        assert ("‡" in table) == bool((~mine["like_for_like"]).any()), unit
        for reason in set(mine["reason"]):
            for part in reason.split("; "):
                assert flat(part) in flat(text), (unit, part)
        if not mine.empty:
            assert any(f.check in ("completeness", "structure") and flat(f.message[:120]) in flat(text)
                       for f in shown), unit


def test_a_unit_wide_low_total_explained_by_one_measure_marks_that_measure_only(small_config: Config) -> None:
    """Alpha's burglaries (3 a day) are missing for 2026-W10 while its robberies arrive: its total is low too,
    but the finding shown is Burglary's, so only Burglary's comparisons carry ‡ — not Robbery's, which are
    right and would have a mark no finding in the pack explains."""
    rows = records({"A": {"burglary": 3, "robbery": 1}, "B": {"burglary": 2}})
    rows = drop(rows, "A", "2026-03-02", "2026-03-08", "burglary")
    ctx = context(small_config, rows)
    gaps = completeness_gaps(ctx)
    assert set(gaps.flagged.loc[gaps.flagged["unit_code"] == "A", "measure_id"]) == {"burglary", VOLUME}
    found = Completeness().run(ctx)
    assert [(f.unit_code, f.measure_id) for f in found] == [("A", "burglary")]
    marks = Completeness().marks(ctx)
    assert set(marks.loc[marks["unit_code"] == "A", "measure_id"]) == {"burglary"}


def test_the_chairs_summary_shows_the_note_behind_a_fragile_mark() -> None:
    """A § (fragile) mark can rest on revisions within tolerance, an info finding: the chair's data-quality
    summary, which otherwise lists blocking and warning findings only, shows it so the mark is explained."""
    from types import SimpleNamespace

    from compstat.packs.context.quality import quality_summary
    from compstat.quality.findings import COMPARISON_COLUMNS, Finding

    note = Finding("revisions", "info", "Since the 2026-W09 pack, 3 figures for 1 unit changed within the tolerance",
                   units={"A": 3})
    other = Finding("structure", "info", "'x' rows stop in 2026-W01: a reclassification", units={"A": 0})
    marks = pd.DataFrame([("A", "burglary", "period", True, True, "the change (+1) is no bigger than …")],
                         columns=COMPARISON_COLUMNS)
    data = SimpleNamespace(quality=SimpleNamespace(findings=(note, other), comparisons=marks))
    assert [n.message for n in quality_summary(data).notes] == [note.message]  # type: ignore[arg-type]
    data.quality.comparisons = marks.assign(fragile=False, like_for_like=False)
    assert quality_summary(data).notes == ()  # type: ignore[arg-type]


def test_a_gap_at_the_start_of_the_span_read_and_a_new_measure(gaps_config: Config) -> None:
    """Every unit's input is zero from 2024-09-02 to 2025-02-02, a run that begins before the first period
    loaded and reaches into last year's year to date: judged on the weeks after it, a gap (warning, year to
    date marked). A measure that is zero everywhere until 2025-03-02 (a category added then) is not: that is
    where its history starts (the structure check's reporting streams), so no gap is claimed for it."""
    rows = zeroed(weekly(), "2024-09-02", "2025-02-02")
    result = assess(loaded(gaps_config, rows, "2026-W10"))
    gaps = [f for f in result.findings if f.check == "completeness"]
    assert [(f.severity, sorted(f.units)) for f in gaps] == [("warning", UNITS)]
    assert "have zeros or no rows for every measure in 2024-W41 to 2025-W05 (17 weeks)" in gaps[0].message
    assert set(result.comparisons["window"]) == {"ytd"}
    added = zeroed(weekly(), "2023-01-02", "2025-03-02", offences=["assault"])
    assert Completeness().run(loaded(gaps_config, added, "2026-W10")) == []
