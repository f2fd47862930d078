"""Paths in a config (the store's SQLite file, output_dir) resolve against the config's folder; paths on the
command line (--db, COMPSTAT_DB, --out) against the working directory (issue #13)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from compstat.cli import app
from compstat.config import Config, load_config, sqlite_relative_to
from tests.conftest import SMALL_CONFIG
from tests.test_ingest import INCIDENTS

REPO = Path(__file__).resolve().parents[1]


def project(root: Path) -> Path:
    """``root/config/testshire.yaml`` (store and outputs one folder up, data beside it)."""
    config = root / "config" / "testshire.yaml"
    config.parent.mkdir(parents=True)
    config.write_text(SMALL_CONFIG.replace("store: sqlite:///unused.db", "store: sqlite:///../store.db\n"
                                           "output_dir: ../out"), encoding="utf-8")
    (config.parent / "incidents.csv").write_text(INCIDENTS, encoding="utf-8")
    return config


@pytest.mark.parametrize(("url", "expected"), [
    ("sqlite:///compstat.db", "sqlite:////srv/c/config/compstat.db"),
    ("sqlite:///../compstat.db", "sqlite:////srv/c/compstat.db"),
    ("sqlite:////var/lib/compstat.db", "sqlite:////var/lib/compstat.db"),
    ("sqlite+pysqlite:///s.db?timeout=5", "sqlite+pysqlite:////srv/c/config/s.db?timeout=5"),
    ("sqlite://", "sqlite://"),
    ("sqlite:///:memory:", "sqlite:///:memory:"),
    ("postgresql+psycopg://u:p@host/db", "postgresql+psycopg://u:p@host/db"),
    ("not a url", "not a url"),
])
def test_sqlite_file_relative_to_the_config(url: str, expected: str) -> None:
    assert sqlite_relative_to(url, Path("/srv/c/config")) == expected


def test_config_paths_do_not_depend_on_the_working_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = project(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    seen = []
    for cwd in (tmp_path, elsewhere, config.parent):
        monkeypatch.chdir(cwd)
        for given in (config, Path(*[".."] * len(cwd.relative_to(tmp_path).parts), "proj", "config",
                                    "testshire.yaml")):
            loaded = load_config(given)
            seen.append((loaded.store, loaded.output_dir, loaded.resolve_path("incidents.csv")))
    assert set(seen) == {(f"sqlite:///{tmp_path / 'proj' / 'store.db'}", str(tmp_path / "proj" / "out"),
                          config.parent / "incidents.csv")}
    # built in code without a base_dir: relative to the working directory, as before
    assert Config.model_validate(load_config(config).model_dump() | {"store": "sqlite:///x.db",
                                                                      "output_dir": "o"}).store == "sqlite:///x.db"


def test_cli_store_and_outputs_from_another_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`compstat check` from an unrelated folder writes the config's store and report where the config says; --db
    and --out given on the command line are relative to the working directory."""
    config = project(tmp_path / "proj")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("COMPSTAT_DB", raising=False)
    args = ["check", "--config", str(config), "--period", "2026-W10", "--today", "2026-03-10"]
    result = CliRunner().invoke(app, args)
    assert (tmp_path / "proj" / "store.db").is_file(), result.output
    assert (tmp_path / "proj" / "out" / "testshire" / "quality-2026-W10.html").is_file()
    assert list(elsewhere.iterdir()) == []
    CliRunner().invoke(app, [*args, "--db", "sqlite:///here.db", "--out", "report.html"])
    assert sorted(p.name for p in elsewhere.iterdir()) == ["here.db", "here.db.lock", "report.html"]
    monkeypatch.setenv("COMPSTAT_DB", "sqlite:///env.db")
    CliRunner().invoke(app, [*args, "--out", "report.html"])
    assert (elsewhere / "env.db").is_file()


def test_shipped_configs_keep_the_store_and_outputs_at_the_repository_top() -> None:
    """`make demo` (and `make clean`) expect compstat.db and cycles/ at the top, whatever the working directory."""
    for path in sorted((REPO / "config").glob("*.yaml")):
        config = load_config(path)
        assert config.store == f"sqlite:///{REPO / 'compstat.db'}", path.name
        assert config.output_dir == str(REPO / "cycles"), path.name
