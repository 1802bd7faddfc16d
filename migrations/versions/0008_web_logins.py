"""One-time links that log staff into the web view.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 13:50:00.000000

A staff member asks for a link at /entrar; the mail carries a random token and this table
keeps only its SHA-256, the address it was sent to, when it expires and when it was used
(mailproc.storage.logins).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "web_logins",
        sa.Column("id", _ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("expires_at", sa.DateTime(), nullable=False),
        sa.Column("used_at", sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_logins")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_web_logins_token_hash")),
    )
    op.create_index(op.f("ix_web_logins_expires_at"), "web_logins", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_web_logins_expires_at"), table_name="web_logins")
    op.drop_table("web_logins")
