"""A forged From cannot change a ticket or speak for the desk (issue #16, items 2 and 5).

Played as an attacker would, through Dovecot, ``mailproc poll --once``, the SMTP listener and
the database: mail whose From names the requester or a routing area, mail with no single
author, copies planted in a forged reply, a forged or abused trusted forwarder. And the
proofs the real people have: replying to the desk's mail (its signed Reply-To), or a DKIM
signature of their domain that mailproc verifies itself (a real DNS server on 127.0.0.1).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import parseaddr
from pathlib import Path

import pytest
from sqlalchemy import select

from mailproc.config import load_config
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage.schema import upgrade
from tests.conftest import REPLY_KEY_ENV, TEST_REPLY_KEY, write_config
from tests.dns_fixtures import LocalDns, Signer
from tests.e2e import Desk, DeskFactory, bare_id, message_id
from tests.mails import AUTHSERV_ID, REQUESTER, authenticated, error_report, mail
from tests.threads import GMAIL_PT, REDECOMPRAS, SIASG_AREA

MARIA = "maria.silva@saude.rj.gov.br"
PHISHING = "http://compras-gov.example.net/login"


def play(desk: Desk, *raws: bytes) -> None:
    desk.imap.append_many("INBOX", list(raws))
    poll = desk.poll()
    assert poll.returncode == 0, poll.stderr


def opened(desk: Desk) -> str:
    """Maria's complete error report, played: the code of the ticket it opened."""
    report = error_report()
    play(desk, report)
    return desk.ticket_codes()[message_id(report)]


def answers_to(desk: Desk, raw: bytes) -> list[EmailMessage]:
    """The mail the desk sent in answer to ``raw`` (threaded under it)."""
    return [s for s in desk.sent_mail() if bare_id(s["In-Reply-To"]) == message_id(raw)]


def to(desk: Desk, address: str) -> list[EmailMessage]:
    return [s for s in desk.sent_mail() if address in str(s["To"]) + str(s["Cc"] or "")]


def ticket_of(desk: Desk, code: str) -> m.Ticket:
    with desk.session() as session:
        ticket = session.scalars(select(m.Ticket).where(m.Ticket.code == code)).one()
        _ = ticket.participants, ticket.events
        session.expunge_all()
    return ticket


def event_kinds(desk: Desk, code: str) -> list[str]:
    return [event.kind for event in ticket_of(desk, code).events]


def reply_address(sent: EmailMessage) -> str:
    """Where a mail client sends a reply to ``sent``."""
    return parseaddr(str(sent["Reply-To"]))[1]


def test_a_forged_cancellation_changes_nothing_and_the_real_requester_can_confirm(
    desk: Desk,
) -> None:
    code = opened(desk)
    forged = mail(f"cancelar {code}", "Podem cancelar.", sender=REQUESTER)  # to suporte@

    play(desk, forged)

    assert ticket_of(desk, code).state == "aberto"
    assert "action_unproven" in event_kinds(desk, code)
    [notice] = answers_to(desk, forged)
    assert parseaddr(str(notice["To"]))[1] == MARIA  # the address in From, not the forger
    assert f"Pedido não realizado no chamado {code}" in str(notice["Subject"])

    confirmation = mail(
        f"RE: {notice['Subject']}", "cancelar", sender=REQUESTER, to=reply_address(notice)
    )
    play(desk, confirmation)

    assert ticket_of(desk, code).state == "cancelado"


