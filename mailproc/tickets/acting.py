"""Actions taken in the web view, applied as the mail that takes them would be.

    staff        answer, state, priority     a staff reply with its #directives (staff_answer)
                 note, theme                 #nota, #tema (staff_answer)
    requester    urgente, cancelar           the commands (conversation.urgent, .cancel)
                 avaliar                     a rating of a resolved ticket (conversation.rating)

Every web action is one an e-mail can also take. ``act`` builds what the mail path would
have built from that e-mail (the message, recorded on the ticket, and its Decision) and
hands it to the pipeline's own APPLY table, in one transaction: the ticket, its history and
the outbox change exactly as they would for the mail. What the mail path refuses (decide:
a cancellation of a closed ticket, a rating of an open one, a stranger's command) is refused
here with the same words, before anything changes. The events of a web action carry ``by``
(who) and ``via = "web"``; its message is kept with the ticket like a mailed one, under a
Message-ID of the desk's own, with no raw mail behind it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace
from typing import Literal

from mailproc.decision.commands import REASON_LIMIT, Command, CommandKind
from mailproc.decision.decide import Thread, checked_command
from mailproc.decision.ratings import COMMENT_LIMIT, Rating
from mailproc.decision.staff import StaffAnswer
from mailproc.decision.states import state_label
from mailproc.decision.ticket_state import TicketState
from mailproc.decision.values import Decision, Outcome, Request
from mailproc.mail.message import Address, InboundMessage
from mailproc.outgoing.replies import make_message_id
from mailproc.rules.rulebook import Priority
from mailproc.storage import models as m
from mailproc.storage import store
from mailproc.storage.db import utcnow
from mailproc.tickets.applying import Applying, Result
from mailproc.tickets.pipeline import APPLY, Pipeline

# What the events of a web action say they came from.
VIA = "web"
# The dedup key of a web action's message: no two actions are duplicates of each other.
DEDUP_PREFIX = "web:"

RequesterKind = Literal["urgente", "cancelar", "avaliar"]
_COMMANDS: dict[str, CommandKind] = {"urgente": CommandKind.URGENT, "cancelar": CommandKind.CANCEL}


@dataclass(frozen=True)
class StaffAction:
    """What a staff member does to a ticket in the web view: answer (``text``, relayed to
    the requester like a staff reply's), change its state or priority, add an internal
    ``note`` (never mailed), move it to another theme (``theme_id``)."""

    code: str
    by: str  # the staff member's address
    text: str = ""
    state: TicketState | None = None
    priority: Priority | None = None
    note: str = ""
    theme_id: str | None = None


@dataclass(frozen=True)
class RequesterAction:
    """What a requester (or a participant, for urgente) does in the web view."""

    code: str
    by: str  # the requester's address (from the signed link)
    kind: RequesterKind
    reason: str = ""
    score: int | None = None  # avaliar: 1..5
    comment: str = ""


class UnknownTicket(LookupError):
    """No ticket has the action's code (a page answers 404)."""


class Refused(Exception):
    """The action cannot be taken on this ticket; ``message`` says why, in pt-BR, for the
    page (the words the mail path's help reply uses where it has them)."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def act(pipeline: Pipeline, action: StaffAction | RequesterAction) -> Result:
    """Apply ``action`` in one transaction, as the pipeline applies the mail taking it.
    Raises UnknownTicket, or Refused (nothing changed)."""
    action = replace(action, by=action.by.strip().lower())  # as addresses are stored
    with pipeline.sessions.begin() as session:
        ticket = store.find_ticket_by_code(session, action.code)
        if ticket is None:
            raise UnknownTicket(action.code)
        thread = store.thread_view(session, ticket, action.by, pipeline.staff)
        if isinstance(action, StaffAction):
            decision = staff_decision(pipeline, action, ticket, thread)
        else:
            decision = requester_decision(pipeline, action, ticket, thread)
        now = utcnow()
        message = web_message(pipeline, decision)
        row = store.record_message(
            session, None, DEDUP_PREFIX + uuid.uuid4().hex, message, decision, now
        )
        applying = Applying(session, row, message, decision, now, ticket, thread)
        result = APPLY[decision.outcome](pipeline, applying)
        store.mark_events(session, row, by=action.by, via=VIA)
        return result


def staff_decision(
    pipeline: Pipeline, action: StaffAction, ticket: m.Ticket, thread: Thread
) -> Decision:
    """The decision a staff reply with these directives gets (decide.staff_answer)."""
    if thread.requester:  # a staff member's own ticket: they reply to it as its requester
        raise Refused(
            f"Você é o solicitante do chamado {ticket.code}; ele deve ser atendido por outro "
            "membro da equipe."
        )
    if not thread.staff:
        raise Refused("Somente a equipe de atendimento pode atender aos chamados.")
    if action.theme_id is not None and pipeline.replier.rulebook.get(action.theme_id) is None:
        raise Refused("O tema escolhido não existe. Escolha um dos temas da lista.")
    if _changes_nothing(action, ticket):
        raise Refused(_unchanged(action, ticket))
    answer = StaffAnswer(
        action.text.strip(),
        action.state,
        action.priority,
        note=action.note.strip(),
        theme_id=action.theme_id,
    )
    request = _request(pipeline, Address(action.by), ticket, answer.text)
    return Decision(Outcome.UPDATED, request=request, ticket_code=ticket.code, staff=answer)


def requester_decision(
    pipeline: Pipeline, action: RequesterAction, ticket: m.Ticket, thread: Thread
) -> Decision:
    """The decision the requester's command or rating gets (decide.requester_command,
    decide.rating), refused where the mail's would be a help reply."""
    author = Address(action.by, ticket.requester_name if thread.requester else "")
    if action.kind == "avaliar":
        rating = _rating(action, ticket, thread)
        text = f"{rating.score}\n{rating.comment}".strip()
        request = _request(pipeline, author, ticket, text)
        return Decision(Outcome.UPDATED, request=request, ticket_code=ticket.code, rating=rating)
    # The reason as commands.parse_command keeps it: on one line, bounded.
    reason = " ".join(action.reason.split())[:REASON_LIMIT]
    command = checked_command(Command(_COMMANDS[action.kind], ticket.code, reason), thread)
    if command.kind is CommandKind.HELP:
        raise Refused(command.problem)
    text = f"{action.kind} {ticket.code}: {reason}" if reason else f"{action.kind} {ticket.code}"
    request = _request(pipeline, author, ticket, text)
    return Decision(Outcome.COMMAND, request=request, ticket_code=ticket.code, command=command)


