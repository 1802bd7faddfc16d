"""SMTP PIPELINING (RFC 2920): the envelope in one write, with sendmail's outcomes."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import pytest

from mailproc.errors import DeliveryError
from mailproc.outgoing.delivery import SmtpSender, _Smtp

if TYPE_CHECKING:
    from tests.smtp_fixtures import SmtpTestServer

FROM = "suporte@compras.rj.gov.br"
TO = "maria@saude.rj.gov.br"
CC = "redecompras@planejamento.rj.gov.br"
BCC = "arquivo@compras.rj.gov.br"


def _mail(*body: bytes) -> bytes:
    lines = [b"From: " + FROM.encode(), b"Subject: pipelining", b"", *body]
    return b"".join(line + b"\r\n" for line in lines)


def _sender(host: str, port: int) -> SmtpSender:
    return SmtpSender(host, port, "none", None, None, timeout=2)


@pytest.fixture
def server(smtp_server: SmtpTestServer, monkeypatch: pytest.MonkeyPatch) -> SmtpTestServer:
    """The tests' aiosmtpd server offering PIPELINING; smtplib's own sendmail (the path
    without it) fails the test if it is used."""

    def not_pipelined(*args: object, **kwargs: object) -> None:
        raise AssertionError("sent without pipelining")

    smtp_server.advertise_pipelining()
    monkeypatch.setattr(_Smtp, "sendmail", not_pipelined)
    return smtp_server


def test_a_mail_to_several_recipients_arrives_once_intact(server: SmtpTestServer) -> None:
    raw = _mail(b"Prezada,", b".", b"..", b".assinatura", b"fim")
    _sender(server.host, server.port).send(raw, FROM, [TO, CC, BCC])

    [received] = server.messages
    assert (received.sender, received.recipients, received.raw) == (FROM, (TO, CC, BCC), raw)
    assert f"SIZE={len(raw)}" in received.mail_options  # as smtplib's sendmail


def test_smtputf8_goes_with_the_pipelined_envelope(server: SmtpTestServer) -> None:
    joao = "joão@prefeitura.rj.gov.br"
    raw = _mail(b"Prezado Jo\xc3\xa3o,")
    _sender(server.host, server.port).send(raw, FROM, [joao])

    [received] = server.messages
    assert (received.recipients, received.raw) == ((joao,), raw)
    assert "SMTPUTF8" in received.mail_options


def test_one_recipient_refused_the_others_get_it_and_it_is_logged(
    server: SmtpTestServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.refuse_recipient(CC, 550)
    _sender(server.host, server.port).send(_mail(b"texto"), FROM, [TO, CC, BCC])

    assert [m.recipients for m in server.messages] == [(TO, BCC)]
    assert CC in caplog.text


@pytest.mark.parametrize(("code", "permanent"), [(550, True), (450, False)])
def test_every_recipient_refused_fails_and_the_next_mail_goes(
    server: SmtpTestServer, code: int, permanent: bool
) -> None:
    server.refuse_recipient(TO, code)
    server.refuse_recipient(CC, code)

    with _sender(server.host, server.port).batch() as connection:
        with pytest.raises(DeliveryError) as caught:
            connection.send(_mail(b"texto"), FROM, [TO, CC])
        connection.send(_mail(b"outro"), FROM, [BCC])

    assert caught.value.permanent is permanent
    assert TO in caught.value.reason and CC in caught.value.reason
    assert [m.recipients for m in server.messages] == [(BCC,)]


def test_a_refused_sender_is_permanent_and_the_next_mail_goes(server: SmtpTestServer) -> None:
    # aiosmtpd refuses MAIL FROM whose SIZE is over its limit (32 MiB by default).
    too_big = _mail(*[b"a" * 998] * 34_000)

    with _sender(server.host, server.port).batch() as connection:
        with pytest.raises(DeliveryError) as caught:
            connection.send(too_big, FROM, [TO])
        connection.send(_mail(b"texto"), FROM, [TO])

    assert caught.value.permanent and "552" in caught.value.reason
    assert [m.recipients for m in server.messages] == [(TO,)]


@pytest.mark.parametrize(("code", "permanent"), [(554, True), (451, False)])
def test_refused_data_fails_and_the_next_mail_goes(
    server: SmtpTestServer, code: int, permanent: bool
) -> None:
    server.fail_next(code)

    with _sender(server.host, server.port).batch() as connection:
        with pytest.raises(DeliveryError) as caught:
            connection.send(_mail(b"texto"), FROM, [TO])
        connection.send(_mail(b"outro"), FROM, [TO])

    assert caught.value.permanent is permanent and str(code) in caught.value.reason
    assert [m.raw for m in server.messages] == [_mail(b"outro")]


# A server on a plain socket, for what aiosmtpd cannot show.


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        sock.settimeout(5)
        yield sock


def _withholding_session(listener: socket.socket, replies: list[bytes]) -> list[bytes]:
    """One SMTP session that offers PIPELINING and answers nothing of the envelope until
    it has all of it, up to DATA: a client waiting for each reply times out. ``replies``
    answer MAIL, each RCPT and DATA, then the "." that ends the data; RSET and QUIT get
    their 250 and 221. Returns the lines the client sent."""
    connection, _ = listener.accept()
    with connection, connection.makefile("rb") as lines:
        connection.settimeout(5)
        connection.sendall(b"220 test\r\n")
        received = [lines.readline()]
        connection.sendall(b"250-test\r\n250 PIPELINING\r\n")
        while received[-1] not in (b"DATA\r\n", b""):
            received.append(lines.readline())
        *envelope, end_of_data = replies
        connection.sendall(b"".join(envelope))
        answers = {b".\r\n": end_of_data, b"RSET\r\n": b"250 OK\r\n", b"QUIT\r\n": b"221 Bye\r\n"}
        for line in lines:
            received.append(line)
            if line.upper() in answers:
                connection.sendall(answers[line.upper()])
    return received


def test_the_envelope_goes_without_waiting_for_replies(listener: socket.socket) -> None:
    raw = _mail(b".assinatura")
    replies = [b"250 OK\r\n", b"250 OK\r\n", b"250 OK\r\n", b"354 Go\r\n", b"250 Queued\r\n"]
    with ThreadPoolExecutor(1) as pool:
        session = pool.submit(_withholding_session, listener, replies)
        _sender(*listener.getsockname()).send(raw, FROM, [TO, CC])
        received = session.result(timeout=10)

    assert received[1:5] == [
        f"MAIL FROM:<{FROM}>\r\n".encode(),
        f"RCPT TO:<{TO}>\r\n".encode(),
        f"RCPT TO:<{CC}>\r\n".encode(),
        b"DATA\r\n",
    ]
    assert b"".join(received[5:-1]) == raw.replace(b"\r\n.", b"\r\n..") + b".\r\n"
    assert received[-1].upper() == b"QUIT\r\n"


def test_data_accepted_with_no_recipient_gets_only_the_final_dot(
    listener: socket.socket,
) -> None:
    """RFC 2920, 3.1: the server must refuse DATA then; if it answers 354 the client sends
    the "." alone, never the mail."""
    replies = [b"250 OK\r\n", b"550 No such user\r\n", b"354 Go\r\n", b"554 No recipients\r\n"]
    with ThreadPoolExecutor(1) as pool:
        session = pool.submit(_withholding_session, listener, replies)
        with pytest.raises(DeliveryError) as caught:
            _sender(*listener.getsockname()).send(_mail(b"texto"), FROM, [TO])
        received = session.result(timeout=10)

    assert caught.value.permanent and TO in caught.value.reason
    assert [line.upper() for line in received[4:]] == [b".\r\n", b"RSET\r\n", b"QUIT\r\n"]
