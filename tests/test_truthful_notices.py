"""Notices that tell the truth about the whole ticket (issue #17, item 5): what it has
received so far (files of earlier replies too), what a reply added and what is still
missing, the colleagues copied on it, the deadline after urgency, hints printed once, a
stranger's own ticket, a suggestion's body, the requester named to the area, and the outbox
Maildir made on first use."""

from __future__ import annotations

import mailbox
import re
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from mailproc.mail.subject_codes import untagged
from mailproc.outgoing.delivery import MaildirSender
from mailproc.outgoing.notices import without_opening
from mailproc.outgoing.replies import deadline_text
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from tests.e2e import Desk, parse
from tests.mails import (
    REQUESTER,
    authenticated,
    error_body,
    error_report,
    mail,
    screenshot_png,
)
from tests.threads import MARIA, SIASG_AREA, Queued, queued, reply, set_ticket, signed, ticket

Ingest = Callable[[bytes], dict]
COLLEAGUE = "joao.lima@saude.rj.gov.br"
JOAO = f"João Lima <{COLLEAGUE}>"
STEPS = "Passo a passo: abri o SIASG, fui em Divulgação de Compras e cliquei em Publicar."
PRINT = (("print-erro.png", "image/png", screenshot_png()),)


def _open_incomplete(ingest: Ingest, *, cc: str | None = JOAO) -> str:
    """Maria's error report without print and steps, copying ``cc``; her From is authentic
    (vouched for by our server), so the people she copies join the ticket."""
    headers = {**authenticated(MARIA), **({"Cc": cc} if cc else {})}
    raw = mail("Erro ao publicar aviso no SIASG", error_body(steps=False), headers=headers)
    result = ingest(raw)
    assert result["outcome"] == "incomplete", result
    return str(result["ticket"])


def _last(app: App, purpose: str) -> Queued:
    return queued(app, purpose)[-1]


def _visible(html: str) -> str:
    """The HTML's text as a reader sees it: tags dropped, spaces collapsed."""
    return " ".join(re.sub(r"<[^>]+>", " ", html).split())


# -- what was received, what is still missing ------------------------------------------------


def test_a_partial_reply_says_what_came_and_what_is_still_missing(ingest: Ingest, app: App) -> None:
    code = _open_incomplete(ingest)
    result = ingest(reply(code, "Segue o print.", attachments=PRINT))

    assert (result["outcome"], result["missing"]) == ("updated", ["passo_a_passo"])
    first, after = queued(app, "incomplete")
    assert "foi registrada com o código" in first.text
    assert "foi registrada com o código" not in after.text  # not the opening notice again
    assert "Recebemos" in after.text and "print-erro.png" in after.text
    assert "ainda falta" in after.text.lower()
    assert "Passo a passo" in after.text
    assert after.message["Subject"] != first.message["Subject"]
    # the HTML says the same
    seen = _visible(after.html)
    assert "print-erro.png" in seen and "ainda falta" in seen.lower()
    assert "foi registrada com o código" not in seen


def test_a_reply_that_adds_nothing_says_so(ingest: Ingest, app: App) -> None:
    code = _open_incomplete(ingest)
    ingest(reply(code, "Bom dia, vou providenciar."))

    after = _last(app, "incomplete")
    assert "nenhuma das informações que faltavam" in after.text
    assert "ainda falta" in after.text.lower()


def test_the_completion_notice_lists_files_of_earlier_replies(ingest: Ingest, app: App) -> None:
    code = _open_incomplete(ingest, cc=None)
    ingest(reply(code, "Segue o print.", attachments=PRINT))
    ingest(reply(code, STEPS))

    done = _last(app, "completed")
    assert "print-erro.png" in done.text
    assert "Nenhum anexo foi recebido" not in done.text
    assert "print-erro.png" in _visible(done.html)


def test_the_status_reply_lists_what_the_ticket_received(ingest: Ingest, app: App) -> None:
    code = ingest(error_report())["ticket"]
    ingest(mail(f"status {code}", "status"))

    status = _last(app, "status")
    assert "print-erro.png" in status.text and "925001" in status.text


# -- copied colleagues -----------------------------------------------------------------------


def test_colleagues_copied_by_the_requester_are_copied_on_the_notices(
    ingest: Ingest, app: App
) -> None:
    code = _open_incomplete(ingest)
    ingest(reply(code, "Segue o print.", attachments=PRINT))

    opening, after = queued(app, "incomplete")
    for notice in (opening, after):
        assert notice.recipients == [MARIA, COLLEAGUE]
        assert COLLEAGUE in str(notice.message["Cc"])
        assert "Prezado(a) Maria Silva" in notice.text


