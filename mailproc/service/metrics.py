"""Prometheus metrics: what happened to messages and replies, and the state of the store."""

from __future__ import annotations

import platform
from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram, Info, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from mailproc import __version__
from mailproc.config import MetricsConfig
from mailproc.errors import MailprocError
from mailproc.storage import models as m
from mailproc.storage.store import count_by

MESSAGES = Counter("mailproc_messages", "Inbound messages by outcome", ["outcome"])
POLL_SECONDS = Histogram(
    "mailproc_poll_duration_seconds",
    "Time to read a mailbox's new mail once: fetching and processing, not waiting in IDLE",
    ["mailbox"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
POLL_ERRORS = Counter("mailproc_poll_errors", "Mailbox reads that failed", ["mailbox"])
DELIVERIES = Counter("mailproc_deliveries", "Outbox deliveries by result", ["result"])
# mailproc_build_info{version, python} 1: which code a worker runs (a deployment check).
BUILD = Info("mailproc_build", "The running mailproc's version and Python's")
BUILD.info({"version": __version__, "python": platform.python_version()})


class StoreCollector(Collector):
    """Gauges read from the database at scrape time, so every worker reports the same truth."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outbox = GaugeMetricFamily(
            "mailproc_outbox_mail", "Outbox mail by status", labels=["status"]
        )
        tickets = GaugeMetricFamily("mailproc_tickets", "Tickets by state", labels=["state"])
        polled = GaugeMetricFamily(
            "mailproc_last_successful_poll_timestamp_seconds",
            "When each mailbox was last read without error (Unix time), by any worker",
            labels=["mailbox"],
        )
        last_polls = select(m.MailboxState.mailbox, func.max(m.MailboxState.last_poll_at))
        with self.sessions() as session:
            for status, count in count_by(session, m.OutboxMail.status).items():
                outbox.add_metric([status], count)
            for state, count in count_by(session, m.Ticket.state).items():
                tickets.add_metric([state], count)
            for mailbox, at in session.execute(last_polls.group_by(m.MailboxState.mailbox)):
                if at is not None:
                    polled.add_metric([mailbox], at.timestamp())
        yield outbox
        yield tickets
        yield polled


def serve_metrics(config: MetricsConfig, sessions: sessionmaker[Session]) -> None:
    """Expose /metrics on ``config``'s address and port (loopback unless configured)."""
    REGISTRY.register(StoreCollector(sessions))
    try:
        start_http_server(config.port, addr=config.address)
    except OSError as exc:
        raise MailprocError(
            f"metrics: cannot listen on {config.address} port {config.port}: {exc.strerror}"
        ) from exc
