"""A real OAuth 2.0 token endpoint on 127.0.0.1 for tests: the client credentials grant
(RFC 6749 4.4) and token introspection (RFC 7662), with tokens that live a few seconds."""

from __future__ import annotations

import json
import secrets
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.dovecot import DovecotAccount, DovecotServer, running_dovecot

HOST = "127.0.0.1"
DEFAULT_LIFETIME = 3600.0


@dataclass
class _Client:
    secret: str
    username: str
    revoked: bool = False
    requests: int = 0  # tokens asked for


class TokenEndpoint:
    """The identity provider's side: clients registered by the test, tokens it handed out.

    The HTTP server answers from its own threads, hence the lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._clients: dict[str, _Client] = {}
        self._tokens: dict[str, tuple[str, float]] = {}  # token: client id, expiry (monotonic)
        self.lifetime = DEFAULT_LIFETIME
        self._http = ThreadingHTTPServer((HOST, 0), _handler(self))
        self._http.daemon_threads = True
        port = self._http.server_address[1]
        self.token_url = f"http://{HOST}:{port}/token"
        self.introspection_url = f"http://{HOST}:{port}/introspect"

    def register(self, client_id: str, username: str) -> str:
        """A client that may have tokens for ``username``; returns its secret."""
        secret = secrets.token_urlsafe(16)
        with self._lock:
            self._clients[client_id] = _Client(secret, username)
        return secret

    def revoke(self, client_id: str) -> None:
        """The client gets no more tokens, and those it has are no longer active."""
        with self._lock:
            self._clients[client_id].revoked = True

    def expire(self, client_id: str) -> None:
        """The client's tokens stop being active before their time (the client may go on)."""
        with self._lock:
            for token, (owner, _) in list(self._tokens.items()):
                if owner == client_id:
                    self._tokens[token] = (owner, 0.0)

    def issued(self, client_id: str) -> list[str]:
        """Every token handed to the client: none may show in a log."""
        with self._lock:
            return [token for token, (owner, _) in self._tokens.items() if owner == client_id]

    def requests(self, client_id: str) -> int:
        with self._lock:
            return self._clients[client_id].requests

    def introspect(self, user: str, token: str) -> bool:
        """Whether ``token`` is live and issued for ``user`` (what a mail server asks)."""
        return self._owner(token) == user

    def grant(self, form: dict[str, str]) -> tuple[int, dict[str, object]]:
        with self._lock:
            client = self._clients.get(form.get("client_id", ""))
            if form.get("grant_type") != "client_credentials":
                return 400, {"error": "unsupported_grant_type"}
            if client is None or client.revoked or form.get("client_secret") != client.secret:
                return 401, {"error": "invalid_client", "error_description": "client refused"}
            client.requests += 1
            token = secrets.token_urlsafe(24)
            self._tokens[token] = (form["client_id"], time.monotonic() + self.lifetime)
        answer = {"access_token": token, "token_type": "Bearer", "expires_in": self.lifetime}
        return 200, answer

    def introspection(self, form: dict[str, str]) -> dict[str, object]:
        owner = self._owner(form.get("token", ""))
        return {"active": True, "username": owner} if owner else {"active": False}

    def _owner(self, token: str) -> str | None:
        with self._lock:
            client_id, expiry = self._tokens.get(token, ("", 0.0))
            client = self._clients.get(client_id)
            if client is None or client.revoked or time.monotonic() >= expiry:
                return None
            return client.username

    def start(self) -> None:
        threading.Thread(target=self._http.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()


def _handler(endpoint: TokenEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode()
            form = dict(urllib.parse.parse_qsl(body))
            if self.path == "/token":
                code, answer = endpoint.grant(form)
            elif self.path.startswith("/introspect"):
                code, answer = 200, endpoint.introspection(form)
            else:
                code, answer = 404, {"error": "not_found"}
            data = json.dumps(answer).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:
            pass  # quiet: pytest shows the tests' own output

    return Handler


@pytest.fixture(scope="session")
def _token_endpoint_running() -> Iterator[TokenEndpoint]:
    endpoint = TokenEndpoint()
    endpoint.start()
    yield endpoint
    endpoint.stop()


@pytest.fixture
def token_endpoint(_token_endpoint_running: TokenEndpoint) -> TokenEndpoint:
    """The session's token endpoint, tokens living an hour unless the test says otherwise."""
    _token_endpoint_running.lifetime = DEFAULT_LIFETIME
    return _token_endpoint_running


@pytest.fixture(scope="session")
def _oauth2_dovecot_server(_token_endpoint_running: TokenEndpoint) -> Iterator[DovecotServer]:
    with running_dovecot(_token_endpoint_running.introspection_url) as server:
        yield server


@pytest.fixture(scope="session")
def _oauthbearer_dovecot_server(
    _token_endpoint_running: TokenEndpoint,
) -> Iterator[DovecotServer]:
    with running_dovecot(_token_endpoint_running.introspection_url, ("oauthbearer",)) as server:
        yield server


@pytest.fixture
def oauth2_dovecot(_oauth2_dovecot_server: DovecotServer) -> DovecotAccount:
    """A new user on a Dovecot that also takes tokens checked by the token endpoint, by
    SASL XOAUTH2 or OAUTHBEARER."""
    return _new_account(_oauth2_dovecot_server)


@pytest.fixture
def oauthbearer_dovecot(_oauthbearer_dovecot_server: DovecotServer) -> DovecotAccount:
    """As oauth2_dovecot, on a server offering OAUTHBEARER only (not XOAUTH2)."""
    return _new_account(_oauthbearer_dovecot_server)


def _new_account(server: DovecotServer) -> DovecotAccount:
    user = f"oauth{secrets.token_hex(4)}"
    server.add_user(user)
    return DovecotAccount(server, user)
