"""The staff queue's indexes: tickets by opening time; full-text search (PostgreSQL).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:00:00.000000

The queue lists the newest tickets first, fifty a page: on the index of their opening
time, a page is read in order instead of sorting every ticket.

The GIN indexes are PostgreSQL's only: the queue's search (mailproc.storage.queue) matches
to_tsvector('portuguese', ...) against the staff member's words, and these expression
indexes are what make it fast; the expressions here and there must stay the same, or the
planner no longer uses them. Only the first 65,536 characters of a text are indexed: a
tsvector holds at most 1 MB of words, and a longer body must not make its mail fail to
store. SQLite has no such index; its search reads the texts (LIKE). On a large database
this migration takes a while (it reads every message once) and holds writes meanwhile.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Written out rather than imported: a migration must not change when the code does.
SEARCHED = {
    "ix_tickets_subject_search": ("tickets", "subject"),
    "ix_messages_body_text_search": ("messages", "body_text"),
}


def upgrade() -> None:
    op.create_index("ix_tickets_created_at", "tickets", ["created_at"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, column) in SEARCHED.items():
        words = sa.text(f"to_tsvector('portuguese', left({column}, 65536))")
        op.create_index(name, table, [words], postgresql_using="gin")


def downgrade() -> None:
    op.drop_index("ix_tickets_created_at", table_name="tickets")
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, (table, _) in SEARCHED.items():
        op.drop_index(name, table_name=table)
