"""Microsoft 365: app-only tokens of an Entra app registration (client credentials grant).

msal asks the tenant's token endpoint, with a client secret or a certificate; it is an
optional dependency (``pip install 'mailproc-desk[microsoft]'``), imported when a token is
first needed so that commands which connect to nothing run without it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from mailproc.credentials import Password, reveal
from mailproc.oauth2.tokens import OAuthError, Token

OUTLOOK_SCOPE = "https://outlook.office365.com/.default"
AUTHORITY_HOST = "https://login.microsoftonline.com"

# The AADSTS codes an operator meets while setting up the app registration, with what each
# means in their terms; Entra's own description follows, it names the app and tenant ids.
_KNOWN_CODES = {
    7000215: "the client secret is wrong (a secret's ID given instead of its value?)",
    7000222: "the client secret has expired: create a new one in the app registration",
    700016: "no such application (client_id) in this tenant",
    90002: "no such tenant",
    700027: "the certificate's signature was not accepted (thumbprint or key mismatch)",
    700024: "the certificate's assertion is outside its validity (check the clock)",
    7000112: "the application is disabled",
    1002012: "the scope is invalid: app-only access needs a scope ending in /.default",
    500011: "the resource of the scope is not in this tenant",
    65001: "admin consent has not been granted to the application's permissions",
}


@dataclass(frozen=True)
class MicrosoftApp:
    """Tokens for ``client_id`` of ``tenant``, proved by ``secret`` or by ``certificate`` (a
    PEM private key file) with the ``thumbprint`` of its certificate as uploaded to Entra.

    ``authority_host`` is another cloud's login host (GCC High, 21Vianet) when not the global
    one. Every fetch reads the secret or key anew, so a rotated one is picked up.
    """

    tenant: str
    client_id: str
    secret: Password | None = None
    certificate: Path | None = None
    thumbprint: str | None = None
    scope: str = OUTLOOK_SCOPE
    authority_host: str = AUTHORITY_HOST

    def fetch(self) -> Token:
        msal, requests = _import_msal()
        authority = f"{self.authority_host.rstrip('/')}/{self.tenant}"
        credential = self._credential()
        try:
            app = msal.ConfidentialClientApplication(
                self.client_id,
                client_credential=credential,
                authority=authority,
                # The tenant's OpenID configuration is still fetched, and fails for an
                # unknown tenant; the instance discovery would only list Microsoft's hosts.
                instance_discovery=False,
            )
            # A new application each time: msal's own cache would answer a renewal with the
            # token the server has just refused; caching is TokenCache's job.
            result = app.acquire_token_for_client(scopes=[self.scope])
        except ValueError:  # msal's tenant discovery was refused; its text adds nothing
            raise OAuthError(
                f"Microsoft does not know tenant {self.tenant!r} at {authority}:"
                " check the tenant ID or domain (AADSTS90002)"
            ) from None
        except requests.RequestException as error:
            raise OAuthError(
                f"Microsoft's login endpoint {authority} is unreachable: {error}"
            ) from None
        if "access_token" not in result:
            raise OAuthError(refusal_reason(self.tenant, self.client_id, result))
        return Token(
            value=result["access_token"],
            expires_at=datetime.now(UTC) + timedelta(seconds=int(result["expires_in"])),
        )

    def _credential(self) -> str | dict[str, str]:
        if self.certificate is not None:
            if self.thumbprint is None:
                raise OAuthError("a certificate needs the thumbprint Entra shows for it")
            try:
                key = self.certificate.read_text()
            except OSError as error:
                raise OAuthError(
                    f"cannot read the certificate key {self.certificate}: {error.strerror}"
                ) from None
            _check_private_key(self.certificate, key)
            return {"private_key": key, "thumbprint": self.thumbprint}
        if self.secret is None:
            raise OAuthError("the Microsoft app needs a secret (secret_env) or a certificate")
        return reveal(self.secret)


def _check_private_key(path: Path, pem: str) -> None:
    """OAuthError unless ``pem`` is an unencrypted private key: msal would fail later, deep in
    signing, with words about a *public* key."""
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError):
        raise OAuthError(
            f"{path} is not a PEM private key without a passphrase (the key of the"
            " certificate uploaded to Entra, not the certificate itself)"
        ) from None


def refusal_reason(tenant: str, client_id: str, result: Mapping[str, Any]) -> str:
    """What Entra's error answer ``result`` (msal's dict) means, in words safe to log.

    Entra's ``error_description`` never repeats the secret; only its first line is kept (the
    AADSTS code and its words), not the trace and correlation ids that follow.
    """
    codes = result.get("error_codes") or []
    known = next((_KNOWN_CODES[code] for code in codes if code in _KNOWN_CODES), None)
    description = str(result.get("error_description") or "").splitlines()
    detail = f" ({description[0]})" if description else ""
    what = known or str(result.get("error", "no token in the answer"))
    return f"Microsoft refused a token for app {client_id} in tenant {tenant}: {what}{detail}"


def _import_msal() -> tuple[Any, Any]:
    try:
        import msal
        import requests  # msal's HTTP client, whose errors say the endpoint is unreachable
    except ImportError:
        raise OAuthError(
            "provider 'microsoft' needs msal: pip install 'mailproc-desk[microsoft]'"
        ) from None
    return msal, requests
