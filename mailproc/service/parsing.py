"""The parse stage in a worker process: a time budget per message, abandoned past it, and a
worker that ends with the process that started it, however that one ends.

No library call can be interrupted from inside the process running it (a regular
expression, nh3 or libxml2 holds the thread until it returns), so a parse that must stop is
one running elsewhere. The worker parses the messages it is sent in order and says when it
starts each one; a parse still running ``budget`` seconds after its start is abandoned: the
worker is killed, its message comes back with ``fatal`` set (the pipeline quarantines it
with that reason), and a new worker takes the messages sent after it. ``mail.html_safety``
and the rules keep every known input linear; the budget is for the input nobody has
thought of yet.

A worker gets its own queue and pipe, made new with each worker: one killed while holding
a lock or halfway through a message leaves nothing the next one needs. (pebble's pool,
tried first, shares its channel between workers; a worker killed from outside hung it.)
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any, Self

from mailproc.mail.message import InboundMessage
from mailproc.mail.parse import parse_ahead

log = logging.getLogger(__name__)

# How often a wait for a parse looks whether a stop was asked for (SIGTERM), and how long
# after the stop the parses under way may still end (the messages read ahead are finished
# then, as the message in hand always is); a parse still running after that is abandoned.
STOP_CHECK_SECONDS = 0.2
STOP_GRACE_SECONDS = 2.0
# Beyond its budget, how long a message's parse may take to start: a new worker's start.
START_SECONDS = 15.0
# Linux prctl(2): the signal a process gets when its parent ends.
_PR_SET_PDEATHSIG = 1

Parse = Callable[[bytes], InboundMessage]


class Stopped(Exception):
    """A stop was asked for while a parse was under way: it was abandoned, the message left
    without an outcome (it is read again next time)."""


class _Lost(Exception):
    """A parse that ended with its worker, not with a result."""


class ParseWorker:
    """Parses raw messages in a worker process, each within ``budget`` seconds.

    ``submit`` sends a message and returns its number; ``result`` waits for that message.
    Use it as a context manager: the worker starts with the first message, and ends with
    the block.
    """

    def __init__(self, budget: float, parse: Parse | None = None) -> None:
        self.budget = budget
        self._parse = parse or parse_ahead
        self._numbers = iter(range(1, sys.maxsize))
        self._waiting: dict[int, bytes] = {}  # sent, no result read yet: in order
        self._started: dict[int, float] = {}
        self._done: dict[int, InboundMessage] = {}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._tasks: multiprocessing.queues.Queue[tuple[int, bytes]] | None = None
        self._results: Connection | None = None
        self._stop_deadline: float | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self._end_worker()

    @property
    def started(self) -> bool:
        return self._process is not None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def submit(self, raw: bytes) -> int:
        number = next(self._numbers)
        self._waiting[number] = raw
        if self._process is None:
            self._start_worker()  # it is sent every message waiting
        else:
            assert self._tasks is not None
            self._tasks.put((number, raw))
        return number

    def result(self, number: int, stopping: threading.Event | None = None) -> InboundMessage:
        """The parsed message; raises Stopped when it is not done STOP_GRACE_SECONDS after
        ``stopping`` was set.

        A parse lost with its worker (killed from outside: the OOM killer?) is tried once
        more in a new one.
        """
        for _ in range(2):
            try:
                return self._wait(number, stopping)
            except _Lost as lost:
                log.warning("the parsing process died (%s)", lost)
                self._end_worker()
                self._start_worker()
        self._waiting.pop(number, None)
        return _abandoned("the parsing process died twice on this message")

    def _wait(self, number: int, stopping: threading.Event | None) -> InboundMessage:
        waited_from = time.monotonic()
        while number not in self._done:
            if stopping is not None and stopping.is_set():
                if self._stop_deadline is None:
                    self._stop_deadline = time.monotonic() + STOP_GRACE_SECONDS
                if time.monotonic() > self._stop_deadline:
                    raise Stopped
            if not self._read(STOP_CHECK_SECONDS):
                self._check(number, waited_from)
        return self._done.pop(number)

    def _read(self, timeout: float) -> bool:
        """Take what the worker said, if it said something within ``timeout``."""
        assert self._results is not None
        try:
            if not self._results.poll(timeout):
                return False
            number, started, message = self._results.recv()
        except (EOFError, OSError) as error:
            raise _Lost(f"its pipe closed: {type(error).__name__}") from error
        if message is None:
            self._started[number] = started
        else:
            self._done[number] = message
            self._waiting.pop(number, None)
            self._started.pop(number, None)
        return True

    def _check(self, number: int, waited_from: float) -> None:
        """Abandon the message's parse past its budget; a worker gone or mute is lost."""
        now, started = time.monotonic(), self._started.get(number)
        if started is not None and now > started + self.budget:
            log.warning("a message's parse took over %g s: abandoned", self.budget)
            self._waiting.pop(number)
            self._end_worker()
            self._start_worker()  # for the messages sent after it
            reason = f"parsing took longer than {self.budget:g} s: abandoned"
            self._done[number] = _abandoned(reason)
        elif self._process is not None and not self._process.is_alive():
            raise _Lost(f"exit code {self._process.exitcode}")
        elif started is None and now > waited_from + self.budget + START_SECONDS:
            raise _Lost("no answer")

    def _start_worker(self) -> None:
        # forkserver, not fork: `mailproc run` has threads (scheduler, metrics), and a fork
        # copies whatever lock one of them holds.
        context = multiprocessing.get_context("forkserver")
        self._tasks = context.Queue()
        self._results, sending = context.Pipe(duplex=False)
        self._process = context.Process(
            target=_serve, args=(self._tasks, sending, self._parse), name="mailproc-parse"
        )
        self._process.start()
        sending.close()  # the worker's end only: its death closes the pipe
        self._started.clear()
        for number, raw in self._waiting.items():
            self._tasks.put((number, raw))

    def _end_worker(self) -> None:
        if self._process is None:
            return
        self._process.kill()
        self._process.join()
        assert self._tasks is not None and self._results is not None
        self._tasks.cancel_join_thread()  # what it still had to send is abandoned
        self._tasks.close()
        self._results.close()
        self._process = self._tasks = self._results = None


