"""Checking a message against its theme: every required attachment and answer still missing."""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from types import MappingProxyType
from typing import Final

from mailproc.mail.message import Attachment
from mailproc.rules.answers import extract_answers, first_line, own_text
from mailproc.rules.prose import find_in_prose, find_named_text, find_steps
from mailproc.rules.rulebook import AnswerRequirement, AttachmentKind, AttachmentRequirement, Theme
from mailproc.rules.screenshots import Print, judge


@dataclass(frozen=True)
class MissingItem:
    """One thing a theme requires that the message did not give (or gave wrongly).

    ``kind`` is "attachment" or "answer"; ``label`` is the pt-BR name shown to the user
    (e.g. "CNPJ"), ``reason`` a pt-BR sentence saying what is wrong ("não informado",
    "dígitos verificadores inválidos"), ``hint`` how to send it, when the theme says.
    """

    kind: str
    key: str
    label: str
    reason: str
    hint: str = ""


@dataclass(frozen=True)
class Evidence:
    """What a ticket offers so far toward its theme, as plain data.

    ``body`` is the message's own text (quoted history and signature cut), ``found`` the
    answers labelled in it, ``earlier`` those kept from earlier messages of the ticket and
    ``attachments`` every attachment received so far. ``sent`` is when the message was
    sent, in the desk's time zone (None: unknown), to read "hoje às 9h" as a date.
    ``repeated_images`` are the digests of images the sender sent in earlier mail again and
    again (logos: see rules.screenshots).
    """

    body: str
    found: Mapping[str, str]
    earlier: Mapping[str, str]
    attachments: Sequence[Attachment]
    sent: datetime | None = None
    repeated_images: Collection[str] = frozenset()


@dataclass(frozen=True)
class Findings:
    """What one check concluded: answer values to keep, how each was read (``how``: "rótulo",
    "texto", "corpo" or "anterior") and items still missing."""

    answers: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[MissingItem, ...] = ()
    how: Mapping[str, str] = field(default_factory=dict)


Check = Callable[[Theme, Evidence], Findings]


@dataclass(frozen=True)
class CheckResult:
    """Answers merged over the earlier ones, and everything still missing (empty: complete)."""

    answers: dict[str, str]
    missing: tuple[MissingItem, ...]
    how: Mapping[str, str] = field(default_factory=dict)

    @property
    def complete(self) -> bool:
        return not self.missing


# --- Attachments -----------------------------------------------------------------------------

_KIND_NOUNS: Final = {
    AttachmentKind.IMAGE: "captura de tela",
    AttachmentKind.PDF: "um PDF",
    AttachmentKind.ANY: "um arquivo",
}
_KIND_HINTS: Final = {
    AttachmentKind.IMAGE: "Responda a este e-mail anexando a imagem (PNG ou JPG).",
    AttachmentKind.PDF: "Responda a este e-mail anexando o arquivo PDF.",
    AttachmentKind.ANY: "Responda a este e-mail anexando o arquivo.",
}


# Files named one by one in a reason at most; the rest are counted.
MAX_FILES_NAMED: Final = 6


def _is_kind(attachment: Attachment, kind: AttachmentKind) -> bool:
    """By what the bytes really are: a PDF named ``print.png`` is not a PDF."""
    return kind is AttachmentKind.ANY or attachment.real_type.lower() == "application/pdf"


def _counted(required: AttachmentRequirement, evidence: Evidence) -> tuple[int, tuple[str, ...]]:
    """How many attachments count toward ``required``, and why each other one does not
    (images: see rules.screenshots; the same file received twice is named once)."""
    if required.kind is not AttachmentKind.IMAGE:
        return sum(_is_kind(a, required.kind) for a in evidence.attachments), ()
    wanted = Print(required.min_width, required.min_height, evidence.repeated_images)
    signature = {a.sha256 for a in evidence.attachments if a.in_signature}
    verdicts = [judge(a, wanted, signature) for a in evidence.attachments]
    refused = dict.fromkeys(v.reason for v in verdicts if not v.counts)
    return sum(v.counts for v in verdicts), tuple(refused)


def _why_not(refused: tuple[str, ...]) -> str:
    named = "; ".join(refused[:MAX_FILES_NAMED])
    rest = len(refused) - MAX_FILES_NAMED
    return named + (f"; e mais {rest} arquivo(s) que também não servem" if rest > 0 else "")


def _attachment_reason(
    required: AttachmentRequirement, received: int, others: int, refused: tuple[str, ...]
) -> str:
    noun = _KIND_NOUNS[required.kind]
    if received:
        counted = f"recebido(s) {received} de {required.count}"
        return f"{counted} ({_why_not(refused)})" if refused else counted
    if refused:
        return f"nenhum dos anexos recebidos serve como {noun}: {_why_not(refused)}"
    if others:
        return f"nenhum dos anexos recebidos é {noun}"
    return "não enviado" if required.count == 1 else f"não enviados ({required.count} no mínimo)"


def check_attachments(theme: Theme, evidence: Evidence) -> Findings:
    """Each attachment requirement needs ``count`` attachments of its kind, counted apart."""
    missing = []
    for number, required in enumerate(theme.attachments):
        received, refused = _counted(required, evidence)
        if received < required.count:
            others = len(evidence.attachments) - received
            reason = _attachment_reason(required, received, others, refused)
            missing.append(
                MissingItem(
                    kind="attachment",
                    key=f"attachments[{number}]",
                    label=required.description,
                    reason=reason,
                    hint=_KIND_HINTS[required.kind],
                )
            )
    return Findings(missing=tuple(missing))


