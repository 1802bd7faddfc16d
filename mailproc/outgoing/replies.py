"""Reply e-mails: render the pt-BR templates for a purpose and build the message to send."""

# Purposes and the context each template gets (built by the pipeline, see outgoing.notices).
# Every purpose has `<purpose>.txt.j2` (which defines `{% block subject %}`, one line, without
# the ticket tag) and `<purpose>.html.j2`. Files starting with "_" are shared layouts/macros.
#
# Common to every purpose:
#   desk              {name, address (the desk's e-mail address), phone ("0800 978 9001")}
#   requester         {name (may be empty), email}
#   original_subject  subject of the message being answered (may be empty)
#
# created            ticket accepted
#   ticket            {code, subject, theme_name, priority, due_at (pt-BR text in the
#                      desk's time zone, deadline_text: "quinta-feira, 10/12/2026, até as
#                      17:00 (horário de Brasília)"), response_hours (0 once urgency
#                      shortened the deadline: the theme's hours no longer hold),
#                      business_hours (the hours are the desk's working hours, "horas
#                      úteis", not every hour of the clock), urgent,
#                      offer_urgency (False once urgent, or for a no_urgency theme)}
#   received          everything the ticket has received so far, files of earlier replies
#                     included: {attachments: [{filename, size_kb}], answers: [{label, value}]}
#   knowledge         [{title, url}]
#   forwarder         e-mail of who forwarded the request, or ""
#   quoted            None, or the ticket the opening mail quoted: {code, own (the sender
#                      takes part in it: a cancelled ticket followed up), state_label}
#   by                "" (the notices to the requester below have it too)
# incomplete         ticket registered, "aguardando informações"; again after a partial reply
#   ticket, received, quoted, by as above
#   missing           [{kind ("attachment" | "answer"), label, reason, hint ("" when an
#                      earlier item printed the same hint)}]
#   questionnaire     [{label}]: answer lines to copy, fill in and send back
#   close_days        days without the information before the ticket is closed untreated
#   added             None for the opening notice; after a reply, what it brought
#                      ({attachments, answers} as in received)
#   by                "Name <address>" of a participant who sent the reply, else ""
# no_theme           no theme recognised, no ticket
#   themes            [{name, description, example_subject}]
# closed_incomplete  ticket closed untreated after the waiting period
#   ticket, missing   as above
# closed_unanswered  a pending ticket closed: its requester did not answer the staff in time
#   ticket; wait_days (the days they had); last_answer {text, at} or None (what staff asked)
# quarantined        the message could not be processed
#   reason            pt-BR text, e.g. "a mensagem excede o tamanho máximo de 25 MB"
# completed          an incomplete ticket became complete after a reply
#   ticket, received, by  as above (by: the colleague who completed it, or "")
#
# ticket (in every purpose below) also has state, state_label ("em atendimento") and
# created_at (pt-BR text); priority is its pt-BR label. In every purpose, ticket also has
# tracking_url: the encrypted link to the ticket's page in the web view for the mail's
# address, shared when the mail has copies (mailproc.outgoing.links; made as the mail is
# queued, Replier.tracked), "" when [web] public_url is not set and in mail to staff; the
# notices to the requester about one ticket print it ("Acompanhe seu chamado", macro tracking).
#
# Replies to a servant (mailproc.tickets.conversation):
# staff_answer       a staff answer relayed to the requester and participants
#   ticket            as above
#   answer            {text (may be empty), attachments: [{filename, size_kb}],
#                      state_label (the new state, or ""), priority (the new one, or "")}
#   ask_rating        True when the answer resolved the ticket: ask for a 1-5 rating
# rating_received    the requester's rating was stored
#   ticket; rating    {score, comment}
# status             "status 2026-000123": the ticket's state and last answer
#   ticket; received (as above); last_answer {text, at} or None
# my_tickets         "meus chamados"
#   tickets           [{code, subject, state_label, due_at ("" if none), created_at}]
#   total             how many tickets the sender has in all (tickets holds the newest)
# my_tickets_link    the web view's "Meus chamados" form: the link to the sender's tickets
#   my_tickets_url    the signed link (mailproc.outgoing.links); link_days: how long it is valid
# urgent_received    "urgente": priority raised, deadline shortened, area told
#   ticket; reason
# cancelled          "cancelar": the ticket was cancelled
#   ticket; reason (may be "")
# command_help       an unknown #command, or a command that could not be carried out
#   problem           pt-BR sentence saying what was wrong, or "" (just unknown)
#   example_tag       the desk's tag around an example code, "[#2026-000123]"
# stranger_notice    a stranger quoted a ticket's code (stranger_reply = "notice")
#   quoted_code
# staff_help         (to a staff member) their answer was held: directives not understood
#   ticket; unknown   [the "#..." items as written]
# proof_needed       an action without its proof (mailproc.decision.proofs): nothing changed
#   ticket; action    ("cancelar o chamado"); staff (the action was a staff answer)
# staff_login        (to a staff member) a one-time link to the web view (mailproc.web.login);
#                    requester is the staff member ({name: "", email})
#   login             {url, expires_at (pt-BR text in the desk's zone), minutes (how long
#                      the link is valid)}
#
# Mail to a theme's routing area (mailproc.tickets.routing; layout _area_layout, which greets
# area.name): every one has
#   area              {name, address}; ticket as above; requester is the ticket's requester
# routed             a ticket now in service, with its files attached
#   received          as above; description (the request's text); forwarder (or "")
#   transfer          None, or {from_theme (the old theme's name, or ""), by}: staff moved
#                     the ticket here from another theme (#tema)
# operator_alert     a loop cap held mail back (told once per cap and period)
#   alert             {cap ("sender"|"ticket"|"overall"), limit, code | address, key}
# area_update        the requester or a participant wrote in the ticket
#   update            {sender ("Name <address>"), text, attachments: [{filename, size_kb}],
#                      reopened_from (the
#                      label of the state the reply reopened the ticket from, or "")}
# area_urgent        the requester asked for urgency
#   reason; by        {name, email}
# area_cancelled     the requester cancelled the ticket
#   reason
# deadline_reminder  the deadline is near
#   hours_left        (counted as the theme counts its deadline: ticket.business_hours)
# deadline_escalation the deadline passed
#   overdue_hours (counted likewise); escalated_to (the address copied, or "")

