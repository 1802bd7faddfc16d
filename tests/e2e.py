"""End-to-end helpers: a desk wired to the real Dovecot and SMTP listener, ``mailproc`` run
as a subprocess the way an operator runs it, and what its database and the servers hold.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import pytest
from sqlalchemy import Engine, create_engine, func, select
from sqlalchemy.orm import Session

from mailproc.config import CONFIG_ENV, DATABASE_URL_ENV, load_config
from mailproc.storage import models as m
from mailproc.storage.db import make_engine
from mailproc.storage.schema import upgrade
from tests.conftest import REPO, write_config
from tests.mails import error_body, mail, screenshot_png

if TYPE_CHECKING:  # loaded as plugins by the test modules
    from tests.dovecot import DovecotAccount
    from tests.smtp_fixtures import SmtpTestServer

PASSWORD_ENV = "MAILPROC_TEST_IMAP_PASSWORD"
COMMAND_TIMEOUT = 120.0

_DELIVERY = """
retry_base_seconds = {retry_base_seconds}
retry_max_seconds = 60
max_attempts = {max_attempts}
"""

_SOURCES = """
[[imap]]
name = "suporte"
host = "{imap_host}"
port = {imap_port}
tls = "none"
user = "{imap_user}"
password_env = "{password_env}"
poll_seconds = {poll_seconds}
idle = {idle}
timeout_seconds = 10

[smtp]
host = "{smtp_host}"
port = {smtp_port}
tls = "none"
from_address = "suporte@compras.example.gov.br"
timeout_seconds = 10

