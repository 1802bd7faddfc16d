"""Conversations through ``mailproc ingest``: threading despite awkward subjects, who may
update a ticket, forwards, staff answers with their #directives, and ratings."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

from mailproc.decision.ratings import Rating, read_rating
from mailproc.decision.settings import ConversationSettings
from mailproc.decision.staff import StaffAnswer, read_staff_answer
from mailproc.decision.ticket_state import TicketState
from mailproc.resources import shipped_dir
from mailproc.rules.rulebook import Priority
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from mailproc.storage.db import make_engine, make_sessions, utcnow
from mailproc.storage.schema import upgrade
from mailproc.tickets.pipeline import Pipeline
from mailproc.tickets.upkeep import close_unanswered_pending
from tests.mails import (
    PDF,
    REQUESTER,
    SUPPORT,
    authenticated,
    error_body,
    error_report,
    mail,
    reactivation,
    screenshot_png,
    vouched,
)
from tests.threads import (
    FROM_REDECOMPRAS,
    GMAIL_EN,
    GMAIL_PT,
    MARIA,
    OUTLOOK_EN,
    OUTLOOK_PT,
    REDECOMPRAS,
    SIASG_AREA,
    STAFF_EMAIL,
    attached_forward,
    count,
    purposes,
    queued,
    reply,
    set_ticket,
    staff_reply,
    ticket,
)

Ingest = Callable[[bytes], dict]
COLLEAGUE = "joao.lima@saude.rj.gov.br"
STRANGER = "Intruso <intruso@example.com>"


# -- the pure readers ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("#resolvido\n\nLiberado.", StaffAnswer("Liberado.", TicketState.RESOLVED)),
        ("#resolvido.\nLiberado.", StaffAnswer("Liberado.", TicketState.RESOLVED)),
        ("#Pendente\nQual navegador?", StaffAnswer("Qual navegador?", TicketState.PENDING)),
        ("#cancelado", StaffAnswer("", TicketState.CANCELLED)),
        ("#reaberto\nx", StaffAnswer("x", TicketState.OPEN)),
        ("#prioridade crítica\nx", StaffAnswer("x", priority=Priority.CRITICA)),
        ("#prioridade alta #pendente\nx", StaffAnswer("x", TicketState.PENDING, Priority.ALTA)),
        ("Bom dia.\n#resolvido", StaffAnswer("Bom dia.\n#resolvido")),  # not a first line
        ("#1 abrir o módulo\nx", StaffAnswer("#1 abrir o módulo\nx")),  # a numbered step
        ("#resolvdo\nx", StaffAnswer("x", unknown=("#resolvdo",))),
        ("#prioridade urgente\nx", StaffAnswer("x", unknown=("#prioridade urgente",))),
        ("#resolvido, obrigado\nx", StaffAnswer("#resolvido, obrigado\nx",
                                                unknown=("#resolvido, obrigado",))),
    ],
)  # fmt: skip
def test_read_staff_answer(text: str, expected: StaffAnswer) -> None:
    assert read_staff_answer(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("5", Rating(5)),
        ("5.", Rating(5)),
        ("Nota: 4", Rating(4)),
        ("nota 4/5", Rating(4)),
        ("4 de 5 estrelas", Rating(4)),
        ("avaliação 3 - bom atendimento", Rating(3, "bom atendimento")),
        ("Avalio com 2, demorou", Rating(2, "demorou")),
        ("5 - ótimo\nObrigada!", Rating(5, "ótimo\nObrigada!")),
        ("5 dias depois ainda não funciona", None),
        ("1. Acessei o sistema", None),
        ("Nota 10", None),
        ("0", None),
        ("Obrigada!", None),
    ],
)
def test_read_rating(text: str, expected: Rating | None) -> None:
    assert read_rating(text) == expected


# -- awkward subjects ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "subject",
    [
        "RES: RES: Res: ENC: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG",
        "RE: Erro ao publicar aviso no SIASG [#{code}]",  # the tag moved to the end
        "Re: #{code} Erro ao publicar aviso",  # the brackets lost
        "RES:  [ # {code} ]  Erro",  # spaces inside the tag
        "AW: Re[2]: [#{code}] Chamado registrado",
    ],
)
def test_awkward_subjects_still_find_the_ticket(ingest: Ingest, app: App, subject: str) -> None:
    code = ingest(error_report())["ticket"]

    result = ingest(mail(subject.format(code=code), "Mais uma informação: ocorre às 10h."))

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    assert ticket(app, code).messages == 2


def test_a_bare_code_in_the_subject_is_not_taken_for_a_ticket(ingest: Ingest) -> None:
    """ "processo 2026-000001/2026" looks like a code; only a tagged or #-marked one counts."""
    code = ingest(error_report())["ticket"]

    result = ingest(mail(f"Erro no processo {code}", "O SIASG dá erro."))

    assert result["ticket"] != code


