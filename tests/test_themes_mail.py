"""Themes and conversations as servidores write them, through real mail: appended to the
Dovecot INBOX, read by ``mailproc poll --once`` run as a subprocess, judged by what the SMTP
listener received and what the database holds (issue #17, items 3 and 4).

    round 1   a symptom as subject (Outlook, windows-1252), "Ajuda" with a body about a
              blocked password (Gmail), an ambiguous mail with no subject (iPhone)
              and a complete error report (Thunderbird)
    round 2   "Andamento do chamado CODE" about the complete ticket (the status) and about
              the incomplete one (what it still waits for)
"""

from __future__ import annotations

from email.message import EmailMessage

import pytest
from sqlalchemy import select

from mailproc.storage import models as m
from tests.e2e import Desk, bare_id, message_id
from tests.mails import error_body, mail, screenshot_png

pytestmark = pytest.mark.servers

OUTLOOK = {
    "Thread-Topic": "Sistema não deixa emitir empenho",
    "Thread-Index": "AdtK3mF0b2xrZ2JvZGF5",
    "X-Mailer": "Microsoft Outlook 16.0",
    "Content-Language": "pt-BR",
}
SYMPTOM = mail(
    "Sistema não deixa emitir empenho",
    "Bom dia,\r\n\r\nDesde ontem o sistema não deixa emitir o empenho da UASG 925001: ao "
    "clicar em Confirmar a tela fica parada.\r\n\r\nAtt.,\r\n\r\nJoão Lima\r\nDivisão de "
    "Orçamento – Secretaria de Estado de Fazenda\r\nTel.: (21) 2334-5678 ramal 215\r\n",
    sender="João Lima <joao.lima@fazenda.rj.gov.br>",
    charset="windows-1252",
    headers=OUTLOOK,
    attachments=(("image001.png", "image/png", screenshot_png()),),
)
PASSWORD = mail(
    "Ajuda",
    "Boa tarde,\n\nMinha senha do SIASG está bloqueada e não consigo acessar o sistema desde "
    "segunda. Preciso do desbloqueio para homologar um pregão.\n\nAtenciosamente,\n\nAna "
    "Souza\nCoordenadoria de Compras – DER-RJ\n",
    sender="Ana Souza <ana.souza@der.rj.gov.br>",
    headers={"X-Mailer": "Gmail"},
)
AMBIGUOUS = mail(
    "",
    "Não consigo acessar o sistema, aparece erro de login.\n\nEnviado do meu iPhone",
    sender="Carla Reis <carla.reis@educacao.rj.gov.br>",
    headers={"X-Mailer": "iPhone Mail (20H115)"},
)

COMPLETE = mail(
    "Erro ao publicar aviso no SIASG",
    error_body(),
    headers={"User-Agent": "Mozilla Thunderbird 115.5"},
    attachments=(("tela.png", "image/png", screenshot_png()),),
)


def reply_to(desk: Desk, raw: bytes) -> EmailMessage:
    [found] = [r for r in desk.replies() if bare_id(r["In-Reply-To"]) == message_id(raw)]
    return found


def text_of(reply: EmailMessage) -> str:
    body = reply.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content())


def theme_of(desk: Desk, raw: bytes) -> str | None:
    with desk.session() as session:
        return session.scalar(
            select(m.Ticket.theme_id)
            .join(m.Message, m.Message.ticket_id == m.Ticket.id)
            .where(m.Message.message_id == message_id(raw))
        )


@pytest.fixture
def first_round(desk: Desk) -> Desk:
    desk.imap.append_many("INBOX", [SYMPTOM, PASSWORD, AMBIGUOUS, COMPLETE])
    poll = desk.poll()
    assert poll.returncode == 0, poll.stderr
    return desk


def test_symptoms_and_vague_subjects_find_their_theme_and_doubt_is_asked(
    first_round: Desk,
) -> None:
    desk = first_round
    outcomes = desk.outcomes()

    assert outcomes[message_id(SYMPTOM)] in ("created", "incomplete")
    assert theme_of(desk, SYMPTOM) == "erro-siasg"
    assert outcomes[message_id(PASSWORD)] in ("created", "incomplete")
    assert theme_of(desk, PASSWORD) == "cadastro"
    assert outcomes[message_id(AMBIGUOUS)] == "no_theme"
    asked = text_of(reply_to(desk, AMBIGUOUS))
    assert "ela parece tratar de um destes temas" in asked
    likely = asked[: asked.index("Temas de atendimento")]
    assert "Erro/Indisponibilidade – SIASG" in likely and "Cadastro de unidades" in likely
    assert "usando o assunto: Erro ao acessar o SIASG" in likely
    assert "usando o assunto: Alteração de cadastro de usuário" in likely


def test_andamento_do_chamado_gets_the_status_through_real_mail(first_round: Desk) -> None:
    desk = first_round
    codes = desk.ticket_codes()
    complete, waiting = codes[message_id(COMPLETE)], codes[message_id(SYMPTOM)]
    assert desk.outcomes()[message_id(COMPLETE)] == "created"
    asking = mail(f"Andamento do chamado {complete}", "Bom dia,\n\nAlguma novidade?\n\nAtt.")
    asking_waiting = mail(
        "Consulta",
        f"Bom dia,\n\nGostaria de saber o andamento do chamado {waiting}.\n\nAtt.,\nJoão",
        sender="João Lima <joao.lima@fazenda.rj.gov.br>",
    )
    desk.imap.append_many("INBOX", [asking, asking_waiting])

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    outcomes = desk.outcomes()
    assert outcomes[message_id(asking)] == "command"
    answer = reply_to(desk, asking)
    assert f"[#{complete}]" in str(answer["Subject"])
    text = text_of(answer)
    assert "em atendimento" in text and "Erro/Indisponibilidade – SIASG" in text
    assert "nenhum chamado foi registrado" not in text
    # A ticket that waits for its requester: the answer is what it still waits for.
    assert outcomes[message_id(asking_waiting)] == "updated"
    still = text_of(reply_to(desk, asking_waiting))
    assert waiting in still and "nenhum chamado foi registrado" not in still
