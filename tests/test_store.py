"""The store: migrations, schema checks, SQLite settings, cascades and UTC timestamps."""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, delete, inspect, select, text
from sqlalchemy.exc import StatementError

from mailproc.errors import StoreError
from mailproc.storage import db, schema
from mailproc.storage.db import make_engine, make_sessions
from mailproc.storage.models import (
    Attachment,
    Base,
    Event,
    Message,
    Participant,
    RawMessage,
    Ticket,
    compared_name,
)
from mailproc.storage.schema import require_current, upgrade

pytest_plugins = ["tests.db_fixtures"]

SAO_PAULO = timezone(timedelta(hours=-3))


@pytest.fixture
def empty_engine(empty_database_url: str) -> Iterator[Engine]:
    engine = make_engine(empty_database_url)
    yield engine
    engine.dispose()


def test_upgrade_from_empty_creates_every_table(empty_engine: Engine) -> None:
    upgrade(empty_engine)

    tables = set(inspect(empty_engine).get_table_names())
    # SQLite's search tables (FTS5, and the tables each keeps behind it) are no models.
    modelled = {name for name in tables if compared_name(name, "table", None)}
    assert modelled == {*Base.metadata.tables, "alembic_version"}
    require_current(empty_engine)


# The newest migration's revision: the one a database must be at for this code.
VERSIONS = Path(__file__).parents[1] / "migrations" / "versions"
HEAD = max(p.name.split("_", 1)[0] for p in VERSIONS.glob("0*.py"))


# The full-text indexes are PostgreSQL's only; Alembic says it cannot compare them on SQLite.
@pytest.mark.filterwarnings("ignore:autogenerate skipping metadata-specified expression")
def test_migrations_match_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"include_name": compared_name})
        differences = compare_metadata(context, Base.metadata)
    assert differences == []


def test_require_current_rejects_an_empty_database(empty_engine: Engine) -> None:
    with pytest.raises(StoreError, match=rf"schema is at empty.*needs {HEAD}.*mailproc db upgrade"):
        require_current(empty_engine)


def test_require_current_rejects_a_database_stamped_at_base(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))

    with pytest.raises(StoreError, match=rf"code needs {HEAD}: run `mailproc db upgrade`"):
        require_current(engine)


def test_require_current_rejects_a_revision_it_does_not_know(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '9999'"))

    with pytest.raises(StoreError, match=r"schema is at 9999, unknown to this code"):
        require_current(engine)


def test_require_current_reports_a_closed_port_quickly() -> None:
    engine = make_engine("postgresql://postgres@127.0.0.1:1/postgres")
    started = time.monotonic()

    with pytest.raises(StoreError, match=r"cannot reach the database .*127\.0\.0\.1:1"):
        require_current(engine)
    assert time.monotonic() - started < 5


def test_require_current_gives_up_on_a_silent_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "CONNECT_TIMEOUT_SECONDS", 2)
    with socket.socket() as silent:  # accepts the TCP connection, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        engine = make_engine(f"postgresql://postgres@127.0.0.1:{silent.getsockname()[1]}/x")
        started = time.monotonic()

        with pytest.raises(StoreError, match="cannot reach the database"):
            require_current(engine)
    assert time.monotonic() - started < 8


def test_sqlite_pragmas_are_in_effect_after_upgrade(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)  # turns foreign keys off on its connection while migrating

    with engine.connect() as connection:
        pragma = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar()
            for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
        }
    engine.dispose()
    assert pragma == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 10000,
    }


