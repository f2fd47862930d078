"""The demo force: each check finds its planted defect, and the same data without them raises no warning."""

from __future__ import annotations

import dataclasses
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml
from sqlalchemy.orm import Session

from compstat.bench import TARGET_ROWS
from compstat.config import Config, load_config
from compstat.cycle import analyse, cycle_figures, record_cycle
from compstat.demo import (
    FORCE_BOX,
    OFFENCES,
    PLANTED_BLOCKING,
    PLANTED_DEFECTS,
    SEED,
    STOP_MEASURE,
    STOP_UNIT,
    WEEKLY_OFFENCES,
    ZERO_START_UNIT,
    counted,
    daily_counts,
    demo_config,
    force_summary,
    generate_incidents,
    late_recording,
    plant_defects,
    weekly_counts,
    write_config,
    write_demo,
)
from compstat.errors import BlockedError
from compstat.ingest import ingest_all
from compstat.periods import parse_period
from compstat.quality import Finding, QualityContext, QualityResult, check_data, gate
from compstat.quality.checks import Completeness
from compstat.quality.context import DAILY_SOURCE_COLUMNS, first_day_needed
from compstat.store import connect

END = date(2026, 11, 22)  # a Sunday: period 2026-W47 is 16-22 Nov 2026
TODAY = date(2026, 11, 23)
CODES = [f"{d}{i}" for d in "NSE" for i in range(1, 5)]
Planted = tuple[QualityResult, pd.DataFrame, pd.DataFrame, pd.DataFrame]  # result, incidents, summary, weekly


def demo_copy(root: Path, raw: dict[str, Any]) -> Config:
    path = root / "config" / "demo.yaml"
    write_config(path, {**raw, "store": f"sqlite:///{root / 'demo.db'}"}, header="test copy of the demo config")
    return load_config(path)


def write_data(root: Path, frame: pd.DataFrame, summary: pd.DataFrame | None = None,
               weekly: pd.DataFrame | None = None) -> None:
    (root / "demo-data").mkdir(parents=True, exist_ok=True)
    frame.to_csv(root / "demo-data" / "incidents.csv", index=False)
    if summary is not None:
        summary.to_csv(root / "demo-data" / "force_summary.csv", index=False)
    if weekly is not None:
        weekly.to_csv(root / "demo-data" / "weekly_counts.csv", index=False)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> Planted:
    root = tmp_path_factory.mktemp("planted")
    paths = write_demo(root / "demo-data", END)
    config = demo_copy(root, yaml.safe_load(Path("config/demo.yaml").read_text(encoding="utf-8")))
    return (check_data(config, config.store, "2026-W47", TODAY),
            pd.read_csv(paths["incidents"], dtype=str, keep_default_na=False),
            pd.read_csv(paths["force_summary"], dtype=str, keep_default_na=False),
            pd.read_csv(paths["weekly_counts"], dtype=str, keep_default_na=False))


def one(findings: tuple[Finding, ...] | list[Finding], text: str) -> Finding:
    matching = [f for f in findings if text in f.message]
    assert len(matching) == 1, (text, [f.message for f in findings])
    return matching[0]


