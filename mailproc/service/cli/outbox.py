"""``mailproc outbox``: the mail the desk sends, and the deliveries an operator resolves."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING

from mailproc.outgoing.statuses import STATUSES
from mailproc.service.cli.arguments import Commands, add_command, add_group, add_json_option
from mailproc.service.cli.output import desk_time, say, say_json

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from mailproc.service.app import App


def add_commands(commands: Commands) -> None:
    outbox = add_group(commands, "outbox", "list outbox mail; resolve uncertain deliveries")
    mails = add_command(outbox, "list", list_mail, "newest outbox mail first")
    mails.add_argument(
        "--status", choices=STATUSES, metavar="STATUS", help=f"only in it: {', '.join(STATUSES)}"
    )
    mails.add_argument(
        "--limit", type=int, default=50, metavar="N", help="at most N mails (default: 50)"
    )
    add_json_option(mails)
    resend = add_command(
        outbox, "resend", resend_mail, "queue uncertain or failed mail to be sent again"
    )
    resend.add_argument("ids", nargs="+", type=int, metavar="ID", help="outbox ids (outbox list)")
    confirm = add_command(outbox, "mark-sent", mark_sent, "record uncertain mail as delivered")
    confirm.add_argument("ids", nargs="+", type=int, metavar="ID", help="outbox ids (outbox list)")


def list_mail(app: App, args: argparse.Namespace) -> None:
    from mailproc.storage import store

    with app.start().sessions() as session:
        entries = store.outbox_entries(session, args.status, args.limit)
    if args.json:
        say_json([asdict(e) for e in entries])
        return
    for e in entries:
        when = desk_time(e.sent_at or e.next_attempt_at, app.config.desk.timezone)
        say(
            f"{e.id:>6}  {e.status:<9} {e.ticket or '-':<11} {when} "
            f"{e.purpose:<18} {', '.join(e.to):<32} {e.message_id}  {e.subject}"
        )
        if e.last_error:
            say(f"{'':>8}last error: {e.last_error}")


def resend_mail(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when a mail could not be queued (unknown, or not uncertain or failed)."""
    from mailproc.storage import store

    return _change(app, args.ids, store.resend_outbox, "queued to be sent again")


def mark_sent(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when a mail could not be marked (unknown, or not uncertain)."""
    from mailproc.storage import store

    return _change(app, args.ids, store.mark_outbox_sent, "marked sent")


def _change(
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