from __future__ import annotations

import base64
import binascii
import re
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.utils import encode_rfc2231, formatdate
from functools import cached_property
from itertools import groupby
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_datetime, get_timezone_name
from jinja2 import nodes
from jinja2.exceptions import SecurityError
from jinja2.loaders import split_template_path
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

from mailproc.errors import TemplateError
from mailproc.mail.message import Attachment
from mailproc.mail.safe_names import safe_text

TEXT_SUFFIX = ".txt.j2"
HTML_SUFFIX = ".html.j2"
SUBJECT_BLOCK = "subject"

# The sandbox bounds attribute access, not memory: `'a' * 10**9` would render. These caps
# keep an operator's typo from exhausting the worker.
_MAX_REPEAT = 100_000  # items or characters a `*` repetition may produce
_MAX_EXPONENT = 100


def deadline_text(moment: datetime, timezone: ZoneInfo) -> str:
    """A deadline as the requester can trust it: the weekday, date and hour in the desk's
    time zone, and that zone's name ("quinta-feira, 10/12/2026, até as 17:00 (horário de
    Brasília)"). Babel knows the pt-BR names of weekdays and of every zone; the hour is cut
    to the minute, never rounded past the deadline."""
    local = moment.astimezone(timezone)
    day = format_datetime(local, "EEEE, dd/MM/yyyy", locale="pt_BR")
    zone = get_timezone_name(timezone, locale="pt_BR")
    return f"{day}, até as {local:%H:%M} ({zone[0].lower()}{zone[1:]})"


@dataclass(frozen=True)
class RenderedReply:
    """A purpose rendered for one context: the subject (no tag) and both bodies."""

    subject: str
    text: str
    html: str


class _CappedLoader(jinja2.BaseLoader):
    """Loads templates from one folder, refusing files larger than the cap (operator-edited)."""

    def __init__(self, root: Path, max_bytes: int) -> None:
        self._root = root
        self._max_bytes = max_bytes

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self._root.joinpath(*split_template_path(template))
        try:
            with path.open("rb") as file:
                # Read one byte past the cap so a huge file is never loaded whole.
                data = file.read(self._max_bytes + 1)
            mtime = path.stat().st_mtime
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise jinja2.TemplateNotFound(template) from None
        if len(data) > self._max_bytes:
            raise jinja2.TemplateError(
                f"{template} is larger than the {self._max_bytes}-byte template limit"
            )

        def uptodate() -> bool:
            try:
                return path.stat().st_mtime == mtime
            except OSError:
                return False

        return data.decode("utf-8"), str(path), uptodate


