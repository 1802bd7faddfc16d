"""The Microsoft and Google token fetchers against local identity providers on 127.0.0.1.

The providers' own libraries (msal, google-auth) make the real HTTP requests: msal to an
HTTPS fake of Entra's tenant discovery and token endpoint (msal accepts only https
authorities; the test CA is trusted through REQUESTS_CA_BUNDLE), google-auth to a fake of
Google's token endpoint named by the key file's ``token_uri``.
"""

from __future__ import annotations

import json
import socket
import ssl
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailproc.credentials import PasswordEnv
from mailproc.oauth2.google import GoogleServiceAccount
from mailproc.oauth2.microsoft import MicrosoftApp
from mailproc.oauth2.tokens import OAuthError
from tests.dovecot import make_certificate

HOST = "127.0.0.1"
TENANT = "contoso.onmicrosoft.com"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"
SECRET = "s3cr3t~value"
THUMBPRINT = "A1B2C3D4E5F60718293A4B5C6D7E8F9012345678"
MAILBOX = "suporte@orgao.gov.br"

# (status, JSON body) for a request: (method, Host header, path, form fields).
Answer = Callable[[str, str, str, dict[str, str]], tuple[int, dict[str, Any]]]


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        self._answer("GET", {})

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self._answer("POST", dict(urllib.parse.parse_qsl(body)))

    def _answer(self, method: str, form: dict[str, str]) -> None:
        self.server.requests.append((method, self.path, form))
        status, body = self.server.answer(method, self.headers["Host"], self.path, form)
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    def __init__(self, answer: Answer) -> None:
        super().__init__((HOST, 0), _Handler)
        self.answer = answer
        self.requests: list[tuple[str, str, dict[str, str]]] = []


