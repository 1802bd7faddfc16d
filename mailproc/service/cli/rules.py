"""``mailproc rules``: check the rules files, or try them on one message."""

from __future__ import annotations

import argparse
import json
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import Commands, add_command, add_group, read_input

if TYPE_CHECKING:
    from mailproc.rules.classify import Classification
    from mailproc.rules.rulebook import Theme
    from mailproc.service.app import App


def add_commands(commands: Commands) -> None:
    rules = add_group(commands, "rules", "check the rules files, or try them on a message")
    add_command(rules, "check", check_rules, "validate the rules files and templates")
    test = add_command(rules, "test", test_rules, "what would happen to FILE.eml")
    test.add_argument("file", help="a message as one .eml file")


def check_rules(app: App, args: argparse.Namespace) -> None:
    for theme in app.rulebook.themes:
        print(f"ok  {theme.precedence:>4}  {theme.id:<18} {theme.name}")
    _ = app.renderer
    print(f"{len(app.rulebook.themes)} themes valid in {app.config.rules_dir}")


def test_rules(app: App, args: argparse.Namespace) -> None:
    """What would happen to a message, as if it were the first of its thread.

    The real pipeline runs on a throwaway database (so the reply shown is the one that
    would be sent, rendered as the desk renders it); the configured database and mailboxes
    are not touched, and need not exist. The theme scores say which words decided
    (mailproc.rules.classify).
    """
    from mailproc.decision.decide import Facts, decide
    from mailproc.mail.parse import parse_message

    raw = read_input(args.file)
    message = parse_message(raw)
    with _trial_desk(app) as trial:
        decision = decide(Facts(message, None, trial.rulebook, trial.pipeline.policy))
        replies = _trial_replies(trial, raw)
    theme = app.rulebook.get(decision.theme_id) if decision.theme_id else None
    request = decision.request
    found = decision.classified
    report = {
        "outcome": decision.outcome.value,
        "reason": decision.reason,
        "theme": decision.theme_id,
        "theme_name": theme.name if theme else None,
        "classification": _classification(found) if found else None,
        "requester": request.requester.email if request else None,
        "answers": decision.answers,
        "answers_read_as": dict(decision.read_as),
        "missing": [f"{i.label}: {i.reason}" for i in decision.missing],
        "replies": replies,
        "defects": list(message.defects),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


@contextmanager
def _trial_desk(app: App) -> Iterator[App]:
    """The desk of ``app`` on a throwaway SQLite database of its own: neither the configured
    database nor its password is needed, and the reply key is the trial's own."""
    from mailproc.service.app import App
    from mailproc.storage.schema import upgrade

    with tempfile.TemporaryDirectory() as scratch:
        own = f"sqlite:///{scratch}/trial.db"
        trial = App(replace(app.config, database_url=own, database_password=None))
        upgrade(trial.engine)
        try:
            yield trial
        finally:
            trial.engine.dispose()


def _classification(found: Classification[Theme]) -> dict[str, object]:
    """The verdict on the themes, and per theme its points and the words that earned them."""
    return {
        "verdict": found.verdict.value,
        "likely": [theme.id for theme in found.likely],
        "vague_subject": found.vague_subject,
        "scores": [
            {
                "theme": score.theme.id,
                "points": score.points,
                "hits": [f"{h.signal} ({h.place.value} +{h.points})" for h in score.hits],
            }
            for score in found.ranked
        ],
    }


def _trial_replies(trial: App, raw: bytes) -> list[dict[str, object]]:
    """The mail the ``trial`` desk queues for ``raw``, each with its plain-text body as it
    would be sent."""
    from email import message_from_bytes
    from email import policy as email_policy
    from email.message import EmailMessage

    from sqlalchemy import select

    from mailproc.storage import models as m

    replies: list[dict[str, object]] = []
    trial.pipeline.process(raw, "rules-test")
    with trial.sessions() as session:
        rows = session.execute(
            select(m.OutboxMail, m.OutboxBody.raw)
            .join(m.OutboxBody, m.OutboxBody.outbox_id == m.OutboxMail.id)
            .order_by(m.OutboxMail.id)
        )
        for mail, body in rows:
            sent = message_from_bytes(body, _class=EmailMessage, policy=email_policy.default)
            text = sent.get_body(preferencelist=("plain",)) if sent.is_multipart() else sent
            replies.append({
                "template": mail.purpose,
                "to": mail.recipients,
                "subject": mail.subject,
                "text": text.get_content().replace("\r\n", "\n") if text else "",
            })  # fmt: skip
    return replies
