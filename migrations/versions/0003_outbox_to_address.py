"""The outbox's main recipient, indexed with the creation time, for the daily reply cap.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 21:15:00.000000

Without it the cap searched the JSON recipients of every outbox row for each reply (and on
SQLite read each row's rendered mail along the way): a cost that grew with the outbox.
Rows written before this revision keep a null ``to_address``, so they no longer count
toward a cap; after a day that makes no difference.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("to_address", sa.String(length=320), nullable=True))
        batch.create_index("ix_outbox_to_address_created_at", ["to_address", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_to_address_created_at")
        batch.drop_column("to_address")
