"""The outbox's main recipient's domain, indexed with the creation time, for the domain cap.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 07:30:00.000000

A robot answering from a new address each time (robo+1@, robo+2@... or any name of its
domain) was never held by the per-address cap: the per-domain cap counts this column
(mailproc.outgoing.loops). It is null for mail to staff, which that cap neither holds nor
counts, and for rows written before this revision: those stop counting, which after the
cap's hour makes no difference.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.add_column(sa.Column("to_domain", sa.String(length=255), nullable=True))
        batch.create_index("ix_outbox_to_domain_created_at", ["to_domain", "created_at"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_to_domain_created_at")
        batch.drop_column("to_domain")
