"""Staff login to the web view: a one-time link mailed to a staff address, or the SSO header
of the organisation's proxy; signed sessions that expire; rate limits on every attempt."""

from __future__ import annotations

import hashlib
import html
import logging
import re
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import time_machine
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.storage import logins
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from mailproc.web import create_app
from mailproc.web.access import SINCE_KEY, STAFF_KEY
from mailproc.web.login import local_path
from tests import web_fixtures
from tests.conftest import write_config
from tests.threads import queued
from tests.web_fixtures import (
    AREA_STAFF,
    COORDINATOR,
    PUBLIC_URL,
    SIASG_AREA,
    WEB_TABLE,
    logged_in,
)

# The fixtures, for this module's tests.
web_desk = web_fixtures.web_desk
web_app = web_fixtures.web_app

STRANGER = "maria@saude.rj.gov.br"  # a requester, not staff
STAFF_DOMAINS = 'staff_domains = ["suporte.example.gov.br"]'
_HIDDEN = re.compile(r'<input type="hidden" name="(\w+)" value="([^"]*)">')
_LINK = re.compile(re.escape(PUBLIC_URL) + r"/entrar/\S+")


# --- helpers: a desk configured otherwise, and a person using the pages ---------------------


class Desks:
    """Desks on the test's database configured otherwise: the same desk after its operator
    changed the configuration (and restarted it: the web key, kept in the database, stays)."""

    def __init__(self, folder: Path, database_url: str) -> None:
        self.folder, self.database_url = folder, database_url
        self.made: list[App] = []

    def app(self, web: str = "", **replaced: tuple[str, str]) -> Flask:
        """The web view of a desk whose [web] table has ``web`` lines more, and whose
        configuration has each of ``replaced``'s texts (named by the keyword) replaced."""
        folder = self.folder / f"desk{len(self.made)}"
        folder.mkdir()
        table = WEB_TABLE.replace("[web]\n", f"[web]\n{web}")
        path = write_config(folder, self.database_url, extra=table)
        text = path.read_text(encoding="utf-8")
        for old, new in replaced.values():
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")
        self.made.append(App(load_config(path)).start())
        return app_of(self.made[-1])


@pytest.fixture
def desks(tmp_path: Path, database_url: str) -> Iterator[Desks]:
    made = Desks(tmp_path, database_url)
    yield made
    for desk in made.made:
        desk.engine.dispose()


NO_STAFF_DOMAINS = (STAFF_DOMAINS, "staff_domains = []")
# The area's member is staff by [web.areas] too (Pipeline.staff): out of both, no longer staff.
OUT_OF_THE_AREA = (f'"{SIASG_AREA}" = ["{AREA_STAFF}"]', "")
NO_PUBLIC_URL = (f'public_url = "{PUBLIC_URL}"\n', "")


def app_of(desk: App) -> Flask:
    app = create_app(desk)
    app.config["TESTING"] = True
    return app


def hidden_fields(page: str) -> dict[str, str]:
    return {name: html.unescape(value) for name, value in _HIDDEN.findall(page)}


def ask_link(client: FlaskClient, email: str, next_path: str = "", **environ: str) -> TestResponse:
    """Fill in the login form (opened at /entrar?next=...) with ``email`` and send it."""
    page = client.get("/entrar", query_string={"next": next_path} if next_path else None)
    form = hidden_fields(page.text) | {"email": email}
    return client.post("/entrar", data=form, environ_base=environ)


def mailed_links(desk: App, email: str) -> list[str]:
    """The login links mailed to ``email``, oldest first."""
    found = [q for q in queued(desk, "staff_login") if q.recipients == [email]]
    return [_LINK.findall(q.text)[0] for q in found]


def press_entrar(client: FlaskClient, link: str, **environ: str) -> TestResponse:
    """Open a mailed link, and press its page's button."""
    path = link.removeprefix(PUBLIC_URL)
    page = client.get(path)
    assert page.status_code == 200
    return client.post(urlsplit(path).path, data=hidden_fields(page.text),
                       environ_base=environ)  # fmt: skip


def session_email(client: FlaskClient) -> object:
    with client.session_transaction() as session:
        return session.get(STAFF_KEY)


def is_logged_in(client: FlaskClient, **headers: str) -> bool:
    """Whether the desk takes ``client`` for staff: the login page sends staff on."""
    return client.get("/entrar", headers=headers).status_code == 302


