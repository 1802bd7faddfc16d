"""Keeping the database: its schema, what it may keep (retention, LGPD erasure), backups."""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from mailproc.service.cli.arguments import Commands, add_command, add_group

if TYPE_CHECKING:
    from mailproc.service.app import App


def add_commands(commands: Commands) -> None:
    purging = add_command(
        commands, "purge", purge_closed, "empty the mail of tickets closed over [retention] days"
    )
    purging.add_argument("--dry-run", action="store_true", help="only say what would go")
    erasing = add_command(
        commands,
        "erase",
        erase_address,
        "delete everything about one e-mail address (LGPD art. 18)",
    )
    erasing.add_argument("address", help="the e-mail address, as the desk recorded it")
    erasing.add_argument("--dry-run", action="store_true", help="only count what would go")
    backup = add_command(
        commands,
        "backup",
        backup_database,
        "copy the SQLite database, consistent while the desk runs (PostgreSQL: pg_dump)",
    )
    backup.add_argument("path", help="the file to write (refused if it exists)")
    backup.add_argument("--force", action="store_true", help="replace PATH if it exists")
    db = add_group(commands, "db", "database schema")
    add_command(db, "upgrade", upgrade_schema, "apply the migrations")


def purge_closed(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when the database could not be compacted: the old bytes may still be in its
    files (the next purge compacts it)."""
    from mailproc.storage.retention import purge

    period = timedelta(days=app.config.retention_days)
    report = purge(app.start().sessions, period, dry_run=args.dry_run)
    print(json.dumps(report.as_json(), ensure_ascii=False))
    return 0 if report.dry_run or report.compacted else 1


def erase_address(app: App, args: argparse.Namespace) -> int:
    """Exit 1 when the database could not be compacted, as for purge."""
    from mailproc.storage.erasure import erase

    report = erase(app.start().sessions, args.address, dry_run=args.dry_run)
    print(json.dumps(report.as_json(), ensure_ascii=False))
    return 0 if report.dry_run or report.compacted else 1


def backup_database(app: App, args: argparse.Namespace) -> None:
    from mailproc.storage.backup import backup_sqlite

    backup = backup_sqlite(app.config.database_url, Path(args.path), force=args.force)
    print(json.dumps(backup.as_json(), ensure_ascii=False))


def upgrade_schema(app: App, args: argparse.Namespace) -> None:
    from mailproc.storage.schema import upgrade

    app = replace(app, create_database=True)  # the one command that makes the SQLite file
    for migration in upgrade(app.engine):
        print(f"applied {migration.revision}: {migration.about}")
    print(f"database at head: {app.engine.url.render_as_string(hide_password=True)}")
