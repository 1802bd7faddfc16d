"""The rules folder: validates each theme file and compiles it into frozen, typed objects."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import MappingProxyType
from typing import Final
from urllib.parse import urlsplit

from mailproc.errors import RulesError
from mailproc.mail.textfold import fold
from mailproc.rules.answers import label_form
from mailproc.rules.classify import Classification, Keyword, Pattern, Signal, classify, distinct
from mailproc.rules.classify import keyword_keys as _keyword_keys
from mailproc.rules.validators import VALIDATORS, not_given

# --- The compiled objects --------------------------------------------------------------------


class Priority(StrEnum):
    """How urgent a theme's tickets are."""

    BAIXA = "baixa"
    NORMAL = "normal"
    ALTA = "alta"
    CRITICA = "critica"


class DeadlineHours(StrEnum):
    """How a theme's ``response_hours`` are counted (mailproc.decision.business_hours)."""

    # "horas úteis": only while the desk works ([calendar]: working hours, holidays).
    BUSINESS = "business"
    # "horas corridas": every hour of the clock, for a service watched around the clock.
    ELAPSED = "elapsed"


class AttachmentKind(StrEnum):
    """What an attachment must really be (by its bytes) to count toward a requirement."""

    IMAGE = "image"
    PDF = "pdf"
    ANY = "any"


@dataclass(frozen=True)
class Routing:
    """Where a theme's tickets go."""

    area: str
    address: str


@dataclass(frozen=True)
class AttachmentRequirement:
    """At least ``count`` attachments of ``kind``, described to the user in pt-BR. An image
    counts from ``min_width`` × ``min_height`` pixels (smaller ones are signature logos)."""

    kind: AttachmentKind
    count: int
    description: str
    min_width: int = 300
    min_height: int = 200


@dataclass(frozen=True)
class AnswerRequirement:
    """One questionnaire field: found in the body as ``Label: value`` and validated."""

    key: str
    label: str
    aliases: tuple[str, ...]
    validator: str
    params: Mapping[str, int]
    hint: str
    example: str
    from_body: bool
    feminine: bool = False
    # The account of what the sender did (``narrative = true``): in prose, the sentences that
    # say it in the first person ("entrei", "cliquei") are the answer.
    narrative: bool = False

    @property
    def labels(self) -> tuple[str, ...]:
        return (self.label, *self.aliases)

    @property
    def not_given(self) -> str:
        """The reason for an answer not written, agreeing with the label ("UASG: não
        informada"): the rules file says the label's gender (``gender = "feminine"``)."""
        return not_given(self.feminine)

    @property
    def one_line(self) -> bool:
        """The answer is one item (a code, a number, a date): the line after its label."""
        return VALIDATORS[self.validator].one_line

    def problem(self, value: str) -> str | None:
        """None when the value passes the validator, else the pt-BR reason."""
        return VALIDATORS[self.validator].check(value, self.params)

    def settled(self, value: str, sent: datetime) -> str:
        """The valid value to keep, given the mail's local sending time ("hoje" -> a date)."""
        settle = VALIDATORS[self.validator].settle
        return settle(value, sent) if settle else value


@dataclass(frozen=True)
class Article:
    """A knowledge article suggested in the acknowledgement."""

    title: str
    url: str


@dataclass(frozen=True)
class Theme:
    """A service theme: how to recognise its subjects and what its tickets require."""

    id: str
    name: str
    precedence: int
    priority: Priority
    response_hours: int
    description: str
    example_subject: str
    signals: tuple[Signal, ...]
    routing: Routing
    attachments: tuple[AttachmentRequirement, ...]
    answers: tuple[AnswerRequirement, ...]
    knowledge: tuple[Article, ...]
    # Its tickets are no problems to hurry (suggestions): notices do not offer urgency.
    no_urgency: bool = False
    deadline_hours: DeadlineHours = DeadlineHours.BUSINESS

    @property
    def answer_labels(self) -> dict[str, tuple[str, ...]]:
        """Answer key -> accepted labels, as ``extract_answers`` takes them."""
        return {answer.key: answer.labels for answer in self.answers}


