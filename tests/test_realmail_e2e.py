"""A handful of the realistic corpus through the real servers: appended to Dovecot, read by
``mailproc poll --once`` as a subprocess, answered through the SMTP listener; each judged
against expected.toml on what the listener captured and the database holds."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from mailproc.storage import models as m
from tests.e2e import Desk, bare_id, parse
from tests.realmail.build import steps
from tests.realmail.score import Got, expectations, judge, reply_of

pytestmark = pytest.mark.servers

# Signature-only images, a five-digit UASG, prose with "hoje às 9h", a big logo after the
# closing, a reactivation in prose, an iPhone photo inside the HTML, a bare "Urgente!!!".
CHOSEN = (
    "o01-erro-completo-anexo",
    "o03-so-assinatura",
    "o09-uasg-cinco-digitos",
    "g04-nao-consigo-hoje",
    "z06-logo-grande-apos-fechamento",
    "z09-reativacao-prosa",
    "i01-foto-no-html",
    "g06-urgente-sozinho",
)


def observed(desk: Desk, message_id: str) -> Got:
    """What the database and the SMTP listener show for the mail ``message_id``."""
    with desk.session() as session:
        row = session.scalars(select(m.Message).filter_by(message_id=message_id)).one()
        got = Got(outcome=row.outcome, theme=row.theme_id)
        if row.ticket is not None:
            ticket = row.ticket
            got.ticket = ticket.code
            got.own_ticket = ticket.code if row.outcome in ("created", "incomplete") else None
            got.answers, got.state = dict(ticket.answers), ticket.state
            got.requester, got.subject = ticket.requester_email, ticket.subject
            got.theme = got.theme or ticket.theme_id
    for received in desk.smtp.messages:
        if bare_id(parse(received.raw)["In-Reply-To"]) == message_id:
            reply = reply_of(received.recipients, received.raw)
            if reply:
                got.replies.append(reply)
    return got


def test_chosen_corpus_mails_get_their_expected_replies_through_the_servers(desk: Desk) -> None:
    chosen = [s for s in steps() if s.case.id in CHOSEN]
    desk.imap.append_many("INBOX", [s.case.build(s) for s in chosen])
    poll = desk.poll()
    assert poll.returncode == 0, poll.stderr
    wanted = expectations()
    misses = {}
    for step in chosen:
        got = observed(desk, step.message_id)
        found = judge(wanted[step.case.id], got, got.own_ticket)
        if found:
            misses[step.case.id] = found
    assert not misses, "\n".join(f"{k}: {'; '.join(v)}" for k, v in misses.items())
