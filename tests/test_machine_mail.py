"""Machine mail: every sign that a message must not be answered, and the human look-alikes."""

from __future__ import annotations

import email
from dataclasses import replace
from pathlib import Path

import pytest

from mailproc.mail.machine import (
    bounced_recipients,
    delivery_statuses,
    looks_like_bounce,
    machine_reason,
    machine_verdict,
    returned_message_id,
)
from mailproc.mail.message import Address, Attachment, InboundMessage

FIXTURES = Path(__file__).parent / "fixtures" / "mail"
OURS = ("suporte@compras.example.gov.br", "Nao-Responda@Compras.example.gov.br")
BOUNCE = FIXTURES / "postfix-bounce-resposta.eml"


def _mail(
    headers: dict[str, str] | None = None,
    sender: str | None = "joao.pereira@saude.rj.gov.br",
    subject: str = "Erro ao emitir empenho no SIASG",
    text: str = "Bom dia,\n\nO SIASG mostra um erro ao emitir o empenho.\n\nJoão",
    content_type: str = "text/plain",
) -> InboundMessage:
    return InboundMessage(
        sender=Address(sender, "João Pereira") if sender is not None else None,
        subject=subject,
        text=text,
        content_type=content_type,
        headers={name.lower(): (value,) for name, value in (headers or {}).items()},
    )


def _fixture(name: str) -> InboundMessage:
    parse = pytest.importorskip(
        "mailproc.mail.parse", reason="mailproc.mail.parse is not written yet"
    )
    message: InboundMessage = parse.parse_message((FIXTURES / name).read_bytes())
    return message


def test_a_person_asking_for_help_is_human() -> None:
    assert machine_reason(_mail(), OURS) is None


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("auto-replied", "auto-submitted: auto-replied"),
        ("auto-generated", "auto-submitted: auto-generated"),
        ("Auto-Generated (failure)", "auto-submitted: auto-generated"),
        ("auto-notified; owner-email=x@y", "auto-submitted: auto-notified"),
    ],
)
def test_auto_submitted_other_than_no_is_machine(value: str, reason: str) -> None:
    assert machine_reason(_mail({"Auto-Submitted": value}), OURS) == reason


@pytest.mark.parametrize("value", ["no", "No", " no (a person wrote this)"])
def test_auto_submitted_no_is_human(value: str) -> None:
    assert machine_reason(_mail({"Auto-Submitted": value}), OURS) is None


@pytest.mark.parametrize(
    ("report_type", "reason"),
    [
        ("delivery-status", "delivery status notification"),
        ('"disposition-notification"', "read receipt (disposition notification)"),
        ("x-unknown", "delivery report (multipart/report)"),
    ],
)
def test_a_multipart_report_is_machine(report_type: str, reason: str) -> None:
    header = f"multipart/report; report-type={report_type};\n\tboundary=abc"
    msg = _mail({"Content-Type": header}, content_type="multipart/report")
    assert machine_reason(msg, OURS) == reason


def test_a_report_without_report_type_is_known_by_its_status_part() -> None:
    status = Attachment("anexo-1.txt", "message/delivery-status", None, b"Action: failed")
    msg = replace(_mail({"Content-Type": "multipart/mixed; boundary=x"}), attachments=(status,))
    assert machine_reason(msg, OURS) == "delivery status notification"
    assert looks_like_bounce(msg)


def test_an_ordinary_attachment_is_no_report() -> None:
    pdf = Attachment("oficio.pdf", "application/pdf", "application/pdf", b"%PDF-1.4")
    assert machine_reason(replace(_mail(), attachments=(pdf,)), OURS) is None


def test_an_empty_return_path_is_a_bounce() -> None:
    msg = _mail({"Return-Path": "<>"})
    assert machine_reason(msg, OURS) == "null sender (Return-Path: <>)"
    assert looks_like_bounce(msg)


@pytest.mark.parametrize("sender", [None, "", "  "])
def test_a_missing_sender_alone_does_not_make_a_machine(sender: str | None) -> None:
    # The decision stage quarantines such mail for a person; it is not dropped as machine mail.
    assert machine_reason(_mail(sender=sender), OURS) is None


@pytest.mark.parametrize(
    ("sender", "reason"),
    [
        ("MAILER-DAEMON@mx1.compras.example.gov.br", "sender is mailer-daemon"),
        ("postmaster@saude.rj.gov.br", "sender is postmaster"),
        ("Postmaster@Saude.RJ.gov.br", "sender is postmaster"),
    ],
)
def test_mail_server_senders_are_machine(sender: str, reason: str) -> None:
    assert machine_reason(_mail(sender=sender), OURS) == reason