@dataclass(frozen=True)
class Rulebook:
    """Every theme, in ascending precedence (which decides between themes that a subject
    names alike: mailproc.rules.classify)."""

    themes: tuple[Theme, ...]

    def get(self, theme_id: str) -> Theme | None:
        return next((theme for theme in self.themes if theme.id == theme_id), None)

    def classify(self, subject: str, body: str) -> Classification[Theme]:
        """The themes a mail's subject and own text point to, scored and judged."""
        return classify(self.themes, subject, body)


# --- Reading one file ------------------------------------------------------------------------

_INDEXED: Final = re.compile(r"^(?P<name>[\w-]+)(?:\[(?P<index>\d+)\])?$")
_ANY_HEADER: Final = re.compile(r"^\s*\[")


def _split_index(segment: str) -> tuple[str, int | None]:
    found = _INDEXED.match(segment)
    if found is None:
        return segment, None
    return found["name"], int(found["index"]) if found["index"] else None


def _header_line(lines: Sequence[str], name: str, index: int | None) -> int | None:
    """0-based line of ``[name]``, or of the index-th ``[[name]]``."""
    opening, closing = (r"\[\[", r"\]\]") if index is not None else (r"\[", r"\]")
    header = re.compile(rf"^\s*{opening}\s*{re.escape(name)}\s*{closing}")
    hits = [number for number, line in enumerate(lines) if header.match(line)]
    wanted = index or 0
    return hits[wanted] if wanted < len(hits) else None


def _assignment_line(lines: Sequence[str], start: int, name: str) -> int | None:
    """0-based line of ``name = ...`` in the table that begins at ``start``."""
    assignment = re.compile(rf"^\s*{re.escape(name)}\s*=")
    for number in range(start, len(lines)):
        if number > start and _ANY_HEADER.match(lines[number]):
            return None
        if assignment.match(lines[number]):
            return number
    return None


def _line_of(text: str, key: str) -> int | None:
    """Best-effort 1-based line of a dotted key such as ``answers[2].validator``."""
    lines = text.splitlines()
    first, _, rest = key.partition(".")
    header = _header_line(lines, *_split_index(first))
    if header is None:
        found = _assignment_line(lines, 0, _split_index(first)[0])
    elif rest:
        found = _assignment_line(lines, header, _split_index(rest.partition(".")[0])[0])
        found = header if found is None else found
    else:
        found = header
    return None if found is None else found + 1


@dataclass(frozen=True)
class _Source:
    """A rules file's name and text, to build errors that point into it."""

    name: str
    text: str

    def error(self, key: str, reason: str) -> RulesError:
        return RulesError(self.name, key, reason, _line_of(self.text, key))


