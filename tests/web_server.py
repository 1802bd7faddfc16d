"""A real desk served by real processes, for the browser tests and the README's screenshots:
``mailproc web`` (waitress) and ``mailproc run`` (the scheduler, which mails the outbox)
started as an operator starts them, on a desk whose mail goes to an SMTP listener that keeps
every message. The desk's queue is filled the way mail arrives: ``mailproc ingest``.

With the browser's side both share: Debian's Chromium (never a downloaded one) driven by
Playwright, a person's browser profile, and the login through the mailed link. Used by
tests/test_web_browser.py and, outside pytest, by scripts/web-screenshots.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, expect

from mailproc.config import CONFIG_ENV, DATABASE_URL_ENV
from tests.conftest import REPO, write_config
from tests.e2e import parse
from tests.mails import error_body, mail, reactivation_body, screenshot_png
from tests.smtp_fixtures import HOST, SmtpTestServer
from tests.threads import plain_text
from tests.web_fixtures import PUBLIC_URL, WEB_TABLE

# How long a mail may take from the desk's outbox to the listener (the scheduler looks
# every second), and a process to start: generous, for a loaded machine.
MAIL_TIMEOUT = 60.0
START_TIMEOUT = 60.0

CHROMIUM = Path(os.environ.get("MAILPROC_TEST_CHROMIUM", "/usr/bin/chromium"))
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# Playwright's own waits (a click's target, an expect): a loaded machine is slow.
BROWSER_TIMEOUT_MS = 30_000
expect.set_options(timeout=BROWSER_TIMEOUT_MS)

# Mail goes to the listener, and the scheduler empties the outbox every second.
_SMTP_AND_SCHEDULER = """
[smtp]
host = "{host}"
port = {port}
tls = "none"
timeout_seconds = 10

[scheduler]
outbox_seconds = 1
"""


@dataclass(frozen=True)
class Request:
    """A requester's mail that opens a ticket."""

    sender: str
    subject: str
    body: str
    screenshot: bool = False

    @property
    def address(self) -> str:
        return self.sender.rpartition("<")[2].rstrip(">")

    def raw(self) -> bytes:
        files = (("print-erro.png", "image/png", screenshot_png()),) if self.screenshot else ()
        return mail(self.subject, self.body, sender=self.sender, attachments=files)


# The queue of the test desk: SIASG errors (the SIASG area's), a reactivation (the UASG
# theme's), one without its screenshot (incomplete). Each subject is unique: tests find
# their ticket by it.
# SEARCHED: a word of one ticket's text only (not its subject), for the queue's search.
SEARCHED = "concorrência"
ANSWERED = Request(
    "Maria Silva <maria.silva@saude.rj.gov.br>",
    "Erro ao publicar aviso no SIASG",
    error_body() + f"O aviso é o da {SEARCHED} eletrônica 12/2026.\n",
    screenshot=True,
)
RESOLVED = Request(
    "Carlos Pereira <carlos.pereira@fazenda.rj.gov.br>",
    "Erro no SIASG ao homologar pregão",
    error_body().replace("Divulgação de Compras", "Homologação"),
    screenshot=True,
)
FOLLOWED = Request(
    "Joana Ribeiro <joana.ribeiro@educacao.rj.gov.br>",
    "Erro ao publicar edital no SIASG",
    error_body().replace("925001", "925077"),
    screenshot=True,
)
REACTIVATION = Request(
    "Paulo Nunes <paulo.nunes@fee.rj.gov.br>", "Reativação de UASG", reactivation_body()
)
INCOMPLETE = Request(
    "Lúcia Andrade <lucia.andrade@cultura.rj.gov.br>",
    "Erro no SIASG ao emitir empenho",
    "Bom dia,\n\nO SIASG dá erro ao emitir o empenho da nota 2026NE000123.",
)
REQUESTS = (ANSWERED, RESOLVED, FOLLOWED, REACTIVATION, INCOMPLETE)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@contextmanager
def smtp_listener() -> Iterator[SmtpTestServer]:
    """An SMTP listener on 127.0.0.1 that accepts and keeps every message."""
    server = SmtpTestServer(HOST, free_port())
    controller = Controller(server, hostname=server.host, port=server.port, enable_SMTPUTF8=True)
    controller.start()
    try:
        yield server
    finally:
        controller.stop()


@dataclass
class ServedDesk:
    """A desk whose web view answers at ``base_url`` and whose mail reaches ``smtp``."""

    base_url: str
    config: Path
    smtp: SmtpTestServer
    tickets: dict[str, str] = field(default_factory=dict)  # ticket code, by subject

    def mails_to(self, address: str) -> list[EmailMessage]:
        """Every mail the listener took for ``address``, oldest first."""
        address = address.lower()
        return [
            parse(received.raw)
            for received in self.smtp.messages
            if address in (r.lower() for r in received.recipients)
        ]

    def wait_for_mail(
        self, address: str, containing: str = "", *, newer_than: int = 0
    ) -> EmailMessage:
        """The newest mail to ``address`` whose text holds ``containing``, waiting for it;
        ``newer_than``: how many mails to ``address`` came before (the one awaited is new)."""
        deadline = time.monotonic() + MAIL_TIMEOUT
        while True:
            mails = self.mails_to(address)[newer_than:]
            found = [m for m in mails if containing in plain_text(m)]
            if found:
                return found[-1]
            if time.monotonic() > deadline:
                seen = [m["Subject"] for m in self.mails_to(address)]
                raise AssertionError(f"no mail to {address} with {containing!r}; saw {seen}")
            time.sleep(0.2)

    def link_in(self, message: EmailMessage, path: str) -> str:
        """The first link of the desk's web view in ``message`` whose path starts ``path``."""
        pattern = re.escape(self.base_url + path) + r"[^\s<>\"')]*"
        found = re.search(pattern, plain_text(message))
        assert found, f"no {self.base_url}{path} link in: {plain_text(message)}"
        return found.group(0)

    def url(self, path: str) -> str:
        return self.base_url + path