# -- who may update ----------------------------------------------------------------------


def test_a_stranger_quoting_a_code_opens_their_own_ticket_logged_on_the_quoted_one(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report())["ticket"]
    raw = mail(
        f"Re: [#{code}] Erro ao publicar aviso no SIASG",
        "Também tenho esse erro.",
        sender=STRANGER,
        attachments=(("meu-print.png", "image/png", screenshot_png()),),
    )

    result = ingest(raw)

    assert result["outcome"] in ("created", "incomplete")
    assert result["ticket"] not in (None, code)
    quoted = ticket(app, code)
    assert quoted.messages == 1  # nothing of the stranger's joined it
    assert "intruso@example.com" not in quoted.participants
    [(_, detail)] = [e for e in quoted.events if e[0] == "quoted_by_stranger"]
    assert detail["sender"] == "intruso@example.com"
    assert detail["new_ticket"] == result["ticket"]


def test_with_stranger_reply_notice_the_stranger_gets_a_notice_and_no_ticket(
    config_path: Path, app: App
) -> None:
    pipeline = Pipeline(
        app.sessions, app.pipeline.replier, ConversationSettings(stranger_reply="notice")
    )
    code = pipeline.process(error_report(), "test").ticket
    assert code is not None

    result = pipeline.process(
        mail(f"Re: [#{code}] Erro", "Também tenho esse erro.", sender=STRANGER), "test"
    )

    assert (result.outcome.value, result.ticket, result.replies) == ("rejected", None, 1)
    assert count(app, m.Ticket) == 1
    [notice] = queued(app, "stranger_notice")
    assert notice.recipients == ["intruso@example.com"]
    assert code in notice.text and "não foi incluída" in notice.text
    assert "Erro ao publicar" not in notice.text  # nothing about the ticket is disclosed
    assert "quoted_by_stranger" in ticket(app, code).kinds()


def test_people_copied_on_a_reply_all_become_participants_and_may_update(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report())["ticket"]
    reply_all = reply(
        code,
        "Incluo o colega João, que acompanha o pregão.",
        headers={"Cc": f"João Lima <{COLLEAGUE}>, {SUPPORT}"},
    )
    assert ingest(reply_all)["outcome"] == "updated"

    from_colleague = reply(code, "O erro continua hoje.", sender=f"João <{COLLEAGUE}>")
    result = ingest(from_colleague)

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    roles = ticket(app, code).participants
    assert roles[COLLEAGUE] == "cc"
    assert SUPPORT not in roles  # our own address is never a participant


def test_completion_in_two_steps_tells_only_what_is_still_missing(ingest: Ingest, app: App) -> None:
    code = ingest(error_report(screenshot=False, steps=False))["ticket"]
    first = ingest(
        reply(code, "Segue o print.", attachments=(("t.png", "image/png", screenshot_png()),))
    )
    second = ingest(
        reply(code, "Passo a passo: abri o SIASG, fui em Divulgação e cliquei em Publicar.")
    )

    assert (first["outcome"], first["missing"]) == ("updated", ["passo_a_passo"])
    assert (second["outcome"], second["missing"]) == ("updated", [])
    notices = queued(app, "incomplete")
    assert "print (captura)" not in notices[-1].text  # the screenshot came already
    assert "Passo a passo" in notices[-1].text
    assert ticket(app, code).state == "aberto"
    assert purposes(app).count("completed") == 1


