"""A lean SMTP sink for the benchmarks: accepts every mail, keeping only when it arrived, the
message it answers, its recipients and its size.

aiosmtpd costs 1-3 ms of CPU per mail (a coroutine and a StreamReader read per line, hooks);
on the bench's two cores that competes with mailproc and sits in the delivery's critical
path. Here each chunk received is scanned with bytes.find, never line by line in Python."""

from __future__ import annotations

import asyncio
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Self, cast

__all__ = ["Arrival", "SmtpSink"]


@dataclass(frozen=True)
class Arrival:
    """One mail accepted by the sink: when, and the Message-ID it answers."""

    at: float  # time.monotonic() at the end of its data
    in_reply_to: str  # the In-Reply-To header's value, "" without one
    recipients: tuple[str, ...]
    size: int  # bytes, dot-stuffing undone


_EHLO = b"250-bench-sink\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SMTPUTF8\r\n250 SIZE\r\n"
_OK = b"250 OK\r\n"
_MAIL_PARAMETERS = {b"BODY", b"SMTPUTF8", b"SIZE"}
_END = b"\r\n.\r\n"  # the end of the data, with the line end before the "."
# The field with its continuation lines (RFC 5322, 2.2.3: a line break followed by white
# space folds a field; split() unfolds it). A dot-stuffed line is none of them.
_IN_REPLY_TO = re.compile(rb"^in-reply-to:(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)


class _Session(asyncio.Protocol):
    """One connection. The commands of a chunk are answered in order, in one write: a client
    may send several at once (PIPELINING, RFC 2920)."""

    def __init__(self, arrived: Callable[[Arrival], None], relay_seconds: float = 0) -> None:
        self._arrived = arrived
        self._relay_seconds = relay_seconds
        self._transport: asyncio.Transport  # from connection_made
        self._line = b""  # the start of a command line still to come
        self._greeted = self._quit = self._in_data = False
        self._sender: bytes | None = None
        self._recipients: list[str] = []
        # In DATA: its last bytes not yet counted (its end may come split across chunks), the
        # size so far, and its start up to the first empty line (the header block).
        self._tail, self._size, self._header = b"", 0, bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)
        self._transport.write(b"220 bench-sink ESMTP\r\n")

    def data_received(self, data: bytes) -> None:
        replies: list[bytes] = []
        relayed = False  # a mail ended in this chunk
        rest: bytes | None
        rest, self._line = self._line + data, b""
        while rest and not self._quit:
            if self._in_data:
                rest = self._data(rest)
                if rest is not None:
                    replies.append(_OK)
                    relayed = True
                continue
            end = rest.find(b"\n")
            if end < 0:
                self._line = rest
                if len(rest) > 4096:  # far over any command (RFC 5321: 512): not SMTP
                    replies.append(b"500 Line too long\r\n")
                    self._quit = True
                break
            replies.append(self._command(rest[:end].rstrip(b"\r")))
            rest = rest[end + 1 :]
        if relayed and self._relay_seconds:  # its 250 comes late, as a relay's does
            loop = asyncio.get_running_loop()
            loop.call_later(self._relay_seconds, self._answer, b"".join(replies))
        else:
            self._answer(b"".join(replies))

    def _answer(self, replies: bytes) -> None:
        self._transport.write(replies)
        if self._quit:
            self._transport.close()

    def _command(self, line: bytes) -> bytes:
        verb, _, argument = line.partition(b" ")
        match verb.upper():
            case b"EHLO" | b"HELO" as hello if argument.strip():
                self._greeted, self._sender, self._recipients = True, None, []
                return _EHLO if hello == b"EHLO" else b"250 bench-sink\r\n"
            case b"MAIL" if self._greeted and self._sender is None:
                path, parameters = _path(argument, b"FROM:")
                if path is None:
                    return b"501 Syntax: MAIL FROM:<address>\r\n"
                if parameters - _MAIL_PARAMETERS:
                    return b"555 MAIL FROM parameters not recognized\r\n"
                self._sender = path
                return _OK
            case b"RCPT" if self._sender is not None:
                path, parameters = _path(argument, b"TO:")
                if not path:
                    return b"501 Syntax: RCPT TO:<address>\r\n"
                if parameters:
                    return b"555 RCPT TO parameters not recognized\r\n"
                self._recipients.append(path.decode("utf-8", "replace"))
                return _OK
            case b"DATA" if self._recipients and not argument:
                # The data starts after a line end: an empty mail ends at the first _END.
                self._in_data, self._tail, self._size, self._header = True, b"\r\n", -2, bytearray()
                return b"354 End data with <CR><LF>.<CR><LF>\r\n"
            case b"RSET":
                self._sender, self._recipients = None, []
                return _OK
            case b"NOOP":
                return _OK
            case b"QUIT":
                self._quit = True
                return b"221 Bye\r\n"
            case b"EHLO" | b"HELO":
                return b"501 Syntax: EHLO hostname\r\n"
            case b"DATA" if argument:
                return b"501 Syntax: DATA\r\n"
            case b"MAIL" | b"RCPT" | b"DATA":  # out of order: EHLO, MAIL once, RCPT, DATA
                return b"503 Bad sequence of commands\r\n"
        return b"500 Command not recognized\r\n"

    def _data(self, chunk: bytes) -> bytes | None:
        """Count a chunk of the data; what follows the data's end, or None before it."""
        data = self._tail + chunk
        end = data.find(_END)
        # Taken: all but the last 4 bytes (_END may start there), or through the data's last
        # line end. Each "\r\n." taken (not the end's own) starts a line that came with one
        # more "." (RFC 5321, 4.5.2), not counted.
        taken = max(len(data) - 4, 0) if end < 0 else end + 2
        self._size += taken - data.count(b"\r\n.", 0, taken + 2 if end < 0 else end)
        if not self._header.endswith(b"\r\n\r\n"):  # its empty line not seen yet
            start = max(len(self._header) - 3, 0)
            self._header += data[:taken]
            blank = self._header.find(b"\r\n\r\n", start)
            if blank >= 0:
                del self._header[blank + 4 :]  # the body is not kept
        if end < 0:
            self._tail = data[taken:]
            return None
        found = _IN_REPLY_TO.search(self._header)
        in_reply_to = b" ".join(found[1].split()).decode("utf-8", "replace") if found else ""
        recipients = tuple(self._recipients)
        self._arrived(Arrival(time.monotonic(), in_reply_to, recipients, self._size))
        self._in_data, self._sender, self._recipients = False, None, []
        return data[end + len(_END) :]


