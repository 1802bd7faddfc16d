"""Delivery against a real SMTP listener and a real Maildir, failures classified."""

from __future__ import annotations

import mailbox
import random
import re
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mailproc.errors import DeliveryError
from mailproc.outgoing.delivery import DATA_PIECE, MaildirSender, Sender, SmtpSender, dot_stuffed
from mailproc.outgoing.replies import RenderedReply, build_email

if TYPE_CHECKING:
    from tests.smtp_fixtures import SmtpTestServer


FROM = "suporte@compras.rj.gov.br"
TO = "maria@saude.rj.gov.br"
CC = "redecompras@planejamento.rj.gov.br"


def _raw(to: str = TO) -> bytes:
    reply = RenderedReply(
        subject="Chamado registrado: erro ao publicar aviso",
        text="Sua solicitação foi registrada.\n",
        html="<p>Sua solicitação foi registrada.</p>\n",
    )
    return build_email(
        reply,
        sender=FROM,
        sender_name="Central de Atendimento",
        to=[to],
        cc=[CC],
        tag="[#2026-000123]",
        in_reply_to="orig-1@saude.rj.gov.br",
        references=["orig-1@saude.rj.gov.br"],
        message_id="reply-1@compras.rj.gov.br",
    )


def _smtp(server: SmtpTestServer, **overrides: object) -> Sender:
    settings: dict[str, object] = {
        "host": server.host, "port": server.port, "tls": "none",
        "user": None, "password": None, "timeout": 5,
    } | overrides  # fmt: skip
    return SmtpSender(**settings)  # type: ignore[arg-type]


def _delivery_error(sender: Sender, raw: bytes, recipients: list[str]) -> DeliveryError:
    with pytest.raises(DeliveryError) as caught:
        sender.send(raw, FROM, recipients)
    return caught.value


def test_delivered_bytes_arrive_intact(smtp_server: SmtpTestServer) -> None:
    raw = _raw()
    _smtp(smtp_server).send(raw, FROM, [TO, CC])
    [received] = smtp_server.messages
    assert (received.sender, received.recipients, received.raw) == (FROM, (TO, CC), raw)