# -- forwards -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("subject", "body"),
    [
        ("ENC: Dúvida sobre empenho", GMAIL_PT),
        ("Fwd: Dúvida sobre empenho", GMAIL_EN),
        ("ENC: Dúvida sobre empenho", OUTLOOK_PT),
        ("FW: Dúvida sobre empenho", OUTLOOK_EN),
    ],
    ids=["gmail-pt", "gmail-en", "outlook-pt", "outlook-en"],
)
def test_inline_forwards_open_the_ticket_for_the_original_sender(
    ingest: Ingest, app: App, subject: str, body: str
) -> None:
    result = ingest(mail(subject, body, sender=REDECOMPRAS, headers=FROM_REDECOMPRAS))

    assert (result["outcome"], result["theme"]) == ("created", "duvidas-compras")
    [ack] = queued(app, "created")
    assert ack.recipients == ["carlos.pereira@der.rj.gov.br", "redecompras@planejamento.rj.gov.br"]
    assert ticket(app, result["ticket"]).participants == {
        "carlos.pereira@der.rj.gov.br": "requester",
        "redecompras@planejamento.rj.gov.br": "forwarder",
    }


@pytest.mark.parametrize(
    ("subject", "comment"),
    [("ENC: Dúvida sobre empenho", "Segue a dúvida."), ("FW: Dúvida", "See the question.")],
    ids=["pt", "en"],
)
def test_an_attached_forward_opens_the_ticket_for_the_original_sender(
    ingest: Ingest, app: App, subject: str, comment: str
) -> None:
    result = ingest(attached_forward(subject, comment))

    assert result["outcome"] == "created"
    assert ticket(app, result["ticket"]).participants == {
        "carlos.pereira@der.rj.gov.br": "requester",
        "redecompras@planejamento.rj.gov.br": "forwarder",
    }


def test_the_outlook_attached_forward_fixture_belongs_to_its_original_sender(
    ingest: Ingest, app: App
) -> None:
    fixture = Path(__file__).parent / "fixtures" / "mail" / "encaminhada-como-anexo.eml"
    raw = vouched(fixture.read_bytes(), REDECOMPRAS)

    result = ingest(raw)

    assert result["outcome"] in ("created", "incomplete")  # the theme may want more
    assert ticket(app, result["ticket"]).participants["paulo.mendes@fazenda.rj.gov.br"] == (
        "requester"
    )


def test_a_forwarder_answer_reaches_the_requester_without_a_second_ticket(
    ingest: Ingest, app: App
) -> None:
    code = ingest(
        mail("ENC: Dúvida sobre empenho", GMAIL_PT, sender=REDECOMPRAS, headers=FROM_REDECOMPRAS)
    )["ticket"]

    result = ingest(
        reply(code, "Complemento: a UASG é 925001.", sender=REDECOMPRAS, headers=FROM_REDECOMPRAS)
    )

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    assert count(app, m.Ticket) == 1


# -- staff answers ---------------------------------------------------------------------------


def _open_ticket(ingest: Ingest, app: App, *, cc: str | None = None) -> str:
    """A complete error report by Maria (copying ``cc``): an open ticket of erro-siasg. Her
    From is authentic (vouched for by our server): only such a mail adds the people it copies."""
    raw = mail(
        "Erro ao publicar aviso no SIASG",
        error_body(),
        attachments=(("print-erro.png", "image/png", screenshot_png()),),
        headers={"Cc": cc, **authenticated(MARIA)} if cc else None,
    )
    result = ingest(raw)
    assert result["outcome"] == "created", result
    return str(result["ticket"])


