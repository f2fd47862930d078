"""Hostile values (issue #12, items 1 and 2): a count or value that is not finite (``inf``, ``1e400``), too
large, negative, or fractional where a count is expected is quarantined with its reason, never a traceback
and never counted. The rule follows the kind of measure that reads the row: a ``value`` measure's rows may be
fractional; a ``count`` measure's (the default kind) must be whole."""

from __future__ import annotations

import io
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import load_config
from compstat.errors import ConfigError
from compstat.ingest.mapping import map_rows, parse_numbers

TODAY = date(2026, 3, 10)
CONFIG = """\
organisation: {name: Testshire Police, slug: testshire}
cadence: {period: weekly, week_start: monday, year_start_month: 1, meeting_lag_days: 2}
units:
  - {code: A, name: Alpha, population: 50000}
  - {code: B, name: Bravo, population: 80000}
measures:
  - {id: burglary, name: Burglary, filter: {category: burglary}}
  - {id: hours, name: Hours to attend, kind: value, aggregate: mean, filter: {category: hours}}
sources:
  - name: counts
    path: counts.csv
    columns: {unit: unit, date: day, category: offence, value: n}
"""
# line (in counts.csv) -> (value as written, reason quarantined): appended after the clean rows
HOSTILE = [
    ("inf", "value 'inf' is not a finite number"),
    ("1e400", "value '1e400' is too large (at most 1,000,000,000,000 is loaded)"),
    ("-3", "value '-3' is negative"),
    ("23.5", "value '23.5' is not a whole number: measure 'burglary' (a count) reads this row; only a measure "
             "of kind value may be fractional"),
    ("NaN", "value 'NaN' is not a number"),
    ("99999999999999999999", "value '99999999999999999999' is too large (at most 1,000,000,000,000 is loaded)"),
    ("-inf", "value '-inf' is not a finite number"),
    ("1e-400", "value '1e-400' is too small to hold (it would be read as 0)"),
]
VALID = [" 12 ", '"1,234"']  # still read as before: 12 and 1234


def write_counts(folder: Path, extra: list[str]) -> None:
    """Six weeks of daily rows (burglary 3, hours 1.5 a day for both units) to Sunday 8 March 2026, then
    ``extra`` rows for Alpha on Wednesday 4 March."""
    rows = ["unit,day,offence,n"]
    day = date(2026, 1, 26)
    while day <= date(2026, 3, 8):
        rows += [f"{u},{day},burglary,3" for u in "AB"] + [f"{u},{day},hours,1.5" for u in "AB"]
        day += timedelta(days=1)
    rows += extra
    (folder / "counts.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")


@pytest.fixture
def config_path(tmp_path: Path) -> Path:
    path = tmp_path / "values.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def test_run_cycle_quarantines_values_that_are_not_counts(config_path: Path, tmp_path: Path) -> None:
    """Before: ``inf`` or ``1e400`` stopped the cycle with ``OverflowError: cannot convert float infinity to
    integer`` and a traceback; ``23.5`` burglaries were counted. Now each is quarantined with its reason, the
    cycle goes on, ``quarantine list`` names file, line, field and reason, and the period table holds only the
    whole counts (Alpha's week: 7 × 3 + 12 + 1,234 = 1,267), while the value measure keeps its fraction."""
    clean = 2 + 42 * 4  # the header is line 1; 42 days × 2 units × 2 categories
    write_counts(tmp_path, [f"A,2026-03-04,burglary,{v}" for v, _ in HOSTILE]
                 + [f"A,2026-03-04,burglary,{v}" for v in VALID] + ["A,2026-03-04,hours,2.25"])
    db = f"sqlite:///{tmp_path / 'store.db'}"
    runner = CliRunner()
    ran = runner.invoke(app, ["run-cycle", "--config", str(config_path), "--db", db, "--period", "2026-W10",
                              "--today", TODAY.isoformat(), "--out", str(tmp_path / "out"), "--workers", "1"])
    assert ran.exit_code == 0, ran.output
    assert "Traceback" not in ran.output and not isinstance(ran.exception, ArithmeticError)
    assert f"{clean - 2 + 3:,} rows loaded, {len(HOSTILE)} rejected" in ran.output
    assert "validity: 8 rows of counts.csv quarantined, not counted: 8 in 'n'" in " ".join(ran.output.split())

    listed = runner.invoke(app, ["quarantine", "list", "--config", str(config_path), "--db", db, "--export",
                                 str(tmp_path / "q.csv")])
    assert listed.exit_code == 0, listed.output
    quarantined = pd.read_csv(tmp_path / "q.csv", dtype=str, keep_default_na=False)
    assert set(quarantined["file"]) == {str(tmp_path / "counts.csv")}
    assert quarantined[["row", "field", "reason"]].values.tolist() == [
        [str(clean + i), "n", reason] for i, (_, reason) in enumerate(HOSTILE)]
    shown = runner.invoke(app, ["quarantine", "list", "--config", str(config_path), "--db", db]).output
    shown = " ".join(shown.split())
    assert all(f"value '{v}' is " in shown for v, _ in HOSTILE) and "8 rejected rows" in shown

    table = pd.read_csv(tmp_path / "out" / "testshire" / "2026-W10" / "period_table.csv")
    week = table[(table["unit_code"] == "A") & (table["window"] == "period")].set_index("measure_id")["current"]
    assert week["burglary"] == 3 * 7 + 12 + 1234  # not 1,290.5 with the 23.5
    assert week["hours"] == pytest.approx((1.5 * 7 + 2.25) / 8)  # a value measure: fractions are fine


