"""Signed links to the web view that mail carries to requesters: "Acompanhe seu chamado" (one
ticket, for one address) and "Meus chamados" (every ticket of one address).

There are no passwords for requesters: holding a link is the proof, as holding a mail of the
ticket is (mailproc.decision.proofs). Ticket codes are sequential, so a link never carries
a code alone: the code and the address are signed with the desk's web key, each kind of link
with its own salt (a "Meus chamados" token never opens a ticket, nor the other way round),
and a link expires after [web] requester_link_days. Plain data in, strings out: the mail
replies use it as well as the web view, so nothing here needs Flask.
"""

from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

# One salt per kind of token, and none shared with the web view's other uses of the key.
TICKET_SALT = "mailproc.requester.ticket"
MY_TICKETS_SALT = "mailproc.requester.my-tickets"
TICKET_PATH = "/acompanhar/"
MY_TICKETS_PATH = "/meus-chamados/"
DAY_SECONDS = 24 * 60 * 60


@dataclass(frozen=True)
class RequesterLinks:
    """Makes and reads the requesters' links of a desk whose web view is at ``base_url``
    (its [web] public_url, without a trailing slash)."""

    base_url: str
    key: bytes
    max_age_days: int

    def ticket_url(self, code: str, email: str) -> str:
        """The page of ticket ``code`` as ``email`` sees it."""
        return self.base_url + TICKET_PATH + self.ticket_token(code, email)

    def ticket_token(self, code: str, email: str) -> str:
        # A list, not a dict: the shortest JSON, so the link fits a mail client's line.
        return str(self._signer(TICKET_SALT).dumps([code, email]))

    def read_ticket(self, token: str) -> tuple[str, str] | None:
        """(code, email) of a valid ticket token; None for a forged, altered, expired or
        other kind of token, alike."""
        value = self._read(TICKET_SALT, token)
        if isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value):
            return value[0], value[1]
        return None

    def my_tickets_url(self, email: str) -> str:
        """The list of every ticket ``email`` opened or takes part in."""
        return self.base_url + MY_TICKETS_PATH + self.my_tickets_token(email)

    def my_tickets_token(self, email: str) -> str:
        return str(self._signer(MY_TICKETS_SALT).dumps(email))

    def read_my_tickets(self, token: str) -> str | None:
        """The address of a valid "Meus chamados" token, else None."""
        value = self._read(MY_TICKETS_SALT, token)
        return value if isinstance(value, str) else None

    def _signer(self, salt: str) -> URLSafeTimedSerializer:
        return URLSafeTimedSerializer(self.key, salt=salt)

    def _read(self, salt: str, token: str) -> object:
        try:
            return self._signer(salt).loads(token, max_age=self.max_age_days * DAY_SECONDS)
        except BadSignature:  # SignatureExpired and BadPayload are BadSignatures too
            return None
