"""Engine creation, migrations and fast bulk loading, the same code for SQLite and PostgreSQL."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import (
    ColumnElement,
    Connection,
    Engine,
    Executable,
    Float,
    Integer,
    String,
    Table,
    create_engine,
    event,
)
from sqlalchemy.engine import URL, ExceptionContext, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError, OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool, SingletonThreadPool

from compstat.errors import CompstatError, FileSystemError, StoreUnavailableError, UsageError

MIGRATIONS = Path(__file__).parent / "migrations"


def resolve_url(cli_url: str | None, config_url: str) -> str:
    """--db beats COMPSTAT_DB beats the config's ``store`` (whose driver must be installed: ``require_driver``)."""
    url = cli_url or os.environ.get("COMPSTAT_DB") or config_url
    require_driver(url)
    return url


EXTRAS = {"postgresql": "postgres"}  # a dialect whose driver an extra of compstat installs (pyproject.toml)


def require_driver(url: str) -> None:
    """Stop with a UsageError naming what to install when the database driver of ``url`` is not installed
    (psycopg, for a PostgreSQL store, comes with ``pip install 'compstat[postgres]'``); an unparseable URL
    is left to ``create_engine`` to report."""
    try:
        parsed = make_url(url)
        dialect = parsed.get_dialect()
    except (ArgumentError, NoSuchModuleError):
        return
    try:
        dialect.import_dbapi()
    except ImportError as exc:
        extra = EXTRAS.get(parsed.get_backend_name())
        how = f"pip install 'compstat[{extra}]'" if extra else "install it"
        raise UsageError(f"{parsed.render_as_string()}: the {parsed.get_backend_name()} driver "
                         f"{exc.name or parsed.get_driver_name()} is not installed ({how})") from None