def test_a_colleague_who_completes_the_ticket_is_acknowledged(ingest: Ingest, app: App) -> None:
    code = _open_incomplete(ingest)
    ingest(reply(code, "Segue o print.", attachments=PRINT))
    result = ingest(reply(code, STEPS, sender=JOAO))

    assert (result["outcome"], result["missing"]) == ("updated", [])
    done = _last(app, "completed")
    assert done.recipients == [MARIA, COLLEAGUE]
    assert "Prezado(a) Maria Silva" in done.text  # the requester is greeted, not João
    assert "João Lima" in done.text  # who sent what completed it is named


def test_nobody_is_copied_when_the_from_is_not_authentic(ingest: Ingest, app: App) -> None:
    """A forger's Cc is not a participant (decide._copied): the desk does not write to it."""
    raw = mail(
        "Erro ao publicar aviso no SIASG",
        error_body(steps=False),
        headers={"Cc": "alvo@example.com"},
    )
    ingest(raw)

    [notice] = queued(app, "incomplete")
    assert notice.recipients == [MARIA]
    assert notice.message["Cc"] is None


def test_the_copies_are_capped(ingest: Ingest, app: App) -> None:
    many = ", ".join(f"colega{n}@saude.rj.gov.br" for n in range(30))
    code = _open_incomplete(ingest, cc=many)
    # A second proven mail adds ten more participants: the notice still copies ten at most.
    more = ", ".join(f"outro{n}@saude.rj.gov.br" for n in range(30))
    ingest(reply(code, "Segue o print.", attachments=PRINT,
                 headers={"Cc": more, **authenticated(MARIA)}))  # fmt: skip

    after = _last(app, "incomplete")
    assert len(ticket(app, code).participants) == 21
    assert len(after.recipients) == 11  # Maria and ten colleagues


# -- the deadline after urgency --------------------------------------------------------------


def _deadline_text(app: App, code: str) -> str:
    due = ticket(app, code).due_at
    assert due is not None
    return app.pipeline.replier.format_deadline(due)


def test_after_urgency_every_notice_shows_the_new_deadline_and_no_urgency_hint(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report())["ticket"]
    before = ticket(app, code).due_at
    ingest(mail(f"urgente {code}: o pregão abre amanhã", "urgente", to=signed(code)))
    ingest(mail(f"status {code}", "status"))

    after = ticket(app, code).due_at
    assert before is not None and after is not None and after < before
    shown = _deadline_text(app, code)
    for purpose in ("urgent_received", "status", "area_urgent"):
        notice = _last(app, purpose)
        assert shown in notice.text, purpose
        assert "72 horas" not in notice.text, purpose  # the theme's hours are no longer true
    for purpose in ("urgent_received", "status"):
        notice = _last(app, purpose)
        assert "tratamento prioritário" not in notice.text, purpose
        assert "tratamento prioritário" not in _visible(notice.html), purpose


def test_a_reply_that_puts_an_urgent_ticket_back_in_service_keeps_it_urgent(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report())["ticket"]
    ingest(mail(f"urgente {code}: o pregão abre amanhã", "urgente", to=signed(code)))
    set_ticket(app, code, state="pendente")
    ingest(reply(code, "Segue o que pediram."))

    due = ticket(app, code).due_at
    hours = app.config.desk.conversation.urgent_deadline_percent * 72 / 100
    assert due is not None and due < utcnow() + timedelta(hours=hours, minutes=5)


# -- hints -------------------------------------------------------------------------------------


def test_each_hint_is_printed_once(ingest: Ingest, app: App) -> None:
    _open_incomplete(ingest, cc=None)

    notice = _last(app, "incomplete")
    assert notice.text.count("descreva, em ordem, o que foi feito") == 1
    assert _visible(notice.html).count("descreva, em ordem, o que foi feito") == 1


def test_a_suggestion_takes_its_body_as_description_and_offers_no_urgency(
    ingest: Ingest, app: App
) -> None:
    body = (
        "Bom dia,\n\nSeria útil que a tela de pesquisa de pregões permitisse filtrar "
        "por UASG e por data de abertura ao mesmo tempo.\n\nAtt.,\nMaria"
    )
    result = ingest(mail("Sugestão de melhoria na pesquisa de pregões", body))

    assert (result["outcome"], result["theme"]) == ("created", "melhorias-siasg")
    notice = _last(app, "created")
    assert "não informad" not in notice.text
    assert "filtrar por UASG" in notice.text
    assert "tratamento prioritário" not in notice.text
    assert "tratamento prioritário" not in _visible(notice.html)


