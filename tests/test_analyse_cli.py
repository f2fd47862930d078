"""The analysis end to end: ``analyse_cycle`` on the demo force, the cycle's stored results, and the
``compstat spc`` and ``compstat analyse`` commands (exit codes and messages)."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from compstat.analysis.analyse import (
    FINDING_RESULT_COLUMNS,
    SPC_SERIES_FIELDS,
    AnalysisResult,
    analyse_cycle,
    check_settings,
    first_day_needed,
    result_fields,
    store_rows,
)
from compstat.analysis.baselines import COMPARISON_COLUMNS
from compstat.analysis.peers import PEER_COLUMNS
from compstat.analysis.rare import RARE_COLUMNS, RARE_EVENT_COLUMNS, SPC_METHOD_COLUMNS, T_POINT_COLUMNS
from compstat.analysis.significance import SIGNIFICANCE_COLUMNS
from compstat.analysis.spc_series import SPC_POINT_COLUMNS
from compstat.analysis.trajectory import PATH_COLUMNS, TRAJECTORY_COLUMNS
from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import run_cycle
from compstat.demo import demo_config, generate_incidents
from compstat.errors import ConfigError
from compstat.figures import daily_measures
from compstat.periods import comparison_windows, parse_period
from compstat.store import AnalysisRow, Cycle, Observation, connect, transaction

SHARED = Path(__file__).resolve().parents[2] / "shared"
TODAY = date(2026, 3, 10)


@pytest.fixture(scope="module")
def demo_daily() -> tuple[Config, pd.DataFrame]:
    """The 12-unit demo force's daily totals to 22 November 2026 (its story: N4 robbery and S2 vehicle crime
    rising over the last 12 weeks; burglary down about a third in N2, S4 and E1 over the last year)."""
    config = Config.model_validate(demo_config(12, weekly=False))  # the five incident measures
    incidents = generate_incidents(date(2026, 11, 22), n_units=12)
    by_category = (pd.DataFrame({"unit_code": incidents["unit"], "category": incidents["offence"], "subcategory": "",
                                 "date": pd.to_datetime(incidents["recorded_at"].str[:10])})
                   .groupby(["unit_code", "category", "subcategory", "date"]).size().rename("n").reset_index())
    by_category["total"] = by_category["n"].astype(float)
    return config, daily_measures(by_category, config)


@pytest.fixture(scope="module")
def demo_result(demo_daily: tuple[Config, pd.DataFrame]) -> tuple[Config, AnalysisResult]:
    config, daily = demo_daily
    period = parse_period("2026-W47", config.cadence)
    windows = comparison_windows(period, config.cadence)
    assert first_day_needed(config, period, windows) == date(2023, 1, 1)
    return config, analyse_cycle(daily, config, period, windows, date(2023, 1, 1))


def test_quality_marks_reach_the_findings(demo_daily: tuple[Config, pd.DataFrame],
                                          demo_result: tuple[Config, AnalysisResult]) -> None:
    """The quality step's comparisons marked not like-for-like for the top finding's window: passed to
    analyse_cycle, the finding keeps its evidence but scores a quarter and says why."""
    config, daily = demo_daily
    _, plain = demo_result
    top = plain.probe.iloc[0]
    marks = pd.DataFrame([(top["unit_code"], top["measure_id"], top["window"], False, False, "a boundary change")],
                         columns=["unit_code", "measure_id", "window", "like_for_like", "fragile", "reason"])
    period = parse_period("2026-W47", config.cadence)
    marked = analyse_cycle(daily, config, period, comparison_windows(period, config.cadence), date(2023, 1, 1),
                           quality=marks)
    row = marked.probe.set_index(["unit_code", "measure_id"]).loc[(top["unit_code"], top["measure_id"])]
    assert row["score"] == pytest.approx(top["score"] * 0.25, abs=1e-4) and row["caveat"] == "not like-for-like"
    assert "Caution: this comparison is not like-for-like (a boundary change)" in row["reason"]
    assert row["rank"] > 1


def test_demo_story_is_found(demo_result: tuple[Config, AnalysisResult]) -> None:
    _, result = demo_result
    top = result.probe.head(2)[["unit_code", "measure_id"]].apply(tuple, axis=1).tolist()
    assert set(top) == {("N4", "robbery"), ("S2", "vehicle")}
    assert result.probe.iloc[0]["reason"].startswith(
        {"N4": "Robbery up", "S2": "Vehicle crime up"}[result.probe.iloc[0]["unit_code"]])
    improved = result.recognition[result.recognition["measure_id"] == "burglary"]["unit_code"]
    assert set(improved) & {"N2", "S4", "E1"}


def test_result_frames_have_their_columns(demo_result: tuple[Config, AnalysisResult]) -> None:
    config, result = demo_result
    expected = {"comparisons": COMPARISON_COLUMNS, "significance": SIGNIFICANCE_COLUMNS, "spc": SPC_METHOD_COLUMNS,
                "spc_points": SPC_POINT_COLUMNS, "peers": PEER_COLUMNS, "trajectory": TRAJECTORY_COLUMNS,
                "trajectory_path": PATH_COLUMNS, "probe": FINDING_RESULT_COLUMNS,
                "recognition": FINDING_RESULT_COLUMNS,
                "rare": RARE_COLUMNS, "rare_points": T_POINT_COLUMNS, "rare_events": RARE_EVENT_COLUMNS}
    assert result_fields() == list(expected)
    for name, columns in expected.items():
        assert getattr(result, name).columns.tolist() == columns, name
    units = len(config.leaf_units) + 1
    analysed = units + 3  # and the three divisions (N, S, E)
    assert len(result.spc) == analysed * 5 and len(result.significance) == analysed * 5 * 3 * 2
    assert len(result.trajectory) == units  # burglary has the demo's only target; divisions get none
    assert set(result.significance["label"]) <= {"significant increase", "significant decrease",
                                                 "within normal variation", "no events"}


def test_store_rows_one_per_unit_measure_and_section(demo_result: tuple[Config, AnalysisResult]) -> None:
    _, result = demo_result
    rows = store_rows(result)
    counts = rows.groupby("section").size()
    # 12 units, 3 divisions and the force, 5 measures each
    assert counts["spc"] == counts["significance"] == counts["comparisons"] == (12 + 3 + 1) * 5
    assert counts["probe"] == len(result.probe) and counts["recognition"] == len(result.recognition)
    chart = json.loads(rows[(rows["section"] == "spc") & (rows["unit_code"] == "N4")
                            & (rows["measure_id"] == "robbery")]["payload"].iloc[0])
    assert chart["point_type"] == "special_cause_concern" and len(chart["series"]["y"]) == 104
    tests = json.loads(rows[(rows["section"] == "significance") & (rows["unit_code"] == "N4")
                            & (rows["measure_id"] == "robbery")]["payload"].iloc[0])
    assert {(t["window"], t["basis"]) for t in tests} == {(w, b) for w in ("period", "28d", "ytd")
                                                          for b in ("last_year", "baseline")}


# --- compstat spc ---


@pytest.fixture
def england_csv(tmp_path: Path) -> Path:
    ae = pd.read_csv(SHARED / "data" / "nhs_ae_attendances.csv", parse_dates=["period"])
    totals = ae.groupby("period", as_index=False)[["attendances", "breaches"]].sum()
    totals["performance"] = 1 - totals["breaches"] / totals["attendances"]
    path = tmp_path / "england.csv"
    totals.to_csv(path, index=False, float_format="%.17g")
    return path


@pytest.mark.parametrize(("column", "improvement", "expected_file"), [
    ("attendances", "neutral", "nhs_ae_total_attendances_expected.csv"),
    ("performance", "increase", "nhs_ae_total_performance_expected.csv"),
])
def test_spc_command_conformance(england_csv: Path, tmp_path: Path, column: str, improvement: str,
                                 expected_file: str) -> None:
    out = tmp_path / "out.csv"
    result = CliRunner().invoke(app, ["spc", str(england_csv), "--x", "period", "--y", column,
                                      "--improvement", improvement, "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "36 points" in result.output and "written to" in result.output
    got = pd.read_csv(out, parse_dates=["x"])
    expected = pd.read_csv(SHARED / "conformance" / "spc" / expected_file, parse_dates=["x"])
    assert got["x"].tolist() == expected["x"].tolist()
    for name in ("mean", "lpl", "upl"):
        np.testing.assert_allclose(got[name], expected[name], rtol=1e-9, err_msg=name)
    assert got["special_cause_flag"].astype(float).tolist() == expected["special_cause_flag"].tolist()
    assert got["point_type"].tolist() == expected["point_type"].tolist()
    for name in ("outside_limits", "close_to_limits"):
        assert got[name].astype(bool).tolist() == expected[name].astype(bool).tolist(), name
    assert got["relative_to_mean"].tolist() == expected["relative_to_mean"].tolist()


def test_spc_command_target_rebase_chart_and_stdout(england_csv: Path, tmp_path: Path) -> None:
    chart = tmp_path / "chart.png"
    result = CliRunner().invoke(app, ["spc", str(england_csv), "--x", "period", "--y", "performance",
                                      "--improvement", "increase", "--target", "0.95", "--rebase", "2017-04-01",
                                      "--fix-after", "12", "--no-screen", "--chart", str(chart)])
    assert result.exit_code == 0, result.output
    points = pd.read_csv(pd.io.common.StringIO(result.stdout))
    assert points["rebase_group"].tolist() == [0] * 12 + [1] * 24
    assert (points["target"] == 0.95).all()
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def png_description(path: Path) -> dict[str, int]:
    """The chart's Description text chunk (what was drawn), read from the PNG bytes without pixels."""
    data = path.read_bytes()
    at, out = 8, {}
    while at < len(data):
        length = int.from_bytes(data[at:at + 4], "big")
        kind, body = data[at + 4:at + 8], data[at + 8:at + 8 + length]
        if kind == b"tEXt" and body.startswith(b"Description\0"):
            text = body.split(b"\0", 1)[1].decode("latin-1")
            out = {k: int(v) for k, v in (item.split("=") for item in text.split("; "))}
        at += 12 + length
    return out