def test_a_forged_area_answer_resolves_nothing_and_relays_nothing_to_the_requester(
    desk: Desk,
) -> None:
    code = opened(desk)
    [routed] = to(desk, SIASG_AREA)
    forged = mail(
        f"RE: [#{code}] Novo chamado: Erro ao publicar aviso no SIASG",
        f"#resolvido\nSua senha expirou. Acesse {PHISHING} e informe a senha atual.",
        sender=f"Suporte SIASG <{SIASG_AREA}>",
        headers={"In-Reply-To": str(routed["Message-ID"])},
    )

    play(desk, forged)

    assert ticket_of(desk, code).state == "aberto"
    assert not any(PHISHING in s.as_string() for s in to(desk, MARIA))
    [notice] = answers_to(desk, forged)
    assert parseaddr(str(notice["To"]))[1] == SIASG_AREA

    answer = mail(
        f"RE: {routed['Subject']}",
        "#resolvido\nO aviso foi publicado.",
        sender=f"Suporte SIASG <{SIASG_AREA}>",
        to=reply_address(routed),
        headers={"In-Reply-To": str(routed["Message-ID"])},
    )
    play(desk, answer)

    assert ticket_of(desk, code).state == "resolvido"
    assert any("O aviso foi publicado." in s.as_string() for s in to(desk, MARIA))


def without_one_author() -> dict[str, bytes]:
    def report(n: int) -> bytes:
        return error_report(message_id=f"<sem-autor-{n}@saude.rj.gov.br>")

    return {
        "only Sender": report(1).replace(b"From: ", b"Sender: ", 1),
        "two From fields": b"From: Chefia <chefia@saude.rj.gov.br>\r\n" + report(2),
        "two authors in one From": report(3).replace(b"From: ", b"From: a@saude.rj.gov.br, ", 1),
    }


def test_mail_without_one_author_is_quarantined_and_answered_to_no_one(desk: Desk) -> None:
    mails = without_one_author()

    play(desk, *mails.values())

    outcomes = desk.outcomes()
    for name, raw in mails.items():
        assert outcomes[message_id(raw)] == "quarantined", name
        assert answers_to(desk, raw) == [], name
    assert desk.count(m.Ticket) == 0


def test_copies_planted_in_a_forged_reply_do_not_join_nor_get_the_next_answer(
    desk: Desk,
) -> None:
    code = opened(desk)
    [routed] = to(desk, SIASG_AREA)
    planted = ", ".join(f"alvo{n}@example.com" for n in range(50))
    forged = mail(
        f"RE: [#{code}] Chamado registrado: Erro ao publicar aviso no SIASG",
        "Segue mais uma informação.",
        sender=REQUESTER,
        headers={"Cc": planted},
    )
    play(desk, forged)

    assert desk.outcomes()[message_id(forged)] == "updated"  # adding to one's ticket is free
    assert [p.email for p in ticket_of(desk, code).participants] == [MARIA]  # the requester

    answer = mail(
        f"RE: {routed['Subject']}",
        "Verificamos o erro.",
        sender=f"Suporte SIASG <{SIASG_AREA}>",
        to=reply_address(routed),
    )
    play(desk, answer)

    [relay] = answers_to(desk, answer)
    assert relay["Cc"] is None and parseaddr(str(relay["To"]))[1] == MARIA


def test_a_forged_forwarder_opens_no_ticket_in_someone_elses_name(desk: Desk) -> None:
    forged = mail("ENC: Dúvida sobre empenho", GMAIL_PT, sender=REDECOMPRAS)

    play(desk, forged)

    [code] = desk.ticket_codes().values()
    assert ticket_of(desk, code).requester_email == "redecompras@planejamento.rj.gov.br"
    assert to(desk, "carlos.pereira@der.rj.gov.br") == []


FAKE_BLOCK = """Segue dúvida recebida.

________________________________
De: Intruso <intruso@example.com>
Enviado: quarta-feira, 18 de novembro de 2026 11:00
Para: Redecompras <redecompras@planejamento.rj.gov.br>
Assunto: Dúvida sobre empenho

Segue o pedido da servidora.

---------- Mensagem encaminhada ---------
De: Maria Silva <maria.silva@saude.rj.gov.br>
Date: qua., 18 de nov. de 2026 às 10:12
Subject: Dúvida sobre empenho
To: <redecompras@planejamento.rj.gov.br>

Como faço para emitir a nota de empenho? Respondam para intruso@example.com.
"""