def test_a_staff_answer_is_relayed_to_requester_and_participants_with_its_files(
    ingest: Ingest, app: App
) -> None:
    code = _open_ticket(ingest, app, cc=f"João <{COLLEAGUE}>")
    answer = staff_reply(
        code,
        "Bom dia, Maria.\n\nO erro foi corrigido; segue o manual.\n\n"
        "Em sex., 20 de nov. de 2026 às 10:00, Suporte escreveu:\n> Novo chamado",
        attachments=(("manual.pdf", "application/pdf", PDF),),
    )

    result = ingest(answer)

    assert (result["outcome"], result["ticket"], result["replies"]) == ("updated", code, 1)
    [relay] = queued(app, "staff_answer")
    assert relay.recipients == [MARIA, COLLEAGUE]  # never back to the staff member
    assert f"[#{code}]" in relay.message["Subject"]
    assert "O erro foi corrigido" in relay.text and "> Novo chamado" not in relay.text
    assert relay.files == {"manual.pdf": PDF}
    view = ticket(app, code)
    assert view.state == "aberto"  # no directive: the state stays
    assert STAFF_EMAIL not in view.participants
    assert "answered" in view.kinds()


def test_resolvido_resolves_the_ticket_and_asks_for_a_rating(ingest: Ingest, app: App) -> None:
    code = _open_ticket(ingest, app)

    ingest(staff_reply(code, "#resolvido\n\nA publicação foi liberada."))

    view = ticket(app, code)
    assert view.state == "resolvido"
    [relay] = queued(app, "staff_answer")
    assert "#resolvido" not in relay.text
    assert "A publicação foi liberada." in relay.text
    assert "nota de 1" in relay.text and "resolvido" in relay.text


@pytest.mark.parametrize(
    ("directive", "state", "priority"),
    [
        ("#pendente", "pendente", "alta"),
        ("#cancelado", "cancelado", "alta"),
        ("#prioridade baixa", "aberto", "baixa"),
        ("#prioridade normal", "aberto", "normal"),
        ("#prioridade critica", "aberto", "critica"),
        ("#Prioridade Crítica", "aberto", "critica"),
        ("#prioridade baixa #pendente", "pendente", "baixa"),
    ],
)
def test_each_staff_directive_changes_state_or_priority_and_is_not_relayed(
    ingest: Ingest, app: App, directive: str, state: str, priority: str
) -> None:
    code = _open_ticket(ingest, app)  # erro-siasg: priority "alta"

    ingest(staff_reply(code, f"{directive}\nEstamos verificando."))

    view = ticket(app, code)
    assert (view.state, view.priority) == (state, priority)
    [relay] = queued(app, "staff_answer")
    assert "#" not in relay.text.split("Estamos verificando.")[0]
    assert "Estamos verificando." in relay.text


def test_prioridade_alta_raises_a_normal_ticket(ingest: Ingest, app: App) -> None:
    code = ingest(reactivation())["ticket"]  # reativacao-uasg: priority "normal"

    ingest(staff_reply(code, "#prioridade alta", sender="Gestão UASG <gestao-uasg@example.gov.br>"))

    assert ticket(app, code).priority == "alta"  # the area's own mailbox counts as staff


def test_a_reply_to_a_pending_ticket_puts_it_back_in_service_with_a_new_deadline(
    ingest: Ingest, app: App
) -> None:
    code = _open_ticket(ingest, app)
    ingest(staff_reply(code, "#pendente\nQual navegador a senhora usa?"))
    set_ticket(app, code, due_at=utcnow() - timedelta(days=2))  # the wait outlasted it

    ingest(reply(code, "Uso o Firefox 120."))

    view = ticket(app, code)
    assert view.state == "aberto"
    # The area gets the theme's full 72 hours for the answer, not an overdue warning at once.
    assert view.due_at is not None and view.due_at > utcnow() + timedelta(hours=71)
    [update] = queued(app, "area_update")
    assert "Uso o Firefox 120." in update.text and "reaberto" not in update.text