def test_a_4xx_answer_is_temporary_and_the_next_attempt_passes(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.fail_next(451, count=2)
    sender = _smtp(smtp_server)
    for _ in range(2):
        error = _delivery_error(sender, _raw(), [TO])
        assert not error.permanent
        assert "451" in error.reason
    sender.send(_raw(), FROM, [TO])
    assert len(smtp_server.messages) == 1


def test_a_5xx_answer_is_permanent(smtp_server: SmtpTestServer) -> None:
    smtp_server.reject_all(550)
    sender = _smtp(smtp_server)
    for _ in range(2):
        assert _delivery_error(sender, _raw(), [TO]).permanent
    smtp_server.accept_all()
    sender.send(_raw(), FROM, [TO])
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(("code", "permanent"), [(550, True), (450, False)])
def test_all_recipients_refused(smtp_server: SmtpTestServer, code: int, permanent: bool) -> None:
    smtp_server.refuse_recipient(TO, code)
    error = _delivery_error(_smtp(smtp_server), _raw(), [TO])
    assert error.permanent is permanent
    assert TO in error.reason


def test_some_recipients_refused_still_counts_as_sent(
    smtp_server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    smtp_server.refuse_recipient(CC, 550)
    _smtp(smtp_server).send(_raw(), FROM, [TO, CC])
    assert [m.recipients for m in smtp_server.messages] == [(TO,)]
    assert CC in caplog.text


def test_rejected_credentials_are_permanent(smtp_server: SmtpTestServer) -> None:
    smtp_server.set_login("suporte", "senha-certa")
    wrong = _smtp(smtp_server, user="suporte", password="senha-errada")
    error = _delivery_error(wrong, _raw(), [TO])
    assert error.permanent and "535" in error.reason
    _smtp(smtp_server, user="suporte", password="senha-certa").send(_raw(), FROM, [TO])
    assert len(smtp_server.messages) == 1


def test_smtputf8_is_asked_for_only_when_needed(smtp_server: SmtpTestServer) -> None:
    sender = _smtp(smtp_server)
    sender.send(_raw(), FROM, [TO])
    sender.send(_raw(to="joão@prefeitura.rj.gov.br"), FROM, ["joão@prefeitura.rj.gov.br"])
    ascii_mail, utf8_mail = smtp_server.messages
    assert "SMTPUTF8" not in ascii_mail.mail_options
    assert "SMTPUTF8" in utf8_mail.mail_options
    assert utf8_mail.recipients == ("joão@prefeitura.rj.gov.br",)


def _mail_with_dot_lines_at(offsets: list[int]) -> bytes:
    """A mail whose lines opening with "." (".", "..", ".assinatura" in turn) start at
    exactly these byte offsets, the space between filled with short lines."""
    mail = bytearray(b"From: suporte@compras.rj.gov.br\r\nSubject: pontos\r\n\r\n")
    dot_lines = [b".\r\n", b"..\r\n", b".assinatura\r\n"]
    for n, offset in enumerate(offsets):
        while (gap := offset - len(mail)) > 0:
            size = min(gap, 72) - (gap - min(gap, 72) == 1)  # never leave one byte over
            mail += b"a" * (size - 2) + b"\r\n"
        assert len(mail) == offset
        mail += dot_lines[n % len(dot_lines)]
    return bytes(mail + b"fim\r\n")


def test_lines_opening_with_a_dot_arrive_intact(smtp_server: SmtpTestServer) -> None:
    body = [b".", b"..", b"...", b".assinatura", b"texto . no meio", b"."]
    raw = b"Subject: pontos\r\n\r\n" + b"".join(line + b"\r\n" for line in body)
    _smtp(smtp_server).send(raw, FROM, [TO])  # its last line is "." and must not end it

    [received] = smtp_server.messages
    assert received.raw == raw


@pytest.mark.parametrize("shift", [-2, 0, 1, 2])
def test_dot_lines_where_the_data_is_cut_in_pieces_arrive_intact(
    smtp_server: SmtpTestServer, shift: int
) -> None:
    raw = _mail_with_dot_lines_at([DATA_PIECE + shift, 2 * DATA_PIECE + shift + 1000])
    if shift == 0:  # the case this is about: a piece that opens with a dot line
        assert any(bytes(piece[:2]) == b".." for piece in dot_stuffed(raw))

    _smtp(smtp_server).send(raw, FROM, [TO])

    [received] = smtp_server.messages
    assert received.raw == raw


def test_dot_stuffing_in_pieces_follows_the_rule_smtplib_applies() -> None:
    """RFC 5321 4.5.2 as smtplib applies it to bytes: a "." after LF (or at the start) is
    doubled, nothing else changes, a final line end is added if missing, then ".\r\n"."""
    rng = random.Random(5321)
    alphabet = [b".", b"..", b"\r\n", b"\n", b"\r", b"a", b"texto"]
    for _ in range(2000):
        data = b"".join(rng.choices(alphabet, k=rng.randint(0, 30)))
        expected = re.sub(rb"(?m)^\.", b"..", data)
        expected += (b"" if expected.endswith(b"\r\n") else b"\r\n") + b".\r\n"
        for piece in (1, 2, 3, 7, 64):
            assert b"".join(dot_stuffed(data, piece)) == expected, (data, piece)


def test_implicit_tls_against_a_plain_server_is_temporary_and_sends_nothing(
    smtp_server: SmtpTestServer,
) -> None:
    error = _delivery_error(_smtp(smtp_server, tls="ssl"), _raw(), [TO])
    assert not error.permanent
    assert smtp_server.messages == []


def test_starttls_not_offered_is_permanent(smtp_server: SmtpTestServer) -> None:
    error = _delivery_error(_smtp(smtp_server, tls="starttls"), _raw(), [TO])
    assert error.permanent and "STARTTLS" in error.reason
    assert smtp_server.messages == []


def test_an_unknown_tls_mode_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="STARTTLS"):
        SmtpSender("127.0.0.1", 25, "STARTTLS", None, None)  # type: ignore[arg-type]


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def test_a_closed_port_is_temporary(closed_port: int) -> None:
    sender = SmtpSender("127.0.0.1", closed_port, "none", None, None, timeout=5)
    error = _delivery_error(sender, _raw(), [TO])
    assert not error.permanent
    assert "ConnectionRefusedError" in error.reason


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        yield listener.getsockname()[1]


def test_a_silent_server_times_out_as_temporary(silent_port: int) -> None:
    sender = SmtpSender("127.0.0.1", silent_port, "none", None, None, timeout=0.5)
    error = _delivery_error(sender, _raw(), [TO])
    assert not error.permanent
    assert "timed out" in error.reason


def test_maildir_delivery_is_readable_by_mailbox(tmp_path: Path) -> None:
    raw = _raw()
    MaildirSender(tmp_path / "outbox").send(raw, FROM, [TO, CC])

    box = mailbox.Maildir(tmp_path / "outbox", create=False)
    [stored] = list(box)
    assert stored["Subject"] == "[#2026-000123] Chamado registrado: erro ao publicar aviso"
    assert stored["Return-Path"] == f"<{FROM}>"
    assert stored.get_all("Delivered-To") == [TO, CC]
    [key] = box.keys()
    assert box.get_bytes(key).endswith(raw.replace(b"\r\n", b"\n"))


def test_maildir_failure_is_temporary(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    error = _delivery_error(MaildirSender(blocker / "outbox"), _raw(), [TO])
    assert not error.permanent


def test_maildir_refuses_an_envelope_address_with_a_line_break(tmp_path: Path) -> None:
    sender = MaildirSender(tmp_path / "outbox")
    error = _delivery_error(sender, _raw(), [f"{TO}\r\nX-Evil: 1"])
    assert error.permanent
    assert not (tmp_path / "outbox").exists()


def test_a_batch_delivers_each_mail_and_goes_on_after_a_failed_one(
    smtp_server: SmtpTestServer,
) -> None:
    smtp_server.fail_next(451)

    with _smtp(smtp_server).batch() as connection:
        with pytest.raises(DeliveryError) as caught:
            connection.send(_raw(), FROM, [TO])
        connection.send(_raw(), FROM, [TO])
        connection.send(_raw(CC), FROM, [CC])

    assert not caught.value.permanent
    assert [m.recipients for m in smtp_server.messages] == [(TO,), (CC,)]


def test_maildir_batch_is_the_sender_itself(tmp_path: Path) -> None:
    sender = MaildirSender(tmp_path / "outbox")

    with sender.batch() as batch:
        batch.send(_raw(), FROM, [TO])

    assert len(list((tmp_path / "outbox" / "new").iterdir())) == 1


@pytest.mark.parametrize(("code", "permanent"), [(550, True), (450, False)])
def test_a_batch_goes_on_after_every_recipient_was_refused(
    smtp_server: SmtpTestServer, code: int, permanent: bool
) -> None:
    smtp_server.refuse_recipient(TO, code)

    with _smtp(smtp_server).batch() as connection:
        with pytest.raises(DeliveryError) as caught:
            connection.send(_raw(), FROM, [TO])
        connection.send(_raw(CC), FROM, [CC])

    assert caught.value.permanent is permanent and TO in caught.value.reason
    assert [m.recipients for m in smtp_server.messages] == [(CC,)]


def test_a_refused_sender_is_permanent_and_the_batch_goes_on(smtp_server: SmtpTestServer) -> None:
    # aiosmtpd refuses MAIL FROM whose SIZE is over its limit (32 MiB by default).
    too_big = b"From: " + FROM.encode() + b"\r\n\r\n" + (b"a" * 998 + b"\r\n") * 34_000

    with _smtp(smtp_server).batch() as connection:
        with pytest.raises(DeliveryError) as caught:
            connection.send(too_big, FROM, [TO])
        connection.send(_raw(), FROM, [TO])

    assert caught.value.permanent and "552" in caught.value.reason
    assert [m.recipients for m in smtp_server.messages] == [(TO,)]
