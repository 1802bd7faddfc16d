"""Alembic environment: migrates the connection that mailproc.storage.schema.upgrade hands over.

There is no alembic.ini: mailproc.storage.schema builds the Config in code. To autogenerate the next
revision during development, upgrade a scratch database to head and compare it with the
models (then hand-check the result, and render the types as in _render_item):

    python - <<'PY'
    from alembic import command
    from alembic.config import Config
    from mailproc.storage.db import make_engine
    from mailproc.storage.schema import upgrade
    from mailproc.resources import shipped_dir
    engine = make_engine("sqlite:///var/autogenerate.db")
    upgrade(engine)
    config = Config()
    config.set_main_option("script_location", str(shipped_dir("migrations")))
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.revision(config, "what changed", autogenerate=True, rev_id="0002")
    PY
"""

from __future__ import annotations

from typing import Any, Literal

from alembic import context
from alembic.autogenerate.api import AutogenContext
from alembic.runtime.migration import MigrationContext, MigrationInfo
from sqlalchemy import Connection

from mailproc.storage.models import Base, UTCDateTime, compared_name
from mailproc.storage.schema import Migration


def _render_item(kind: str, obj: Any, autogen: AutogenContext) -> str | Literal[False]:
    # Migrations must not change when models.py does: write the stored type, not ours.
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"
    return False


def _applied(ctx: MigrationContext, step: MigrationInfo, heads: set[str], run_args: Any) -> None:
    """Record each migration applied, for ``mailproc db upgrade`` to say (Alembic's own
    lines are debug detail: mailproc.service.logs)."""
    doc = step.up_revision.doc if step.up_revision else ""  # the docstring's first paragraph
    applied = context.config.attributes.get("applied")
    if isinstance(applied, list):
        applied.append(Migration(str(step.up_revision_id), " ".join((doc or "").split())))


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        # SQLite alters most things only by re-creating the table.
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
        include_name=compared_name,  # not the SQLite search tables (models.SQLITE_SEARCH)
        on_version_apply=_applied,
    )
    with context.begin_transaction():
        context.run_migrations()


def _main() -> None:
    connection = context.config.attributes.get("connection")
    if context.is_offline_mode() or not isinstance(connection, Connection):
        raise RuntimeError(
            "migrations run through mailproc.storage.schema.upgrade (see env.py docstring)"
        )
    _run(connection)


_main()
