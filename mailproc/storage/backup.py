"""Backing up a SQLite database while the desk runs: one consistent copy, never half a file.

Copying the file of a database in WAL mode is not a backup: the latest commits may still be
in the ``-wal`` file beside it, and a copy taken while the desk writes can hold half of a
checkpoint. ``VACUUM INTO`` reads the database in one read transaction instead, so the copy
is the database as of one commit, whatever the service writes meanwhile (in WAL mode a
reader and the writer do not wait for each other). It was chosen over the sqlite3 module's
``Connection.backup``, which copies page by page: it writes only live rows, so what a purge
emptied is not carried into the backup in freed pages (LGPD), and the copy comes out
compacted. PostgreSQL has its own tool, ``pg_dump`` (docs/operations.md).
"""

from __future__ import annotations

import os
import sqlite3
import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url

from mailproc.errors import MailprocError
from mailproc.storage.db import SQLITE_BUSY_TIMEOUT_MS


class BackupError(MailprocError):
    """A backup cannot be taken: no SQLite database, or a file in the way."""


@dataclass(frozen=True)
class Backup:
    """A backup written: where, its size, its schema revision and how many tickets it holds
    (what an operator checks before trusting it)."""

    path: Path
    size: int
    revision: str
    tickets: int

    def as_json(self) -> dict[str, object]:
        return {
            "backup": str(self.path),
            "bytes": self.size,
            "revision": self.revision,
            "tickets": self.tickets,
        }


def backup_sqlite(url: str, target: Path, *, force: bool = False) -> Backup:
    """Write a consistent copy of the SQLite database at ``url`` to ``target``.

    The copy is written beside ``target`` under a temporary name, checked and synced, then
    renamed into place, so ``target`` is never half written. An existing ``target`` is kept
    (it may be the last good backup) unless ``force``.
    """
    source = _database_file(url)
    if target.exists() and not force:
        raise BackupError(f"{target} exists: choose another name, or --force to replace it")
    try:
        descriptor, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        os.close(descriptor)  # VACUUM INTO writes into an empty file, or a new one
        partial = Path(name).absolute()
        try:
            _vacuum_into(source, partial)
            backup = _checked(partial, target.absolute())
            partial.replace(target)
        finally:
            partial.unlink(missing_ok=True)
        _sync_folder(target.parent)
    except OSError as exc:
        raise BackupError(f"cannot write {target}: {exc.strerror or exc}") from exc
    return backup


def _database_file(url: str) -> Path:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        where = parsed.render_as_string(hide_password=True)
        raise BackupError(
            f"backup copies SQLite databases only; for {where} use PostgreSQL's own tool: "
            "pg_dump --format=custom --file=PATH (docs/operations.md, Backups)"
        )
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        raise BackupError(f"no database file to back up in {url}")
    path = Path(database).absolute()
    if not path.is_file():
        raise BackupError(f"no database at {path}")
    return path


def _vacuum_into(source: Path, partial: Path) -> None:
    # mode=rw: a database that is not there is an error, never a new empty one.
    connection = sqlite3.connect(f"{source.as_uri()}?mode=rw", uri=True, isolation_level=None)
    try:
        connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        connection.execute("VACUUM INTO ?", (str(partial),))
    except sqlite3.Error as exc:
        raise BackupError(f"cannot back up {source}: {exc}") from exc
    finally:
        connection.close()


def _checked(partial: Path, target: Path) -> Backup:
    """The copy, read back whole (``PRAGMA integrity_check``) and synced to the disk."""
    connection = sqlite3.connect(f"{partial.as_uri()}?mode=ro", uri=True)
    try:
        problems = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        [(revision,)] = connection.execute("SELECT version_num FROM alembic_version")
        [(tickets,)] = connection.execute("SELECT count(*) FROM tickets")
    except sqlite3.Error as exc:
        raise BackupError(f"the copy cannot be read back: {exc}") from exc
    finally:
        connection.close()
    if problems != ["ok"]:
        raise BackupError(f"the copy failed its integrity check: {'; '.join(problems[:5])}")
    with partial.open("rb") as copy:
        os.fsync(copy.fileno())
    return Backup(target, partial.stat().st_size, str(revision), int(tickets))


def _sync_folder(folder: Path) -> None:
    """The rename itself on the disk: a crash now leaves the backup under its name."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
