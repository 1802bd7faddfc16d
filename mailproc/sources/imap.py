"""IMAP mailbox source: downloads new mail by UID, acknowledges it after commit, waits on IDLE."""

from __future__ import annotations

import imaplib
import logging
import re
import ssl
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Self

from mailproc.credentials import Password, reveal
from mailproc.errors import ConfigError, MailprocError, OAuthError
from mailproc.oauth2.tokens import TokenCache
from mailproc.tls import TLS_MODES, TlsMode

logger = logging.getLogger(__name__)


# A session left quiet longer than this may be ended by the server: RFC 2177 asks a client to
# renew its IDLE (DONE, then IDLE again) within 29 minutes, RFC 3501's inactivity timer is at
# least 30. (`mailproc run` reads every poll_seconds on its session, each read a proof that
# the server is still there: idle_check() swallows EOF, a silently dead connection shows
# only at the next command.)
SESSION_QUIET_SECONDS = 29 * 60.0
# While idling, how often a stop request is looked at: a SIGTERM must not wait out the IDLE.
_STOP_CHECK_SECONDS = 1.0
# The bodies of one FETCH sit in memory together, so a batch is capped by bytes as well as count.
_BODY_BATCH_BYTES = 16 * 1024 * 1024
# The logger imapclient sends imaplib's protocol trace to.
_IMAPLIB_TRACE = "imapclient.imaplib"
# UIDs per MOVE (or COPY/STORE/EXPUNGE) command: a short command line, one round trip.
_ACK_CHUNK = 200
# RFC 5530 response codes meaning "not now" rather than "never" (e.g. auth backend down).
_TRANSIENT_CODES = ("[UNAVAILABLE]", "[INUSE]", "[LIMIT]")

# imapclient's errors are imaplib's. imapclient itself is imported where a connection uses it
# (7 ms): the config and the store import this module for every command, ingest included.
_IMAP_FAILURES = (OSError, imaplib.IMAP4.error)


class ImapUnavailable(MailprocError):
    """The mailbox cannot be used now; ``retryable`` says whether trying again soon can help.

    Not retryable: refused login, untrusted certificate, missing capability, a command the
    server rejects for good. The caller still retries those, with a long backoff.
    """

    def __init__(self, reason: str, *, retryable: bool) -> None:
        super().__init__(reason)
        self.reason, self.retryable = reason, retryable


