"""Reading the configured sources: each message through the pipeline, then acknowledged."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import FrameType
from typing import Self

from sqlalchemy.exc import OperationalError

from mailproc.config import ImapConfig
from mailproc.decision.values import Outcome
from mailproc.mail.parse import parse_ahead
from mailproc.outgoing.delivery import Sender
from mailproc.outgoing.outbox import DeliveryReport, deliver_due
from mailproc.service import metrics
from mailproc.service.app import App
from mailproc.service.parsing import ParseWorker, Stopped
from mailproc.sources.imap import (
    SESSION_QUIET_SECONDS,
    Fetched,
    ImapMailbox,
    ImapUnavailable,
    MailboxCursor,
)
from mailproc.sources.leases import mailbox_lease
from mailproc.sources.maildir import MaildirSource
from mailproc.storage import store
from mailproc.tickets.applying import Result
from mailproc.tickets.pipeline import Pipeline, Stored

log = logging.getLogger(__name__)

# Committed messages are acknowledged (one MOVE) and the cursor saved (one commit) this many
# at a time, not one by one: a crash reads at most this many again, and the raw-bytes dedup
# makes them duplicates. The cursor is saved only after the MOVE, as before.
ACK_BATCH = 50
# A drain that reaches this many messages is a backlog: the outbox is then delivered beside it.
BACKLOG = 32
# Messages are parsed in a worker process (service.parsing: each has a time budget there),
# this many ahead of the one being decided.
PARSE_AHEAD = 64
# The outbox delivered beside a backlog's drain looks again this long after finding nothing due.
ALONGSIDE_PAUSE_SECONDS = 0.1
# Larger messages are parsed in-process: shipping one to the worker and its parts back would
# hold two more copies of it (the memory target is 4x a message's size). Their parse is
# bounded all the same (mail.html_safety, mail.parse.Limits), only not cut short.
PARSE_IN_WORKER_MAX_BYTES = 2 * 1024 * 1024
# A mailbox that cannot be read is tried again this long after, then twice as long each time
# up to RETRY_MAX_SECONDS: mail waiting when the server comes back is read within seconds.
# (An attempt at a server that is down costs a refused connection; one that does not answer
# takes its timeout_seconds anyway.)
RETRY_FIRST_SECONDS = 1.0
RETRY_MAX_SECONDS = 5.0
# A failure that trying again cannot mend (a refused login, an untrusted certificate) would
# fail the same way each time: tried again less often, for the operator to fix.
REFUSED_RETRY_MAX_SECONDS = 900.0


@dataclass
class PollReport:
    processed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)
    errors: dict[str, str] = field(default_factory=dict)

    def count(self, result: Result) -> None:
        self.processed += 1
        self.outcomes[result.outcome.value] += 1
        metrics.MESSAGES.labels(result.outcome.value).inc()

    def as_json(self) -> dict[str, object]:
        return {
            "processed": self.processed,
            "outcomes": dict(sorted(self.outcomes.items())),
            "delivered": self.delivery.sent,
            "delivery_retrying": self.delivery.retrying,
            "delivery_failed": self.delivery.failed,
            "errors": self.errors,
        }


def poll_maildir(
    app: App, source: MaildirSource, report: PollReport, stopping: threading.Event | None = None
) -> None:
    for item in source.pending():
        if stopping is not None and stopping.is_set():
            return
        report.count(app.pipeline.process(item.raw, source.origin))
        source.ack(item)  # only now: process() returned after its commit


def _drain(
    app: App,
    box: ImapMailbox,
    source: ImapConfig,
    report: PollReport,
    stopping: threading.Event | None,
    parsing: ParseAhead,
) -> None:
    name, folder = source.settings.name, source.settings.folder
    origin = f"imap:{name}/{folder}"
    with app.sessions.begin() as session:
        cursor = store.load_cursor(session, name, folder)
    acks = _Acks(app, box, name, folder)
    arrivals = _until(box.fetch_new(cursor), stopping)
    try:
        with DeliveryAlongside(app, report.delivery) as delivery:
            for count, (fetched, result) in enumerate(parsing.run(arrivals, origin), 1):
                acks.add(fetched, quarantine=result.outcome is Outcome.QUARANTINED)
                report.count(result)
                delivery.drained(count)
    finally:
        if box.connected:  # else the failure that closed it is the one to report
            acks.flush()


def _until(fetched: Iterator[Fetched], stopping: threading.Event | None) -> Iterator[Fetched]:
    """The new messages, until a stop is asked for (the ones in hand are still finished)."""
    for message in fetched:
        if stopping is not None and stopping.is_set():
            return
        yield message


@dataclass
class _Acks:
    """Committed messages waiting for their acknowledgement, done ACK_BATCH at a time."""

    app: App
    box: ImapMailbox
    name: str
    folder: str
    uids: dict[bool, list[int]] = field(default_factory=lambda: {False: [], True: []})
    cursor: MailboxCursor | None = None

    def add(self, fetched: Fetched, *, quarantine: bool) -> None:
        self.uids[quarantine].append(fetched.uid)
        self.cursor = fetched.cursor
        if len(self.uids[False]) + len(self.uids[True]) >= ACK_BATCH:
            self.flush()

    def flush(self) -> None:
        for quarantine, uids in self.uids.items():
            if uids:
                self.box.ack_many(uids, quarantine=quarantine)
                uids.clear()
        if self.cursor is not None:
            with self.app.sessions.begin() as session:
                store.save_cursor(session, self.name, self.folder, self.cursor)
            self.cursor = None


class DeliveryAlongside:
    """Delivers the outbox from a thread while a backlog is drained, so that its replies go
    out as it is read rather than after it (the drain of 1,000 messages took 10 s, their
    1,700 replies 4 more). Started once the drain reaches BACKLOG messages; stopped with it,
    after the mail in hand (a delivery run after the drain sends what is left). The thread
    waits for SMTP with the GIL let go, and its transactions queue with the drain's (see
    db._QueuedWriters)."""

    def __init__(self, app: App, report: DeliveryReport) -> None:
        self._app, self._report = app, report
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        if self._thread is not None:
            self._stopping.set()
            self._thread.join()

    def drained(self, count: int) -> None:
        """The drain finished its ``count``-th message."""
        if count == BACKLOG and self._thread is None:
            self._thread = threading.Thread(target=self._deliver, name="outbox-alongside")
            self._thread.start()

    def _deliver(self) -> None:
        try:
            with self._app.sender.batch() as connection:  # one SMTP session for the drain
                while not self._stopping.is_set():
                    delivered = deliver(self._app, self._stopping, connection)
                    self._report.add(delivered)
                    if not delivered.attempted:
                        # A pause, not a wake-up per message: the replies of the messages
                        # read meanwhile then go in a few claims, each a transaction the
                        # drain waits for.
                        self._stopping.wait(ALONGSIDE_PAUSE_SECONDS)
        except OperationalError as exc:  # locked, full or gone: a line, as the command says it
            log.error("delivering while the backlog is read stopped: database error: %s", exc.orig)
        except Exception:  # the drain goes on; what is left goes out after it
            log.exception("delivering while the backlog is read failed")


@dataclass
class _Pending:
    """A fetched message in the parse-ahead window: its raw bytes stored (or its Result
    known already), its parse under way."""

    fetched: Fetched
    raw: bytes
    stored: Stored | Result
    parsed: int | None  # its number at the parse worker


class ParseAhead:
    """Runs fetched messages through the pipeline, parsing them in a worker process.

    The raw bytes of each message are committed before it is parsed, as always; then its
    parse goes to the worker, within the message's time budget (``[limits]
    message_seconds``), while the main process decides and applies the messages before it,
    in order. Results come out in arrival order. Use it as a context manager: the worker
    (started with the first message) ends with it.

    ``stopping`` (SIGTERM) ends the run once the messages in hand are finished; a parse
    still under way seconds later is abandoned (service.parsing.STOP_GRACE_SECONDS): its
    message, and those read after it, keep their raw bytes and no outcome, and the next
    read takes them again.
    """

    def __init__(self, pipeline: Pipeline, stopping: threading.Event | None = None) -> None:
        self.pipeline = pipeline
        self.stopping = stopping
        self.worker = ParseWorker(pipeline.replier.config.message_seconds)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.worker.__exit__(*exc)

    def run(self, arrivals: Iterator[Fetched], origin: str) -> Iterator[tuple[Fetched, Result]]:
        """Each message with its result, in arrival order, each one's outcome committed."""
        window: deque[_Pending] = deque()
        try:
            for fetched in arrivals:
                window.append(self._store(fetched, origin, window))
                while len(window) > PARSE_AHEAD:
                    yield self._finish(window.popleft())
            while window:
                yield self._finish(window.popleft())
        except Stopped:
            log.info("stopping: %d messages left for the next read", len(window) + 1)

    def _store(self, fetched: Fetched, origin: str, window: deque[_Pending]) -> _Pending:
        raw = fetched.raw if fetched.raw is not None else fetched.headers or b""
        full_size = None if fetched.raw is not None else fetched.size  # only its header came
        stored = self.pipeline.store_raw(raw, origin, full_size=full_size)
        if isinstance(stored, Stored) and any(
            isinstance(p.stored, Stored) and p.stored.record.id == stored.record.id for p in window
        ):  # the same bytes twice in the window: the first one gets the outcome
            stored = Result(Outcome.DUPLICATE, reason="the same bytes arrived twice")
        shipped = isinstance(stored, Stored) and len(raw) <= PARSE_IN_WORKER_MAX_BYTES
        return _Pending(fetched, raw, stored, self.worker.submit(raw) if shipped else None)

    def _finish(self, pending: _Pending) -> tuple[Fetched, Result]:
        if isinstance(pending.stored, Result):
            return pending.fetched, pending.stored
        if pending.parsed is None:
            message = parse_ahead(pending.raw)
        else:
            message = self.worker.result(pending.parsed, self.stopping)
        return pending.fetched, self.pipeline.complete(pending.stored, message)


