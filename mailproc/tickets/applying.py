"""What applying one decision works with: the decision in its transaction, its result, and
what a handler may ask of the pipeline (``Applier``).

Handlers of replies and commands (mailproc.tickets.conversation) take an Applier rather
than the Pipeline itself, so that the pipeline can dispatch to them without either module
importing the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.orm import Session

from mailproc.decision.decide import Policy, Thread
from mailproc.decision.settings import ConversationSettings
from mailproc.decision.values import Decision, Outcome, Request
from mailproc.mail.message import Attachment, InboundMessage
from mailproc.outgoing.notice import Notice
from mailproc.outgoing.notices import Replier
from mailproc.rules.rulebook import Theme
from mailproc.storage import models as m
from mailproc.storage import store
from mailproc.tickets.routing import Transfer


@dataclass(frozen=True)
class Result:
    """What happened to one message; printed by ``mailproc ingest`` as one JSON line."""

    outcome: Outcome
    ticket: str | None = None
    theme: str | None = None
    missing: tuple[str, ...] = ()
    replies: int = 0
    reason: str = ""

    def as_json(self) -> dict[str, object]:
        return {
            "outcome": self.outcome.value,
            "ticket": self.ticket,
            "theme": self.theme,
            "missing": list(self.missing),
            "replies": self.replies,
        }


@dataclass(frozen=True)
class Applying:
    """One decision being applied inside its transaction."""

    session: Session
    row: m.Message
    message: InboundMessage
    decision: Decision
    now: datetime
    thread_ticket: m.Ticket | None  # the ticket the message refers to, found by _thread
    thread: Thread | None = None  # decide()'s view of it (its earlier files, its answers)

    @property
    def request(self) -> Request:
        assert self.decision.request is not None
        return self.decision.request

    def received_files(self, ticket: m.Ticket) -> tuple[Attachment, ...]:
        """Every file the requester's side has sent to ``ticket``, this message's included
        (the message is linked to it already). A new ticket has the message's; the thread's
        files were read for decide(): they are not read again."""
        if self.decision.outcome in (Outcome.CREATED, Outcome.INCOMPLETE):
            return self.request.attachments
        if self.thread is not None and self.thread.code == ticket.code:
            return (*self.thread.attachments, *self.request.attachments)
        return store.ticket_attachments(self.session, ticket.id)

    @property
    def earlier_answers(self) -> dict[str, str]:
        """The ticket's answers before this message, as decide() saw them."""
        return dict(self.thread.answers) if self.thread is not None else {}

    def ticket(self, code: str) -> m.Ticket:
        """The ticket with ``code``: the thread's, in hand already, else read."""
        if self.thread_ticket is not None and self.thread_ticket.code == code:
            return self.thread_ticket
        return store.ticket_by_code(self.session, code)

    def result(self, code: str | None, replies: int) -> Result:
        d = self.decision
        return Result(
            d.outcome, code, d.theme_id, tuple(i.key for i in d.missing), replies, d.reason
        )


class Applier(Protocol):
    """What the handlers of replies and commands use of the pipeline applying them."""

    @property
    def replier(self) -> Replier: ...

    @property
    def settings(self) -> ConversationSettings: ...

    @property
    def policy(self) -> Policy: ...

    def route(
        self,
        session: Session,
        ticket: m.Ticket,
        theme: Theme,
        now: datetime,
        *,
        opening: Request | None = None,
        transfer: Transfer | None = None,
    ) -> None: ...

    def base_context(self, a: Applying) -> dict[str, object]: ...

    def ticket_context(self, a: Applying, ticket: m.Ticket, theme: Theme) -> dict[str, object]: ...

    def ticket_notice(
        self, purpose: str, ticket: m.Ticket, context: dict[str, object], *, to: str = ""
    ) -> Notice: ...

    def send(self, a: Applying, notice: Notice) -> int: ...
