"""Data functions of the pipeline: raw bytes first, then a Decision applied in one transaction.

Every function takes the session explicitly; transactions are opened by the caller
(mailproc.tickets.pipeline), never here.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import (
    BindParameter,
    Connection,
    Executable,
    Table,
    bindparam,
    func,
    insert,
    inspect,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import Insert as PostgresqlInsert
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import Insert as SqliteInsert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import (
    InstrumentedAttribute,
    Session,
    lazyload,
    make_transient_to_detached,
    selectinload,
    sessionmaker,
)
from sqlalchemy.orm.attributes import flag_modified, set_committed_value

from mailproc.decision.business_hours import Clock
from mailproc.decision.decide import Thread
from mailproc.decision.ratings import Rating
from mailproc.decision.staff import StaffAnswer
from mailproc.decision.states import (
    WAITING_FOR_REQUESTER,
    is_higher_priority,
    raised_priority,
)
from mailproc.decision.ticket_state import TicketState
from mailproc.decision.values import Decision, Outcome, Request
from mailproc.mail.message import Attachment, InboundMessage
from mailproc.rules.rulebook import Theme
from mailproc.sources.imap import MailboxCursor
from mailproc.storage import models as m
from mailproc.storage.codes import allocate_code
from mailproc.storage.db import utcnow

# The tables, for the Core statements of the per-message path.
_TABLES = m.Base.metadata.tables
_Row = TypeVar("_Row", bound=m.Base)


@dataclass(frozen=True)
class RawRecord:
    """A stored raw message: its id, and its outcome when it was processed before."""

    id: int
    sha256: str
    outcome: str | None


def save_raw(sessions: sessionmaker[Session], raw: bytes, origin: str) -> RawRecord:
    """Store the bytes in their own committed transaction, before any parsing.

    Content-addressed: the same bytes delivered again find the earlier row (and its outcome)
    instead of adding one, so a re-poll after a crash resumes where it stopped. One INSERT
    ... ON CONFLICT DO NOTHING: new bytes cost one statement; of two workers storing the
    same bytes at once, the second waits for the first to commit, then reads its row.
    """
    digest = hashlib.sha256(raw).hexdigest()
    with sessions.begin() as session:
        connection = session.connection()
        values = {"sha256": digest, "size": len(raw), "source": origin, "received_at": utcnow()}
        in_pieces = _written_in_pieces(connection, raw)
        statement = _raw_insert(connection.dialect.name, in_pieces=in_pieces)
        given = values if in_pieces else {**values, "data": raw}
        new_id: int | None = connection.execute(statement, given).scalar()
        if new_id is not None and in_pieces:
            write_in_pieces(connection, "raw_messages", "data", new_id, raw)
        if new_id is not None:
            return RawRecord(new_id, digest, None)
        found = connection.execute(_RAW_BY_DIGEST, {"digest": digest}).first()
        assert found is not None  # the conflict was on this digest
        return RawRecord(found[0], digest, found[1])


def upsert_into(dialect: str) -> Callable[[Any], PostgresqlInsert | SqliteInsert]:
    """The INSERT construct with ON CONFLICT clauses for the database in use (both of ours
    have one: no savepoint and retry around a plain INSERT)."""
    return postgresql_insert if dialect == "postgresql" else sqlite_insert


@cache
def _raw_insert(dialect: str, *, in_pieces: bool) -> Executable:
    """save_raw's statement in the dialect's form: Core on the table, parameters bound at
    execution; ``in_pieces`` leaves room for the bytes (see write_in_pieces)."""
    table = _TABLES["raw_messages"]
    values: dict[str, Any] = {
        name: bindparam(name) for name in ("sha256", "size", "source", "received_at")
    }
    values["data"] = func.zeroblob(bindparam("size")) if in_pieces else bindparam("data")
    return (
        upsert_into(dialect)(table)
        .values(values)
        .on_conflict_do_nothing(index_elements=["sha256"])
        .returning(table.c.id)
    )


# On SQLite, a value this large goes into its row in pieces: bound whole, it would be copied
# twice more (the bound value, then the record built from it), and the copies of a 25 MB
# message and its files would pile up.
LARGE_VALUE_BYTES = 1024 * 1024
_PIECE_BYTES = 256 * 1024


def _written_in_pieces(connection: Connection, data: bytes) -> bool:
    return connection.dialect.name == "sqlite" and len(data) >= LARGE_VALUE_BYTES


def write_in_pieces(
    connection: Connection, table: str, column: str, row_id: int, data: bytes
) -> None:
    """Fill a row's ``zeroblob`` placeholder with ``data`` through SQLite's incremental blob
    I/O, a piece at a time, in the connection's transaction."""
    sqlite = connection.connection.driver_connection
    assert sqlite is not None  # a connection in a transaction is open
    view = memoryview(data)
    with sqlite.blobopen(table, column, row_id) as blob:
        for start in range(0, len(data), _PIECE_BYTES):
            blob.write(view[start : start + _PIECE_BYTES])


