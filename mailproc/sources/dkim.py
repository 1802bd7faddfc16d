"""DKIM verification by mailproc itself: does a valid signature speak for the From domain?

A DKIM signature proves that the domain in its ``d=`` tag signed the headers it names and
the body, so a valid signature whose ``d=`` is aligned with the From domain (mail.alignment)
is proof the From was not forged, whatever the receiving server checked. The checking is
dkimpy's; this module chooses what counts as proof and bounds the work: the signatures and
their keys are written by whoever sent the mail, and the key is fetched from DNS, which is
why this lives at the edge with the other I/O.

Not counted as proof, though dkimpy may call them valid:
- ``l=``: only the first bytes of the body are signed; anyone can append a link after them;
- ``rsa-sha1`` (RFC 8301: verifiers must not consider it valid);
- a key shorter than 1024 bits (RFC 8301), or longer than 4096 bits: RFC 8301 asks no more of
  a verifier, and a longer key, or a huge public exponent, makes one check cost seconds;
- a signature whose ``h=`` does not name From (RFC 6376 6.1.1: the verifier must ignore it).
"""

from __future__ import annotations

import ipaddress
import logging
import re
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mailproc.mail.alignment import aligned

if TYPE_CHECKING:
    import dkim
    import dns.resolver

# dkimpy and dnspython are imported where a check uses them (48 ms): the config imports this
# module for every command, and most commands verify nothing.

# A mail normally carries one to three signatures (the author's domain, its mail provider, a
# list or forwarder). More are looked at no further: each costs a DNS lookup and an RSA check.
MAX_SIGNATURES = 5
# Real signatures take under 2 KB (a 4096-bit b= is 684 characters). dkimpy's regular
# expression for b= costs the square of the header's length on folding white space.
MAX_SIGNATURE_BYTES = 4096
# Oversigning real signers name a few dozen headers in h=; dkimpy scans all headers once per
# name, so h= times the header count is the cost.
MAX_SIGNED_HEADERS = 100
# dkimpy's header parser copies a header once per continuation line (quadratic in that
# header's size): headers of real mail take tens of KB, Microsoft 365's included.
MAX_HEADER_BYTES = 128 * 1024
MIN_KEY_BITS, MAX_KEY_BITS = 1024, 4096
# OpenSSL's limit for large moduli: real keys use 65537 (17 bits).
MAX_EXPONENT_BITS = 64

_SIGNATURE_LINE = re.compile(rb"^dkim-signature:", re.IGNORECASE | re.MULTILINE)
_HEADER_END = re.compile(rb"\n\r?\n")
# dkimpy logs which key failed and, at debug level, every tag of the signature (an i= may be a
# person's address). Our result carries the reason without personal data; dkimpy's log is off.
_QUIET = logging.Logger("mailproc.sources.dkim.dkimpy", logging.CRITICAL + 1)


@dataclass(frozen=True)
class DkimSettings:
    """``[authentication]`` keys ``dkim``, ``dns_servers`` and ``dns_timeout_seconds``."""

    enabled: bool = True
    # (IP address, port); empty: the system's resolver (/etc/resolv.conf).
    dns_servers: tuple[tuple[str, int], ...] = ()
    # For all the lookups of one message together, so that a dead DNS server costs a message
    # this long at most, not this long per signature.
    dns_timeout_seconds: float = 5.0


def parse_dns_server(entry: str) -> tuple[str, int]:
    """``"192.0.2.53"``, ``"192.0.2.53:5353"``, ``"2001:db8::53"`` or ``"[2001:db8::53]:5353"``.

    Raises ValueError: a resolver is reached by its address, not by a name needing a resolver.
    """
    text = entry.strip()
    host, port = text, "53"
    if text.startswith("[") and "]" in text:
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":") or "53"
    elif text.count(":") == 1:
        host, port = text.split(":")
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError("must be an IP address, optionally with :port") from None
    if not 0 < number < 65536:
        raise ValueError("port must be between 1 and 65535")
    return host, number


