"""What makes two deliveries the same mail: what its sender wrote, not what servers added.

A mail delivered twice (two addresses of the desk in To and Cc, a server that retried, a
mailbox copied) comes with other trace fields each time: Received, Return-Path,
Delivered-To, Authentication-Results, ARC and DKIM signatures added on the way, the ``X-``
fields of filters. What stays is what the sender's client wrote: the header fields named in
``CONTENT_FIELDS`` and the body. The fingerprint is a SHA-256 of those:

- the content fields, unfolded, their white space runs made one space, sorted (a server
  may refold or reorder them, never change them);
- the body, every byte after the blank line that ends the header, with CRLF line ends read
  as LF and the blank lines at its end dropped (a Maildir file and an IMAP copy of one mail
  differ in those only).

A DKIM signature is left out on purpose: a copy signed again on the way is still the same
mail. The Message-ID is in, as one field among the others: two mails with one Message-ID
but anything else different are two mails, whoever wrote that Message-ID.

Pure, and linear in the size of the mail: the body is hashed in pieces, never copied whole.
"""

from __future__ import annotations

import hashlib
import re

# Written by the sender's client (RFC 5322 §3.6, RFC 2045 §3), and kept by servers.
CONTENT_FIELDS = frozenset(
    {"from", "sender", "reply-to", "to", "cc", "subject", "date", "message-id"}
    | {"in-reply-to", "references", "comments", "keywords", "mime-version"}
    | {"content-type", "content-transfer-encoding", "content-disposition", "content-id"}
    | {"content-description", "content-language"}
)
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD = re.compile(rb"([!-9;-~]+)[ \t]*:(.*)", re.DOTALL)
_PIECE = 1024 * 1024


def fingerprint(raw: bytes) -> str:
    """The SHA-256 (hex) of ``raw``'s content fields and body (see the module docstring)."""
    found = _HEADER_END.search(raw)
    header_end, body_start = (found.start(), found.end()) if found else (len(raw), len(raw))
    digest = hashlib.sha256()
    for name, value in sorted(_content_fields(raw[:header_end])):
        digest.update(name + b":" + value + b"\n")
    digest.update(b"\n")
    _hash_body(digest, raw, body_start)
    return digest.hexdigest()


def _content_fields(header: bytes) -> list[tuple[bytes, bytes]]:
    """The content fields of a header block, unfolded, white space made single spaces."""
    fields: list[list[bytes]] = []
    for line in header.split(b"\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1].append(line)
        else:
            fields.append([line])
    found = []
    for lines in fields:
        match = _FIELD.match(b" ".join(lines))
        if match and match[1].lower().decode("ascii") in CONTENT_FIELDS:
            found.append((match[1].lower(), b" ".join(match[2].split())))
    return found


def _hash_body(digest: hashlib._Hash, raw: bytes, start: int) -> None:
    """Feed ``raw[start:]`` to ``digest`` with CRLF read as LF and its trailing line ends
    dropped, a piece at a time."""
    end = len(raw)
    while end > start and raw[end - 1] in b"\r\n":
        end -= 1
    view, carry = memoryview(raw), b""
    for piece_start in range(start, end, _PIECE):
        piece = carry + bytes(view[piece_start : min(piece_start + _PIECE, end)])
        # A CR that ends a piece may begin a CRLF: it waits for the next piece.
        carry = b"\r" if piece.endswith(b"\r") and piece_start + _PIECE < end else b""
        digest.update(piece[: len(piece) - len(carry)].replace(b"\r\n", b"\n"))
    digest.update(carry)
