"""A killed worker leaves no workers behind (#16 item 8): the processes `mailproc` starts
(the forkserver, its parse worker, multiprocessing's resource tracker) end with it, even
when it is killed with SIGKILL and has no chance to stop them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mailproc.storage import models as m
from tests.conftest import REPO, alive, process_tree
from tests.e2e import Batch, Desk, wait_for


def descendants(pid: int) -> set[int]:
    tree, found, todo = process_tree(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def has_grandchildren(pid: int) -> bool:
    """Whether ``pid``'s parse worker is up: a grandchild, started by the forkserver."""
    return any(descendants(child) for child in descendants(pid))


def kill_and_expect_no_descendants(process: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``process``; every process it had started must end within seconds."""
    started = descendants(process.pid)

    os.kill(process.pid, signal.SIGKILL)
    process.wait()

    assert wait_for(lambda: not any(alive(pid) for pid in started), 5), [
        Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in started if alive(pid)
    ]


@pytest.mark.servers
def test_poll_killed_with_sigkill_leaves_none_of_its_processes_behind(desk: Desk) -> None:
    desk.imap.append_many("INBOX", Batch.of(200).raws)
    child = desk.spawn("poll", "--once")
    # Its parse worker is a grandchild: started by the forkserver, a child of the poll.
    worker_up = wait_for(lambda: has_grandchildren(child.pid) and desk.count(m.RawMessage) >= 5, 60)
    assert worker_up, desk.output(child)
    kill_and_expect_no_descendants(child)


@pytest.mark.servers
def test_run_killed_while_its_parse_worker_waits_leaves_none_of_its_processes_behind(
    desk: Desk,
) -> None:
    # The worker has read the mail and waits for more: nothing it reads will ever end it.
    desk.imap.append_many("INBOX", Batch.of(3).raws)
    child = desk.spawn("run")
    worker_up = wait_for(lambda: has_grandchildren(child.pid) and desk.count(m.RawMessage) >= 3, 60)
    assert worker_up, desk.output(child)
    kill_and_expect_no_descendants(child)


# A process that reads mail through a parse worker without pause, as a backlog does.
BUSY_READER = """
from mailproc.mail.parse import parse_ahead
from mailproc.service.parsing import ParseWorker
raw = b"From: a@b.c\\r\\nSubject: x\\r\\n\\r\\ncorpo\\r\\n"
with ParseWorker(10, parse_ahead) as worker:
    while True:
        worker.result(worker.submit(raw))
"""


@pytest.mark.parametrize("after", [0.3, 0.6, 0.9])
def test_a_reader_killed_while_its_worker_parses_leaves_none_of_its_processes_behind(
    after: float,
) -> None:
    # The worker holds the forkserver's "alive" pipe and waits on a queue it can also write
    # to: neither ends by itself once the reader is gone.
    reader = subprocess.Popen([sys.executable, "-c", BUSY_READER], cwd=REPO)
    assert wait_for(lambda: has_grandchildren(reader.pid), 30)
    time.sleep(after)
    kill_and_expect_no_descendants(reader)
