"""A poller SIGKILLed at random moments, restarted until done: one outcome, ticket and reply
per message, and no mail sent twice; and a service stopped cleanly mid-send.

The random moments come from a seeded generator; the seed is in every failure message, and
``MAILPROC_CRASH_SEED`` replays one.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
from collections import Counter
from collections.abc import Callable
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from mailproc.storage import models as m
from mailproc.storage.db import utcnow
from tests.conftest import REPO
from tests.e2e import Batch, Desk, DeskFactory, bare_id, wait_for

pytestmark = [pytest.mark.servers, pytest.mark.slow]

SEED = int(os.environ.get("MAILPROC_CRASH_SEED") or random.SystemRandom().randrange(10**6))
KILLS = 5
CODE = re.compile(r"^(\d{4})-(\d{6})$")


@pytest.fixture
def rng() -> random.Random:
    return random.Random(SEED)


def kill_after_progress(
    desk: Desk, progress: Callable[[], int], steps: int, delay: float, args: tuple[str, ...]
) -> None:
    """Start a poller, wait until ``progress()`` moved ``steps`` times (it is working), then
    SIGKILL it ``delay`` seconds later, wherever it is. Counting steps rather than seconds
    keeps the kills inside the batch however fast the poller is."""
    before = progress()
    child = desk.spawn(*args)
    moved = wait_for(lambda: progress() >= before + steps or child.poll() is not None, 60)
    assert moved, SEED
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
    past = utcnow() - timedelta(seconds=1)
    with desk.session() as session, session.begin():
        leased = update(m.OutboxMail).where(m.OutboxMail.lease_until.is_not(None))
        session.execute(leased.values(lease_until=past))


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
        kill_after_progress(
            desk, processed(desk), rng.randint(1, 40), rng.uniform(0, 0.3), ("poll", "--once")
        )
        kills += 1
    assert kills == KILLS, f"only {kills} kills fitted in the batch (seed {SEED})"
    assert processed(desk)() < len(batch.raws), "the last kill landed after the mailbox was read"
    # Replies go out while a backlog is read: a kill can land in a send too. The killed
    # pollers' claims on the outbox expire; a mail one of them was sending is held.
    five_minutes_pass(desk)
    poll_until_inbox_is_empty(desk)

    assert_one_outcome_and_one_ticket_each(desk, batch)
    statuses = outbox_by_status(desk)
    uncertain = statuses.get("uncertain", set())
    assert set(statuses) <= {"sent", "uncertain"} and len(uncertain) <= kills
    copies = desk.copies()
    assert set(copies) >= desk.outbox_ids() - uncertain  # notices to staff too
    assert max(copies.values()) == 1, f"seed {SEED}: {copies.most_common(3)}"
    replies = desk.replies_per_message()
    assert set(replies) <= batch.answered and max(replies.values()) == 1
    assert len(batch.answered - set(replies)) <= len(uncertain), f"seed {SEED}"


def kill_while_sending(desk: Desk, rng: random.Random, batch: Batch) -> int:
    """Poll ``batch`` and SIGKILL the poller while it sends, KILLS times, each time letting
    the dead worker's lease expire; returns how many kills landed."""
    desk.imap.append_many("INBOX", batch.raws)
    kills = 0
    # Replies go out while a backlog is read: mail may still be coming with little unsent.
    while kills < KILLS and (
        kills == 0
        or processed(desk)() < len(batch.raws)
        or sent(desk)() < desk.count(m.OutboxMail) - 20
    ):
        kill_after_progress(desk, sent(desk), 1, rng.uniform(0.0, 0.12), ("poll", "--once"))
        kills += 1
        five_minutes_pass(desk)
    assert kills == KILLS, f"only {kills} kills fitted in the sending (seed {SEED})"
    poll_until_inbox_is_empty(desk)
    assert_one_outcome_and_one_ticket_each(desk, batch)
    return kills


def outbox_by_status(desk: Desk) -> dict[str, set[str]]:
    """The Message-IDs of the outbox mail, by status."""
    found: dict[str, set[str]] = {}
    with desk.session() as session:
        for status, mid in session.execute(select(m.OutboxMail.status, m.OutboxMail.message_id)):
            found.setdefault(status, set()).add(bare_id(mid))
    return found


def mailproc(desk: Desk, *args: str) -> tuple[int, str]:
    """``mailproc ARGS`` to its end: exit code and standard output."""
    done = subprocess.run(
        desk.command(*args), cwd=REPO, env=desk.env, capture_output=True, timeout=120, check=False
    )
    assert "Traceback" not in done.stderr.decode(), done.stderr.decode()
    return done.returncode, done.stdout.decode()