def connect(url: str) -> Engine:
    """Open the store at ``url`` and bring its schema up to date."""
    require_driver(url)
    try:
        engine = create_engine(url)
    except (ArgumentError, ImportError) as exc:
        raise UsageError(f"store URL is not usable: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    event.listen(engine, "handle_error", _connection_lost)
    try:
        _migrate(url, engine)
    except DBAPIError as exc:
        engine.dispose()  # no pooled connection left for the garbage collector to find open
        if isinstance(exc, OperationalError):
            raise store_error(exc, engine) or CompstatError(
                f"cannot open the store {engine.url!r}: {exc.orig}") from None
        raise CompstatError(f"cannot bring the store {engine.url!r} up to date: {exc.orig}; its schema was left as "
                            "it was") from None
    return engine


def unindexed_on_sqlite(bind: Session | Connection, column: Any) -> ColumnElement[Any]:
    """``column`` in a form SQLite cannot look up in an index (``column || ''``), so that its planner takes
    another way to the rows (the table in its own order, another index); the column itself on PostgreSQL,
    whose planner chooses for itself."""
    dialect = bind.get_bind().dialect if isinstance(bind, Session) else bind.dialect
    form: ColumnElement[Any] = column.concat("") if dialect.name == "sqlite" else column
    return form


def shares_connections(engine: Engine) -> bool:
    """Whether another thread may use one of ``engine``'s connections while its own thread waits: not for an
    in-memory SQLite database, whose driver keeps its same-thread check (SQLAlchemy lifts it for files only)."""
    return engine.dialect.name != "sqlite" or not isinstance(engine.pool, SingletonThreadPool)


def _migrate(url: str, engine: Engine) -> None:
    """Bring the schema to the newest revision in one transaction: all of it or none. SQLite's Python driver
    commits before each DDL statement unless it is left to SQLite (``isolation_level`` None and an explicit
    BEGIN), so SQLite stores are migrated through such an engine: a failed revision leaves no half-made table."""
    migrating = engine
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        migrating = create_engine(url, poolclass=NullPool)

        def _autocommit(dbapi_conn: Any, _record: Any) -> None:
            _sqlite_pragmas(dbapi_conn, _record)
            dbapi_conn.isolation_level = None

        event.listen(migrating, "connect", _autocommit)
        event.listen(migrating, "begin", lambda conn: conn.exec_driver_sql("BEGIN"))
    try:
        with migrating.begin() as conn:
            cfg = AlembicConfig()
            cfg.set_main_option("script_location", str(MIGRATIONS))
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
    finally:
        if migrating is not engine:
            migrating.dispose()


_STORE_FAULTS = {  # SQLite's message: the line to print ({where}: the store's file)
    "attempt to write a readonly database":
        "cannot write the store {where}: it is read-only (a read-only file system, file or folder) - make the "
        "store and its folder writable, or choose another --db",
    "unable to open database file":
        "cannot open the store {where}: its folder is missing, read-only or not accessible - check the folder "
        "(SQLite writes a journal beside the store) or choose another --db",
    "database or disk is full": "no space left on device writing the store {where}: free space or choose another --db",
    "disk i/o error":
        "cannot write the store {where}: disk I/O error - check the disk and that the store's folder is writable "
        "(SQLite writes a journal beside it)",
}


def store_error(exc: OperationalError, engine: Engine) -> FileSystemError | None:
    """A SQLite store that cannot be written (read-only, full disk, missing folder) as one line
    naming its file and what to do; None for any other error."""
    if engine.dialect.name != "sqlite":
        return None
    message = str(exc.orig).lower()
    for fault, line in _STORE_FAULTS.items():
        if fault in message:
            return FileSystemError(f"{line.format(where=engine.url.database)}; nothing was changed")
    return None


@contextmanager
def store_errors(engine: Engine) -> Iterator[None]:
    """Turn a SQLite store's file-system fault (``store_error``) into its one-line error."""
    try:
        yield
    except OperationalError as exc:
        fault = store_error(exc, engine)
        if fault is None:
            raise
        raise fault from None


LOST_STATES = ("08", "57P")  # SQLSTATEs: connection exception; operator intervention (shutdown, database dropped)


def lost_connection(exc: BaseException, url: URL, disconnect: bool = False) -> StoreUnavailableError | None:
    """The store's database gone away during a command (its server stopped or restarted, the session
    terminated: PostgreSQL's ``AdminShutdown``), as one line naming the store and what to do; None for
    any other error. ``disconnect``: the driver says the connection is closed or broken."""
    state = getattr(exc, "sqlstate", None) or getattr(exc, "pgcode", None)
    if not disconnect and not (isinstance(state, str) and state.startswith(LOST_STATES)):
        return None
    said = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return StoreUnavailableError(
        f"lost the connection to the store {url.render_as_string(hide_password=True)} ({said}): the database "
        "server stopped or ended the session, and what was not committed was rolled back - check that the "
        "server is running, then run the command again")


def _connection_lost(context: ExceptionContext) -> None:
    """``handle_error`` hook of every store engine: a lost connection raises ``lost_connection``'s one line
    instead of the driver's error (SQLAlchemy has already rolled back and invalidated the connection)."""
    if context.engine is None:
        return
    lost = lost_connection(context.original_exception, context.engine.url, context.is_disconnect)
    if lost is not None:
        raise lost


SQLITE_CACHE_KIB = 65_536  # each connection's page cache, at most (SQLite's default is 2 MiB)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    """Foreign keys on, a 30 s wait for a lock, and a 64 MiB page cache: ingesting 20.8M records in one
    transaction took 177.9 s with SQLite's default 2 MiB, which spills the indexes' pages to the file again
    and again, and 165.4 s with it (``compstat.bench``'s national force; the cache grows only as it is used)."""
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
    cur.close()


@contextmanager
def transaction(engine: Engine) -> Iterator[Session]:
    """One unit of work: committed if the block succeeds, rolled back otherwise (a store that cannot
    be written is reported as ``store_error`` says)."""
    with store_errors(engine), Session(engine) as session, session.begin():
        yield session


@contextmanager
def store_transaction(url: str) -> Iterator[Session]:
    """``transaction`` on the store at ``url``, opened (and migrated) for this one unit of work and closed after."""
    engine = connect(url)
    try:
        with transaction(engine) as session:
            yield session
    finally:
        engine.dispose()


INSERT_CHUNK = 50_000  # rows turned into Python values at a time: memory stays flat whatever the input's size
READ_CHUNK = 200_000  # rows read as Python values at a time by ``read_frame``


def read_frame(conn: Connection, stmt: Executable, columns: list[str],
               compact: Callable[[pd.DataFrame], pd.DataFrame] = lambda frame: frame) -> pd.DataFrame:
    """A query's rows as a DataFrame, read ``READ_CHUNK`` rows at a time (a server-side cursor on PostgreSQL),
    each chunk made ``compact`` (typed columns: dates parsed, codes categorical) before the next is read, so
    that millions of rows are never Python objects all at once."""
    if _plain_sqlite_rows(conn, stmt):
        parts = _sqlite_parts(conn, stmt, columns, compact)
    elif _copyable_postgresql_rows(conn, stmt):
        parts = _postgresql_parts(conn, stmt, columns, compact)
    else:
        result = conn.execute(stmt, execution_options={"stream_results": True})  # this statement only
        parts = [compact(pd.DataFrame(list(map(tuple, rows)), columns=columns))
                 for rows in result.partitions(READ_CHUNK)]
    if not parts:
        return compact(pd.DataFrame(columns=columns))
    return pd.concat(parts, ignore_index=True) if len(parts) > 1 else parts[0]


def _plain_sqlite_rows(conn: Connection, stmt: Executable) -> bool:
    """Whether SQLite's own values of the statement's columns are what SQLAlchemy would return: no column
    type converts them (text, numbers, dates cast to text; a DATE column would, from text to ``date``)."""
    columns = getattr(stmt, "selected_columns", None)
    return conn.dialect.name == "sqlite" and columns is not None and all(
        c.type.dialect_impl(conn.dialect).result_processor(conn.dialect, None) is None for c in columns)


COPY_TYPES = {String: pa.string(), Integer: pa.int64(), Float: pa.float64()}  # CSV text as psycopg reads them


def _copy_type(column: Any) -> pa.DataType | None:
    """The Arrow type that reads a column's COPY text as psycopg would give its value; None if none does."""
    kind = type(column.type)
    if issubclass(kind, Float) and getattr(column.type, "asdecimal", False):
        return None
    return next((arrow for base, arrow in COPY_TYPES.items() if issubclass(kind, base)), None)


def _copyable_postgresql_rows(conn: Connection, stmt: Executable) -> bool:
    """Whether every column of a PostgreSQL statement is text or a number, which COPY's CSV gives exactly."""
    columns = getattr(stmt, "selected_columns", None)
    return conn.dialect.name == "postgresql" and columns is not None and len(columns) > 0 and all(
        _copy_type(c) is not None for c in columns)


def _postgresql_parts(conn: Connection, stmt: Executable, columns: list[str],
                      compact: Callable[[pd.DataFrame], pd.DataFrame]) -> list[pd.DataFrame]:
    """``read_frame``'s chunks on PostgreSQL: the query's rows as ``COPY ... TO STDOUT`` CSV, in this transaction,
    read by Arrow's CSV reader (an unquoted empty field is NULL, a quoted one an empty text, as COPY writes them),
    then ``READ_CHUNK`` rows at a time to pandas. Rows through SQLAlchemy cost about three times as much (the
    national force's 5.5M map points). The engine's cursor-execute listeners see the COPY statement, as they see
    any other; an error is raised as SQLAlchemy's (``DBAPIError.instance``)."""
    compiled = stmt.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})  # type: ignore[attr-defined]
    types = [_copy_type(c) for c in stmt.selected_columns]  # type: ignore[attr-defined]
    dbapi_error = conn.dialect.loaded_dbapi.Error
    buffer = io.BytesIO()
    driver: Any = conn.connection.dbapi_connection  # psycopg's, in the connection's transaction
    sql = f"COPY ({compiled}) TO STDOUT (FORMAT csv)"
    try:
        with driver.cursor() as cursor:
            conn.dispatch.before_cursor_execute(conn, cursor, sql, compiled.params, None, False)  # listeners see it
            with cursor.copy(sql, compiled.params) as copy:
                for block in copy:
                    buffer.write(block)
            conn.dispatch.after_cursor_execute(conn, cursor, sql, compiled.params, None, False)
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
    if buffer.tell() == 0:
        return []
    buffer.seek(0)
    table = pa_csv.read_csv(
        buffer, read_options=pa_csv.ReadOptions(column_names=columns),
        parse_options=pa_csv.ParseOptions(newlines_in_values=True),
        convert_options=pa_csv.ConvertOptions(column_types=dict(zip(columns, types, strict=True)), null_values=[""],
                                              strings_can_be_null=True, quoted_strings_can_be_null=False))
    del buffer
    return [compact(batch.to_pandas()) for batch in table.to_batches(max_chunksize=READ_CHUNK)]