def insert_row(session: Session, table: Table, values: Mapping[str, Any], large: str) -> None:
    """Insert one row at once (Core, in the session's transaction, no unit of work); its
    ``large`` column is written in pieces when it is large (see write_in_pieces)."""
    connection = session.connection()
    data = values[large]
    if not _written_in_pieces(connection, data):
        connection.execute(_insert(table), values)
        return
    placeholder = {**values, large: func.zeroblob(len(data))}
    inserted = connection.execute(insert(table).values(placeholder)).inserted_primary_key
    assert inserted is not None  # a single-row INSERT
    write_in_pieces(connection, table.name, large, inserted[0], data)


@cache
def _insert(table: Table) -> Executable:
    return insert(table)  # built once per table


@cache
def _insert_returning_id(table: Table) -> Executable:
    return insert(table).returning(table.c.id)


def _insert_id(session: Session, table: Table, values: Mapping[str, Any]) -> int:
    """Insert one row (Core, in the session's transaction); its id."""
    new_id: int = session.connection().execute(_insert_returning_id(table), values).scalar_one()
    return new_id


def add_outbox_mail(session: Session, values: Mapping[str, Any], raw: bytes) -> None:
    """An outbox row and, in a row of its own, its bytes (see models.OutboxBody)."""
    outbox_id = _insert_id(session, _TABLES["outbox"], values)
    body = {"outbox_id": outbox_id, "raw": raw}
    insert_row(session, _TABLES["outbox_bodies"], body, large="raw")


# The per-message statements, built once (building a statement costs about as much as
# running it), and run on the session's connection: no ORM objects, no autoflush.
_RAW_BY_DIGEST = select(m.RawMessage.id, m.RawMessage.outcome).where(
    m.RawMessage.sha256 == bindparam("digest")
)
_EARLIER = (
    select(m.Message.id, m.Ticket.code, m.Message.theme_id)
    .outerjoin(m.Ticket, m.Message.ticket_id == m.Ticket.id)
    .where(m.Message.dedup_key == bindparam("key"))
    .limit(1)
)
_MARK_RAW = (
    update(_TABLES["raw_messages"])
    .where(_TABLES["raw_messages"].c.id == bindparam("raw"))
    .values(outcome=bindparam("outcome"), reason=bindparam("reason"), processed_at=bindparam("at"))
)
_EVENT_INSERT = insert(_TABLES["events"])
_LINK_MESSAGE = (
    update(_TABLES["messages"])
    .where(_TABLES["messages"].c.id == bindparam("message"))
    .values(ticket_id=bindparam("ticket"))
)


def dedup_key(message: InboundMessage, sha256: str) -> str:
    """What makes a message a duplicate of an earlier one: the same sender and the same
    content, whatever its Message-ID says.

    The content is ``message.fingerprint`` (mailproc.mail.fingerprint): a hash of what the
    sender's client wrote, the header fields From, Sender, Reply-To, To, Cc, Subject, Date,
    Message-ID, In-Reply-To, References, Comments, Keywords and the MIME fields, and the
    body bytes after the header. The trace servers add on the way (Received, Return-Path,
    Delivered-To, X-Original-To, Authentication-Results, ARC and DKIM signatures, ``X-``
    fields) is left out: one mail delivered again, or to two of the desk's addresses, is a
    duplicate, however it travelled. A Message-ID alone proves nothing: anyone can write the
    one a victim's client will use, and two clients can produce the same one; mail with the
    same Message-ID and a different sender or content is a mail of its own.

    Keys are ``content:`` and the SHA-256 of the sender's address and the fingerprint. Input
    that cannot be read as an e-mail (``fatal``) is the same only as the same bytes (``sha:``).
    Rows of earlier versions keep their keys (``mid:`` for a Message-ID, ``sha:``): the
    prefixes keep them apart from the new ones.
    """
    if message.fatal or not message.fingerprint:
        return f"sha:{sha256}"
    sender = message.sender.email if message.sender else ""
    return "content:" + hashlib.sha256(f"{sender}\0{message.fingerprint}".encode()).hexdigest()


@dataclass(frozen=True)
class Earlier:
    """The message that already had a message's dedup key: where it went."""

    id: int
    ticket_code: str | None
    theme_id: str | None


def find_earlier(session: Session, key: str) -> Earlier | None:
    row = session.connection().execute(_EARLIER, {"key": key}).first()
    return Earlier(*row) if row else None


def mark_raw(session: Session, raw_id: int, outcome: Outcome, reason: str = "") -> None:
    # An UPDATE, not a load of the row: that would read the raw bytes back (25 MB, at worst).
    values = {"raw": raw_id, "outcome": outcome.value, "reason": reason or None, "at": utcnow()}
    session.connection().execute(_MARK_RAW, values)


def ticket_by_code(session: Session, code: str) -> m.Ticket:
    return session.scalars(select(m.Ticket).filter_by(code=code)).one()


