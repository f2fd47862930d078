"""Rare events: which series are rare, the t-chart worked by hand, the long window, the guard against
findings on a handful of events, and the factual list. Real event dates from Medellín's homicides."""

from __future__ import annotations

import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from compstat.analysis.analyse import analyse_cycle, first_day_needed
from compstat.analysis.measures import daily_by_category
from compstat.analysis.probe import rank_findings, rests_on_few_events
from compstat.analysis.rare import (
    METHOD_LONG,
    METHOD_T,
    METHOD_XMR,
    event_measures,
    judge_t_chart,
    t_chart,
)
from compstat.analysis.spc import CONCERN, IMPROVEMENT, SpcOptions, spc
from compstat.config import Config, load_config
from compstat.cycle import run_cycle, sync_reference
from compstat.figures import daily_measures
from compstat.ingest import ingest_all
from compstat.periods import Period, comparison_windows, parse_period
from compstat.store import connect, transaction
from tests.packtext import pdf_text
from tests.test_probe import SIGNIFICANCE, SPC, chart, evidence, peer

CONFIG = Path(__file__).resolve().parents[1] / "config"
START = date(2026, 1, 1)
OFFSETS = [0, 4, 9, 20, 22, 35, 41, 60, 64, 80, 90]  # one event on each of these days after 1 January 2026


def hand_t_chart(times: list[float]) -> tuple[list[float], float, float, float]:
    """The t-chart from first principles: gaps, then y = gap^(1/3.6), mean ± 2.66 × mean moving range
    (moving ranges of 3.267 × their mean or more left out), back-transformed by ^3.6 (a negative lower
    limit is 0). Returns (gaps, centre, lower, upper) in days."""
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    y = [g ** (1 / 3.6) for g in gaps]
    centre = sum(y) / len(y)
    ranges = [abs(b - a) for a, b in zip(y, y[1:], strict=False)]
    amr = sum(ranges) / len(ranges)
    kept = [r for r in ranges if r < 3.267 * amr]
    amr = sum(kept) / len(kept)
    return gaps, centre ** 3.6, max(centre - 2.66 * amr, 0) ** 3.6, (centre + 2.66 * amr) ** 3.6


def events(offsets: list[int]) -> pd.DataFrame:
    days = pd.to_datetime([START + timedelta(days=d) for d in offsets])
    return pd.DataFrame({"date": days, "count": 1}).groupby("date", as_index=False)["count"].sum()


def week_of(day: date) -> Period:
    start = day - timedelta(days=day.weekday())
    return Period(f"{start.isocalendar()[0]}-W{start.isocalendar()[1]:02d}", start, start + timedelta(days=6))


def test_t_chart_limits_match_a_hand_worked_example() -> None:
    """Gaps 4, 5, 11, 2, 13, 6, 19, 4, 16, 10 days: the transformed mean is 1.7668 (7.76 days back-
    transformed), the mean moving range 0.5337 (none screened: the largest, 0.827, is below 3.267 × 0.5337),
    so the limits are 1.7668 ± 1.4197: 0.3471 → 0.022 days and 3.1865 → 64.9 days."""
    chart = t_chart(events(OFFSETS))
    gaps, centre, lower, upper = hand_t_chart([d + 0.5 for d in OFFSETS])
    assert chart["y"].tolist() == pytest.approx(gaps) and gaps == [4, 5, 11, 2, 13, 6, 19, 4, 16, 10]
    assert chart["mean"].iloc[-1] == pytest.approx(centre, rel=1e-9)
    assert chart["lpl"].iloc[-1] == pytest.approx(lower, rel=1e-9)
    assert chart["upl"].iloc[-1] == pytest.approx(upper, rel=1e-9)
    assert (round(centre, 2), round(lower, 3), round(upper, 1)) == (7.76, 0.022, 64.9)
    assert chart["x"].tolist() == [pd.Timestamp(START + timedelta(days=d)) for d in OFFSETS[1:]]
    assert set(chart["point_type"]) == {"common_cause"}


def test_events_on_one_day_are_spread_across_it() -> None:
    """Two events on day 9: half a day apart, and the gaps either side shrink by a quarter day each."""
    chart = t_chart(events([0, 4, 9, 9, 20]))
    assert chart["y"].tolist() == pytest.approx([4, 4.75, 0.5, 10.75])


