"""The states and priorities of a ticket (stored as these pt-BR words, shown to staff as is)."""

from __future__ import annotations

from mailproc.decision.ticket_state import TicketState
from mailproc.rules.rulebook import Priority

# A reply to a ticket in one of these states is checked against its theme again.
WAITING_FOR_REQUESTER = frozenset({TicketState.AWAITING_INFORMATION, TicketState.CLOSED_UNTREATED})

# A reply by the requester or a participant (other than a rating) puts these back in service,
# with a new deadline: the area hears that the ticket was reopened.
REOPENED_BY_REPLY = frozenset({TicketState.RESOLVED, TicketState.CLOSED_UNANSWERED})

# A reply to these opens a new ticket referring to them (the cancellation notice says so):
# a cancellation, the requester's or the staff's, is not undone by mail.
FOLLOWED_UP_BY_A_NEW_TICKET = frozenset({TicketState.CANCELLED})

# The routing area works on these tickets: they were sent to it, and it hears of replies.
ROUTED = frozenset({TicketState.OPEN, TicketState.PENDING, TicketState.RESOLVED})

# A requester may still cancel these.
CANCELLABLE = frozenset({TicketState.OPEN, TicketState.PENDING, TicketState.AWAITING_INFORMATION})

# Urgency makes sense only while the area is working on the ticket.
URGENCY_ALLOWED = frozenset({TicketState.OPEN, TicketState.PENDING})

# How a state reads in a reply to a servant.
STATE_LABELS: dict[str, str] = {
    TicketState.OPEN: "em atendimento",
    TicketState.AWAITING_INFORMATION: "aguardando informações do solicitante",
    TicketState.CLOSED_UNTREATED: "encerrado sem tratamento",
    TicketState.PENDING: "pendente",
    TicketState.RESOLVED: "resolvido",
    TicketState.CLOSED_UNANSWERED: "encerrado por falta de retorno do solicitante",
    TicketState.CANCELLED: "cancelado",
}


def state_label(state: str) -> str:
    return STATE_LABELS.get(state, state)


# Lowest to highest: urgency raises a ticket one step, never past the last.
PRIORITY_LEVELS: tuple[Priority, ...] = (
    Priority.BAIXA,
    Priority.NORMAL,
    Priority.ALTA,
    Priority.CRITICA,
)
PRIORITY_LABELS: dict[str, str] = {
    Priority.BAIXA: "baixa",
    Priority.NORMAL: "normal",
    Priority.ALTA: "alta",
    Priority.CRITICA: "crítica",
}


def is_higher_priority(priority: str, than: str) -> bool:
    """Whether ``priority`` ranks above ``than`` (an unknown value ranks with none)."""
    if priority not in PRIORITY_LEVELS or than not in PRIORITY_LEVELS:
        return False
    return PRIORITY_LEVELS.index(Priority(priority)) > PRIORITY_LEVELS.index(Priority(than))


def raised_priority(priority: str) -> str:
    """One level up: "normal" -> "alta"; "critica" (or an unknown value) stays as it is."""
    if priority not in PRIORITY_LEVELS:
        return priority
    index = PRIORITY_LEVELS.index(Priority(priority))
    return PRIORITY_LEVELS[min(index + 1, len(PRIORITY_LEVELS) - 1)]