def find_ticket_by_code(session: Session, code: str) -> m.Ticket | None:
    return session.scalars(select(m.Ticket).filter_by(code=code)).first()


def conversation(session: Session, code: str) -> m.Ticket | None:
    """A ticket with its story loaded to be read (``mailproc tickets show``): its messages
    and their files, history and rating. The files' bytes load one by one, when read."""
    files = selectinload(m.Ticket.messages).selectinload(m.Message.attachments)
    loads = (files.defer(m.Attachment.data), selectinload(m.Ticket.events))
    query = select(m.Ticket).filter_by(code=code).options(*loads)
    return session.scalars(query).first()


def find_ticket(session: Session, code: str | None, message: InboundMessage) -> m.Ticket | None:
    """The ticket a message refers to: by the code in its subject, else by its headers.

    Headers are matched against the Message-IDs of mail we sent (outbox) and received.
    """
    if code:
        ticket = session.scalars(select(m.Ticket).filter_by(code=code)).first()
        if ticket is not None:
            return ticket
    ids = [i for i in (message.in_reply_to, *message.references) if i]
    if not ids:
        return None
    sent = select(m.OutboxMail.ticket_id).where(m.OutboxMail.message_id.in_(ids))
    received = select(m.Message.ticket_id).where(m.Message.message_id.in_(ids))
    ticket_id = session.scalars(sent.union(received).limit(1)).first()
    return session.get(m.Ticket, ticket_id) if ticket_id else None


def thread_view(
    session: Session, ticket: m.Ticket, sender: str, staff: tuple[tuple[str, ...], tuple[str, ...]]
) -> Thread:
    """What decide() needs to know of a ticket, including whether ``sender`` may update it."""
    addresses, domains = staff
    requester = sender == ticket.requester_email
    # A staff member who opened a ticket of their own is its requester there, not staff.
    is_staff = not requester and (sender in addresses or sender.rpartition("@")[2] in domains)
    entitled = is_staff or any(p.email == sender for p in ticket.participants)
    return Thread(
        code=ticket.code,
        state=ticket.state,
        theme_id=ticket.theme_id,
        entitled=entitled,
        answers={k: str(v) for k, v in ticket.answers.items()},
        attachments=ticket_attachments(session, ticket.id),
        requester=requester,
        staff=is_staff,
    )


# The event of an internal note (a staff answer's #nota, the web view's note): its text is
# for staff only, never shown to the requester.
NOTE_EVENT = "note"
# Events that mark a message as staff's (an answer, one held back, a note, a move to
# another theme): its files are the staff's, not the requester's, and only an "answered"
# one was relayed to the requester.
STAFF_MESSAGE_EVENTS = ("answered", "answer_held", NOTE_EVENT, "reassigned")


def ticket_attachments(session: Session, ticket_id: int) -> tuple[Attachment, ...]:
    """The files the requester's side sent to a ticket (what completes it, what the area
    gets); a staff answer's files do not count: a manual sent back is no screenshot."""
    rows = session.connection().execute(_TICKET_FILES, {"ticket": ticket_id})
    return tuple(
        Attachment(r.filename, r.declared_type, r.detected_type, r.data or b"", r.inline)
        for r in rows
    )


def _ticket_files() -> Executable:
    """ticket_attachments' statement: Core columns, not ORM objects (each would hold its
    file's bytes in the session until the commit)."""
    ticket: BindParameter[int] = bindparam("ticket")
    staff_messages = select(m.Event.message_id).where(
        m.Event.ticket_id == ticket,
        m.Event.kind.in_(STAFF_MESSAGE_EVENTS),
        m.Event.message_id.is_not(None),
    )
    files = m.Attachment
    return (
        select(files.filename, files.declared_type, files.detected_type, files.data, files.inline)
        .join(m.Message)
        .where(
            m.Message.ticket_id == ticket,
            files.data.is_not(None),
            m.Message.id.not_in(staff_messages),
        )
        .order_by(files.id)
    )


_TICKET_FILES = _ticket_files()  # built once: building it costs more than running it


# A picture the same sender sent in this many earlier messages is a logo (rules.screenshots).
LOGO_REPEATS = 2


def images_sent_before(
    session: Session, sender: str, attachments: Sequence[Attachment], ticket_id: int | None
) -> frozenset[str]:
    """The digests of the images among ``attachments`` that ``sender`` already sent in
    LOGO_REPEATS earlier messages or more, outside the ticket ``ticket_id``: a logo comes
    with every mail; a print sent again to its own ticket must not look like one."""
    digests = {a.sha256 for a in attachments if a.real_type.lower().startswith("image/")}
    if not sender or not digests:
        return frozenset()
    files, messages = m.Attachment, m.Message
    query = (
        select(files.sha256)
        .join(messages, files.message_id == messages.id)
        .where(
            files.sha256.in_(sorted(digests)),
            messages.sender == sender,
            messages.ticket_id.is_distinct_from(ticket_id),
        )
        .group_by(files.sha256)
        .having(func.count(messages.id.distinct()) >= LOGO_REPEATS)
    )
    return frozenset(session.connection().execute(query).scalars())