@dataclass(frozen=True)
class DkimResult:
    """What the DKIM signatures of one mail prove about its From domain."""

    aligned: bool  # a valid signature whose d= is aligned (relaxed) with the From domain
    domain: str | None  # the d= of that signature, or of the first valid one
    reason: str  # for the log and the ticket's event; domains only, no personal data


@dataclass(frozen=True)
class _Verdict:
    """One signature's outcome."""

    domain: str
    valid: bool
    reason: str


class DkimVerifier:
    """Verifies a mail's DKIM signatures against keys fetched from DNS. Safe to share
    between threads: each call keeps its state to itself."""

    def __init__(self, settings: DkimSettings) -> None:
        self._settings = settings
        self._resolver = _resolver(settings)

    def verify(self, raw: bytes, from_domain: str) -> DkimResult:
        """What the signatures of ``raw`` (the mail as received) prove for ``from_domain``,
        the domain of its one From address. Never raises for anything in the mail or DNS."""
        if not self._settings.enabled:
            return DkimResult(False, None, "not checked (dkim = false)")
        match = _HEADER_END.search(raw)
        header = raw[: match.start() + 1] if match else raw
        if not _SIGNATURE_LINE.search(header):
            return DkimResult(False, None, "no signature")
        if len(header) > MAX_HEADER_BYTES:
            return DkimResult(False, None, "headers too large to verify")
        import dkim

        try:
            message = dkim.DKIM(raw, logger=_QUIET, minkey=MIN_KEY_BITS)
        except dkim.DKIMException:
            return DkimResult(False, None, "malformed headers")
        signatures = [v for name, v in message.headers if name.lower() == b"dkim-signature"]
        lookup = _KeyLookup(self._resolver, self._settings.dns_timeout_seconds)
        verdicts = [
            _verify_one(message, index, value, lookup)
            for index, value in enumerate(signatures[:MAX_SIGNATURES])
        ]
        return _summary(verdicts, from_domain, unchecked=len(signatures) - len(verdicts))


def _resolver(settings: DkimSettings) -> dns.resolver.Resolver:
    import dns.nameserver
    import dns.resolver

    if settings.dns_servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [
            dns.nameserver.Do53Nameserver(host, port) for host, port in settings.dns_servers
        ]
    else:
        try:
            resolver = dns.resolver.Resolver()
        except dns.resolver.NoResolverConfiguration:
            # No /etc/resolv.conf: each lookup fails ("dns failure", no proof) and the desk runs.
            resolver = dns.resolver.Resolver(configure=False)
    # Keys are shared by every mail of a domain; the cache keeps their TTLs.
    resolver.cache = dns.resolver.LRUCache()
    return resolver


def _verify_one(message: dkim.DKIM, index: int, value: bytes, lookup: _KeyLookup) -> _Verdict:
    import dkim
    from dkim.util import InvalidTagValueList, parse_tag_value

    try:
        tags = parse_tag_value(value)
    except InvalidTagValueList:
        return _Verdict("", False, "malformed signature")
    domain = tags.get(b"d", b"").decode("ascii", "replace").strip().rstrip(".").lower()
    refusal = _refusal(value, tags)
    if refusal:
        return _Verdict(domain, False, refusal)
    lookup.failure = None
    try:
        valid = message.verify(idx=index, dnsfunc=lookup)
    except (dkim.DKIMException, ValueError) as exc:
        return _Verdict(domain, False, _reason_of(exc))
    if valid:
        return _Verdict(domain, True, f"pass d={domain}")
    # dkimpy answers False both for a key it could not get and for a signature that does not
    # match; the lookup knows which.
    return _Verdict(domain, False, lookup.failure or "bad signature")


