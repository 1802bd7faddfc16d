"""Helpers for conversation tests: the mail the desk queued, a ticket's state, the clock, and
the replies and forwards people send."""

from __future__ import annotations

import email
from dataclasses import dataclass
from datetime import datetime
from email import policy
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from mailproc.decision.proofs import ReplyKeys, Role
from mailproc.service.app import App
from mailproc.storage import models as m
from tests.conftest import TEST_REPLY_KEY
from tests.mails import SUPPORT, authenticated, mail

Sessions = sessionmaker[Session]

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
        return plain_text(self.message)

    @property
    def html(self) -> str:
        body = self.message.get_body(preferencelist=("html",))
        assert body is not None
        return str(body.get_content())

    @property
    def files(self) -> dict[str, bytes]:
        return {
            str(part.get_filename()): part.get_content() for part in self.message.iter_attachments()
        }


def plain_text(message: EmailMessage) -> str:
    """The plain-text body of a mail the desk wrote."""
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


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
    incomplete_until: datetime | None  # until when the ticket waits for its requester
    participants: dict[str, str]
    events: list[tuple[str, dict[str, Any]]]
    evaluation: tuple[int, str, str] | None
    messages: int

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.events]


def ticket(app: App | Sessions, code: str) -> TicketView:
    """The ticket ``code`` of a desk (its App, or the sessions of its database)."""
    with _sessions(app)() as session:
        row = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        evaluation = row.evaluation
        return TicketView(
            state=row.state,
            priority=row.priority,
            due_at=row.due_at,
            incomplete_until=row.incomplete_until,
            participants={p.email: p.role for p in row.participants},
            events=[(e.kind, dict(e.detail)) for e in row.events],
            evaluation=(evaluation.score, evaluation.comment, evaluation.rater)
            if evaluation
            else None,
            messages=len(row.messages),
        )


def set_ticket(app: App | Sessions, code: str, **values: object) -> None:
    """Move a ticket's clock (due_at, ...) or state by hand, as time or staff would."""
    with _sessions(app).begin() as session:
        session.execute(update(m.Ticket).where(m.Ticket.code == code).values(**values))


def count(app: App, model: type[m.Base]) -> int:
    with app.sessions() as session:
        return len(session.scalars(select(model)).all())


def signed(code: str, role: Role = "requester") -> str:
    """The Reply-To of the desk's mail about ticket ``code`` to ``role``: where a mail client
    sends a reply to it (mailproc.decision.proofs)."""
    return ReplyKeys(TEST_REPLY_KEY.encode(), SUPPORT).reply_address(code, role)


def staff_reply(code: str, body: str, **fields: Any) -> bytes:
    """A staff member answering the routing mail of the ticket: its subject, to its Reply-To."""
    fields.setdefault("sender", STAFF)
    fields.setdefault("to", signed(code, "staff"))
    return mail(f"RE: [#{code}] Novo chamado: Erro ao publicar aviso no SIASG", body, **fields)


def reply(code: str, body: str, **fields: Any) -> bytes:
    """The requester (by default) answering the desk's mail about the ticket: its subject, to
    its Reply-To."""
    fields.setdefault("to", signed(code, "requester"))
    return mail(f"RES: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG", body,
                **fields)  # fmt: skip


# -- forwards from the trusted forwarder (Redecompras) --------------------------------------

REDECOMPRAS = "Redecompras <redecompras@planejamento.rj.gov.br>"
# Redecompras' mail as the desk receives it: vouched for by its receiving server. A forward
# without it is Redecompras' own request (anyone can write Redecompras' address in From).
FROM_REDECOMPRAS = authenticated(REDECOMPRAS)
GMAIL_PT = """Segue a dúvida do servidor.

---------- Mensagem encaminhada ---------
De: Carlos Pereira <carlos.pereira@der.rj.gov.br>
Date: qua., 18 de nov. de 2026 às 10:12
Subject: Dúvida sobre empenho
To: <redecompras@planejamento.rj.gov.br>

Como faço para emitir a nota de empenho no Compras.gov.br?
"""
GMAIL_EN = GMAIL_PT.replace("Mensagem encaminhada", "Forwarded message").replace(
    "qua., 18 de nov. de 2026 às 10:12", "Wed, Nov 18, 2026 at 10:12 AM"
)
OUTLOOK_PT = """Prezados, segue.

________________________________
De: Carlos Pereira <carlos.pereira@der.rj.gov.br>
Enviado: quarta-feira, 18 de novembro de 2026 10:12
Para: Redecompras <redecompras@planejamento.rj.gov.br>
Assunto: Dúvida sobre empenho

Como faço para emitir a nota de empenho no Compras.gov.br?
"""
OUTLOOK_EN = """Please see below.

-----Original Message-----
From: Carlos Pereira <carlos.pereira@der.rj.gov.br>
Sent: Wednesday, November 18, 2026 10:12 AM
To: Redecompras <redecompras@planejamento.rj.gov.br>
Subject: Dúvida sobre empenho

Como faço para emitir a nota de empenho no Compras.gov.br?
"""


def attached_forward(subject: str, comment: str) -> bytes:
    """A forward with the original attached as message/rfc822, as Outlook sends one."""
    original = EmailMessage()
    original["From"] = "Carlos Pereira <carlos.pereira@der.rj.gov.br>"
    original["To"] = "redecompras@planejamento.rj.gov.br"
    original["Subject"] = "Dúvida sobre empenho"
    original["Message-ID"] = "<original-1@der.rj.gov.br>"
    original.set_content("Como faço para emitir a nota de empenho?")
    outer = EmailMessage()
    outer["Authentication-Results"] = FROM_REDECOMPRAS["Authentication-Results"]  # on top
    outer["From"], outer["To"], outer["Subject"] = REDECOMPRAS, SUPPORT, subject
    outer["Message-ID"] = make_msgid(domain="planejamento.rj.gov.br")
    outer.set_content(comment)
    outer.add_attachment(original)
    return outer.as_bytes()


def _sessions(desk: App | Sessions) -> Sessions:
    return desk.sessions if isinstance(desk, App) else desk


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return message
