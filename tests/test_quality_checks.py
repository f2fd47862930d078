"""Each quality check on frames written here: a clean case that finds nothing, a defective case that does."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import pandas as pd
import pytest

from compstat.config import CHECK_NAMES, Config
from compstat.errors import BlockedError, ConfigError
from compstat.ingest import IngestReport
from compstat.ingest.mapping import EXACT_COPY, TOTAL_ROW, UNKNOWN_UNIT
from compstat.packs.quality_report import render_report
from compstat.periods import comparison_windows, parse_period
from compstat.quality import CHECKS, QualityContext, assess, gate, revisions
from compstat.quality.checks import (
    Changes,
    Completeness,
    Consistency,
    Duplicates,
    Revisions,
    Structure,
    Timeliness,
    Validity,
)
from compstat.quality.context import (
    DAILY_SOURCE_COLUMNS,
    DUPLICATE_COLUMNS,
    PreviousCycle,
    first_day_needed,
    first_figures,
)

PERIOD = "2026-W10"  # Monday 2 March to Sunday 8 March 2026
TODAY = date(2026, 3, 10)
HISTORY_START = date(2024, 12, 30)
STEADY = {"A": {"burglary": 2, "robbery": 1}, "B": {"burglary": 2}}


def records(per_day: dict[str, dict[str, int]] = STEADY, start: date = HISTORY_START,
            end: date = date(2026, 3, 8), subcategory: str = "") -> pd.DataFrame:
    """One row per incident: the same number every day for each unit and category."""
    days = pd.date_range(start, end, freq="D")
    rows = [(unit, day, category, subcategory, 1.0)
            for unit, categories in per_day.items() for category, n in categories.items()
            for day in days for _ in range(n)]
    return pd.DataFrame(rows, columns=["unit_code", "date", "category", "subcategory", "value"])


def with_config(config: Config, **quality: Any) -> Config:
    raw = config.model_dump()
    raw["quality"] = {**raw["quality"], **quality}
    return Config.model_validate({**raw, "base_dir": config.base_dir})


def context(config: Config, rows: pd.DataFrame, period: str = PERIOD, **extra: Any) -> QualityContext:
    """A QualityContext as the loader would build it from these rows (all from source 'incidents')."""
    rows = rows.assign(source=rows.get("source", "incidents"), date=pd.to_datetime(rows["date"]))
    daily = rows.groupby(["source", "unit_code", "category", "subcategory", "date"], as_index=False).agg(
        total=("value", "sum"), n=("value", "size"))[DAILY_SOURCE_COLUMNS]
    latest = daily.groupby(["source", "unit_code"], as_index=False).agg(latest=("date", "max"))
    latest["latest"] = latest["latest"].dt.date
    inputs = pd.DataFrame([{"file_id": 1, "source": "incidents", "path": "data/incidents.csv", "sha256": "ab12",
                            "rows_read": len(rows), "rows_loaded": len(rows), "rows_rejected": 0,
                            "rows_skipped": extra.pop("rows_skipped", 0),
                            "columns": extra.pop("columns", ("ref", "unit", "when", "offence", "lat", "lon"))}])
    when = parse_period(period, config.cadence)
    span_start = first_day_needed(config, when, extra.get("previous"))
    extra.setdefault("first_seen", first_figures(daily, span_start))
    return QualityContext(config=config, period=when, today=TODAY, span_start=span_start,
                          data_start=daily["date"].min().date(), daily=daily, latest=latest, inputs=inputs, **extra)


def drop(rows: pd.DataFrame, unit: str, first: str, last: str, category: str | None = None) -> pd.DataFrame:
    """The rows without ``unit``'s records (of ``category``) between two dates."""
    day = pd.to_datetime(rows["date"])
    mask = (rows["unit_code"] == unit) & day.between(first, last)
    if category:
        mask &= rows["category"] == category
    return rows[~mask]


def rejected(*rows: tuple[int, str, str, dict[str, str]], source: str = "incidents") -> pd.DataFrame:
    return pd.DataFrame([(source, "data/incidents.csv", line, fld, reason, json.dumps(raw))
                         for line, fld, reason, raw in rows],
                        columns=["source", "path", "source_row", "field", "reason", "raw"])


# --- the registry and the settings ---------------------------------------------------------


def test_checks_are_declared_once_in_order() -> None:
    assert tuple(c.name for c in CHECKS) == CHECK_NAMES
    assert all(c.default_severity in ("blocking", "warning", "info") and c.description for c in CHECKS)


def test_unknown_check_and_bad_reference_are_config_errors(small_config: Config, tmp_path: Any) -> None:
    with pytest.raises(ValueError, match="unknown check"):
        with_config(small_config, checks={"completenes": {"enabled": False}})
    bad = with_config(small_config, changes=[{"date": "2026-01-01", "units": ["Q"], "description": "x"}])
    from compstat.quality.context import check_references

    with pytest.raises(ConfigError, match="quality.changes.0.units: no unit has code 'Q'"):
        check_references(bad)


