"""Conversations through real mail (issue #4): every case is appended to the Dovecot INBOX,
read by ``mailproc poll --once`` run as a subprocess, and judged by what the SMTP listener
received and what the database holds.

The conversations advance together, round by round, so that three polls serve them all:
the module's ``played`` fixture plays every round once, and each test reads the outcome of
one conversation. Each conversation has a servant of its own (the daily reply cap counts
per address).

    round 1   every conversation opens (reports, forwards from Redecompras)
    round 2   replies with awkward subjects, a stranger, a reply-all, staff answers, commands
    upkeep    ``mailproc run`` closes a pending ticket whose requester never answered
    round 3   ratings, a reopening reply, answers to pending and cancelled tickets
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from email.utils import parseaddr

import pytest
from sqlalchemy import select
from sqlalchemy.orm import sessionmaker

from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import load_rulebook
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from tests.conftest import REPO
from tests.dovecot import DovecotAccount, DovecotServer
from tests.e2e import (
    COMMAND_TIMEOUT,
    Desk,
    bare_id,
    build_desk,
    message_id,
    parse,
    wait_for,
)
from tests.mails import SUPPORT, error_body, mail, reactivation_body, screenshot_png
from tests.smtp_fixtures import SmtpTestServer
from tests.threads import (
    FROM_REDECOMPRAS,
    GMAIL_EN,
    GMAIL_PT,
    OUTLOOK_EN,
    OUTLOOK_PT,
    REDECOMPRAS,
    SIASG_AREA,
    UASG_AREA,
    TicketView,
    attached_forward,
    plain_text,
    reply,
    set_ticket,
    signed,
    staff_reply,
    ticket,
)

pytestmark = pytest.mark.servers

CODE_TAG = re.compile(r"\[#(\d{4}-\d{6})\]")
MESSAGE_DOMAIN = "orgao.rj.gov.br"
STRANGER = "Intruso <intruso@example.com>"
CARLOS = "carlos.pereira@der.rj.gov.br"  # the original sender of every forwarded question
FORWARDER = "redecompras@planejamento.rj.gov.br"
SCREENSHOT = (("print-erro.png", "image/png", screenshot_png()),)

# Reply subjects as real clients write them: pt-BR and English Outlook, Gmail, Thunderbird,
# Apple Mail and German Outlook prefixes, repeated, counted, lower-cased; the tag moved to
# the end, its brackets lost, spaces inside it.
AWKWARD_SUBJECTS = (
    "RE: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG",
    "RES: RES: Res: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG",
    "ENC: Enc.: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG",
    "FW: Fwd: [#{code}] Chamado registrado",
    "RE[2]: [#{code}] Chamado registrado",
    "re: res: [#{code}] chamado registrado",
    "Re: Erro ao publicar aviso no SIASG [#{code}]",
    "RES: #{code} Erro ao publicar aviso",
    "AW: Re: [ # {code} ] Chamado registrado",
)

# Redecompras forwarding Carlos's question: inline (Gmail, Outlook; pt-BR and English) and
# with the original attached as message/rfc822.
FORWARDS = {
    "forward-gmail-pt": lambda: mail("ENC: Dúvida sobre empenho", GMAIL_PT,
                                     sender=REDECOMPRAS, headers=FROM_REDECOMPRAS),
    "forward-gmail-en": lambda: mail("Fwd: Dúvida sobre empenho", GMAIL_EN,
                                     sender=REDECOMPRAS, headers=FROM_REDECOMPRAS),
    "forward-outlook-pt": lambda: mail("ENC: Dúvida sobre empenho", OUTLOOK_PT,
                                       sender=REDECOMPRAS, headers=FROM_REDECOMPRAS),
    "forward-outlook-en": lambda: mail("FW: Dúvida sobre empenho", OUTLOOK_EN,
                                       sender=REDECOMPRAS, headers=FROM_REDECOMPRAS),
    "forward-attached-pt": lambda: attached_forward("ENC: Dúvida sobre empenho",
                                                    "Segue a dúvida."),
    "forward-attached-en": lambda: attached_forward("FW: Dúvida", "See the question."),
}  # fmt: skip


def servant(conversation: str) -> str:
    """The servant who opened ``conversation``, as their From header reads."""
    return f"Servidor {conversation} <{address(conversation)}>"


def address(conversation: str) -> str:
    return f"{conversation}@saude.rj.gov.br"


def colleague(conversation: str) -> str:
    return f"colega.{conversation}@saude.rj.gov.br"


# -- the desk and the rounds ------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One mail the SMTP listener accepted: its envelope recipients and the message."""

    recipients: tuple[str, ...]
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def code(self) -> str:
        """The first ticket code of the subject: the ticket the mail is about."""
        found = CODE_TAG.findall(self.subject)
        assert found, self.subject
        return str(found[0])

    @property
    def text(self) -> str:
        return plain_text(self.message)

    @property
    def files(self) -> list[str]:
        return [str(part.get_filename()) for part in self.message.iter_attachments()]


