"""The bench's servers on 127.0.0.1: the tests' throwaway Dovecot, and an SMTP listener that
notes when each reply arrives and which message it answers."""

from __future__ import annotations

import imaplib
import itertools
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.sink import Arrival, SmtpSink
from tests.dovecot import HOST, PASSWORD, DovecotServer

__all__ = ["HOST", "PASSWORD", "Arrival", "Mailbox", "ReplyListener", "dovecot"]


class ReplyListener(SmtpSink):
    """The replies' SMTP listener: keeps only what the bench needs of each (not its bytes).
    A lean asyncio server (bench/sink.py), not aiosmtpd: it runs in the bench's process, on
    the two cores mailproc is measured on, and each reply waits for it."""

    def __init__(self, relay_ms: float = 0) -> None:
        super().__init__(HOST, relay_ms)


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
