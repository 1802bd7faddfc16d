"""Quote stripping: the new text of a reply, without quoted history, forwards or signatures."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import groupby

from mailproc.mail.textfold import fold

# Header lines of a quoted or forwarded message as clients write them in the body, by folded
# name. Outlook pt-BR says "Enviado em:" (older versions "Enviada em:"), Gmail pt-BR mixes
# "De:" with "Date:/Subject:/To:", Thunderbird pt-BR writes "Assunto:/Data:/De:/Para:".
_FIELD_NAMES = {
    "de": "from",
    "from": "from",
    "enviado": "date",
    "enviada": "date",
    "enviado em": "date",
    "enviada em": "date",
    "sent": "date",
    "data": "date",
    "date": "date",
    "para": "to",
    "to": "to",
    "cc": "cc",
    "cco": "bcc",
    "bcc": "bcc",
    "assunto": "subject",
    "subject": "subject",
    "responder a": "reply-to",
    "responder para": "reply-to",
    "reply-to": "reply-to",
    "organizacao": "organization",
    "organization": "organization",
    "importancia": "importance",
    "importance": "importance",
    "anexos": "attachments",
    "attachments": "attachments",
}
_ADDRESS_LIST_FIELDS = frozenset({"to", "cc", "bcc"})
_HEADER_LINE = re.compile(
    r"^\s*[*_]{0,2}(?P<name>[^\W\d][\w -]{0,20}?)\s*[*_]{0,2}:[*_]{0,2}(?P<value>.*)$"
)

FORWARD_LINE = re.compile(
    r"^\s*(?:-{3,}\s*(?:mensagem encaminhada|forwarded message)\s*-{3,}"
    r"|in[ií]cio da mensagem encaminhada:|begin forwarded message:)\s*$",
    re.IGNORECASE,
)
"""The line Gmail, Thunderbird and Apple Mail put above a forwarded message's headers."""

ORIGINAL_LINE = re.compile(
    r"^\s*-{3,}\s*(?:mensagem original|original message)\s*-{3,}\s*$", re.IGNORECASE
)
"""Outlook's "-----Mensagem original-----" line above a quoted message's headers."""

_TIME_OF_DAY = re.compile(r"\b\d{1,2}:\d{2}\b")
_SEPARATOR_LINE = re.compile(r"^\s*(?:_{10,}|-{10,})\s*$")
_ATTRIBUTION_ENDINGS = (" escreveu:", " wrote:")
_DEVICE_LINE = re.compile(
    r"^(?:enviado d[oe] (?:meu|minha|email|e-mail)|enviado (?:via|pelo) (?:outlook|gmail)"
    r"|sent from my|sent from (?:mail|outlook)|obter o outlook para|get outlook for"
    r"|baixe o outlook para)\b"
)
_DEVICE_LINE_MAX = 80  # "Enviado do meu iPhone" is short; a long line is someone's sentence
_SIGNATURE_DELIMITER = re.compile(r"^--\s*$")


@dataclass(frozen=True)
class HeaderBlock:
    """A run of "De:/Enviado:/Para:/Assunto:"-style lines in a body: lines[start:end]."""

    start: int
    end: int
    fields: dict[str, str]

    @property
    def heads_a_message(self) -> bool:
        """Whether these lines are the headers of a quoted or forwarded message.

        That takes a sender and a date with a time of day, as every client writes them
        ("Enviado em: terça-feira, 10 de novembro de 2026 14:30"). A memo pasted into a
        message ("De: Superintendência / Para: ... / Data: 10/11/2026") has no time, and a
        sentence that merely starts with "De:" has no date line at all.
        """
        return "from" in self.fields and bool(_TIME_OF_DAY.search(self.fields.get("date", "")))


def new_text(body: str) -> str:
    """Only what the sender wrote now: quoted history, forwards and signature removed."""
    lines = body.replace("\r\n", "\n").split("\n")
    start = history_start(lines)
    fresh = "\n".join(lines if start is None else lines[:start])
    return _without_quoted_lines(fresh).strip()