class Conversations:
    """The conversations' mail, sent round by round, and what came of it.

    Every inbound mail has a name ("rated/staff": the staff answer of conversation "rated");
    ``codes`` holds, by conversation, the code of the ticket its first mail opened.
    """

    def __init__(self, desk: Desk) -> None:
        self.desk = desk
        self.sessions = sessionmaker(desk.engine)
        self.ids: dict[str, str] = {}
        self.codes: dict[str, str] = {}
        self.sent: list[Sent] = []

    def play(self, mails: dict[str, bytes]) -> None:
        """Append a round's mail to INBOX, in order, and run ``mailproc poll --once``."""
        self.ids.update({name: message_id(raw) for name, raw in mails.items()})
        self.desk.imap.append_many("INBOX", list(mails.values()))
        poll = self.desk.poll()
        assert poll.returncode == 0, poll.stderr
        assert poll.report["processed"] == len(mails), poll.report
        assert poll.report["delivery_failed"] == 0, poll.report
        self.sent = [
            Sent(received.recipients, parse(received.raw)) for received in self.desk.smtp.messages
        ]

    def opened(self, conversations: dict[str, bytes]) -> None:
        """Round 1: each conversation's first mail, named "<conversation>/open"."""
        self.play({f"{name}/open": raw for name, raw in conversations.items()})
        self.codes = {name: self.code_of(f"{name}/open") for name in conversations}

    # -- what the desk made of a mail ----------------------------------------------------

    def outcome(self, name: str) -> str:
        with self.sessions() as session:
            found = session.scalars(
                select(m.Message.outcome).where(m.Message.message_id == self.ids[name])
            ).one()
            return str(found)

    def code_of(self, name: str) -> str:
        """The code of the ticket that the mail ``name`` opened or joined."""
        with self.sessions() as session:
            code = session.scalars(
                select(m.Ticket.code)
                .join(m.Message, m.Message.ticket_id == m.Ticket.id)
                .where(m.Message.message_id == self.ids[name])
            ).one()
            return str(code)

    def ticket(self, conversation: str) -> TicketView:
        return ticket(self.sessions, self.codes[conversation])

    def answers(self, name: str) -> list[Sent]:
        """The replies threaded under the mail ``name`` (their In-Reply-To names it)."""
        return [s for s in self.sent if bare_id(s.message["In-Reply-To"]) == self.ids[name]]

    def to(self, recipient: str, code: str | None = None) -> list[Sent]:
        """The mail delivered to ``recipient`` (about ticket ``code``), oldest first."""
        return [
            s
            for s in self.sent
            if recipient in s.recipients and (code is None or code in CODE_TAG.findall(s.subject))
        ]


@pytest.fixture(scope="module")
def mail_desk(
    dovecot_server: DovecotServer,
    _smtp_server_running: SmtpTestServer,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Desk]:
    """A desk of its own for the module (make_desk builds one per test): its Dovecot user,
    the session's SMTP listener emptied, a fresh SQLite database, the outbox run every
    second under ``mailproc run``."""
    dovecot_server.start()
    dovecot_server.add_user("conversas")
    imap = DovecotAccount(dovecot_server, "conversas")
    _smtp_server_running.reset()
    folder = tmp_path_factory.mktemp("conversas")
    desk = build_desk(folder, imap, _smtp_server_running, outbox_seconds=1)
    yield desk
    desk.end_children()
    desk.engine.dispose()