def record_message(
    session: Session,
    raw_id: int | None,
    key: str,
    message: InboundMessage,
    decision: Decision,
    now: datetime,
) -> m.Message:
    """The message row goes in first: its unique dedup key stops a concurrent duplicate
    before it can take a ticket code. ``now`` is when it is applied (Pipeline.clock).
    ``raw_id`` is None for a message that was never received: an action taken in the web
    view (mailproc.tickets.acting)."""
    sender = message.sender
    row = _inserted(
        session,
        m.Message,
        raw_id=raw_id,
        dedup_key=key,
        ticket_id=None,
        outcome=decision.outcome.value,
        theme_id=decision.theme_id,
        sender=sender.email if sender else "",
        sender_name=(sender.name if sender else "")[:200],
        subject=message.subject,
        message_id=message.message_id,
        in_reply_to=message.in_reply_to,
        references=list(message.references),
        body_text=decision.request.text if decision.request else message.text,
        # The mail as received, for staff to read; never the sender's markup as it came.
        body_html=message.html,  # sanitized by the parse stage, not here in the transaction
        created_at=now,
    )
    set_committed_value(row, "ticket", None)
    for attachment in decision.request.attachments if decision.request else ():
        insert_row(session, _TABLES["attachments"], _attachment_values(row.id, attachment), "data")
    return row


def open_ticket(
    session: Session,
    theme: Theme,
    decision: Decision,
    close_days: int,
    now: datetime,
    year: int,
    clock: Clock,
) -> m.Ticket:
    """A new ticket with the next code of the (desk's local) year: open, with the theme's
    hours counted by ``clock`` to answer it, or waiting for what is missing."""
    request = decision.request
    assert request is not None
    incomplete = decision.outcome is Outcome.INCOMPLETE
    ticket = _inserted(
        session,
        m.Ticket,
        code=allocate_code(session, year),
        theme_id=theme.id,
        state=TicketState.AWAITING_INFORMATION if incomplete else TicketState.OPEN,
        priority=theme.priority,
        requester_email=request.requester.email,
        requester_name=request.requester.name[:200],
        subject=request.subject,
        answers=dict(decision.answers),
        due_at=None if incomplete else clock.add(now, timedelta(hours=theme.response_hours)),
        reminded_at=None,
        escalated_at=None,
        urgent_at=None,
        incomplete_until=now + timedelta(days=close_days) if incomplete else None,
        created_at=now,
        updated_at=now,
    )
    for empty in ("messages", "participants", "events"):
        set_committed_value(ticket, empty, [])
    set_committed_value(ticket, "evaluation", None)
    _join(session, ticket, [(request.requester.email, "requester")], now)
    return ticket


def _inserted(session: Session, model: type[_Row], **values: Any) -> _Row:
    """A new row, inserted at once (_insert_id), and the session's persistent object of it:
    what add() and flush() give, for one INSERT instead of a flush of the unit of work
    (about half a millisecond each). Its relationships are not loaded
    (``set_committed_value`` says what they hold when that is known)."""
    table = model.__table__
    assert isinstance(table, Table)  # a mapped class's own table
    row = model(id=_insert_id(session, table, values), **values)
    make_transient_to_detached(row)
    session.add(row)
    return row


def add_participants(
    session: Session, ticket: m.Ticket, request: Request, copied: list[str], now: datetime
) -> None:
    """Forwarder and people copied on the request join the ticket (once each)."""
    present = {p.email for p in ticket.participants}
    joining: list[tuple[str, str]] = []
    for email, role in [(request.forwarder, "forwarder"), *((c, "cc") for c in copied)]:
        if email and email not in present:
            joining.append((email, role))
            present.add(email)
    _join(session, ticket, joining, now)


def _join(
    session: Session, ticket: m.Ticket, joining: list[tuple[str, str]], now: datetime
) -> None:
    """Add (email, role) participants to the ticket, each inserted at once (_inserted), the
    loaded collection kept in step: appending to it would leave the ticket for the commit's
    flush to visit."""
    if not joining:
        return
    added = [
        _inserted(session, m.Participant, ticket_id=ticket.id, email=e, role=r, added_at=now)
        for e, r in joining
    ]
    set_committed_value(ticket, "participants", [*ticket.participants, *added])


def link_message(session: Session, row: m.Message, ticket: m.Ticket | None) -> None:
    """The message joins its ticket: one UPDATE at once, as _inserted does for new rows; the
    ticket's thread, when loaded, is kept in step (a routed copy reads its first message)."""
    if ticket is None:
        return
    session.connection().execute(_LINK_MESSAGE, {"message": row.id, "ticket": ticket.id})
    set_committed_value(row, "ticket_id", ticket.id)
    set_committed_value(row, "ticket", ticket)
    if "messages" not in inspect(ticket).unloaded:
        set_committed_value(ticket, "messages", [*ticket.messages, row])


