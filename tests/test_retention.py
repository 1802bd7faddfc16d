"""Retention: old mail of closed tickets loses its bytes, everything else about it stays."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NoReturn

import pytest
from sqlalchemy import JSON, LargeBinary, String, Text, select
from sqlalchemy.orm import Session, sessionmaker

from mailproc.decision.ticket_state import TicketState
from mailproc.decision.values import Outcome
from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import models as m
from mailproc.storage.db import make_engine, make_sessions, utcnow
from mailproc.storage.retention import CLOSED_STATES, EMPTIED, MASKED, OPEN_STATES, purge
from mailproc.tickets import pipeline as pipeline_module
from mailproc.tickets.upkeep import close_expired_incomplete, close_unanswered_pending
from tests.mails import error_body, mail, reactivation_body
from tests.privacy import (
    CARLAS,
    MARIAS,
    Person,
    age,
    dump,
    findings,
    free_old_copies,
    in_file,
    tables,
    vacuumed,
)
from tests.threads import reply, set_ticket, staff_reply

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


def test_every_state_is_either_kept_or_purged() -> None:
    """A state added to TicketState must be placed: else its tickets are never purged, or
    purged while someone still works on them."""
    assert OPEN_STATES.isdisjoint(CLOSED_STATES)
    assert set(TicketState) == OPEN_STATES | CLOSED_STATES


# What a purge keeps as it is in the rows it takes: identifiers, and who and when (nothing
# anyone wrote). A new text, bytes or JSON column must be placed here, or in EMPTIED or MASKED.
KEPT = {
    "raw_messages": {"sha256", "source", "outcome"},
    "tickets": {"code", "theme_id", "state", "priority", "requester_email", "requester_name"},
    "messages": {"dedup_key", "outcome", "theme_id", "sender", "sender_name", "message_id",
                 "in_reply_to", "references"},
    "attachments": {"declared_type", "detected_type", "sha256"},
    "outbox": {"message_id", "purpose", "sender", "recipients", "to_address", "to_domain",
               "status", "lease_owner"},
    "outbox_bodies": set(),
    "events": {"kind"},
    "evaluations": {"rater"},
}  # fmt: skip


def test_every_text_column_of_a_purged_row_is_emptied_masked_or_kept_on_purpose() -> None:
    columns = [entry[0] for entry in EMPTIED] + [entry[0] for entry in MASKED]
    scrubbed = {(c.class_.__tablename__, c.key) for c in columns}
    for table, kept in KEPT.items():
        text = {
            c.name
            for c in m.Base.metadata.tables[table].columns
            if isinstance(c.type, (String, Text, LargeBinary, JSON))
        }
        assert text - kept == {c for t, c in scrubbed if t == table}, table


def test_the_bodies_go_and_the_records_hashes_and_sizes_stay(
    sessions: sessionmaker[Session],
) -> None:
    stored = store_mail(sessions, received=OLD, state=TicketState.RESOLVED)
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
            "",
        )
        assert (attachment.filename, attachment.size) == ("print.png", len(PNG))
        assert attachment.sha256 == hashlib.sha256(PNG).hexdigest()
        assert ticket.state == TicketState.RESOLVED and ticket.code.startswith("2026-")
        assert ticket.updated_at == OLD  # a purge is no change of the ticket
        assert [e.kind for e in ticket.events] == ["purged"]


@pytest.mark.parametrize("state", sorted(OPEN_STATES))
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
    store_mail(sessions, received=OLD, state=TicketState.CANCELLED)
    store_mail(sessions, received=OLD, outcome="no_theme")
    first = purge(sessions, PERIOD, dry_run=False, now=NOW)
    again = purge(sessions, PERIOD, dry_run=False, now=NOW)
    assert (first.tickets, first.messages, first.raw_messages) == (1, 2, 2)
    counts = {k: v for k, v in again.as_json().items() if type(v) is int}
    assert set(counts.values()) == {0}, counts


def test_a_ticket_reopened_after_its_purge_is_purged_again_once_closed_and_old(
    sessions: sessionmaker[Session],
) -> None:
    first = store_mail(sessions, received=OLD, state=TicketState.RESOLVED)
    purge(sessions, PERIOD, dry_run=False, now=NOW)
    later = NOW + 2 * PERIOD
    # A late reply reopened it, and it was resolved again.
    reply = store_mail(sessions, received=NOW + timedelta(days=1), message_row=False)
    with sessions.begin() as session:
        session.get_one(m.Ticket, first.ticket_id).updated_at = NOW + timedelta(days=1)
        session.add(
            m.Message(raw_id=reply.raw_id, dedup_key="mid:late@rj.gov.br",
                      ticket_id=first.ticket_id, outcome="updated", sender="maria@rj.gov.br",
                      sender_name="Maria", subject="Re: Erro", body_text="Voltou a falhar",
                      created_at=NOW)
        )  # fmt: skip

    report = purge(sessions, PERIOD, dry_run=False, now=later)

    assert (report.tickets, report.raw_messages) == (1, 1)
    assert bytes_kept(sessions, reply) == (False, False)


def test_reasons_subjects_and_event_details_are_masked(sessions: sessionmaker[Session]) -> None:
    """As rows written before reasons were masked hold them: personal data in free text."""
    stored = store_mail(sessions, received=OLD, state=TicketState.CANCELLED)
    quarantined = store_mail(sessions, received=OLD, outcome="quarantined", message_row=False)
    with sessions.begin() as session:
        session.get_one(
            m.RawMessage, quarantined.raw_id
        ).reason = "internal error: ValueError: CPF 123.456.789-09 de maria@rj.gov.br"
        ticket = session.get_one(m.Ticket, stored.ticket_id)
        ticket.subject, ticket.updated_at = "Erro (CPF 123.456.789-09)", RECENT  # then OLD:
        session.flush()  # updated_at is set by hand only when it changes
        ticket.updated_at = OLD
        detail = {"reason": "tel. (21) 2333-4455", "by": "maria@rj.gov.br"}
        session.add(m.Event(ticket_id=ticket.id, kind="cancelled", created_at=OLD, detail=detail))

    purge(sessions, PERIOD, dry_run=False, now=NOW)

    with sessions() as session:
        raw = session.get_one(m.RawMessage, quarantined.raw_id)
        assert raw.reason == "internal error: ValueError: CPF [cpf] de ***@rj.gov.br"
        ticket = session.get_one(m.Ticket, stored.ticket_id)
        assert ticket.subject == "Erro (CPF [cpf])"
        details = [e.detail for e in ticket.events if e.kind == "cancelled"]
        assert details == [{"reason": "tel. [telefone]", "by": "***@rj.gov.br"}]


def test_the_report_says_when_the_period_began(sessions: sessionmaker[Session]) -> None:
    report = purge(sessions, PERIOD, dry_run=True, now=NOW)
    assert report.cutoff == NOW - PERIOD
    assert report.as_json()["cutoff"] == "2026-06-01T12:00:00+00:00"


def test_a_period_that_is_not_positive_is_refused(sessions: sessionmaker[Session]) -> None:
    with pytest.raises(ValueError, match="positive"):
        purge(sessions, timedelta(0), dry_run=True, now=NOW)


# -- through the real pipeline and `mailproc purge`, on SQLite and PostgreSQL ---------------

Ingest = Callable[[bytes], dict[str, Any]]
TWO_YEARS = timedelta(days=730)


def _request(subject: str, body: str, person: Person = MARIAS, **fields: Any) -> bytes:
    """A request with the person's CPF and CNPJ in its text and her print attached."""
    files = (("print-erro.png", "image/png", person.print_png),)
    return mail(subject, body + person.identification(), attachments=files, **fields)


