"""The staff action forms (mailproc.web.actions): each one does what its e-mail directive
does and sends the staff member back to the ticket with a message; what a forger, a robot,
a stranger or a huge input sends is refused, never a 500."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from mailproc.service.app import App
from mailproc.storage import models as m
from tests import web_fixtures
from tests.threads import MARIA, UASG_AREA, queued, ticket
from tests.web_fixtures import (
    AREA_STAFF,
    COORDINATOR,
    csrf_tokens,
    logged_in,
    open_tickets,
    sqlite_only,  # noqa: F401  (these pages' tests run on SQLite)
)

# The fixtures, for this module's tests.
web_desk, web_app = web_fixtures.web_desk, web_fixtures.web_app


@pytest.fixture
def codes(web_desk: App) -> list[str]:
    """An SIASG error (complete), a UASG reactivation, an SIASG error waiting for its print."""
    return list(open_tickets(web_desk))


def page(client: FlaskClient, code: str) -> str:
    response = client.get(f"/equipe/chamados/{code}")
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def post(
    client: FlaskClient, code: str, action: str, *, token: bool = True, **form: str
) -> TestResponse:
    """Post a form of the ticket's page, with the token its page gave."""
    if token:
        form["csrf_token"] = csrf_tokens(page(client, code))[0]
    return client.post(f"/equipe/chamados/{code}/{action}", data=form)


def flashed(client: FlaskClient, response: TestResponse) -> str:
    """The page a successful post leads to, where its message is shown."""
    assert response.status_code == 303, response.status_code
    return client.get(response.headers["Location"]).get_data(as_text=True)


# -- the forms -------------------------------------------------------------------------------


def test_the_ticket_page_offers_every_action_each_field_labelled_with_its_token(
    web_app: Flask, codes: list[str]
) -> None:
    html = page(logged_in(web_app, AREA_STAFF), codes[0])

    for action in ("responder", "estado", "prioridade", "nota", "tema"):
        assert f'action="/equipe/chamados/{codes[0]}/{action}"' in html
    assert len(csrf_tokens(html)) >= 5
    for field_id in re.findall(r'<(?:select|textarea)[^>]* id="([^"]+)"', html):
        assert f'<label for="{field_id}">' in html
    assert "Erro/Indisponibilidade – SIASG — Suporte Técnico SIASG" in html  # Tema — Área
    assert "Responder ao solicitante" in html
    ids = re.findall(r' id="([^"]+)"', html)
    assert len(ids) == len(set(ids))  # each label names one field
    assert "<script" not in html and "style=" not in html


def test_answering_mails_the_requester_and_can_resolve_in_the_same_step(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)
    code = codes[0]

    response = post(
        client, code, "responder", texto="Bom dia.\r\nLiberamos a publicação.", estado="resolvido"
    )

    assert response.headers["Location"].endswith(f"/equipe/chamados/{code}")
    assert "Resposta enviada ao solicitante. O chamado está resolvido." in flashed(client, response)
    [relay] = queued(web_desk, "staff_answer")
    assert relay.recipients == [MARIA]
    assert "Bom dia.\r\nLiberamos a publicação." in relay.text  # the mail's own line breaks
    view = ticket(web_desk, code)
    assert view.state == "resolvido"
    assert ("answered", {"by": AREA_STAFF, "state": "resolvido", "via": "web"}) in view.events


def test_changing_the_state_tells_the_requester(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)

    response = post(client, codes[0], "estado", estado="pendente")

    assert "O chamado agora está pendente. O solicitante foi avisado por e-mail." in flashed(
        client, response
    )
    assert ticket(web_desk, codes[0]).state == "pendente"
    assert [q.recipients for q in queued(web_desk, "staff_answer")] == [[MARIA]]


def test_changing_the_priority(web_app: Flask, web_desk: App, codes: list[str]) -> None:
    client = logged_in(web_app, AREA_STAFF)

    response = post(client, codes[0], "prioridade", prioridade="critica")

    assert "Prioridade alterada para crítica." in flashed(client, response)
    assert ticket(web_desk, codes[0]).priority == "critica"


def test_a_note_is_recorded_and_mailed_to_nobody(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)
    before = len(queued(web_desk))

    response = post(client, codes[0], "nota", nota="Ligar para a Maria amanhã.")

    assert "Nota interna registrada" in flashed(client, response)
    assert len(queued(web_desk)) == before
    assert (
        "note",
        {"by": AREA_STAFF, "text": "Ligar para a Maria amanhã.", "via": "web"},
    ) in ticket(web_desk, codes[0]).events


def test_a_coordinator_moves_a_ticket_to_another_theme_and_stays_on_it(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, COORDINATOR)

    response = post(client, codes[0], "tema", tema="reativacao-uasg")

    assert "transferido para o tema" in flashed(client, response)
    assert response.headers["Location"].endswith(f"/equipe/chamados/{codes[0]}")
    assert queued(web_desk, "routed")[-1].recipients == [UASG_AREA]