def test_every_planted_defect_is_found(planted: Planted) -> None:
    result, raw, summary, weekly = planted
    found = result.findings
    lat = pd.to_numeric(raw["latitude"], errors="coerce")
    lon = pd.to_numeric(raw["longitude"], errors="coerce")
    south, north, west, east = FORCE_BOX
    outside = raw[lat.notna() & ~(lat.between(south, north) & lon.between(west, east))]
    day = pd.to_datetime(raw["recorded_at"].str[:10], format="%Y-%m-%d", errors="coerce")
    n1 = day[raw["unit"] == "N1"]
    assert not n1.between("2026-10-26", "2026-11-01").any()
    # its largest measure, shoplifting (weekly_counts.csv), over the 12 weeks before 2026-W44
    n1_weekly = weekly[weekly["unit"].eq("N1")]
    assert not n1_weekly["week_ending"].eq("2026-11-01").any()
    usual = n1_weekly.loc[n1_weekly["offence"].eq("Shoplifting") & n1_weekly["week_ending"].between(
        "2026-08-09", "2026-10-25"), "count"].astype(int).mean()
    e3_first = day[raw["unit"] == "E3"].min()
    loaded = counted(raw, CODES)
    loaded_day = pd.to_datetime(loaded["recorded_at"].str[:10], format="%Y-%m-%d")
    burglaries = int((loaded_day.between("2026-11-16", "2026-11-22")
                      & loaded["offence"].eq("Burglary - residential")).sum())
    supplied = int(summary.loc[summary["week_ending"].eq("2026-11-22")
                               & summary["offence"].eq("Burglary - residential"), "count"].iloc[0])
    nil_line = int(summary.index[summary["count"] == "nil"][0]) + 2
    checks = {
        0: lambda: one(found, "2 in 'recorded_at' (e.g. date 'not recorded' is not a date"),
        1: lambda: one(found, "'Z9' in 'unit' (incidents) is not a unit in the config: 2 rows"),
        # the 3 blank ones and the 'abc' latitude, now counted without coordinates
        2: lambda: one(found, "4 rows of incidents from 2025-01-01 to 2026-11-22 have no coordinates"),
        3: lambda: one(found, "1 in 'latitude' (e.g. latitude 'abc' is not a number)"),
        4: lambda: one(found, "3 rows of incidents.csv are exact copies of earlier rows (same crime_ref"),
        5: lambda: one(found, "2 rows of incidents from 2025-01-01 to 2026-11-22 have coordinates outside the area"),
        6: lambda: one(found, f"Northgate (N1): no records at all for 2026-W44 although it averages {usual:.1f} "
                              "Shoplifting a week"),
        7: lambda: one(found, f"Greystone (E3): its data starts on {e3_first:%Y-%m-%d} (none before), partway "
                              "through last year's year to date"),
        8: lambda: one(found, f"Residential burglary: the organisation total supplied for the week 2026-11-16 to "
                              f"2026-11-22 is {supplied} but the units add up to {burglaries} (-3)"),
        9: lambda: one(found, f"1 row of force_summary.csv (line {nil_line}) gives 'nil' where a number is expected"),
        10: lambda: one(found, "Definition change on 2026-10-01 (South Division records anti-social behaviour per "
                               "call, not per location) falls inside this cycle's week, 28 days and year to date "
                               "comparisons of Anti-social behaviour for Southgate (S1), Castleton Moor (S2), "
                               "Millbrook (S3) and Kingsmead (S4)"),
        # weekly_counts.csv: the collection gap, a unit's history starting with zeros, a series that stops
        11: lambda: one(found, "Probable collection gap in weekly_counts: 12 units"),
        12: lambda: one(found, f"({ZERO_START_UNIT}): 'Shoplifting' rows start in 2025-W15"),
        13: lambda: one(found, f"({STOP_UNIT}): Criminal damage and arson has been zero since 2026-W43 (5 weeks up "
                               "to 2026-W47)"),
    }
    assert len(checks) == len(PLANTED_DEFECTS) and all("weekly_counts.csv" in d for d in PLANTED_DEFECTS[11:])
    assert supplied == burglaries + 3 and e3_first == pd.Timestamp("2025-01-15")
    severities = {i: check().severity for i, check in checks.items()}
    assert severities == {i: "info" if i == 2 else "warning" for i in checks}
    assert {check().check for check in checks.values()} == {"completeness", "validity", "duplicates", "structure",
                                                             "consistency", "changes"}
    per_unit = ", ".join(f"{unit} {n}" for unit, n in outside["unit"].value_counts().sort_index().items())
    assert f"): {per_unit}. They are counted" in checks[5]().message
    assert checks[5]().units == outside["unit"].value_counts().to_dict()
    marks = result.comparisons.set_index(["unit_code", "measure_id", "window"])
    assert not marks.loc[("N1", "burglary", "28d"), "like_for_like"]  # the empty week is in the 28 days
    assert "missing data in 2026-W44" in marks.loc[("N1", "burglary", "28d"), "reason"]
    assert ("N1", "burglary", "period") not in marks.index
    assert not marks.loc[("E3", "robbery", "ytd"), "like_for_like"] and ("E3", "robbery", "28d") not in marks.index
    assert not marks.loc[("S1", "asb", "period"), "like_for_like"] and ("S1", "burglary", "period") not in marks.index
    # weekly_counts.csv maps no coordinates, so none of its rows is 'missing' them
    assert not [f for f in found if "of weekly_counts" in f.message and "no coordinates" in f.message]
    # the collection gap is in last year's year to date, not its 28 days; the stopped series in this year's 28 days
    assert not marks.loc[("N2", "shoplifting", "ytd"), "like_for_like"]
    assert ("N2", "shoplifting", "28d") not in marks.index
    assert not marks.loc[(STOP_UNIT, STOP_MEASURE, "28d"), "like_for_like"]


