"""The unit table's second table (earlier years and rates) for each kind of measure, and its number formats:
a count per residents a year, a rate measure (a detection rate) as its numerator of its denominator, a value
measure (a response time) with its unit label and no rate."""

from __future__ import annotations

import math
from dataclasses import fields, replace
from datetime import date

import pytest

from compstat.config import Measure
from compstat.packs.context.table import FEWER_YEARS, _longer_cell
from compstat.packs.filters import fmt_mean, fmt_rate, fmt_value
from compstat.schemas import BaselineRow

_DEFAULTS = {f.name: ("" if f.type == "str" else date(2026, 11, 1) if f.type == "date" else 0 if f.type == "int"
                      else math.nan) for f in fields(BaselineRow)}
ROW = BaselineRow(**_DEFAULTS | {"current": 12.0, "two_years_ago": 9.0, "baseline": 10.0, "baseline_years": 3,
                                 "days": 28.0, "current_rate": 0.12})


def test_a_count_gets_its_rate_per_residents_a_year() -> None:
    cell = _longer_cell(ROW, Measure(id="burglary", name="Burglary"), 3, 1000, "‡")
    assert (cell.two_years, cell.mean, cell.pct_vs_mean, cell.mark, cell.fewer) == (9.0, 10.0, 20.0, "‡", "")
    assert cell.rate == pytest.approx(0.12 * 365 / 28) and cell.rate_text == ""
    short = _longer_cell(replace(ROW, **{"baseline_years": 2}), Measure(id="burglary", name="Burglary"), 3, 1000, "")
    assert short.fewer == FEWER_YEARS


def test_a_detection_rate_shows_its_numerator_of_its_denominator() -> None:
    measure = Measure(id="detection", name="Burglary detection rate", kind="rate", numerator="detected",
                      denominator="burglary", per=100, unit_label="%", polarity="higher")
    row = replace(ROW, current=12.5, numerator=47.0, denominator=376.0, current_rate=math.nan)
    cell = _longer_cell(row, measure, 3, 1000, "")
    assert math.isnan(cell.rate) and cell.rate_text == "47 of 376"
    assert fmt_value(cell.two_years, measure.kind, measure.unit_label) == "9.0%"


def test_a_response_time_keeps_its_unit_label_and_has_no_rate() -> None:
    measure = Measure(id="response", name="Emergency response time", kind="value", unit_label="min")
    cell = _longer_cell(replace(ROW, **{"baseline": 11.25, "current_rate": math.nan}), measure, 3, 1000, "")
    assert math.isnan(cell.rate) and cell.rate_text == ""
    assert fmt_mean(cell.mean, measure.kind, measure.unit_label) == "11.2 min"
    assert cell.pct_vs_mean == pytest.approx((12 - 11.25) / 11.25 * 100)


def test_missing_years_show_no_figure() -> None:
    cell = _longer_cell(replace(ROW, **{"two_years_ago": math.nan, "baseline": math.nan, "baseline_years": 0}),
                        Measure(id="burglary", name="Burglary"), 3, 1000, "‡")
    assert math.isnan(cell.pct_vs_mean) and cell.mark == "" and cell.fewer == ""


def test_number_formats() -> None:
    assert [fmt_rate(x) for x in (0.0315, 1.637, 12.34, 1234.5, 0.0, math.nan)] == [
        "0.0315", "1.64", "12.3", "1,234", "0", "–"]
    assert [fmt_mean(x) for x in (10.6667, 3.0, 1106.67)] == ["10.7", "3", "1,106.7"]
