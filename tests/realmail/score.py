"""Scoring the realistic corpus: what the desk did with each mail against expected.toml.

``run(app)`` takes every case through the real pipeline in-process, in order (the later
steps of a conversation are built with the code its first mail got), and returns one
``Verdict`` per case. ``judge`` compares one observation with its expectation; the
end-to-end test uses it on what Dovecot, the SMTP listener and the database show.
"""

from __future__ import annotations

import email
import re
import tomllib
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from sqlalchemy import select

from mailproc.service.app import App
from mailproc.storage import models as m
from tests.realmail.build import CASES, Case, Step, date_of

EXPECTED = Path(__file__).with_name("expected.toml")
# The desk's own domains: mail to them is routing to an area or staff, not a reply.
DESK_DOMAINS = frozenset({"example.gov.br", "suporte.example.gov.br", "compras.example.gov.br"})
PRINT = "print"


@dataclass(frozen=True)
class Reply:
    """One mail the desk sent (or queued) to people outside the desk."""

    recipients: tuple[str, ...]
    text: str
    html: str


@dataclass
class Got:
    """What the desk did with one mail; None where it could not be observed."""

    outcome: str
    theme: str | None = None
    missing: frozenset[str] | None = None
    ticket: str | None = None  # the ticket the mail opened, or the thread's
    own_ticket: str | None = None  # the ticket this mail opened, if any
    answers: Mapping[str, Any] = field(default_factory=dict)
    state: str | None = None
    requester: str | None = None
    subject: str | None = None
    replies: list[Reply] = field(default_factory=list)


@dataclass(frozen=True)
class Verdict:
    case: Case
    expected: Mapping[str, Any]
    got: Got
    misses: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return not self.misses


def expectations(path: Path = EXPECTED) -> dict[str, dict[str, Any]]:
    with path.open("rb") as file:
        return tomllib.load(file)


def expected_outcomes(wanted: Mapping[str, Mapping[str, Any]]) -> set[str]:
    """Every outcome an expectations file names (an outcome, or a list of acceptable ones)."""
    return {
        outcome
        for expected in wanted.values()
        for outcome in (
            [expected["outcome"]] if isinstance(expected["outcome"], str) else expected["outcome"]
        )
    }


# --- Judging -------------------------------------------------------------------------------


def fold(text: str) -> str:
    """Lower case, one space between words: phrases are found across line breaks."""
    return " ".join(unicodedata.normalize("NFC", text).lower().split())


