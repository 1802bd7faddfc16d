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


# --- a robot answering from a new address each time, and the operator's own robot ----------

ROBOT_DOMAIN = "fornecedor.example.com"
STANDBY = "plantao.ti@compras.example.gov.br"  # where the operator's mailbox forwards


class RotatingPeer(Peer):
    """The robot answers each mail of the desk from a new address of its domain: a new plus
    tag (robo+1@, robo+2@...) or a new name altogether (robo1@, robo2@...)."""

    def __init__(self, desk: Desk, *, keeps_thread: bool, tagged: bool) -> None:
        super().__init__(desk, keeps_thread=keeps_thread)
        self.tagged, self.answered = tagged, 0

    def address(self, n: int) -> str:
        return f"robo+{n}@{ROBOT_DOMAIN}" if self.tagged else f"robo{n}@{ROBOT_DOMAIN}"

    def answer_new_mail(self) -> int:
        accepted = self.desk.smtp.messages
        new = [
            parse(r.raw)
            for r in accepted[self.seen :]
            if any(to.endswith(f"@{ROBOT_DOMAIN}") for to in r.recipients)
        ]
        self.seen = len(accepted)
        self.received.extend(new)
        if new:
            self.desk.imap.append_many("INBOX", [self.answer(ours) for ours in new])
        return len(new)

    def answer(self, ours: EmailMessage) -> bytes:
        self.answered += 1
        return super().answer(ours).replace(PEER.encode(), self.address(self.answered).encode())


class OperatorsRobot:
    """The operator's mailbox answers every mail it gets, saying nothing of being automatic:
    from the operator address without quoting the alert's id, or from the address it
    forwards to (STANDBY), quoting it as mail clients do."""

    def __init__(self, desk: Desk, *, sender: str) -> None:
        self.desk, self.sender = desk, sender
        self.seen, self.answers = 0, 0

    def answer_new_mail(self) -> int:
        accepted = self.desk.smtp.messages
        new = [parse(r.raw) for r in accepted[self.seen :] if OPERATOR in r.recipients]
        self.seen = len(accepted)
        for ours in new:
            answer = EmailMessage()
            answer["From"] = f"Plantão TI <{self.sender}>"
            answer["To"] = SUPPORT
            answer["Subject"] = f"Re: {ours['Subject']}"
            answer["Message-ID"] = make_msgid(domain="compras.example.gov.br")
            if self.sender != OPERATOR:
                answer["In-Reply-To"] = ours["Message-ID"]
                answer["References"] = ours["Message-ID"]
            answer.set_content("Recebido. A equipe de plantão vai verificar.")
            self.desk.imap.append("INBOX", answer.as_bytes())
        self.answers += len(new)
        return len(new)


@pytest.mark.parametrize(
    ("keeps_thread", "tagged", "caps", "alert", "operators_robot"),
    [
        pytest.param(
            True,
            True,
            {"replies_per_sender_per_day": CAP},  # the domain cap's default is far above
            "cap:sender:",
            OPERATOR,
            id="plus-tags-in-the-thread:sender-cap",
        ),
        pytest.param(
            False,
            False,
            {"replies_per_domain_per_hour": CAP, "replies_per_sender_per_day": 10 * CAP},
            "cap:domain:",
            STANDBY,
            id="new-names-new-mail:domain-cap",
        ),
    ],
)
def test_a_robot_answering_from_a_new_address_each_time_is_stopped_at_the_cap(
    desk: Desk,
    keeps_thread: bool,
    tagged: bool,
    caps: dict[str, int],
    alert: str,
    operators_robot: str,
) -> None:
    """384 mails in 4 minutes and 192 junk tickets, with no cap reached, before; and the
    alert started a second loop with the operator's own auto-responder."""
    limits(desk, **caps)
    peer = RotatingPeer(desk, keeps_thread=keeps_thread, tagged=tagged)
    operator = OperatorsRobot(desk, sender=operators_robot)
    first = mail("Erro no SIASG ao homologar", error_body(), sender=f"Robô <{peer.address(0)}>")
    desk.imap.append("INBOX", first)

    for _ in range(MAX_ROUNDS):
        poll = desk.poll()
        assert poll.returncode == 0, poll.stderr
        if peer.answer_new_mail() + operator.answer_new_mail() == 0:
            break
    else:
        pytest.fail(f"the loops were still going after {MAX_ROUNDS} polls")

    # The robot got CAP mails and answered each; the operator one, the alert, answered once.
    assert len(peer.received) == CAP and operator.answers == 1
    told = [r for r in desk.smtp.messages if OPERATOR in r.recipients]
    assert len(told) == 1
    assert len(desk.smtp.messages) == CAP + 1
    with desk.session() as session:
        keys = list(session.scalars(select(m.Alert.key)))
    assert len(keys) == 1 and keys[0].startswith(alert)
    # Every mail was read and recorded: CAP + 1 from the robot, one from the operator's.
    assert desk.imap.messages("INBOX") == []
    assert desk.count(m.Message) == CAP + 2
    assert desk.count(m.Ticket) <= CAP + 1
