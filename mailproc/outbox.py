"""Delivering the outbox: claim due mail with a lease, send it, record the result.

SMTP has no two-phase commit: a worker killed between the server's 250 and our commit leaves
a mail that may or may not have gone out, and nothing can tell which. So each mail is marked
"sending" in its own commit before the server sees it, and "sent" in another right after. A
mail still "sending" once its worker's lease has expired is judged by ``[delivery]
after_crash``: "hold" (the default: never sent twice) makes it "uncertain", for an operator
to resend or mark sent; "resend" queues it again (it may then arrive twice).

Temporary failures are retried with exponential backoff; permanent ones are recorded on the
ticket.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, defer, sessionmaker

from mailproc import models as m
from mailproc.config import DeliveryConfig
from mailproc.db import utcnow
from mailproc.delivery import Sender
from mailproc.errors import DeliveryError

log = logging.getLogger(__name__)

# Every status an outbox mail can have (pending -> sending -> sent | failed | uncertain).
STATUSES = ("pending", "sending", "sent", "failed", "uncertain")
# A claim, and a started send, are this worker's for this long; it must exceed the longest
# SMTP transaction, or a slow send is judged abandoned while it is still going on.
LEASE = timedelta(minutes=5)
# Small: a killed worker's claim keeps at most this many mails waiting out the lease.
BATCH = 10
WORKER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0  # found abandoned mid-send and held for an operator


def deliver_due(
    sessions: sessionmaker[Session],
    sender: Sender,
    policy: DeliveryConfig,
    stopping: threading.Event | None = None,
) -> DeliveryReport:
    """Send every mail that is due now; returns what happened to them.

    The mails share one ``sender.batch()`` (one SMTP connection). When ``stopping`` is set
    (SIGTERM), the mail in hand is finished and the rest of the claim handed back at once.
    """
    report = DeliveryReport()
    with sender.batch() as connection:
        while not _stopped(stopping) and (due := _claim(sessions, policy, utcnow(), report)):
            _deliver_claimed(sessions, connection, policy, due, report, stopping)
    return report


@dataclass(frozen=True)
class _Due:
    """A claimed mail's envelope, read in the claiming transaction (its bytes are read when
    it is sent: a batch of routed copies with attachments can be large)."""

    id: int
    sender: str
    recipients: list[str]


def _stopped(stopping: threading.Event | None) -> bool:
    return stopping is not None and stopping.is_set()


def _claim(
    sessions: sessionmaker[Session], policy: DeliveryConfig, now: datetime, report: DeliveryReport
) -> list[_Due]:
    """Lease a batch of due mail to this worker (SKIP LOCKED lets other workers take others),
    after judging the sends that other workers abandoned."""
    with sessions.begin() as session:
        report.uncertain += _judge_abandoned(session, policy, now)
        rows = session.scalars(
            select(m.OutboxMail)
            .where(
                m.OutboxMail.status == "pending",
                m.OutboxMail.next_attempt_at <= now,
                or_(m.OutboxMail.lease_until.is_(None), m.OutboxMail.lease_until < now),
            )
            .order_by(m.OutboxMail.id)
            .limit(BATCH)
            .with_for_update(skip_locked=True)
            .options(defer(m.OutboxMail.raw))
        ).all()
        for row in rows:
            row.lease_owner, row.lease_until = WORKER, now + LEASE
        return [_Due(row.id, row.sender, list(row.recipients)) for row in rows]


def _judge_abandoned(session: Session, policy: DeliveryConfig, now: datetime) -> int:
    """Mail left "sending" by a worker that died, once its lease has expired (never before:
    the worker may still be talking to the server). Under "hold" it becomes "uncertain",
    with an event on its ticket; under "resend" it is pending again. The rows are locked,
    so each is judged once, by one worker. Returns how many became uncertain."""
    abandoned = session.scalars(
        select(m.OutboxMail)
        .where(m.OutboxMail.status == "sending", m.OutboxMail.lease_until < now)
        .with_for_update(skip_locked=True)
        .options(defer(m.OutboxMail.raw))
    ).all()
    for row in abandoned:
        worker, row.lease_owner, row.lease_until = row.lease_owner, None, None
        if policy.after_crash == "resend":
            row.status = "pending"
            log.warning("outbox %s: %s stopped while sending it; sending it again", row.id, worker)
        else:
            _hold(session, row, worker)
    return sum(row.status == "uncertain" for row in abandoned)


def _hold(session: Session, row: m.OutboxMail, worker: str | None) -> None:
    """An abandoned send under "hold": uncertain, on the ticket's history, logged once."""
    row.status = "uncertain"
    attempt = {
        "outbox": row.id,
        "to": row.recipients,
        "attempted_at": row.next_attempt_at.isoformat(),
        "worker": worker,
    }
    session.add(m.Event(ticket_id=row.ticket_id, kind="delivery_uncertain", detail=attempt))
    log.error(
        "outbox %s: %s stopped while sending it, so it may or may not have been delivered;"
        " held as uncertain (see `mailproc outbox list --status uncertain`)",
        row.id,
        worker,
    )


