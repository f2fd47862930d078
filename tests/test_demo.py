"""The synthetic demo force: determinism, volume, the built-in story, planted defects, config."""

from __future__ import annotations

import hashlib
import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compstat.config import Config
from compstat.demo import (
    DEMO_STORY,
    DEMO_TRENDS,
    FORCE_BOX,
    OFFENCES,
    PLANTED_DEFECTS,
    WEEKLY_OFFENCES,
    demo_config,
    demo_minutes,
    demo_units,
    generate_incidents,
    incident_offences_weekly,
    plant_defects,
    plant_weekly_defects,
    planted_empty_week,
    planted_first_day,
    planted_gap_weeks,
    planted_stop_weeks,
    planted_zero_start,
    weekly_counts,
    write_demo,
)

END = date(2026, 11, 22)  # a Sunday: the end of a complete Monday-start week
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def incidents() -> pd.DataFrame:
    return generate_incidents(END)


@pytest.fixture(scope="module")
def planted(incidents: pd.DataFrame) -> pd.DataFrame:
    return plant_defects(incidents, seed=7)


def _day(frame: pd.DataFrame) -> pd.Series:
    return pd.to_datetime(frame["recorded_at"], format="%Y-%m-%d %H:%M", errors="coerce").dt.normalize()


def _count(frame: pd.DataFrame, unit: str, measure: str, first: date, last: date) -> int:
    categories = next(cats for mid, _, cats, _ in OFFENCES if mid == measure)
    day = _day(frame)
    mask = (frame["unit"] == unit) & frame["offence"].isin(categories)
    return int((mask & day.between(pd.Timestamp(first), pd.Timestamp(last))).sum())


def _inside(frame: pd.DataFrame) -> pd.Series:
    south, north, west, east = FORCE_BOX
    lat = pd.to_numeric(frame["latitude"], errors="coerce")
    lon = pd.to_numeric(frame["longitude"], errors="coerce")
    return lat.between(south, north) & lon.between(west, east)


def test_deterministic(incidents: pd.DataFrame, tmp_path: Path) -> None:
    pd.testing.assert_frame_equal(incidents, generate_incidents(END))
    pd.testing.assert_frame_equal(plant_defects(incidents, seed=7), plant_defects(incidents, seed=7))
    assert demo_config() == demo_config()
    a = write_demo(tmp_path / "a", END)
    b = write_demo(tmp_path / "b", END)
    for name in ("incidents", "minutes"):
        assert a[name].read_bytes() == b[name].read_bytes()


def test_columns_and_refs(incidents: pd.DataFrame) -> None:
    assert list(incidents.columns) == ["crime_ref", "recorded_at", "unit", "offence", "latitude", "longitude",
                                       "location"]
    assert incidents["crime_ref"].is_unique
    assert incidents["crime_ref"].str.fullmatch(r"DC/\d{4}/\d{6}").all()
    assert incidents["recorded_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}").all()
    assert incidents["recorded_at"].is_monotonic_increasing
    day = _day(incidents)
    assert day.min() == pd.Timestamp(END.year - 3, 1, 1)
    assert day.max() == pd.Timestamp(END)


def test_row_count_plausible(incidents: pd.DataFrame) -> None:
    days = (END - date(END.year - 3, 1, 1)).days + 1
    expected = 12 * days * 2.0
    assert 0.9 * expected <= len(incidents) <= 1.1 * expected


def test_offence_mix(incidents: pd.DataFrame) -> None:
    share = incidents["offence"].value_counts(normalize=True)
    assert share["Anti-social behaviour"] == pytest.approx(0.35, abs=0.03)
    assert share["Robbery"] == pytest.approx(0.06, abs=0.02)


def test_every_unit_every_week_of_last_year(incidents: pd.DataFrame, planted: pd.DataFrame) -> None:
    codes = {u["code"] for d in demo_units() for u in d["children"]}
    assert len(codes) == 12
    first = END - timedelta(days=52 * 7 - 1)
    empty_week = (planted_empty_week(END)[0] - first).days // 7  # the planted unit-week with no data
    for frame, missing in ((incidents, set()), (planted[planted["unit"].isin(codes)], {("N1", empty_week)})):
        day = _day(frame)
        recent = frame[day >= pd.Timestamp(first)]
        week = (day[recent.index] - pd.Timestamp(first)).dt.days // 7
        counts = recent.groupby([recent["unit"], week]).size()
        expected = {(u, w) for u in codes for w in range(52)} - missing
        assert set(counts.index) == expected
        assert (counts > 0).all()


