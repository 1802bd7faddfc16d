"""The staff queue's full-text search on SQLite: FTS5 tables of subjects and bodies.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 14:30:00.000000

SQLite has no GIN index (migration 0009 made PostgreSQL's): its search read every body with
LIKE. Here each searched text gets an FTS5 table, "external content" (it holds the words
only, the text stays in its own table, its rowid is the row's id), kept in step by triggers
after every insert, delete and change of the text. A delete trigger hands FTS5 the old text,
so the words it indexed go with it: an erased or purged body is no longer found (and
retention.compact() merges the index so that their bytes leave its pages too).

The tokenizer folds case and accents ("publicacao" finds "publicação"), as a servidor types.
SQLite must have FTS5: Debian's, python.org's and most builds do; without it this migration
stops with a message saying so (no LIKE fallback: the triggers make every insert need FTS5).

The triggers live on the tables: a later migration that re-creates "tickets" or "messages"
(Alembic's batch mode on SQLite) drops them and must make them again (TRIGGERS below). On a
large database this migration reads every subject and body once.
"""

from collections.abc import Sequence

from alembic import op
from sqlalchemy.exc import OperationalError

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported: a migration must not change when the code does.
SEARCHED = {
    "ticket_search": ("tickets", "subject"),
    "message_search": ("messages", "body_text"),
}
TOKENIZER = "unicode61 remove_diacritics 2"
# The FTS5 commands that keep an external-content table in step: {fts} the FTS5 table,
# {column} the text (the FTS5 column has its name), new/old the row.
TRIGGERS = {
    "insert": "INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});",
    "delete": "INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column});",
    "update": "INSERT INTO {fts}({fts}, rowid, {column}) VALUES ('delete', old.id, old.{column}); "
    "INSERT INTO {fts}(rowid, {column}) VALUES (new.id, new.{column});",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for fts, (table, column) in SEARCHED.items():
        _create_search_table(fts, table, column)
        for event, commands in TRIGGERS.items():
            when = f"UPDATE OF {column}" if event == "update" else event.upper()
            op.execute(
                f"CREATE TRIGGER {fts}_{event} AFTER {when} ON {table} BEGIN "
                + commands.format(fts=fts, column=column)
                + " END"
            )
        op.execute(f"INSERT INTO {fts}({fts}) VALUES ('rebuild')")  # the rows already there


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for fts in SEARCHED:
        for event in TRIGGERS:
            op.execute(f"DROP TRIGGER {fts}_{event}")
        op.execute(f"DROP TABLE {fts}")


def _create_search_table(fts: str, table: str, column: str) -> None:
    try:
        op.execute(
            f"CREATE VIRTUAL TABLE {fts} USING fts5({column}, content='{table}', "
            f"content_rowid='id', tokenize='{TOKENIZER}')"
        )
    except OperationalError as exc:
        if "no such module: fts5" not in str(exc):
            raise
        raise RuntimeError(
            "this SQLite has no FTS5, which the ticket search needs: use a Python whose "
            "SQLite has it (Debian's and python.org's do), or PostgreSQL"
        ) from exc