def test_sqlite_transactions_take_the_write_lock_at_once(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    path = engine.url.database
    assert path is not None

    with engine.begin() as connection:
        connection.execute(text("SELECT 1"))  # a read only: BEGIN DEFERRED would take no lock
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            other.execute("BEGIN IMMEDIATE")
        other.close()
    engine.dispose()


def test_sqlite_writers_of_one_process_wait_for_their_turn_in_a_queue(sqlite_url: str) -> None:
    # Not in SQLite's busy handler, which sleeps and retries up to 100 ms apart: a thread with
    # short transactions would wait for dozens of another's back-to-back long ones. With
    # busy_timeout 0, a writer that met SQLite's lock would fail at once.
    engine = make_engine(sqlite_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("CREATE TABLE writes (who TEXT)")
    holding = threading.Event()

    def hold_the_write_lock() -> None:
        with engine.begin() as connection:
            connection.exec_driver_sql("INSERT INTO writes VALUES ('first')")
            holding.set()
            time.sleep(0.2)  # the other thread begins meanwhile

    first = threading.Thread(target=hold_the_write_lock)
    first.start()
    try:
        holding.wait(10)
        with engine.connect() as connection:
            connection.connection.driver_connection.execute("PRAGMA busy_timeout=0")
            with connection.begin():
                connection.exec_driver_sql("INSERT INTO writes VALUES ('second')")
    finally:
        first.join()
    with engine.connect() as connection:
        order = connection.exec_driver_sql("SELECT who FROM writes ORDER BY rowid").scalars()
        assert list(order) == ["first", "second"]
    engine.dispose()


def test_make_engine_creates_the_sqlite_folder(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'new' / 'deeper' / 'db.sqlite3'}")
    with engine.connect():
        pass
    engine.dispose()
    assert (tmp_path / "new" / "deeper" / "db.sqlite3").is_file()


def test_make_engine_reports_an_unusable_sqlite_folder(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("not a folder")

    with pytest.raises(StoreError, match="cannot create the database folder"):
        make_engine(f"sqlite:///{tmp_path / 'a-file' / 'db.sqlite3'}")


def _ticket_with_history(engine: Engine) -> tuple[int, int]:
    """A ticket with one message, its attachment, a participant and an event."""
    with make_sessions(engine).begin() as session:
        ticket = Ticket(
            code="2026-000001",
            state="open",
            priority="normal",
            requester_email="ana@example.gov.br",
            requester_name="Ana",
            subject="Erro no SIASG",
        )
        message = Message(
            dedup_key="<1@example.gov.br>",
            outcome="created",
            sender="ana@example.gov.br",
            sender_name="Ana",
            subject="Erro no SIASG",
            body_text="...",
        )
        message.attachments.append(
            Attachment(filename="erro.png", declared_type="image/png", size=3, sha256="0" * 64)
        )
        ticket.messages.append(message)
        ticket.participants.append(Participant(email="ana@example.gov.br", role="requester"))
        ticket.events.append(Event(kind="created"))
        session.add(ticket)
        session.flush()
        ticket.events[0].message_id = message.id
        return ticket.id, message.id


def test_deleting_a_message_deletes_its_attachments_in_the_database(engine: Engine) -> None:
    ticket_id, message_id = _ticket_with_history(engine)

    with make_sessions(engine).begin() as session:
        session.execute(delete(Message).where(Message.id == message_id))  # no ORM cascade here

    with make_sessions(engine)() as session:
        assert session.scalars(select(Attachment)).all() == []
        assert session.scalars(select(Event.message_id)).all() == [None]
        assert session.get(Ticket, ticket_id) is not None


def test_deleting_a_ticket_deletes_its_thread_in_the_database(engine: Engine) -> None:
    ticket_id, _ = _ticket_with_history(engine)

    with make_sessions(engine).begin() as session:
        session.execute(delete(Ticket).where(Ticket.id == ticket_id))

    with make_sessions(engine)() as session:
        for model in (Message, Attachment, Participant, Event):
            assert session.scalars(select(model)).all() == [], model.__name__


def _raw(received_at: datetime) -> RawMessage:
    return RawMessage(sha256="a" * 64, size=1, data=b"x", source="test", received_at=received_at)


def test_timestamps_come_back_aware_utc(engine: Engine) -> None:
    sent = datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=SAO_PAULO)
    with make_sessions(engine).begin() as session:
        session.add(_raw(sent))

    with make_sessions(engine)() as session:
        received_at = session.scalars(select(RawMessage.received_at)).one()
        stored = session.execute(text("SELECT received_at FROM raw_messages")).scalar_one()
    assert received_at == sent
    assert received_at.tzinfo is UTC
    assert str(stored).startswith("2026-03-01 15:00:00.123456")  # naive UTC on disk


def test_naive_timestamps_are_refused(engine: Engine) -> None:
    with make_sessions(engine)() as session:
        session.add(_raw(datetime(2026, 3, 1, 12, 0)))
        with pytest.raises(StatementError, match="naive datetime"):
            session.flush()


def test_a_missing_postgresql_fails_under_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Imported here: at module level it would load before pytest_plugins and escape pytest's
    # assertion rewriting.
    from tests.db_fixtures import postgres_unavailable

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="PostgreSQL not reachable"):
        postgres_unavailable("refused")

    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not reachable"):
        postgres_unavailable("refused")


def test_upgrade_reports_an_unreachable_database() -> None:
    with pytest.raises(StoreError, match="cannot reach the database"):
        upgrade(make_engine("postgresql://postgres@127.0.0.1:1/postgres"))


def test_make_engine_refuses_other_databases() -> None:
    with pytest.raises(StoreError, match="unsupported database 'mysql'"):
        make_engine("mysql://user@localhost/mailproc")


def _upgrade_to(engine: Engine, revision: str) -> None:
    config = schema._alembic_config()
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def test_upgrading_to_0005_keeps_every_stored_byte(sqlite_url: str) -> None:
    engine = make_engine(sqlite_url)
    _upgrade_to(engine, "0004")
    with engine.begin() as connection:  # a database with mail in it, as 0004 left it
        connection.execute(
            text(
                "INSERT INTO raw_messages (id, sha256, size, data, source, received_at)"
                " VALUES (1, 'abc', 3, x'010203', 'maildir:local', '2026-11-28 10:00:00')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO outbox (id, message_id, purpose, sender, recipients, subject, raw,"
                " status, attempts, next_attempt_at, created_at) VALUES (1, 'm@x', 'created',"
                " 'a@x', '[]', 's', x'0405', 'sent', 1, '2026-11-28 10:00:00',"
                " '2026-11-28 10:00:00')"
            )
        )
    upgrade(engine)

    with engine.connect() as connection:
        # SQLite: the large columns last, where they can be written in pieces.
        last = {
            table: connection.exec_driver_sql(f"PRAGMA table_info({table})").all()[-1][1]
            for table in ("raw_messages", "attachments")
        }
        raw = connection.execute(text("SELECT data FROM raw_messages WHERE id = 1")).scalar()
        reply = connection.execute(text("SELECT raw FROM outbox_bodies WHERE outbox_id = 1"))
        reply_bytes = reply.scalar()
    engine.dispose()
    assert last == {"raw_messages": "data", "attachments": "data"}
    assert (raw, reply_bytes) == (b"\x01\x02\x03", b"\x04\x05")
