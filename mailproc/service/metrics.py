"""Prometheus metrics: what happened to messages and replies, and the state of the store."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import REGISTRY, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.orm import Session, sessionmaker

from mailproc.storage import models as m
from mailproc.storage.store import count_by

MESSAGES = Counter("mailproc_messages", "Inbound messages by outcome", ["outcome"])
POLL_SECONDS = Histogram(
    "mailproc_poll_duration_seconds",
    "Time to read a mailbox once (including an IDLE window)",
    ["mailbox"],
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300),
)
POLL_ERRORS = Counter("mailproc_poll_errors", "Mailbox reads that failed", ["mailbox"])
DELIVERIES = Counter("mailproc_deliveries", "Outbox deliveries by result", ["result"])


class StoreCollector(Collector):
    """Gauges read from the database at scrape time, so every worker reports the same truth."""

    def __init__(self, sessions: sessionmaker[Session]) -> None:
        self.sessions = sessions

    def collect(self) -> Iterator[GaugeMetricFamily]:
        outbox = GaugeMetricFamily(
            "mailproc_outbox_mail", "Outbox mail by status", labels=["status"]
        )
        tickets = GaugeMetricFamily("mailproc_tickets", "Tickets by state", labels=["state"])
        with self.sessions() as session:
            for status, count in count_by(session, m.OutboxMail.status).items():
                outbox.add_metric([status], count)
            for state, count in count_by(session, m.Ticket.state).items():
                tickets.add_metric([state], count)
        yield outbox
        yield tickets


def serve_metrics(port: int, sessions: sessionmaker[Session]) -> None:
    """Expose /metrics on ``port`` (all interfaces: put it behind the firewall)."""
    REGISTRY.register(StoreCollector(sessions))
    start_http_server(port)
