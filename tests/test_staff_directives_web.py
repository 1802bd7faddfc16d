"""The staff directives that the web view's note and reassignment also take by mail: #nota
(an internal note, never relayed) and #tema (the ticket moves to another theme and area)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import select

from mailproc.decision.staff import StaffAnswer, read_staff_answer
from mailproc.decision.ticket_state import TicketState
from mailproc.rules.rulebook import Priority
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage import store
from tests.mails import PDF, error_report
from tests.threads import (
    MARIA,
    SIASG_AREA,
    STAFF_EMAIL,
    UASG_AREA,
    queued,
    reply,
    set_ticket,
    staff_reply,
    ticket,
)

Ingest = Callable[[bytes], dict]
NOTE = "Liguei para a Maria; ela envia o print amanhã."


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"#nota\n\n{NOTE}", StaffAnswer("", note=NOTE)),
        (f"#nota\n{NOTE}\n\nSegunda linha.", StaffAnswer("", note=f"{NOTE}\n\nSegunda linha.")),
        ("#NOTA\nx", StaffAnswer("", note="x")),
        (f"#pendente #nota\n\n{NOTE}", StaffAnswer("", TicketState.PENDING, note=NOTE)),
        ("#tema reativacao-uasg", StaffAnswer("", theme_id="reativacao-uasg")),
        ("#tema Reativacao-UASG\n\nTransferido.", StaffAnswer("Transferido.",
                                                            theme_id="reativacao-uasg")),
        ("#tema cadastro #prioridade alta\nx", StaffAnswer("x", priority=Priority.ALTA,
                                                          theme_id="cadastro")),
        ("#tema\nx", StaffAnswer("x", unknown=("#tema",))),  # names no theme
        ("#nota interna\nx", StaffAnswer("x", unknown=("#nota interna",))),
        ("Bom dia.\n#nota\nx", StaffAnswer("Bom dia.\n#nota\nx")),  # not a first line
    ],
)  # fmt: skip
def test_nota_and_tema_are_read_from_the_first_lines(text: str, expected: StaffAnswer) -> None:
    assert read_staff_answer(text) == expected


def test_an_answer_that_is_only_a_note_or_a_move_answers_nothing() -> None:
    assert not StaffAnswer("", note="x").answers
    assert not StaffAnswer("", theme_id="cadastro").answers
    assert StaffAnswer("", TicketState.PENDING, note="x").answers
    assert StaffAnswer("Resposta", note="x").answers
    assert StaffAnswer("").answers  # an empty reply (files only) is relayed as before


# -- by mail, through the pipeline --------------------------------------------------------


def open_ticket(app: App) -> str:
    result = app.pipeline.process(error_report(), "test")
    assert result.ticket is not None and result.outcome.value == "created"
    return result.ticket


def test_a_note_is_kept_for_staff_and_never_reaches_the_requester(app: App) -> None:
    code = open_ticket(app)
    before = len(queued(app))

    result = app.pipeline.process(
        staff_reply(code, f"#nota\n\n{NOTE}", attachments=(("contato.pdf", "application/pdf",
                                                             PDF),)),
        "test",
    )  # fmt: skip

    assert result.outcome.value == "updated" and result.replies == 0
    assert len(queued(app)) == before  # no mail to anyone
    view = ticket(app, code)
    assert ("note", {"by": STAFF_EMAIL, "text": NOTE}) in view.events
    assert "answered" not in view.kinds()
    assert view.state == "aberto"
    with app.sessions() as session:
        row = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        assert store.last_staff_answer(session, row.id) is None  # "status" quotes no note
        # The note's file is the staff's: it completes nothing and goes to no area.
        names = [f.filename for f in store.ticket_attachments(session, row.id)]
        assert "contato.pdf" not in names


def test_a_note_with_a_state_change_tells_the_requester_of_the_change_only(app: App) -> None:
    code = open_ticket(app)

    app.pipeline.process(staff_reply(code, f"#pendente #nota\n\n{NOTE}"), "test")

    [relay] = queued(app, "staff_answer")
    assert relay.recipients == [MARIA]
    assert "pendente" in relay.text and "Maria; ela envia" not in relay.text
    assert ticket(app, code).state == "pendente"


def test_a_status_request_after_a_note_quotes_the_last_answer_not_the_note(app: App) -> None:
    code = open_ticket(app)
    app.pipeline.process(staff_reply(code, "Estamos verificando o erro."), "test")
    app.pipeline.process(staff_reply(code, f"#nota\n\n{NOTE}"), "test")

    app.pipeline.process(reply(code, "status"), "test")

    [status] = queued(app, "status")
    assert "Estamos verificando o erro." in status.text and "ela envia" not in status.text


def test_tema_moves_the_ticket_to_the_new_area_with_the_routing_mail(app: App) -> None:
    code = open_ticket(app)
    set_ticket(app, code, due_at=None)

    result = app.pipeline.process(staff_reply(code, "#tema reativacao-uasg"), "test")

    assert result.replies == 0
    [routed] = queued(app, "routed")[1:]  # the first went to the SIASG area at creation
    assert routed.recipients == [UASG_AREA]
    assert str(routed.message["Subject"]).endswith(
        f"[#{code}] Chamado transferido: Erro ao publicar aviso no SIASG"
    )
    # The new area reads whence it came and whom to ask, in both parts of the mail.
    whence = f"transferido para esta equipe por {STAFF_EMAIL}, do tema"
    assert whence in routed.text and "Erro/Indisponibilidade – SIASG" in routed.text
    assert whence in routed.html and "Novo chamado" not in routed.text
    assert "- Módulo: Divulgação de Compras" in routed.text  # named by the old theme's question
    assert "print-erro.png" in routed.files  # the requester's files go along
    view = ticket(app, code)
    assert view.due_at is not None  # the new theme's deadline, from now
    assert ("reassigned", {"by": STAFF_EMAIL, "from": "erro-siasg", "to": "reativacao-uasg"}) in (
        view.events
    )
    assert not queued(app, "staff_answer")  # the requester is not told
    with app.sessions() as session:
        assert session.scalars(select(m.Ticket.theme_id).filter_by(code=code)).one() == (
            "reativacao-uasg"
        )


def test_tema_with_an_answer_moves_the_ticket_and_relays_the_answer(app: App) -> None:
    code = open_ticket(app)

    app.pipeline.process(staff_reply(code, "#tema cadastro\n\nEncaminhamos ao cadastro."), "test")

    [relay] = queued(app, "staff_answer")
    assert "Encaminhamos ao cadastro." in relay.text and "#tema" not in relay.text
    assert [q.recipients for q in queued(app, "routed")] == [
        [SIASG_AREA],
        ["cadastro-siasg@example.gov.br"],
    ]


def test_an_unknown_theme_holds_the_answer_back_like_a_typo(app: App) -> None:
    code = open_ticket(app)

    app.pipeline.process(staff_reply(code, "#tema reativacao\n\nTransferido."), "test")

    assert not queued(app, "staff_answer")
    [held] = queued(app, "staff_help")
    assert held.recipients == [STAFF_EMAIL]
    assert "#tema reativacao" in held.text and "#tema reativacao-uasg" in held.text
    view = ticket(app, code)
    assert ("answer_held", {"by": STAFF_EMAIL, "unknown": ["#tema reativacao"]}) in view.events
    assert "reassigned" not in view.kinds()


def test_tema_on_a_ticket_waiting_for_information_routes_nothing_yet(app: App) -> None:
    result = app.pipeline.process(error_report(screenshot=False), "test")
    assert result.outcome.value == "incomplete" and result.ticket is not None
    code = result.ticket

    app.pipeline.process(staff_reply(code, "#tema reativacao-uasg"), "test")

    assert not queued(app, "routed")
    view = ticket(app, code)
    assert view.state == "aguardando_informacoes" and "reassigned" in view.kinds()
