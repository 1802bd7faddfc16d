"""Machine mail: auto-replies, bounces, lists and our own mail, which must never be answered."""

from __future__ import annotations

import email
import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from email.message import Message
from email.utils import parseaddr

from flufl.bounce import scan_message

from mailproc.message import InboundMessage
from mailproc.textfold import fold

Check = Callable[[InboundMessage, frozenset[str]], str | None]
"""One sign of machine mail: the message and our own addresses (lower-case) -> reason or None."""

_BULK_PRECEDENCE = frozenset({"bulk", "junk", "list", "auto_reply"})
_DAEMON_LOCAL_PARTS = frozenset({"mailer-daemon", "mailer_daemon", "mailerdaemon", "postmaster"})
_LIST_ROBOT_LOCAL_PART = re.compile(r"-(?:request|bounces?|owner)$|^owner-")
_NOREPLY_LOCAL_PART = re.compile(
    r"(?:^|[._+-])(?:no[._-]?reply|do[._-]?not[._-]?reply|nao[._-]?respond(?:a|er))(?:$|[._+\d-])"
)
_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+")
_REPORT_PARTS = {
    "message/delivery-status": "delivery status notification",
    "message/disposition-notification": "read receipt (disposition notification)",
}
_OOF_SUBJECT_OPENINGS = (
    "resposta automatica",
    "ausencia temporaria",
    "fora do escritorio",
    "automatic reply",
    "auto reply",
    "autoreply",
    "out of office",
    "out of the office",
)
_BOUNCE_SUBJECT_OPENINGS = (
    "undelivered mail returned to sender",
    "delivery status notification",
    "mail delivery failed",
    "delivery failure",
    "delivery notification: delivery has failed",
    "nao foi possivel entregar",
    "mensagem nao entregue",
    "returned mail",
    "undeliverable",
    "failure notice",
)
# Phrases of an absence notice, looked for only next to X-Auto-Response-Suppress (see below).
_ABSENCE_PHRASES = (
    *_OOF_SUBJECT_OPENINGS,
    "estou ausente",
    "estarei ausente",
    "estou de ferias",
    "estarei de ferias",
    "em ferias",
    "i am out of",
    "i will be out of",
)
_ABSENCE_TEXT_HEAD = 400  # an absence notice says so at once; later mentions are conversation