class MailboxReader:
    """Reads one IMAP mailbox again and again, on one logged-in session.

    The session is kept from one read to the next: ``mailproc run`` logs in once, not at
    each poll, and watches an IDLE mailbox on it (each read renews the IDLE, and a long one
    is renewed within RFC 2177's 29 minutes). A session that fails is replaced at once; a
    mailbox that cannot be read is tried again 1 s later, then twice as long each time up to
    RETRY_MAX_SECONDS, so mail waiting when the server comes back is read within seconds.
    Each read's success or failure is recorded as it happens, for ``mailproc status`` and
    the metrics; an outage is logged when it starts and when it ends. Use it as a context
    manager: the session is logged out with it. With several workers on PostgreSQL, a
    mailbox another worker is reading is skipped.
    """

    def __init__(self, app: App, source: ImapConfig) -> None:
        self.app, self.source = app, source
        self.name = source.settings.name
        self._box: ImapMailbox | None = None
        self._retry = Retry()
        self._outage: Outage | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def close(self) -> None:
        box, self._box = self._box, None
        if box is not None:
            box.close()

    def read(
        self,
        report: PollReport,
        stopping: threading.Event | None = None,
        within_seconds: float = 0,
        *,
        idle: bool = False,
    ) -> None:
        """Read the new mail. Within ``within_seconds``, a failure is tried again, and with
        ``idle`` the mailbox is watched: its new mail is read (and answered) as the server
        announces it. Failures are in ``report.errors`` while they last."""
        with mailbox_lease(self.app.engine, self.name) as granted:
            if not granted:
                log.debug("mailbox %s is being read by another worker", self.name)
                self.close()
                return
            deadline = time.monotonic() + within_seconds
            self._read(report, stopping or threading.Event(), deadline, idle)
        if self.source.poll_seconds >= SESSION_QUIET_SECONDS:
            self.close()  # unused until the next read, the server would end it

    def _read(
        self, report: PollReport, stopping: threading.Event, deadline: float, idle: bool
    ) -> None:
        with ParseAhead(self.app.pipeline, stopping) as parsing:
            while not stopping.is_set():
                if self._retry.ready():
                    had_session = self._box is not None and self._box.connected
                    try:
                        self._watch(report, stopping, parsing, deadline, idle)
                        return
                    except ImapUnavailable as exc:
                        if had_session and self._outage is None:
                            # Dropped by the server or the network: a new session, at once.
                            log.debug("mailbox %s: session lost: %s", self.name, exc.reason)
                            continue
                        self._failed(exc, report)
                pause = min(self._retry.next_try, deadline) - time.monotonic()
                if pause <= 0:
                    return
                stopping.wait(pause)

    def _watch(
        self,
        report: PollReport,
        stopping: threading.Event,
        parsing: ParseAhead,
        deadline: float,
        idle: bool,
    ) -> None:
        while True:
            box = self._session()
            before = report.processed
            # Only the reading is timed: waiting in IDLE is not work.
            with metrics.POLL_SECONDS.labels(self.name).time():
                _drain(self.app, box, self.source, report, stopping, parsing)
            self._succeeded(report)
            if not idle:
                return
            if report.processed > before:
                deliver(self.app, stopping)  # answer now, not at the outbox job's next run
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not box.wait_for_news(remaining, stopping):
                return  # the run's time is up, or a stop was asked for (SIGTERM)

    def _session(self) -> ImapMailbox:
        if self._box is None or not self._box.connected:
            self._box = ImapMailbox(self.source.settings).__enter__()  # logs in
        return self._box

    def _succeeded(self, report: PollReport) -> None:
        report.errors.pop(self.name, None)
        self._retry = Retry()
        self._record(None)
        if self._outage is not None:
            took = time.monotonic() - self._outage.since
            log.info("mailbox %s available again after %.0f s", self.name, took)
            self._outage = None

    def _failed(self, error: ImapUnavailable, report: PollReport) -> None:
        metrics.POLL_ERRORS.labels(self.name).inc()
        report.errors[self.name] = error.reason
        self._record(error.reason)
        self._retry.failed(retryable=error.retryable)
        # Logged when the outage starts and when its reason changes, not at every retry.
        level = logging.DEBUG
        if self._outage is None or self._outage.reason != error.reason:
            level = logging.ERROR
            since = self._outage.since if self._outage else time.monotonic()
            self._outage = Outage(error.reason, since)
        log.log(level, "mailbox %s unavailable: %s", self.name, error.reason)

    def _record(self, error: str | None) -> None:
        folder = self.source.settings.folder
        with self.app.sessions.begin() as session:
            store.record_poll(session, self.name, folder, error and error[:2000])