def test_the_latest_gap_open_or_closed_is_judged() -> None:
    """The open gap since the last event (day 90) is an improvement only beyond the upper limit (64.9
    days); a week holding an event judges the gap that event closed; otherwise common cause."""
    chart = t_chart(events(OFFSETS))
    last = START + timedelta(days=90)
    judged = judge_t_chart(chart, week_of(last), "increase")
    assert (judged["judged"], judged["gap"], judged["point_type"]) == ("latest", 10.0, "common_cause")
    quiet = judge_t_chart(chart, week_of(last + timedelta(days=21)), "increase")
    assert (quiet["judged"], quiet["point_type"]) == ("", "common_cause")
    assert judge_t_chart(chart, week_of(last + timedelta(days=56)), "increase")["judged"] == ""  # 56-62 days
    late = week_of(last + timedelta(days=63))
    long_wait = judge_t_chart(chart, late, "increase")
    assert long_wait["open_gap"] == (late.end - last).days + 0.5 > 64.9
    assert (long_wait["judged"], long_wait["point_type"]) == ("open", IMPROVEMENT)
    assert judge_t_chart(chart, late, "decrease")["point_type"] == CONCERN  # a higher-is-better rare event


def rare_daily(config: Config, weeks: int = 160, cluster: bool = True) -> tuple[pd.DataFrame, Period]:
    """Alpha: burglary ~6 a week (not rare); robbery about one event in 16 days (0.44 a week), then three
    more in the last week. Bravo: both ~6 a week. Daily totals as ``measures.daily_measures`` gives them."""
    end = date(2026, 3, 1)  # a Sunday: 2026-W09 ends here
    first = end - timedelta(days=7 * weeks - 1)
    rng = np.random.default_rng(7)
    rows = []
    for offset in range((end - first).days + 1):
        day = first + timedelta(days=offset)
        for unit in ("A", "B"):
            for measure in ("burglary", "robbery"):
                rare = (unit, measure) == ("A", "robbery")
                n = int(rng.poisson(1 / 16 if rare else 6 / 7)) if not (rare and day > end - timedelta(days=7)) else 0
                if n:
                    rows.append((unit, measure, pd.Timestamp(day), float(n), n))
    if cluster:
        rows += [("A", "robbery", pd.Timestamp(end - timedelta(days=d)), 1.0, 1) for d in (0, 2, 4)]
    daily = pd.DataFrame(rows, columns=["unit_code", "measure_id", "date", "total", "n"])
    daily = daily.groupby(["unit_code", "measure_id", "date"], as_index=False)[["total", "n"]].sum()
    total = daily.groupby(["measure_id", "date"], as_index=False)[["total", "n"]].sum().assign(unit_code="_total")
    return pd.concat([daily, total], ignore_index=True), parse_period("2026-W09", config.cadence)


def analyse(config: Config, daily: pd.DataFrame, period: Period) -> Any:
    windows = comparison_windows(period, config.cadence)
    return analyse_cycle(daily, config, period, windows, daily["date"].min().date())


def pre_aggregated(config: Config) -> Config:
    raw = config.model_dump()
    raw["sources"] = [{"name": "weekly", "path": "weekly.csv",
                       "columns": {"unit": "unit", "date": "week", "category": "offence", "value": "count"}}]
    return Config.model_validate(raw)


