"""Experiments for files the bench's owner does not own: ``mailproc`` with some functions
replaced, to measure a proposed change before it is made where it belongs.

    BENCH_EXPERIMENTS=route_known_files python -m bench --poller bench.experiments ...
    BENCH_EXPERIMENTS=all python -m bench.stages --n 1000

Each experiment is named in BENCH_EXPERIMENTS ("all" for every one); the replacement is the
proposed change, written against the code it replaces (run with ``--tree`` on an export of
it). Nothing here is used by mailproc itself. An experiment that lands is deleted here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any

EXPERIMENTS_ENV = "BENCH_EXPERIMENTS"

EXPERIMENTS: dict[str, Callable[[], None]] = {}


def experiment(function: Callable[[], None]) -> Callable[[], None]:
    EXPERIMENTS[function.__name__] = function
    return function


_NEW_TICKET_FILES: ContextVar[tuple[Any, ...] | None] = ContextVar("files", default=None)


@experiment
def route_known_files() -> None:
    """pipeline.created -> routing.routed_notice: a ticket created by this very message has
    exactly the request's files, in memory; do not read them back from the database (which
    first flushes them there). Proposed: ``route(..., files)`` passed down to
    ``routed_notice``, which reads ``store.ticket_attachments`` only for a ticket that was
    waiting for its files (completed by a reply)."""
    from mailproc import pipeline, store
    from mailproc.decision import Outcome

    created, stored_files = pipeline.Pipeline.created, store.ticket_attachments

    def created_with_files(self: Any, a: Any) -> Any:
        token = _NEW_TICKET_FILES.set(tuple(a.request.attachments))
        try:
            return created(self, a)
        finally:
            _NEW_TICKET_FILES.reset(token)

    def ticket_attachments(session: Any, ticket_id: int) -> Any:
        files = _NEW_TICKET_FILES.get()
        return files if files is not None else stored_files(session, ticket_id)

    for outcome in (Outcome.CREATED, Outcome.INCOMPLETE):
        pipeline.APPLY[outcome] = created_with_files
    setattr(store, "ticket_attachments", ticket_attachments)  # noqa: B010


@experiment
def sqlite_uncached_statements() -> None:
    """db._sqlite_engine: ``connect_args={"cached_statements": 0}``. The sqlite3 module keeps
    each prepared statement with its last bound values until the statement runs again, so
    every large INSERT (raw bytes, attachments, a routed copy) stays in memory after its
    commit: 25 MB retained after storing the 25 MB message, 76 MB over its whole poll."""
    import sqlalchemy

    from mailproc import db

    def create_engine(url: Any, **kwargs: Any) -> Any:
        if str(url).startswith("sqlite"):
            kwargs.setdefault("connect_args", {})["cached_statements"] = 0
        return sqlalchemy.create_engine(url, **kwargs)

    setattr(db, "create_engine", create_engine)  # noqa: B010


def _selected() -> list[str]:
    names = [n.strip() for n in os.environ.get(EXPERIMENTS_ENV, "").split(",") if n.strip()]
    return list(EXPERIMENTS) if names == ["all"] else names


def apply_selected() -> None:
    """Apply the experiments named in BENCH_EXPERIMENTS; an unknown name ends the run."""
    for name in _selected():
        if name not in EXPERIMENTS:
            sys.exit(f"unknown experiment {name!r}; known: {', '.join(EXPERIMENTS)}")
        EXPERIMENTS[name]()


def main() -> int:
    apply_selected()
    from mailproc.cli import main as cli_main

    return cli_main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
