"""Erasure of one person (LGPD art. 18) through ``mailproc erase``, on SQLite and PostgreSQL:
her tickets go whole, she leaves the tickets of others, and nothing about her is left in any
table or in the database file; a dry run counts it and changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mailproc.service.app import App
from mailproc.service.cli import main
from mailproc.storage import logins
from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from tests.mails import REQUESTER, error_body, mail
from tests.privacy import (
    CARLAS,
    MARIAS,
    Person,
    dump,
    findings,
    free_old_copies,
    in_file,
    tables,
)
from tests.test_bounces import postfix_report
from tests.threads import MARIA, queued, reply, staff_reply

Ingest = Callable[[bytes], dict[str, Any]]
CARLA = "carla.dias@fazenda.rj.gov.br"


def _request(subject: str, body: str, person: Person, **fields: Any) -> bytes:
    files = (("print-erro.png", "image/png", person.print_png),)
    return mail(subject, body + person.identification(), attachments=files, **fields)


def _desk(ingest: Ingest, app: App) -> str:
    """Maria's own tickets, her mail without a ticket and a second delivery of it; Carla's
    ticket, on which Maria was copied, wrote with her print, got the staff's answer, and
    whose copy to her bounced. Returns the code of Carla's ticket."""
    report = _request("Erro ao publicar aviso no SIASG", error_body(), MARIAS)
    resolved = ingest(report)["ticket"]
    ingest(staff_reply(resolved, f"#resolvido\n\nLiberado para o CPF {MARIAS.cpf}."))
    ingest(reply(resolved, "5 - ótimo atendimento"))
    body = f"CPF do usuário: {MARIAS.cpf}\nUASG: 925001\nDescrição: incluir perfil de gestor.\n"
    assert ingest(_request("Alteração de cadastro de usuário", body, MARIAS))["ticket"]
    question = mail("Pergunta", f"Meu CPF é {MARIAS.cpf}; o que devo fazer?")
    assert ingest(question)["outcome"] == "no_theme"
    redelivered = b"Received: from mx2.saude.rj.gov.br by mx.example.gov.br\r\n" + question
    assert ingest(redelivered)["outcome"] == "duplicate"

    carla = f"Carla Dias <{CARLA}>"
    carlas = ingest(_request("Erro ao emitir empenho no SIASG", error_body(), CARLAS,
                             sender=carla))["ticket"]  # fmt: skip
    ingest(reply(carlas, "Copio a colega Maria, que viu o mesmo erro.", sender=carla,
                 headers={"Cc": REQUESTER}))  # fmt: skip
    files = (("print-erro.png", "image/png", MARIAS.print_png),)
    seen = ingest(reply(carlas, f"Comigo também. {MARIAS.identification()}", attachments=files))
    assert seen["outcome"] == "updated", seen
    ingest(staff_reply(carlas, "Bom dia.\n\nO erro foi corrigido."))
    [answer] = [q for q in queued(app, "staff_answer") if MARIA in q.recipients and CARLA in
                q.recipients]  # fmt: skip
    ingest(postfix_report(answer.message.as_bytes(), MARIA))
    with app.sessions.begin() as session:  # as the sender cap records its alert
        detail = {"cap": "sender", "limit": 20, "address": MARIA}
        session.add(m.Alert(key="cap:sender:0123456789abcdef:2026-11-20", kind="cap:sender",
                            detail=detail))  # fmt: skip
    with app.sessions() as session:
        participants = session.scalars(select(m.Participant.email)).all()
        failing = session.scalars(select(m.FailingAddress.email)).all()
    assert MARIA in participants and failing == [MARIA]
    return str(carlas)


def _erase(config_path: Path, *options: str) -> int:
    return main(["--config", str(config_path), "erase", "Maria.Silva@saude.rj.gov.br", *options])


def _carlas_raw(app: App) -> set[str]:
    """The raw mail of Carla's messages: hers, though one names Maria (in copy)."""
    with app.sessions() as session:
        ids = session.scalars(
            select(m.Message.raw_id).where(m.Message.sender == CARLA, m.Message.raw_id.is_not(None))
        ).all()
    return {str(raw_id) for raw_id in ids}


