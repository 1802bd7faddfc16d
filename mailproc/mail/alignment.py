"""DMARC's identifier alignment: does a domain that was authenticated speak for From?

A pass for ``bounces.example.org`` says nothing about ``From: maria@example.gov.br``: anyone
can sign their own domain or send from their own server. A pass counts for a From address
only when its domain is aligned with the From domain in DMARC's relaxed mode (RFC 7489
3.1): both have the same organizational domain, the registered name below a public suffix
("planejamento.gov.br" for "mail.planejamento.gov.br"; "gov.br" is a suffix and speaks for
no one). The public suffix list comes with publicsuffixlist, which is kept current.
"""

from __future__ import annotations

from functools import cache

from publicsuffixlist import PublicSuffixList


@cache
def _suffixes() -> PublicSuffixList:
    return PublicSuffixList()


def organizational_domain(domain: str) -> str | None:
    """The registered domain ``domain`` belongs to; None for a public suffix or a name
    that is not a domain."""
    name = domain.strip().rstrip(".").lower()
    if not name or "." not in name:
        return None
    return _suffixes().privatesuffix(name)


def aligned(authenticated: str, from_domain: str) -> bool:
    """Whether a pass for ``authenticated`` speaks for mail ``From`` ``from_domain``."""
    theirs, ours = organizational_domain(authenticated), organizational_domain(from_domain)
    return theirs is not None and theirs == ours
