"""The bytes of a built reply: what any mail reader and SMTP server needs of them, whatever
the names, subjects and ids that went in."""

from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage

import pytest

from mailproc.mail.message import Attachment
from mailproc.outgoing.replies import RenderedReply, build_email

REPLY = RenderedReply(subject="Chamado registrado", text="Prezada,\n", html="<p>Prezada,</p>\n")
LONGEST_LINE = 998  # RFC 5322: SMTP servers refuse longer lines


def build(reply: RenderedReply = REPLY, **overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "sender": "suporte@compras.rj.gov.br",
        "sender_name": "Central de Atendimento – Compras.gov.br RJ",
        "to": ["maria@saude.rj.gov.br"],
        "cc": [],
        "tag": "[#2026-000123]",
        "in_reply_to": "orig-1@saude.rj.gov.br",
        "references": ["orig-1@saude.rj.gov.br"],
        "message_id": "reply-1@compras.rj.gov.br",
    }
    return build_email(reply, **(arguments | overrides))  # type: ignore[arg-type]


def parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    assert not [defect for part in message.walk() for defect in part.defects]
    return message


def longest_line(raw: bytes) -> int:
    return max(len(line) for line in raw.split(b"\r\n"))


def test_a_long_accented_subject_reads_back_word_for_word_within_short_lines() -> None:
    subject = "Chamado aguardando informações: " + "ação urgente na publicação " * 8
    raw = build(RenderedReply(subject=subject, text="t\n", html="h\n"))

    assert raw.isascii()
    assert longest_line(raw) <= 78
    assert parse(raw)["Subject"] == f"[#2026-000123] {' '.join(subject.split())}"


@pytest.mark.parametrize(
    "name", ["Central de Atendimento – Compras.gov.br RJ", "Núcleo “Compras”", 'Suporte "RJ" \\ 2']
)
def test_the_senders_display_name_reads_back_as_given(name: str) -> None:
    sender = parse(build(sender_name=name))["From"].addresses[0]

    assert (sender.display_name, sender.addr_spec) == (name, "suporte@compras.rj.gov.br")


def test_an_overlong_id_from_a_hostile_mail_keeps_every_line_deliverable() -> None:
    hostile = "x" * 3000 + "@orgao.rj.gov.br"
    raw = build(in_reply_to=hostile, references=[hostile, "orig-1@saude.rj.gov.br"])

    assert longest_line(raw) <= LONGEST_LINE
    assert parse(raw)["References"].endswith("<orig-1@saude.rj.gov.br>")


def test_a_long_accented_file_name_arrives_whole() -> None:
    name = "relatório de ocorrências do pregão eletrônico nº 12-2026 – versão final.pdf"
    raw = build(attachments=[Attachment(name, "application/pdf", "application/pdf", b"%PDF")])

    [part] = parse(raw).iter_attachments()
    assert (part.get_filename(), part.get_content()) == (name, b"%PDF")
    assert longest_line(raw) <= 78


@pytest.mark.parametrize(
    "overrides",
    [
        {"sender_name": "Central\r\nBcc: vitima@example.org"},
        {"to": ["maria@saude.rj.gov.br\r\nBcc: vitima@example.org"]},
        {"references": ["orig@x\nX-Evil: 1"]},
        {"in_reply_to": "orig@x\rX-Evil: 1"},
        {"message_id": "id@x\nBcc: vitima@example.org"},
    ],
)
def test_a_line_break_in_a_header_value_is_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="line break"):
        build(REPLY, **overrides)


@pytest.mark.parametrize("address", ["maria", "@saude.rj.gov.br", "maria a@x.br", "a@b>, c@d.br"])
def test_an_address_that_is_not_one_is_refused(address: str) -> None:
    with pytest.raises(ValueError, match="not an e-mail address"):
        build(to=[address])


def test_a_declared_type_that_is_no_mime_type_travels_as_bytes() -> None:
    files = [Attachment("a.bin", 'image/png"; name="x.exe', None, b"\x00")]

    [part] = parse(build(attachments=files)).iter_attachments()

    assert part.get_content_type() == "application/octet-stream"
    assert part.get_content() == b"\x00"
