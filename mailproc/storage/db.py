"""Engine, sessions and schema version: the one place that knows how to reach the database."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from mailproc.errors import StoreError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
SQLITE_BUSY_TIMEOUT_MS = 10_000
# A backlog's commits write about 2 MB of log in this time: less than the 1,000 pages (4 MB)
# at which a commit would checkpoint in the writer's thread.
CHECKPOINT_PAUSE_SECONDS = 0.2


def utcnow() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def make_engine(url: str) -> Engine:
    """An engine for ``url``: SQLite in WAL mode with foreign keys, or PostgreSQL via psycopg 3."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed)
    if parsed.get_backend_name() == "postgresql":
        return _postgresql_engine(parsed)
    raise StoreError(f"unsupported database {parsed.drivername!r}: use sqlite or postgresql")


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    """The session factory; objects stay readable after commit (the pipeline logs them)."""
    return sessionmaker(engine, expire_on_commit=False)


def connect(engine: Engine) -> Connection:
    try:
        return engine.connect()
    except DBAPIError as exc:
        where = engine.url.render_as_string(hide_password=True)
        raise StoreError(f"cannot reach the database {where}: {exc.orig}") from exc


def _sqlite_engine(url: URL) -> Engine:
    _create_parent_folder(url)
    # The sqlite3 module keeps each prepared statement with its last bound values, and SQLite
    # keeps the record it built, until the statement runs again: a 25 MB message would stay
    # in memory twice after its commit, and each large INSERT after it (its files, the routed
    # copy) would add its own. Preparing each time costs about 7 microseconds a statement.
    # Each engine's connections queue for writing on a lock of their own (see _QueuedWriters).
    writers = type("QueuedWriters", (_QueuedWriters,), {"turn": threading.Lock()})
    engine = create_engine(url, connect_args={"cached_statements": 0, "factory": writers})
    event.listen(engine, "connect", _on_sqlite_connect)
    event.listen(engine, "begin", _on_sqlite_begin)
    return engine


def _create_parent_folder(url: URL) -> None:
    path = _sqlite_path(url)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the database folder {path.parent}: {exc}") from exc


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
    # with "database is locked" instead of waiting out busy_timeout.
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


@contextmanager
def wal_checkpoints(engine: Engine) -> Iterator[None]:
    """While open, a thread of its own copies a SQLite database's write-ahead log back into
    the database file shortly after commits; on other databases, nothing.

    SQLite otherwise does it in the commit that takes the log past 1,000 pages, in the
    writer's thread and while it holds the write lock: in a backlog, about one millisecond
    of each message's eight (the bench's mail through the pipeline in-process, 7.9 ms per
    message against 6.7 with those checkpoints turned off). The thread's checkpoints are
    PASSIVE (they neither wait for nor block readers and writers), and the sqlite3 module
    lets go of the GIL while SQLite works, so they run on the other core. SQLite's own
    checkpoint in the commit stays as the fallback: it finds little left to do.
    """
    path = _sqlite_path(engine.url) if engine.dialect.name == "sqlite" else None
    if path is None:
        yield
        return
    checkpointer = _WalCheckpointer(path)
    checkpointer.start()
    event.listen(engine, "commit", checkpointer.wake)
    try:
        yield
    finally:
        event.remove(engine, "commit", checkpointer.wake)
        checkpointer.stop()


class _WalCheckpointer(threading.Thread):
    """Checkpoints CHECKPOINT_PAUSE_SECONDS after a commit wakes it, then once more when
    stopped. The pause gathers commits: one checkpoint writes the pages they share (the
    indexes, the code counter, the outbox) once, and fsyncs once, not once per commit."""

    def __init__(self, path: Path) -> None:
        super().__init__(name="sqlite-wal-checkpoint", daemon=True)
        self._path = path
        self._due = threading.Event()
        self._stopping = threading.Event()

    def wake(self, *_: object) -> None:
        self._due.set()

    def stop(self) -> None:
        self._stopping.set()
        self._due.set()
        self.join()

    def run(self) -> None:
        try:
            connection = sqlite3.connect(self._path, isolation_level=None)
        except sqlite3.Error as exc:
            log.warning("WAL checkpoints left to SQLite's commits: %s", exc)
            return
        try:
            while True:
                self._due.wait()
                self._stopping.wait(CHECKPOINT_PAUSE_SECONDS)
                self._due.clear()
                # Read before the checkpoint: a commit after it is checkpointed too.
                stopping = self._stopping.is_set()
                try:
                    connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
                except sqlite3.Error as exc:  # the commits' own checkpoints still run
                    log.warning("WAL checkpoint failed: %s", exc)
                if stopping:
                    return
        finally:
            connection.close()


def _postgresql_engine(url: URL) -> Engine:
    # Pinned so that SQLAlchemy 2.0 (default psycopg2) and 2.1 (default psycopg) agree.
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        # Without it an unreachable server hangs the poller until the OS gives up.
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)
