"""``mailproc status``: the desk's health, for an operator and for a health check."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import Commands, add_command, add_json_option
from mailproc.service.cli.output import desk_time, say, say_json

if TYPE_CHECKING:
    from collections.abc import Mapping
    from datetime import tzinfo

    from mailproc.service.app import App
    from mailproc.service.status import Status


def add_commands(commands: Commands) -> None:
    status = add_command(commands, "status", show_status, "health: database, mailboxes, outbox")
    add_json_option(status)
    status.add_argument("--offline", action="store_true", help="do not connect to mailboxes")


def show_status(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when unhealthy, so it serves as a health check."""
    from mailproc.service.status import collect

    status = collect(app, ask_servers=not args.offline)
    if args.json:
        say_json(status.as_json())
    else:
        _print_status(status, app.config.desk.timezone)
    return 0 if status.healthy else 1


def _print_status(status: Status, zone: tzinfo) -> None:
    """Each fact once, each problem once (at the end, as PROBLEM lines), nothing in Python's
    own notation."""
    say(f"database: {status.database}")
    for box in status.mailboxes:
        read = desk_time(box.last_poll_at, zone) if box.last_poll_at else "never"
        backlog = "" if box.backlog is None else f", backlog {box.backlog}"
        say(f"mailbox {box.name}/{box.folder}: last read {read}{backlog}")
    due = status.outbox_oldest_due
    oldest = f" (oldest due {desk_time(due, zone)})" if due else ""
    say(
        f"outbox: {status.outbox_pending} pending{oldest},"
        f" {status.outbox_failed} failed, {status.outbox_uncertain} uncertain"
    )
    say(f"tickets: {_counts(status.tickets_by_state)}; {status.tickets_overdue} past deadline")
    say(f"failing addresses (no automatic mail): {status.failing_addresses}")
    for alert in status.alerts:
        details = "".join(f", {key} {value}" for key, value in alert.detail.items())
        say(f"alert: {desk_time(alert.created_at, zone)} {alert.key}{details}")
    for problem in status.problems:
        say(f"PROBLEM: {problem}")
    say("healthy" if status.healthy else "UNHEALTHY")


def _counts(counts: Mapping[str, int]) -> str:
    """ "aberto 3, em_atendimento 1", or "none"."""
    return ", ".join(f"{name} {count}" for name, count in sorted(counts.items())) or "none"