[scheduler]
outbox_seconds = {outbox_seconds}
"""


@dataclass(frozen=True)
class Poll:
    """One finished ``mailproc poll --once --json``: exit code, its report, its log."""

    returncode: int
    report: dict[str, Any]
    stderr: str


@dataclass
class Desk:
    """A configured desk on a fresh SQLite database, reading ``imap`` and answering via ``smtp``.

    The ``[[maildir]]`` source of the shared test config is there too (``maildir``), empty.
    """

    config: Path
    imap: DovecotAccount
    smtp: SmtpTestServer
    password: str
    engine: Engine
    _children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def maildir(self) -> Path:
        return self.config.parent / "inbox"

    @property
    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k != DATABASE_URL_ENV}
        return env | {CONFIG_ENV: str(self.config), PASSWORD_ENV: self.password}

    def command(self, *args: str) -> list[str]:
        return [sys.executable, "-m", "mailproc", *args]

    def poll(self) -> Poll:
        """``mailproc poll --once`` to its end, as cron would run it."""
        done = subprocess.run(
            self.command("poll", "--once", "--json"),
            cwd=REPO,
            env=self.env,
            capture_output=True,
            timeout=COMMAND_TIMEOUT,
            check=False,
        )
        stdout, stderr = done.stdout.decode(), done.stderr.decode()
        assert "Traceback" not in stderr, stderr
        lines = stdout.strip().splitlines()
        assert len(lines) == 1, (done.returncode, stdout, stderr)
        return Poll(done.returncode, json.loads(lines[0]), stderr)

    def spawn(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``mailproc ARGS`` in the background, its output in files (a pipe nobody reads
        could fill up and stall it); ended at teardown if still running."""
        log = self.config.parent / f"child{len(self._children) + 1}.log"
        with log.open("wb") as output:
            child = subprocess.Popen(
                self.command(*args), cwd=REPO, env=self.env, stdout=output, stderr=output
            )
        self._children.append(child)
        return child

    def output(self, child: subprocess.Popen[bytes]) -> str:
        """What a spawned child wrote so far (stdout and stderr together)."""
        number = self._children.index(child) + 1
        return (self.config.parent / f"child{number}.log").read_text(errors="replace")

    def end_children(self) -> None:
        for child in self._children:
            if child.poll() is None:
                child.kill()
            child.wait()

    # -- what the database holds ----------------------------------------------------------

    @contextmanager
    def session(self) -> Iterator[Session]:
        with Session(self.engine) as session:
            yield session

    def count(self, model: type[m.Base], *where: Any) -> int:
        with self.session() as session:
            return session.scalar(select(func.count()).select_from(model).where(*where)) or 0

    def outcomes(self) -> dict[str | None, str]:
        """The recorded outcome of each inbound message, by its Message-ID."""
        with self.session() as session:
            rows = session.execute(select(m.Message.message_id, m.Message.outcome)).all()
        found: dict[str | None, str] = {}
        for message_id, outcome in rows:
            assert message_id is None or message_id not in found, f"{message_id} twice"
            found[message_id] = outcome
        return found

    def ticket_codes(self) -> dict[str, str]:
        """The code of each ticket, by the Message-ID of the mail that opened it."""
        with self.session() as session:
            rows = session.execute(
                select(m.Message.message_id, m.Ticket.code)
                .join(m.Ticket, m.Message.ticket_id == m.Ticket.id)
                .where(m.Message.outcome.in_(["created", "incomplete"]))
            ).all()
        return {str(mid): str(code) for mid, code in rows}

    # -- what the servers hold ------------------------------------------------------------

    def sent_mail(self) -> list[EmailMessage]:
        """Every mail the SMTP listener accepted, parsed: replies and notices to staff."""
        return [parse(received.raw) for received in self.smtp.messages]

    def replies(self) -> list[EmailMessage]:
        """The accepted mail that answers an inbound message (it has an In-Reply-To)."""
        return [mail for mail in self.sent_mail() if mail["In-Reply-To"]]

    def replies_per_message(self) -> Counter[str]:
        """How many replies each inbound Message-ID got (by the replies' In-Reply-To)."""
        return Counter(bare_id(reply["In-Reply-To"]) for reply in self.replies())

    def copies(self) -> Counter[str]:
        """How many times the listener accepted each mail, by the mail's own Message-ID."""
        return Counter(bare_id(mail["Message-ID"]) for mail in self.sent_mail())

    def outbox_ids(self) -> set[str]:
        """The Message-IDs of every mail the outbox holds, whatever its state."""
        with self.session() as session:
            return {bare_id(i) for i in session.scalars(select(m.OutboxMail.message_id))}

    def folder_ids(self, folder: str) -> list[str]:
        """The Message-IDs of the mail in an IMAP folder ("" for mail without one)."""
        return [message_id(raw) for raw in self.imap.messages(folder)]


def build_desk(
    folder: Path,
    imap: DovecotAccount,
    smtp: SmtpTestServer,
    *,
    poll_seconds: int = 60,
    idle: bool = False,
    retry_base_seconds: int = 60,
    max_attempts: int = 10,
    outbox_seconds: int = 15,
    password: str | None = None,
    authentication: str = "",
) -> Desk:
    """A desk in ``folder`` reading ``imap`` and sending to ``smtp``, its database upgraded.

    ``password`` is the one the desk's processes are given (default: the account's);
    ``authentication`` replaces the test desk's ``[authentication]`` table.
    """
    delivery = _DELIVERY.format(retry_base_seconds=retry_base_seconds, max_attempts=max_attempts)
    extra = _SOURCES.format(
        imap_host=imap.host, imap_port=imap.port, imap_user=imap.user,
        password_env=PASSWORD_ENV, poll_seconds=poll_seconds, idle="true" if idle else "false",
        smtp_host=smtp.host, smtp_port=smtp.port, outbox_seconds=outbox_seconds,
    )  # fmt: skip
    config = write_config(folder, "sqlite:///mailproc.db", extra + authentication, delivery)
    with pytest.MonkeyPatch.context() as env:
        env.setenv(PASSWORD_ENV, imap.password)  # load_config reads it
        url = load_config(config).database_url
    schema = make_engine(url)
    upgrade(schema)
    schema.dispose()
    # The test only looks: plain reads, never the BEGIN IMMEDIATE of mailproc's engine,
    # so looking does not hold up the worker being watched.
    engine = create_engine(url, connect_args={"timeout": 10})
    return Desk(config, imap, smtp, password or imap.password, engine)


