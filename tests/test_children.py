"""A killed worker leaves no workers behind (#16 item 8): the processes `mailproc` starts
(the forkserver, its parse worker, multiprocessing's resource tracker) end with it, even
when it is killed with SIGKILL and has no chance to stop them."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest

from mailproc.storage import models as m
from tests.conftest import alive, process_tree
from tests.e2e import Batch, Desk, wait_for


def descendants(pid: int) -> set[int]:
    tree, found, todo = process_tree(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


@pytest.mark.servers
def test_poll_killed_with_sigkill_leaves_none_of_its_processes_behind(desk: Desk) -> None:
    desk.imap.append_many("INBOX", Batch.of(200).raws)
    child = desk.spawn("poll", "--once")
    # Its parse worker is a grandchild: started by the forkserver, a child of the poll.
    worker_up = wait_for(
        lambda: (
            any(descendants(pid) for pid in descendants(child.pid))
            and desk.count(m.RawMessage) >= 5
        ),
        60,
    )
    assert worker_up, desk.output(child)
    started = descendants(child.pid)

    os.kill(child.pid, signal.SIGKILL)
    child.wait()

    assert wait_for(lambda: not any(alive(pid) for pid in started), 5), [
        Path(f"/proc/{pid}/cmdline").read_bytes()[:120] for pid in started if alive(pid)
    ]
