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

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

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
    """Send every mail that is due now; returns what happened to them."""
    report = DeliveryReport()
    while ids := _claim(sessions, utcnow()):
        for outbox_id in ids:
            _deliver_one(sessions, sender, policy, outbox_id, report)
    return report


def _claim(sessions: sessionmaker[Session], now: datetime) -> list[int]:
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
        ).all()
        for row in rows:
            row.lease_owner, row.lease_until = WORKER, now + LEASE
        return [row.id for row in rows]


def _deliver_one(
    sessions: sessionmaker[Session],
    sender: Sender,
    policy: DeliveryConfig,
    outbox_id: int,
    report: DeliveryReport,
) -> None:
    with sessions.begin() as session:
        row = session.get_one(m.OutboxMail, outbox_id)
        raw, envelope_from, recipients = row.raw, row.sender, list(row.recipients)
    try:
        sender.send(raw, envelope_from, recipients)
    except DeliveryError as exc:
        _record_failure(sessions, policy, outbox_id, exc, report)
        return
    with sessions.begin() as session:
        row = session.get_one(m.OutboxMail, outbox_id)
        row.status, row.sent_at, row.attempts = "sent", utcnow(), row.attempts + 1
        row.lease_owner = row.lease_until = None
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
