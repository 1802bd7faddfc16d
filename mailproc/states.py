"""The states a ticket goes through (stored as these pt-BR words, shown to staff as is)."""

from __future__ import annotations

from enum import StrEnum


class TicketState(StrEnum):
    OPEN = "aberto"
    AWAITING_INFORMATION = "aguardando_informacoes"
    # Closed because the missing information never came; a reply that completes it reopens it.
    CLOSED_UNTREATED = "encerrado_sem_tratamento"


# A reply to a ticket in one of these states is checked against its theme again.
WAITING_FOR_REQUESTER = frozenset({TicketState.AWAITING_INFORMATION, TicketState.CLOSED_UNTREATED})