def test_a_fractional_count_is_quarantined_by_the_kind_of_measure_that_reads_it(config_path: Path) -> None:
    """23.5 is not a number of burglaries (a count measure reads it) nor of graffiti (no measure reads it, so a
    count is expected), but it is a fine number of hours (a value measure). Whole numbers written 4.0 pass."""
    csv = ("unit,day,offence,n\nA,2026-03-02,burglary,23.5\nA,2026-03-02,hours,23.5\nA,2026-03-02,graffiti,23.5\n"
           "A,2026-03-03,burglary,4.0\nB,2026-03-03,burglary,0\n")
    config = load_config(config_path)
    mapped = map_rows(pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False), config.sources[0], config,
                      "counts.csv", 2, TODAY)
    assert mapped.observations[["source_row", "category", "value"]].values.tolist() == [
        [3, "hours", 23.5], [5, "burglary", 4.0], [6, "burglary", 0.0]]
    assert mapped.rejected[["source_row", "field", "reason"]].values.tolist() == [
        [2, "n", "value '23.5' is not a whole number: measure 'burglary' (a count) reads this row; only a measure "
                 "of kind value may be fractional"],
        [4, "n", "value '23.5' is not a whole number: no measure of kind value reads this row, so a count is "
                 "expected"]]


EXPRESSIONS = """\
organisation: {name: Testshire Health, slug: health}
units:
  - {code: A, name: Alpha}
measures:
  - {id: performance, name: Seen within 4 hours, kind: rate, numerator: within_4h, denominator: attendances, per: 100}
  - {id: attendances, name: Attendances, filter: {category: attendances}}
  - {id: within_4h, name: Seen within 4 hours, filter: {category: within_4h}}
  - {id: wait, name: Mean wait (hours), kind: value, filter: {category: wait}}
sources:
  - name: monthly
    path: monthly.csv
    columns: {unit: org, date: month}
    values: {attendances: attendances, within_4h: attendances - breaches, wait: hours / attendances}
"""


def test_value_expressions_are_checked_column_by_column_and_result_by_result(tmp_path: Path) -> None:
    """``values:`` expressions: a column that is not finite or too large is named; a result that is negative,
    fractional for a count, or not finite (divided by 0) is named by its key (``values.<key>``) with the sum.
    The rate's numerator and denominator are count measures, so their rows must be whole; the mean wait is a
    value."""
    path = tmp_path / "health.yaml"
    path.write_text(EXPRESSIONS, encoding="utf-8")
    config = load_config(path)
    csv = ("org,month,attendances,breaches,hours\n"
           "A,2026-01-01,100,10,250.5\n"      # line 2: fine (wait 2.505 hours)
           "A,2026-02-01,inf,10,5\n"          # line 3: attendances not finite
           "A,2026-03-01,100,1e13,5\n"        # line 4: breaches too large
           "A,2026-04-01,100,110,5\n"         # line 5: within_4h = -10
           "A,2026-05-01,100,10.5,5\n"        # line 6: within_4h = 89.5: not a whole count
           "A,2026-06-01,0,0,5\n")            # line 7: wait = 5 / 0
    frame = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    mapped = map_rows(frame, config.sources[0], config, "monthly.csv", 2, date(2026, 12, 1))
    assert sorted(set(mapped.observations["source_row"])) == [2]
    assert mapped.observations.set_index("category")["value"].to_dict() == {
        "attendances": 100.0, "within_4h": 90.0, "wait": 2.505}
    assert mapped.rejected[["source_row", "field", "reason"]].values.tolist() == [
        [3, "attendances", "'inf' in 'attendances' is not a finite number"],
        [4, "breaches", "'1e13' in 'breaches' is too large (at most 1,000,000,000,000 is loaded)"],
        [5, "values.within_4h", "within_4h = attendances - breaches = -10 is negative"],
        [6, "values.within_4h", "within_4h = attendances - breaches = 89.5 is not a whole number: measure "
                                "'within_4h' (a count) reads this row; only a measure of kind value may be fractional"],
        [7, "values.wait", "wait = hours / attendances = inf is not a finite number"]]


