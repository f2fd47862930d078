"""Comparison spans one, two and three years back, and the comparison table, against dates and counts
worked out by hand.

Period 2026-W10 = Mon 2 – Sun 8 March 2026; 28 days = 9 Feb – 8 Mar; YTD = 1 Jan – 8 Mar (67 days).
One year back: 3–9 Mar 2025 (364 days). Two: 2 Mar 2024 is 730 days back → 104 weeks = 728 days →
4–10 Mar 2024. Three: 1096 days (2024 is a leap year) → 157 weeks = 1099 days → 27 Feb – 5 Mar 2023.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd
import pytest

from compstat.analysis.baselines import (
    analysis_start,
    comparison_table,
    history_starts,
    unit_history_start,
    years_back,
)
from compstat.config import Cadence, Config
from compstat.figures import TOTAL
from compstat.periods import comparison_windows, parse_period

WEEKLY = Cadence()
MONTHLY = Cadence(period="monthly")


def windows_of(label: str, cadence: Cadence = WEEKLY) -> dict[str, object]:
    return {w.key: w for w in comparison_windows(parse_period(label, cadence), cadence)}


def test_week_years_back() -> None:
    week = windows_of("2026-W10")["period"]
    assert years_back(week, 1, WEEKLY) == (date(2025, 3, 3), date(2025, 3, 9))  # type: ignore[arg-type]
    assert years_back(week, 2, WEEKLY) == (date(2024, 3, 4), date(2024, 3, 10))  # type: ignore[arg-type]
    assert years_back(week, 3, WEEKLY) == (date(2023, 2, 27), date(2023, 3, 5))  # type: ignore[arg-type]
    for window in windows_of("2026-W10").values():  # one year back is always the period table's comparison
        assert years_back(window, 1, WEEKLY) == (window.prev_start, window.prev_end)  # type: ignore[attr-defined]


def test_53_week_year_and_partial_first_week() -> None:
    """2026 has 53 ISO weeks. W53 (28 Dec 2026 – 3 Jan 2027) is compared with 29 Dec 2025 – 4 Jan 2026
    (the same calendar days, which ISO calls 2026-W01); 2027-W01 with 5–11 Jan 2026. The year to date
    of 2026-W01 (29 Dec 2025 – 4 Jan 2026) counts 1–4 Jan only, against 1–4 Jan 2025."""
    w53 = windows_of("2026-W53")["period"]
    assert (w53.start, w53.end) == (date(2026, 12, 28), date(2027, 1, 3))  # type: ignore[attr-defined]
    assert years_back(w53, 1, WEEKLY) == (date(2025, 12, 29), date(2026, 1, 4))  # type: ignore[arg-type]
    w01 = windows_of("2027-W01")["period"]
    assert years_back(w01, 1, WEEKLY) == (date(2026, 1, 5), date(2026, 1, 11))  # type: ignore[arg-type]
    ytd = windows_of("2026-W01")["ytd"]
    assert (ytd.start, ytd.end) == (date(2026, 1, 1), date(2026, 1, 4))  # type: ignore[attr-defined]
    assert years_back(ytd, 1, WEEKLY) == (date(2025, 1, 1), date(2025, 1, 4))  # type: ignore[arg-type]


def test_months_and_leap_days() -> None:
    """February 2025 a year back is 1–29 Feb 2024 (whole month); a year to date ending 29 Feb 2024 maps to 28 Feb."""
    feb = windows_of("2025-02", MONTHLY)
    assert years_back(feb["period"], 1, MONTHLY) == (date(2024, 2, 1), date(2024, 2, 29))  # type: ignore[arg-type]
    assert years_back(feb["3m"], 2, MONTHLY) == (date(2022, 12, 1), date(2023, 2, 28))  # type: ignore[arg-type]
    leap = windows_of("2024-02", MONTHLY)
    assert years_back(leap["ytd"], 1, MONTHLY) == (date(2023, 1, 1), date(2023, 2, 28))  # type: ignore[arg-type]


def daily(rows: list[tuple[str, str, str, int]]) -> pd.DataFrame:
    frame = pd.DataFrame(rows, columns=["unit_code", "measure_id", "date", "total"])
    frame["date"] = pd.to_datetime(frame["date"])
    frame["total"] = frame["total"].astype(float)
    frame["n"] = frame["total"].astype(int)
    total = frame.groupby(["measure_id", "date"], as_index=False)[["total", "n"]].sum().assign(unit_code=TOTAL)
    return pd.concat([frame, total], ignore_index=True)


# A has history from the start (2023); B's first record is 10 June 2025: one year of history.
ROWS = [
    ("A", "burglary", "2023-01-02", 1), ("A", "burglary", "2023-03-01", 6), ("A", "burglary", "2024-03-05", 4),
    ("A", "burglary", "2025-03-04", 2), ("A", "burglary", "2026-01-05", 1), ("A", "burglary", "2026-02-15", 2),
    ("A", "burglary", "2026-03-03", 3), ("B", "burglary", "2025-06-10", 5), ("B", "burglary", "2026-03-04", 1),
]


def test_unit_history_start() -> None:
    """A's first record is within 28 days of the data's start, so A starts with the organisation."""
    starts = unit_history_start(daily(ROWS), date(2023, 1, 1))
    assert starts == {"A": pd.Timestamp("2023-01-01"), "B": pd.Timestamp("2025-06-10"),
                      TOTAL: pd.Timestamp("2023-01-01")}
    late = unit_history_start(daily(ROWS), date(2020, 1, 1), loaded_from=date(2023, 1, 1))
    assert late["A"] == pd.Timestamp("2020-01-01") and late["B"] == pd.Timestamp("2025-06-10")


@pytest.fixture
def table(small_config: Config) -> pd.DataFrame:
    frame = daily(ROWS)
    windows = comparison_windows(parse_period("2026-W10", small_config.cadence), small_config.cadence)
    out = comparison_table(frame, small_config, windows, history_starts(frame, date(2023, 1, 1)))
    return out.set_index(["unit_code", "measure_id", "window"])


def test_counts_one_two_three_years_back(table: pd.DataFrame) -> None:
    """A burglary. Week: 3 now; 2 (4 Mar 2025); 4 (5 Mar 2024); 6 (1 Mar 2023) → baseline (2+4+6)/3 = 4.
    28 days: 3 + 2 = 5 now; the same 2, 4, 6. YTD: 6 now (adds 5 Jan); 2 and 4, and 7 in 2023 (2 Jan
    is in its 1 Jan – 8 Mar too) → baseline 13/3. YTD days: 67 in 2026, 2025 and 2023, 68 in 2024."""
    week = table.loc[("A", "burglary", "period")]
    assert week[["current", "last_year", "two_years_ago", "baseline", "baseline_years"]].tolist() == [3, 2, 4, 4, 3]
    assert week["baseline_total"] == 12 and week["baseline_days"] == 21
    assert week["two_years_ago_start"] == date(2024, 3, 4)
    d28 = table.loc[("A", "burglary", "28d")]
    assert d28[["current", "last_year", "two_years_ago", "baseline"]].tolist() == [5, 2, 4, 4]
    ytd = table.loc[("A", "burglary", "ytd")]
    assert ytd[["current", "last_year", "two_years_ago"]].tolist() == [6, 2, 4]
    assert ytd["baseline"] == pytest.approx(13 / 3) and ytd["baseline_total"] == 13
    assert ytd["days"] == 67 and ytd["last_year_days"] == 67 and ytd["baseline_days"] == 67 + 68 + 67


def test_one_year_of_history_has_no_comparison(table: pd.DataFrame) -> None:
    """B started in June 2025: no last year, no baseline (NaN, not 0); its current count stands."""
    week = table.loc[("B", "burglary", "period")]
    assert week["current"] == 1
    assert np.isnan(week["last_year"]) and np.isnan(week["baseline"]) and week["baseline_years"] == 0


def test_missing_weeks_are_zero_and_rates(table: pd.DataFrame) -> None:
    """A has no robbery at all: zeros, not missing. Rates per 1,000: A 3 / 50,000 × 1,000 = 0.06; last
    year 2 → 0.04; two years ago 4 → 0.08; the organisation: 4 / 130,000 × 1,000."""
    robbery = table.loc[("A", "robbery", "period")]
    assert robbery[["current", "last_year", "two_years_ago", "baseline"]].tolist() == [0, 0, 0, 0]
    assert table.loc[("A", "burglary", "period"), "current_rate"] == pytest.approx(0.06)
    assert table.loc[("A", "burglary", "period"), "last_year_rate"] == pytest.approx(0.04)
    assert table.loc[("A", "burglary", "period"), "two_years_ago_rate"] == pytest.approx(4 / 50)  # 4 on 5 Mar 2024
    assert table.loc[("A", "burglary", "period"), "baseline_rate"] == pytest.approx(4 / 50)  # (2 + 4 + 6)/3 = 4
    assert np.isnan(table.loc[("B", "burglary", "period"), "two_years_ago_rate"])
    org = table.loc[(TOTAL, "burglary", "period")]
    assert org["population"] == 130_000 and org["current_rate"] == pytest.approx(4 / 130)


def test_analysis_start(small_config: Config) -> None:
    """The YTD's third year back starts on 1 January 2023, before the third week back (27 Feb 2023)."""
    windows = comparison_windows(parse_period("2026-W10", small_config.cadence), small_config.cadence)
    assert analysis_start(small_config, windows, date(2024, 3, 11)) == date(2023, 1, 1)
    assert analysis_start(small_config, windows, date(2022, 6, 6)) == date(2022, 6, 6)