def update_ticket(
    ticket: m.Ticket,
    theme: Theme | None,
    decision: Decision,
    now: datetime,
    *,
    close_days: int,
    urgent_percent: int,
    clock: Clock,
) -> None:
    """A reply's answers join the ticket. The last missing item opens it with a deadline
    (response_deadline); a partial answer to a ticket closed untreated sets it waiting
    again, for a new period."""
    ticket.answers.update(decision.answers)
    if decision.completed and theme is not None:
        ticket.state = TicketState.OPEN
        set_deadline(ticket, response_deadline(ticket, theme, urgent_percent, now, clock))
        ticket.incomplete_until = None
    elif decision.missing and ticket.state == TicketState.CLOSED_UNTREATED:
        ticket.state = TicketState.AWAITING_INFORMATION
        ticket.incomplete_until = now + timedelta(days=close_days)
    ticket.updated_at = now


def response_deadline(
    ticket: m.Ticket, theme: Theme, urgent_percent: int, now: datetime, clock: Clock
) -> datetime:
    """When the area must answer a ticket put in service now: the theme's hours (counted by
    ``clock``), cut to ``urgent_percent`` of them once its requester asked for urgency (as
    _hurry cuts a running deadline)."""
    share = urgent_percent / 100 if ticket.urgent_at is not None else 1
    return clock.add(now, timedelta(hours=theme.response_hours * share))


def set_deadline(ticket: m.Ticket, due: datetime | None) -> None:
    """A new deadline: the area is reminded of it and warned after it, once each, again."""
    ticket.due_at = due
    ticket.reminded_at = ticket.escalated_at = None


def keep_as_history(session: Session, row: m.Message, now: datetime) -> None:
    """An imported message (Pipeline.history) and the ticket it joined: an ``imported`` event,
    and the ticket without deadline or waiting period, which only live mail sets again.
    Its last change is the message's time: given, else the column's onupdate would put the
    import's."""
    ticket = row.ticket
    add_event(session, "imported", ticket=ticket, message=row)
    if ticket is None:
        return
    set_deadline(ticket, None)
    ticket.incomplete_until = None
    ticket.updated_at = max(ticket.updated_at, now)
    flag_modified(ticket, "updated_at")


def resume(ticket: m.Ticket, now: datetime) -> bool:
    """A reply to a pending ticket puts it back in service; True when it did."""
    if ticket.state != TicketState.PENDING:
        return False
    reopen(ticket, now)
    return True


def reopen(ticket: m.Ticket, now: datetime) -> None:
    """Back in service, no longer waiting for the requester. The new deadline is the
    caller's to set: it comes from the ticket's theme."""
    ticket.state, ticket.updated_at = TicketState.OPEN, now
    ticket.incomplete_until = None


def apply_staff_answer(
    ticket: m.Ticket,
    answer: StaffAnswer,
    now: datetime,
    *,
    urgent_percent: int,
    wait_days: int,
    clock: Clock,
) -> dict[str, str]:
    """The state and priority a staff answer's directives set; returns what changed.

    #pendente gives the requester ``wait_days`` to answer before the ticket is closed. A
    raised priority shortens the deadline as "urgente" does; a lowered one leaves it as it
    is, so a deadline already passed stays passed (and escalated).
    """
    changes: dict[str, str] = {}
    # A ticket waiting for the requester's information is pending on them already.
    waiting = ticket.state in WAITING_FOR_REQUESTER and answer.state == TicketState.PENDING
    if answer.state is not None and answer.state != ticket.state and not waiting:
        ticket.state = changes["state"] = answer.state
        pending = answer.state == TicketState.PENDING
        ticket.incomplete_until = now + timedelta(days=wait_days) if pending else None
    if answer.priority is not None and answer.priority != ticket.priority:
        changes["priority"] = answer.priority
        if is_higher_priority(answer.priority, ticket.priority):
            _hurry(ticket, answer.priority, urgent_percent, now, clock)
        else:
            ticket.priority = answer.priority
    ticket.updated_at = now
    return changes


def move_to_theme(ticket: m.Ticket, theme: Theme, now: datetime) -> None:
    """The ticket now belongs to ``theme`` (and its area); the deadline is the caller's."""
    ticket.theme_id, ticket.updated_at = theme.id, now


def make_urgent(ticket: m.Ticket, percent: int, now: datetime, clock: Clock) -> None:
    """Raise the priority one level, shortening the deadline (see _hurry)."""
    _hurry(ticket, raised_priority(ticket.priority), percent, now, clock)


def _hurry(ticket: m.Ticket, priority: str, percent: int, now: datetime, clock: Clock) -> None:
    """A higher priority; the first time a ticket is hurried, also shorten what is left of
    its deadline (as ``clock`` counts it) to ``percent`` of it (repeated requests must not
    shrink it to nothing)."""
    ticket.priority = priority
    if ticket.urgent_at is None and ticket.due_at is not None and ticket.due_at > now:
        set_deadline(ticket, clock.add(now, clock.between(now, ticket.due_at) * percent / 100))
    ticket.urgent_at = ticket.urgent_at or now
    ticket.updated_at = now


