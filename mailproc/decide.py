"""The decision stage: one parsed message (and the ticket it replies to) in, one Decision out.

Pure: everything it needs is passed in, so every outcome is testable without a database.
The order in which a message is looked at is the tuple ``STAGES`` below: the first stage
that returns a Decision wins.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from mailproc.decision import Decision, Outcome, Request
from mailproc.forwards import extract_forward
from mailproc.machine_mail import machine_reason
from mailproc.message import Address, Attachment, InboundMessage
from mailproc.quotes import new_text
from mailproc.requirements import check_message
from mailproc.rulebook import Rulebook
from mailproc.states import WAITING_FOR_REQUESTER


@dataclass(frozen=True)
class Thread:
    """What the store knows of the ticket a message refers to (by code or headers)."""

    code: str
    state: str
    theme_id: str | None
    entitled: bool
    answers: dict[str, str]
    attachments: tuple[Attachment, ...]


@dataclass(frozen=True)
class Policy:
    """The parts of the configuration the decision depends on."""

    own_addresses: Collection[str]
    trusted_forwarders: Collection[str]
    default_theme: str | None
    max_message_bytes: int = 25 * 1024 * 1024


@dataclass(frozen=True)
class Facts:
    """The inputs of one decision. ``size`` is the message's full size when only its header
    was downloaded or kept because it is over ``policy.max_message_bytes``."""

    message: InboundMessage
    thread: Thread | None
    rulebook: Rulebook
    policy: Policy
    oversize: int | None = None


def unparseable(facts: Facts) -> Decision | None:
    fatal = facts.message.fatal
    return Decision(Outcome.QUARANTINED, reason=fatal) if fatal else None


def from_a_machine(facts: Facts) -> Decision | None:
    """Auto-replies, bounces (often without a sender), lists, ourselves: never answered."""
    reason = machine_reason(facts.message, facts.policy.own_addresses)
    return Decision(Outcome.IGNORED, reason=reason) if reason else None


def without_sender(facts: Facts) -> Decision | None:
    if facts.message.sender is None or not facts.message.sender.email:
        return Decision(Outcome.QUARANTINED, reason="no usable sender address")
    return None


def too_large(facts: Facts) -> Decision | None:
    """Over the size limit: recorded and quarantined, and the sender told the limit."""
    if facts.oversize is None:
        return None
    limit_mb = facts.policy.max_message_bytes / (1024 * 1024)
    return Decision(
        Outcome.QUARANTINED,
        reason=f"message of {facts.oversize} bytes is over the limit of "
        f"{facts.policy.max_message_bytes} bytes",
        request=_own_request(facts.message, text=""),
        notice=f"a mensagem tem {facts.oversize / (1024 * 1024):.1f} MB e excede o tamanho "
        f"máximo aceito, de {limit_mb:.0f} MB. Reenvie-a com anexos menores (por exemplo, "
        "imagens em PNG ou JPG) ou divida os anexos em mais de uma mensagem",
    )


def reply_to_ticket(facts: Facts) -> Decision | None:
    """A reply by someone entitled updates its ticket; an incomplete one is checked again."""
    thread = facts.thread
    if thread is None or not thread.entitled:
        return None
    request = _own_request(facts.message, text=new_text(facts.message.text))
    theme = facts.rulebook.get(thread.theme_id) if thread.theme_id else None
    if thread.state not in WAITING_FOR_REQUESTER or theme is None:
        return Decision(Outcome.UPDATED, request=request, ticket_code=thread.code)
    result = check_message(
        theme,
        request.text,
        (*thread.attachments, *request.attachments),
        earlier_answers=thread.answers,
    )
    return Decision(
        Outcome.UPDATED,
        request=request,
        theme_id=theme.id,
        ticket_code=thread.code,
        missing=result.missing,
        answers=result.answers,
        completed=not result.missing,
    )


def new_request(facts: Facts) -> Decision:
    """Anything else opens a ticket: themed and checked, or answered with the theme list."""
    request = _request(facts)
    quoted = facts.thread.code if facts.thread else None
    theme = facts.rulebook.match(request.subject) or (
        facts.rulebook.get(facts.policy.default_theme) if facts.policy.default_theme else None
    )
    if theme is None:
        return Decision(Outcome.NO_THEME, request=request, quoted_code=quoted)
    result = check_message(theme, request.text, request.attachments)
    return Decision(
        Outcome.INCOMPLETE if result.missing else Outcome.CREATED,
        request=request,
        theme_id=theme.id,
        missing=result.missing,
        answers=result.answers,
        quoted_code=quoted,
    )


STAGES: tuple[Callable[[Facts], Decision | None], ...] = (
    unparseable,
    from_a_machine,
    without_sender,
    too_large,
    reply_to_ticket,
)


def decide(facts: Facts) -> Decision:
    for stage in STAGES:
        decision = stage(facts)
        if decision is not None:
            return decision
    return new_request(facts)


def _request(facts: Facts) -> Request:
    """The message's own request, or the original one inside a trusted forward."""
    message = facts.message
    assert message.sender is not None  # without_sender() ran first
    if message.sender.email in facts.policy.trusted_forwarders:
        original = extract_forward(message)
        sender = original.sender if original else None
        # A forward of our own mail is the forwarder's own message, not someone's request.
        if original is not None and sender and sender.email not in facts.policy.own_addresses:
            return Request(
                requester=sender,
                subject=original.subject or message.subject,
                text=original.text,
                attachments=original.attachments,
                forwarder=message.sender.email,
            )
    return _own_request(message, text=message.text)


def _own_request(message: InboundMessage, text: str) -> Request:
    sender = message.sender or Address("")
    return Request(sender, message.subject, text, message.attachments)
