"""Data functions of the pipeline: raw bytes first, then a Decision applied in one transaction.

Every function takes the session explicitly; transactions are opened by the caller
(mailproc.pipeline), never here.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from mailproc import models as m
from mailproc.codes import allocate_code
from mailproc.db import utcnow
from mailproc.decide import Thread
from mailproc.decision import Decision, Outcome, Request
from mailproc.imap_source import MailboxCursor
from mailproc.message import Attachment, InboundMessage
from mailproc.ratings import Rating
from mailproc.rulebook import Theme
from mailproc.staff import StaffAnswer
from mailproc.states import WAITING_FOR_REQUESTER, TicketState, raised_priority


@dataclass(frozen=True)
class RawRecord:
    """A stored raw message: its id, and its outcome when it was processed before."""

    id: int
    sha256: str
    outcome: str | None


def save_raw(sessions: sessionmaker[Session], raw: bytes, origin: str) -> RawRecord:
    """Store the bytes in their own committed transaction, before any parsing.

    Content-addressed: the same bytes delivered again find the earlier row (and its outcome)
    instead of adding one, so a re-poll after a crash resumes where it stopped.
    """
    digest = hashlib.sha256(raw).hexdigest()
    for _ in range(2):  # a second try covers a concurrent insert of the same bytes
        with sessions.begin() as session:
            found = session.scalars(select(m.RawMessage).filter_by(sha256=digest)).first()
            if found is not None:
                return RawRecord(found.id, digest, found.outcome)
        try:
            with sessions.begin() as session:
                row = m.RawMessage(sha256=digest, size=len(raw), data=raw, source=origin)
                session.add(row)
                session.flush()
                return RawRecord(row.id, digest, None)
        except IntegrityError:
            continue
    raise RuntimeError(f"raw message {digest} neither found nor inserted")  # unreachable


def dedup_key(message: InboundMessage, sha256: str) -> str:
    """Same Message-ID means the same message; without one, the same bytes do."""
    if message.message_id:
        return f"mid:{message.message_id[:300]}"
    return f"sha:{sha256}"


def find_earlier(session: Session, key: str) -> m.Message | None:
    return session.scalars(select(m.Message).filter_by(dedup_key=key)).first()


def mark_raw(session: Session, raw_id: int, outcome: Outcome, reason: str = "") -> None:
    raw = session.get_one(m.RawMessage, raw_id)
    raw.outcome, raw.reason, raw.processed_at = outcome.value, reason or None, utcnow()


def ticket_by_code(session: Session, code: str) -> m.Ticket:
    return session.scalars(select(m.Ticket).filter_by(code=code)).one()


def find_ticket_by_code(session: Session, code: str) -> m.Ticket | None:
    return session.scalars(select(m.Ticket).filter_by(code=code)).first()


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


# Events that mark a message as a staff answer: its files are the staff's, not the requester's.
STAFF_MESSAGE_EVENTS = ("answered", "answer_held")


def ticket_attachments(session: Session, ticket_id: int) -> tuple[Attachment, ...]:
    """The files the requester's side sent to a ticket (what completes it, what the area
    gets); a staff answer's files do not count: a manual sent back is no screenshot."""
    staff_messages = select(m.Event.message_id).where(
        m.Event.ticket_id == ticket_id,
        m.Event.kind.in_(STAFF_MESSAGE_EVENTS),
        m.Event.message_id.is_not(None),
    )
    rows = session.scalars(
        select(m.Attachment)
        .join(m.Message)
        .where(
            m.Message.ticket_id == ticket_id,
            m.Attachment.data.is_not(None),
            m.Message.id.not_in(staff_messages),
        )
        .order_by(m.Attachment.id)
    )
    return tuple(
        Attachment(r.filename, r.declared_type, r.detected_type, r.data or b"", r.inline)
        for r in rows
    )


def record_message(
    session: Session, raw_id: int, key: str, message: InboundMessage, decision: Decision
) -> m.Message:
    """The message row goes in first: its unique dedup key stops a concurrent duplicate
    before it can take a ticket code."""
    sender = message.sender
    row = m.Message(
        raw_id=raw_id,
        dedup_key=key,
        outcome=decision.outcome.value,
        theme_id=decision.theme_id,
        sender=sender.email if sender else "",
        sender_name=(sender.name if sender else "")[:200],
        subject=message.subject,
        message_id=message.message_id,
        in_reply_to=message.in_reply_to,
        references=list(message.references),
        body_text=decision.request.text if decision.request else message.text,
    )
    if decision.request is not None:
        row.attachments = [_attachment_row(a) for a in decision.request.attachments]
    session.add(row)
    session.flush()
    return row


def open_ticket(
    session: Session, theme: Theme, decision: Decision, close_days: int, now: datetime, year: int
) -> m.Ticket:
    """A new ticket with the next code of the (desk's local) year: open, or waiting for
    what is missing."""
    request = decision.request
    assert request is not None
    incomplete = decision.outcome is Outcome.INCOMPLETE
    ticket = m.Ticket(
        code=allocate_code(session, year),
        theme_id=theme.id,
        state=TicketState.AWAITING_INFORMATION if incomplete else TicketState.OPEN,
        priority=theme.priority,
        requester_email=request.requester.email,
        requester_name=request.requester.name[:200],
        subject=request.subject,
        answers=dict(decision.answers),
        due_at=None if incomplete else now + timedelta(hours=theme.response_hours),
        reminded_at=None,
        escalated_at=None,
        urgent_at=None,
        incomplete_until=now + timedelta(days=close_days) if incomplete else None,
    )
    ticket.participants = [m.Participant(email=request.requester.email, role="requester")]
    session.add(ticket)
    session.flush()
    return ticket