@pytest.fixture
def link(web_desk: App, web_app: Flask) -> str:
    ask_link(web_app.test_client(), AREA_STAFF)
    [found] = mailed_links(web_desk, AREA_STAFF)
    return found


# --- asking for a link ----------------------------------------------------------------------


def test_the_login_page_asks_for_the_address_with_a_label_and_autocomplete(
    web_app: Flask,
) -> None:
    page = web_app.test_client().get("/entrar").text

    assert '<label for="email">' in page
    assert re.search(r'<input type="email" id="email" name="email" autocomplete="email"', page)
    assert "csrf_token" in hidden_fields(page)
    assert page.count("<h1>") == 1


def test_a_staff_address_is_mailed_a_one_time_link_that_expires(
    web_desk: App, web_app: Flask
) -> None:
    response = ask_link(web_app.test_client(), AREA_STAFF)

    assert response.status_code == 200
    assert "Se o endereço for da equipe, enviamos um link de acesso" in response.text
    [mail] = queued(web_desk, "staff_login")
    assert mail.recipients == [AREA_STAFF]
    assert mail.message["Subject"] == "Seu link de acesso"
    assert "Se não foi você quem pediu, ignore esta mensagem" in mail.text
    expires = utcnow() + timedelta(minutes=web_desk.config.web.login_link_minutes)
    local = expires.astimezone(web_desk.config.desk.timezone)
    assert f"até {local:%d/%m/%Y} às" in mail.text
    [link] = mailed_links(web_desk, AREA_STAFF)
    assert link.startswith(f"{PUBLIC_URL}/entrar/")


def test_only_the_tokens_hash_is_stored(web_desk: App, link: str) -> None:
    token = urlsplit(link).path.rsplit("/", 1)[1]
    with web_desk.sessions() as session:
        [row] = session.scalars(select(m.WebLogin)).all()
        stored = (row.token_hash, row.email, row.used_at)

    assert stored == (hashlib.sha256(token.encode()).hexdigest(), AREA_STAFF, None)


def test_a_logged_in_staff_member_asking_to_log_in_goes_on(web_app: Flask) -> None:
    client = logged_in(web_app, AREA_STAFF)

    assert client.get("/entrar").location == "/equipe/"
    assert client.get("/entrar", query_string={"next": "/equipe/x"}).location == "/equipe/x"
    assert client.get("/entrar", query_string={"next": "//evil.example"}).location == "/equipe/"


def test_a_stranger_gets_the_same_answer_and_no_mail(web_desk: App, web_app: Flask) -> None:
    staff_answer = ask_link(web_app.test_client(), AREA_STAFF)
    stranger_answer = ask_link(web_app.test_client(), STRANGER)

    assert (stranger_answer.status_code, stranger_answer.text) == (200, staff_answer.text)
    assert mailed_links(web_desk, STRANGER) == []


@pytest.mark.parametrize(
    ("typed", "mailed"),
    [
        (AREA_STAFF.upper(), AREA_STAFF),  # at a staff domain, as typed in capitals
        (f"  {COORDINATOR} ", COORDINATOR),
        (SIASG_AREA, SIASG_AREA),  # an area's own mailbox
    ],
)
def test_every_kind_of_staff_address_is_mailed_a_link(
    web_desk: App, web_app: Flask, typed: str, mailed: str
) -> None:
    ask_link(web_app.test_client(), typed)

    assert len(mailed_links(web_desk, mailed)) == 1


@pytest.mark.parametrize(
    "typed",
    [
        "ana.souza",
        "",
        # A line break would start a header of its own in the mail; the domain is staff's.
        "x@evil.example\n@suporte.example.gov.br",
        "x@evil.example,ana@suporte.example.gov.br",
        pytest.param("a" * 300 + "@suporte.example.gov.br", id="too-long"),
        pytest.param("a" * 400_000, id="huge"),  # larger forms: 413 from werkzeug
    ],
)
def test_a_malformed_address_is_asked_again_and_nothing_is_mailed(
    web_desk: App, web_app: Flask, typed: str
) -> None:
    response = ask_link(web_app.test_client(), typed)

    assert response.status_code == 400
    assert "Informe um endereço de e-mail completo" in response.text
    assert 'aria-describedby="email-erro"' in response.text
    assert queued(web_desk, "staff_login") == []


