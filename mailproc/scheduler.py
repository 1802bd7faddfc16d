"""``mailproc run``: APScheduler drives polling, outbox delivery and upkeep until stopped."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler

from mailproc.app import App
from mailproc.housekeeping import close_expired_incomplete, finish_stray_raws
from mailproc.maildir_source import MaildirSource
from mailproc.outbox import deliver_due
from mailproc.poller import PollReport, poll_maildir

log = logging.getLogger(__name__)

# Jobs that were due while the previous run was still going run late rather than never.
MISFIRE_GRACE_SECONDS = 300


def _guarded(name: str, job: Callable[[], object]) -> Callable[[], None]:
    """A job that logs its failure and lets the next run try again: the process stays up."""

    def run() -> None:
        try:
            job()
        except Exception:
            log.exception("job %s failed; it runs again at its next interval", name)

    return run


def build_scheduler(app: App, stopping: threading.Event) -> BlockingScheduler:
    scheduler = BlockingScheduler(
        job_defaults={
            "coalesce": True,
            "max_instances": 1,
            "misfire_grace_time": MISFIRE_GRACE_SECONDS,
        },
    )
    every = app.config.scheduler
    for config in app.config.maildirs:
        source = MaildirSource(config.name, config.path)
        scheduler.add_job(
            _guarded(source.origin, lambda s=source: poll_maildir(app, s, PollReport(), stopping)),
            "interval",
            seconds=every.maildir_poll_seconds,
            id=source.origin,
            next_run_time=datetime.now(UTC),
        )
    scheduler.add_job(
        _guarded("outbox", lambda: deliver_due(app.sessions, app.sender, app.config.delivery)),
        "interval",
        seconds=every.outbox_seconds,
        id="outbox",
        next_run_time=datetime.now(UTC),
    )
    for name, job in (
        ("close-incomplete", close_expired_incomplete),
        ("stray-raws", finish_stray_raws),
    ):
        scheduler.add_job(
            _guarded(name, lambda j=job: j(app.pipeline)),
            "interval",
            seconds=every.housekeeping_seconds,
            id=name,
        )
    return scheduler


def run_forever(app: App) -> None:
    """Run until SIGTERM or Ctrl-C; the message in hand is finished, then the jobs stop."""
    stopping = threading.Event()
    scheduler = build_scheduler(app, stopping)

    def stop(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: finishing the message in hand, then stopping", signum)
        stopping.set()  # the poll jobs stop between two messages
        scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("mailproc running: %d maildir sources", len(app.config.maildirs))
    scheduler.start()
    log.info("mailproc stopped")