def test_clean_data_raises_nothing(small_config: Config) -> None:
    result = assess(context(small_config, records()))
    assert result.findings == ()
    assert result.comparisons.empty
    assert result.data_as_of == {"A": date(2026, 3, 8), "B": date(2026, 3, 8)}


# --- 1. completeness ----------------------------------------------------------------------


def test_completeness_clean(small_config: Config) -> None:
    assert Completeness().run(context(small_config, records())) == []


def nb_lower_tail(x: int, mean: float, variance: float) -> float:
    """P(X <= x) for a negative binomial with this mean and variance, summed term by term."""
    size, p = mean**2 / (variance - mean), mean / variance
    term, total = p**size, 0.0
    for k in range(x + 1):
        total += term
        term *= (size + k) / (k + 1) * (1 - p)
    return total


def test_completeness_unit_with_no_records_and_implausibly_low_count(small_config: Config) -> None:
    rows = drop(records(), "B", "2026-03-02", "2026-03-08")
    rows = drop(rows, "A", "2026-03-02", "2026-03-08", "burglary")  # 1 burglary left, usually 14 a week
    rows = pd.concat([rows, records({"A": {"burglary": 1}}, date(2026, 3, 8), date(2026, 3, 8))])
    ctx = context(small_config, rows)
    found = {(f.unit_code, f.measure_id): f for f in Completeness().run(ctx)}
    assert set(found) == {("B", None), ("A", "burglary")}
    # every past week is the same, so the spread is the estimated mean's alone: V = m (1 + 1/12)
    assert nb_lower_tail(0, 14, 14 * 13 / 12) < 1e-4 and nb_lower_tail(1, 14, 14 * 13 / 12) < 1e-4
    assert nb_lower_tail(2, 14, 14 * 13 / 12) > 1e-4  # so 2 burglaries would not be flagged
    silent = found[("B", None)]
    assert silent.severity == "warning" and silent.period == PERIOD and silent.units == {"B": 0}
    assert silent.message == ("Bravo (B): no records at all for 2026-W10 although it averages 14.0 records a week "
                              "(a week with none has a less than 1 in 10,000 chance) — probably missing data, not a "
                              "fall to zero; this year's week, 28 days and year to date comparisons are marked not "
                              "like-for-like")
    low = found[("A", "burglary")]
    assert low.rows == 1 and low.units == {"A": 1} and low.message.startswith(
        "Alpha (A): Burglary 1 in 2026-W10 although it averages 14.0 a week (a count this low has a less than 1 in "
        "10,000 chance given its usual variation) — probably missing data, not a real fall")
    marks = Completeness().marks(ctx).set_index(["unit_code", "measure_id", "window"])
    assert set(marks.loc["B"].index) == {(m, w) for m in ("burglary", "robbery") for w in ("period", "28d", "ytd")}
    assert set(marks.loc["A"].index) == {("burglary", w) for w in ("period", "28d", "ytd")}
    assert not marks["like_for_like"].any()
    assert marks.loc[("B", "robbery", "ytd"), "reason"] == "missing data in 2026-W10"
    assert set(marks.loc[("_total", "burglary", "ytd"), "reason"]) == {"missing data in 2026-W10 (A)",
                                                                         "missing data in 2026-W10 (B)"}


def test_completeness_missing_periods_inside_the_comparisons(small_config: Config) -> None:
    """A week missing in this year's year to date, and one in last year's week: both sides are checked."""
    rows = records({"A": {"burglary": 3, "robbery": 1}, "B": {"burglary": 4}})
    rows = drop(rows, "B", "2026-01-12", "2026-01-18")  # 2026-W03
    rows = drop(rows, "A", "2025-03-03", "2025-03-09", "burglary")  # 2025-W10: last year's week
    ctx = context(small_config, rows)
    found = {(f.unit_code, f.measure_id): f for f in Completeness().run(ctx)}
    assert set(found) == {("B", None), ("A", "burglary")}
    assert found[("B", None)].message == (
        "Bravo (B): no records at all for 2026-W03 although it averages 28.0 records a week (a week with none has a "
        "less than 1 in 10,000 chance) — probably missing data, not a fall to zero; this year's year to date "
        "comparisons are marked not like-for-like")
    assert found[("A", "burglary")].message.startswith(
        "Alpha (A): Burglary 0 in 2025-W10 although it averages 21.0 a week")
    assert found[("A", "burglary")].message.endswith(
        "; last year's week, 28 days and year to date comparisons are marked not like-for-like")
    # earlier weeks must clear a stricter bar: the chance divided by the 19 weeks judged before this one
    # (2025-W01 to W10 of last year's year to date, 2026-W01 to W09 of this year's)
    assert nb_lower_tail(0, 21, 21 * 13 / 12) < 1e-4 / 19 and nb_lower_tail(0, 28, 28 * 13 / 12) < 1e-4 / 19
    marks = Completeness().marks(ctx).set_index(["unit_code", "measure_id", "window"])
    assert set(marks.loc["B"].index) == {("burglary", "ytd"), ("robbery", "ytd")}
    assert set(marks.loc["A"].index) == {("burglary", w) for w in ("period", "28d", "ytd")}
    assert marks.loc[("A", "burglary", "period"), "reason"] == "missing data in 2025-W10"


