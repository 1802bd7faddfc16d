"""OAuth 2.0 logins to IMAP and SMTP: which identity provider gives the tokens, and the cache
that keeps them. A provider's library is imported when the first token is asked for, so that
commands that connect nowhere (``rules check``, ``status --offline``) run without it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from mailproc.credentials import Password
from mailproc.oauth2.tokens import Fetcher, Token, TokenCache

Provider = Literal["microsoft", "google", "generic"]
PROVIDERS: tuple[Provider, ...] = ("microsoft", "google", "generic")


@dataclass(frozen=True, kw_only=True)
class OAuth2Settings:
    """One ``[oauth2.NAME]`` table: the keys its provider uses are set, the others None."""

    name: str
    provider: Provider
    client_id: str | None = None
    secret: Password | None = field(default=None, repr=False)
    scope: str | None = None  # None: the provider's own default
    token_url: str | None = None  # generic
    tenant: str | None = None  # microsoft
    certificate: Path | None = None  # microsoft
    thumbprint: str | None = None  # microsoft
    key_file: Path | None = None  # google
    subject: str | None = None  # google


def provider_fetcher(s: OAuth2Settings) -> Fetcher:
    """The Fetcher of ``s``'s provider, its module imported now."""
    scope = {"scope": s.scope} if s.scope else {}
    if s.provider == "microsoft":
        from mailproc.oauth2.microsoft import MicrosoftApp

        assert s.tenant and s.client_id
        return MicrosoftApp(s.tenant, s.client_id, s.secret, s.certificate, s.thumbprint, **scope)
    if s.provider == "google":
        from mailproc.oauth2.google import GoogleServiceAccount

        assert s.key_file and s.subject
        return GoogleServiceAccount(s.key_file, s.subject, **scope)
    from mailproc.oauth2.generic import ClientCredentials

    assert s.token_url and s.client_id and s.secret is not None
    return ClientCredentials(s.token_url, s.client_id, s.secret, s.scope or "")


class _FirstUse:
    """A Fetcher that builds its provider's Fetcher when the first token is asked for."""

    def __init__(self, settings: OAuth2Settings) -> None:
        self._settings = settings
        self._fetcher: Fetcher | None = None

    def fetch(self) -> Token:
        if self._fetcher is None:
            self._fetcher = provider_fetcher(self._settings)
        return self._fetcher.fetch()


def token_cache(settings: OAuth2Settings) -> TokenCache:
    """The cache of one ``[oauth2.NAME]`` table; nothing is imported or read until a token
    is asked for (TokenCache fetches under its lock, so the provider is built once)."""
    return TokenCache(_FirstUse(settings))


__all__ = ["PROVIDERS", "OAuth2Settings", "Provider", "TokenCache", "token_cache"]