def cancel(ticket: m.Ticket, now: datetime) -> None:
    ticket.state, ticket.updated_at = TicketState.CANCELLED, now
    ticket.incomplete_until = None


def save_evaluation(
    session: Session, ticket: m.Ticket, rating: Rating, rater: str, message: m.Message
) -> m.Evaluation:
    """The ticket's evaluation: created, or replaced when the requester rates it again."""
    found = session.scalars(select(m.Evaluation).filter_by(ticket_id=ticket.id)).first()
    evaluation = found or m.Evaluation(ticket_id=ticket.id)
    evaluation.score, evaluation.comment = rating.score, rating.comment
    evaluation.rater, evaluation.message_id = rater, message.id
    session.add(evaluation)
    return evaluation


def takes_part(ticket: m.Ticket, email: str) -> bool:
    """Whether ``email`` is the ticket's requester or one of its participants."""
    return any(p.email == email for p in ticket.participants)


def tickets_of(session: Session, email: str, limit: int) -> tuple[list[m.Ticket], int]:
    """The newest tickets ``email`` opened or takes part in, and how many there are in all."""
    mine = select(m.Participant.ticket_id).where(m.Participant.email == email)
    query = select(m.Ticket).where(m.Ticket.id.in_(mine))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest = query.order_by(m.Ticket.created_at.desc(), m.Ticket.id.desc()).limit(limit)
    return list(session.scalars(newest)), total


def newest_tickets(session: Session, state: str | None, limit: int) -> list[m.Ticket]:
    """The newest tickets, of one state or all (``mailproc tickets list``)."""
    query = select(m.Ticket).order_by(m.Ticket.id.desc()).limit(limit)
    if state:
        query = query.where(m.Ticket.state == state)
    return list(session.scalars(query))


def last_staff_answer(session: Session, ticket_id: int) -> m.Message | None:
    """The latest staff answer of a ticket (the message of its newest "answered" event)."""
    query = (
        select(m.Message)
        .join(m.Event, m.Event.message_id == m.Message.id)
        .where(m.Event.ticket_id == ticket_id, m.Event.kind == "answered")
        .order_by(m.Event.id.desc())
        .limit(1)
    )
    return session.scalars(query).first()


def due_for_reminder(session: Session, now: datetime, until: datetime) -> list[m.Ticket]:
    """Tickets in service whose deadline is still ahead, by ``until``, and who were not
    reminded.

    The rows are locked (SKIP LOCKED on PostgreSQL), so two workers never remind twice.
    """
    query = select(m.Ticket).where(
        m.Ticket.state == TicketState.OPEN,
        m.Ticket.reminded_at.is_(None),
        m.Ticket.due_at > now,
        m.Ticket.due_at <= until,
    )
    return list(session.scalars(query.with_for_update(skip_locked=True)))


def overdue(session: Session, now: datetime) -> list[m.Ticket]:
    """Tickets in service past their deadline that were not escalated yet (locked rows)."""
    query = select(m.Ticket).where(
        m.Ticket.state == TicketState.OPEN,
        m.Ticket.escalated_at.is_(None),
        m.Ticket.due_at <= now,
    )
    return list(session.scalars(query.with_for_update(skip_locked=True)))


def add_event(
    session: Session,
    kind: str,
    *,
    ticket: m.Ticket | None = None,
    message: m.Message | None = None,
    **detail: object,
) -> None:
    """One entry of the history, written at once (Core): events are only ever inserted, and
    each one kept for the flush at the next query would cost the unit of work as much again.
    The ticket and the message have their ids by now (open_ticket and record_message flush)."""
    values = {
        "ticket_id": ticket.id if ticket else None,
        "message_id": message.id if message else None,
        "kind": kind,
        "detail": detail,
    }
    session.connection().execute(_EVENT_INSERT, values)


def mark_events(session: Session, message: m.Message, **detail: object) -> None:
    """Add ``detail`` to every event of ``message`` written so far in this transaction: who
    took a web action, and that it came from the web (mailproc.tickets.acting), on the
    events the mail path's handlers wrote for it."""
    events = _TABLES["events"]
    rows = session.connection().execute(
        select(events.c.id, events.c.detail).where(events.c.message_id == message.id)
    )
    for event_id, earlier in rows.all():
        session.connection().execute(
            update(events).where(events.c.id == event_id).values(detail={**earlier, **detail})
        )


@dataclass(frozen=True)
class MailTally:
    """What the guards of a notice about to be queued read (mailproc.outgoing.notices.GUARDS): how
    many automatic mails were queued to its mailbox since the day's cut, to its domain, about
    its ticket and in all since the hour's cut (mail to staff included), and which of the
    addresses asked about are failing (our mail bounced from them)."""

    to_address: int
    domain: int
    ticket: int
    overall: int
    failing: frozenset[str]


