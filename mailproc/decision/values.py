"""What the core decided about one message: a value, never an exception."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from mailproc.decision.commands import Command
from mailproc.decision.proofs import Role
from mailproc.decision.ratings import Rating
from mailproc.decision.staff import StaffAnswer
from mailproc.mail.message import Address, Attachment
from mailproc.rules.classify import Classification
from mailproc.rules.requirements import MissingItem
from mailproc.rules.rulebook import Theme


class Outcome(StrEnum):
    """Exactly one of these is recorded for every inbound message."""

    CREATED = "created"
    INCOMPLETE = "incomplete"
    UPDATED = "updated"
    # A requester's command (status, meus chamados, urgente, cancelar, help): an answer to
    # the sender, not a contribution to a ticket's thread, so it is kept apart from updated.
    COMMAND = "command"
    # Not accepted, and the sender told why: a stranger quoting someone else's ticket code
    # when the desk is set to answer with a notice instead of opening a ticket.
    REJECTED = "rejected"
    NO_THEME = "no_theme"
    IGNORED = "ignored"
    QUARANTINED = "quarantined"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class Request:
    """What the ticket is about once a trusted forward is unwrapped.

    For ordinary mail this is the message itself; for a Redecompras forward it is the
    original sender's question, and ``forwarder`` is the Redecompras address.
    """

    requester: Address
    subject: str
    text: str
    attachments: tuple[Attachment, ...]
    forwarder: str | None = None


@dataclass(frozen=True)
class AuthFailure:
    """A message whose sender authentication failed (mailproc.mail.authresults), and whether the
    policy ``blocked`` it (quarantined, touching no ticket) or let it go ahead, flagged."""

    verdict: str
    blocked: bool


@dataclass(frozen=True)
class Unproven:
    """An action the sender asked for without the proof it needs (mailproc.decision.proofs):
    what it was, in words for the notice, and the role whose proof was missing."""

    action: str
    role: Role


@dataclass(frozen=True)
class Decision:
    """The outcome for one message and everything needed to apply it to the store.

    ``ticket_code`` names the existing ticket for ``updated`` (and a ``command`` bound to
    one); ``completed`` says that the update supplied the last missing items of an
    incomplete ticket; ``quoted_code`` keeps a code that a sender without rights quoted, so
    the new ticket (or the notice) can reference it, and the quoted ticket log it.
    ``notice`` is the pt-BR explanation sent to the sender of a quarantined message, when
    one is due (e.g. the message is over the size limit); ``reason`` is for the operator.

    An ``updated`` decision is one of three kinds of reply: a staff answer (``staff``: relay
    it), a requester's rating of a resolved ticket (``rating``), or else an ordinary reply.
    A ``command`` decision carries its ``command``, checked against the ticket it names.
    ``authentication`` is set when the sender authentication failed and the policy acts on
    that: the pipeline logs it on the ticket (``ticket_code`` names it for a blocked one).
    ``unproven`` is set on a quarantined message that asked for an action without its proof
    (``ticket_code`` names the ticket it would have changed). ``copied`` are the people the
    message adds to its ticket as participants. ``likely`` are the ids of the one or two
    themes a ``no_theme`` mail most likely is about (mailproc.rules.classify), best first;
    ``asked_urgency`` says that it opened with "Urgente" (the notice says how to ask for
    urgency once a ticket exists). ``classified`` is the scoring that chose (or did not
    choose) a new request's theme, and ``read_as`` how each answer was read ("rótulo",
    "texto", "corpo", "anterior"): what `mailproc rules test` explains a decision with.
    """

    outcome: Outcome
    reason: str = ""
    request: Request | None = None
    theme_id: str | None = None
    missing: tuple[MissingItem, ...] = ()
    answers: dict[str, str] = field(default_factory=dict)
    ticket_code: str | None = None
    completed: bool = False
    quoted_code: str | None = None
    notice: str = ""
    staff: StaffAnswer | None = None
    rating: Rating | None = None
    command: Command | None = None
    authentication: AuthFailure | None = None
    unproven: Unproven | None = None
    copied: tuple[str, ...] = ()
    likely: tuple[str, ...] = ()
    asked_urgency: bool = False
    classified: Classification[Theme] | None = None
    read_as: Mapping[str, str] = field(default_factory=dict)