def _path(argument: bytes, prefix: bytes) -> tuple[bytes | None, set[bytes]]:
    """The address of "FROM:<address> PARAMETERS" (or "TO:"), and the parameters' names."""
    rest = argument[len(prefix) :].lstrip()
    close = rest.find(b">")
    if argument[: len(prefix)].upper() != prefix or not rest.startswith(b"<") or close < 0:
        return None, set()
    return rest[1:close], {p.partition(b"=")[0].upper() for p in rest[close + 1 :].split()}


class SmtpSink:
    """The sink on ``host``, served by its own event loop in a background thread."""

    def __init__(self, host: str = "127.0.0.1", relay_ms: float = 0) -> None:
        # Bound here: the port is known before start(), and no other server can take it.
        self._socket = socket.create_server((host, 0))
        self.host: str = host
        self.port: int = self._socket.getsockname()[1]
        # Each mail's 250 this late: a relay writes (and fsyncs) its queue file first.
        self._relay_seconds = relay_ms / 1000
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def start(self) -> None:
        serving = self._loop.create_server(
            lambda: _Session(self._arrived, self._relay_seconds), sock=self._socket
        )
        self._server = self._loop.run_until_complete(serving)
        self._thread.start()

    def stop(self) -> None:
        """Stop listening (after start()). The bench's clients (mailproc) have quit by then."""
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join()
        self._server.close()
        self._loop.close()

    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def reset(self) -> None:
        with self._lock:
            self._arrivals.clear()

    def _arrived(self, arrival: Arrival) -> None:
        with self._lock:
            self._arrivals.append(arrival)