def test_a_pending_ticket_whose_requester_never_answers_is_closed_with_a_notice(
    ingest: Ingest, app: App
) -> None:
    code = _open_ticket(ingest, app)
    ingest(staff_reply(code, "#pendente\nQual navegador a senhora usa?"))
    days = app.config.desk.incomplete_close_days
    waits_until = ticket(app, code).incomplete_until
    assert waits_until is not None
    assert abs(waits_until - (utcnow() + timedelta(days=days))) < timedelta(minutes=5)
    assert close_unanswered_pending(app.pipeline) == 0

    set_ticket(app, code, incomplete_until=utcnow() - timedelta(minutes=1))

    assert close_unanswered_pending(app.pipeline) == 1
    assert close_unanswered_pending(app.pipeline) == 0
    view = ticket(app, code)
    assert view.state == "encerrado_sem_retorno"
    assert view.kinds().count("closed_unanswered") == 1
    [notice] = queued(app, "closed_unanswered")
    assert notice.recipients == [MARIA]
    assert f"[#{code}]" in notice.message["Subject"]
    for phrase in (f"não chegou em {days} dias", "Qual navegador a senhora usa?", "reaberto"):
        assert phrase in notice.text, phrase


def test_a_reply_to_a_ticket_closed_for_want_of_an_answer_reopens_it(
    ingest: Ingest, app: App
) -> None:
    code = _open_ticket(ingest, app)
    ingest(staff_reply(code, "#pendente\nQual navegador a senhora usa?"))
    set_ticket(app, code, incomplete_until=utcnow() - timedelta(minutes=1))
    close_unanswered_pending(app.pipeline)

    result = ingest(reply(code, "Desculpem a demora: uso o Firefox 120."))

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    view = ticket(app, code)
    assert view.state == "aberto"
    assert ("reopened", {"by": MARIA, "was": "encerrado_sem_retorno"}) in view.events
    [update] = queued(app, "area_update")
    assert "reaberto" in update.text and "Firefox 120" in update.text


def test_an_unknown_directive_holds_the_answer_and_tells_the_staff_member(
    ingest: Ingest, app: App
) -> None:
    code = _open_ticket(ingest, app)

    result = ingest(staff_reply(code, "#resolvdo\nA publicação foi liberada."))

    assert (result["outcome"], result["replies"]) == ("updated", 1)
    assert queued(app, "staff_answer") == []
    [held] = queued(app, "staff_help")
    assert held.recipients == [STAFF_EMAIL]
    assert "#resolvdo" in held.text
    assert ticket(app, code).state == "aberto"


def test_a_staff_answers_files_do_not_complete_the_requesters_ticket(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report(screenshot=False))["ticket"]
    example = (("exemplo-de-print.png", "image/png", screenshot_png()),)
    ingest(staff_reply(code, "Envie um print como este, por favor.", attachments=example))

    result = ingest(reply(code, "Não consigo tirar o print agora."))

    assert (result["outcome"], len(result["missing"])) == ("updated", 1)  # still the screenshot
    assert ticket(app, code).state == "aguardando_informacoes"


def test_pendente_on_a_ticket_waiting_for_information_changes_nothing(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report(screenshot=False))["ticket"]

    ingest(staff_reply(code, "#pendente\nAguardamos o print."))

    assert ticket(app, code).state == "aguardando_informacoes"


def test_a_staff_member_who_opened_a_ticket_is_its_requester_there(
    ingest: Ingest, app: App
) -> None:
    raw = mail("Erro ao publicar aviso no SIASG", error_body(), sender=f"Ana <{STAFF_EMAIL}>",
               attachments=(("p.png", "image/png", screenshot_png()),))  # fmt: skip
    code = ingest(raw)["ticket"]

    ingest(reply(code, "#resolvido", sender=f"Ana <{STAFF_EMAIL}>"))

    assert ticket(app, code).state == "aberto"  # a requester cannot resolve their ticket
    assert queued(app, "staff_answer") == []


# -- ratings ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "score", "comment"),
    [
        ("5", 5, ""),
        ("Nota: 4", 4, ""),
        ("avaliação 3 - bom atendimento", 3, "bom atendimento"),
        ("Nota 5, muito rápido.\n\nObrigada!", 5, "muito rápido.\nObrigada!"),
    ],
)
def test_a_rating_of_a_resolved_ticket_is_stored_and_thanked(
    ingest: Ingest, app: App, text: str, score: int, comment: str
) -> None:
    code = _open_ticket(ingest, app)
    ingest(staff_reply(code, "#resolvido\nLiberado."))

    result = ingest(reply(code, text))

    assert (result["outcome"], result["ticket"], result["replies"]) == ("updated", code, 1)
    view = ticket(app, code)
    assert view.evaluation == (score, comment, MARIA)
    assert view.state == "resolvido"
    [thanks] = queued(app, "rating_received")
    assert f"nota {score}" in thanks.text


