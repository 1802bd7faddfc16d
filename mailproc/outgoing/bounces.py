"""Bounces: a delivery report tied to the mail of ours it returns, and failing addresses.

A report is believed only as far as the outbox backs it. It is tied to one mail we sent (by
the returned message's Message-ID, else by the report's own In-Reply-To/References), and
only that mail's recipients are marked failing: a forged report cannot silence an address
we never wrote to. A failing address gets no automatic reply until it writes to us again.
"""

from __future__ import annotations

import email
import logging
from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import Row, bindparam, delete, func, select
from sqlalchemy.orm import Session

from mailproc.config import Config
from mailproc.decision.values import Outcome
from mailproc.mail.machine import (
    bounced_recipients,
    delivery_statuses,
    looks_like_bounce,
    returned_message_id,
)
from mailproc.mail.message import InboundMessage
from mailproc.outgoing.loops import Hold
from mailproc.outgoing.notice import Notice
from mailproc.storage import models as m
from mailproc.storage import store

log = logging.getLogger(__name__)

HELD_REASON = "failing address"


@dataclass(frozen=True)
class Bounce:
    """What a delivery report says: who failed for good, why, and which mail it returns.

    ``thread`` holds the Message-IDs that may name our mail, the most telling first: the
    returned message's own, then the report's In-Reply-To and References (newest first).
    ``statuses`` maps a failed recipient to its DSN status and diagnostic, when given.
    """

    failed: frozenset[str]
    thread: tuple[str, ...]
    statuses: dict[str, str]


def read_bounce(message: InboundMessage, raw: bytes) -> Bounce:
    """The report in a message that looks like a bounce (machine_mail.looks_like_bounce)."""
    source = email.message_from_bytes(raw)
    ids = (returned_message_id(source), message.in_reply_to, *reversed(message.references))
    return Bounce(
        failed=frozenset(bounced_recipients(source)),
        thread=tuple(dict.fromkeys(i for i in ids if i)),
        statuses=delivery_statuses(source),
    )


def record_bounce(session: Session, row: m.Message, message: InboundMessage, now: datetime) -> None:
    """For an ignored message that is a bounce: mark who failed, and note it on the ticket.

    A report tied to none of our mail marks nobody: it may be forged, or return mail that
    someone else sent from our address; the log line is all it leaves.
    """
    if not looks_like_bounce(message):  # cheap: spares loading the raw bytes of other mail
        return
    bounce = read_bounce(message, session.get_one(m.RawMessage, row.raw_id).data or b"")
    mail = returned_mail(session, bounce.thread)
    if mail is None:
        log.info(
            "bounce of no mail of ours (%d addresses named): nobody marked", len(bounce.failed)
        )
        return
    sent_to = {address.lower() for address in mail.recipients}
    if bounce.failed - sent_to:
        log.warning("bounce of outbox mail %d names addresses it was not sent to: ignored", mail.id)
    failed = sorted(bounce.failed & sent_to)
    if not failed:  # a delay warning, or a report the scanner cannot read
        return
    for address in failed:
        mark_failing(session, address, mail.id, bounce.statuses.get(address, ""), now)
    ticket = session.get(m.Ticket, mail.ticket_id) if mail.ticket_id else None
    statuses = {a: bounce.statuses[a] for a in failed if a in bounce.statuses}
    store.add_event(
        session, "bounced", ticket=ticket, message=row, outbox_id=mail.id,
        purpose=mail.purpose, recipients=failed, statuses=statuses,
    )  # fmt: skip
    log.info("bounce of outbox mail %d: %d addresses now failing", mail.id, len(failed))


def returned_mail(
    session: Session, thread: tuple[str, ...]
) -> Row[int, str, int | None, str, list[str]] | None:
    """The mail of ours named first in ``thread`` (its id, ticket, purpose and recipients:
    not its bytes), or None."""
    if not thread:
        return None
    outbox = m.OutboxMail
    columns = (outbox.id, outbox.message_id, outbox.ticket_id, outbox.purpose, outbox.recipients)
    found = session.execute(select(*columns).where(outbox.message_id.in_(thread)))
    by_id = {mail.message_id: mail for mail in found}
    return next((by_id[i] for i in thread if i in by_id), None)


def mark_failing(
    session: Session, address: str, outbox_id: int, reason: str, now: datetime
) -> None:
    """Add the address to the failing ones, or count one more bounce from it (one upsert:
    of two workers reading bounces of the same address at once, the second counts on)."""
    latest = {"last_bounce_at": now, "outbox_id": outbox_id, "reason": reason}
    statement = store.upsert_into(session.get_bind().dialect.name)(m.FailingAddress).values(
        email=address, since=now, bounces=1, **latest
    )
    session.execute(
        statement.on_conflict_do_update(
            index_elements=["email"],
            set_={"bounces": m.FailingAddress.bounces + 1, **latest},
        )
    )


def failing_recipient(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> Hold | None:
    """A guard (mailproc.outgoing.notices.GUARDS): no automatic reply to an address our mail bounced
    from. Mail to staff (``internal``) still goes: their address is the operator's to fix."""
    if notice.internal or notice.to.lower() not in tally.failing:
        return None
    return Hold(HELD_REASON)


def without_failing_copies(notice: Notice, failing: frozenset[str]) -> Notice:
    """``notice`` without the copies to addresses our mail bounced from (``failing``, lower
    case): a participant whose mailbox is gone must not keep the reply to everyone else
    from going out."""
    if notice.internal or not notice.cc:
        return notice
    left_out = {a.lower() for a in notice.cc} & failing
    if not left_out:
        return notice
    log.info("%d failing addresses left out of the copies of a %s", len(left_out), notice.purpose)
    return replace(notice, cc=tuple(a for a in notice.cc if a.lower() not in left_out))


def restore(session: Session, message: InboundMessage, outcome: Outcome) -> int | None:
    """A failing address that writes to us again (not as machine mail) is failing no more.

    Call it before the message's outcome is applied, so the reply to it is not held back.
    Returns how many bounces the address had, or None when it was not failing. One DELETE
    ... RETURNING (SQLite 3.35+, PostgreSQL): of two workers restoring the same address at
    once, the second waits for the first to commit, then finds no row.
    """
    if outcome is Outcome.IGNORED or message.sender is None:
        return None
    address = message.sender.email.lower()
    bounces: int | None = session.connection().execute(_RESTORE, {"address": address}).scalar()
    if bounces is None:
        return None
    log.info("a failing address wrote to us again: it gets replies again")
    return bounces


_FAILING = m.Base.metadata.tables[m.FailingAddress.__tablename__]
# Core on the table, run on the session's connection: the row is never loaded as an object.
_RESTORE = (
    delete(_FAILING).where(_FAILING.c.email == bindparam("address")).returning(_FAILING.c.bounces)
)


def failing_count(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(m.FailingAddress)) or 0
