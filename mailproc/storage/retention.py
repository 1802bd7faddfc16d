"""Retention (LGPD): the bytes of old mail and attachments are purged, the records stay.

What goes: ``raw_messages.data`` and ``attachments.data``, the copies of what people sent.
What stays: tickets, message metadata (sender, subject, ids, the text kept on the message),
events, sizes and SHA-256 hashes, so a ticket's history still reads and a re-delivered
message is still known for a duplicate.

A message's bytes go when it is older than the retention period and its ticket is closed
(and was last changed before the period too, so a ticket closed yesterday keeps its
evidence), or when it never had a ticket (ignored, quarantined, no theme, duplicates).
A raw message not yet processed is never touched: it is waiting for the pipeline.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, and_, exists, func, not_, or_, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session, sessionmaker

from mailproc.storage import models as m
from mailproc.storage.db import utcnow

# Stored state values (mailproc.decision.states) after which nothing more happens to a ticket.
CLOSED_STATES = frozenset({"encerrado_sem_tratamento", "resolvido", "cancelado", "fechado"})


@dataclass(frozen=True)
class PurgeReport:
    """What a purge removed, or would remove with ``dry_run``: rows and bytes of each table."""

    cutoff: datetime
    dry_run: bool
    raw_messages: int
    raw_bytes: int
    attachments: int
    attachment_bytes: int

    def as_json(self) -> dict[str, object]:
        return {
            "cutoff": self.cutoff.isoformat(),
            "dry_run": self.dry_run,
            "raw_messages": self.raw_messages,
            "raw_bytes": self.raw_bytes,
            "attachments": self.attachments,
            "attachment_bytes": self.attachment_bytes,
        }


def purge(
    sessions: sessionmaker[Session],
    older_than: timedelta,
    *,
    dry_run: bool,
    now: datetime | None = None,
) -> PurgeReport:
    """Set to NULL the stored bytes of mail older than ``older_than`` whose ticket is closed
    or that has no ticket, in one transaction; with ``dry_run`` only count them."""
    if older_than <= timedelta(0):
        raise ValueError(f"retention period must be positive, not {older_than}")
    cutoff = (now or utcnow()) - older_than
    raws, attachments = _purgeable_raws(cutoff), _purgeable_attachments(cutoff)
    with sessions.begin() as session:
        raw_rows, raw_bytes = _count(session, m.RawMessage.data, raws)
        attachment_rows, attachment_bytes = _count(session, m.Attachment.data, attachments)
        if not dry_run:
            # Rows are not loaded: nothing in this session holds them to synchronise.
            options = {"synchronize_session": False}
            session.execute(
                update(m.RawMessage).where(raws).values(data=None), execution_options=options
            )
            session.execute(
                update(m.Attachment).where(attachments).values(data=None), execution_options=options
            )
    return PurgeReport(cutoff, dry_run, raw_rows, raw_bytes, attachment_rows, attachment_bytes)


def _ticket_kept(cutoff: datetime) -> ColumnElement[bool]:
    """The ticket still needs its messages' bytes: open, or closed within the period."""
    return or_(m.Ticket.state.not_in(CLOSED_STATES), m.Ticket.updated_at >= cutoff)


def _purgeable_raws(cutoff: datetime) -> ColumnElement[bool]:
    kept_ticket_message = (
        select(m.Message.id)
        .join(m.Ticket, m.Message.ticket_id == m.Ticket.id)
        .where(m.Message.raw_id == m.RawMessage.id, _ticket_kept(cutoff))
    )
    return and_(
        m.RawMessage.data.is_not(None),
        m.RawMessage.outcome.is_not(None),
        m.RawMessage.received_at < cutoff,
        not_(exists(kept_ticket_message)),
    )


def _purgeable_attachments(cutoff: datetime) -> ColumnElement[bool]:
    old_messages = (
        select(m.Message.id)
        .outerjoin(m.Ticket, m.Message.ticket_id == m.Ticket.id)
        .where(
            m.Message.created_at < cutoff,
            or_(m.Message.ticket_id.is_(None), not_(_ticket_kept(cutoff))),
        )
    )
    return and_(m.Attachment.data.is_not(None), m.Attachment.message_id.in_(old_messages))


def _count(
    session: Session, data: InstrumentedAttribute[bytes | None], where: ColumnElement[bool]
) -> tuple[int, int]:
    # length() of a BLOB (SQLite) and of a bytea (PostgreSQL) is its size in bytes.
    query = select(func.count(), func.coalesce(func.sum(func.length(data)), 0)).where(where)
    rows, size = session.execute(query).one()
    return int(rows), int(size)
