"""Web actions (mailproc.tickets.acting) apply as the mail that takes them: on one desk, one
ticket gets the mail and a twin ticket the same action from the web, and both must end the
same, with the same mail queued; the web's events say who acted and that it was the web.
What the mail path refuses is refused, and nothing changes."""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable

import pytest
from sqlalchemy import select

from mailproc.decision.ticket_state import TicketState
from mailproc.rules.rulebook import Priority
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.tickets.acting import (
    Refused,
    RequesterAction,
    StaffAction,
    UnknownTicket,
    act,
)
from tests import web_fixtures
from tests.mails import error_report
from tests.threads import (
    MARIA,
    SIASG_AREA,
    STAFF_EMAIL,
    UASG_AREA,
    Queued,
    queued,
    reply,
    set_ticket,
    staff_reply,
    ticket,
)

web_desk = web_fixtures.web_desk  # the fixture, for this module's tests

COLLEAGUE = "joao.lima@saude.rj.gov.br"
STRANGER = "intruso@example.com"
# What differs between two mails of the same notice besides the code: minutes of the clock,
# the signed link to the ticket's page.
_TIMES = re.compile(r"\d{2}/\d{2}/\d{4}[^\n]*?\d{1,2}[:h]\d{2}")
_LINKS = re.compile(r"/acompanhar/[\w.-]+")


def open_twins(desk: App) -> tuple[str, str]:
    """Two tickets alike, in service: one for the mail, one for the web."""
    codes = []
    for _ in range(2):
        result = desk.pipeline.process(error_report(), "test")
        assert result.outcome.value == "created", result
        assert result.ticket is not None
        codes.append(result.ticket)
    return codes[0], codes[1]


def new_mail(desk: App, change: Callable[[], object]) -> list[Queued]:
    """The mail queued by ``change``."""
    before = len(queued(desk))
    change()
    return queued(desk)[before:]


def same_mail(by_mail: list[Queued], by_web: list[Queued], codes: tuple[str, str]) -> None:
    """The two lists are the same notices: purposes, recipients, subjects, bodies (with the
    twin's code, the clock's minutes and the ticket's link aside)."""

    def comparable(q: Queued, code: str) -> tuple[object, ...]:
        def plain(text: str) -> str:
            unlinked = _LINKS.sub("/acompanhar/<link>", text)
            return _TIMES.sub("<hora>", unlinked.replace(code, "<código>"))

        return (
            q.purpose,
            q.recipients,
            plain(str(q.message["Subject"])),
            plain(q.text),
            plain(q.html),
        )

    mailed = [comparable(q, codes[0]) for q in by_mail]
    webbed = [comparable(q, codes[1]) for q in by_web]
    # Line by line, so that a difference is shown where it is, not cut off by pytest.
    differences = [
        "\n".join(difflib.unified_diff(str(a).splitlines(), str(b).splitlines(), lineterm=""))
        for one, other in zip(mailed, webbed, strict=False)
        for a, b in zip(one, other, strict=True)
        if a != b
    ]
    assert len(mailed) == len(webbed) and not differences, "\n".join(differences)


def web_events(desk: App, code: str) -> list[tuple[str, dict[str, object]]]:
    return [(kind, detail) for kind, detail in ticket(desk, code).events if detail.get("via")]


# -- staff actions: the same as the staff reply ----------------------------------------------


def test_a_staff_answer_resolving_the_ticket_mails_what_the_staff_reply_mails(
    web_desk: App,
) -> None:
    mailed, webbed = open_twins(web_desk)
    text = "Bom dia, Maria. A publicação foi liberada."

    by_mail = new_mail(
        web_desk,
        lambda: web_desk.pipeline.process(staff_reply(mailed, f"#resolvido\n\n{text}"), "t"),
    )
    action = StaffAction(webbed, STAFF_EMAIL, text=text, state=TicketState.RESOLVED)
    by_web = new_mail(web_desk, lambda: act(web_desk.pipeline, action))

    same_mail(by_mail, by_web, (mailed, webbed))
    assert [q.purpose for q in by_web] == ["staff_answer"]
    assert by_web[0].recipients == [MARIA] and text in by_web[0].text
    assert ticket(web_desk, webbed).state == ticket(web_desk, mailed).state == "resolvido"


