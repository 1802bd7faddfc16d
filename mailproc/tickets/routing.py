"""Mail to a theme's routing area: new tickets with their files, what requesters add (and the
reopening that a reply to a resolved ticket causes), urgency, cancellations, and the deadline
reminder and warning.

The area is whoever ``[routing]`` in the theme's rules file names (area, address). These
mails are ours, not replies: Auto-Submitted: auto-generated, no daily cap (see Notice). They
carry the ticket's code in the subject, and the area's replies come back to the desk, where
staff answers are relayed to the requester (mailproc.decision.staff).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy.orm import Session

from mailproc.decision.values import Request
from mailproc.mail.message import Attachment
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.notices import Replier, files_context, received_context
from mailproc.rules.rulebook import Rulebook, Theme
from mailproc.storage import models as m
from mailproc.storage import store

log = logging.getLogger(__name__)

# The requester's own words as the area sees them; the rest is in the ticket's history.
DESCRIPTION_LIMIT = 8000


def theme_of(rulebook: Rulebook, ticket: m.Ticket) -> Theme | None:
    """The ticket's theme, or None (and a warning) when the rules no longer have it."""
    theme = rulebook.get(ticket.theme_id) if ticket.theme_id else None
    if theme is None:
        log.warning("ticket %s: theme %r is not in the rules; no area to tell", ticket.code,
                    ticket.theme_id)  # fmt: skip
    return theme


def area_notice(
    replier: Replier,
    ticket: m.Ticket,
    theme: Theme,
    purpose: str,
    extra: Mapping[str, object],
    *,
    attachments: Sequence[Attachment] = (),
    cc: Sequence[str] = (),
) -> Notice:
    """A mail about ``ticket`` to its theme's area; ``extra`` completes the context."""
    context = replier.base_context(ticket.requester_email, ticket.requester_name, ticket.subject)
    context["area"] = {"name": theme.routing.area, "address": theme.routing.address}
    context["ticket"] = replier.ticket_context(ticket, theme)
    context.update(extra)
    return Notice(
        purpose,
        theme.routing.address,
        context,
        ticket,
        cc=tuple(cc),
        attachments=tuple(attachments),
        internal=True,
        role="staff",
    )


@dataclass(frozen=True)
class Transfer:
    """A ticket moved to another theme by staff (#tema, or the web's reassign): its new area
    reads whence it came and whom to ask, not "Novo chamado"."""

    from_theme_id: str
    by: str


def routed_notice(
    session: Session,
    replier: Replier,
    ticket: m.Ticket,
    theme: Theme,
    opening: Request | None = None,
    transfer: Transfer | None = None,
) -> Notice:
    """The ticket for its area: the code, the answers, the request's text and every file.

    ``opening`` is the request that opens the ticket when it is the message being applied:
    its text and files are then in hand, and are not read back from the database (the
    files of a 25 MB message would be copied twice more). A ticket completed later by a
    reply gathers its files from every message. ``transfer``: the ticket comes from
    another theme, whose questions name the answers given under it.
    """
    if opening is not None:
        files, first = opening.attachments, opening.text
    else:
        files = store.ticket_attachments(session, ticket.id)
        first = ticket.messages[0].body_text if ticket.messages else ""
    forwarders = [p.email for p in ticket.participants if p.role == "forwarder"]
    earlier, moved = None, None
    if transfer is not None:
        earlier = replier.rulebook.get(transfer.from_theme_id)
        moved = {
            "from_theme": earlier.name if earlier else transfer.from_theme_id,
            "by": transfer.by,
        }
    extra: dict[str, object] = {
        "received": received_context(theme, dict(ticket.answers), files, earlier),
        "description": first[:DESCRIPTION_LIMIT],
        "forwarder": forwarders[0] if forwarders else "",
        "transfer": moved,
    }
    return area_notice(replier, ticket, theme, "routed", extra, attachments=files)


def update_notice(
    replier: Replier,
    ticket: m.Ticket,
    theme: Theme,
    sender: str,
    text: str,
    attachments: Sequence[Attachment],
    reopened_from: str = "",
) -> Notice:
    """What the requester (or a participant) added to a ticket the area is working on.

    ``reopened_from`` is the label of the state the reply took the ticket out of ("resolvido")
    when it reopened it, else "".
    """
    extra: dict[str, object] = {
        "update": {
            "sender": sender,
            "text": text[:DESCRIPTION_LIMIT],
            "attachments": files_context(attachments),
            "reopened_from": reopened_from,
        }
    }
    return area_notice(replier, ticket, theme, "area_update", extra, attachments=attachments)
