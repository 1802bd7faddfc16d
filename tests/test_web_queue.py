"""The staff queue, a ticket's page and its files (mailproc.web.staff), through the Flask
test client, on SQLite and PostgreSQL: who sees what, each filter, search, paging and order,
hostile input, and files that are always downloaded, never shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.test import TestResponse

from mailproc.decision.ticket_state import TicketState
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from mailproc.web.staff import SORT_LABELS, address_breaks
from tests import web_fixtures
from tests.mails import mail
from tests.test_queue_store import HOSTILE_SEARCHES, add_ticket
from tests.test_queue_store import add_file as store_file
from tests.web_fixtures import (
    AREA_STAFF,
    COORDINATOR,
    OTHER_STAFF,
    logged_in,
    open_tickets,
    sqlite_only,  # noqa: F401  (these pages' tests run on SQLite)
    without_csrf_tokens,
)

# The fixtures, for this module's tests.
web_desk, web_app = web_fixtures.web_desk, web_fixtures.web_app

QUEUE = "/equipe/"
UASG_AREA = "gestao-uasg@example.gov.br"


@pytest.fixture
def codes(web_desk: App) -> dict[str, str]:
    """The three tickets of open_tickets, by their subject."""
    open_tickets(web_desk)
    with web_desk.sessions() as session:
        return dict(session.execute(select(m.Ticket.subject, m.Ticket.code)).all())


@pytest.fixture
def coordinator(web_app: Flask) -> FlaskClient:
    return logged_in(web_app, COORDINATOR)


def listed(response: TestResponse) -> set[str]:
    """The ticket codes a queue page lists."""
    assert response.status_code == 200, response.status_code
    return set(re.findall(r'href="/equipe/chamados/([0-9]{4}-[0-9]{6})"', response.text))


def text_of(response: TestResponse) -> str:
    return " ".join(re.sub(r"<[^>]+>", " ", response.text).split())


SIASG_ERROR = "Erro ao publicar aviso no SIASG"
SIASG_INCOMPLETE = "Erro no SIASG ao emitir empenho"
UASG = "Reativação de UASG"


# -- who sees what ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", [QUEUE, "/equipe/chamados/2026-000001", "/equipe/chamados/2026-000001/arquivos/1"]
)
def test_anonymous_visitors_are_sent_to_the_login(web_app: Flask, path: str) -> None:
    response = web_app.test_client().get(path)

    assert response.status_code == 302
    assert "/entrar" in response.headers["Location"]


def test_the_coordinator_sees_every_ticket(coordinator: FlaskClient, codes: dict[str, str]) -> None:
    response = coordinator.get(QUEUE)

    assert listed(response) == set(codes.values())
    assert "3 chamados" in text_of(response)


def test_area_staff_see_only_their_areas_tickets(web_app: Flask, codes: dict[str, str]) -> None:
    client = logged_in(web_app, AREA_STAFF)

    assert listed(client.get(QUEUE)) == {codes[SIASG_ERROR], codes[SIASG_INCOMPLETE]}
    assert client.get(f"/equipe/chamados/{codes[SIASG_ERROR]}").status_code == 200


def test_a_ticket_out_of_scope_is_not_found_like_an_unknown_one(
    web_app: Flask, codes: dict[str, str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)
    now = utcnow()

    # Seconds apart, as two requests may be: the pages' CSRF tokens differ, nothing else may.
    with time_machine.travel(now, tick=False):
        outside = client.get(f"/equipe/chamados/{codes[UASG]}")
    with time_machine.travel(now + timedelta(seconds=2), tick=False):
        unknown = client.get("/equipe/chamados/2026-999999")

    assert outside.status_code == unknown.status_code == 404
    assert without_csrf_tokens(outside.text) == without_csrf_tokens(unknown.text)


def test_staff_in_no_area_see_no_ticket_and_are_told_why(
    web_app: Flask, codes: dict[str, str]
) -> None:
    client = logged_in(web_app, OTHER_STAFF)

    response = client.get(QUEUE)
    assert listed(response) == set()
    assert "não está em nenhuma área" in text_of(response)
    assert client.get(f"/equipe/chamados/{codes[SIASG_ERROR]}").status_code == 404


def test_a_filter_cannot_show_another_areas_tickets(web_app: Flask, codes: dict[str, str]) -> None:
    client = logged_in(web_app, AREA_STAFF)

    for query in ({"tema": "reativacao-uasg"}, {"area": UASG_AREA}):
        response = client.get(QUEUE, query_string=query)
        assert codes[UASG] not in listed(response)
        assert "o filtro foi ignorado" in text_of(response)


# -- filters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "subjects"),
    [
        ({"tema": "reativacao-uasg"}, {UASG}),
        ({"area": UASG_AREA}, {UASG}),
        ({"area": "suporte-siasg@example.gov.br"}, {SIASG_ERROR, SIASG_INCOMPLETE}),
        ({"estado": TicketState.AWAITING_INFORMATION}, {SIASG_INCOMPLETE}),
        ({"estado": TicketState.RESOLVED}, set()),
        ({"q": "emitir"}, {SIASG_INCOMPLETE}),  # a word of its subject
        ({"q": "Fundação Estadual"}, {UASG}),  # words of its body only
        ({"solicitante": "maria.silva@"}, {SIASG_ERROR, SIASG_INCOMPLETE, UASG}),
        ({"solicitante": "joao"}, set()),
        ({"tema": "erro-siasg", "estado": TicketState.OPEN}, {SIASG_ERROR}),
    ],
)
def test_each_filter_narrows_the_queue(
    coordinator: FlaskClient,
    codes: dict[str, str],
    query: dict[str, str],
    subjects: set[str],
) -> None:
    response = coordinator.get(QUEUE, query_string=query)

    assert listed(response) == {codes[s] for s in subjects}


def test_the_priority_and_deadline_filters(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    now = utcnow()
    with web_desk.sessions.begin() as session:
        ticket = m.Ticket
        late = update(ticket).where(ticket.code == codes[SIASG_ERROR])
        session.execute(late.values(due_at=now - timedelta(hours=2), priority="critica"))
        soon = update(ticket).where(ticket.code == codes[UASG])
        session.execute(soon.values(state=TicketState.OPEN, due_at=now + timedelta(hours=5)))

    overdue = coordinator.get(QUEUE, query_string={"prazo": "vencido"})
    due_soon = coordinator.get(QUEUE, query_string={"prazo": "24h"})
    high = coordinator.get(QUEUE, query_string={"prioridade": "critica"})

    assert listed(overdue) == {codes[SIASG_ERROR]}
    assert "vencido" in text_of(overdue)
    assert listed(due_soon) == {codes[UASG]}
    assert re.search(r"vence em [56]h", text_of(due_soon))
    assert listed(high) == {codes[SIASG_ERROR]}


def test_the_form_shows_the_filters_it_applied(coordinator: FlaskClient) -> None:
    response = coordinator.get(QUEUE, query_string={"tema": "erro-siasg", "q": "empenho"})

    assert '<option value="erro-siasg" selected>' in response.text
    assert 'value="empenho"' in response.text
    assert '<form method="get"' in response.text


def test_an_empty_result_says_so(coordinator: FlaskClient, codes: dict[str, str]) -> None:
    response = coordinator.get(QUEUE, query_string={"q": "inexistente"})

    assert "0 chamados" in text_of(response)
    assert "Nenhum chamado corresponde a estes filtros" in text_of(response)


@pytest.mark.parametrize(
    "query",
    [
        {"tema": "nao-existe"},
        {"estado": "<script>alert(1)</script>"},
        {"prioridade": "máxima"},
        {"prazo": "ontem"},
        {"ordenar": "'; DROP TABLE tickets; --"},
        {"area": "x" * 5000},
    ],
)
def test_an_unknown_filter_value_is_ignored_and_told(
    coordinator: FlaskClient, codes: dict[str, str], query: dict[str, str]
) -> None:
    response = coordinator.get(QUEUE, query_string=query)

    assert listed(response) == set(codes.values())
    assert "o filtro foi ignorado" in text_of(response)
    assert "<script>" not in response.text


@pytest.mark.parametrize("q", [*HOSTILE_SEARCHES, "<script>alert(1)</script>"])
def test_hostile_searches_answer_a_page(
    coordinator: FlaskClient, codes: dict[str, str], q: str
) -> None:
    response = coordinator.get(QUEUE, query_string={"q": q, "solicitante": q})

    assert listed(response) == set()
    assert "<script>alert" not in response.text


def test_a_long_search_is_cut_and_told(coordinator: FlaskClient, codes: dict[str, str]) -> None:
    response = coordinator.get(QUEUE, query_string={"q": "emitir " + "x" * 10_000})

    assert "só os primeiros 200 caracteres" in text_of(response)


@pytest.mark.parametrize("number", ["abc", "-3", "0", "9" * 5000, "1.5"])
def test_an_odd_page_number_shows_a_page(
    coordinator: FlaskClient, codes: dict[str, str], number: str
) -> None:
    assert len(listed(coordinator.get(QUEUE, query_string={"pagina": number}))) == 3


# -- pages and order ----------------------------------------------------------------------


def test_the_queue_pages_by_fifty_keeping_its_filters(
    web_desk: App, coordinator: FlaskClient
) -> None:
    now = utcnow()
    with web_desk.sessions.begin() as session:
        for n in range(55):
            add_ticket(session, f"Pedido {n}", created=now - timedelta(minutes=n))

    first = coordinator.get(QUEUE, query_string={"tema": "erro-siasg"})
    assert len(listed(first)) == 50
    assert "55 chamados" in text_of(first)
    assert "Página 1 de 2" in text_of(first)
    assert "Anterior" not in text_of(first)
    following = re.search(r'href="([^"]+)" rel="next">Próxima', first.text)
    assert following is not None
    second_url = following.group(1).replace("&amp;", "&")
    assert "tema=erro-siasg" in second_url

    second = coordinator.get(second_url)
    assert len(listed(second)) == 5
    assert listed(first).isdisjoint(listed(second))
    assert "Página 2 de 2" in text_of(second)
    assert "Anterior" in text_of(second) and "Próxima" not in text_of(second)


def test_the_order_can_be_chosen(
    coordinator: FlaskClient, codes: dict[str, str], web_desk: App
) -> None:
    def first_listed(order: str) -> str:
        response = coordinator.get(QUEUE, query_string={"ordenar": order})
        found = re.search(r'href="/equipe/chamados/([0-9-]+)"', response.text)
        assert found is not None
        return found.group(1)

    in_order = sorted(codes.values())
    assert first_listed("antigos") == in_order[0]
    assert first_listed("recentes") == in_order[-1]


# -- the queue's layout -------------------------------------------------------------------


def test_only_the_search_shows_until_another_filter_is_used(
    coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    folded = coordinator.get(QUEUE).text
    filtered = coordinator.get(QUEUE, query_string={"tema": "erro-siasg", "prazo": "24h"}).text
    ordered = coordinator.get(QUEUE, query_string={"ordenar": "antigos", "q": "erro"}).text

    # A phone shows the search and then the tickets; the other filters fold under a summary.
    assert folded.index('id="filtro-busca"') < folded.index("<details") < folded.index("Tema")
    assert '<details class="more-filters">' in folded
    assert "<summary>Mais filtros</summary>" in folded
    # Folded filters in use would be forgotten: they stay open, and the summary counts them.
    assert '<details class="more-filters" open>' in filtered
    assert "<summary>Mais filtros (2 em uso)</summary>" in filtered
    assert '<details class="more-filters" open>' in ordered  # the order chosen is shown too
    assert "<summary>Mais filtros</summary>" in ordered


def test_a_requesters_address_wraps_only_before_its_at_sign_and_dots(
    web_desk: App, coordinator: FlaskClient
) -> None:
    with web_desk.sessions.begin() as session:
        add_ticket(session, requester="lucia.andrade@cultura.rj.gov.br")

    response = coordinator.get(QUEUE)

    assert "lucia<wbr>.andrade<wbr>@cultura<wbr>.rj<wbr>.gov<wbr>.br" in response.text


def test_an_address_is_escaped_between_its_breaks() -> None:
    assert address_breaks('"<b>x</b>".y@z') == "&#34;&lt;b&gt;x&lt;/b&gt;&#34;<wbr>.y<wbr>@z"


def test_the_orders_are_named_short_enough_for_their_field() -> None:
    # The select is as wide as a filter's column (12rem at 1280 px): about 22 characters.
    assert max(len(label) for label in SORT_LABELS.values()) <= 20


# -- a ticket's page ----------------------------------------------------------------------


def test_a_tickets_page_tells_everything_about_it(
    coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    code = codes[SIASG_ERROR]

    response = coordinator.get(f"/equipe/chamados/{code}")
    page = text_of(response)

    assert response.status_code == 200
    assert response.text.count("<h1") == 1
    for expected in (
        SIASG_ERROR,
        code,
        "em atendimento",  # its state
        "Suporte Técnico SIASG",  # its area
        "maria.silva@saude.rj.gov.br",
        "UASG 925001",  # an answer, by its label
        "Mensagem de erro",
        "O SIASG apresenta erro",  # the conversation
        "print-erro.png",
        "Chamado aberto",  # the history
        "Encaminhado à área",
        "Situação do prazo",
    ):
        assert expected in page, expected


def test_a_messages_html_is_shown_sanitized_and_its_text_escaped(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    code = codes[SIASG_ERROR]
    with web_desk.sessions.begin() as session:
        ticket = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        ticket.messages[0].body_html = "<p>Texto <strong>em negrito</strong></p>"
        hostile = m.Message(
            dedup_key="hostile",
            ticket_id=ticket.id,
            outcome="updated",
            sender="maria.silva@saude.rj.gov.br",
            sender_name="<b>Maria</b>",
            subject="Re",
            references=[],
            body_text="<script>alert(1)</script>",
        )
        session.add(hostile)

    response = coordinator.get(f"/equipe/chamados/{code}")

    assert "<strong>em negrito</strong>" in response.text
    assert "<script>alert(1)</script>" not in response.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in response.text
    assert "<b>Maria</b>" not in response.text


def test_the_page_has_no_script_and_no_inline_style(
    coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    for path in (QUEUE, f"/equipe/chamados/{codes[SIASG_ERROR]}"):
        html = coordinator.get(path).text
        assert "<script" not in html
        assert "style=" not in html


def test_the_page_leaves_a_place_for_the_action_forms(
    coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    response = coordinator.get(f"/equipe/chamados/{codes[SIASG_ERROR]}")

    assert "/equipe/chamados/" + codes[SIASG_ERROR] + "/responder" in response.text


# -- files --------------------------------------------------------------------------------


def add_file(desk: App, code: str, filename: str, data: bytes | None) -> int:
    """A file on the first message of ticket ``code``; its id."""
    with desk.sessions.begin() as session:
        ticket = session.scalars(select(m.Ticket).filter_by(code=code)).one()
        first = session.scalars(
            select(m.Message).filter_by(ticket_id=ticket.id).order_by(m.Message.id)
        ).first()
        assert first is not None
        return store_file(session, first, filename, data)


def test_an_html_file_is_downloaded_never_shown(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    code = codes[SIASG_ERROR]
    html = b"<html><script>alert(document.cookie)</script></html>"
    file_id = add_file(web_desk, code, "<script>.html", html)

    response = coordinator.get(f"/equipe/chamados/{code}/arquivos/{file_id}")

    assert response.status_code == 200
    assert response.data == html
    assert response.headers["Content-Type"] == "application/octet-stream"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert "<" not in disposition and ">" not in disposition
    assert "no-store" in response.headers["Cache-Control"]


def test_a_file_name_out_of_ascii_is_given_in_utf8(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    code = codes[SIASG_ERROR]
    file_id = add_file(web_desk, code, "relatório de ação.pdf", b"%PDF-1.4")

    response = coordinator.get(f"/equipe/chamados/{code}/arquivos/{file_id}")

    disposition = response.headers["Content-Disposition"]
    assert "filename*=UTF-8''relat%C3%B3rio%20de%20a%C3%A7%C3%A3o.pdf" in disposition


def test_a_file_is_listed_on_its_tickets_page_with_its_size(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    code = codes[SIASG_ERROR]
    file_id = add_file(web_desk, code, "planilha.xlsx", b"x" * 3000)

    response = coordinator.get(f"/equipe/chamados/{code}")

    assert f"/equipe/chamados/{code}/arquivos/{file_id}" in response.text
    assert "planilha.xlsx" in response.text and "(3 KB)" in response.text


def test_another_tickets_file_is_not_found_under_this_code(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    theirs = add_file(web_desk, codes[UASG], "a.txt", b"a")

    response = coordinator.get(f"/equipe/chamados/{codes[SIASG_ERROR]}/arquivos/{theirs}")

    assert response.status_code == 404


def test_a_file_out_of_scope_is_not_found(
    web_desk: App, web_app: Flask, codes: dict[str, str]
) -> None:
    theirs = add_file(web_desk, codes[UASG], "a.txt", b"a")
    client = logged_in(web_app, AREA_STAFF)

    assert client.get(f"/equipe/chamados/{codes[UASG]}/arquivos/{theirs}").status_code == 404


@pytest.mark.parametrize("file_id", ["0", "99999999", str(2**63), "9" * 40])
def test_an_unknown_file_id_is_not_found(
    coordinator: FlaskClient, codes: dict[str, str], file_id: str
) -> None:
    response = coordinator.get(f"/equipe/chamados/{codes[SIASG_ERROR]}/arquivos/{file_id}")

    assert response.status_code == 404


def test_a_purged_file_is_gone_and_says_why(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    code = codes[SIASG_ERROR]
    file_id = add_file(web_desk, code, "antigo.pdf", None)

    download = coordinator.get(f"/equipe/chamados/{code}/arquivos/{file_id}")
    page = coordinator.get(f"/equipe/chamados/{code}")

    assert download.status_code == 410
    assert "política de retenção" in text_of(download)
    assert "arquivo removido pela política de retenção" in text_of(page)
    assert f"/arquivos/{file_id}" not in page.text


def test_a_ticket_from_another_requester_is_found_by_its_address(
    web_desk: App, coordinator: FlaskClient, codes: dict[str, str]
) -> None:
    raw = mail(
        "Erro no SIASG ao publicar",
        "Bom dia,\n\nErro.",
        sender="João Pereira <joao.pereira@ministerio.gov.br>",
    )
    result = web_desk.pipeline.process(raw, "test")
    assert result.ticket is not None

    response = coordinator.get(QUEUE, query_string={"solicitante": "JOAO.PEREIRA"})

    assert listed(response) == {result.ticket}