def auto_submitted(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """RFC 3834: any Auto-Submitted value but "no" marks machine mail."""
    value = _token(msg.header("auto-submitted"))
    return f"auto-submitted: {value}" if value and value != "no" else None


def delivery_report(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """RFC 6522 reports: a delivery status notification or a read receipt.

    Known by the report-type of a multipart/report, or by the machine-readable part a report
    carries (some MTAs wrap it in multipart/mixed).
    """
    header = msg.header("content-type") or ""
    declared = re.search(r"report-type\s*=\s*\"?([\w-]+)", header, re.IGNORECASE)
    parts = [f"message/{declared.group(1)}"] if declared else []
    parts += [attachment.declared_type for attachment in msg.attachments]
    found = next((_REPORT_PARTS[p.lower()] for p in parts if p.lower() in _REPORT_PARTS), None)
    is_report = "multipart/report" in {msg.content_type.lower(), _token(header)}
    return found or ("delivery report (multipart/report)" if is_report else None)


def null_sender(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """Bounces travel with an empty envelope sender (Return-Path: <>).

    A message with no From at all is not evidence of a machine by itself: the decision stage
    quarantines it for a person to look at, rather than dropping it as machine mail."""
    if (msg.header("return-path") or "").strip() == "<>":
        return "null sender (Return-Path: <>)"
    return None


def daemon_sender(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """MAILER-DAEMON@ and postmaster@ speak for mail servers, not for people."""
    local = next((part for part in _local_parts(msg) if part in _DAEMON_LOCAL_PARTS), None)
    return f"sender is {local}" if local else None


def own_address(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """Our own mail coming back (a copy, a forward rule, a loop) is never answered."""
    return "from our own address" if msg.sender and msg.sender.email.lower() in own else None


def x_loop(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """X-Loop naming one of our addresses: the message has already passed through us."""
    named = {
        address.lower()
        for value in msg.headers.get("x-loop", ())
        for address in _ADDRESS.findall(value)
    }
    return "x-loop names our address" if named & own else None


def list_headers(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """Mailing lists and newsletters (RFC 2369/2919 headers) are not people asking for help."""
    for name in ("List-Id", "List-Unsubscribe"):
        if msg.header(name) is not None:
            return f"mailing list ({name})"
    return None


def list_robot_sender(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """list-request@, list-bounces@, owner-list@: list servers' own addresses (digests, notices)."""
    found = any(_LIST_ROBOT_LOCAL_PART.search(part) for part in _local_parts(msg, "sender"))
    return "mailing list (list server address)" if found else None


def precedence(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """Precedence: bulk/junk/list/auto_reply, the pre-RFC 3834 way to say "do not answer"."""
    value = _token(msg.header("precedence"))
    return f"precedence: {value}" if value in _BULK_PRECEDENCE else None


def autoreply_headers(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """X-Autoreply / X-Autorespond, set by vacation programs and some webmail auto-replies."""
    for name in ("X-Autoreply", "X-Autorespond"):
        value = _token(msg.header(name))
        if value is not None and value != "no":
            return f"{name.lower()} header"
    return None


def outlook_out_of_office(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """X-Auto-Response-Suppress together with an absence notice in the subject or opening text.

    Outlook and Exchange put X-Auto-Response-Suppress on ordinary mail a person writes too (and
    on anything sent through some Exchange connectors): alone it only asks *others* not to
    auto-reply, so it needs a second sign before the message counts as an out-of-office.
    """
    if msg.header("x-auto-response-suppress") is None:
        return None
    opening = fold(f"{msg.subject}\n{msg.text[:_ABSENCE_TEXT_HEAD]}")
    if any(phrase in opening for phrase in _ABSENCE_PHRASES):
        return "out-of-office (X-Auto-Response-Suppress with an absence notice)"
    return None


def noreply_sender(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """noreply@/no-reply@/nao-responda@ senders (From or Return-Path) are systems."""
    found = any(_NOREPLY_LOCAL_PART.search(fold(part)) for part in _local_parts(msg))
    return "no-reply sender" if found else None


def out_of_office_subject(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """Subjects that auto-replies open with, in pt-BR and English."""
    subject = fold(msg.subject)
    return "out-of-office subject" if subject.startswith(_OOF_SUBJECT_OPENINGS) else None


def bounce_subject(msg: InboundMessage, own: frozenset[str]) -> str | None:
    """Subjects that non-delivery reports open with, in pt-BR and English."""
    subject = fold(msg.subject)
    return "delivery failure subject" if subject.startswith(_BOUNCE_SUBJECT_OPENINGS) else None


# The order of the checks: the first that matches gives the reason. Header-level declarations
# (RFC 3834, RFC 6522) come first, then the envelope and sender, then the heuristics.
CHECKS: tuple[Check, ...] = (
    auto_submitted,
    delivery_report,
    null_sender,
    daemon_sender,
    own_address,
    x_loop,
    list_headers,
    list_robot_sender,
    precedence,
    autoreply_headers,
    outlook_out_of_office,
    noreply_sender,
    out_of_office_subject,
    bounce_subject,
)

# The checks whose match means "this may be a bounce": only then is the bounce scanner run.
BOUNCE_SIGNS: frozenset[Check] = frozenset(
    {delivery_report, null_sender, daemon_sender, bounce_subject}
)


@dataclass(frozen=True)
class MachineVerdict:
    """Why a message is machine mail (None for a human) and, for a bounce, who bounced."""

    reason: str | None
    bounced: frozenset[str] = frozenset()


def machine_reason(msg: InboundMessage, own_addresses: Collection[str]) -> str | None:
    """A short English reason why this message must not be answered, or None for a human."""
    own = frozenset(address.lower() for address in own_addresses)
    return next((reason for check in CHECKS if (reason := check(msg, own))), None)


def looks_like_bounce(msg: InboundMessage, own_addresses: Collection[str] = ()) -> bool:
    """Whether any bounce sign is present (cheap: headers and subject only)."""
    own = frozenset(address.lower() for address in own_addresses)
    return any(sign(msg, own) for sign in BOUNCE_SIGNS)


def machine_verdict(
    msg: InboundMessage,
    own_addresses: Collection[str],
    source: bytes | Message | None = None,
) -> MachineVerdict:
    """The reason, plus the failed recipients when the message looks like a bounce.

    ``source`` is the raw message (bytes) or its stdlib parse; without it, or when the message
    shows no bounce sign, the bounce scanner is not run.
    """
    reason = machine_reason(msg, own_addresses)
    if reason is None or source is None or not looks_like_bounce(msg, own_addresses):
        return MachineVerdict(reason)
    return MachineVerdict(reason, frozenset(bounced_recipients(source)))


def bounced_recipients(source: bytes | Message) -> set[str]:
    """The recipients a bounce reports as permanently failed (flufl.bounce), lower-cased.

    Empty when the message is no bounce the scanner can read. Run it only on messages that
    look like bounces: on other mail its heuristic detectors report random words as addresses.
    """
    try:
        found = scan_message(_as_message(source))
    except Exception:
        # flufl.bounce's heuristic detectors assume sane headers and raise on hostile input
        # (IndexError on an empty From, AttributeError on raw 8-bit headers). A message the
        # scanner cannot read has no recipients we can trust, and must not stop the poller.
        return set()
    addresses = (address.decode("ascii").lower() for address in found)
    return {address for address in addresses if _ADDRESS.fullmatch(address)}


def returned_message_id(source: bytes | Message) -> str | None:
    """The Message-ID of the message a bounce returns (its message/rfc822 or headers part).

    This is how a bounce is tied to the outgoing mail that failed.
    """
    for part in _as_message(source).walk():
        returned = _returned_headers(part)
        if returned is not None and returned.get("message-id"):
            return str(returned["message-id"]).strip()
    return None


def _returned_headers(part: Message) -> Message | None:
    """The returned message inside one part of a report, when the part holds one."""
    kind = part.get_content_type()
    if kind == "message/rfc822" and part.is_multipart():
        inner = part.get_payload(0)
        return inner if isinstance(inner, Message) else None
    if kind in ("text/rfc822-headers", "message/rfc822-headers"):
        payload = part.get_payload(decode=True)
        return email.message_from_bytes(payload) if isinstance(payload, bytes) else None
    return None


def _as_message(source: bytes | Message) -> Message:
    """The stdlib (compat32) parse flufl.bounce expects, from raw bytes or as given."""
    return email.message_from_bytes(source) if isinstance(source, bytes) else source


def _token(value: str | None) -> str | None:
    """First token of a structured header value, lower-cased: "Auto-Replied (x)" -> auto-replied."""
    if value is None:
        return None
    return re.split(r"[\s;(]", value.strip(), maxsplit=1)[0].lower()


def _local_parts(msg: InboundMessage, *headers: str) -> tuple[str, ...]:
    """Local parts of the From address, the envelope sender (Return-Path) and more headers."""
    sender = msg.sender.email if msg.sender else ""
    addresses = (sender, *(msg.header(name) or "" for name in ("return-path", *headers)))
    return tuple(part for part in map(_local_part, addresses) if part)


def _local_part(address: str) -> str:
    """ "Lista <ppp-request@x.org>" -> "ppp-request"; "<MAILER-DAEMON>" -> "mailer-daemon"."""
    bare = parseaddr(address)[1].lower()
    return bare.rpartition("@")[0] if "@" in bare else bare