def test_completeness_zero_that_chance_explains_is_a_note(small_config: Config) -> None:
    rows = records({"A": {"burglary": 2}, "B": {"robbery": 0}})
    days = pd.date_range("2025-12-01", "2026-03-01", freq="14D")
    sparse = pd.DataFrame({"unit_code": "B", "date": days, "category": "robbery", "subcategory": "", "value": 1.0})
    found = Completeness().run(context(small_config, pd.concat([rows, sparse])))
    assert [(f.unit_code, f.severity) for f in found] == [("B", "info")]
    mean = ((days >= "2025-12-08") & (days <= "2026-03-01")).sum() / 12  # the 12 weeks before 2026-W10
    chance = nb_lower_tail(0, mean, mean * 13 / 12)  # Alpha's steady weeks pool no extra spread
    assert found[0].message == (
        f"Bravo (B): no records at all for 2026-W10; it averages {mean:.1f} records a week, so a week with none "
        f"happens by chance (1 in {round(1 / chance):,}) — confirm the data is complete before crediting a fall")


def test_completeness_and_timeliness_skip_a_unit_after_its_declared_merger(small_config: Config) -> None:
    rows = drop(records(), "B", "2026-02-02", "2026-03-08")  # Bravo's data stops after 2026-W05
    undeclared = context(small_config, rows)
    assert [f.unit_code for f in Completeness().run(undeclared)] == ["B"]
    assert [f.unit_code for f in Timeliness().run(undeclared)] == ["B"]
    merged = with_config(small_config, changes=[{"date": "2026-02-02", "kind": "merger", "units": ["A", "B"],
                                                 "description": "Bravo merged into Alpha"}])
    ctx = context(merged, rows)
    assert ctx.ended == {"B": date(2026, 2, 2)}  # Alpha carries on, so only Bravo ended
    assert Completeness().run(ctx) == [] and Completeness().marks(ctx).empty
    assert Timeliness().run(ctx) == []
    closed = with_config(small_config, changes=[{"date": "2026-02-16", "kind": "closure", "units": ["B"],
                                                 "description": "Bravo closed"}])
    late = context(closed, rows)  # its data stopped two weeks before the declared closure: still missing data
    found = Completeness().run(late)
    assert [f.unit_code for f in found] == ["B"] and "no records at all for 2026-W06 and 2026-W07" in found[0].message
    with pytest.raises(ValueError, match="a closure names the units that close"):
        with_config(small_config, changes=[{"date": "2026-02-16", "kind": "closure", "description": "x"}])


# --- 2. timeliness ------------------------------------------------------------------------


def test_timeliness_clean(small_config: Config) -> None:
    assert Timeliness().run(context(small_config, records())) == []


def test_timeliness_defers_when_a_unit_has_not_arrived(small_config: Config) -> None:
    rows = drop(records(), "A", "2026-03-05", "2026-03-08")
    found = Timeliness().run(context(small_config, rows))
    assert [(f.unit_code, f.severity, f.source) for f in found] == [("A", "blocking", "incidents")]
    assert found[0].message == (
        "Alpha (A): incidents data as of 2026-03-04, 4 days before 2026-W10 ends; it usually has records on 100% "
        "of days, so the rest of the period has probably not arrived")
    relaxed = with_config(small_config, on_stale="warn")
    assert [f.severity for f in Timeliness().run(context(relaxed, rows))] == ["warning"]
    lagged = with_config(small_config, expected_lag_days={"incidents": 4})
    assert Timeliness().run(context(lagged, rows)) == []


def test_timeliness_monthly_dates(small_config: Config) -> None:
    monthly = with_config(small_config)
    raw = monthly.model_dump()
    raw["cadence"]["period"] = "monthly"
    monthly = Config.model_validate({**raw, "base_dir": small_config.base_dir})
    months = pd.date_range("2025-01-01", "2026-02-01", freq="MS")
    rows = pd.DataFrame([(u, d, "burglary", "", 40.0) for u in ("A", "B") for d in months
                         if not (u == "B" and d == months[-1])],
                        columns=["unit_code", "date", "category", "subcategory", "value"])
    found = Timeliness().run(context(monthly, rows, period="2026-02"))
    assert [f.unit_code for f in found] == ["B"]
    assert found[0].message.startswith("Bravo (B): incidents data as of 2026-01; nothing for 2026-02 yet")


# --- 3. validity --------------------------------------------------------------------------


def test_validity_clean(small_config: Config) -> None:
    clean = with_config(small_config, area={"min_lat": 53, "max_lat": 54, "min_lon": -3, "max_lon": -2})
    coordinates = pd.DataFrame({"source": ["incidents"], "unit_code": ["A"], "outside": [0], "blank": [0]})
    assert Validity().run(context(clean, records(), coordinates=coordinates)) == []


