"""Large values kept where they can be written in pieces and are not rewritten: an outbox
mail's bytes move to their own table (outbox_bodies); on SQLite the raw bytes of a message
and of a file become their table's last column.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 01:30:00.000000

An outbox row changes status three times per delivery (claimed, sending, sent), and every
change rewrites the whole row, bytes included; on SQLite the row is also built in memory
each time (a routed copy carrying a 25 MB message's files: about 150 MB at the peak). Kept
in a row of their own, the bytes are written once and read once.

SQLite leaves room for a value written later in pieces (``zeroblob``) without allocating it
only when it is the record's last column; anywhere else the room is built in memory, and so
are copies of the value (mailproc.storage.store.write_in_pieces). ALTER TABLE ADD COLUMN appends, so
each column is added again at the end, filled, and the old one dropped. This rewrites every
stored message once: on a large database the upgrade takes a while (about as long as copying
the database file). PostgreSQL does not care where a column is.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
# (table, column) moved to the end of their table on SQLite.
LAST_ON_SQLITE = (("raw_messages", "data"), ("attachments", "data"))


def upgrade() -> None:
    op.create_table(
        "outbox_bodies",
        sa.Column("outbox_id", _ID, autoincrement=False, nullable=False),
        sa.Column("raw", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_outbox_bodies_outbox_id_outbox"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("outbox_id", name=op.f("pk_outbox_bodies")),
    )
    op.execute("INSERT INTO outbox_bodies (outbox_id, raw) SELECT id, raw FROM outbox")
    # Plain ALTER TABLE on both databases (SQLite 3.35+): a batch re-create of the outbox is
    # not needed to drop a column nothing indexes.
    op.execute("ALTER TABLE outbox DROP COLUMN raw")
    if op.get_bind().dialect.name != "sqlite":
        return
    for table, column in LAST_ON_SQLITE:
        moved = f"{column}_moved"
        op.execute(f"ALTER TABLE {table} ADD COLUMN {moved} BLOB")
        op.execute(f"UPDATE {table} SET {moved} = {column}")
        op.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
        op.execute(f"ALTER TABLE {table} RENAME COLUMN {moved} TO {column}")


def downgrade() -> None:
    """The bytes back into the outbox rows (the column comes back nullable: SQLite adds a
    NOT NULL column only with a default); where a column sits changes no query."""
    op.add_column("outbox", sa.Column("raw", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE outbox SET raw = (SELECT raw FROM outbox_bodies"
        " WHERE outbox_bodies.outbox_id = outbox.id)"
    )
    op.drop_table("outbox_bodies")