def _abandoned(reason: str) -> InboundMessage:
    return InboundMessage(sender=None, fatal=reason)


def _serve(tasks: Any, results: Connection, parse: Parse) -> None:
    """The worker: each message's start, then its parse, in the order they come."""
    # A terminal's Ctrl-C reaches every process of its group: when the worker ends is its
    # parent's to say (it finishes the parses in hand, or ends the worker), not a traceback's.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    end_with_parent()
    while True:
        number, raw = tasks.get()
        results.send((number, time.monotonic(), None))
        try:
            message = parse(raw)
        except Exception as error:  # parse_ahead never raises; a parse given may
            message = _abandoned(f"parser failure: {type(error).__name__}")
        results.send((number, None, message))


def end_with_parent() -> None:
    """A worker's first step: it ends when the process that started it ends, even by
    SIGKILL (parse workers left behind held ~30 MB each, forever).

    Its parent in the kernel's eyes is the forkserver (PR_SET_PDEATHSIG covers the
    forkserver's end), but the forkserver lives as long as a worker holds its "alive" pipe:
    an idle worker, waiting on a queue it also holds the writing end of, kept both alive
    for ever. So a thread watches the process that started it (its sentinel closes when
    that process ends, however), and ends the worker then; one that ended before this call
    is seen at once."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0:
            log.warning("prctl(PR_SET_PDEATHSIG) failed: errno %d", ctypes.get_errno())
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_end_after, args=(parent,), daemon=True).start()


def _end_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's sentinel closes: it has ended
    os._exit(1)