def _opened(ingest: Ingest, raw: bytes, outcome: str = "created") -> str:
    result = ingest(raw)
    assert result["outcome"] == outcome, result
    return str(result["ticket"])


def _resolved(ingest: Ingest, app: App) -> str:
    """A registration change (its CPF among the answers), completed by a reply with the
    print again, resolved by staff and rated with a comment."""
    body = f"CPF do usuário: {MARIAS.cpf}\nUASG: 925001\nDescrição: incluir perfil de gestor.\n"
    code = _opened(ingest, _request("Alteração de cadastro de usuário", body))
    ingest(reply(code, f"Segue de novo o print. {MARIAS.identification()}",
                 attachments=(("print-erro.png", "image/png", MARIAS.print_png),)))  # fmt: skip
    ingest(staff_reply(code, f"#resolvido\n\nPerfil incluído para o CPF {MARIAS.cpf}."))
    ingest(reply(code, f"5 - ótimo, o CPF {MARIAS.cpf} já entra"))
    return code


def _cancelled(ingest: Ingest, app: App) -> str:
    """A UASG reactivation (its CNPJ among the answers), cancelled by staff."""
    code = _opened(ingest, _request("Reativação de UASG", reactivation_body(MARIAS.cnpj)))
    ingest(staff_reply(code, "#cancelado\nA UASG já está ativa."))
    return code


def _closed_unanswered(ingest: Ingest, app: App) -> str:
    """An error report that staff asked about, whose requester never answered."""
    code = _opened(ingest, _request("Erro ao publicar aviso no SIASG", error_body()))
    ingest(staff_reply(code, f"#pendente\nConfirme o CPF {MARIAS.cpf}, por favor."))
    set_ticket(app, code, incomplete_until=utcnow() - timedelta(minutes=1))
    assert close_unanswered_pending(app.pipeline) == 1
    return code


def _closed_untreated(ingest: Ingest, app: App) -> str:
    """An error report without its step-by-step account, whose requester never sent it."""
    raw = _request("Erro ao publicar aviso no SIASG", error_body(steps=False))
    code = _opened(ingest, raw, "incomplete")
    set_ticket(app, code, incomplete_until=utcnow() - timedelta(minutes=1))
    assert close_expired_incomplete(app.pipeline) == 1
    return code


