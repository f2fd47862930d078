"""Shared fixtures: a small config written from strings, and stores on SQLite and PostgreSQL.

PostgreSQL tests run when COMPSTAT_TEST_PG holds a server URL (CI starts one); with
COMPSTAT_REQUIRE_PG set to 1, true or yes a missing server fails the run instead of skipping
(0, false, no or empty do not).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["COLUMNS"] = "200"  # rich tables in CLI output: no wrapping in assertions

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.exc import ProgrammingError  # noqa: E402

from compstat.config import Config, load_config  # noqa: E402
from compstat.web import accounts as _accounts  # noqa: E402

# Argon2 at its production cost (about 0.1 s a hash) for every account the tests make and sign in would add
# minutes to the suite: the tests hash with the same algorithm (Argon2id) at its lowest cost, as Django's
# test settings do; ``tests/web/test_accounts.py`` checks what production uses.
_accounts._HASHER = _accounts.PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)
_accounts._DUMMY_HASH = _accounts._HASHER.hash("not a password of anyone's")

SHARED = Path(__file__).resolve().parents[2] / "shared"
DEMO_END = "2026-11-29"  # a Sunday: the demo's data ends with 2026-W48; the 2026-W47 meeting was on 25 November

SMALL_CONFIG = """\
organisation: {name: Testshire Police, slug: testshire}
store: sqlite:///unused.db
cadence: {period: weekly, week_start: monday, year_start_month: 1, meeting_lag_days: 2}
small_number: 10
units:
  - code: D1
    name: Division One
    commander: Ch Supt Division
    children:
      - {code: A, name: Alpha, commander: Supt Alpha, population: 50000}
      - {code: B, name: Bravo, commander: Supt Bravo, population: 80000}
measures:
  - {id: burglary, name: Burglary, filter: {category: burglary}, polarity: lower}
  - {id: robbery, name: Robbery, filter: {category: robbery}, polarity: lower}
sources:
  - name: incidents
    path: incidents.csv
    columns: {unit: unit, date: when, category: offence, latitude: lat, longitude: lon, record_id: ref}
"""


@pytest.fixture
def shared_dir() -> Path:
    if not (SHARED / "data").is_dir():
        pytest.fail(f"the shared data folder is missing: expected it at {SHARED}")
    return SHARED


@pytest.fixture
def small_config_path(tmp_path: Path) -> Path:
    path = tmp_path / "testshire.yaml"
    path.write_text(SMALL_CONFIG, encoding="utf-8")
    return path


@pytest.fixture
def small_config(small_config_path: Path) -> Config:
    return load_config(small_config_path)


def require_postgres() -> bool:
    """Whether COMPSTAT_REQUIRE_PG asks for PostgreSQL: 1, true or yes (any case)."""
    return os.environ.get("COMPSTAT_REQUIRE_PG", "").strip().lower() in ("1", "true", "yes")


def _postgres_url() -> str | None:
    url = os.environ.get("COMPSTAT_TEST_PG")
    if not url and require_postgres():
        pytest.fail("COMPSTAT_REQUIRE_PG is set but COMPSTAT_TEST_PG gives no PostgreSQL URL")
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store on each backend."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    server = _postgres_url()
    if not server:
        pytest.skip("no PostgreSQL server (set COMPSTAT_TEST_PG)")
    name = f"compstat_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        drop_database(admin, name)
        admin.dispose()


def drop_database(admin: Engine, name: str, tries: int = 40) -> None:
    """Drop a test database, its sessions ended. An autovacuum worker in it cannot be ended by a role without
    pg_signal_backend ("permission denied"): it finishes within moments, so the drop is tried again."""
    for attempt in range(tries):
        try:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except ProgrammingError:
            if attempt == tries - 1:
                raise
            time.sleep(0.25)


DEMO_CHANGE = {"date": "2026-11-10", "kind": "definition", "units": ["N4"], "measures": ["robbery"],
               "description": "robbery now counts thefts from the person with force"}


@pytest.fixture(scope="session")
def demo_cycle(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> tuple[Path, dict[str, object], str]:
    """`compstat demo` (data to ``DEMO_END``, Sunday 29 Nov 2026) then `run-cycle` for 2026-W48, once per test
    session (the first xdist worker to need it builds it, under a file lock; the others wait and reuse it), on
    a copy of config/demo.yaml that declares ``DEMO_CHANGE``: (the copy's folder, its raw config, the demo
    command's output). Shared by ``demo_run`` and ``demo_w48``."""
    import fcntl
    import json
    import shutil

    import yaml
    from typer.testing import CliRunner

    from compstat.cli import app
    from compstat.demo import write_config

    base = tmp_path_factory.getbasetemp()
    shared = base.parent if worker_id != "master" else base  # the session's folder, above each worker's own
    root = shared / "demo-cycle"
    built = shared / "demo-cycle.json"
    with open(shared / "demo-cycle.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        if built.is_file():
            done = json.loads(built.read_text(encoding="utf-8"))
            return root, done["raw"], done["output"]
        shutil.rmtree(root, ignore_errors=True)  # a build that failed in another worker
        config_path = root / "config" / "demo.yaml"
        config_path.parent.mkdir(parents=True)
        raw = yaml.safe_load((Path(__file__).resolve().parents[1] / "config" / "demo.yaml").read_text(
            encoding="utf-8"))
        raw["store"] = f"sqlite:///{root / 'demo.db'}"
        quality = raw.setdefault("quality", {})
        quality["changes"] = [*quality.get("changes", []), DEMO_CHANGE]  # the demo's own (South ASB) too
        write_config(config_path, raw, header="test copy of config/demo.yaml, with a declared definition change")
        runner = CliRunner()
        made = runner.invoke(app, ["demo", "--config", str(config_path), "--out", str(root / "demo-data"),
                                   "--end", DEMO_END])
        assert made.exit_code == 0, made.output
        assert "8 actions recorded from the 2026-W47 meeting" in made.output
        ran = runner.invoke(app, ["run-cycle", "--config", str(config_path), "--out", str(root / "cycles"),
                                  "--today", "2026-11-30"])
        assert ran.exit_code == 0, ran.output
        built.write_text(json.dumps({"raw": raw, "output": made.output}), encoding="utf-8")
        return root, raw, made.output


@pytest.fixture(scope="session")
def demo_w48(demo_cycle: tuple[Path, dict[str, object], str]) -> tuple[list[str], Path, str, dict[str, object]]:
    """The session's demo cycle (``demo_cycle``) as (config args, the cycle's folder, the demo command's output,
    the raw config). Tests must not change its store or outputs: copy them first."""
    root, raw, output = demo_cycle
    return ["--config", str(root / "config" / "demo.yaml")], root / "cycles" / "demo" / "2026-W48", output, raw


@pytest.fixture(scope="session")
def demo_run(demo_cycle: tuple[Path, dict[str, object], str]) -> tuple[Config, Path, Path, str]:
    """The session's demo cycle (``demo_cycle``) as (config, the incident CSV, the cycle's folder, the store URL)."""
    root, raw, _ = demo_cycle
    return (load_config(root / "config" / "demo.yaml"), root / "demo-data" / "incidents.csv",
            root / "cycles" / "demo" / "2026-W48", str(raw["store"]))