# -- a stranger's own ticket -------------------------------------------------------------------


def test_a_stranger_gets_a_ticket_with_a_clean_subject_and_is_told_they_were_not_added(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report())["ticket"]
    stranger = mail(
        f"RE: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG",
        error_body(),
        sender="Pedro Alves <pedro.alves@fazenda.rj.gov.br>",
        attachments=PRINT,
    )
    result = ingest(stranger)

    new = result["ticket"]
    assert new != code
    notice = _last(app, "created")
    subject = str(notice.message["Subject"])
    assert code not in subject and new in subject
    assert not subject.split("] ", 1)[1].upper().startswith("RE:")
    assert subject.count("Chamado registrado") == 1  # our own subject's opening is not kept
    assert code in notice.text and "não foi incluída" in notice.text
    assert code in _visible(notice.html)


def test_a_forwarded_report_opens_a_ticket_without_the_forward_prefix(
    ingest: Ingest, app: App
) -> None:
    result = ingest(mail("ENC: Erro ao publicar aviso no SIASG", error_body(), attachments=PRINT))

    with app.sessions() as session:
        subject = session.scalar(select(m.Ticket.subject).where(m.Ticket.code == result["ticket"]))
    assert subject == "Erro ao publicar aviso no SIASG"
    notice = _last(app, "created")
    assert "ENC:" not in str(notice.message["Subject"])


def test_a_stranger_quoting_a_code_that_names_no_ticket_gets_the_same_words(
    ingest: Ingest, app: App
) -> None:
    """Whether the quoted ticket exists is not told (docs/security.md)."""
    stranger = mail(
        "RE: [#2026-999999] Chamado registrado: Erro ao publicar aviso no SIASG",
        error_body(),
        sender="Pedro Alves <pedro.alves@fazenda.rj.gov.br>",
        attachments=PRINT,
    )
    ingest(stranger)

    notice = _last(app, "created")
    assert "2026-999999" in notice.text and "não foi incluída" in notice.text
    assert "2026-999999" not in str(notice.message["Subject"])


@pytest.mark.parametrize(
    ("subject", "clean"),
    [
        ("RE: [#2026-000123] Chamado registrado: Erro no SIASG", "Erro no SIASG"),
        ("RES: ENC: [ # 2026-000123 ] Chamado ainda aguardando informações: Erro", "Erro"),
        ("Re: Erro ao empenhar #2026-000123", "Erro ao empenhar"),
        ("RE: [#2026-000123] Chamado registrado", "Chamado registrado"),  # nothing else left
        ("RE: [#2026-000124] Erro [#2026-000123]", "[#2026-000124] Erro"),  # only that code
    ],
)
def test_a_subject_quoting_another_ticket_is_cleaned(app: App, subject: str, clean: str) -> None:
    openings = app.pipeline.replier.renderer.subject_openings
    assert without_opening(untagged(subject, "2026-000123"), openings) == clean


# -- the area hears who wrote ------------------------------------------------------------------


def test_the_area_update_names_the_sender_by_name(ingest: Ingest, app: App) -> None:
    code = ingest(error_report())["ticket"]
    ingest(reply(code, "O erro voltou a acontecer hoje."))

    [update] = queued(app, "area_update")
    assert update.recipients == [SIASG_AREA]
    first = next(line for line in update.text.splitlines() if "nova mensagem" in line)
    assert first.startswith(f"{REQUESTER} enviou")  # "Maria Silva <maria.silva@…>"


# -- the outbox Maildir ------------------------------------------------------------------------


def test_the_outbox_maildir_and_its_parents_are_made_on_first_use(tmp_path: Path) -> None:
    folder = tmp_path / "var" / "outbox"
    MaildirSender(folder).send(b"Subject: x\r\n\r\nOi\r\n", "suporte@x.gov.br", [MARIA])

    assert len(mailbox.Maildir(folder, create=False)) == 1


@pytest.mark.parametrize("purpose", ["incomplete", "completed"])
def test_text_and_html_tell_the_same_files(ingest: Ingest, app: App, purpose: str) -> None:
    code = _open_incomplete(ingest, cc=None)
    ingest(reply(code, "Segue o print.", attachments=PRINT))
    ingest(reply(code, STEPS))

    notice = _last(app, purpose)
    assert ("print-erro.png" in notice.text) == ("print-erro.png" in _visible(notice.html))
    assert "print-erro.png" in notice.text