def test_spc_command_chart_draws_each_special_cause(england_csv: Path, tmp_path: Path) -> None:
    """The performance chart draws one marker per special-cause point of the published R result."""
    chart = tmp_path / "chart.png"
    result = CliRunner().invoke(app, ["spc", str(england_csv), "--x", "period", "--y", "performance",
                                      "--improvement", "increase", "--chart", str(chart), "--out",
                                      str(tmp_path / "p.csv")])
    assert result.exit_code == 0, result.output
    expected = pd.read_csv(SHARED / "conformance" / "spc" / "nhs_ae_total_performance_expected.csv")
    special = expected["point_type"].value_counts().drop("common_cause").to_dict()
    assert special and png_description(chart) == {"points": 36, **special}


def test_spc_command_baseline(england_csv: Path, tmp_path: Path) -> None:
    """--baseline-start/--baseline-end: limits from April 2017 – March 2018 (the 2nd year of 36 months),
    worked out here from those 12 values (mean; moving ranges screened at 3.267 × their mean), held for
    all 36. The first year as the baseline equals --fix-after 12. With --rebase 2018-04-01, the third year
    holds no baseline point and gets limits of its own (the baseline wins over --fix-after, a change
    point over both)."""
    y = pd.read_csv(england_csv)["performance"].to_numpy()

    def hand(values: np.ndarray) -> tuple[float, float, float]:
        ranges = np.abs(np.diff(values))
        kept = ranges[ranges < 3.267 * ranges.mean()]
        return values.mean(), values.mean() - 2.66 * kept.mean(), values.mean() + 2.66 * kept.mean()

    def run(*args: str) -> pd.DataFrame:
        out = tmp_path / "b.csv"
        result = CliRunner().invoke(app, ["spc", str(england_csv), "--x", "period", "--y", "performance",
                                          "--improvement", "increase", *args, "--out", str(out)])
        assert result.exit_code == 0, result.output
        return pd.read_csv(out)

    second = run("--baseline-start", "2017-04-01", "--baseline-end", "2018-03-01")
    for column, value in zip(("mean", "lpl", "upl"), hand(y[12:24]), strict=True):
        np.testing.assert_allclose(second[column], value, rtol=1e-12)
    first = run("--baseline-end", "2017-03-31")
    pd.testing.assert_frame_equal(first, run("--fix-after", "12"))
    rebased = run("--baseline-start", "2017-04-01", "--baseline-end", "2018-03-01", "--rebase", "2018-04-01",
                  "--fix-after", "6")
    np.testing.assert_allclose(rebased["mean"].iloc[:24], hand(y[12:24])[0], rtol=1e-12)
    np.testing.assert_allclose(rebased[["mean", "lpl", "upl"]].iloc[24], hand(y[24:30]), rtol=1e-12)


