"""Checking a message against its theme: every required attachment and answer still missing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from mailproc.mail.message import Attachment
from mailproc.rules.answers import extract_answers, own_text
from mailproc.rules.rulebook import AnswerRequirement, AttachmentKind, AttachmentRequirement, Theme
from mailproc.rules.validators import NOT_GIVEN


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
    ``attachments`` every attachment received so far.
    """

    body: str
    found: Mapping[str, str]
    earlier: Mapping[str, str]
    attachments: Sequence[Attachment]


@dataclass(frozen=True)
class Findings:
    """What one check concluded: answer values to keep and items still missing."""

    answers: Mapping[str, str] = field(default_factory=dict)
    missing: tuple[MissingItem, ...] = ()


Check = Callable[[Theme, Evidence], Findings]


@dataclass(frozen=True)
class CheckResult:
    """Answers merged over the earlier ones, and everything still missing (empty: complete)."""

    answers: dict[str, str]
    missing: tuple[MissingItem, ...]

    @property
    def complete(self) -> bool:
        return not self.missing


# --- Attachments -----------------------------------------------------------------------------

_KIND_NOUNS: Final = {
    AttachmentKind.IMAGE: "uma imagem",
    AttachmentKind.PDF: "um PDF",
    AttachmentKind.ANY: "um arquivo",
}
_KIND_HINTS: Final = {
    AttachmentKind.IMAGE: "Responda a este e-mail anexando a imagem (PNG ou JPG).",
    AttachmentKind.PDF: "Responda a este e-mail anexando o arquivo PDF.",
    AttachmentKind.ANY: "Responda a este e-mail anexando o arquivo.",
}


def _is_kind(attachment: Attachment, kind: AttachmentKind) -> bool:
    """By what the bytes really are: a PDF named ``print.png`` is not an image."""
    real_type = attachment.real_type.lower()
    if kind is AttachmentKind.IMAGE:
        return real_type.startswith("image/")
    if kind is AttachmentKind.PDF:
        return real_type == "application/pdf"
    return True


def _attachment_reason(required: AttachmentRequirement, received: int, others: int) -> str:
    if received:
        return f"recebido(s) {received} de {required.count}"
    if others:
        return f"nenhum dos anexos recebidos é {_KIND_NOUNS[required.kind]}"
    return "não enviado" if required.count == 1 else f"não enviados ({required.count} no mínimo)"


def check_attachments(theme: Theme, evidence: Evidence) -> Findings:
    """Each attachment requirement needs ``count`` attachments of its kind, counted apart."""
    missing = []
    for number, required in enumerate(theme.attachments):
        received = sum(_is_kind(a, required.kind) for a in evidence.attachments)
        if received < required.count:
            reason = _attachment_reason(required, received, len(evidence.attachments) - received)
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


def _offered(required: AnswerRequirement, evidence: Evidence) -> tuple[str, ...]:
    """Candidate values, newest first: labelled in this message (or its body), then earlier."""
    earlier = evidence.earlier.get(required.key, "")
    new = evidence.found.get(required.key, "")
    if not new and required.from_body and (not earlier or required.problem(earlier)):
        new = evidence.body
    return tuple(value for value in (new, earlier) if value.strip())


def _settle(required: AnswerRequirement, evidence: Evidence) -> tuple[str | None, str | None]:
    """(value to keep, reason it is not acceptable): a later valid value wins."""
    judged = [(value, required.problem(value)) for value in _offered(required, evidence)]
    if not judged:
        return None, NOT_GIVEN
    return next(((value, None) for value, problem in judged if problem is None), judged[0])


def _hint(required: AnswerRequirement) -> str:
    return f"{required.hint} (ex.: {required.example})" if required.example else required.hint


def check_answers(theme: Theme, evidence: Evidence) -> Findings:
    """Each questionnaire answer must be given, in this message or earlier, and be valid."""
    answers: dict[str, str] = {}
    missing = []
    for required in theme.answers:
        value, reason = _settle(required, evidence)
        if value is not None:
            answers[required.key] = value
        if reason is not None:
            missing.append(
                MissingItem("answer", required.key, required.label, reason, _hint(required))
            )
    return Findings(answers=answers, missing=tuple(missing))


# The order in which findings are reported: attachments first, then the questionnaire.
CHECKS: Final[tuple[Check, ...]] = (check_attachments, check_answers)

_NO_ANSWERS: Final[Mapping[str, str]] = MappingProxyType({})


def check_message(
    theme: Theme,
    text: str,
    attachments: Sequence[Attachment],
    earlier_answers: Mapping[str, str] = _NO_ANSWERS,
) -> CheckResult:
    """Run every check on a message and collect all that is missing, not only the first.

    ``attachments`` are all those the ticket has received so far and ``earlier_answers``
    the answers kept from its earlier messages, so a reply can complete a ticket.
    """
    evidence = Evidence(
        body=own_text(text),
        found=extract_answers(text, theme.answer_labels),
        earlier=earlier_answers,
        attachments=attachments,
    )
    findings = [check(theme, evidence) for check in CHECKS]
    answers = dict(earlier_answers)
    for finding in findings:
        answers.update(finding.answers)
    return CheckResult(answers, tuple(item for finding in findings for item in finding.missing))