@pytest.fixture(scope="module")
def played(mail_desk: Desk) -> Conversations:
    """Every conversation played to its end."""
    played = Conversations(mail_desk)
    played.opened(first_mail())
    played.play(second_round(played))
    close_unanswered_pending_by_run(played)
    played.play(third_round(played))
    return played


def report(conversation: str, *, screenshot: bool = True, steps: bool = True) -> bytes:
    """A servant's SIASG error report."""
    return mail(
        "Erro ao publicar aviso no SIASG",
        error_body(steps=steps),
        sender=servant(conversation),
        attachments=SCREENSHOT if screenshot else (),
    )


STAFF_DOMAIN = "@suporte.example.gov.br"  # the test desk's staff_domains


def reply_to(played: Conversations, conversation: str) -> str:
    """Where a mail client sends a reply to the desk's answer to the conversation's first
    mail: its Reply-To."""
    [answer] = played.answers(f"{conversation}/open")
    return parseaddr(str(answer.message["Reply-To"]))[1]


def first_mail() -> dict[str, bytes]:
    awkward = {f"awkward{n}": report(f"awkward{n}") for n in range(len(AWKWARD_SUBJECTS))}
    reports = {
        name: report(name)
        for name in ("threaded", "old", "quoted", "replyall", "rated", "reopened", "pending",
                     "commands", "cancelling", "followup", "unanswered")
    }  # fmt: skip
    return {
        **awkward,
        **reports,
        "twosteps": report("twosteps", screenshot=False, steps=False),
        "priority": mail("Reativação de UASG", reactivation_body(), sender=servant("priority")),
        **{name: build() for name, build in FORWARDS.items()},
    }


def second_round(played: Conversations) -> dict[str, bytes]:
    codes = played.codes
    [ack] = played.answers("threaded/open")
    our_id = str(ack.message["Message-ID"])
    return {
        **{
            f"awkward{n}/reply": mail(
                subject.format(code=codes[f"awkward{n}"]),
                f"Mais uma informação ({n}): o erro ocorre sempre às 10h.",
                sender=servant(f"awkward{n}"),
            )
            for n, subject in enumerate(AWKWARD_SUBJECTS)
        },
        # A client that lost the code from the subject still says what it answers.
        "threaded/reply": mail(
            "Re: Chamado registrado",
            "Esqueci de dizer: o erro ocorre também no Firefox.",
            sender=servant("threaded"),
            headers={"In-Reply-To": our_id, "References": our_id},
        ),
        # The servant forwards their old conversation, code left out: a new request.
        "old/forward": mail(
            "ENC: Chamado registrado: Erro ao publicar aviso no SIASG",
            "O mesmo erro voltou, agora em outro pregão.\n\n"
            "---------- Mensagem encaminhada ---------\n"
            f"De: Central de Atendimento <{SUPPORT}>\n"
            f"Subject: [#{codes['old']}] Chamado registrado: Erro ao publicar aviso no SIASG\n\n"
            "Sua solicitação foi registrada.\n",
            sender=servant("old"),
        ),
        "quoted/stranger": mail(
            f"Re: [#{codes['quoted']}] Erro ao publicar aviso no SIASG",
            "Também tenho esse erro.",
            sender=STRANGER,
            attachments=SCREENSHOT,
        ),
        "replyall/reply": reply(
            codes["replyall"],
            "Incluo o colega que acompanha o pregão.",
            sender=servant("replyall"),
            headers={"Cc": f"Colega <{colleague('replyall')}>, {SUPPORT}"},
        ),
        "twosteps/screenshot": reply(
            codes["twosteps"], "Segue o print.", sender=servant("twosteps"), attachments=SCREENSHOT
        ),
        "rated/staff": staff_reply(codes["rated"], "#resolvido\n\nA publicação foi liberada."),
        "reopened/staff": staff_reply(codes["reopened"], "#resolvido\n\nCorrigimos o cadastro."),
        "pending/staff": staff_reply(codes["pending"], "#pendente\nQual navegador o senhor usa?"),
        "unanswered/staff": staff_reply(
            codes["unanswered"], "#pendente\nEm qual UASG o erro ocorre?"
        ),
        "priority/staff": staff_reply(
            codes["priority"],
            "#prioridade alta\nVamos priorizar a reativação.",
            sender=f"Gestão de UASG <{UASG_AREA}>",
        ),
        "commands/status": mail(f"status {codes['commands']}", "", sender=servant("commands")),
        "commands/urgent": mail(
            f"urgente {codes['commands']}: o pregão será aberto amanhã",
            "",
            sender=servant("commands"),
            to=reply_to(played, "commands"),
        ),
        "commands/mine": mail("meus chamados", "", sender=servant("commands")),
        "cancelling/cancel": mail(
            f"cancelar {codes['cancelling']}",
            "Resolvi pelo telefone.",
            sender=servant("cancelling"),
            to=reply_to(played, "cancelling"),
        ),
        "unknown/command": mail("Dúvida", "#prazos\n", sender=servant("unknown")),
        "followup/cancel": reply(
            codes["followup"], "cancelar: resolvi por telefone", sender=servant("followup")
        ),
    }