# --- Answers ---------------------------------------------------------------------------------


# How a candidate value was read, as `mailproc rules test` shows it.
LABELLED, PROSE, BODY, EARLIER = "rótulo", "texto", "corpo", "anterior"
# The longest quote of a wrong value in a reason.
MAX_QUOTE_CHARS: Final = 60


def _offered(required: AnswerRequirement, evidence: Evidence) -> Iterator[tuple[str, str]]:
    """Candidate (value, how) pairs, best first, each worked out only when those before it
    did not do: labelled in this message, a valid earlier value, what its prose says (or
    the whole body), then an invalid earlier value. A valid labelled value wins over all;
    prose fills gaps ("hoje o erro continua" in a reply does not move the error's date),
    and wins over a wrong label ("Unidade: Hospital Estadual", then "a UASG 160123")."""
    earlier = evidence.earlier.get(required.key, "")
    labelled = evidence.found.get(required.key, "")
    if labelled:
        yield (first_line(labelled) if required.one_line else labelled), LABELLED
    if earlier and required.problem(earlier) is None:
        yield earlier, EARLIER
        return
    yield _in_prose(required, evidence.body) or "", PROSE
    if not labelled and required.from_body:
        yield evidence.body, BODY
    yield earlier, EARLIER


def _in_prose(required: AnswerRequirement, body: str) -> str | None:
    """A value the validator knows in prose ("UASG 160123"), a free text the answer's label
    names there ('a mensagem "Sessão expirada"', "no módulo Contratos"), or the sentences
    of a narrative answer ("Entrei em ..., cliquei em ...")."""
    if required.narrative:
        return find_steps(body)
    if required.validator == "nonempty" and not required.from_body:
        return find_named_text(required.labels, body)
    return find_in_prose(required.validator, body)


def _quoted(value: str, problem: str) -> str:
    """The reason a value found is wrong, quoting it: "“16012” deve ter exatamente 6
    dígitos", "“11.222.333/0001-82”: dígitos verificadores inválidos"."""
    shown = " ".join(value.split())
    if len(shown) > MAX_QUOTE_CHARS:
        shown = shown[: MAX_QUOTE_CHARS - 1].rstrip() + "…"
    return f"“{shown}” {problem}" if problem.startswith("deve") else f"“{shown}”: {problem}"


def _settle(required: AnswerRequirement, evidence: Evidence) -> tuple[str | None, str | None, str]:
    """(value to keep, reason it is not acceptable, how it was read): the first valid
    candidate, a relative date kept as the date it names; else the first one, wrong."""
    wrong: tuple[str, str, str] | None = None
    for value, how in _offered(required, evidence):
        if not value.strip():
            continue
        problem = required.problem(value)
        if problem is None:
            if how != EARLIER and evidence.sent is not None:
                value = required.settled(value, evidence.sent)
            return value, None, how
        wrong = wrong or (value, _quoted(value, problem), how)
    return wrong or (None, required.not_given, "")


def _hint(required: AnswerRequirement) -> str:
    return f"{required.hint} (ex.: {required.example})" if required.example else required.hint


def check_answers(theme: Theme, evidence: Evidence) -> Findings:
    """Each questionnaire answer must be given, in this message or earlier, and be valid."""
    answers: dict[str, str] = {}
    how: dict[str, str] = {}
    missing = []
    for required in theme.answers:
        value, reason, source = _settle(required, evidence)
        if value is not None:
            answers[required.key], how[required.key] = value, source
        if reason is not None:
            missing.append(
                MissingItem("answer", required.key, required.label, reason, _hint(required))
            )
    return Findings(answers=answers, missing=tuple(missing), how=how)


# The order in which findings are reported: attachments first, then the questionnaire.
CHECKS: Final[tuple[Check, ...]] = (check_attachments, check_answers)

_NO_ANSWERS: Final[Mapping[str, str]] = MappingProxyType({})


def check_message(
    theme: Theme,
    text: str,
    attachments: Sequence[Attachment],
    earlier_answers: Mapping[str, str] = _NO_ANSWERS,
    *,
    sent: datetime | None = None,
    zone: tzinfo = UTC,
    repeated_images: Collection[str] = frozenset(),
) -> CheckResult:
    """Run every check on a message and collect all that is missing, not only the first.

    ``attachments`` are all those the ticket has received so far and ``earlier_answers``
    the answers kept from its earlier messages, so a reply can complete a ticket. ``sent``
    is the message's Date and ``zone`` the desk's time zone: "ontem à tarde" is kept as the
    day before the mail was sent, there. ``repeated_images``: see Evidence.
    """
    evidence = Evidence(
        body=own_text(text),
        found=extract_answers(text, theme.answer_labels),
        earlier=earlier_answers,
        attachments=attachments,
        sent=sent.astimezone(zone) if sent is not None and sent.tzinfo is not None else sent,
        repeated_images=repeated_images,
    )
    findings = [check(theme, evidence) for check in CHECKS]
    answers = dict(earlier_answers)
    how: dict[str, str] = {}
    for finding in findings:
        answers.update(finding.answers)
        how.update(finding.how)
    missing = tuple(item for finding in findings for item in finding.missing)
    return CheckResult(answers, missing, how)
