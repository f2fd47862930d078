"""The store lock: one cycle at a time on a store, and no action written while a cycle runs.

A cycle holds its store's lock exclusively for its whole run (``cycle_lock``). Commands that write
actions, or look at the data in a transaction they roll back (``check``, ``analyse``, ``reissue``),
hold it shared (``shared_lock``): they run together between cycles (the action log detects
conflicting updates itself). One that cannot take the lock waits up to ``COMPSTAT_LOCK_WAIT`` seconds
(default ``DEFAULT_WAIT``), then stops with ``StoreBusyError`` (exit 1) naming the running cycle: its
process id, host, start time, period and organisation.

SQLite: ``flock`` on ``<database>.lock`` beside the database file, into which the cycle writes who
it is. PostgreSQL: a session advisory lock (``ADVISORY_KEY``) held on a connection of its own whose
``application_name`` says who holds it. The kernel or the server frees the lock when its process
dies, so a killed cycle never leaves a stale lock. An in-memory SQLite store has no lock, nor has
any store on Windows (no ``flock``).
"""

from __future__ import annotations

import errno
import hashlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Connection, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.pool import NullPool

from compstat.errors import CompstatError, UsageError

WAIT_ENV = "COMPSTAT_LOCK_WAIT"
DEFAULT_WAIT = 30.0  # seconds a command waits for a running cycle before it gives up
POLL = 0.2
ADVISORY_KEY = int.from_bytes(b"compstat", "big")  # PostgreSQL: one lock per database
APP_PREFIX = "compstat cycle"
log = logging.getLogger(__name__)


class StoreBusyError(CompstatError):
    """A cycle is running on the store (or, for a cycle, another command holds it): nothing was done."""

    exit_code = 1


@dataclass(frozen=True)
class Holder:
    """Who runs the cycle that holds a store's lock."""

    pid: int
    host: str
    started: str  # ISO time, local to the holder
    period: str
    org: str

    def describe(self) -> str:
        return (f"the {self.org} cycle for {self.period}, process {self.pid} on {self.host}, "
                f"started {self.started}")


def wait_seconds() -> float:
    """How long to wait for the lock: ``$COMPSTAT_LOCK_WAIT`` seconds, else ``DEFAULT_WAIT``."""
    raw = os.environ.get(WAIT_ENV, "").strip()
    if not raw:
        return DEFAULT_WAIT
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise UsageError(f"{WAIT_ENV}='{raw}': expected a number of seconds (0 or more)")
    return value


@contextmanager
def cycle_lock(store_url: str, period: str, org: str, wait: float | None = None) -> Iterator[Holder]:
    """Hold the store's lock exclusively while the block runs (a cycle); yields who holds it."""
    me = Holder(os.getpid(), socket.gethostname(), datetime.now().replace(microsecond=0).isoformat(), period, org)
    with _lock(store_url, me, wait) as busy:
        if busy is not None:
            raise StoreBusyError(_busy_message(busy, wait, "another cycle is running on this store"))
        yield me


ACTIONS = "actions cannot be written while a cycle runs"
PREVIEW = "a cycle is running on this store"
OTHERS = "other commands (writing actions, checking or re-issuing) hold it"


@contextmanager
def shared_lock(store_url: str, what: str = ACTIONS, wait: float | None = None) -> Iterator[None]:
    """Hold the store's lock shared while the block runs (writing actions, or a look at the data that
    is rolled back): waits for a running cycle, then stops with ``StoreBusyError`` ("<what>: <the cycle>")."""
    with _lock(store_url, None, wait) as busy:
        if busy is not None:
            raise StoreBusyError(_busy_message(busy, wait, what))
        yield