def _listed(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def judge(expected: Mapping[str, Any], got: Got, code: str | None) -> tuple[str, ...]:
    """Every way ``got`` differs from ``expected`` (empty: the case passes)."""
    fill = lambda s: s.replace("{code}", code or "{code?}")  # noqa: E731
    misses: list[str] = []
    outcomes = _listed(expected["outcome"])
    if got.outcome not in outcomes:
        misses.append(f"outcome {got.outcome}, expected {'/'.join(outcomes)}")
    if "theme" in expected and got.theme != expected["theme"]:
        misses.append(f"theme {got.theme}, expected {expected['theme']}")
    if "missing" in expected and got.missing is not None:
        want = frozenset(expected["missing"])
        if got.missing != want:
            misses.append(f"missing {sorted(got.missing)}, expected {sorted(want)}")
    for key, want in expected.get("answers", {}).items():
        stored = got.answers.get(key)
        if not answer_matches(str(want), stored):
            misses.append(f"answer {key}={stored!r}, expected {want}")
    for key, text in expected.get("answers_lack", {}).items():
        stored = str(got.answers.get(key, ""))
        if fold(text) in fold(stored):
            misses.append(f"answer {key} runs on into {text!r}")
    for name in ("state", "requester"):
        if name in expected and getattr(got, name) != expected[name]:
            misses.append(f"{name} {getattr(got, name)}, expected {expected[name]}")
    if "state_not" in expected and got.state == expected["state_not"]:
        misses.append(f"state {got.state}")
    for text in expected.get("subject_lacks", []):
        if got.subject is not None and text in got.subject:
            misses.append(f"ticket subject {got.subject!r} holds {text!r}")
    misses += _judge_replies(expected, got, fill)
    return tuple(misses)


def _judge_replies(expected: Mapping[str, Any], got: Got, fill: Any) -> list[str]:
    misses = []
    if expected.get("no_reply"):
        if got.replies:
            misses.append(f"{len(got.replies)} reply(ies), expected none")
        return misses
    said = fold(" ".join(r.text for r in got.replies))
    needed = [fill(p) for p in expected.get("reply", [])]
    if got.own_ticket and got.outcome in ("created", "incomplete"):
        needed.append(got.own_ticket)  # every new ticket's code goes back to its requester
    if (needed or expected.get("reply_regex") or expected.get("copied")) and not got.replies:
        return [*misses, "no reply"]
    misses += [f"reply lacks {p!r}" for p in needed if fold(p) not in said]
    misses += [
        f"reply does not match {r!r}"
        for r in expected.get("reply_regex", [])
        if not re.search(r, said)
    ]
    misses += [
        f"reply says {p!r}" for p in map(fill, expected.get("reply_lacks", [])) if fold(p) in said
    ]
    recipients = {a.lower() for r in got.replies for a in r.recipients}
    misses += [f"{a} not copied" for a in expected.get("copied", []) if a not in recipients]
    return misses


_MONTHS = {"12": "dez"}


def answer_matches(want: str, stored: object) -> bool:
    if stored is None:
        return False
    value = str(stored)
    if want.startswith("date:"):
        return date_matches(want[5:], value)
    if want.isdigit():
        digits = re.sub(r"\D", "", value)
        return digits == want or (len(want) >= 10 and digits.startswith(want))
    if " " not in want and any(c.isdigit() for c in want):  # a code such as a CNPJ
        return _alphanumeric(value) == _alphanumeric(want)
    return fold(want) in fold(value)


def _alphanumeric(text: str) -> str:
    return re.sub(r"[^0-9A-Z]", "", text.upper())


def date_matches(iso: str, value: str) -> bool:
    """``value`` names the day ``iso`` (YYYY-MM-DD) in one of the usual written forms."""
    year, month, day = iso.split("-")
    day_re, month_re = f"0?{int(day)}", f"0?{int(month)}"
    forms = (
        rf"(?<!\d){year}-{month}-{day}(?!\d)",
        rf"(?<!\d){day_re}[/.-]{month_re}[/.-](?:{year}|{year[2:]})(?!\d)",
        rf"(?<!\d){day_re}\s+de\s+{_MONTHS.get(month, month)}\w*\.?\s+de\s+{year}",
    )
    return any(re.search(form, value, re.IGNORECASE) for form in forms)


# --- Running the corpus in-process ---------------------------------------------------------


def run(
    app: App,
    cases: Sequence[Case] = CASES,
    wanted: Mapping[str, Mapping[str, Any]] | None = None,
    dated: Callable[[int], str] = date_of,
) -> list[Verdict]:
    """Every case through ``app.pipeline``, in order, each judged against its expectation
    (the corpus and expected.toml by default)."""
    wanted = expectations() if wanted is None else wanted
    codes: dict[str, str] = {}
    verdicts = []
    for number, case in enumerate(cases):
        step = Step(case, dated(number), codes.get(case.thread or "", "2026-000123"))
        got = observe(app, step)
        if case.thread and case.thread not in codes and got.own_ticket:
            codes[case.thread] = got.own_ticket
        code = codes.get(case.thread) if case.thread else got.own_ticket
        expected = wanted.get(case.id, {"outcome": "(no expectation)"})
        verdicts.append(Verdict(case, expected, got, judge(expected, got, code)))
    return verdicts


def observe(app: App, step: Step) -> Got:
    """Process one case and look at what it left: result, ticket, and the new outbox rows."""
    with app.sessions() as session:
        watermark = (
            session.scalar(select(m.OutboxMail.id).order_by(m.OutboxMail.id.desc()).limit(1)) or 0
        )
    result = app.pipeline.process(step.case.build(step), f"realmail:{step.case.id}")
    ticket = result.ticket or (step.code if step.case.thread else None)
    got = Got(
        outcome=result.outcome.value,
        theme=result.theme,
        missing=frozenset(
            PRINT if key.startswith("attachments") else key for key in result.missing
        ),
        ticket=ticket,
        own_ticket=result.ticket if result.outcome.value in ("created", "incomplete") else None,
    )
    with app.sessions() as session:
        rows = session.scalars(
            select(m.OutboxMail).where(m.OutboxMail.id > watermark).order_by(m.OutboxMail.id)
        ).all()
        got.replies = [r for r in (reply_of(row.recipients, row.raw) for row in rows) if r]
        if ticket:
            read_ticket(session.scalars(select(m.Ticket).filter_by(code=ticket)).one_or_none(), got)
    return got


def read_ticket(row: m.Ticket | None, got: Got) -> None:
    if row is None:
        return
    got.answers, got.state = dict(row.answers), row.state
    got.requester, got.subject = row.requester_email, row.subject
    if got.theme is None:
        got.theme = row.theme_id


def reply_of(recipients: Iterable[str], raw: bytes) -> Reply | None:
    """The mail as a Reply when it goes to someone outside the desk, else None."""
    outside = tuple(a for a in recipients if a.rpartition("@")[2].lower() not in DESK_DOMAINS)
    if not outside:
        return None
    message = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(message, EmailMessage)
    return Reply(tuple(recipients), _body(message, "plain"), _body(message, "html"))


def _body(message: EmailMessage, kind: str) -> str:
    part = message.get_body(preferencelist=(kind,))
    return str(part.get_content()) if part is not None else ""


def score(verdicts: list[Verdict]) -> float:
    return sum(v.passed for v in verdicts) / len(verdicts)


def misses_table(verdicts: list[Verdict]) -> str:
    lines = [f"{'case':38} {'expected':22} {'got':12} why"]
    for v in verdicts:
        if v.misses:
            wanted = "/".join(_listed(v.expected["outcome"]))
            lines.append(
                f"{v.case.id:38} {wanted[:22]:22} {v.got.outcome:12} {'; '.join(v.misses)}"
            )
    return "\n".join(lines)
