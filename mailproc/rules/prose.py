"""Answers found in prose by what their validator knows: "a UASG 160123 não abre", a CNPJ that
passes its check digits, "(21) 2334-5678 ramal 215", "hoje às 9h".

Each reader scans the text once with expressions of bounded look-ahead: linear in its length.
A value right after the word that names it ("UASG", "CNPJ", "telefone") is taken even when
wrong, so the notice can quote it ("“16012” deve ter exatamente 6 dígitos"); elsewhere only
a value its validator accepts counts (any eleven digits are not a CPF).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Final

from mailproc.rules.answers import LABEL_STOP_WORDS, label_form
from mailproc.rules.validators import TIME_ALONE_PATTERN, VALIDATORS, WHEN_PATTERN

# How far (characters, on the same line) a value may stand from the word naming it:
# "UASG nº 160123", "CNPJ do órgão: 11.222.333/0001-81", "telefone de contato (21) ...".
_GAP: Final = r"[^\w\n]{0,4}(?:[^\W\d]{1,12}[^\w\n]{1,4}){0,3}?"
# Candidates tried at most per reader: a long text of numbers costs a validation each.
MAX_CANDIDATES: Final = 200


@dataclass(frozen=True)
class _Reader:
    """Where a validator's values stand in prose: ``anywhere`` (counted when valid), and
    ``named``, right after the word that names them (its group ``value``). ``fold`` makes
    the text the expressions read, each character in its place."""

    anywhere: re.Pattern[str] | None
    named: re.Pattern[str] | None = None
    fold: Callable[[str], str] = str


def _named(word: str, value: str) -> re.Pattern[str]:
    return re.compile(rf"(?i:\b(?:{word})\b){_GAP}(?P<value>{value})")


_UASG: Final = r"(?<![\w.,/-])\d{4,8}(?![\w/-]|[.,]\d)"
_CPF: Final = r"(?<![\w./-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w/-]|\.\d)"
_CNPJ: Final = (
    r"(?<![\w./-])[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}(?![\w/-]|\.\d)"
)
_PHONE: Final = (
    r"(?<![\w+])(?:\+?55\s?)?(?:\(0?\d{2}\)|0?\d{2})\s?-?\s?(?:9\s?)?\d{4}[\s.-]?\d{4}"
    r"(?:,?\s*(?i:ramal|ram\.|r\.)\s*:?\s*\d{1,6})?(?!\d)"
    r"|(?<!\w)0800[\s.-]?\d{3}[\s.-]?\d{4}(?!\d)"
)
_PHONE_WORDS: Final = r"telefone|tel|fone|celular|contato|ramal|whatsapp"


def _light_fold(text: str) -> str:
    """Lower case without accents, each character kept in its place ("À" -> "a"), so a
    match on it is the same slice of the text as written. One table for the distinct
    characters of the text, applied by ``str.translate``: linear, at C speed."""
    if text.isascii():
        return text.lower()
    changed = (char for char in set(text) if char.isupper() or not char.isascii())
    return text.translate({ord(char): _fold_char(char) for char in changed})


def _fold_char(char: str) -> str:
    """The character lower-cased without its accents, or as it is when that is not one
    character ("ß" stays)."""
    for folded in (unicodedata.normalize("NFD", char.lower())[:1], char.lower(), char):
        if len(folded) == 1 and not unicodedata.combining(folded):
            return folded
    return char


_BOUNDED_WHEN: Final = re.compile(rf"(?<![\w/.-])(?:{WHEN_PATTERN})(?![\w/]|[.-]\d)", re.VERBOSE)
_BOUNDED_TIME: Final = re.compile(
    rf"(?<![\w/.-])(?:{TIME_ALONE_PATTERN})(?![\w/]|[.-]\d)", re.VERBOSE
)

_READERS: Final[dict[str, tuple[_Reader, ...]]] = {
    "uasg": (_Reader(None, _named("uasg", _UASG)),),
    "cpf": (_Reader(re.compile(_CPF), _named("cpf", _CPF)),),
    "cnpj": (_Reader(re.compile(_CNPJ), _named("cnpj", _CNPJ)),),
    "phone": (_Reader(re.compile(_PHONE), _named(_PHONE_WORDS, _PHONE)),),
    "date": (_Reader(_BOUNDED_WHEN, fold=_light_fold), _Reader(_BOUNDED_TIME, fold=_light_fold)),
}


def find_in_prose(validator: str, text: str) -> str | None:
    """The value a validator's answer has in prose, as written, or None.

    The first value named by its word wins when valid; else the earliest valid value
    anywhere; else the first named one, wrong, to be quoted.
    """
    readers = _READERS.get(validator, ())
    check = VALIDATORS[validator].check if readers else None
    named: list[str] = []
    anywhere: list[tuple[int, str]] = []
    for reader in readers:
        searched = reader.fold(text)
        if reader.named is not None:
            named += [text[a:b] for a, b in islice(_spans(reader.named, searched), 1)]
        if reader.anywhere is not None:
            valid = (
                (start, text[start:end])
                for start, end in islice(_spans(reader.anywhere, searched), MAX_CANDIDATES)
                if _plausible(text[start:end]) and check and check(text[start:end], {}) is None
            )
            anywhere += islice(valid, 1)
    if named and check and check(named[0], {}) is None:
        return named[0]
    if anywhere:
        return min(anywhere)[1]
    return named[0] if named else None


# "3.5" and "1-2" are versions and ranges far more often than days of a month.
_BARE_DAY_MONTH: Final = re.compile(r"\d{1,2}[.-]\d{1,2}")


def _plausible(value: str) -> bool:
    return _BARE_DAY_MONTH.fullmatch(value) is None


# A text answer named in prose: a quotation after its label ('apareceu a mensagem "Erro
# interno"'), else a name in capitals right after it ("no módulo Divulgação de Compras").
_QUOTED: Final = re.compile(r'[^\n"“”]{0,40}?["“](?P<value>[^"”\n]{2,300})["”]')
_PROPER_NAME: Final = re.compile(
    r"\s+(?:(?:de|da|do)\s)?(?P<value>[A-ZÀ-Ý][\w-]*(?:\s(?:(?:de|da|do|dos|das|e)\s)?"
    r"[A-ZÀ-Ý][\w-]*){0,6})"
)
_STOP: Final = "|".join(sorted(LABEL_STOP_WORDS))


def _label_in_prose(labels: Sequence[str]) -> re.Pattern[str] | None:
    """The labels' words as prose writes them, stop words allowed between ("mensagem de
    erro" for the label "Mensagem de erro"), on folded text."""
    forms = sorted({form for form in map(label_form, labels) if form}, key=len, reverse=True)
    if not forms:
        return None
    space = r"[^\w\"“”]+"  # not across a quotation mark: the value begins there
    joint = rf"(?:{space}(?:{_STOP})){{0,3}}{space}"
    words = (joint.join(re.escape(word) for word in form.split()) for form in forms)
    return re.compile(rf"(?<!\w)(?:{'|'.join(words)})(?!\w)")


