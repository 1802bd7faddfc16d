"""Pytest fixtures running a throwaway real Dovecot IMAP server on loopback, one user per test."""

from __future__ import annotations

import ctypes
import itertools
import os
import pwd
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from imapclient import IMAPClient

HOST = "127.0.0.1"
# Dovecot `local` blocks advertise fewer capabilities on these loopback addresses (same server,
# same mail), so a client's fallbacks run against real IMAP: UIDPLUS but no MOVE and no IDLE...
NO_MOVE_HOST = "127.0.0.2"
# ...and neither MOVE nor UIDPLUS nor IDLE.
BARE_HOST = "127.0.0.3"
PASSWORD = "senha-de-teste"

_DOVECOT_CANDIDATES = ("dovecot", "/usr/sbin/dovecot", "/usr/local/sbin/dovecot")
# Mail processes must not run as root; `nobody` exists everywhere and needs no useradd.
_MAIL_ACCOUNT = "nobody"
_START_SECONDS = 10.0
_STOP_GRACE_SECONDS = 2.0
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
_EX_NOUSER = 68  # sysexits.h; doveadm kick: the user had no session

_CONFIG = """\
base_dir = {root}/run
state_dir = {root}/state
protocols = imap
listen = {host}
log_path = {root}/dovecot.log
ssl = yes
ssl_cert = <{root}/cert.pem
ssl_key = <{root}/key.pem
# Plaintext LOGIN on loopback is what the "none" and "starttls" modes are tested with.
disable_plaintext_auth = no
auth_mechanisms = plain login{oauth2_mechanisms}
# A wrong-password test would otherwise slow every later login from loopback: 2 s per refusal,
# plus the auth penalty (growing delays per client IP), off when its socket is unusable.
auth_failure_delay = 0
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
# Throwaway mail: fsync only slows tests down.
mail_fsync = never
# One passwd-file per user: Dovecot re-reads a changed file at most once a second, a new file
# at once, so a test's fresh user can log in straight away.
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {root}/users/%u
}}{oauth2_passdb}
userdb {{
  driver = passwd-file
  args = {root}/users/%u
}}
service imap-login {{
  inet_listener imap {{
    address = {host}, {no_move_host}, {bare_host}
    port = {port}
  }}
  inet_listener imaps {{
    address = {host}
    port = {ssl_port}
    ssl = yes
  }}
}}
service anvil {{
  unix_listener anvil-auth-penalty {{
    mode = 0
  }}
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
local {no_move_host} {{
  protocol imap {{
    imap_capability = IMAP4rev1 LITERAL+ UIDPLUS
  }}
}}
local {bare_host} {{
  protocol imap {{
    imap_capability = IMAP4rev1 LITERAL+
  }}
}}
"""


# With an introspection URL: tokens are checked there (RFC 7662) after the password file
# refused them as passwords.
_OAUTH2_PASSDB = """
passdb {{
  driver = oauth2
  mechanisms = {mechanisms}
  args = {root}/dovecot-oauth2.conf.ext
}}"""
_OAUTH2_CONFIG = """\
introspection_mode = post
introspection_url = {url}
force_introspection = yes
username_attribute = username
active_attribute = active
active_value = true
"""


def _dovecot_binary() -> str:
    for candidate in _DOVECOT_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    pytest.fail("Dovecot is not installed: run scripts/install-test-deps as root", pytrace=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind((HOST, 0))
        port: int = probe.getsockname()[1]
        return port


def _prctl(option: int, value: int) -> None:
    ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)


