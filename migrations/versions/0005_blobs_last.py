"""On SQLite, the large columns (raw bytes, file bytes, a reply's bytes) become their table's
last column, so that mailproc can write a large value in pieces.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 01:30:00.000000

SQLite leaves room for a value written later in pieces (``zeroblob``) without allocating it
only when it is the record's last column; anywhere else the room is built in memory, and so
are copies of the value (mailproc.store.write_in_pieces). ALTER TABLE ADD COLUMN appends, so
each column is added again at the end, filled, and the old one dropped. This rewrites every
stored message once: on a large database the upgrade takes a while (about as long as copying
the database file). PostgreSQL does not care where a column is: nothing happens there.
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (table, column, the column's type and constraint as added at the end)
LARGE_COLUMNS = (
    ("raw_messages", "data", "BLOB"),
    ("attachments", "data", "BLOB"),
    # SQLite adds a NOT NULL column only with a default; every row gets its value at once.
    ("outbox", "raw", "BLOB NOT NULL DEFAULT x''"),
)


def upgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column, declaration in LARGE_COLUMNS:
        moved = f"{column}_moved"
        op.execute(f"ALTER TABLE {table} ADD COLUMN {moved} {declaration}")
        op.execute(f"UPDATE {table} SET {moved} = {column}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {moved} TO {column}")


def downgrade() -> None:
    """Nothing to undo: where a column sits changes no query."""
