"""Parse stage: raw RFC 5322 bytes in, an InboundMessage out, whatever the input."""

from __future__ import annotations

import binascii
import email
import email.errors
import email.policy
import email.utils
import logging
import re
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from email.feedparser import BytesFeedParser
from email.headerregistry import Address as MailboxAddress
from email.message import Message
from itertools import count, takewhile
from typing import NamedTuple
from urllib.parse import unquote

import filetype

from mailproc.mail.charsets import decode_bytes, decode_encoded_words, text_from_raw_header
from mailproc.mail.fingerprint import fingerprint
from mailproc.mail.flowed import unflow
from mailproc.mail.html_safety import bound_html
from mailproc.mail.message import Address, Attachment, InboundMessage
from mailproc.mail.safe_names import (
    decode_filename,
    generated_filename,
    safe_filename,
    safe_text,
    unique_names,
)
from mailproc.mail.signatures import signature_start

log = logging.getLogger(__name__)

MAX_MIME_DEPTH = 10
MAX_PARTS = 500
MAX_FORWARD_DEPTH = 3
MAX_HEADER_FIELDS = 200
MAX_HEADER_VALUE = 8 * 1024
# No request to the desk needs more; a message past these is hostile or a mistake, and the
# files beyond them would only cost memory and storage. Decoded attachments are never larger
# than the raw message, so with the default 25 MB message limit the byte cap is a second line
# for a desk that raises that limit, and for `mailproc rules test` on any file.
MAX_ATTACHMENTS = 100
MAX_ATTACHMENT_BYTES = 50 * 1024 * 1024

# What the stdlib parser and header registry raise on broken or hostile input: KeyError,
# LookupError, IndexError and UnicodeDecodeError on the shared corpus (LIBRARIES.md),
# AttributeError on some address syntax (CPython issues 134155 and 87667, "a:b:;;" on 3.11).
_STDLIB_ERRORS = (email.errors.MessageError, LookupError, IndexError, ValueError, AttributeError)

# Slice of the raw bytes the stdlib parser is fed at a time (see _stdlib_parse).
_FEED_BYTES = 64 * 1024
# Base64 payloads from this size on are decoded by _clean_base64.
_CLEAN_BASE64_MIN = 1024 * 1024
_CLEAN_BASE64 = re.compile(r"[A-Za-z0-9+/\r\n]*(?:={1,2}[\r\n]*)?")
_OLE2_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_HEADER_FIELD = re.compile(rb"[!-9;-~]+:")
_INTERPRETED_FIELD = re.compile(rb"(?:from|to|cc|subject|date|message-id|content-type):", re.I)
_INTERPRETED_HEADERS = frozenset(
    {"from", "sender", "return-path", "to", "cc", "reply-to", "subject"}
    | {"message-id", "in-reply-to", "references", "date"}
)
# Kept as the receiving server wrote them, for mail.authresults: whole (a verdict may stand
# at the end of a long one) and with no encoded word decoded (decoding could write a result
# the server never wrote).
_VERBATIM_HEADERS = frozenset({"authentication-results"})
_BODY_TYPES = frozenset({"text/plain", "text/html"})
_ATTACHED_MESSAGE_TYPES = frozenset({"message/rfc822", "message/global"})
# Extensions for unnamed files whose bytes carry no magic number (filetype only knows binary
# formats); anything else unnamed and unrecognised becomes ".bin".
_TEXT_EXTENSIONS = {
    "text/plain": "txt",
    "text/html": "html",
    "text/calendar": "ics",
    "text/csv": "csv",
    "text/rfc822-headers": "txt",
    "message/delivery-status": "txt",
    "message/disposition-notification": "txt",
}

_MESSAGE_ID = re.compile(r"<([^<>]*)>")
_BARE_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
# A token that is an address by itself: delimited by start, end, white space or punctuation
# that cannot be part of one ("'fulano@x'" as Outlook writes it gives fulano@x).
_STANDALONE_ADDRESS = re.compile(
    r"(?<![^\s\"',;:()<>\[\]])[\w.+-][\w.+'-]*@[\w-]+(?:\.[\w-]+)+(?![^\s\"',;:()<>\[\].])"
)
# RFC 5322 specials, white space and controls: a local part holding one needs quotes.
_NOT_IN_LOCAL_PART = re.compile(r'[\s\x00-\x1f\x7f"\\(),:;<>@\[\]]')
_NOT_IN_DOMAIN = re.compile(r'[\s\x00-\x1f\x7f"\\(),:;<>@]')
_CID_REFERENCE = re.compile(r"cid:([^\s\"'<>)]+)", re.IGNORECASE)
_PASTED_IMAGE = re.compile(r"data:(image/[\w.+-]+);base64,([A-Za-z0-9+/=\r\n]+)", re.IGNORECASE)
# A multipart whose boundary parameter is missing or wrong still shows its real boundary as
# the first "--something" line followed by a part header (Outlook, broken list software).
_FIRST_BOUNDARY = re.compile(r"^--([^\s\"]+)[ \t]*\r?\n(?=content-[\w-]+[ \t]*:)", re.M | re.I)
_UUENCODE_BEGIN = re.compile(r"begin [0-7]{3,4} (.+)")


