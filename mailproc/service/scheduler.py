"""``mailproc run``: APScheduler drives polling, outbox delivery and upkeep until stopped."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import ExitStack
from datetime import UTC, datetime

from apscheduler.schedulers.blocking import BlockingScheduler
from sqlalchemy.exc import OperationalError

from mailproc.config import ImapConfig
from mailproc.errors import StoreError
from mailproc.service.app import App
from mailproc.service.poller import (
    MailboxReader,
    PollReport,
    deliver,
    poll_maildir,
    stop_on_signals,
)
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
# A mailbox's run ends this long before the next is due, so that runs do not overlap (the
# scheduler would skip one, with a warning) even when mail announced at the end of the run is
# read then. Short: mail arriving in between waits for the next run.
WINDOW_MARGIN_SECONDS = 1.0


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


def _imap_job(
    app: App, source: ImapConfig, stopping: threading.Event, sessions: ExitStack
) -> Callable[[], None]:
    # One session for every run, logged out when the scheduler has stopped.
    reader = sessions.enter_context(MailboxReader(app, source))
    # Each run lasts until the next is due: a failing mailbox is tried again within it,
    # seconds apart, and with IDLE the mailbox is watched, new mail answered at once.
    window = max(source.poll_seconds - WINDOW_MARGIN_SECONDS, 0)
    return lambda: reader.read(PollReport(), stopping, window, idle=source.idle)


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


def build_scheduler(app: App, stopping: threading.Event, sessions: ExitStack) -> BlockingScheduler:
    """One job per source, one for the outbox, one for upkeep; each runs one at a time."""
    scheduler = BlockingScheduler(
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    every, now = app.config.scheduler, datetime.now(UTC)
    # (id, name: what the log lines call the job, the job, its interval)
    jobs: list[tuple[str, str, Callable[[], None], float]] = []
    for s in app.config.imap:
        job = _imap_job(app, s, stopping, sessions)
        jobs.append((f"imap:{s.name}", f"poll imap {s.name}", job, s.poll_seconds))
    for config in app.config.maildirs:
        source = MaildirSource(config.name, config.path)
        job = _maildir_job(app, source, stopping)
        jobs.append((source.origin, f"poll maildir {config.name}", job, every.maildir_poll_seconds))
    jobs += [
        ("outbox", "deliver outbox", _outbox_job(app, stopping), every.outbox_seconds),
        ("housekeeping", "housekeeping", _housekeeping_job(app), every.housekeeping_seconds),
        ("deadlines", "deadlines", _deadlines_job(app), every.deadlines_seconds),
    ]
    for job_id, name, job, seconds in jobs:
        scheduler.add_job(
            _guarded(name, job),
            "interval",
            seconds=seconds,
            id=job_id,
            name=name,
            next_run_time=now,
        )
    return scheduler


def run_forever(app: App) -> None:
    """Run until SIGTERM or Ctrl-C; the message in hand is finished, then the jobs stop."""
    stopping = threading.Event()  # the poll jobs stop between two messages
    with ExitStack() as sessions:  # the mailbox sessions, logged out after the last job
        scheduler = build_scheduler(app, stopping, sessions)
        stop_on_signals(stopping, then=lambda: scheduler.shutdown(wait=True))
        log.info(
            "mailproc running: %d IMAP and %d Maildir sources",
            len(app.config.imap),
            len(app.config.maildirs),
        )
        scheduler.start()
    log.info("mailproc stopped")
