"""Which worker reads a mailbox: a PostgreSQL advisory lock, held for the length of a poll.

The lock belongs to a database session, so it is released when its worker stops or dies
(the server ends the session) — a lease that expires by itself, with nothing to clean up.
SQLite is the single-worker store: there the lease is always granted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine, text


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for ``name`` (advisory locks are keyed by bigint)."""
    digest = hashlib.sha256(f"mailproc:mailbox:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextmanager
def mailbox_lease(engine: Engine, name: str) -> Iterator[bool]:
    """Yield True when this worker may read mailbox ``name`` now, False when another does."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = lock_key(name)
    with engine.connect() as connection:
        granted = bool(connection.scalar(text("SELECT pg_try_advisory_lock(:k)"), {"k": key}))
        connection.commit()  # do not hold a transaction open for the whole poll
        try:
            yield granted
        finally:
            if granted:
                connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                connection.commit()