def test_area_staff_who_move_a_ticket_away_go_back_to_their_queue_and_lose_sight_of_it(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)
    token = csrf_tokens(page(client, codes[0]))[0]

    response = client.post(
        f"/equipe/chamados/{codes[0]}/tema", data={"tema": "reativacao-uasg", "csrf_token": token}
    )

    assert response.status_code == 303
    assert response.headers["Location"].endswith("/equipe/")
    with client.session_transaction() as session:
        [(_, message)] = session["_flashes"]
    assert "Ele não aparece mais na sua fila." in message
    again = client.post(
        f"/equipe/chamados/{codes[0]}/nota", data={"nota": "x", "csrf_token": token}
    )
    assert again.status_code == 404


# -- what is refused ---------------------------------------------------------------------------


def test_an_empty_answer_is_refused_with_a_message(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)

    response = post(client, codes[0], "responder", texto=" \r\n ", estado="resolvido")

    assert "Escreva a resposta antes de enviar." in flashed(client, response)
    assert not queued(web_desk, "staff_answer") and ticket(web_desk, codes[0]).state == "aberto"


def test_a_text_over_the_limit_is_refused_and_a_megabyte_is_no_error(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)

    response = post(client, codes[0], "nota", nota="a" * 100_001)
    assert "o limite é de 100.000" in flashed(client, response)
    huge = post(client, codes[0], "responder", texto="a" * 1_100_000)

    assert huge.status_code == 413
    assert "Texto longo demais" in huge.text  # the desk's page, in pt-BR
    assert not queued(web_desk, "staff_answer")
    assert "note" not in ticket(web_desk, codes[0]).kinds()


def test_a_staff_member_acting_like_a_robot_is_stopped_and_a_colleague_is_not(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    # A script in a stolen session, or a stuck key: every note, answer and state change
    # counts, per staff member (colleagues behind one proxy share an address).
    client = logged_in(web_app, AREA_STAFF)
    accepted = [post(client, codes[0], "nota", nota=f"Nota {n}").status_code for n in range(30)]

    refused = post(client, codes[0], "estado", estado="pendente")
    colleague = post(logged_in(web_app, COORDINATOR), codes[0], "nota", nota="Nota da coordenação")

    assert accepted == [303] * 30
    assert refused.status_code == 429 and "Muitas tentativas" in refused.text
    assert colleague.status_code == 303
    view = ticket(web_desk, codes[0])
    assert view.kinds().count("note") == 31 and view.state == "aberto"


def test_a_refused_action_says_why(web_app: Flask, codes: list[str]) -> None:
    client = logged_in(web_app, AREA_STAFF)

    response = post(client, codes[0], "estado", estado="aberto")

    assert "já está em atendimento" in flashed(client, response)


@pytest.mark.parametrize(
    ("action", "form"),
    [
        ("estado", {"estado": "encerrado_sem_tratamento"}),  # no directive sets it
        ("estado", {"estado": ""}),
        ("responder", {"texto": "Olá", "estado": "fechado"}),
        ("prioridade", {"prioridade": "urgentissima"}),
        ("tema", {"tema": "../../etc"}),
        ("tema", {}),
    ],
)
def test_a_value_no_form_offers_is_a_bad_request(
    web_app: Flask, web_desk: App, codes: list[str], action: str, form: dict[str, str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)
    before = (ticket(web_desk, codes[0]), len(queued(web_desk)))

    response = post(client, codes[0], action, **form)

    assert response.status_code == 400
    assert "Pedido inválido" in response.get_data(as_text=True)
    assert (ticket(web_desk, codes[0]), len(queued(web_desk))) == before


def test_a_post_without_its_csrf_token_is_refused(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)

    missing = post(client, codes[0], "responder", token=False, texto="Resolvido.")
    forged = post(client, codes[0], "responder", token=False, texto="x", csrf_token="forjado")

    assert missing.status_code == forged.status_code == 400
    assert not queued(web_desk, "staff_answer")


def test_another_areas_ticket_and_an_unknown_code_are_not_found(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)  # the SIASG area: not the UASG reactivation
    token = csrf_tokens(page(client, codes[0]))[0]

    for code in (codes[1], "2026-999999", "<script>"):
        response = client.post(
            f"/equipe/chamados/{code}/responder", data={"texto": "x", "csrf_token": token}
        )
        assert response.status_code == 404, code
    assert not queued(web_desk, "staff_answer")


def test_an_anonymous_post_is_sent_to_the_login(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = web_app.test_client()
    token = csrf_tokens(client.get("/entrar").get_data(as_text=True))[0]  # a form's token

    response = client.post(
        f"/equipe/chamados/{codes[0]}/responder", data={"texto": "x", "csrf_token": token}
    )

    assert response.status_code == 302 and "/entrar" in response.headers["Location"]
    assert not queued(web_desk, "staff_answer")


def test_markup_in_an_answer_is_text_in_the_mail_and_on_the_page(
    web_app: Flask, web_desk: App, codes: list[str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)
    attack = '<script>alert("x")</script><a href="http://evil.example">clique</a>'

    response = post(client, codes[0], "responder", texto=attack)

    html = flashed(client, response)
    assert "<script>alert" not in html
    [relay] = queued(web_desk, "staff_answer")
    mail_html = relay.html
    assert "<script>" not in mail_html and '<a href="http://evil.example"' not in mail_html
    assert "&lt;script&gt;" in mail_html
    assert attack in relay.text  # the plain text says what was written
    with web_desk.sessions() as session:
        row = session.scalars(select(m.Message).where(m.Message.raw_id.is_(None))).one()
        assert row.body_text == attack and row.body_html is None
