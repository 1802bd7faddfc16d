"""Mail as real clients write it, byte for byte: a small MIME writer and one function per
client (REALMAIL.md), so the corpus controls structure, charsets and transfer encodings.

A ``Letter`` says what a person wrote; a client function turns it into that client's bytes.
In ``Letter.body``: ``{img:NAME}`` marks where an inline picture sits, ``{table}`` where
the two-column table goes, and ``*words*`` are bold (Gmail keeps the stars in its text part).
"""

from __future__ import annotations

import base64
import hashlib
import html
import quopri
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from email.header import Header
from email.utils import formataddr
from urllib.parse import quote

from tests.mails import AUTHSERV_ID, SUPPORT, authenticated

DESK = ("Central de Atendimento Compras RJ", SUPPORT)
_IMAGE_MARK = re.compile(r"\{img:([^}]+)\}")
_BOLD = re.compile(r"\*([^*\n]+)\*")


@dataclass(frozen=True)
class Picture:
    """A file: an inline picture (referenced from the body) or an attachment."""

    filename: str
    mime: str
    data: bytes


@dataclass(frozen=True)
class Letter:
    """What one person wrote: who, to whom, when, the words and the files."""

    sender: tuple[str, str]  # (display name, address); an empty name: the address alone
    subject: str
    body: str
    date: str
    message_id: str  # without angle brackets
    to: tuple[tuple[str, str], ...] = (DESK,)
    cc: tuple[tuple[str, str], ...] = ()
    inline: tuple[Picture, ...] = ()
    attachments: tuple[Picture, ...] = ()
    table: tuple[tuple[str, str], ...] = ()
    in_reply_to: str | None = None
    references: tuple[str, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()  # the client's or the situation's extras
    charset: str = "utf-8"
    vouched: bool = True  # the desk's receiving server saw DMARC pass for the From domain


# --- The MIME writer -----------------------------------------------------------------------


@dataclass
class Part:
    """One MIME entity: headers, then a body or sub-parts (``boundary`` set)."""

    headers: list[tuple[str, str]]
    body: bytes = b""
    parts: list[Part] = field(default_factory=list)
    boundary: str = ""
    preamble: str = ""

    def serialize(self) -> bytes:
        head = "".join(f"{name}: {value}\n" for name, value in self.headers).encode("ascii")
        if not self.boundary:
            return head + b"\n" + self.body
        inner = b"".join(
            f"--{self.boundary}\n".encode() + part.serialize().rstrip(b"\n") + b"\n\n"
            for part in self.parts
        )
        preamble = f"{self.preamble}\n" if self.preamble else ""
        return head + b"\n" + preamble.encode() + inner + f"--{self.boundary}--\n".encode()


def multipart(
    subtype: str, parts: list[Part], boundary: str, *, extra: str = "", preamble: str = ""
) -> Part:
    content_type = f'multipart/{subtype}; boundary="{boundary}"{extra}'
    return Part([("Content-Type", content_type)], parts=parts, boundary=boundary, preamble=preamble)


def encode_body(text: str, charset: str, cte: str) -> bytes:
    data = text.replace("\r\n", "\n").encode(charset)
    if cte == "quoted-printable":
        return quopri.encodestring(data)
    if cte == "base64":
        return base64.encodebytes(data)
    return data


def text_part(text: str, subtype: str, charset: str, cte: str, *, params: str = "") -> Part:
    headers = [
        ("Content-Type", f'text/{subtype}; charset="{charset}"{params}'),
        ("Content-Transfer-Encoding", cte),
    ]
    return Part(headers, encode_body(text, charset, cte))


def encoded_word(text: str, charset: str) -> str:
    """RFC 2047: ASCII stays as it is; anything else becomes encoded-words."""
    if text.isascii():
        return text
    return Header(text, charset, maxlinelen=10_000).encode()


def address(entry: tuple[str, str], charset: str) -> str:
    name, mailbox = entry
    return formataddr((name, mailbox), charset) if name else mailbox


def addresses(entries: tuple[tuple[str, str], ...], charset: str) -> str:
    return ", ".join(address(entry, charset) for entry in entries)


def base64_body(data: bytes) -> bytes:
    return base64.encodebytes(data)


def digest(*values: str, size: int = 12) -> str:
    """A stable hex token from the letter's identity: boundaries, content ids, indexes."""
    return hashlib.sha256("|".join(values).encode()).hexdigest()[:size]


def trace_headers(letter: Letter) -> list[tuple[str, str]]:
    """What the desk's receiving server adds on top: Received and, when the sender's domain
    passed DMARC, its Authentication-Results (tests.mails.authenticated)."""
    domain = letter.sender[1].rpartition("@")[2]
    received = (
        f"from mail.{domain} (mail.{domain} [200.20.{len(domain)}.{len(letter.subject) % 250}])"
        f" by {AUTHSERV_ID} with ESMTPS; {letter.date}"
    )
    found = [("Received", received)]
    if letter.vouched:
        found = list(authenticated(letter.sender[1]).items()) + found
    return found


def envelope(letter: Letter, charset: str) -> list[tuple[str, str]]:
    """From, To, Cc, Subject, Date, Message-ID and the thread headers, in that order."""
    found = [("From", address(letter.sender, charset)), ("To", addresses(letter.to, charset))]
    if letter.cc:
        found.append(("Cc", addresses(letter.cc, charset)))
    if letter.subject:
        found.append(("Subject", encoded_word(letter.subject, charset)))
    found += [("Date", letter.date), ("Message-ID", f"<{letter.message_id}>")]
    if letter.references:
        found.append(("References", " ".join(f"<{r}>" for r in letter.references)))
    if letter.in_reply_to:
        found.append(("In-Reply-To", f"<{letter.in_reply_to}>"))
    return found


def finish(letter: Letter, headers: list[tuple[str, str]], top: Part) -> bytes:
    """The whole message: trace headers, the client's headers, the extras, then the tree;
    with CRLF line ends, as a mail store hands it over."""
    top.headers = trace_headers(letter) + headers + list(letter.headers) + top.headers
    raw = top.serialize()
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# --- Rendering what the person wrote -------------------------------------------------------


def plain(
    letter: Letter,
    image: Callable[[Picture], str],
    *,
    keep_stars: bool = False,
    table: Callable[[str, str], str] = lambda a, b: f"{a}\n\n{b}\n",
) -> str:
    """The text part: pictures as the client shows them, the table as it flattens it."""
    pictures = {p.filename: p for p in letter.inline}
    text = _IMAGE_MARK.sub(lambda m: image(pictures[m.group(1)]), letter.body)
    text = text.replace("{table}", "\n".join(table(a, b) for a, b in letter.table))
    return text if keep_stars else _BOLD.sub(r"\1", text)


def rich(
    letter: Letter,
    cid: Callable[[Picture], str],
    *,
    line: str = "<div>{}</div>",
    blank: str = "<div><br></div>",
) -> str:
    """The HTML part: each line in the client's block element, pictures as cid: images
    (sized as the client sizes them), the table as a bordered two-column table."""
    pictures = {p.filename: p for p in letter.inline}
    blocks = []
    for text in letter.body.split("\n"):
        if text.strip() == "{table}":
            blocks.append(_html_table(letter.table))
            continue
        if not text.strip():
            blocks.append(blank)
            continue
        escaped = _BOLD.sub(r"<b>\1</b>", html.escape(text, quote=False))
        escaped = _IMAGE_MARK.sub(lambda m: _img(pictures[m.group(1)], cid), escaped)
        blocks.append(line.format(escaped))
    return "\n".join(blocks)


def _img(picture: Picture, cid: Callable[[Picture], str]) -> str:
    import io

    from PIL import Image

    width, height = Image.open(io.BytesIO(picture.data)).size
    return (
        f'<img width="{width}" height="{height}" style="width:{width}px;height:{height}px"'
        f' id="{picture.filename}" src="cid:{cid(picture)}" alt="{picture.filename}">'
    )


def _html_table(rows: tuple[tuple[str, str], ...]) -> str:
    cells = "".join(
        '<tr><td style="border:solid windowtext 1.0pt;padding:0 5.4pt"><p class=MsoNormal>'
        f"<b>{html.escape(a)}</b></p></td>"
        '<td style="border:solid windowtext 1.0pt;padding:0 5.4pt"><p class=MsoNormal>'
        f"{html.escape(b)}</p></td></tr>"
        for a, b in rows
    )
    return (
        f"<table class=MsoTableGrid border=1 cellspacing=0 cellpadding=0 "
        f'style="border-collapse:collapse;border:none"><tbody>{cells}</tbody></table>'
    )


def html_document(body: str, charset: str, *, head: str = "") -> str:
    return (
        f'<html><head><meta http-equiv="Content-Type" content="text/html; charset={charset}">'
        f"{head}</head><body>\n{body}\n</body></html>\n"
    )


def image_part(picture: Picture, headers: list[tuple[str, str]]) -> Part:
    return Part([*headers, ("Content-Transfer-Encoding", "base64")], base64_body(picture.data))


def flowed(text: str, width: int = 72) -> str:
    """RFC 3676 format=flowed: long lines broken after a space (a soft break), and lines
    that start with a space, "From " or ">" space-stuffed."""
    out = []
    for line in text.split("\n"):
        if line.startswith((" ", "From ")):
            line = " " + line
        while len(line) > width and " " in line[:width]:
            cut = line.rindex(" ", 0, width) + 1
            out.append(line[:cut])
            line = line[cut:]
        out.append(line)
    return "\n".join(out)


def rfc2231(filename: str) -> str:
    return (
        f"filename*=UTF-8''{quote(filename)}"
        if not filename.isascii()
        else f'filename="{filename}"'
    )