@dataclass(frozen=True, kw_only=True)
class ImapSettings:
    """One mailbox to poll, as configured by the operator."""

    name: str
    host: str
    port: int
    tls: TlsMode
    user: str
    password: Password = field(repr=False)
    # Set: log in with an OAuth 2.0 token (SASL XOAUTH2 or OAUTHBEARER) instead of the password.
    oauth2: TokenCache | None = field(default=None, repr=False, compare=False)
    folder: str = "INBOX"
    processed_folder: str = "Processados"
    quarantine_folder: str = "Quarentena"
    mark_seen_instead: bool = False
    max_message_bytes: int = 25 * 1024 * 1024
    timeout: float = 30.0
    chunk_size: int = 100

    def __post_init__(self) -> None:
        if self.tls not in TLS_MODES:
            raise ValueError(f"tls must be one of {', '.join(TLS_MODES)}, not {self.tls!r}")
        for name in ("max_message_bytes", "timeout", "chunk_size"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")


@dataclass(frozen=True)
class MailboxCursor:
    """How far a folder has been read: UIDs are only comparable under one UIDVALIDITY."""

    uidvalidity: int
    last_uid: int


@dataclass(frozen=True)
class Fetched:
    """One new message: ``raw`` is the whole message, or None when it is over the size limit
    and only its ``headers`` were downloaded. ``cursor`` is what to persist once committed."""

    uid: int
    size: int
    raw: bytes | None
    headers: bytes | None
    cursor: MailboxCursor


class ImapMailbox:
    """A logged-in connection to one folder; use it as a context manager.

    The caller owns all state: it persists the ``MailboxCursor`` of each message it committed
    and passes the last one back to ``fetch_new``; ``ack`` runs only after that commit. Every
    I/O or protocol failure surfaces as ``ImapUnavailable`` and closes the connection (open a
    new ``ImapMailbox`` to go on). One connection: do not share it between threads.
    """

    def __init__(
        self, settings: ImapSettings, *, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        self.settings = settings
        self._ssl_context = ssl_context
        self._client: Any = None  # imapclient is untyped
        self._newest_uid = 0  # newest UID this connection has seen: the baseline for news

    def __enter__(self) -> Self:
        from imapclient import IMAPClient

        s = self.settings
        secret = self._secret()
        context = None if s.tls == "none" else self._ssl_context or ssl.create_default_context()
        with self._failures("connecting"):
            # Kept at once, so that a failure below still closes the socket.
            self._client = client = IMAPClient(
                s.host, s.port, ssl=s.tls == "ssl", ssl_context=context, timeout=s.timeout
            )
            _quiet_imaplib(client)
            if s.tls == "starttls":
                client.starttls(context)
            self._login(client, secret)
            self._ensure_folders(client)
            self._newest_uid = self._select(client).last_uid
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Logs out (or just closes the socket when the server is gone); safe to repeat."""
        client, self._client = self._client, None
        if client is None:
            return
        try:
            client.logout()
        except _IMAP_FAILURES:
            _shutdown(client)

    @property
    def connected(self) -> bool:
        """False once closed, by ``close`` or by a failure."""
        return self._client is not None

    def state(self) -> MailboxCursor:
        """The folder's UIDVALIDITY and highest UID now: a cursor that skips the backlog."""
        client = self._connected()
        with self._failures("reading the folder state"):
            return self._select(client)

    def fetch_new(self, cursor: MailboxCursor | None) -> Iterator[Fetched]:
        """Yields the messages after ``cursor`` in UID order, downloading chunk by chunk.

        A changed UIDVALIDITY voids the cursor: the whole folder is read again (the caller's
        dedup keys make repeats harmless). Nothing is flagged: bodies are fetched with PEEK.
        """
        client = self._connected()
        with self._failures("fetching new mail"):
            now = self._select(client)
            after = self._resume_point(cursor, now)
            # UID n:* always matches the highest UID, even one below n.
            uids = sorted(uid for uid in client.search(["UID", f"{after + 1}:*"]) if uid > after)
            self._newest_uid = max([now.last_uid, *uids])
            for start in range(0, len(uids), self.settings.chunk_size):
                chunk = uids[start : start + self.settings.chunk_size]
                yield from self._fetch_chunk(client, chunk, now.uidvalidity)

    def ack(self, uid: int, *, quarantine: bool = False) -> None:
        """Marks a committed message done: moved to the processed (or quarantine) folder.

        Call it right after the message's commit, so a crash between commit and ack leaves at
        most that one message to be seen again (and deduplicated). With
        ``mark_seen_instead`` nothing is moved, quarantined mail included: it is flagged \\Seen.
        """
        self.ack_many([uid], quarantine=quarantine)

    def ack_many(self, uids: Sequence[int], *, quarantine: bool = False) -> None:
        """``ack`` for several committed messages at once, in one command per _ACK_CHUNK UIDs.

        A crash before it returns leaves these messages to be seen again (and deduplicated),
        so the caller must not advance its persisted cursor past them before it returned.
        One MOVE of 50 UIDs costs Dovecot about what one MOVE of one UID does (0.09 against
        3.8 ms per message, measured by bench/).
        """
        s = self.settings
        client = self._connected()
        target = s.quarantine_folder if quarantine else s.processed_folder
        for start in range(0, len(uids), _ACK_CHUNK):
            chunk = list(uids[start : start + _ACK_CHUNK])
            with self._failures(f"acknowledging UIDs {_uid_span(chunk)}"):
                self._ack_chunk(client, chunk, target)

    def _ack_chunk(self, client: Any, uids: list[int], target: str) -> None:
        from imapclient import DELETED, SEEN

        if self.settings.mark_seen_instead:
            client.add_flags(uids, [SEEN], silent=True)
        elif client.has_capability("MOVE"):
            client.move(uids, target)
        elif client.has_capability("UIDPLUS"):
            client.copy(uids, target)
            client.add_flags(uids, [DELETED], silent=True)
            # Only these UIDs: a plain EXPUNGE would also remove other clients' \Deleted mail.
            client.uid_expunge(uids)
        else:
            logger.warning(
                "%s: server has neither MOVE nor UIDPLUS; UIDs %s flagged \\Seen, left in %s",
                self._where(), _uid_span(uids), self.settings.folder,
            )  # fmt: skip
            client.add_flags(uids, [SEEN], silent=True)

    def wait_for_news(self, timeout: float, stop: threading.Event | None = None) -> bool:
        """Waits up to ``timeout`` seconds; True when mail arrived after the newest message
        this connection has seen (at connect or in ``fetch_new``), False when none did.

        Uses IDLE when the server has it, else sleeps and then looks. Once ``stop`` is set
        the wait ends within about _STOP_CHECK_SECONDS.
        """
        client = self._connected()
        with self._failures("waiting for new mail"):
            # New mail may have been announced in the reply to an earlier command (a MOVE, say),
            # which the server will not repeat once IDLE starts: look before idling.
            if self._has_arrivals(client):
                return True
            stop = stop or threading.Event()
            if not client.has_capability("IDLE"):
                stop.wait(timeout)
                return self._has_arrivals(client)
            deadline = time.monotonic() + timeout
            while (left := deadline - time.monotonic()) > 0 and not stop.is_set():
                if self._idle_once(client, min(left, SESSION_QUIET_SECONDS), stop):
                    return True
            return False

    def _secret(self) -> str:
        """The password, or an OAuth 2.0 token, had before connecting: a mailbox that cannot
        have one fails without touching its server, and the others go on."""
        s = self.settings
        try:
            return s.oauth2.token() if s.oauth2 else reveal(s.password)
        except ConfigError as exc:
            raise ImapUnavailable(f"{self._where()}: login: {exc}", retryable=False) from exc
        except OAuthError as exc:
            raise ImapUnavailable(
                f"{self._where()}: login: {exc}", retryable=exc.retryable
            ) from exc

    def _login(self, client: Any, secret: str) -> None:
        """Logs in with the password, or with the token by whichever SASL mechanism the
        server offers. A refused token is renewed once (it may have been revoked before its
        time); refused again, it fails like a wrong password."""
        from imapclient.exceptions import LoginError

        tokens = self.settings.oauth2
        if tokens is None:
            client.login(self.settings.user, secret)
            return
        try:
            _token_login(client, self.settings.user, secret)
        except LoginError:
            logger.info("%s: token refused, asking for a new one", self._where())
            try:
                fresh = tokens.renew()
            except (OAuthError, ConfigError) as exc:
                self.close()
                raise ImapUnavailable(
                    f"{self._where()}: login: token refused, and no new one: {exc}",
                    retryable=isinstance(exc, OAuthError) and exc.retryable,
                ) from exc
            _token_login(client, self.settings.user, fresh)

    def _connected(self) -> Any:
        if self._client is None:
            raise ImapUnavailable(f"{self._where()}: not connected", retryable=True)
        return self._client

    def _ensure_folders(self, client: Any) -> None:
        if self.settings.mark_seen_instead:
            return  # nothing is ever moved
        for name in (self.settings.processed_folder, self.settings.quarantine_folder):
            if client.folder_exists(name):
                continue
            try:
                client.create_folder(name)
            except imaplib.IMAP4.error as exc:
                # Another worker polling the same mailbox may have just created it.
                if "[ALREADYEXISTS]" not in str(exc):
                    raise
            # Mail clients list only subscribed folders by default: let people find them.
            client.subscribe_folder(name)

    def _select(self, client: Any) -> MailboxCursor:
        from imapclient.exceptions import ProtocolError

        info = client.select_folder(self.settings.folder)
        uidnext = info.get(b"UIDNEXT")
        uidvalidity = info.get(b"UIDVALIDITY")
        if uidvalidity is None:
            raise ProtocolError(f"SELECT {self.settings.folder} gave no UIDVALIDITY")
        last_uid = uidnext - 1 if uidnext else max(client.search("ALL"), default=0)
        return MailboxCursor(uidvalidity=uidvalidity, last_uid=last_uid)

    def _resume_point(self, cursor: MailboxCursor | None, now: MailboxCursor) -> int:
        if cursor is None:
            return 0
        if cursor.uidvalidity != now.uidvalidity:
            logger.warning(
                "%s: UIDVALIDITY of %s changed from %d to %d: reading the whole folder again",
                self._where(), self.settings.folder, cursor.uidvalidity, now.uidvalidity,
            )  # fmt: skip
            return 0
        return cursor.last_uid

    def _fetch_chunk(self, client: Any, uids: list[int], uidvalidity: int) -> Iterator[Fetched]:
        found = client.fetch(uids, ["RFC822.SIZE"])
        sizes = {uid: int(found[uid][b"RFC822.SIZE"]) for uid in uids if uid in found}
        present = [uid for uid in uids if uid in sizes]
        limit = self.settings.max_message_bytes
        for batch in _body_batches(present, sizes, limit, _BODY_BATCH_BYTES):
            yield from self._download(client, batch, sizes, uidvalidity)

    def _download(
        self, client: Any, uids: list[int], sizes: Mapping[int, int], uidvalidity: int
    ) -> Iterator[Fetched]:
        limit = self.settings.max_message_bytes
        whole = client.fetch([uid for uid in uids if sizes[uid] <= limit], ["BODY.PEEK[]"])
        heads = client.fetch([uid for uid in uids if sizes[uid] > limit], ["BODY.PEEK[HEADER]"])
        for uid in uids:
            cursor = MailboxCursor(uidvalidity, uid)
            if uid in whole:
                yield Fetched(uid, sizes[uid], whole[uid][b"BODY[]"] or b"", None, cursor)
            elif uid in heads:
                logger.info(
                    "%s: UID %d has %d bytes, over the %d limit: headers only",
                    self._where(), uid, sizes[uid], limit,
                )  # fmt: skip
                yield Fetched(uid, sizes[uid], None, heads[uid][b"BODY[HEADER]"] or b"", cursor)
            else:
                logger.info("%s: UID %d vanished before its download", self._where(), uid)

    def _has_arrivals(self, client: Any) -> bool:
        # SEARCH answers from this session's view of the folder; NOOP first brings that view up
        # to date with what other clients delivered.
        client.noop()
        after = self._newest_uid
        return any(uid > after for uid in client.search(["UID", f"{after + 1}:*"]))

    def _idle_once(self, client: Any, seconds: float, stop: threading.Event) -> bool:
        """One IDLE command of at most ``seconds``, ended early once ``stop`` is set; True when
        the server announced new mail."""
        client.idle()
        deadline = time.monotonic() + seconds
        news = False
        while not news and not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            wait = min(left, _STOP_CHECK_SECONDS)
            began = time.monotonic()
            responses = client.idle_check(timeout=wait)
            news = any(_announces_mail(response) for response in responses)
            if not responses and time.monotonic() - began < wait:
                break  # an EOF that idle_check swallowed (a timeout takes all of wait): DONE tells
        _, late = client.idle_done()  # raises on a dead connection
        return news or any(_announces_mail(response) for response in late)

    @contextmanager
    def _failures(self, action: str) -> Iterator[None]:
        """Turns an I/O or protocol failure into ImapUnavailable, closing the connection."""
        try:
            yield
        except _IMAP_FAILURES as exc:
            client, self._client = self._client, None
            if client is not None:
                _shutdown(client)
            reason, retryable = _explain(exc, self.settings.timeout)
            raise ImapUnavailable(
                f"{self._where()}: {action}: {reason}", retryable=retryable
            ) from exc

    def _where(self) -> str:
        s = self.settings
        return f"IMAP mailbox {s.name!r} ({s.user}@{s.host}:{s.port})"


def _body_batches(
    uids: Sequence[int], sizes: Mapping[int, int], limit: int, budget: int
) -> Iterator[list[int]]:
    """Splits UIDs, in order, into runs whose whole bodies add up to at most ``budget`` bytes
    (a single larger message gets a run of its own); oversized ones cost only their headers."""
    batch: list[int] = []
    held = 0
    for uid in uids:
        cost = sizes[uid] if sizes[uid] <= limit else 0
        if batch and held + cost > budget:
            yield batch
            batch, held = [], 0
        batch.append(uid)
        held += cost
    if batch:
        yield batch


def _quiet_imaplib(client: Any) -> None:
    """Turns off imaplib's protocol trace unless its logger wants it.

    imapclient sets imaplib's ``debug`` to 5 and sends the trace to the logger
    "imapclient.imaplib"; imaplib then formats the repr() of every line and literal it reads
    even when that logger drops them. On a bulk FETCH that is 10 times the CPU of the whole
    download (0.45 against 0.04 s for 1,000 messages of 45 KB) and, for a 25 MB message,
    three times its size in memory (bench/README.md).
    """
    if not logging.getLogger(_IMAPLIB_TRACE).isEnabledFor(logging.DEBUG):
        client._imap.debug = 0


def _uid_span(uids: Sequence[int]) -> str:
    """UIDs for a log line or an error: "7", or "7..56 (50)"."""
    if len(uids) == 1:
        return str(uids[0])
    return f"{min(uids)}..{max(uids)} ({len(uids)})"


def _token_login(client: Any, user: str, token: str) -> None:
    """SASL XOAUTH2 (Microsoft, Google) or OAUTHBEARER (RFC 7628), whichever is offered."""
    from imapclient.exceptions import CapabilityError

    offered = client.capabilities()
    if b"AUTH=XOAUTH2" in offered:
        client.oauth2_login(user, token)
    elif b"AUTH=OAUTHBEARER" in offered:
        client.oauthbearer_login(user, token)
    else:
        raise CapabilityError("AUTH=XOAUTH2 or AUTH=OAUTHBEARER, for an OAuth 2.0 login")


def _announces_mail(response: tuple[Any, ...]) -> bool:
    # Untagged "* n EXISTS" / "* n RECENT" arrive parsed as (n, b"EXISTS") and (n, b"RECENT").
    return len(response) >= 2 and (
        response[1] == b"EXISTS" or (response[1] == b"RECENT" and response[0] > 0)
    )


def _explain(exc: BaseException, timeout: float) -> tuple[str, bool]:
    """A readable reason for a failure, and whether trying again soon can help."""
    from imapclient.exceptions import CapabilityError, LoginError

    text = _message(exc)
    if isinstance(exc, LoginError):
        return f"login refused: {text}", _is_transient(text)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"TLS certificate rejected: {exc.verify_message}", False
    if isinstance(exc, CapabilityError):
        return f"the server lacks a needed capability: {text}", False
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s", True
    if isinstance(exc, ConnectionRefusedError):
        return "connection refused", True
    if isinstance(exc, imaplib.IMAP4.abort):
        return f"connection lost: {text}", True
    if isinstance(exc, OSError):
        return f"network error: {text}", True
    return f"the server refused: {text}", _is_transient(text)


def _message(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    # imapclient passes some server replies through str(bytes): "b'[CODE] text'".
    quoted = re.fullmatch(r"b(['\"])(.*)\1", text)
    return quoted.group(2) if quoted else text


def _is_transient(text: str) -> bool:
    return any(code in text for code in _TRANSIENT_CODES)


def _shutdown(client: Any) -> None:
    with suppress(*_IMAP_FAILURES):
        client.shutdown()
