"""Characters that act instead of showing: control characters (NUL, ESC, BEL, the C1 range)
and bidirectional overrides a sender hides in an encoded subject or name, and invisible or
look-alike characters in file names. None reaches the database, the mail the desk sends, or
the operator's terminal; a file name that mixes alphabets is marked for the staff.
"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import unicodedata
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import quote

import pytest
from sqlalchemy import JSON, String, Text, select

from mailproc.config import load_config
from mailproc.decision.values import Outcome
from mailproc.mail.safe_names import SUSPECT_MARK
from mailproc.outgoing.replies import RenderedReply, build_email
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from tests.conftest import REPO
from tests.e2e import COMMAND_TIMEOUT, Desk, parse
from tests.mails import PDF, SUPPORT, error_body, screenshot_png

# What a terminal acts on rather than shows: C0 and C1 controls (but the line break that ends
# each printed line) and the bidirectional embeddings, overrides, isolates and marks.
ACTING = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
HOSTILE_SUBJECT = "Erro no SIASG\x00 ao\x1b[2J homologar\x07 \u202eagnp.exe\x9b\tfim"
CLEAN_SUBJECT = "Erro no SIASG ao [2J homologar agnp.exe fim"
HOSTILE_NAME = "Maria\x1b]0;owned\x07 Silva\u202e"
SENDER = "maria.silva@saude.rj.gov.br"


def encoded(text: str) -> str:
    """``text`` as one RFC 2047 encoded-word (UTF-8, base64)."""
    return f"=?utf-8?b?{base64.b64encode(text.encode()).decode()}?="


def hostile_report(*, screenshot: bool) -> bytes:
    """A SIASG error report whose subject and sender's name carry controls, as encoded-words:
    the bytes on the wire are plain ASCII, the decoded text is not."""
    body = error_body().replace("\n", "\r\n")
    head = (
        f"From: {encoded(HOSTILE_NAME)} <{SENDER}>\r\n"
        f"To: {SUPPORT}\r\n"
        f"Subject: {encoded(HOSTILE_SUBJECT)}\r\n"
        "Message-ID: <controles-1@saude.rj.gov.br>\r\n"
        "Date: Fri, 20 Nov 2026 09:00:00 -0300\r\n"
        "MIME-Version: 1.0\r\n"
    )
    if not screenshot:
        return (head + "Content-Type: text/plain; charset=utf-8\r\n\r\n" + body).encode()
    image = base64.encodebytes(screenshot_png()).decode().replace("\n", "\r\n")
    return (
        head + 'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body + "\r\n"
        "--b\r\nContent-Type: image/png\r\nContent-Transfer-Encoding: base64\r\n"
        'Content-Disposition: attachment; filename="print-erro.png"\r\n\r\n' + image + "--b--\r\n"
    ).encode()


def acting(text: str) -> list[str]:
    """The acting characters in ``text``, as escapes for a readable failure."""
    return [f"U+{ord(c):04X}" for c in ACTING.findall(text)]


def run_cli(desk: Desk, *args: str) -> str:
    done = subprocess.run(
        desk.command(*args), cwd=REPO, env=desk.env, capture_output=True,
        timeout=COMMAND_TIMEOUT, check=False,
    )  # fmt: skip
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.decode()


@pytest.mark.servers
def test_controls_of_an_encoded_subject_reach_no_reply_no_row_and_no_terminal(desk: Desk) -> None:
    desk.imap.append("INBOX", hostile_report(screenshot=False))

    assert desk.poll().returncode == 0

    with desk.session() as session:
        ticket = session.scalars(select(m.Ticket)).one()
        row = session.scalars(select(m.Message)).one()
    assert ticket.subject == row.subject == CLEAN_SUBJECT
    assert row.sender_name == ticket.requester_name == "Maria ]0;owned Silva"
    [reply] = desk.sent_mail()
    assert reply["Subject"].endswith(CLEAN_SUBJECT) and acting(reply["Subject"]) == []
    # What the operator's terminal gets from every listing that shows a subject or a name.
    for command in (
        ("tickets", "list"),
        ("tickets", "show", ticket.code),
        ("outbox", "list"),
        ("status", "--offline"),
    ):
        printed = run_cli(desk, *command)
        assert acting(printed) == [], command
    assert CLEAN_SUBJECT in run_cli(desk, "tickets", "list")


def test_the_command_line_escapes_what_a_terminal_would_act_on(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Rows written before subjects were cleaned, or by anything else, still print safely:
    each acting character shown as an escape, the JSON output still JSON."""
    app = App(load_config(config_path)).start()
    dirty = "Erro\x1b[2J\x07 no SIASG\u202e\x9b"
    with app.sessions.begin() as session:
        ticket = m.Ticket(
            code="2026-000001", theme_id="erro-siasg", state="aberto", priority="normal",
            requester_email=SENDER, requester_name=HOSTILE_NAME, subject=dirty, answers={},
            created_at=utcnow(), updated_at=utcnow(),
        )  # fmt: skip
        session.add(ticket)
        session.flush()
        session.add(
            m.OutboxMail(
                ticket_id=ticket.id,
                message_id="x@y",
                purpose="created",
                sender=SUPPORT,
                recipients=[SENDER],
                to_address=SENDER,
                subject=dirty,
                raw=b"",
                status="failed",
                next_attempt_at=utcnow(),
                last_error="550 \x1b[31mno\x07",
            )
        )
        session.add(m.Alert(key="cap:sender:x", kind="cap:sender", detail={"address": dirty}))
    config = ["--config", str(config_path)]

    for command in (
        ["tickets", "list"],
        ["tickets", "show", "2026-000001"],
        ["outbox", "list"],
        ["status", "--offline"],
    ):
        main([*config, *command])
        printed = capsys.readouterr().out
        assert acting(printed) == [], command
        assert r"Erro\x1b[2J\x07 no SIASG\u202e\x9b" in printed, command
    for command in (["tickets", "list"], ["tickets", "show", "2026-000001"], ["outbox", "list"]):
        main([*config, *command, "--json"])
        printed = capsys.readouterr().out
        assert acting(printed) == [], command
        listed = json.loads(printed)
        assert (listed if isinstance(listed, list) else [listed])[0]["subject"] == dirty


