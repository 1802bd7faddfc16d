"""Access tokens: what a provider hands out, and a cache that renews them before they expire."""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from mailproc.errors import OAuthError

__all__ = ["Fetcher", "OAuthError", "Token", "TokenCache"]

# A token is renewed this long before it expires, so that a login never presents one that
# runs out on the way; for short-lived tokens, a tenth of their life instead.
REFRESH_MARGIN = timedelta(seconds=60)
_MARGIN_SHARE = 0.1


@dataclass(frozen=True)
class Token:
    value: str
    expires_at: datetime  # aware, UTC


class Fetcher(Protocol):
    """Asks an identity provider for a new access token; raises OAuthError when it cannot."""

    def fetch(self) -> Token: ...


class TokenCache:
    """One token per identity, shared by the connections that use it; safe across threads
    (one fetch at a time: connections waiting for a token take the one just fetched).

    ``token()`` gives the cached token while it has more than its refresh margin left, else
    a new one; ``renew()`` throws the cached one away (a server refused it) and fetches again.
    """

    def __init__(self, fetcher: Fetcher) -> None:
        self._fetcher = fetcher
        self._lock = threading.Lock()
        self._token: Token | None = None
        self._refresh_at = datetime.min.replace(tzinfo=UTC)

    def token(self) -> str:
        with self._lock:
            if self._token is None or datetime.now(UTC) >= self._refresh_at:
                return self._fetch()
            return self._token.value

    def renew(self) -> str:
        with self._lock:
            return self._fetch()

    def _fetch(self) -> str:
        now = datetime.now(UTC)
        token = self._fetcher.fetch()
        margin = min(REFRESH_MARGIN, (token.expires_at - now) * _MARGIN_SHARE)
        self._token, self._refresh_at = token, token.expires_at - margin
        return token.value
