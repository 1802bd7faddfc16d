"""Failing addresses (bounces), operator alerts, sanitized HTML of messages, and the outbox
indexes the hourly loop caps count with.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 22:00:00.000000

The per-ticket cap counts outbox rows by (ticket_id, created_at): that index replaces the
one on ticket_id alone, which it covers.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("messages") as batch:
        batch.add_column(sa.Column("body_html", sa.Text(), nullable=True))
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_ticket_id")
        batch.create_index("ix_outbox_ticket_id_created_at", ["ticket_id", "created_at"])
        batch.create_index("ix_outbox_created_at", ["created_at"])

    op.create_table(
        "failing_addresses",
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("last_bounce_at", sa.DateTime(), nullable=False),
        sa.Column("bounces", sa.Integer(), nullable=False),
        sa.Column("outbox_id", _ID, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["outbox_id"],
            ["outbox.id"],
            name=op.f("fk_failing_addresses_outbox_id_outbox"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("email", name=op.f("pk_failing_addresses")),
    )
    op.create_table(
        "alerts",
        sa.Column("id", _ID, nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("key", name=op.f("uq_alerts_key")),
    )
    op.create_index(op.f("ix_alerts_created_at"), "alerts", ["created_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_alerts_created_at"), table_name="alerts")
    op.drop_table("alerts")
    op.drop_table("failing_addresses")
    with op.batch_alter_table("outbox") as batch:
        batch.drop_index("ix_outbox_created_at")
        batch.drop_index("ix_outbox_ticket_id_created_at")
        batch.create_index("ix_outbox_ticket_id", ["ticket_id"])
    with op.batch_alter_table("messages") as batch:
        batch.drop_column("body_html")
