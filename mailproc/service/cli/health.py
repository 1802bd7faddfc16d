"""``mailproc status``: the desk's health, for an operator and for a health check."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import Commands, add_command
from mailproc.service.cli.output import say, say_json

if TYPE_CHECKING:
    from mailproc.service.app import App


def add_commands(commands: Commands) -> None:
    status = add_command(commands, "status", show_status, "health: database, mailboxes, outbox")
    status.add_argument("--json", action="store_true")
    status.add_argument("--offline", action="store_true", help="do not connect to mailboxes")


def show_status(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when unhealthy, so it serves as a health check."""
    from mailproc.service.status import collect

    status = collect(app, ask_servers=not args.offline)
    if args.json:
        say_json(status.as_json())
    else:
        say(f"database: {status.database}")
        for box in status.mailboxes:
            backlog = "?" if box.backlog is None else box.backlog
            say(
                f"mailbox {box.name}/{box.folder}: last read {box.last_poll_at or 'never'}, "
                f"backlog {backlog}, last error {box.last_error or '-'}"
            )
        say(
            f"outbox: {status.outbox_pending} pending (oldest due {status.outbox_oldest_due}),"
            f" {status.outbox_failed} failed, {status.outbox_uncertain} uncertain"
        )
        say(f"tickets: {status.tickets_by_state}; {status.tickets_overdue} past deadline")
        say(f"failing addresses (no automatic mail): {status.failing_addresses}")
        for alert in status.alerts:
            say(f"alert: {alert.created_at:%Y-%m-%d %H:%M} {alert.key} {alert.detail}")
        for problem in status.problems:
            say(f"PROBLEM: {problem}")
        say("healthy" if status.healthy else "UNHEALTHY")
    return 0 if status.healthy else 1
