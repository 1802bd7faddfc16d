"""Duplicates: the same sender and the same content, whatever the Message-ID says.

What a mail's content is (mailproc.mail.fingerprint) as a pure function; the key on an
existing database; and the attacks through Dovecot and ``mailproc poll --once``: a
Message-ID taken first by someone else, the same mail without a Message-ID delivered again
and again through other relays, two clients that wrote one Message-ID.
"""

from __future__ import annotations

import email
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from typing import Any

import pytest
from sqlalchemy import select

from mailproc.mail.fingerprint import fingerprint
from mailproc.mail.parse import parse_message
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from mailproc.storage.store import dedup_key
from tests.e2e import Desk
from tests.mails import error_body, error_report, mail, screenshot_png
from tests.threads import MARIA, SIASG_AREA

Ingest = Callable[[bytes], dict[str, Any]]
SCREENSHOT = (("print-erro.png", "image/png", screenshot_png()),)
VICTIM_ID = "<CAF3x9q-victim-0001@mail.saude.rj.gov.br>"
ATTACKER = "Atacante <atacante@example.net>"


def edited(
    raw: bytes, *, drop: tuple[str, ...] = (), add: tuple[tuple[str, str], ...] = ()
) -> bytes:
    """``raw`` without the fields named in ``drop``, with ``add`` above the rest (as a
    server prepends trace fields)."""
    message = email.message_from_bytes(raw, policy=policy.compat32)
    for name in drop:
        del message[name]
    top = "".join(f"{name}: {value}\r\n" for name, value in add).encode()
    return top + message.as_bytes()


def relayed(raw: bytes, n: int) -> bytes:
    """``raw`` as it arrives through relay ``n``: a trace of its own above the same mail."""
    relay = f"relay{n}.example.net"
    trace = f"from {relay} ({relay} [45.33.32.{n}]) by mx with ESMTPS id R{n}; 20 Nov 2026"
    return edited(
        raw, add=(("Received", trace), ("Delivered-To", "suporte@compras.example.gov.br"))
    )


def key(raw: bytes) -> str:
    return dedup_key(parse_message(raw), "the raw digest")


# -- what the content is ------------------------------------------------------------------

ORIGINAL = mail("Erro no SIASG", error_body(), attachments=SCREENSHOT, message_id=VICTIM_ID)


@pytest.mark.parametrize(
    "copy",
    [
        relayed(ORIGINAL, 1),
        edited(ORIGINAL, add=(
            ("Return-Path", "<maria.silva@saude.rj.gov.br>"),
            ("X-Original-To", "atendimento@compras.example.gov.br"),
            ("Authentication-Results", "mx.compras.example.gov.br; dkim=pass header.d=x.gov.br"),
            ("ARC-Seal", "i=1; a=rsa-sha256; d=example.net; s=arc; cv=none; b=AbC"),
            ("DKIM-Signature", "v=1; a=rsa-sha256; d=lista.example.org; s=s1; b=XyZ"),
            ("X-Spam-Status", "No, score=-0.1"),
        )),
        ORIGINAL.replace(b"\n", b"\r\n"),  # the IMAP copy of a Maildir file
        ORIGINAL + b"\n\n",  # a server added line ends
        ORIGINAL.replace(b"Subject: Erro no SIASG", b"Subject: Erro\n  no    SIASG"),  # refolded
    ],
    ids=["another relay", "trace fields added", "CRLF", "trailing lines", "refolded"],
)  # fmt: skip
def test_a_copy_that_travelled_otherwise_is_the_same_mail(copy: bytes) -> None:
    assert copy != ORIGINAL
    assert fingerprint(copy) == fingerprint(ORIGINAL)
    assert key(copy) == key(ORIGINAL)


@pytest.mark.parametrize(
    "other",
    [
        mail("Erro no SIASG", error_body(), attachments=SCREENSHOT, message_id=VICTIM_ID),  # Date
        edited(ORIGINAL, drop=("Subject",), add=(("Subject", "Erro no SIASG!"),)),
        edited(ORIGINAL, drop=("To",), add=(("To", "outro@compras.example.gov.br"),)),
        ORIGINAL.replace(b"UASG: 925001", b"UASG: 925002"),  # one byte of the body
        mail("Erro no SIASG", error_body(), message_id=VICTIM_ID),  # without the screenshot
    ],
    ids=["another Date", "another Subject", "another To", "another body", "no attachment"],
)
def test_the_same_message_id_on_other_content_is_another_mail(other: bytes) -> None:
    assert parse_message(other).message_id == parse_message(ORIGINAL).message_id
    assert key(other) != key(ORIGINAL)


def test_the_same_content_from_another_sender_is_another_mail() -> None:
    theirs = edited(ORIGINAL, drop=("From",), add=(("From", ATTACKER),))

    assert key(theirs) != key(ORIGINAL)


def test_input_that_is_no_mail_is_the_same_only_as_the_same_bytes() -> None:
    assert dedup_key(parse_message(b"\x00\x01 not a mail"), "abc") == "sha:abc"


def test_a_body_fed_in_pieces_hashes_as_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """A CRLF split between two pieces of the body is still read as one line end."""
    raw = b"Subject: x\r\n\r\n" + b"a\r\n" * 20
    whole = fingerprint(raw)
    monkeypatch.setattr("mailproc.mail.fingerprint._PIECE", 3)

    assert fingerprint(raw) == whole == fingerprint(raw.replace(b"\r\n", b"\n"))


