"""Database fixtures: a throwaway SQLite file and PostgreSQL database per test."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import NoReturn

import pytest
from sqlalchemy import Engine, make_url, text
from sqlalchemy.exc import DBAPIError

from mailproc.storage.db import make_engine
from mailproc.storage.schema import upgrade

# The server that holds the throwaway databases; CI may point elsewhere. The default role
# logs in with a password, as a stock Debian cluster asks on 127.0.0.1 (scram-sha-256), and
# may create databases: scripts/ensure-postgres creates it, and its database of the same name.
POSTGRES_ADMIN_URL = os.environ.get(
    "MAILPROC_TEST_POSTGRES_URL",
    "postgresql://mailproc_test:mailproc_test@127.0.0.1:5432/mailproc_test?connect_timeout=5",
)

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.servers)]


def postgres_unavailable(reason: str) -> NoReturn:
    """Skip a PostgreSQL test, or fail it under CI, where a missing server is a setup bug."""
    message = f"PostgreSQL not reachable at {make_url(POSTGRES_ADMIN_URL)!r}: {reason}"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of an empty SQLite file database in a folder that make_engine creates."""
    return f"sqlite:///{tmp_path / 'db' / 'mailproc.sqlite3'}"


@contextmanager
def throwaway_postgres(prefix: str) -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped afterwards; raises DBAPIError when
    the server cannot create it."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield (
                make_url(POSTGRES_ADMIN_URL)
                .set(database=name)
                .render_as_string(hide_password=False)
            )
        finally:
            with admin.connect() as connection:
                # FORCE: a user that forgot to dispose its engine must not leave it behind.
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of an empty PostgreSQL database, dropped after the test."""
    with ExitStack() as stack:
        try:
            url = stack.enter_context(throwaway_postgres("mailproc_test"))
        except DBAPIError as exc:
            postgres_unavailable(str(exc.orig))
        yield url


@pytest.fixture(params=BACKENDS)
def empty_database_url(request: pytest.FixtureRequest) -> str:
    """URL of an empty database, once on SQLite and once on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    url: str = request.getfixturevalue(fixture)
    return url


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """URL of a database upgraded to the newest schema, on SQLite and on PostgreSQL."""
    engine = make_engine(empty_database_url)
    try:
        upgrade(engine)
    finally:
        engine.dispose()
    return empty_database_url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the upgraded ``database_url``, disposed after the test."""
    engine = make_engine(database_url)
    yield engine
    engine.dispose()