@pytest.mark.parametrize(("args", "message"), [
    (["--x", "attendances", "--y", "performance", "--baseline-end", "2017-04-01"],
     "--baseline-start/--baseline-end need dates in column 'attendances'"),
    (["--x", "period", "--y", "performance", "--baseline-start", "2030-01-01"],
     "the baseline (2030-01-01 to end) holds no points of column 'performance'"),
    (["--x", "period", "--y", "performance", "--baseline-start", "2018-01-01", "--baseline-end", "2017-01-01"],
     "--baseline-start 2018-01-01 is after --baseline-end 2017-01-01"),
    (["--x", "period", "--y", "nope"], "Error: no column 'nope' (the columns are: period, attendances, breaches, "
                                       "performance)"),
    (["--x", "period", "--y", "performance", "--improvement", "up"],
     "--improvement 'up': expected increase, decrease or neutral"),
    (["--x", "period", "--y", "performance", "--rebase", "April"], "--rebase 'April': expected a date"),
    (["--x", "attendances", "--y", "performance", "--rebase", "2017-04-01"], "--rebase needs dates in column"),
    (["--x", "period", "--y", "performance", "--fix-after", "1"], "--fix-after 1: expected at least 2"),
])
def test_spc_command_usage_errors(england_csv: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["spc", str(england_csv), *args])
    assert result.exit_code == 2 and message in result.output, result.output