def close_unanswered_pending_by_run(played: Conversations) -> None:
    """Move the "unanswered" ticket past its requester's time to answer, then let ``mailproc
    run`` do its upkeep (at start) until the requester is told that the ticket was closed."""
    past = utcnow() - timedelta(minutes=1)
    set_ticket(played.sessions, played.codes["unanswered"], incomplete_until=past)
    desk = played.desk
    child = desk.spawn("run")

    def told() -> bool:
        return any(
            address("unanswered") in r.recipients and "falta de retorno" in parse(r.raw)["Subject"]
            for r in desk.smtp.messages
        )

    closed = wait_for(lambda: child.poll() is not None or told(), 30, step=0.2)
    child.send_signal(signal.SIGTERM)
    assert child.wait(timeout=60) == 0, desk.output(child)
    assert closed and told(), desk.output(child)


def third_round(played: Conversations) -> dict[str, bytes]:
    codes = played.codes
    return {
        "replyall/colleague": reply(
            codes["replyall"],
            "Aqui no meu computador o erro também ocorre.",
            sender=f"Colega <{colleague('replyall')}>",
        ),
        "twosteps/steps": reply(
            codes["twosteps"],
            "Passo a passo: abri o SIASG, fui em Divulgação de Compras e cliquei em Publicar.",
            sender=servant("twosteps"),
        ),
        "rated/rating": reply(
            codes["rated"], "Nota: 5 - resolveram rápido", sender=servant("rated")
        ),
        "reopened/still-broken": reply(
            codes["reopened"],
            "Ainda não funciona: a tela continua em branco.",
            sender=servant("reopened"),
        ),
        "pending/answer": reply(codes["pending"], "Uso o Firefox 120.", sender=servant("pending")),
        "unanswered/late": reply(
            codes["unanswered"],
            "Desculpem a demora: o erro ocorre na UASG 925001.",
            sender=servant("unanswered"),
        ),
        "followup/again": reply(
            codes["followup"],
            "O erro voltou hoje.\n\n" + error_body(),
            sender=servant("followup"),
            attachments=SCREENSHOT,
        ),
    }


# -- 1. replies find their ticket ---------------------------------------------------------


@pytest.mark.parametrize("subject", AWKWARD_SUBJECTS)
def test_a_reply_with_an_awkward_subject_updates_its_ticket(
    played: Conversations, subject: str
) -> None:
    n = AWKWARD_SUBJECTS.index(subject)
    code = played.codes[f"awkward{n}"]

    assert played.outcome(f"awkward{n}/reply") == "updated"
    assert played.code_of(f"awkward{n}/reply") == code
    assert played.answers(f"awkward{n}/reply") == []  # a reply is not acknowledged
    [update] = [s for s in played.to(SIASG_AREA, code) if "Nova mensagem" in s.subject]
    assert f"Mais uma informação ({n})" in update.text