def _deliver_claimed(
    sessions: sessionmaker[Session],
    sender: Sender,
    policy: DeliveryConfig,
    due: Sequence[_Due],
    report: DeliveryReport,
    stopping: threading.Event | None,
) -> None:
    """Send a claimed batch in order. Whatever is not started when it stops (SIGTERM, or an
    unexpected error) is handed back now rather than held until the lease expires."""
    left = deque(due)
    try:
        while left and not _stopped(stopping):
            _deliver_one(sessions, sender, policy, left[0], report)
            left.popleft()
    finally:
        if left:
            _release(sessions, [mail.id for mail in left])


def _deliver_one(
    sessions: sessionmaker[Session],
    sender: Sender,
    policy: DeliveryConfig,
    mail: _Due,
    report: DeliveryReport,
) -> None:
    raw = _start_sending(sessions, mail.id)
    if raw is None:
        log.warning("outbox %s: this worker's claim expired and was taken over; skipped", mail.id)
        return
    try:
        sender.send(raw, mail.sender, mail.recipients)
    except DeliveryError as exc:
        _record_failure(sessions, policy, mail.id, exc, report)
        return
    # Its own commit, right after the server took it: one UPDATE, the row is not read back.
    with sessions.begin() as session:
        session.execute(
            update(m.OutboxMail)
            .where(m.OutboxMail.id == mail.id)
            .values(
                status="sent",
                sent_at=utcnow(),
                attempts=m.OutboxMail.attempts + 1,
                lease_owner=None,
                lease_until=None,
            )
        )
    report.sent += 1


def _start_sending(sessions: sessionmaker[Session], outbox_id: int) -> bytes | None:
    """Commit that the attempt starts, before the server sees the mail: "sending", attempted
    now (``next_attempt_at``), the lease renewed for the send. Returns the mail's bytes (the
    same statement reads them), or None when this worker no longer holds the claim."""
    now = utcnow()
    with sessions.begin() as session:
        raw: bytes | None = session.scalars(
            update(m.OutboxMail)
            .where(
                m.OutboxMail.id == outbox_id,
                m.OutboxMail.status == "pending",
                m.OutboxMail.lease_owner == WORKER,
            )
            .values(status="sending", next_attempt_at=now, lease_until=now + LEASE)
            .returning(m.OutboxMail.raw)
            .execution_options(synchronize_session=False)
        ).first()
    return raw


def _release(sessions: sessionmaker[Session], outbox_ids: list[int]) -> None:
    """Hand back claimed mail that was not started, so any worker may take it now."""
    with sessions.begin() as session:
        session.execute(
            update(m.OutboxMail)
            .where(
                m.OutboxMail.id.in_(outbox_ids),
                m.OutboxMail.status == "pending",
                m.OutboxMail.lease_owner == WORKER,
            )
            .values(lease_owner=None, lease_until=None)
            .execution_options(synchronize_session=False)
        )
    log.info("outbox: %d claimed mails handed back unsent", len(outbox_ids))


def _record_failure(
    sessions: sessionmaker[Session],
    policy: DeliveryConfig,
    outbox_id: int,
    error: DeliveryError,
    report: DeliveryReport,
) -> None:
    with sessions.begin() as session:
        row = session.get_one(m.OutboxMail, outbox_id, options=[defer(m.OutboxMail.raw)])
        row.attempts += 1
        row.last_error = error.reason[:2000]
        row.lease_owner = row.lease_until = None
        if error.permanent or row.attempts >= policy.max_attempts:
            row.status = "failed"
            session.add(
                m.Event(
                    ticket_id=row.ticket_id,
                    kind="delivery_failed",
                    detail={"outbox": row.id, "to": row.recipients, "error": row.last_error},
                )
            )
            log.error(
                "outbox %s failed permanently after %d attempts: %s",
                row.id,
                row.attempts,
                error.reason,
            )
            report.failed += 1
            return
        delay = min(policy.retry_base_seconds * 2 ** (row.attempts - 1), policy.retry_max_seconds)
        row.status = "pending"
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.warning("outbox %s: temporary failure (%s); retry in %ds", row.id, error.reason, delay)
        report.retrying += 1