def test_spc_command_bad_values(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("week,count\n2026-01-05,3\n2026-01-12,lots\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["spc", str(path), "--x", "week", "--y", "count"])
    assert result.exit_code == 2 and "column 'count' line 3: 'lots' is not a number" in result.output
    missing = CliRunner().invoke(app, ["spc", str(tmp_path / "none.csv"), "--x", "a", "--y", "b"])
    assert missing.exit_code == 2 and "cannot read the CSV" in missing.output


# --- compstat analyse and the cycle's stored results ---


def write_history(config: Config) -> None:
    """Three years of incidents for A and B (seeded): burglary about 1 a day each, A's trebling over the
    last 4 weeks to 8 March 2026; robbery about 1 every 3 days."""
    rng = np.random.default_rng(42)
    days = pd.date_range("2023-01-01", "2026-03-08", freq="D")
    rows = []
    for unit in ("A", "B"):
        for offence, rate in (("burglary", 1.0), ("robbery", 0.35)):
            lam = np.full(len(days), rate)
            if unit == "A" and offence == "burglary":
                lam[days > pd.Timestamp("2026-02-08")] *= 3
            for day, count in zip(days, rng.poisson(lam), strict=True):
                rows += [(unit, f"{day:%Y-%m-%d} 12:00", offence)] * int(count)
    frame = pd.DataFrame(rows, columns=["unit", "when", "offence"])
    frame.insert(0, "ref", [f"R{i}" for i in range(len(frame))])
    frame["lat"], frame["lon"] = 53.1, -2.1
    frame.to_csv(config.resolve_path("incidents.csv"), index=False)


def test_analyse_command_prints_findings_and_records_nothing(small_config_path: Path, small_config: Config,
                                                             tmp_path: Path) -> None:
    write_history(small_config)
    db = f"sqlite:///{tmp_path / 'analyse.db'}"
    base = ["analyse", "--config", str(small_config_path), "--db", db, "--period", "2026-W10", "--today", "2026-03-10"]
    result = CliRunner().invoke(app, base)
    assert result.exit_code == 0, result.output
    assert "What to probe: 2026-W10" in result.output and "What to recognise: 2026-W10" in result.output
    assert "Alpha (A)" in result.output and "Burglary up" in result.output
    assert "Nothing was recorded" in result.output
    only_b = CliRunner().invoke(app, [*base, "--unit", "B", "--top", "3"])
    assert only_b.exit_code == 0 and "Alpha (A)" not in only_b.output
    engine = connect(db)
    with transaction(engine) as session:
        assert session.scalar(select(func.count()).select_from(Observation)) == 0
        assert session.scalar(select(func.count()).select_from(Cycle)) == 0
    engine.dispose()
    wrong = CliRunner().invoke(app, [*base, "--unit", "Z"])
    assert wrong.exit_code == 2 and "--unit 'Z' is not an accountable unit" in wrong.output
    empty = CliRunner().invoke(app, [*base[:-4], "--period", "2026-W20", "--today", "2026-06-01"])
    assert empty.exit_code == 1 and "no data for 2026-W20" in empty.output


def test_cycle_stores_analysis_and_writes_csvs(small_config: Config, store_url: str, tmp_path: Path) -> None:
    write_history(small_config)
    store = store_url
    outcome = run_cycle(small_config, store, "2026-W10", out_root=tmp_path / "out", today=TODAY, workers=1)
    findings = pd.read_csv(outcome.out_dir / "analysis_findings.csv")
    first = findings.iloc[0]
    assert (first["unit_code"], first["measure_id"], first["direction"]) == ("A", "burglary", "concern")
    assert first["unit_name"] == "Alpha" and "significant increase" in first["reason"]
    engine = connect(store)
    with transaction(engine) as session:
        sections = dict(session.execute(select(AnalysisRow.section, func.count()).group_by(AnalysisRow.section)).all())
        payload = session.scalar(select(AnalysisRow.payload).where(AnalysisRow.section == "probe",
                                                                   AnalysisRow.unit_code == "A",
                                                                   AnalysisRow.measure_id == "burglary"))
    engine.dispose()
    assert sections["spc"] == sections["significance"] == 3 * 2  # A, B and the organisation × 2 measures
    assert json.loads(str(payload))["rank"] == 1
    run_cycle(small_config, store, "2026-W10", out_root=tmp_path / "out", today=TODAY + timedelta(days=1), workers=1)
    engine = connect(store)
    with transaction(engine) as session:  # a re-run replaces the cycle's analysis, it does not add to it
        assert session.scalar(select(func.count()).select_from(AnalysisRow)) == sum(sections.values())
    engine.dispose()


def test_analysis_settings_from_yaml(small_config_path: Path) -> None:
    text = small_config_path.read_text(encoding="utf-8")
    small_config_path.write_text(text + "analysis:\n  spc:\n    rebase: [2026-01-05]\n  peers_k: 3\n", encoding="utf-8")
    config = load_config(small_config_path)
    assert config.analysis.spc.rebase[0].date == date(2026, 1, 5) and config.analysis.peers_k == 3
    small_config_path.write_text(text + "analysis:\n  measure_priority: {burglary: 0}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"testshire.yaml:\d+: analysis.measure_priority: priorities must be above 0"):
        load_config(small_config_path)


def test_analysis_settings_must_name_real_units_and_measures(small_config: Config) -> None:
    raw = small_config.model_dump()
    config = Config.model_validate({**raw, "analysis": {
        "peer_groups": {"east": ["A", "Z"], "west": ["A"]}, "measure_priority": {"arson": 2},
        "spc": {"rebase": [{"date": "2026-01-05", "units": ["Q"], "measures": ["theft"]}]}}})
    with pytest.raises(ConfigError) as error:
        check_settings(config)
    assert str(error.value).splitlines()[1:] == [
        "  analysis.peer_groups.east: 'Z' is not an accountable unit",
        "  analysis.peer_groups.west: 'A' is already in group 'east'",
        "  analysis.measure_priority: unknown measure 'arson'",
        "  analysis.spc.rebase.0.units: unknown unit 'Q'",
        "  analysis.spc.rebase.0.measures: unknown measure 'theft'",
    ]


def test_analyse_command_warns_about_settings_at_load(small_config_path: Path, tmp_path: Path) -> None:
    """B is in no configured peer group: the warning comes first, before anything is read (here the
    sources are missing, so the command then stops with a usage error)."""
    text = small_config_path.read_text(encoding="utf-8")
    small_config_path.write_text(text + "analysis:\n  peer_groups: {north: [A]}\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["analyse", "--config", str(small_config_path), "--db",
                                      f"sqlite:///{tmp_path / 'w.db'}", "--period", "2026-W10"])
    assert ("Warning: analysis.peer_groups: unit B is in no peer group: each is compared with its 5 most similar "
            "units instead") in result.output
    assert result.output.index("Warning:") < result.output.index("Error:")


def test_settings_warnings_are_stored_with_the_cycle(demo_result: tuple[Config, AnalysisResult]) -> None:
    """A result's notes become 'notes' rows of the store, with no unit or measure."""
    _, result = demo_result
    noted = AnalysisResult(**{**{name: getattr(result, name) for name in result_fields()},
                              "notes": ("analysis.peer_groups: unit B is in no peer group",)})
    rows = store_rows(noted)
    notes = rows[rows["section"] == "notes"]
    assert notes["payload"].map(json.loads).tolist() == [{"note": "analysis.peer_groups: unit B is in no peer group"}]
    assert notes["unit_code"].isna().all() and len(rows) == len(store_rows(result)) + 1


def test_stored_charts_are_each_series_own_json(demo_result: tuple[Config, AnalysisResult]) -> None:
    """The stored SPC payloads' series, made from one ``to_json`` of every point, are what each series' own
    ``to_json`` gives (as they were made one by one): its XmR points, else its t-chart's, else none."""
    _, result = demo_result
    rows = store_rows(result)
    spc = rows[rows["section"] == "spc"]
    empty = pd.DataFrame(columns=SPC_SERIES_FIELDS)
    xmr = dict(list(result.spc_points.groupby(["unit_code", "measure_id"], sort=False)))
    tchart = dict(list(result.rare_points.groupby(["unit_code", "measure_id"], sort=False)))
    assert tchart  # the demo has rare series charted by t-charts
    for unit, measure, payload in spc[["unit_code", "measure_id", "payload"]].itertuples(index=False):
        chart = xmr.get((unit, measure), tchart.get((unit, measure), empty)).reindex(columns=SPC_SERIES_FIELDS)
        own = json.loads(chart.to_json(orient="columns", date_format="iso", double_precision=10))
        assert json.loads(payload)["series"] == {k: list(v.values()) for k, v in own.items()}, (unit, measure)
