"""Engine and sessions: the one place that knows how to reach the database."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker

from mailproc.errors import StoreError

log = logging.getLogger(__name__)

CONNECT_TIMEOUT_SECONDS = 10
SQLITE_BUSY_TIMEOUT_MS = 10_000


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
    engine = create_engine(url, connect_args={"cached_statements": 0})
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
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _postgresql_engine(url: URL) -> Engine:
    # Pinned so that SQLAlchemy 2.0 (default psycopg2) and 2.1 (default psycopg) agree.
    if url.drivername == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        # Without it an unreachable server hangs the poller until the OS gives up.
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_SECONDS
    return create_engine(url, connect_args=connect_args, pool_pre_ping=True)
