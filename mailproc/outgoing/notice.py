"""A mail the desk is about to queue, as plain data: purpose, recipients, template context."""

from __future__ import annotations

from dataclasses import dataclass, field

from mailproc.decision.proofs import Role
from mailproc.mail.message import Attachment
from mailproc.storage import models as m


@dataclass(frozen=True)
class Notice:
    """A mail to queue: the template purpose, the recipients and the template context.

    ``attachments`` travel with the mail (a routed ticket's files, a relayed answer's).
    ``internal`` marks mail of our own to staff (routing areas, reminders): it is not a
    reply to anyone, so it says Auto-Submitted: auto-generated and is exempt from the
    per-sender cap, which protects senders from loops, not areas from their workload (the
    ticket and overall caps still count and hold it: see mailproc.outgoing.loops).
    """

    purpose: str
    to: str
    context: dict[str, object]
    ticket: m.Ticket | None = None
    cc: tuple[str, ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = field(default=())
    attachments: tuple[Attachment, ...] = ()
    internal: bool = False
    role: Role = "requester"