@contextmanager
def task_lock(store_url: str, task: str, wait: float | None = None) -> Iterator[None]:
    """Hold a lock of its own for one kind of task on this store (``task``, e.g. "distribute <org>"), apart
    from the store's lock: a second run of the same task waits, then stops with ``StoreBusyError``. SQLite:
    ``flock`` on ``<database>.<task>.lock``; PostgreSQL: a session advisory lock keyed by the task's name."""
    url = make_url(store_url)
    deadline = time.monotonic() + (wait_seconds() if wait is None else wait)
    busy = f"another `compstat {task}` is running on this store"
    if url.get_backend_name() == "postgresql":
        key = int.from_bytes(hashlib.sha256(task.encode()).digest()[:8], "big", signed=True)
        with _lock_connection(store_url, f"compstat {task}"[:63]) as conn:
            take = text("SELECT pg_try_advisory_lock(:k)")
            if not _until(deadline, lambda: bool(conn.scalar(take, {"k": key})), lambda: busy):
                raise StoreBusyError(_busy_message(busy, wait, task))
            yield
        return
    path = _beside_database(store_url, "." + "".join(c if c.isalnum() else "-" for c in task) + ".lock")
    if path is None:
        yield
        return
    try:
        fd = _open(path)
    except OSError as exc:
        raise CompstatError(f"cannot open the lock file {path}: {exc.strerror}; the folder of the store must "
                            "exist and be writable") from None
    try:
        if not _until(deadline, lambda: _try_flock(fd, fcntl.LOCK_EX), lambda: busy):
            raise StoreBusyError(_busy_message(busy, wait, task))
        yield
    finally:
        os.close(fd)  # releases the lock


def _busy_message(holder: Holder | str, wait: float | None, what: str) -> str:
    waited = f"waited {wait_seconds() if wait is None else wait:g} s ({WAIT_ENV} sets how long)"
    if isinstance(holder, str):
        return f"the store is busy: {holder}; {waited}. Try again when it has finished."
    return (f"{what}: {holder.describe()}; {waited}. Try again when it has finished (if that process has hung, "
            "stopping it frees the store: its changes are rolled back).")


Busy = Holder | str | None  # None: the lock is ours; else who holds it (or what, when not a cycle)


@contextmanager
def _lock(store_url: str, me: Holder | None, wait: float | None) -> Iterator[Busy]:
    """The store's lock, exclusive with ``me`` (who is running the cycle), shared without."""
    url = make_url(store_url)
    deadline = time.monotonic() + (wait_seconds() if wait is None else wait)
    if url.get_backend_name() == "postgresql":
        with _pg_lock(store_url, me, deadline) as busy:
            yield busy
        return
    path = _beside_database(store_url, ".lock")
    if path is None:
        yield None
        return
    with _file_lock(path, me, deadline) as busy:
        yield busy


def _beside_database(store_url: str, suffix: str) -> Path | None:
    """A lock file beside a SQLite store's database (``<database><suffix>``); None for a store that has no
    such file (PostgreSQL, an in-memory or URI SQLite database) or on Windows (no ``flock``)."""
    url = make_url(store_url)
    database = url.database if url.get_backend_name() == "sqlite" else None
    if not database or database == ":memory:" or database.startswith("file:") or sys.platform == "win32":
        return None
    return Path(f"{database}{suffix}")


def _until(deadline: float, attempt: Callable[[], bool], holder: Callable[[], Busy]) -> bool:
    """Call ``attempt`` every ``POLL`` seconds until it succeeds (True) or ``deadline`` passes (False);
    says once, on standard error (a logging warning), who it is waiting for."""
    if attempt():
        return True
    if time.monotonic() < deadline:
        busy = holder()
        held = busy.describe() if isinstance(busy, Holder) else busy
        log.warning("Waiting up to %.0f s for the store: %s", deadline - time.monotonic(), held)
    while not attempt():
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL)
    return True


if sys.platform != "win32":
    import fcntl

    @contextmanager
    def _file_lock(path: Path, me: Holder | None, deadline: float) -> Iterator[Busy]:
        try:
            fd = _open(path)
        except OSError as exc:
            if exc.errno == errno.EROFS:  # nobody can write a store on a read-only file system: nothing to lock
                yield None
                return
            raise CompstatError(f"cannot open the store's lock file {path}: {exc.strerror}; the folder of the "
                                "store must exist and be writable") from None
        try:
            mode = fcntl.LOCK_EX if me is not None else fcntl.LOCK_SH
            if not _until(deadline, lambda: _try_flock(fd, mode), lambda: _file_holder(fd)):
                yield _file_holder(fd)
                return
            if me is None:
                yield None
                return
            writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR
            if writable:
                os.ftruncate(fd, 0)
                os.pwrite(fd, json.dumps(asdict(me)).encode(), 0)
            try:
                yield None
            finally:
                if writable:  # a killed cycle leaves its record, but never the lock: the next one rewrites it
                    os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the lock

    def _open(path: Path) -> int:
        """The lock file, created if need be; read-only when another user made it (``flock`` works on either)."""
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except PermissionError:
            return os.open(path, os.O_RDONLY)

    def _try_flock(fd: int, mode: int) -> bool:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _file_holder(fd: int) -> Busy:
        """Who holds the lock file: the cycle recorded in it, or action writers when a shared lock is free."""
        if _try_flock(fd, fcntl.LOCK_SH):  # no cycle: only commands writing actions hold it
            fcntl.flock(fd, fcntl.LOCK_UN)
            return OTHERS
        try:
            return Holder(**json.loads(os.pread(fd, 4096, 0)))
        except (ValueError, TypeError):
            return "a cycle holds it (it has not recorded who it is)"