# --- NUL: PostgreSQL's text cannot hold it ---------------------------------------------------


def nul_everywhere() -> bytes:
    """A complete report with NUL in every field that is stored: the subject and the name
    (encoded-words), the ids (raw header bytes), the body, the answers, a file's name
    (RFC 2231 and RFC 2047) and its declared type."""
    body = error_body().replace("UASG: 925001", "UASG: 925\x00001").replace("\n", "\r\n")
    qp = body.replace("=", "=3D").replace("\x00", "=00")
    image = base64.encodebytes(screenshot_png()).decode().replace("\n", "\r\n")
    pdf = base64.encodebytes(PDF).decode().replace("\n", "\r\n")
    name, subject, file_name = (
        "Maria\x00 Silva",
        "Erro ao publicar aviso no SIASG\x00",
        "of\x00icio.pdf",
    )
    return (
        f"From: {encoded(name)} <{SENDER}>\r\n"
        f"To: {SUPPORT}\r\n"
        f"Subject: {encoded(subject)}\r\n"
        "Message-ID: <nul\x00-1@saude.rj.gov.br>\r\n"
        "In-Reply-To: <ante\x00rior@saude.rj.gov.br>\r\n"
        "References: <ante\x00rior@saude.rj.gov.br>\r\n"
        "X-Mailer: Cliente\x00 de e-mail\r\n"
        "Date: Fri, 20 Nov 2026 09:00:00 -0300\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: text/plain; charset=utf-8\r\n"
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n" + qp + "\r\n"
        '--b\r\nContent-Type: image/png; name="print\x00.png"\r\n'
        "Content-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename*=utf-8''print%00-erro.png\r\n\r\n"
        + image
        + "--b\r\nContent-Type: application/p\x00df\r\nContent-Transfer-Encoding: base64\r\n"
        f'Content-Disposition: attachment; filename="{encoded(file_name)}"\r\n\r\n'
        + pdf
        + "--b--\r\n"
    ).encode()


def test_nul_anywhere_in_a_mail_never_reaches_the_database(app: App) -> None:
    result = app.pipeline.process(nul_everywhere(), "test")

    assert result.outcome is Outcome.CREATED, result
    with app.sessions() as session:
        ticket = session.scalars(select(m.Ticket)).one()
        files = session.scalars(select(m.Attachment).order_by(m.Attachment.id)).all()
        assert ticket.subject == "Erro ao publicar aviso no SIASG"
        assert ticket.requester_name == "Maria Silva"
        assert [f.filename for f in files] == ["print -erro.png", "of icio.pdf"]
        # Every text and JSON column of every table, looked at: SQLite would store a NUL.
        for table in m.Base.metadata.sorted_tables:
            texts = [c for c in table.columns if isinstance(c.type, String | Text | JSON)]
            for row in session.execute(select(*texts)) if texts else ():
                assert "\\u0000" not in json.dumps(list(row), default=str), (table.name, row)


