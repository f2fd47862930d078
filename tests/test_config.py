"""Config validation: every mistake named by file, key path and line; exit code 2 from the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import load_config
from compstat.errors import ConfigError
from tests.conftest import SMALL_CONFIG


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_small_config_loads(small_config_path: Path) -> None:
    config = load_config(small_config_path)
    assert [u.code for u in config.leaf_units] == ["A", "B"]
    assert config.parents() == {"D1": None, "A": "D1", "B": "D1"}
    assert config.sources[0].resolved_format == "csv"
    assert config.resolve_path("incidents.csv") == small_config_path.parent / "incidents.csv"


def test_unknown_key_names_key_and_line(tmp_path: Path) -> None:
    text = SMALL_CONFIG.replace("small_number: 10", "small_numbr: 10")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert f"{tmp_path / 'bad.yaml'}:4: small_numbr: unknown key" in str(err.value)


def test_nested_error_names_path(tmp_path: Path) -> None:
    text = SMALL_CONFIG.replace("polarity: lower}\n  - {id: robbery", "polarity: down}\n  - {id: robbery")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    message = str(err.value)
    assert "measures.0.polarity" in message and "bad.yaml:13:" in message
    assert "'lower', 'higher' or 'neutral'" in message


def test_missing_required_key(tmp_path: Path) -> None:
    text = SMALL_CONFIG.replace("    columns: {unit: unit,", "    colums: {unit: unit,")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert "sources.0.columns: required key is missing" in str(err.value)


def test_bad_reference_is_explained(tmp_path: Path) -> None:
    text = SMALL_CONFIG + "  - {id: rate, name: R, kind: rate, numerator: burglary, denominator: nothing}\n"
    text = text.replace("sources:\n", "").replace("  - name: incidents\n", "").replace(
        "    path: incidents.csv\n", "").replace(
        "    columns: {unit: unit, date: when, category: offence, latitude: lat, longitude: lon, record_id: ref}\n", "")
    text = text.replace("measures:\n", "sources: []\nmeasures:\n")
    with pytest.raises(ConfigError) as err:
        load_config(write(tmp_path, text))
    assert "refers to unknown measure 'nothing'" in str(err.value)


def test_not_yaml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="line 3 is not valid YAML"):
        load_config(write(tmp_path, "organisation:\n  name: [unclosed\n"))


def test_cli_reports_config_error_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL_CONFIG.replace("week_start: monday", "week_start: mondey"))
    result = CliRunner().invoke(app, ["run-cycle", "--config", str(path)])
    assert result.exit_code == 2
    assert "cadence.week_start" in result.output and "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_cli_missing_config_file(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["run-cycle", "--config", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "cannot read config file" in result.output