def test_a_rare_series_gets_a_t_chart_or_a_long_window_never_an_xmr_special_cause(small_config: Config) -> None:
    """Alpha's robbery (0.44 a week, then three in a week): an XmR chart of its weekly counts calls the
    week a special cause of concern; compstat judges it by the days between events (incident records)
    or by the 12 months against the 12 before (pre-aggregated counts), and records which."""
    daily, period = rare_daily(small_config)
    weekly = daily[(daily["unit_code"] == "A") & (daily["measure_id"] == "robbery")].set_index("date")["total"]
    counts = weekly.resample("W-SUN").sum().iloc[-104:]
    xmr = spc(pd.DataFrame({"x": counts.index, "y": counts.to_numpy()}), options=SpcOptions(improvement="decrease"))
    assert xmr["point_type"].iloc[-1] == CONCERN  # what the issue saw: 3 against a mean of 0.47

    assert event_measures(small_config) == {"burglary", "robbery"}
    result = analyse(small_config, daily, period)
    spc_rows = result.spc.set_index(["unit_code", "measure_id"])
    assert spc_rows.loc[("A", "robbery"), "method"] == METHOD_T
    assert spc_rows.loc[("A", "burglary"), "method"] == spc_rows.loc[("B", "robbery"), "method"] == METHOD_XMR
    rare = spc_rows.loc[("A", "robbery")]
    assert math.isnan(rare["lpl"]) and math.isnan(rare["upl"]) and rare["assurance"] is None
    assert rare["point_type"] != CONCERN  # 2 days between the last two events is within the t-chart's limits
    assert ("A", "robbery") not in set(zip(result.spc_points["unit_code"], result.spc_points["measure_id"],
                                           strict=True))
    judged = result.rare.set_index(["unit_code", "measure_id"]).loc[("A", "robbery")]
    assert (judged["judged"], judged["gap"], judged["point_type"]) == ("latest", 2.0, "common_cause")
    points = result.rare_points[(result.rare_points["unit_code"] == "A")]
    assert points["open"].tolist()[-1] and points["y"].tolist()[-2:] == [2.0, 0.5]
    assert result.probe[(result.probe["unit_code"] == "A") & (result.probe["measure_id"] == "robbery")].empty

    aggregated = pre_aggregated(small_config)
    assert event_measures(aggregated) == set()
    result = analyse(aggregated, daily, period)
    row = result.spc.set_index(["unit_code", "measure_id"]).loc[("A", "robbery")]
    assert row["method"] == METHOD_LONG and row["point_type"] is None and row["variation"] is None
    long = result.rare.set_index(["unit_code", "measure_id"]).loc[("A", "robbery")]
    mine = daily[(daily["unit_code"] == "A") & (daily["measure_id"] == "robbery")].set_index("date")["total"]
    expected = mine["2025-03-03":"2026-03-01"].sum()  # the 52 weeks to 1 March 2026
    assert (long["window"], long["current"], long["current_days"]) == ("12m", expected, 364)
    assert long["why"] == "counts per period, without the date of each event"


def test_too_few_events_for_a_t_chart_is_a_long_window(small_config: Config) -> None:
    """Fewer than analysis.rare.min_events (10) events in the charted span: the long window."""
    daily, period = rare_daily(small_config)
    keep = ~((daily["measure_id"] == "robbery") & (daily["unit_code"].isin(["A", "_total"]))
             & (daily["date"] < pd.Timestamp("2026-02-20")))
    result = analyse(small_config, daily[keep], period)
    row = result.rare.set_index(["unit_code", "measure_id"]).loc[("A", "robbery")]
    assert row["method"] == METHOD_LONG and row["events"] < 10
    assert row["why"] == f"{row['events']} dated events in the charted span, fewer than 10"


def test_zero_against_zero_and_one_against_zero_give_no_finding(small_config: Config) -> None:
    """Each of these would have been a finding before: a significant-looking change, an SPC signal of one
    event against a mean of 0.03, better than peers on 0 against 0. None survives the guard; 14 against
    9 (beside a peer finding) and a change of 30 against 10 do."""
    frames = evidence(
        [("A", "burglary", "28d", "last_year", 0, 0, np.nan, np.nan, np.nan, "no events", "", True),
         ("A", "robbery", "28d", "last_year", 1, 0, np.inf, np.nan, 0.01, "significant increase", "worse", True),
         ("B", "robbery", "28d", "last_year", 3, 0, np.inf, np.nan, 0.01, "significant increase", "worse", True),
         ("B", "burglary", "28d", "last_year", 30, 10, 3.0, 200.0, 0.001, "significant increase", "worse", False)],
        spc=[chart("A", "robbery", 1, 0.0288, CONCERN, 1, "outside_limits", lpl=0.0288, upl=0.0288),
             chart("A", "burglary", 0, 0.0288, IMPROVEMENT, 90, "shift", lpl=0.0288, upl=0.0288)],
        peers=[peer("A", "burglary", 0.0, 1.5, "better")],
    )
    probe, recognition = rank_findings(*frames, small_config)
    assert probe[["unit_code", "measure_id"]].values.tolist() == [["B", "burglary"]]
    assert recognition.empty
    frames = evidence([("B", "robbery", "28d", "last_year", 14, 9, 1.56, 55.6, 0.8, "within normal variation", "",
                        False)], peers=[peer("B", "robbery", 3.0, 1.5, "worse")])
    assert rank_findings(*frames, small_config)[0]["measure_id"].tolist() == ["robbery"]