@dataclass(frozen=True)
class Limits:
    """How much of a hostile message is read; past a limit the rest is skipped with a defect."""

    mime_depth: int = MAX_MIME_DEPTH
    parts: int = MAX_PARTS
    attachments: int = MAX_ATTACHMENTS
    attachment_bytes: int = MAX_ATTACHMENT_BYTES


@dataclass
class _Budget:
    """What is still allowed, shared by a message and the messages attached to it."""

    limits: Limits
    parts_taken: int = 0
    files_taken: int = 0
    bytes_taken: int = 0

    def take(self) -> bool:
        self.parts_taken += 1
        return self.parts_taken <= self.limits.parts

    def refuse_file(self, size: int) -> str | None:
        """Why a file of ``size`` decoded bytes is not kept, or None after counting it in."""
        if self.files_taken >= self.limits.attachments:
            return f"more than {self.limits.attachments} attachments: the rest skipped"
        if self.bytes_taken + size > self.limits.attachment_bytes:
            total = self.limits.attachment_bytes / (1024 * 1024)
            return f"attachments over {total:g} MB in total: a file of {size} bytes skipped"
        self.files_taken += 1
        self.bytes_taken += size
        return None


@dataclass(frozen=True)
class _PartInfo:
    """What a part's Content-* headers say, read without the header registry."""

    content_type: str
    charset: str | None
    disposition: str | None
    filename: str
    content_id: str | None
    # format=flowed text (RFC 3676), and whether its soft breaks' spaces are to be deleted.
    flowed: bool = False
    delsp: bool = False


@dataclass(frozen=True)
class _File:
    """A part that will become an Attachment once the HTML tells which ones are inline."""

    data: bytes
    declared_type: str
    name: str
    content_id: str | None = None
    inline: bool = False
    stem: str = "anexo"
    in_signature: bool = False  # a pasted image shown after the closing (see _attachments)


@dataclass
class _Walk:
    """What one message's MIME tree yielded so far."""

    budget: _Budget
    forward_level: int
    defects: list[str]
    plain: list[str] = field(default_factory=list)
    html: list[str] = field(default_factory=list)
    files: list[_File] = field(default_factory=list)
    forwarded: list[InboundMessage] = field(default_factory=list)


def parse_message(raw: bytes, limits: Limits = Limits()) -> InboundMessage:
    """Read one e-mail; never raises. Input that is not an e-mail comes back with ``fatal`` set."""
    refusal = _refusal(raw)
    if refusal:
        return InboundMessage(sender=None, fatal=refusal)
    try:
        tree, parse_defects = _parse_tree(raw)
        message = _build(tree, _Budget(limits), depth=0, forward_level=0)
    except RecursionError:
        return InboundMessage(sender=None, fatal="MIME structure nested too deeply to parse")
    except Exception as error:
        # Last resort so the poller always gets an outcome: every failure known is handled
        # where it happens, so reaching this is a bug to fix; the raw bytes are quarantined,
        # and the traceback logged for the report.
        log.exception("parser failure; the message will be quarantined")
        return InboundMessage(
            sender=None, fatal=f"unexpected parser failure: {type(error).__name__}"
        )
    defects = tuple(dict.fromkeys(parse_defects + list(message.defects)))
    message = replace(message, defects=defects, fingerprint=fingerprint(raw))
    if len(tree) == 0:
        return replace(message, fatal="no header fields: not an e-mail message")
    return message


def parse_ahead(raw: bytes) -> InboundMessage:
    """``parse_message`` for a parse worker (see poller.ParseAhead), with what the main
    process reads of the message next worked out there too: its fresh text, its files'
    digests and what its images are (cached properties, kept in the instance, so they travel
    back with it; documents wait for a rule that asks). Here, not in poller, so that the
    worker imports only the parser."""
    message = parse_message(raw)
    _ = message.fresh_text
    for attachment in message.attachments:
        _ = attachment.sha256
        if attachment.real_type.startswith("image/"):
            _ = attachment.contents
    return message


def _refusal(raw: bytes) -> str | None:
    """Why ``raw`` cannot be an e-mail at all, before parsing, or None."""
    if not raw or raw.isspace():
        return "empty input: no message"
    if raw.startswith(_OLE2_MAGIC):
        return "Outlook .msg file (OLE2 compound document), not an RFC 5322 e-mail"
    return None


