"""Forwarded questions: the original message inside a forward, inline or attached."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from mailproc.mail.message import Address, Attachment, InboundMessage
from mailproc.mail.quotes import FORWARD_LINE, header_block_at
from mailproc.mail.subject_codes import (
    FORWARD_PREFIXES,
    REPLY_PREFIXES,
    leading_prefixes,
    strip_reply_prefixes,
)

_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)*")
_BRACKETED_ADDRESS = re.compile(
    r"(?:<\s*(?:mailto:)?|\[mailto:|\(mailto:)\s*([\w.+'-]+@[\w-]+(?:\.[\w-]+)*)\s*[>\])]",
    re.IGNORECASE,
)
_ADDRESS_DECORATION = re.compile(r"<[^>]*>|\[mailto:[^\]]*\]|\(mailto:[^)]*\)|mailto:\S+")
_NAME_TRIM = " \t\"'*<>[]()"
_SENDER_LINE_MAX = 500  # real sender lines are short; the address search is quadratic in length
# A forwarder's own comment above an attached message is a line or two ("Segue a dúvida do
# servidor"); a long text is a message of its own that happens to carry an .eml as evidence.
_COMMENT_LIMIT = 500


@dataclass(frozen=True)
class ForwardedOriginal:
    """The message someone forwarded to us: whose question it is, and what it said."""

    sender: Address | None
    subject: str
    text: str
    date_text: str
    attachments: tuple[Attachment, ...]
    inline: bool


def extract_forward(msg: InboundMessage) -> ForwardedOriginal | None:
    """The forwarded original in this message, or None when it is not a forward.

    A reply ("RE: ENC: ...") is never a forward, even though its quoted history may hold a
    forward or an Outlook header block; nor is a delivery report, which returns a message.

    Of the inline forwards, the one nearest the top is the forwarder's own: any below it is
    in the text they forwarded, which whoever wrote to the forwarder wrote, fake "Mensagem
    encaminhada / De: Maria" blocks included.
    """
    is_reply = bool(REPLY_PREFIXES.intersection(leading_prefixes(msg.subject)[:1]))
    if is_reply or msg.content_type.lower() == "multipart/report":
        return None
    lines = msg.text.replace("\r\n", "\n").split("\n")
    inline = [found for style in _INLINE_STYLES if (found := style(msg, lines))]
    if inline:
        return min(inline, key=lambda found: found[0])[1]
    return _attached(msg, lines)


# An inline forward and the line it starts on.
_Inline = tuple[int, ForwardedOriginal]


def _marked_inline(msg: InboundMessage, lines: Sequence[str]) -> _Inline | None:
    """Gmail, Thunderbird and Apple Mail: a "Mensagem encaminhada" line, then the headers."""
    marker = next((i for i, line in enumerate(lines) if FORWARD_LINE.match(line)), None)
    if marker is None:
        return None
    first = next((i for i in range(marker + 1, len(lines)) if lines[i].strip()), len(lines))
    block = header_block_at(lines, first)
    if block is None:
        return marker, _inline_original(msg, {}, lines[marker + 1 :])
    return marker, _inline_original(msg, block.fields, lines[block.end :])


def _outlook_inline(msg: InboundMessage, lines: Sequence[str]) -> _Inline | None:
    """Outlook: a "De: ... Enviado em: ... Assunto:" block, with or without "Mensagem original".

    The same block opens the quoted history of an Outlook reply; replies were set aside by
    their subject already, so here it heads a forwarded message (even when the forwarder
    edited the ENC:/FW: away).
    """
    blocks = ((index, header_block_at(lines, index)) for index in range(len(lines)))
    found = next(((i, block) for i, block in blocks if block and block.heads_a_message), None)
    if found is None:
        return None
    start, block = found
    return start, _inline_original(msg, block.fields, lines[block.end :])


def _attached(msg: InboundMessage, lines: Sequence[str]) -> ForwardedOriginal | None:
    """An attached message/rfc822 under a short comment (or a forward subject)."""
    if not msg.forwarded:
        return None
    forward_subject = bool(FORWARD_PREFIXES.intersection(leading_prefixes(msg.subject)))
    if not forward_subject and len(msg.fresh_text) > _COMMENT_LIMIT:
        return None
    original = msg.forwarded[0]
    return ForwardedOriginal(
        sender=original.sender,
        subject=original.subject,
        text=original.text.strip(),
        date_text=original.header("date") or "",
        attachments=original.attachments,
        inline=False,
    )


# Inline styles come before an attached message: a message forwarded inline may itself have
# carried an attached .eml, which is then part of the original, not the forward.
_INLINE_STYLES: tuple[Callable[[InboundMessage, Sequence[str]], _Inline | None], ...] = (
    _marked_inline,
    _outlook_inline,
)


def _inline_original(
    msg: InboundMessage, fields: Mapping[str, str], body: Sequence[str]
) -> ForwardedOriginal:
    """The original of an inline forward: the outer message's attachments travel with it."""
    return ForwardedOriginal(
        sender=parse_sender(fields.get("from", "")),
        subject=fields.get("subject") or strip_reply_prefixes(msg.subject),
        text="\n".join(body).strip(),
        date_text=fields.get("date", ""),
        attachments=msg.attachments,
        inline=True,
    )


def parse_sender(value: str) -> Address | None:
    """The mailbox of a "De:" line: "Fulano <f@x>", "f@x", '"Fulano" [mailto:f@x]'.

    The address in angle brackets or a mailto: wins over one shown in the name: in
    '"alice@x" <bob@x>' the mail is bob's, and the name (written to be taken for the sender)
    is dropped. Outlook writes a bare display name for senders in its own directory: no
    address, None.
    """
    value = value[:_SENDER_LINE_MAX]
    found = _BRACKETED_ADDRESS.search(value) or _ADDRESS.search(value.replace("mailto:", " "))
    if found is None:
        return None
    address = found.group(found.lastindex or 0).strip("'.").lower()  # Outlook's 'fulano@x'
    name = _ADDRESS_DECORATION.sub(" ", value)
    name = re.sub(re.escape(address), " ", name, flags=re.IGNORECASE)
    name = " ".join(name.split()).strip(_NAME_TRIM)
    return Address(address, "" if _ADDRESS.search(name) else name)
