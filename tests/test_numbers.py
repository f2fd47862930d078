"""``compstat.numbers``: every number in the packs, the findings and the accountability wording is written by
one of these functions (issue #13: one number formatter)."""

from __future__ import annotations

import math

from compstat import numbers
from compstat.packs.filters import FILTERS


def test_counts_values_and_means() -> None:
    assert [numbers.count(v) for v in (1234.0, 2.5, 3.5, None, math.nan)] == ["1,234", "2", "4", "–", "–"]
    assert numbers.number(1234.0) == "1,234" and numbers.number(10.54) == "10.5"
    assert numbers.value(92.44, "rate", "%") == "92.4%" and numbers.value(12.5, "value", "min") == "12.5 min"
    assert numbers.value(12.0, "count") == "12" and numbers.value(math.nan, "rate") == "–"
    assert [numbers.mean(v) for v in (10.66, 3.0, 1234.5)] == ["10.7", "3", "1,234.5"]
    assert [numbers.average(v) for v in (14.0, 99.94, 1234.4)] == ["14.0", "99.9", "1,234"]


def test_changes_and_percentages() -> None:
    assert [numbers.change(v) for v in (12, -3, 0.2, None)] == ["+12", "-3", "0", "–"]
    assert numbers.change(-0.04, "rate") == "0.0" and numbers.change(1.25, "rate") == "+1.2"
    assert [numbers.pct(v) for v in (12.46, -0.04, 1234.5, math.nan)] == ["+12.5%", "0.0%", "+1,234.5%", "*"]
    assert numbers.pct(None, missing="–") == "–"
    assert [numbers.pct_whole(v) for v in (87.4, -12.6)] == ["+87%", "-13%"]


def test_significant_figures() -> None:
    assert [numbers.ratio(v) for v in (2.61, 0.48, 12.4, 0.004, math.nan)] == ["2.6×", "0.48×", "12×", "<0.01×", "–"]
    assert [numbers.two_significant(v) for v in (3.14, 12.6, 0.0)] == ["3.1", "13", "0"]
    assert [numbers.significant(v) for v in (0.09781, 1.5, 12.34, 1234.4, 999.7, math.nan)] == [
        "0.0978", "1.5", "12.3", "1,234", "1,000", "–"]  # 999.7 was "1e+03" before it was shared
    assert [numbers.rate(v) for v in (0.03154, 1.5, 12.34, 1234.4, 0.0)] == ["0.0315", "1.50", "12.3", "1,234", "0"]
    assert [numbers.q_value(q) for q in (0.0004, 0.0123, 0.842)] == ["< 0.001", "0.012", "0.84"]


def test_jinja_filters_are_the_shared_formatters() -> None:
    assert FILTERS["fmt_count"] is numbers.count and FILTERS["fmt_rate"] is numbers.rate
    assert {name: f.__module__ for name, f in FILTERS.items() if name != "fmt_date"} == {
        name: "compstat.numbers" for name in FILTERS if name != "fmt_date"}