def test_a_reply_that_lost_the_code_is_tied_to_its_ticket_by_in_reply_to(
    played: Conversations,
) -> None:
    assert played.outcome("threaded/reply") == "updated"
    assert played.code_of("threaded/reply") == played.codes["threaded"]


def test_forwarding_an_old_conversation_without_its_code_opens_a_new_ticket(
    played: Conversations,
) -> None:
    old, new = played.codes["old"], played.code_of("old/forward")

    assert played.outcome("old/forward") in ("created", "incomplete")
    assert new != old
    [ack] = played.answers("old/forward")
    assert ack.code == new and ack.recipients == (address("old"),)
    assert played.ticket("old").messages == 1


# -- 2. who may update ----------------------------------------------------------------------


def test_a_stranger_quoting_someone_elses_code_gets_a_ticket_of_their_own(
    played: Conversations,
) -> None:
    quoted, new = played.codes["quoted"], played.code_of("quoted/stranger")

    assert new != quoted
    [ack] = played.answers("quoted/stranger")
    assert ack.recipients == ("intruso@example.com",) and ack.code == new
    view = played.ticket("quoted")
    assert view.messages == 1 and "intruso@example.com" not in view.participants
    [(_, detail)] = [e for e in view.events if e[0] == "quoted_by_stranger"]
    assert (detail["sender"], detail["new_ticket"]) == ("intruso@example.com", new)
    assert len(played.to(address("quoted"))) == 1  # its requester heard nothing of it


def test_people_copied_on_a_reply_all_join_the_ticket_and_may_then_update_it(
    played: Conversations,
) -> None:
    code = played.codes["replyall"]

    assert played.ticket("replyall").participants[colleague("replyall")] == "cc"
    assert SUPPORT not in played.ticket("replyall").participants
    assert played.outcome("replyall/colleague") == "updated"
    assert played.code_of("replyall/colleague") == code
    [update] = [s for s in played.to(SIASG_AREA, code) if colleague("replyall") in s.text]
    assert "Aqui no meu computador o erro também ocorre." in update.text


# -- 3. completing an incomplete ticket -------------------------------------------------------


def test_an_incomplete_ticket_is_completed_in_two_steps(played: Conversations) -> None:
    code = played.codes["twosteps"]
    [asked] = played.answers("twosteps/open")
    [still] = played.answers("twosteps/screenshot")
    [done] = played.answers("twosteps/steps")

    assert "print (captura)" in asked.text and "Passo a passo" in asked.text
    assert "print (captura)" not in still.text and "Passo a passo" in still.text
    assert still.code == code and "aguardando informações" in still.subject
    assert done.code == code and "Recebemos as informações que faltavam" in done.text
    [routed] = [s for s in played.to(SIASG_AREA, code) if "Novo chamado" in s.subject]
    assert routed.files == ["print-erro.png"]
    assert played.ticket("twosteps").state == "aberto"


# -- 4. forwarded questions --------------------------------------------------------------------


@pytest.mark.parametrize("forward", FORWARDS)
def test_a_forward_from_redecompras_opens_the_ticket_for_the_original_sender(
    played: Conversations, forward: str
) -> None:
    code = played.codes[forward]

    [ack] = played.answers(f"{forward}/open")
    assert sorted(ack.recipients) == [CARLOS, FORWARDER]
    assert ack.message["To"].addresses[0].addr_spec == CARLOS
    assert ack.message["Cc"].addresses[0].addr_spec == FORWARDER
    assert ack.code == code and "Chamado registrado" in ack.subject
    assert played.ticket(forward).participants == {CARLOS: "requester", FORWARDER: "forwarder"}


# -- 5. staff answers and ratings -------------------------------------------------------------


