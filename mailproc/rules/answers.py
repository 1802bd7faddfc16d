"""Questionnaire extraction: finds `Label: value` answers in the sender's own part of a body."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from itertools import islice
from typing import Final

from mailproc.mail.textfold import fold

# Where the sender's own text ends, tested on a folded line, or on two lines joined (clients
# wrap "Em <date>, <name> escreveu:" over two lines).
_HISTORY_MARKERS: Final = (
    re.compile(r"^>"),
    re.compile(r"^--$"),
    # A closing alone on its line starts the signature of most mail, which has no "-- ".
    re.compile(
        r"^(?:atenciosamente|att|atte|cordialmente|respeitosamente|saudacoes|abracos?"
        r"|obrigad[oa]|grat[oa])[.,!]?$"
    ),
    re.compile(r"^-{2,} ?(?:mensagem original|original message) ?-{2,}$"),
    re.compile(r"^em .+ escreveu:$"),
    re.compile(r"^on .+ wrote:$"),
)

# Bullets, asterisks and dashes allowed before a label; separators allowed after it.
_BULLETS: Final = " \t*•·◦▪▸►–—-"
_SEPARATOR: Final = re.compile(r"[:=-]")
_TRAILING_NOTE: Final = re.compile(r"\s*\([^()]*\)$")
_MARKUP: Final = "*_ \t"
# Where a label and its separator end at the latest, and how many separators a label and a
# note after it ("Data (dd-mm-aaaa):") hold at most.
MAX_LABEL_CHARS: Final = 100
MAX_LABEL_SEPARATORS: Final = 8


def _is_marker(folded: str) -> bool:
    return any(marker.search(folded) for marker in _HISTORY_MARKERS)


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
            return tuple(lines[:number])
    return tuple(lines)


def own_text(text: str) -> str:
    """The sender's own text, without quoted history, signature or surrounding blank lines."""
    return _tidy(_own_lines(text))


def label_form(text: str) -> str:
    """How a label compares: folded, markup and a trailing "(note)" removed."""
    return _TRAILING_NOTE.sub("", fold(text).strip(_MARKUP)).strip(_MARKUP)


def _label_index(labels: Mapping[str, Sequence[str]]) -> dict[str, str]:
    return {label_form(label): key for key, names in labels.items() for label in names}


def _labelled(line: str, index: Mapping[str, str]) -> tuple[str, str] | None:
    """(key, rest of the line) when the line starts with a known label and a separator.

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
    return None


def _tidy(lines: Sequence[str]) -> str:
    return "\n".join(line.rstrip() for line in lines).strip()


def _has_content(value: str) -> bool:
    """False for blanks and placeholders such as "____" or "...": no letter or digit."""
    return any(char.isalnum() for char in value)


def extract_answers(text: str, labels: Mapping[str, Sequence[str]]) -> dict[str, str]:
    """Answers found in the body, by key; ``labels`` maps each key to its label and aliases.

    A value starts after ``Label:`` (or ``Label -``, ``Label =``) and runs over the next
    lines up to the next line that starts with a known label, quoted history or the
    signature. Blank and placeholder values are left out; the first filled one wins.
    """
    index = _label_index(labels)
    blocks: list[tuple[str, list[str]]] = []
    for line in _own_lines(text):
        found = _labelled(line, index)
        if found is not None:
            blocks.append((found[0], [found[1]]))
        elif blocks:
            blocks[-1][1].append(line)
    answers: dict[str, str] = {}
    for key, lines in blocks:
        value = _tidy(lines)
        if key not in answers and _has_content(value):
            answers[key] = value
    return answers
