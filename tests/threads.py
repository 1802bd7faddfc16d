"""Helpers for conversation tests: the mail the desk queued, a ticket's state, the clock."""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from typing import Any

from sqlalchemy import select, update

from mailproc import models as m
from mailproc.app import App
from tests.mails import mail

STAFF = "Ana Souza <ana.souza@suporte.example.gov.br>"
STAFF_EMAIL = "ana.souza@suporte.example.gov.br"
MARIA = "maria.silva@saude.rj.gov.br"
SIASG_AREA = "suporte-siasg@example.gov.br"
UASG_AREA = "gestao-uasg@example.gov.br"


@dataclass(frozen=True)
class Queued:
    """One mail in the outbox: its purpose, its recipients and the message itself."""

    purpose: str
    recipients: list[str]
    message: EmailMessage

    @property
    def text(self) -> str:
        body = self.message.get_body(preferencelist=("plain",))
        assert body is not None
        return str(body.get_content())

    @property
    def files(self) -> dict[str, bytes]:
        return {
            str(part.get_filename()): part.get_content() for part in self.message.iter_attachments()
        }


def queued(app: App, purpose: str | None = None) -> list[Queued]:
    """The outbox, oldest first (by row id: the order the desk queued them in)."""
    with app.sessions() as session:
        rows = session.scalars(select(m.OutboxMail).order_by(m.OutboxMail.id)).all()
        found = [(row.purpose, list(row.recipients), row.raw) for row in rows]
    return [
        Queued(kind, recipients, _parse(raw))
        for kind, recipients, raw in found
        if purpose in (None, kind)
    ]


def purposes(app: App) -> list[str]:
    return [q.purpose for q in queued(app)]


@dataclass(frozen=True)
class TicketView:
    """A ticket as the tests look at it, read in one session."""

    state: str
    priority: str
    due_at: datetime | None
    participants: dict[str, str]
    events: list[tuple[str, dict[str, Any]]]
    evaluation: tuple[int, str, str] | None
    messages: int

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


def ticket(app: App, code: str) -> TicketView:
    with app.sessions() as session:
        row = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        evaluation = row.evaluation
        return TicketView(
            state=row.state,
            priority=row.priority,
            due_at=row.due_at,
            participants={p.email: p.role for p in row.participants},
            events=[(e.kind, dict(e.detail)) for e in row.events],
            evaluation=(evaluation.score, evaluation.comment, evaluation.rater)
            if evaluation
            else None,
            messages=len(row.messages),
        )


def set_ticket(app: App, code: str, **values: object) -> None:
    """Move a ticket's clock (due_at, ...) or state by hand, as time or staff would."""
    with app.sessions.begin() as session:
        session.execute(update(m.Ticket).where(m.Ticket.code == code).values(**values))


def count(app: App, model: type[m.Base]) -> int:
    with app.sessions() as session:
        return len(session.scalars(select(model)).all())


def staff_reply(code: str, body: str, **fields: Any) -> bytes:
    """A staff member answering in the ticket's thread (the routing mail's subject)."""
    fields.setdefault("sender", STAFF)
    return mail(f"RE: [#{code}] Novo chamado: Erro ao publicar aviso no SIASG", body, **fields)


def reply(code: str, body: str, **fields: Any) -> bytes:
    """The requester (by default) answering in the ticket's thread."""
    return mail(f"RES: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG", body,
                **fields)  # fmt: skip


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message
