"""`compstat demo` then `run-cycle`: every pack's period figures equal counts made here from the CSV."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, load_config
from compstat.demo import write_config
from tests.packtext import counts, pdf_text, table_row

END = date(2026, 11, 22)  # a Sunday: period 2026-W47 is 16-22 Nov 2026


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Config, Path, Path]:
    root = tmp_path_factory.mktemp("demo")
    config_path = root / "config" / "demo.yaml"
    config_path.parent.mkdir()
    import yaml

    raw = yaml.safe_load(Path("config/demo.yaml").read_text())
    raw["store"] = f"sqlite:///{root / 'demo.db'}"
    write_config(config_path, raw, header="test copy of config/demo.yaml")
    runner = CliRunner()
    made = runner.invoke(app, ["demo", "--config", str(config_path), "--out", str(root / "demo-data"),
                               "--end", END.isoformat()])
    assert made.exit_code == 0, made.output
    assert "8 actions recorded from the 2026-W46 meeting" in made.output
    ran = runner.invoke(app, ["run-cycle", "--config", str(config_path), "--out", str(root / "cycles"),
                              "--today", "2026-11-23"])
    assert ran.exit_code == 0, ran.output
    return load_config(config_path), root / "demo-data" / "incidents.csv", root / "cycles" / "demo" / "2026-W47"


def independent_counts(csv: Path, config: Config) -> pd.DataFrame:
    """Counts per unit, measure and window, made directly from the incident file (an exact copy of
    an earlier row, crime reference included, is not counted twice)."""
    raw = pd.read_csv(csv, dtype=str, keep_default_na=False).drop_duplicates()
    raw = raw[~raw.duplicated()]  # exact copies (same crime_ref and all) are quarantined at ingest, not counted
    raw["day"] = pd.to_datetime(raw["recorded_at"], format="%Y-%m-%d %H:%M", errors="coerce").dt.normalize()
    latitude_ok = pd.to_numeric(raw["latitude"], errors="coerce").notna() | raw["latitude"].eq("")
    valid = raw[raw["day"].notna() & raw["unit"].isin([u.code for u in config.leaf_units]) & latitude_ok]
    end = pd.Timestamp(END)
    last_year = end - timedelta(days=364)
    windows = {
        "week": (end - timedelta(days=6), end, last_year - timedelta(days=6), last_year),
        "28d": (end - timedelta(days=27), end, last_year - timedelta(days=27), last_year),
        "ytd": (pd.Timestamp("2026-01-01"), end, pd.Timestamp("2025-01-01"), pd.Timestamp("2025-11-22")),
    }
    rows = []
    for m in config.reported_measures:
        of_measure = valid[valid["offence"].isin(m.filter.category)]
        for unit in config.leaf_units:
            mine = of_measure[of_measure["unit"] == unit.code]
            figures = []
            for start, stop, prev_start, prev_stop in windows.values():
                figures.append(int(mine["day"].between(start, stop).sum()))
                figures.append(int(mine["day"].between(prev_start, prev_stop).sum()))
            rows.append({"unit": unit.code, "measure": m.name, "figures": figures})
    return pd.DataFrame(rows)


def test_demo_writes_a_pack_per_unit_and_the_chair_pack(demo_run: tuple[Config, Path, Path]) -> None:
    config, _, folder = demo_run
    pdfs = sorted(p.name for p in folder.glob("*.pdf"))
    assert len(pdfs) == 13 and "chair-pack.pdf" in pdfs
    assert {f"pack-{u.code}.pdf" for u in config.leaf_units} <= set(pdfs)


def test_every_pack_figure_equals_an_independent_count(demo_run: tuple[Config, Path, Path]) -> None:
    config, csv, folder = demo_run
    expected = independent_counts(csv, config)
    for unit in config.leaf_units:
        text = pdf_text(folder / f"pack-{unit.code}.pdf")
        for row in expected[expected["unit"] == unit.code].itertuples():
            assert counts(table_row(text, str(row.measure))) == row.figures, (unit.code, row.measure)


def test_story_units_show_their_story(demo_run: tuple[Config, Path, Path]) -> None:
    _, _, folder = demo_run
    table = pd.read_csv(folder / "period_table.csv").set_index(["unit_code", "measure_id", "window"])
    assert table.loc[("N4", "robbery", "28d"), "pct_change"] > 100  # the robbery series
    assert table.loc[("N2", "burglary", "ytd"), "pct_change"] < -15  # target hardening working


def test_carried_actions_come_first(demo_run: tuple[Config, Path, Path]) -> None:
    _, _, folder = demo_run
    text = " ".join(pdf_text(folder / "pack-N4.pdf").split())
    first = text.index("1. Actions from the last meeting", text.index("Page 1 of"))
    actions = text[first:text.index("2. Performance against last year", first)]
    # the demo's commander updated N4's actions from the spreadsheet between the meetings
    carried, completed = actions.split("Completed since last meeting")
    assert "Last note: Problem profile drafted with the analyst" in carried and "In progress" in carried
    assert "Support requested: Two days of a crime analyst" in carried
    assert "Share robbery suspect descriptions" in completed
    assert "Closing note: Descriptions briefed to 14 venues on Friday" in completed
    assert "OVERDUE" in pdf_text(folder / "pack-S2.pdf")  # S2's patrols were due on 18 November
    chair = pdf_text(folder / "chair-pack.pdf")
    assert 'Ask the council to fix CCTV camera <b>7</b> & relaunch the "Lock it or lose it" leaflets' in " ".join(
        chair.split())


def test_manifest_records_inputs_and_rejections(demo_run: tuple[Config, Path, Path]) -> None:
    _, csv, folder = demo_run
    manifest = json.loads((folder / "manifest.json").read_text())
    summary = pd.read_csv(csv.with_name("force_summary.csv"), dtype=str)
    # 5 bad rows and 3 exact copies, and the force's own total rows, kept aside to be compared (25)
    assert len(summary) == 25 and manifest["rows_rejected"] == 8 + len(summary)
    import hashlib

    assert manifest["inputs"][0]["sha256"] == hashlib.sha256(csv.read_bytes()).hexdigest()
