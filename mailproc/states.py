"""The states and priorities of a ticket (stored as these pt-BR words, shown to staff as is)."""

from __future__ import annotations

from enum import StrEnum

from mailproc.rulebook import Priority


class TicketState(StrEnum):
    OPEN = "aberto"
    AWAITING_INFORMATION = "aguardando_informacoes"
    # Closed because the missing information never came; a reply that completes it reopens it.
    CLOSED_UNTREATED = "encerrado_sem_tratamento"
    # Staff wait on something (often the requester): the deadline is not watched meanwhile,
    # and a reply by the requester or a participant puts the ticket back in service.
    PENDING = "pendente"
    # Staff answered with #resolvido: the requester is asked to rate the service.
    RESOLVED = "resolvido"
    # By the requester ("cancelar") or by staff (#cancelado).
    CANCELLED = "cancelado"


# A reply to a ticket in one of these states is checked against its theme again.
WAITING_FOR_REQUESTER = frozenset({TicketState.AWAITING_INFORMATION, TicketState.CLOSED_UNTREATED})

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


def raised_priority(priority: str) -> str:
    """One level up: "normal" -> "alta"; "critica" (or an unknown value) stays as it is."""
    if priority not in PRIORITY_LEVELS:
        return priority
    index = PRIORITY_LEVELS.index(Priority(priority))
    return PRIORITY_LEVELS[min(index + 1, len(PRIORITY_LEVELS) - 1)]
