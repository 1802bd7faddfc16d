"""Sending built replies: over SMTP, or into a Maildir when no SMTP server is configured."""

from __future__ import annotations

import contextlib
import logging
import mailbox
import smtplib
import ssl
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from mailproc.credentials import Password, reveal
from mailproc.errors import ConfigError, DeliveryError, OAuthError
from mailproc.oauth2.tokens import TokenCache
from mailproc.tls import TLS_MODES, TlsMode

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer

log = logging.getLogger(__name__)


class Sender(Protocol):
    """Hands one built e-mail to its recipients and returns what took it, for the log (an
    SMTP server's answer to DATA, the Maildir file written); raises DeliveryError when it
    cannot.

    ``batch()`` gives a sender for several mails in a row that may share resources (one SMTP
    connection); it is for one thread, and the resources are released when it closes.
    """

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str: ...

    def batch(self) -> AbstractContextManager[Sender]: ...


class SmtpSender:
    """Sends through an SMTP relay: one connection per message, or per ``batch()``.

    Failures are classified for the outbox: a 5xx answer (sender, recipients, data or
    credentials refused) or a missing capability we need is permanent; 4xx answers and
    network trouble (refused, reset, timed out, TLS handshake) are temporary.
    """

    def __init__(
        self,
        host: str,
        port: int,
        tls: TlsMode,
        user: str | None,
        password: Password | None,
        timeout: float = 30,
        oauth2: TokenCache | None = None,
    ) -> None:
        """With ``oauth2``, ``user`` logs in by AUTH XOAUTH2 with its tokens, not a password."""
        # Checked here too: a misspelt mode must not quietly mean "no TLS".
        if tls not in TLS_MODES:
            raise ValueError(f"unknown SMTP tls mode {tls!r}; expected one of {TLS_MODES}")
        self._host, self._port, self._tls = host, port, tls
        self._user, self._password, self._oauth2 = user, password, oauth2
        self._timeout = timeout
        # Built once: loading the CA store is the costly part of a TLS context.
        self._context = ssl.create_default_context() if tls != "none" else None

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        with self.batch() as connection:
            return connection.send(raw, sender, recipients)

    @contextlib.contextmanager
    def batch(self) -> Iterator[Sender]:
        """A sender whose mails share one connection, opened at its first mail and closed
        (QUIT) at the end: a connection costs four round trips and, with TLS, a handshake.
        After a failed transaction the next mail opens a new connection."""
        connection = _SmtpConnection(self)
        try:
            yield connection
        finally:
            connection.close()

    def _connect(self) -> _Smtp:
        """A connection ready for MAIL FROM: TLS started and logged in as configured."""
        secret = self._secret()
        smtp: _Smtp
        if self._tls == "ssl":
            smtp = _SmtpSsl(self._host, self._port, timeout=self._timeout, context=self._context)
        else:
            smtp = _Smtp(self._host, self._port, timeout=self._timeout)
        try:
            if self._tls == "starttls":
                smtp.starttls(context=self._context)
            if secret is not None:
                self._log_in(smtp, secret)
        except BaseException:
            smtp.close()
            raise
        return smtp

    def _secret(self) -> str | None:
        """The password (or OAuth 2.0 token), read now: a command that sends nothing runs
        without its variable. Unset, the mail waits in the outbox (a temporary failure)
        until the operator sets it; a token the provider will not give (the client revoked)
        fails like a wrong password."""
        if self._user is None:
            return None
        try:
            return self._oauth2.token() if self._oauth2 else reveal(self._password or "")
        except ConfigError as exc:
            raise DeliveryError(f"{self._where}: login: {exc}", permanent=False) from exc
        except OAuthError as exc:
            reason = f"{self._where}: login: {exc}"
            raise DeliveryError(reason, permanent=not exc.retryable) from exc

    def _log_in(self, smtp: _Smtp, secret: str) -> None:
        """AUTH with the password, or XOAUTH2 with the token: a refused token is renewed
        once (it may have been revoked before its time), then refused like a password."""
        assert self._user is not None
        if self._oauth2 is None:
            smtp.login(self._user, secret)
            return
        try:
            _xoauth2(smtp, self._user, secret)
        except smtplib.SMTPAuthenticationError:
            log.info("%s: token refused, asking for a new one", self._where)
            try:
                fresh = self._oauth2.renew()
            except (OAuthError, ConfigError) as exc:
                reason = f"{self._where}: login: token refused, and no new one: {exc}"
                permanent = isinstance(exc, OAuthError) and not exc.retryable
                raise DeliveryError(reason, permanent=permanent) from exc
            _xoauth2(smtp, self._user, fresh)

    @property
    def _where(self) -> str:
        return f"SMTP {self._host}:{self._port}"