@pytest.fixture
def serve() -> Iterator[Callable[..., _Server]]:
    """Starts a server answering with a function, over TLS when given an ssl context."""
    servers: list[_Server] = []

    def start(answer: Answer, tls: ssl.SSLContext | None = None) -> _Server:
        server = _Server(answer)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def _rsa_key() -> tuple[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    return pem, key.public_key()


# --- Microsoft ---------------------------------------------------------------------------


@pytest.fixture
def tls(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    folder = tmp_path / "tls"  # apart from the files a test writes itself
    folder.mkdir()
    make_certificate(folder)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(folder / "cert.pem"))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(folder / "cert.pem", folder / "key.pem")
    return context


def _entra(check_client: Callable[[dict[str, str]], dict[str, Any] | None]) -> Answer:
    """Entra for TENANT: its OpenID configuration and a token endpoint that issues a token
    when ``check_client`` finds no error in the request (else answers that error)."""

    def answer(
        method: str, host: str, path: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        tenant = path.split("/")[1]
        if tenant != TENANT:
            return 400, {
                "error": "invalid_tenant",
                "error_description": f"AADSTS90002: Tenant '{tenant}' not found.",
                "error_codes": [90002],
            }
        if method == "GET":  # /TENANT/v2.0/.well-known/openid-configuration
            base = f"https://{host}/{TENANT}"
            return 200, {
                "issuer": f"{base}/v2.0",
                "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                "token_endpoint": f"{base}/oauth2/v2.0/token",
            }
        error = check_client(form)
        if error is not None:
            return 401, error
        return 200, {"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ.m365.tok"}

    return answer


def _app(server: _Server, **kwargs: Any) -> MicrosoftApp:
    fields: dict[str, Any] = {"tenant": TENANT, "client_id": CLIENT_ID, "secret": SECRET}
    fields.update(kwargs)
    return MicrosoftApp(authority_host=f"https://{HOST}:{server.server_address[1]}", **fields)


def _secret_must_be(form: dict[str, str]) -> dict[str, Any] | None:
    if form.get("client_secret") == SECRET:
        return None
    return {
        "error": "invalid_client",
        "error_description": "AADSTS7000215: Invalid client secret provided.\r\n"
        "Trace ID: 0c1d\r\nCorrelation ID: 9e8f\r\nTimestamp: 2026-12-07 12:00:00Z",
        "error_codes": [7000215],
    }


def test_microsoft_app_gets_an_app_only_token_with_its_secret(
    serve: Callable[..., _Server], tls: ssl.SSLContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = serve(_entra(_secret_must_be), tls)
    monkeypatch.setenv("DESK_M365_SECRET", SECRET)
    secret = PasswordEnv("DESK_M365_SECRET", "mailproc.toml", "oauth2.m365.secret_env")

    before = datetime.now(UTC)
    token = _app(server, secret=secret).fetch()

    assert token.value == "eyJ.m365.tok"
    assert (
        before + timedelta(seconds=3590)
        <= token.expires_at
        <= datetime.now(UTC) + timedelta(seconds=3600)
    )
    ((_, path, form),) = [r for r in server.requests if r[0] == "POST"]
    assert path == f"/{TENANT}/oauth2/v2.0/token"
    assert form["grant_type"] == "client_credentials"
    assert form["client_id"] == CLIENT_ID
    assert form["scope"].split() == ["https://outlook.office365.com/.default"]


def test_microsoft_app_asks_again_at_every_fetch(
    serve: Callable[..., _Server], tls: ssl.SSLContext
) -> None:
    # A renewal after the server refused a token must not be answered from msal's cache.
    server = serve(_entra(_secret_must_be), tls)
    app = _app(server)
    app.fetch()
    app.fetch()
    assert len([r for r in server.requests if r[0] == "POST"]) == 2


def test_microsoft_app_proves_itself_with_a_certificate(
    serve: Callable[..., _Server], tls: ssl.SSLContext, tmp_path: Path
) -> None:
    pem, public_key = _rsa_key()
    (tmp_path / "app-key.pem").write_text(pem)
    headers: list[dict[str, Any]] = []

    def signed_by_the_key(form: dict[str, str]) -> dict[str, Any] | None:
        assert "client_secret" not in form
        assert (
            form["client_assertion_type"]
            == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
        )
        jwt.decode(
            form["client_assertion"],
            public_key,
            algorithms=["RS256"],
            audience=f"https://{HOST}:{server.server_address[1]}/{TENANT}/oauth2/v2.0/token",
        )
        headers.append(jwt.get_unverified_header(form["client_assertion"]))
        return None

    server = serve(_entra(signed_by_the_key), tls)
    app = _app(server, secret=None, certificate=tmp_path / "app-key.pem", thumbprint=THUMBPRINT)

    assert app.fetch().value == "eyJ.m365.tok"
    assert jwt.utils.base64url_decode(headers[0]["x5t"]) == bytes.fromhex(THUMBPRINT)


def test_a_key_file_that_is_no_private_key_is_reported_as_such(
    serve: Callable[..., _Server], tls: ssl.SSLContext, tmp_path: Path
) -> None:
    server = serve(_entra(_secret_must_be), tls)
    (tmp_path / "cert.pem").write_text(
        "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
    )
    app = _app(server, secret=None, certificate=tmp_path / "cert.pem", thumbprint=THUMBPRINT)

    with pytest.raises(OAuthError, match="not a PEM private key"):
        app.fetch()


def test_a_wrong_secret_is_reported_without_the_secret(
    serve: Callable[..., _Server], tls: ssl.SSLContext
) -> None:
    server = serve(_entra(_secret_must_be), tls)

    with pytest.raises(OAuthError) as refused:
        _app(server, secret="not-the-secret").fetch()

    reason = str(refused.value)
    assert "client secret is wrong" in reason
    assert "AADSTS7000215" in reason and TENANT in reason and CLIENT_ID in reason
    assert "not-the-secret" not in reason and "Trace ID" not in reason


def test_an_unknown_tenant_is_reported_as_such(
    serve: Callable[..., _Server], tls: ssl.SSLContext
) -> None:
    server = serve(_entra(_secret_must_be), tls)

    with pytest.raises(OAuthError, match=r"nowhere\.onmicrosoft\.com.*AADSTS90002"):
        _app(server, tenant="nowhere.onmicrosoft.com").fetch()


def test_an_unreachable_login_endpoint_is_reported(tls: ssl.SSLContext) -> None:
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind((HOST, 0))
        app = MicrosoftApp(
            TENANT, CLIENT_ID, SECRET, authority_host=f"https://{HOST}:{closed.getsockname()[1]}"
        )
        with pytest.raises(OAuthError, match="unreachable"):
            app.fetch()


def test_a_certificate_without_its_thumbprint_is_refused_before_asking(tmp_path: Path) -> None:
    app = MicrosoftApp(TENANT, CLIENT_ID, certificate=tmp_path / "key.pem")
    with pytest.raises(OAuthError, match="thumbprint"):
        app.fetch()


# --- Google ------------------------------------------------------------------------------

SERVICE_ACCOUNT = "desk@orgao-desk.iam.gserviceaccount.com"


def _google(public_key: Any, claims: list[dict[str, Any]]) -> Answer:
    """Google's token endpoint: verifies the JWT bearer assertion, refuses unknown subjects
    as a missing delegation does."""

    def answer(
        method: str, host: str, path: str, form: dict[str, str]
    ) -> tuple[int, dict[str, Any]]:
        assert (method, path) == ("POST", "/token")
        assert form["grant_type"] == "urn:ietf:params:oauth:grant-type:jwt-bearer"
        claim = jwt.decode(
            form["assertion"], public_key, algorithms=["RS256"], options={"verify_aud": False}
        )
        claims.append(claim)
        if claim["sub"] != MAILBOX:
            return 401, {
                "error": "unauthorized_client",
                "error_description": "Client is unauthorized to retrieve access tokens using"
                " this method, or client not authorized for any of the scopes requested.",
            }
        return 200, {"access_token": "ya29.gmail.tok", "expires_in": 3599, "token_type": "Bearer"}

    return answer


@pytest.fixture
def google_key(tmp_path: Path, serve: Callable[..., _Server]) -> tuple[Path, list[dict[str, Any]]]:
    pem, public_key = _rsa_key()
    claims: list[dict[str, Any]] = []
    server = serve(_google(public_key, claims))
    key_file = tmp_path / "service-account.json"
    key_file.write_text(json.dumps({
        "type": "service_account",
        "project_id": "orgao-desk",
        "private_key_id": "k1",
        "private_key": pem,
        "client_email": SERVICE_ACCOUNT,
        "client_id": "108000000000000000001",
        "token_uri": f"http://{HOST}:{server.server_address[1]}/token",
    }))  # fmt: skip
    return key_file, claims


def test_google_service_account_gets_a_token_for_the_mailbox(
    google_key: tuple[Path, list[dict[str, Any]]],
) -> None:
    key_file, claims = google_key

    before = datetime.now(UTC)
    token = GoogleServiceAccount(key_file, MAILBOX).fetch()

    assert token.value == "ya29.gmail.tok"
    assert (
        before + timedelta(seconds=3590)
        <= token.expires_at
        <= datetime.now(UTC) + timedelta(seconds=3600)
    )
    (claim,) = claims
    assert claim["iss"] == SERVICE_ACCOUNT
    assert claim["sub"] == MAILBOX
    assert claim["scope"] == "https://mail.google.com/"
    # Google's own endpoint is the audience wherever the key file sends the request.
    assert claim["aud"] == "https://oauth2.googleapis.com/token"


def test_google_missing_delegation_is_reported_as_such(
    google_key: tuple[Path, list[dict[str, Any]]],
) -> None:
    key_file, _ = google_key
    with pytest.raises(OAuthError, match="delegation is not granted") as refused:
        GoogleServiceAccount(key_file, "outra@orgao.gov.br").fetch()
    assert "outra@orgao.gov.br" in str(refused.value)
    assert "PRIVATE KEY" not in str(refused.value)


def test_google_missing_key_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(OAuthError, match="cannot read the key file"):
        GoogleServiceAccount(tmp_path / "absent.json", MAILBOX).fetch()


# --- without the optional libraries ------------------------------------------------------


def test_without_msal_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "msal", None)  # makes `import msal` fail
    with pytest.raises(OAuthError, match=r"pip install 'mailproc-desk\[microsoft\]'"):
        MicrosoftApp(TENANT, CLIENT_ID, SECRET).fetch()


def test_without_google_auth_the_error_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setitem(sys.modules, "google.auth", None)  # makes its import fail
    with pytest.raises(OAuthError, match=r"pip install 'mailproc-desk\[google\]'"):
        GoogleServiceAccount(tmp_path / "key.json", MAILBOX).fetch()
