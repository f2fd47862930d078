"""Each shipped config for the real public data in ../shared/data runs a whole cycle.

Expected figures are computed here straight from the source files with pandas, independently
of compstat's ingest and analysis, and compared with the period table and the packs.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, load_config
from compstat.cycle import CycleOutcome, run_cycle
from tests.packtext import pdf_text, table_row

CONFIG = Path(__file__).resolve().parents[1] / "config"


def run(name: str, period: str, tmp_path: Path) -> tuple[Config, CycleOutcome]:
    config = load_config(CONFIG / f"{name}.yaml")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    outcome = run_cycle(config, url, period, out_root=tmp_path / "cycles", workers=2)
    return config, outcome


def value(outcome: CycleOutcome, unit: str, measure: str, window: str, column: str = "current") -> float:
    table = outcome.table.set_index(["unit_code", "measure_id", "window"])
    return float(table.loc[(unit, measure, window), column])


@pytest.mark.slow
def test_chicago(shared_dir: Path, tmp_path: Path) -> None:
    config, outcome = run("chicago", "2019-W50", tmp_path)
    raw = pd.read_csv(shared_dir / "data" / "chicago_aggravated_assaults.csv.gz", dtype=str)
    day = pd.to_datetime(raw["date"]).dt.normalize()
    week = raw[day.between("2019-12-09", "2019-12-15")]
    last_year = raw[day.between("2018-12-10", "2018-12-16")]
    assert value(outcome, "_total", "agg_assault", "period") == len(week[week["district"] != "31"])
    assert value(outcome, "11", "agg_assault_street", "period", "previous") == len(
        last_year[(last_year["district"] == "11") & (last_year["loc_cat"] == "street")])
    assert [(r.rows_read, r.rows_rejected) for r in outcome.ingest] == [(len(raw), 1)]
    assert len(outcome.packs) == 23
    text = pdf_text(outcome.out_dir / "pack-11.pdf")
    expected = len(week[(week["district"] == "11")])
    assert table_row(text, "Aggravated assaults")[0] == str(expected)
    # dates with times: a day x time-of-day table of the 28 days; loc_cat as the location (kind of place)
    flat = " ".join(text.split())
    days28 = raw[day.between("2019-11-18", "2019-12-15") & (raw["district"] == "11")]
    assert "Day of the week and time of day" in flat and re.search(rf"Total( \d+){{6}} {len(days28)} ", flat)
    top = days28["loc_cat"].value_counts()
    assert f"1 {top.index[0]} {top.iloc[0]} " in flat and "Repeat locations" in flat
    export = tmp_path / "rejected.csv"
    listed = CliRunner().invoke(app, ["quarantine", "list", "--config", str(CONFIG / "chicago.yaml"),
                                      "--db", f"sqlite:///{tmp_path / 'store.db'}", "--export", str(export)])
    assert listed.exit_code == 0, listed.output
    rejected = pd.read_csv(export)
    assert rejected[["field", "reason"]].values.tolist() == [
        ["district", "unit '31' is not in the config (add it, or map it with unit_map)"]]


@pytest.mark.slow
def test_london(shared_dir: Path, tmp_path: Path) -> None:
    config, outcome = run("london", "2026-01", tmp_path)
    raw = pd.read_csv(shared_dir / "data" / "london_borough_crime_monthly.csv.gz")
    not_boroughs = raw["boroughname"].isin(["Unknown", "London Heathrow and London City Airports"])
    assert [r.rows_rejected for r in outcome.ingest] == [int(not_boroughs.sum())]
    burglary = raw[(raw["majortext"] == "BURGLARY") & (raw["boroughname"] == "Westminster")]
    this_month = burglary[burglary["month"] == "2026-01-01"]["count"].sum()
    fy_to_date = burglary[burglary["month"].between("2025-04-01", "2026-01-01")]["count"].sum()
    last_fy = burglary[burglary["month"].between("2024-04-01", "2025-01-01")]["count"].sum()
    assert value(outcome, "WM", "burglary", "period") == this_month
    assert (value(outcome, "WM", "burglary", "ytd"), value(outcome, "WM", "burglary", "ytd", "previous")) == (
        fy_to_date, last_fy)
    row = table_row(pdf_text(outcome.out_dir / "pack-WM.pdf"), "Burglary")
    assert int(row[0].replace(",", "")) == this_month and int(row[9].replace(",", "")) == last_fy
    area = next(u for u in config.units if any(c.code == "WM" for c in u.children))  # West Area
    january = raw[(raw["majortext"] == "BURGLARY") & (raw["month"] == "2026-01-01")]
    boroughs = january[january["boroughname"].isin([c.name for c in area.children])]
    assert boroughs["boroughname"].nunique() == len(area.children)
    assert value(outcome, area.code, "burglary", "period") == boroughs["count"].sum()  # the area: its boroughs' sum
    assert len(outcome.packs) == 37  # 32 boroughs, 4 areas and the chair


@pytest.mark.slow
def test_nhs_ae(shared_dir: Path, tmp_path: Path) -> None:
    config, outcome = run("nhs_ae", "2019-03", tmp_path)
    raw = pd.read_csv(shared_dir / "data" / "nhs_ae_attendances.csv")
    london = raw["org_code"].isin([u.code for u in config.leaf_units])
    assert [(r.rows_rejected, r.rows_skipped) for r in outcome.ingest] == [(0, int((~london).sum()))]
    assert any("outside the config and were skipped" in f.message for f in outcome.findings)
    month = raw[(raw["org_code"] == "RJ1") & (raw["period"] == "2019-03-01")]
    performance = 100 * (1 - month["breaches"].sum() / month["attendances"].sum())
    assert value(outcome, "RJ1", "performance", "period") == pytest.approx(performance)
    year = raw[london & raw["period"].between("2018-04-01", "2019-03-01")]
    assert value(outcome, "_total", "attendances", "ytd") == year["attendances"].sum()
    row = table_row(pdf_text(outcome.out_dir / "pack-RJ1.pdf"), "Seen within 4 hours")
    assert row[0] == f"{performance:.1f}%"


@pytest.mark.slow
def test_lancashire(shared_dir: Path, tmp_path: Path) -> None:
    config, outcome = run("lancashire", "2022-12", tmp_path)
    raw = pd.read_csv(shared_dir / "data" / "lancashire_asb.tsv", sep="\t")
    mine = raw["lsoa_code"].isin([u.code for u in config.leaf_units])
    assert [(r.rows_rejected, r.rows_skipped) for r in outcome.ingest] == [(0, int((~mine).sum()))]
    burnley = raw[(raw["lsoa_code"] == "E01024877")]
    assert value(outcome, "E01024877", "asb", "period") == (burnley["month"] == "2022-12-01").sum()
    assert value(outcome, "E01024877", "asb", "ytd") == burnley["month"].between("2022-04-01", "2022-12-01").sum()
    assert math.isnan(value(outcome, "E01024877", "asb", "ytd", "previous"))  # no 2021 data: not zero
    text = pdf_text(outcome.out_dir / "pack-E01024877.pdf")
    row = table_row(text, "Anti-social behaviour incidents")
    assert int(row[0]) == (burnley["month"] == "2022-12-01").sum() and row[1:4] == ["–", "–", "–"]
    # street names: repeat locations over the 3 months against the 3 before (no 2021 data: a dash); dates
    # without times: no day x time-of-day table
    flat = " ".join(text.split())
    named = burnley[burnley["location"] != "On or near"]  # police.uk's withheld place: no name
    recent = named[named["month"].between("2022-10-01", "2022-12-01")]["location"].value_counts()
    before = named[named["month"].between("2022-07-01", "2022-09-01")]["location"].value_counts()
    name, n = sorted(recent.items(), key=lambda p: (-p[1], p[0]))[0]
    assert "Repeat locations" in flat and f"1 {name} {n} {before.get(name, 0)} – " in flat
    assert "Day of the week and time of day" not in flat and "1 On or near " not in flat
