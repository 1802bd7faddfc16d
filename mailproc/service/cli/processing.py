"""Commands that read mail: one message, the mailboxes once or for ever, a backlog."""

from __future__ import annotations

import argparse
import json
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import (
    Commands,
    add_command,
    add_json_option,
    read_input,
    readable,
)

if TYPE_CHECKING:
    from mailproc.service.app import App


def add_commands(commands: Commands) -> None:
    ingest = add_command(commands, "ingest", ingest_one, "process one message from FILE or stdin")
    ingest.add_argument("file", nargs="?", help="a message as one .eml file (default: stdin)")
    poll = add_command(
        commands, "poll", poll_sources, "process every configured source once", _once_asked
    )
    poll.add_argument("--once", action="store_true", help="read each source once, then stop")
    add_json_option(poll)
    add_command(commands, "run", run_service, "run the scheduler until SIGTERM or Ctrl-C")
    reprocess = add_command(
        commands,
        "reprocess",
        reprocess_quarantined,
        "process quarantined messages again (after a rules or code fix)",
    )
    reprocess.add_argument(
        "raw_ids", nargs="*", type=int, metavar="RAW_ID", help="only these (default: every one)"
    )
    importing = add_command(
        commands,
        "import",
        import_backlog,
        "bring in a backlog (an mbox or Maildir): by default as history, answering nobody",
    )
    importing.add_argument("path", help="an mbox file or a Maildir folder")
    importing.add_argument("--quiet", action="store_true", help="no progress bar")
    importing.add_argument(
        "--replies",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="answer the backlog as mail just arrived (default: --no-replies, the desk's "
        "history at its own dates: tickets and outcomes recorded, nobody mailed)",
    )


def ingest_one(app: App, args: argparse.Namespace) -> None:
    # outbox.deliver_due, not poller.deliver: the poller's metrics counters (and their
    # prometheus_client) mean nothing to a process that ends here.
    from mailproc.outgoing.outbox import deliver_due

    raw = read_input(args.file) if args.file else sys.stdin.buffer.read()
    result = app.start().pipeline.process(raw, "stdin" if not args.file else f"file:{args.file}")
    deliver_due(app.sessions, app.sender, app.config.delivery)
    print(json.dumps(result.as_json(), ensure_ascii=False))


def _once_asked(args: argparse.Namespace) -> str | None:
    """Poll asks for --once, which says what it does: nobody expects it to keep reading."""
    if args.once:
        return None
    return (
        "poll reads the mailboxes once: use `mailproc poll --once`, "
        "or `mailproc run` to keep reading"
    )


def poll_sources(app: App, args: argparse.Namespace) -> int:
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


def run_service(app: App, args: argparse.Namespace) -> None:
    from mailproc.service.metrics import serve_metrics
    from mailproc.service.scheduler import run_forever

    app.start()
    if app.config.metrics:
        serve_metrics(app.config.metrics, app.sessions)
    run_forever(app)


def reprocess_quarantined(app: App, args: argparse.Namespace) -> None:
    from mailproc.service.backlog import reprocess_quarantined
    from mailproc.service.poller import deliver

    outcomes = reprocess_quarantined(app.start().pipeline, args.raw_ids or None)
    deliver(app)
    print(json.dumps({"reprocessed": sum(outcomes.values()), "outcomes": dict(outcomes)}))


def import_backlog(app: App, args: argparse.Namespace) -> None:
    from mailproc.service.backlog import import_backlog

    path = readable(Path(args.path), folder=True)
    outcomes = import_backlog(
        app.start().pipeline, path, replies=args.replies, progress=not args.quiet
    )
    print(json.dumps({"imported": sum(outcomes.values()), "outcomes": dict(outcomes)}))
