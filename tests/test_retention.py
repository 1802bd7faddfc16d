"""Retention: old mail of closed tickets loses its bytes, everything else about it stays."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.orm import Session, sessionmaker

from mailproc.storage import models as m
from mailproc.storage.db import make_engine, make_sessions
from mailproc.storage.retention import CLOSED_STATES, purge

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PERIOD = timedelta(days=180)
OLD = NOW - timedelta(days=400)
RECENT = NOW - timedelta(days=10)
RAW = b"From: maria@rj.gov.br\r\nSubject: Erro\r\n\r\nCorpo com CPF 123.456.789-09\r\n"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_sessions(engine)
    engine.dispose()


@dataclass(frozen=True)
class Stored:
    """Ids of one received message: its raw bytes, its message row and its attachment."""

    raw_id: int
    raw: bytes
    message_id: int | None
    attachment_id: int | None
    ticket_id: int | None


_counter = iter(range(1, 10_000))


def store_mail(
    sessions: sessionmaker[Session],
    *,
    received: datetime,
    state: str | None = None,
    ticket_changed: datetime | None = None,
    outcome: str | None = "created",
    message_row: bool = True,
) -> Stored:
    """One received mail with a screenshot, on a ticket in ``state`` (None: no ticket)."""
    number = next(_counter)
    raw_bytes = RAW + str(number).encode()
    with sessions.begin() as session:
        raw = m.RawMessage(
            sha256=hashlib.sha256(raw_bytes).hexdigest(),
            size=len(raw_bytes),
            data=raw_bytes,
            source="test",
            received_at=received,
            outcome=outcome,
        )
        session.add(raw)
        ticket = None
        if state is not None:
            ticket = m.Ticket(
                code=f"2026-{number:06d}",
                state=state,
                priority="normal",
                requester_email="maria@rj.gov.br",
                requester_name="Maria",
                subject="Erro",
                created_at=received,
                updated_at=ticket_changed or received,
            )
            session.add(ticket)
        session.flush()
        if not message_row:
            return Stored(raw.id, raw_bytes, None, None, None)
        message = m.Message(
            raw_id=raw.id,
            dedup_key=f"mid:{number}@rj.gov.br",
            ticket_id=ticket.id if ticket else None,
            outcome=outcome or "created",
            sender="maria@rj.gov.br",
            sender_name="Maria",
            subject="Erro",
            message_id=f"{number}@rj.gov.br",
            body_text="Corpo",
            created_at=received,
        )
        message.attachments = [
            m.Attachment(
                filename="print.png",
                declared_type="image/png",
                size=len(PNG),
                sha256=hashlib.sha256(PNG).hexdigest(),
                data=PNG,
            )
        ]
        session.add(message)
        session.flush()
        ticket_id = ticket.id if ticket else None
        return Stored(raw.id, raw_bytes, message.id, message.attachments[0].id, ticket_id)


def bytes_kept(sessions: sessionmaker[Session], stored: Stored) -> tuple[bool, bool]:
    """Whether the raw bytes and the attachment bytes are still there."""
    with sessions() as session:
        raw = session.get_one(m.RawMessage, stored.raw_id)
        attachment = (
            session.get(m.Attachment, stored.attachment_id) if stored.attachment_id else None
        )
        return raw.data is not None, attachment is not None and attachment.data is not None


@pytest.mark.parametrize("state", sorted(CLOSED_STATES))
def test_old_mail_of_a_closed_ticket_loses_its_bytes(
    sessions: sessionmaker[Session], state: str
) -> None:
    stored = store_mail(sessions, received=OLD, state=state)
    report = purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert bytes_kept(sessions, stored) == (False, False)
    assert (report.raw_messages, report.attachments) == (1, 1)
    assert report.raw_bytes == len(stored.raw)
    assert report.attachment_bytes == len(PNG)


def test_records_hashes_and_sizes_stay(sessions: sessionmaker[Session]) -> None:
    stored = store_mail(sessions, received=OLD, state="resolvido")
    purge(sessions, PERIOD, dry_run=False, now=NOW)
    with sessions() as session:
        raw = session.get_one(m.RawMessage, stored.raw_id)
        message = session.get_one(m.Message, stored.message_id)
        attachment = session.get_one(m.Attachment, stored.attachment_id)
        ticket = session.get_one(m.Ticket, stored.ticket_id)
        assert (raw.size, raw.outcome) == (len(stored.raw), "created")
        assert raw.sha256 == hashlib.sha256(stored.raw).hexdigest()
        assert (message.sender, message.subject, message.body_text) == (
            "maria@rj.gov.br",
            "Erro",
            "Corpo",
        )
        assert (attachment.filename, attachment.size) == ("print.png", len(PNG))
        assert attachment.sha256 == hashlib.sha256(PNG).hexdigest()
        assert ticket.state == "resolvido" and ticket.code.startswith("2026-")


@pytest.mark.parametrize("state", ["aberto", "aguardando_informacoes", "pendente"])
def test_mail_of_a_ticket_still_open_keeps_its_bytes(
    sessions: sessionmaker[Session], state: str
) -> None:
    stored = store_mail(sessions, received=OLD, state=state)
    report = purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert bytes_kept(sessions, stored) == (True, True)
    assert (report.raw_messages, report.attachments) == (0, 0)


def test_a_ticket_closed_within_the_period_keeps_its_old_mail(
    sessions: sessionmaker[Session],
) -> None:
    stored = store_mail(sessions, received=OLD, state="cancelado", ticket_changed=RECENT)
    purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert bytes_kept(sessions, stored) == (True, True)


def test_mail_without_a_ticket_loses_its_bytes_only_when_old(
    sessions: sessionmaker[Session],
) -> None:
    old = store_mail(sessions, received=OLD, outcome="no_theme")
    recent = store_mail(sessions, received=RECENT, outcome="no_theme")
    old_quarantined = store_mail(sessions, received=OLD, outcome="quarantined", message_row=False)
    purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert bytes_kept(sessions, old) == (False, False)
    assert bytes_kept(sessions, recent) == (True, True)
    assert bytes_kept(sessions, old_quarantined)[0] is False


def test_an_unprocessed_raw_message_is_never_purged(sessions: sessionmaker[Session]) -> None:
    stored = store_mail(sessions, received=OLD, outcome=None, message_row=False)
    report = purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert bytes_kept(sessions, stored)[0] is True
    assert report.raw_messages == 0


def test_a_dry_run_counts_what_would_go_and_changes_nothing(
    sessions: sessionmaker[Session],
) -> None:
    gone = [store_mail(sessions, received=OLD, state="resolvido") for _ in range(2)]
    kept = store_mail(sessions, received=OLD, state="aberto")
    dry = purge(sessions, PERIOD, dry_run=True, now=NOW)
    assert all(bytes_kept(sessions, stored) == (True, True) for stored in [*gone, kept])
    real = purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert dry.dry_run and not real.dry_run
    assert (dry.raw_messages, dry.raw_bytes, dry.attachments, dry.attachment_bytes) == (
        real.raw_messages,
        real.raw_bytes,
        real.attachments,
        real.attachment_bytes,
    )
    assert (real.raw_messages, real.attachments, real.attachment_bytes) == (2, 2, 2 * len(PNG))
    assert bytes_kept(sessions, kept) == (True, True)


def test_a_second_purge_finds_nothing_left(sessions: sessionmaker[Session]) -> None:
    store_mail(sessions, received=OLD, state="fechado")
    purge(sessions, PERIOD, dry_run=False, now=NOW)
    again = purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert (again.raw_messages, again.raw_bytes, again.attachments, again.attachment_bytes) == (
        0,
        0,
        0,
        0,
    )


def test_the_report_says_when_the_period_began(sessions: sessionmaker[Session]) -> None:
    report = purge(sessions, PERIOD, dry_run=True, now=NOW)
    assert report.cutoff == NOW - PERIOD
    assert report.as_json()["cutoff"] == "2026-06-01T12:00:00+00:00"


def test_a_period_that_is_not_positive_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="positive"):
        purge(sessions, timedelta(0), dry_run=True, now=NOW)
