"""``store.db.read_frame``: a query's rows as a frame, chunk by chunk, the same on either backend and
whichever way the rows are fetched (SQLite's own tuples where no column type converts them)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import pytest
from sqlalchemy import (
    BigInteger,
    Column,
    Date,
    Float,
    Integer,
    MetaData,
    String,
    Table,
    cast,
    func,
    insert,
    literal,
    select,
)
from sqlalchemy.exc import DBAPIError

from compstat.store import connect
from compstat.store import db as store_db

ROWS = [
    {"id": 1, "code": "N1", "day": date(2026, 11, 23), "lat": 53.5, "n": 3},
    {"id": 2, "code": "N/2 ' quoted", "day": date(2026, 11, 24), "lat": None, "n": 0},
    {"id": 3, "code": "N3", "day": date(2026, 2, 28), "lat": -2.25, "n": 7},
    {"id": 4, "code": "N1", "day": date(2025, 12, 31), "lat": 0.0, "n": 1},
    {"id": 5, "code": "N5", "day": date(2026, 1, 1), "lat": 51.0, "n": 2},
]


@pytest.fixture
def table(store_url: str) -> tuple[object, Table]:
    metadata = MetaData()
    probe = Table("read_frame_probe", metadata, Column("id", Integer, primary_key=True), Column("code", String(64)),
                  Column("day", Date), Column("lat", Float), Column("n", Integer))
    engine = connect(store_url)
    metadata.create_all(engine)
    with engine.begin() as conn:
        conn.execute(insert(probe), ROWS)
    yield engine, probe
    metadata.drop_all(engine)
    engine.dispose()


@pytest.mark.parametrize("chunk", [2, 200_000])
def test_rows_as_the_driver_gives_them_or_through_sqlalchemy_are_the_same(
        table: tuple[object, Table], chunk: int, monkeypatch: pytest.MonkeyPatch) -> None:
    engine, probe = table
    monkeypatch.setattr(store_db, "READ_CHUNK", chunk)  # chunks of 2: three of them, the last short
    plain = select(probe.c.code, cast(probe.c.day, String(10)), probe.c.lat, probe.c.n).order_by(probe.c.id)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        expected = pd.DataFrame(list(map(tuple, conn.execute(plain).all())), columns=["code", "day", "lat", "n"])
        got = store_db.read_frame(conn, plain, ["code", "day", "lat", "n"])
        assert store_db._plain_sqlite_rows(conn, plain) == (conn.dialect.name == "sqlite")
        assert store_db._copyable_postgresql_rows(conn, plain) == (conn.dialect.name == "postgresql")
    pd.testing.assert_frame_equal(got, expected)
    assert got["day"].tolist() == ["2026-11-23", "2026-11-24", "2026-02-28", "2025-12-31", "2026-01-01"]
    assert got["code"].tolist()[1] == "N/2 ' quoted" and pd.isna(got["lat"][1])


def test_a_column_whose_type_converts_is_read_through_sqlalchemy(table: tuple[object, Table]) -> None:
    """A DATE column comes from SQLite as text, which SQLAlchemy turns into a ``date``: such a query is not
    read from the cursor directly, so both backends give dates."""
    engine, probe = table
    stmt = select(probe.c.code, probe.c.day).order_by(probe.c.id)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        assert not store_db._plain_sqlite_rows(conn, stmt)
        got = store_db.read_frame(conn, stmt, ["code", "day"], lambda f: f.assign(n=len(f)))
    assert got["day"].tolist() == [r["day"] for r in ROWS]
    assert got["n"].tolist() == [5] * 5  # ``compact`` saw one chunk


def test_no_rows_give_the_columns(table: tuple[object, Table]) -> None:
    engine, probe = table
    stmt = select(probe.c.code, probe.c.lat).where(probe.c.n > 100)
    with engine.connect() as conn:  # type: ignore[attr-defined]
        got = store_db.read_frame(conn, stmt, ["code", "lat"])
    assert got.empty and list(got.columns) == ["code", "lat"]


def test_awkward_text_nulls_and_parameters_read_alike(table: tuple[object, Table]) -> None:
    """On PostgreSQL the rows come through COPY's CSV: an empty text stays empty and NULL stays missing, and
    commas, quotes and line breaks in a text, and the statement's parameters (an IN list among them), pass."""
    engine, probe = table
    awkward = [{"id": 10, "code": "", "day": date(2026, 3, 1), "lat": 1.5, "n": None},
               {"id": 11, "code": None, "day": date(2026, 3, 2), "lat": None, "n": 4},
               {"id": 12, "code": 'a, "b"\nc', "day": date(2026, 3, 3), "lat": 0.1 + 0.2, "n": -1}]
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(insert(probe), awkward)
    stmt = (select(probe.c.code, cast(probe.c.day, String(10)), probe.c.lat, probe.c.n)
            .where(probe.c.day >= date(2026, 3, 1), probe.c.id.in_([10, 11, 12, 99])).order_by(probe.c.id))
    with engine.connect() as conn:  # type: ignore[attr-defined]
        expected = pd.DataFrame(list(map(tuple, conn.execute(stmt).all())), columns=["code", "day", "lat", "n"])
        got = store_db.read_frame(conn, stmt, ["code", "day", "lat", "n"])
    pd.testing.assert_frame_equal(got, expected)
    assert got["code"][0] == "" and pd.isna(got["code"][1]) and got["code"][2] == 'a, "b"\nc'
    assert got["lat"][2] == 0.1 + 0.2 and pd.isna(got["n"][0]) and got["day"].tolist()[0] == "2026-03-01"


def test_an_error_while_reading_is_sqlalchemys(table: tuple[object, Table]) -> None:
    engine, probe = table
    smallest = literal(-2**63, BigInteger) + probe.c.id * 0  # a row's value: the error comes while reading
    stmt = select(probe.c.code, func.abs(smallest).label("boom"))  # integer overflow on either store, while reading
    with engine.connect() as conn, pytest.raises(DBAPIError):  # type: ignore[attr-defined]
        store_db.read_frame(conn, stmt, ["code", "boom"])
