"""psycopg is the ``postgres`` extra (``pip install 'compstat[postgres]'``): without it a PostgreSQL URL stops with
one line saying what to install, never a traceback; SQLite needs nothing more (issue #13)."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.errors import UsageError
from compstat.store import connect
from compstat.store.db import require_driver

REPO = Path(__file__).resolve().parents[1]
PG = "postgresql+psycopg://compstat:secret@localhost:5432/compstat"


@pytest.fixture
def no_psycopg(monkeypatch: pytest.MonkeyPatch) -> None:
    """``import psycopg`` fails, as in an install without the postgres extra."""
    monkeypatch.setitem(sys.modules, "psycopg", None)


def test_pyproject_puts_psycopg_in_the_postgres_extra_and_dev() -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert not any(d.startswith("psycopg") for d in project["dependencies"])
    assert any(d.startswith("pyarrow") for d in project["dependencies"])
    extras = project["optional-dependencies"]
    assert extras["postgres"] == ["psycopg[binary]>=3.1"]
    assert "psycopg[binary]>=3.1" in extras["dev"]


@pytest.mark.usefixtures("no_psycopg")
def test_postgres_url_without_psycopg_says_what_to_install(small_config_path: Path, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"^postgresql\+psycopg://compstat:\*\*\*@localhost:5432/compstat: the "
                                         r"postgresql driver psycopg is not installed \(pip install "
                                         r"'compstat\[postgres\]'\)$"):
        connect(PG)
    require_driver(f"sqlite:///{tmp_path / 'fine.db'}")  # SQLite needs no extra
    for args in (["actions", "list"], ["check", "--period", "2026-W10"], ["run-cycle", "--period", "2026-W10"]):
        result = CliRunner().invoke(app, [*args, "--config", str(small_config_path), "--db", PG])
        assert result.exit_code == 2, result.output
        assert result.output.strip().splitlines() == [
            "Error: postgresql+psycopg://compstat:***@localhost:5432/compstat: the postgresql driver psycopg is not "
            "installed (pip install 'compstat[postgres]')"], args