# --- file names: invisible and look-alike characters -----------------------------------------


def named_files(*parameters: str) -> bytes:
    """A complete report whose PDFs carry these Content-Disposition parameters, as written."""
    message = EmailMessage()
    message["From"] = f"Maria Silva <{SENDER}>"
    message["To"] = SUPPORT
    message["Subject"] = "Erro ao publicar aviso no SIASG"
    message.set_content(error_body())
    message.add_attachment(
        screenshot_png(), maintype="image", subtype="png", filename="print-erro.png"
    )
    raw = message.as_bytes()
    boundary = message.get_boundary()
    assert boundary is not None
    pdf = base64.encodebytes(PDF).decode()
    parts = "".join(
        f"--{boundary}\nContent-Type: application/pdf\nContent-Transfer-Encoding: base64\n"
        f"Content-Disposition: attachment; {parameter}\n\n{pdf}\n"
        for parameter in parameters
    )
    closing = f"--{boundary}--".encode()
    return raw.replace(closing, parts.encode() + closing)


def rfc2231(name: str) -> str:
    return f"filename*=utf-8''{quote(name, safe='')}"


def rfc2047(name: str) -> str:
    return f'filename="{encoded(name)}"'


CYRILLIC_O, CYRILLIC_ER = "\u043e", "\u0440"  # they look like the Latin "o" and "p"
NAMES = [
    # zero-width space and joiner, a soft hyphen, a word joiner, a BOM: invisible, dropped
    (rfc2231("bo\u200bleto\u200d.p\u00addf"), "boleto.pdf"),
    (rfc2047("nota\u2060 fiscal\ufeff.pdf"), "nota fiscal.pdf"),
    # full-width letters, a combining accent, a ligature: NFKC makes them what they show
    (rfc2231("\uff52\uff45\uff4c\uff41\uff54\uff4f\u0301rio.pdf"), "relatório.pdf"),
    (rfc2047("o\ufb01cio.pdf"), "oficio.pdf"),
    # a Hangul filler, blank on screen: dropped
    (rfc2231("recibo\u3164.pdf"), "recibo.pdf"),
    # a Cyrillic letter in a Latin word: kept, and the name marked
    (rfc2231(f"b{CYRILLIC_O}leto.pdf"), f"{SUSPECT_MARK}b{CYRILLIC_O}leto.pdf"),
    (rfc2047(f"b{CYRILLIC_O}leto.pdf"), f"{SUSPECT_MARK}b{CYRILLIC_O}leto-2.pdf"),
    (rfc2231(f"fatura.{CYRILLIC_ER}df"), f"{SUSPECT_MARK}fatura.{CYRILLIC_ER}df"),
    # each word in one script, accents and digits included: left alone
    (rfc2231("Ofício nº 12 – relatório.pdf"), "Ofício no 12 – relatório.pdf"),
    (rfc2231("Отчет final.pdf"), "Отчет final.pdf"),
]


def test_file_names_lose_invisible_characters_and_look_alikes_are_marked_for_staff(
    app: App,
) -> None:
    result = app.pipeline.process(named_files(*(parameter for parameter, _ in NAMES)), "test")

    assert result.outcome is Outcome.CREATED, result
    expected = ["print-erro.png", *(name for _, name in NAMES)]
    with app.sessions() as session:
        stored = session.scalars(select(m.Attachment.filename).order_by(m.Attachment.id)).all()
        [routed] = session.scalars(select(m.OutboxMail).filter_by(purpose="routed")).all()
        staff_mail = parse(routed.raw)
    assert stored == expected
    # What the routing area receives: the same names, listed and on the files themselves.
    attached = [part.get_filename() for part in staff_mail.iter_attachments()]
    assert attached == expected
    text = staff_mail.get_body(("plain",))
    assert text is not None
    listed = text.get_content()
    assert all(name in listed for name in expected), listed
    for name in expected:
        assert unicodedata.is_normalized("NFKC", name)


def test_the_subject_header_of_mail_the_desk_sends_holds_no_control() -> None:
    """Whatever a template or an old row puts in a subject, the header line is clean."""
    rendered = RenderedReply("Re: Erro\x00 no\x1b[2J SIASG\x07\u202e\x9b", "texto", "<p>html</p>")

    raw = build_email(
        rendered, sender=SUPPORT, sender_name="Suporte", to=[SENDER], cc=[], tag="[#2026-000001]",
        in_reply_to=None, references=[], message_id="x@compras.example.gov.br",
    )  # fmt: skip

    assert parse(raw)["Subject"] == "[#2026-000001] Re: Erro no [2J SIASG"