def mail_tally(
    session: Session,
    *,
    to: str | None,
    domain: str | None,
    ticket_id: int | None,
    addresses: Sequence[str],
    day_since: datetime,
    hour_since: datetime,
) -> MailTally:
    """The tally for one notice, in one statement: four counts over the outbox, each on
    its index (see models.OutboxMail), and the failing ones of ``addresses`` (lower case).
    ``to`` (a mailbox as outgoing.loops.mailbox_of writes it), ``domain`` or ``ticket_id``
    None counts nothing.

    Run on the session's connection, so without the ORM's autoflush: mail queued earlier
    in this transaction counts because notices.Replier.enqueue inserts its row at once,
    not through the unit of work."""
    values = {
        "to": to,
        "domain": domain,
        "ticket_id": ticket_id,
        "day_since": day_since,
        "hour_since": hour_since,
        "addresses": list(addresses),
    }
    rows = session.connection().execute(_MAIL_TALLY, values).all()
    to_address, domain_count, ticket, overall, _ = rows[0]
    failing = frozenset(r[4] for r in rows if r[4])
    return MailTally(to_address, domain_count, ticket, overall, failing)


def _mail_tally() -> Executable:
    """mail_tally's statement: the counts as one row (uncorrelated scalar subqueries, run
    once each), joined to the failing addresses among those asked about: one row per
    failing address, or one with a null address."""
    outbox, failing = m.OutboxMail.__table__.c, m.FailingAddress.__table__
    day_since = bindparam("day_since", type_=outbox.created_at.type)
    hour_since = bindparam("hour_since", type_=outbox.created_at.type)
    count = select(func.count()).select_from(m.OutboxMail.__table__)  # count(*): index only
    counts = select(
        count.where(outbox.to_address == bindparam("to"), outbox.created_at >= day_since)
        .scalar_subquery()
        .label("to_address"),
        count.where(outbox.to_domain == bindparam("domain"), outbox.created_at >= hour_since)
        .scalar_subquery()
        .label("domain"),
        count.where(outbox.ticket_id == bindparam("ticket_id"), outbox.created_at >= hour_since)
        .scalar_subquery()
        .label("ticket"),
        count.where(outbox.created_at >= hour_since).scalar_subquery().label("overall"),
    ).subquery("counts")
    asked_about = failing.c.email.in_(bindparam("addresses", expanding=True))
    return select(counts, failing.c.email).select_from(counts.outerjoin(failing, asked_about))


_MAIL_TALLY = _mail_tally()


