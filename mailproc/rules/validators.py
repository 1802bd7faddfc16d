"""Answer validators: each takes a value and its parameters and returns None or a pt-BR reason."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from mailproc.mail.textfold import fold

Params = Mapping[str, int]
ValueCheck = Callable[[str, Params], str | None]

NOT_GIVEN: Final = "não informado"

_DIGITS: Final = frozenset("0123456789")
_ALNUM: Final = _DIGITS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Validator:
    """A registered check and the names of the integer parameters a rules file must give it."""

    check: ValueCheck
    params: frozenset[str] = frozenset()


def nonempty(value: str, params: Params) -> str | None:
    """Anything but blanks."""
    return None if value.strip() else NOT_GIVEN


def min_length(value: str, params: Params) -> str | None:
    """At least ``min_length`` characters, runs of white space counting as one."""
    wanted = params["min_length"]
    if len(" ".join(value.split())) >= wanted:
        return None
    return f"deve ter pelo menos {wanted} caracteres"


def uasg(value: str, params: Params) -> str | None:
    """A UASG code: exactly six digits."""
    code = value.strip()
    return None if len(code) == 6 and set(code) <= _DIGITS else "deve ter exatamente 6 dígitos"


# --- CPF and CNPJ: mod-11 check digits --------------------------------------------------------

_DOCUMENT_PUNCTUATION = re.compile(r"[\s./-]")


def _cpf_weights(size: int) -> list[int]:
    return list(range(size + 1, 1, -1))


def _cnpj_weights(size: int) -> list[int]:
    return [2 + position % 8 for position in reversed(range(size))]


def _check_digits(base: Sequence[int], weights: Callable[[int], list[int]]) -> list[int]:
    values = list(base)
    for _ in range(2):
        rest = sum(v * w for v, w in zip(values, weights(len(values)), strict=True)) % 11
        values.append(0 if rest < 2 else 11 - rest)
    return values[-2:]


def _document(
    value: str, *, size: int, base_alphabet: frozenset[str], weights: Callable[[int], list[int]]
) -> str | None:
    chars = _DOCUMENT_PUNCTUATION.sub("", value).upper()
    base, check = chars[:-2], chars[-2:]
    if len(chars) != size or not (set(base) <= base_alphabet and set(check) <= _DIGITS):
        return f"deve ter {size} dígitos"
    if len(set(chars)) == 1:
        return "número inválido (todos os dígitos iguais)"
    values = [ord(char) - ord("0") for char in chars]
    if _check_digits(values[:-2], weights) != values[-2:]:
        return "dígitos verificadores inválidos"
    return None


def cpf(value: str, params: Params) -> str | None:
    """A CPF with valid check digits; punctuation (``123.456.789-09``) is ignored."""
    return _document(value, size=11, base_alphabet=_DIGITS, weights=_cpf_weights)


def cnpj(value: str, params: Params) -> str | None:
    """A CNPJ with valid check digits, numeric or the alphanumeric form used from July 2026."""
    return _document(value, size=14, base_alphabet=_ALNUM, weights=_cnpj_weights)


# --- Brazilian phone numbers -----------------------------------------------------------------

_PHONE_PUNCTUATION = re.compile(r"[\s().-]")


def _national_number(value: str) -> str | None:
    """The digits after country code and trunk prefix, or None when not a Brazilian number."""
    text = _PHONE_PUNCTUATION.sub("", value)
    if text.startswith("+"):
        text = text[3:] if text.startswith("+55") else ""
    elif len(text) in (12, 13) and text.startswith("55"):
        text = text[2:]
    if not text or not set(text) <= _DIGITS:
        return None
    if len(text) in (11, 12) and text.startswith("0") and not text.startswith("0800"):
        text = text[1:]
    return text


def phone(value: str, params: Params) -> str | None:
    """A Brazilian phone: DDD + 8 (landline) or 9 (mobile) digits, optional +55, or 0800."""
    number = _national_number(value)
    if number is None:
        return "deve ser um telefone do Brasil, com DDD"
    if number.startswith("0800"):
        return None if len(number) == 11 else "número 0800 deve ter 11 dígitos"
    if len(number) not in (10, 11):
        return "deve ter DDD e número (10 ou 11 dígitos)"
    if "0" in number[:2]:
        return "DDD inválido"
    if len(number) == 11 and number[2] != "9":
        return "celular deve começar com 9 após o DDD"
    if len(number) == 10 and number[2] not in "2345":
        return "telefone fixo deve começar com 2, 3, 4 ou 5 após o DDD"
    return None


# --- Dates and times as people write them ----------------------------------------------------

_MONTHS: Final = {
    name: number
    for number, names in enumerate(
        (
            ("janeiro", "jan"),
            ("fevereiro", "fev"),
            ("marco", "mar"),
            ("abril", "abr"),
            ("maio", "mai"),
            ("junho", "jun"),
            ("julho", "jul"),
            ("agosto", "ago"),
            ("setembro", "set"),
            ("outubro", "out"),
            ("novembro", "nov"),
            ("dezembro", "dez"),
        ),
        start=1,
    )
    for name in names
}

# Applied to the folded value (lower case, no accents, single spaces): "às" is "as" here.
_WHEN = re.compile(
    r"""
    (?:(?:segunda|terca|quarta|quinta|sexta)(?:-feira)?,?\s|sabado,?\s|domingo,?\s)?
    (?:dia\s)?
    (?:
        (?P<relative>hoje|ontem|anteontem)
      | (?P<iso_year>\d{4})-(?P<iso_month>\d{2})-(?P<iso_day>\d{2})
      | (?P<day>\d{1,2})[/.-](?P<month>\d{1,2})(?:[/.-](?P<year>\d{4}|\d{2}))?
      | (?P<name_day>\d{1,2})o?\s(?:de\s)?(?P<month_name>[a-z]+)\.?
        (?:,?\s(?:de\s)?(?P<name_year>\d{4}))?
    )
    (?:
        (?:t|,?\s?-?\s?(?:(?:as|por\svolta\sdas|perto\sdas|aprox\.?|aproximadamente)\s)?)
        (?P<hour>\d{1,2})
        (?:
            [:h](?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\s?(?:h|hs|min))?
          | \s?(?:h|hs|horas?)
        )
    )?
    """,
    re.VERBOSE,
)

_UNRECOGNISED: Final = "data/hora não reconhecida (ex.: 10/11/2026 14:30)"


def _calendar_parts(found: re.Match[str]) -> tuple[str, str, str | None] | None:
    """(day, month, year) as written, month possibly a name; None for hoje/ontem/anteontem."""
    if found["relative"]:
        return None
    if found["iso_year"]:
        return found["iso_day"], found["iso_month"], found["iso_year"]
    if found["day"]:
        return found["day"], found["month"], found["year"]
    return found["name_day"], found["month_name"], found["name_year"]


def _calendar_problem(day: str, month: str, year: str | None) -> str | None:
    month_number = int(month) if month.isdigit() else _MONTHS.get(month)
    if month_number is None:
        return _UNRECOGNISED
    full_year = 2000 if year is None else int(year) + (2000 if len(year) == 2 else 0)
    if full_year < 1900:
        return "ano inválido"
    try:
        dt.date(full_year, month_number, int(day))
    except ValueError:
        return "data inexistente"
    return None


def _clock_problem(found: re.Match[str]) -> str | None:
    if found["hour"] is None:
        return None
    try:
        dt.time(int(found["hour"]), int(found["minute"] or 0), int(found["second"] or 0))
    except ValueError:
        return "horário inexistente"
    return None


def date(value: str, params: Params) -> str | None:
    """A date, optionally with a time, as people write it in pt-BR, or ISO 8601."""
    found = _WHEN.fullmatch(fold(value).rstrip(".;"))
    if found is None:
        return _UNRECOGNISED
    parts = _calendar_parts(found)
    problem = _calendar_problem(*parts) if parts else None
    return problem or _clock_problem(found)


VALIDATORS: Final[Mapping[str, Validator]] = {
    "nonempty": Validator(nonempty),
    "min_length": Validator(min_length, frozenset({"min_length"})),
    "cpf": Validator(cpf),
    "cnpj": Validator(cnpj),
    "phone": Validator(phone),
    "uasg": Validator(uasg),
    "date": Validator(date),
}