def _weekly(unit: str, measure: str, first: str, last: str, per_week: int, zeros_from: str | None = None
            ) -> list[tuple[str, str, str, int]]:
    """Weekly rows of ``per_week`` from ``first`` to ``last``, after zero rows from ``zeros_from`` (padding)."""
    rows = []
    if zeros_from is not None:
        rows += [(unit, measure, d.strftime("%Y-%m-%d"), 0) for d in pd.date_range(zeros_from, first, freq="7D")[:-1]]
    rows += [(unit, measure, d.strftime("%Y-%m-%d"), per_week) for d in pd.date_range(first, last, freq="7D")]
    return rows


def test_a_series_padded_with_zeros_starts_at_its_first_figure() -> None:
    """Unit A reports robberies from 2023, and a weekly count of 4 shoplifting only from April 2025, its rows
    before padded with zeros: 2 years of zeros at 4 a week (chance e^-416) are not history, so the
    shoplifting series starts in April 2025 while A's robberies keep A's start. A homicide series quiet
    until 2026 with 3 events after is not enough to say: it keeps A's start."""
    rows = (_weekly("A", "robbery", "2023-01-02", "2026-03-02", 3)
            + _weekly("A", "shoplifting", "2025-04-07", "2026-03-02", 4, zeros_from="2023-01-02")
            + [("A", "homicide", day, 1) for day in ("2026-01-12", "2026-02-02", "2026-02-23")])
    starts = history_starts(daily(rows), date(2023, 1, 1))
    assert starts.units["A"] == pd.Timestamp("2023-01-01")
    assert starts.series == {("A", "shoplifting"): pd.Timestamp("2025-04-07")}
    assert starts.of("A", "shoplifting") == pd.Timestamp("2025-04-07")
    assert starts.of("A", "robbery") == starts.of("A", "homicide") == pd.Timestamp("2023-01-01")
    shown = starts.for_rows(pd.Series(["A", "A", "Z"]), pd.Series(["shoplifting", "robbery", "robbery"]))
    assert shown.tolist()[:2] == [pd.Timestamp("2025-04-07"), pd.Timestamp("2023-01-01")] and pd.isna(shown[2])