def _parse_tree(raw: bytes) -> tuple[Message, list[str]]:
    """One stdlib parse, repeated only to repair two header breakages seen in stored mail."""
    tree, defects = _stdlib_parse(raw), []
    banner, _, rest = raw.partition(b"\n")
    if len(tree) == 0 and _HEADER_FIELD.match(rest):
        # A banner line before the header ("---- Original email message ----", mail068).
        raw, tree = rest, _stdlib_parse(rest)
        defects.append(f"line before the header skipped: {banner.decode('latin-1')[:60]!r}")
    refolded = _refolded_header(raw) if _header_cut_short(tree) else None
    if refolded is not None:
        tree = _stdlib_parse(refolded)
        defects.append("header lines without folding white space joined to the field before")
    return tree, defects


def _stdlib_parse(raw: bytes) -> Message:
    # compat32 rather than policy.default: this module reads every header it interprets from
    # the raw fields (_read_headers, _part_info), so the default policy's header objects only
    # cost time. It re-parses Content-Type through the header registry each time the parser
    # looks at a part (2x slower on the shared corpus, 17x on a 20,000-part message) and
    # raises UnicodeDecodeError on some RFC 2231 values (otobo PostMaster-Test12). The
    # InboundMessages are identical for all 225 corpus files under both policies.
    # Fed in slices rather than through message_from_bytes, which decodes the whole message
    # to one str and copies that into a StringIO (4 bytes a character): 193 MB at the peak
    # for a 25 MB message against 68 MB, the same tree either way (bench/README.md).
    parser = BytesFeedParser(policy=email.policy.compat32)
    for start in range(0, len(raw), _FEED_BYTES):
        parser.feed(raw[start : start + _FEED_BYTES])
    return parser.close()


def _header_cut_short(tree: Message) -> bool:
    return any(isinstance(d, email.errors.MissingHeaderBodySeparatorDefect) for d in tree.defects)


def _refolded_header(raw: bytes) -> bytes | None:
    """``raw`` with header lines that lost their folding white space indented again, or None.

    Some gateways unfold long Received or X-Spam lines badly; the stdlib then starts the body
    at the first such line and loses From and Subject (zammad mail054, mail068). Done only
    when an interpreted field follows, so a body that merely lacks its blank line stays body.
    """
    lines = raw.split(b"\n")
    end = next((i for i, line in enumerate(lines) if not line.strip()), len(lines))
    broken = [
        i
        for i in range(end)
        if not _HEADER_FIELD.match(lines[i])
        and lines[i][:1] not in (b" ", b"\t")
        and not (i == 0 and lines[i].startswith(b"From "))  # mbox separator line
    ]
    if not broken or not any(_INTERPRETED_FIELD.match(line) for line in lines[broken[0] : end]):
        return None
    for i in broken:
        lines[i] = b" " + lines[i]
    return b"\n".join(lines)


def _build(tree: Message, budget: _Budget, depth: int, forward_level: int) -> InboundMessage:
    """The InboundMessage for a parsed tree (the whole mail, or one attached to it)."""
    defects: list[str] = []
    headers, raw = _read_headers(tree, defects)
    walk = _Walk(budget, forward_level, defects)
    _visit(tree, depth, walk)
    text, html = _body(walk)
    _keep_pasted_images(html, walk)
    attachments = _attachments(walk, html)
    text, shown = _read_html(html, text, walk)
    return InboundMessage(
        sender=_sender(raw, defects),
        to=_addresses(raw, "to", defects),
        cc=_addresses(raw, "cc", defects),
        reply_to=_addresses(raw, "reply-to", defects),
        subject=safe_text(decode_encoded_words(_first(raw, "subject") or "")),
        message_id=next(iter(_message_ids(_first(raw, "message-id"))), None),
        in_reply_to=next(iter(_message_ids(_first(raw, "in-reply-to"))), None),
        references=tuple(_message_ids(_first(raw, "references"))),
        date=_date(_first(raw, "date"), defects),
        content_type=_part_info(tree).content_type,
        headers=headers,
        header_order=tuple(name.lower() for name in tree.keys()[:MAX_HEADER_FIELDS]),
        text=text,
        html=shown,
        attachments=attachments,
        forwarded=tuple(walk.forwarded),
        defects=tuple(dict.fromkeys(defects)),
    )


# --- headers -------------------------------------------------------------------------------