def _die_with_parent() -> None:
    # Runs in the child before exec: a killed pytest must not leave Dovecot behind.
    _prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def make_certificate(root: Path) -> None:
    """A throwaway certificate for 127.0.0.1 and localhost: ``root``/cert.pem and key.pem."""
    subprocess.run(
        [
            "openssl", "req", "-x509", "-nodes", "-days", "2", "-subj", "/CN=localhost",
            "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
            "-addext", f"subjectAltName=IP:{HOST},DNS:localhost",
            "-keyout", str(root / "key.pem"), "-out", str(root / "cert.pem"),
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip


def _end_group(pgid: int) -> None:
    """Signals the whole process group until none of it is left, SIGKILL after a grace period.

    The whole group, again and again: SIGTERM to the master alone leaves it waiting seconds on
    login processes, and it may fork a new one after the first signal.
    """
    deadline = time.monotonic() + _STOP_GRACE_SECONDS
    while True:
        signum = signal.SIGTERM if time.monotonic() < deadline else signal.SIGKILL
        with suppress(ProcessLookupError):
            os.killpg(pgid, signum)
        try:
            while os.waitpid(-pgid, os.WNOHANG)[0]:
                pass
        except ChildProcessError:
            return
        time.sleep(0.02)


class DovecotServer:
    """One Dovecot master in a temporary folder; users are added while it runs."""

    def __init__(
        self,
        root: Path,
        introspection_url: str | None = None,
        token_mechanisms: Sequence[str] = ("xoauth2", "oauthbearer"),
    ) -> None:
        """With ``introspection_url``, users log in with OAuth 2.0 tokens as well, by the SASL
        ``token_mechanisms``."""
        self.introspection_url = introspection_url
        self.token_mechanisms = " ".join(token_mechanisms)
        account = pwd.getpwnam(_MAIL_ACCOUNT)
        self.root = root
        self.mail_uid, self.mail_gid = account.pw_uid, account.pw_gid
        self.port, self.ssl_port = _free_port(), _free_port()
        self.cert_path = root / "cert.pem"
        self._binary = _dovecot_binary()
        self._process: subprocess.Popen[bytes] | None = None
        self._prepare()

    def _prepare(self) -> None:
        # Mail processes run as `nobody` and must traverse the root folder to reach their homes.
        self.root.chmod(0o755)
        (self.root / "home").mkdir(mode=0o700)
        os.chown(self.root / "home", self.mail_uid, self.mail_gid)
        (self.root / "users").mkdir()
        make_certificate(self.root)
        oauth2 = self.introspection_url is not None
        config = _CONFIG.format(
            root=self.root, host=HOST, no_move_host=NO_MOVE_HOST, bare_host=BARE_HOST,
            port=self.port, ssl_port=self.ssl_port,
            oauth2_mechanisms=f" {self.token_mechanisms}" if oauth2 else "",
            oauth2_passdb=(
                _OAUTH2_PASSDB.format(root=self.root, mechanisms=self.token_mechanisms)
                if oauth2 else ""
            ),
        )  # fmt: skip
        if oauth2:
            (self.root / "dovecot-oauth2.conf.ext").write_text(
                _OAUTH2_CONFIG.format(url=self.introspection_url)
            )
        (self.root / "dovecot.conf").write_text(config)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def add_user(self, user: str) -> None:
        """Adds a user with an empty home, who can log in with PASSWORD at once."""
        home = self.root / "home" / user
        home.mkdir(mode=0o700)
        os.chown(home, self.mail_uid, self.mail_gid)
        entry = f"{user}:{{PLAIN}}{PASSWORD}:{self.mail_uid}:{self.mail_gid}::{home}::\n"
        (self.root / "users" / user).write_text(entry)

    def start(self) -> None:
        """Starts the master in the foreground and waits until it greets on both ports."""
        if self.running:
            return
        stderr = (self.root / "dovecot.stderr").open("ab")
        with stderr:
            self._process = subprocess.Popen(
                [self._binary, "-c", str(self.root / "dovecot.conf"), "-F"],
                stdin=subprocess.DEVNULL,
                stdout=stderr,
                stderr=stderr,
                start_new_session=True,
                preexec_fn=_die_with_parent,
            )
        try:
            self._wait_for_greeting(self.port)
            self._wait_for_greeting(self.ssl_port, tls=True)
        except BaseException:
            self.stop()
            raise

    def _wait_for_greeting(self, port: int, *, tls: bool = False) -> None:
        deadline = time.monotonic() + _START_SECONDS
        while time.monotonic() < deadline:
            if not self.running:
                break
            with suppress(OSError), socket.create_connection((HOST, port), timeout=1) as sock:
                if tls or sock.recv(64).startswith(b"* OK"):
                    return
            time.sleep(0.02)
        raise RuntimeError(f"Dovecot did not start on port {port}:\n{self.log_tail()}")

    def stop(self) -> None:
        """Stops the master and reaps every process of its group, so the ports are free again."""
        process, self._process = self._process, None
        if process is None:
            return
        # Some of Dovecot's processes outlive the master: as their subreaper we can wait for
        # every one of them, so the ports are free (and no zombie is left) when stop() returns.
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        try:
            _end_group(process.pid)
        finally:
            _prctl(_PR_SET_CHILD_SUBREAPER, 0)
        process.poll()  # the master was reaped above: let Popen know

    def kick(self, user: str) -> bool:
        """Ends every session of ``user``, as a server does when a login's token runs out;
        False when there was none."""
        done = subprocess.run(
            ["doveadm", "-c", str(self.root / "dovecot.conf"), "kick", user],
            capture_output=True,
            check=False,
        )
        if done.returncode not in (0, _EX_NOUSER):
            raise RuntimeError(f"doveadm kick failed: {done.stderr.decode(errors='replace')}")
        return done.returncode == 0

    def log_tail(self, lines: int = 30) -> str:
        texts = []
        for name in ("dovecot.stderr", "dovecot.log"):
            path = self.root / name
            if path.exists():
                texts.extend(path.read_text(errors="replace").splitlines()[-lines:])
        return "\n".join(texts) or "(Dovecot wrote no log)"


class DovecotAccount:
    """A fresh mailbox on the shared server, with helpers that act as another mail client."""

    def __init__(self, server: DovecotServer, user: str) -> None:
        self.server = server
        self.host = HOST
        self.no_move_host = NO_MOVE_HOST
        self.bare_host = BARE_HOST
        self.port = server.port
        self.ssl_port = server.ssl_port
        self.user = user
        self.password = PASSWORD

    def ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts the server's self-signed certificate."""
        return ssl.create_default_context(cafile=str(self.server.cert_path))

    @contextmanager
    def client(self) -> Iterator[Any]:
        """A logged-in imapclient connection (plaintext) as this account's user."""
        with IMAPClient(self.host, self.port, ssl=False, timeout=10) as client:
            client.login(self.user, self.password)
            yield client

    def append(self, folder: str, raw: bytes) -> None:
        self.append_many(folder, [raw])

    def append_many(self, folder: str, raws: Sequence[bytes]) -> None:
        with self.client() as client:
            for raw in raws:
                client.append(folder, raw)

    def create_folder(self, name: str) -> None:
        with self.client() as client:
            client.create_folder(name)

    def delete_folder(self, name: str) -> None:
        with self.client() as client:
            client.delete_folder(name)

    def folders(self) -> list[str]:
        with self.client() as client:
            return sorted(name for _, _, name in client.list_folders())

    def messages(self, folder: str) -> list[bytes]:
        """The raw messages of ``folder`` in UID order (read-only: flags are left alone)."""
        return [data[b"BODY[]"] for data in self._fetch(folder, "BODY.PEEK[]")]

    def flags(self, folder: str) -> list[set[bytes]]:
        """The flags of each message of ``folder`` in UID order."""
        return [set(data[b"FLAGS"]) for data in self._fetch(folder, "FLAGS")]

    def _fetch(self, folder: str, item: str) -> list[dict[bytes, Any]]:
        with self.client() as client:
            client.select_folder(folder, readonly=True)
            found = client.fetch(client.search("ALL"), [item])
            return [found[uid] for uid in sorted(found)]

    def stop(self) -> None:
        self.server.stop()

    def start(self) -> None:
        self.server.start()


@pytest.fixture(scope="session")
def dovecot_server() -> Iterator[DovecotServer]:
    """One Dovecot for the whole session: starting it costs a fraction of a second."""
    with running_dovecot() as server:
        yield server


@contextmanager
def running_dovecot(
    introspection_url: str | None = None,
    token_mechanisms: Sequence[str] = ("xoauth2", "oauthbearer"),
) -> Iterator[DovecotServer]:
    """A started Dovecot in a temporary folder, stopped and removed at the end."""
    if os.geteuid() != 0:
        pytest.skip("the throwaway Dovecot runs as root (its mail processes run as nobody)")
    root = Path(tempfile.mkdtemp(prefix="mailproc-dovecot-"))
    try:
        server = DovecotServer(root, introspection_url, token_mechanisms)
        server.start()
        try:
            yield server
        finally:
            server.stop()
    finally:
        shutil.rmtree(root, ignore_errors=True)


_user_numbers = itertools.count(1)


@pytest.fixture
def dovecot(dovecot_server: DovecotServer) -> Iterator[DovecotAccount]:
    """A new user with an empty mailbox on the running server (restarted if a test stopped it)."""
    dovecot_server.start()
    user = f"teste{next(_user_numbers)}"
    dovecot_server.add_user(user)
    yield DovecotAccount(dovecot_server, user)
    dovecot_server.start()
