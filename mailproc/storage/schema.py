"""The schema's version: Alembic's migrations applied, and the database checked against them.

Only ``upgrade`` loads Alembic (0.1 s more than SQLAlchemy): ``require_current``, run by every
command that touches the database, reads the migrations' revision ids from their files and
the database's from Alembic's version table, with SQLAlchemy alone.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from mailproc.errors import StoreError
from mailproc.resources import shipped_dir
from mailproc.storage.db import UPGRADE_HINT, connect

if TYPE_CHECKING:
    from alembic.config import Config

# Alembic's default, which migrations/env.py keeps.
VERSION_TABLE = "alembic_version"


@dataclass(frozen=True)
class Migration:
    """A migration applied: its revision id and the first paragraph of its docstring."""

    revision: str
    about: str


def upgrade(engine: Engine) -> list[Migration]:
    """Bring the schema to the newest migration, in one transaction; returns the migrations
    applied, oldest first (migrations/env.py records them)."""
    from alembic import command

    config = _alembic_config()
    applied: list[Migration] = []
    config.attributes["applied"] = applied
    with connect(engine) as connection:
        sqlite = engine.dialect.name == "sqlite"
        if sqlite:
            # A batch re-create of a parent table would delete its ON DELETE CASCADE children.
            _set_sqlite_foreign_keys(connection, enabled=False)
        try:
            with connection.begin():
                config.attributes["connection"] = connection
                command.upgrade(config, "head")
                if sqlite:
                    _check_sqlite_foreign_keys(connection)
        finally:
            if sqlite:
                _set_sqlite_foreign_keys(connection, enabled=True)
    return applied


def require_current(engine: Engine) -> None:
    """Raise StoreError unless the database is reachable and its schema matches the code."""
    known, needed = migration_heads(shipped_dir("migrations") / "versions")
    with connect(engine) as connection:
        try:
            current = _current_heads(connection)
        except DBAPIError as exc:  # reachable, but not usable now: locked, full, read-only
            raise StoreError(f"cannot read the schema version: {exc.orig}") from exc
    if current == needed:
        return
    at = ", ".join(sorted(current)) or "empty (never upgraded)"
    needs = ", ".join(sorted(needed))
    if current - known:
        raise StoreError(f"database schema is at {at}, unknown to this code (needs {needs})")
    raise StoreError(f"database schema is at {at}, code needs {needs}: {UPGRADE_HINT}")


def migration_heads(versions: Path) -> tuple[set[str], set[str]]:
    """Every revision id of the migrations in ``versions``, and the heads among them: those no
    other names as its ``down_revision`` (as Alembic counts them: ``depends_on`` does not).

    Read from the files' top-level assignments, which Alembic's template writes as literals;
    files without a ``revision`` are not migrations (Alembic skips ``__init__.py`` too).
    """
    below: dict[str, set[str]] = {}
    for path in sorted(versions.glob("*.py")):
        if path.name.startswith((".#", "__init__")):
            continue
        values = _literal_assignments(path, ("revision", "down_revision"))
        revision = values.get("revision")
        if isinstance(revision, str):
            below[revision] = _ids(values.get("down_revision"))
    known = set(below)
    return known, known.difference(*below.values())


def _literal_assignments(path: Path, names: tuple[str, ...]) -> dict[str, object]:
    found: dict[str, object] = {}
    for node in ast.parse(path.read_bytes(), str(path)).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id in names:
            found[target.id] = ast.literal_eval(value)
    return found


def _ids(value: object) -> set[str]:
    """A ``down_revision``: None (a base), one id, or a tuple or list of ids (a merge)."""
    if isinstance(value, str):
        return {value}
    return {str(item) for item in value} if isinstance(value, tuple | list) else set()


def _current_heads(connection: Connection) -> set[str]:
    """The revisions the database is stamped at; none when it was never upgraded."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return set()
    return set(connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars())


def _alembic_config() -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(shipped_dir("migrations")))
    return config


def _set_sqlite_foreign_keys(connection: Connection, *, enabled: bool) -> None:
    # Straight to the driver: through SQLAlchemy it would open a transaction first, where
    # SQLite ignores this PRAGMA.
    cursor = connection.connection.cursor()
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if enabled else 'OFF'}")
    finally:
        cursor.close()


def _check_sqlite_foreign_keys(connection: Connection) -> None:
    # With enforcement off during the migration, verify before committing.
    broken = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    if broken:
        raise StoreError(f"migration left {len(broken)} broken foreign keys, e.g. {broken[0]}")