def test_without_public_url_no_link_is_mailed_and_the_operator_is_told(
    desks: Desks, caplog: pytest.LogCaptureFixture
) -> None:
    app = desks.app(public_url=NO_PUBLIC_URL)
    with caplog.at_level(logging.ERROR, "mailproc.web.login"):
        response = ask_link(app.test_client(), AREA_STAFF)

    # The request's Host is anyone's to forge: a link built from it could point elsewhere.
    assert response.status_code == 503
    assert "Avise a equipe de operação" in response.text
    assert queued(desks.made[-1], "staff_login") == []
    assert "[web] public_url" in caplog.text


# --- using the link -------------------------------------------------------------------------


def test_opening_the_link_does_not_log_in_nor_use_it_up(web_app: Flask, link: str) -> None:
    # Mail scanners open every link before the person does.
    scanner = web_app.test_client()
    page = scanner.get(link.removeprefix(PUBLIC_URL))

    assert page.status_code == 200
    assert re.search(r'<form method="post" action="/entrar/[^"]+">', page.text)
    assert ">Entrar</button>" in page.text
    assert session_email(scanner) is None and not is_logged_in(scanner)
    person = web_app.test_client()
    assert press_entrar(person, link).status_code == 302
    assert is_logged_in(person)


def test_pressing_entrar_logs_in_for_the_session_hours(web_app: Flask, link: str) -> None:
    client = web_app.test_client()
    response = press_entrar(client, link)

    assert response.status_code == 302 and response.location == "/equipe/"
    with client.session_transaction() as session:
        assert session[STAFF_KEY] == AREA_STAFF
        assert abs(session[SINCE_KEY] - utcnow().timestamp()) < 60
    cookie = client.get_cookie("mailproc_session")
    assert cookie is not None and cookie.expires is not None
    assert is_logged_in(client)


def test_a_link_logs_in_only_once(web_app: Flask, link: str) -> None:
    assert press_entrar(web_app.test_client(), link).status_code == 302

    again = web_app.test_client()
    response = press_entrar(again, link)

    assert response.status_code == 410
    assert "Este link não é mais válido" in response.text
    assert 'href="/entrar"' in response.text
    assert session_email(again) is None


def test_an_expired_link_is_refused(web_desk: App, web_app: Flask, link: str) -> None:
    minutes = web_desk.config.web.login_link_minutes
    with time_machine.travel(utcnow() + timedelta(minutes=minutes, seconds=1)):
        response = press_entrar(web_app.test_client(), link)

    assert response.status_code == 410


@pytest.mark.parametrize("token", ["nao-existe", "A" * 43, pytest.param("x" * 5000, id="long")])
def test_an_unknown_link_is_refused_alike(web_app: Flask, token: str) -> None:
    response = press_entrar(web_app.test_client(), f"{PUBLIC_URL}/entrar/{token}")

    assert response.status_code == 410
    assert "Este link não é mais válido" in response.text


def test_a_link_of_an_address_no_longer_staff_logs_nobody_in(link: str, desks: Desks) -> None:
    changed = desks.app(staff=NO_STAFF_DOMAINS, area=OUT_OF_THE_AREA)

    response = press_entrar(changed.test_client(), link)

    assert response.status_code == 410


def test_two_presses_at_once_make_exactly_one_session(web_desk: App) -> None:
    with web_desk.sessions.begin() as session:
        token = logins.new_login(session, AREA_STAFF, utcnow(), timedelta(minutes=15))
    start = threading.Barrier(2)
    found: list[str | None] = []

    def press() -> None:
        start.wait()
        with web_desk.sessions.begin() as session:
            found.append(logins.use_login(session, token, utcnow()))

    presses = [threading.Thread(target=press) for _ in range(2)]
    for thread in presses:
        thread.start()
    for thread in presses:
        thread.join()

    assert (found.count(AREA_STAFF), found.count(None)) == (1, 1)


def test_the_link_returns_to_the_page_that_asked_for_the_login(
    web_desk: App, web_app: Flask
) -> None:
    client = web_app.test_client()
    wanted = "/equipe/?estado=aberto"
    assert client.get(wanted).location.startswith("/entrar?next=")
    ask_link(client, AREA_STAFF, next_path=wanted)
    [link] = mailed_links(web_desk, AREA_STAFF)

    assert press_entrar(client, link).location == wanted