def _read_headers(
    tree: Message, defects: list[str]
) -> tuple[dict[str, tuple[str, ...]], dict[str, list[str]]]:
    """All fields decoded for ``headers`` (capped), and the undecoded text of those we interpret.

    Interpreted fields stay RFC 2047-encoded so that an encoded comma or bracket in a display
    name cannot split an address; raw 8-bit bytes are decoded in both.
    """
    shown: dict[str, list[str]] = {}
    interpreted: dict[str, list[str]] = {}
    total = 0
    for total, (name, value) in enumerate(tree.raw_items(), start=1):
        key = name.lower()
        if total > MAX_HEADER_FIELDS and key not in _INTERPRETED_HEADERS:
            continue
        text = str(value)
        if len(text) > MAX_HEADER_VALUE and key not in _VERBATIM_HEADERS:
            defects.append(f"{key} header longer than 8 KB: truncated")
            text = text[:MAX_HEADER_VALUE]
        text = text_from_raw_header(text)
        if key in _INTERPRETED_HEADERS:
            interpreted.setdefault(key, []).append(text)
        if total <= MAX_HEADER_FIELDS and key in _VERBATIM_HEADERS:
            shown.setdefault(key, []).append(text)
        elif total <= MAX_HEADER_FIELDS:
            # Without the NUL an encoded-word may hold, as text_from_raw_header drops raw ones.
            shown.setdefault(key, []).append(decode_encoded_words(text).replace("\x00", ""))
    if total > MAX_HEADER_FIELDS:
        defects.append(f"{total - MAX_HEADER_FIELDS} header fields beyond the first 200 not kept")
    return {key: tuple(values) for key, values in shown.items()}, interpreted


def _first(raw: dict[str, list[str]], name: str) -> str | None:
    values = raw.get(name)
    return values[0] if values else None


def _sender(raw: dict[str, list[str]], defects: list[str]) -> Address | None:
    """The one author in From; None when From names no one, or several (in one field or in
    two From fields). Such a mail could be taken for anyone's: a reader picks whichever
    author a client shows, so it acts for no one. Sender: and Return-Path: never stand in
    for From: they name whoever relayed or bounces the mail, which anyone can write too."""
    authors = _addresses(raw, "from", defects)
    if len(authors) > 1:
        defects.append(f"{len(authors)} addresses in From")
    return authors[0] if len(authors) == 1 else None


def _addresses(raw: dict[str, list[str]], name: str, defects: list[str]) -> tuple[Address, ...]:
    """Every mailbox in every ``name`` field, in order."""
    return tuple(address for value in raw.get(name, ()) for address in _field(value, name, defects))


def _field(value: str, name: str, defects: list[str]) -> list[Address]:
    """The mailboxes of one address field; entries the stdlib cannot read become defects.

    An address in angle brackets is the one the mail system uses, whatever surrounds it: if
    the stdlib misses one ("Max Kohl | [x] <kohl@x>"), it is kept without a name. A field
    without any ('"fulano@x"') gives the addresses standing in it.
    """
    brackets = _angle_brackets(value)
    mailboxes, unusable = _mailboxes(_quoted_address_phrases(value, brackets))
    found: list[Address] = []
    for mailbox in mailboxes:
        address = _mailbox_address(mailbox)
        if address is not None:
            found.append(Address(address, _display_name(mailbox, address, defects)))
        elif mailbox.addr_spec not in ("", "<>"):
            unusable.append(mailbox.addr_spec)
    known = {address.email for address in found}
    bracketed = [a for a in _bracketed_addresses(value, brackets) if a not in known]
    if unusable or bracketed:
        shown = ", ".join(unusable or bracketed)[:80]
        defects.append(f"unusable address in {name}: {shown!r}")
        loose = bracketed if brackets else _standalone_addresses(value)
        found += [Address(email) for email in loose if email not in known]
    return found


def _mailbox_address(mailbox: MailboxAddress) -> str | None:
    """The address without quotes, lower-cased; None when it needs quoting or lacks a part.

    The stdlib quotes a local part it repaired ('"power quadrant system"@x' from an
    unquoted "<power quadrant system@x>", zammad mail071): such an address reaches nobody
    we could answer, and quotes in a stored address would defeat every comparison with it.
    A quoted local part that needs no quotes ('"#FAX#123"@x', otobo PostMaster-Test8) loses
    them.
    """
    local, domain = mailbox.username, mailbox.domain
    if not local or not domain or _NOT_IN_LOCAL_PART.search(local):
        return None
    if _NOT_IN_DOMAIN.search(domain):
        return None
    return f"{local}@{domain}".lower()


def _display_name(mailbox: MailboxAddress, address: str, defects: list[str]) -> str:
    """The decoded name, or "" when it shows an address other than the mailbox's own.

    '"alice@example.com" <bob@example.com>' is written for a reader to take bob's mail for
    alice's; the name is dropped so that no notice or staff screen shows it as the sender.
    """
    # The stdlib leaves bytes of encoded words it could not decode as surrogate escapes
    # (an "ISO-2022-JP" word holding Shift_JIS, mail093): decode them like raw header bytes.
    name = safe_text(text_from_raw_header(mailbox.display_name))
    if {found.lower() for found in _STANDALONE_ADDRESS.findall(name)} - {address}:
        defects.append(f"display name {name[:60]!r} shows another address than {address}")
        return ""
    return name


@dataclass(frozen=True)
class _Brackets:
    """One "<...>" on the top level of an address field, and the phrase before it."""

    phrase_start: int
    opening: int  # index of "<"
    closing: int  # index of ">"
    at_in_phrase: bool  # an "@" outside quotes and comments in the phrase