class _Table:
    """One TOML table of a rules file, read field by field; unknown keys are errors."""

    def __init__(
        self, source: _Source, path: str, data: Mapping[str, object], allowed: frozenset[str]
    ) -> None:
        self.source, self.path, self.data = source, path, data
        for name in data:
            if name not in allowed:
                raise self.error(name, f"unknown key (allowed: {', '.join(sorted(allowed))})")

    def key(self, name: str) -> str:
        return f"{self.path}.{name}" if self.path else name

    def error(self, name: str, reason: str) -> RulesError:
        return self.source.error(self.key(name), reason)

    def text(self, name: str, *, required: bool = True) -> str:
        value = self.data.get(name)
        if value is None and not required:
            return ""
        if value is None:
            raise self.error(name, "missing")
        if not isinstance(value, str) or not value.strip():
            raise self.error(name, "must be a non-empty string")
        return value.strip()

    def line(self, name: str, *, required: bool = True) -> str:
        value = self.text(name, required=required)
        if "\n" in value:
            raise self.error(name, "must be a single line")
        return value

    def integer(self, name: str, *, minimum: int, default: int | None = None) -> int:
        value = self.data.get(name, default)
        if value is None:
            raise self.error(name, "missing")
        if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
            raise self.error(name, f"must be an integer >= {minimum}")
        return value

    def flag(self, name: str) -> bool:
        value = self.data.get(name, False)
        if not isinstance(value, bool):
            raise self.error(name, "must be true or false")
        return value

    def choice(self, name: str, options: Sequence[str], default: str | None = None) -> str:
        value = self.text(name) if default is None or name in self.data else default
        if value not in options:
            raise self.error(name, f"must be one of: {', '.join(options)}")
        return value

    def texts(self, name: str) -> tuple[str, ...]:
        values = self.data.get(name, [])
        if not isinstance(values, list):
            raise self.error(name, "must be a list of strings")
        for number, value in enumerate(values):
            if not isinstance(value, str) or not value.strip():
                raise self.error(f"{name}[{number}]", "must be a non-empty string")
        return tuple(value.strip() for value in values)

    def table(self, name: str, allowed: frozenset[str]) -> _Table:
        value = self.data.get(name)
        if not isinstance(value, dict):
            raise self.error(name, f"missing table [{name}]")
        return _Table(self.source, self.key(name), value, allowed)

    def tables(self, name: str, allowed: frozenset[str]) -> list[_Table]:
        values = self.data.get(name, [])
        if not isinstance(values, list) or not all(isinstance(v, dict) for v in values):
            raise self.error(name, f"must be an array of tables, written [[{name}]]")
        return [
            _Table(self.source, f"{self.key(name)}[{number}]", value, allowed)
            for number, value in enumerate(values)
        ]


# --- Compiling the sections of a theme -------------------------------------------------------

_THEME_KEYS: Final = frozenset(
    {"id", "name", "precedence", "priority", "response_hours", "description"}
    | {"example_subject", "match", "routing", "attachments", "answers", "knowledge"}
    | {"no_urgency", "deadline_hours"}
)
_MATCH_KEYS: Final = frozenset({"keywords", "regexes"})
_ROUTING_KEYS: Final = frozenset({"area", "address"})
_ATTACHMENT_KEYS: Final = frozenset({"kind", "count", "description", "min_width", "min_height"})
_IMAGE_SIZE_KEYS: Final = ("min_width", "min_height")
_ANSWER_FIELDS: Final = frozenset(
    {"key", "label", "aliases", "validator", "hint", "example", "from_body", "gender"}
    | {"narrative"}
)
_VALIDATOR_PARAMS: Final = frozenset[str]().union(*(v.params for v in VALIDATORS.values()))
_ANSWER_KEYS: Final = _ANSWER_FIELDS | _VALIDATOR_PARAMS
_KNOWLEDGE_KEYS: Final = frozenset({"title", "url"})

_THEME_ID: Final = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")
_ANSWER_KEY: Final = re.compile(r"[a-z][a-z0-9_]*")
_ADDRESS: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s.]+")


def _keyword(table: _Table, number: int, keyword: str) -> Keyword:
    """A word or phrase, compared by stems (mailproc.rules.classify.Keyword)."""
    keys = _keyword_keys(keyword)
    if isinstance(keys, str):
        raise table.error(f"keywords[{number}]", keys)
    return Keyword(keyword, keys)


def _unfoldable(pattern: str) -> str | None:
    """A character the folded subject never holds (upper case, accent), outside escapes."""
    escaped = False
    for char in pattern:
        if not escaped and not char.isspace() and fold(char) != char:
            return char
        escaped = not escaped and char == "\\"
    return None


def _regex(table: _Table, number: int, source: str) -> Pattern:
    key = f"regexes[{number}]"
    try:
        pattern = re.compile(source)
    except re.error as error:
        raise table.error(key, f"invalid regular expression: {error}") from None
    odd = _unfoldable(source)
    if odd is not None:
        raise table.error(
            key, f"{odd!r} never occurs in a folded subject: write lower case, without accents"
        )
    if pattern.search(""):
        raise table.error(key, "matches every subject")
    return Pattern(source, pattern)


