"""Retention (LGPD): past the retention period, what people wrote and sent goes; the records stay.

A purge takes, once each:
  - a ticket in a closed state (CLOSED_STATES) not changed within the period: its messages,
    their raw mail and files, the mail the desk sent about it, its history;
  - a message without a ticket (no theme, ignored, rejected, quarantined) older than the
    period, and raw mail that never became a message (duplicates, internal errors);
  - mail the desk sent about no ticket, older than the period, and history entries about
    neither a ticket nor a message.
Mail the desk may still send (pending, sending, uncertain) is never taken, nor is raw mail
not yet processed: the pipeline is waiting for it.

From each row it takes, the content goes (EMPTIED: bytes, bodies, answers, a rating's
comment) or is masked with mailproc.logsafe.mask (MASKED: subjects, file names, reasons,
SMTP errors, event details: CPF, CNPJ, phone numbers and e-mail local parts). What stays is
the record: codes, states, dates, requesters, senders and participants, sizes and SHA-256
hashes, event kinds, Message-IDs (a late reply still finds its ticket, a re-delivered
message is still a duplicate). A purged ticket gets a ``purged`` event; it is taken again
only if it changed afterwards (a reply reopens a resolved ticket, which closes again).

Then the database is compacted (compact()), so that the old bytes leave its files as well.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Engine,
    Select,
    and_,
    exists,
    func,
    insert,
    inspect,
    or_,
    select,
    update,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from mailproc.decision.ticket_state import TicketState
from mailproc.logsafe import mask
from mailproc.storage import models as m
from mailproc.storage.db import utcnow

log = logging.getLogger(__name__)

# Every state is in one of these two (tests/test_retention.py checks it): a ticket in a
# closed state waits for nothing, though a reply may still reopen it.
CLOSED_STATES = frozenset(
    {
        TicketState.CLOSED_UNTREATED,
        TicketState.RESOLVED,
        TicketState.CLOSED_UNANSWERED,
        TicketState.CANCELLED,
    }
)
OPEN_STATES = frozenset({TicketState.OPEN, TicketState.AWAITING_INFORMATION, TicketState.PENDING})

# Outbox mail that may still go out (an uncertain one when an operator resends it): its
# bytes are needed whole.
UNSETTLED = ("pending", "sending", "uncertain")
PURGED = "purged"  # the event kind a purged ticket gets
BATCH = 500  # ids per statement: far below both databases' limits on bound parameters


@dataclass(frozen=True)
class Taken:
    """The rows a purge takes, by kind (ids, read before anything changes)."""

    tickets: Sequence[int]
    messages: Sequence[int]
    raws: Sequence[int]
    outbox: Sequence[int]
    events: Sequence[int]


# What goes from each row taken: (column, the column that selects its rows, which ids, the
# empty value). The key column of attachments is their message, of a rating its ticket.
EMPTIED: tuple[tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any], str, Any], ...] = (
    (m.RawMessage.data, m.RawMessage.id, "raws", None),
    (m.Attachment.data, m.Attachment.message_id, "messages", None),
    (m.Message.body_text, m.Message.id, "messages", ""),
    (m.Message.body_html, m.Message.id, "messages", None),
    (m.OutboxBody.raw, m.OutboxBody.outbox_id, "outbox", b""),
    (m.Ticket.answers, m.Ticket.id, "tickets", {}),
    (m.Evaluation.comment, m.Evaluation.ticket_id, "tickets", ""),
)
# What is masked in each row taken: the text stays readable, the identifiers in it do not.
MASKED: tuple[tuple[InstrumentedAttribute[Any], InstrumentedAttribute[Any], str], ...] = (
    (m.Ticket.subject, m.Ticket.id, "tickets"),
    (m.Message.subject, m.Message.id, "messages"),
    (m.Attachment.filename, m.Attachment.message_id, "messages"),
    (m.RawMessage.reason, m.RawMessage.id, "raws"),
    (m.OutboxMail.subject, m.OutboxMail.id, "outbox"),
    (m.OutboxMail.last_error, m.OutboxMail.id, "outbox"),
    (m.Event.detail, m.Event.id, "events"),
)


@dataclass(frozen=True)
class PurgeReport:
    """What a purge took, or would take with ``dry_run``: rows of each kind, and the bytes
    of raw mail, files and sent mail that went; whether the database was compacted."""

    cutoff: datetime
    dry_run: bool
    tickets: int
    messages: int
    raw_messages: int
    raw_bytes: int
    attachments: int
    attachment_bytes: int
    outbox_mail: int
    outbox_bytes: int
    events: int
    compacted: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "tickets": self.tickets,
            "messages": self.messages,
            "raw_messages": self.raw_messages,
            "raw_bytes": self.raw_bytes,
            "attachments": self.attachments,
            "attachment_bytes": self.attachment_bytes,
            "outbox_mail": self.outbox_mail,
            "outbox_bytes": self.outbox_bytes,
            "events": self.events,
            "compacted": self.compacted,
        }


def purge(
    sessions: sessionmaker[Session],
    older_than: timedelta,
    *,
    dry_run: bool,
    now: datetime | None = None,
) -> PurgeReport:
    """Empty and mask what the retention period no longer covers, in one transaction, then
    compact the database; with ``dry_run`` only count it."""
    if older_than <= timedelta(0):
        raise ValueError(f"retention period must be positive, not {older_than}")
    now = now or utcnow()
    cutoff = now - older_than
    with sessions.begin() as session:
        taken = _taken(session, cutoff)
        report = _report(session, taken, cutoff, dry_run)
        if not dry_run:
            _scrub(session, taken, now)
    if dry_run:
        return report
    compacted = compact(engine_of(sessions))
    log.info(
        "purged %d tickets, %d messages and %d sent mails past the retention period",
        report.tickets, report.messages, report.outbox_mail,
    )  # fmt: skip
    return replace(report, compacted=compacted)


def engine_of(sessions: sessionmaker[Session]) -> Engine:
    with sessions() as session:
        bind = session.get_bind()
    assert isinstance(bind, Engine)  # mailproc's sessions are bound to its engine (db.py)
    return bind


# -- what a purge takes ---------------------------------------------------------------------


def _taken(session: Session, cutoff: datetime) -> Taken:
    tickets = _tickets(cutoff)
    messages = select(m.Message.id).where(
        or_(
            m.Message.ticket_id.in_(tickets),
            and_(m.Message.ticket_id.is_(None), _arrived_before(cutoff), _message_holds_content()),
        )
    )
    raws = select(m.RawMessage.id).where(
        or_(
            m.RawMessage.id.in_(select(m.Message.raw_id).where(m.Message.id.in_(messages))),
            and_(
                m.RawMessage.outcome.is_not(None),  # else the pipeline still has it to do
                m.RawMessage.received_at < cutoff,
                m.RawMessage.data.is_not(None),
                ~exists().where(m.Message.raw_id == m.RawMessage.id),
            ),
        )
    )
    outbox = select(m.OutboxMail.id).where(
        m.OutboxMail.status.not_in(UNSETTLED),
        or_(
            m.OutboxMail.ticket_id.in_(tickets),
            and_(
                m.OutboxMail.ticket_id.is_(None),
                m.OutboxMail.created_at < cutoff,
                exists().where(
                    m.OutboxBody.outbox_id == m.OutboxMail.id, func.length(m.OutboxBody.raw) > 0
                ),
            ),
        ),
    )
    events = select(m.Event.id).where(
        or_(
            m.Event.ticket_id.in_(tickets),
            m.Event.message_id.in_(messages),
            and_(
                m.Event.ticket_id.is_(None),
                m.Event.message_id.is_(None),
                m.Event.created_at < cutoff,
            ),
        )
    )
    ids = [session.scalars(query).all() for query in (tickets, messages, raws, outbox, events)]
    return Taken(*ids)


def _tickets(cutoff: datetime) -> Select[int]:
    """Closed tickets unchanged within the period and not purged since their last change."""
    purged_since = exists().where(
        m.Event.ticket_id == m.Ticket.id,
        m.Event.kind == PURGED,
        m.Event.created_at >= m.Ticket.updated_at,
    )
    return select(m.Ticket.id).where(
        m.Ticket.state.in_(CLOSED_STATES), m.Ticket.updated_at < cutoff, ~purged_since
    )


def _arrived_before(cutoff: datetime) -> ColumnElement[bool]:
    """A message received (its raw mail stored), or recorded, before ``cutoff``."""
    raw_before = exists().where(
        m.RawMessage.id == m.Message.raw_id, m.RawMessage.received_at < cutoff
    )
    return or_(m.Message.created_at < cutoff, raw_before)


def _message_holds_content() -> ColumnElement[bool]:
    """A message not purged yet: its body or its raw mail is still there."""
    return or_(
        m.Message.body_text != "",
        m.Message.body_html.is_not(None),
        exists().where(m.RawMessage.id == m.Message.raw_id, m.RawMessage.data.is_not(None)),
    )


def _report(session: Session, taken: Taken, cutoff: datetime, dry_run: bool) -> PurgeReport:
    raws, raw_bytes = _stored(session, m.RawMessage.data, m.RawMessage.id, taken.raws)
    files, file_bytes = _stored(session, m.Attachment.data, m.Attachment.message_id, taken.messages)
    _, outbox_bytes = _stored(session, m.OutboxBody.raw, m.OutboxBody.outbox_id, taken.outbox)
    return PurgeReport(
        cutoff, dry_run, len(taken.tickets), len(taken.messages), raws, raw_bytes, files,
        file_bytes, len(taken.outbox), outbox_bytes, len(taken.events),
    )  # fmt: skip


def _stored(
    session: Session,
    data: InstrumentedAttribute[Any],
    key: InstrumentedAttribute[int],
    ids: Sequence[int],
) -> tuple[int, int]:
    """How many of the rows still hold bytes in ``data``, and how many bytes."""
    rows = size = 0
    # length() of a BLOB (SQLite) and of a bytea (PostgreSQL) is its size in bytes.
    measure = select(func.count(), func.coalesce(func.sum(func.length(data)), 0))
    for batch in _batches(ids):
        found, found_size = session.execute(
            measure.where(key.in_(batch), data.is_not(None), func.length(data) > 0)
        ).one()
        rows, size = rows + found, size + found_size
    return int(rows), int(size)


# -- what a purge does to them ------------------------------------------------------------


def _scrub(session: Session, taken: Taken, now: datetime) -> None:
    for column, key, kind, empty in EMPTIED:
        for batch in _batches(getattr(taken, kind)):
            _update(session, _model_of(key), key.in_(batch), {column.key: empty})
    for column, key, kind in MASKED:
        _mask(session, column, key, getattr(taken, kind))
    if taken.tickets:
        marks = [{"ticket_id": t, "kind": PURGED, "detail": {}, "created_at": now}
                 for t in taken.tickets]  # fmt: skip
        session.execute(insert(m.Event), marks)


def _mask(
    session: Session,
    column: InstrumentedAttribute[Any],
    key: InstrumentedAttribute[int],
    ids: Sequence[int],
) -> None:
    """Mask ``column`` in the rows selected by ``key``; only the rows it changes are written."""
    model = _model_of(column)
    primary = inspect(model).primary_key[0]
    for batch in _batches(ids):
        rows = session.execute(select(primary, column).where(key.in_(batch))).all()
        for row_id, value in rows:
            masked = _masked(value)
            if masked != value:
                _update(session, model, primary == row_id, {column.key: masked})


def _masked(value: Any) -> Any:
    """``value`` with every string in it masked (keys of a mapping too)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, dict):
        return {_masked(k): _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(item) for item in value]
    return value


