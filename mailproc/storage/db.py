"""Engine, sessions and schema version: the one place that knows how to reach the database."""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Dialect, Engine, Insert, Update, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.schema import ColumnDefault
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ClauseElement

from mailproc.errors import StoreError
from mailproc.resources import shipped_dir

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
SQLITE_BUSY_TIMEOUT_MS = 10_000
# A backlog's commits write about 2 MB of log in this time: less than the 1,000 pages (4 MB)
# at which a commit would checkpoint in the writer's thread.
CHECKPOINT_PAUSE_SECONDS = 0.2
UPGRADE_HINT = "run `mailproc db upgrade`"


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


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration, in one transaction."""
    config = _alembic_config()
    with _connect(engine) as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # A batch re-create of a parent table would delete its ON DELETE CASCADE children.
            _set_sqlite_foreign_keys(connection, enabled=False)
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite:
                    _check_sqlite_foreign_keys(connection)
        finally:
            if sqlite:
                _set_sqlite_foreign_keys(connection, enabled=True)


def require_current(engine: Engine) -> None:
    """Raise StoreError unless the database is reachable and its schema matches the code."""
    scripts = ScriptDirectory.from_config(_alembic_config())
    needed = set(scripts.get_heads())
    with _connect(engine) as connection:
        try:
            current = set(MigrationContext.configure(connection).get_current_heads())
        except DBAPIError as exc:  # reachable, but not usable now: locked, full, read-only
            raise StoreError(f"cannot read the schema version: {exc.orig}") from exc
    if current == needed:
        return
    at = ", ".join(sorted(current)) or "empty (never upgraded)"
    needs = ", ".join(sorted(needed))
    if current - {script.revision for script in scripts.walk_revisions()}:
        raise StoreError(f"database schema is at {at}, unknown to this code (needs {needs})")
    raise StoreError(f"database schema is at {at}, code needs {needs}: {UPGRADE_HINT}")


def _connect(engine: Engine) -> Connection:
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


class Prepared:
    """A Core statement that runs straight on the driver's cursor of a session's connection,
    in its transaction: SQLAlchemy compiles it once per dialect and set of parameter names,
    and is then out of the way. Its execution path (parameters built and processed anew,
    the execution context, the result wrapped) about doubles a statement's cost: the
    events INSERT and the dedup lookup took 85-160 us through it, 37-58 us here, of which
    the driver and SQLite 25-40. A message runs about fifteen of these statements.

    Parameters are processed by their types as SQLAlchemy would (aware datetimes to naive
    UTC, JSON), and omitted columns get their Python-side defaults (``default``, and for an
    UPDATE ``onupdate``). Statements whose results would need processing (datetimes, JSON),
    and expanding IN parameters, are refused when compiled: those go through SQLAlchemy.
    Driver errors are raised wrapped as SQLAlchemy wraps them (OperationalError, ...).
    """

    def __init__(self, statement: ClauseElement | Callable[[str], ClauseElement]) -> None:
        """``statement``, or a function giving it for a dialect's name (an upsert, say)."""
        self._statement = statement
        self._compiled: dict[tuple[str, frozenset[str]], _Compiled] = {}

    def execute(self, session: Session, values: Mapping[str, Any]) -> int:
        """Run it; the number of rows it changed."""
        with self._cursor(session, values) as cursor:
            return int(cursor.rowcount)

    def first(self, session: Session, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        """Run it; its first row, or None."""
        with self._cursor(session, values) as cursor:
            row: tuple[Any, ...] | None = cursor.fetchone()  # both drivers give tuples
            return row

    def scalar(self, session: Session, values: Mapping[str, Any]) -> Any:
        """Run it; the first column of its first row, or None."""
        row = self.first(session, values)
        return None if row is None else row[0]

    def all(self, session: Session, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Run it; all its rows."""
        with self._cursor(session, values) as cursor:
            rows: list[tuple[Any, ...]] = cursor.fetchall()
            return rows

    @contextmanager
    def _cursor(self, session: Session, values: Mapping[str, Any]) -> Iterator[Any]:
        connection = session.connection()
        dialect = connection.dialect
        key = (dialect.name, frozenset(values))
        compiled = self._compiled.get(key) or self._compile(dialect, key[1])
        parameters = compiled.parameters(values)
        cursor = connection.connection.cursor()
        try:
            cursor.execute(compiled.sql, parameters)
            yield cursor
        except dialect.loaded_dbapi.Error as exc:
            raise DBAPIError.instance(
                compiled.sql, parameters, exc, dialect.loaded_dbapi.Error, dialect=dialect
            ) from exc
        finally:
            cursor.close()

    def _compile(self, dialect: Dialect, names: frozenset[str]) -> _Compiled:
        statement = self._statement
        if not isinstance(statement, ClauseElement):
            statement = statement(dialect.name)
        compiled = _Compiled(statement, dialect, names)
        self._compiled[(dialect.name, names)] = compiled
        return compiled


class _Compiled:
    """One compilation of a Prepared statement: its SQL, and how to build its parameters."""

    def __init__(self, statement: ClauseElement, dialect: Dialect, names: frozenset[str]) -> None:
        writes = isinstance(statement, Insert | Update)
        compiled = statement.compile(dialect=dialect, column_keys=list(names) if writes else None)
        assert isinstance(compiled, SQLCompiler)
        if any(bind.expanding for bind in compiled.bind_names):
            raise TypeError("Prepared: an expanding IN parameter; run it through SQLAlchemy")
        for result in compiled._result_columns:
            if result.type.dialect_impl(dialect).result_processor(dialect, None) is not None:
                raise TypeError(f"Prepared: result column {result.name!r} needs processing")
        self.sql = compiled.string
        # Values the statement holds (LIMIT 1), then the columns left out that have a
        # Python-side default: SQLAlchemy compiled a parameter for each ("prefetch"),
        # filled here as its execution would, a function's value anew each time.
        self.fixed = {
            name: bind.value for bind, name in compiled.bind_names.items() if not bind.required
        }
        self.defaults: dict[str, Callable[[], Any]] = {}
        for column, default in [
            *((c, c.default) for c in compiled.insert_prefetch),
            *((c, c.onupdate) for c in compiled.update_prefetch),
        ]:
            if not isinstance(default, ColumnDefault):  # a SQL expression or a sequence
                raise TypeError(f"Prepared: the default of {column.key!r} is not Python-side")
            if default.is_callable:  # SQLAlchemy's wrapper, which takes the execution context
                self.defaults[column.key] = functools.partial(default.arg, None)
            else:
                self.fixed[column.key] = default.arg
        processors = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for bind, name in compiled.bind_names.items()
        }
        # qmark (SQLite) binds by position, a name as often as it appears; pyformat
        # (psycopg) by name.
        order = compiled.positiontup
        self.positional = order is not None
        self.names = list(order or processors)
        self.steps = [(name, processors[name]) for name in self.names]

    def parameters(self, values: Mapping[str, Any]) -> list[Any] | dict[str, Any]:
        given = {**self.fixed, **values}
        given.update((key, make()) for key, make in self.defaults.items())
        built = [process(given[n]) if process else given[n] for n, process in self.steps]
        return built if self.positional else dict(zip(self.names, built, strict=True))


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(shipped_dir("migrations")))
    return config


def _set_sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # Straight to the driver: through SQLAlchemy it would open a transaction first, where
    # SQLite ignores this PRAGMA.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    # With enforcement off during the migration, verify before committing.
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise StoreError(f"migration left {len(broken)} broken foreign keys, e.g. {broken[0]}")