def test_a_web_answer_is_kept_on_the_ticket_as_a_message_and_its_events_say_by_whom(
    web_desk: App,
) -> None:
    _, code = open_twins(web_desk)

    result = act(web_desk.pipeline, StaffAction(code, STAFF_EMAIL, text="Verificamos o erro."))

    assert result.ticket == code and result.replies == 1
    with web_desk.sessions() as session:
        row = session.scalars(select(m.Message).order_by(m.Message.id.desc())).first()
        assert row is not None and row.ticket is not None
        assert (row.ticket.code, row.raw_id, row.sender) == (code, None, STAFF_EMAIL)
        assert row.body_text == "Verificamos o erro." and row.dedup_key.startswith("web:")
        assert row.message_id and row.message_id.endswith("@compras.example.gov.br")
    assert web_events(web_desk, code) == [
        ("answered", {"by": STAFF_EMAIL, "via": "web"}),
    ]


@pytest.mark.parametrize(
    ("directive", "action"),
    [
        ("#pendente", {"state": TicketState.PENDING}),
        ("#cancelado", {"state": TicketState.CANCELLED}),
        ("#prioridade critica", {"priority": Priority.CRITICA}),
        ("#prioridade baixa", {"priority": Priority.BAIXA}),
    ],
)
def test_a_change_of_state_or_priority_mails_what_the_directive_mails(
    web_desk: App, directive: str, action: dict[str, object]
) -> None:
    mailed, webbed = open_twins(web_desk)

    by_mail = new_mail(
        web_desk, lambda: web_desk.pipeline.process(staff_reply(mailed, directive), "t")
    )
    by_web = new_mail(
        web_desk, lambda: act(web_desk.pipeline, StaffAction(webbed, STAFF_EMAIL, **action))
    )

    same_mail(by_mail, by_web, (mailed, webbed))
    assert by_web, "the requester hears of the change"
    twin, web = ticket(web_desk, mailed), ticket(web_desk, webbed)
    assert (web.state, web.priority, web.due_at is None) == (
        twin.state,
        twin.priority,
        twin.due_at is None,
    )


def test_a_note_stays_on_the_ticket_and_mails_nobody(web_desk: App) -> None:
    mailed, webbed = open_twins(web_desk)
    note = "Liguei para a Maria: ela manda o print amanhã."

    by_mail = new_mail(
        web_desk, lambda: web_desk.pipeline.process(staff_reply(mailed, f"#nota\n\n{note}"), "t")
    )
    by_web = new_mail(
        web_desk, lambda: act(web_desk.pipeline, StaffAction(webbed, STAFF_EMAIL, note=note))
    )

    assert by_mail == by_web == []
    assert web_events(web_desk, webbed) == [
        ("note", {"by": STAFF_EMAIL, "text": note, "via": "web"}),
    ]
    assert ("note", {"by": STAFF_EMAIL, "text": note}) in ticket(web_desk, mailed).events
    assert ticket(web_desk, webbed).state == "aberto"


def test_a_move_to_another_theme_routes_the_ticket_to_its_area_as_the_directive_does(
    web_desk: App,
) -> None:
    mailed, webbed = open_twins(web_desk)
    set_ticket(web_desk, mailed, due_at=None)  # the new theme's deadline is set, from now
    set_ticket(web_desk, webbed, due_at=None)

    by_mail = new_mail(
        web_desk,
        lambda: web_desk.pipeline.process(staff_reply(mailed, "#tema reativacao-uasg"), "t"),
    )
    action = StaffAction(webbed, STAFF_EMAIL, theme_id="reativacao-uasg")
    by_web = new_mail(web_desk, lambda: act(web_desk.pipeline, action))

    same_mail(by_mail, by_web, (mailed, webbed))
    assert [(q.purpose, q.recipients) for q in by_web] == [("routed", [UASG_AREA])]
    assert web_events(web_desk, webbed) == [
        (
            "reassigned",
            {"by": STAFF_EMAIL, "from": "erro-siasg", "to": "reativacao-uasg", "via": "web"},
        ),
    ]
    assert ("routed", {"to": UASG_AREA}) in ticket(web_desk, webbed).events
    assert ticket(web_desk, webbed).due_at is not None
    with web_desk.sessions() as session:
        moved = session.scalars(select(m.Ticket).filter_by(code=webbed)).one()
        assert moved.theme_id == "reativacao-uasg"