def _angle_brackets(value: str) -> list[_Brackets]:
    """The top-level angle brackets of a field: never those inside quoted names or comments."""
    if "<" not in value:
        return []
    found: list[_Brackets] = []
    scanner = _FieldScanner()
    phrase_start, at_in_phrase, opening = 0, False, -1
    for index, character in enumerate(value):
        top_level = scanner.at_top_level(character)
        if opening >= 0:
            if not scanner.angled:  # this character closed the brackets
                found.append(_Brackets(phrase_start, opening, index, at_in_phrase))
                phrase_start, at_in_phrase, opening = index + 1, False, -1
        elif not top_level:
            continue
        elif character in ",:;":
            phrase_start, at_in_phrase = index + 1, False
        elif character == "@":
            at_in_phrase = True
        elif character == "<":
            opening = index
    return found


def _quoted_address_phrases(value: str, brackets: list[_Brackets]) -> str:
    """``value`` with every display name that holds an unquoted "@" put in quotes.

    The stdlib reads 'alice@example.com <bob@example.com>' as the mailbox alice@example.com
    and drops the address in angle brackets, which is the one the mail came from (mail-parser
    mail_test_19, mail_test_15); quoted, the name is read as a name.
    """
    pieces: list[str] = []
    copied = 0
    for found in brackets:
        if found.at_in_phrase:
            phrase = value[found.phrase_start : found.opening]
            pieces += [value[copied : found.phrase_start], _quoted_phrase(phrase)]
            copied = found.opening
    return "".join([*pieces, value[copied:]])


def _quoted_phrase(phrase: str) -> str:
    core = phrase.strip()
    start = phrase.index(core)
    escaped = core.replace("\\", "\\\\").replace('"', '\\"')
    return f'{phrase[:start]}"{escaped}"{phrase[start + len(core) :]}'


def _bracketed_addresses(value: str, brackets: list[_Brackets]) -> list[str]:
    """The whole contents of top-level angle brackets that are addresses, lower-cased.

    Never a fragment: "<power quadrant system@x>" holds no address, not system@x.
    """
    contents = (value[found.opening + 1 : found.closing].strip() for found in brackets)
    return list(dict.fromkeys(c.lower() for c in contents if _BARE_ADDRESS.fullmatch(c)))


def _standalone_addresses(value: str) -> list[str]:
    return list(dict.fromkeys(found.lower() for found in _STANDALONE_ADDRESS.findall(value)))


@dataclass
class _FieldScanner:
    """Where a character of an address field stands: quoted string, comment, angle brackets."""

    quoted: bool = False
    escaped: bool = False
    comment_depth: int = 0
    angled: bool = False

    def at_top_level(self, character: str) -> bool:
        """Whether ``character`` is outside every quoted string, comment and angle bracket.

        An opening quote, parenthesis or angle bracket is itself at the top level.
        """
        if self.escaped:
            self.escaped = False
            return False
        if character == "\\" and (self.quoted or self.comment_depth):
            self.escaped = True
            return False
        if self.quoted:
            self.quoted = character != '"'
            return False
        if self.comment_depth:
            self.comment_depth += {"(": 1, ")": -1}.get(character, 0)
            return False
        if self.angled:
            self.angled = character != ">"
            return False
        self.quoted = character == '"'
        self.comment_depth = int(character == "(")
        self.angled = character == "<"
        return True


def _mailboxes(value: str) -> tuple[list[MailboxAddress], list[str]]:
    """The stdlib's reading of an address list (entry by entry if the whole list fails),
    and the entries it could not read at all."""
    parse_field = email.policy.default.header_factory
    try:
        return list(parse_field("to", value).addresses), []
    except _STDLIB_ERRORS:
        pass
    mailboxes: list[MailboxAddress] = []
    unreadable: list[str] = []
    for entry in value.split(","):
        try:
            mailboxes.extend(parse_field("to", entry).addresses)
        except _STDLIB_ERRORS:
            unreadable.append(entry.strip())
    return mailboxes, unreadable


def _message_ids(value: str | None) -> list[str]:
    """Ids in order, without angle brackets or white space (bare tokens when none bracketed)."""
    if not value:
        return []
    candidates = _MESSAGE_ID.findall(value) or re.split(r"[\s,]+", value)
    return [ident for ident in ("".join(candidate.split()) for candidate in candidates) if ident]


def _date(value: str | None, defects: list[str]) -> datetime | None:
    if not value:
        return None
    try:
        parsed = email.utils.parsedate_to_datetime(value)
    except (ValueError, OverflowError):  # OverflowError: absurdly large numbers in the date
        defects.append(f"unreadable Date: {value[:80]!r}")
        return None
    # "-0000" means UTC with the sender's zone unknown (RFC 5322 3.3): the stdlib makes it naive.
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


