"""One pass over the configured sources: each message through the pipeline, then acknowledged."""

from __future__ import annotations

import logging
import threading
from collections import Counter
from dataclasses import dataclass, field

from mailproc.app import App
from mailproc.maildir_source import MaildirSource
from mailproc.outbox import DeliveryReport, deliver_due

log = logging.getLogger(__name__)


@dataclass
class PollReport:
    processed: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    delivery: DeliveryReport = field(default_factory=DeliveryReport)

    def as_json(self) -> dict[str, object]:
        return {
            "processed": self.processed,
            "outcomes": dict(sorted(self.outcomes.items())),
            "delivered": self.delivery.sent,
            "delivery_retrying": self.delivery.retrying,
            "delivery_failed": self.delivery.failed,
        }


def poll_maildir(
    app: App, source: MaildirSource, report: PollReport, stopping: threading.Event | None = None
) -> None:
    for item in source.pending():
        if stopping is not None and stopping.is_set():
            return
        result = app.pipeline.process(item.raw, source.origin)
        source.ack(item)  # only now: process() returned after its commit
        report.processed += 1
        report.outcomes[result.outcome.value] += 1


def poll_once(app: App) -> PollReport:
    """Every configured source once, then the outbox."""
    report = PollReport()
    for config in app.config.maildirs:
        poll_maildir(app, MaildirSource(config.name, config.path), report)
    report.delivery = deliver_due(app.sessions, app.sender, app.config.delivery)
    return report
