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
reply that says how to name the ticket ("urgente" alone is someone's urgent request: a new
ticket, or the theme list with how to ask for urgency once it exists). A first line
outside a thread counts only for "meus chamados" or when it carries a code or a "#": a
body that opens with "Urgente!" is someone's request.

People also ask in sentences (``in_words``), read in the subject and in a short own text
(SHORT_TEXT): "Gostaria de saber o andamento do chamado 2026-000123", "situação do meu
chamado", a subject "Protocolo 2026-000123" (a code right after "chamado", "ticket" or
"protocolo", alone), and "podem cancelar", "favor cancelar", "já resolvemos, podem fechar".
A ticket must be named by a code or the thread; a mere mention of a code ("o mesmo erro do
chamado 2026-000100") asks nothing. The decision stage answers a cancellation in words
with how to confirm it, never by cancelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from mailproc.decision.staff import DIRECTIVE_WORDS
from mailproc.mail.subject_codes import (
    DEFAULT_TAG_FORMAT,
    find_ticket_code,
    leading_prefixes,
    strip_reply_prefixes,
)
from mailproc.mail.textfold import fold
from mailproc.rules.answers import own_text


class CommandKind(StrEnum):
    STATUS = "status"
    MY_TICKETS = "meus_chamados"
    URGENT = "urgente"
    CANCEL = "cancelar"
    # An unknown #command, or a command that cannot be carried out (``problem`` says why).
    HELP = "ajuda"


@dataclass(frozen=True)
class Command:
    """One command: ``code`` is the ticket it names (None: the thread's, or none needed);
    ``in_words``: read from a sentence ("podem cancelar"), not typed as a command."""

    kind: CommandKind
    code: str | None = None
    reason: str = ""
    problem: str = ""
    in_words: bool = False


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

# -- Commands in words, matched on folded text ("situação" -> "situacao") ------------------

# A sentence is read as a command only in a mail that says little else: a greeting, the
# question, a closing. A longer own text brings something (answers, an account) that must
# reach the ticket as a reply.
SHORT_TEXT = 400
# Only these name a ticket: "situação do pedido de empenho" is about a purchase.
_NOUN = r"(?:chamado|ticket|protocolo)"
_NUMBER = r"(?:(?:n|no|n\.o|numero)\s*[.:]?\s*)?"
_CODE_REF = rf"{_NUMBER}(?:[\[(]\s*)?(?:#\s*)?(?P<code>{_CODE})"
_THE = r"(?:\s+(?:o|a|meu|minha|nosso|nossa|este|esse|esta|essa))?"
# The ticket a sentence names: "chamado", "o chamado nº 2026-000123", "2026-000123".
_TICKET_REF = rf"(?=(?:{_NOUN}\b|{_NUMBER}[\[(#\s]*\d))(?:{_NOUN}\b)?(?:\s*{_CODE_REF})?"
# "o andamento do chamado 2026-000123", "situação do meu chamado", "posição sobre o
# protocolo nº 2026-000123", "status 2026-000123".
_STATUS_WORDS = re.compile(
    r"\b(?:andamento|situacao|posicao|status|novidades?)"
    r"(?:\s+(?:d[oae]s?|sobre|quanto\s+a[os]?|em\s+relacao\s+a[os]?|referente\s+a[os]?))?"
    rf"{_THE}\s+{_TICKET_REF}"
)
# A subject that is a ticket and its code, alone: "Chamado 2026-000123", "Protocolo nº
# 2026-000123?" (its code already taken off by _line).
_TICKET_ALONE = re.compile(rf"{_NOUN}\s*{_NUMBER}")
# "podem cancelar", "favor cancelar o chamado", "já resolvemos, podem fechar", "pode
# encerrar, obrigado": asking, then the verb, then at most the ticket, then the sentence
# ends. "podem cancelar o pregão?" is a question about a pregão.
_CANCEL_WORDS = re.compile(
    r"(?<!nao )\b(?:podem|pode|poderiam|favor|gostaria\s+de|gostariamos\s+de|solicito|solicitamos)"
    r"\s+(?:o\s+)?(?:cancelar|cancelamento|encerrar|encerramento|fechar|finalizar)"
    rf"(?:(?:\s+d[oa])?{_THE}\s+{_TICKET_REF})?"
    r"\s*(?:[.!,;:)]|$|e\s|pois\s|porque\s|obrigad|grat)"
)


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
    if found is None:
        found = _first_line(text, in_thread=in_thread, tag_format=tag_format)
    if found is not None and (found.code or in_thread or found.kind not in _ON_A_TICKET):
        return found
    # A bare keyword ("Cancelamento") whose sentence names the ticket ("favor cancelar o
    # chamado 2026-000123") is that sentence's request.
    said = _in_words(subject, subject_line, text, in_thread=in_thread, tag_format=tag_format)
    if said is not None and (found is None or said.kind is found.kind):
        return said
    # "Urgente!!!" naming no ticket is someone's urgent request, not a command to refuse.
    return None if found is not None and found.kind is CommandKind.URGENT else found


_ON_A_TICKET = frozenset({CommandKind.STATUS, CommandKind.URGENT, CommandKind.CANCEL})


def _first_line(text: str, *, in_thread: bool, tag_format: str) -> Command | None:
    first, _, rest = text.strip().partition("\n")
    line = _line(first, tag_format)
    if in_thread or line.code or line.hashed:
        return _read(line, named=in_thread or line.code is not None, rest=rest)
    # Outside a thread only "meus chamados" needs no code: see the module docstring.
    return Command(CommandKind.MY_TICKETS) if _MY_TICKETS.fullmatch(line.words) else None


_URGENCY_WORD = re.compile(r"\W*urg(?:ente|encia|entissimo)\b")


def asks_urgency(subject: str, text: str) -> bool:
    """The subject or the first line opens with "Urgente" ("URGENTE!!!", "Urgência - ...")."""
    first = text.strip().partition("\n")[0]
    return any(_URGENCY_WORD.match(fold(line)) for line in (strip_reply_prefixes(subject), first))


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


def _in_words(
    subject: str, subject_line: _Line, text: str, *, in_thread: bool, tag_format: str
) -> Command | None:
    """A status request or a cancellation asked in a sentence (see the module docstring).

    The subject of a reply, or one carrying the desk's tag, is the desk's own ("Situação do
    chamado: ..."): only the sender's text is read then."""
    if leading_prefixes(subject) or _tagged(subject, tag_format):
        subject = ""
    elif subject_line.code and _TICKET_ALONE.fullmatch(fold(subject_line.words)):
        return Command(CommandKind.STATUS, subject_line.code, in_words=True)
    own = own_text(text)
    said = fold(subject)
    if len(own) <= SHORT_TEXT:
        said = f"{said}\n{fold(own)}"
    for kind, pattern in ((CommandKind.STATUS, _STATUS_WORDS), (CommandKind.CANCEL, _CANCEL_WORDS)):
        found = pattern.search(said)
        if found is None:
            continue
        code = found.group("code") or subject_line.code
        if code or in_thread:
            return Command(kind, code, in_words=True)
    # A subject asking about "meu chamado" without its code: the help says how to name it
    # (the text is left alone: a body may ask that and still be a new request).
    if _STATUS_WORDS.search(fold(subject)):
        return Command(CommandKind.STATUS, in_words=True)
    return None


def _tagged(subject: str, tag_format: str) -> bool:
    """The subject holds the desk's tag as the desk writes it ("[#2026-000123]")."""
    code = find_ticket_code(subject, tag_format)
    return code is not None and tag_format.format(code=code).lower() in subject.lower()


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
