"""Reading the sender-authentication verdict our receiving server wrote (RFC 8601).

A receiving server that checks SPF, DKIM and DMARC records its results in
``Authentication-Results`` headers that start with its own name, the authserv-id. Postfix
with OpenDKIM and OpenDMARC writes one header each, the later above the earlier:

    Authentication-Results: mx.example.gov.br; dmarc=fail (p=none dis=none)
        header.from=example.gov.br
    Authentication-Results: mx.example.gov.br; dkim=none
    Received: from mail.example.net (mail.example.net [45.33.32.156]) by mx.example.gov.br ...

**Which headers are ours.** Anyone can write a header naming our server into the mail they
send, and servers strip such headers only if configured to (RFC 8601 §5). What the sender
wrote sits below the ``Received`` line our border server wrote when the mail came in; what
our servers wrote sits above it. So the headers are read from the top down: the fields our
own delivery adds later (Return-Path, Delivered-To, ``X-`` and ``ARC-`` fields, another
server's Authentication-Results, and the ``Received`` lines of our own hops: LMTP to the
mailbox server, or a connection from an internal address such as a content filter's) are
passed over until our headers begin; all of ours are read; reading stops at the first field
that is neither ours nor passed over, and after our headers at the first ``Received`` line
or other server's header. A mail whose top holds no header of ours was not checked.

**What counts.** A result speaks for the mail only when it is about the From domain: DMARC's
when its ``header.from`` is the From domain; DKIM's when the signing domain (``header.d``,
else ``header.i``) and SPF's when the envelope domain (``smtp.mailfrom``) are aligned with it
(mailproc.mail.alignment). Our server vouches for the From (an *aligned pass*) when a method
passed for the From domain and no result of that method for that domain failed, and DMARC
failed nowhere. Our server checked and did not vouch: the mail *failed*, whether a method
failed or only passes for other domains were found (anyone can pass SPF and DKIM for their
own domain), whether the From domain publishes no DMARC policy or its lookup failed.

Pure. The parser is our own (the ``authres`` package rejects a whole header over Microsoft
365's missing authserv-id or one non-ASCII character, and is not typed): it needs only each
method, its result and the identifier it is about, and skips what it cannot read instead of
giving up on the header. Our server's headers are read whole and as written, without
decoding encoded words (mailproc.mail.parse keeps them so): a verdict may stand at the end of
a long header. Other headers are read only as far as their authserv-id.
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from email.utils import getaddresses
from typing import Literal

from mailproc.mail.addresses import domain_of
from mailproc.mail.alignment import aligned
from mailproc.mail.message import InboundMessage

# What to do with a message that failed: see Verdict.failed and mailproc.decision.decide.
OnFailure = Literal["block", "flag", "ignore"]
ON_FAILURE: tuple[OnFailure, ...] = ("block", "flag", "ignore")

# The methods that authenticate a From domain, each with the property that names the domain
# its result is about (RFC 8601 §2.7, RFC 7489 §11.2) and the results that are failures.
METHODS = ("dmarc", "dkim", "spf")
_IDENTIFIERS = {
    "dmarc": ("header.from",),
    "dkim": ("header.d", "header.i"),
    "spf": ("smtp.mailfrom",),
}
_FAILURES = {"dmarc": {"fail"}, "dkim": {"fail"}, "spf": {"fail", "softfail"}}

# "method[/version] = result", the start of every resinfo (RFC 8601 §2.2).
_METHOD = re.compile(r"\s*([a-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([a-z0-9_-]+)", re.IGNORECASE)
# A property "ptype.name=value" after it, or a quoted string (a reason) to step over whole.
_QUOTED = r'"(?:[^"\\]|\\.)*(?:"|$)'
_PROPERTY = re.compile(
    rf"(?P<quoted>{_QUOTED})|(?P<name>[a-z0-9_-]+\.[a-z0-9_-]+)\s*=\s*(?P<value>{_QUOTED}|[^\s\"]+)",
    re.IGNORECASE,
)
# The pieces _segments reads a header in: each character that can be special (backslash,
# brackets, semicolon, double quote), and runs of anything else.
_TOKEN = re.compile(r'[\\();"]|[^\\();"]+')

# Fields our own delivery adds above the headers of our receiving server, besides Received
# lines and other servers' Authentication-Results, and besides X- and ARC- fields.
_DELIVERY_FIELDS = frozenset({"return-path", "delivered-to", "envelope-to", "received-spf"})
# In a Received line: the protocol (the last "with" outside comments: the receiving server
# writes it after the connecting host's name), and the addresses in brackets.
_WITH = re.compile(r"\bwith\s+([a-z0-9-]+)", re.IGNORECASE)
_ADDRESS_LITERAL = re.compile(r"\[(?:ipv6:)?([0-9a-f:.]+)\]", re.IGNORECASE)
# Of a field that may not be ours only this much is read: an authserv-id opens its header, and
# a Received line of our own hops is shorter; a sender's field of any length then costs next
# to nothing to pass by.
_LEADING_SPAN = 1024


@dataclass(frozen=True)
class Result:
    """One method's result, lower-case, and the domain it is about ("" when not said)."""

    method: str
    result: str
    domain: str = ""


