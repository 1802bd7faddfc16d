"""Encrypted links to the web view that mail carries to requesters: "Acompanhe seu chamado"
(one ticket, for one address) and "Meus chamados" (every ticket of one address).

There are no passwords for requesters: holding a link is the proof, as holding a mail of the
ticket is (mailproc.decision.proofs). Ticket codes are sequential, so a link never carries
a code alone: the code and the address travel in a Fernet token (authenticated encryption
with the time it was made), so that nobody can change them, and nobody who sees the URL (a
proxy's access log, a browser's history, a forwarded mail) can read the requester's address
in it, as LGPD asks. Each kind of link has its own key, derived from the desk's web key (a
"Meus chamados" token never opens a ticket, nor the other way round), and a link expires
after [web] requester_link_days. Plain data in, strings out: the mail replies use it as well
as the web view, so nothing here needs Flask.

A ticket link is made for the address a mail goes to. A mail with copies makes it a shared
link: whoever holds it reads the ticket and may ask for urgency, as anyone on the ticket may
by mail, but cannot cancel or rate it as its requester; the requester does that by mail, or
from "Meus chamados", whose links reach their mailbox alone.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

# One key per kind of token, and none shared with the web view's other uses of the web key:
# the kind's name is what HKDF derives that kind's key for.
TICKET_KIND = b"mailproc.requester.ticket"
MY_TICKETS_KIND = b"mailproc.requester.my-tickets"
TICKET_PATH = "/acompanhar/"
MY_TICKETS_PATH = "/meus-chamados/"
DAY_SECONDS = 24 * 60 * 60


def link_key(key: bytes, kind: bytes) -> bytes:
    """The Fernet key of one kind of link (base64 of 32 bytes: the MAC's key, then AES's).
    HKDF (RFC 5869) rather than a bare hash of kind and key: it is the construction made for
    deriving several independent keys from one secret, each bound to its purpose (``info``),
    whatever the length or form of the web key (a variable of at least 32 characters, or the
    one kept in the database)."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=kind).derive(key)
    return base64.urlsafe_b64encode(derived)


@dataclass(frozen=True)
class TicketLink:
    """What a valid ticket link names: the ticket, the address it was mailed to, and whether
    the mail had copies (``shared``: see the module's docstring)."""

    code: str
    email: str
    shared: bool = False


@dataclass(frozen=True)
class RequesterLinks:
    """Makes and reads the requesters' links of a desk whose web view is at ``base_url``
    (its [web] public_url, without a trailing slash)."""

    base_url: str
    key: bytes
    max_age_days: int

    def ticket_url(self, code: str, email: str, *, shared: bool = False) -> str:
        """The page of ticket ``code`` as ``email`` sees it (``shared``: mailed with copies)."""
        return self.base_url + TICKET_PATH + self.ticket_token(code, email, shared=shared)

    def ticket_token(self, code: str, email: str, *, shared: bool = False) -> str:
        # A list, not a dict: the shortest JSON, so the link fits a mail client's line; a
        # third item, 1, marks a shared link.
        return self._seal(TICKET_KIND, [code, email, 1] if shared else [code, email])

    def read_ticket(self, token: str) -> TicketLink | None:
        """What a valid ticket token names; None for a forged, altered, expired or other
        kind of token, alike."""
        match self._open(TICKET_KIND, token):
            case [str(code), str(email)]:
                return TicketLink(code, email)
            case [str(code), str(email), 1]:
                return TicketLink(code, email, shared=True)
        return None

    def my_tickets_url(self, email: str) -> str:
        """The list of every ticket ``email`` opened or takes part in."""
        return self.base_url + MY_TICKETS_PATH + self.my_tickets_token(email)

    def my_tickets_token(self, email: str) -> str:
        return self._seal(MY_TICKETS_KIND, email)

    def read_my_tickets(self, token: str) -> str | None:
        """The address of a valid "Meus chamados" token, else None."""
        value = self._open(MY_TICKETS_KIND, token)
        return value if isinstance(value, str) else None

    def _seal(self, kind: bytes, value: object) -> str:
        plain = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        # Fernet pads its base64 with "="; a URL carries none, so the padding goes here and
        # comes back in _open.
        return Fernet(link_key(self.key, kind)).encrypt(plain).decode().rstrip("=")

    def _open(self, kind: bytes, token: str) -> object:
        padded = token + "=" * (-len(token) % 4)
        try:
            plain = Fernet(link_key(self.key, kind)).decrypt(
                padded, ttl=self.max_age_days * DAY_SECONDS
            )
            return json.loads(plain)
        # InvalidToken: forged, altered, expired or of the other kind; ValueError: a token
        # that is not ASCII (base64 decoding raises it, not InvalidToken).
        except (InvalidToken, ValueError):
            return None