def test_the_guard_rule() -> None:
    """Both below small_number (10), or at most 2 apart where the difference is the evidence."""
    assert rests_on_few_events(0, 0, 10, 2) and rests_on_few_events(1, 0, 10, 2) and rests_on_few_events(9, 2, 10, 2)
    assert rests_on_few_events(13, 11, 10, 2) and not rests_on_few_events(13, 11, 10, 2, difference_matters=False)
    assert not rests_on_few_events(14, 9, 10, 2) and not rests_on_few_events(6, np.nan, 10, 2)
    assert rests_on_few_events(1, 0, 0, 2) and not rests_on_few_events(3, 0, 0, 2)  # small_number 0: the 2 alone


def test_a_rare_series_leads_with_the_long_window_and_a_t_chart_concern_has_its_prompt(
        small_config: Config) -> None:
    """A rare series' finding cites the 12 months (here 40 against 20, significant) and its t-chart."""
    significance = pd.DataFrame([("A", "robbery", "28d", "last_year", 6, 2, 3.0, 200.0, 0.3,
                                  "within normal variation", "", True)], columns=SIGNIFICANCE)
    spc_rows = pd.DataFrame([chart("A", "robbery", 3, 0.4, CONCERN, 1, "shift")], columns=SPC).assign(method=METHOD_T)
    rare = pd.DataFrame([{
        "unit_code": "A", "measure_id": "robbery", "method": METHOD_T, "window": "12m", "current": 40.0,
        "comparison": 20.0, "rate_ratio": 2.0, "pct_change": 100.0, "q_value": 0.02, "label": "significant increase",
        "judgement": "worse", "small_numbers": False, "gap": 1.5, "gap_mean": 8.0, "gap_lpl": 0.01, "gap_upl": 60.0,
        "open_gap": 0.5, "judged": "latest"}])
    probe, _ = rank_findings(significance, spc_rows, pd.DataFrame(columns=["unit_code", "measure_id", "window"]),
                             pd.DataFrame(columns=["unit_code", "measure_id"]), small_config, rare=rare)
    row = probe.iloc[0]
    assert (row["window"], row["current"], row["comparison"], row["evidence"]) == ("12m", 40.0, 20.0, "change,spc")
    assert row["reason"] == ("Robbery up 100% on the 52 weeks before (40 vs 20), a significant increase; the time "
                             "between events beyond normal variation (t-chart: 1.5 days between the last two events; "
                             "usually 8, limits 0.01 to 60 days)")
    assert row["prompt_key"] == "change"
    rare.loc[0, ["q_value", "label", "judgement"]] = [0.5, "within normal variation", ""]
    probe, _ = rank_findings(significance, spc_rows, pd.DataFrame(columns=["unit_code", "measure_id", "window"]),
                             pd.DataFrame(columns=["unit_code", "measure_id"]), small_config, rare=rare)
    assert probe.iloc[0]["prompt_key"] == "t_chart"
    assert probe.iloc[0]["question"].startswith("Robbery: events have come closer together than usual (1.5 days")
    assert probe.iloc[0]["size"] == pytest.approx(math.log(4), abs=1e-4)  # 8 / 1.5 = 5.3, capped at 4


def test_rare_events_are_listed_factually(small_config: Config) -> None:
    """Alpha's robbery: 3 this week; the year to date and last year's, the 12 months and the 12 before,
    counted here from the daily totals."""
    daily, period = rare_daily(small_config)
    result = analyse(small_config, daily, period)
    row = result.rare_events.set_index(["unit_code", "measure_id"]).loc[("A", "robbery")]
    mine = daily[(daily["unit_code"] == "A") & (daily["measure_id"] == "robbery")].set_index("date")["total"]
    assert row["period_count"] == mine["2026-02-23":"2026-03-01"].sum() == 3
    assert (row["ytd"], row["last_year_ytd"]) == (mine["2026-01-01":"2026-03-01"].sum(),
                                                  mine["2025-01-01":"2025-03-01"].sum())
    assert (row["last_12m"], row["previous_12m"]) == (mine["2025-03-03":"2026-03-01"].sum(),
                                                      mine["2024-03-04":"2025-03-02"].sum())
    assert row["method"] == METHOD_T and set(result.rare_events["unit_code"]) == {"A"}