def test_kills_while_sending_never_send_a_mail_twice_and_hold_the_uncertain_ones(
    desk: Desk, rng: random.Random
) -> None:
    """``after_crash = "hold"`` (the default): a mail whose worker was killed while the
    server had it is held as "uncertain" for an operator instead of being sent again."""
    batch = Batch.of(300)
    kills = kill_while_sending(desk, rng, batch)

    copies = desk.copies()
    statuses = outbox_by_status(desk)
    uncertain = statuses.get("uncertain", set())
    print(
        f"seed {SEED}: {kills} kills while sending, {len(uncertain)} uncertain "
        f"({len(uncertain & set(copies))} of them had reached the server), "
        f"{sum(n - 1 for n in copies.values())} sent twice"
    )
    assert max(copies.values()) == 1, f"seed {SEED}: sent twice: {copies.most_common(3)}"
    assert set(statuses) <= {"sent", "uncertain"}, f"seed {SEED}"
    assert len(uncertain) <= kills, f"seed {SEED}"
    assert statuses["sent"] <= set(copies)
    assert set(copies) | uncertain == desk.outbox_ids()  # sent, or held: none forgotten

    code, out = mailproc(desk, "status", "--json", "--offline")
    status = json.loads(out)
    assert (code, status["healthy"], status["outbox_uncertain"]) == (
        (1, False, len(uncertain)) if uncertain else (0, True, 0)
    ), f"seed {SEED}"
    code, out = mailproc(desk, "outbox", "list", "--status", "uncertain", "--json")
    listed = {entry["id"]: entry for entry in json.loads(out)}
    assert code == 0 and len(listed) == len(uncertain)
    if not uncertain:
        return

    code, _ = mailproc(desk, "outbox", "resend", *map(str, listed))
    assert code == 0
    poll_until_inbox_is_empty(desk)
    assert desk.copies() - copies == Counter(uncertain), f"seed {SEED}"  # those, once each
    assert set(outbox_by_status(desk)) == {"sent"}


def test_kills_while_sending_with_resend_send_at_most_the_mail_in_flight_again(
    desk: Desk, rng: random.Random
) -> None:
    """``after_crash = "resend"``: a kill between the server's 250 and the "sent" commit
    sends that one mail again (the same bytes, the same Message-ID). Every mail goes out,
    none is held; a resend is the documented cost of a crash."""
    config = desk.config.read_text(encoding="utf-8")
    desk.config.write_text(
        config.replace("[delivery]\n", '[delivery]\nafter_crash = "resend"\n', 1), encoding="utf-8"
    )
    batch = Batch.of(300)
    kills = kill_while_sending(desk, rng, batch)

    assert set(outbox_by_status(desk)) == {"sent"}
    assert set(desk.replies_per_message()) == batch.answered, f"seed {SEED}"
    copies = desk.copies()
    assert set(copies) == desk.outbox_ids()  # every mail went out
    resent = sorted(k for k, n in copies.items() if n > 1)
    print(f"seed {SEED}: {kills} kills while sending, {len(resent)} mails sent twice")
    assert max(copies.values()) <= 2, f"seed {SEED}: {copies.most_common(3)}"
    assert len(resent) <= kills, f"seed {SEED}: sent twice: {resent}"


@pytest.mark.parametrize("command", [("run",), ("poll", "--once")])
def test_sigterm_while_sending_finishes_the_mail_in_hand_and_hands_back_the_claim(
    make_desk: DeskFactory, command: tuple[str, ...]
) -> None:
    """A clean stop (a service manager stopping `run`, or a timer's `poll --once`) leaves no
    mail "sending" (nothing uncertain), none claimed and no message half-done: the next
    start reads and sends the rest at once rather than after the lease."""
    desk = make_desk(outbox_seconds=1)
    batch = Batch.of(300)
    desk.imap.append_many("INBOX", batch.raws)
    child = desk.spawn(*command)
    assert wait_for(lambda: sent(desk)() > 0 or child.poll() is not None, 120)

    child.send_signal(signal.SIGTERM)

    assert child.wait(timeout=60) == 0, desk.output(child)
    left = outbox_by_status(desk)
    finished = processed(desk)() == len(batch.raws)
    assert left.get("pending") or not finished, "it had read and answered all before stopping"
    assert desk.count(m.RawMessage, m.RawMessage.outcome.is_(None)) == 0
    assert "sending" not in left and "uncertain" not in left
    claimed = m.OutboxMail.lease_owner.is_not(None)
    assert desk.count(m.OutboxMail, m.OutboxMail.status == "pending", claimed) == 0
    poll_until_inbox_is_empty(desk)
    assert_one_outcome_and_one_ticket_each(desk, batch)
    assert desk.copies() == Counter(desk.outbox_ids())