def test_parquet_numbers_are_checked_as_text_numbers_are(config_path: Path, tmp_path: Path) -> None:
    """A Parquet file holds real floats, infinity included: the same rules apply."""
    from compstat.ingest.readers import read_file

    path = tmp_path / "counts.parquet"
    pd.DataFrame({"unit": ["A"] * 5, "day": ["2026-03-02"] * 5, "offence": ["burglary"] * 4 + ["hours"],
                  "n": [3.0, np.inf, 23.5, 1e20, 0.25]}).to_parquet(path)
    config = load_config(config_path)
    source = config.sources[0].model_copy(update={"path": str(path)})
    raw = read_file(source, path)
    mapped = map_rows(raw.frame, source, config, raw.location, raw.first_line, TODAY)
    assert mapped.observations["value"].tolist() == [3.0, 0.25]
    assert [r.partition(" is ")[2].split(":")[0] for r in mapped.rejected["reason"]] == [
        "not a finite number", "not a whole number", "too large (at most 1,000,000,000,000 is loaded)"]


def test_parse_numbers_reads_what_it_read_before() -> None:
    """The parser is unchanged: ``inf`` and ``1e400`` parse as infinity (the checks quarantine them), a
    stripped `` 12 `` is 12, ``1,234`` is 1234 with a decimal point and 1.234 with a decimal comma."""
    text = pd.Series(["inf", "-inf", "1e400", "NaN", "12", "1,234", "23.5", "99999999999999999999", "1e-400"])
    dot = parse_numbers(text, ".").tolist()
    assert dot[:3] == [np.inf, -np.inf, np.inf] and np.isnan(dot[3])
    assert dot[4:] == [12.0, 1234.0, 23.5, 1e20, 0.0]
    assert parse_numbers(pd.Series(["1,234", "1.234,5", "1e400"]), ",").tolist() == [1.234, 1234.5, np.inf]


def test_value_problems_first_problem_first() -> None:
    """``value_problems``: the words that follow a value that cannot be loaded, '' where it can; a fraction
    only where a reason for a whole number is given."""
    from compstat.ingest.mapping import MAX_VALUE, value_problems

    written = pd.Series(["x", "inf", "1e400", "1e13", "1e12", "1e-400", "-inf", "-2", "2.5", "2.5", "0", "7"])
    value = parse_numbers(written, ".")
    whole = pd.Series(["a count"] * 9 + ["", "a count", "a count"])
    assert value_problems(value, whole, written).tolist() == [
        "is not a number", "is not a finite number", "is too large (at most 1,000,000,000,000 is loaded)",
        "is too large (at most 1,000,000,000,000 is loaded)", "", "is too small to hold (it would be read as 0)",
        "is not a finite number", "is negative", "is not a whole number: a count", "", "", ""]
    assert value.iloc[4] == MAX_VALUE  # the bound itself is loaded
    computed = pd.Series([np.inf, np.nan, 3.0])  # a result (divided by 0), nothing written
    assert value_problems(computed).tolist() == ["is not a finite number", "is not a number", ""]


def test_spc_command_refuses_an_infinite_value(tmp_path: Path) -> None:
    """`compstat spc` on a CSV: ``1e400`` made every limit infinite (exit 0); now a usage error naming the line."""
    path = tmp_path / "series.csv"
    path.write_text("week,count\n1,3\n2,1e400\n3,4\n4,5\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["spc", str(path), "--x", "week", "--y", "count"])
    assert result.exit_code == 2, result.output
    assert "column 'count' line 3: '1e400' is not a finite number" in result.output


@pytest.mark.parametrize(("old", "new", "where"), [
    ("population: 50000", "population: .inf", "units.0.population"),
    ("{category: burglary}}", "{category: burglary}, target: {value: .nan}}", "measures.0.target.value"),
])
def test_config_numbers_must_be_finite(config_path: Path, old: str, new: str, where: str) -> None:
    """YAML's ``.inf`` and ``.nan`` were accepted as a population or a target."""
    config_path.write_text(CONFIG.replace(old, new), encoding="utf-8")
    with pytest.raises(ConfigError, match=f"{where}: Input should be a finite number"):
        load_config(config_path)
