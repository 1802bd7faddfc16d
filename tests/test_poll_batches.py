"""The poll path in batches: acknowledgements ACK_BATCH at a time, messages parsed in a
worker process ahead of the pipeline, every message still finished in arrival order."""

from __future__ import annotations

import multiprocessing
import pickle
from collections import Counter
from collections.abc import Iterator

import pytest
from sqlalchemy import func, select

from mailproc.mail.parse import parse_ahead, parse_message
from mailproc.outgoing import outbox
from mailproc.service.app import App
from mailproc.service.poller import ACK_BATCH, BACKLOG, ParseAhead
from mailproc.sources.imap import Fetched, MailboxCursor
from mailproc.storage import models as m
from tests.e2e import Batch, Desk, bare_id, complete_report, message_id, parse, wait_for
from tests.mails import error_report, mail


def fetched(raws: list[bytes]) -> Iterator[Fetched]:
    """The messages as the IMAP source yields them, UIDs from 1."""
    for uid, raw in enumerate(raws, 1):
        yield Fetched(uid, len(raw), raw, None, MailboxCursor(7, uid))


def test_a_backlog_parsed_in_the_worker_ends_as_parsing_in_process_does(app: App) -> None:
    batch = Batch.of(BACKLOG + 70)
    # A reply to a ticket opened just before it: decided after that ticket's transaction.
    reply = mail(
        "RES: Erro ao publicar aviso no SIASG (0)",
        "Segue em anexo.",
        sender="Servidor 0 <servidor0@orgao0.rj.gov.br>",
        headers={"In-Reply-To": f"<{message_id(batch.raws[0])}>"},
    )
    raws = [*batch.raws, reply]

    with ParseAhead(app.pipeline) as parsing:
        results = list(parsing.run(fetched(raws), "imap:test/INBOX"))
        assert parsing.worker.started, "parsed in the worker"

    assert [f.uid for f, _ in results] == list(range(1, len(raws) + 1))  # arrival order
    outcomes = {message_id(f.raw or b""): r.outcome.value for f, r in results}
    assert outcomes == {**batch.expected, message_id(reply): "updated"}
    with app.sessions() as session:
        unfinished = select(func.count()).where(m.RawMessage.outcome.is_(None))
        assert session.scalar(unfinished) == 0


def test_the_worker_sends_a_message_back_with_its_fresh_text_and_digests_worked_out() -> None:
    raw = mail(
        "RES: Erro ao publicar aviso no SIASG",
        "Segue a captura.\n\nEm 28/11/2026, Central escreveu:\n> Envie a captura de tela.\n",
        attachments=(("captura.png", "image/png", b"\x89PNG\r\n\x1a\n" + b"0" * 64),),
    )

    # What the worker returns crosses to the main process pickled.
    returned = pickle.loads(pickle.dumps(parse_ahead(raw)))

    assert "fresh_text" in vars(returned), "worked out in the worker"
    assert all("sha256" in vars(a) for a in returned.attachments) and returned.attachments
    fresh = parse_message(raw)
    assert returned.fresh_text == fresh.fresh_text == "Segue a captura."
    assert [a.sha256 for a in returned.attachments] == [a.sha256 for a in fresh.attachments]


def test_the_same_bytes_twice_in_the_window_are_one_message_and_one_duplicate(
    app: App,
) -> None:
    raw = error_report()
    raws = [complete_report(n) for n in range(BACKLOG)] + [raw, complete_report(99), raw]

    with ParseAhead(app.pipeline) as parsing:
        results = [r.outcome.value for _, r in parsing.run(fetched(raws), "imap:test/INBOX")]

    assert results[-3:] == ["created", "created", "duplicate"]
    with app.sessions() as session:
        outcomes = Counter(session.scalars(select(m.RawMessage.outcome)))
    # The raw row keeps the outcome of the message it was, not "duplicate".
    assert outcomes == Counter({"created": BACKLOG + 2})


def test_a_parse_worker_that_dies_mid_backlog_costs_no_message(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    batch = Batch.of(BACKLOG + 40)
    parsing = ParseAhead(app.pipeline)

    def arrivals() -> Iterator[Fetched]:
        for uid, message in enumerate(fetched(batch.raws), 1):
            if uid == BACKLOG + 10:  # the worker is busy with the window: the OOM killer
                assert parsing.worker.started
                for worker in multiprocessing.active_children():
                    worker.kill()
            yield message

    with parsing:
        results = list(parsing.run(arrivals(), "imap:test/INBOX"))

    outcomes = {message_id(f.raw or b""): r.outcome.value for f, r in results}
    assert outcomes == batch.expected
    assert any(m.startswith("the parsing process died") for m in caplog.messages)


@pytest.mark.servers
def test_a_backlogs_replies_go_out_while_it_is_read_each_one_once(desk: Desk) -> None:
    batch = Batch.of(BACKLOG + 100)
    desk.imap.append_many("INBOX", batch.raws)

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    assert desk.outcomes() == batch.expected
    assert desk.replies_per_message() == Counter(batch.answered)
    assert set(desk.copies().values()) == {1}
    assert poll.report["delivered"] == len(desk.sent_mail())
    with desk.session() as session:
        first_sent = session.scalar(select(func.min(m.OutboxMail.sent_at)))
        last_read = session.scalar(select(func.max(m.RawMessage.processed_at)))
    assert first_sent is not None and last_read is not None
    assert first_sent < last_read, "no reply went out before the last message was read"


@pytest.mark.servers
@pytest.mark.slow
def test_a_poller_killed_mid_drain_reads_again_at_most_one_batch(desk: Desk) -> None:
    batch = Batch.of(400)
    desk.imap.append_many("INBOX", batch.raws)

    child = desk.spawn("poll", "--once")
    started = wait_for(lambda: desk.count(m.Message) >= 150 or child.poll() is not None, 120)
    child.kill()
    child.wait()
    assert started and child.returncode != 0, f"not killed mid-drain: {desk.output(child)}"
    waiting = set(desk.folder_ids("INBOX"))
    finished_unacked = {mid for mid in desk.outcomes() if mid in waiting}

    poll = desk.poll()

    assert len(finished_unacked) <= ACK_BATCH
    assert poll.returncode == 0, poll.stderr
    assert poll.report["outcomes"].get("duplicate", 0) == len(finished_unacked)
    assert desk.outcomes() == batch.expected
    # Replies go out during the drain. The killed poller's claim on the outbox waits out its
    # lease (outbox.BATCH mails at most, one of them "sending": uncertain then, never sent
    # twice); every other reply went out once.
    with desk.session() as session:
        claimed = session.scalars(select(m.OutboxMail).where(m.OutboxMail.lease_owner.is_not(None)))
        held = {bare_id(parse(mail.raw)["In-Reply-To"]): mail.status for mail in claimed}
    replies = desk.replies_per_message()
    assert len(held) <= outbox.BATCH
    assert list(held.values()).count("sending") <= 1
    assert all(replies[answered] <= 1 for answered in held)
    assert replies - Counter(held.keys()) == Counter(batch.answered) - Counter(held.keys())
    assert desk.imap.messages("INBOX") == []


def test_mail_arriving_a_few_at_a_time_is_parsed_in_the_worker_within_its_budget(
    app: App,
) -> None:
    raws = [complete_report(n) for n in range(3)]

    with ParseAhead(app.pipeline) as parsing:
        results = list(parsing.run(fetched(raws), "imap:test/INBOX"))
        assert parsing.worker.started, "only a worker's parse can be cut short"

    assert [r.outcome.value for _, r in results] == ["created"] * len(raws)
