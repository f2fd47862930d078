"""The CompStat period table, against counts worked out by hand from tests/test_ingest.py's rows.

Period 2026-W10 = Mon 2 to Sun 8 March 2026; last year's week = 3 to 9 March 2025;
28 days = 9 Feb to 8 Mar 2026 vs 10 Feb to 9 Mar 2025; YTD = 1 Jan to 8 Mar, both years.
Unit A burglary: this week 3 (R1-R3), last year's week 2 (R7 on 4 Mar, R8 on 9 Mar);
28 days 5 vs 2; YTD 6 (adds R6) vs 5 (R7 + R9-R12; R8 on 9 Mar 2025 is after 8 Mar).
Unit B burglary: this week 3 (R16 and R19 on 6 Mar, R21 on 4 Mar: R19's and R21's coordinates cannot be
read, so they are counted without them), none last year.
"""

from __future__ import annotations

import math
from datetime import date

import pandas as pd
import pytest

from compstat.analysis.measures import daily_by_category
from compstat.analysis.period_table import period_table
from compstat.config import Config
from compstat.figures import TOTAL, daily_measures, measure_values
from compstat.ingest import ingest_all
from compstat.periods import comparison_windows, parse_period
from compstat.store import connect, transaction
from tests.test_ingest import TODAY, write_incidents


@pytest.fixture
def table(small_config: Config, store_url: str) -> pd.DataFrame:
    write_incidents(small_config)
    engine = connect(store_url)
    period = parse_period("2026-W10", small_config.cadence)
    windows = comparison_windows(period, small_config.cadence)
    with transaction(engine) as session:
        ingest_all(session, small_config, TODAY, store_url)
        daily = daily_measures(daily_by_category(session, "testshire", date(2024, 1, 1), period.end), small_config)
    engine.dispose()
    return period_table(daily, small_config, windows).set_index(["unit_code", "measure_id", "window"])


def cell(table: pd.DataFrame, unit: str, measure: str, window: str) -> tuple[float, float]:
    row = table.loc[(unit, measure, window)]
    return row["current"], row["previous"]


def test_hand_counts(table: pd.DataFrame) -> None:
    assert cell(table, "A", "burglary", "period") == (3, 2)
    assert cell(table, "A", "burglary", "28d") == (5, 2)
    assert cell(table, "A", "burglary", "ytd") == (6, 5)
    assert cell(table, "B", "burglary", "period") == (3, 0)
    assert cell(table, TOTAL, "burglary", "period") == (6, 2)
    assert cell(table, TOTAL, "burglary", "ytd") == (9, 5)


def test_change_and_percent(table: pd.DataFrame) -> None:
    row = table.loc[("A", "burglary", "28d")]
    assert row["change"] == 3 and row["pct_change"] == pytest.approx(150.0)
    ytd = table.loc[("A", "burglary", "ytd")]
    assert ytd["pct_change"] == pytest.approx(20.0)


def test_zero_last_year_has_no_percentage(table: pd.DataFrame) -> None:
    row = table.loc[("A", "robbery", "period")]
    assert (row["current"], row["previous"], row["change"]) == (2, 0, 2)
    assert math.isnan(row["pct_change"])
    empty = table.loc[("B", "robbery", "ytd")]
    assert (empty["current"], empty["previous"]) == (0, 0) and math.isnan(empty["pct_change"])


def test_small_numbers_flagged(table: pd.DataFrame) -> None:
    assert bool(table.loc[("A", "burglary", "ytd"), "small_numbers"])


def test_rates_and_means_from_totals(small_config: Config) -> None:
    config = small_config.model_copy(update={"measures": [
        *small_config.measures,
        small_config.measures[0].model_copy(update={"id": "share", "name": "Share", "kind": "rate",
                                                     "numerator": "robbery", "denominator": "burglary",
                                                     "per": 100.0, "filter": small_config.measures[0].filter}),
    ]})
    totals = pd.DataFrame({"unit_code": ["A", "A", "B", "B"], "measure_id": ["burglary", "robbery"] * 2,
                           "total": [8.0, 2.0, 0.0, 3.0], "n": [8, 2, 0, 3]})
    values = measure_values(totals, config, []).set_index(["unit_code", "measure_id"])["value"]
    assert values[("A", "share")] == pytest.approx(25.0)
    assert math.isnan(values[("B", "share")])  # denominator 0: no rate, not infinity


def test_no_previous_value_before_the_data_starts(small_config: Config) -> None:
    daily = pd.DataFrame({"unit_code": ["A"], "measure_id": ["burglary"], "date": [pd.Timestamp("2026-03-03")],
                          "total": [3.0], "n": [3]})
    windows = comparison_windows(parse_period("2026-W10", small_config.cadence), small_config.cadence)
    table = period_table(daily, small_config, windows, data_start=date(2026, 1, 1)).set_index(
        ["unit_code", "measure_id", "window"])
    row = table.loc[("A", "burglary", "period")]
    assert row["current"] == 3 and math.isnan(row["previous"]) and math.isnan(row["pct_change"])
    assert not row["small_numbers"]  # no comparison at all, rather than a small one
