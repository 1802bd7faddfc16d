"""Senders' HTML is stored for staff to read only once sanitized: what hostile mail tries,
and what a help desk still needs to see (text, lists, tables, links, the mail's own images)."""

from __future__ import annotations

import time
from collections.abc import Callable
from email.message import EmailMessage
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailproc.config import load_config
from mailproc.mail.html_safety import (
    ALLOWED_ATTRIBUTES,
    ALLOWED_TAGS,
    TRUNCATED_NOTE,
    BoundedHtml,
    bound_html,
    display_html,
    sanitize_html,
)
from mailproc.service.app import App
from mailproc.storage import models as m
from tests.mails import REQUESTER, SUPPORT, error_body, screenshot_png


class Markup(HTMLParser):
    """What a browser would build from the sanitized HTML: its elements and text."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text = ""
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data: str) -> None:
        self.text += data

    def attribute(self, tag: str, name: str) -> list[str]:
        return [attrs[name] for t, attrs in self.elements if t == tag and name in attrs]


def assert_safe(html: str) -> Markup:
    """Only allowed elements and attributes; links to the web or mail, images from the mail."""
    markup = Markup(html)
    for tag, attrs in markup.elements:
        assert tag in ALLOWED_TAGS, (tag, html)
        allowed = ALLOWED_ATTRIBUTES.get(tag, set()) | ({"rel"} if tag == "a" else set())
        assert set(attrs) <= allowed, (tag, attrs, html)
    assert all(
        h.startswith(("http://", "https://", "mailto:")) for h in markup.attribute("a", "href")
    )
    assert all(s.startswith("cid:") for s in markup.attribute("img", "src"))
    assert set(markup.attribute("a", "rel")) <= {"noopener noreferrer"}
    return markup


HOSTILE = {
    "script": (
        "<p>Bom dia</p><script>alert('xss')</script><SCRIPT SRC=//x.js></SCRIPT>",
        "Bom dia",
    ),
    "event handlers": ('<img src=x onerror="alert(1)"><p onmouseover="alert(2)">Olá</p>', "Olá"),
    "javascript urls": (
        '<a href="javascript:alert(1)">um</a> <a href="JaVaScRiPt:alert(2)">dois</a> '
        '<a href="java&#x09;script:alert(3)">três</a> <a href=" javascript:alert(4)">quatro</a>',
        "um dois três quatro",
    ),
    "style expressions": (
        '<div style="width: expression(alert(1)); background: url(http://t.example/b)">'
        "texto</div><style>body{background:url(http://t.example/c)}</style>",
        "texto",
    ),
    "svg": ('<svg onload="alert(1)"><script>alert(2)</script><text>x</text></svg>fim', "fim"),
    "math mutation": (
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph>"
        "</table></mtext></math><p>depois</p>",
        "depois",
    ),
    "noscript mutation": (
        # Parsed as a browser parses it (scripting on), </noscript> ends the element inside
        # the attribute and the img comes out: it must come out harmless.
        '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>',
        '">',  # what is left of the attribute's end is text
    ),
    "base": ('<base href="https://evil.example/"><a href="login">entrar</a>', "entrar"),
    "meta refresh": ('<meta http-equiv="refresh" content="0;url=https://evil.example/">oi', "oi"),
    "iframe and form": (
        '<iframe src="https://evil.example/">quadro</iframe>'
        '<form action="https://evil.example/"><input name="senha"><button>Enviar</button></form>',
        "Enviar",
    ),
    "conditional comment": (
        "<!--[if gte mso 9]><script>alert(1)</script><![endif]-->texto",
        "texto",
    ),
    "data url": ('<a href="data:text/html,<script>alert(1)</script>">ver</a>', "ver"),
}


@pytest.mark.parametrize("html, text", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_markup_loses_everything_active_and_keeps_the_text(html: str, text: str) -> None:
    clean = sanitize_html(html)

    markup = assert_safe(clean)
    assert markup.text.split() == text.split()
    for active in ("alert", "javascript", "expression", "evil.example", "t.example"):
        assert active not in clean.lower(), clean


def test_remote_images_lose_their_address_so_no_tracking_pixel_loads() -> None:
    html = (
        '<img src="https://tracker.example/open.gif?id=42" width="1" height="1">'
        '<img src="//tracker.example/p.gif"><img src="data:image/svg+xml;base64,PHN2Zz4=">'
        '<img src="cid:image001.png@01DA2B" alt="print do erro">'
    )

    markup = assert_safe(sanitize_html(html))

    assert markup.attribute("img", "src") == ["cid:image001.png@01DA2B"]
    assert markup.attribute("img", "alt") == ["print do erro"]


def test_web_and_mail_links_stay_and_never_pass_the_referrer() -> None:
    html = (
        '<a href="https://www.gov.br/compras/pt-br">Compras.gov.br</a> '
        '<a href="mailto:redecompras@planejamento.rj.gov.br">Redecompras</a> '
        '<a href="/relativo">relativo</a> <a href="cid:anexo">anexo</a>'
    )

    markup = assert_safe(sanitize_html(html))

    assert markup.attribute("a", "href") == [
        "https://www.gov.br/compras/pt-br",
        "mailto:redecompras@planejamento.rj.gov.br",
    ]
    assert markup.attribute("a", "rel") == ["noopener noreferrer"] * 4
    assert markup.text.split() == ["Compras.gov.br", "Redecompras", "relativo", "anexo"]


def test_what_a_support_mail_needs_to_be_read_survives() -> None:
    html = (
        '<div class="WordSection1"><h2>Erro no SIASG</h2><p><b>UASG:</b> <i>925001</i></p>'
        '<ol start="2"><li>Abri o pregão</li><li>Cliquei em Publicar</li></ol>'
        '<table border="1"><tr><th scope="col">Campo</th><th>Valor</th></tr>'
        '<tr><td colspan="2" bgcolor="red">Erro 500</td></tr></table>'
        "<blockquote>mensagem anterior</blockquote><pre>linha  1</pre></div>"
    )

    markup = assert_safe(sanitize_html(html))

    tags = [tag for tag, _ in markup.elements]
    for needed in ("h2", "b", "i", "ol", "li", "table", "th", "td", "blockquote", "pre"):
        assert needed in tags
    assert markup.attribute("ol", "start") == ["2"]
    assert markup.attribute("td", "colspan") == ["2"]
    assert "linha  1" in markup.text


def test_html_over_the_bound_is_cut_marked_and_still_well_formed() -> None:
    html = "<p>" + "texto " * 2000 + "</p>"

    clean = sanitize_html(html, limit=1000)

    assert len(clean) <= 1000
    assert clean.endswith(TRUNCATED_NOTE)
    assert_safe(clean)
    assert clean.count("<p>") == clean.count("</p>")


def test_the_bound_holds_when_escaping_makes_the_text_longer() -> None:
    hostile = "<" * 5000  # each becomes "&lt;": four times the length once escaped

    clean = sanitize_html(hostile, limit=1000)

    assert 0 < len(clean) <= 1000
    assert clean.endswith(TRUNCATED_NOTE)
    assert set(Markup(clean.removesuffix(TRUNCATED_NOTE)).text) == {"<"}


def test_nothing_is_stored_when_there_is_no_html_or_nothing_of_it_is_left() -> None:
    assert display_html(None) is None
    assert display_html("<script>alert(1)</script><style>p{}</style>") is None
    assert display_html("<p>Olá</p>") == "<p>Olá</p>"


Ingest = Callable[[bytes], dict[str, Any]]


def hostile_html_report() -> bytes:
    """A complete error report whose HTML part tries what phishing mail tries."""
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = REQUESTER, SUPPORT, "Erro ao publicar aviso no SIASG"
    msg["Message-ID"] = "<html-hostil-1@saude.rj.gov.br>"
    msg.set_content(error_body())
    html = (
        "<html><head><base href='https://evil.example/'><script>steal()</script></head><body>"
        "<p onclick='steal()'>O SIASG apresenta erro.</p>"
        "<img src='https://tracker.example/open.gif?u=maria'>"
        "<img src='cid:print1' alt='print'>"
        "<a href='javascript:steal()'>ver detalhes</a></body></html>"
    )
    msg.add_alternative(html, subtype="html")
    html_part = msg.get_body(preferencelist=("html",))
    assert html_part is not None
    html_part.add_related(screenshot_png(), maintype="image", subtype="png", cid="<print1>")
    return msg.as_bytes()


def test_a_stored_message_keeps_only_the_sanitized_html_beside_its_text(
    ingest: Ingest, config_path: Path
) -> None:
    result = ingest(hostile_html_report())

    assert result["outcome"] == "created", result
    app = App(load_config(config_path))
    with app.sessions() as session:
        row = session.scalars(select(m.Message)).one()
        body_html, body_text = row.body_html, row.body_text
    app.engine.dispose()
    assert body_html is not None
    markup = assert_safe(body_html)
    assert "O SIASG apresenta erro." in markup.text
    assert markup.attribute("img", "src") == ["cid:print1"]
    for active in ("steal", "evil.example", "tracker.example", "onclick"):
        assert active not in body_html
    assert body_text.strip() == error_body().strip()  # the text part, as it was


# --- Tables pasted from Word or Excel read as "Label: value" (issue 17) -----------------------


@pytest.mark.parametrize(
    ("html", "text"),
    [
        (
            "<table><tr><td>UASG</td><td>160123</td></tr>"
            "<tr><td>Módulo</td><td>Contratos</td></tr></table>",
            "UASG: 160123\nMódulo: Contratos",
        ),
        ("<table><tr><th>UASG</th><td><b>160123</b></td></tr></table>", "UASG: 160123"),
        ("<table><tr><td><b>UASG:</b></td><td>160123</td></tr></table>", "UASG: 160123"),
        ("<table><tr><td><p><b>UASG</b></p></td><td>160123</td></tr></table>", "UASG: 160123"),
    ],
)
def test_a_two_column_table_reads_as_labelled_lines(html: str, text: str) -> None:
    assert bound_html(html).text().strip() == text


def test_outlook_table_cells_in_paragraphs_read_as_label_and_value() -> None:
    html = (
        "<table class=MsoTableGrid><tr><td width=200><p class=MsoNormal><b><span>Nº da UASG"
        "<o:p></o:p></span></b></p></td><td><p class=MsoNormal><span>160123<o:p></o:p>"
        "</span></p></td></tr></table><p class=MsoNormal>Atenciosamente,</p>"
    )
    lines = [line for line in bound_html(html).text().splitlines() if line.strip()]
    assert lines == ["Nº da UASG:", "160123", "Atenciosamente,"]


@pytest.mark.parametrize(
    "html",
    [
        "<table><tr><td>Item</td><td>Qtd</td><td>Valor</td></tr></table>",  # three columns
        "<table><tr><td><img src='cid:logo'></td><td>Maria Silva</td></tr></table>",  # a logo
        "<table><tr><td>" + "texto " * 30 + "</td><td>x</td></tr></table>",  # not a label
    ],
)
def test_other_tables_get_no_colon(html: str) -> None:
    assert ":" not in bound_html(html).text()


def test_the_html_shown_to_staff_keeps_the_table_as_written() -> None:
    bounded = bound_html("<table><tr><td>UASG</td><td>160123</td></tr></table>")
    _ = bounded.text()
    assert "UASG:" not in bounded.sanitized()
    assert "<td>UASG</td>" in bounded.sanitized()


def test_many_two_column_rows_are_read_in_linear_time() -> None:
    def rows(n: int) -> BoundedHtml:
        return bound_html("<table>" + "<tr><td>UASG</td><td>160123</td></tr>" * n + "</table>")

    small, large = rows(2000), rows(8000)

    def cpu(bounded: BoundedHtml) -> float:
        start = time.process_time()
        bounded.text()
        return max(time.process_time() - start, 1e-3)

    assert min(cpu(large) for _ in range(3)) / min(cpu(small) for _ in range(3)) < 8.0
