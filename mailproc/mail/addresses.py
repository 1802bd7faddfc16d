"""What one address is, whatever tag it carries.

``suporte+2026-000123.rk7f3q9xw2d@orgao.gov.br`` reaches the ``suporte@orgao.gov.br``
mailbox (plus addressing, RFC 5233): the desk's signed reply addresses are such tags, so
every check of "is this us?" must look through them.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# An address as a person types it in a form: local part, "@", a dotted domain; no display
# name, comma or line break. SMTP carries none longer than MAX_ADDRESS.
_TYPED_ADDRESS = re.compile(r"[\w.+'-]+@[\w-]+(?:\.[\w-]+)+", re.ASCII)
MAX_ADDRESS = 254


def untagged(address: str) -> str:
    """``address`` lower-cased, without the ``+tag`` of its local part."""
    local, at, domain = address.strip().lower().rpartition("@")
    if not at:
        return address.strip().lower()
    return f"{local.partition('+')[0]}@{domain}"


def domain_of(address: str) -> str:
    """The domain part of an address, lower-cased ("" when there is none)."""
    return address.rpartition("@")[2].strip().rstrip(".").lower() if "@" in address else ""


def is_own(address: str, own: Collection[str]) -> bool:
    """Whether ``address`` is one of ``own`` (lower-case addresses), tagged or not."""
    return untagged(address) in own


def is_typed_address(text: str) -> bool:
    """Whether ``text`` (stripped, lower-cased) is one whole address, as a form asks for."""
    return len(text) <= MAX_ADDRESS and _TYPED_ADDRESS.fullmatch(text) is not None