def test_a_staff_resolution_asks_for_a_rating_and_the_rating_reply_is_stored(
    played: Conversations,
) -> None:
    code = played.codes["rated"]

    [relay] = played.answers("rated/staff")
    assert relay.recipients == (address("rated"),) and relay.code == code
    assert "A publicação foi liberada." in relay.text and "#resolvido" not in relay.text
    assert "nota de 1 (muito insatisfeito) a 5" in relay.text
    [thanks] = played.answers("rated/rating")
    assert "Registramos a nota 5" in thanks.text
    view = played.ticket("rated")
    assert view.state == "resolvido"
    assert view.evaluation == (5, "resolveram rápido", address("rated"))


def test_tickets_show_lists_the_evaluation(played: Conversations) -> None:
    desk = played.desk
    shown = subprocess.run(
        desk.command("tickets", "show", played.codes["rated"], "--json"),
        cwd=REPO, env=desk.env, capture_output=True, timeout=COMMAND_TIMEOUT, check=True,
    )  # fmt: skip

    evaluation = json.loads(shown.stdout)["evaluation"]
    assert {k: evaluation[k] for k in ("score", "comment", "rater")} == {
        "score": 5,
        "comment": "resolveram rápido",
        "rater": address("rated"),
    }
    assert evaluation["at"]


def test_a_reply_to_a_resolved_ticket_reopens_it_and_the_area_hears(
    played: Conversations,
) -> None:
    code = played.codes["reopened"]

    [reopened] = [s for s in played.to(SIASG_AREA, code) if "Chamado reaberto" in s.subject]
    assert "Ainda não funciona: a tela continua em branco." in reopened.text
    assert "que estava resolvido. O chamado foi reaberto" in reopened.text
    view = played.ticket("reopened")
    assert view.state == "aberto" and "reopened" in view.kinds()
    assert view.due_at is not None and view.due_at > utcnow() + timedelta(hours=71)


def test_pendente_relays_the_question_and_the_answer_puts_the_ticket_back_in_service(
    played: Conversations,
) -> None:
    code = played.codes["pending"]

    [question] = played.answers("pending/staff")
    assert question.recipients == (address("pending"),)
    assert "Qual navegador o senhor usa?" in question.text and "pendente" in question.text
    [update] = [s for s in played.to(SIASG_AREA, code) if "Uso o Firefox 120." in s.text]
    assert "Nova mensagem" in update.subject  # not a reopening: it was in the area's hands
    assert played.ticket("pending").state == "aberto"


def test_prioridade_alta_raises_the_priority_and_shortens_the_deadline(
    played: Conversations,
) -> None:
    [relay] = played.answers("priority/staff")
    assert "Prioridade do chamado: alta" in relay.text

    view = played.ticket("priority")
    assert view.priority == "alta"
    assert view.due_at is not None  # half of the 72 hours were left when it was raised
    assert abs(view.due_at - utcnow() - timedelta(hours=36)) < timedelta(minutes=10)


def test_an_unanswered_pending_ticket_is_closed_and_a_late_reply_reopens_it(
    played: Conversations,
) -> None:
    code = played.codes["unanswered"]

    [closing] = [s for s in played.to(address("unanswered")) if "falta de retorno" in s.subject]
    assert closing.code == code
    assert "Em qual UASG o erro ocorre?" in closing.text and "será reaberto" in closing.text
    view = played.ticket("unanswered")
    assert view.kinds().count("closed_unanswered") == 1
    assert ("reopened", {"by": address("unanswered"), "was": "encerrado_sem_retorno"}) in (
        view.events
    )
    assert view.state == "aberto"
    [reopened] = [s for s in played.to(SIASG_AREA, code) if "Chamado reaberto" in s.subject]
    assert "a UASG 925001" in reopened.text


def test_a_reply_to_a_cancelled_ticket_opens_a_new_ticket_referring_to_it(
    played: Conversations,
) -> None:
    old, new = played.codes["followup"], played.code_of("followup/again")

    assert new != old and played.outcome("followup/again") == "created"
    [ack] = played.answers("followup/again")
    assert ack.code == new and ack.recipients == (address("followup"),)
    view = played.ticket("followup")
    assert view.state == "cancelado"
    [(_, detail)] = [e for e in view.events if e[0] == "followed_up"]
    assert detail["new_ticket"] == new