# --- MIME tree -----------------------------------------------------------------------------


def _visit(part: Message, depth: int, walk: _Walk) -> None:
    """Sort one part (and, through it, its children) into body text, files or forwarded mail."""
    limits = walk.budget.limits
    if depth > limits.mime_depth:
        walk.defects.append(
            f"MIME nesting deeper than {limits.mime_depth} levels: deeper parts skipped"
        )
        return
    if not walk.budget.take():
        walk.defects.append(f"more than {limits.parts} MIME parts: the rest skipped")
        return
    info = _part_info(part)
    walk.defects.extend(f"{info.content_type}: {_describe(defect)}" for defect in part.defects)
    if info.content_type in _ATTACHED_MESSAGE_TYPES:
        _add_forwarded(part, depth, walk)
    elif info.content_type.startswith("multipart/"):
        _visit_children(part, info, depth, walk)
    elif (
        info.content_type in _BODY_TYPES and info.disposition != "attachment" and not info.filename
    ):
        _add_body_text(part, info, walk)
    else:
        _add_file(part, info, walk)


def _part_info(part: Message) -> _PartInfo:
    """Read Content-Type/-Disposition/-ID from the raw fields.

    The parameters (RFC 2231 included) are read by a small Message holding the field text
    with raw 8-bit bytes already decoded: read from the part itself, a file name sent as
    raw UTF-8 or latin-1 would come back with U+FFFD in place of its accents.
    """
    content = Message()
    content_id = None
    for name, value in part.raw_items():
        key = name.lower()
        if key in ("content-type", "content-disposition"):
            content[key] = text_from_raw_header(str(value))
        elif key == "content-id" and content_id is None:
            content_id = text_from_raw_header(str(value)).strip().strip("<>").strip().lower()
    return _PartInfo(
        content_type=content.get_content_type()
        if "content-type" in content
        else part.get_default_type(),
        charset=_charset(content),
        disposition=content.get_content_disposition(),
        filename=decode_filename(content),
        content_id=content_id or None,
        flowed=str(content.get_param("format", "")).lower() == "flowed",
        delsp=str(content.get_param("delsp", "")).lower() == "yes",
    )


def _charset(content: Message) -> str | None:
    try:
        return content.get_content_charset()
    except ValueError:  # an RFC 2231 charset label holding a NUL (found by tests/test_fuzz.py)
        return None


def _describe(defect: email.errors.MessageDefect) -> str:
    """A stdlib defect in words: its message, else the first line of its class docstring."""
    return str(defect) or (type(defect).__doc__ or type(defect).__name__).strip().splitlines()[0]


def _visit_children(part: Message, info: _PartInfo, depth: int, walk: _Walk) -> None:
    children = _subparts(part) if part.is_multipart() else _recovered_children(part, info, walk)
    if children is not None:
        for child in children + _parts_after_the_end(part, info, walk):
            _visit(child, depth + 1, walk)
    elif str(part.get_payload()).strip():
        walk.defects.append(f"{info.content_type} without a usable boundary: read as plain text")
        _add_body_text(part, replace(info, content_type="text/plain"), walk)


def _recovered_children(part: Message, info: _PartInfo, walk: _Walk) -> list[Message] | None:
    """Re-split a multipart whose boundary parameter does not match its body, if it shows one."""
    payload = part.get_payload()
    match = _FIRST_BOUNDARY.search(payload) if isinstance(payload, str) else None
    if match is None:
        return None
    header = f'Content-Type: {info.content_type}; boundary="{match.group(1)}"\n\n'
    rebuilt = _stdlib_parse(header.encode() + match.string.encode("utf-8", "surrogateescape"))
    if not rebuilt.is_multipart():
        return None
    walk.defects.append(f"{info.content_type} without a usable boundary: parts recovered")
    return _subparts(rebuilt)


def _parts_after_the_end(part: Message, info: _PartInfo, walk: _Walk) -> list[Message]:
    """Parts left in the epilogue, after the multipart's closing line: a nested multipart that
    reused its parent's boundary (Outlook Express for Mac) closed the parent early."""
    boundary, epilogue = part.get_boundary(), part.epilogue
    match = _FIRST_BOUNDARY.search(epilogue) if boundary and epilogue else None
    if match is None or match.group(1) != boundary:
        return []
    header = f'Content-Type: {info.content_type}; boundary="{boundary}"\n\n'
    rebuilt = _stdlib_parse(header.encode() + match.string.encode("utf-8", "surrogateescape"))
    walk.defects.append(f"{info.content_type}: parts after its closing boundary recovered")
    return _subparts(rebuilt)


def _subparts(part: Message) -> list[Message]:
    payload = part.get_payload()
    return [child for child in payload if isinstance(child, Message)] if part.is_multipart() else []