def _signals(table: _Table) -> tuple[Signal, ...]:
    words = distinct(_keyword(table, n, k) for n, k in enumerate(table.texts("keywords")))
    regexes = [_regex(table, n, r) for n, r in enumerate(table.texts("regexes"))]
    if not words and not regexes:
        raise table.error("keywords", "give at least one keyword or regex")
    return (*words, *regexes)


def _routing(table: _Table) -> Routing:
    address = table.text("address")
    if not _ADDRESS.fullmatch(address):
        raise table.error("address", f"not an e-mail address: {address!r}")
    return Routing(area=table.line("area"), address=address)


def _attachment(table: _Table) -> AttachmentRequirement:
    kind = AttachmentKind(table.choice("kind", list(AttachmentKind)))
    stray = [key for key in _IMAGE_SIZE_KEYS if key in table.data]
    if stray and kind is not AttachmentKind.IMAGE:
        raise table.error(stray[0], 'allowed only with kind = "image"')
    default = AttachmentRequirement(kind, 1, "")
    return AttachmentRequirement(
        kind=kind,
        count=table.integer("count", minimum=1, default=1),
        description=table.line("description"),
        min_width=table.integer("min_width", minimum=1, default=default.min_width),
        min_height=table.integer("min_height", minimum=1, default=default.min_height),
    )


def _params(table: _Table, validator: str) -> Mapping[str, int]:
    wanted = VALIDATORS[validator].params
    stray = sorted(_VALIDATOR_PARAMS & table.data.keys() - wanted)
    if stray:
        raise table.error(stray[0], f"not a parameter of validator {validator!r}")
    return MappingProxyType({name: table.integer(name, minimum=1) for name in sorted(wanted)})


def _answer(table: _Table) -> AnswerRequirement:
    key = table.text("key")
    if not _ANSWER_KEY.fullmatch(key):
        raise table.error("key", "use lower case letters, digits and '_', starting with a letter")
    validator = table.choice("validator", list(VALIDATORS), default="nonempty")
    answer = AnswerRequirement(
        key=key,
        label=table.line("label"),
        aliases=table.texts("aliases"),
        validator=validator,
        params=_params(table, validator),
        hint=table.line("hint"),
        example=table.line("example", required=False),
        from_body=table.flag("from_body"),
        feminine=table.choice("gender", ["masculine", "feminine"], "masculine") == "feminine",
        narrative=table.flag("narrative"),
    )
    for name, label in _named_labels(answer):
        if ":" in label or "=" in label:
            raise table.error(name, "a label cannot hold ':' or '=' (they end a label)")
        if not label_form(label):
            raise table.error(name, "a label needs a word besides 'de', 'nº', 'código' ...")
    if answer.example and (problem := answer.problem(answer.example)):
        raise table.error("example", f"fails its own validator: {problem}")
    return answer


