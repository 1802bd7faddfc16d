"""Fault drills (docs/operations.md): the database locked, unreachable or out of disk space,
the mail servers down for a long while, damaged mail. mailproc runs as an operator runs it
(``poll --once`` from cron, ``run`` as a service) against real servers and real files.

The promise under every drill: no message lost (it stays at its source until its outcome is
committed), no reply doubled, and a service that recovers by itself, without a restart.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import ColumnElement, Engine, create_engine, func, make_url, select, text

from mailproc.config import DATABASE_URL_ENV, load_config
from mailproc.errors import DeliveryError
from mailproc.outgoing.outbox import DeliveryReport, deliver_due
from mailproc.service.app import App
from mailproc.service.poller import BACKLOG, DeliveryAlongside
from mailproc.storage import db
from mailproc.storage import models as m
from mailproc.storage.db import make_engine, utcnow
from mailproc.storage.schema import upgrade
from tests.conftest import REPO, write_config
from tests.db_fixtures import POSTGRES_ADMIN_URL
from tests.dovecot import DovecotAccount
from tests.e2e import (
    Batch,
    Desk,
    bare_id,
    complete_report,
    message_id,
    parse,
    report_without_screenshot,
    wait_for,
)
from tests.mails import error_body, mail, screenshot_png
from tests.smtp_fixtures import SmtpTestServer

# How long a drill waits for the service to notice a fault, or to recover from it. The
# SQLite busy timeout alone is 10 s (mailproc.storage.db.SQLITE_BUSY_TIMEOUT_MS).
NOTICE_SECONDS = 60.0

# The service polls its Maildir and delivers every second, so a drill takes seconds.
FAST_SCHEDULE = """
[scheduler]
maildir_poll_seconds = 1
outbox_seconds = 1
"""


@dataclass
class LocalDesk:
    """A desk on ``url`` reading its Maildir ``inbox``; replies go to the outbox Maildir
    unless ``extra`` configures SMTP. ``mailproc`` runs as a subprocess, as in production."""

    config: Path
    url: str
    engine: Engine
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def inbox(self) -> Path:
        return self.config.parent / "inbox"

    def deliver(self, raw: bytes) -> str:
        """Drop a message into the inbox, as the MTA would; returns its Message-ID."""
        new = self.inbox / "new"
        new.mkdir(parents=True, exist_ok=True)
        (new / f"{time.time_ns()}.eml").write_bytes(raw)
        return message_id(raw)

    def waiting(self) -> list[str]:
        """The Message-IDs still in the inbox's new/: not acknowledged."""
        new = self.inbox / "new"
        return sorted(message_id(p.read_bytes()) for p in new.iterdir()) if new.exists() else []

    def replies_per_message(self) -> Counter[str]:
        """How many replies in the outbox Maildir answer each inbound Message-ID."""
        new = self.config.parent / "outbox" / "new"
        mails = [parse(p.read_bytes()) for p in new.iterdir()] if new.exists() else []
        return Counter(bare_id(r["In-Reply-To"]) for r in mails if r["In-Reply-To"])

    def count(self, model: type[m.Base], *where: ColumnElement[bool]) -> int:
        with self.engine.connect() as connection:
            query = select(func.count()).select_from(model).where(*where)
            return connection.scalar(query) or 0

    def env(self, **extra: str) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV} | extra

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mailproc", "--config", str(self.config), *args]

    def poll(self, **env: str) -> subprocess.CompletedProcess[str]:
        """``mailproc poll --once --json`` to its end, as cron runs it."""
        return subprocess.run(
            self.command("poll", "--once", "--json"),
            cwd=REPO,
            env=self.env(**env),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def start_service(self, **env: str) -> subprocess.Popen[bytes]:
        """``mailproc run``, once it logged that it is running; output to a file."""
        log = self.config.parent / f"run{len(self._children) + 1}.log"
        with log.open("wb") as output:
            child = subprocess.Popen(
                self.command("--log-level", "info", "run"),
                cwd=REPO,
                env=self.env(**env),
                stdout=output,
                stderr=output,
            )
        self._children.append(child)
        running = wait_for(lambda: "mailproc running" in self.output(child), 30, step=0.1)
        assert running and child.poll() is None, self.output(child)
        return child

    def output(self, child: subprocess.Popen[bytes]) -> str:
        number = self._children.index(child) + 1
        return (self.config.parent / f"run{number}.log").read_text(errors="replace")

    def stop(self, child: subprocess.Popen[bytes]) -> str:
        """SIGTERM; a clean exit (0, no traceback) is part of every drill. Returns the log."""
        child.send_signal(signal.SIGTERM)
        assert child.wait(timeout=60) == 0, self.output(child)
        output = self.output(child)
        assert "Traceback" not in output, output
        return output

    def end(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.wait()
        self.engine.dispose()


LocalDeskFactory = Callable[..., LocalDesk]


@pytest.fixture
def local_desk(tmp_path: Path) -> Iterator[LocalDeskFactory]:
    """Build a desk in its own folder on an upgraded database (SQLite unless ``url``)."""
    desks: list[LocalDesk] = []

    def build(url: str | None = None, extra: str = FAST_SCHEDULE, delivery: str = "") -> LocalDesk:
        folder = tmp_path / f"desk{len(desks) + 1}"
        folder.mkdir(exist_ok=True)
        url = url or f"sqlite:///{folder / 'mailproc.db'}"
        schema = make_engine(url)
        upgrade(schema)
        schema.dispose()
        # The drills only look: plain reads, never mailproc's BEGIN IMMEDIATE, which would
        # queue behind the very lock a drill holds.
        observer = create_engine(url) if url.startswith("sqlite") else make_engine(url)
        desk = LocalDesk(write_config(folder, url, extra, delivery), url, observer)
        desks.append(desk)
        return desk

    yield build
    for desk in desks:
        desk.end()


def sqlite_file(desk: LocalDesk) -> Path:
    return Path(make_url(desk.url).database or "")


@contextmanager
def write_locked(database: Path) -> Iterator[None]:
    """Another program holds SQLite's write lock (a backup tool, a stuck sqlite3 shell)."""
    other = sqlite3.connect(database, isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


def all_sent(desk: LocalDesk) -> bool:
    """The outbox holds mail, and all of it was sent."""
    return 0 < desk.count(m.OutboxMail) == desk.count(m.OutboxMail, m.OutboxMail.status == "sent")


def assert_answered_once(desk: LocalDesk, ids: Sequence[str]) -> None:
    assert desk.waiting() == []
    assert desk.replies_per_message() == Counter(ids)
    assert desk.count(m.Message) == len(ids)


# -- the database locked (SQLite) -----------------------------------------------------------


@pytest.mark.slow
def test_a_poll_against_a_locked_database_exits_3_and_the_next_poll_answers_once(
    local_desk: LocalDeskFactory,
) -> None:
    desk = local_desk()
    sent = desk.deliver(complete_report(1))

    with write_locked(sqlite_file(desk)):  # from before the poll: it stops at start-up
        locked = desk.poll()

    assert locked.returncode == 3, locked.stderr
    assert "mailproc: database error" in locked.stderr
    assert "database is locked" in locked.stderr
    assert "Traceback" not in locked.stderr
    assert desk.waiting() == [sent]  # not acknowledged
    assert desk.replies_per_message() == Counter()

    after = desk.poll()

    assert after.returncode == 0, after.stderr
    assert '"created": 1' in after.stdout
    assert_answered_once(desk, [sent])


@pytest.mark.slow
def test_the_service_waits_out_a_locked_database_and_answers_once_it_is_released(
    local_desk: LocalDeskFactory,
) -> None:
    desk = local_desk()
    child = desk.start_service()

    def refused_the_message() -> bool:
        return any(
            "job poll maildir local: database unavailable" in line and "database is locked" in line
            for line in desk.output(child).splitlines()
        )

    with write_locked(sqlite_file(desk)):
        sent = desk.deliver(complete_report(2))
        assert wait_for(refused_the_message, NOTICE_SECONDS), desk.output(child)
        assert child.poll() is None
        assert desk.waiting() == [sent]
    answered = wait_for(lambda: bool(desk.replies_per_message()), NOTICE_SECONDS)
    output = desk.stop(child)

    assert answered, output
    assert_answered_once(desk, [sent])


def imap_processed(desk: Desk) -> int:
    return desk.count(m.RawMessage, m.RawMessage.outcome.is_not(None))


@pytest.mark.servers
@pytest.mark.slow
def test_a_database_locked_mid_batch_stops_the_poll_and_the_next_poll_finishes_it(
    desk: Desk,
) -> None:
    batch = Batch.of(60)  # enough that the lock lands mid-batch on a fast machine too
    desk.imap.append_many("INBOX", batch.raws)

    child = desk.spawn("poll", "--once", "--json")
    assert wait_for(lambda: imap_processed(desk) >= 5, NOTICE_SECONDS), desk.output(child)
    with write_locked(desk.config.parent / "mailproc.db"):
        code = child.wait(timeout=NOTICE_SECONDS)
    output = desk.output(child)

    assert code == 3, output
    assert "mailproc: database error" in output and "database is locked" in output, output
    assert "Traceback" not in output, output
    done, waiting = desk.folder_ids("Processados"), desk.folder_ids("INBOX")
    assert 0 < len(done) < len(batch.raws)
    assert set(done) == set(desk.outcomes())  # moved only after its outcome was committed
    assert sorted(done + waiting) == sorted(batch.expected)

    again = desk.poll()

    assert again.returncode == 0, again.stderr
    assert desk.outcomes() == batch.expected
    assert desk.replies_per_message() == Counter(batch.answered)
    assert desk.imap.messages("INBOX") == []


def test_delivery_beside_a_backlog_stopped_by_a_locked_database_logs_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # What the drill above sees on a loaded machine, made certain: the delivery thread, not
    # the drain, meets the lock; its operator reads one line, as the command writes it.
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)  # locked in a blink, not 10 s
    app = App(load_config(write_config(tmp_path, "sqlite:///mailproc.db")))
    upgrade(app.engine)

    with write_locked(tmp_path / "mailproc.db"), DeliveryAlongside(app, DeliveryReport()) as it:
        it.drained(BACKLOG)
        assert wait_for(lambda: "database is locked" in caplog.text, NOTICE_SECONDS)

    [stopped] = [r for r in caplog.records if r.name == "mailproc.service.poller"]
    assert stopped.levelno == logging.ERROR and stopped.exc_info is None
    assert stopped.getMessage() == (
        "delivering while the backlog is read stopped: database error: database is locked"
    )


# -- the database unreachable (PostgreSQL) --------------------------------------------------


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@contextmanager
def connections_refused(url: str) -> Iterator[None]:
    """PostgreSQL refuses every connection to the database of ``url`` and ends the open
    ones, as when the server restarts or a failover is under way; the server itself (which
    other tests use) keeps running."""
    name = make_url(url).database
    admin = make_engine(POSTGRES_ADMIN_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
        connection.execute(
            text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"),
            {"n": name},
        )
    try:
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


@pytest.mark.servers
def test_a_poll_with_postgresql_unreachable_exits_3_and_loses_nothing(
    local_desk: LocalDeskFactory, postgres_url: str
) -> None:
    desk = local_desk(postgres_url)
    sent = desk.deliver(complete_report(3))
    nowhere = make_url(postgres_url).set(port=closed_port()).render_as_string(False)

    down = desk.poll(**{DATABASE_URL_ENV: nowhere})

    assert down.returncode == 3, down.stderr
    assert "cannot reach the database" in down.stderr and "refused" in down.stderr
    assert "Traceback" not in down.stderr
    assert desk.waiting() == [sent]

    back = desk.poll()

    assert back.returncode == 0, back.stderr
    assert_answered_once(desk, [sent])


@pytest.mark.servers
@pytest.mark.slow
def test_the_service_rides_out_postgresql_refusing_connections_and_recovers_by_itself(
    local_desk: LocalDeskFactory, postgres_url: str
) -> None:
    desk = local_desk(postgres_url)
    child = desk.start_service()
    before = desk.deliver(complete_report(4))
    assert wait_for(lambda: bool(desk.replies_per_message()), NOTICE_SECONDS), desk.output(child)
    desk.engine.dispose()  # the observer's connections would be ended anyway

    with connections_refused(postgres_url):
        during = desk.deliver(complete_report(5))
        refused = "is not currently accepting connections"
        noticed = wait_for(lambda: desk.output(child).count(refused) >= 2, NOTICE_SECONDS)
        assert noticed, desk.output(child)
        assert child.poll() is None
        assert during in desk.waiting()
    answered = wait_for(lambda: len(desk.replies_per_message()) == 2, NOTICE_SECONDS)
    output = desk.stop(child)

    assert answered, output
    assert "database unavailable" in output
    assert_answered_once(desk, [before, during])


# -- the disk full while storing an attachment ----------------------------------------------


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 64 MB file system (tmpfs) for the database: filling it gives a real ENOSPC."""
    mount = tmp_path / "small-disk"
    mount.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs (needs root): {done.stderr.strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", str(mount)], check=False)


def fill(disk: Path, leave_bytes: int) -> Path:
    """Take all the free space of ``disk`` but ``leave_bytes``, with a file to delete later."""
    free = shutil.disk_usage(disk).free
    filler = disk / "filler"
    with filler.open("wb") as out:
        chunk = b"\0" * (1024 * 1024)
        left = free - leave_bytes
        while left > 0:
            left -= out.write(chunk[: min(left, len(chunk))])
    return filler


def report_with_log_file(n: int, size: int) -> bytes:
    """A complete error report that also attaches a large (incompressible) log export."""
    return mail(
        f"Erro ao publicar aviso no SIASG ({n})",
        error_body(),
        sender=f"Servidor {n} <servidor{n}@orgao.rj.gov.br>",
        attachments=(
            ("print-erro.png", "image/png", screenshot_png()),
            ("log-siasg.zip", "application/zip", os.urandom(size)),
        ),
    )


@pytest.mark.slow
def test_a_full_disk_keeps_the_mail_waiting_and_the_service_answers_once_space_is_freed(
    local_desk: LocalDeskFactory, small_disk: Path
) -> None:
    desk = local_desk(f"sqlite:///{small_disk / 'mailproc.db'}")
    child = desk.start_service()
    filler = fill(small_disk, leave_bytes=1024 * 1024)

    sent = desk.deliver(report_with_log_file(6, size=3 * 1024 * 1024))
    full = "database or disk is full"
    noticed = wait_for(lambda: desk.output(child).count(full) >= 2, NOTICE_SECONDS)

    assert noticed, desk.output(child)
    assert child.poll() is None
    assert desk.waiting() == [sent]
    # Nothing claims success: no outcome, no reply queued, no mail written.
    assert desk.count(m.RawMessage, m.RawMessage.outcome.is_not(None)) == 0
    assert desk.count(m.OutboxMail) == 0
    assert desk.replies_per_message() == Counter()

    filler.unlink()
    answered = wait_for(lambda: all_sent(desk), NOTICE_SECONDS)
    time.sleep(2)  # two more delivery runs: a second copy would show up now
    output = desk.stop(child)

    assert answered, output
    assert_answered_once(desk, [sent])  # the reply; the routing mail went to the area
    with desk.engine.connect() as connection:
        stored = connection.scalars(select(m.Attachment.size)).all()
    assert sorted(stored, reverse=True)[0] == 3 * 1024 * 1024  # the file, whole


# -- the mail servers down for an hour ------------------------------------------------------


class RefusingRelay:
    """An SMTP relay that answers every mail with a temporary refusal, as a relay that is
    down behind a load balancer does (421)."""

    def __init__(self) -> None:
        self.attempts = 0

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> None:
        self.attempts += 1
        raise DeliveryError("SMTP relay: 421 service not available", permanent=False)

    @contextmanager
    def batch(self) -> Iterator[RefusingRelay]:
        yield self


def test_with_the_default_schedule_a_reply_refused_for_an_hour_is_still_pending(
    app: App,
) -> None:
    """The outbox schedule itself, with the shipped [delivery] defaults: each refusal sets
    the reply's next attempt, and the clock is moved there instead of waiting."""
    assert app.pipeline.process(report_without_screenshot(7), "drill").replies == 1
    relay, waited = RefusingRelay(), timedelta()
    while True:
        deliver_due(app.sessions, relay, app.config.delivery)
        with app.sessions.begin() as session:
            reply = session.scalars(select(m.OutboxMail)).one()
            if reply.status != "pending":
                break
            waited += reply.next_attempt_at - utcnow()
            reply.next_attempt_at = utcnow()  # the clock moved on to the next attempt

    assert waited > timedelta(hours=1), f"given up after {waited} of refusals"
    assert relay.attempts == reply.attempts == app.config.delivery.max_attempts
    assert reply.status == "failed"


@dataclass
class LaterRelay:
    """The SMTP listener of a relay that is down now and comes back when the test says."""

    server: SmtpTestServer
    controller: Controller | None = None

    def start(self) -> None:
        server = self.server
        self.controller = Controller(
            server, hostname=server.host, port=server.port, enable_SMTPUTF8=True
        )
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()


@pytest.fixture
def relay_down() -> Iterator[LaterRelay]:
    relay = LaterRelay(SmtpTestServer("127.0.0.1", closed_port()))
    yield relay
    relay.stop()


MAIL_SERVERS = """
[[imap]]
name = "suporte"
host = "{imap.host}"
port = {imap.port}
tls = "none"
user = "{imap.user}"
password_env = "MAILPROC_DRILL_IMAP_PASSWORD"
poll_seconds = 1
timeout_seconds = 5

[smtp]
host = "{smtp.host}"
port = {smtp.port}
tls = "none"
from_address = "suporte@compras.example.gov.br"
timeout_seconds = 5

[scheduler]
outbox_seconds = 1
"""


@pytest.mark.servers
@pytest.mark.slow
def test_with_imap_and_smtp_down_the_service_retries_and_answers_once_when_they_return(
    local_desk: LocalDeskFactory, dovecot: DovecotAccount, relay_down: LaterRelay
) -> None:
    """Compressed time: seconds of backoff stand for the hour; the schedule test above shows
    that the shipped settings keep a reply pending through a real hour."""
    waiting = complete_report(8)
    dovecot.append("INBOX", waiting)
    dovecot.stop()
    desk = local_desk(
        extra=MAIL_SERVERS.format(imap=dovecot, smtp=relay_down.server),
        delivery="retry_base_seconds = 1\nretry_max_seconds = 2\nmax_attempts = 100",
    )
    child = desk.start_service(MAILPROC_DRILL_IMAP_PASSWORD=dovecot.password)

    refused = "mailbox suporte unavailable"
    assert wait_for(lambda: refused in desk.output(child), NOTICE_SECONDS), desk.output(child)
    time.sleep(4)  # tried again 1, 2 and 4 s later: logged once, as one outage
    assert desk.output(child).count(refused) == 1, desk.output(child)
    dovecot.start()
    processed = wait_for(lambda: desk.count(m.Message) == 1, NOTICE_SECONDS)
    assert processed, desk.output(child)
    retried = wait_for(
        lambda: desk.count(m.OutboxMail, m.OutboxMail.attempts >= 3) == desk.count(m.OutboxMail),
        NOTICE_SECONDS,
    )
    assert retried, desk.output(child)
    assert desk.count(m.OutboxMail, m.OutboxMail.status.in_(("sent", "failed"))) == 0
    relay_down.start()
    delivered = wait_for(lambda: all_sent(desk), NOTICE_SECONDS)
    time.sleep(2)  # two more delivery runs: a second copy would show up now
    output = desk.stop(child)

    assert delivered, output
    assert "Connection refused" in output
    copies = Counter(bare_id(parse(r.raw)["Message-ID"]) for r in relay_down.server.messages)
    assert set(copies.values()) == {1} and len(copies) == desk.count(m.OutboxMail)
    replies = [parse(r.raw) for r in relay_down.server.messages]
    assert [bare_id(r["In-Reply-To"]) for r in replies if r["In-Reply-To"]] == [message_id(waiting)]
    assert dovecot.messages("INBOX") == []


# -- damaged mail ---------------------------------------------------------------------------


def damaged_report() -> bytes:
    """A complete error report whose header is damaged in ways real clients damage it."""
    raw = complete_report(9)
    return raw.replace(
        b"To: ", b"Cc: Jo\xc3\xa3o da Silva <joao.silva@>\nDate: ontem de tarde\nTo: ", 1
    ).replace(b"Date: Fri", b"X-Old-Date: Fri", 1)


def test_damaged_mail_gets_its_outcome_its_defects_on_record_and_one_log_line(
    app: App, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="mailproc.tickets.pipeline"):
        result = app.pipeline.process(damaged_report(), "drill")

    assert result.outcome.value == "created"
    with app.sessions() as session:
        event = session.scalars(select(m.Event).filter_by(kind="parse_defects")).one()
        assert event.ticket is not None and event.ticket.code == result.ticket
        defects = event.detail["defects"]
    assert any("unreadable Date" in d and "ontem de tarde" in d for d in defects)
    assert any("unusable address in cc" in d for d in defects)
    lines = [r.getMessage() for r in caplog.records if "MIME defects" in r.getMessage()]
    assert len(lines) == 1
    assert f"{len(defects)} MIME defects" in lines[0]
    assert "unreadable Date" in lines[0] and "unusable address in cc" in lines[0]
    for personal in ("João", "joao.silva", "ontem"):
        assert personal not in lines[0]