# -- end to end: Dovecot in, ``mailproc poll --once``, the SMTP listener out --------------------

# Outlook in pt-BR, as most state bodies send: windows-1252, a Thread-Index, the quote of the
# desk's mail under "De:/Enviado em:".
OUTLOOK = {"X-Mailer": "Microsoft Outlook 16.0", "Thread-Index": "AdtIbXyZq1234567890abcdef=="}


def _outlook_reply(
    code: str,
    body: str,
    *,
    sender: str = REQUESTER,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
) -> bytes:
    quote = (
        "\n\n________________________________\n"
        "De: Central de Atendimento <suporte@compras.example.gov.br>\n"
        "Enviado em: sexta-feira, 20 de novembro de 2026 09:10\n"
        f"Assunto: [#{code}] Chamado aguardando informações\n\n"
        f"Sua solicitação foi registrada com o código {code}...\n"
    )
    return reply(code, body + quote, sender=sender, attachments=attachments,
                 charset="windows-1252", headers=OUTLOOK)  # fmt: skip


def _played(desk: Desk, *rounds: list[bytes]) -> list[tuple[list[str], str, str, str]]:
    """Each round appended to INBOX and polled once; what the SMTP listener took, as
    (envelope recipients, Subject, Cc, plain text)."""
    for raws in rounds:
        desk.imap.append_many("INBOX", raws)
        poll = desk.poll()
        assert poll.returncode == 0, poll.stderr
        assert poll.report["processed"] == len(raws), poll.report
    taken = []
    for received in desk.smtp.messages:
        message = parse(received.raw)
        body = message.get_body(preferencelist=("plain",))
        assert body is not None
        cc = str(message["Cc"] or "")
        taken.append((list(received.recipients), str(message["Subject"]), cc, body.get_content()))
    return taken


@pytest.mark.servers
def test_mail_a_partial_reply_reaches_requester_and_colleague_and_the_colleague_is_thanked(
    desk: Desk,
) -> None:
    opening = mail(
        "Erro ao publicar aviso no SIASG",
        error_body(steps=False),
        charset="windows-1252",
        headers={"Cc": JOAO, **OUTLOOK, **authenticated(MARIA)},
    )
    desk.imap.append_many("INBOX", [opening])
    assert desk.poll().returncode == 0
    [code] = desk.ticket_codes().values()

    sent = _played(
        desk,
        [_outlook_reply(code, "Bom dia,\n\nSegue o print.\n\nAtt.,\nMaria", attachments=PRINT)],
        [_outlook_reply(code, STEPS + "\n\nAtt.,\nJoão", sender=JOAO)],
    )

    to_maria = [s for s in sent if MARIA in s[0]]
    first, after, done = to_maria
    for recipients, _, cc, _ in to_maria:
        assert recipients == [MARIA, COLLEAGUE] and COLLEAGUE in cc
    assert "foi registrada com o código" in first[3]
    assert "Recebemos a sua resposta" in after[3] and "print-erro.png" in after[3]
    assert "ainda falta" in after[3].lower() and "Passo a passo" in after[3]
    assert after[1] != first[1]
    assert "Recebemos de João Lima" in done[3] and "print-erro.png" in done[3]
    assert "Prezado(a) Maria Silva" in done[3]


@pytest.mark.servers
def test_mail_after_urgency_every_mail_shows_the_new_deadline(desk: Desk) -> None:
    desk.imap.append_many("INBOX", [error_report()])
    assert desk.poll().returncode == 0
    [code] = desk.ticket_codes().values()
    urgent = mail(
        f"RES: [#{code}] Chamado registrado", "urgente: o pregão abre amanhã às 9h",
        to=signed(code), headers=OUTLOOK,
    )  # fmt: skip
    status = mail(f"status {code}", "Bom dia, qual a situação?")

    sent = _played(desk, [urgent, status])

    with desk.session() as session:
        due = session.scalars(select(m.Ticket.due_at).filter_by(code=code)).one()
    deadline = deadline_text(due, ZoneInfo("America/Sao_Paulo"))
    later = [s for s in sent if "Pedido de urgência" in s[1] or "Situação do chamado" in s[1]]
    assert {s[1].split("]", 1)[1].split(":")[0].strip() for s in later} == {
        "Pedido de urgência registrado", "Pedido de urgência", "Situação do chamado"
    }  # fmt: skip
    for recipients, subject, _, text in later:
        assert deadline in text, subject
        assert "72 horas" not in text, subject
        if recipients == [MARIA]:  # the requester's: no offer of what was just done
            assert "tratamento prioritário" not in text, subject