class _Sandbox(ImmutableSandboxedEnvironment):
    """The immutable sandbox, also refusing repetitions and powers that build huge values."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int) and abs(right) > _MAX_EXPONENT:
            raise SecurityError(f"exponent {right} is over the limit of {_MAX_EXPONENT}")
        if operator == "*" and _repeat_size(left, right) > _MAX_REPEAT:
            raise SecurityError(f"repetition is over the limit of {_MAX_REPEAT} items")
        return super().call_binop(context, operator, left, right)


def _repeat_size(left: object, right: object) -> int:
    """How many items `left * right` makes when it repeats a sequence; 0 for numbers."""
    for seq, count in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int):
            return len(seq) * count
    return 0


class ReplyRenderer:
    """Renders the reply templates of one folder, sandboxed, with strict undefined names."""

    def __init__(self, templates_dir: Path, max_template_bytes: int = 64_000) -> None:
        self._dir = templates_dir
        self._loader = _CappedLoader(templates_dir, max_template_bytes)
        self._env = _Sandbox(
            loader=self._loader,
            undefined=jinja2.StrictUndefined,
            autoescape=jinja2.select_autoescape(
                enabled_extensions=(HTML_SUFFIX.removeprefix("."),),
                default_for_string=False,
                default=False,
            ),
            keep_trailing_newline=True,
            trim_blocks=True,
            lstrip_blocks=True,
            # Templates are checked when the desk starts (App.start): an edit takes effect,
            # checked, at the next start, not half-way through a run. And no stat() of each
            # template file for every reply.
            auto_reload=False,
        )

    def purposes(self) -> list[str]:
        """The purposes the folder has a text or an HTML template for, sorted."""
        found: set[str] = set()
        for path in self._dir.iterdir():
            for suffix in (TEXT_SUFFIX, HTML_SUFFIX):
                if path.name.endswith(suffix) and not path.name.startswith("_"):
                    found.add(path.name.removesuffix(suffix))
        return sorted(found)

    @cached_property
    def subject_openings(self) -> tuple[str, ...]:
        """The words our subjects put before a ticket's subject ("Chamado registrado: "),
        longest first, read from each purpose's subject block (both branches of an
        "x if y else z"): a mail quoting ours opens with one. Templates are fixed once the
        desk has started, so they are read once."""
        found: set[str] = set()
        for purpose in self.purposes():
            try:
                source, _, _ = self._loader.get_source(self._env, purpose + TEXT_SUFFIX)
                tree = self._env.parse(source)
            except jinja2.TemplateError:
                continue  # no text template, or a broken one: App.start reports it
            for block in tree.find_all(nodes.Block):
                if block.name == SUBJECT_BLOCK:
                    found.update(_openings(block.body))
        return tuple(sorted(found, key=len, reverse=True))

    def render(self, purpose: str, context: Mapping[str, object]) -> RenderedReply:
        """Render both versions of a purpose; any template problem raises TemplateError."""
        text_name = purpose + TEXT_SUFFIX
        text, subject = self._render(text_name, context)
        if subject is None:
            raise TemplateError(f"{text_name}: no {{% block {SUBJECT_BLOCK} %}} defined")
        html, _ = self._render(purpose + HTML_SUFFIX, context)
        return RenderedReply(subject=_one_line(subject), text=text, html=html)

    def _render(self, name: str, context: Mapping[str, object]) -> tuple[str, str | None]:
        """The template's output and its subject block's, None when it has no such block."""
        try:
            template = self._env.get_template(name)
            # One context for body and subject, so the subject block sees the template's
            # top-level imports just as the body's blocks do.
            ctx = template.new_context(dict(context))
            body = "".join(template.root_render_func(ctx))
            block = ctx.blocks.get(SUBJECT_BLOCK)
            subject = "".join(block[0](ctx)) if block else None
        except jinja2.TemplateError as exc:
            raise _template_error(name, exc) from exc
        # Operator-edited templates can also fail like any expression (1 / 0, "a" + 1, a
        # macro calling itself forever).
        except (
            TypeError,
            ValueError,
            ArithmeticError,
            LookupError,
            RecursionError,
            OSError,
        ) as exc:
            raise TemplateError(f"{name}: {type(exc).__name__}: {exc}") from exc
        return body, subject


def _openings(body: list[nodes.Node]) -> set[str]:
    """The texts a subject block can print before ``{{ ticket.subject }}`` (none when it
    does not print it, or prints something else before it)."""
    heads = [""]
    for output in body:
        if not isinstance(output, nodes.Output):
            return set()
        for node in output.nodes:
            if _is_ticket_subject(node):
                return {head for head in heads if head.strip()}
            heads = [head + text for head in heads for text in _printed(node)]
    return set()


def _is_ticket_subject(node: nodes.Node) -> bool:
    return (
        isinstance(node, nodes.Getattr)
        and node.attr == "subject"
        and isinstance(node.node, nodes.Name)
        and node.node.name == "ticket"
    )


def _printed(node: nodes.Node) -> list[str]:
    """What a node of a subject block prints: its text, or each branch of a condition."""
    if isinstance(node, nodes.TemplateData):
        return [node.data]
    if isinstance(node, nodes.Const) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, nodes.CondExpr) and node.expr2 is not None:
        return [*_printed(node.expr1), *_printed(node.expr2)]
    return []


def _template_error(name: str, exc: jinja2.TemplateError) -> TemplateError:
    """Name the file at fault (an included layout, when that is where the error is)."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        where = f"{exc.name or name}:{exc.lineno}"
        return TemplateError(f"{where}: {exc.message}")
    if isinstance(exc, jinja2.TemplateNotFound):
        missing = "not found" if exc.name == name else f"needs missing template {exc.name}"
        return TemplateError(f"{name}: {missing}")
    return TemplateError(f"{name}: {exc.message or type(exc).__name__}")


