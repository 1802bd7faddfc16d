"""Requester commands by e-mail: the pure parser, then each command through ``mailproc ingest``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

import pytest

from mailproc.decision.commands import Command, CommandKind, parse_command
from mailproc.decision.decide import Facts, Policy, Thread, decide
from mailproc.decision.values import Decision, Outcome
from mailproc.mail.message import Address, Attachment, InboundMessage
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import load_rulebook
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from tests.mails import (
    SUPPORT,
    authenticated,
    error_body,
    error_report,
    mail,
    png,
    reactivation,
    screenshot_png,
)
from tests.threads import (
    MARIA,
    SIASG_AREA,
    count,
    queued,
    reply,
    set_ticket,
    signed,
    staff_reply,
    ticket,
)

Ingest = Callable[[bytes], dict]
CODE = "2026-000123"
STATUS, MINE, URGENT, CANCEL, HELP = (
    CommandKind.STATUS,
    CommandKind.MY_TICKETS,
    CommandKind.URGENT,
    CommandKind.CANCEL,
    CommandKind.HELP,
)

# (subject, new text, in a ticket's thread?) -> the command, or None for an ordinary message
PARSED = [
    (f"status {CODE}", "", False, Command(STATUS, CODE)),
    (f"Status #{CODE}", "", False, Command(STATUS, CODE)),
    (f"status [#{CODE}]", "", False, Command(STATUS, CODE)),
    (f"[#{CODE}] status", "", False, Command(STATUS, CODE)),
    (f"Situação do chamado {CODE}", "", False, Command(STATUS, CODE)),
    ("Consulta", f"status {CODE}", False, Command(STATUS, CODE)),
    (f"RES: [#{CODE}] Chamado registrado: Erro", "status", True, Command(STATUS)),
    (f"RES: [#{CODE}] Chamado registrado: Erro", "Status?", True, Command(STATUS)),
    ("status", "", False, Command(STATUS)),  # the bare keyword: help with the code
    ("meus chamados", "", False, Command(MINE)),
    ("Meus Chamados", "", False, Command(MINE)),
    ("Consulta", "meus chamados", False, Command(MINE)),
    (f"urgente {CODE}", "Pregão amanhã.", False, Command(URGENT, CODE, "Pregão amanhã.")),
    (f"urgente {CODE}: pregão amanhã", "", False, Command(URGENT, CODE, "pregão amanhã")),
    (f"Re: [#{CODE}] x", "Urgente: pregão amanhã", True, Command(URGENT, None, "pregão amanhã")),
    (f"Re: [#{CODE}] x", "URGENTE!\nPregão amanhã.", True, Command(URGENT, None, "Pregão amanhã.")),
    (f"cancelar {CODE}", "", False, Command(CANCEL, CODE)),
    (f"Re: [#{CODE}] x", "Cancelar: resolvido por telefone", True,
     Command(CANCEL, None, "resolvido por telefone")),
    ("Dúvida", "#comando", False, Command(HELP)),
    (f"Re: [#{CODE}] x", "#ajuda", True, Command(HELP)),
    # Not commands: questions and requests that merely start like one.
    ("Status do pregão", "Qual o status do pregão 90012/2026?", False, None),
    ("Status do pregão", "Status do pregão?", True, None),
    ("URGENTE - erro no SIASG", "O sistema caiu.", False, None),
    ("URGENTE - erro no SIASG", "O sistema caiu.", True, None),  # a reply-all to the original
    ("Erro no SIASG", "Urgente!\nO sistema caiu.", False, None),
    ("Cancelar o pregão", "Como cancelo um pregão?", False, None),
    (f"Re: [#{CODE}] x", "Cancelamento do pregão foi publicado?", True, None),
    (f"Re: [#{CODE}] x", "Status: continua com erro", True, None),
    ("Processo 2026-000123/2025 status", "", False, None),
    (f"Re: [#{CODE}] x", "#resolvido", True, None),  # a staff directive, not a command
    ("Erro", "#1 abri o sistema", False, None),
    ("Urgente!!!", "preciso de resposta hoje", False, None),  # a request: new_request
    ("Meus chamados antigos sumiram", "", False, None),
    # Asked in words: status and cancellation (a cancellation is only confirmed: decide).
    (f"Andamento do chamado {CODE}", "", False, Command(STATUS, CODE, in_words=True)),
    (f"Posição do chamado nº {CODE}?", "", False, Command(STATUS, CODE, in_words=True)),
    (f"Protocolo {CODE}", "", False, Command(STATUS, CODE, in_words=True)),
    (f"Ticket #{CODE}", "", False, Command(STATUS, CODE, in_words=True)),
    ("Consulta", f"Bom dia,\n\nGostaria de saber o andamento do chamado {CODE}.\n\nAtt.,\nMaria",
     False, Command(STATUS, CODE, in_words=True)),
    (f"RES: [#{CODE}] Erro", "Qual a situação do meu chamado?", True,
     Command(STATUS, CODE, in_words=True)),
    (f"RES: [#{CODE}] Erro", "Bom dia,\n\nPodem cancelar, já resolvemos.\n\nAtt.", True,
     Command(CANCEL, CODE, in_words=True)),
    (f"RES: [#{CODE}] Erro", "Já resolvemos, podem fechar.", True,
     Command(CANCEL, CODE, in_words=True)),
    (f"RES: [#{CODE}] Erro", "pode encerrar, obrigado", True, Command(CANCEL, CODE, in_words=True)),
    ("Cancelamento", f"Favor cancelar o chamado {CODE}, obrigado.", False,
     Command(CANCEL, CODE, in_words=True)),
    # Mentions, not requests: a code in passing, a pregão to cancel, a long reply.
    ("Erro ao publicar aviso", f"O mesmo erro do chamado {CODE} voltou.", False, None),
    (f"RES: [#{CODE}] Erro", f"Segue o print pedido no chamado {CODE}.", True, None),
    (f"RES: [#{CODE}] Erro", "Podem cancelar o pregão 90012/2026?", True, None),
    ("Dúvida", "Favor cancelar o pregão de ontem.", False, None),
    (f"RES: [#{CODE}] Erro", "O pregão não pode encerrar.", True, None),
    (f"RES: [#{CODE}] Erro", "Qual a situação do pedido de empenho?", True, None),
    ("Andamento do chamado", "Gostaria de saber a situação.", False,
     Command(STATUS, in_words=True)),  # the help says how to name it
    ("Pedido de reativação", "Qual a situação do meu pedido de reativação da UASG?", False,
     None),
    (f"RES: [#{CODE}] Erro", "Gostaria de saber o andamento do chamado.\n" + "UASG: 925001\n" * 40,
     True, None),
    (f"RES: [Chamado {CODE}] Erro", "Segue o print.", True, None),
    # The subject of the desk's own status reply, answered: the sender's text only counts.
    (f"RES: [#{CODE}] Situação do chamado: Erro", "O navegador é o Chrome.", True, None),
    (f"[#{CODE}] Andamento do chamado", "Segue a planilha.", True, None),
]  # fmt: skip


@pytest.mark.parametrize(("subject", "text", "in_thread", "expected"), PARSED)
def test_parse_command(subject: str, text: str, in_thread: bool, expected: Command | None) -> None:
    assert parse_command(subject, text, in_thread=in_thread) == expected


def test_a_custom_tag_format_is_recognised_and_removed() -> None:
    command = parse_command(
        f"RE: [Chamado {CODE}] status", "", in_thread=True, tag_format="[Chamado {code}]"
    )

    assert command == Command(STATUS, CODE)


# -- through ingest ---------------------------------------------------------------------------


def _open(ingest: Ingest) -> str:
    result = ingest(error_report())
    assert result["outcome"] == "created"
    return str(result["ticket"])


def test_status_with_a_code_answers_state_theme_deadline_and_last_answer(
    ingest: Ingest, app: App
) -> None:
    code = _open(ingest)
    ingest(staff_reply(code, "Estamos analisando o erro com a equipe do Serpro."))

    result = ingest(mail(f"status {code}", ""))

    assert (result["outcome"], result["ticket"], result["replies"]) == ("command", code, 1)
    [answer] = queued(app, "status")
    assert answer.recipients == [MARIA]
    assert f"[#{code}]" in answer.message["Subject"]
    for phrase in ("em atendimento", "Erro/Indisponibilidade – SIASG", "Prazo previsto",
                   "Estamos analisando o erro com a equipe do Serpro."):  # fmt: skip
        assert phrase in answer.text
    assert ticket(app, code).messages == 3  # the command is kept in the ticket's history


def test_status_in_the_thread_needs_no_code(ingest: Ingest, app: App) -> None:
    code = _open(ingest)

    result = ingest(reply(code, "status"))

    assert (result["outcome"], result["ticket"]) == ("command", code)
    [answer] = queued(app, "status")
    assert "A equipe ainda não respondeu" in answer.text


def test_status_of_someone_elses_ticket_reveals_nothing(ingest: Ingest, app: App) -> None:
    code = _open(ingest)

    result = ingest(mail(f"status {code}", "", sender="Curioso <curioso@example.com>"))

    assert (result["outcome"], result["ticket"]) == ("command", None)
    [help_] = queued(app, "command_help")
    assert help_.recipients == ["curioso@example.com"]
    assert f"Não encontramos o chamado {code}" in help_.text
    assert "Erro ao publicar" not in help_.text


def test_status_of_a_code_that_does_not_exist_gets_the_same_answer(
    ingest: Ingest, app: App
) -> None:
    result = ingest(mail("status 2026-999999", ""))

    assert result["outcome"] == "command"
    [help_] = queued(app, "command_help")
    assert "Não encontramos o chamado 2026-999999" in help_.text


def test_a_question_about_the_status_of_a_pregao_is_no_command(ingest: Ingest) -> None:
    result = ingest(mail("Status do pregão", "Qual o status do pregão 90012/2026?"))

    assert result["outcome"] in ("created", "incomplete", "no_theme")


def test_meus_chamados_lists_the_senders_tickets_newest_first(ingest: Ingest, app: App) -> None:
    first = _open(ingest)
    second = ingest(error_report(screenshot=False))["ticket"]
    set_ticket(app, first, created_at=utcnow() - timedelta(days=2))
    ingest(mail("Erro no SIASG", "outro erro", sender="Outra <outra@example.com>"))

    result = ingest(mail("meus chamados", ""))

    assert (result["outcome"], result["ticket"], result["replies"]) == ("command", None, 1)
    [listing] = queued(app, "my_tickets")
    text = listing.text
    assert text.index(second) < text.index(first)  # newest first
    assert "aguardando informações do solicitante" in text and "em atendimento" in text
    assert "Prazo previsto para resposta" in text
    assert "outro erro" not in text and text.count("Situação:") == 2


def test_urgente_raises_priority_halves_the_deadline_and_tells_the_area(
    ingest: Ingest, app: App
) -> None:
    result = ingest(reactivation())
    code = result["ticket"]
    before = ticket(app, code)

    answer = ingest(
        mail(f"urgente {code}", "A unidade precisa comprar até sexta-feira.", to=signed(code))
    )

    assert (answer["outcome"], answer["ticket"], answer["replies"]) == ("command", code, 1)
    after = ticket(app, code)
    assert (before.priority, after.priority) == ("normal", "alta")
    assert before.due_at is not None and after.due_at is not None
    left_before = before.due_at - utcnow()
    left_after = after.due_at - utcnow()
    assert abs(left_after - left_before / 2) < timedelta(minutes=5)
    [area] = queued(app, "area_urgent")
    assert area.recipients == ["gestao-uasg@example.gov.br"]
    assert "A unidade precisa comprar até sexta-feira." in area.text
    [confirmation] = queued(app, "urgent_received")
    assert "alta" in confirmation.text


def test_a_second_urgente_raises_the_priority_again_but_keeps_the_deadline(
    ingest: Ingest, app: App
) -> None:
    code = ingest(reactivation())["ticket"]
    ingest(reply(code, "urgente: compras até sexta"))
    due = ticket(app, code).due_at

    ingest(reply(code, "urgente: e agora é para ontem"))

    view = ticket(app, code)
    assert (view.priority, view.due_at) == ("critica", due)
    assert len(queued(app, "area_urgent")) == 2


@pytest.mark.parametrize(
    ("build", "problem", "bound"),
    [
        (lambda code: mail(f"urgente {code}", ""), "Informe o motivo", True),
    ],
    ids=["no-reason"],
)
def test_urgente_without_reason_gets_help(
    ingest: Ingest, app: App, build: Callable[[str], bytes], problem: str, bound: bool
) -> None:
    code = _open(ingest)

    result = ingest(build(code))

    assert (result["outcome"], result["ticket"]) == ("command", code if bound else None)
    assert ticket(app, code).priority == "alta"  # unchanged
    [help_] = queued(app, "command_help")
    assert problem in help_.text


def test_urgente_for_an_incomplete_ticket_says_it_waits_for_information(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report(screenshot=False))["ticket"]

    ingest(mail(f"urgente {code}: pregão amanhã", ""))

    [help_] = queued(app, "command_help")
    assert "ainda aguarda informações" in help_.text
    assert queued(app, "area_urgent") == []


def test_cancelar_cancels_and_tells_the_area(ingest: Ingest, app: App) -> None:
    code = _open(ingest)

    result = ingest(mail(f"cancelar {code}", "Resolvi pelo telefone.", to=signed(code)))

    assert (result["outcome"], result["ticket"]) == ("command", code)
    assert ticket(app, code).state == "cancelado"
    [area] = queued(app, "area_cancelled")
    assert area.recipients == [SIASG_AREA]
    [confirmation] = queued(app, "cancelled")
    assert "Resolvi pelo telefone." in confirmation.text


def test_cancelar_in_the_thread_by_a_participant_is_refused(ingest: Ingest, app: App) -> None:
    raw = mail("Erro ao publicar aviso no SIASG", error_body(),
               attachments=(("p.png", "image/png", screenshot_png()),),
               headers={"Cc": "joao.lima@saude.rj.gov.br", **authenticated(MARIA)})  # fmt: skip
    code = ingest(raw)["ticket"]

    ingest(reply(code, "cancelar", sender="João <joao.lima@saude.rj.gov.br>"))

    assert ticket(app, code).state == "aberto"
    [help_] = queued(app, "command_help")
    assert "Somente quem abriu" in help_.text


def test_cancelar_a_resolved_ticket_is_refused(ingest: Ingest, app: App) -> None:
    code = _open(ingest)
    ingest(staff_reply(code, "#resolvido"))

    ingest(reply(code, "cancelar"))

    assert ticket(app, code).state == "resolvido"
    [help_] = queued(app, "command_help")
    assert "não pode mais ser cancelado" in help_.text


def test_an_unknown_hash_command_gets_the_short_help(ingest: Ingest, app: App) -> None:
    result = ingest(mail("Dúvida", "#prazos\n"))

    assert (result["outcome"], result["replies"]) == ("command", 1)
    assert count(app, m.Ticket) == 0
    [help_] = queued(app, "command_help")
    assert "Não reconhecemos o comando" in help_.text and "meus chamados" in help_.text


def test_a_bare_command_subject_without_a_code_gets_help(ingest: Ingest, app: App) -> None:
    result = ingest(mail("Status", "Gostaria de saber do meu chamado."))

    assert result["outcome"] == "command"
    assert count(app, m.Ticket) == 0
    [help_] = queued(app, "command_help")
    assert "Informe o código do chamado" in help_.text


# -- conversations in words ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda code: mail(f"Andamento do chamado {code}", ""),
        lambda code: mail(
            "Consulta",
            f"Bom dia,\n\nGostaria de saber o andamento do chamado {code}.\n\nAtt.,\nMaria Silva",
        ),
        lambda code: mail(f"Protocolo {code}", "Bom dia, alguma novidade?"),
    ],
    ids=["subject", "sentence", "code-after-protocolo"],
)
def test_a_status_asked_in_words_gets_the_status(
    ingest: Ingest, app: App, build: Callable[[str], bytes]
) -> None:
    code = _open(ingest)

    result = ingest(build(code))

    assert (result["outcome"], result["ticket"]) == ("command", code)
    [answer] = queued(app, "status")
    assert "em atendimento" in answer.text and "nenhum chamado foi registrado" not in answer.text
    assert queued(app, "no_theme") == []


def test_a_status_question_that_brings_the_missing_print_completes_the_ticket(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report(screenshot=False))["ticket"]

    result = ingest(
        reply(code, "Segue o print. Gostaria de saber o andamento do chamado.",
              attachments=(("print.png", "image/png", screenshot_png()),))
    )  # fmt: skip

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    assert ticket(app, code).state == "aberto"
    assert queued(app, "status") == []


def test_a_new_request_citing_an_old_code_is_not_a_status_request(ingest: Ingest, app: App) -> None:
    code = _open(ingest)

    result = ingest(
        mail("Erro ao publicar aviso no SIASG",
             error_body() + f"\nO mesmo erro do chamado {code} voltou a ocorrer.\n",
             attachments=(("print.png", "image/png", screenshot_png()),))
    )  # fmt: skip

    assert result["outcome"] == "created" and result["ticket"] != code


def test_podem_cancelar_asks_the_requester_to_confirm_and_cancels_nothing(
    ingest: Ingest, app: App
) -> None:
    code = _open(ingest)

    result = ingest(reply(code, "Bom dia,\n\nJá resolvemos, podem cancelar.\n\nAtt.,\nMaria"))

    assert (result["outcome"], result["ticket"]) == ("command", code)
    assert ticket(app, code).state == "aberto"
    [confirm] = queued(app, "command_help")
    assert f"cancelar o chamado {code}" in confirm.text
    assert f"“cancelar {code}”" in confirm.text and "Nada foi alterado" in confirm.text
    assert "Não foi possível" not in confirm.text
    assert queued(app, "cancelled") == [] and queued(app, "area_cancelled") == []
    # Mail about her ticket: replying to this very notice is the one reply that confirms.
    assert confirm.message["Reply-To"].addresses[0].addr_spec == signed(code)

    ingest(reply(code, f"cancelar {code}"))  # the confirmation, to the signed address

    assert ticket(app, code).state == "cancelado"


def test_a_forged_confirmation_cancels_nothing(ingest: Ingest, app: App) -> None:
    code = _open(ingest)
    ingest(reply(code, "Podem cancelar."))

    result = ingest(mail(f"cancelar {code}", ""))  # From: Maria, to the plain desk address

    assert result["outcome"] == "quarantined"
    assert ticket(app, code).state == "aberto"


def test_a_participant_saying_podem_fechar_is_a_reply_for_the_area(
    ingest: Ingest, app: App
) -> None:
    raw = mail("Erro ao publicar aviso no SIASG", error_body(),
               attachments=(("p.png", "image/png", screenshot_png()),),
               headers={"Cc": "joao.lima@saude.rj.gov.br", **authenticated(MARIA)})  # fmt: skip
    code = ingest(raw)["ticket"]

    result = ingest(reply(code, "Já resolvemos, podem fechar.",
                          sender="João <joao.lima@saude.rj.gov.br>"))  # fmt: skip

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    assert ticket(app, code).state == "aberto"
    assert queued(app, "command_help") == []
    [update] = queued(app, "area_update")
    assert "podem fechar" in update.text


def test_a_bare_urgente_without_a_ticket_gets_the_themes_and_how_to_ask_for_urgency(
    ingest: Ingest, app: App
) -> None:
    result = ingest(mail("Urgente!!!", "preciso de resposta hoje"))

    assert (result["outcome"], result["ticket"]) == ("no_theme", None)
    [notice] = queued(app, "no_theme")
    assert "Temas de atendimento" in notice.text and "Erro/Indisponibilidade" in notice.text
    assert "“urgente: motivo”" in notice.text and "Não foi possível" not in notice.text


def test_a_bare_urgente_whose_body_names_a_theme_opens_a_ticket(ingest: Ingest) -> None:
    result = ingest(mail("URGENTE!!!", "O sistema não deixa emitir o empenho, dá erro e trava."))

    assert result["outcome"] in ("created", "incomplete") and result["theme"] == "erro-siasg"


# -- the decision on commands in words (pure) ---------------------------------------------------

POLICY = Policy(own_addresses={SUPPORT}, trusted_forwarders=set(), default_theme=None)
ASKER = Address(MARIA, "Maria Silva")


def _thread(state: str = "aberto", *, requester: bool = True) -> Thread:
    return Thread(CODE, state, "erro-siasg", True, {}, (), requester=requester)


def _decide(subject: str, text: str, thread: Thread | None, **fields: object) -> Decision:
    message = InboundMessage(sender=ASKER, subject=subject, text=text, **fields)  # type: ignore[arg-type]
    return decide(Facts(message, thread, load_rulebook(shipped_dir("rules")), POLICY))


IN_THREAD = f"RES: [#{CODE}] Chamado registrado: Erro"


def test_a_status_in_words_is_a_reply_when_it_brings_files_or_the_ticket_waits() -> None:
    print_ = Attachment("print.png", "image/png", "image/png", screenshot_png())
    question = "Gostaria de saber o andamento do chamado."

    plain = _decide(IN_THREAD, question, _thread())
    with_file = _decide(IN_THREAD, question, _thread(), attachments=(print_,))
    waiting = _decide(IN_THREAD, question, _thread("aguardando_informacoes"))

    assert plain.command == Command(STATUS, CODE, in_words=True)
    assert (with_file.outcome, with_file.command) == (Outcome.UPDATED, None)
    assert (waiting.outcome, waiting.command) == (Outcome.UPDATED, None)


def test_a_status_in_words_under_a_signature_with_logos_is_still_a_status_request() -> None:
    logo = Attachment("image001.png", "image/png", "image/png", png(), inline=True)
    signed = _decide(
        IN_THREAD,
        "Gostaria de saber o andamento do chamado.",
        _thread(),
        attachments=(replace(logo, in_signature=True),),
    )

    assert signed.command == Command(STATUS, CODE, in_words=True)


def test_a_cancellation_in_words_is_confirmed_refused_or_a_reply_by_who_and_when() -> None:
    requester = _decide(IN_THREAD, "Já resolvemos, podem fechar.", _thread())
    resolved = _decide(IN_THREAD, "Já resolvemos, podem fechar.", _thread("resolvido"))
    participant = _decide(IN_THREAD, "Já resolvemos, podem fechar.", _thread(requester=False))

    assert requester.command is not None and requester.command.kind is HELP
    assert f"responda a esta mensagem com a linha “cancelar {CODE}”" in requester.command.problem
    assert requester.unproven is None  # nothing to prove: nothing changes
    assert resolved.command is not None and "não pode mais ser cancelado" in (
        resolved.command.problem
    )
    assert (participant.outcome, participant.command) == (Outcome.UPDATED, None)


def test_no_theme_names_the_likeliest_themes_and_an_urgency() -> None:
    close = _decide("Urgente!!!", "Não consigo acessar o sistema, aparece erro de login.", None)
    nothing = _decide("Pedido", "Preciso de ajuda.", None)

    assert (close.outcome, close.likely, close.asked_urgency) == (
        Outcome.NO_THEME,
        ("erro-siasg", "cadastro"),
        True,
    )
    assert (nothing.outcome, nothing.likely, nothing.asked_urgency) == (
        Outcome.NO_THEME,
        (),
        False,
    )


def test_a_reply_quoting_the_desks_theme_list_scores_only_its_new_text() -> None:
    quoted = (
        "Segue a planilha pedida.\n\n________________________________\n"
        "De: Central de Atendimento <suporte@compras.example.gov.br>\n"
        "Enviado em: quinta-feira, 19 de novembro de 2026 10:12\n"
        "Para: Maria Silva <maria.silva@saude.rj.gov.br>\n"
        "Assunto: Não identificamos o tema da sua solicitação\n\n"
        "- Cadastro de unidades e usuários: senha bloqueada, perfil de acesso, login\n"
        "- Erro/Indisponibilidade – SIASG: erros, falhas, sistema travado\n"
    )

    decision = _decide("RES: Não identificamos o tema da sua solicitação", quoted, None)

    assert (decision.outcome, decision.likely) == (Outcome.NO_THEME, ())