@pytest.mark.parametrize(
    ("return_path", "reason"),
    [
        ("<MAILER-DAEMON>", "sender is mailer-daemon"),
        ("<postmaster@mx.saude.rj.gov.br>", "sender is postmaster"),
    ],
)
def test_mail_server_envelope_senders_are_machine(return_path: str, reason: str) -> None:
    assert machine_reason(_mail({"Return-Path": return_path}), OURS) == reason


@pytest.mark.parametrize(
    "sender", ["suporte@compras.example.gov.br", "SUPORTE@compras.example.gov.br"]
)
def test_our_own_address_is_machine(sender: str) -> None:
    assert machine_reason(_mail(sender=sender), OURS) == "from our own address"


def test_x_loop_naming_our_address_is_machine() -> None:
    msg = _mail({"X-Loop": "Suporte@Compras.example.gov.br"})
    assert machine_reason(msg, OURS) == "x-loop names our address"


@pytest.mark.parametrize("value", ["FreeBSD.org", "outro.suporte@compras.example.gov.br"])
def test_x_loop_naming_someone_else_is_not_our_loop(value: str) -> None:
    assert machine_reason(_mail({"X-Loop": value}), OURS) is None


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("List-Id", "Compradores RJ <compradores.lists.rj.gov.br>"),
        ("List-Unsubscribe", "<mailto:leave-compradores@lists.rj.gov.br>"),
    ],
)
def test_mailing_lists_are_machine(header: str, value: str) -> None:
    assert machine_reason(_mail({header: value}), OURS) == f"mailing list ({header})"


@pytest.mark.parametrize(
    ("headers", "sender"),
    [
        ({}, "compradores-request@lists.rj.gov.br"),
        ({"Sender": "Lista Compradores <compradores-bounces@lists.rj.gov.br>"}, "ana@x.gov.br"),
        ({"Return-Path": "<owner-compradores@lists.rj.gov.br>"}, "ana@x.gov.br"),
    ],
)
def test_list_server_addresses_are_machine(headers: dict[str, str], sender: str) -> None:
    reason = machine_reason(_mail(headers, sender=sender), OURS)
    assert reason == "mailing list (list server address)"


@pytest.mark.parametrize("sender", ["requests@x.gov.br", "owner@x.gov.br", "ti-admin@x.gov.br"])
def test_addresses_that_merely_resemble_list_servers_are_human(sender: str) -> None:
    assert machine_reason(_mail(sender=sender), OURS) is None


@pytest.mark.parametrize("value", ["bulk", "junk", "list", "auto_reply", "Bulk"])
def test_bulk_precedence_is_machine(value: str) -> None:
    assert machine_reason(_mail({"Precedence": value}), OURS) == f"precedence: {value.lower()}"


@pytest.mark.parametrize("value", ["normal", "first-class", "urgent"])
def test_other_precedence_is_human(value: str) -> None:
    assert machine_reason(_mail({"Precedence": value}), OURS) is None


@pytest.mark.parametrize("header", ["X-Autoreply", "X-Autorespond"])
def test_vacation_program_headers_are_machine(header: str) -> None:
    assert machine_reason(_mail({header: "yes"}), OURS) == f"{header.lower()} header"


@pytest.mark.parametrize("value", ["reply", "Group", "forward", "redirect"])
def test_x_autogenerated_is_machine(value: str) -> None:
    reason = machine_reason(_mail({"X-Autogenerated": value}), OURS)
    assert reason == f"x-autogenerated: {value.lower()}"


def test_an_unknown_x_autogenerated_value_is_human() -> None:
    assert machine_reason(_mail({"X-Autogenerated": "no"}), OURS) is None


@pytest.mark.parametrize(
    ("header", "value"),
    [("X-JIRA-FingerPrint", "978a1eb52201518931e77cb5725717ff"), ("X-RT-Loop-Prevention", "rt")],
)
def test_other_ticket_systems_notifications_are_machine(header: str, value: str) -> None:
    reason = machine_reason(_mail({header: value}), OURS)
    assert reason == f"ticket system notification ({header})"


def test_x_auto_response_suppress_alone_is_human() -> None:
    # Outlook stamps it on ordinary mail; here a person even mentions being away later on.
    text = "Bom dia,\n\n" + "O empenho não é emitido. " * 30 + "\n\nEstarei ausente amanhã."
    msg = _mail({"X-Auto-Response-Suppress": "DR, RN, NRN, OOF, AutoReply"}, text=text)
    assert machine_reason(msg, OURS) is None


