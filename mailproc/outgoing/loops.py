"""Loop protection: caps on automatic mail, and the operator told once when one is reached.

RFC 3834 headers stop loops with well-behaved robots (mailproc.mail.machine); these caps
stop the rest, such as an auto-responder that answers every mail without saying so. Each
guard looks at a notice about to be queued and returns why it must stay unsent (a Hold),
or None. The caps ([limits] in the configuration) count the outbox over a sliding window:

    sender    replies_per_sender_per_day    mail to one mailbox in 24 hours
    domain    replies_per_domain_per_hour   mail to one domain in the last hour
    ticket    replies_per_ticket_per_hour   mail about one ticket in the last hour, to anyone
    overall   replies_per_hour              all mail in the last hour

A mailbox is counted whatever its address says on top of it (mailbox_of): a robot that
answers from robo+1@, robo+2@... is one sender. One that answers from any name of its domain
is stopped by the domain cap, sized for the many servidores of one organisation who rightly
write the same hour (LoopCaps).

Mail to staff (``internal``: routing areas, reminders) is exempt from the sender and domain
caps, as a busy area rightly gets hundreds a day, and does not count toward the domain cap,
as areas often share a domain with requesters; it counts toward and is held by the ticket
and overall caps, since a loop through an area's auto-responder runs through a ticket too.
The operator address gets alerts and nothing else (operator_only): mail from it is recorded
but never answered, so an auto-responder behind it cannot start a loop with the desk.

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
from mailproc.mail.addresses import domain_of, untagged
from mailproc.outgoing.notice import Notice
from mailproc.storage import store

log = logging.getLogger(__name__)

HOUR, DAY = timedelta(hours=1), timedelta(days=1)

# Domains whose mailboxes ignore dots in the local part (j.silva@ is jsilva@), and the names
# a domain also goes by. Gmail is the one large provider that does either.
_DOTLESS_DOMAINS = frozenset({"gmail.com"})
_SAME_DOMAIN = {"googlemail.com": "gmail.com"}


def mailbox_of(address: str) -> str:
    """The mailbox ``address`` reaches, as the caps count it: lower case, without a ``+tag``
    (plus addressing, RFC 5233, which Gmail, Microsoft 365, Postfix and Dovecot all honour:
    a real second person whose address differs only after a "+" is unheard of), without
    dots where the domain ignores them, and under the domain's one name."""
    local, domain = untagged(address).rpartition("@")[0], counted_domain(address)
    if domain in _DOTLESS_DOMAINS:
        local = local.replace(".", "") or local
    return f"{local}@{domain}"


def counted_domain(address: str) -> str:
    """The domain of ``address`` as the domain cap counts it (lower case, its one name)."""
    domain = domain_of(address)
    return _SAME_DOMAIN.get(domain, domain)


@dataclass(frozen=True)
class Hold:
    """Why a notice stays unsent: ``reason`` goes on the ticket's reply_held event. When
    the operator must be told, ``alert`` is the alert's key (told once per key), ``detail``
    its data (the cap, its limit, the ticket code, the address or the domain) and ``about``
    says what reached the cap in words fit for the log (no personal data)."""

    reason: str
    detail: Mapping[str, object] = field(default_factory=dict)
    alert: str | None = None
    about: str = ""


def operator_only(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> Hold | None:
    """No reply to the operator address: it is told of alerts (not through this guard: see
    notices.Replier.tell_operator), and an auto-responder behind it that answers the alert
    must get no answer back. Mail to staff there (it may also be a routing area) goes."""
    operator = config.desk.operator_address
    if notice.internal or operator is None or mailbox_of(notice.to) != mailbox_of(operator):
        return None
    return Hold("operator address")


def sender_cap(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> Hold | None:
    """A mailbox gets so many automatic replies in 24 hours, then none until the oldest of
    them leave that window."""
    limit = config.loop_caps.replies_per_sender_per_day
    if notice.internal or tally.to_address < limit:
        return None
    mailbox = mailbox_of(notice.to)
    return Hold(
        "cap:sender",
        {"cap": "sender", "limit": limit, "address": mailbox},
        alert=f"cap:sender:{_digest(mailbox)}:{_utc(now):%Y-%m-%d}",
        about=f"address {mask(mailbox)} had {limit} automatic mails in 24 hours",
    )


def domain_cap(
    notice: Notice, tally: store.MailTally, config: Config, now: datetime
) -> Hold | None:
    """A domain gets so many automatic replies an hour, whatever the addresses: the cap for a
    robot that answers from a new name each time."""
    limit = config.loop_caps.replies_per_domain_per_hour
    if notice.internal or tally.domain < limit:
        return None
    domain = counted_domain(notice.to)
    return Hold(
        "cap:domain",
        {"cap": "domain", "limit": limit, "domain": domain},
        alert=f"cap:domain:{_digest(domain)}:{_utc(now):%Y-%m-%dT%H}",
        about=f"domain {domain} had {limit} automatic mails in an hour",
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


def _digest(name: str) -> str:
    """A short digest for an alert's key: it fits the key's column whatever the length of
    the address or domain, and keeps an address out of the key."""
    return hashlib.sha256(name.encode()).hexdigest()[:16]


def _utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)
