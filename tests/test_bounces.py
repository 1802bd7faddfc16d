"""Bounces: a delivery report is tied to the reply of ours it returns, recorded on its ticket,
and the address that failed gets no automatic mail until it writes to us again."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailproc.outgoing.bounces import without_failing_copies
from mailproc.outgoing.notice import Notice
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from tests.conftest import CORPUS, require_corpus
from tests.e2e import Desk, message_id, parse
from tests.mails import error_body, error_report, mail, screenshot_png
from tests.smtp_fixtures import ReceivedMail
from tests.threads import MARIA, purposes, queued, reply, staff_reply, ticket

Ingest = Callable[[bytes], dict[str, Any]]
Report = Callable[["Sent", str], bytes]
STRANGER = "fulano@qualquer.example.com"
FIXTURES = Path(__file__).parent / "fixtures" / "mail"


@dataclass(frozen=True)
class Sent:
    """A mail of ours, as the outbox holds it."""

    id: int
    message_id: str
    raw: bytes


# -- delivery reports, shaped like the ones mail servers send -----------------------------


def postfix_report(
    returned: bytes,
    recipient: str,
    *,
    headers_only: bool = False,
    action: str = "failed",
    status: str = "5.1.1",
) -> bytes:
    """A Postfix report (multipart/report): notification, delivery status, and the returned
    mail whole (message/rfc822) or its header only (text/rfc822-headers)."""
    returned = returned.replace(b"\r\n", b"\n")
    head = re.split(rb"\n\n", returned, maxsplit=1)[0] + b"\n"
    kind = "text/rfc822-headers" if headers_only else "message/rfc822"
    text = f"""\
