"""Delivering the outbox: claim due mail with a lease, send it, record the result.

SMTP has no two-phase commit: a worker killed between the server's 250 and our commit leaves
a mail that may or may not have gone out, and nothing can tell which. So a mail is marked
"sending", and that committed, before the server sees it, and marked "sent" right after the
server's 250, in the next commit the worker makes: the one that marks the next mail
"sending" (or claims the next batch, or hands back the rest). A crash at any point leaves
at most one mail "sending": the one the server may have. The runs of one process take turns
(``deliver_due``: the outbox job, and a drain's delivery beside it for each mailbox, are
threads), or a killed process would leave one per run. A mail still "sending" once its
worker's lease has expired is judged by ``[delivery] after_crash``: "hold" (the default:
never sent twice) makes it "uncertain", for an operator to resend or mark sent; "resend"
queues it again (it may then arrive twice).

Temporary failures are retried with exponential backoff; permanent ones are recorded on the
ticket.

The statements are built once, below, and run through one Connection held for the whole
run, not the ORM's unit of work: per mail, one commit of two UPDATEs (its "sending", the
previous mail's "sent"). `python -m bench.delivery` measures it.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import BindParameter, Connection, bindparam, func, insert, or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from mailproc.config import DeliveryConfig
from mailproc.errors import DeliveryError
from mailproc.logsafe import fields
from mailproc.outgoing.delivery import Sender
from mailproc.storage import models as m
from mailproc.storage.db import utcnow

log = logging.getLogger(__name__)

# A claim, and a started send, are this worker's for this long; it must exceed the longest
# SMTP transaction, or a slow send is judged abandoned while it is still going on.
LEASE = timedelta(minutes=5)
# Small: a killed worker's claim keeps at most this many mails waiting out the lease.
BATCH = 10
WORKER = f"{socket.gethostname()}:{os.getpid()}"
# Held for a whole delivery run: one mail "sending" per process (see the docstring).
_ONE_RUN_AT_A_TIME = threading.Lock()


@dataclass
class DeliveryReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    uncertain: int = 0  # found abandoned mid-send and held for an operator

    @property
    def attempted(self) -> int:
        """Mails sent or tried (not those judged uncertain, which nobody tried now)."""
        return self.sent + self.retrying + self.failed

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.retrying += other.retrying
        self.failed += other.failed
        self.uncertain += other.uncertain


def deliver_due(
    sessions: sessionmaker[Session],
    sender: Sender,
    policy: DeliveryConfig,
    stopping: threading.Event | None = None,
) -> DeliveryReport:
    """Send every mail that is due now; returns what happened to them.

    The mails share one ``sender.batch()`` (one SMTP connection) and one database
    connection. When ``stopping`` is set (SIGTERM), the mail in hand is finished and the
    rest of the claim handed back at once. A run waits for another run of this process to
    end first.
    """
    report = DeliveryReport()
    with sessions() as session:
        engine = session.get_bind().engine
    with _ONE_RUN_AT_A_TIME, sender.batch() as connection, engine.connect() as db:
        outbox = _Outbox(db, policy, report)
        try:
            while not _stopped(stopping) and (due := outbox.claim()):
                _deliver_claimed(outbox, connection, due, stopping)
        finally:
            outbox.record_sent()
    return report


@dataclass(frozen=True)
class _Due:
    """A claimed mail's envelope, read in the claiming transaction (its bytes are read when
    it is sent: a batch of routed copies with attachments can be large)."""

    id: int
    message_id: str
    sender: str
    recipients: list[str]


def _stopped(stopping: threading.Event | None) -> bool:
    return stopping is not None and stopping.is_set()


def _deliver_claimed(
    outbox: _Outbox,
    sender: Sender,
    due: Sequence[_Due],
    stopping: threading.Event | None,
) -> None:
    """Send a claimed batch in order. Whatever is not started when it stops (SIGTERM, or an
    unexpected error) is handed back now rather than held until the lease expires."""
    left = deque(due)
    try:
        while left and not _stopped(stopping):
            mail = left[0]
            raw = outbox.start(mail.id)
            left.popleft()  # started, or taken over: no longer this claim's to hand back
            if raw is None:
                log.warning(
                    "outbox %s: this worker's claim expired and was taken over; skipped", mail.id
                )
                continue
            try:
                answer = sender.send(raw, mail.sender, mail.recipients)
            except DeliveryError as exc:
                outbox.failed(mail, exc)
                continue
            outbox.sent(mail, answer)
    finally:
        if left:
            outbox.hand_back([mail.id for mail in left])


_OUTBOX = m.Base.metadata.tables["outbox"]
_T = _OUTBOX.c
_TIME = _T.lease_until.type  # UTCDateTime: naive UTC in the database, whatever the dialect


def _at(name: str) -> BindParameter[datetime]:
    return bindparam(name, type_=_TIME)


# Mail left "sending" whose worker's lease has expired; locked rows are another worker's.
_ABANDONED = (
    select(_T.id, _T.ticket_id, _T.recipients, _T.next_attempt_at, _T.lease_owner)
    .where(_T.status == "sending", _T.lease_until < _at("now"))
    .with_for_update(skip_locked=True)
)
_JUDGED = (
    update(_OUTBOX)
    .where(_T.id == bindparam("mail"))
    .values(status=bindparam("to"), lease_owner=None, lease_until=None)
)
_CLAIMABLE = (
    select(_T.id, _T.message_id, _T.sender, _T.recipients)
    .where(
        _T.status == "pending",
        _T.next_attempt_at <= _at("now"),
        or_(_T.lease_until.is_(None), _T.lease_until < _at("now")),
    )
    .order_by(_T.id)
    .limit(BATCH)
    .with_for_update(skip_locked=True)
)
_LEASE = (
    update(_OUTBOX)
    .where(_T.id.in_(bindparam("mails", expanding=True)))
    .values(lease_owner=bindparam("worker"), lease_until=_at("until"))
)
# "sending" only if this worker still holds the claim; then its bytes, from their own row
# (models.OutboxBody: the status change does not rewrite them).
_START = (
    update(_OUTBOX)
    .where(
        _T.id == bindparam("mail"), _T.status == "pending", _T.lease_owner == bindparam("worker")
    )
    .values(status="sending", next_attempt_at=_at("now"), lease_until=_at("until"))
)
_BODIES = m.Base.metadata.tables["outbox_bodies"]
_BYTES = select(_BODIES.c.raw).where(_BODIES.c.outbox_id == bindparam("mail"))
_SENT = (
    update(_OUTBOX)
    .where(_T.id == bindparam("mail"))
    .values(
        status="sent",
        sent_at=_at("now"),
        attempts=_T.attempts + 1,
        lease_owner=None,
        lease_until=None,
    )
)
_RELEASE = (
    update(_OUTBOX)
    .where(
        _T.id.in_(bindparam("mails", expanding=True)),
        _T.status == "pending",
        _T.lease_owner == bindparam("worker"),
    )
    .values(lease_owner=None, lease_until=None)
)
# A failed attempt: "failed" for good, or "pending" again at ``retry_at`` (None keeps the
# time of the attempt, as a failed mail has no next one).
_ATTEMPT_FAILED = (
    update(_OUTBOX)
    .where(_T.id == bindparam("mail"))
    .values(
        status=bindparam("status"),
        attempts=bindparam("tries"),
        last_error=bindparam("error"),
        next_attempt_at=func.coalesce(_at("retry_at"), _T.next_attempt_at),
        lease_owner=None,
        lease_until=None,
    )
)
_ATTEMPTS = select(_T.attempts, _T.ticket_id).where(_T.id == bindparam("mail"))
_EVENT = insert(m.Base.metadata.tables["events"])


class _Outbox:
    """The database side of a delivery run, on one connection. Each method is one
    transaction, which also commits the "sent" mark of the mail the server last took: that
    mark is due in the very next commit, whatever it is for."""

    def __init__(self, db: Connection, policy: DeliveryConfig, report: DeliveryReport) -> None:
        self._db, self._policy, self._report = db, policy, report
        self._taken: tuple[int, datetime] | None = None  # by the server; not yet committed

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        with self._db.begin():
            if self._taken is not None:
                mail, at = self._taken
                self._db.execute(_SENT, {"mail": mail, "now": at})
            yield self._db
        self._taken = None  # committed (on an error it is tried again by the next one)

    def claim(self) -> list[_Due]:
        """Lease a batch of due mail to this worker (SKIP LOCKED lets other workers take
        others), after judging the sends that other workers abandoned."""
        now = utcnow()
        with self._transaction() as db:
            self._report.uncertain += self._judge_abandoned(db, now)
            rows = db.execute(_CLAIMABLE, {"now": now}).all()
            if rows:
                lease = {"mails": [row.id for row in rows], "worker": WORKER, "until": now + LEASE}
                db.execute(_LEASE, lease)
        return [_Due(row.id, row.message_id, row.sender, list(row.recipients)) for row in rows]

    def start(self, outbox_id: int) -> bytes | None:
        """Commit that the attempt starts, before the server sees the mail: "sending",
        attempted now (``next_attempt_at``), the lease renewed for the send. Returns the
        mail's bytes, or None when this worker no longer holds the claim."""
        now = utcnow()
        start = {"mail": outbox_id, "worker": WORKER, "now": now, "until": now + LEASE}
        with self._transaction() as db:
            if db.execute(_START, start).rowcount != 1:
                return None
            raw: bytes = db.execute(_BYTES, {"mail": outbox_id}).scalar_one()
        return raw

    def sent(self, mail: _Due, answer: str) -> None:
        """The server took the mail (250): "sent" goes into the next commit. One line says
        so, with what the relay calls it (``answer``), to follow it in the relay's log."""
        self._taken = (mail.id, utcnow())
        self._report.sent += 1
        log.info(
            "outbox delivered",
            extra=fields(outbox=mail.id, message_id=mail.message_id, relay=answer),
        )

    def record_sent(self) -> None:
        """Commit a "sent" mark still waiting for a commit (at the end of a run)."""
        if self._taken is not None:
            with self._transaction():
                pass

    def hand_back(self, outbox_ids: list[int]) -> None:
        """Hand back claimed mail that was not started, so any worker may take it now."""
        with self._transaction() as db:
            db.execute(_RELEASE, {"mails": outbox_ids, "worker": WORKER})
        log.info("outbox: %d claimed mails handed back unsent", len(outbox_ids))

    def failed(self, mail: _Due, error: DeliveryError) -> None:
        """A failed attempt: retried later with backoff, or failed for good (on the
        ticket's history) when permanent or out of attempts."""
        reason = error.reason[:2000]
        with self._transaction() as db:
            attempts, ticket_id = db.execute(_ATTEMPTS, {"mail": mail.id}).one()
            tries = attempts + 1
            attempt = {"mail": mail.id, "tries": tries, "error": reason}
            if error.permanent or tries >= self._policy.max_attempts:
                db.execute(_ATTEMPT_FAILED, {**attempt, "status": "failed", "retry_at": None})
                detail = {"outbox": mail.id, "to": mail.recipients, "error": reason}
                db.execute(
                    _EVENT, {"ticket_id": ticket_id, "kind": "delivery_failed", "detail": detail}
                )
                log.error(
                    "outbox failed permanently after %d attempts: %s",
                    tries,
                    error.reason,
                    extra=fields(outbox=mail.id, message_id=mail.message_id),
                )
                self._report.failed += 1
                return
            policy = self._policy
            delay = min(policy.retry_base_seconds * 2 ** (tries - 1), policy.retry_max_seconds)
            retry_at = utcnow() + timedelta(seconds=delay)
            db.execute(_ATTEMPT_FAILED, {**attempt, "status": "pending", "retry_at": retry_at})
        log.warning(
            "outbox temporary failure (%s); retry in %ds",
            error.reason,
            delay,
            extra=fields(outbox=mail.id, message_id=mail.message_id),
        )
        self._report.retrying += 1

    def _judge_abandoned(self, db: Connection, now: datetime) -> int:
        """Mail left "sending" by a worker that died, once its lease has expired (never
        before: the worker may still be talking to the server). Under "hold" it becomes
        "uncertain", with an event on its ticket; under "resend" it is pending again. The
        rows are locked, so each is judged once, by one worker. Returns how many became
        uncertain."""
        uncertain = 0
        for row in db.execute(_ABANDONED, {"now": now}).all():
            if self._policy.after_crash == "resend":
                db.execute(_JUDGED, {"mail": row.id, "to": "pending"})
                log.warning(
                    "outbox %s: %s stopped while sending it; sending it again",
                    row.id,
                    row.lease_owner,
                )
                continue
            db.execute(_JUDGED, {"mail": row.id, "to": "uncertain"})
            attempt = {
                "outbox": row.id,
                "to": row.recipients,
                "attempted_at": row.next_attempt_at.isoformat(),
                "worker": row.lease_owner,
            }
            db.execute(
                _EVENT,
                {"ticket_id": row.ticket_id, "kind": "delivery_uncertain", "detail": attempt},
            )
            log.error(
                "outbox %s: %s stopped while sending it, so it may or may not have been"
                " delivered; held as uncertain (see `mailproc outbox list --status uncertain`)",
                row.id,
                row.lease_owner,
            )
            uncertain += 1
        return uncertain