class _SmtpConnection:
    """The sender of one ``SmtpSender.batch()``: one thread, one connection at a time."""

    def __init__(self, relay: SmtpSender) -> None:
        self._relay = relay
        self._smtp: _Smtp | None = None

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        where = self._relay._where
        try:
            refused, answer = self._transact(raw, sender, list(recipients))
        except OSError as exc:  # smtplib's own exceptions are OSErrors too
            # Whatever state the session is in now, the next mail starts on a fresh one.
            self.close()
            raise _classify(where, exc) from exc
        if refused:
            # Some recipients took it: retrying would send them a second copy.
            log.warning("%s delivered, but refused some recipients: %s", where, refused)
        return answer

    def batch(self) -> AbstractContextManager[Sender]:
        return contextlib.nullcontext(self)

    def _transact(
        self, raw: bytes, sender: str, recipients: list[str]
    ) -> tuple[dict[str, tuple[int, bytes]], str]:
        """The recipients refused, and the server's answer to DATA."""
        if self._smtp is None:
            self._smtp = self._relay._connect()
        # SMTPUTF8 asked of a server without it fails in sendmail (SMTPNotSupportedError)
        # before anything is sent.
        options = _mail_options(raw, sender, recipients)
        refused = self._smtp.sendmail(sender, recipients, raw, mail_options=options)
        return refused, self._smtp.data_answer

    def close(self) -> None:
        """QUIT and close; the mails are handed over (or not) by now, so a failing QUIT
        changes nothing. Safe to repeat."""
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        with contextlib.suppress(smtplib.SMTPException, OSError):
            smtp.quit()
        smtp.close()


# DATA is written in pieces of about this size, each ending at a line end.
DATA_PIECE = 64 * 1024


class _Smtp(smtplib.SMTP):
    """smtplib's client, writing DATA in pieces: ``SMTP.data`` builds two more whole copies
    of the message (dot-stuffed, then with the final "."), 52 MB for a 26 MB routed copy.
    Everything else (envelope, SMTPUTF8, errors) is smtplib's own ``sendmail``, which does
    not return the server's answer to DATA ("250 2.0.0 Ok: queued as 4Fz..."): kept in
    ``data_answer``, the relay's name for the mail in its own log."""

    data_answer = ""

    def data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        code, reply = self._data(msg)
        self.data_answer = " ".join(f"{code} {_text(reply)}".split())
        return code, reply

    def _data(self, msg: ReadableBuffer | str) -> tuple[int, bytes]:
        if not isinstance(msg, bytes):
            return super().data(msg)
        self.putcmd("data")
        code, reply = self.getreply()
        if code != 354:
            raise smtplib.SMTPDataError(code, reply)
        for piece in dot_stuffed(msg):
            self.send(piece)
        return self.getreply()


class _SmtpSsl(_Smtp, smtplib.SMTP_SSL):
    """The same over implicit TLS (``tls = "ssl"``)."""


def dot_stuffed(data: bytes, piece: int = DATA_PIECE) -> Iterator[bytes | memoryview]:
    """``data`` as the content of DATA, in pieces of about ``piece`` bytes, each ending at a
    line end, the last one with the "." line that ends the mail. A "." opening a line is
    doubled (RFC 5321, 4.5.2); as with smtplib's bytes, a line ends at LF and nothing else
    is changed. A piece with no "." to double is a view into ``data``, not a copy."""
    view, size, start = memoryview(data), len(data), 0
    end_of_data = b".\r\n" if data.endswith(b"\r\n") else b"\r\n.\r\n"
    while True:
        newline = data.find(b"\n", start + piece - 1)
        end = size if newline < 0 else newline + 1
        chunk: bytes | memoryview = view[start:end]
        # Each piece starts a line: its first byte, and any after an LF inside it.
        if data.startswith(b".", start) or data.find(b"\n.", start, end) >= 0:
            chunk = data[start:end].replace(b"\n.", b"\n..")
            if chunk.startswith(b"."):
                chunk = b"." + chunk
        if end == size:
            yield b"".join((chunk, end_of_data))
            return
        yield chunk
        start = end


