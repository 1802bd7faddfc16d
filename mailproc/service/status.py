"""``mailproc status``: is the desk healthy? Database, mailboxes, outbox, deadlines."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, tzinfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from mailproc.config import ImapConfig
from mailproc.errors import StoreError
from mailproc.outgoing.bounces import failing_count
from mailproc.service.app import App
from mailproc.service.cli.output import desk_time
from mailproc.sources.imap import ImapMailbox, ImapUnavailable
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from mailproc.storage.schema import require_current
from mailproc.storage.store import count_by

# Mail that should have gone out this long ago means delivery is stuck.
OUTBOX_STUCK_AFTER = timedelta(hours=1)
# A mailbox not read successfully for this many poll intervals is unhealthy.
MISSED_POLLS = 5
OPEN_STATES = ("aberto", "aguardando_informacoes")
# Operator alerts (loop caps reached) this recent are shown, newest first, at most so many.
ALERTS_SINCE = timedelta(days=1)
ALERTS_SHOWN = 10


@dataclass
class MailboxStatus:
    name: str
    folder: str
    last_poll_at: datetime | None = None
    last_error: str | None = None
    # New UIDs since the last message read (an upper bound of the mail waiting); None when
    # the server was not asked.
    backlog: int | None = None
    uidvalidity: int = field(default=0, repr=False)
    last_uid: int = field(default=0, repr=False)


@dataclass
class AlertStatus:
    """An operator alert (mailproc.outgoing.loops): its key names the condition and its period."""

    key: str
    kind: str
    created_at: datetime
    detail: dict[str, object]


@dataclass
class Status:
    database: str = "ok"
    mailboxes: list[MailboxStatus] = field(default_factory=list)
    outbox_pending: int = 0
    outbox_oldest_due: datetime | None = None
    outbox_failed: int = 0
    outbox_uncertain: int = 0
    tickets_by_state: dict[str, int] = field(default_factory=dict)
    tickets_overdue: int = 0
    # Addresses our mail bounced from, held from automatic mail (mailproc.outgoing.bounces).
    failing_addresses: int = 0
    problems: list[str] = field(default_factory=list)
    # Not problems: the desk works as configured; an operator should still look at them.
    alerts: list[AlertStatus] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        data = asdict(self)
        for mailbox in data["mailboxes"]:
            del mailbox["uidvalidity"], mailbox["last_uid"]
        data["healthy"] = self.healthy
        return data


def collect(app: App, *, ask_servers: bool = True) -> Status:
    """Gather the status; every problem found is listed in ``problems``."""
    status = Status()
    try:
        require_current(app.engine)
    except StoreError as exc:
        status.database = str(exc)
        status.problems.append(f"database: {exc}")
        return status
    now, zone = utcnow(), app.config.desk.timezone
    with app.sessions() as session:
        _outbox(session, status, now, zone)
        _tickets(session, status, now)
        status.alerts = _alerts(session, now)
        status.failing_addresses = failing_count(session)
        status.mailboxes = [_mailbox(session, source) for source in app.config.imap]
    for source, mailbox in zip(app.config.imap, status.mailboxes, strict=True):
        unreachable = _measure_backlog(source, mailbox) if ask_servers else None
        problem = unreachable or _judge(mailbox, source.poll_seconds, now, zone)
        if problem:  # one per mailbox: what the server says now outranks what was recorded
            status.problems.append(f"mailbox {mailbox.name}: {problem}")
    return status


def _outbox(session: Session, status: Status, now: datetime, zone: tzinfo) -> None:
    pending = select(func.count(), func.min(m.OutboxMail.next_attempt_at)).where(
        m.OutboxMail.status == "pending"
    )
    # min() keeps the column's type, so the value comes back as aware UTC like the column.
    status.outbox_pending, status.outbox_oldest_due = session.execute(pending).one()
    by_status = count_by(session, m.OutboxMail.status)
    status.outbox_failed = by_status.get("failed", 0)
    status.outbox_uncertain = by_status.get("uncertain", 0)
    due = status.outbox_oldest_due
    if due is not None and now - due > OUTBOX_STUCK_AFTER:
        status.problems.append(f"outbox: mail due since {desk_time(due, zone)} not delivered")
    if status.outbox_uncertain:
        # Nothing resolves these by itself: an operator must say whether they arrived.
        status.problems.append(
            f"outbox: {status.outbox_uncertain} mails may not have been delivered (a worker"
            " stopped while sending them): see `mailproc outbox list --status uncertain`"
        )


def _tickets(session: Session, status: Status, now: datetime) -> None:
    status.tickets_by_state = count_by(session, m.Ticket.state)
    overdue = select(func.count()).where(m.Ticket.state.in_(OPEN_STATES), m.Ticket.due_at < now)
    status.tickets_overdue = session.scalar(overdue) or 0


def _alerts(session: Session, now: datetime) -> list[AlertStatus]:
    recent = (
        select(m.Alert)
        .where(m.Alert.created_at >= now - ALERTS_SINCE)
        .order_by(m.Alert.created_at.desc(), m.Alert.id.desc())
        .limit(ALERTS_SHOWN)
    )
    return [
        AlertStatus(a.key, a.kind, a.created_at, dict(a.detail)) for a in session.scalars(recent)
    ]


def _mailbox(session: Session, source: ImapConfig) -> MailboxStatus:
    name, folder = source.settings.name, source.settings.folder
    state = session.scalars(select(m.MailboxState).filter_by(mailbox=name, folder=folder)).first()
    if state is None:
        return MailboxStatus(name, folder)
    return MailboxStatus(
        name,
        folder,
        state.last_poll_at,
        state.last_error,
        uidvalidity=state.uidvalidity,
        last_uid=state.last_uid,
    )


def _judge(mailbox: MailboxStatus, poll_seconds: int, now: datetime, zone: tzinfo) -> str | None:
    """What is wrong with the service's reading of ``mailbox``, as its last read recorded
    (the service records each read as it ends: a recovery shows at once)."""
    if mailbox.last_error:
        return mailbox.last_error
    if mailbox.last_poll_at is None:
        return "never read"
    if now - mailbox.last_poll_at > timedelta(seconds=poll_seconds * MISSED_POLLS):
        return f"last read at {desk_time(mailbox.last_poll_at, zone)}"
    return None


def _measure_backlog(source: ImapConfig, mailbox: MailboxStatus) -> str | None:
    """Asks the server how much mail waits; the reason it cannot be asked, if so."""
    try:
        with ImapMailbox(source.settings) as box:
            server = box.state()
    except ImapUnavailable as exc:
        return exc.reason
    read = mailbox.last_uid if server.uidvalidity == mailbox.uidvalidity else 0
    mailbox.backlog = max(0, server.last_uid - read)
    return None