def _update(
    session: Session, model: type[m.Base], where: ColumnElement[bool], values: dict[str, Any]
) -> None:
    """Set ``values`` in the rows of ``model`` that match ``where``, keeping their clocks:
    a purge is not a change of the ticket (``updated_at`` would start the period again)."""
    clocks = {c.key: c for c in model.__table__.columns if c.onupdate is not None}
    session.execute(
        update(model).where(where).values(**clocks, **values),
        execution_options={"synchronize_session": False},
    )


def _model_of(attribute: InstrumentedAttribute[Any]) -> type[m.Base]:
    model = attribute.class_
    assert isinstance(model, type) and issubclass(model, m.Base)  # the columns of models.py
    return model


def _batches(ids: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(ids), BATCH):
        yield ids[start : start + BATCH]


# -- the database's files -----------------------------------------------------------------


def compact(engine: Engine) -> bool:
    """Rewrite the database without the space freed by deleted or emptied rows, so that
    their old bytes leave its files; False (and a warning) when that could not be done.

    SQLite: VACUUM writes a new database file from the live rows only (nothing of a freed
    page or of a row's earlier version survives it), then a TRUNCATE checkpoint copies it
    into place and empties the write-ahead log, which holds earlier pages until then.
    PostgreSQL: VACUUM removes the dead row versions (and their TOAST chunks) that an
    UPDATE or DELETE leaves, so no query can read them; their bytes stay in the table's
    pages until overwritten (VACUUM FULL rewrites the tables: see docs/operations.md).
    Neither can run inside a transaction, so this runs after the purge's commit.
    """
    try:
        if engine.dialect.name == "sqlite":
            return _compact_sqlite(engine)
        tables = ", ".join(table.name for table in m.Base.metadata.sorted_tables)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.exec_driver_sql(f"VACUUM {tables}")
        return True
    except OperationalError as exc:
        log.warning(
            "the database could not be compacted (%s): deleted bytes may remain in its files "
            "until the next purge compacts it",
            exc.orig,
        )
        return False


def _compact_sqlite(engine: Engine) -> bool:
    # The driver's connection, in autocommit: SQLAlchemy's would BEGIN first (db.py).
    connection = engine.raw_connection()
    try:
        cursor = connection.cursor()
        for fts in m.SQLITE_SEARCH:
            # FTS5 keeps a deleted text's words in its pages, unfound, until it merges them.
            cursor.execute(f"INSERT INTO {fts}({fts}) VALUES ('optimize')")
        cursor.execute("VACUUM")
        # (busy, pages in the log, pages copied): busy when a reader kept it from finishing.
        busy = bool(cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0])
    finally:
        connection.close()
    if busy:
        log.warning(
            "the write-ahead log is in use by another process and could not be emptied: it "
            "keeps earlier pages until its next checkpoint"
        )
    return not busy