def find_named_text(labels: Sequence[str], text: str) -> str | None:
    """A text answer named by one of its labels in prose, as written, or None."""
    named = _label_in_prose(labels)
    if named is None:
        return None
    for found in islice(named.finditer(_light_fold(text)), MAX_CANDIDATES):
        value = _QUOTED.match(text, found.end()) or _PROPER_NAME.match(text, found.end())
        if value is not None:
            return value["value"].strip()
    return None


# An action told in the first person of the past ("entrei", "acessei",
# "cliquei", "selecionei", "tentei"; "abri", "preenchi", "incluí"), on light-folded text.
# A sentence runs over the lines a client wrapped, to its stop or to a blank line.
_SENTENCE: Final = re.compile(r"(?:[^.!?\n]|\n(?![ \t]*(?:\n|$)))+(?:[.!?]+|$)", re.MULTILINE)
_FIRST_PERSON_ACTION: Final = re.compile(
    r"(?<!\w)(?:[a-z]{3,}ei|abri|preenchi|inclui|escolhi|cliquei|fui)(?!\w)"
)
# An account of steps tells two distinct actions at least: "entrei no sistema e cliquei em
# Publicar"; "já tentei de novo ... já tentei outro navegador" tells what was tried, not how
# the error came.
MIN_ACTIONS: Final = 2


def find_steps(text: str) -> str | None:
    """The sentences that tell what the sender did, as written: from the first to the last
    sentence with an action in the first person, when they tell MIN_ACTIONS distinct ones."""
    folded = _light_fold(text)
    first = last = None
    actions: set[str] = set()
    for sentence in _SENTENCE.finditer(folded):
        told = _FIRST_PERSON_ACTION.findall(sentence.group())
        if told:
            actions.update(told)
            first = sentence.start() if first is None else first
            last = sentence.end()
    if first is None or last is None or len(actions) < MIN_ACTIONS:
        return None
    return text[first:last].strip()


def _spans(pattern: re.Pattern[str], text: str) -> Iterator[tuple[int, int]]:
    for found in pattern.finditer(text):
        yield found.span("value") if "value" in pattern.groupindex else found.span()