def test_validity_defects(small_config: Config) -> None:
    config = with_config(small_config, area={"min_lat": 53, "max_lat": 54, "min_lon": -3, "max_lon": -2})
    quarantined = rejected(
        (19, "when", "date 'yesterday' is not a date (expected a date)", {"unit": "B", "when": "yesterday"}),
        (21, "when", "date '2027-01-01' is in the future", {"unit": "B", "when": "2027-01-01"}),
        (18, "unit", UNKNOWN_UNIT.format("Z"), {"unit": "Z", "when": "2026-03-06"}),
        (30, "unit", UNKNOWN_UNIT.format("Z"), {"unit": "Z", "when": "2026-03-07"}),
        (31, "unit", UNKNOWN_UNIT.format("Old"), {"unit": "Old", "when": "2019-05-01"}))
    coordinates = pd.DataFrame({"source": "incidents", "unit_code": ["A", "B"], "outside": [2, 0], "blank": [0, 3]})
    rows = pd.concat([records(), records({"A": {"vandalism": 1}}, start=date(2026, 3, 1))])
    found = Validity().run(context(config, rows, rejected=quarantined, coordinates=coordinates, rows_skipped=7))
    text = {f.message.split(":")[0].split(" (")[0]: f for f in found}
    assert text["2 rows of incidents.csv quarantined, not counted"].rows == 2
    assert text["2 rows of incidents.csv quarantined, not counted"].units == {"B": 2}
    assert "2 in 'when' (e.g. date 'yesterday' is not a date" in text[
        "2 rows of incidents.csv quarantined, not counted"].message
    z = text["'Z' in 'unit'"]
    assert (z.severity, z.rows, z.units) == ("warning", 2, {"Z": 2})
    assert "2 rows from 2026-03-06 to 2026-03-07 quarantined" in z.message
    assert "fall in this cycle's comparisons" in z.message and "nor in the organisation total" in z.message
    old = text["'Old' in 'unit'"]
    assert old.severity == "info" and "none of them fall in this cycle's comparisons" in old.message
    outside = next(f for f in found if "outside the area" in f.message)
    assert (outside.severity, outside.rows, outside.unit_code, outside.units) == ("warning", 2, "A", {"A": 2})
    blank = next(f for f in found if "no coordinates" in f.message)
    assert (blank.rows, blank.unit_code, blank.units) == (3, "B", {"B": 3})
    skipped = next(f for f in found if "skipped" in f.message)
    assert skipped.severity == "info" and skipped.message.startswith("7 rows of incidents.csv are for units outside")
    unmeasured = next(f for f in found if "count towards no measure" in f.message)
    assert unmeasured.severity == "info" and "vandalism (8 rows)" in unmeasured.message
    assert unmeasured.units == {"A": 8}
    assert skipped.units == {}  # skipped rows are not stored, so not attributable


def test_several_units_in_one_finding_are_listed_with_their_rows(small_config: Config) -> None:
    config = with_config(small_config, area={"min_lat": 53, "max_lat": 54, "min_lon": -3, "max_lon": -2})
    coordinates = pd.DataFrame({"source": "incidents", "unit_code": ["A", "B"], "outside": [1, 4], "blank": [0, 0]})
    outside = Validity().run(context(config, records(), coordinates=coordinates))[0]
    assert "A 1, B 4" in outside.message
    assert (outside.unit_code, outside.rows, outside.units) == (None, 5, {"A": 1, "B": 4})
    assert outside.as_dict()["units"] == {"A": 1, "B": 4}


def test_data_as_of_is_the_stalest_source(small_config: Config) -> None:
    calls = records({"A": {"call": 1}, "B": {"call": 1}}, start=date(2026, 1, 1), end=date(2026, 3, 6)).assign(
        source="calls")
    ctx = context(small_config, pd.concat([records().assign(source="incidents"), calls]))
    result = assess(ctx, [])
    assert result.data_as_of_by_source == {"incidents": {"A": date(2026, 3, 8), "B": date(2026, 3, 8)},
                                           "calls": {"A": date(2026, 3, 6), "B": date(2026, 3, 6)}}
    assert result.data_as_of == {"A": date(2026, 3, 6), "B": date(2026, 3, 6)}  # all data is in only to the 6th


def test_organisation_total_counts_units_no_longer_in_the_config_as_the_packs_do(small_config: Config) -> None:
    from compstat.analysis.period_table import period_table
    from compstat.figures import daily_measures

    stray = records({"Q": {"burglary": 1}}, start=date(2026, 2, 9))  # 28 a 28 days, 7 a week
    ctx = context(small_config, pd.concat([records(), stray]))
    figures = ctx.current_figures.set_index(["unit_code", "measure_id", "window", "side"])["value"]
    assert figures[("_total", "burglary", "period", "current")] == 7 * (2 + 2) + 7  # Alpha, Bravo and Q
    assert figures[("_total", "burglary", "28d", "current")] == 28 * 4 + 28
    table = period_table(daily_measures(ctx.all_by_category, small_config), small_config, ctx.windows,
                         ctx.data_start).set_index(["unit_code", "measure_id", "window"])
    assert table.loc[("_total", "burglary", "period"), "current"] == figures[("_total", "burglary", "period",
                                                                              "current")]
    stray_finding = next(f for f in Structure().run(ctx) if "'Q'" in f.message)
    assert "counted in the organisation total" in stray_finding.message and stray_finding.units == {"Q": 28}


