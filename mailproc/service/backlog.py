"""Bringing mail in from elsewhere: an mbox or Maildir backlog, or quarantined mail again."""

from __future__ import annotations

import mailbox
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import delete, select
from tqdm import tqdm

from mailproc.decision.values import Outcome
from mailproc.storage import models as m
from mailproc.tickets.pipeline import HISTORY_ORIGIN, Pipeline

# Oversize mail is stored as its header only: processing that again cannot help.
_HEADER_ONLY_REASON = "message of % bytes is over the limit%"


def read_backlog(path: Path) -> tuple[int, Iterator[bytes]]:
    """The messages of a Maildir folder (new/ and cur/) or an mbox file, with their count."""
    box: mailbox.Mailbox[mailbox.Message] = (
        mailbox.Maildir(path, create=False) if path.is_dir() else mailbox.mbox(path, create=False)
    )
    keys = sorted(box.keys())
    return len(keys), (box.get_bytes(key) for key in keys)


def import_backlog(
    pipeline: Pipeline, path: Path, *, replies: bool = False, progress: bool = True
) -> Counter[str]:
    """Every message of ``path`` through the pipeline: as the desk's history, answering
    nobody (Pipeline.history), or with ``replies`` as if it had just arrived."""
    total, messages = read_backlog(path)
    outcomes: Counter[str] = Counter()
    origin = f"{'import:' if replies else HISTORY_ORIGIN}{path.name}"
    for raw in tqdm(messages, total=total, unit="msg", disable=not progress, desc=path.name):
        outcomes[pipeline.process(raw, origin).outcome.value] += 1
    return outcomes


def reprocess_quarantined(pipeline: Pipeline, raw_ids: list[int] | None = None) -> Counter[str]:
    """Give quarantined messages a new outcome, e.g. after a rules or code fix.

    The quarantined message record and its events are replaced by the new outcome; the raw
    bytes stay. Header-only copies of oversize mail are left alone.
    """
    with pipeline.sessions.begin() as session:
        query = select(m.RawMessage.id).where(
            m.RawMessage.outcome == Outcome.QUARANTINED.value,
            m.RawMessage.data.is_not(None),
            m.RawMessage.reason.not_like(_HEADER_ONLY_REASON),
        )
        if raw_ids is not None:
            query = query.where(m.RawMessage.id.in_(raw_ids))
        ids = list(session.scalars(query))
    outcomes: Counter[str] = Counter()
    for raw_id in ids:
        data, source = _reopen(pipeline, raw_id)
        outcomes[pipeline.process(data, source).outcome.value] += 1
    return outcomes


def _reopen(pipeline: Pipeline, raw_id: int) -> tuple[bytes, str]:
    with pipeline.sessions.begin() as session:
        raw = session.get_one(m.RawMessage, raw_id)
        message_ids = select(m.Message.id).where(m.Message.raw_id == raw_id)
        session.execute(delete(m.Event).where(m.Event.message_id.in_(message_ids)))
        session.execute(delete(m.Message).where(m.Message.raw_id == raw_id))
        raw.outcome = raw.reason = raw.processed_at = None
        return raw.data or b"", raw.source