def _app_name(me: Holder) -> str:
    """The lock connection's ``application_name`` (PostgreSQL keeps 63 bytes: the host goes last)."""
    return f"{APP_PREFIX} {me.pid} {me.period} {me.org} {me.host}"[:63]


@contextmanager
def _pg_lock(store_url: str, me: Holder | None, deadline: float) -> Iterator[Busy]:
    name = _app_name(me) if me is not None else "compstat actions"
    take = text(f"SELECT {'pg_try_advisory_lock' if me is not None else 'pg_try_advisory_lock_shared'}(:k)")
    with _lock_connection(store_url, name) as conn:
        try:
            taken = _until(deadline, lambda: bool(conn.scalar(take, {"k": ADVISORY_KEY})), lambda: _pg_holder(conn))
            busy = None if taken else _pg_holder(conn)
        except SQLAlchemyError as exc:
            raise _unreachable(conn.engine.url, exc) from None
        yield busy


@contextmanager
def _lock_connection(store_url: str, application_name: str) -> Iterator[Connection]:
    """A PostgreSQL connection of its own for a session advisory lock (closing it releases the lock), named
    ``application_name`` so that others can see who holds it; a server that cannot be reached is one line."""
    engine = create_engine(store_url, poolclass=NullPool, isolation_level="AUTOCOMMIT",
                           connect_args={"application_name": application_name})
    try:
        try:
            conn = engine.connect()
        except SQLAlchemyError as exc:
            raise _unreachable(engine.url, exc) from None
        with conn:
            yield conn
    finally:
        engine.dispose()


def _unreachable(url: object, exc: SQLAlchemyError) -> CompstatError:
    return CompstatError(f"cannot take the store's lock on {url!r}: {getattr(exc, 'orig', None) or exc}")


def _pg_holder(conn: Connection) -> Busy:
    row = conn.execute(text(
        "SELECT a.application_name, a.backend_start FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.mode = 'ExclusiveLock' "
        "AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"),
        {"hi": ADVISORY_KEY >> 32, "lo": ADVISORY_KEY & 0xFFFFFFFF}).first()
    if row is None:
        return OTHERS
    parts = str(row[0]).split(" ", 5)
    if row[1] is None or len(parts) < 5 or " ".join(parts[:2]) != APP_PREFIX or not parts[2].isdigit():
        return "a cycle holds it (its session is not visible to this database user)"
    started = row[1].astimezone().replace(tzinfo=None, microsecond=0).isoformat()
    return Holder(int(parts[2]), parts[5] if len(parts) > 5 else "?", started, parts[3], parts[4])


def require_lock(conn: Connection, me: Holder) -> None:
    """Stop with ``StoreBusyError`` (nothing committed) when the cycle ``me`` no longer holds the store's lock:
    on PostgreSQL, its lock's session was ended on its own (``pg_terminate_backend``) while the cycle's lived,
    so another cycle may have started. Asked on the cycle's connection, before it publishes and commits.
    A SQLite lock (``flock`` on an open file) cannot be lost while the process lives."""
    if conn.dialect.name != "postgresql":
        return
    holder = _pg_holder(conn)
    if isinstance(holder, Holder) and (holder.pid, holder.period) == (me.pid, me.period) and \
            me.org.startswith(holder.org):  # a long slug is cut in the application_name (``_app_name``)
        return
    raise StoreBusyError(f"the store's lock was lost during the {me.org} cycle for {me.period} (the database "
                         "ended the session that held it): nothing was recorded and the earlier outputs stand. "
                         "Run the cycle again")


@contextmanager
def action_transaction(store_url: str) -> Iterator[Session]:
    """One transaction that writes actions, under the store's shared lock (``shared_lock``): it waits
    for a running cycle, and stops with ``StoreBusyError`` when the cycle outlasts the wait."""
    from compstat.store.db import store_transaction

    with shared_lock(store_url, ACTIONS), store_transaction(store_url) as session:
        yield session