# How a ticket comes to each closed state; a state added to CLOSED_STATES needs its way here.
CLOSINGS: dict[str, Callable[[Ingest, App], str]] = {
    TicketState.RESOLVED: _resolved,
    TicketState.CANCELLED: _cancelled,
    TicketState.CLOSED_UNANSWERED: _closed_unanswered,
    TicketState.CLOSED_UNTREATED: _closed_untreated,
}


def _internal_error(message: object) -> NoReturn:
    """A bug that quotes the mail it failed on, as exception messages do."""
    raise ValueError(f"cannot handle {getattr(message, 'request', None)}")


def test_an_internal_errors_reason_is_stored_masked(
    ingest: Ingest, app: App, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(pipeline_module.APPLY, Outcome.NO_THEME, lambda _p, a: _internal_error(a))

    result = ingest(mail("Outra pergunta", f"CPF {MARIAS.cpf}, CNPJ {MARIAS.cnpj}"))

    assert result["outcome"] == "quarantined"
    with app.sessions() as session:
        [reason] = session.scalars(select(m.RawMessage.reason)).all()
    assert reason is not None
    assert reason.startswith("internal error: ValueError: cannot handle Request(")
    assert "[cpf]" in reason and "[cnpj]" in reason and "***@saude.rj.gov.br" in reason
    assert MARIAS.cpf not in reason and MARIAS.cnpj not in reason and "maria.silva" not in reason


def _old_desk(ingest: Ingest, app: App, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Maria's tickets in every closed state, her mail without a theme and one that met a
    bug; Carla's ticket still open. All of it two years old. Returns code -> state."""
    codes = {CLOSINGS[state](ingest, app): state for state in sorted(CLOSINGS)}
    ingest(mail("Pergunta", f"Bom dia. Meu CPF é {MARIAS.cpf}; o que devo fazer?"))
    with monkeypatch.context() as bug:
        bug.setitem(pipeline_module.APPLY, Outcome.NO_THEME, lambda _p, a: _internal_error(a))
        quarantined = ingest(mail("Outra pergunta", f"CPF {MARIAS.cpf}, CNPJ {MARIAS.cnpj}"))
    assert quarantined["outcome"] == "quarantined"
    carla = "Carla Dias <carla.dias@fazenda.rj.gov.br>"
    kept = _request("Erro ao publicar aviso no SIASG", error_body(), CARLAS, sender=carla)
    codes[_opened(ingest, kept)] = TicketState.OPEN
    with app.sessions() as session:
        states = dict(session.execute(select(m.Ticket.code, m.Ticket.state)).all())
    assert states == codes  # each ticket reached its state through the pipeline
    age(app, TWO_YEARS)
    return codes


def test_after_a_purge_nothing_of_a_purged_ticket_is_left_in_any_table_or_in_the_file(
    ingest: Ingest,
    app: App,
    config_path: Path,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    codes = _old_desk(ingest, app, monkeypatch)
    before = findings(database_url, MARIAS.needles)
    # The scan sees her data where the desk kept it: what she sent, and what it sent.
    assert {("raw_messages", "data"), ("attachments", "data"), ("messages", "body_text"),
            ("outbox_bodies", "raw"), ("tickets", "answers")} <= tables(before)  # fmt: skip
    sqlite = database_url.startswith("sqlite")
    if sqlite:
        free_old_copies(database_url)
        assert {"cpf", "cnpj", "print", "print as base64"} <= in_file(
            database_url, MARIAS.file_needles
        )

    everything = dump(database_url)
    capsys.readouterr()
    assert main(["--config", str(config_path), "purge", "--dry-run"]) == 0
    dry = json.loads(capsys.readouterr().out)
    assert dump(database_url) == everything

    assert main(["--config", str(config_path), "purge"]) == 0

    report = json.loads(capsys.readouterr().out)
    assert report["dry_run"] is False and report["tickets"] == len(CLOSED_STATES)
    assert {**dry, "dry_run": False, "compacted": True, "cutoff": report["cutoff"]} == report
    assert findings(database_url, MARIAS.needles) == set()
    if sqlite:  # the write-ahead log included
        assert in_file(database_url, MARIAS.file_needles) == set()
    else:  # the dead row versions removed (their bytes stay until overwritten: see compact)
        assert {"raw_messages", "attachments", "messages", "outbox_bodies"} <= vacuumed(
            database_url
        )
    # Carla's open ticket keeps everything, and the records of Maria's stay.
    assert {("raw_messages", "data"), ("attachments", "data"), ("messages", "body_text"),
            ("outbox_bodies", "raw")} <= tables(findings(database_url, CARLAS.needles))  # fmt: skip
    with app.sessions() as session:
        states = dict(session.execute(select(m.Ticket.code, m.Ticket.state)).all())
        assert states == codes
        files = session.scalars(select(m.Attachment.sha256)).all()
        assert hashlib.sha256(MARIAS.print_png).hexdigest() in files