def test_validity_rate_without_denominator(small_config: Config) -> None:
    raw = small_config.model_dump()
    raw["measures"].append({"id": "solved", "name": "Solved", "filter": {"category": ["solved"]}, "report": False})
    raw["measures"].append({"id": "rate", "name": "Solved rate", "kind": "rate", "numerator": "solved",
                            "denominator": "burglary", "per": 100})
    config = Config.model_validate({**raw, "base_dir": small_config.base_dir})
    assert Validity().run(context(config, records())) == []
    rows = drop(records(), "B", "2026-02-09", "2026-03-08", "burglary")
    found = [f for f in Validity().run(context(config, rows)) if f.measure_id == "rate"]
    assert [f.unit_code for f in found] == ["B"]
    assert found[0].message == ("Bravo (B): Solved rate cannot be computed for the week and the 28 days to "
                                "2026-03-08: its denominator (Burglary) is 0 or missing — shown as a gap, not 0")


# --- 4. duplicates ------------------------------------------------------------------------


def test_duplicates_clean(small_config: Config) -> None:
    assert Duplicates().run(context(small_config, records())) == []


def test_duplicates_defects(small_config: Config) -> None:
    copies = rejected(*[(n, "ref", EXACT_COPY.format(n - 10, "ref"), {"ref": f"R{n}", "unit": unit})
                        for n, unit in ((40, "A"), (41, "Bravo"), (42, "A"))])
    stored = pd.DataFrame([
        ("incidents", True, "R7", "A, B", {"A": 1, "B": 1}, 2, False, "2026-03-03", 1),
        ("incidents", True, "R9", "A", {"A": 3}, 3, True, "2026-03-04", 1),
    ], columns=DUPLICATE_COLUMNS)
    found = Duplicates().run(context(small_config, records(), rejected=copies, duplicates=stored))
    assert [(f.severity, f.rows) for f in found] == [("warning", 3), ("warning", 2), ("blocking", 2)]
    assert found[0].message == ("3 rows of incidents.csv are exact copies of earlier rows (same ref and every "
                                "other column): quarantined and not counted, so each record counts once. List them "
                                "with `compstat quarantine list`.")
    assert found[0].units == {"A": 2, "B": 1}  # 'Bravo' is B by name
    assert "1 value of ref in incidents" in found[1].message and "(e.g. R7 in A, B)" in found[1].message
    assert "all of them are counted" in found[1].message and found[1].units == {"A": 1, "B": 1}
    assert "2 rows of incidents" in found[2].message and "counted more than once" in found[2].message
    assert found[2].units == {"A": 2}  # 3 identical rows: 2 copies beyond the first


def test_duplicates_without_a_key_are_a_note(small_config: Config) -> None:
    raw = small_config.model_dump()
    raw["sources"][0]["columns"]["record_id"] = None
    config = Config.model_validate({**raw, "base_dir": small_config.base_dir})
    identical = pd.DataFrame([("incidents", False, "", "B", {"B": 3}, 3, True, "2026-03-05", 1)],
                             columns=DUPLICATE_COLUMNS)
    found = Duplicates().run(context(config, records(), duplicates=identical))
    assert [(f.severity, f.rows, f.units) for f in found] == [("info", 2, {"B": 2})]
    assert "cannot be told apart from separate records, so they are counted" in found[0].message


# --- 5. revisions -------------------------------------------------------------------------


def previous_cycle(config: Config, rows: pd.DataFrame, label: str = "2026-W09") -> PreviousCycle:
    """The figures a W09 cycle would have stored for ``rows``."""
    ctx = context(config, rows, period=label)
    figures = ctx.current_figures[ctx.current_figures["measure_id"].isin(["burglary", "robbery"])]
    wide = figures.pivot_table(index=["unit_code", "measure_id", "window"], columns="side", values="value")
    period = parse_period(label, config.cadence)
    return PreviousCycle(period, comparison_windows(period, config.cadence), wide.reset_index()[
        ["unit_code", "measure_id", "window", "current", "previous"]], {"units": {"A": "Alpha", "B": "Bravo"}})


def test_revisions_clean(small_config: Config) -> None:
    rows = records()
    ctx = context(small_config, rows, previous=previous_cycle(small_config, rows))
    assert revisions(ctx).empty
    assert Revisions().run(ctx) == [] and Revisions().marks(ctx).empty


