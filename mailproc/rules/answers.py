"""Questionnaire extraction: finds `Label: value` answers in the sender's own part of a body."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import islice
from typing import Final

from mailproc.mail.signatures import is_closing
from mailproc.mail.textfold import fold

# Where the sender's own text ends, tested on a folded line, or on two lines joined (clients
# wrap "Em <date>, <name> escreveu:" over two lines).
_HISTORY_MARKERS: Final = (
    re.compile(r"^>"),
    re.compile(r"^--$"),
    re.compile(r"^-{2,} ?(?:mensagem original|original message) ?-{2,}$"),
    re.compile(r"^em .+ escreveu:$"),
    re.compile(r"^on .+ wrote:$"),
)

# Bullets, asterisks and dashes allowed before a label; separators allowed after it (a tab
# is where a table pasted as text puts the next cell).
_BULLETS: Final = " \t*•·◦▪▸►–—-"
_SEPARATOR: Final = re.compile(r"[:=\t–—-]")
_TRAILING_NOTE: Final = re.compile(r"\s*\([^()]*\)$")
_MARKUP: Final = "*_ \t"
_LABEL_WORD: Final = re.compile(r"[^\W_]+")
# Words a label may hold or leave out without changing what it asks ("Nº da UASG", "Código
# UASG", "Data e hora" = "Data/hora"), and abbreviations written for a word ("Tel.", "Dt.").
# "nº" folds to "no", "n.º" to "n o" and "n°" to "n".
LABEL_STOP_WORDS: Final = frozenset(
    {"a", "as", "o", "os", "e", "ou", "de", "do", "da", "dos", "das", "no", "na", "nos", "nas"}
    | {"n", "nr", "num", "numero", "cod", "codigo"}
)
LABEL_ABBREVIATIONS: Final = {
    "tel": "telefone",
    "fone": "telefone",
    "dt": "data",
    "hr": "hora",
    "msg": "mensagem",
    "end": "endereco",
    "desc": "descricao",
}
# Where a label and its separator end at the latest, and how many separators a label and a
# note after it ("Data (dd-mm-aaaa):") hold at most.
MAX_LABEL_CHARS: Final = 100
MAX_LABEL_SEPARATORS: Final = 8


def _is_marker(folded: str) -> bool:
    """Quoted history starts, or a closing ends the sender's text (the signature follows)."""
    return is_closing(folded) or any(marker.search(folded) for marker in _HISTORY_MARKERS)


def _starts_history(folded: str, following: str) -> bool:
    """The (folded) line is a marker, or begins one wrapped over two lines."""
    if _is_marker(folded):
        return True
    # fold() collapses white space, so two folded lines join with one space.
    return not _is_marker(following) and _is_marker(f"{folded} {following}".strip())


@lru_cache(maxsize=8)
def _own_lines(text: str) -> tuple[str, ...]:
    """The sender's own lines: everything before quoted history or the signature.

    Each line is folded once. Cached: the checks of one message ask for the lines of the
    same body twice (``own_text`` and ``extract_answers``).
    """
    lines = text.splitlines()
    folded = [fold(line) for line in lines]
    for number, line in enumerate(folded):
        following = folded[number + 1] if number + 1 < len(folded) else ""
        if _starts_history(line, following):
            return _without_signature_block(lines[:number])
    return _without_signature_block(lines)


# A person's name as a signature starts with it: two to six capitalised words ("Maria da
# Silva Santos", "JOÃO PEREIRA"), alone on its line.
_NAME: Final = re.compile(
    r"[A-ZÀ-Ý][\w'’-]+(?:\s+(?:(?:de|da|do|dos|das|e)\s+)?[A-ZÀ-Ý][\w'’-]+){1,5}"
)
# The lines a signature without a closing takes at most (name, post, body, phone, ...).
MAX_SIGNATURE_LINES: Final = 6
MAX_SIGNATURE_LINE_CHARS: Final = 80


def _without_signature_block(lines: Sequence[str]) -> tuple[str, ...]:
    """The lines without a signature that no closing announced: after a blank line, a last
    paragraph of two to six short lines that opens with a person's name. (One line alone
    is kept: it is more often a value below its label than a bare name.)"""
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    start = end
    while start and lines[start - 1].strip() and end - start <= MAX_SIGNATURE_LINES:
        start -= 1
    block = lines[start:end]
    if (
        start > 0
        and 2 <= len(block) <= MAX_SIGNATURE_LINES
        and all(len(line) <= MAX_SIGNATURE_LINE_CHARS for line in block)
        and _NAME.fullmatch(block[0].strip().strip("*_ ")) is not None
    ):
        return tuple(lines[:start])
    return tuple(lines)