def add_alert(session: Session, key: str, kind: str, detail: Mapping[str, object]) -> bool:
    """Record an operator alert unless one with ``key`` exists; True when this call added it.

    INSERT ... ON CONFLICT DO NOTHING: of two workers raising the same alert at once, the
    second waits for the first to commit, then finds the key taken (no exception to catch).
    """
    statement = (
        upsert_into(session.get_bind().dialect.name)(m.Alert)
        .values(key=key, kind=kind, detail=dict(detail), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(m.Alert.id)
    )
    return session.scalar(statement) is not None


def desk_key(session: Session, name: str) -> str:
    """The desk's secret called ``name``, made now (random, 256 bits) if it is not there yet.

    Of two workers starting at once, both insert ON CONFLICT DO NOTHING and both read the
    one that was committed first: every worker signs with the same key."""
    statement = (
        upsert_into(session.get_bind().dialect.name)(m.DeskKey)
        .values(name=name, value=secrets.token_hex(32), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["name"])
    )
    session.execute(statement)
    return session.scalars(select(m.DeskKey.value).where(m.DeskKey.name == name)).one()


@dataclass(frozen=True)
class OutboxEntry:
    """An outbox mail as an operator sees it (``mailproc outbox list``)."""

    id: int
    status: str
    purpose: str
    ticket: str | None
    to: list[str]
    subject: str
    attempts: int
    created_at: datetime
    # When it is due; once an attempt started ("sending", "uncertain"), when it was tried.
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    message_id: str  # bare, as the delivery's log line and the relay's log have it


def outbox_entries(
    session: Session, status: str | None, limit: int | None, ticket_id: int | None = None
) -> list[OutboxEntry]:
    """The newest outbox mail, of one status or all, of one ticket or all, with its ticket's
    code."""
    query = (
        select(m.OutboxMail, m.Ticket.code)
        .outerjoin(m.Ticket, m.OutboxMail.ticket_id == m.Ticket.id)
        .options(lazyload(m.OutboxMail.body))
        .order_by(m.OutboxMail.id.desc())
        .limit(limit)
    )
    if status:
        query = query.where(m.OutboxMail.status == status)
    if ticket_id is not None:
        query = query.where(m.OutboxMail.ticket_id == ticket_id)
    return [
        OutboxEntry(
            mail.id,
            mail.status,
            mail.purpose,
            code,
            list(mail.recipients),
            mail.subject,
            mail.attempts,
            mail.created_at,
            mail.next_attempt_at,
            mail.sent_at,
            mail.last_error,
            mail.message_id,
        )
        for mail, code in session.execute(query)
    ]


# Operators decide what no worker can: whether mail of uncertain delivery arrived.
RESENDABLE = ("uncertain", "failed")
CONFIRMABLE = ("uncertain",)


def resend_outbox(session: Session, outbox_ids: Sequence[int], now: datetime) -> dict[int, str]:
    """Queue uncertain or failed mail again, due now with a fresh set of attempts. Returns,
    for each id left alone, why."""

    def queue_again(mail: m.OutboxMail) -> None:
        mail.status, mail.attempts, mail.next_attempt_at = "pending", 0, now

    return _operator_change(session, outbox_ids, RESENDABLE, "delivery_requeued", queue_again)


def mark_outbox_sent(session: Session, outbox_ids: Sequence[int], now: datetime) -> dict[int, str]:
    """Record uncertain mail as sent: the operator checked that it arrived. Returns, for
    each id left alone, why."""

    def sent(mail: m.OutboxMail) -> None:
        mail.status, mail.sent_at = "sent", now

    return _operator_change(session, outbox_ids, CONFIRMABLE, "delivery_confirmed", sent)


def _operator_change(
    session: Session,
    outbox_ids: Sequence[int],
    allowed: tuple[str, ...],
    kind: str,
    change: Callable[[m.OutboxMail], None],
) -> dict[int, str]:
    """``change`` each listed mail whose status is ``allowed`` (rows locked: a worker judging
    the same mail waits), with a ``kind`` event on its ticket."""
    query = select(m.OutboxMail).where(m.OutboxMail.id.in_(outbox_ids))
    found = {
        row.id: row
        for row in session.scalars(query.with_for_update().options(lazyload(m.OutboxMail.body)))
    }
    refused: dict[int, str] = {}
    for outbox_id in outbox_ids:
        row = found.get(outbox_id)
        if row is None or row.status not in allowed:
            refused[outbox_id] = "no such mail" if row is None else f"it is {row.status}"
            continue
        detail = {"outbox": row.id, "was": row.status}
        session.add(m.Event(ticket_id=row.ticket_id, kind=kind, detail=detail))
        change(row)
        row.lease_owner = row.lease_until = None
    return refused


def unanswered_pending(session: Session, now: datetime) -> list[m.Ticket]:
    """Pending tickets whose requester did not answer in time (locked rows: one worker
    closes each)."""
    query = select(m.Ticket).where(
        m.Ticket.state == TicketState.PENDING, m.Ticket.incomplete_until <= now
    )
    return list(session.scalars(query.with_for_update(skip_locked=True)))


def expired_incomplete(session: Session, now: datetime) -> list[m.Ticket]:
    return list(
        session.scalars(
            select(m.Ticket).where(
                m.Ticket.state == TicketState.AWAITING_INFORMATION, m.Ticket.incomplete_until <= now
            )
        )
    )


def _attachment_values(message_id: int, attachment: Attachment) -> dict[str, Any]:
    return {
        "message_id": message_id,
        "filename": attachment.filename,
        "declared_type": attachment.declared_type,
        "detected_type": attachment.detected_type,
        "size": attachment.size,
        "sha256": attachment.sha256,
        "data": attachment.data,
        "inline": attachment.inline,
    }


def load_cursor(session: Session, mailbox: str, folder: str) -> MailboxCursor | None:
    state = _mailbox_state(session, mailbox, folder)
    # UIDVALIDITY 0 (never a server's: RFC 3501 makes it non-zero) is a row record_poll made
    # before any message was read: no cursor yet, not a changed folder.
    return MailboxCursor(state.uidvalidity, state.last_uid) if state and state.uidvalidity else None


def save_cursor(session: Session, mailbox: str, folder: str, cursor: MailboxCursor) -> None:
    state = _mailbox_state(session, mailbox, folder)
    if state is None:
        state = m.MailboxState(mailbox=mailbox, folder=folder)
        session.add(state)
    state.uidvalidity, state.last_uid = cursor.uidvalidity, cursor.last_uid


def record_poll(session: Session, mailbox: str, folder: str, error: str | None) -> None:
    """When the mailbox was last read, and why not, for `mailproc status` and operators."""
    state = _mailbox_state(session, mailbox, folder)
    if state is None:
        state = m.MailboxState(mailbox=mailbox, folder=folder, uidvalidity=0, last_uid=0)
        session.add(state)
    if error is None:
        state.last_poll_at = utcnow()
    state.last_error = error


def _mailbox_state(session: Session, mailbox: str, folder: str) -> m.MailboxState | None:
    query = select(m.MailboxState).filter_by(mailbox=mailbox, folder=folder)
    return session.scalars(query).first()


def count_by(session: Session, column: InstrumentedAttribute[str]) -> dict[str, int]:
    """How many rows have each value of ``column`` (tickets by state, outbox by status)."""
    return dict(session.execute(select(column, func.count()).group_by(column)).all())
