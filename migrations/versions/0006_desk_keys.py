"""The desk's secrets kept with its data: the key that signs reply addresses.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-07 06:40:00.000000

Every worker, on every host, must sign and check reply addresses with the same key; the
database is what they all share. The key is made at first use (mailproc.storage.store.desk_key)
unless the configuration gives one.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "desk_keys",
        sa.Column("name", sa.String(40), primary_key=True),
        sa.Column("value", sa.String(200), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("desk_keys")