def test_planted_defects_are_the_only_warnings(planted: Planted) -> None:
    result, _, _, _ = planted
    assert result.blocking == []  # `make demo` goes ahead
    assert {f.check for f in result.of("warning")} == {"validity", "duplicates", "completeness", "structure",
                                                        "consistency", "changes"}
    # 5 validity (the 'abc' latitude is its own finding: counted without coordinates) and duplicates,
    # completeness, structure, 2 consistency, changes; then those that concern the planted weekly_counts.csv
    # defects: a unit's total in the collection gap (2025-W33 to W38), S3's rows starting with zeros, E2's
    # criminal damage stopping
    incident_level = [f for f in result.of("warning") if not _about_weekly_defects(f)]
    assert len(incident_level) == 10, [f.message for f in incident_level]


def _about_weekly_defects(finding: Finding) -> bool:
    gap_weeks = {f"2025-W{w}" for w in range(33, 39)}
    return (any(week in finding.message for week in gap_weeks)
            or (finding.unit_code == "S3" and finding.measure_id in {m for m, *_ in WEEKLY_OFFENCES})
            or (finding.unit_code == "E2" and finding.measure_id == STOP_MEASURE))


def test_planted_late_unit_blocks_the_cycle(tmp_path: Path) -> None:
    frame = plant_defects(generate_incidents(END), seed=SEED + 1, late=True)
    write_data(tmp_path, frame, force_summary(frame, END, CODES, planted=False))
    raw = demo_config(weekly=False)
    config = demo_copy(tmp_path, {**raw, "quality": {**raw["quality"], "changes": []}})
    result = check_data(config, config.store, "2026-W47", TODAY)
    assert len(PLANTED_BLOCKING) == 1
    last = pd.to_datetime(frame.loc[frame["unit"] == "N3", "recorded_at"].str[:10]).max()
    assert last <= pd.Timestamp("2026-11-17")
    late = one(result.blocking, "(N3): incidents data as of")
    assert late.check == "timeliness" and late.message.startswith(
        f"Ashworth (N3): incidents data as of {last:%Y-%m-%d}, {(END - last.date()).days} days before 2026-W47 ends")
    assert [f.unit_code for f in result.blocking] == ["N3"]
    with pytest.raises(BlockedError, match="Wait for the data and run again"):
        gate(result)


def test_planted_revision_between_two_cycles(tmp_path: Path) -> None:
    raw = demo_config(summary=False, weekly=False)
    raw["quality"] = {**raw["quality"], "changes": []}
    config = demo_copy(tmp_path, raw)
    full = plant_defects(generate_incidents(END), seed=SEED + 1)
    first = late_recording(full, END)
    write_data(tmp_path, first)
    w46 = parse_period("2026-W46", config.cadence)
    engine = connect(config.store)
    with Session(engine) as session, session.begin():
        ingest_all(session, config, TODAY - timedelta(days=7), config.store)
        data = analyse(cycle_figures(session, config, w46), config, w46, TODAY - timedelta(days=7), {})
        record_cycle(session, config, w46, data, tmp_path / "out", [])
    engine.dispose()
    write_data(tmp_path, full)
    result = check_data(config, config.store, "2026-W47", TODAY)

    def asb(frame: pd.DataFrame) -> int:
        rows = counted(frame, CODES)
        day = rows["recorded_at"].str[:10]
        return int((rows["unit"].eq("E4") & rows["offence"].eq("Anti-social behaviour")
                    & day.between("2026-11-09", "2026-11-15")).sum())

    shown, now = asb(first), asb(full)
    assert now - shown == 3
    revised = one(result.findings, "Fernlea (E4): Anti-social behaviour for the period 2026-11-09 to 2026-11-15")
    assert revised.check == "revisions" and revised.severity == "warning" and revised.units == {"E4": 3}
    assert f"was {shown} in the 2026-W46 pack and is now {now} (+3)" in revised.message


