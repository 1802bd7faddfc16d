"""The bench's servers on 127.0.0.1: the tests' throwaway Dovecot, and an SMTP listener that
notes when each reply arrives and which message it answers."""

from __future__ import annotations

import email.parser
import email.policy
import imaplib
import itertools
import shutil
import socket
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from tests.dovecot import HOST, PASSWORD, DovecotServer

__all__ = ["HOST", "PASSWORD", "Arrival", "Mailbox", "ReplyListener", "dovecot", "free_port"]

_HEADERS = email.parser.BytesHeaderParser(policy=email.policy.compat32)


def free_port() -> int:
    # aiosmtpd's readiness check connects to the configured port, so port=0 cannot work.
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass(frozen=True)
class Arrival:
    """One reply accepted by the listener: when, and the Message-ID it answers."""

    at: float  # time.monotonic()
    in_reply_to: str
    recipients: tuple[str, ...]
    size: int


class ReplyListener:
    """aiosmtpd handler: keeps only what the bench needs of each reply (not its bytes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._arrivals: list[Arrival] = []
        self.host, self.port = HOST, free_port()
        self._controller = Controller(
            self, hostname=self.host, port=self.port, enable_SMTPUTF8=True
        )

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        header = _HEADERS.parsebytes(raw.partition(b"\r\n\r\n")[0] + b"\r\n\r\n")
        arrival = Arrival(
            time.monotonic(),
            str(header.get("In-Reply-To", "")).strip(),
            tuple(envelope.rcpt_tos),
            len(raw),
        )
        with self._lock:
            self._arrivals.append(arrival)
        return "250 OK"

    def arrivals(self) -> list[Arrival]:
        with self._lock:
            return list(self._arrivals)

    def reset(self) -> None:
        with self._lock:
            self._arrivals.clear()


_users = itertools.count(1)


@dataclass(frozen=True)
class Mailbox:
    """A fresh Dovecot user, with a second client's view for loading and reading mail."""

    host: str
    port: int
    user: str
    password: str

    def connect(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4(self.host, self.port, timeout=60)
        imap.login(self.user, self.password)
        return imap

    def append_all(self, raws: Iterable[bytes], folder: str = "INBOX") -> None:
        imap = self.connect()
        try:
            for raw in raws:
                append(imap, raw, folder)
        finally:
            imap.logout()

    def count(self, folder: str) -> int:
        imap = self.connect()
        try:
            status, data = imap.status(folder, "(MESSAGES)")
            if status != "OK":
                return 0
            text = data[0].decode() if isinstance(data[0], bytes) else str(data[0])
            return int(text.rsplit("MESSAGES", 1)[1].strip(" )"))
        finally:
            imap.logout()


def append(imap: imaplib.IMAP4, raw: bytes, folder: str = "INBOX") -> None:
    status, data = imap.append(folder, None, None, raw)
    if status != "OK":
        raise RuntimeError(f"APPEND refused: {data!r}")


class Dovecot:
    """The tests' DovecotServer in a temporary folder; ``new_mailbox`` adds an empty user."""

    def __init__(self) -> None:
        self._root = Path(tempfile.mkdtemp(prefix="mailproc-bench-dovecot-"))
        self.server = DovecotServer(self._root)

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        try:
            self.server.stop()
        finally:
            shutil.rmtree(self._root, ignore_errors=True)

    def new_mailbox(self) -> Mailbox:
        user = f"bench{next(_users)}"
        self.server.add_user(user)
        return Mailbox(HOST, self.server.port, user, PASSWORD)


@contextmanager
def dovecot() -> Iterator[Dovecot]:
    server = Dovecot()
    server.start()
    try:
        yield server
    finally:
        server.stop()
