"""The baseline: fetch the whole mailbox in bulk with raw imaplib and parse every message with
the standard library (policy.default: body text and every attachment decoded), on one core."""

from __future__ import annotations

import email
import email.policy
import time
from dataclasses import dataclass
from email.message import EmailMessage

from bench.servers import Mailbox

CHUNK = 200  # UIDs per FETCH: a few MB of bodies in memory at once

_PARSE_ERRORS = (LookupError, ValueError, AttributeError, IndexError, email.errors.MessageError)


@dataclass(frozen=True)
class BaselineResult:
    messages: int
    bytes: int
    seconds: float
    cpu_seconds: float
    fetch_seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds else 0.0


def run_baseline(mailbox: Mailbox, folder: str = "INBOX") -> BaselineResult:
    """Read ``folder`` (EXAMINE: nothing is flagged) and parse each message; timed as a whole."""
    wall, cpu = time.perf_counter(), time.process_time()
    fetching = 0.0
    count = size = 0
    imap = mailbox.connect()
    try:
        imap.select(folder, readonly=True)
        status, data = imap.uid("SEARCH", "ALL")
        uids = data[0].split() if status == "OK" and data[0] else []
        for start in range(0, len(uids), CHUNK):
            began = time.perf_counter()
            chunk = b",".join(uids[start : start + CHUNK]).decode()
            status, items = imap.uid("FETCH", chunk, "(BODY.PEEK[])")
            fetching += time.perf_counter() - began
            for item in items:
                if isinstance(item, tuple):
                    count += 1
                    size += len(item[1])
                    parse(item[1])
    finally:
        imap.logout()
    return BaselineResult(
        count, size, time.perf_counter() - wall, time.process_time() - cpu, fetching
    )


def parse(raw: bytes) -> None:
    """What a plain stdlib consumer does with a message: headers, body text, attachments."""
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    try:
        _ = msg["From"], msg["To"], msg["Subject"], msg["Message-ID"], msg["Date"]
        body = msg.get_body(preferencelist=("plain", "html"))
        if body is not None:
            body.get_content()
        for part in msg.iter_attachments():
            part.get_content()
    except _PARSE_ERRORS:
        pass
