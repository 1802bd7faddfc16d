"""Routing areas: each ticket in service goes to its theme's area with its files; the area
hears what the requester adds; it is reminded before the deadline and warned after it,
once each (the clock is moved by setting times in the database)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from mailproc.decision.settings import ConversationSettings
from mailproc.service.app import App
from mailproc.storage.db import utcnow
from mailproc.tickets.pipeline import Pipeline
from mailproc.tickets.upkeep import escalate_overdue, remind_due
from tests.mails import PDF, error_body, error_report, mail, reactivation, screenshot_png
from tests.threads import SIASG_AREA, UASG_AREA, queued, reply, set_ticket, staff_reply, ticket

Ingest = Callable[[bytes], dict]


def test_a_new_complete_ticket_goes_to_its_area_with_code_summary_and_files(
    ingest: Ingest, app: App
) -> None:
    screenshot = screenshot_png()
    files = (("print-erro.png", "image/png", screenshot), ("edital.pdf", "application/pdf", PDF))
    raw = mail("Erro ao publicar aviso no SIASG", error_body(), attachments=files)

    result = ingest(raw)

    code = result["ticket"]
    assert (result["outcome"], result["replies"]) == ("created", 1)  # routing is no reply
    [routed] = queued(app, "routed")
    assert routed.recipients == [SIASG_AREA]
    assert f"[#{code}]" in routed.message["Subject"]
    assert routed.message["Auto-Submitted"] == "auto-generated"
    assert routed.files == {"print-erro.png": screenshot, "edital.pdf": PDF}
    summary = ("Prezada equipe Suporte Técnico SIASG", "UASG: 925001", "Divulgação de Compras",
               "maria.silva@saude.rj.gov.br", "#resolvido")  # fmt: skip
    for phrase in summary:
        assert phrase in routed.text, phrase
    assert "routed" in ticket(app, code).kinds()


def test_an_incomplete_ticket_goes_to_its_area_once_complete_with_every_file(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report(screenshot=False, steps=False))["ticket"]
    assert queued(app, "routed") == []

    ingest(
        reply(code, "Segue o print.", attachments=(("tela.png", "image/png", screenshot_png()),))
    )
    assert queued(app, "routed") == []
    ingest(
        reply(
            code,
            "Passo a passo: abri o SIASG, fui em Divulgação e cliquei em Publicar.",
            attachments=(("log.pdf", "application/pdf", PDF),),
        )
    )

    [routed] = queued(app, "routed")
    assert set(routed.files) == {"tela.png", "log.pdf"}
    assert "Passo a passo" in routed.text
    assert "O SIASG apresenta erro." in routed.text  # the opening message, read back


def test_what_the_requester_adds_to_a_routed_ticket_reaches_the_area(
    ingest: Ingest, app: App
) -> None:
    code = ingest(reactivation())["ticket"]

    oficio = (("oficio.pdf", "application/pdf", PDF),)
    ingest(reply(code, "Segue o ofício assinado.", attachments=oficio))

    [update] = queued(app, "area_update")
    assert update.recipients == [UASG_AREA]
    assert "Segue o ofício assinado." in update.text
    assert update.files == {"oficio.pdf": PDF}


def test_the_area_answering_the_routing_mail_is_relayed_to_the_requester(
    ingest: Ingest, app: App
) -> None:
    code = ingest(reactivation())["ticket"]
    [routed] = queued(app, "routed")
    answer = mail(
        "Re: reativação",  # the area's client lost the code; the headers still tie it
        "#resolvido\nA UASG 927003 foi reativada.",
        sender=f"Gestão de UASG <{UASG_AREA}>",
        to=str(routed.message["Reply-To"]),  # where the area's client sends its reply
        headers={"In-Reply-To": routed.message["Message-ID"]},
    )

    result = ingest(answer)

    assert (result["outcome"], result["ticket"]) == ("updated", code)
    assert ticket(app, code).state == "resolvido"
    [relay] = queued(app, "staff_answer")
    assert relay.recipients == ["maria.silva@saude.rj.gov.br"]


def test_aberto_on_an_incomplete_ticket_accepts_it_as_it_is_and_routes_it(
    ingest: Ingest, app: App
) -> None:
    code = ingest(error_report(screenshot=False))["ticket"]

    ingest(staff_reply(code, "#aberto\nVamos analisar mesmo sem o print."))

    view = ticket(app, code)
    assert view.state == "aberto" and view.due_at is not None
    [routed] = queued(app, "routed")
    assert routed.recipients == [SIASG_AREA]


def test_aberto_on_a_resolved_ticket_gives_a_new_deadline_without_routing_again(
    ingest: Ingest, app: App
) -> None:
    code = ingest(reactivation())["ticket"]
    ingest(staff_reply(code, "#resolvido", sender=f"Gestão <{UASG_AREA}>"))
    set_ticket(app, code, due_at=utcnow() - timedelta(days=1))

    ingest(staff_reply(code, "#aberto\nReabrimos o chamado.", sender=f"Gestão <{UASG_AREA}>"))

    view = ticket(app, code)
    assert view.state == "aberto"
    assert view.due_at is not None and view.due_at > utcnow() + timedelta(hours=71)
    assert len(queued(app, "routed")) == 1


# -- deadlines ------------------------------------------------------------------------------


def _open(ingest: Ingest) -> str:
    result = ingest(reactivation())
    assert result["outcome"] == "created"
    return str(result["ticket"])


def test_the_area_is_reminded_once_before_the_deadline(ingest: Ingest, app: App) -> None:
    code = _open(ingest)
    assert remind_due(app.pipeline) == 0  # 72 hours left

    set_ticket(app, code, due_at=utcnow() + timedelta(hours=10))

    assert remind_due(app.pipeline) == 1
    assert remind_due(app.pipeline) == 0
    [reminder] = queued(app, "deadline_reminder")
    assert reminder.recipients == [UASG_AREA]
    assert f"[#{code}]" in reminder.message["Subject"] and "10 horas" in reminder.text
    assert ticket(app, code).kinds().count("reminded") == 1


def test_the_area_is_warned_once_after_the_deadline(ingest: Ingest, app: App) -> None:
    code = _open(ingest)
    set_ticket(app, code, due_at=utcnow() - timedelta(hours=3))

    assert remind_due(app.pipeline) == 0  # past the deadline: a warning, not a reminder
    assert escalate_overdue(app.pipeline) == 1
    assert escalate_overdue(app.pipeline) == 0
    [warning] = queued(app, "deadline_escalation")
    assert warning.recipients == [UASG_AREA]
    assert "venceu" in warning.text and "3 horas" in warning.text


def test_the_escalation_address_is_copied_on_the_warning(ingest: Ingest, app: App) -> None:
    code = _open(ingest)
    set_ticket(app, code, due_at=utcnow() - timedelta(minutes=5))
    settings = ConversationSettings(escalation_address="coordenacao@example.gov.br")
    pipeline = Pipeline(app.sessions, app.pipeline.replier, settings)

    assert escalate_overdue(pipeline) == 1

    [warning] = queued(app, "deadline_escalation")
    assert warning.recipients == [UASG_AREA, "coordenacao@example.gov.br"]
    assert warning.message["Cc"] == "coordenacao@example.gov.br"


@pytest.mark.parametrize("directive", ["#resolvido", "#pendente", "#cancelado"])
def test_tickets_out_of_service_are_neither_reminded_nor_warned(
    ingest: Ingest, app: App, directive: str
) -> None:
    code = _open(ingest)
    ingest(staff_reply(code, directive, sender=f"Gestão <{UASG_AREA}>"))
    set_ticket(app, code, due_at=utcnow() - timedelta(hours=1))

    assert (remind_due(app.pipeline), escalate_overdue(app.pipeline)) == (0, 0)


def test_a_shortened_deadline_is_reminded_again(ingest: Ingest, app: App) -> None:
    code = _open(ingest)
    set_ticket(app, code, due_at=utcnow() + timedelta(hours=20))
    assert remind_due(app.pipeline) == 1

    ingest(reply(code, "urgente: a unidade precisa comprar até amanhã"))  # 10 hours left

    assert remind_due(app.pipeline) == 1
    assert len(queued(app, "deadline_reminder")) == 2


def _time_left(app: App, code: str) -> timedelta:
    due = ticket(app, code).due_at
    assert due is not None
    return due - utcnow()


@pytest.mark.parametrize("directive", ["#prioridade alta", "#prioridade critica"])
def test_staff_raising_the_priority_shortens_the_deadline_as_urgente_does(
    ingest: Ingest, app: App, directive: str
) -> None:
    code = _open(ingest)  # reativacao-uasg: "normal", 72 hours
    set_ticket(app, code, due_at=utcnow() + timedelta(hours=40), reminded_at=utcnow())

    ingest(staff_reply(code, f"{directive}\nVamos priorizar.", sender=f"Gestão <{UASG_AREA}>"))

    assert abs(_time_left(app, code) - timedelta(hours=20)) < timedelta(minutes=5)  # 50 %
    assert remind_due(app.pipeline) == 1  # the new deadline is reminded again


def test_a_ticket_is_hurried_once_whoever_raises_its_priority(ingest: Ingest, app: App) -> None:
    code = _open(ingest)
    ingest(reply(code, "urgente: a unidade precisa comprar até sexta"))  # 36 hours left
    left = _time_left(app, code)

    ingest(staff_reply(code, "#prioridade critica", sender=f"Gestão <{UASG_AREA}>"))

    assert ticket(app, code).priority == "critica"
    assert abs(_time_left(app, code) - left) < timedelta(minutes=1)


@pytest.mark.parametrize("hours_left", [30, -5], ids=["deadline-ahead", "deadline-passed"])
def test_lowering_the_priority_keeps_the_deadline(
    ingest: Ingest, app: App, hours_left: int
) -> None:
    code = ingest(error_report())["ticket"]  # erro-siasg: "alta"
    due = utcnow() + timedelta(hours=hours_left)
    set_ticket(app, code, due_at=due)

    ingest(staff_reply(code, "#prioridade baixa\nNão impede o trabalho."))

    view = ticket(app, code)
    assert view.priority == "baixa"
    assert view.due_at is not None and abs(view.due_at - due) < timedelta(seconds=1)
    assert escalate_overdue(app.pipeline) == (1 if hours_left < 0 else 0)


def test_many_routed_tickets_are_not_held_back_by_the_reply_cap(ingest: Ingest, app: App) -> None:
    """The daily cap protects senders from loops; an area gets every ticket of the day."""
    for _ in range(22):
        ingest(reactivation())

    assert len(queued(app, "routed")) == 22