def _refusal(value: bytes, tags: dict[bytes, bytes]) -> str | None:
    """Why a signature does not count whatever its key says; checked before any DNS."""
    if len(value) > MAX_SIGNATURE_BYTES:
        return "signature too long"
    if b"l" in tags:
        return "l= tag: partial body signed"
    if tags.get(b"a", b"").strip().lower() == b"rsa-sha1":
        return "rsa-sha1 signature"
    signed = [name.strip().lower() for name in tags.get(b"h", b"").split(b":")]
    if len(signed) > MAX_SIGNED_HEADERS:
        return "too many signed headers"
    if b"from" not in signed:
        return "From not signed"
    return None


def _reason_of(exc: Exception) -> str:
    """dkimpy's messages quote the signature's tags; keep only what kind of failure it was."""
    import dkim

    text = str(exc)
    if text.startswith("body hash mismatch"):
        return "body hash mismatch"
    if text.startswith("public key too small"):
        return f"key shorter than {MIN_KEY_BITS} bits"
    if text.startswith("x= value is past"):
        return "signature expired"
    if isinstance(exc, dkim.KeyFormatError | dkim.UnknownKeyTypeError | dkim.NaClNotFoundError):
        return "unusable key"
    return "malformed signature"


class _KeyLookup:
    """The ``dnsfunc`` given to dkimpy: fetches a key's TXT record through dnspython, within
    the message's time budget, and remembers why it returned none."""

    def __init__(self, resolver: dns.resolver.Resolver, budget_seconds: float) -> None:
        self._resolver = resolver
        self._deadline = time.monotonic() + budget_seconds
        self.failure: str | None = None

    def __call__(self, name: bytes, timeout: float = 0) -> bytes | None:
        # dkimpy's timeout is per lookup; the message's deadline is what bounds the wait.
        record, self.failure = self._fetch(name)
        if record is not None:
            self.failure = _unusable(name, record)
        return None if self.failure else record

    def _fetch(self, name: bytes) -> tuple[bytes | None, str | None]:
        import dns.exception
        import dns.resolver

        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return None, "dns timeout"
        try:
            answer = self._resolver.resolve(
                name.decode("ascii"),
                "TXT",
                search=False,
                raise_on_no_answer=False,
                lifetime=remaining,
            )
        except UnicodeDecodeError:
            return None, "bad key name"
        except dns.resolver.NXDOMAIN:
            return None, "no key in DNS"
        except dns.exception.Timeout:
            return None, "dns timeout"
        except dns.exception.DNSException:
            return None, "dns failure"
        if answer.rrset is None:
            return None, "no key in DNS"
        # One record may be split in strings of 255 bytes: they are one text (RFC 6376 3.6.2.2).
        records = [b"".join(rdata.strings) for rdata in answer.rrset]
        if len(records) > 1:
            return None, "several key records"
        return records[0], None


def _unusable(name: bytes, record: bytes) -> str | None:
    """Why a key record cannot prove anything, before dkimpy spends an RSA check on it."""
    import dkim
    from dkim.util import InvalidTagValueList, parse_tag_value

    try:
        tags = parse_tag_value(record)
    except InvalidTagValueList:
        return "bad key record"
    if not tags.get(b"p", b"").strip():
        return "key revoked"
    try:
        key, bits, kind, _ = dkim.evaluate_pk(name, record)
    # dkimpy's ASN.1 parser asserts on some malformed keys; refused here, dkimpy never sees them.
    except (dkim.DKIMException, ValueError, AssertionError):
        return "bad key record"
    if kind == b"rsa" and (
        bits > MAX_KEY_BITS or key["publicExponent"].bit_length() > MAX_EXPONENT_BITS
    ):
        return "oversized key"
    return None


def _summary(verdicts: list[_Verdict], from_domain: str, unchecked: int) -> DkimResult:
    valid = [v for v in verdicts if v.valid]
    for verdict in valid:
        if aligned(verdict.domain, from_domain):
            return DkimResult(True, verdict.domain, verdict.reason)
    if valid:
        return DkimResult(False, valid[0].domain, "signature not aligned")
    reasons = list(dict.fromkeys(v.reason for v in verdicts))
    if unchecked:
        reasons.append(f"{unchecked} more signatures not checked")
    return DkimResult(False, None, "; ".join(reasons))