def _article(table: _Table) -> Article:
    url = table.text("url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise table.error("url", f"not a web address: {url!r}")
    return Article(title=table.line("title"), url=url)


def _named_labels(answer: AnswerRequirement) -> list[tuple[str, str]]:
    """(key in the table, label) for the label and each alias of an answer."""
    return [("label", answer.label), *((f"aliases[{n}]", a) for n, a in enumerate(answer.aliases))]


def _distinct_answers(tables: Sequence[_Table], answers: Sequence[AnswerRequirement]) -> None:
    """Keys and labels must be unique in a theme, and only one answer may take the body."""
    keys: dict[str, str] = {}
    labels: dict[str, str] = {}
    body_taken = False
    for table, answer in zip(tables, answers, strict=True):
        if answer.key in keys:
            raise table.error("key", f"{answer.key!r} is already the key of {keys[answer.key]}")
        keys[answer.key] = table.path
        for name, label in _named_labels(answer):
            # Spellings that read the same ("Passo a passo", "Passo-a-passo") may stay.
            if labels.get(form := label_form(label), table.path) != table.path:
                raise table.error(name, f"{label!r} is already a label of {labels[form]}")
            labels[form] = table.path
        if answer.from_body and body_taken:
            raise table.error("from_body", "only one answer per theme can take the whole body")
        body_taken = body_taken or answer.from_body


def _answers(top: _Table) -> tuple[AnswerRequirement, ...]:
    tables = top.tables("answers", _ANSWER_KEYS)
    answers = tuple(_answer(table) for table in tables)
    _distinct_answers(tables, answers)
    return answers


def _theme(source: _Source, data: Mapping[str, object], stem: str) -> Theme:
    top = _Table(source, "", data, _THEME_KEYS)
    theme_id = top.text("id")
    if theme_id != stem or not _THEME_ID.fullmatch(theme_id):
        raise top.error("id", f"must be the file name {stem!r}, in lower case with '-'")
    return Theme(
        id=theme_id,
        name=top.line("name"),
        precedence=top.integer("precedence", minimum=0),
        priority=Priority(top.choice("priority", list(Priority))),
        response_hours=top.integer("response_hours", minimum=1),
        description=top.line("description"),
        example_subject=top.line("example_subject"),
        signals=_signals(top.table("match", _MATCH_KEYS)),
        routing=_routing(top.table("routing", _ROUTING_KEYS)),
        attachments=tuple(_attachment(t) for t in top.tables("attachments", _ATTACHMENT_KEYS)),
        answers=_answers(top),
        knowledge=tuple(_article(t) for t in top.tables("knowledge", _KNOWLEDGE_KEYS)),
        no_urgency=top.flag("no_urgency"),
        deadline_hours=DeadlineHours(
            top.choice("deadline_hours", list(DeadlineHours), DeadlineHours.BUSINESS)
        ),
    )


_SYNTAX_LINE: Final = re.compile(r"at line (\d+)")


def _load_theme(path: Path) -> tuple[_Source, Theme]:
    try:
        source = _Source(path.name, path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError) as error:
        raise RulesError(path.name, "(file)", f"cannot be read as UTF-8 text: {error}") from None
    try:
        data = tomllib.loads(source.text)
    except tomllib.TOMLDecodeError as error:
        line = _SYNTAX_LINE.search(str(error))
        raise RulesError(
            path.name, "(syntax)", f"invalid TOML: {error}", int(line[1]) if line else None
        ) from None
    return source, _theme(source, data, path.stem)


# --- The folder ------------------------------------------------------------------------------


def _distinct_precedence(loaded: Sequence[tuple[_Source, Theme]]) -> None:
    owners: dict[int, str] = {}
    for source, theme in loaded:
        if theme.precedence in owners:
            raise source.error(
                "precedence", f"{theme.precedence} is already used by {owners[theme.precedence]}"
            )
        owners[theme.precedence] = source.name


def _examples_route_home(book: Rulebook, loaded: Sequence[tuple[_Source, Theme]]) -> None:
    """Each theme's example subject, shown to users (and the way the no-theme notice tells
    them to confirm a theme), must surely lead to that very theme on its own."""
    for source, theme in loaded:
        found = book.classify(theme.example_subject, "")
        if found.theme is not theme:
            raise source.error(
                "example_subject", f"does not lead to this theme: {_elsewhere(found)}"
            )


def _elsewhere(found: Classification[Theme]) -> str:
    if found.theme is not None:
        return f"theme {found.theme.id!r} comes first"
    if len(found.likely) > 1:
        return "it names " + " and ".join(repr(t.id) for t in found.likely) + " alike"
    return "no theme matches it"


def load_rulebook(folder: Path) -> Rulebook:
    """Read, validate and compile every ``*.toml`` theme of a folder; RulesError if invalid.

    Theme ids are the file names, so they are unique by construction.
    """
    if not folder.is_dir():
        raise RulesError(str(folder), "(folder)", "not a folder")
    loaded = [_load_theme(path) for path in sorted(folder.glob("*.toml")) if path.is_file()]
    if not loaded:
        raise RulesError(str(folder), "(folder)", "no theme files (*.toml)")
    _distinct_precedence(loaded)
    book = Rulebook(tuple(sorted((theme for _, theme in loaded), key=lambda t: t.precedence)))
    _examples_route_home(book, loaded)
    return book
