"""Read-only sessions (the web view's pages): on SQLite they read beside the pipeline's
writer instead of taking its write lock, so that a page never waits for a message being
processed, nor holds one up."""

from __future__ import annotations

import sqlite3

from sqlalchemy import select, text

from mailproc.storage import models as m
from mailproc.storage.db import make_engine, make_sessions
from mailproc.storage.schema import upgrade


def test_a_sqlite_read_session_leaves_the_write_lock_free(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    path = engine.url.database
    assert path is not None
    reading = make_sessions(engine, read_only=True)

    with reading() as session:
        session.execute(select(m.Ticket.id)).all()  # the transaction is open
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # would raise "database is locked"
        other.execute("INSERT INTO code_counters (year, last_value) VALUES (2026, 7)")
        other.execute("COMMIT")
        other.close()
    engine.dispose()


def test_a_sqlite_read_session_reads_one_snapshot_while_a_writer_commits(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    reading, writing = make_sessions(engine, read_only=True), make_sessions(engine)
    counters = text("SELECT count(*) FROM code_counters")

    with reading() as session:
        before = session.execute(counters).scalar_one()
        with writing.begin() as writer:
            writer.add(m.CodeCounter(year=2026, last_value=1))
        assert session.execute(counters).scalar_one() == before  # its snapshot
    with reading() as session:
        assert session.execute(counters).scalar_one() == before + 1
    engine.dispose()
