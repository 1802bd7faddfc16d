"""The parse stage: what parse_message makes of good, broken and hostile mail."""

from __future__ import annotations

import base64
import binascii
import struct
import unicodedata
import zlib
from datetime import UTC, timedelta
from email.message import EmailMessage

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mailproc.mail.charsets import decode_bytes, decode_encoded_words
from mailproc.mail.forwards import parse_sender
from mailproc.mail.message import Address
from mailproc.mail.parse import MAX_ATTACHMENTS, MAX_PARTS, Limits, parse_message
from mailproc.mail.safe_names import (
    MAX_NAME_LENGTH,
    SUSPECT_MARK,
    generated_filename,
    safe_filename,
    safe_text,
    unique_names,
)

PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"


def tiny_png() -> bytes:
    """A valid 1x1 PNG: signature, IHDR, one compressed scanline, IEND."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + checksum

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    scanline = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", scanline)
        + chunk(b"IEND", b"")
    )


PNG = tiny_png()


def servidor_mail(subject: str = "Erro no SIASG", sender: str = "") -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender or "Maria Silva <maria.silva@saude.rj.gov.br>"
    message["To"] = "suporte@compras.example.gov.br"
    message["Subject"] = subject
    message["Message-ID"] = "<erro-1@saude.rj.gov.br>"
    message["Date"] = "Mon, 02 Mar 2026 10:00:00 -0300"
    return message


def raw_mail(header: str, body: bytes = b"Corpo.\r\n") -> bytes:
    """Literal bytes: a From line, the given header lines (\\n-separated), a blank line, body."""
    lines = ["From: maria.silva@saude.rj.gov.br", *header.strip("\n").split("\n")]
    return "\r\n".join(lines).encode("utf-8") + b"\r\n\r\n" + body


def multipart(*parts: bytes, subtype: str = "mixed", boundary: str = "fronteira") -> bytes:
    """A multipart body; each part is its own header lines + blank line + content."""
    body = b"".join(b"--" + boundary.encode() + b"\r\n" + part + b"\r\n" for part in parts)
    return raw_mail(
        f'Content-Type: multipart/{subtype}; boundary="{boundary}"',
        body + b"--" + boundary.encode() + b"--\r\n",
    )


def pdf_part(disposition: str) -> bytes:
    return (
        f"Content-Type: application/pdf\r\nContent-Disposition: {disposition}\r\n\r\n".encode()
        + PDF
    )


# --- subject and headers -------------------------------------------------------------------


def test_subject_in_rfc2047_is_decoded() -> None:
    raw = raw_mail("Subject: =?utf-8?q?Reativa=C3=A7=C3=A3o_de_UASG?=")
    assert parse_message(raw).subject == "Reativação de UASG"


@pytest.mark.parametrize("encoding", ["latin-1", "utf-8"])
def test_subject_sent_as_raw_8bit_is_decoded(encoding: str) -> None:
    raw = raw_mail("X: y").replace(
        b"X: y", b"Subject: " + "Informações sobre melhorias no SIASG".encode(encoding)
    )
    assert parse_message(raw).subject == "Informações sobre melhorias no SIASG"


def test_subject_loses_folding_white_space_and_line_breaks() -> None:
    raw = raw_mail("Subject: Erro no\n\t  =?utf-8?q?m=C3=B3dulo?=\n =?utf-8?q?_de_compras?=")
    assert parse_message(raw).subject == "Erro no módulo de compras"


def test_message_ids_lose_brackets_and_white_space_and_references_keep_order() -> None:
    raw = raw_mail(
        "Message-ID: < resposta.7@rj.gov.br >\n"
        "In-Reply-To: <erro-1@saude.rj.gov.br> (mensagem de Maria)\n"
        "References: <primeira@rj.gov.br>\n <segunda\n @rj.gov.br>,<erro-1@saude.rj.gov.br>"
    )
    message = parse_message(raw)
    assert message.message_id == "resposta.7@rj.gov.br"
    assert message.in_reply_to == "erro-1@saude.rj.gov.br"
    assert message.references == (
        "primeira@rj.gov.br",
        "segunda@rj.gov.br",
        "erro-1@saude.rj.gov.br",
    )


def test_date_is_timezone_aware() -> None:
    aware = parse_message(raw_mail("Date: Mon, 2 Mar 2026 10:00:00 -0300")).date
    unknown_zone = parse_message(raw_mail("Date: Mon, 2 Mar 2026 10:00:00 -0000")).date
    assert aware is not None and aware.utcoffset() == timedelta(hours=-3)
    assert unknown_zone is not None and unknown_zone.tzinfo == UTC


def test_unreadable_date_is_none_with_a_defect() -> None:
    message = parse_message(raw_mail("Date: ontem à tarde"))
    assert message.date is None
    assert any("Date" in defect for defect in message.defects)


def test_addresses_are_lower_cased_with_decoded_names() -> None:
    raw = raw_mail(
        "To: Suporte <Suporte@Compras.example.gov.br>, =?utf-8?q?Jo=C3=A3o?= <joao@rj.gov.br>\n"
        'Cc: chefia@rj.gov.br\nReply-To: "Silva, Maria" <Maria.Silva@saude.rj.gov.br>'
    ).replace(b"maria.silva@saude", b"=?iso-8859-1?q?Jos=E9?= <Jose@saude")
    message = parse_message(raw)
    assert message.sender is not None
    assert (message.sender.email, message.sender.name) == ("jose@saude.rj.gov.br", "José")
    assert [(a.email, a.name) for a in message.to] == [
        ("suporte@compras.example.gov.br", "Suporte"),
        ("joao@rj.gov.br", "João"),
    ]
    assert [a.email for a in message.cc] == ["chefia@rj.gov.br"]
    assert [(a.email, a.name) for a in message.reply_to] == [
        ("maria.silva@saude.rj.gov.br", "Silva, Maria")
    ]


def test_the_sender_is_the_one_author_in_from_never_sender_or_return_path() -> None:
    no_from = raw_mail("Sender: Secretaria <sec@rj.gov.br>").replace(b"From: ", b"X-Old-From: ")
    only_return_path = raw_mail("Return-Path: <bounce@rj.gov.br>").replace(b"From:", b"X-From:")
    two_fields = raw_mail("From: Chefia <chefia@rj.gov.br>")
    two_in_one = raw_mail("Subject: x").replace(b"From: ", b"From: chefia@rj.gov.br, ", 1)

    assert parse_message(no_from).sender is None
    assert parse_message(only_return_path).sender is None
    for several in (two_fields, two_in_one):
        message = parse_message(several)
        assert message.sender is None
        assert "2 addresses in From" in message.defects


def test_unusable_address_entries_become_defects_and_the_rest_is_kept() -> None:
    message = parse_message(raw_mail("To: Destinatarios, a:b:;;, chefia@rj.gov.br"))
    assert [a.email for a in message.to] == ["chefia@rj.gov.br"]
    assert any("to" in defect for defect in message.defects)


@pytest.mark.parametrize(
    "from_field",
    [
        "alice@example.com <bob@example.com>",
        '"alice@example.com" <bob@example.com>',
        "=?utf-8?q?alice=40example=2Ecom?= <bob@example.com>",
        "Alice alice@example.com (diretoria) <bob@example.com>",
    ],
)
def test_the_sender_is_the_address_in_angle_brackets_never_the_display_name(
    from_field: str,
) -> None:
    message = parse_message(raw_mail("X: y").replace(b"maria.silva@saude.rj.gov.br", b"x"))
    message = parse_message(
        raw_mail("").replace(b"maria.silva@saude.rj.gov.br", from_field.encode())
    )
    assert message.sender == Address("bob@example.com", "")
    assert any("shows another address" in defect for defect in message.defects)


def test_every_address_field_resists_display_name_spoofing() -> None:
    raw = raw_mail(
        "Cc: eve@example.com <frank@example.com>\nReply-To: henry@example.com <ivan@example.com>"
    )
    message = parse_message(raw)
    assert [a.email for a in message.cc] == ["frank@example.com"]
    assert [a.email for a in message.reply_to] == ["ivan@example.com"]


def test_a_name_showing_the_senders_own_address_is_kept() -> None:
    raw = raw_mail("").replace(
        b"maria.silva@saude.rj.gov.br",
        b"'maria.silva@saude.rj.gov.br' <maria.silva@saude.rj.gov.br>",
    )
    message = parse_message(raw)
    assert message.sender == Address("maria.silva@saude.rj.gov.br", "'maria.silva@saude.rj.gov.br'")


def test_quotes_inside_a_display_name_are_left_alone() -> None:
    # The comma and the "<" belong to the quoted name: the address is still the bracketed one.
    raw = raw_mail("").replace(
        b"maria.silva@saude.rj.gov.br", b'"Silva, M. <x@y.com> alice@z.com" <maria@rj.gov.br>'
    )
    assert parse_message(raw).sender == Address("maria@rj.gov.br", "")


@given(
    st.text(
        alphabet=st.characters(
            blacklist_characters=',;:"<>()\\', blacklist_categories=("Cs", "Cc")
        ),
        max_size=40,
    )
)
def test_no_unquoted_display_name_can_replace_the_bracketed_sender(name: str) -> None:
    field = f"{name} <bob@example.com>".encode()
    message = parse_message(b"From: " + field + b"\r\nSubject: x\r\n\r\nCorpo.\r\n")
    assert message.sender is not None
    assert message.sender.email == "bob@example.com"


@pytest.mark.parametrize(
    ("from_field", "expected"),
    [
        ('<"#FAX#*49000783135#"@otobo.fax>', "#fax#*49000783135#@otobo.fax"),
        ('"finances8@loans.example.com"', "finances8@loans.example.com"),
    ],
)
def test_addresses_never_keep_quotes(from_field: str, expected: str) -> None:
    raw = raw_mail("").replace(b"maria.silva@saude.rj.gov.br", from_field.encode())
    message = parse_message(raw)
    assert message.sender is not None and message.sender.email == expected


def test_an_address_that_needs_quotes_is_unusable_and_no_fragment_of_it_is_taken() -> None:
    # zammad mail071: the stdlib would quote the local part; "system@example.com" is no one.
    raw = raw_mail("").replace(
        b"maria.silva@saude.rj.gov.br", b'"your secret past" <power quadrant system@example.com>'
    )
    message = parse_message(raw)
    assert message.sender is None
    assert any("unusable address in from" in defect for defect in message.defects)


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ('"alice@example.com" <bob@example.com>', Address("bob@example.com", "")),
        ("alice@example.com [mailto:bob@example.com]", Address("bob@example.com", "")),
    ],
)
def test_a_forwarded_de_line_also_takes_the_bracketed_address(line: str, expected: Address) -> None:
    assert parse_sender(line) == expected


def test_headers_keep_every_value_decoded() -> None:
    raw = raw_mail("Received: from a\nReceived: from b\nX-Setor: =?utf-8?q?Licita=C3=A7=C3=B5es?=")
    headers = parse_message(raw).headers
    assert headers["received"] == ("from a", "from b")
    assert headers["x-setor"] == ("Licitações",)


def test_headers_are_capped_but_late_fields_are_still_read() -> None:
    filler = "\n".join(f"X-Filler-{n}: {n}" for n in range(250))
    raw = raw_mail(f"{filler}\nX-Long: {'a' * 10_000}\nSubject: Depois do limite")
    message = parse_message(raw)
    assert sum(len(values) for values in message.headers.values()) == 200
    assert message.subject == "Depois do limite"
    assert any("beyond the first 200" in defect for defect in message.defects)
    long_raw = raw_mail(f"X-Long: {'a' * 10_000}")
    assert len(parse_message(long_raw).headers["x-long"][0]) == 8 * 1024


# --- body text and charsets ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("charset", "text"),
    [
        ("iso-8859-1", "Solicito a manutenção do cadastro."),
        ("windows-1252", "“Informações” sobre melhorias – SIASG"),
    ],
)
def test_body_in_a_declared_8bit_charset_is_decoded(charset: str, text: str) -> None:
    message = servidor_mail()
    message.set_content(text, charset=charset)
    assert parse_message(bytes(message)).text.strip() == text


def test_body_without_charset_in_cp1252_is_read_as_cp1252() -> None:
    raw = raw_mail(
        "Content-Type: text/plain\nContent-Transfer-Encoding: 8bit",
        "Solicito manutenção – “urgente”\r\n".encode("cp1252"),
    )
    assert parse_message(raw).text == "Solicito manutenção – “urgente”\n"


@pytest.mark.parametrize("charset", ["x-unknown", "unknown-8bit", "unicode_escape"])
def test_unknown_charset_falls_back_without_crashing(charset: str) -> None:
    raw = raw_mail(
        f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit",
        "Informações \\x41\r\n".encode(),
    )
    message = parse_message(raw)
    assert message.text == "Informações \\x41\n"
    assert any(charset in defect for defect in message.defects)


def test_7bit_iso_2022_jp_body_is_decoded() -> None:
    raw = raw_mail(
        "Content-Type: text/plain; charset=iso-2022-jp\nContent-Transfer-Encoding: 7bit",
        "お問い合わせ番号\r\n".encode("iso2022_jp"),
    )
    assert parse_message(raw).text == "お問い合わせ番号\n"


def test_plain_text_is_preferred_and_html_is_kept() -> None:
    message = servidor_mail()
    message.set_content("Texto simples.")
    message.add_alternative("<p><b>Texto</b> em HTML.</p>", subtype="html")
    parsed = parse_message(bytes(message))
    assert parsed.text.strip() == "Texto simples."
    assert parsed.html is not None and "<b>Texto</b>" in parsed.html


def test_html_only_body_becomes_text_keeping_its_lines() -> None:
    message = servidor_mail()
    message.set_content("<p>Prezados,</p><p>O SIASG apresenta erro.</p>", subtype="html")
    parsed = parse_message(bytes(message))
    lines = [line.strip() for line in parsed.text.splitlines() if line.strip()]
    assert lines == ["Prezados,", "O SIASG apresenta erro."]
    assert parsed.html is not None and "<p>Prezados,</p>" in parsed.html


def test_text_parts_around_an_inline_image_are_all_kept() -> None:
    raw = multipart(
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nPrimeira parte.",
        b"Content-Type: image/png\r\nContent-Disposition: inline; filename=tela.png\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\n" + base64.b64encode(PNG),
        b"Content-Type: text/plain; charset=utf-8\r\n\r\nSegunda parte.",
    )
    message = parse_message(raw)
    assert message.text.index("Primeira parte.") < message.text.index("Segunda parte.")
    assert [a.filename for a in message.attachments] == ["tela.png"]


def test_uuencoded_file_in_the_text_becomes_an_attachment() -> None:
    lines = [binascii.b2a_uu(PNG[i : i + 45]).decode() for i in range(0, len(PNG), 45)]
    body = "Segue a tela.\r\nbegin 644 tela.png\r\n" + "".join(lines) + "`\r\nend\r\nAtt.\r\n"
    message = parse_message(raw_mail("Content-Type: text/plain", body.encode()))
    assert [(a.filename, a.detected_type, a.data) for a in message.attachments] == [
        ("tela.png", "image/png", PNG)
    ]
    assert message.text == "Segue a tela.\nAtt.\n"


# --- attachments ---------------------------------------------------------------------------


def test_inline_image_referenced_by_cid_is_an_inline_attachment() -> None:
    message = servidor_mail()
    message.set_content('<p>Veja a tela:</p><img src="cid:tela1@rj.gov.br">', subtype="html")
    message.add_related(PNG, maintype="image", subtype="png", cid="<tela1@rj.gov.br>")
    [image] = parse_message(bytes(message)).attachments
    assert (image.filename, image.inline, image.detected_type, image.data) == (
        "anexo-1.png",
        True,
        "image/png",
        PNG,
    )


def test_image_pasted_as_data_uri_is_an_inline_attachment() -> None:
    pasted = base64.b64encode(PNG).decode()
    message = servidor_mail()
    message.set_content(f'<p>Erro:</p><img src="data:image/png;base64,{pasted}">', subtype="html")
    [image] = parse_message(bytes(message)).attachments
    assert (image.filename, image.inline, image.detected_type, image.declared_type) == (
        "imagem-colada-1.png",
        True,
        "image/png",
        "image/png",
    )
    assert image.data == PNG


def test_detected_type_comes_from_the_bytes_not_the_name_or_header() -> None:
    message = servidor_mail()
    message.set_content("Segue o print.")
    message.add_attachment(PDF, maintype="image", subtype="png", filename="screenshot.png")
    [attachment] = parse_message(bytes(message)).attachments
    assert attachment.filename == "screenshot.png"
    assert attachment.declared_type == "image/png"
    assert attachment.detected_type == "application/pdf"


def test_unnamed_files_get_numbered_names_from_their_detected_type() -> None:
    unnamed = b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nTres anexos sem nome.",
        unnamed + base64.b64encode(PDF),
        unnamed + base64.b64encode(PNG),
        unnamed + base64.b64encode(b"\x01\x02\x03 dados"),
    )
    names = [a.filename for a in parse_message(raw).attachments]
    assert names == ["anexo-1.pdf", "anexo-2.png", "anexo-3.bin"]


def test_attached_message_is_parsed_apart_from_the_outer_one() -> None:
    original = servidor_mail("Erro ao publicar pregão", "João <joao@educacao.rj.gov.br>")
    original.set_content("Texto do servidor original.")
    original.add_attachment(PDF, maintype="application", subtype="pdf", filename="erro.pdf")
    forwarding = servidor_mail("Fwd: Erro ao publicar pregão", "redecompras@planejamento.rj.gov.br")
    forwarding.set_content("Encaminho a mensagem abaixo.")
    forwarding.add_attachment(original)

    message = parse_message(bytes(forwarding))

    assert message.attachments == ()
    assert "Texto do servidor original" not in message.text
    [inner] = message.forwarded
    assert inner.sender is not None and inner.sender.email == "joao@educacao.rj.gov.br"
    assert inner.subject == "Erro ao publicar pregão"
    assert [(a.filename, a.detected_type) for a in inner.attachments] == [
        ("erro.pdf", "application/pdf")
    ]


def test_rfc2231_continuations_and_rfc2047_names_are_decoded() -> None:
    raw = multipart(
        b"Content-Type: application/pdf\r\nContent-Disposition: attachment;\r\n"
        b" filename*0*=utf-8''Relat%C3%B3rio%20de;\r\n filename*1*=%20erro.pdf\r\n\r\n" + PDF,
        b'Content-Type: application/pdf;\r\n name="=?utf-8?B?'
        + base64.b64encode("Ofício nº 12.pdf".encode())
        + b'?="\r\n\r\n'
        + PDF,
    )
    names = [a.filename for a in parse_message(raw).attachments]
    # NFKC (safe_filename) writes the ordinal indicator "º" as the "o" it is.
    assert names == ["Relatório de erro.pdf", "Ofício no 12.pdf"]


@pytest.mark.parametrize(
    ("parameter", "expected"),
    [
        ('filename="../../etc/passwd"', "passwd"),
        ("filename*=utf-8''a%E2%80%AEgnp.exe", "agnp.exe"),
        ("filename*=utf-8''rela%00torio.pdf", "rela torio.pdf"),
        ('filename="..\\\\..\\\\boot.ini"', "boot.ini"),
        ('filename=".bashrc"', "bashrc"),
        ('filename="..."', "anexo-1.pdf"),
    ],
)
def test_hostile_file_names_are_made_safe(parameter: str, expected: str) -> None:
    raw = multipart(pdf_part(f"attachment; {parameter}"))
    assert [a.filename for a in parse_message(raw).attachments] == [expected]


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("relatório: março?.pdf", "relatório_ março_.pdf"),
        ('a*b"c<d>e|f.png', "a_b_c_d_e_f.png"),
        ("nota.pdf:zone.identifier", "nota.pdf_zone.identifier"),
        ("CON", "_CON"),
        ("nul.txt", "_nul.txt"),
        ("Com1.tar.gz", "_Com1.tar.gz"),
        ("LPT9 .log", "_LPT9 .log"),
        ("console.txt", "console.txt"),
        ("oficio.pdf. . ", "oficio.pdf"),
    ],
)
def test_file_names_are_safe_on_windows(name: str, expected: str) -> None:
    assert safe_filename(name) == expected


def test_repeated_file_names_in_one_message_are_numbered() -> None:
    message = servidor_mail()
    message.set_content("Três prints.")
    for name in ("print.png", "Print.png", "print.png", "outro.png"):
        message.add_attachment(PNG, maintype="image", subtype="png", filename=name)
    names = [a.filename for a in parse_message(bytes(message)).attachments]
    assert names == ["print.png", "Print-2.png", "print-3.png", "outro.png"]


def test_numbered_names_stay_unique_and_within_the_length_limit() -> None:
    long = "x" * MAX_NAME_LENGTH
    names = unique_names(["a.pdf", "a.pdf", "a-2.pdf", "README", "README", long, long])
    assert names[:5] == ["a.pdf", "a-2.pdf", "a-2-2.pdf", "README", "README-2"]
    assert len(names[6]) == MAX_NAME_LENGTH and names[6].endswith("-2")
    assert len({name.casefold() for name in names}) == len(names)


def test_very_long_file_name_is_cut_keeping_its_extension() -> None:
    raw = multipart(pdf_part(f'attachment; filename="{"x" * 500}.pdf"'))
    [attachment] = parse_message(raw).attachments
    assert len(attachment.filename) == MAX_NAME_LENGTH
    assert attachment.filename.endswith("x.pdf")


def test_safe_filename_normalises_to_nfkc_and_strips_controls() -> None:
    decomposed = unicodedata.normalize("NFD", "Declaração\u2066\t final.pdf")
    assert safe_filename(decomposed) == "Declaração final.pdf"
    assert safe_filename("\u202e\u200f") == ""
    assert generated_filename(3, "") == "anexo-3.bin"


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        # compatibility forms become what they show, then are judged as such
        ("\uff45\uff58\uff45", "exe"),
        ("COM\u00b9.txt", "_COM1.txt"),
        ("..\uff0f..\uff0fetc\uff0fpasswd", "passwd"),
        ("\U0001d41b\U0001d428\U0001d425\U0001d41e\U0001d42d\U0001d428.pdf", "boleto.pdf"),
        # invisible: format characters and default-ignorable code points
        ("bo\u200bleto\u2060\ufeff\u00ad.pdf", "boleto.pdf"),
        ("nota\u3164\u115f\ufe0f\U000e0041.pdf", "nota.pdf"),
        ("o\u200b\u0301.pdf", "ó.pdf"),  # the accent meets its letter once the space is gone
        # a word in two scripts is marked, once; one script per word is not
        ("b\u043eleto.pdf", f"{SUSPECT_MARK}b\u043eleto.pdf"),
        (f"{SUSPECT_MARK}b\u043eleto.pdf", f"{SUSPECT_MARK}b\u043eleto.pdf"),
        ("\u0440ayment.pdf", f"{SUSPECT_MARK}\u0440ayment.pdf"),
        ("\u03b1lpha.txt", f"{SUSPECT_MARK}\u03b1lpha.txt"),
        ("Отчет final.pdf", "Отчет final.pdf"),
        ("東京タワー.jpg", "東京タワー.jpg"),
        ("relatório 2ª via.pdf", "relatório 2a via.pdf"),
    ],
)
def test_file_names_show_what_they_are(name: str, expected: str) -> None:
    assert safe_filename(name) == expected
    assert safe_filename(expected) == expected


def test_a_marked_name_keeps_its_extension_within_the_length_limit() -> None:
    name = safe_filename("b\u043eleto " + "x" * 300 + ".pdf")
    assert name.startswith(SUSPECT_MARK) and name.endswith("x.pdf")
    assert len(name) == MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Erro\x00 no\x1b[2J SIASG\x07", "Erro no [2J SIASG"),
        ("a\tb\r\nc\x85d\x9be", "a b c d e"),
        ("\u202eexe.pdf\u2066 x\u061c", "exe.pdf x"),
        ("  Reativação  de UASG ", "Reativação de UASG"),
    ],
)
def test_subjects_and_names_lose_controls_and_bidi_characters(text: str, expected: str) -> None:
    assert safe_text(text) == expected


# --- broken and hostile structure ----------------------------------------------------------


def nested_multiparts(levels: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nNo fundo."
    for level in range(levels):
        boundary = f"nivel{level}".encode()
        body = (
            b'Content-Type: multipart/mixed; boundary="'
            + boundary
            + b'"\r\n\r\n--'
            + boundary
            + b"\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: a@rj.gov.br\r\nSubject: fundo\r\n" + body


def test_nesting_deeper_than_ten_levels_stops_with_a_defect() -> None:
    message = parse_message(nested_multiparts(15))
    assert message.fatal is None and message.subject == "fundo"
    assert "No fundo." not in message.text
    assert any("nesting deeper than 10" in defect for defect in message.defects)


def test_nesting_too_deep_for_the_stdlib_parser_is_fatal_not_an_exception() -> None:
    assert (
        parse_message(nested_multiparts(1200)).fatal == "MIME structure nested too deeply to parse"
    )


def test_more_than_500_parts_stops_with_a_defect() -> None:
    part = b"Content-Type: application/octet-stream\r\n\r\ndados"
    message = parse_message(multipart(*[part] * 600))
    assert 0 < len(message.attachments) < MAX_PARTS
    assert any("more than 500 MIME parts" in defect for defect in message.defects)


def test_more_than_100_attachments_keeps_the_first_100_with_a_defect() -> None:
    part = b"Content-Type: application/octet-stream\r\nContent-Disposition: attachment\r\n\r\nd"
    message = parse_message(multipart(*[part] * (MAX_ATTACHMENTS + 20)))
    assert message.fatal is None
    assert len(message.attachments) == MAX_ATTACHMENTS
    assert any("more than 100 attachments" in defect for defect in message.defects)


def test_the_attachment_count_is_shared_with_attached_messages() -> None:
    original = servidor_mail("Original")
    original.set_content("Texto.")
    for number in range(3):
        original.add_attachment(
            PDF, maintype="application", subtype="pdf", filename=f"{number}.pdf"
        )
    forwarding = servidor_mail("Fwd: Original")
    forwarding.set_content("Segue.")
    forwarding.add_attachment(PDF, maintype="application", subtype="pdf", filename="fora.pdf")
    forwarding.add_attachment(original)
    message = parse_message(bytes(forwarding), Limits(attachments=3))
    assert [a.filename for a in message.attachments] == ["fora.pdf"]
    assert [a.filename for a in message.forwarded[0].attachments] == ["0.pdf", "1.pdf"]
    assert any("more than 3 attachments" in d for d in message.forwarded[0].defects)


def test_attachments_over_the_total_size_are_skipped_with_a_defect() -> None:
    message = servidor_mail()
    message.set_content("Anexos grandes.")
    for name, size in (("a.bin", 600), ("b.bin", 600), ("c.bin", 300)):
        message.add_attachment(
            bytes(size), maintype="application", subtype="octet-stream", filename=name
        )
    parsed = parse_message(bytes(message), Limits(attachment_bytes=1000))
    # b.bin would pass the limit; the smaller c.bin still fits after it.
    assert [a.filename for a in parsed.attachments] == ["a.bin", "c.bin"]
    assert any("a file of 600 bytes skipped" in defect for defect in parsed.defects)


def test_uuencoded_and_pasted_files_count_against_the_attachment_limits() -> None:
    pasted = base64.b64encode(PNG).decode()
    message = servidor_mail()
    message.set_content(f'<img src="data:image/png;base64,{pasted}">' * 3, subtype="html")
    parsed = parse_message(bytes(message), Limits(attachments=2))
    assert len(parsed.attachments) == 2
    assert any("more than 2 attachments" in defect for defect in parsed.defects)


def test_attached_messages_nested_deeper_than_three_levels_are_skipped() -> None:
    innermost = servidor_mail("nível 5")
    innermost.set_content("O mais fundo.")
    for level in range(4, 0, -1):
        wrapper = servidor_mail(f"nível {level}")
        wrapper.set_content("Encaminhando.")
        wrapper.add_attachment(innermost)
        innermost = wrapper
    message = parse_message(bytes(innermost))
    chain = [message]
    while chain[-1].forwarded:
        chain.append(chain[-1].forwarded[0])
    assert [m.subject for m in chain] == ["nível 1", "nível 2", "nível 3", "nível 4"]
    assert any("nested deeper than 3" in defect for defect in chain[-1].defects)


def test_multipart_with_a_wrong_boundary_is_recovered() -> None:
    raw = raw_mail(
        'Content-Type: multipart/alternative; boundary="anunciada"',
        b"--real\r\nContent-Type: text/plain\r\n\r\nTexto recuperado.\r\n--real--\r\n",
    )
    message = parse_message(raw)
    assert message.text.strip() == "Texto recuperado."
    assert any("boundary" in defect for defect in message.defects)


def test_a_file_after_a_nested_multipart_that_reused_the_boundary_is_kept() -> None:
    # Outlook Express for Mac gave the alternative part its parent's boundary: the
    # alternative's closing line closes the parent, and the picture after it is left in the
    # epilogue (CPython's msg_15; mail-parser's mail_malformed_1 hides a zip this way).
    body = (
        b'--mesma\r\nContent-Type: multipart/alternative; boundary="mesma"\r\n\r\n'
        b"--mesma\r\nContent-Type: text/plain\r\n\r\nSegue o print.\r\n"
        b"--mesma\r\nContent-Type: text/html\r\n\r\n<p>Segue o print.</p>\r\n"
        b"--mesma--\r\n\r\n"
        b'--mesma\r\nContent-Type: image/png; name="erro.png"\r\n'
        b"Content-Disposition: attachment\r\nContent-Transfer-Encoding: base64\r\n\r\n"
        + base64.encodebytes(PNG).replace(b"\n", b"\r\n")
        + b"--mesma--\r\n"
    )
    message = parse_message(raw_mail('Content-Type: multipart/mixed; boundary="mesma"', body))
    assert message.text.strip() == "Segue o print."
    assert [(a.filename, a.data) for a in message.attachments] == [("erro.png", PNG)]
    assert any("after its closing boundary" in defect for defect in message.defects)


def test_undecodable_rfc2231_parameter_does_not_sink_the_message() -> None:
    # The stdlib's default policy raises UnicodeDecodeError while splitting these parts.
    raw = multipart(
        b"Content-Type: text/plain\r\n\r\nCorpo.",
        b"Content-Type: text/plain;\r\n name*=iso-2022-jp''%1B%24BJs9p%3Dq%2D%21%1B%28B.txt\r\n"
        b"Content-Disposition: attachment\r\n\r\nconteudo",
    )
    message = parse_message(raw)
    assert message.fatal is None
    assert message.text.strip() == "Corpo."
    assert [a.data for a in message.attachments] == [b"conteudo"]


def test_header_lines_that_lost_their_folding_are_joined_back() -> None:
    raw = raw_mail(
        "X-Spam-Status: No, hits=0.0\ntests=BAYES_00\nSubject: Reativação de UASG",
        b"Corpo.\r\n",
    )
    message = parse_message(raw)
    assert message.subject == "Reativação de UASG"
    assert message.text == "Corpo.\n"


@pytest.mark.parametrize("raw", [b"", b" \r\n\r\n"])
def test_empty_input_is_fatal(raw: bytes) -> None:
    message = parse_message(raw)
    assert message.fatal is not None and "empty" in message.fatal
    assert message.sender is None


def test_outlook_msg_file_is_fatal() -> None:
    ole2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + bytes(504)
    message = parse_message(ole2)
    assert message.fatal is not None and "OLE2" in message.fatal


def test_binary_garbage_without_header_lines_is_fatal() -> None:
    message = parse_message(bytes(range(256)) * 8)
    assert message.fatal == "no header fields: not an e-mail message"


@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    message = parse_message(raw)
    assert message.fatal is not None or message.headers


@given(st.integers(min_value=0), st.binary(min_size=1, max_size=40))
def test_damaged_mail_never_raises(position: int, damage: bytes) -> None:
    message = servidor_mail()
    message.set_content("Texto com acentuação.")
    message.add_attachment(PNG, maintype="image", subtype="png", filename="tela.png")
    raw = bytes(message)
    cut = position % len(raw)
    parsed = parse_message(raw[:cut] + damage + raw[cut + len(damage) :])
    assert all(attachment.filename for attachment in parsed.attachments)


# --- charsets ------------------------------------------------------------------------------


def test_decoding_order_is_declared_then_utf8_then_cp1252_then_latin1() -> None:
    assert decode_bytes("ação".encode(), None).text == "ação"
    assert decode_bytes("“ação”".encode("cp1252"), None).charset == "cp1252"
    assert decode_bytes(b"\x81", None).charset == "latin-1"
    assert decode_bytes("ação".encode("cp1252"), "utf-8").text == "ação"


@pytest.mark.parametrize("declared", [None, "utf-8"])
def test_utf8_with_a_stray_byte_loses_one_character_not_every_accent(declared: str | None) -> None:
    # mail-parser mail_test_6: one bad byte in a Russian UTF-8 body read it all as latin-1.
    data = "Solicitação de manutenção – urgente".encode() + b"\x92 fim"
    decoded = decode_bytes(data, declared)
    assert decoded.text == "Solicitação de manutenção – urgente\ufffd fim"
    assert (decoded.charset, decoded.as_declared) == ("utf-8", False)


def test_cp1252_text_is_not_mistaken_for_broken_utf8() -> None:
    assert decode_bytes("manutenção – “ok”".encode("cp1252"), "utf-8").text == "manutenção – “ok”"


def test_iso_8859_1_label_is_read_as_its_cp1252_superset() -> None:
    assert decode_bytes("“ação”".encode("cp1252"), "iso-8859-1").text == "“ação”"


def test_a_charset_label_holding_a_nul_is_unknown_not_an_error() -> None:
    # Found by tests/test_fuzz.py: codecs.lookup raises ValueError on it, not LookupError.
    assert decode_bytes("ação".encode(), "utf-8\x00") == ("ação", "utf-8", False)
    assert decode_encoded_words("=?utf-8\x00?q?a=C3=A7=C3=A3o?=") == "ação"
    raw = raw_mail('Content-Type: text/plain; charset="utf-8\x00"', "ação\r\n".encode())
    assert parse_message(raw).text == "ação\n"


def test_an_rfc2231_charset_parameter_with_a_nul_is_ignored() -> None:
    # Found by tests/test_fuzz.py: the stdlib's get_content_charset raised ValueError.
    raw = raw_mail("Content-Type: text/plain; charset*=utf-8\x00''utf-8", "olá\r\n".encode())
    message = parse_message(raw)
    assert message.fatal is None and message.text == "olá\n"


def test_an_encoded_word_with_non_ascii_base64_is_left_as_written() -> None:
    # Found by tests/test_fuzz.py: a raw 8-bit byte inside a B word made a2b_base64 raise.
    assert decode_encoded_words("=?utf-8?B?w6fDo2\u00e9?= fim") == "=?utf-8?B?w6fDo2\u00e9?= fim"
    raw = raw_mail("X: y").replace(b"X: y", b"Subject: =?utf-8?B?w6fDo2\xe9?=")
    message = parse_message(raw)
    assert message.fatal is None and message.subject == "=?utf-8?B?w6fDo2é?="


def test_encoded_words_in_one_charset_are_joined_before_decoding() -> None:
    # A two-byte UTF-8 character split across two words.
    assert decode_encoded_words("=?utf-8?q?a=C3?= =?utf-8?q?=A7=C3=A3o?= ok") == "ação ok"


def test_format_flowed_text_is_joined_back_into_the_lines_its_writer_typed() -> None:
    # Thunderbird cuts a long line at about 72 characters, each cut ending in a space.
    raw = (
        b"From: Ana <ana@fazenda.rj.gov.br>\r\nTo: suporte@compras.example.gov.br\r\n"
        b"Subject: Erro ao homologar\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=UTF-8; format=flowed\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
        + 'Ao homologar, o sistema exibe a mensagem "Não foi possível \r\n'
        'homologar: fornecedor com pendência no SICAF".\r\n'
        "\r\n"
        "> Uma citação que \r\n"
        "> continua\r\n"
        "-- \r\n"
        "Ana\r\n".encode()
    )
    message = parse_message(raw)

    assert message.text.splitlines() == [
        'Ao homologar, o sistema exibe a mensagem "Não foi possível homologar: fornecedor com '
        'pendência no SICAF".',
        "",
        "> Uma citação que continua",
        "-- ",
        "Ana",
    ]


def test_delsp_removes_the_space_of_each_soft_break() -> None:
    raw = (
        b"From: Ana <ana@fazenda.rj.gov.br>\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=us-ascii; format=flowed; delsp=yes\r\n\r\n"
        b"Passo a pas \r\nso: entrei\r\n"
    )
    assert parse_message(raw).text.strip() == "Passo a passo: entrei"


def test_unflowing_is_linear() -> None:
    from mailproc.mail.flowed import unflow
    from tests.timing import growth

    ratio = growth(lambda n: unflow("palavra \n" * n), 20_000)
    assert ratio < 8.0, ratio