def test_improving_units_burglary_down(incidents: pd.DataFrame) -> None:
    improving = [code for code, (m, direction, _) in DEMO_TRENDS.items() if direction == "improving"]
    assert len(improving) == 3
    for code in improving:
        assert DEMO_TRENDS[code][0] == "burglary"
        last = _count(incidents, code, "burglary", END - timedelta(days=363), END)
        before = _count(incidents, code, "burglary", END - timedelta(days=727), END - timedelta(days=364))
        assert last < 0.85 * before, (code, last, before)


def test_worsening_units_up_on_last_year(incidents: pd.DataFrame) -> None:
    worsening = [code for code, (_, direction, _) in DEMO_TRENDS.items() if direction == "worsening"]
    assert len(worsening) == 2
    for code in worsening:
        measure = DEMO_TRENDS[code][0]
        assert measure in ("robbery", "vehicle")
        last = _count(incidents, code, measure, END - timedelta(days=27), END)
        year_ago = _count(incidents, code, measure, END - timedelta(days=364 + 27), END - timedelta(days=364))
        assert last > 1.3 * year_ago, (code, last, year_ago)


def test_stable_units_have_no_story() -> None:
    codes = [u["code"] for d in demo_units() for u in d["children"]]
    assert set(DEMO_STORY) == set(DEMO_TRENDS) and set(DEMO_STORY) <= set(codes)
    assert all(DEMO_STORY.values())


def test_coordinates_inside_force_area(incidents: pd.DataFrame, planted: pd.DataFrame) -> None:
    assert _inside(incidents).all()
    numeric = pd.to_numeric(planted["latitude"], errors="coerce").notna()
    assert int((numeric & ~_inside(planted)).sum()) == 2


def test_each_planted_defect_present(incidents: pd.DataFrame, planted: pd.DataFrame) -> None:
    assert len(PLANTED_DEFECTS) == 14  # 11 in the incident files, 3 in weekly_counts.csv (tested below)
    clean_day = _day(incidents)
    first, last = planted_empty_week(END)
    emptied = (incidents["unit"] == "N1") & clean_day.between(pd.Timestamp(first), pd.Timestamp(last))
    before_e3 = (incidents["unit"] == "E3") & (clean_day < pd.Timestamp(planted_first_day(END)))
    assert first == date(2026, 10, 26) and emptied.sum() > 10 and before_e3.sum() > 1000
    incidents = incidents[~emptied & ~before_e3].reset_index(drop=True)
    assert len(planted) == len(incidents) + 2 + 2 + 3
    day = _day(planted)
    assert planted.loc[day.isna(), "recorded_at"].tolist() == ["not recorded", "31/02/2025"]
    assert int((planted["unit"] == "Z9").sum()) == 2
    lat, lon = planted["latitude"].astype(str), planted["longitude"].astype(str)
    assert int((lat.eq("") & lon.eq("")).sum()) == 3
    assert int(lat.eq("abc").sum()) == 1
    assert int(planted.astype(str).duplicated().sum()) == 3
    assert planted.loc[~planted.astype(str).duplicated(keep=False), "crime_ref"].is_unique
    changed = planted.astype(str).ne(pd.concat([incidents, incidents.iloc[:7]], ignore_index=True).astype(str))
    defect_rows = changed.any(axis=1) | planted.astype(str).duplicated()
    assert day[defect_rows].dropna().min() >= pd.Timestamp(END - timedelta(days=55))


def test_write_demo_files(tmp_path: Path) -> None:
    paths = write_demo(tmp_path / "out", END)
    assert set(paths) == {"incidents", "force_summary", "weekly_counts", "minutes", "boundaries"}
    assert len(json.loads(paths["boundaries"].read_text())["features"]) == 12
    summary = pd.read_csv(paths["force_summary"], dtype=str, keep_default_na=False)
    assert list(summary.columns) == ["week_ending", "area", "offence", "count"] and set(summary["area"]) == {"FORCE"}
    assert sorted(set(summary["week_ending"])) == ["2026-11-01", "2026-11-08", "2026-11-15", "2026-11-22"]
    incidents = pd.read_csv(paths["incidents"], dtype=str, keep_default_na=False)
    incidents = incidents[~incidents.duplicated()]
    day = pd.to_datetime(incidents["recorded_at"], format="%Y-%m-%d %H:%M", errors="coerce")
    ok = incidents["unit"].str.fullmatch(r"[NSE][1-4]") & day.notna() & incidents["latitude"].ne("abc")
    week = ok & day.between("2026-11-16", "2026-11-22 23:59")
    given = summary[summary["week_ending"] == "2026-11-22"].set_index("offence")["count"]
    for offence, n in incidents[week]["offence"].value_counts().items():
        assert int(given[offence]) == n + (3 if offence == "Burglary - residential" else 0), offence
    assert given["Firearms offences"] == "nil"
    frame = pd.read_csv(paths["incidents"], dtype=str, keep_default_na=False)
    assert frame["recorded_at"].tail(2).tolist() == ["not recorded", "31/02/2025"]
    assert frame["recorded_at"].iloc[:-2].is_monotonic_increasing
    assert int(frame.duplicated().sum()) == 3
    minutes = pd.read_csv(paths["minutes"], dtype=str, keep_default_na=False)
    assert list(minutes.columns) == ["unit", "action", "owner", "due", "measure"]