Return-Path: <>
Date: Mon, 23 Nov 2026 10:15:07 -0300 (-03)
From: MAILER-DAEMON@mx1.saude.rj.gov.br (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: suporte@compras.example.gov.br
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
\tboundary="7F3A1C2B9D.1795440907/mx1.saude.rj.gov.br"
Message-Id: <{uuid.uuid4().hex}@mx1.saude.rj.gov.br>

This is a MIME-encapsulated message.

--7F3A1C2B9D.1795440907/mx1.saude.rj.gov.br
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx1.saude.rj.gov.br.

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients. It's attached below.

<{recipient}>: host caixa.saude.rj.gov.br[10.4.0.20] said: 550 5.1.1
    <{recipient}>: Recipient address rejected: User unknown (in reply to
    RCPT TO command)

--7F3A1C2B9D.1795440907/mx1.saude.rj.gov.br
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx1.saude.rj.gov.br
X-Postfix-Queue-ID: 7F3A1C2B9D
X-Postfix-Sender: rfc822; suporte@compras.example.gov.br
Arrival-Date: Mon, 23 Nov 2026 10:15:01 -0300 (-03)

Final-Recipient: rfc822; {recipient}
Original-Recipient: rfc822;{recipient}
Action: {action}
Status: {status}
Remote-MTA: dns; caixa.saude.rj.gov.br
Diagnostic-Code: smtp; 550 5.1.1 <{recipient}>: Recipient address rejected:
    User unknown

--7F3A1C2B9D.1795440907/mx1.saude.rj.gov.br
Content-Description: Undelivered Message
Content-Type: {kind}

"""
    ending = b"\n--7F3A1C2B9D.1795440907/mx1.saude.rj.gov.br--\n"
    return text.encode() + (head if headers_only else returned) + ending


def answering_report(sent: Sent, recipient: str) -> bytes:
    """A plain-text report with no copy of our mail, tied to it only by its own
    In-Reply-To and References (and naming the failed address in X-Failed-Recipients)."""
    return mail(
        "Mail delivery failed: returning message to sender",
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        f"recipients. This is a permanent error. The following address(es) failed:\n\n"
        f"  {recipient}\n    Unrouteable address\n",
        sender="Mail Delivery System <Mailer-Daemon@mx.saude.rj.gov.br>",
        headers={
            "X-Failed-Recipients": recipient,
            "Auto-Submitted": "auto-replied",
            "In-Reply-To": f"<{sent.message_id}>",
            "References": f"<{sent.message_id}>",
        },
    )


def from_file(path: Path, their_id: str, their_recipient: str) -> Report:
    """A real report (fixture or shared corpus) made to return our mail to ``recipient``."""

    def build(sent: Sent, recipient: str) -> bytes:
        if path.is_relative_to(CORPUS):
            require_corpus()
        raw = path.read_bytes().replace(their_id.encode(), sent.message_id.encode())
        return raw.replace(their_recipient.encode(), recipient.encode())

    return build


REPORTS: dict[str, Report] = {
    "postfix, whole mail returned": lambda sent, to: postfix_report(sent.raw, to),
    "postfix, header returned": lambda sent, to: postfix_report(sent.raw, to, headers_only=True),
    "postfix fixture": from_file(
        FIXTURES / "postfix-bounce-resposta.eml",
        "20261110143000.4711.0815@compras.example.gov.br",
        "joao.pereira@saude.rj.gov.br",
    ),
    "exchange (corpus)": from_file(
        CORPUS / "zammad" / "mail018.box",
        "20131115125507.4636.975502@portal.znuny.com",
        "m.smith@example.com",
    ),
    "postfix (corpus)": from_file(
        CORPUS / "zammad" / "mail033-undelivered-mail-returned-to-sender.box",
        "20150830145601.30.608881@edenhofer.zammad.com",
        "not_existing@znuny.com",
    ),
    "no copy, In-Reply-To only": answering_report,
}


# -- what the desk holds --------------------------------------------------------------------


def outbox_mail(app: App, purpose: str) -> list[Sent]:
    with app.sessions() as session:
        rows = session.scalars(select(m.OutboxMail).filter_by(purpose=purpose).order_by("id"))
        return [Sent(row.id, row.message_id, row.raw) for row in rows]


def failing(app: App) -> dict[str, tuple[int, int | None, str]]:
    """Failing addresses -> (bounces, the bounced mail's outbox id, reason)."""
    with app.sessions() as session:
        rows = session.scalars(select(m.FailingAddress))
        return {row.email: (row.bounces, row.outbox_id, row.reason) for row in rows}


def events(app: App, code: str, kind: str) -> list[dict[str, object]]:
    return [detail for found, detail in ticket(app, code).events if found == kind]


def open_ticket(ingest: Ingest, app: App) -> tuple[str, Sent]:
    """Maria reports an error: a ticket, and our acknowledgement to her."""
    result = ingest(error_report())
    assert (result["outcome"], result["replies"]) == ("created", 1), result
    [acknowledgement] = outbox_mail(app, "created")
    return result["ticket"], acknowledgement


# -- through mailproc ingest, on SQLite and PostgreSQL ------------------------------------


@pytest.mark.parametrize("report", list(REPORTS))
def test_a_bounce_of_our_reply_is_noted_on_its_ticket_and_marks_the_address(
    ingest: Ingest, app: App, report: str
) -> None:
    code, acknowledgement = open_ticket(ingest, app)
    sent_before = purposes(app)

    result = ingest(REPORTS[report](acknowledgement, MARIA))

    assert (result["outcome"], result["ticket"], result["replies"]) == ("ignored", None, 0)
    assert purposes(app) == sent_before  # never answered
    [bounced] = events(app, code, "bounced")
    assert bounced["outbox_id"] == acknowledgement.id
    assert bounced["recipients"] == [MARIA]
    [(bounces, outbox_id, _)] = failing(app).values()
    assert (list(failing(app)), bounces, outbox_id) == ([MARIA], 1, acknowledgement.id)


def test_the_reason_is_the_reports_status_and_diagnostic(ingest: Ingest, app: App) -> None:
    code, acknowledgement = open_ticket(ingest, app)

    ingest(postfix_report(acknowledgement.raw, MARIA))

    reason = "5.1.1 smtp; 550 5.1.1 <maria.silva@saude.rj.gov.br>: Recipient address rejected: "
    assert failing(app)[MARIA][2] == reason + "User unknown"
    [bounced] = events(app, code, "bounced")
    assert bounced["statuses"] == {MARIA: reason + "User unknown"}


def test_while_the_address_fails_its_replies_are_held_and_the_ticket_says_so(
    ingest: Ingest, app: App
) -> None:
    code, acknowledgement = open_ticket(ingest, app)
    ingest(postfix_report(acknowledgement.raw, MARIA))

    result = ingest(staff_reply(code, "Bom dia, Maria.\n\nO erro foi corrigido."))

    assert (result["outcome"], result["replies"]) == ("updated", 0)
    assert queued(app, "staff_answer") == []
    [held] = events(app, code, "reply_held")
    assert (held["reason"], held["purpose"]) == ("failing address", "staff_answer")
    assert "answered" in ticket(app, code).kinds()  # the answer itself is on the ticket


def test_a_participant_whose_mail_bounces_is_left_out_of_the_copies_only(
    ingest: Ingest, app: App
) -> None:
    colleague = "jose.souza@saude.rj.gov.br"
    report = mail(
        "Erro ao publicar aviso no SIASG", error_body(),
        attachments=(("print-erro.png", "image/png", screenshot_png()),), headers={"Cc": colleague},
    )  # fmt: skip
    code = ingest(report)["ticket"]
    with app.sessions.begin() as session:  # as a bounce of a copy sent to him would
        session.add(m.FailingAddress(email=colleague, reason="5.1.1 User unknown"))
    result = ingest(staff_reply(code, "Bom dia.\n\nO erro foi corrigido."))

    assert (result["outcome"], result["replies"]) == ("updated", 1)
    [answer] = queued(app, "staff_answer")
    assert answer.recipients == [MARIA]


def test_only_the_failing_copies_are_left_out_whatever_their_case() -> None:
    failing = frozenset({"jose.souza@saude.rj.gov.br"})
    copies = ("Jose.Souza@saude.rj.gov.br", "ana@saude.rj.gov.br", "JOSE.SOUZA@SAUDE.RJ.GOV.BR")
    answer = Notice("staff_answer", MARIA, {}, cc=copies)

    assert without_failing_copies(answer, failing).cc == ("ana@saude.rj.gov.br",)
    assert without_failing_copies(answer, frozenset()) is answer
    # Mail to staff keeps its copies: their addresses are the operator's to fix.
    routed = Notice("routed", "suporte-siasg@example.gov.br", {}, cc=copies, internal=True)
    assert without_failing_copies(routed, failing) is routed


def test_a_failing_address_that_writes_again_is_answered_again(ingest: Ingest, app: App) -> None:
    code, acknowledgement = open_ticket(ingest, app)
    ingest(postfix_report(acknowledgement.raw, MARIA))

    result = ingest(reply(code, f"status {code}"))

    assert (result["outcome"], result["ticket"], result["replies"]) == ("command", code, 1)
    [answer] = queued(app, "status")
    assert answer.recipients == [MARIA]
    assert failing(app) == {}
    assert events(app, code, "address_restored") == [{"bounces": 1}]
    staff = ingest(staff_reply(code, "O erro foi corrigido."))
    assert staff["replies"] == 1


def test_each_bounce_counts_and_the_status_shows_the_failing_addresses(
    ingest: Ingest, app: App, config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, acknowledgement = open_ticket(ingest, app)

    ingest(postfix_report(acknowledgement.raw, MARIA))
    ingest(answering_report(acknowledgement, MARIA))

    assert failing(app)[MARIA][0] == 2
    assert len(events(app, code, "bounced")) == 2
    main(["--config", str(config_path), "status", "--offline", "--json"])
    assert json.loads(capsys.readouterr().out)["failing_addresses"] == 1


@pytest.mark.parametrize(
    "forged",
    [
        # Tied to our reply, but naming someone we never wrote to.
        lambda sent: postfix_report(sent.raw, STRANGER),
        lambda sent: answering_report(sent, STRANGER),
        # Naming Maria, but returning mail that is not ours.
        lambda sent: postfix_report(
            mail("Oi", "Oi", sender="suporte@compras.example.gov.br"), MARIA
        ),
        # Naming Maria, tied to nothing at all.
        lambda sent: postfix_report(b"Subject: x\n\nx\n", MARIA),
    ],
    ids=["stranger in report", "stranger in answer", "mail not ours", "no mail"],
)
def test_a_bounce_not_backed_by_our_outbox_marks_nobody(
    ingest: Ingest, app: App, forged: Callable[[Sent], bytes]
) -> None:
    code, acknowledgement = open_ticket(ingest, app)

    result = ingest(forged(acknowledgement))

    assert (result["outcome"], result["replies"]) == ("ignored", 0)
    assert failing(app) == {}
    assert events(app, code, "bounced") == []
    assert ingest(staff_reply(code, "O erro foi corrigido."))["replies"] == 1


def test_a_delay_warning_marks_nobody(ingest: Ingest, app: App) -> None:
    code, acknowledgement = open_ticket(ingest, app)

    warning = postfix_report(acknowledgement.raw, MARIA, action="delayed", status="4.4.1")
    result = ingest(warning)

    assert (result["outcome"], result["replies"]) == ("ignored", 0)
    assert failing(app) == {}
    assert events(app, code, "bounced") == []


def test_machine_mail_from_a_failing_address_does_not_restore_it(ingest: Ingest, app: App) -> None:
    code, acknowledgement = open_ticket(ingest, app)
    ingest(postfix_report(acknowledgement.raw, MARIA))

    absence = mail(
        f"Resposta automática: [#{code}]",
        "Estou de férias até 30/11.",
        headers={"Auto-Submitted": "auto-replied"},
    )
    assert ingest(absence)["outcome"] == "ignored"

    assert list(failing(app)) == [MARIA]


# -- through real servers -----------------------------------------------------------------


@pytest.mark.servers
def test_a_bounce_of_a_reply_sent_over_smtp_holds_mail_until_the_requester_writes(
    desk: Desk,
) -> None:
    report = error_report()
    desk.imap.append("INBOX", report)
    assert desk.poll().returncode == 0
    code = desk.ticket_codes()[message_id(report)]
    [acknowledgement] = to_maria(desk)

    desk.imap.append("INBOX", postfix_report(acknowledgement.raw, MARIA))
    desk.imap.append("INBOX", staff_reply(code, "Bom dia, Maria.\n\nO erro foi corrigido."))
    assert desk.poll().returncode == 0

    assert to_maria(desk) == [acknowledgement]  # the staff answer was held
    with desk.session() as session:
        [row] = session.scalars(select(m.FailingAddress)).all()
        kinds = session.scalars(select(m.Event.kind).join(m.Ticket).filter_by(code=code)).all()
    assert (row.email, row.bounces) == (MARIA, 1)
    assert {"bounced", "answered", "reply_held"} <= set(kinds)

    desk.imap.append("INBOX", reply(code, f"status {code}"))
    assert desk.poll().returncode == 0

    [_, status] = to_maria(desk)
    assert f"[#{code}]" in parse(status.raw)["Subject"]
    assert desk.count(m.FailingAddress) == 0


def to_maria(desk: Desk) -> list[ReceivedMail]:
    """The mail the SMTP listener accepted for Maria, oldest first."""
    return [received for received in desk.smtp.messages if MARIA in received.recipients]