class DeskFactory(Protocol):
    """make_desk: a new desk with build_desk's keyword options."""

    def __call__(self, **options: Any) -> Desk: ...


@pytest.fixture
def make_desk(
    tmp_path: Path,
    dovecot: DovecotAccount,
    smtp_server: SmtpTestServer,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[DeskFactory]:
    """Build a desk reading the test's Dovecot account and sending to the SMTP listener."""
    desks: list[Desk] = []

    def build(**options: Any) -> Desk:
        folder = tmp_path / f"desk{len(desks) + 1}"
        folder.mkdir()
        monkeypatch.setenv(PASSWORD_ENV, dovecot.password)  # in-process load_config reads it
        desk = build_desk(folder, dovecot, smtp_server, **options)
        desks.append(desk)
        return desk

    yield build
    for desk in desks:
        desk.end_children()
        desk.engine.dispose()


@pytest.fixture
def desk(make_desk: DeskFactory) -> Desk:
    """The usual desk: IMAP polled by ``poll --once``, replies over SMTP."""
    return make_desk()


# -- mail ---------------------------------------------------------------------------------


def parse(raw: bytes) -> EmailMessage:
    parsed = email.message_from_bytes(raw, policy=policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


def bare_id(value: object) -> str:
    return str(value or "").strip().strip("<>")


def message_id(raw: bytes) -> str:
    return bare_id(parse(raw)["Message-ID"])


def complete_report(n: int) -> bytes:
    """A complete SIASG error report from servant ``n`` (own address: no daily reply cap)."""
    return mail(
        f"Erro ao publicar aviso no SIASG ({n})",
        error_body(),
        sender=f"Servidor {n} <servidor{n}@orgao{n % 97}.rj.gov.br>",
        attachments=(("print-erro.png", "image/png", screenshot_png()),),
    )


def report_without_screenshot(n: int) -> bytes:
    return mail(
        f"Erro no SIASG ao homologar ({n})",
        error_body(),
        sender=f"Servidora {n} <servidora{n}@orgao{n % 89}.rj.gov.br>",
    )


def out_of_office(n: int) -> bytes:
    return mail(
        "Resposta automática: Erro no SIASG",
        "Estou fora do escritório até 30/11.",
        sender=f"Ausente {n} <ausente{n}@orgao.rj.gov.br>",
        headers={"Auto-Submitted": "auto-replied"},
    )


# What each kind of mail becomes, and whether it is answered.
KINDS: tuple[tuple[Callable[[int], bytes], str, bool], ...] = (
    (complete_report, "created", True),
    (report_without_screenshot, "incomplete", True),
    (out_of_office, "ignored", False),
)


@dataclass(frozen=True)
class Batch:
    """Numbered mail of several kinds, with what each must become."""

    raws: list[bytes]
    expected: dict[str, str]  # Message-ID -> outcome
    answered: frozenset[str]  # Message-IDs that get exactly one reply

    @classmethod
    def of(cls, size: int, mix: tuple[int, ...] = (6, 3, 1)) -> Batch:
        """``size`` messages, kinds of KINDS in the proportions of ``mix``."""
        cycle = [kind for kind, weight in zip(KINDS, mix, strict=True) for _ in range(weight)]
        raws, expected, answered = [], {}, set()
        for n in range(size):
            build, outcome, replied = cycle[n % len(cycle)]
            raw = build(n)
            raws.append(raw)
            expected[message_id(raw)] = outcome
            if replied:
                answered.add(message_id(raw))
        return cls(raws, expected, frozenset(answered))

    @property
    def ticket_making(self) -> frozenset[str]:
        return frozenset(k for k, v in self.expected.items() if v in ("created", "incomplete"))


def wait_for(condition: Callable[[], bool], timeout: float, step: float = 0.05) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds passed; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(step)
    return True
