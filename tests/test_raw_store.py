"""Raw bytes stored first: one row per distinct message, whoever stores it and when."""

from __future__ import annotations

import hashlib
import time
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from mailproc.decision.values import Outcome
from mailproc.service.app import App
from mailproc.storage import models as m
from mailproc.storage import store
from tests.mails import error_body, error_report, mail, screenshot_png


def test_the_same_bytes_stored_again_find_the_first_row_and_its_outcome(app: App) -> None:
    raw = error_report()
    first = store.save_raw(app.sessions, raw, "imap:suporte/INBOX")
    with app.sessions.begin() as session:
        store.mark_raw(session, first.id, Outcome.CREATED)

    again = store.save_raw(app.sessions, raw, "maildir:local")

    assert (again.id, again.outcome) == (first.id, "created")
    with app.sessions() as session:
        row = session.scalars(select(m.RawMessage)).one()
        assert (row.source, row.data, row.outcome) == ("imap:suporte/INBOX", raw, "created")
        assert row.processed_at is not None


def test_two_workers_storing_the_same_bytes_at_once_share_one_row(app: App) -> None:
    raw = error_report()
    # The first worker's insert is not committed yet when the second one stores the bytes.
    first = app.sessions()
    first.begin()
    digest = hashlib.sha256(raw).hexdigest()
    first.add(m.RawMessage(sha256=digest, size=len(raw), data=raw, source="a"))
    first.flush()

    with ThreadPoolExecutor(1) as pool:
        second = pool.submit(store.save_raw, app.sessions, raw, "b")
        time.sleep(0.5)
        waited = not second.done()  # for the first one's commit
        first.commit()
        record = second.result(timeout=30)
    first.close()

    assert waited

    with app.sessions() as session:
        assert session.scalar(select(func.count()).select_from(m.RawMessage)) == 1
        assert record.id == session.scalar(select(m.RawMessage.id))
    assert record.outcome is None  # the first worker's message is still being processed


def test_a_large_message_and_its_file_are_stored_whole(app: App) -> None:
    # Over store.LARGE_VALUE_BYTES: on SQLite both go into their rows in pieces.
    screenshot = screenshot_png() + bytes(range(256)) * (3 * 4096)
    raw = mail(
        "Erro ao publicar aviso no SIASG",
        error_body(),
        attachments=(("print-erro.png", "image/png", screenshot),),
    )
    assert len(screenshot) > store.LARGE_VALUE_BYTES

    result = app.pipeline.process(raw, "maildir:local")

    assert result.outcome is Outcome.CREATED
    with app.sessions() as session:
        assert session.scalars(select(m.RawMessage.data)).one() == raw
        stored = session.scalars(select(m.Attachment)).one()
        assert (stored.filename, stored.size, stored.data) == (
            "print-erro.png", len(screenshot), screenshot,
        )  # fmt: skip
