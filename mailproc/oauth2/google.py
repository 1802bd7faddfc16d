"""Google Workspace: tokens of a service account acting for a mailbox (domain-wide delegation).

google-auth signs the JWT bearer assertion with the key file's private key and asks the key
file's ``token_uri``; it is an optional dependency (``pip install 'mailproc-desk[google]'``),
imported when a token is first needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mailproc.oauth2.tokens import OAuthError, Token

GMAIL_SCOPE = "https://mail.google.com/"

# The OAuth error codes a delegation set-up fails with, in the operator's terms.
_KNOWN_ERRORS = {
    "unauthorized_client": (
        "domain-wide delegation is not granted to this service account's client ID"
        " for the scope (Admin console, Security, API controls)"
    ),
    "invalid_grant": (
        "the subject is not a mailbox of the domain, the key was deleted,"
        " or this machine's clock is wrong"
    ),
    "invalid_client": "the key file's service account or key no longer exists",
    "access_denied": "the mailbox's organisation forbids this access",
}


@dataclass(frozen=True)
class GoogleServiceAccount:
    """Tokens for the mailbox ``subject``, by the service account whose JSON key is
    ``key_file``; the file is read at every fetch, so a rotated key is picked up."""

    key_file: Path
    subject: str
    scope: str = GMAIL_SCOPE

    def fetch(self) -> Token:
        service_account, requests_transport, exceptions = _import_google_auth()
        try:
            credentials = service_account.Credentials.from_service_account_file(
                str(self.key_file), scopes=[self.scope], subject=self.subject
            )
        except OSError as error:
            raise OAuthError(
                f"cannot read the key file {self.key_file}: {error.strerror}"
            ) from None
        except ValueError as error:  # not a service account key; the message names no secret
            raise OAuthError(f"{self.key_file} is not a service account key: {error}") from None
        try:
            credentials.refresh(requests_transport.Request())
        except exceptions.RefreshError as error:
            raise OAuthError(refusal_reason(self.subject, error.args)) from None
        except exceptions.TransportError as error:
            raise OAuthError(f"Google's token endpoint is unreachable: {error}") from None
        # google-auth keeps a naive UTC datetime.
        expires_at: datetime = credentials.expiry.replace(tzinfo=UTC)
        return Token(value=credentials.token, expires_at=expires_at)


def refusal_reason(subject: str, args: tuple[Any, ...]) -> str:
    """What google-auth's RefreshError ``args`` (message, the endpoint's JSON answer) mean."""
    answer = args[1] if len(args) > 1 and isinstance(args[1], dict) else {}
    code = str(answer.get("error", ""))
    description = str(answer.get("error_description", "") or (args[0] if args else ""))
    what = _KNOWN_ERRORS.get(code, code or "no token in the answer")
    detail = f" ({description})" if description else ""
    return f"Google refused a token for {subject}: {what}{detail}"


def _import_google_auth() -> tuple[Any, Any, Any]:
    try:
        from google.auth import exceptions
        from google.auth.transport import requests as requests_transport
        from google.oauth2 import service_account
    except ImportError:
        raise OAuthError(
            "provider 'google' needs google-auth: pip install 'mailproc-desk[google]'"
        ) from None
    return service_account, requests_transport, exceptions