def history_start(lines: Sequence[str]) -> int | None:
    """Index of the first line where quoted history, a forward or a signature begins."""
    return next(
        (index for index in range(len(lines)) if any(m(lines, index) for m in _HISTORY_MARKERS)),
        None,
    )


def header_block_at(lines: Sequence[str], start: int) -> HeaderBlock | None:
    """The header lines opening at lines[start], or None when lines[start] is none.

    Blank lines between fields are tolerated (HTML-to-text conversions put them there), and
    wrapped address lists continue the To/Cc fields.
    """
    fields: dict[str, str] = {}
    last = ""
    index = end = start
    while index < len(lines):
        field = header_field(lines[index])
        if field is not None and field[0] not in fields:
            last = field[0]
            fields[last] = field[1]
            index = end = index + 1
        elif field is None and _continues(lines[index], last):
            fields[last] = f"{fields[last]} {lines[index].strip()}"
            index = end = index + 1
        elif not lines[index].strip() and fields:
            index += 1
        else:
            break
    return HeaderBlock(start, end, fields) if fields else None


def header_field(line: str) -> tuple[str, str] | None:
    """("from", "Fulano <f@x>") for a line "De: Fulano <f@x>", None for any other line."""
    found = _HEADER_LINE.match(line)
    if found is None:
        return None
    name = _FIELD_NAMES.get(fold(found.group("name")))
    return (name, found.group("value").strip(" *\t")) if name else None


def _continues(line: str, field: str) -> bool:
    """Whether a line wraps the previous field: only address lists wrap in these blocks."""
    return field in _ADDRESS_LIST_FIELDS and "@" in line and header_field(line) is None


def _is_attribution(lines: Sequence[str], index: int) -> bool:
    """ "Em qua., 10 de nov. de 2026 às 14:30, Fulano <x@y> escreveu:", maybe over two lines.

    A dated opening tells it from a sentence ("Em resposta ao que o colega escreveu:").
    """
    line = lines[index].strip()
    if not line.startswith(("Em ", "On ")) or not any(char.isdigit() for char in line):
        return False
    following = lines[index + 1].strip() if index + 1 < len(lines) else ""
    return any(text.endswith(_ATTRIBUTION_ENDINGS) for text in (line, following))


def _is_marker_line(lines: Sequence[str], index: int) -> bool:
    """ "-----Mensagem original-----" or a forward's "Mensagem encaminhada" line."""
    return bool(ORIGINAL_LINE.match(lines[index]) or FORWARD_LINE.match(lines[index]))


def _is_header_block(lines: Sequence[str], index: int) -> bool:
    """An Outlook "De: ... Enviado: ..." block, or the "_____" line Outlook puts above one."""
    if _SEPARATOR_LINE.match(lines[index]):
        index = next((i for i in range(index + 1, len(lines)) if lines[i].strip()), len(lines))
    block = header_block_at(lines, index)
    return block is not None and block.heads_a_message


def _is_device_signature(lines: Sequence[str], index: int) -> bool:
    """ "Enviado do meu iPhone", "Obter o Outlook para Android" and their English versions."""
    line = lines[index].strip()
    return len(line) <= _DEVICE_LINE_MAX and bool(_DEVICE_LINE.match(fold(line)))


def _is_signature_delimiter(lines: Sequence[str], index: int) -> bool:
    """The "-- " line that opens a signature (RFC 3676), often stripped to "--"."""
    return bool(_SIGNATURE_DELIMITER.match(lines[index]))


_HISTORY_MARKERS: tuple[Callable[[Sequence[str], int], bool], ...] = (
    _is_attribution,
    _is_marker_line,
    _is_header_block,
    _is_device_signature,
    _is_signature_delimiter,
)


def _without_quoted_lines(text: str) -> str:
    """The text without its ">"-quoted lines, each run of them taking the blank lines around
    it: answers typed between the quoted questions come out one per line."""
    kept = (
        "\n".join(run).strip()
        for quoted, run in groupby(text.split("\n"), key=lambda line: line.startswith(">"))
        if not quoted
    )
    return "\n".join(run for run in kept if run)