def _one_line(text: str) -> str:
    """Collapse every kind of line break and run of spaces: a header value is one line."""
    return " ".join(text.split())


def make_message_id(domain: str) -> str:
    """A new, unique Message-ID, bare (no angle brackets): uuid4 hex, "@", the domain."""
    return f"{uuid.uuid4().hex}@{domain}"


def build_email(
    rendered: RenderedReply,
    *,
    sender: str,
    sender_name: str,
    to: Sequence[str],
    cc: Sequence[str],
    tag: str | None,
    in_reply_to: str | None,
    references: Sequence[str],
    message_id: str,
    auto_submitted: str = "auto-replied",
    attachments: Sequence[Attachment] = (),
    reply_to: str | None = None,
    precedence: str = "",
) -> bytes:
    """The reply as wire bytes (CRLF lines): multipart/alternative, text and HTML, UTF-8;
    with ``attachments``, a multipart/mixed holding that and the files.

    Message ids are given bare and get their angle brackets here. The subject is made one
    line, so a sender's subject cannot inject a header; an address, name or id holding a line
    break raises ValueError, and so does an address that is not one.

    Written out directly rather than through EmailMessage: the header registry parses back
    every value it is given, which made building a reply cost more than the rest of queueing
    it (bench/README.md). The layout is fixed, so little is lost.
    """
    header_values = (
        *(sender, sender_name, *to, *cc, reply_to or "", message_id, in_reply_to or ""),
        *references,
    )
    if any("\r" in value or "\n" in value for value in (*header_values, auto_submitted)):
        raise ValueError("a header value holds a line break")
    # Non-ASCII mailbox names cannot be encoded-words: they need SMTPUTF8's raw UTF-8 headers.
    utf8 = not all(addr.isascii() for addr in (sender, *to, *cc))
    fields = [
        # One line, and nothing a mail reader or terminal would act on (mail.safe_names).
        ("Subject", safe_text(f"{tag} {rendered.subject}" if tag else rendered.subject)),
        ("From", _mailbox(sender, sender_name, utf8)),
        ("To", ", ".join(_mailbox(addr, "", utf8) for addr in to)),
        ("Cc", ", ".join(_mailbox(addr, "", utf8) for addr in cc)),
        # The ticket's signed address (mailproc.decision.proofs): a reply proves it got this.
        ("Reply-To", _mailbox(reply_to, sender_name, utf8) if reply_to else ""),
        ("Date", formatdate(localtime=True)),
        ("Message-ID", _angled(message_id)),
        ("In-Reply-To", _angled(in_reply_to) if in_reply_to else ""),
        ("References", " ".join(_angled(ref) for ref in references)),
        # RFC 3834: "auto-replied" answers a message; "auto-generated" is for notices of our own.
        ("Auto-Submitted", auto_submitted),
        # Exchange/Outlook honour this one instead of Auto-Submitted: no out-of-office back to us.
        ("X-Auto-Response-Suppress", "All"),
        # No "Precedence" in replies: it is non-standard (RFC 3834 relies on Auto-Submitted), and
        # "bulk" gets mail filed as mass mail, while replies carry the code a servant needs. An
        # operator's alert carries it: older vacation responders heed only that.
        ("Precedence", precedence),
        ("Content-Language", "pt-BR"),
        ("MIME-Version", "1.0"),
    ]
    head = "".join(_field(name, value, utf8) for name, value in fields if value)
    # Quoted-printable keeps the bodies 7-bit: no reliance on the relay's 8BITMIME.
    body = _multipart(
        "alternative",
        [_text_part("plain", rendered.text), _text_part("html", rendered.html)],
    )
    if attachments:
        body = _multipart("mixed", [body, *(_file_part(a) for a in attachments)])
    # Pieces joined once: a routed copy of a 25 MB message is not copied at every level.
    return b"".join([head.encode(), *body])


