"""Loop protection: caps on automatic mail, and the operator told once when one is reached.

RFC 3834 headers stop loops with well-behaved robots (mailproc.mail.machine); these caps
stop the rest, such as an auto-responder that answers every mail without saying so. Each
guard looks at a notice about to be queued and returns why it must stay unsent (a Hold),
or None. The caps ([limits] in the configuration) count the outbox over a sliding window:

    sender    replies_per_sender_per_day    mail to one address in 24 hours
    ticket    replies_per_ticket_per_hour   mail about one ticket in the last hour, to anyone
    overall   replies_per_hour              all mail in the last hour

Mail to staff (``internal``: routing areas, reminders) is exempt from the sender cap, as a
busy area rightly gets hundreds a day; it counts toward and is held by the ticket and
overall caps, since a loop through an area's auto-responder runs through a ticket too.

The guards take plain data: the counts come in the notice's tally (store.mail_tally: one
statement answers every guard of a notice, see mailproc.outgoing.notices.read_tally).

An alert's key names the cap, what reached it and the calendar period (UTC hour, or UTC day
for the sender cap) it was reached in: the same condition in the same period is told once,
whichever worker, and however many messages, met it.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mailproc.config import Config
from mailproc.logsafe import mask
from mailproc.outgoing.notice import Notice
from mailproc.storage import store

log = logging.getLogger(__name__)

HOUR, DAY = timedelta(hours=1), timedelta(days=1)


@dataclass(frozen=True)
class Hold:
    """Why a notice stays unsent: ``reason`` goes on the ticket's reply_held event. When
    the operator must be told, ``alert`` is the alert's key (told once per key), ``detail``
    its data (the cap, its limit, the ticket code or the address) and ``about`` says what
    reached the cap in words fit for the log (no personal data)."""

    reason: str
    detail: Mapping[str, object] = field(default_factory=dict)
    alert: str | None = None
    about: str = ""


def sender_cap(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> Hold | None:
    """An address gets so many automatic replies in 24 hours, then none until the oldest of
    them leave that window."""
    limit = config.loop_caps.replies_per_sender_per_day
    if notice.internal or tally.to_address < limit:
        return None
    # A digest keeps the key short (an address may be longer than the key column) and keeps
    # the address out of it.
    digest = hashlib.sha256(notice.to.encode()).hexdigest()[:16]
    return Hold(
        "cap:sender",
        {"cap": "sender", "limit": limit, "address": notice.to},
        alert=f"cap:sender:{digest}:{_utc(now):%Y-%m-%d}",
        about=f"address {mask(notice.to)} had {limit} automatic mails in 24 hours",
    )


def ticket_cap(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> Hold | None:
    """A ticket gets so many automatic mails an hour, to anyone: people discussing a ticket
    write far less often than a robot answering each of our mails."""
    limit = config.loop_caps.replies_per_ticket_per_hour
    ticket = notice.ticket
    if ticket is None or tally.ticket < limit:
        return None
    return Hold(
        "cap:ticket",
        {"cap": "ticket", "limit": limit, "code": ticket.code},
        alert=f"cap:ticket:{ticket.code}:{_utc(now):%Y-%m-%dT%H}",
        about=f"ticket {ticket.code} had {limit} automatic mails in an hour",
    )


def overall_cap(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> Hold | None:
    """The desk sends so many automatic mails an hour in all: the circuit breaker for loops
    the other caps cannot see (many senders, many tickets)."""
    limit = config.loop_caps.replies_per_hour
    if tally.overall < limit:
        return None
    return Hold(
        "cap:overall",
        {"cap": "overall", "limit": limit},
        alert=f"cap:overall:{_utc(now):%Y-%m-%dT%H}",
        about=f"the desk sent {limit} automatic mails in an hour",
    )


def log_alert(hold: Hold) -> None:
    """The one log line of an alert (its key is recorded: later holds stay silent)."""
    log.warning(
        "loop cap reached: %s; further automatic mail is held back until the period ends "
        "(alert %s; messages are still recorded)",
        hold.about,
        hold.alert,
    )


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
