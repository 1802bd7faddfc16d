"""Requester commands by e-mail, in pt-BR: read from the subject or the first line, as values.

    status 2026-000123          the state, theme, deadline and last answer of a ticket
    meus chamados               the sender's tickets, newest first
    urgente 2026-000123: motivo raise the priority, shorten the deadline, warn the area
    cancelar 2026-000123        cancel a ticket (its requester only)
    #palavra-desconhecida       a short help reply

In a ticket's thread (its code in the subject, or a reply to its mail) the code may be left
out. Servants write subjects such as "Status do pregão" or "URGENTE - erro no SIASG" that
are questions, not commands, so a command must be the whole subject or the whole first line:
a keyword, optionally "do chamado", a code, and (urgente, cancelar) a reason after it. A
keyword with free text after it is taken only where a ticket is named (a code, or the
thread); outside one, only the bare keyword as the subject counts, and it gets the help
reply that says how to name the ticket. A first line outside a thread counts only for
"meus chamados" or when it carries a code or a "#": a body that opens with "Urgente!" is
someone's request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailproc.decision.staff import DIRECTIVE_WORDS
from mailproc.mail.subject_codes import DEFAULT_TAG_FORMAT, find_ticket_code, strip_reply_prefixes
from mailproc.mail.textfold import fold


class CommandKind(StrEnum):
    STATUS = "status"
    MY_TICKETS = "meus_chamados"
    URGENT = "urgente"
    CANCEL = "cancelar"
    # An unknown #command, or a command that cannot be carried out (``problem`` says why).
    HELP = "ajuda"


@dataclass(frozen=True)
class Command:
    """One command: ``code`` is the ticket it names (None: the thread's, or none needed)."""

    kind: CommandKind
    code: str | None = None
    reason: str = ""
    problem: str = ""


# A code as people type it in a command: "2026-000123", "#2026-000123", "[#2026-000123]".
# The lookahead keeps process numbers ("2026-000123/2025") from counting as codes.
_CODE = r"\d{4}-\d{6,}(?![\d/]|[-.]\d)"
# It starts at its bracket, "#" or code, never at a space: a token allowed to start with
# spaces was tried again from each space of a run, which grows with the square of the run
# (a subject of many removed tags leaves long ones).
_CODE_TOKEN = re.compile(rf"(?:[\[(]\s*+)?(?:#\s*+)?({_CODE})\s*+[\])]?")
_TICKET_WORD = (
    r"(?:\s+(?:d[oa]|o|a|meu|minha|para\s+o)?\s*(?:chamado|ticket|pedido|solicita[çc][ãa]o))?"
)
_SEPARATOR = r"\s*[:\-–—,;]\s*"
_STATUS = re.compile(rf"(?:status|situa[çc][ãa]o){_TICKET_WORD}", re.IGNORECASE)
_MY_TICKETS = re.compile(
    r"(?:meus|minhas)\s+(?:chamados|tickets|solicita[çc][õo]es|pedidos)", re.IGNORECASE
)
# "urgente" takes its reason after a separator or a plain space; "cancelar" only after a
# separator, so that "cancelar o pregão" stays a question about cancelling a pregão.
_URGENT = re.compile(
    rf"urg(?:ente|[êe]ncia){_TICKET_WORD}(?:(?:{_SEPARATOR}|\s+)(?P<reason>\S.*))?",
    re.IGNORECASE | re.DOTALL,
)
_CANCEL = re.compile(
    rf"cancel(?:ar|amento|e){_TICKET_WORD}(?:{_SEPARATOR}(?P<reason>\S.*))?",
    re.IGNORECASE | re.DOTALL,
)
_HASH_WORD = re.compile(r"#(?P<word>[^\W\d_][\w-]*)(?:\s+\S+){0,3}")
_TRAILING = " \t.!?"
# A reason is kept for the area; one longer than this is someone's whole message.
REASON_LIMIT = 1000


@dataclass(frozen=True)
class _Line:
    """A subject or first line without its ticket codes: the words left, and the first code."""

    words: str
    code: str | None

    @property
    def hashed(self) -> bool:
        return self.words.startswith("#")


def parse_command(
    subject: str, text: str, *, in_thread: bool, tag_format: str = DEFAULT_TAG_FORMAT
) -> Command | None:
    """The command in a message, or None when it is an ordinary message.

    ``text`` is the new text of the message (quotes stripped); ``in_thread`` says that the
    message refers to a ticket (by code or headers), whose code a command may leave out.
    """
    subject_line = _line(strip_reply_prefixes(subject), tag_format)
    # A reason in the subject counts only beside a code in that same subject: a reply-all
    # to "URGENTE - erro no SIASG" is in the thread, yet it asks nothing.
    found = _read(subject_line, named=subject_line.code is not None, rest=text)
    if found is not None:
        return found
    first, _, rest = text.strip().partition("\n")
    line = _line(first, tag_format)
    if not (in_thread or line.code or line.hashed):
        # Outside a thread only "meus chamados" needs no code: see the module docstring.
        return Command(CommandKind.MY_TICKETS) if _MY_TICKETS.fullmatch(line.words) else None
    return _read(line, named=in_thread or line.code is not None, rest=rest)


def command_code(subject: str, text: str, tag_format: str = DEFAULT_TAG_FORMAT) -> str | None:
    """The ticket a command names by its code, for the store to look up before deciding."""
    command = parse_command(subject, text, in_thread=True, tag_format=tag_format)
    return command.code if command else None


def _read(line: _Line, *, named: bool, rest: str) -> Command | None:
    """The command a whole line spells, or None.

    ``named`` says whether a ticket is named (by a code or the thread): only then may a
    keyword take free text after it. ``rest`` is where a reason is read when the line has
    none ("urgente" alone on the first line, the reason below it).
    """
    words = line.words[1:].lstrip() if line.hashed else line.words
    if _STATUS.fullmatch(words):
        return Command(CommandKind.STATUS, line.code)
    if _MY_TICKETS.fullmatch(words):
        return Command(CommandKind.MY_TICKETS)
    for kind, pattern in ((CommandKind.URGENT, _URGENT), (CommandKind.CANCEL, _CANCEL)):
        found = pattern.fullmatch(words)
        if found is None:
            continue
        reason = found.group("reason")
        if reason and not named:
            return None  # "URGENTE - erro no SIASG": a request, not a command
        return Command(kind, line.code, _reason(reason or rest))
    hashed = _HASH_WORD.fullmatch(line.words)
    # A staff directive ("#resolvido") written by someone else is just a line of their
    # reply: it changes nothing, and the help text would not help them either.
    if hashed and fold(hashed.group("word")) not in DIRECTIVE_WORDS:
        return Command(CommandKind.HELP, line.code)
    return None


def _line(raw: str, tag_format: str) -> _Line:
    """The line's words without its ticket codes (in the configured tag, or typed bare)."""
    text = " ".join(raw.split())
    code = find_ticket_code(text, tag_format)
    if code is not None:
        tag = tag_format.replace("{code}", code)
        text = re.sub(re.escape(tag), " ", text, flags=re.IGNORECASE)
    bare = _CODE_TOKEN.search(text)
    code = code or (bare.group(1) if bare else None)
    return _Line(" ".join(_CODE_TOKEN.sub(" ", text).split()).strip(_TRAILING), code)


def _reason(text: str) -> str:
    return " ".join(text.split())[:REASON_LIMIT]
