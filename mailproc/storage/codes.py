"""Ticket codes: gapless per year, handed out inside the ticket's own transaction."""

from __future__ import annotations

from sqlalchemy import bindparam, insert, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from mailproc.errors import StoreError
from mailproc.storage.models import CodeCounter


def allocate_code(session: Session, year: int) -> str:
    """The next code of ``year``, e.g. ``2026-000123``.

    Runs in the caller's transaction: if it rolls back, the number is not used up. The
    counter row stays locked until that transaction ends, which serialises ticket creation;
    insert the message's dedup key before calling, so a duplicate fails without a code.
    """
    # When a concurrent transaction created the year's row first, its commit released our
    # INSERT; the second increment then finds that row.
    value = _increment(session, year) or _create_counter(session, year) or _increment(session, year)
    if value is None:
        raise StoreError(f"could not allocate a ticket code for {year}")
    return f"{year}-{value:06d}"


# Core on the table, run on the session's connection: counter rows are never loaded as
# objects, so the ORM has nothing to synchronise.
_COUNTERS = CodeCounter.metadata.tables[CodeCounter.__tablename__]
_INCREMENT = (
    update(_COUNTERS)
    .where(_COUNTERS.c.year == bindparam("counter_year"))
    .values(last_value=_COUNTERS.c.last_value + 1)
    .returning(_COUNTERS.c.last_value)
)


def _increment(session: Session, year: int) -> int | None:
    params = {"counter_year": year}
    last_value: int | None = session.connection().execute(_INCREMENT, params).scalar()
    return last_value  # None: the year has no counter yet


def _create_counter(session: Session, year: int) -> int | None:
    """Start the year at 1, or None when a concurrent transaction started it first."""
    try:
        # The savepoint keeps the caller's transaction usable after a unique violation.
        with session.begin_nested():
            session.execute(insert(CodeCounter).values(year=year, last_value=1))
    except IntegrityError:
        return None
    return 1