def _xoauth2(smtp: _Smtp, user: str, token: str) -> None:
    """AUTH XOAUTH2 (Microsoft's and Google's SASL profile of a bearer token)."""
    smtp.ehlo_or_helo_if_needed()
    if "xoauth2" not in smtp.esmtp_features.get("auth", "").lower().split():
        raise smtplib.SMTPNotSupportedError("the server does not offer AUTH XOAUTH2")
    response = f"user={user}\x01auth=Bearer {token}\x01\x01"
    # A refusal comes as a challenge carrying the error; an empty answer ends the exchange.
    smtp.auth("XOAUTH2", lambda challenge=None: response if challenge is None else "")


def _classify(where: str, exc: OSError) -> DeliveryError:
    """The DeliveryError for a failed transaction: permanent when retrying cannot help."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return _recipients_error(where, exc.recipients)
    if isinstance(exc, smtplib.SMTPResponseException):
        reason = f"{where}: {exc.smtp_code} {_text(exc.smtp_error)}"
        return DeliveryError(reason, permanent=_permanent(exc.smtp_code))
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"{where}: {exc}", permanent=False)
    if isinstance(exc, smtplib.SMTPException):
        # What is left is the server lacking what we need (STARTTLS, AUTH, SMTPUTF8).
        return DeliveryError(f"{where}: {exc}", permanent=True)
    # Refused, reset, timed out, TLS handshake or certificate: the network, not the message.
    return DeliveryError(f"{where}: {type(exc).__name__}: {exc}", permanent=False)


def _mail_options(raw: bytes, sender: str, recipients: Sequence[str]) -> list[str]:
    """SMTPUTF8 only when the envelope or the message is not ASCII (it implies 8BITMIME)."""
    if raw.isascii() and sender.isascii() and all(r.isascii() for r in recipients):
        return []
    return ["SMTPUTF8", "BODY=8BITMIME"]


def _recipients_error(where: str, refused: Mapping[str, tuple[int, bytes | str]]) -> DeliveryError:
    """Every recipient was refused: permanent only if none of them may succeed later."""
    detail = "; ".join(f"{rcpt}: {code} {_text(msg)}" for rcpt, (code, msg) in refused.items())
    permanent = all(_permanent(code) for code, _ in refused.values())
    return DeliveryError(f"{where}: all recipients refused ({detail})", permanent=permanent)


def _permanent(code: int) -> bool:
    return 500 <= code < 600


def _text(message: bytes | str) -> str:
    return message.decode("utf-8", "replace") if isinstance(message, bytes) else message


class MaildirSender:
    """Delivers into a local Maildir, created on first use: the default without SMTP."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def batch(self) -> AbstractContextManager[Sender]:
        return contextlib.nullcontext(self)

    def send(self, raw: bytes, sender: str, recipients: Sequence[str]) -> str:
        """The file written."""
        for address in (sender, *recipients):
            if not address.isprintable() or " " in address:
                raise DeliveryError(f"invalid envelope address {address!r}", permanent=True)
        # Keep the envelope, as a local delivery agent does; Maildir files use local line ends.
        envelope = f"Return-Path: <{sender}>\n" + "".join(
            f"Delivered-To: {rcpt}\n" for rcpt in recipients
        )
        message = envelope.encode() + raw.replace(b"\r\n", b"\n")
        try:
            # Maildir(create=True) makes the folder itself, not its parents ("var/outbox").
            self._path.parent.mkdir(parents=True, exist_ok=True)
            key = mailbox.Maildir(self._path, create=True).add(message)
        except (OSError, mailbox.Error) as exc:
            raise DeliveryError(f"Maildir {self._path}: {exc}", permanent=False) from exc
        return str(self._path / "new" / key)