@pytest.fixture(scope="module")
def medellin(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Any, Period]:
    config = load_config(CONFIG / "medellin.yaml")
    url = f"sqlite:///{tmp_path_factory.mktemp('medellin') / 'store.db'}"
    period = parse_period("2019-W50", config.cadence)
    windows = comparison_windows(period, config.cadence)
    with transaction(connect(url)) as session:
        sync_reference(session, config)
        reports = ingest_all(session, config, date(2020, 1, 10), url)
        assert [(r.rows_read, r.rows_rejected) for r in reports] == [(9360, 0)]
        daily = daily_measures(daily_by_category(session, "medellin", first_day_needed(config, period, windows),
                                                 period.end), config)
    return config, analyse_cycle(daily, config, period, windows, date(2010, 1, 1)), period


def test_medellin_t_chart_on_real_event_dates(medellin: tuple[Config, Any, Period], shared_dir: Path) -> None:
    """Homicides with a blunt object (Contundente), Medellín, the 104 weeks to 15 December 2019: the days
    between events computed here with pandas from the file, the chart by hand (``hand_t_chart``)."""
    config, result, period = medellin
    raw = pd.read_csv(shared_dir / "data" / "medellin_homicides.csv", sep=";", dtype=str)
    day = pd.to_datetime(raw["fecha_hecho"].str[:10])
    span = (day >= pd.Timestamp("2017-12-25")) & (day <= pd.Timestamp("2019-12-15"))
    blunt = day[span & (raw["modalidad"] == "Contundente")].sort_values()
    per_day = blunt.value_counts().sort_index()
    times = [float((d - pd.Timestamp("1970-01-01")).days) + (i + 0.5) / k
             for d, k in per_day.items() for i in range(k)]
    gaps, centre, lower, upper = hand_t_chart(times)
    methods = result.spc.set_index(["unit_code", "measure_id"])["method"]
    assert methods[("MED", "blunt")] == METHOD_T and methods[("MED", "firearm")] == METHOD_XMR
    assert methods[("MED", "other_method")] == METHOD_LONG  # 5 events in two years
    row = result.rare.set_index(["unit_code", "measure_id"]).loc[("MED", "blunt")]
    assert row["events"] == len(blunt) == 42
    assert (row["gap_mean"], row["gap_lpl"], row["gap_upl"]) == pytest.approx((centre, lower, upper), rel=1e-9)
    points = result.rare_points[(result.rare_points["unit_code"] == "MED")
                                & (result.rare_points["measure_id"] == "blunt")]
    assert points["y"].tolist()[:-1] == pytest.approx(gaps)
    last = blunt.iloc[-1]
    assert last >= pd.Timestamp(period.start)  # an event this week: the gap it closed is judged
    assert (row["judged"], row["gap"]) == ("latest", pytest.approx(gaps[-1]))
    assert points["y"].iloc[-1] == (pd.Timestamp(period.end) - last).days + 0.5  # the open gap, drawn last
    assert result.probe.empty or not result.probe["measure_id"].isin(["blunt", "other_method"]).any()
    facts = result.rare_events.set_index(["unit_code", "measure_id"]).loc[("MED", "blunt")]
    in_2019 = day[(raw["modalidad"] == "Contundente") & (day.dt.year == 2019) & (day <= pd.Timestamp(period.end))]
    assert facts["ytd"] == len(in_2019) and facts["period_count"] == (blunt >= pd.Timestamp(period.start)).sum()


def london_daily(config: Config, shared_dir: Path) -> pd.DataFrame:
    """The London file's borough rows as ``measures.daily_measures`` reads them from the store (each
    monthly count on the month's first day; the Unknown and airport rows are not boroughs)."""
    raw = pd.read_csv(shared_dir / "data" / "london_borough_crime_monthly.csv.gz")
    codes = {u.name: u.code for u in config.leaf_units}
    raw = raw[raw["boroughname"].isin(codes)]
    by_category = pd.DataFrame({"unit_code": raw["boroughname"].map(codes), "category": raw["majortext"],
                                "subcategory": raw["minortext"], "date": pd.to_datetime(raw["month"]),
                                "total": raw["count"].astype(float), "n": 1})
    by_category = by_category.groupby(["unit_code", "category", "subcategory", "date"], as_index=False)[
        ["total", "n"]].sum()
    return daily_measures(by_category, config)


