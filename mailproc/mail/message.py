"""Plain data that flows through the pipeline: a parsed inbound message and its parts."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import TYPE_CHECKING

from mailproc.mail.quotes import new_text

if TYPE_CHECKING:
    from mailproc.mail.images import Contents


@dataclass(frozen=True)
class Address:
    """One mailbox: the e-mail address is lower-cased, the display name decoded."""

    email: str
    name: str = ""

    def __str__(self) -> str:
        return self.email


@dataclass(frozen=True)
class Attachment:
    """A file that came with a message, as bytes.

    ``filename`` is already safe to show and store (no path separators, control or
    bidirectional characters). ``declared_type`` is what the sender's MIME header says;
    ``detected_type`` is what the bytes really are (magic numbers), or None when unknown.
    ``content_id`` is the part's Content-ID (lower case, no brackets), by which the HTML
    shows an inline image; ``in_signature``: the HTML shows it after the sender's closing
    ("Atenciosamente", ...) or inside a signature block, where logos sit. Files rebuilt
    from the database have neither (the store keeps no such column).
    """

    filename: str
    declared_type: str
    detected_type: str | None
    data: bytes
    inline: bool = False
    content_id: str | None = None
    in_signature: bool = False

    @property
    def size(self) -> int:
        return len(self.data)

    @cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def real_type(self) -> str:
        """The type to trust: the sniffed one when the bytes told us, else the declared one."""
        return self.detected_type or self.declared_type

    @cached_property
    def contents(self) -> Contents:
        """The images the file is or holds (mail.images): worked out once, by a parse
        worker for images (parse.parse_ahead), else when the rules first ask."""
        from mailproc.mail.images import contents  # Pillow only for mail with files

        return contents(self.data, self.sha256)


@dataclass(frozen=True)
class InboundMessage:
    """Everything the core needs from one e-mail, decoded, with no I/O attached.

    ``headers`` keeps the raw header values by lower-case name (all occurrences), for the
    classification stage (Auto-Submitted, Precedence, List-Id, ...); ``header_order`` their
    names top first, one per field (where each Authentication-Results stands: see
    mail.authresults). ``fingerprint`` is the same for two deliveries of one mail and
    differs for two mails (mail.fingerprint; "" when not worked out). ``forwarded`` holds
    attached ``message/rfc822`` parts, parsed the same way and kept apart from the outer
    message: their attachments never count as the outer message's. ``html`` is the HTML
    part as it may be shown to staff: bounded and sanitized by the parse stage
    (mail.html_safety), None when there is none or nothing of it is left. ``defects`` are
    human-readable notes of what was wrong with the MIME; a message with a non-empty
    ``fatal`` cannot be processed and is quarantined with that reason.
    """

    sender: Address | None
    to: tuple[Address, ...] = ()
    cc: tuple[Address, ...] = ()
    reply_to: tuple[Address, ...] = ()
    subject: str = ""
    message_id: str | None = None
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    date: datetime | None = None
    content_type: str = "text/plain"
    headers: dict[str, tuple[str, ...]] = field(default_factory=dict)
    header_order: tuple[str, ...] = ()
    fingerprint: str = ""
    text: str = ""
    html: str | None = None
    attachments: tuple[Attachment, ...] = ()
    forwarded: tuple[InboundMessage, ...] = ()
    defects: tuple[str, ...] = ()
    fatal: str | None = None

    @cached_property
    def fresh_text(self) -> str:
        """What the sender wrote now: ``text`` without the quoted history. Worked out once,
        for every stage that reads it; in a backlog, by the parse worker (parse.parse_ahead)."""
        return new_text(self.text)

    def header(self, name: str) -> str | None:
        """First value of a header (case-insensitive name), or None."""
        values = self.headers.get(name.lower())
        return values[0] if values else None