@pytest.mark.parametrize(
    "target",
    ["//evil.example/x", "https://evil.example", "/\\evil.example", "/\\/evil.example",
     "javascript:alert(1)", "evil.example", "/\tevil", pytest.param("/" + "a" * 3000, id="long")],
)  # fmt: skip
def test_a_login_never_sends_anyone_to_another_site(web_app: Flask, link: str, target: str) -> None:
    client = web_app.test_client()
    page = client.get(link.removeprefix(PUBLIC_URL))
    form = hidden_fields(page.text) | {"next": target}

    response = client.post(urlsplit(link).path, data=form)

    assert response.status_code == 302 and response.location == "/equipe/"
    assert local_path(target) is None


def test_the_login_log_says_who_and_never_the_token(
    web_app: Flask, web_desk: App, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, "mailproc.web.login"):
        ask_link(web_app.test_client(), AREA_STAFF)
        ask_link(web_app.test_client(), STRANGER)
        [link] = mailed_links(web_desk, AREA_STAFF)
        press_entrar(web_app.test_client(), link)
        press_entrar(web_app.test_client(), link)

    lines = [r.getMessage() for r in caplog.records if r.name == "mailproc.web.login"]
    assert [line.split(" (")[0] for line in lines] == [
        f"staff login link mailed to {AREA_STAFF}",
        f"staff login refused: {STRANGER} is not staff",
        f"staff login of {AREA_STAFF} by mailed link",
        "staff login refused: a link unknown, used, expired or no longer staff's",
    ]
    token = urlsplit(link).path.rsplit("/", 1)[1]
    assert token not in caplog.text


# --- sessions -------------------------------------------------------------------------------


def test_logging_out_ends_the_session(web_app: Flask) -> None:
    client = logged_in(web_app, AREA_STAFF)
    form = hidden_fields(client.get("/entrar/x").text)  # any page with a form: its CSRF token

    response = client.post("/sair", data={"csrf_token": form["csrf_token"]})

    assert response.status_code == 302 and response.location == "/entrar"
    assert session_email(client) is None and not is_logged_in(client)


def test_a_session_older_than_the_session_hours_is_refused(web_desk: App, web_app: Flask) -> None:
    client = logged_in(web_app, AREA_STAFF)
    hours = web_desk.config.web.session_hours
    with client.session_transaction() as session:
        session[SINCE_KEY] = int((utcnow() - timedelta(hours=hours, seconds=1)).timestamp())

    assert not is_logged_in(client)
    assert session_email(client) is None


def test_a_session_expires_on_the_server_even_if_the_browser_keeps_it(
    web_desk: App, web_app: Flask
) -> None:
    cookie = logged_in(web_app, AREA_STAFF).get_cookie("mailproc_session")
    assert cookie is not None
    # A copied cookie: no expiry of its own for a browser to honour.
    copied = web_app.test_client()
    copied.set_cookie("mailproc_session", cookie.value)
    hours = web_desk.config.web.session_hours
    assert is_logged_in(copied)

    with time_machine.travel(utcnow() + timedelta(hours=hours, minutes=1)):
        assert not is_logged_in(copied)


def test_a_session_without_its_login_time_is_refused(web_app: Flask) -> None:
    client = web_app.test_client()
    with client.session_transaction() as session:
        session[STAFF_KEY] = AREA_STAFF

    assert not is_logged_in(client)


def test_a_cookie_signed_with_another_key_is_anonymous(web_app: Flask) -> None:
    other = Flask("other")
    other.secret_key = b"another key, not the desk's web key....."
    other.config["SESSION_COOKIE_NAME"] = "mailproc_session"
    forger = other.test_client()
    with forger.session_transaction() as session:
        session[STAFF_KEY], session[SINCE_KEY] = COORDINATOR, int(utcnow().timestamp())
    forged = forger.get_cookie("mailproc_session")
    assert forged is not None
    client = web_app.test_client()
    client.set_cookie("mailproc_session", forged.value)

    assert not is_logged_in(client)