@dataclass
class Retry:
    """When to try a failing mailbox again: RETRY_FIRST_SECONDS after the first failure, then
    twice as long each time, up to RETRY_MAX_SECONDS; a failure that waiting cannot mend (a
    refused login, an untrusted certificate) up to REFUSED_RETRY_MAX_SECONDS."""

    delay: float = 0.0
    next_try: float = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.next_try

    def failed(self, *, retryable: bool) -> None:
        cap = RETRY_MAX_SECONDS if retryable else REFUSED_RETRY_MAX_SECONDS
        self.delay = min(self.delay * 2 or RETRY_FIRST_SECONDS, cap)
        self.next_try = time.monotonic() + self.delay


@dataclass(frozen=True)
class Outage:
    """A mailbox that cannot be read: why, and since when (time.monotonic)."""

    reason: str
    since: float


def poll_once(app: App, stopping: threading.Event | None = None) -> PollReport:
    """Every configured source once, then the outbox; ``stopping`` ends it after the
    message, and the mail, in hand (the rest waits for the next poll)."""
    report = PollReport()
    for config in app.config.maildirs:
        poll_maildir(app, MaildirSource(config.name, config.path), report, stopping)
    for source in app.config.imap:
        with MailboxReader(app, source) as reader:
            reader.read(report, stopping)
    report.delivery.add(deliver(app, stopping))
    return report


def stop_on_signals(stopping: threading.Event, then: Callable[[], None] | None = None) -> None:
    """SIGTERM and Ctrl-C set ``stopping`` (and call ``then``): what is in hand is finished,
    nothing new is started. A kill instead can leave a mail that may have gone out held as
    uncertain, and claimed mail waiting out its lease (docs/operations.md, Delivery after a
    crash)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        if stopping.is_set():  # a second Ctrl-C, or an impatient service manager
            log.info("signal %d: already stopping", signum)
            return
        log.info("signal %d: finishing the message in hand, then stopping", signum)
        stopping.set()
        if then is not None:
            then()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def deliver(
    app: App, stopping: threading.Event | None = None, sender: Sender | None = None
) -> DeliveryReport:
    """Send what is due in the outbox, counting the results for the metrics; ``stopping``
    ends it after the mail in hand. ``sender``: instead of the app's, one already open
    (a ``batch()``)."""
    report = deliver_due(app.sessions, sender or app.sender, app.config.delivery, stopping)
    for result, count in (
        ("sent", report.sent),
        ("retrying", report.retrying),
        ("failed", report.failed),
        ("uncertain", report.uncertain),
    ):
        metrics.DELIVERIES.labels(result).inc(count)
    return report
