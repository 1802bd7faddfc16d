"""The states of a ticket, stored as these pt-BR words and shown to staff as is.

A module of its own, importing nothing, so that the command line can offer them as choices
without loading the rules or SQLAlchemy (see service/cli/); mailproc.decision.states says
what each group of states means.
"""

from enum import StrEnum


class TicketState(StrEnum):
    OPEN = "aberto"
    AWAITING_INFORMATION = "aguardando_informacoes"
    # Closed because the missing information never came; a reply that completes it reopens it.
    CLOSED_UNTREATED = "encerrado_sem_tratamento"
    # Staff wait on something (often the requester): the deadline is not watched meanwhile,
    # and a reply by the requester or a participant puts the ticket back in service. Without
    # one within incomplete_close_days the ticket is closed (CLOSED_UNANSWERED).
    PENDING = "pendente"
    # Staff answered with #resolvido: the requester is asked to rate the service.
    RESOLVED = "resolvido"
    # Pending on the requester, who never answered; a reply reopens it, like a resolved one.
    CLOSED_UNANSWERED = "encerrado_sem_retorno"
    # By the requester ("cancelar") or by staff (#cancelado).
    CANCELLED = "cancelado"