def test_after_an_erasure_nothing_about_the_person_is_left_in_any_table_or_in_the_file(
    ingest: Ingest,
    app: App,
    config_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    carlas = _desk(ingest, app)
    address = {"address": MARIA.encode()}
    assert {("outbox_bodies", "raw"), ("failing_addresses", "email"), ("alerts", "detail"),
            ("events", "detail"), ("participants", "email")} <= tables(
        findings(database_url, address))  # fmt: skip
    sqlite = database_url.startswith("sqlite")
    if sqlite:
        free_old_copies(database_url)
    capsys.readouterr()

    assert _erase(config_path) == 0

    report = json.loads(capsys.readouterr().out)
    assert (report["address"], report["dry_run"], report["rows"]["tickets"]) == (MARIA, False, 2)
    assert findings(database_url, MARIAS.needles) == set()
    if sqlite:  # the write-ahead log included
        assert in_file(database_url, MARIAS.file_needles) == set()
    left = findings(database_url, address)  # only in Carla's reply that copied her
    assert tables(left) == {("raw_messages", "data")}
    assert {finding.row for finding in left} < _carlas_raw(app)
    # Carla's ticket stays, with her mail and files, and without Maria.
    assert {("raw_messages", "data"), ("attachments", "data"), ("messages", "body_text"),
            ("outbox_bodies", "raw")} <= tables(findings(database_url, CARLAS.needles))  # fmt: skip
    with app.sessions() as session:
        assert session.scalars(select(m.Ticket.code)).all() == [carlas]
        senders = session.scalars(select(m.Message.sender).where(m.Message.ticket_id.is_not(None)))
        assert MARIA not in senders.all()


def test_an_erasure_dry_run_counts_what_would_go_and_changes_nothing(
    ingest: Ingest,
    app: App,
    config_path: Path,
    database_url: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _desk(ingest, app)
    before = dump(database_url)
    capsys.readouterr()

    assert _erase(config_path, "--dry-run") == 0

    dry = json.loads(capsys.readouterr().out)
    assert dump(database_url) == before
    assert _erase(config_path) == 0
    done = json.loads(capsys.readouterr().out)
    assert dry["dry_run"] and not done["dry_run"]
    assert dry["rows"] == done["rows"]
    assert all(dry["rows"][table] for table in ("tickets", "messages", "raw_messages",
               "attachments", "participants", "events", "evaluations", "outbox",
               "outbox_bodies", "failing_addresses", "alerts"))  # fmt: skip


def test_erasing_someone_unknown_erases_nothing(
    ingest: Ingest, config_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ingest(_request("Erro ao publicar aviso no SIASG", error_body(), CARLAS,
                    sender=f"Carla Dias <{CARLA}>"))  # fmt: skip
    before = dump(database_url)
    capsys.readouterr()

    assert _erase(config_path) == 0

    assert set(json.loads(capsys.readouterr().out)["rows"].values()) == {0}
    assert dump(database_url) == before


def test_an_erasure_deletes_the_persons_web_login_links(
    config_path: Path, app: App, capsys: pytest.CaptureFixture[str]
) -> None:
    """A staff member's login links name them: they go with the rest (a link of someone
    else stays)."""
    now = utcnow()
    with app.sessions.begin() as session:
        for email in ("maria.silva@saude.rj.gov.br", CARLA):
            logins.new_login(session, email, now, timedelta(minutes=15))

    assert _erase(config_path) == 0

    assert json.loads(capsys.readouterr().out)["rows"]["web_logins"] == 1
    with app.sessions() as session:
        assert session.scalars(select(m.WebLogin.email)).all() == [CARLA]


def test_something_that_is_no_address_is_refused(
    config_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--config", str(config_path), "erase", "Maria Silva"]) == 1
    assert "not an e-mail address: 'Maria Silva'" in capsys.readouterr().err