# -- 6. requester commands ----------------------------------------------------------------------

# The command mail -> the subject and phrases of its answer ({code}: the ticket's code).
COMMAND_ANSWERS = {
    "commands/status": ("Situação do chamado", ["Situação atual do chamado {code}: em atendimento",
                                                "Erro/Indisponibilidade – SIASG"]),
    "commands/urgent": ("Pedido de urgência registrado", ["o pregão será aberto amanhã",
                                                          "A prioridade do chamado passou a ser "
                                                          "crítica"]),
    "commands/mine": ("Seus chamados", ["{code}", "em atendimento"]),
    "cancelling/cancel": ("Chamado cancelado", ["foi cancelado", "Resolvi pelo telefone."]),
    "unknown/command": ("Comandos por e-mail", ["Não reconhecemos o comando", "meus chamados"]),
}  # fmt: skip


@pytest.mark.parametrize("command", COMMAND_ANSWERS)
def test_each_command_is_answered_to_its_sender(played: Conversations, command: str) -> None:
    conversation = command.split("/")[0]
    subject, phrases = COMMAND_ANSWERS[command]
    code = played.codes.get(conversation, "")

    assert played.outcome(command) == "command"
    [answer] = played.answers(command)
    assert answer.recipients == (address(conversation),)
    assert subject in answer.subject
    for phrase in phrases:
        assert phrase.format(code=code) in answer.text, phrase


def test_meus_chamados_lists_only_the_senders_tickets(played: Conversations) -> None:
    [listing] = played.answers("commands/mine")

    others = set(played.codes.values()) - {played.codes["commands"]}
    assert not [code for code in others if code in listing.text]


def test_every_mail_about_a_ticket_carries_its_signed_reply_address(
    played: Conversations,
) -> None:
    """The requester's side gets the requester's address of the ticket, staff the staff's
    (the addresses tests.threads.signed makes, which the other tests reply to)."""
    areas = {theme.routing.address for theme in load_rulebook(shipped_dir("rules")).themes}
    about_tickets = [s for s in played.sent if CODE_TAG.search(s.subject)]
    assert len(about_tickets) > 50
    for sent in about_tickets:
        to_staff = any(r in areas or r.endswith(STAFF_DOMAIN) for r in sent.recipients)
        role = "staff" if to_staff else "requester"
        assert parseaddr(str(sent.message["Reply-To"]))[1] == signed(sent.code, role), (
            sent.recipients,
            sent.subject,
        )


def test_urgente_raises_the_priority_and_tells_the_area(played: Conversations) -> None:
    code = played.codes["commands"]

    [area] = [s for s in played.to(SIASG_AREA, code) if "Pedido de urgência" in s.subject]
    assert "o pregão será aberto amanhã" in area.text
    view = played.ticket("commands")
    assert view.priority == "critica"
    assert view.due_at is not None and view.due_at < utcnow() + timedelta(hours=37)


def test_cancelar_cancels_the_ticket_and_tells_the_area(played: Conversations) -> None:
    code = played.codes["cancelling"]

    assert played.ticket("cancelling").state == "cancelado"
    [area] = [s for s in played.to(SIASG_AREA, code) if "cancelado" in s.subject]
    assert "Resolvi pelo telefone." in area.text


def test_no_conversation_made_the_desk_fail_or_quarantine(played: Conversations) -> None:
    with played.sessions() as session:
        outcomes = set(session.scalars(select(m.Message.outcome)))
        unsent = session.scalars(select(m.OutboxMail).where(m.OutboxMail.status != "sent"))
        assert [mail.purpose for mail in unsent] == []
    assert outcomes <= {"created", "incomplete", "updated", "command"}
    assert len(played.sent) == len({bare_id(s.message["Message-ID"]) for s in played.sent})
