"""A real ping-pong: a correspondent's robot answers every mail the desk sends it, without
any auto-reply header. The loop caps must stop it, through real IMAP (Dovecot), real SMTP
(the aiosmtpd listener) and ``mailproc poll --once`` run as an operator's cron would."""

from __future__ import annotations

from collections import Counter
from email.message import EmailMessage
from email.utils import make_msgid

import pytest
from sqlalchemy import select

from mailproc.storage import models as m
from tests.e2e import Desk, parse
from tests.mails import SUPPORT, error_body, mail

pytestmark = [pytest.mark.servers, pytest.mark.slow]

PEER = "atendimento@fornecedor.example.com"
OPERATOR = "operacao@compras.example.gov.br"
CAP = 3  # the cap that must stop the loop; the other one is set far above it
MAX_ROUNDS = 8  # a loop still going after this many polls was not stopped


class Peer:
    """The robot: for every mail the desk sends it, a plain answer in the desk's INBOX (where
    its mail would arrive): no Auto-Submitted, no Precedence, no X-Autoreply. A robot that
    ``keeps_thread`` answers "Re:" with the code and In-Reply-To; the other writes anew."""

    def __init__(self, desk: Desk, *, keeps_thread: bool) -> None:
        self.desk, self.keeps_thread = desk, keeps_thread
        self.seen = 0  # the listener's messages looked at so far
        self.received: list[EmailMessage] = []

    def answer_new_mail(self) -> int:
        """Answer the desk's mail to the robot since the last call; how many answers."""
        accepted = self.desk.smtp.messages
        new = [parse(r.raw) for r in accepted[self.seen :] if PEER in r.recipients]
        self.seen = len(accepted)
        self.received.extend(new)
        if new:
            self.desk.imap.append_many("INBOX", [self.answer(ours) for ours in new])
        return len(new)

    def answer(self, ours: EmailMessage) -> bytes:
        answer = EmailMessage()
        answer["From"] = f"Atendimento Fornecedor <{PEER}>"
        answer["To"] = SUPPORT
        answer["Message-ID"] = make_msgid(domain="fornecedor.example.com")
        if self.keeps_thread:
            answer["Subject"] = f"Re: {ours['Subject']}"
            answer["In-Reply-To"] = ours["Message-ID"]
            answer["References"] = ours["Message-ID"]
        else:
            answer["Subject"] = "Mensagem recebida"
        answer.set_content("Recebemos sua mensagem e retornaremos em breve. Obrigado.")
        return answer.as_bytes()


def limits(desk: Desk, **caps: int) -> None:
    """Set the desk's caps and its operator address in the config file ``desk`` runs with."""
    text = desk.config.read_text(encoding="utf-8")
    text = text.replace("[desk]\n", f'[desk]\noperator_address = "{OPERATOR}"\n', 1)
    table = "".join(f"{key} = {value}\n" for key, value in caps.items())
    desk.config.write_text(f"{text}\n[limits]\n{table}", encoding="utf-8")


@pytest.mark.parametrize(
    ("keeps_thread", "caps", "alert", "answers"),
    [
        pytest.param(
            True,
            {"replies_per_ticket_per_hour": CAP, "replies_per_sender_per_day": 10 * CAP},
            "cap:ticket:",
            "updated",
            id="in-the-thread:ticket-cap",
        ),
        pytest.param(
            False,
            {"replies_per_sender_per_day": CAP, "replies_per_ticket_per_hour": 10 * CAP},
            "cap:sender:",
            "no_theme",
            id="new-mail-each-time:sender-cap",
        ),
    ],
)
def test_a_robot_answering_every_mail_is_answered_no_more_than_the_cap(
    desk: Desk, keeps_thread: bool, caps: dict[str, int], alert: str, answers: str
) -> None:
    limits(desk, **caps)
    peer = Peer(desk, keeps_thread=keeps_thread)
    # It starts with a report missing its screenshot, which the desk answers.
    first = mail("Erro no SIASG ao homologar", error_body(), sender=f"Atendimento <{PEER}>")
    desk.imap.append("INBOX", first)

    logs: list[str] = []
    for _ in range(MAX_ROUNDS):
        poll = desk.poll()
        assert poll.returncode == 0, poll.stderr
        logs.append(poll.stderr)
        if peer.answer_new_mail() == 0:
            break
    else:
        pytest.fail(f"the loop was still going after {MAX_ROUNDS} polls")

    # The cap counts the acknowledgement too: the robot got exactly CAP mails, answered each.
    assert len(peer.received) == CAP
    assert Counter(desk.outcomes().values()) == {"incomplete": 1, answers: CAP}
    assert desk.imap.messages("INBOX") == []  # every answer was read and recorded
    assert desk.count(m.RawMessage, m.RawMessage.outcome.is_(None)) == 0
    with desk.session() as session:
        keys = list(session.scalars(select(m.Alert.key)))
    assert len(keys) == 1 and keys[0].startswith(alert)
    told = [r for r in desk.smtp.messages if OPERATOR in r.recipients]
    assert len(told) == 1 and parse(told[0].raw)["Auto-Submitted"] == "auto-generated"
    log = "".join(logs)
    assert log.count("loop cap reached") == 1
    assert PEER not in log  # the log names the robot by its domain only