def test_an_answer_with_a_note_relays_the_answer_and_never_the_note(web_desk: App) -> None:
    _, code = open_twins(web_desk)
    action = StaffAction(code, STAFF_EMAIL, text="Estamos verificando.", note="Cliente VIP.")

    [relay] = new_mail(web_desk, lambda: act(web_desk.pipeline, action))

    assert "Estamos verificando." in relay.text and "VIP" not in relay.text
    assert [kind for kind, _ in web_events(web_desk, code)] == ["note", "answered"]


# -- requester actions: the same as the command or the rating --------------------------------


def test_urgente_mails_what_the_urgente_command_mails(web_desk: App) -> None:
    mailed, webbed = open_twins(web_desk)
    reason = "o pregão será aberto amanhã"

    by_mail = new_mail(
        web_desk, lambda: web_desk.pipeline.process(reply(mailed, f"urgente: {reason}"), "t")
    )
    action = RequesterAction(webbed, MARIA, "urgente", reason=reason)
    by_web = new_mail(web_desk, lambda: act(web_desk.pipeline, action))

    same_mail(by_mail, by_web, (mailed, webbed))
    assert sorted(q.purpose for q in by_web) == ["area_urgent", "urgent_received"]
    assert ticket(web_desk, webbed).priority == ticket(web_desk, mailed).priority
    [(kind, detail)] = web_events(web_desk, webbed)
    assert kind == "urgent" and detail["by"] == MARIA and detail["reason"] == reason


def test_cancelar_mails_what_the_cancelar_command_mails(web_desk: App) -> None:
    mailed, webbed = open_twins(web_desk)

    by_mail = new_mail(
        web_desk,
        lambda: web_desk.pipeline.process(reply(mailed, "cancelar: resolvido por telefone"), "t"),
    )
    action = RequesterAction(webbed, MARIA, "cancelar", reason="resolvido por telefone")
    by_web = new_mail(web_desk, lambda: act(web_desk.pipeline, action))

    same_mail(by_mail, by_web, (mailed, webbed))
    assert sorted((q.purpose, q.recipients[0]) for q in by_web) == [
        ("area_cancelled", SIASG_AREA),
        ("cancelled", MARIA),
    ]
    assert ticket(web_desk, webbed).state == "cancelado"
    assert ("cancelled", {"reason": "resolvido por telefone", "by": MARIA, "via": "web"}) in (
        web_events(web_desk, webbed)
    )


def test_avaliar_mails_what_a_rating_reply_mails(web_desk: App) -> None:
    mailed, webbed = open_twins(web_desk)
    for code in (mailed, webbed):
        web_desk.pipeline.process(staff_reply(code, "#resolvido\n\nLiberado."), "t")

    by_mail = new_mail(
        web_desk, lambda: web_desk.pipeline.process(reply(mailed, "4 - bom atendimento"), "t")
    )
    action = RequesterAction(webbed, MARIA, "avaliar", score=4, comment="bom atendimento")
    by_web = new_mail(web_desk, lambda: act(web_desk.pipeline, action))

    same_mail(by_mail, by_web, (mailed, webbed))
    assert [q.purpose for q in by_web] == ["rating_received"]
    assert ticket(web_desk, webbed).evaluation == (4, "bom atendimento", MARIA)
    assert ticket(web_desk, webbed).state == "resolvido"  # a rating reopens nothing


# -- refusals: what the mail path refuses, nothing changed -----------------------------------


def refused(desk: App, action: StaffAction | RequesterAction) -> str:
    """The refusal's message, checking that the action left no trace."""
    before = (len(queued(desk)), _messages(desk))
    with pytest.raises(Refused) as refusal:
        act(desk.pipeline, action)
    assert (len(queued(desk)), _messages(desk)) == before
    return refusal.value.message


def _messages(desk: App) -> int:
    with desk.sessions() as session:
        return len(session.scalars(select(m.Message.id)).all())


