"""What protects every page of the web view: the response headers (no script, no framing, no
referrer, no cache), CSRF tokens on every POST, the session cookie's flags, and templates
that never need the Content-Security-Policy loosened."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.web import create_app
from tests import web_fixtures
from tests.conftest import REPO, write_config
from tests.web_fixtures import (
    AREA_STAFF,
    PUBLIC_URL,
    WEB_TABLE,
    csrf_tokens,
    logged_in,
    sqlite_only,  # noqa: F401  (these pages' tests run on SQLite)
)

# The fixtures, for this module's tests.
web_desk = web_fixtures.web_desk
web_app = web_fixtures.web_app

HTTPS_URL = "https://atendimento.example.gov.br"
WEB_TEMPLATES = sorted((REPO / "templates" / "web").glob("*.j2"))

# Pages of every kind a visitor can reach, with the status each answers.
PAGES = [
    ("/entrar", 200),
    ("/entrar/um-link-qualquer", 200),
    ("/pagina-que-nao-existe", 404),
    ("/sair", 405),  # GET of a POST-only address
]


def csrf_token(client: FlaskClient) -> str:
    """The CSRF token of ``client``'s session, as its pages' forms carry it."""
    return csrf_tokens(client.get("/entrar/um-link-qualquer").text)[0]


@pytest.fixture
def https_app(tmp_path: Path, database_url: str) -> Iterator[Flask]:
    """The web view behind a TLS proxy: public_url is https, X-Forwarded-* believed."""
    table = WEB_TABLE.replace(PUBLIC_URL, HTTPS_URL).replace("[web]\n", "[web]\nproxies = 1\n")
    desk = App(load_config(write_config(tmp_path, database_url, extra=table))).start()
    app = create_app(desk)
    app.config["TESTING"] = True
    yield app
    desk.engine.dispose()


# --- headers --------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "status"), PAGES)
def test_every_page_forbids_scripts_framing_sniffing_referrers_and_caching(
    web_app: Flask, path: str, status: int
) -> None:
    response = web_app.test_client().get(path)

    assert response.status_code == status
    assert response.mimetype == "text/html"
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
    assert "script-src" not in policy  # default-src 'none' covers scripts
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"
    assert response.headers["Cache-Control"] == "no-store"


def test_a_staff_page_is_never_cached(web_app: Flask) -> None:
    response = logged_in(web_app, AREA_STAFF).get("/equipe/")

    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Frame-Options"] == "DENY"


def test_a_refusal_page_carries_the_headers_too(web_app: Flask) -> None:
    # The 429 page: the limiter answers before any view runs.
    client = web_app.test_client()
    statuses = [
        client.post(f"/entrar/tentativa{i}", data={"csrf_token": csrf_token(client)}).status_code
        for i in range(11)
    ]
    response = client.post("/entrar/tentativa", data={"csrf_token": csrf_token(client)})

    assert statuses[-1] == response.status_code == 429
    assert "Muitas tentativas" in response.text
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"


def test_https_pages_ask_browsers_to_keep_to_https(https_app: Flask) -> None:
    response = https_app.test_client().get("/entrar", headers={"X-Forwarded-Proto": "https"})

    assert response.headers["Strict-Transport-Security"].startswith("max-age=")


# --- CSRF -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/sair", {}),
        ("/entrar", {"email": AREA_STAFF}),
        ("/entrar/um-link-qualquer", {}),
    ],
)
def test_a_post_without_its_csrf_token_is_refused(
    web_desk: App, web_app: Flask, path: str, form: dict[str, str]
) -> None:
    client = logged_in(web_app, AREA_STAFF)

    response = client.post(path, data=form)

    assert response.status_code == 400
    assert "O formulário expirou" in response.text
    assert client.get("/entrar").status_code == 302  # still logged in: sent on


def test_a_csrf_token_of_another_session_is_refused(web_app: Flask) -> None:
    attacker = web_app.test_client()
    victim = logged_in(web_app, AREA_STAFF)

    response = victim.post("/sair", data={"csrf_token": csrf_token(attacker)})

    assert response.status_code == 400
    assert victim.get("/entrar").status_code == 302  # still logged in: sent on


def test_over_https_a_form_posts_without_a_referer(https_app: Flask) -> None:
    # No page sends a Referer (Referrer-Policy: no-referrer); the token alone must do.
    client = logged_in(https_app, AREA_STAFF)
    proxy = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "atendimento.example.gov.br"}
    token = csrf_tokens(client.get("/entrar/um-link-qualquer", headers=proxy).text)[0]

    response = client.post("/sair", data={"csrf_token": token}, headers=proxy)

    assert response.status_code == 302


# --- the session cookie ---------------------------------------------------------------------


def session_cookie_header(client: FlaskClient, **headers: str) -> str:
    """The Set-Cookie of the session a first visit to the login page starts (its CSRF
    token lives there)."""
    response = client.get("/entrar", headers=headers)
    [cookie] = [h for h in response.headers.getlist("Set-Cookie") if "mailproc_session=" in h]
    return cookie


def test_the_session_cookie_is_http_only_and_same_site(web_app: Flask) -> None:
    cookie = session_cookie_header(web_app.test_client())

    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # PUBLIC_URL is plain http: a local desk


def test_the_session_cookie_is_secure_when_the_desk_is_https(https_app: Flask) -> None:
    cookie = session_cookie_header(https_app.test_client(), **{"X-Forwarded-Proto": "https"})

    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie


# --- templates ------------------------------------------------------------------------------

# What the Content-Security-Policy would block, and so must never be written: scripts, inline
# styles, and event-handler attributes.
FORBIDDEN = {
    "a <script> element": re.compile(r"<script", re.IGNORECASE),
    "a style attribute": re.compile(r"\sstyle\s*=", re.IGNORECASE),
    "an event-handler attribute": re.compile(r"\son[a-z]+\s*=", re.IGNORECASE),
    "a javascript: URL": re.compile(r"javascript:", re.IGNORECASE),
}


def test_there_are_web_templates_to_scan() -> None:
    assert {"_base.html.j2", "login.html.j2"} <= {path.name for path in WEB_TEMPLATES}


@pytest.mark.parametrize("template", WEB_TEMPLATES, ids=lambda path: path.name)
def test_no_web_template_needs_the_policy_loosened(template: Path) -> None:
    source = template.read_text(encoding="utf-8")

    found = [what for what, pattern in FORBIDDEN.items() if pattern.search(source)]

    assert found == []
