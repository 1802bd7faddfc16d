"""Importing an old mailbox (``mailproc import``): history is recorded, nobody is mailed.

A desk with a real SMTP listener imports an mbox of five mails from 2024 (a new ticket, an
incomplete one, the requester's follow-up, a stranger quoting a code, mail without a theme):
without ``--replies`` nothing reaches the outbox or the listener, then or later; with
``--replies`` the backlog is answered as mail that has just arrived.
"""

from __future__ import annotations

import email
import json
import mailbox
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.utils import format_datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from mailproc.tickets import upkeep
from mailproc.tickets.pipeline import Stored
from tests.conftest import write_config
from tests.mails import error_body, error_report, mail, png
from tests.smtp_fixtures import SmtpTestServer

REPORTED = datetime(2024, 3, 4, 12, 0, tzinfo=UTC)
ANA = "Ana Costa <ana.costa@fazenda.rj.gov.br>"
STRANGER = "Intruso <intruso@example.com>"
UPKEEP = (
    upkeep.close_expired_incomplete,
    upkeep.close_unanswered_pending,
    upkeep.remind_due,
    upkeep.escalate_overdue,
)


def dated(raw: bytes, when: datetime) -> bytes:
    """``raw`` as it was written at ``when``."""
    message = email.message_from_bytes(raw, policy=policy.default)
    message.replace_header("Date", format_datetime(when))
    return message.as_bytes()


def message_id(raw: bytes) -> str:
    return str(email.message_from_bytes(raw, policy=policy.default)["Message-ID"])


def old_mailbox(path: Path) -> dict[str, bytes]:
    """The mbox of a desk's 2024, oldest first, each mail by what it is."""
    report = dated(error_report(), REPORTED)
    incomplete = dated(  # no screenshot
        mail("Erro ao publicar aviso no SIASG", error_body(), sender=ANA),
        REPORTED + timedelta(hours=1),
    )
    follow_up = dated(
        mail("Re: Erro ao publicar aviso no SIASG", "Alguma novidade?",
             headers={"In-Reply-To": message_id(report)}),
        REPORTED + timedelta(days=2),
    )  # fmt: skip
    stranger = dated(
        mail("Re: [#2024-000001] Erro ao publicar aviso no SIASG", "Também tenho esse erro.",
             sender=STRANGER),
        REPORTED + timedelta(days=3),
    )  # fmt: skip
    no_theme = dated(mail("Pedido", "Ajuda, por favor."), REPORTED + timedelta(days=4))
    mails = {"report": report, "incomplete": incomplete, "follow_up": follow_up,
             "stranger": stranger, "no_theme": no_theme}  # fmt: skip
    box = mailbox.mbox(path)
    for raw in mails.values():
        box.add(raw)
    box.flush()
    return mails


@pytest.fixture
def desk(tmp_path: Path, database_url: str, smtp_server: SmtpTestServer) -> Path:
    """A desk (on SQLite and on PostgreSQL) that sends through the SMTP listener, its
    Maildir source empty."""
    smtp = (
        f'[smtp]\nhost = "{smtp_server.host}"\nport = {smtp_server.port}\ntls = "none"\n'
        'from_address = "suporte@compras.example.gov.br"\n'
    )
    config = write_config(tmp_path, database_url, smtp)
    # A stranger quoting a code is told it is not their ticket: a rejection.
    config.write_text(config.read_text().replace("[desk]\n", '[desk]\nstranger_reply = "notice"\n'))
    mailbox.Maildir(tmp_path / "inbox", create=True)
    return config


@pytest.fixture
def app(desk: Path) -> Iterator[App]:
    """The desk as the test looks at it (and runs its upkeep), in this process."""
    app = App(load_config(desk)).start()
    yield app
    app.engine.dispose()


def run(config: Path, capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, object]:
    """``mailproc ARGS`` as a script runs it, exit 0, and its JSON line."""
    assert main(["--config", str(config), *args]) == 0
    output: dict[str, object] = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    return output


def outbox_size(app: App) -> int:
    with app.sessions() as session:
        return session.scalar(select(func.count()).select_from(m.OutboxMail)) or 0