def own_text(text: str) -> str:
    """The sender's own text, without quoted history, signature or surrounding blank lines."""
    return _tidy(_own_lines(text))


@lru_cache(maxsize=4096)
def label_form(text: str) -> str:
    """How a label compares: its words folded, without markup, a trailing "(note)",
    punctuation and stop words, abbreviations written out ("Nº da UASG" -> "uasg",
    "Fone/Ramal" -> "telefone ramal"). "" for a label of stop words only, which matches
    nothing. Cached: each line's start is compared with every theme's labels, and mail
    repeats its lines' starts ("UASG", "Att.")."""
    bare = _TRAILING_NOTE.sub("", fold(text).strip(_MARKUP))
    words = (LABEL_ABBREVIATIONS.get(word, word) for word in _LABEL_WORD.findall(bare))
    return " ".join(word for word in words if word not in LABEL_STOP_WORDS)


def _label_index(labels: Mapping[str, Sequence[str]]) -> dict[str, str]:
    forms = ((label_form(label), key) for key, names in labels.items() for label in names)
    return {form: key for form, key in forms if form}


def _labelled(line: str, index: Mapping[str, str]) -> tuple[str, str] | None:
    """(key, rest of the line) when the line starts with a known label and a separator, or
    is a known label alone (its value on the lines below: a label over its value, or a table
    pasted with its cells on separate lines).

    Only the first separators of the line's start are tried: each try folds the text before
    it, so trying all of them cost the square of the line's length (a line of 20,000 ":"
    took 4 s).
    """
    begin = len(line) - len(line.lstrip(_BULLETS))
    separators = _SEPARATOR.finditer(line, begin, begin + MAX_LABEL_CHARS)
    for separator in islice(separators, MAX_LABEL_SEPARATORS):
        key = index.get(label_form(line[begin : separator.start()]))
        if key is not None:
            return key, line[separator.end() :].lstrip(_MARKUP)
    if len(line) - begin <= MAX_LABEL_CHARS:
        key = index.get(label_form(line[begin:]))
        if key is not None:
            return key, ""
    return None


# A numbered or bulleted step: a list goes on after a blank line ("1. ...", blank, "2. ...").
_LIST_ITEM: Final = re.compile(r"\s*(?:\d{1,2}\s?[.)º°-]|[•·◦▪▸►*–-])\s")


def _tidy(lines: Sequence[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip()


def first_line(value: str) -> str:
    """The first line with content: an answer of one item ends there, before a blank line and
    whatever follows it (a signature, a name)."""
    return next((line.strip() for line in value.splitlines() if _has_content(line)), "")


def _has_content(value: str) -> bool:
    """False for blanks and placeholders such as "____" or "...": no letter or digit."""
    return any(char.isalnum() for char in value)


def extract_answers(text: str, labels: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Answers found in the body, by key; ``labels`` maps each key to its label and aliases.

    A value starts after ``Label:`` (or ``Label -``, ``Label =``, or on the lines below a
    label alone) and runs over the next lines up to a blank line after it (unless a numbered
    or bulleted list goes on), the next line that starts with a known label, quoted history
    or the signature: "Segue o print." or a name after a blank line is the next paragraph,
    not the answer. Blank and placeholder
    values are left out; the first filled one wins.
    """
    index = _label_index(labels)
    blocks: list[tuple[str, list[str]]] = []
    open_value = filled = paused = False
    for line in _own_lines(text):
        found = _labelled(line, index)
        if found is not None:
            blocks.append((found[0], [found[1]]))
            open_value, filled, paused = True, _has_content(found[1]), False
        elif not open_value:
            continue
        elif filled and not line.strip():
            paused = True
        elif paused and not _LIST_ITEM.match(line):
            open_value = False
        else:
            if paused:
                blocks[-1][1].append("")  # the blank line between two steps of a list
            blocks[-1][1].append(line)
            filled, paused = filled or _has_content(line), False
    answers: dict[str, str] = {}
    for key, lines in blocks:
        value = _tidy(lines)
        if key not in answers and _has_content(value):
            answers[key] = value
    return answers