def add_participants(ticket: m.Ticket, request: Request, copied: list[str]) -> None:
    """Forwarder and people copied on the request join the ticket (once each)."""
    present = {p.email for p in ticket.participants}
    for email, role in [(request.forwarder, "forwarder"), *((c, "cc") for c in copied)]:
        if email and email not in present:
            ticket.participants.append(m.Participant(email=email, role=role))
            present.add(email)


def update_ticket(
    ticket: m.Ticket, theme: Theme | None, decision: Decision, close_days: int, now: datetime
) -> None:
    """A reply's answers join the ticket. The last missing item opens it with a deadline; a
    partial answer to a ticket closed untreated sets it waiting again, for a new period."""
    ticket.answers.update(decision.answers)
    if decision.completed and theme is not None:
        ticket.state = TicketState.OPEN
        set_deadline(ticket, now + timedelta(hours=theme.response_hours))
        ticket.incomplete_until = None
    elif decision.missing and ticket.state == TicketState.CLOSED_UNTREATED:
        ticket.state = TicketState.AWAITING_INFORMATION
        ticket.incomplete_until = now + timedelta(days=close_days)
    ticket.updated_at = now


def set_deadline(ticket: m.Ticket, due: datetime | None) -> None:
    """A new deadline: the area is reminded of it and warned after it, once each, again."""
    ticket.due_at = due
    ticket.reminded_at = ticket.escalated_at = None


def resume(ticket: m.Ticket, now: datetime) -> bool:
    """A reply to a pending ticket puts it back in service; True when it did."""
    if ticket.state != TicketState.PENDING:
        return False
    ticket.state, ticket.updated_at = TicketState.OPEN, now
    return True


def apply_staff_answer(ticket: m.Ticket, answer: StaffAnswer, now: datetime) -> dict[str, str]:
    """The state and priority a staff answer's directives set; returns what changed."""
    changes: dict[str, str] = {}
    # A ticket waiting for the requester's information is pending on them already.
    waiting = ticket.state in WAITING_FOR_REQUESTER and answer.state == TicketState.PENDING
    if answer.state is not None and answer.state != ticket.state and not waiting:
        ticket.state = changes["state"] = answer.state
        ticket.incomplete_until = None
    if answer.priority is not None and answer.priority != ticket.priority:
        ticket.priority = changes["priority"] = answer.priority
    ticket.updated_at = now
    return changes


def make_urgent(ticket: m.Ticket, percent: int, now: datetime) -> None:
    """Raise the priority one level; the first time, also shorten what is left of the
    deadline to ``percent`` of it (a repeated request must not shrink it to nothing)."""
    ticket.priority = raised_priority(ticket.priority)
    if ticket.urgent_at is None and ticket.due_at is not None and ticket.due_at > now:
        set_deadline(ticket, now + (ticket.due_at - now) * percent / 100)
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


def tickets_of(session: Session, email: str, limit: int) -> tuple[list[m.Ticket], int]:
    """The newest tickets ``email`` opened or takes part in, and how many there are in all."""
    mine = select(m.Participant.ticket_id).where(m.Participant.email == email)
    query = select(m.Ticket).where(m.Ticket.id.in_(mine))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    newest = query.order_by(m.Ticket.created_at.desc(), m.Ticket.id.desc()).limit(limit)
    return list(session.scalars(newest)), total


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


def due_for_reminder(session: Session, now: datetime, before: timedelta) -> list[m.Ticket]:
    """Tickets in service whose deadline is within ``before`` and who were not reminded.

    The rows are locked (SKIP LOCKED on PostgreSQL), so two workers never remind twice.
    """
    query = select(m.Ticket).where(
        m.Ticket.state == TicketState.OPEN,
        m.Ticket.reminded_at.is_(None),
        m.Ticket.due_at > now,
        m.Ticket.due_at <= now + before,
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
    message_id = message.id if message else None
    session.add(m.Event(ticket=ticket, message_id=message_id, kind=kind, detail=detail))


def replies_since(session: Session, address: str, since: datetime) -> int:
    """How many automatic mails went to ``address`` since then (for the daily loop cap)."""
    query = select(func.count()).where(
        m.OutboxMail.to_address == address, m.OutboxMail.created_at >= since
    )
    return session.scalar(query) or 0


def expired_incomplete(session: Session, now: datetime) -> list[m.Ticket]:
    return list(
        session.scalars(
            select(m.Ticket).where(
                m.Ticket.state == TicketState.AWAITING_INFORMATION, m.Ticket.incomplete_until <= now
            )
        )
    )


def _attachment_row(attachment: Attachment) -> m.Attachment:
    return m.Attachment(
        filename=attachment.filename,
        declared_type=attachment.declared_type,
        detected_type=attachment.detected_type,
        size=attachment.size,
        sha256=attachment.sha256,
        data=attachment.data,
        inline=attachment.inline,
    )


def load_cursor(session: Session, mailbox: str, folder: str) -> MailboxCursor | None:
    state = _mailbox_state(session, mailbox, folder)
    return MailboxCursor(state.uidvalidity, state.last_uid) if state else None


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