@pytest.mark.parametrize("label", ["2025-06", "2026-01"])
def test_london_every_category_no_finding_rests_on_small_numbers(shared_dir: Path, label: str) -> None:
    """config/london_all.yaml: 32 boroughs × 30 measures (every major category and the rare minor ones).
    No probe or recognition rests on counts below small_number in both periods; homicide and death by
    illegal driving are rare in every borough, violent disorder in nearly all (long window: monthly
    counts, no event dates), and no XmR chart has collapsed limits."""
    config = load_config(CONFIG / "london_all.yaml")
    assert len(config.measures) == 30 and len(config.leaf_units) == 32
    raw_majors = set(pd.read_csv(shared_dir / "data" / "london_borough_crime_monthly.csv.gz",
                                 usecols=["majortext"])["majortext"])
    assert raw_majors == {c for m in config.measures if not m.filter.subcategory for c in m.filter.category}
    daily = london_daily(config, shared_dir)
    period = parse_period(label, config.cadence)
    windows = comparison_windows(period, config.cadence)
    daily = daily[daily["date"] >= pd.Timestamp(first_day_needed(config, period, windows))]
    result = analyse_cycle(daily[daily["date"] <= pd.Timestamp(period.end)], config, period, windows,
                           date(2010, 4, 1))
    for findings in (result.probe, result.recognition):
        assert not findings.empty
        small = (findings["current"] < config.small_number) & (findings["comparison"] < config.small_number)
        assert not small.any(), findings[small][["unit_code", "measure_id", "current", "comparison"]]
        boroughs = findings[findings["level"] == "unit"]  # an area (8 boroughs) may have homicides enough to judge
        assert not boroughs["measure_id"].isin(["homicide", "death_driving"]).any()
    methods = result.spc.set_index(["unit_code", "measure_id"])["method"]
    borough_codes = [u.code for u in config.leaf_units]
    for measure in ("homicide", "death_driving"):
        assert (methods.xs(measure, level="measure_id").loc[borough_codes] == METHOD_LONG).all(), measure
    assert (methods.xs("violent_disorder", level="measure_id") == METHOD_LONG).sum() >= 30  # Westminster: ~1 a month
    assert methods[("_total", "burglary")] == METHOD_XMR
    xmr = result.spc[result.spc["method"] == METHOD_XMR]
    assert not (xmr["upl"] == xmr["lpl"]).any()  # the issue: 352 charts with lpl = upl = mean


@pytest.mark.slow
def test_medellin_pack_lists_rare_events_and_draws_the_t_chart(shared_dir: Path, tmp_path: Path) -> None:
    """The unit pack for Medellín with the blunt-object and other-means homicides charted first: the
    facts and the method for each rare series in the period table's judgement lines, a t-chart (never an
    XmR chart of weekly counts) for the blunt object, and a note saying why other means have no chart."""
    raw = yaml.safe_load((CONFIG / "medellin.yaml").read_text(encoding="utf-8"))
    first = [m for m in raw["measures"] if m["id"] in ("blunt", "other_method")]
    raw["measures"] = first + [m for m in raw["measures"] if m not in first]
    raw["sources"][0]["path"] = str(shared_dir / "data" / "medellin_homicides.csv")
    path = tmp_path / "medellin.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    config = load_config(path)
    outcome = run_cycle(config, f"sqlite:///{tmp_path / 'store.db'}", "2019-W50", out_root=tmp_path / "cycles",
                        today=date(2020, 1, 10), workers=1, accept_warnings=True)
    text = " ".join(pdf_text(outcome.out_dir / "pack-MED.pdf").split())
    assert ("rare event: 1 this week; 14 this year to date against 25 last year · t-chart: 11 days between the "
            "last two events (usually 11, upper limit 170): ● common cause") in text
    assert ("long window: 0 in the last 52 weeks against 5 in the 52 weeks before, within normal variation"
            in text)
    assert "Homicides by blunt object: days between events, t-chart (latest: ● common cause)" in text
    assert "Homicides by blunt object: SPC chart" not in text
    assert ("Homicides by other means (explosive, poison, drowning, fall) (5 dated events in the charted span, "
            "fewer than 10; long window:") in text
    assert "SPC: ▼ special cause — improvement" in text  # all homicides: an XmR chart, not rare