def test_revisions_late_recording_and_fragile_changes(small_config: Config) -> None:
    shown = drop(records(), "A", "2026-02-23", "2026-03-01", "burglary")  # W09's burglaries arrive late...
    shown = pd.concat([shown, records({"A": {"burglary": 1}}, date(2026, 2, 23), date(2026, 3, 1))])
    late = [("A", "2026-02-25", "robbery", "", 1.0)]  # ...and one robbery
    now = pd.concat([records(), pd.DataFrame(late, columns=shown.columns)])
    ctx = context(small_config, now, previous=previous_cycle(small_config, shown))
    found = Revisions().run(ctx)
    assert [(f.severity, f.unit_code, f.measure_id) for f in found] == [("warning", "A", "burglary"),
                                                                       ("warning", None, "burglary"),
                                                                       ("info", None, None)]
    assert found[0].message == ("Alpha (A): Burglary for the period 2026-02-23 to 2026-03-01 was 7 in the 2026-W09 "
                                "pack and is now 14 (+7): late recording or reclassification; 2 other figures changed "
                                "too")
    assert found[0].period == "2026-W09" and found[0].rows == 7
    assert found[2].message.startswith("Since the 2026-W09 pack, 7 figures for 1 unit and the organisation changed "
                                       "within the tolerance (at most ±2 or 5%; largest +7)")
    marks = Revisions().marks(ctx).set_index(["unit_code", "measure_id", "window"])
    assert marks.loc[("A", "robbery", "period"), "fragile"]  # this week's change (0) is within last week's +1
    assert "no bigger than one week's late recording (+1 to the 2026-W09 figure)" in marks.loc[
        ("A", "robbery", "period"), "reason"]
    assert ("A", "burglary", "ytd") in marks.index  # a change of 0 is within the +7 revision


# --- 6. structure -------------------------------------------------------------------------


def test_structure_clean(small_config: Config) -> None:
    rows = records()
    ctx = context(small_config, rows, previous=previous_cycle(small_config, rows))
    assert Structure().run(ctx) == [] and Structure().marks(ctx).empty


def test_structure_unit_new_in_the_data_and_since_the_last_cycle(small_config: Config) -> None:
    rows = drop(records(), "B", "2024-12-30", "2025-12-31")
    previous = previous_cycle(small_config, records())
    previous = PreviousCycle(previous.period, previous.windows, previous.results,
                             {"units": {"A": "Alpha Old", "C": "Charlie"}})
    stray = pd.DataFrame([("Q", "2026-03-04", "burglary", "", 1.0)], columns=rows.columns)
    ctx = context(small_config, pd.concat([rows, stray]), previous=previous)
    found = Structure().run(ctx)
    messages = [f.message for f in found]
    assert any(m.startswith("Bravo (B) is new since the 2026-W09 cycle") for m in messages)
    assert any(m.startswith("C ('Charlie') was a unit in the 2026-W09 cycle but is no longer in the config")
               for m in messages)
    assert "A was called 'Alpha Old' in the 2026-W09 cycle and is now 'Alpha'" in messages
    assert any(m.startswith("1 row in the store since") and "unit 'Q'" in m for m in messages)
    appeared = next(f for f in found if "but none in the same period last year" in f.message)
    assert appeared.unit_code == "B" and "week, 28 days and year to date" in appeared.message
    marks = Structure().marks(ctx)
    assert set(marks["unit_code"]) == {"B", "_total"} and not marks["like_for_like"].any()
    assert len(marks) == 2 * 2 * 3


def test_structure_reporting_stream_starts(small_config: Config) -> None:
    base = records({"A": {"burglary": 3}, "B": {"burglary": 3}}, subcategory="house")
    sheds = records({"A": {"burglary": 2}}, start=date(2025, 12, 1), subcategory="shed")
    found = Structure().run(context(small_config, pd.concat([base, sheds])))
    assert [(f.severity, f.unit_code) for f in found] == [("warning", "A")]
    assert found[0].message == ("Alpha (A): 'shed' rows (burglary) start in 2025-W49 (none before): this year's "
                                "week, 28 days and year to date of Burglary include them and last year's do not, or "
                                "only in part — not like-for-like")
    # the same rows moved from 'house' to 'shed' (a reclassification): like-for-like, a note
    moved = pd.concat([drop(base, "A", "2025-12-01", "2026-03-08"),
                       records({"A": {"burglary": 1}}, start=date(2025, 12, 1), subcategory="house"), sheds])
    ctx = context(small_config, moved)
    assert [(f.severity, f.unit_code) for f in Structure().run(ctx)] == [("info", "A")]
    assert "a reclassification within the measure" in Structure().run(ctx)[0].message
    assert Structure().marks(ctx).empty


# --- 7. consistency -----------------------------------------------------------------------


def test_consistency_clean(small_config: Config) -> None:
    totals = records({"_total": {"burglary": 4, "robbery": 1}}, start=date(2026, 3, 2)).drop(columns="value")
    supplied = totals.groupby(["unit_code", "category", "subcategory", "date"], as_index=False).size().rename(
        columns={"size": "total"}).assign(n=1, date=lambda f: pd.to_datetime(f["date"]))
    assert Consistency().run(context(small_config, records(), supplied_totals=supplied)) == []