def _add_forwarded(part: Message, depth: int, walk: _Walk) -> None:
    """An attached message is parsed on its own: its text and files never join the outer ones."""
    if walk.forward_level >= MAX_FORWARD_DEPTH:
        walk.defects.append(
            f"attached message nested deeper than {MAX_FORWARD_DEPTH} levels: skipped"
        )
        return
    attached = _subparts(part)
    if not attached:
        walk.defects.append("attached message without content: skipped")
        return
    walk.forwarded.append(_build(attached[0], walk.budget, depth + 1, walk.forward_level + 1))


def _add_body_text(part: Message, info: _PartInfo, walk: _Walk) -> None:
    data = _payload_bytes(part, info, walk)
    if data is None:
        return
    decoded = decode_bytes(data, info.charset)
    if not decoded.as_declared:
        walk.defects.append(
            f"{info.content_type}: charset {info.charset!r} unusable, read as {decoded.charset}"
        )
    if info.content_type == "text/html":
        walk.html.append(decoded.text)
    elif info.flowed:
        walk.plain.append(unflow(_clean_text(decoded.text), delsp=info.delsp))
    else:
        walk.plain.append(decoded.text)


def _add_file(part: Message, info: _PartInfo, walk: _Walk) -> None:
    # message/delivery-status and similar hold header blocks, not a payload to decode.
    if part.is_multipart():
        data = _header_blocks(part, info, walk)
    else:
        data = _payload_bytes(part, info, walk)
    if not data:
        walk.defects.append(f"{info.content_type}: empty part skipped")
        return
    inline = info.disposition == "inline"
    _keep_file(_File(data, info.content_type, info.filename, info.content_id, inline), walk)


def _keep_file(file: _File, walk: _Walk) -> None:
    """Every file goes through here, so the attachment limits hold whatever the file's origin."""
    refusal = walk.budget.refuse_file(len(file.data))
    if refusal is None:
        walk.files.append(file)
    else:
        walk.defects.append(refusal)


def _payload_bytes(part: Message, info: _PartInfo, walk: _Walk) -> bytes | None:
    """The part's content with its transfer encoding undone, or None when unreadable."""
    try:
        data = _clean_base64(part) or part.get_payload(decode=True)
    except _STDLIB_ERRORS as error:
        walk.defects.append(f"{info.content_type}: unreadable content ({type(error).__name__})")
        return None
    return data if isinstance(data, bytes) else None


def _clean_base64(part: Message) -> bytes | None:
    """A large, well-formed base64 payload decoded straight from the tree's text, or None.

    The stdlib joins the payload's lines into a copy first (137 MB at the peak for a 25 MB
    message, against 68 MB). Only text the stdlib would decode without a defect is taken
    (the base64 alphabet, line breaks, final padding, whole quanta), so the bytes are the
    same; anything else goes the stdlib's way, defects and all.
    """
    if str(part.get("content-transfer-encoding", "")).strip().lower() != "base64":
        return None
    try:  # a payload with 8-bit bytes is decoded with the part's charset, which may fail
        payload = part.get_payload()
    except _STDLIB_ERRORS:
        return None
    if not isinstance(payload, str) or len(payload) < _CLEAN_BASE64_MIN:
        return None
    letters = len(payload) - payload.count("\n") - payload.count("\r")
    if letters % 4 or not _CLEAN_BASE64.fullmatch(payload):
        return None
    return binascii.a2b_base64(payload)


def _header_blocks(part: Message, info: _PartInfo, walk: _Walk) -> bytes | None:
    try:
        blocks = _subparts(part)
        return b"\n".join(block.as_bytes(policy=email.policy.compat32) for block in blocks)
    except _STDLIB_ERRORS as error:
        walk.defects.append(f"{info.content_type}: unreadable content ({type(error).__name__})")
        return None


# --- body and attachments ------------------------------------------------------------------


def _body(walk: _Walk) -> tuple[str, str | None]:
    """The plain text a human wrote and the sender's HTML, if any.

    uuencoded files found in the plain text are moved from it into ``walk.files``.
    """
    html = "\n".join(walk.html).replace("\x00", "") if walk.html else None
    text, uuencoded = _without_uuencoded(_clean_text("\n".join(walk.plain)))
    for file in uuencoded:
        _keep_file(file, walk)
    return text, html


def _clean_text(text: str) -> str:
    # One line-ending convention for the rules' patterns; NUL cannot be stored in PostgreSQL.
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", "")


def _read_html(html: str | None, text: str, walk: _Walk) -> tuple[str, str | None]:
    """The text (the plain one, else the HTML's) and the HTML safe to show to staff.

    Read here, in the parse stage, and within html_safety's bounds: the HTML the desk keeps
    is worked out once, never in a database transaction.
    """
    if html is None:
        return text, None
    bounded = bound_html(html)
    walk.defects.extend(bounded.defects)
    if not text.strip():
        try:
            text = _clean_text(bounded.text())
        except Exception as error:
            # inscriptis on hostile markup may fail in many ways; the HTML is kept.
            walk.defects.append(f"HTML body not convertible to text ({type(error).__name__})")
    return text, bounded.shown()


