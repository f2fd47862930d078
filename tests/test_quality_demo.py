"""The demo force: every planted defect is found, and clean data raises no warning (no false alarms)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pandas as pd
import pytest
import yaml

from compstat.config import Config, load_config
from compstat.demo import FORCE_BOX, PLANTED_DEFECTS, demo_config, generate_incidents, write_config, write_demo
from compstat.quality import Finding, QualityResult, check_data

END = date(2026, 11, 22)  # a Sunday: period 2026-W47 is 16-22 Nov 2026
TODAY = date(2026, 11, 23)


def demo_copy(root: Path, raw: dict[str, object]) -> Config:
    path = root / "config" / "demo.yaml"
    write_config(path, {**raw, "store": f"sqlite:///{root / 'demo.db'}"}, header="test copy of the demo config")
    return load_config(path)


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> tuple[QualityResult, pd.DataFrame]:
    root = tmp_path_factory.mktemp("planted")
    paths = write_demo(root / "demo-data", END)
    config = demo_copy(root, yaml.safe_load(Path("config/demo.yaml").read_text(encoding="utf-8")))
    return check_data(config, config.store, "2026-W47", TODAY), pd.read_csv(
        paths["incidents"], dtype=str, keep_default_na=False)


def one(findings: tuple[Finding, ...], text: str) -> Finding:
    matching = [f for f in findings if text in f.message]
    assert len(matching) == 1, (text, [f.message for f in findings])
    return matching[0]


def test_every_planted_defect_is_found(planted: tuple[QualityResult, pd.DataFrame]) -> None:
    result, raw = planted
    found = result.findings
    lat = pd.to_numeric(raw["latitude"], errors="coerce")
    lon = pd.to_numeric(raw["longitude"], errors="coerce")
    south, north, west, east = FORCE_BOX
    outside = raw[lat.notna() & ~(lat.between(south, north) & lon.between(west, east))]
    checks = {
        0: lambda: one(found, "2 in 'recorded_at' (e.g. date 'not recorded' is not a date"),
        1: lambda: one(found, "'Z9' in 'unit' (incidents) is not a unit in the config: 2 rows"),
        2: lambda: one(found, "3 rows of incidents from 2025-01-01 to 2026-11-22 have no coordinates"),
        3: lambda: one(found, "1 in 'latitude' (e.g. latitude 'abc' is not a number)"),
        4: lambda: one(found, "3 rows of incidents.csv are exact copies of earlier rows (same crime_ref"),
        5: lambda: one(found, "2 rows of incidents from 2025-01-01 to 2026-11-22 have coordinates outside the area"),
    }
    assert len(checks) == len(PLANTED_DEFECTS)
    severities = {i: check().severity for i, check in checks.items()}
    assert severities == {0: "warning", 1: "warning", 2: "info", 3: "warning", 4: "warning", 5: "warning"}
    per_unit = ", ".join(f"{unit} {n}" for unit, n in outside["unit"].value_counts().sort_index().items())
    assert f"): {per_unit}. They are counted" in checks[5]().message


def test_planted_defects_are_the_only_warnings(planted: tuple[QualityResult, pd.DataFrame]) -> None:
    result, _ = planted
    assert result.blocking == []
    assert {f.check for f in result.of("warning")} == {"validity", "duplicates"}
    assert len(result.of("warning")) == 4  # quarantined rows (dates and latitude), Z9, outside the area, copies


@pytest.mark.parametrize("units", [12, 77])
def test_clean_data_raises_no_false_alarm(tmp_path: Path, units: int) -> None:
    (tmp_path / "demo-data").mkdir()
    generate_incidents(END, n_units=units, daily_rate=2.0).to_csv(tmp_path / "demo-data" / "incidents.csv",
                                                                  index=False)
    config = demo_copy(tmp_path, demo_config(units))
    result = check_data(config, config.store, "2026-W47", TODAY)
    assert [f.message for f in result.findings if f.severity != "info"] == []
    assert result.comparisons.empty