def test_consistency_defects(small_config: Config) -> None:
    supplied = pd.DataFrame({"unit_code": "_total", "category": "burglary", "subcategory": "",
                             "date": pd.date_range("2026-03-02", "2026-03-08"), "total": [5.0, 4, 4, 4, 4, 4, 5],
                             "n": 1})
    zeros = rejected((5, "count", "value 'nil' is not a number", {"count": "nil"}),
                     (6, "count", "value '-' is not a number", {"count": "-"}),
                     (7, "count", "value 'abc' is not a number", {"count": "abc"}))
    previous = PreviousCycle(parse_period("2026-W09", small_config.cadence), [], pd.DataFrame(
        columns=["unit_code", "measure_id", "window", "current", "previous"]),
        {"inputs": [{"source": "incidents", "columns": ["ref", "unit", "when", "offence"]}]})
    report = IngestReport("incidents", "data/incidents.csv", "ab12", "loaded", 10, 10,
                          columns=("ref", "unit", "when", "offence", "lat", "lon"))
    found = Consistency().run(context(small_config, records(), supplied_totals=supplied, rejected=zeros,
                                      previous=previous, reports=(report,)))
    assert [f.measure_id for f in found][:1] == ["burglary"]
    assert found[0].message == ("Burglary: the organisation total supplied for the week 2026-03-02 to 2026-03-08 is "
                                "30 but the units add up to 28 (-2): rows for units outside the config, or a unit's "
                                "figures are incomplete")
    zero = next(f for f in found if "zero written as text" in f.message)
    assert zero.rows == 2 and "give '-' and 'nil' where a number is expected" in zero.message
    drift = next(f for f in found if "columns of incidents changed" in f.message)
    assert "added 'lat' and 'lon'" in drift.message and drift.severity == "warning"


# --- 8. declared changes ------------------------------------------------------------------


def test_changes_outside_the_comparisons_are_silent(small_config: Config) -> None:
    config = with_config(small_config, changes=[{"date": "2024-06-01", "kind": "definition",
                                                 "description": "old counting rules"}])
    ctx = context(config, records())
    assert Changes().run(ctx) == [] and Changes().marks(ctx).empty


def test_changes_inside_a_comparison_are_marked(small_config: Config) -> None:
    config = with_config(small_config, changes=[{
        "date": "2026-02-20", "kind": "boundary", "units": ["B"], "measures": ["burglary"],
        "description": "Bravo took over two streets from Alpha"}])
    ctx = context(config, records())
    found = Changes().run(ctx)
    assert [(f.severity, f.unit_code, f.measure_id) for f in found] == [("warning", "B", "burglary")]
    assert found[0].message == ("Boundary change on 2026-02-20 (Bravo took over two streets from Alpha) falls inside "
                                "this cycle's week, 28 days and year to date comparisons of Burglary for Bravo (B) and "
                                "for Testshire Police as a whole: marked not like-for-like, not compared silently")
    assert found[0].units == {"B": 0}
    marks = Changes().marks(ctx)  # the streets may have come from outside the force: the total is marked too
    assert sorted(marks["window"]) == ["28d", "28d", "period", "period", "ytd", "ytd"]
    assert set(marks["unit_code"]) == {"B", "_total"} and not marks["like_for_like"].any()
    internal = with_config(small_config, changes=[{
        "date": "2026-02-20", "kind": "boundary", "units": ["A", "B"], "measures": ["burglary"],
        "description": "two streets moved from Alpha to Bravo", "within_organisation": True}])
    ctx = context(internal, records())
    assert set(Changes().marks(ctx)["unit_code"]) == {"A", "B"}  # moved within the force: its total is comparable
    assert "so Testshire Police's total is like-for-like" in Changes().run(ctx)[0].message
    everyone = with_config(small_config, changes=[{"date": "2026-02-20", "description": "new counting rules"}])
    ctx = context(everyone, records())
    assert set(Changes().marks(ctx)["unit_code"]) == {"A", "B", "_total"} and Changes().run(ctx)[0].units == {}


# --- severity, scope and the gate ---------------------------------------------------------


def test_settings_override_severity_and_scope(small_config: Config) -> None:
    rows = drop(records(), "B", "2026-03-02", "2026-03-08")
    rows = drop(rows, "A", "2026-03-02", "2026-03-08", "burglary")

    def completeness(**settings: Any) -> list[tuple[str, str | None, str | None]]:
        config = with_config(small_config, checks={"completeness": settings}, on_stale="warn")
        return [(f.severity, f.unit_code, f.measure_id) for f in assess(context(config, rows)).findings
                if f.check == "completeness"]

    assert completeness() == [("warning", "A", "burglary"), ("warning", "B", None)]
    assert completeness(severity="blocking") == [("blocking", "A", "burglary"), ("blocking", "B", None)]
    assert completeness(enabled=False) == []
    assert completeness(measures=["robbery"]) == [("warning", "B", None)]  # a unit-wide finding is kept


