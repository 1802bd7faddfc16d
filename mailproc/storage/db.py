"""Engine and sessions: the one place that knows how to reach the database."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailproc import DISTRIBUTION
from mailproc.credentials import Password, reveal
from mailproc.errors import StoreError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
SQLITE_BUSY_TIMEOUT_MS = 10_000
# What to do about a database that is missing, or whose schema is behind the code.
UPGRADE_HINT = "run `mailproc db upgrade`"


# The execution option of read-only sessions (make_sessions).
READ_ONLY = "mailproc_read_only"


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def make_engine(url: str, *, password: Password | None = None, create: bool = True) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys, or PostgreSQL via psycopg 3.

    Without ``create``, connecting to a SQLite file that is not there is a StoreError ("no
    database at PATH"), not a new empty database: a command given a wrong path must not
    leave one behind.

    ``password`` (PostgreSQL), kept apart from the URL, is read at each new connection and
    handed to the driver: it never enters the URL that messages show (a URL's own password
    is shown through ``render_as_string(hide_password=True)``).

    Both happen when a connection opens, not here: building the desk without touching its
    database (``rules test``) needs neither the file nor the password.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, create=create)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql_engine(parsed, password)
    raise StoreError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")


def make_sessions(engine: Engine, *, read_only: bool = False) -> sessionmaker[Session]:
    """The session factory; objects stay readable after commit (the pipeline logs them).

    ``read_only``: sessions that only read (the web view's pages). On SQLite they begin
    without the write lock (see _on_sqlite_begin), so that a page never waits for a message
    being processed, nor holds the pipeline up: in WAL mode readers and the one writer run
    side by side. A write in such a session is a bug; on SQLite it may fail as locked."""
    bind = engine.execution_options(**{READ_ONLY: True}) if read_only else engine
    return sessionmaker(bind, expire_on_commit=False)


def connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except DBAPIError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"cannot reach the database {where}: {exc.orig}") from exc


def _sqlite_engine(url: URL, *, create: bool) -> Engine:
    path = _sqlite_path(url)
    if path is not None and create:
        _create_folder(path.parent)
    # The sqlite3 module keeps each prepared statement with its last bound values, and SQLite
    # keeps the record it built, until the statement runs again: a 25 MB message would stay
    # in memory twice after its commit, and each large INSERT after it (its files, the routed
    # copy) would add its own. Preparing each time costs about 7 microseconds a statement.
    # Each engine's connections queue for writing on a lock of their own (see _QueuedWriters).
    writers = type("QueuedWriters", (_QueuedWriters,), {"turn": threading.Lock()})
    engine = create_engine(url, connect_args={"cached_statements": 0, "factory": writers})
    if path is not None and not create:
        event.listen(engine, "do_connect", _refuse_missing_file(path))
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _create_folder(folder: Path) -> None:
    # SQLite makes the file, not its folder.
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the database folder {folder}: {exc}") from exc


def _refuse_missing_file(path: Path) -> Callable[..., None]:
    """A ``do_connect`` hook: connecting to a file that is not there would create it."""

    def check(_dialect: Any, _record: Any, _cargs: Any, _cparams: Any) -> None:
        if not path.is_file():
            raise StoreError(f"no database at {path}: {UPGRADE_HINT}")

    return check


def _sqlite_path(url: URL) -> Path | None:
    """The file of a SQLite URL; None for memory, and for a URI (``file:...``), whose
    options are its own."""
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database)


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    # Take transactions away from the sqlite3 module so that _on_sqlite_begin decides, and so
    # that PRAGMAs (no-ops inside a transaction) take effect.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
    finally:
        cursor.close()


def _on_sqlite_begin(connection: Connection) -> None:
    # Take the write lock up front: a deferred transaction that reads and then writes fails
    # with "database is locked" instead of waiting out busy_timeout. A read-only session
    # (make_sessions) never writes: it reads a snapshot, beside the writer, with no turn.
    if connection.get_execution_options().get(READ_ONLY):
        connection.exec_driver_sql("BEGIN")
        return
    driver = connection.connection.driver_connection
    assert isinstance(driver, _QueuedWriters)  # the factory of every SQLite engine here
    driver.wait_for_turn()
    try:
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    except BaseException:
        driver.end_turn()
        raise


class _QueuedWriters(sqlite3.Connection):
    """A SQLite connection whose transactions wait their turn, among the threads of this
    process, on a lock of the engine's (``turn``) before SQLite's own write lock.

    Every transaction here takes SQLite's write lock at BEGIN. A second writer meets it
    busy, sleeps and tries again, 1, 2, 5, 10 ... 100 ms later, until busy_timeout: a thread
    with short transactions (the outbox delivered while a backlog is read) seldom finds the
    lock free between another thread's back-to-back ones and waits seconds for each. Queued
    here, it takes its turn as soon as the transaction before it ends. Other processes still
    meet SQLite's lock, and its busy_timeout.
    """

    turn: ClassVar[threading.Lock]
    _has_turn = False

    def wait_for_turn(self) -> None:
        if not self.turn.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000):
            # What SQLite answers after busy_timeout, for the same reason, wrapped as
            # SQLAlchemy wraps the driver's errors.
            locked = sqlite3.OperationalError("database is locked")
            raise OperationalError("BEGIN IMMEDIATE", None, locked)
        self._has_turn = True

    # A transaction ends (or the connection with it): the next writer's turn, however it went.
    def commit(self) -> None:
        self._ending(super().commit)

    def rollback(self) -> None:
        self._ending(super().rollback)

    def close(self) -> None:
        self._ending(super().close)

    def _ending(self, end: Callable[[], None]) -> None:
        try:
            end()
        finally:
            self.end_turn()

    def end_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            self.turn.release()


def _postgresql_engine(url: URL, password: Password | None) -> Engine:
    # Pinned so that SQLAlchemy 2.0 (default psycopg2) and 2.1 (default psycopg) agree.
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        # Without it an unreachable server hangs the poller until the OS gives up.
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    try:
        engine = create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    except ImportError as exc:  # psycopg comes with an extra: SQLite needs none of it
        raise StoreError(
            f"PostgreSQL needs psycopg ({exc}): pip install '{DISTRIBUTION}[postgresql]'"
        ) from exc
    if password is not None:
        event.listen(engine, "do_connect", _with_password(password))
    return engine


def _with_password(password: Password) -> Callable[..., None]:
    """A ``do_connect`` hook giving the driver the password, read now (ConfigError naming
    its variable when that is unset)."""

    def add(_dialect: Any, _record: Any, _cargs: Any, cparams: dict[str, Any]) -> None:
        cparams["password"] = reveal(password)

    return add
