"""db.Prepared: a Core statement run on the driver's cursor behaves as SQLAlchemy runs it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import Engine, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from mailproc.storage.db import make_sessions
from mailproc.storage.models import Event, RawMessage
from mailproc.storage.prepared import Prepared

pytest_plugins = ["tests.db_fixtures"]

EVENTS = Event.__table__
RAWS = RawMessage.__table__
SAO_PAULO = timezone(timedelta(hours=-3))
NOON_IN_RIO = datetime(2026, 11, 29, 9, 0, tzinfo=SAO_PAULO)


def test_a_row_inserted_reads_back_as_one_inserted_by_sqlalchemy(engine: Engine) -> None:
    prepared = Prepared(insert(EVENTS).returning(EVENTS.c.id))
    values = {
        "kind": "created",
        "detail": {"missing": ["print"], "n": 1},
        "created_at": NOON_IN_RIO,
    }
    with make_sessions(engine).begin() as session:
        ours = prepared.scalar(session, values)
        theirs = session.execute(insert(EVENTS).returning(EVENTS.c.id), values).scalar()
    with make_sessions(engine)() as session:
        a, b = (session.get(Event, i) for i in (ours, theirs))
        assert a is not None and b is not None
        assert (a.kind, a.detail, a.created_at) == (b.kind, b.detail, b.created_at)
        assert a.created_at == datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def test_omitted_columns_get_their_python_side_defaults(engine: Engine) -> None:
    before = datetime.now(UTC)
    with make_sessions(engine).begin() as session:
        event_id = Prepared(insert(EVENTS).returning(EVENTS.c.id)).scalar(session, {"kind": "x"})
    with make_sessions(engine)() as session:
        event = session.get(Event, event_id)
        assert event is not None
        assert event.detail == {}  # default=dict
        assert before - timedelta(seconds=1) <= event.created_at <= datetime.now(UTC)


def test_an_update_reports_the_rows_it_changed(engine: Engine) -> None:
    raw = {"sha256": "a" * 64, "size": 1, "data": b"x", "source": "test"}
    with make_sessions(engine).begin() as session:
        Prepared(insert(RAWS)).execute(session, raw)
    mark = Prepared(
        update(RAWS).where(RAWS.c.sha256 == bindparam("digest")).values(outcome=bindparam("to"))
    )
    with make_sessions(engine).begin() as session:
        assert mark.execute(session, {"digest": "a" * 64, "to": "created"}) == 1
        assert mark.execute(session, {"digest": "b" * 64, "to": "created"}) == 0
    with make_sessions(engine)() as session:
        assert session.scalar(select(RawMessage.outcome)) == "created"


def test_it_runs_in_the_sessions_transaction(engine: Engine) -> None:
    prepared = Prepared(insert(EVENTS))
    session = make_sessions(engine)()
    with session.begin():
        prepared.execute(session, {"kind": "kept"})
    with session.begin():
        prepared.execute(session, {"kind": "rolled back"})
        session.rollback()
    with make_sessions(engine)() as session:
        assert session.scalars(select(Event.kind)).all() == ["kept"]


def test_driver_errors_are_raised_as_sqlalchemy_raises_them(engine: Engine) -> None:
    prepared = Prepared(insert(RAWS))
    raw = {"sha256": "c" * 64, "size": 1, "data": b"x", "source": "test"}
    with make_sessions(engine).begin() as session:
        prepared.execute(session, raw)
    with pytest.raises(IntegrityError), make_sessions(engine).begin() as session:
        prepared.execute(session, raw)


@pytest.mark.parametrize(
    "statement",
    [
        select(Event.created_at),  # a datetime read back needs SQLAlchemy's processing
        select(Event.id).where(Event.kind.in_(bindparam("kinds", expanding=True))),
    ],
    ids=["processed result", "expanding IN"],
)
def test_statements_it_cannot_run_faithfully_are_refused(engine: Engine, statement) -> None:
    with make_sessions(engine).begin() as session, pytest.raises(TypeError, match="Prepared"):
        Prepared(statement).all(session, {"kinds": ["x"]})