# -- on an existing database (SQLite and PostgreSQL) ---------------------------------------


def test_rows_keyed_by_message_id_before_stay_and_take_no_mail_of_another(
    ingest: Ingest, app: App
) -> None:
    """A database of the version before holds keys ``mid:<Message-ID>``: they stay as they
    are, and a new mail with that Message-ID is a mail of its own; its copies are its
    duplicates."""
    with app.sessions.begin() as session:
        session.add(m.Message(raw_id=None, dedup_key=f"mid:{VICTIM_ID.strip('<>')}",
                              outcome="created", sender=MARIA, sender_name="", subject="antes",
                              message_id=VICTIM_ID.strip("<>"), references=[], body_text="",
                              created_at=utcnow()))  # fmt: skip
    raw = error_report(message_id=VICTIM_ID)

    first, copy = ingest(raw), ingest(relayed(raw, 7))

    assert first["outcome"] == "created"
    assert (copy["outcome"], copy["ticket"]) == ("duplicate", first["ticket"])
    with app.sessions() as session:
        keys = sorted(session.scalars(select(m.Message.dedup_key)))
    assert keys[1] == f"mid:{VICTIM_ID.strip('<>')}" and keys[0].startswith("content:")


# -- through Dovecot and ``mailproc poll --once`` -------------------------------------------


def rows(desk: Desk) -> list[tuple[str, str, str]]:
    """(sender, subject, outcome) of every inbound message, in the order processed."""
    with desk.session() as session:
        query = select(m.Message.sender, m.Message.subject, m.Message.outcome).order_by(
            m.Message.id
        )
        return [tuple(row) for row in session.execute(query)]  # type: ignore[misc]


def sent_to(desk: Desk, address: str) -> list[EmailMessage]:
    return [sent for sent in desk.sent_mail() if address in str(sent["To"])]


@pytest.mark.servers
def test_a_message_id_taken_first_by_someone_else_does_not_swallow_the_victims_mail(
    desk: Desk,
) -> None:
    """The attacker sends first with the Message-ID the victim's mail will have, once in their
    own name and once in hers; then the victim's mail comes: it opens her ticket and she is
    answered."""
    taken = mail("Dúvida", "Qualquer coisa.", sender=ATTACKER, message_id=VICTIM_ID)
    forged = mail("Dúvida", "Outra coisa.", message_id=VICTIM_ID)  # in Maria's name
    victims = mail("Erro ao publicar aviso no SIASG", error_body(), attachments=SCREENSHOT,
                   message_id=VICTIM_ID)  # fmt: skip
    desk.imap.append_many("INBOX", [taken, forged, victims])

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    found = rows(desk)
    assert len(found) == 3 and "duplicate" not in {outcome for _, _, outcome in found}
    assert found[2] == (MARIA, "Erro ao publicar aviso no SIASG", "created")
    with desk.session() as session:
        requester = session.scalars(
            select(m.Ticket.requester_email).where(m.Ticket.subject.contains("SIASG"))
        ).one()
    assert requester == MARIA
    [answer] = [s for s in sent_to(desk, MARIA) if "Erro ao publicar aviso" in str(s["Subject"])]
    assert answer["In-Reply-To"].strip() == VICTIM_ID


@pytest.mark.servers
def test_one_mail_without_message_id_through_fifty_relays_opens_one_ticket(desk: Desk) -> None:
    raw = edited(mail("Erro ao publicar aviso no SIASG", error_body(), attachments=SCREENSHOT),
                 drop=("Message-ID",))  # fmt: skip
    desk.imap.append_many("INBOX", [relayed(raw, n) for n in range(50)])

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    assert poll.report["outcomes"] == {"created": 1, "duplicate": 49}
    assert desk.count(m.RawMessage, m.RawMessage.outcome == "duplicate") == 49
    assert desk.count(m.Ticket) == 1
    assert len([s for s in sent_to(desk, SIASG_AREA) if "Novo chamado" in str(s["Subject"])]) == 1
    assert len(sent_to(desk, MARIA)) == 1
    assert desk.imap.messages("INBOX") == []  # every copy acknowledged


@pytest.mark.servers
def test_two_people_whose_clients_wrote_one_message_id_get_a_ticket_each(desk: Desk) -> None:
    shared = "<1.0@localhost>"  # what a misconfigured client writes for everyone
    joao = "João Lima <joao.lima@fazenda.rj.gov.br>"
    desk.imap.append_many("INBOX", [
        mail("Erro ao publicar aviso no SIASG", error_body(), attachments=SCREENSHOT,
             message_id=shared),
        mail("Erro ao homologar no SIASG", error_body(), attachments=SCREENSHOT, sender=joao,
             message_id=shared),
    ])  # fmt: skip

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    assert [outcome for _, _, outcome in rows(desk)] == ["created", "created"]
    with desk.session() as session:
        requesters = set(session.scalars(select(m.Ticket.requester_email)))
    assert requesters == {MARIA, "joao.lima@fazenda.rj.gov.br"}
    assert len(sent_to(desk, MARIA)) == len(sent_to(desk, "joao.lima@fazenda.rj.gov.br")) == 1
