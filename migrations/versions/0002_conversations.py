"""Conversations: evaluations of resolved tickets; deadline reminder, escalation and urgency
marks on tickets.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28 19:40:00.000000

Batch mode on SQLite: the new ticket columns are nullable, so SQLite adds them with ALTER
TABLE in place (no re-creation of the parent table, which would delete its ON DELETE
CASCADE children if foreign keys were on; mailproc.storage.schema.upgrade turns them off anyway).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TICKET_MARKS = ("reminded_at", "escalated_at", "urgent_at")


def upgrade() -> None:
    with op.batch_alter_table("tickets") as batch:
        for name in _TICKET_MARKS:
            batch.add_column(sa.Column(name, sa.DateTime(), nullable=True))

    op.create_table(
        "evaluations",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "ticket_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("rater", sa.String(length=320), nullable=False),
        sa.Column(
            "message_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.CheckConstraint("score BETWEEN 1 AND 5", name=op.f("ck_evaluations_score_range")),
        sa.ForeignKeyConstraint(
            ["message_id"],
            ["messages.id"],
            name=op.f("fk_evaluations_message_id_messages"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["tickets.id"],
            name=op.f("fk_evaluations_ticket_id_tickets"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_evaluations")),
        sa.UniqueConstraint("ticket_id", name=op.f("uq_evaluations_ticket_id")),
    )
    op.create_index(op.f("ix_evaluations_message_id"), "evaluations", ["message_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_evaluations_message_id"), table_name="evaluations")
    op.drop_table("evaluations")
    with op.batch_alter_table("tickets") as batch:
        for name in reversed(_TICKET_MARKS):
            batch.drop_column(name)
