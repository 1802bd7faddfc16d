"""The web view's test desk: a desk with a [web] table and a few tickets opened through the
pipeline, and a Flask test client logged in as a given staff member (pure view tests; the
browser tests in test_web_browser.py log in as people do, through the mailed link)."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.storage.db import utcnow
from mailproc.web import create_app
from mailproc.web.access import sign_in
from mailproc.web.security import limiter
from tests.conftest import write_config
from tests.mails import error_report, mail, reactivation

# The areas of the shipped rules (their [routing] address): the SIASG area's staff member
# sees only its tickets; the coordinator sees all of them and the dashboard.
SIASG_AREA = "suporte-siasg@example.gov.br"
AREA_STAFF = "ana.souza@suporte.example.gov.br"
OTHER_STAFF = "bruno.lima@suporte.example.gov.br"  # staff, in no area
COORDINATOR = "coordenacao@suporte.example.gov.br"
PUBLIC_URL = "http://desk.test"
WEB_TABLE = f"""
[web]
public_url = "{PUBLIC_URL}"
coordinators = ["{COORDINATOR}"]

[web.areas]
"{SIASG_AREA}" = ["{AREA_STAFF}"]
"""


def web_config(folder: Path, database_url: str, extra: str = "") -> Path:
    """A test desk's config with the [web] table above (``extra``: more tables)."""
    return write_config(folder, database_url, extra=WEB_TABLE + extra)


@pytest.fixture(name="empty_database_url")
def sqlite_only(sqlite_url: str) -> str:
    """The database of a module that imports this fixture: SQLite only. For the pages' own
    tests, whose logic is the same on both databases: the queries behind them are tested on
    both (test_queue_store, test_reports, test_acting, test_web_login), and the browser
    tests run one flow on PostgreSQL."""
    return sqlite_url


@pytest.fixture
def web_desk(tmp_path: Path, database_url: str) -> Iterator[App]:
    """A started desk with the [web] table, on SQLite and on PostgreSQL."""
    desk = App(load_config(web_config(tmp_path, database_url))).start()
    yield desk
    desk.engine.dispose()


@pytest.fixture
def web_app(web_desk: App) -> Iterator[Flask]:
    """The web view of the desk, with no request counted yet by the rate limits (their
    counts are in memory, for the whole process)."""
    app = create_app(web_desk)
    app.config["TESTING"] = True
    limiter.reset()
    yield app
    limiter.reset()


def open_tickets(desk: App) -> dict[str, str]:
    """Three tickets through the pipeline, by subject: an SIASG error (complete), a UASG
    reactivation, and an SIASG error without its screenshot (incomplete)."""
    raws = [
        error_report(),
        reactivation(),
        mail("Erro no SIASG ao emitir empenho", "Bom dia,\n\nO SIASG dá erro ao emitir."),
    ]
    codes = {}
    for raw in raws:
        result = desk.pipeline.process(raw, "test")
        assert result.ticket is not None, result
        codes[result.ticket] = result.outcome.value
    return codes


_CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_tokens(page: str) -> list[str]:
    """The CSRF tokens of ``page``'s forms, as a browser posts them."""
    return [html.unescape(token) for token in _CSRF_FIELD.findall(page)]


def without_csrf_tokens(page: str) -> str:
    """``page`` with its forms' CSRF token values blanked, to compare two renderings of it:
    a token carries the second it was made, so two renderings differ there when they
    straddle a second."""
    return _CSRF_FIELD.sub('name="csrf_token" value=""', page)


def logged_in(app: Flask, email: str) -> FlaskClient:
    """A test client whose session is ``email``'s, as the login sets it."""
    client = app.test_client()
    with client.session_transaction() as session:
        sign_in(session, email, utcnow())
    return client
