"""The benchmark's own tools: the per-step memory sampler."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy.exc import DBAPIError

from compstat.bench import rss_sampler


def test_rss_sampler_gives_the_peak_since_its_last_call() -> None:
    with rss_sampler(interval=0.01) as peak_since_last:
        before = peak_since_last()
        block = bytearray(200 * 2**20)  # 200 MB touched, then freed
        block[::4096] = b"x" * len(block[::4096])
        time.sleep(0.05)
        del block
        during = peak_since_last()
        after = peak_since_last()
    assert before > 0
    assert during >= before + 150  # the block was seen, though freed before the call
    assert after < during


def test_a_postgresql_bench_run_gets_a_database_of_its_own(store_url: str) -> None:
    """The bench's national run on PostgreSQL: a new database (the server's URL may name one where the role cannot
    create tables, as `postgres` on PostgreSQL 15), migrated by the cycle's own `connect`, dropped afterwards."""
    from sqlalchemy import create_engine, text

    from compstat.bench import bench_database
    from compstat.store import connect

    if not store_url.startswith("postgresql"):
        with bench_database(None) as url:
            assert url is None  # SQLite: the run makes its own file
        return
    with bench_database(store_url) as url:
        assert url is not None and "compstat_bench_" in url
        engine = connect(url)  # creates every table: the role owns the new database
        with engine.connect() as conn:
            assert conn.scalar(text("SELECT count(*) FROM alembic_version")) == 1
        engine.dispose()
        name = url.rsplit("/", 1)[1]
    admin = create_engine(store_url)
    with admin.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM pg_database WHERE datname = :n"), {"n": name}) == 0
    admin.dispose()


def test_the_packs_cpu_seconds_by_kind() -> None:
    from compstat.bench import pack_cpu

    # render_packs' order: three units (the second a sheet), two divisions, the chair's
    found = pack_cpu([2.0, 0.5, 4.0, 3.0, 5.0, 20.0], [False, True, False], 3)
    assert found == {"total": 34.5, "per_unit_pack": 3.0, "per_unit_sheet": 0.5, "per_division_pack": 4.0,
                     "chair_pack": 20.0}
    assert pack_cpu([1.0, 2.0], [False], 1)["per_unit_sheet"] is None


class _Refusing:
    """An admin engine whose server refuses ``refusals`` DROPs (a database held by autovacuum), then drops it."""

    def __init__(self, refusals: int) -> None:
        self.refusals, self.statements = refusals, list[str]()

    @contextmanager
    def connect(self) -> Iterator[_Refusing]:
        yield self

    def execute(self, statement: object) -> None:
        self.statements.append(str(statement))
        if len(self.statements) <= self.refusals:
            raise DBAPIError("DROP DATABASE", {}, Exception("must be a member of pg_signal_backend"))


def test_a_bench_database_the_server_will_not_drop_yet_is_tried_again_then_left(
        capsys: pytest.CaptureFixture[str]) -> None:
    from compstat.bench import DROP_RETRY, drop_database

    waits: list[float] = []
    held = _Refusing(refusals=2)
    assert drop_database(held, "compstat_bench_x", patience=60, sleep=waits.append)  # type: ignore[arg-type]
    assert waits == [DROP_RETRY] * 2
    assert held.statements == ['DROP DATABASE IF EXISTS "compstat_bench_x" WITH (FORCE)'] * 3
    stuck = _Refusing(refusals=1000)
    assert not drop_database(stuck, "compstat_bench_y", patience=12, sleep=waits.append)  # type: ignore[arg-type]
    assert "could not drop the database compstat_bench_y" in capsys.readouterr().err
