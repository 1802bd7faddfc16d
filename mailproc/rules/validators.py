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
# The value to keep, given the local time the mail was sent: "hoje às 9h" becomes a date.
Settle = Callable[[str, dt.datetime], str]

NOT_GIVEN: Final = "não informado"


def not_given(feminine: bool) -> str:
    """ "não informado", agreeing with the label ("UASG: não informada")."""
    return "não informada" if feminine else NOT_GIVEN


_DIGITS: Final = frozenset("0123456789")
_ALNUM: Final = _DIGITS | frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZ")


@dataclass(frozen=True)
class Validator:
    """A registered check and the names of the integer parameters a rules file must give it.

    ``one_line``: the value is a single item (a code, a number, a date), read from the first
    line written after its label; what follows (a blank line, a signature) is not part of it.
    ``settle`` gives the value to keep, once valid, from the mail's local sending time.
    """

    check: ValueCheck
    params: frozenset[str] = frozenset()
    one_line: bool = False
    settle: Settle | None = None


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


# "ramal 215", "r. 215", "ext. 215": phonenumbers knows "ext" only, so it is split off first.
_EXTENSION = re.compile(r",?\s*(?:ramal|ram\.?|r\.|ext\.?|extensao)\s*:?\s*\d{1,6}$")


def phone(value: str, params: Params) -> str | None:
    """A Brazilian phone: DDD + 8 (landline) or 9 (mobile) digits, optional +55, or 0800,
    optionally with an extension ("ramal 215"); one that exists by the numbering plan."""
    number = _national_number(_EXTENSION.sub("", fold(value)))
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
    return None if _in_numbering_plan(number) else "DDD inexistente"


def _in_numbering_plan(number: str) -> bool:
    """What phonenumbers knows and the shape above does not: the DDDs that exist (23 does
    not). Imported here, when a phone is checked (start-up time)."""
    import phonenumbers

    return bool(phonenumbers.is_valid_number(phonenumbers.parse(number, "BR")))


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
_APPROXIMATELY = r"por\svolta\sdas|perto\sdas|cerca\sdas|aprox\.?|aproximadamente(?:\sas)?"
_CLOCK = r"""
    (?P<hour>\d{1,2})
    (?:
        [:h](?P<minute>\d{2})(?::(?P<second>\d{2}))?(?:\s?(?:h|hs|min))?
      | \s?(?:h|hs|horas?)
    )
"""
_PERIOD_WORDS = r"(?:,?\s(?:a|de|pela|na|durante\sa)\s|\s?\()"
_PERIOD = rf"""
    {_PERIOD_WORDS}(?P<period>manha|tarde|noite|madrugada)\)?
"""
# The part of the day may come before the time too: "ontem à tarde, por volta das 16h".
_EARLY_PERIOD = rf"""
    {_PERIOD_WORDS}(?P<early_period>manha|tarde|noite|madrugada)\)?
"""
WHEN_PATTERN: Final = rf"""
    (?:(?:segunda|terca|quarta|quinta|sexta)(?:-feira)?,?\s|sabado,?\s|domingo,?\s)?
    (?:dia\s)?
    (?:
        (?P<relative>hoje|ontem|anteontem)
      | (?P<moment>(?:agora\s)?ha\spouco|agora\spouco)
      | (?P<iso_year>\d{{4}})-(?P<iso_month>\d{{2}})-(?P<iso_day>\d{{2}})
      | (?P<day>\d{{1,2}})[/.-](?P<month>\d{{1,2}})(?:[/.-](?P<year>\d{{4}}|\d{{2}}))?
      | (?P<name_day>\d{{1,2}})o?\s(?:de\s)?(?P<month_name>[a-z]+)\.?
        (?:,?\s(?:de\s)?(?P<name_year>\d{{4}}))?
    )
    (?:{_EARLY_PERIOD})?
    (?:(?:t|,?\s?-?\s?(?:(?:as|(?P<approx>{_APPROXIMATELY}))\s)?){_CLOCK})?
    (?:{_PERIOD})?
"""
# "Por volta das 16h" alone is today; a bare "às 16h" is not read as a date (it may be any
# time mentioned), and is asked for again.
TIME_ALONE_PATTERN: Final = rf"(?P<approx>{_APPROXIMATELY})\s{_CLOCK}"
_WHEN = re.compile(WHEN_PATTERN, re.VERBOSE)
_TIME_ALONE = re.compile(TIME_ALONE_PATTERN, re.VERBOSE)
_DAYS_AGO: Final = {"hoje": 0, "ontem": 1, "anteontem": 2}
_PERIOD_NAMES: Final = {"manha": "manhã", "tarde": "tarde", "noite": "noite"} | {
    "madrugada": "madrugada"
}

_UNRECOGNISED: Final = "data/hora não reconhecida (ex.: 10/11/2026 14:30)"


def _calendar_parts(found: re.Match[str]) -> tuple[str, str, str | None] | None:
    """(day, month, year) as written, month possibly a name; None for a day relative to the
    mail (hoje, ontem, há pouco) or a time alone."""
    groups = found.groupdict()
    if groups.get("relative") or groups.get("moment") or "iso_year" not in groups:
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


def _read_when(value: str) -> re.Match[str] | None:
    folded = fold(value).rstrip(".;")
    return _WHEN.fullmatch(folded) or _TIME_ALONE.fullmatch(folded)


def date(value: str, params: Params) -> str | None:
    """A date, optionally with a time or a part of the day, as people write it in pt-BR
    ("hoje às 9h", "ontem à tarde", "por volta das 16h"), or ISO 8601."""
    found = _read_when(value)
    if found is None:
        return _UNRECOGNISED
    parts = _calendar_parts(found)
    problem = _calendar_problem(*parts) if parts else None
    return problem or _clock_problem(found)


def settle_date(value: str, sent: dt.datetime) -> str:
    """A valid date relative to the mail written as the date it names, in the stored form
    "06/12/2026 09:00", "06/12/2026 por volta das 16:00", "06/12/2026 (tarde)" or
    "06/12/2026"; ``sent`` is the mail's Date in the desk's time zone. A date written in
    full is kept as written."""
    found = _read_when(value)
    if found is None or _calendar_parts(found) is not None:
        return value
    groups = found.groupdict()
    day = sent.date() - dt.timedelta(days=_DAYS_AGO.get(groups.get("relative") or "", 0))
    hour, minute = found["hour"], found["minute"] or "00"
    if groups.get("moment"):
        hour, minute = str(sent.hour), f"{sent.minute:02d}"
    stored = f"{day:%d/%m/%Y}"
    if hour is not None:
        about = "por volta das " if found["approx"] or groups.get("moment") else ""
        stored += f" {about}{int(hour):02d}:{minute}"
    period = groups.get("period") or groups.get("early_period")
    return f"{stored} ({_PERIOD_NAMES[period]})" if period else stored


VALIDATORS: Final[Mapping[str, Validator]] = {
    "nonempty": Validator(nonempty),
    "min_length": Validator(min_length, frozenset({"min_length"})),
    "cpf": Validator(cpf, one_line=True),
    "cnpj": Validator(cnpj, one_line=True),
    "phone": Validator(phone, one_line=True),
    "uasg": Validator(uasg, one_line=True),
    "date": Validator(date, one_line=True, settle=settle_date),
}