@pytest.mark.parametrize(
    "text",
    [
        "Estou fora do escritório até 24/11/2026, com acesso limitado ao e-mail.",
        "Prezados,\n\nEstarei ausente de 10/11 a 24/11. Em caso de urgência, ligue para...",
        "I am out of the office until November 24th.",
    ],
)
def test_x_auto_response_suppress_with_an_absence_notice_is_an_out_of_office(text: str) -> None:
    msg = _mail({"X-Auto-Response-Suppress": "All"}, subject="[#2026-000123] Erro", text=text)
    assert machine_reason(msg, OURS) == (
        "out-of-office (X-Auto-Response-Suppress with an absence notice)"
    )


def test_a_person_saying_they_will_be_away_is_human() -> None:
    text = "Bom dia,\n\nestou fora do escritório amanhã, mas o erro continua.\n\nJoão"
    assert machine_reason(_mail(text=text), OURS) is None


@pytest.mark.parametrize(
    "sender",
    [
        "noreply@gov.br",
        "no-reply@compras.gov.br",
        "no_reply@sistema.rj.gov.br",
        "nao-responda@siafe.rj.gov.br",
        "naoresponda@sei.rj.gov.br",
        "NaoResponder@detran.rj.gov.br",
        "siasg.noreply@serpro.gov.br",
        "do-not-reply@ncs.gov.ng",
        "noreply2@example.com",
    ],
)
def test_no_reply_senders_are_machine(sender: str) -> None:
    assert machine_reason(_mail(sender=sender), OURS) == "no-reply sender"


def test_a_no_reply_envelope_sender_is_machine() -> None:
    # An invoice robot writing From a team address, with a noreply bounce address.
    msg = _mail({"Return-Path": "<noreply@bounce.gate.de>"}, sender="team@support.gate.de")
    assert machine_reason(msg, OURS) == "no-reply sender"


@pytest.mark.parametrize(
    "sender",
    ["bruno.reply@saude.rj.gov.br", "reply@x.gov.br", "norberto@x.gov.br", "nao@x.gov.br"],
)
def test_people_whose_address_merely_resembles_no_reply_are_human(sender: str) -> None:
    assert machine_reason(_mail(sender=sender), OURS) is None


@pytest.mark.parametrize(
    "subject",
    [
        "Resposta automática: [#2026-000123] Erro no SIASG",
        "Ausência temporária",
        "Fora do escritório: Erro no SIASG",
        "Automatic reply: [#2026-000123] Erro no SIASG",
        "Out of Office: Erro no SIASG",
        "Out of the office until 24/11",
    ],
)
def test_out_of_office_subjects_are_machine(subject: str) -> None:
    assert machine_reason(_mail(subject=subject), OURS) == "out-of-office subject"


@pytest.mark.parametrize(
    "subject",
    [
        "Undelivered Mail Returned to Sender",
        "Delivery Status Notification (Failure)",
        "Mail delivery failed: returning message to sender",
        "Não foi possível entregar: [#2026-000123] Erro no SIASG",
        "Returned mail: see transcript for details",
        "Undeliverable: [#2026-000123] Erro no SIASG",
    ],
)
def test_bounce_subjects_are_machine(subject: str) -> None:
    msg = _mail(subject=subject)
    assert machine_reason(msg, OURS) == "delivery failure subject"
    assert looks_like_bounce(msg)


@pytest.mark.parametrize(
    "subject",
    [
        "Dúvida: a resposta automática do SIASG não chega",
        "RE: Resposta automática: [#2026-000123] Erro",  # a person answering an auto-reply
        "Servidor fora do escritório não consegue acessar o SIASG",
        "Returned goods: como registrar devolução no SIASG",
    ],
)
def test_subjects_that_merely_mention_absence_or_failure_are_human(subject: str) -> None:
    assert machine_reason(_mail(subject=subject), OURS) is None


def test_the_first_check_in_the_order_gives_the_reason() -> None:
    msg = _mail({"Precedence": "bulk", "List-Id": "x <x.y>", "Auto-Submitted": "auto-generated"})
    assert machine_reason(msg, OURS) == "auto-submitted: auto-generated"


def test_bounced_recipients_come_from_the_delivery_status() -> None:
    raw = BOUNCE.read_bytes()
    assert bounced_recipients(raw) == {"joao.pereira@saude.rj.gov.br"}
    assert bounced_recipients(email.message_from_bytes(raw)) == {"joao.pereira@saude.rj.gov.br"}