def test_an_imported_mailbox_is_recorded_as_history_and_nobody_is_mailed(
    desk: Path,
    app: App,
    smtp_server: SmtpTestServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    backlog = desk.parent / "2024.mbox"
    mails = old_mailbox(backlog)

    summary = run(desk, capsys, "import", str(backlog), "--quiet")
    assert summary == {
        "imported": 5,
        "outcomes": {"created": 1, "incomplete": 1, "updated": 1, "rejected": 1, "no_theme": 1},
    }
    assert outbox_size(app) == 0  # no ack, no rejection, no copy to the area
    run(desk, capsys, "poll", "--once", "--json")
    assert smtp_server.messages == []

    with app.sessions() as session:
        tickets = {t.code: t for t in session.scalars(select(m.Ticket))}
        assert set(tickets) == {"2024-000001", "2024-000002"}  # the year they were opened
        opened, waiting = tickets["2024-000001"], tickets["2024-000002"]
        assert (opened.state, waiting.state) == ("aberto", "aguardando_informacoes")
        # Created when they were written, not when imported; nothing chases history.
        assert opened.created_at == REPORTED
        assert waiting.created_at == REPORTED + timedelta(hours=1)
        assert (opened.due_at, waiting.incomplete_until) == (None, None)
        kinds = [e.kind for e in opened.events]
        assert kinds.count("imported") == 2  # its opening and the follow-up
        held = [e.detail for e in opened.events if e.kind == "reply_held"]
        assert {d["purpose"] for d in held} == {"created", "routed", "area_update"}
        assert all("import" in str(d["reason"]) for d in held)
        written = {msg.created_at for msg in opened.messages}
        assert written == {REPORTED, REPORTED + timedelta(days=2)}  # the report, its follow-up

    # A month of the service's upkeep later: no reminder, escalation or closing notice.
    later = datetime.now(UTC) + timedelta(days=30)
    monkeypatch.setattr(upkeep, "utcnow", lambda: later)
    assert [job(app.pipeline) for job in UPKEEP] == [0, 0, 0, 0]
    assert outbox_size(app) == 0

    # Live mail on an imported ticket is answered as usual.
    completing = mail("Re: Erro ao publicar aviso no SIASG", "Segue o print.", sender=ANA,
                      attachments=(("tela.png", "image/png", png()),),
                      headers={"In-Reply-To": message_id(mails["incomplete"])})  # fmt: skip
    eml = desk.parent / "completing.eml"
    eml.write_bytes(completing)
    result = run(desk, capsys, "ingest", str(eml))
    assert (result["outcome"], result["ticket"]) == ("updated", "2024-000002")
    assert {r for mail in smtp_server.messages for r in mail.recipients} >= {
        "ana.costa@fazenda.rj.gov.br"
    }


def test_import_with_replies_answers_the_backlog_as_mail_just_arrived(
    desk: Path, app: App, smtp_server: SmtpTestServer, capsys: pytest.CaptureFixture[str]
) -> None:
    backlog = desk.parent / "2024.mbox"
    old_mailbox(backlog)

    summary = run(desk, capsys, "import", str(backlog), "--quiet", "--replies")
    assert summary["imported"] == 5
    with app.sessions() as session:
        [opened, _] = session.scalars(select(m.Ticket).order_by(m.Ticket.id)).all()
        assert opened.created_at > datetime.now(UTC) - timedelta(minutes=5)
        assert opened.due_at is not None
    run(desk, capsys, "poll", "--once", "--json")
    recipients = {r for mail in smtp_server.messages for r in mail.recipients}
    assert {"maria.silva@saude.rj.gov.br", "ana.costa@fazenda.rj.gov.br"} <= recipients
    assert "intruso@example.com" in recipients  # told the ticket is not theirs


def test_history_left_unfinished_by_an_interrupted_import_stays_history(app: App) -> None:
    """A raw message stored by an import that was stopped before applying it is finished by
    the service's upkeep: as history still, without a reply."""
    raw = dated(error_report(), REPORTED)
    stored = app.pipeline.store_raw(raw, "history:2024.mbox")
    assert isinstance(stored, Stored)
    with app.sessions.begin() as session:
        session.get_one(m.RawMessage, stored.record.id).received_at = REPORTED

    assert upkeep.finish_stray_raws(app.pipeline) >= 1
    assert outbox_size(app) == 0
    with app.sessions() as session:
        ticket = session.scalars(select(m.Ticket)).one()
        assert (ticket.code, ticket.due_at) == ("2024-000001", None)