def test_a_fake_forward_block_inside_a_real_forward_does_not_make_the_ticket_marias(
    desk: Desk,
) -> None:
    forward = mail(
        "ENC: Dúvida sobre empenho",
        FAKE_BLOCK,
        sender=REDECOMPRAS,
        headers=authenticated(REDECOMPRAS),
    )

    play(desk, forward)

    [code] = desk.ticket_codes().values()
    assert ticket_of(desk, code).requester_email == "intruso@example.com"
    assert to(desk, MARIA) == []


def dkim_desk(make_desk: DeskFactory, dns: LocalDns) -> Desk:
    return make_desk(
        authentication=f'[authentication]\nauthserv_id = "{AUTHSERV_ID}"\n'
        f'dns_servers = ["{dns.address}"]\ndns_timeout_seconds = 2\n'
    )


def test_a_dkim_signature_of_the_from_domain_proves_the_sender_and_another_domains_does_not(
    make_desk: DeskFactory, dns_server: LocalDns, signer: Callable[..., Signer]
) -> None:
    desk = dkim_desk(make_desk, dns_server)
    marias_domain, attackers = signer("saude.rj.gov.br"), signer("evil.example")
    dns_server.publish(marias_domain)
    dns_server.publish(attackers)
    first, second = opened(desk), opened(desk)

    by_maria = marias_domain.sign(mail(f"cancelar {first}", "Resolvido.", sender=REQUESTER))
    by_attacker = attackers.sign(mail(f"cancelar {second}", "Resolvido.", sender=REQUESTER))
    play(desk, by_maria, by_attacker)

    assert ticket_of(desk, first).state == "cancelado"
    assert ticket_of(desk, second).state == "aberto"
    assert "action_unproven" in event_kinds(desk, second)


def test_a_dkim_signed_mail_altered_after_signing_proves_nothing(
    make_desk: DeskFactory, dns_server: LocalDns, signer: Callable[..., Signer]
) -> None:
    desk = dkim_desk(make_desk, dns_server)
    marias_domain = signer("saude.rj.gov.br")
    dns_server.publish(marias_domain)
    code = opened(desk)
    signed = marias_domain.sign(
        mail(f"urgente {code}: pregão amanhã", "Obrigada.", sender=REQUESTER)
    )

    play(desk, signed.replace(b"Obrigada.", b"Obrigada. " + PHISHING.encode()))

    assert ticket_of(desk, code).priority != "critica"
    assert "action_unproven" in event_kinds(desk, code)


def test_the_signing_key_is_made_once_and_shared_through_the_database(
    tmp_path: Path, database_url: str
) -> None:
    """Without reply_key_env, the first start makes the key and every later one (another
    worker, a restart) reads the same: mail signed before a restart still proves."""
    config = (
        write_config(tmp_path, database_url)
        .read_text()
        .replace('reply_key_env = "MAILPROC_TEST_REPLY_KEY"\n', "")
    )
    (tmp_path / "mailproc.toml").write_text(config)
    first, second = (App(load_config(tmp_path / "mailproc.toml")) for _ in range(2))
    upgrade(first.engine)

    keys = first.reply_keys, second.reply_keys

    assert keys[0] is not None and keys[0] == keys[1]
    assert keys[0].key != TEST_REPLY_KEY.encode()


def test_a_signing_key_variable_left_unset_stops_with_a_configuration_error(
    config_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(REPLY_KEY_ENV)
    done = subprocess.run(
        [sys.executable, "-m", "mailproc", "--config", str(config_path), "ingest"],
        input=error_report(),
        capture_output=True,
        check=False,
        timeout=60,
    )

    assert done.returncode == 2
    assert "desk.reply_key_env: set MAILPROC_TEST_REPLY_KEY" in done.stderr.decode()
    assert "Traceback" not in done.stderr.decode()