def test_minutes() -> None:
    units = demo_units()
    minutes = demo_minutes(END, units)
    codes = {u["code"] for d in units for u in d["children"]}
    assert list(minutes.columns) == ["unit", "action", "owner", "due", "measure"]
    assert 6 <= len(minutes) <= 10
    assert set(minutes["unit"]) <= codes and 5 <= minutes["unit"].nunique() <= 6
    due = pd.to_datetime(minutes["due"], format="%Y-%m-%d")
    assert (due < pd.Timestamp(END)).any() and (due > pd.Timestamp(END)).any()
    assert set(minutes["measure"]) <= {m for m, *_ in OFFENCES} | {""}
    assert minutes["action"].str.contains("<b>").any() and minutes["action"].str.contains('&.*"').any()
    assert minutes["owner"].str.len().gt(0).all()


def test_shipped_config_matches_generator() -> None:
    shipped = yaml.safe_load((REPO / "config" / "demo.yaml").read_text(encoding="utf-8"))
    assert shipped == demo_config()


def test_demo_config_validates(tmp_path: Path) -> None:
    config = Config.model_validate({**demo_config(), "base_dir": tmp_path})
    assert len(config.leaf_units) == 12 and len(config.units) == 3
    assert config.measure("burglary").target is not None
    assert len(config.measures) == 19 and [s.name for s in config.sources] == ["incidents", "weekly_counts",
                                                                             "force_summary"]
    weekly = config.sources[1]
    assert weekly.path == "../demo-data/weekly_counts.csv" and weekly.columns.value == "count"
    assert [m.id for m in config.measures[5:]] == [m for m, *_ in WEEKLY_OFFENCES]
    assert config.measure("homicide").filter.category == ["Homicide"]


def test_benchmark_config_validates(tmp_path: Path) -> None:
    raw = demo_config(77, "../bench-data", slug="bench", name="Benchmark Constabulary", weekly=False)
    config = Config.model_validate({**raw, "base_dir": tmp_path})
    assert config.organisation.slug == "bench"
    assert len(config.leaf_units) == 77 and len(config.units) == 7
    assert len({u.name for u in config.leaf_units}) == 77
    assert config.sources[0].path == "../bench-data/incidents.csv" and len(config.measures) == 5


def test_weekly_benchmark_config_has_every_measure_from_weekly_counts(tmp_path: Path) -> None:
    raw = demo_config(78, "data", slug="bench-weekly", name="Benchmark Metropolitan", summary=False,
                      incidents=False, n_divisions=8)
    config = Config.model_validate({**raw, "base_dir": tmp_path})
    assert len(config.leaf_units) == 78 and [len(d.children) for d in config.units] == [10] * 6 + [9] * 2
    assert [s.name for s in config.sources] == ["weekly_counts"] and len(config.measures) == 19
    counts = weekly_counts(date(2026, 11, 22), 78, years=1, n_divisions=8,
                           offences=incident_offences_weekly(4.0) + WEEKLY_OFFENCES)
    categories = {c for m in config.measures for c in m.filter.category}
    assert set(counts["offence"]) == categories  # every measure counts one offence of the file
    assert set(counts["unit"]) == {u.code for u in config.leaf_units}
    burglary = counts.loc[counts["offence"] == "Burglary - residential", "count"].mean()
    assert burglary == pytest.approx(4.0 * 0.14 * 7, rel=0.1)


# --- the second source: pre-aggregated weekly counts ---------------------------------


@pytest.fixture(scope="module")
def weekly() -> pd.DataFrame:
    return weekly_counts(END)


def test_weekly_counts_every_unit_week_and_offence_with_zeros_written(weekly: pd.DataFrame) -> None:
    assert list(weekly.columns) == ["unit", "week_ending", "offence", "count"]
    weeks = sorted(set(weekly["week_ending"]))
    assert weeks[0] == "2023-01-08" and weeks[-1] == "2026-11-22" and len(weeks) == 203
    gaps = {(date.fromisoformat(b) - date.fromisoformat(a)).days for a, b in zip(weeks[:-1], weeks[1:], strict=True)}
    assert gaps == {7}
    assert len(weekly) == 203 * 12 * 14 and not weekly.duplicated(["unit", "week_ending", "offence"]).any()
    assert weekly_counts(END).equals(weekly)  # deterministic