def mailproc(config: Path, *args: str) -> str:
    """Run ``mailproc ARGS`` on the desk to its end; its standard output."""
    done = subprocess.run(
        [sys.executable, "-m", "mailproc", "--config", str(config), *args],
        cwd=REPO,
        env=_environment(),
        capture_output=True,
        timeout=START_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, (args, done.stdout, done.stderr)
    return done.stdout.decode()


def _environment() -> dict[str, str]:
    """This environment, without what would point the desk at another config or database."""
    return {k: v for k, v in os.environ.items() if k not in (DATABASE_URL_ENV, CONFIG_ENV)}


def ingest(config: Path, request: Request) -> str:
    """Mail ``request`` to the desk as its MTA hands mail on; the ticket's code."""
    eml = config.parent / "arriving.eml"
    eml.write_bytes(request.raw())
    result = json.loads(mailproc(config, "ingest", str(eml)))
    assert result["ticket"], result
    return str(result["ticket"])


@contextmanager
def serve_desk(
    folder: Path, smtp: SmtpTestServer, database_url: str = "sqlite:///mailproc.db"
) -> Iterator[ServedDesk]:
    """A desk in ``folder`` with the tickets of REQUESTS, its web view and scheduler
    running; both processes are ended (SIGTERM, then waited for) on leaving."""
    port = free_port()
    base_url = f"http://{HOST}:{port}"
    # The [web] table of the view tests, its public URL this server's: mailed links work.
    web = WEB_TABLE.replace(f'"{PUBLIC_URL}"', f'"{base_url}"')
    extra = web + _SMTP_AND_SCHEDULER.format(host=smtp.host, port=smtp.port)
    config = write_config(folder, database_url, extra=extra)
    mailproc(config, "db", "upgrade")
    desk = ServedDesk(base_url, config, smtp)
    desk.tickets = {request.subject: ingest(config, request) for request in REQUESTS}
    children: list[subprocess.Popen[bytes]] = []
    try:
        children.append(_spawn(config, "web", "--address", HOST, "--port", str(port)))
        children.append(_spawn(config, "run"))
        _wait_until_listening(port, children)
        yield desk
    finally:
        _end(children)


def _spawn(config: Path, *args: str) -> subprocess.Popen[bytes]:
    """``mailproc ARGS`` in the background, its output in a file beside the config (a pipe
    nobody reads could fill up and stall it)."""
    log = config.parent / f"{args[0]}.log"
    with log.open("wb") as output:
        return subprocess.Popen(
            [sys.executable, "-m", "mailproc", "--config", str(config), *args],
            cwd=REPO,
            env=_environment(),
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _wait_until_listening(port: int, children: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        ended = [child.args for child in children if child.poll() is not None]
        if ended:
            raise RuntimeError(f"ended at start: {ended}")
        try:
            with socket.create_connection((HOST, port), timeout=1):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"mailproc web is not listening on {port}") from None
            time.sleep(0.1)


def _end(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM, as systemd stops the services; a child that does not stop is killed."""
    for child in children:
        if child.poll() is None:
            child.terminate()
    for child in children:
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()


# -- the browser --------------------------------------------------------------------------


def launch(playwright: Playwright) -> Browser:
    """Debian's Chromium, headless; no sandbox, since the tests may run as root."""
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
    )


def new_context(browser: Browser, **options: Any) -> BrowserContext:
    """A fresh browser profile (no cookies), as a person in Brazil sees the pages."""
    context = browser.new_context(
        viewport=options.pop("viewport", DESKTOP),
        locale="pt-BR",
        timezone_id="America/Sao_Paulo",
        **options,
    )
    context.set_default_timeout(BROWSER_TIMEOUT_MS)
    return context


def log_in(page: Page, desk: ServedDesk, email: str) -> str:
    """Log in as a person does: ask for the link, open it from the mail, press "Entrar".
    The link used."""
    mails_before = len(desk.mails_to(email))
    page.goto(desk.url("/entrar"))
    page.get_by_label("E-mail institucional").fill(email)
    page.get_by_role("button", name="Enviar link de acesso").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Verifique seu e-mail")
    login_mail = desk.wait_for_mail(email, newer_than=mails_before)
    link = desk.link_in(login_mail, "/entrar/")
    page.goto(link)
    page.get_by_role("button", name="Entrar").click()
    return link
