"""Proofs that a mail may act on a ticket, beyond what its From header claims.

Anyone can write any From. So a mail that changes a ticket or makes the desk speak to its
requester (a staff answer or directive, a cancellation, an urgency request, a rating) must
carry a proof its sender cannot forge:

- **A signed reply address.** Every mail the desk sends about a ticket has a Reply-To such as
  ``suporte+2026-000123.rk7f3q9xw2d@orgao.gov.br``: the ticket's code, the role of the people
  it went to (``r`` requester's side, ``s`` staff) and an HMAC of both under the desk's
  secret key. Only someone who received that mail knows the address, and a reply to it
  arrives addressed to it (plus addressing: the mail server delivers it to ``suporte``).
- **An authentic From**: a DKIM signature aligned with the From domain, verified by mailproc
  (mailproc.sources.dkim), or an aligned pass from our own receiving server's
  Authentication-Results (mailproc.mail.authresults). The pipeline finds it; here it is a
  description of how the From was shown, or "".

Adding information to one's own ticket needs no proof: the desk would accept the same text
as a new request from that address.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from mailproc.mail.message import InboundMessage

Role = Literal["requester", "staff"]
_LETTERS: dict[Role, str] = {"requester": "r", "staff": "s"}
_ROLES: dict[str, Role] = {letter: role for role, letter in _LETTERS.items()}
# 10 base32 characters: 50 bits. A forger gets one guess per mail sent, and the loop caps
# bound those; guessing one address would take about 10^15 mails.
TOKEN_CHARS = 10
_TAGGED = re.compile(
    r"(?P<local>[^+@\s]+)\+(?P<code>[0-9a-z][0-9a-z-]*)\.(?P<role>[rs])"
    rf"(?P<token>[a-z2-7]{{{TOKEN_CHARS}}})@(?P<domain>[^@\s>]+)"
)
# Where the address a mail came to can be read: the sender's own fields and the delivering
# server's. A signed address proves as much in To as in Delivered-To: what is secret is the
# address itself, not where it is written.
_RECIPIENT_HEADERS = ("delivered-to", "x-original-to", "envelope-to", "x-delivered-to")


@dataclass(frozen=True)
class ReplyKeys:
    """Signs reply addresses of the desk's ``address`` with ``key``, and checks them."""

    key: bytes
    address: str

    def reply_address(self, code: str, role: Role) -> str:
        local, _, domain = self.address.lower().partition("@")
        return f"{local}+{code.lower()}.{_LETTERS[role]}{self._token(code, role)}@{domain}"

    def signed(self, addresses: Iterable[str]) -> frozenset[tuple[str, Role]]:
        """The (ticket code, role) of every validly signed reply address among ``addresses``."""
        own_local, _, own_domain = self.address.lower().partition("@")
        found: set[tuple[str, Role]] = set()
        for address in addresses:
            match = _TAGGED.fullmatch(address.strip().lower())
            if match is None or (match["local"], match["domain"]) != (own_local, own_domain):
                continue
            code, role = match["code"], _ROLES[match["role"]]
            if hmac.compare_digest(match["token"], self._token(code, role)):
                found.add((code, role))
        return frozenset(found)

    def _token(self, code: str, role: Role) -> str:
        digest = hmac.new(self.key, f"{code.lower()}\0{role}".encode(), hashlib.sha256).digest()
        return base64.b32encode(digest).decode().lower()[:TOKEN_CHARS]


def recipient_addresses(message: InboundMessage) -> list[str]:
    """Every address the mail says it was sent or delivered to."""
    named = [address.email for address in (*message.to, *message.cc)]
    delivered = [
        found
        for name in _RECIPIENT_HEADERS
        for value in message.headers.get(name, ())
        for found in re.findall(r"[^\s<>,;:\"]+@[^\s<>,;:\"]+", value)
    ]
    return [*named, *delivered]


@dataclass(frozen=True)
class Proof:
    """What a mail proves beyond its From: the signed reply addresses it came to, and how its
    From was shown to be authentic ("" when it was not)."""

    signed: frozenset[tuple[str, Role]] = field(default_factory=frozenset)
    authentic_from: str = ""

    def holds(self, code: str, role: Role) -> bool:
        """Whether the sender may act on ticket ``code`` in ``role``: the mail came to that
        ticket's address for that role, or its From is authentic (the From decides the
        role, as it does for every mail)."""
        return bool(self.authentic_from) or (code.lower(), role) in self.signed