def test_weekly_rates_from_rare_to_frequent(weekly: pd.DataFrame) -> None:
    """Each offence's mean per unit-week is its configured rate (the unit scale has mean 1), within
    what chance allows over 203 weeks x 12 units; homicide is 0 in about 95% of unit-weeks."""
    mean = weekly.groupby("offence")["count"].mean()
    for _, _, label, rate, _, _ in WEEKLY_OFFENCES:
        # a gamma-Poisson mean over 2,436 unit-weeks: 4 standard errors, plus the unit scales' spread
        se = ((rate + rate**2 / 8) / len(weekly[weekly["offence"] == label])) ** 0.5
        assert abs(mean[label] - rate) < 4 * se + 0.08 * rate, (label, mean[label], rate)
    zero = weekly.groupby("offence")["count"].apply(lambda c: (c == 0).mean())
    assert zero["Homicide"] > 0.9 and zero["Shooting incidents"] > 0.8 and zero["Shoplifting"] == 0


def test_incident_records_do_not_depend_on_the_weekly_source(incidents: pd.DataFrame) -> None:
    """The weekly counts draw from their own random stream: the incident records are byte for byte
    those of the five-measure demo (the SHA-256 of their CSV, pinned before the weekly source). The named
    places (issue #11) draw from their own stream too: the records' references, times, units and offences
    are as pinned before them; the CSV with places (and the planted places' coordinates) is pinned since."""
    text = incidents.to_csv(index=False).encode()
    assert len(incidents) == 34044 and incidents["crime_ref"].iloc[-1] == "DC/2026/007766"
    records = incidents[["crime_ref", "recorded_at", "unit", "offence"]].to_csv(index=False).encode()
    assert hashlib.sha256(records).hexdigest() == "532d053070beeb589a25e3876cd30d859ec589737f183be30995e0d777085cda"
    assert hashlib.sha256(text).hexdigest() == "b21de72e9b6c8a25ad7d8d01d16dd100331db376e67d4035e742586137f12396"


def test_planted_weekly_defects(weekly: pd.DataFrame) -> None:
    kept = plant_weekly_defects(weekly, END)
    planted = weekly.merge(kept, on=["unit", "week_ending", "offence"], how="left", suffixes=("_clean", ""))
    clean = planted["count_clean"]  # row for row
    week = pd.to_datetime(planted["week_ending"]).dt.date
    # N1's empty week (planted_empty_week) and E3's weeks before 15 January last year have no rows at all
    first, last = planted_empty_week(END)
    absent = ((planted["unit"] == "N1") & week.between(first, last)) | (
        (planted["unit"] == "E3") & (week < planted_first_day(END)))
    assert planted["count"].isna().equals(absent) and absent.sum() == 14 + 14 * 106
    planted = planted.fillna({"count": 0}).astype({"count": int})
    changed = planted["count"] != clean
    # (a) the collection gap: 6 weeks, every unit and offence 0, inside last year's year to date
    # (2025-01-01 to 2025-11-23) and before last year's 28 days (from 2025-10-27)
    first, last = planted_gap_weeks(END)
    assert (first, last) == (date(2025, 8, 11), date(2025, 9, 21))
    gap = week.between(first, last)
    assert gap.sum() == 6 * 12 * 14 and (planted.loc[gap, "count"] == 0).all()
    assert clean[gap].sum() > 1000
    # (b) S3 reports nothing before 2025-04-07: its rows before are zeros, every offence
    start = planted_zero_start(END)
    assert start == date(2025, 4, 7) and start.weekday() == 0
    early = (planted["unit"] == "S3") & (week < start)
    assert (planted.loc[early, "count"] == 0).all() and clean[early].sum() > 1000
    assert planted.loc[(planted["unit"] == "S3") & (week >= start) & ~gap, "count"].sum() > 0
    # (c) E2's criminal damage and arson: 0 in the 4 weeks before the period and in it, not before
    stop_first, stop_last = planted_stop_weeks(END)
    assert (stop_first, stop_last) == (date(2026, 10, 19), END)
    series = (planted["unit"] == "E2") & (planted["offence"] == "Criminal damage and arson")
    stopped = series & week.between(stop_first, stop_last)
    assert stopped.sum() == 5 and (planted.loc[stopped, "count"] == 0).all()
    assert clean[stopped].sum() >= 5
    assert planted.loc[series & week.between(date(2026, 8, 1), date(2026, 10, 18)), "count"].sum() > 10
    # nothing else changed
    assert (changed & ~(gap | early | stopped | absent)).sum() == 0
