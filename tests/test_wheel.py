"""The wheel is what `pip install compstat` gets: built from this checkout and installed into a clean venv
outside the repository, it must carry its templates and migrations and render the demo's packs.

The clean venv gets the compstat wheel alone; its dependencies come from this test's own environment
through a ``.pth`` path entry (so no download), which does not expose this checkout: the ``compstat``
that runs is the wheel's (asserted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from compstat.demo import write_config

REPO = Path(__file__).resolve().parents[1]
TEMPLATES = sorted(p.name for p in (REPO / "templates").iterdir() if p.is_file())


def _run(args: list[str], cwd: Path, **kwargs: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "COMPSTAT_TEMPLATES", "COMPSTAT_DB")}
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)
    assert done.returncode == 0, f"{' '.join(args)}\n{done.stdout}\n{done.stderr}"
    return done


# what a checkout holds beyond the sources: never copied into the build (a stale build/ would leak old modules)
NOT_SOURCES = shutil.ignore_patterns(".git", ".venv", "build", "*.egg-info", "cycles", "demo-data", "bench-data",
                                     "*.db", "*.db.lock", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache")


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built from a copy of the checkout's sources (setuptools writes build/ into the tree it builds)."""
    out = tmp_path_factory.mktemp("wheel")
    source = shutil.copytree(REPO, out / "source", ignore=NOT_SOURCES)
    _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir", str(out), str(source)], cwd=out)
    return next(out.glob("compstat-*.whl"))


def test_wheel_carries_templates_and_migrations(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {f"compstat/templates/{name}" for name in TEMPLATES} <= names
    assert "compstat/store/migrations/env.py" in names
    assert "compstat/store/migrations/script.py.mako" in names
    versions = sorted(p.name for p in (REPO / "compstat/store/migrations/versions").glob("*.py"))
    assert {f"compstat/store/migrations/versions/{v}" for v in versions} <= names


@pytest.mark.slow
def test_installed_wheel_renders_the_demo_packs(wheel: Path, tmp_path: Path,
                                                demo_w48: tuple[list[str], Path, str, dict[str, object]]) -> None:
    """The wheel's compstat makes a store from its own migrations, and re-issues the session demo's W48 packs
    (every pack, from a copy of its store) with its own templates."""
    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path)
    python = venv / "bin" / "python"
    _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet", "--no-deps", str(wheel)],
         cwd=tmp_path)
    site = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=tmp_path).stdout.strip())
    (site / "deps-from-the-test-env.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    where = _run([str(python), "-c", "import compstat; print(compstat.__file__)"], cwd=tmp_path).stdout
    assert where.startswith(str(site)), where  # the wheel's compstat, not this checkout's
    _, cycle_dir, _, raw = demo_w48
    shutil.copyfile(Path(str(raw["store"]).removeprefix("sqlite:///")), tmp_path / "demo.db")
    shutil.copytree(cycle_dir.parents[2] / "demo-data", tmp_path / "project" / "demo-data")
    raw = dict(raw) | {"store": f"sqlite:///{tmp_path / 'demo.db'}"}
    config = tmp_path / "project" / "config" / "demo.yaml"
    write_config(config, raw, header="test copy of config/demo.yaml")
    compstat = str(venv / "bin" / "compstat")
    fresh = _run([compstat, "users", "list", "--config", str(config), "--db", f"sqlite:///{tmp_path / 'new.db'}"],
                 cwd=tmp_path)
    assert "no accounts" in fresh.stdout.lower(), fresh.stdout  # the wheel's migrations made the store
    _run([compstat, "reissue", "--config", str(config), "--period", "2026-W48", "--out", str(tmp_path / "again")],
         cwd=tmp_path)
    packs = sorted(p.name for p in (tmp_path / "again").glob("*.pdf"))
    assert packs == sorted(p.name for p in cycle_dir.glob("*.pdf")) and len(packs) == 16
    from pypdf import PdfReader

    first_page = PdfReader(tmp_path / "again" / "chair-pack.pdf").pages[0].extract_text()
    assert "Whom to probe" in first_page
