"""``mailproc run``: APScheduler drives polling, outbox delivery and upkeep until stopped."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import OperationalError

from mailproc.config import ImapConfig
from mailproc.errors import StoreError
from mailproc.service.app import App
from mailproc.service.poller import PollReport, deliver, poll_maildir, poll_source, stop_on_signals
from mailproc.sources.maildir import MaildirSource
from mailproc.tickets.upkeep import (
    close_expired_incomplete,
    close_unanswered_pending,
    escalate_overdue,
    finish_stray_raws,
    remind_due,
)

log = logging.getLogger(__name__)

# Jobs that were due while the previous run was still going run late rather than never.
MISFIRE_GRACE_SECONDS = 300
# A failing mailbox is retried after poll_seconds, then twice as long each time, up to this.
MAX_BACKOFF_SECONDS = 900.0
# An IDLE window ends this long before the next run is due, so runs never overlap.
WINDOW_MARGIN_SECONDS = 2.0


@dataclass
class Backoff:
    """Exponential backoff for one mailbox: skip runs until ``next_try``."""

    base: float
    failures: int = 0
    next_try: float = 0.0

    def ready(self) -> bool:
        return time.monotonic() >= self.next_try

    def record(self, ok: bool) -> None:
        self.failures = 0 if ok else self.failures + 1
        delay = min(self.base * 2 ** (self.failures - 1), MAX_BACKOFF_SECONDS) if not ok else 0
        self.next_try = time.monotonic() + delay


def _guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
    """A job that logs its failure and lets the next run try again: the process stays up."""

    def run() -> None:
        try:
            job()
        except (StoreError, OperationalError) as exc:
            # The database locked, full or unreachable is the operator's to fix, not a bug:
            # one line per run, without a traceback (or the SQL and its parameters).
            reason = exc.orig if isinstance(exc, OperationalError) else exc
            log.error(
                "job %s: database unavailable: %s; runs again at its next interval", name, reason
            )
        except Exception:
            log.exception("job %s failed; it runs again at its next interval", name)

    return run


def _imap_job(app: App, source: ImapConfig, stopping: threading.Event) -> Callable[[], None]:
    backoff = Backoff(base=source.poll_seconds)
    # With IDLE the job stays connected for the whole interval and answers new mail at once.
    window = max(source.poll_seconds - WINDOW_MARGIN_SECONDS, 0) if source.idle else 0

    def run() -> None:
        if backoff.ready():
            backoff.record(poll_source(app, source, PollReport(), stopping, window))

    return run


def _maildir_job(app: App, source: MaildirSource, stopping: threading.Event) -> Callable[[], None]:
    return lambda: poll_maildir(app, source, PollReport(), stopping)


def _outbox_job(app: App, stopping: threading.Event) -> Callable[[], None]:
    def run() -> None:
        deliver(app, stopping)  # on SIGTERM: the mail in hand, then the claim handed back

    return run


def _housekeeping_job(app: App) -> Callable[[], None]:
    def run() -> None:
        close_expired_incomplete(app.pipeline)
        close_unanswered_pending(app.pipeline)
        finish_stray_raws(app.pipeline)

    return run


def _deadlines_job(app: App) -> Callable[[], None]:
    def run() -> None:
        remind_due(app.pipeline)
        escalate_overdue(app.pipeline)

    return run


def build_scheduler(app: App, stopping: threading.Event) -> BlockingScheduler:
    """One job per source, one for the outbox, one for upkeep; each runs one at a time."""
    scheduler = BlockingScheduler(
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    every, now = app.config.scheduler, datetime.now(UTC)
    jobs: list[tuple[str, Callable[[], None], float]] = [
        (f"imap:{s.name}", _imap_job(app, s, stopping), s.poll_seconds) for s in app.config.imap
    ]
    for config in app.config.maildirs:
        source = MaildirSource(config.name, config.path)
        jobs.append(
            (source.origin, _maildir_job(app, source, stopping), every.maildir_poll_seconds)
        )
    jobs.append(("outbox", _outbox_job(app, stopping), every.outbox_seconds))
    jobs.append(("housekeeping", _housekeeping_job(app), every.housekeeping_seconds))
    jobs.append(("deadlines", _deadlines_job(app), every.deadlines_seconds))
    for name, job, seconds in jobs:
        scheduler.add_job(
            _guarded(name, job), "interval", seconds=seconds, id=name, next_run_time=now
        )
    return scheduler


def run_forever(app: App) -> None:
    """Run until SIGTERM or Ctrl-C; the message in hand is finished, then the jobs stop."""
    stopping = threading.Event()  # the poll jobs stop between two messages
    scheduler = build_scheduler(app, stopping)
    stop_on_signals(stopping, then=lambda: scheduler.shutdown(wait=True))
    log.info(
        "mailproc running: %d IMAP and %d Maildir sources",
        len(app.config.imap),
        len(app.config.maildirs),
    )
    scheduler.start()
    log.info("mailproc stopped")
