"""The schema's version: Alembic's migrations applied, and the database checked against them."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from mailproc.errors import StoreError
from mailproc.resources import shipped_dir
from mailproc.storage.db import connect

UPGRADE_HINT = "run `mailproc db upgrade`"


def upgrade(engine: Engine) -> None:
    """Bring the schema to the newest migration, in one transaction."""
    config = _alembic_config()
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


def require_current(engine: Engine) -> None:
    """Raise StoreError unless the database is reachable and its schema matches the code."""
    scripts = ScriptDirectory.from_config(_alembic_config())
    needed = set(scripts.get_heads())
    with connect(engine) as connection:
        try:
            current = set(MigrationContext.configure(connection).get_current_heads())
        except DBAPIError as exc:  # reachable, but not usable now: locked, full, read-only
            raise StoreError(f"cannot read the schema version: {exc.orig}") from exc
    if current == needed:
        return
    at = ", ".join(sorted(current)) or "empty (never upgraded)"
    needs = ", ".join(sorted(needed))
    if current - {script.revision for script in scripts.walk_revisions()}:
        raise StoreError(f"database schema is at {at}, unknown to this code (needs {needs})")
    raise StoreError(f"database schema is at {at}, code needs {needs}: {UPGRADE_HINT}")


def _alembic_config() -> Config:
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