def test_rating_again_replaces_the_evaluation(ingest: Ingest, app: App) -> None:
    code = _open_ticket(ingest, app)
    ingest(staff_reply(code, "#resolvido"))
    ingest(reply(code, "3"))

    ingest(reply(code, "Nota: 5 - resolveram depois de tudo"))

    assert ticket(app, code).evaluation == (5, "resolveram depois de tudo", MARIA)
    assert count(app, m.Evaluation) == 1


@pytest.mark.parametrize(
    ("sender", "text"),
    [
        (REQUESTER, "5 dias depois ainda não funciona"),
        (REQUESTER, "Obrigada!"),  # as in RT or Zammad: staff resolve it again with a word
        (f"João <{COLLEAGUE}>", "Aqui no meu computador o erro continua."),
    ],
    ids=["requester-still-broken", "requester-thanks", "participant"],
)
def test_a_reply_that_is_no_rating_reopens_the_resolved_ticket_and_tells_the_area(
    ingest: Ingest, app: App, sender: str, text: str
) -> None:
    code = _open_ticket(ingest, app, cc=f"João <{COLLEAGUE}>")
    ingest(staff_reply(code, "#resolvido\nLiberado."))
    set_ticket(app, code, due_at=utcnow() - timedelta(days=1))  # resolved late

    result = ingest(reply(code, text, sender=sender))

    assert (result["outcome"], result["ticket"], result["replies"]) == ("updated", code, 0)
    view = ticket(app, code)
    assert view.state == "aberto" and view.evaluation is None
    assert view.due_at is not None and view.due_at > utcnow() + timedelta(hours=71)
    [(_, reopened)] = [e for e in view.events if e[0] == "reopened"]
    assert reopened == {"by": sender.split("<")[-1].rstrip(">"), "was": "resolvido"}
    [update] = queued(app, "area_update")
    assert update.recipients == [SIASG_AREA]
    assert update.message["Subject"].startswith(f"[#{code}] Chamado reaberto:")
    assert "que estava resolvido. O chamado foi reaberto" in update.text
    assert text in update.text
    assert len(queued(app, "routed")) == 1  # the area has had it since it was opened


def test_staff_resolve_a_reopened_ticket_again_and_the_rating_is_asked_again(
    ingest: Ingest, app: App
) -> None:
    code = _open_ticket(ingest, app)
    ingest(staff_reply(code, "#resolvido\nLiberado."))
    ingest(reply(code, "Ainda não funciona."))

    ingest(staff_reply(code, "#resolvido\nAgora foi corrigido de vez."))
    ingest(reply(code, "Nota: 5"))

    view = ticket(app, code)
    assert (view.state, view.evaluation) == ("resolvido", (5, "", MARIA))
    assert [q.text.count("nota de 1") for q in queued(app, "staff_answer")] == [1, 1]


def test_a_participants_rating_neither_rates_nor_reopens(ingest: Ingest, app: App) -> None:
    code = _open_ticket(ingest, app, cc=f"João <{COLLEAGUE}>")
    ingest(staff_reply(code, "#resolvido"))

    ingest(reply(code, "5", sender=f"João <{COLLEAGUE}>"))

    view = ticket(app, code)
    assert (view.state, view.evaluation) == ("resolvido", None)  # only the requester rates
    assert "reopened" not in view.kinds()


