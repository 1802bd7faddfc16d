"""Tokens from any OAuth 2.0 identity provider by the client credentials grant (RFC 6749 4.4)."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
from datetime import UTC, datetime, timedelta

from mailproc.credentials import Password, reveal
from mailproc.errors import OAuthError
from mailproc.oauth2.tokens import Token
from mailproc.tls import is_loopback

_TIMEOUT_SECONDS = 30
# RFC 6749 makes expires_in optional; an hour is what most providers give.
_DEFAULT_LIFETIME = timedelta(hours=1)


class ClientCredentials:
    """A Fetcher posting client id and secret to ``token_url`` (stdlib urllib: one POST of a
    form and a JSON answer need no HTTP library). The secret is read at each fetch."""

    def __init__(self, token_url: str, client_id: str, secret: Password, scope: str) -> None:
        problem = token_url_problem(token_url)
        if problem:
            raise ValueError(f"token_url {token_url}: {problem}")
        self._url, self._client_id, self._secret, self._scope = token_url, client_id, secret, scope

    def fetch(self) -> Token:
        import urllib.request  # 20 ms, for the commands that send nothing

        # An unset variable is a ConfigError, as for a password: the login fails the same way.
        form = {"grant_type": "client_credentials", "client_id": self._client_id}
        form["client_secret"] = reveal(self._secret)
        if self._scope:
            form["scope"] = self._scope
        request = urllib.request.Request(
            self._url, data=urllib.parse.urlencode(form).encode(), method="POST"
        )
        request.add_header("Accept", "application/json")
        now = datetime.now(UTC)
        try:
            with urllib.request.urlopen(request, timeout=_TIMEOUT_SECONDS) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as exc:
            raise OAuthError(f"{self._where}: {_refusal(exc)}", retryable=exc.code >= 500) from exc
        except (OSError, ValueError) as exc:
            raise OAuthError(f"{self._where}: {exc}", retryable=True) from exc
        return _token(answer, now, self._where)

    @property
    def _where(self) -> str:
        return f"token endpoint {self._url} (client {self._client_id})"


def token_url_problem(url: str) -> str | None:
    """Why ``url`` cannot be a token endpoint: the secret travels in it, so https, or
    plain http only to this machine."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https" or (parts.scheme == "http" and is_loopback(parts.hostname or "")):
        return None
    return "must be an https URL (plain http only to this machine)"


def _refusal(exc: urllib.error.HTTPError) -> str:
    """The provider's own words (RFC 6749 5.2: error, error_description), never our request."""
    try:
        body = json.loads(exc.read() or b"{}")
    except ValueError:
        body = {}
    words = [
        str(body[k]) for k in ("error", "error_description") if isinstance(body, dict) and k in body
    ]
    return f"HTTP {exc.code}: {': '.join(words) or exc.reason}"


def _token(answer: object, now: datetime, where: str) -> Token:
    if not isinstance(answer, dict) or not isinstance(answer.get("access_token"), str):
        raise OAuthError(f"{where}: the answer carries no access_token")
    lifetime = answer.get("expires_in")
    seconds = (
        _DEFAULT_LIFETIME if not isinstance(lifetime, int | float) else timedelta(seconds=lifetime)
    )
    return Token(answer["access_token"], now + seconds)