@dataclass(frozen=True)
class AuthResults:
    """One header: who wrote it (lower-case; "" when it names nobody, as Microsoft 365's
    does), its results in order, and whether it ended whole: a comment or quoted string left
    open takes in whatever follows, which may be a failure."""

    authserv_id: str
    results: tuple[Result, ...]
    whole: bool = True


@dataclass(frozen=True)
class Verdict:
    """What our server's headers say of a mail whose From names ``from_domain`` (None when
    From does not name one domain: no pass can be about it); ``whole`` is False when one of
    them was left open, and may hide a failure."""

    results: tuple[Result, ...]
    from_domain: str | None
    whole: bool = True

    @property
    def aligned_pass(self) -> bool:
        """Our server vouches for the From: a method passed for the From domain and none of
        its results for that domain failed, and DMARC failed nowhere. DMARC's own pass, or an
        aligned DKIM or SPF pass: the two DMARC takes as proof, whether or not the domain
        publishes a policy (it says what to do on failure, not what authenticates)."""
        if not self.whole:
            return False
        if any(r.method == "dmarc" and r.result in _FAILURES["dmarc"] for r in self.results):
            return False
        return any(self._passed(method) for method in METHODS)

    @property
    def failed(self) -> bool:
        """Our server checked the mail and did not vouch for its From."""
        return (bool(self.results) or not self.whole) and not self.aligned_pass

    def _passed(self, method: str) -> bool:
        found = {r.result for r in self.results if r.method == method and self._about_from(r)}
        return "pass" in found and not found & _FAILURES[method]

    def _about_from(self, result: Result) -> bool:
        if self.from_domain is None or not result.domain:
            return False
        if result.method == "dmarc":  # DMARC names the From domain it evaluated
            return result.domain == self.from_domain
        return aligned(result.domain, self.from_domain)

    def _shown(self, method: str) -> str:
        results = [r for r in self.results if r.method == method]
        failure = next((r.result for r in results if r.result in _FAILURES[method]), None)
        if failure or not results:
            return failure or "absent"
        if self._passed(method):
            return "pass"
        if any(r.result == "pass" for r in results):
            return "pass(unaligned)"
        return results[0].result

    def __str__(self) -> str:
        """``dmarc=none dkim=pass(unaligned) spf=softfail``: short, and free of personal
        data (no domain: a pass for another domain than From's reads "unaligned")."""
        shown = " ".join(f"{method}={self._shown(method)}" for method in METHODS)
        return shown if self.whole else f"{shown} (header left open)"


def verdict(message: InboundMessage, authserv_id: str) -> Verdict | None:
    """What our server (``authserv_id``) said of ``message``; None when it wrote nothing
    for it (see the module docstring): not checked."""
    headers = our_headers(header_fields(message), authserv_id)
    if not headers:
        return None
    results = tuple(r for header in headers for r in header.results if r.method in METHODS)
    return Verdict(results, from_domain(message), all(header.whole for header in headers))


def authenticated(message: InboundMessage, authserv_id: str) -> bool:
    """Whether our server vouches for the message's From: an aligned pass, no failure."""
    found = verdict(message, authserv_id) if authserv_id else None
    return found is not None and found.aligned_pass


def from_domain(message: InboundMessage) -> str | None:
    """The one domain the From field names, which is the sender's; None when From names no
    domain or more than one (an aligned pass for one of them would not be for the others)."""
    sender = message.sender
    domain = domain_of(sender.email) if sender else ""
    named = {domain_of(a) for _, a in getaddresses(list(message.headers.get("from", ())))}
    return domain if domain and named == {domain} else None