def test_a_reply_to_a_cancelled_ticket_opens_a_new_ticket_referring_to_it(
    ingest: Ingest, app: App
) -> None:
    code = _open_ticket(ingest, app)
    ingest(reply(code, "cancelar: resolvi por telefone"))

    result = ingest(
        reply(code, "O erro voltou hoje.\n\n" + error_body(),
              attachments=(("print-novo.png", "image/png", screenshot_png()),))
    )  # fmt: skip

    new = result["ticket"]
    assert result["outcome"] == "created" and new not in (None, code)
    old = ticket(app, code)
    assert old.state == "cancelado" and old.messages == 2  # the reply did not join it
    [(_, followed)] = [e for e in old.events if e[0] == "followed_up"]
    assert (followed["sender"], followed["new_ticket"]) == (MARIA, new)
    assert ("created", {"missing": [], "quoted": code}) in ticket(app, new).events
    _, ack = queued(app, "created")  # the first acknowledged the cancelled ticket
    assert ack.recipients == [MARIA] and f"[#{new}]" in ack.message["Subject"]


def test_tickets_show_lists_the_evaluation(
    ingest: Ingest, app: App, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _open_ticket(ingest, app)
    ingest(staff_reply(code, "#resolvido"))
    before = ticket_show(config_path, capsys, code)
    ingest(reply(code, "Nota 4 - resolveram, mas demorou"))

    shown = ticket_show(config_path, capsys, code)
    text = ticket_show(config_path, capsys, code, json_output=False)

    assert before["evaluation"] is None
    evaluation = shown["evaluation"]
    assert {k: evaluation[k] for k in ("score", "comment", "rater")} == {
        "score": 4,
        "comment": "resolveram, mas demorou",
        "rater": MARIA,
    }
    rated_at = datetime.fromisoformat(evaluation["at"])
    assert abs(rated_at - utcnow()) < timedelta(minutes=5)
    assert f"rating: 4/5 by {MARIA}, " in text and text.count("resolveram, mas demorou") == 2


def ticket_show(
    config_path: Path, capsys: pytest.CaptureFixture[str], code: str, *, json_output: bool = True
) -> Any:
    """``mailproc tickets show CODE`` as an operator runs it: its JSON, or its text."""
    capsys.readouterr()
    flags = ["--json"] if json_output else []
    assert main(["--config", str(config_path), "tickets", "show", code, *flags]) == 0
    out = capsys.readouterr().out
    return json.loads(out) if json_output else out


def test_a_rating_of_an_open_ticket_is_just_a_reply(ingest: Ingest, app: App) -> None:
    code = _open_ticket(ingest, app)

    ingest(reply(code, "5"))

    assert ticket(app, code).evaluation is None


# -- the schema -----------------------------------------------------------------------------


def test_migration_0002_keeps_existing_tickets_and_adds_evaluations(
    empty_database_url: str,
) -> None:
    engine = make_engine(empty_database_url)
    try:
        config = Config()
        config.set_main_option("script_location", str(shipped_dir("migrations")))
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "0001")
            connection.execute(
                text(
                    "INSERT INTO tickets (id, code, state, priority, requester_email, "
                    "requester_name, subject, answers, created_at, updated_at) VALUES (1, "
                    "'2026-000001', 'aberto', 'alta', 'maria@x.gov.br', '', 'Erro', '{}', "
                    ":now, :now)"
                ),
                {"now": datetime(2026, 11, 1)},
            )
            connection.execute(
                text(
                    "INSERT INTO participants (ticket_id, email, role, added_at) "
                    "VALUES (1, 'maria@x.gov.br', 'requester', :now)"
                ),
                {"now": datetime(2026, 11, 1)},
            )

        upgrade(engine)

        with engine.begin() as connection:
            row = connection.execute(
                text("SELECT code, reminded_at, escalated_at, urgent_at FROM tickets")
            ).one()
            assert tuple(row) == ("2026-000001", None, None, None)
            assert connection.scalar(text("SELECT count(*) FROM participants")) == 1
        sessions = make_sessions(engine)
        with sessions.begin() as session:
            session.add(m.Evaluation(ticket_id=1, score=5, comment="", rater="maria@x.gov.br"))
        with pytest.raises(IntegrityError), sessions.begin() as session:
            session.add(m.Evaluation(ticket_id=1, score=4, comment="", rater="maria@x.gov.br"))
        with pytest.raises(IntegrityError), sessions.begin() as session:
            session.execute(text("UPDATE evaluations SET score = 6"))
    finally:
        engine.dispose()
