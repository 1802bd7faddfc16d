"""Ticket codes: per-year sequences without gaps or duplicates, even under concurrency."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.orm import Session, sessionmaker

from mailproc.storage.codes import allocate_code
from mailproc.storage.db import make_engine, make_sessions
from mailproc.storage.schema import upgrade

ALLOCATIONS_PER_THREAD = 25


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_sessions(engine)


def _allocate(sessions: sessionmaker[Session], year: int) -> str:
    with sessions.begin() as session:
        return allocate_code(session, year)


def test_codes_count_up_within_a_year(sessions: sessionmaker[Session]) -> None:
    assert _allocate(sessions, 2026) == "2026-000001"
    assert _allocate(sessions, 2026) == "2026-000002"


def test_a_new_year_starts_again_at_one(sessions: sessionmaker[Session]) -> None:
    _allocate(sessions, 2026)
    _allocate(sessions, 2026)

    assert _allocate(sessions, 2027) == "2027-000001"
    assert _allocate(sessions, 2026) == "2026-000003"


def test_a_rolled_back_transaction_gives_its_code_back(sessions: sessionmaker[Session]) -> None:
    _allocate(sessions, 2026)
    with sessions() as session:
        assert allocate_code(session, 2026) == "2026-000002"
        session.rollback()

    assert _allocate(sessions, 2026) == "2026-000002"


def test_a_rolled_back_first_code_of_a_year_is_given_again(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        assert allocate_code(session, 2026) == "2026-000001"
        session.rollback()

    assert _allocate(sessions, 2026) == "2026-000001"


def test_concurrent_transactions_get_every_code_exactly_once(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    # SQLite serialises writers with BEGIN IMMEDIATE; PostgreSQL with the counter's row lock.
    threads = 8 if engine.dialect.name == "postgresql" else 4
    start = threading.Barrier(threads)
    codes: list[str] = []
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(ALLOCATIONS_PER_THREAD):
                codes.append(_allocate(sessions, 2026))
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)

    assert errors == []
    expected = [f"2026-{n:06d}" for n in range(1, threads * ALLOCATIONS_PER_THREAD + 1)]
    assert sorted(codes) == expected


@pytest.fixture
def postgres_engine(postgres_url: str) -> Iterator[Engine]:
    engine = make_engine(postgres_url)
    upgrade(engine)
    yield engine
    engine.dispose()


def _wait_for_a_lock_wait(engine: Engine) -> None:
    """Return once some session of this database is blocked on a lock."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with engine.connect() as connection:
            if connection.execute(query).scalar_one():
                return
        time.sleep(0.05)
    raise AssertionError("the second transaction never waited for the first")


@pytest.mark.servers
def test_two_transactions_racing_to_open_a_year_on_postgresql(postgres_engine: Engine) -> None:
    sessions = make_sessions(postgres_engine)
    second: list[str] = []
    with sessions() as first, first.begin():
        assert allocate_code(first, 2026) == "2026-000001"  # creates the year's row
        racer = threading.Thread(target=lambda: second.append(_allocate(sessions, 2026)))
        racer.start()
        # The racer cannot see the uncommitted row: its INSERT waits on the unique key.
        _wait_for_a_lock_wait(postgres_engine)
    racer.join(timeout=30)

    assert second == ["2026-000002"]