def header_fields(message: InboundMessage) -> Iterator[tuple[str, str]]:
    """The message's header fields, top first. A message built without ``header_order``
    (by hand, in a test) gives its fields grouped by name."""
    order = message.header_order or tuple(
        name for name, values in message.headers.items() for _ in values
    )
    seen: Counter[str] = Counter()
    for name in order:
        values, index = message.headers.get(name, ()), seen[name]
        seen[name] += 1
        if index < len(values):
            yield name, values[index]


def our_headers(fields: Iterable[tuple[str, str]], authserv_id: str) -> list[AuthResults]:
    """The headers our server wrote, read from the top (see the module docstring)."""
    wanted = _authserv_id(authserv_id)
    ours: list[AuthResults] = []
    for name, value in fields:
        if name == "authentication-results":
            if wanted and _authserv_id(parse(value[:_LEADING_SPAN]).authserv_id) == wanted:
                ours.append(parse(value))
            elif ours:
                break  # below ours: an upstream server's, or the sender's
        elif name == "received":
            if ours or not own_hop(value):
                break  # the border: everything below came with the mail
        elif name not in _DELIVERY_FIELDS and not name.startswith(("x-", "arc-")):
            break  # a field the sender writes
    return ours


def own_hop(received: str) -> bool:
    """Whether a Received line records a hop inside our own system: delivery over LMTP, or
    a connection from internal addresses only (loopback, private). The receiving server
    writes the protocol and the connecting address; a sender can add a private address in
    its HELO, but not take away the public one our border server records."""
    if len(received) > _LEADING_SPAN:  # our hops write short lines
        return False
    trace = received.partition(";")[0]
    protocols = _WITH.findall(_uncommented(trace))
    if protocols and protocols[-1].lower().startswith("lmtp"):
        return True
    addresses = _ADDRESS_LITERAL.findall(trace)
    return bool(addresses) and all(_internal(address) for address in addresses)


def parse(value: str) -> AuthResults:
    """One header value; what cannot be read is skipped (garbage gives no results)."""
    (first, *resinfos), whole = _segments(value)
    if _METHOD.match(first):  # no authserv-id: the first segment is already a result
        authserv_id, resinfos = "", [first, *resinfos]
    else:
        words = first.split()
        authserv_id = words[0].strip('"').lower() if words else ""
    return AuthResults(authserv_id, tuple(filter(None, map(_result, resinfos))), whole)


def _result(resinfo: str) -> Result | None:
    found = _METHOD.match(resinfo)
    if found is None:
        return None
    method, result = found[1].lower(), found[2].lower()
    properties = {
        match["name"].lower(): match["value"].strip('"')
        for match in _PROPERTY.finditer(resinfo, found.end())
        if match["name"]
    }
    names = _IDENTIFIERS.get(method, ())
    identifier = next((properties[name] for name in names if properties.get(name)), "")
    return Result(method, result, _domain(identifier))


def _domain(identifier: str) -> str:
    """The domain of ``user@domain``, ``@domain`` or ``domain``, lower-case."""
    if "@" in identifier:
        return domain_of(identifier)
    return identifier.strip().rstrip(".").lower()


def _authserv_id(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _internal(address: str) -> bool:
    try:
        return not ipaddress.ip_address(address).is_global
    except ValueError:
        return False


def _uncommented(value: str) -> str:
    return " ".join(_segments(value.replace(";", " "))[0])


def _segments(value: str) -> tuple[list[str], bool]:
    """``value`` split at the semicolons that separate its parts, with comments removed, and
    whether it ended whole (no comment or quoted string left open).

    Quoted strings are kept whole (a ``reason="a; b"`` is one part), and comments may nest
    and hold quoted pairs (RFC 5322 §3.2.2): ``(a (b\\) c) d)`` is one comment. In a comment
    a double quote is only a character, as the RFC has it.
    """
    segments: list[str] = []
    current: list[str] = []
    depth, quoted, escaped = 0, False, False
    for token in _TOKEN.findall(value):
        if escaped:  # a quoted pair: the token after the backslash is only a character
            escaped = False
            if not depth:
                current.append(token)
        elif token == "\\" and (quoted or depth):
            escaped = True
            if not depth:
                current.append(token)
        elif quoted:
            quoted = token != '"'
            current.append(token)
        elif token == "(":
            depth += 1
        elif token == ")" and depth:
            depth -= 1
            if not depth:
                current.append(" ")  # a comment separates like white space
        elif depth:
            continue
        elif token == ";":
            segments.append("".join(current))
            current = []
        else:
            quoted = token == '"'
            current.append(token)
    segments.append("".join(current))
    return segments, not (depth or quoted)