def _without_uuencoded(text: str) -> tuple[str, list[_File]]:
    """Cut ``begin 644 name`` ... ``end`` blocks out of a text body, as files."""
    if "begin " not in text:
        return text, []
    kept: list[str] = []
    files: list[_File] = []
    lines = iter(text.split("\n"))
    for line in lines:
        begin = _UUENCODE_BEGIN.fullmatch(line.rstrip())
        if begin is None:
            kept.append(line)
            continue
        block = list(takewhile(lambda body_line: body_line.rstrip() != "end", lines))
        data = _uudecode(block)
        if data:
            files.append(_File(data, "application/octet-stream", begin.group(1).strip()))
        else:
            kept.extend([line, *block])
    return "\n".join(kept), files


def _uudecode(lines: list[str]) -> bytes | None:
    """The bytes of a uuencoded block's lines, or None when they are not uuencode."""
    chunks: list[bytes] = []
    for line in (line.rstrip() for line in lines):
        if not line.isascii():
            return None
        try:
            chunks.append(_uudecode_line(line.encode("ascii")))
        except binascii.Error:
            return None
    return b"".join(chunks)


def _uudecode_line(encoded: bytes) -> bytes:
    if not encoded:
        return b""
    try:
        return binascii.a2b_uu(encoded)
    except binascii.Error:
        # Some encoders pad lines past the length their first character announces; the
        # stdlib's own uu decoder retries with the announced length the same way.
        announced = (((encoded[0] - 32) & 63) * 4 + 5) // 3
        return binascii.a2b_uu(encoded[:announced])


def _attachments(walk: _Walk, html: str | None) -> tuple[Attachment, ...]:
    """The files of the walk, named (uniquely within the message), typed, and placed: an
    image the body shows after the closing is marked as part of the signature."""
    referenced = {unquote(cid).lower() for cid in _CID_REFERENCE.findall(html or "")}
    in_signature = _cids_in_signature(walk, html)
    numbers: defaultdict[str, Iterator[int]] = defaultdict(lambda: count(1))
    sniffed = [_sniff(file.data) for file in walk.files]
    names = unique_names(
        safe_filename(file.name) or _generated_name(file, kind, numbers)
        for file, kind in zip(walk.files, sniffed, strict=True)
    )
    return tuple(
        Attachment(
            name,
            file.declared_type,
            kind.mime if kind else None,
            file.data,
            inline=file.inline or file.content_id in referenced,
            content_id=file.content_id,
            in_signature=file.in_signature or file.content_id in in_signature,
        )
        for file, kind, name in zip(walk.files, sniffed, names, strict=True)
    )


def _cids_in_signature(walk: _Walk, html: str | None) -> frozenset[str]:
    """Content-IDs the body first shows after the sender's closing or in a signature block:
    in the HTML (``cid:``), or in the text of a mail without one (Outlook's ``[cid:...]``)."""
    if not any(file.content_id for file in walk.files):
        return frozenset()
    markup = html if html is not None else "\n".join(walk.plain)
    start = signature_start(markup, is_html=html is not None)
    if start is None:
        return frozenset()
    first: dict[str, int] = {}
    for found in _CID_REFERENCE.finditer(markup):
        first.setdefault(unquote(found.group(1)).rstrip("]").lower(), found.start())
    return frozenset(cid for cid, offset in first.items() if offset >= start)


class _Kind(NamedTuple):
    """What the bytes of a file are, by their magic number."""

    mime: str
    extension: str


def _sniff(data: bytes) -> _Kind | None:
    kind = filetype.guess(data)
    return _Kind(kind.mime, kind.extension) if kind else None


def _keep_pasted_images(html: str | None, walk: _Walk) -> None:
    """Images pasted into the HTML as data: URIs become inline files."""
    if not html or "data:" not in html:
        return
    signature = signature_start(html)
    for match in _PASTED_IMAGE.finditer(html):
        if not walk.budget.take():
            limit = walk.budget.limits.parts
            walk.defects.append(f"more than {limit} MIME parts: pasted images skipped")
            return
        try:
            data = binascii.a2b_base64(match.group(2).encode("ascii"))
        except binascii.Error:
            walk.defects.append("pasted image with broken base64 skipped")
            continue
        after_closing = signature is not None and match.start() >= signature
        image = _File(
            data, match.group(1).lower(), "", inline=True, stem="imagem-colada",
            in_signature=after_closing,
        )  # fmt: skip
        _keep_file(image, walk)


def _generated_name(file: _File, kind: _Kind | None, numbers: dict[str, Iterator[int]]) -> str:
    extension = kind.extension if kind else _TEXT_EXTENSIONS.get(file.declared_type, "bin")
    return generated_filename(next(numbers[file.stem]), extension, file.stem)