def test_the_demo_zero_padded_history_is_no_baseline(demo_run: tuple[Config, object, object, str]) -> None:
    """Millbrook (S3)'s weekly counts are padded with zeros before 2025-04-07 (the demo's planted case): its
    28 days of public order offences rest on last year alone, not on a 3-year mean with two years of zeros
    (16 against 2.33, +586%, was the chair's third probe)."""
    folder = demo_run[2]
    table = pd.read_csv(folder / "analysis_comparisons.csv")  # type: ignore[operator]
    row = table[(table["unit_code"] == "S3") & (table["measure_id"] == "public_order")
                & (table["window"] == "28d")].iloc[0]
    assert pd.isna(row["two_years_ago"]) and row["baseline_years"] == 1 and row["baseline"] == row["last_year"]


def test_zeros_before_the_rows_read_are_not_judged() -> None:
    """A's shoplifting first shows 19 days after the first row read (loaded from October 2025): what came
    before was not read, so those days are no evidence of padding and the series keeps A's start."""
    rows = (_weekly("A", "robbery", "2025-10-06", "2026-03-02", 3)
            + _weekly("A", "shoplifting", "2025-10-20", "2026-03-02", 4))
    starts = history_starts(daily(rows), date(2023, 1, 1), loaded_from=date(2025, 10, 1))
    assert starts.units["A"] == pd.Timestamp("2023-01-01") and starts.series == {}
