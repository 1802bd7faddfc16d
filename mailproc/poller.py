"""Reading the configured sources: each message through the pipeline, then acknowledged."""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter
from dataclasses import dataclass, field

from mailproc import metrics, store
from mailproc.app import App
from mailproc.config import ImapConfig
from mailproc.decision import Outcome
from mailproc.imap_source import ImapMailbox, ImapUnavailable
from mailproc.leases import mailbox_lease
from mailproc.maildir_source import MaildirSource
from mailproc.outbox import DeliveryReport, deliver_due
from mailproc.pipeline import Result

log = logging.getLogger(__name__)


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


def poll_imap(
    app: App,
    source: ImapConfig,
    report: PollReport,
    stopping: threading.Event | None = None,
    watch_seconds: float = 0,
) -> None:
    """Read one IMAP mailbox's new mail; with ``watch_seconds``, stay connected that long and
    read again whenever the server announces new mail (IDLE), so replies go out at once."""
    settings = source.settings
    deadline = time.monotonic() + watch_seconds
    with ImapMailbox(settings) as box:
        while True:
            before = report.processed
            _drain(app, box, source, report, stopping)
            if watch_seconds and report.processed > before:
                deliver(app)  # answer now, not at the outbox job's next run
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (stopping is not None and stopping.is_set()):
                return
            box.wait_for_news(min(remaining, 60.0), stopping)  # ends early on SIGTERM


def _drain(
    app: App,
    box: ImapMailbox,
    source: ImapConfig,
    report: PollReport,
    stopping: threading.Event | None,
) -> None:
    name, folder = source.settings.name, source.settings.folder
    origin = f"imap:{name}/{folder}"
    with app.sessions.begin() as session:
        cursor = store.load_cursor(session, name, folder)
    for fetched in box.fetch_new(cursor):
        if stopping is not None and stopping.is_set():
            return
        if fetched.raw is not None:
            result = app.pipeline.process(fetched.raw, origin)
        else:  # over the size limit: only the header was downloaded
            result = app.pipeline.process(fetched.headers or b"", origin, full_size=fetched.size)
        box.ack(fetched.uid, quarantine=result.outcome is Outcome.QUARANTINED)
        with app.sessions.begin() as session:
            store.save_cursor(session, name, folder, fetched.cursor)
        report.count(result)


def poll_source(
    app: App,
    source: ImapConfig,
    report: PollReport,
    stopping: threading.Event | None = None,
    watch_seconds: float = 0,
) -> bool:
    """Poll one IMAP mailbox, recording success or the failure; other mailboxes go on.

    With several workers on PostgreSQL, a mailbox another worker is reading is skipped.
    """
    name, folder = source.settings.name, source.settings.folder
    with mailbox_lease(app.engine, name) as granted:
        if not granted:
            log.debug("mailbox %s is being read by another worker", name)
            return True
        try:
            with metrics.POLL_SECONDS.labels(name).time():
                poll_imap(app, source, report, stopping, watch_seconds)
            error = None
        except ImapUnavailable as exc:
            metrics.POLL_ERRORS.labels(name).inc()
            log.error("mailbox %s unavailable: %s", name, exc.reason)
            report.errors[name] = error = exc.reason
        with app.sessions.begin() as session:
            store.record_poll(session, name, folder, error and error[:2000])
        return error is None


def poll_once(app: App) -> PollReport:
    """Every configured source once, then the outbox."""
    report = PollReport()
    for config in app.config.maildirs:
        poll_maildir(app, MaildirSource(config.name, config.path), report)
    for source in app.config.imap:
        poll_source(app, source, report)
    report.delivery = deliver(app)
    return report


def deliver(app: App) -> DeliveryReport:
    """Send what is due in the outbox, counting the results for the metrics."""
    report = deliver_due(app.sessions, app.sender, app.config.delivery)
    for result, count in (
        ("sent", report.sent),
        ("retrying", report.retrying),
        ("failed", report.failed),
    ):
        metrics.DELIVERIES.labels(result).inc(count)
    return report