def test_a_bounce_names_the_message_of_ours_that_failed() -> None:
    # Bare, as the outbox stores the Message-IDs of our mail.
    message_id = "20261110143000.4711.0815@compras.example.gov.br"
    assert returned_message_id(BOUNCE.read_bytes()) == message_id


@pytest.mark.parametrize(
    ("kind", "returned"),
    [
        ("message/rfc822", b"From: a@b.c\nMessage-ID: <1@b.c>\n\nOla\n"),
        ("message/rfc822-headers", b"From: a@b.c\nMessage-ID: <1@b.c>\n"),
        ("text/rfc822-headers", b"From: a@b.c\nMessage-ID:\n <1@b.c>\n"),
    ],
)
def test_the_returned_message_is_found_in_each_kind_of_part(kind: str, returned: bytes) -> None:
    report = (
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="b"\n\n'
        b"--b\nContent-Type: text/plain\n\nFalhou.\n"
        b"--b\nContent-Type: " + kind.encode() + b"\n\n" + returned + b"\n--b--\n"
    )
    assert returned_message_id(report) == "1@b.c"


def test_the_delivery_status_gives_each_failed_recipients_status_and_diagnostic() -> None:
    detail = (
        "5.1.1 smtp; 550 5.1.1 <joao.pereira@saude.rj.gov.br>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert delivery_statuses(BOUNCE.read_bytes()) == {"joao.pereira@saude.rj.gov.br": detail}


def test_recipients_only_delayed_have_no_failure_status() -> None:
    delayed = BOUNCE.read_bytes().replace(b"Action: failed", b"Action: delayed")
    assert delivery_statuses(delayed) == {}
    assert bounced_recipients(delayed) == set()


def test_a_message_without_a_returned_part_names_no_message() -> None:
    assert returned_message_id(b"From: a@b.c\r\nSubject: x\r\n\r\nhello\r\n") is None


@pytest.mark.parametrize(
    "raw",
    [
        b"From:\r\nSubject: x\r\n\r\nhello\r\n",  # the scanner's detectors raise on this
        b"\x00\xff garbage without headers",
        b"",
    ],
)
def test_the_bounce_scanner_survives_hostile_input(raw: bytes) -> None:
    assert bounced_recipients(raw) == set()


def test_the_verdict_scans_a_bounce_for_its_recipients() -> None:
    msg = _mail(
        {"Return-Path": "<>", "Auto-Submitted": "auto-replied"},
        sender="MAILER-DAEMON@mx1.compras.example.gov.br",
        subject="Undelivered Mail Returned to Sender",
    )
    verdict = machine_verdict(msg, OURS, BOUNCE.read_bytes())
    assert verdict.reason == "auto-submitted: auto-replied"
    assert verdict.bounced == frozenset({"joao.pereira@saude.rj.gov.br"})


@pytest.mark.parametrize("headers", [{"Precedence": "bulk"}, {}])
def test_the_verdict_does_not_scan_mail_that_shows_no_bounce_sign(
    headers: dict[str, str],
) -> None:
    # The source would yield a recipient: an empty result proves the scanner did not run.
    verdict = machine_verdict(_mail(headers), OURS, BOUNCE.read_bytes())
    assert verdict.bounced == frozenset()
    assert verdict.reason == machine_reason(_mail(headers), OURS)


def test_the_verdict_without_a_source_gives_the_reason_only() -> None:
    verdict = machine_verdict(_mail({"Return-Path": "<>"}), OURS)
    assert (verdict.reason, verdict.bounced) == ("null sender (Return-Path: <>)", frozenset())


def test_an_outlook_out_of_office_file_is_machine() -> None:
    msg = _fixture("outlook-resposta-automatica.eml")
    assert machine_reason(msg, OURS) == "auto-submitted: auto-replied"
    assert not looks_like_bounce(msg, OURS)


def test_a_postfix_bounce_file_is_machine_and_names_the_recipient() -> None:
    msg = _fixture("postfix-bounce-resposta.eml")
    verdict = machine_verdict(msg, OURS, BOUNCE.read_bytes())
    assert verdict.reason == "auto-submitted: auto-replied"
    assert verdict.bounced == frozenset({"joao.pereira@saude.rj.gov.br"})


@pytest.mark.parametrize(
    "name",
    [
        "gmail-resposta.eml",
        "outlook-resposta.eml",  # carries X-Auto-Response-Suppress, as Outlook mail does
        "outlook-encaminhada.eml",
        "gmail-encaminhada-com-print.eml",
        "encaminhada-como-anexo.eml",
    ],
)
def test_people_writing_from_their_clients_are_human(name: str) -> None:
    assert machine_reason(_fixture(name), OURS) is None
