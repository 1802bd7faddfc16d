"""The requester's view (mailproc.web.requester): the "Acompanhe seu chamado" link every
acknowledgement carries opens that ticket's page, read only, with the mail commands as
buttons; "Meus chamados" mails an address the link to its tickets. Without passwords: a
signed and encrypted link opens what it names and nothing else, and says nothing about what
it does not open."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from mailproc.config import load_config
from mailproc.decision.states import state_label
from mailproc.decision.ticket_state import TicketState
from mailproc.outgoing.links import RequesterLinks, TicketLink
from mailproc.service.app import App
from mailproc.tickets.acting import StaffAction, act
from tests.conftest import write_config
from tests.mails import (
    authenticated,
    error_body,
    error_report,
    mail,
    reactivation,
    screenshot_png,
)
from tests.test_requester_links import flipped_to
from tests.threads import MARIA, STAFF_EMAIL, queued, set_ticket, staff_reply, ticket
from tests.web_fixtures import (  # noqa: F401
    AREA_STAFF,
    PUBLIC_URL,
    SIASG_AREA,
    csrf_tokens,
    sqlite_only,
    web_app,
    web_desk,
)

OTHER = "Carlos Pereira <carlos.pereira@der.rj.gov.br>"
OTHER_EMAIL = "carlos.pereira@der.rj.gov.br"
SECRET_NOTE = "Segredo interno: o gestor já foi avisado por telefone"
RELAYED = "A publicação foi corrigida; tente de novo, por favor."
NOT_FOUND = "Página não encontrada"
ASKED = "Se houver chamados para este endereço, enviamos um link"


@pytest.fixture
def client(web_app: Flask) -> FlaskClient:  # noqa: F811
    """A browser with no request counted yet (web_app resets the rate limits)."""
    return web_app.test_client()


def open_ticket(desk: App, raw: bytes) -> str:
    result = desk.pipeline.process(raw, "test")
    assert result.ticket is not None, result
    return result.ticket


def link_of(desk: App, code: str, purpose: str | None = None) -> str:
    """The path of the "Acompanhe seu chamado" link in the first mail about ticket ``code``
    (of ``purpose``, when given)."""
    mails = [q for q in queued(desk, purpose) if code in str(q.message["Subject"])]
    for notice in mails:
        found = re.search(re.escape(PUBLIC_URL) + r"(/acompanhar/\S+)", notice.text)
        if found:
            return found.group(1)
    raise AssertionError(f"no link in the mail about {code}")


def token_of(path: str) -> str:
    return path.split("/")[2]


def page(client: FlaskClient, path: str) -> str:
    response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


def post(client: FlaskClient, path: str, form_page: str, **fields: str) -> TestResponse:
    """Submit a form as a browser does: with the CSRF token of the page it is on."""
    return client.post(path, data={"csrf_token": csrf_tokens(page(client, form_page))[0], **fields})


def links_of(desk: App) -> RequesterLinks:
    links = desk.requester_links
    assert links is not None
    return links


# -- the link in the mail --------------------------------------------------------------------


def test_the_acknowledgement_of_a_new_ticket_carries_its_link_which_opens_its_page(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    [created] = queued(web_desk, "created")
    html = created.html
    path = link_of(web_desk, code)

    lines = created.text.splitlines()
    assert lines[lines.index("Acompanhe seu chamado:") + 1] == PUBLIC_URL + path  # on its own
    assert re.search(rf'<a href="{re.escape(PUBLIC_URL + path)}"[^>]*>Acompanhe seu chamado</a>',
                     html)  # fmt: skip
    # Encrypted, so longer than a bare signature: the bound of test_requester_links.
    assert len(token_of(path)) <= 160
    assert MARIA not in path and code not in path  # nobody who sees the link reads them
    assert links_of(web_desk).read_ticket(token_of(path)) == TicketLink(code, MARIA, shared=False)
    shown = page(client, path)
    assert f"Chamado {code}" in shown
    assert "Cancelar chamado" in shown  # mailed to the requester alone: it acts as them
    assert "em atendimento" in shown
    assert "Erro ao publicar aviso no SIASG" in shown
    assert "(horário de Brasília)" in shown  # the deadline, as the mail says it
    assert "925001" in shown  # the answers received (UASG)


def test_every_mail_to_the_requester_about_the_ticket_carries_the_link(
    web_desk: App,  # noqa: F811
) -> None:
    code = open_ticket(web_desk, error_report())
    web_desk.pipeline.process(staff_reply(code, RELAYED), "test")
    path = link_of(web_desk, code)

    links = links_of(web_desk)
    answered = link_of(web_desk, code, "staff_answer")
    assert links.read_ticket(token_of(answered)) == links.read_ticket(token_of(path))
    [routed] = queued(web_desk, "routed")
    assert "/acompanhar/" not in routed.text  # the area's mail has none: it is the requester's


def test_without_a_public_url_no_mail_carries_a_link(tmp_path: Path, database_url: str) -> None:
    desk = App(load_config(write_config(tmp_path, database_url))).start()
    try:
        open_ticket(desk, error_report())
        [created] = queued(desk, "created")
    finally:
        desk.engine.dispose()
    assert desk.requester_links is None
    assert "Acompanhe seu chamado" not in created.text
    assert "/acompanhar/" not in created.message.as_string()


# -- the ticket's page -------------------------------------------------------------------------


def test_the_page_of_an_incomplete_ticket_says_what_is_missing(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report(screenshot=False))
    [notice] = queued(web_desk, "incomplete")
    missing = re.findall(r"^- ([^:\n]+):", notice.text.split("O que falta")[1], re.MULTILINE)

    shown = page(client, link_of(web_desk, code))

    assert "aguardando informações" in shown
    assert "O que falta" in shown
    assert missing and all(label in shown for label in missing), missing
    assert "definido quando as informações que faltam chegarem" in shown  # no deadline yet


DEADLINE = "Prazo previsto para resposta"


def test_an_open_ticket_shows_its_deadline(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    due = web_desk.pipeline.replier.format_deadline(ticket(web_desk, code).due_at)  # type: ignore[arg-type]

    shown = page(client, link_of(web_desk, code))

    assert DEADLINE in shown and due in shown


@pytest.mark.parametrize(
    "state",
    [
        TicketState.PENDING,  # staff wait on the requester: the deadline stands still
        TicketState.RESOLVED,
        TicketState.CLOSED_UNANSWERED,
        TicketState.CANCELLED,
    ],
)
def test_a_ticket_the_desk_owes_no_answer_shows_no_deadline(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
    state: TicketState,
) -> None:
    code = open_ticket(web_desk, error_report())
    due = web_desk.pipeline.replier.format_deadline(ticket(web_desk, code).due_at)  # type: ignore[arg-type]
    set_ticket(web_desk, code, state=state)

    shown = page(client, link_of(web_desk, code))

    assert DEADLINE not in shown and due not in shown
    assert state_label(state) in shown  # the page still says where the ticket stands


def test_the_conversation_shows_the_requesters_mail_and_its_files_as_downloads(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    path = link_of(web_desk, code)
    shown = page(client, path)

    assert "O SIASG apresenta erro." in shown
    download = re.search(rf'href="({re.escape(path)}/arquivos/\d+)"[^>]*>print-erro.png<', shown)
    assert download, shown
    response = client.get(download.group(1))
    assert response.status_code == 200
    assert response.mimetype == "application/octet-stream"
    assert response.headers["Content-Disposition"].startswith("attachment;")
    assert "print-erro.png" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\x89PNG")


def test_staff_answers_show_as_relayed_and_internal_notes_never(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    pipeline = web_desk.pipeline
    pipeline.process(staff_reply(code, f"#nota\n{SECRET_NOTE} (por e-mail)"), "test")
    pipeline.process(staff_reply(code, f"#pendente\n\n{RELAYED}"), "test")
    act(pipeline, StaffAction(code, STAFF_EMAIL, note=f"{SECRET_NOTE} (na web)"))
    act(pipeline, StaffAction(code, STAFF_EMAIL, text="Segunda resposta.", note=SECRET_NOTE))

    shown = page(client, link_of(web_desk, code))

    assert RELAYED in shown and "Segunda resposta." in shown
    assert "Segredo interno" not in shown
    assert "#pendente" not in shown and "#nota" not in shown
    for staff_address in (STAFF_EMAIL, AREA_STAFF, SIASG_AREA):
        assert staff_address not in shown


def test_markup_in_the_requesters_mail_is_shown_as_text(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    hostile = error_report().replace(
        b"O SIASG apresenta erro.", b"<script>alert(1)</script> <b>negrito</b>"
    )
    code = open_ticket(web_desk, hostile)
    shown = page(client, link_of(web_desk, code))
    assert "<script>alert(1)" not in shown and "<b>negrito" not in shown
    assert "&lt;script&gt;alert(1)" in shown


# -- links that must not open anything -----------------------------------------------------


def test_forged_altered_expired_or_foreign_links_all_get_the_same_404(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    her_other = open_ticket(web_desk, reactivation())
    path = link_of(web_desk, code)
    token, links = token_of(path), links_of(web_desk)
    assert client.get(f"/acompanhar/{links.ticket_token(her_other, MARIA)}").status_code == 200
    other_key = RequesterLinks(PUBLIC_URL, b"x" * 32, 90)
    with time_machine.travel("2020-01-01 12:00:00+00:00", tick=False):
        expired = links.ticket_token(code, MARIA)
    forged = [
        token[:-4],  # truncated
        token[:10] + ("A" if token[10] != "A" else "B") + token[11:],  # altered
        flipped_to(token, code, her_other),  # its IV's bits flipped to name her other ticket
        links.ticket_token("2026-999999", MARIA),  # a code that does not exist
        links.ticket_token(code, OTHER_EMAIL),  # an address with no part in the ticket
        other_key.ticket_token(code, MARIA),  # made with another key
        expired,
        links.my_tickets_token(MARIA),  # a "Meus chamados" token
        code,  # the bare code
    ]
    for bad in forged:
        response = client.get(f"/acompanhar/{bad}")
        assert response.status_code == 404, bad
        text = response.get_data(as_text=True)
        assert NOT_FOUND in text and 'href="/meus-chamados">Meus chamados</a>' in text
        assert code not in text
    assert client.get(f"/acompanhar/{token_of(path)}").status_code == 200


def test_a_link_to_one_ticket_never_shows_another(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    mine = open_ticket(web_desk, error_report())
    theirs = open_ticket(web_desk, mail("Reativação de UASG", "Senhores,\n\nUASG: 927003\n"
                                        "Segredo do Carlos", sender=OTHER,
                                        attachments=(("oficio.pdf", "application/pdf",
                                                      b"%PDF-1.4 carlos"),)))  # fmt: skip
    path = link_of(web_desk, mine)
    their_path = link_of(web_desk, theirs)
    their_file = re.search(r"/arquivos/(\d+)", page(client, their_path))
    assert their_file

    shown = page(client, path)
    assert theirs not in shown and "Segredo do Carlos" not in shown and OTHER_EMAIL not in shown
    assert client.get(f"{path}/arquivos/{their_file.group(1)}").status_code == 404
    assert client.get(f"{path}/arquivos/999999").status_code == 404


def test_the_my_tickets_token_and_the_ticket_token_are_not_interchangeable(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    ticket_token, links = token_of(link_of(web_desk, code)), links_of(web_desk)
    assert client.get(f"/meus-chamados/{ticket_token}").status_code == 404
    assert client.get(f"/acompanhar/{links.my_tickets_token(MARIA)}").status_code == 404


# -- actions ---------------------------------------------------------------------------------


def test_cancelling_asks_for_confirmation_then_cancels_and_mails_the_notice(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    path = link_of(web_desk, code)
    assert f'href="{path}/cancelar"' in page(client, path)

    confirmation = page(client, f"{path}/cancelar")
    assert f"Cancelar o chamado {code}?" in confirmation
    assert ticket(web_desk, code).state == TicketState.OPEN  # opening it changed nothing
    response = post(client, f"{path}/cancelar", f"{path}/cancelar", motivo="Resolvi sozinha.")

    assert response.status_code == 303 and response.headers["Location"].endswith(path)
    assert ticket(web_desk, code).state == TicketState.CANCELLED
    [cancelled] = queued(web_desk, "cancelled")
    assert "Resolvi sozinha." in cancelled.text
    after = page(client, path)
    assert "Chamado cancelado." in after and "cancelado" in after
    assert f'href="{path}/cancelar"' not in after


def test_asking_for_urgency_raises_the_priority_and_tells_the_area(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    path = link_of(web_desk, code)
    before = ticket(web_desk, code)

    response = post(client, f"{path}/urgencia", path, motivo="O pregão abre amanhã.")

    assert response.status_code == 303
    after = ticket(web_desk, code)
    assert after.priority != before.priority and after.due_at < before.due_at  # type: ignore[operator]
    assert [q.purpose for q in queued(web_desk) if q.purpose.endswith("urgent_received")]
    assert "O pregão abre amanhã." in queued(web_desk, "area_urgent")[0].text
    assert "Pedido de urgência registrado" in page(client, path)


def test_urgency_without_a_reason_or_with_a_huge_one_changes_nothing(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    path = link_of(web_desk, code)
    before = ticket(web_desk, code)
    for reason in ("", "x" * 100_000):
        response = post(client, f"{path}/urgencia", path, motivo=reason)
        assert response.status_code == 303
    assert ticket(web_desk, code).priority == before.priority
    assert not queued(web_desk, "area_urgent")
    assert "no máximo 2000 caracteres" in page(client, path)


def test_rating_is_offered_and_taken_only_once_the_ticket_is_resolved(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    path = link_of(web_desk, code)
    assert "Avaliar o atendimento" not in page(client, path)
    post(client, f"{path}/avaliacao", path, nota="5")
    assert ticket(web_desk, code).evaluation is None

    web_desk.pipeline.process(staff_reply(code, f"#resolvido\n\n{RELAYED}"), "test")
    assert "Avaliar o atendimento" in page(client, path)
    response = post(client, f"{path}/avaliacao", path, nota="4", comentario="Bom atendimento")

    assert response.status_code == 303
    assert ticket(web_desk, code).evaluation == (4, "Bom atendimento", MARIA)
    assert queued(web_desk, "rating_received")
    assert "Sua avaliação atual: nota 4" in page(client, path)


@pytest.mark.parametrize("score", ["0", "6", "5.0", "", "cinco"])
def test_a_rating_outside_one_to_five_is_refused(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
    score: str,
) -> None:
    code = open_ticket(web_desk, error_report())
    set_ticket(web_desk, code, state=TicketState.RESOLVED)
    path = link_of(web_desk, code)
    post(client, f"{path}/avaliacao", path, nota=score)
    assert ticket(web_desk, code).evaluation is None


def test_a_post_without_its_csrf_token_is_refused(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    path = link_of(web_desk, code)
    page(client, path)  # the session exists: only the token is missing
    for action, form in ((f"{path}/cancelar", {}), (f"{path}/urgencia", {"motivo": "x"})):
        assert client.post(action, data=form).status_code == 400
    assert client.post("/meus-chamados", data={"email": MARIA}).status_code == 400
    assert ticket(web_desk, code).state == TicketState.OPEN


def test_an_action_through_a_forged_link_is_a_404(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_ticket(web_desk, error_report())
    path = link_of(web_desk, code)
    forged = links_of(web_desk).ticket_token(code, OTHER_EMAIL)
    response = post(client, f"/acompanhar/{forged}/cancelar", path)
    assert response.status_code == 404
    assert ticket(web_desk, code).state == TicketState.OPEN


# -- my tickets --------------------------------------------------------------------------------


def test_my_tickets_mails_a_link_that_lists_the_addresss_tickets_newest_first(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    first = open_ticket(web_desk, error_report())
    second = open_ticket(web_desk, reactivation())
    open_ticket(web_desk, mail("Reativação de UASG", "UASG: 1", sender=OTHER))

    response = post(client, "/meus-chamados", "/meus-chamados", email=MARIA.upper())

    assert response.status_code == 200 and ASKED in response.get_data(as_text=True)
    [link_mail] = queued(web_desk, "my_tickets_link")
    assert link_mail.recipients == [MARIA]
    found = re.search(re.escape(PUBLIC_URL) + r"(/meus-chamados/\S+)", link_mail.text)
    assert found
    listed = page(client, found.group(1))
    assert listed.index(second) < listed.index(first)
    assert OTHER_EMAIL not in listed
    ticket_path = re.search(rf'href="(/acompanhar/[^"]+)">{first}<', listed)
    assert ticket_path
    assert f"Chamado {first}" in page(client, ticket_path.group(1))


def test_my_tickets_for_an_address_without_tickets_mails_nothing_and_says_the_same(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    open_ticket(web_desk, error_report())
    response = post(client, "/meus-chamados", "/meus-chamados", email="ninguem@example.gov.br")
    assert response.status_code == 200 and ASKED in response.get_data(as_text=True)
    assert not queued(web_desk, "my_tickets_link")


def test_my_tickets_mails_nothing_to_an_address_that_bounces(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    from mailproc.storage import models as m

    open_ticket(web_desk, error_report())
    with web_desk.sessions.begin() as session:
        session.add(m.FailingAddress(email=MARIA, reason="550 mailbox unavailable"))
    response = post(client, "/meus-chamados", "/meus-chamados", email=MARIA)
    assert ASKED in response.get_data(as_text=True)
    assert not queued(web_desk, "my_tickets_link")


def test_the_list_shows_a_deadline_only_for_the_tickets_the_desk_owes_an_answer(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    running, resolved = open_ticket(web_desk, error_report()), open_ticket(web_desk, reactivation())
    due_of = {
        code: web_desk.pipeline.replier.format_deadline(ticket(web_desk, code).due_at)  # type: ignore[arg-type]
        for code in (running, resolved)
    }
    set_ticket(web_desk, resolved, state=TicketState.RESOLVED)

    listed = page(client, "/meus-chamados/" + links_of(web_desk).my_tickets_token(MARIA))

    rows = dict(re.findall(r'">([^<]+)</a></td>.*?data-label="Prazo previsto">([^<]*)<', listed,
                           re.DOTALL))  # fmt: skip
    assert rows == {running: due_of[running], resolved: "–"}


@pytest.mark.parametrize("address", ["", "maria", "maria@", "a b@c.gov.br", "x" * 300 + "@a.br"])
def test_my_tickets_refuses_what_is_no_address(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
    address: str,
) -> None:
    response = post(client, "/meus-chamados", "/meus-chamados", email=address)
    assert response.status_code == 400
    assert "endereço de e-mail completo" in response.get_data(as_text=True)


def test_the_list_is_paged(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mailproc.web import requester

    monkeypatch.setattr(requester, "TICKETS_PER_PAGE", 2)
    codes = [open_ticket(web_desk, reactivation()) for _ in range(3)]
    path = "/meus-chamados/" + links_of(web_desk).my_tickets_token(MARIA)
    first, second = page(client, path), page(client, f"{path}?pagina=2")
    assert codes[2] in first and codes[1] in first and codes[0] not in first
    assert codes[0] in second and codes[2] not in second
    assert "Próxima página" in first and "Página anterior" in second
    for nonsense in ("0", "-1", "abc", "²", "9" * 5000):
        assert codes[2] in page(client, f"{path}?pagina={nonsense}")


# -- rate limits -------------------------------------------------------------------------------


def test_asking_for_one_addresss_link_is_limited_whatever_the_client(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    open_ticket(web_desk, error_report())
    statuses = []
    for number in range(4):
        client.environ_base["REMOTE_ADDR"] = f"192.0.2.{number + 1}"
        statuses.append(post(client, "/meus-chamados", "/meus-chamados", email=MARIA).status_code)
    assert statuses == [200, 200, 200, 429]
    assert len(queued(web_desk, "my_tickets_link")) == 3


def test_ticket_pages_are_limited_per_client(client: FlaskClient) -> None:
    statuses = {client.get("/acompanhar/adivinhando").status_code for _ in range(60)}
    assert statuses == {404}
    assert client.get("/acompanhar/adivinhando").status_code == 429
    client.environ_base["REMOTE_ADDR"] = "192.0.2.9"
    assert client.get("/acompanhar/adivinhando").status_code == 404


def test_a_mail_with_copies_carries_a_link_that_cannot_cancel_or_rate_as_the_requester(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    # One mail reaches the requester and the colleague she copied: whoever holds its link
    # reads the ticket and may ask for urgency, as either may by mail, but only the
    # requester cancels or rates, by mail or through her own "Meus chamados".
    code = open_copied_ticket(web_desk)
    [created] = queued(web_desk, "created")
    assert created.recipients == [MARIA, OTHER_EMAIL]
    path = link_of(web_desk, code)
    assert links_of(web_desk).read_ticket(token_of(path)) == TicketLink(code, MARIA, shared=True)

    shown = page(client, path)
    cancelling = post(client, f"{path}/cancelar", path, motivo="Já resolvi.")
    state_after_cancelling = ticket(web_desk, code).state
    set_ticket(web_desk, code, state=TicketState.RESOLVED)
    rating = post(client, f"{path}/avaliacao", "/meus-chamados", nota="1")  # a form at hand

    assert f"Chamado {code}" in shown and "Pedir urgência" in shown
    assert "Cancelar chamado" not in shown and "veio em uma mensagem com cópias" in shown
    assert "Você" not in shown and f"&lt;{MARIA}&gt;" in shown  # whoever reads it, by name
    assert cancelling.status_code == rating.status_code == 303
    assert "por ele não se cancela nem se avalia" in page(client, path)
    assert state_after_cancelling == "aberto" and ticket(web_desk, code).evaluation is None
    assert "Avaliar o atendimento" in page(client, listed_link(web_desk, client, MARIA, code))


def open_copied_ticket(desk: App) -> str:
    """Maria's ticket, her mail copying her colleague (OTHER)."""
    copied = {"Cc": OTHER, **authenticated(MARIA)}
    raw = mail("Erro ao publicar aviso no SIASG", error_body(), headers=copied,
               attachments=(("print-erro.png", "image/png", screenshot_png()),))  # fmt: skip
    return open_ticket(desk, raw)


def listed_link(desk: App, client: FlaskClient, email: str, code: str) -> str:
    """The path to ticket ``code`` in the "Meus chamados" list of ``email``."""
    listing = page(client, "/meus-chamados/" + links_of(desk).my_tickets_token(email))
    found = re.search(rf'href="(/acompanhar/[^"]+)">{code}<', listing)
    assert found, f"{code} is not in the list of {email}"
    return found.group(1)


def test_a_colleague_copied_on_the_ticket_sees_it_but_cannot_cancel_or_rate_it(
    web_desk: App,  # noqa: F811
    client: FlaskClient,
) -> None:
    code = open_copied_ticket(web_desk)
    assert OTHER_EMAIL in ticket(web_desk, code).participants
    set_ticket(web_desk, code, state=TicketState.RESOLVED)
    their_link = listed_link(web_desk, client, OTHER_EMAIL, code)

    shown = page(client, their_link)
    assert f"Chamado {code}" in shown
    assert "Cancelar chamado" not in shown and "Avaliar o atendimento" not in shown
    post(client, f"{their_link}/avaliacao", "/meus-chamados", nota="1")
    assert ticket(web_desk, code).evaluation is None
