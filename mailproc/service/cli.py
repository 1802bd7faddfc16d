"""The ``mailproc`` command line: a thin layer over the app; scripts rely on its output."""

# It starts as fast as a pipe from the MTA needs: this module imports only the standard
# library, and each command what it uses once the line is parsed (``--help`` loads no
# SQLAlchemy; ``ingest`` no Alembic, scheduler, metrics or IMAP client: tests/test_startup.py).

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import asdict, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mailproc.errors import ConfigError, MailprocError, RulesError, StoreError, TemplateError
from mailproc.outgoing.statuses import STATUSES as OUTBOX_STATUSES

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailproc.rules.classify import Classification
    from mailproc.rules.rulebook import Theme
    from mailproc.service.app import App
    from mailproc.storage import models as m

EXIT_CONFIG = 2  # bad configuration, rules or templates
EXIT_STORE = 3  # database unreachable or behind


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # What every command needs, loaded once the line is parsed: --help needs none of it.
    from sqlalchemy.exc import OperationalError

    from mailproc.config import load_config, resolve_config_path
    from mailproc.service.app import App
    from mailproc.service.logs import setup_logging
    from mailproc.service.memory import give_back_large_blocks

    give_back_large_blocks()
    try:
        config = load_config(resolve_config_path(args.config))
        setup_logging(args.log_level or config.logging.level, config.logging.format)
        return int(args.handler(App(config), args) or 0)
    except (ConfigError, RulesError, TemplateError) as exc:
        print(f"mailproc: configuration error: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    except StoreError as exc:
        print(f"mailproc: database error: {exc}", file=sys.stderr)
        return EXIT_STORE
    except OperationalError as exc:  # locked, full or gone between two messages
        print(f"mailproc: database error: {exc.orig}", file=sys.stderr)
        return EXIT_STORE
    except MailprocError as exc:
        print(f"mailproc: {exc}", file=sys.stderr)
        return 1


def cmd_ingest(app: App, args: argparse.Namespace) -> None:
    # outbox.deliver_due, not poller.deliver: the poller's metrics counters (and their
    # prometheus_client) mean nothing to a process that ends here.
    from mailproc.outgoing.outbox import deliver_due

    raw = Path(args.file).read_bytes() if args.file else sys.stdin.buffer.read()
    result = app.start().pipeline.process(raw, "stdin" if not args.file else f"file:{args.file}")
    deliver_due(app.sessions, app.sender, app.config.delivery)
    print(json.dumps(result.as_json(), ensure_ascii=False))


def cmd_poll(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when a mailbox could not be read (the others were), so cron notices. SIGTERM
    (a stopping service manager) ends it cleanly, after the message and the mail in hand."""
    from mailproc.service.poller import poll_once, stop_on_signals

    stopping = threading.Event()
    stop_on_signals(stopping)
    report = poll_once(app.start(), stopping)
    if args.json:
        print(json.dumps(report.as_json(), ensure_ascii=False))
    else:
        outcomes = ", ".join(f"{k}: {v}" for k, v in sorted(report.outcomes.items()))
        print(
            f"{report.processed} messages processed ({outcomes or 'nothing new'}); "
            f"{report.delivery.sent} replies delivered"
        )
        for name, error in report.errors.items():
            print(f"mailbox {name} could not be read: {error}", file=sys.stderr)
    return 1 if report.errors else 0


def cmd_run(app: App, args: argparse.Namespace) -> None:
    from mailproc.service.metrics import serve_metrics
    from mailproc.service.scheduler import run_forever

    app.start()
    if app.config.metrics_port:
        serve_metrics(app.config.metrics_port, app.sessions)
    run_forever(app)


def cmd_status(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when unhealthy, so it serves as a health check."""
    from mailproc.service.status import collect

    status = collect(app, ask_servers=not args.offline)
    if args.json:
        _say_json(status.as_json())
    else:
        _say(f"database: {status.database}")
        for box in status.mailboxes:
            backlog = "?" if box.backlog is None else box.backlog
            _say(
                f"mailbox {box.name}/{box.folder}: last read {box.last_poll_at or 'never'}, "
                f"backlog {backlog}, last error {box.last_error or '-'}"
            )
        _say(
            f"outbox: {status.outbox_pending} pending (oldest due {status.outbox_oldest_due}),"
            f" {status.outbox_failed} failed, {status.outbox_uncertain} uncertain"
        )
        _say(f"tickets: {status.tickets_by_state}; {status.tickets_overdue} past deadline")
        _say(f"failing addresses (no automatic mail): {status.failing_addresses}")
        for alert in status.alerts:
            _say(f"alert: {alert.created_at:%Y-%m-%d %H:%M} {alert.key} {alert.detail}")
        for problem in status.problems:
            _say(f"PROBLEM: {problem}")
        _say("healthy" if status.healthy else "UNHEALTHY")
    return 0 if status.healthy else 1


def cmd_reprocess(app: App, args: argparse.Namespace) -> None:
    from mailproc.service.backlog import reprocess_quarantined
    from mailproc.service.poller import deliver

    outcomes = reprocess_quarantined(app.start().pipeline, args.raw_ids or None)
    deliver(app)
    print(json.dumps({"reprocessed": sum(outcomes.values()), "outcomes": dict(outcomes)}))


def cmd_purge(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when the database could not be compacted: the old bytes may still be in its
    files (the next purge compacts it)."""
    from mailproc.storage.retention import purge

    period = timedelta(days=app.config.retention_days)
    report = purge(app.start().sessions, period, dry_run=args.dry_run)
    print(json.dumps(report.as_json(), ensure_ascii=False))
    return 0 if report.dry_run or report.compacted else 1


def cmd_erase(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when the database could not be compacted, as for purge."""
    from mailproc.storage.erasure import erase

    report = erase(app.start().sessions, args.address, dry_run=args.dry_run)
    print(json.dumps(report.as_json(), ensure_ascii=False))
    return 0 if report.dry_run or report.compacted else 1


def cmd_import(app: App, args: argparse.Namespace) -> None:
    from mailproc.service.backlog import import_backlog

    outcomes = import_backlog(app.start().pipeline, Path(args.path), progress=not args.quiet)
    print(json.dumps({"imported": sum(outcomes.values()), "outcomes": dict(outcomes)}))


def cmd_tickets_list(app: App, args: argparse.Namespace) -> None:
    from sqlalchemy import select

    from mailproc.storage import models as m

    with app.start().sessions() as session:
        query = select(m.Ticket).order_by(m.Ticket.id.desc()).limit(args.limit)
        if args.state:
            query = query.where(m.Ticket.state == args.state)
        tickets = [_ticket_summary(t) for t in session.scalars(query)]
    if args.json:
        _say_json(tickets)
        return
    for t in tickets:
        _say(
            f"{t['code']}  {t['state']:<26} {t['theme'] or '-':<16} {t['requester']:<32} "
            f"{t['subject']}"
        )


def cmd_tickets_show(app: App, args: argparse.Namespace) -> int:
    from sqlalchemy import select

    from mailproc.storage import models as m

    with app.start().sessions() as session:
        ticket = session.scalars(select(m.Ticket).filter_by(code=args.code)).first()
        if ticket is None:
            print(f"mailproc: no ticket {args.code}", file=sys.stderr)
            return 1
        detail = _ticket_detail(ticket)
    if args.json:
        _say_json(detail)
        return 0
    for key, value in detail.items():
        if isinstance(value, list):
            _say(f"{key}:")
            for item in value:
                _say(f"  - {json.dumps(item, ensure_ascii=False, default=str)}")
        elif isinstance(value, dict):
            _say(f"{key}: {json.dumps(value, ensure_ascii=False, default=str)}")
        else:
            _say(f"{key}: {value}")
    return 0


def cmd_outbox_list(app: App, args: argparse.Namespace) -> None:
    from mailproc.storage import store

    with app.start().sessions() as session:
        entries = store.outbox_entries(session, args.status, args.limit)
    if args.json:
        _say_json([asdict(e) for e in entries])
        return
    for e in entries:
        when = e.sent_at or e.next_attempt_at
        _say(
            f"{e.id:>6}  {e.status:<9} {e.ticket or '-':<11} {when:%Y-%m-%d %H:%M} "
            f"{e.purpose:<18} {', '.join(e.to):<32} {e.subject}"
        )
        if e.last_error:
            _say(f"{'':>8}last error: {e.last_error}")


def cmd_outbox_resend(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when a mail could not be queued (unknown, or not uncertain or failed)."""
    from mailproc.storage import store

    return _outbox_change(app, args.ids, store.resend_outbox, "queued to be sent again")


def cmd_outbox_mark_sent(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when a mail could not be marked (unknown, or not uncertain)."""
    from mailproc.storage import store

    return _outbox_change(app, args.ids, store.mark_outbox_sent, "marked sent")


def _outbox_change(
    app: App,
    ids: list[int],
    change: Callable[[Session, Sequence[int], datetime], dict[int, str]],
    done: str,
) -> int:
    from mailproc.storage.db import utcnow

    with app.start().sessions.begin() as session:
        refused = change(session, ids, utcnow())
    for outbox_id in ids:
        if outbox_id in refused:
            print(f"mailproc: outbox {outbox_id} left alone: {refused[outbox_id]}", file=sys.stderr)
        else:
            print(f"outbox {outbox_id}: {done}")
    return 1 if refused else 0


def cmd_rules_check(app: App, args: argparse.Namespace) -> None:
    for theme in app.rulebook.themes:
        print(f"ok  {theme.precedence:>4}  {theme.id:<18} {theme.name}")
    _ = app.renderer
    print(f"{len(app.rulebook.themes)} themes valid in {app.config.rules_dir}")


def cmd_rules_test(app: App, args: argparse.Namespace) -> None:
    """What would happen to a message, as if it were the first of its thread.

    The real pipeline runs on a throwaway database (so the reply shown is the one that
    would be sent, rendered as the desk renders it); the configured database and mailboxes
    are not touched. The theme scores say which words decided (mailproc.rules.classify).
    """
    from mailproc.decision.decide import Facts, decide
    from mailproc.mail.parse import parse_message

    raw = Path(args.file).read_bytes()
    message = parse_message(raw)
    decision = decide(Facts(message, None, app.rulebook, app.pipeline.policy))
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
        "replies": _trial_replies(app, raw),
        "defects": list(message.defects),
    }
    print(json.dumps(report, ensure_ascii=False, indent=2))


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


def _trial_replies(app: App, raw: bytes) -> list[dict[str, object]]:
    """The mail the desk would queue for ``raw``: the real pipeline, on a throwaway SQLite
    database, each reply with its plain-text body as it would be sent."""
    from email import message_from_bytes
    from email import policy as email_policy
    from email.message import EmailMessage

    from sqlalchemy import select

    from mailproc.service.app import App
    from mailproc.storage import models as m
    from mailproc.storage.schema import upgrade

    replies: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory() as scratch:
        trial = App(replace(app.config, database_url=f"sqlite:///{scratch}/trial.db"))
        upgrade(trial.engine)
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
        trial.engine.dispose()
    return replies


def cmd_db_upgrade(app: App, args: argparse.Namespace) -> None:
    from mailproc.storage.schema import upgrade

    upgrade(app.engine)
    print(f"database at head: {app.engine.url.render_as_string(hide_password=True)}")


def _ticket_summary(ticket: m.Ticket) -> dict[str, object]:
    return {
        "code": ticket.code,
        "state": ticket.state,
        "theme": ticket.theme_id,
        "priority": ticket.priority,
        "requester": ticket.requester_email,
        "subject": ticket.subject,
        "created_at": ticket.created_at.isoformat(),
        "due_at": ticket.due_at.isoformat() if ticket.due_at else None,
    }


def _ticket_detail(ticket: m.Ticket) -> dict[str, object]:
    return {
        **_ticket_summary(ticket),
        "answers": dict(ticket.answers),
        "participants": [{"email": p.email, "role": p.role} for p in ticket.participants],
        "evaluation": _evaluation(ticket.evaluation),
        "messages": [
            {
                "id": msg.id,
                "outcome": msg.outcome,
                "from": msg.sender,
                "subject": msg.subject,
                "received_at": msg.created_at.isoformat(),
                "attachments": [
                    {
                        "filename": a.filename,
                        "type": a.detected_type or a.declared_type,
                        "size": a.size,
                        "sha256": a.sha256,
                    }
                    for a in msg.attachments
                ],
            }
            for msg in ticket.messages
        ],
        "events": [
            {"kind": e.kind, "at": e.created_at.isoformat(), **e.detail} for e in ticket.events
        ],
    }


def _evaluation(evaluation: m.Evaluation | None) -> dict[str, object] | None:
    """The requester's rating; "at" is when they last gave it (a new rating replaces it)."""
    if evaluation is None:
        return None
    return {
        "score": evaluation.score,
        "comment": evaluation.comment,
        "rater": evaluation.rater,
        "at": evaluation.updated_at.isoformat(),
    }


def _say(line: str) -> None:
    """Print one line of a listing, what a terminal would act on shown as Python escapes:
    a subject holding ESC or a bidi override must not move the cursor or reorder the line."""
    print(_escaped(line, lambda character: character.encode("unicode_escape").decode()))


def _say_json(value: object) -> None:
    """Print ``value`` as one line of JSON, what a terminal would act on as JSON escapes
    (json escapes only C0 controls itself): the same JSON to a script, safe on a screen."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    print(_escaped(text, _json_escape))


def _escaped(text: str, escape: Callable[[str], str]) -> str:
    """``text`` with every character a terminal acts on rather than shows (controls, format
    characters such as bidi overrides, unassigned and private ones, line and paragraph
    separators) replaced by ``escape`` of it."""
    if text.isprintable():
        return text
    return "".join(escape(c) if _acts(c) else c for c in text)


def _acts(character: str) -> bool:
    return unicodedata.category(character)[0] == "C" or character in "\u2028\u2029"


def _json_escape(character: str) -> str:
    """A JSON string escape of one character, as a surrogate pair beyond the BMP."""
    units = character.encode("utf-16-be")
    return "".join(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2))


Handler = Callable[["App", argparse.Namespace], int | None]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="mailproc", description=__doc__)
    parser.add_argument(
        "--config", help="configuration file (default: $MAILPROC_CONFIG, else ./config.toml)"
    )
    parser.add_argument(
        "--log-level",
        choices=["debug", "info", "warning", "error"],
        help="overrides [logging] level",
    )
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(
        parent: argparse._SubParsersAction[argparse.ArgumentParser],
        name: str,
        handler: Handler,
        help: str,
    ) -> argparse.ArgumentParser:
        sub = parent.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    ingest = command(commands, "ingest", cmd_ingest, "process one message from FILE or stdin")
    ingest.add_argument("file", nargs="?")
    poll = command(commands, "poll", cmd_poll, "process every configured source once")
    poll.add_argument("--once", action="store_true", required=True)
    poll.add_argument("--json", action="store_true")
    command(commands, "run", cmd_run, "run the scheduler until SIGTERM or Ctrl-C")
    status = command(commands, "status", cmd_status, "health: database, mailboxes, outbox")
    status.add_argument("--json", action="store_true")
    status.add_argument("--offline", action="store_true", help="do not connect to mailboxes")
    reprocess = command(
        commands,
        "reprocess",
        cmd_reprocess,
        "process quarantined messages again (after a rules or code fix)",
    )
    reprocess.add_argument("raw_ids", nargs="*", type=int, metavar="RAW_ID")
    purging = command(
        commands, "purge", cmd_purge, "empty the mail of tickets closed over [retention] days"
    )
    purging.add_argument("--dry-run", action="store_true", help="only say what would go")
    erasing = command(
        commands, "erase", cmd_erase, "delete everything about one e-mail address (LGPD art. 18)"
    )
    erasing.add_argument("address")
    erasing.add_argument("--dry-run", action="store_true", help="only count what would go")
    importing = command(commands, "import", cmd_import, "process a backlog: an mbox or Maildir")
    importing.add_argument("path")
    importing.add_argument("--quiet", action="store_true", help="no progress bar")

    tickets = commands.add_parser("tickets", help="list and show tickets")
    tickets_sub = tickets.add_subparsers(required=True, metavar="ACTION")
    listing = command(tickets_sub, "list", cmd_tickets_list, "newest tickets first")
    listing.add_argument("--json", action="store_true")
    listing.add_argument("--state")
    listing.add_argument("--limit", type=int, default=50)
    show = command(tickets_sub, "show", cmd_tickets_show, "one ticket with its thread")
    show.add_argument("code")
    show.add_argument("--json", action="store_true")

    outbox = commands.add_parser("outbox", help="list outbox mail; resolve uncertain deliveries")
    outbox_sub = outbox.add_subparsers(required=True, metavar="ACTION")
    mails = command(outbox_sub, "list", cmd_outbox_list, "newest outbox mail first")
    mails.add_argument("--status", choices=OUTBOX_STATUSES)
    mails.add_argument("--limit", type=int, default=50)
    mails.add_argument("--json", action="store_true")
    resend = command(
        outbox_sub, "resend", cmd_outbox_resend, "queue uncertain or failed mail to be sent again"
    )
    resend.add_argument("ids", nargs="+", type=int, metavar="ID")
    confirm = command(
        outbox_sub, "mark-sent", cmd_outbox_mark_sent, "record uncertain mail as delivered"
    )
    confirm.add_argument("ids", nargs="+", type=int, metavar="ID")

    rules = commands.add_parser("rules", help="check the rules files, or try them on a message")
    rules_sub = rules.add_subparsers(required=True, metavar="ACTION")
    command(rules_sub, "check", cmd_rules_check, "validate the rules files and templates")
    test = command(rules_sub, "test", cmd_rules_test, "what would happen to FILE.eml")
    test.add_argument("file")

    db = commands.add_parser("db", help="database schema")
    db_sub = db.add_subparsers(required=True, metavar="ACTION")
    command(db_sub, "upgrade", cmd_db_upgrade, "apply the migrations")
    return parser