def web_message(pipeline: Pipeline, decision: Decision) -> InboundMessage:
    """The mail the action stands for: from its author, about the ticket, with its text."""
    request = decision.request
    assert request is not None  # every decision of this module has its request
    desk = pipeline.replier.config.desk
    return InboundMessage(
        sender=request.requester,
        to=(Address(desk.address),),
        subject=request.subject,
        message_id=make_message_id(desk.message_id_domain),
        text=request.text,
    )


def _request(pipeline: Pipeline, author: Address, ticket: m.Ticket, text: str) -> Request:
    """The request of a reply to the ticket's mail: "Re: [#2026-000123] its subject"."""
    tag = pipeline.replier.config.desk.code_tag.format(code=ticket.code)
    return Request(author, f"Re: {tag} {ticket.subject}", text, ())


def _rating(action: RequesterAction, ticket: m.Ticket, thread: Thread) -> Rating:
    """The rating, when the mail path would take it as one (decide.rating)."""
    if not thread.requester:
        raise Refused(f"Somente quem abriu o chamado {ticket.code} pode avaliar o atendimento.")
    if ticket.state != TicketState.RESOLVED:
        raise Refused(
            f"O chamado {ticket.code} está {state_label(ticket.state)}; só é possível avaliar "
            "o atendimento de um chamado resolvido."
        )
    if action.score is None or not 1 <= action.score <= 5:
        raise Refused("Escolha uma nota de 1 a 5.")
    return Rating(action.score, action.comment.strip()[:COMMENT_LIMIT])


def _changes_nothing(action: StaffAction, ticket: m.Ticket) -> bool:
    return not (
        action.text.strip()
        or action.note.strip()
        or action.state not in (None, ticket.state)
        or action.priority not in (None, ticket.priority)
        or action.theme_id not in (None, ticket.theme_id)
    )


def _unchanged(action: StaffAction, ticket: m.Ticket) -> str:
    """Why an action that changes nothing is not taken, in the words of what it asked."""
    if action.state is not None:
        return f"O chamado {ticket.code} já está {state_label(ticket.state)}."
    if action.priority is not None:
        return f"O chamado {ticket.code} já tem essa prioridade."
    if action.theme_id is not None:
        return f"O chamado {ticket.code} já é desse tema."
    return "Escreva a resposta ou a nota antes de enviar."
