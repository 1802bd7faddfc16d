"""Delivering the outbox: claim due mail with a lease, send it, record the result.

Each mail is marked sent in its own commit right after the server accepted it, so a restart
resends at most the one mail that was in flight at the moment of a crash. Temporary
failures are retried with exponential backoff; permanent ones are recorded on the ticket.
"""

from __future__ import annotations

import logging
import os
import socket
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

LEASE = timedelta(minutes=5)
BATCH = 50
WORKER = f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def deliver_due(
    sessions: sessionmaker[Session], sender: Sender, policy: DeliveryConfig
) -> DeliveryReport:
    """Send every mail that is due now; returns what happened to them.

    Each claimed batch goes out through one ``sender.batch()`` (one SMTP connection).
    """
    report = DeliveryReport()
    while due := _claim(sessions, utcnow()):
        with sender.batch() as connection:
            for mail in due:
                _deliver_one(sessions, connection, policy, mail, report)
    return report


@dataclass(frozen=True)
class _Due:
    """A claimed mail's envelope, read in the claiming transaction (its bytes are read when
    it is sent: a batch of routed copies with attachments can be large)."""

    id: int
    sender: str
    recipients: list[str]


def _claim(sessions: sessionmaker[Session], now: datetime) -> list[_Due]:
    """Lease a batch of due mail to this worker (SKIP LOCKED lets other workers take others)."""
    with sessions.begin() as session:
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


def _deliver_one(
    sessions: sessionmaker[Session],
    sender: Sender,
    policy: DeliveryConfig,
    mail: _Due,
    report: DeliveryReport,
) -> None:
    with sessions() as session:  # read only: nothing to commit
        raw = session.scalars(select(m.OutboxMail.raw).where(m.OutboxMail.id == mail.id)).one()
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


def _record_failure(
    sessions: sessionmaker[Session],
    policy: DeliveryConfig,
    outbox_id: int,
    error: DeliveryError,
    report: DeliveryReport,
) -> None:
    with sessions.begin() as session:
        row = session.get_one(m.OutboxMail, outbox_id)
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
        row.next_attempt_at = utcnow() + timedelta(seconds=delay)
        log.warning("outbox %s: temporary failure (%s); retry in %ds", row.id, error.reason, delay)
        report.retrying += 1
