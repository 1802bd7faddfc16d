"""A poller SIGKILLed at random moments, restarted until done: one outcome, ticket and reply
per message.

The random moments come from a seeded generator; the seed is in every failure message, and
``MAILPROC_CRASH_SEED`` replays one.
"""

from __future__ import annotations

import os
import random
import re
import subprocess
from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import update

from mailproc import models as m
from tests.e2e import Batch, Desk, wait_for

pytestmark = [pytest.mark.servers, pytest.mark.slow]

SEED = int(os.environ.get("MAILPROC_CRASH_SEED") or random.SystemRandom().randrange(10**6))
KILLS = 5
CODE = re.compile(r"^(\d{4})-(\d{6})$")


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


def kill_after_progress(
    desk: Desk, progress: Callable[[], int], delay: float, args: tuple[str, ...]
) -> None:
    """Start a poller, wait until ``progress()`` moves (it is working), then SIGKILL it
    ``delay`` seconds later, wherever it is."""
    before = progress()
    child = desk.spawn(*args)
    assert wait_for(lambda: progress() > before or child.poll() is not None, 60), SEED
    if child.poll() is not None:
        pytest.fail(f"the poller ended before it was killed (seed {SEED}): {desk.output(child)}")
    try:
        child.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        child.kill()
    child.wait()


def processed(desk: Desk) -> Callable[[], int]:
    return lambda: desk.count(m.RawMessage, m.RawMessage.outcome.is_not(None))


def sent(desk: Desk) -> Callable[[], int]:
    return lambda: desk.count(m.OutboxMail, m.OutboxMail.status == "sent")


def poll_until_inbox_is_empty(desk: Desk, runs: int = 5) -> None:
    for _ in range(runs):
        poll = desk.poll()
        assert poll.returncode == 0, poll.stderr
        if not desk.imap.messages("INBOX"):
            return
    pytest.fail(f"INBOX still not empty after {runs} complete polls (seed {SEED})")


def five_minutes_pass(desk: Desk) -> None:
    """A killed worker's claims on the outbox expire (outbox.LEASE) as they would in time."""
    with desk.session() as session, session.begin():
        session.execute(update(m.OutboxMail).values(lease_until=None))


def assert_one_outcome_and_one_ticket_each(desk: Desk, batch: Batch) -> None:
    assert desk.outcomes() == batch.expected, f"seed {SEED}"
    assert desk.count(m.RawMessage) == len(batch.raws)
    assert desk.count(m.RawMessage, m.RawMessage.outcome.is_(None)) == 0
    codes = desk.ticket_codes()
    assert set(codes) == batch.ticket_making
    assert desk.count(m.Ticket) == len(batch.ticket_making)
    # Codes are gapless: a transaction killed half-way gave its number back.
    numbers = sorted(int(CODE.fullmatch(code)[2]) for code in codes.values())  # type: ignore[index]
    assert numbers == list(range(1, len(codes) + 1)), f"seed {SEED}"
    assert desk.imap.messages("INBOX") == []
    assert Counter(desk.folder_ids("Processados")) == Counter(batch.expected.keys())


def test_kills_while_reading_the_mailbox_lose_nothing_and_double_nothing(
    desk: Desk, rng: random.Random
) -> None:
    batch = Batch.of(400)
    desk.imap.append_many("INBOX", batch.raws)

    kills = 0
    while kills < KILLS and len(batch.raws) - processed(desk)() > 120:
        kill_after_progress(desk, processed(desk), rng.uniform(0.3, 1.5), ("poll", "--once"))
        kills += 1
    assert kills == KILLS, f"only {kills} kills fitted in the batch (seed {SEED})"
    assert desk.smtp.messages == [], "a kill landed after the mailbox was read"
    poll_until_inbox_is_empty(desk)

    assert_one_outcome_and_one_ticket_each(desk, batch)
    assert desk.replies_per_message() == Counter(batch.answered), f"seed {SEED}"
    assert desk.copies() == Counter(desk.outbox_ids())  # notices to staff too: once each
    assert desk.count(m.OutboxMail, m.OutboxMail.status != "sent") == 0


def test_kills_while_sending_resend_at_most_the_one_mail_in_flight(
    desk: Desk, rng: random.Random
) -> None:
    """outbox.py marks a mail sent in its own commit after the server's 250: a kill between
    the two sends that one mail again on restart (the same bytes, the same Message-ID).
    Every mail still goes out, none is lost; a resend is the documented cost of a crash."""
    batch = Batch.of(240)
    desk.imap.append_many("INBOX", batch.raws)

    kills = 0
    while kills < 3 and (kills == 0 or sent(desk)() < desk.count(m.OutboxMail) - 20):
        kill_after_progress(desk, sent(desk), rng.uniform(0.0, 0.12), ("poll", "--once"))
        kills += 1
        five_minutes_pass(desk)
    assert kills == 3, f"only {kills} kills fitted in the sending (seed {SEED})"
    poll_until_inbox_is_empty(desk)

    assert_one_outcome_and_one_ticket_each(desk, batch)
    assert desk.count(m.OutboxMail, m.OutboxMail.status != "sent") == 0
    assert set(desk.replies_per_message()) == batch.answered, f"seed {SEED}"
    copies = desk.copies()
    assert set(copies) == desk.outbox_ids()  # every mail went out
    resent = sorted(k for k, n in copies.items() if n > 1)
    print(f"seed {SEED}: {kills} kills while sending, {len(resent)} mails sent twice")
    assert max(copies.values()) <= 2, f"seed {SEED}: {copies.most_common(3)}"
    assert len(resent) <= kills, f"seed {SEED}: sent twice: {resent}"
