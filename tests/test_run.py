"""``mailproc run``: the scheduler answers mail that arrives while it idles, and stops cleanly
on SIGTERM with every message either finished or still waiting in INBOX."""

from __future__ import annotations

import signal
import subprocess
import time
from collections import Counter

import pytest

from mailproc.storage import models as m
from tests.e2e import Batch, Desk, DeskFactory, wait_for

pytestmark = [pytest.mark.servers, pytest.mark.slow]

# A graceful stop finishes the message in hand; it must not wait out a whole poll interval.
STOP_SECONDS = 8.0


def start_idling(desk: Desk) -> subprocess.Popen[bytes]:
    """``mailproc run``, once its IMAP job is logged in (its folders exist) and idling."""
    child = desk.spawn("--log-level", "info", "run")
    logged_in = wait_for(
        lambda: child.poll() is not None or "Processados" in desk.imap.folders(), 30, step=0.2
    )
    assert logged_in and child.poll() is None, desk.output(child)
    time.sleep(0.5)  # the first, empty drain is over: the job waits in IDLE
    return child


def stop(desk: Desk, child: subprocess.Popen[bytes]) -> float:
    """SIGTERM; the exit code must be 0. Returns how long the stop took."""
    began = time.monotonic()
    child.send_signal(signal.SIGTERM)
    try:
        code = child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"no exit within 60 s of SIGTERM:\n{desk.output(child)}")
    output = desk.output(child)
    assert code == 0, output
    assert "Traceback" not in output, output
    return time.monotonic() - began


def test_mail_arriving_while_run_idles_is_answered(make_desk: DeskFactory) -> None:
    desk = make_desk(poll_seconds=5, idle=True, outbox_seconds=1)
    batch = Batch.of(1)
    child = start_idling(desk)

    desk.imap.append("INBOX", batch.raws[0])
    answered = wait_for(lambda: bool(desk.replies_per_message()), 20, step=0.2)
    took = stop(desk, child)

    assert answered, desk.output(child)
    assert desk.replies_per_message() == Counter(batch.answered)
    assert desk.outcomes() == batch.expected
    assert desk.imap.messages("INBOX") == []
    assert took < STOP_SECONDS


def test_sigterm_mid_batch_leaves_every_message_finished_or_still_in_inbox(
    make_desk: DeskFactory,
) -> None:
    desk = make_desk(poll_seconds=5, idle=True, outbox_seconds=1)
    batch = Batch.of(100)
    child = start_idling(desk)

    desk.imap.append_many("INBOX", batch.raws)
    assert wait_for(lambda: desk.count(m.RawMessage) >= 10, 30), desk.output(child)
    took = stop(desk, child)

    finished = desk.outcomes()
    waiting, done = desk.folder_ids("INBOX"), desk.folder_ids("Processados")
    assert 0 < len(finished) < len(batch.raws), "the stop did not land mid-batch"
    assert set(done) == set(finished)  # moved only after its outcome was committed
    assert sorted(waiting + done) == sorted(batch.expected)  # nothing lost, nothing twice
    assert desk.count(m.RawMessage, m.RawMessage.outcome.is_(None)) == 0  # none half-done
    assert took < STOP_SECONDS

    after = desk.poll()  # the rest, later, by the next worker

    assert after.returncode == 0, after.stderr
    assert desk.outcomes() == batch.expected
    assert desk.replies_per_message() == Counter(batch.answered)
    assert desk.imap.messages("INBOX") == []


def test_sigterm_while_idling_on_a_long_interval_stops_at_once(make_desk: DeskFactory) -> None:
    desk = make_desk(poll_seconds=60, idle=True)
    child = start_idling(desk)

    assert stop(desk, child) < STOP_SECONDS
