"""The coordinator's dashboard page (/equipe/painel/): who may see it, its five charts and
their tables, the period chosen, and a page with no script and no inline style."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from datetime import date

import pytest
from flask import Flask, render_template
from flask.testing import FlaskClient

from mailproc.service.app import App
from mailproc.storage.reports import ThemeDays
from mailproc.web.dashboard import themes_figure
from tests.web_fixtures import (
    AREA_STAFF,
    COORDINATOR,
    OTHER_STAFF,
    logged_in,
    open_tickets,
    sqlite_only,  # noqa: F401  (these pages' tests run on SQLite)
    web_app,  # noqa: F401
    web_desk,  # noqa: F401
)

PAGE = "/equipe/painel/"


@pytest.fixture
def coordinator(web_app: Flask, web_desk: App) -> FlaskClient:  # noqa: F811
    open_tickets(web_desk)  # two complete tickets and one incomplete, opened now
    return logged_in(web_app, COORDINATOR)


def charts(html: str) -> list[ET.Element]:
    """The page's charts, parsed: each must be well-formed SVG."""
    return [ET.fromstring(svg) for svg in re.findall(r"<svg .*?</svg>", html, re.DOTALL)]


def test_the_coordinator_sees_five_described_charts_each_with_its_table(
    coordinator: FlaskClient,
) -> None:
    page = coordinator.get(PAGE)
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    found = charts(html)
    assert len(found) == 5
    assert all(svg.get("role") == "img" and svg.get("aria-labelledby") for svg in found)
    assert html.count("<h1>") == 1
    assert re.findall(r"<h2 id=\"(\w+)\"", html) == [
        "temas", "prazos", "estoque", "notas", "incompletos",
    ]  # fmt: skip
    assert html.count("<summary>Ver dados</summary>") == 5
    assert html.count("<table") == 5 and 'scope="col"' in html and 'scope="row"' in html


def test_each_chart_scrolls_in_its_own_region_that_the_keyboard_reaches(
    coordinator: FlaskClient,
) -> None:
    """On a phone a chart keeps a readable size and scrolls sideways inside its region, never
    the page; a region that scrolls must take the focus, or no keyboard could scroll it."""
    html = coordinator.get(PAGE).get_data(as_text=True)
    regions = re.findall(r'<div class="chart-scroll"([^>]*)>\s*<svg .*?</svg>\s*</div>', html,
                         re.DOTALL)  # fmt: skip
    headings = re.findall(r'<h2 id="\w+">([^<]+)</h2>', html)
    assert len(regions) == len(headings) == 5
    for attributes, heading in zip(regions, headings, strict=True):
        assert 'tabindex="0"' in attributes and 'role="region"' in attributes
        assert f'aria-label="Gráfico: {heading}"' in attributes
    assert html.count("Deslize o gráfico para os lados") == 5  # said on a phone only (CSS)
    # The data tables stay out of the scrolling: on a phone they become readable cards.
    assert not re.search(r'<div class="chart-scroll"[^>]*>(?:(?!</div>).)*<table', html, re.DOTALL)


def test_the_charts_tell_the_numbers_in_words(coordinator: FlaskClient) -> None:
    html = coordinator.get(PAGE).get_data(as_text=True)
    descriptions = [
        "".join(d.itertext())
        for svg in charts(html)
        for d in svg.iter("{http://www.w3.org/2000/svg}desc")
    ]
    themes, deadlines, backlog, ratings, incomplete = descriptions
    assert themes.startswith("3 chamados abertos em 30 dias.")
    assert "Erro/Indisponibilidade – SIASG: 2; Reativação de UASG: 1." in themes  # by name
    assert deadlines == (
        "Nenhum chamado com prazo vencido ou respondido. Em andamento, fora da conta: 2."
    )
    assert backlog.startswith("2 chamados em aberto agora: menos de 1 dia: 2;")
    assert ratings == "Nenhuma avaliação no período."
    assert incomplete.startswith("1 chamado aberto incompleto: completados depois: 0;")


def test_the_page_has_no_script_and_no_inline_style(coordinator: FlaskClient) -> None:
    page = coordinator.get(PAGE)
    html = page.get_data(as_text=True)
    assert "<script" not in html.lower()
    assert not re.search(r"\sstyle\s*=", html, re.IGNORECASE)


@pytest.mark.parametrize("asked, shown", [("7", 7), ("90", 90), ("30", 30)])
def test_the_period_is_chosen_by_a_plain_form(
    coordinator: FlaskClient, asked: str, shown: int
) -> None:
    html = coordinator.get(PAGE, query_string={"dias": asked}).get_data(as_text=True)
    assert f'<option value="{shown}" selected>' in html
    assert html.count(" selected>") == 1
    assert '<label for="dias">Período</label>' in html and '<form method="get"' in html
    assert f"em {shown} dias." in html  # the days of the first chart


@pytest.mark.parametrize("asked", ["abc", "-7", "100000", "7" * 10_000, "7.0", "<b>"])
def test_an_unknown_period_shows_the_last_30_days(coordinator: FlaskClient, asked: str) -> None:
    response = coordinator.get(PAGE, query_string={"dias": asked})
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert '<option value="30" selected>' in html and "<b>" not in html


def test_area_staff_and_other_staff_are_refused(web_app: Flask) -> None:  # noqa: F811
    for email in (AREA_STAFF, OTHER_STAFF):
        page = logged_in(web_app, email).get(PAGE)
        assert page.status_code == 403
        assert "<svg" not in page.get_data(as_text=True)


def test_anyone_else_is_sent_to_the_login_page(web_app: Flask) -> None:  # noqa: F811
    page = web_app.test_client().get(PAGE)
    assert page.status_code == 302
    assert page.headers["Location"].startswith("/entrar")


def test_the_dashboard_only_reads(coordinator: FlaskClient) -> None:
    assert coordinator.post(PAGE).status_code in (400, 405)  # no form posts here


def test_a_theme_name_with_markup_is_shown_as_text(web_app: Flask) -> None:  # noqa: F811
    evil = '<script>alert("painel")</script>'
    figure = themes_figure(ThemeDays((date(2026, 12, 7),), {"x": (2,)}), {"x": evil})
    with web_app.test_request_context(PAGE):
        html = render_template(
            "dashboard.html.j2", figures=(figure,), days=30, periods=(7, 30, 90),
            first_day=date(2026, 12, 7), until=None,
        )  # fmt: skip
    assert "<script" not in html
    assert html.count("&lt;script&gt;") >= 3  # the legend, the description, the table