# RFC 5322's recommended line length; folding keeps header lines within it where it can.
_LINE_LENGTH = 78
# RFC 5322 specials, white space and controls: an address holding one would need quoting,
# and none that mailproc reads or is configured with does (see mailproc.mail.parse).
_NOT_IN_ADDRESS = re.compile(r'[\s\x00-\x1f\x7f"\\(),:;<>@\[\]]')
_QUOTED_SPECIALS = re.compile(r'(["\\])')
# type/subtype made of RFC 2045 token characters: anything else would not be a usable type.
_MIME_TYPE = re.compile(r"[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+")
_LONGEST_WORD = 900  # characters: with the field's name, within RFC 5322's 998 per line
# UTF-8 bytes per encoded-word: 64 characters with its =?utf-8?b? ?= (at most 75 allowed),
# so "Subject: " and one word fit in a line.
_ENCODED_WORD_BYTES = 39
# File names this long or not ASCII go as RFC 2231 parameters, in pieces of this size.
_PLAIN_FILENAME_LENGTH = 56


def _field(name: str, value: str, utf8: bool) -> str:
    """One header field, CRLF-ended, folded at spaces. Non-ASCII text goes as RFC 2047
    encoded-words unless the mail is SMTPUTF8, and so does a value with a word too long for
    any line (an id from a hostile References): SMTP servers refuse lines over 998 bytes."""
    overlong = any(len(word) > _LONGEST_WORD for word in value.split(" "))
    if overlong or not (utf8 or value.isascii()):
        value = _encoded_words(value)
    lines, line = [], f"{name}:"
    for word in value.split(" "):
        if len(line) + 1 + len(word) > _LINE_LENGTH and line != f"{name}:":
            lines.append(line)
            line = ""
        line += f" {word}"
    return "\r\n".join([*lines, line]) + "\r\n"


def _mailbox(addr: str, name: str, utf8: bool) -> str:
    """An address, with its display name when it has one."""
    local, at, domain = addr.rpartition("@")
    if not at or not local or not domain or _NOT_IN_ADDRESS.search(local + domain):
        raise ValueError(f"not an e-mail address: {addr!r}")
    words = name.split()
    if not words:
        return addr
    if utf8:
        return f"{_quoted(' '.join(words))} <{addr}>"
    # ASCII words quoted, each run of words with other characters one encoded-word: where
    # two encoded-words meet, readers differ on keeping the space between them.
    runs = groupby(words, key=str.isascii)
    phrase = (
        _quoted(" ".join(run)) if plain else _encoded_words(" ".join(run)) for plain, run in runs
    )
    return f"{' '.join(phrase)} <{addr}>"


def _quoted(text: str) -> str:
    return '"{}"'.format(_QUOTED_SPECIALS.sub(r"\\\1", text))