def test_settings_sources_keep_findings_of_those_sources_and_unsourced_ones(small_config: Config) -> None:
    rows = drop(records(), "A", "2026-03-05", "2026-03-08")  # Alpha's incidents stop: timeliness (a source)
    rows = drop(rows, "B", "2026-03-02", "2026-03-08")  # Bravo silent: completeness (no source)
    quarantined = rejected((19, "when", "date 'x' is not a date (expected a date)", {"unit": "B", "when": "x"}))

    def found(check: str, **settings: Any) -> list[tuple[str, str | None]]:
        raw = small_config.model_dump()
        raw["sources"].append({**raw["sources"][0], "name": "calls", "path": "calls.csv"})
        config = Config.model_validate({**raw, "base_dir": small_config.base_dir, "quality": {
            **raw["quality"], "checks": {check: settings}}})
        result = assess(context(config, rows, rejected=quarantined))
        return sorted((f.check, f.source) for f in result.findings)

    every = found("validity")
    assert ("validity", "incidents") in every and ("timeliness", "incidents") in every
    assert ("completeness", None) in every
    assert found("validity", sources=["calls"]) == [f for f in every if f != ("validity", "incidents")]
    assert found("timeliness", sources=["calls"]) == [f for f in every if f != ("timeliness", "incidents")]
    assert found("completeness", sources=["calls"]) == every  # findings about no source are kept


def test_gate_stops_on_blocking_and_records_overrides(small_config: Config) -> None:
    rows = drop(drop(records(), "A", "2026-03-05", "2026-03-08"), "B", "2026-03-02", "2026-03-08")
    blocking = with_config(small_config, checks={"completeness": {"severity": "blocking"}})
    result = assess(context(blocking, rows))
    with pytest.raises(BlockedError) as stopped:
        gate(result)
    message = str(stopped.value)
    assert message.startswith("the quality check stopped the cycle for 2026-W10 before the packs (3 blocking")
    assert "--accept-warnings" in message and "Earlier outputs are unchanged" in message
    with pytest.raises(BlockedError, match="Fix the data and run again"):
        gate(result, go_ahead_if_stale=True)  # staleness waved through; the completeness finding still blocks
    accepted = gate(result, accept_warnings=True)
    assert accepted.accept_warnings and len(accepted.accepted) == 3
    assert accepted.manifest()["accepted_blocking"][0]["severity"] == "blocking"
    stale_only = assess(context(small_config, drop(records(), "A", "2026-03-05", "2026-03-08")))
    with pytest.raises(BlockedError, match="Wait for the data and run again, or run with --go-ahead"):
        gate(stale_only)
    went = gate(stale_only, go_ahead_if_stale=True)
    assert went.stale_units == ("A",) and [f.severity for f in went.findings] == ["warning"]
    assert went.findings[0].message.endswith("(went ahead without it: --go-ahead)")


def test_totals_reason_is_recognised() -> None:
    from compstat.quality.checks import rejection_kind

    assert rejection_kind(TOTAL_ROW) == "total"
    assert rejection_kind(EXACT_COPY.format(3, "ref")) == "exact_copy"
    assert rejection_kind(UNKNOWN_UNIT.format("Z")) == "unknown_unit"
    assert rejection_kind("'none' in 'breaches' is not a number") == "zero_text"
    assert rejection_kind("value 'abc' is not a number") == "other"


def test_span_covers_every_window(small_config: Config) -> None:
    period = parse_period(PERIOD, small_config.cadence)
    assert first_day_needed(small_config, period, completeness=False) == min(
        date(2025, 1, 1), period.start - timedelta(weeks=12))
    # completeness also judges last year's first week (Monday 30 December 2024) against the 12 weeks before it
    assert first_day_needed(small_config, period) == date(2024, 12, 30) - timedelta(weeks=12)


def test_every_quality_setting_and_command_is_documented() -> None:
    from pathlib import Path

    from compstat.config import QualitySettings

    readme = Path(__file__).resolve().parents[1].joinpath("README.md").read_text(encoding="utf-8")
    assert [f for f in QualitySettings.model_fields if f"`quality.{f}" not in readme] == []
    assert [c for c in CHECK_NAMES if f"| `{c}` |" not in readme] == []
    for text in ("`compstat check --config C", "--accept-warnings", "--go-ahead", "[--source S]", "FILE.xlsx"):
        assert text in readme, text


def test_report_context_is_documented_and_rendered(small_config: Config) -> None:
    from dataclasses import fields

    from compstat.quality import report

    for cls in (report.QualityReport, report.FindingLine, report.FreshnessLine, report.ComparisonLine,
                report.CheckLine, report.InputLine):
        assert [f.name for f in fields(cls) if not f.metadata.get("help")] == [], cls.__name__
    rows = drop(records(), "B", "2026-03-02", "2026-03-08")
    config = with_config(small_config, changes=[{"date": "2026-02-20", "units": ["A"],
                                                 "description": "a <new> definition"}])
    result = assess(context(config, rows))
    page = report.quality_report(result, config)
    assert page.blocked and page.verdict.startswith("The cycle would stop before the packs: 1 blocking finding")
    assert [line.late for line in page.freshness] == [False, True]
    html = render_report(page)
    assert "a &lt;new&gt; definition" in html and "<new>" not in html
    assert html.count('<tr class="blocking">') == 1 and "not like-for-like" in html
