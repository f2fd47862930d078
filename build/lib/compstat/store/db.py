"""Engine creation, migrations and fast bulk loading, the same code for SQLite and PostgreSQL."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import Connection, Engine, Table, create_engine, event
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session

from compstat.errors import CompstatError, UsageError

MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_url(cli_url: str | None, config_url: str) -> str:
    """--db beats COMPSTAT_DB beats the config's ``store``."""
    return cli_url or os.environ.get("COMPSTAT_DB") or config_url


def connect(url: str) -> Engine:
    """Open the store at ``url`` and bring its schema up to date."""
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise UsageError(f"store URL is not usable: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    try:
        with engine.begin() as conn:
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    except OperationalError as exc:
        raise CompstatError(f"cannot open the store {engine.url!r}: {exc.orig}") from None
    return engine


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed if the block succeeds, rolled back otherwise."""
    with Session(engine) as session, session.begin():
        yield session


def bulk_insert(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Insert a DataFrame whose columns are a subset of ``table``'s, fast on either backend."""
    if frame.empty:
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(str(c)) for c in frame.columns)
    name = quote(table.name)
    rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        sql = f"COPY {name} ({columns}) FROM STDIN"
        with dbapi.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
            for row in rows:
                copy.write_row(row)
        return
    placeholders = ", ".join("?" for _ in frame.columns)
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    cursor.executemany(f"INSERT INTO {name} ({columns}) VALUES ({placeholders})", list(rows))
    cursor.close()