@pytest.mark.parametrize("units", [12, 77])
def test_clean_data_raises_no_false_alarm(tmp_path: Path, units: int) -> None:
    frame = generate_incidents(END, n_units=units, daily_rate=2.0)
    codes = sorted(set(frame["unit"]))
    write_data(tmp_path, frame, force_summary(frame, END, codes, planted=False), weekly_counts(END, units))
    raw = demo_config(units)
    config = demo_copy(tmp_path, {**raw, "quality": {**raw["quality"], "changes": []}})
    result = check_data(config, config.store, "2026-W47", TODAY)
    assert [f.message for f in result.findings if f.severity != "info"] == []
    assert result.comparisons.empty


def test_no_false_alarm_at_benchmark_density_while_an_empty_unit_week_is_caught() -> None:
    """21 weekly cycles of the 77-unit benchmark force (about 13.7 incidents per unit per day): the
    completeness check raises nothing on the clean data, and finds a unit-week emptied in it."""
    units = 77
    rate = TARGET_ROWS / (units * ((END - date(END.year - 3, 1, 1)).days + 1))
    assert rate == pytest.approx(13.7, abs=0.05)
    counts = daily_counts(END, n_units=units, years=2, daily_rate=rate)
    counts = counts[counts["count"] > 0]
    category = {m: cats[0] for m, _, cats, _ in OFFENCES}
    daily = pd.DataFrame({"source": "incidents", "unit_code": counts["unit"], "category": counts["measure_id"].map(
        category), "subcategory": "", "date": counts["date"], "total": counts["count"].astype(float),
        "n": counts["count"]})[DAILY_SOURCE_COLUMNS]
    config = Config.model_validate({**demo_config(units), "base_dir": Path(".")})
    weeks = [f"2026-W{w}" for w in range(27, 48)]
    assert [f.message for f in _weekly(config, daily, weeks) if f.severity != "info"] == []
    # the unit of median size loses every record of 2026-W40
    scale = counts.groupby("unit")["count"].sum().sort_values()
    unit = str(scale.index[units // 2])
    emptied = daily[~((daily["unit_code"] == unit) & daily["date"].between("2026-09-28", "2026-10-04"))]
    found = [f for f in _weekly(config, emptied, weeks[13:]) if f.severity != "info"]
    assert len(found) == 8 and {f.unit_code for f in found} == {unit}  # 2026-W40 to W47
    assert all("no records at all for 2026-W40" in f.message for f in found)
    assert found[0].message.endswith("this year's week, 28 days and year to date comparisons are marked not "
                                     "like-for-like")
    assert found[-1].message.endswith("this year's year to date comparisons are marked not like-for-like")


def _weekly(config: Config, daily: pd.DataFrame, weeks: list[str]) -> list[Finding]:
    """The completeness findings of a cycle for each week, straight from the daily frame."""
    latest = daily.groupby(["source", "unit_code"], as_index=False).agg(latest=("date", "max"))
    latest["latest"] = latest["latest"].dt.date
    base: QualityContext | None = None
    found: list[Finding] = []
    for label in weeks:
        period = parse_period(label, config.cadence)
        ctx = QualityContext(config=config, period=period, today=period.end + timedelta(days=1),
                             span_start=first_day_needed(config, period), data_start=daily["date"].min().date(),
                             daily=daily, latest=latest, inputs=pd.DataFrame())
        if base is not None:  # the same data: share its derived frames
            ctx = dataclasses.replace(ctx, memo={})
            for name in ("all_by_category", "by_category", "measures_daily"):
                ctx.__dict__[name] = base.__dict__[name]
        found += Completeness().run(ctx)
        base = ctx
    return found
