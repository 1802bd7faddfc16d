"""The bench's SMTP sink (bench/sink.py): real SMTP clients over real sockets, and the
protocol fed every way a mail can be split across reads."""

from __future__ import annotations

import asyncio
import smtplib
import socket
import time
import tracemalloc
from collections.abc import Iterator

import pytest

from bench.sink import Arrival, SmtpSink, _Session

pytestmark = pytest.mark.servers

MAIL = (
    b"From: suporte@compras.example.gov.br\r\n"
    b"To: ana@saude.rj.gov.br, jose@saude.rj.gov.br\r\n"
    b"Subject: Chamado registrado [#2026-000123]\r\n"
    b"In-reply-to:\r\n"
    b" <orig.17.5f3a@saude.rj.gov.br>\r\n"
    b"Message-ID: <reply.17@compras.example.gov.br>\r\n"
    b"\r\n"
    b".a line that starts with a dot\r\n"
    b"In-Reply-To: <not-a-header@example.org>\r\n"
    b".\r\n"
    b"..\r\n"
    b"last line\r\n"
)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    with SmtpSink() as server:
        yield server


def wait_for(sink: SmtpSink, count: int) -> list[Arrival]:
    deadline = time.monotonic() + 10
    while len(sink.arrivals()) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return sink.arrivals()


class Raw:
    """A client that writes bytes as given and reads the replies (one per line, or several
    lines of one multi-line reply)."""

    def __init__(self, sink: SmtpSink) -> None:
        self.socket = socket.create_connection((sink.host, sink.port), timeout=10)
        self.file = self.socket.makefile("rb")
        assert self.reply() == (220, 1)

    def send(self, data: bytes) -> None:
        self.socket.sendall(data)

    def reply(self) -> tuple[int, int]:
        """The next reply's code and its number of lines."""
        lines = 1
        line = self.file.readline()
        while line[3:4] == b"-":
            lines += 1
            line = self.file.readline()
        return int(line[:3]), lines

    def codes(self, count: int) -> list[int]:
        return [self.reply()[0] for _ in range(count)]

    def close(self) -> None:
        self.file.close()
        self.socket.close()


def test_a_mail_with_a_folded_in_reply_to_several_recipients_and_dot_stuffed_lines(
    sink: SmtpSink,
) -> None:
    recipients = ["ana@saude.rj.gov.br", "jose@saude.rj.gov.br", "redecompras@rj.gov.br"]
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        assert client.ehlo()[0] == 250
        assert {"pipelining", "8bitmime", "smtputf8", "size"} <= set(client.esmtp_features)
        refused = client.sendmail("suporte@compras.example.gov.br", recipients, MAIL)

    assert refused == {}
    [arrival] = wait_for(sink, 1)
    assert arrival.in_reply_to == "<orig.17.5f3a@saude.rj.gov.br>"  # the header's, not the body's
    assert arrival.recipients == tuple(recipients)
    assert arrival.size == len(MAIL)  # smtplib doubled three dots; they are not counted


def test_8bitmime_and_smtputf8_with_size(sink: SmtpSink) -> None:
    mail = "Subject: Reativação\r\nIn-Reply-To: <x@órgão.rj.gov.br>\r\n\r\nção\r\n".encode()
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.sendmail(  # smtplib adds SIZE=..., the server having advertised SIZE
            "suporte@compras.example.gov.br",
            ["joão@saúde.rj.gov.br"],
            mail,
            mail_options=["SMTPUTF8", "BODY=8BITMIME"],
        )

    [arrival] = wait_for(sink, 1)
    assert arrival == Arrival(
        arrival.at, "<x@órgão.rj.gov.br>", ("joão@saúde.rj.gov.br",), len(mail)
    )


def test_pipelined_commands_are_answered_in_order_and_a_split_end_of_data(
    sink: SmtpSink,
) -> None:
    client = Raw(sink)
    client.send(
        b"EHLO client.example\r\nMAIL FROM:<a@example.org> BODY=8BITMIME\r\n"
        b"RCPT TO:<b@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
    )
    assert client.reply() == (250, 5)  # EHLO: the name and four extensions
    assert client.codes(4) == [250, 250, 250, 354]
    client.send(b"In-Reply-To: <split@example.org>\r\n\r\nbody\r\n.\r")
    time.sleep(0.2)  # the two pieces reach the server in two reads (no reply comes between)
    client.send(b"\nMAIL FROM:<a@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n")
    assert client.codes(4) == [250, 250, 250, 354]
    client.send(b".\r\nQUIT\r\n")  # an empty mail, then QUIT in the same write
    assert client.codes(2) == [250, 221]
    assert client.file.read() == b""  # closed
    client.close()

    first, empty = wait_for(sink, 2)
    assert first.in_reply_to == "<split@example.org>"
    assert first.recipients == ("b@example.org", "c@example.org")
    assert first.size == len(b"In-Reply-To: <split@example.org>\r\n\r\nbody\r\n")
    assert (empty.in_reply_to, empty.recipients, empty.size) == ("", ("d@example.org",), 0)