def _sqlite_parts(conn: Connection, stmt: Executable, columns: list[str],
                  compact: Callable[[pd.DataFrame], pd.DataFrame]) -> list[pd.DataFrame]:
    """``read_frame``'s chunks on SQLite, fetched as the driver's tuples: SQLAlchemy's rows on top of them cost
    about as much again (5.5M map points: 10.9 s through rows, 6.0 s from the cursor). An error while fetching
    is raised as SQLAlchemy's (``DBAPIError.instance``), as one from ``execute`` is."""
    result = conn.execute(stmt)
    dbapi_error = conn.dialect.loaded_dbapi.Error
    parts = []
    try:
        while rows := result.cursor.fetchmany(READ_CHUNK):
            parts.append(compact(pd.DataFrame(rows, columns=columns)))
    except dbapi_error as exc:
        raise DBAPIError.instance(None, None, exc, dbapi_error) from exc
    finally:
        result.close()
    return parts


def bulk_insert(conn: Connection, table: Table, frame: pd.DataFrame) -> None:
    """Insert a DataFrame whose columns are a subset of ``table``'s, fast on either backend (``COPY`` on
    PostgreSQL, ``executemany`` on SQLite), ``INSERT_CHUNK`` rows at a time."""
    if frame.empty:
        return
    quote = conn.dialect.identifier_preparer.quote
    columns = ", ".join(quote(str(c)) for c in frame.columns)
    name = quote(table.name)
    dbapi = conn.connection.dbapi_connection
    if conn.dialect.name == "postgresql":
        sql = f"COPY {name} ({columns}) FROM STDIN"
        try:
            with dbapi.cursor() as cur, cur.copy(sql) as copy:  # type: ignore[union-attr]
                for rows in _row_chunks(frame):
                    for row in rows:
                        copy.write_row(row)
        except conn.dialect.loaded_dbapi.Error as exc:  # the driver's own, not through SQLAlchemy's handle_error
            lost = lost_connection(exc, conn.engine.url, bool(getattr(dbapi, "closed", False) or
                                                               getattr(dbapi, "broken", False)))
            if lost is not None:
                raise lost from None
            raise
        return
    placeholders = ", ".join("?" for _ in frame.columns)
    cursor = dbapi.cursor()  # type: ignore[union-attr]
    for rows in _row_chunks(frame):
        cursor.executemany(f"INSERT INTO {name} ({columns}) VALUES ({placeholders})", rows)
    cursor.close()


def _row_chunks(frame: pd.DataFrame) -> Iterator[list[tuple[Any, ...]]]:
    """The frame's rows as tuples of Python values (None for a missing one), ``INSERT_CHUNK`` at a time."""
    for start in range(0, len(frame), INSERT_CHUNK):
        part = frame.iloc[start:start + INSERT_CHUNK]  # column by column: half the time of row-wise conversion
        yield list(zip(*(_python_values(part[c]) for c in part.columns), strict=True))


def _python_values(column: pd.Series) -> list[Any]:
    """A column as Python values, None for a missing one (pandas-stubs does not allow ``na_value=None``)."""
    return column.to_numpy(dtype=object, na_value=None).tolist()  # type: ignore[call-overload,no-any-return]
