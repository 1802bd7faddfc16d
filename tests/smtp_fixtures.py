"""A real SMTP server for tests (aiosmtpd): records every envelope, fails on demand."""

from __future__ import annotations

import base64
import binascii
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HOST = "127.0.0.1"  # "localhost", the default, resolved to ::1 here


@dataclass(frozen=True)
class ReceivedMail:
    """One accepted transaction, as the server saw it."""

    sender: str
    recipients: tuple[str, ...]
    raw: bytes
    mail_options: tuple[str, ...]


class SmtpTestServer:
    """The aiosmtpd handler and what a test sees: address, received mail, failure switches.

    aiosmtpd calls the handle_* hooks from its own thread, hence the lock.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self._lock = threading.Lock()
        self._messages: list[ReceivedMail] = []
        self._fail_code = 0
        self._fail_left: int | None = None  # None: until accept_all()
        self._refused: dict[str, int] = {}
        self._login: tuple[bytes, bytes] | None = None
        # AUTH XOAUTH2: whether a (user, token) is good; None: every token is refused.
        self._token_check: Callable[[str, str], bool] | None = None

    @property
    def messages(self) -> list[ReceivedMail]:
        """A snapshot of the accepted messages, oldest first."""
        with self._lock:
            return list(self._messages)

    def fail_next(self, code: int, count: int = 1) -> None:
        """Answer DATA of the next ``count`` messages with ``code`` (4xx or 5xx)."""
        with self._lock:
            self._fail_code, self._fail_left = code, count

    def reject_all(self, code: int = 550) -> None:
        """Answer DATA of every message with ``code`` until accept_all()."""
        with self._lock:
            self._fail_code, self._fail_left = code, None

    def refuse_recipient(self, address: str, code: int = 550) -> None:
        """Answer RCPT TO for ``address`` with ``code`` until accept_all()."""
        with self._lock:
            self._refused[address] = code

    def set_login(self, user: str, password: str) -> None:
        """The only credentials AUTH accepts until accept_all() (sending needs no login)."""
        with self._lock:
            self._login = (user.encode(), password.encode())

    def accept_tokens(self, check: Callable[[str, str], bool]) -> None:
        """AUTH XOAUTH2 takes the (user, token) pairs ``check`` approves, until accept_all()."""
        with self._lock:
            self._token_check = check

    def accept_all(self) -> None:
        """Forget every failure switch and the login; keep the received messages."""
        with self._lock:
            self._fail_code, self._fail_left = 0, None
            self._refused.clear()
            self._login = None
            self._token_check = None

    def reset(self) -> None:
        """accept_all(), and forget the received messages."""
        self.accept_all()
        with self._lock:
            self._messages.clear()

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        with self._lock:
            code = self._refused.get(address)
        if code:
            return f"{code} Recipient refused by the test server"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self._lock:
            failure = self._take_failure()
            if failure:
                return f"{failure} Failure asked for by the test"
            self._messages.append(
                ReceivedMail(
                    sender=envelope.mail_from or "",
                    recipients=tuple(envelope.rcpt_tos),
                    raw=envelope.original_content or b"",
                    mail_options=tuple(envelope.mail_options),
                )
            )
            # As Postfix does: the name of the mail in the server's own log.
            return f"250 OK queued as {len(self._messages)}"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        with self._lock:
            expected = self._login
        ok = isinstance(data, LoginPassword) and (data.login, data.password) == expected
        # handled=False: aiosmtpd then answers the failure itself (535).
        return AuthResult(success=ok, handled=False)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """SASL XOAUTH2: "user=U^Aauth=Bearer T^A^A", in the initial response (RFC 4954)."""
        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        try:
            text = base64.b64decode(args[1], validate=True).decode()
        except (binascii.Error, UnicodeDecodeError, TypeError):
            return AuthResult(success=False, handled=False)
        fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
        user, token = fields.get("user", ""), fields.get("auth", "").removeprefix("Bearer ")
        with self._lock:
            check = self._token_check
        return AuthResult(success=check is not None and check(user, token), handled=False)

    def _take_failure(self) -> int:
        """The code to answer this message with, or 0; counts the message down."""
        code = self._fail_code
        if code and self._fail_left is not None:
            self._fail_left -= 1
            if self._fail_left <= 0:
                self._fail_code = 0
        return code


def _free_port() -> int:
    # aiosmtpd's readiness check connects to the configured port, so port=0 cannot work.
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="session")
def _smtp_server_running() -> Iterator[SmtpTestServer]:
    server = SmtpTestServer(HOST, _free_port())
    controller = Controller(
        server,
        hostname=server.host,
        port=server.port,
        enable_SMTPUTF8=True,
        authenticator=server.authenticate,
        auth_require_tls=False,  # a plain local server, so that set_login() can be tested
    )
    controller.start()
    yield server
    controller.stop()


@pytest.fixture
def smtp_server(_smtp_server_running: SmtpTestServer) -> SmtpTestServer:
    """A running SMTP server on 127.0.0.1, started once per session, reset for each test."""
    _smtp_server_running.reset()
    return _smtp_server_running