def test_an_address_removed_from_the_staff_loses_access_at_its_next_page(
    web_app: Flask, desks: Desks
) -> None:
    client = logged_in(web_app, AREA_STAFF)
    cookie = client.get_cookie("mailproc_session")
    assert cookie is not None and is_logged_in(client)
    # The operator removes the staff domain and the area member, and restarts: the same key,
    # the same cookie.
    after = desks.app(staff=NO_STAFF_DOMAINS, area=OUT_OF_THE_AREA).test_client()
    after.set_cookie("mailproc_session", cookie.value)

    assert not is_logged_in(after)


# --- single sign-on -------------------------------------------------------------------------

SSO = 'sso_header = "X-Remote-User"\n'


@pytest.fixture
def sso_app(desks: Desks) -> Flask:
    return desks.app(web=SSO)


def test_the_sso_header_logs_a_staff_member_in(sso_app: Flask) -> None:
    client = sso_app.test_client()

    assert is_logged_in(client, **{"X-Remote-User": AREA_STAFF.upper()})
    assert session_email(client) == AREA_STAFF


def test_the_sso_header_switches_a_session_to_whom_it_names(sso_app: Flask) -> None:
    client = logged_in(sso_app, AREA_STAFF)

    client.get("/equipe/", headers={"X-Remote-User": COORDINATOR})

    assert session_email(client) == COORDINATOR


@pytest.mark.parametrize(
    "named", [STRANGER, "not an address", "x@evil.example,a@suporte.example.gov.br"]
)
def test_the_sso_header_naming_someone_else_is_refused_on_staff_pages(
    sso_app: Flask, named: str
) -> None:
    client = logged_in(sso_app, AREA_STAFF)

    response = client.get("/equipe/", headers={"X-Remote-User": named})

    assert response.status_code == 403
    assert session_email(client) is None
    # A requester's own pages stay open to them.
    assert client.get("/meus-chamados", headers={"X-Remote-User": named}).status_code == 200


def test_without_sso_header_configured_the_header_is_ignored(web_app: Flask) -> None:
    client = web_app.test_client()

    assert not is_logged_in(client, **{"X-Remote-User": COORDINATOR})
    assert session_email(client) is None


# --- rate limits (the limiter counts per app: each test has its own) ------------------------


def test_asking_links_is_limited_per_client(web_app: Flask) -> None:
    client = web_app.test_client()
    answers = [ask_link(client, f"pessoa{i}@saude.rj.gov.br").status_code for i in range(6)]

    assert answers == [200] * 5 + [429]
    assert "Muitas tentativas" in ask_link(client, "outra@saude.rj.gov.br").text


def test_asking_links_is_limited_per_address_whatever_the_client(
    web_desk: App, web_app: Flask
) -> None:
    answers = [
        ask_link(web_app.test_client(), AREA_STAFF.upper() if i % 2 else AREA_STAFF,
                 REMOTE_ADDR=f"10.0.0.{i}").status_code
        for i in range(4)
    ]  # fmt: skip

    assert answers == [200, 200, 200, 429]
    assert len(mailed_links(web_desk, AREA_STAFF)) == 3


def test_pressing_entrar_is_limited_per_client(web_app: Flask) -> None:
    client = web_app.test_client()
    answers = [
        press_entrar(client, f"{PUBLIC_URL}/entrar/tentativa{i}").status_code for i in range(11)
    ]

    assert answers == [410] * 10 + [429]


def test_behind_the_proxy_clients_are_counted_apart(desks: Desks) -> None:
    client = desks.app(web="proxies = 1\n").test_client()

    def ask(forwarded_for: str, i: int) -> int:
        environ = {"REMOTE_ADDR": "127.0.0.1", "HTTP_X_FORWARDED_FOR": forwarded_for}
        return ask_link(client, f"pessoa{i}@saude.rj.gov.br", **environ).status_code

    first = [ask("203.0.113.7", i) for i in range(6)]
    second = [ask("198.51.100.9", i) for i in range(6, 11)]

    assert first == [200] * 5 + [429]
    assert second == [200] * 5


def test_without_proxies_a_forged_forwarded_for_is_not_believed(web_app: Flask) -> None:
    client = web_app.test_client()
    answers = [
        ask_link(client, f"pessoa{i}@saude.rj.gov.br",
                 HTTP_X_FORWARDED_FOR=f"203.0.113.{i}").status_code
        for i in range(6)
    ]  # fmt: skip

    assert answers == [200] * 5 + [429]