def test_rset_noop_and_the_replies_to_wrong_commands(sink: SmtpSink) -> None:
    client = Raw(sink)
    client.send(b"MAIL FROM:<a@example.org>\r\nHELO\r\nHELO client.example\r\n")
    assert client.codes(3) == [503, 501, 250]  # EHLO or HELO first; HELO needs a name
    client.send(b"DATA\r\nRCPT TO:<b@example.org>\r\nMAIL FROM:<a@example.org>\r\n")
    assert client.codes(3) == [503, 503, 250]  # DATA and RCPT need MAIL first
    client.send(b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nRSET\r\n")
    assert client.codes(3) == [503, 250, 250]  # one MAIL per mail; RSET ends it
    client.send(b"DATA\r\nRCPT TO:<b@example.org>\r\nMAIL FROM:<a@example.org>\r\n")
    assert client.codes(3) == [503, 503, 250]  # RSET forgot the sender and recipients
    client.send(b"RCPT TO:<>\r\nRCPT TO:<b@example.org> NOTIFY=NEVER\r\nDATA\r\n")
    assert client.codes(3) == [501, 555, 503]  # no recipient accepted: no DATA
    client.send(b"RSET\r\nMAIL FROM:<a@example.org> AUTH=<>\r\nMAIL FROM:a@example.org\r\n")
    assert client.codes(3) == [250, 555, 501]  # a parameter not advertised; no <>
    client.send(b"RCPT TO:<b@example.org>\r\nMAIL FROM:<>\r\nRCPT b@example.org\r\n")
    assert client.codes(3) == [503, 250, 501]  # the null sender is one (RFC 5321, 4.5.5)
    client.send(b"NOOP\r\nVRFY b@example.org\r\n\r\nDATA now\r\nQUIT\r\n")
    assert client.codes(5) == [250, 500, 500, 501, 221]
    client.close()
    assert wait_for(sink, 0) == []


def test_reset_forgets_the_arrivals(sink: SmtpSink) -> None:
    with smtplib.SMTP(sink.host, sink.port, timeout=10) as client:
        client.sendmail("a@example.org", ["b@example.org"], b"Subject: 1\r\n\r\none\r\n")
        wait_for(sink, 1)
        sink.reset()
        client.sendmail("a@example.org", ["c@example.org"], b"Subject: 2\r\n\r\ntwo\r\n")

    [arrival] = wait_for(sink, 1)
    assert arrival.recipients == ("c@example.org",)


class FakeTransport(asyncio.Transport):
    def __init__(self) -> None:
        super().__init__()
        self.written = bytearray()
        self.closed = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        self.written += data

    def close(self) -> None:
        self.closed = True


def converse(pieces: list[bytes]) -> tuple[list[Arrival], bytes]:
    arrivals: list[Arrival] = []
    session = _Session(arrivals.append)
    transport = FakeTransport()
    session.connection_made(transport)
    for piece in pieces:
        session.data_received(piece)
    return arrivals, bytes(transport.written)


# An In-Reply-To line in the body is not the header's.
NO_IN_REPLY_TO = b"Subject: x\r\n\r\nIn-Reply-To: <body@example.org>\r\n"
CONVERSATION = (
    b"EHLO c\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.org>\r\nDATA\r\n"
    + MAIL.replace(b"\r\n.", b"\r\n..")
    + b".\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<c@example.org>\r\nDATA\r\n"
    + b".\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<d@example.org>\r\nDATA\r\n"
    + NO_IN_REPLY_TO
    + b".\r\nQUIT\r\n"
)


def test_a_conversation_split_at_every_byte_gives_the_same_mails_and_replies() -> None:
    whole = converse([CONVERSATION])
    assert [(a.in_reply_to, a.recipients, a.size) for a in whole[0]] == [
        ("<orig.17.5f3a@saude.rj.gov.br>", ("b@example.org",), len(MAIL)),
        ("", ("c@example.org",), 0),
        ("", ("d@example.org",), len(NO_IN_REPLY_TO)),
    ]
    for cut in range(1, len(CONVERSATION)):
        arrivals, replies = converse([CONVERSATION[:cut], CONVERSATION[cut:]])
        assert [(a.in_reply_to, a.recipients, a.size) for a in arrivals] == [
            (a.in_reply_to, a.recipients, a.size) for a in whole[0]
        ], cut
        assert replies == whole[1], cut
    one_byte_each = converse([bytes([byte]) for byte in CONVERSATION])
    assert [a.size for a in one_byte_each[0]] == [len(MAIL), 0, len(NO_IN_REPLY_TO)]
    assert one_byte_each[1] == whole[1]


def test_memory_stays_flat_over_a_large_mail() -> None:
    arrivals: list[Arrival] = []
    session = _Session(arrivals.append)
    session.connection_made(FakeTransport())
    session.data_received(b"EHLO c\r\nMAIL FROM:<a@x.org>\r\nRCPT TO:<b@x.org>\r\nDATA\r\n")
    header = b"Subject: big\r\nIn-Reply-To: <big@x.org>\r\n\r\n"
    line = b"A" * 76 + b"\r\n"
    chunk = line * 800  # 62 KB
    tracemalloc.start()
    try:
        session.data_received(header)
        for _ in range(300):  # 18.7 MB
            session.data_received(chunk)
        session.data_received(b".\r\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000  # a chunk or two, not the mail's 18.7 MB
    assert [(a.in_reply_to, a.size) for a in arrivals] == [
        ("<big@x.org>", len(header) + 300 * len(chunk))
    ]


def test_a_sink_answering_like_a_relay_takes_each_mail_after_its_delay() -> None:
    relay = SmtpSink(relay_ms=200)
    relay.start()
    try:
        with smtplib.SMTP(relay.host, relay.port, timeout=10) as client:
            began = time.monotonic()
            client.sendmail("suporte@compras.example.gov.br", ["ana@saude.rj.gov.br"], MAIL)
            answered = time.monotonic()
            client.sendmail("suporte@compras.example.gov.br", ["jose@saude.rj.gov.br"], MAIL)
        arrivals = relay.arrivals()
    finally:
        relay.stop()

    assert [a.recipients for a in arrivals] == [("ana@saude.rj.gov.br",), ("jose@saude.rj.gov.br",)]
    # Its 250 came after the delay, so the client could not start the next mail before.
    assert answered - began >= 0.2 and arrivals[1].at - arrivals[0].at >= 0.2