def test_a_cancelled_ticket_is_not_cancelled_twice(web_desk: App) -> None:
    _, code = open_twins(web_desk)
    act(web_desk.pipeline, RequesterAction(code, MARIA, "cancelar"))

    message = refused(web_desk, RequesterAction(code, MARIA, "cancelar"))

    assert "está cancelado e não pode mais ser cancelado" in message


def test_only_the_requester_cancels_and_a_stranger_learns_nothing(web_desk: App) -> None:
    _, code = open_twins(web_desk)
    with web_desk.sessions.begin() as session:
        ticket_id = session.scalars(select(m.Ticket.id).filter_by(code=code)).one()
        session.add(m.Participant(ticket_id=ticket_id, email=COLLEAGUE, role="cc"))

    assert "Somente quem abriu" in refused(web_desk, RequesterAction(code, COLLEAGUE, "cancelar"))
    assert "Não encontramos o chamado" in refused(
        web_desk, RequesterAction(code, STRANGER, "cancelar")
    )
    assert "Não encontramos o chamado" in refused(
        web_desk, RequesterAction(code, STRANGER, "urgente", reason="já")
    )
    # A participant may ask for urgency, as by mail.
    act(web_desk.pipeline, RequesterAction(code, COLLEAGUE, "urgente", reason="prazo amanhã"))
    assert ticket(web_desk, code).priority == "critica"


def test_urgency_needs_a_reason_and_a_ticket_in_service(web_desk: App) -> None:
    _, code = open_twins(web_desk)

    assert "motivo da urgência" in refused(web_desk, RequesterAction(code, MARIA, "urgente"))
    set_ticket(web_desk, code, state="aguardando_informacoes")
    assert "aguarda informações" in refused(
        web_desk, RequesterAction(code, MARIA, "urgente", reason="prazo")
    )


@pytest.mark.parametrize("score", [None, 0, 6, -1])
def test_a_rating_needs_a_score_from_1_to_5(web_desk: App, score: int | None) -> None:
    _, code = open_twins(web_desk)
    set_ticket(web_desk, code, state="resolvido")

    message = refused(web_desk, RequesterAction(code, MARIA, "avaliar", score=score))

    assert message == "Escolha uma nota de 1 a 5."


def test_only_the_requester_rates_and_only_a_resolved_ticket(web_desk: App) -> None:
    _, code = open_twins(web_desk)

    open_ticket = refused(web_desk, RequesterAction(code, MARIA, "avaliar", score=5))
    set_ticket(web_desk, code, state="resolvido")
    stranger = refused(web_desk, RequesterAction(code, STRANGER, "avaliar", score=5))

    assert "está em atendimento" in open_ticket and "resolvido" in open_ticket
    assert "Somente quem abriu" in stranger


def test_staff_actions_are_for_staff(web_desk: App) -> None:
    _, code = open_twins(web_desk)

    message = refused(web_desk, StaffAction(code, STRANGER, text="Resolvido, clique aqui."))

    assert message == "Somente a equipe de atendimento pode atender aos chamados."
    set_ticket(web_desk, code, requester_email=STAFF_EMAIL)  # a staff member's own ticket
    assert "Você é o solicitante" in refused(
        web_desk, StaffAction(code, STAFF_EMAIL.upper(), text="Resolvido.")
    )


def test_a_staff_action_that_changes_nothing_is_not_taken(web_desk: App) -> None:
    _, code = open_twins(web_desk)

    assert "já está em atendimento" in refused(
        web_desk, StaffAction(code, STAFF_EMAIL, state=TicketState.OPEN)
    )
    assert "já é desse tema" in refused(
        web_desk, StaffAction(code, STAFF_EMAIL, theme_id="erro-siasg")
    )
    assert "Escreva a resposta" in refused(web_desk, StaffAction(code, STAFF_EMAIL, text="  \n"))


def test_an_unknown_theme_is_refused(web_desk: App) -> None:
    _, code = open_twins(web_desk)

    message = refused(web_desk, StaffAction(code, STAFF_EMAIL, theme_id="nao-existe"))

    assert "tema escolhido não existe" in message


def test_an_unknown_code_is_an_unknown_ticket(web_desk: App) -> None:
    with pytest.raises(UnknownTicket):
        act(web_desk.pipeline, StaffAction("2026-999999", STAFF_EMAIL, text="Olá"))