def _encoded_words(text: str) -> str:
    """``text`` as RFC 2047 encoded-words (UTF-8, base64), short enough for a line each and
    never splitting a character (email.header does the same 50 times slower)."""
    chunks, chunk = [], b""
    for char in text:
        encoded = char.encode()
        if len(chunk) + len(encoded) > _ENCODED_WORD_BYTES:
            chunks.append(chunk)
            chunk = b""
        chunk += encoded
    chunks.append(chunk)
    return " ".join(f"=?utf-8?b?{base64.b64encode(c).decode()}?=" for c in chunks if c)


def _multipart(subtype: str, parts: Sequence[list[bytes]]) -> list[bytes]:
    """A multipart entity, its Content-Type line and body, of encoded parts (as pieces)."""
    # "=_" cannot occur in quoted-printable or base64 content: the boundary never does either.
    boundary = f"=_{uuid.uuid4().hex}"
    pieces = [f'Content-Type: multipart/{subtype};\r\n boundary="{boundary}"\r\n'.encode()]
    for part in parts:
        # The CRLF before each delimiter ends the header above (the first) or the part.
        pieces += [f"\r\n--{boundary}\r\n".encode(), *part]
    pieces.append(f"\r\n--{boundary}--\r\n".encode())
    return pieces


def _text_part(subtype: str, text: str) -> list[bytes]:
    lines = text.replace("\r\n", "\n").replace("\r", "\n").removesuffix("\n")
    crlf = lines.replace("\n", "\r\n") + "\r\n"
    head = (
        f'Content-Type: text/{subtype}; charset="utf-8"\r\n'
        "Content-Transfer-Encoding: quoted-printable\r\n\r\n"
    )
    return [head.encode(), binascii.b2a_qp(crlf.encode(), istext=True)]


def _file_part(attachment: Attachment) -> list[bytes]:
    maintype, subtype = _mime_type(attachment)
    head = (
        f"Content-Type: {maintype}/{subtype}\r\n"
        "Content-Transfer-Encoding: base64\r\n"
        f"Content-Disposition: attachment;{_filename(attachment.filename)}\r\n\r\n"
    )
    return [head.encode(), *_base64_lines(attachment.data)]


# Base64 is encoded this many bytes at a time: whole 76-character lines (57 bytes each), and
# blocks small enough that a 25 MB file is not held as a list of 440,000 lines on its way.
_BASE64_BLOCK = 57 * 1024


def _base64_lines(data: bytes) -> list[bytes]:
    """``data`` in base64 lines of 76 characters, CRLF-ended, as a few large pieces."""
    view = memoryview(data)
    return [
        # encodebytes() ends every line with LF: one pass makes them CRLF.
        base64.encodebytes(view[start : start + _BASE64_BLOCK]).replace(b"\n", b"\r\n")
        for start in range(0, len(data), _BASE64_BLOCK)
    ]


def _filename(name: str) -> str:
    """The filename parameter: quoted when short and ASCII, else in RFC 2231 pieces (each
    line short, the name in UTF-8)."""
    if name.isascii() and len(name) <= _PLAIN_FILENAME_LENGTH:
        return f" filename={_quoted(name)}"
    encoded = encode_rfc2231(name, "utf-8").removeprefix("utf-8''")
    pieces, start = [], 0
    while start < len(encoded):
        end = min(start + _PLAIN_FILENAME_LENGTH, len(encoded))
        while "%" in encoded[end - 2 : end] and end < len(encoded):
            end -= 1  # not inside a %XX escape
        pieces.append(encoded[start:end])
        start = end
    pieces[0] = f"utf-8''{pieces[0]}"
    return ";".join(f"\r\n filename*{n}*={piece}" for n, piece in enumerate(pieces))


def _mime_type(attachment: Attachment) -> tuple[str, str]:
    """The file's type as (maintype, subtype): what its bytes are, else what it was sent as.

    A message/* or multipart/* part may not be base64-encoded (RFC 2046), so such files
    (an attached .eml) travel as plain bytes, like anything whose type is unusable.
    """
    mime_type = attachment.real_type.lower()
    maintype, _, subtype = mime_type.partition("/")
    if not _MIME_TYPE.fullmatch(mime_type) or maintype in ("message", "multipart"):
        return "application", "octet-stream"
    return maintype, subtype


def _angled(msg_id: str) -> str:
    """The id between angle brackets, whether or not it came with them already."""
    return f"<{msg_id.strip().strip('<>')}>"
