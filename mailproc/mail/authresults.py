"""Reading the sender-authentication verdict our receiving server wrote (RFC 8601).

A receiving server that checks SPF, DKIM and DMARC records its results in an
``Authentication-Results`` header that starts with its own name, the authserv-id:

    Authentication-Results: mx.example.gov.br; spf=softfail smtp.mailfrom=example.com;
        dkim=none; dmarc=fail (p=none dis=none) header.from=example.com

Anyone can write such a header into the mail they send, so only those naming our server
count, and of those only the topmost: a server prepends its header, so ours sits above any
that came with the message, even a forged one with our name. A forgery can only stand
alone when our server wrote nothing for the message, and then it can only claim a pass:
the same as not checking.

Pure. The parser is our own (the ``authres`` package rejects a whole header over Microsoft
365's missing authserv-id or one non-ASCII character, and is not typed): it needs only each
method and its result, and skips what it cannot read instead of giving up on the header.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

# What to do with a message that failed: see Verdict.failed and mailproc.decision.decide.
OnFailure = Literal["block", "flag", "ignore"]
ON_FAILURE: tuple[OnFailure, ...] = ("block", "flag", "ignore")

# "method[/version] = result", the start of every resinfo (RFC 8601 §2.2); the reason and
# the properties that follow are not needed for the verdict.
_METHOD = re.compile(r"\s*([a-z0-9_.-]+)\s*(?:/\s*\d+\s*)?=\s*([a-z0-9_-]+)", re.IGNORECASE)
_SPF_FAILURES = frozenset({"fail", "softfail"})


@dataclass(frozen=True)
class AuthResults:
    """One header: who wrote it (lower-case; "" when it names nobody, as Microsoft 365's
    does) and each ``(method, result)`` in order, lower-case."""

    authserv_id: str
    results: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Verdict:
    """Our server's result for each method: None when it reported none. With several results
    for one method (a message with two DKIM signatures), any pass is the method's result."""

    dmarc: str | None = None
    dkim: str | None = None
    spf: str | None = None

    @property
    def failed(self) -> bool:
        """The sender's domain did not vouch for the message.

        DMARC decides when it gave a verdict: it is the check of the visible From domain,
        and a pass stands even if SPF failed on a forwarding hop. Without one (no result,
        ``none``: the domain publishes no policy, or a temporary or permanent error), the
        message failed when SPF says the sending server is not authorised (fail, softfail)
        and no DKIM signature passed: an unsigned forgery reports ``dkim=none``, not fail.
        """
        if self.dmarc in ("pass", "fail"):
            return self.dmarc == "fail"
        return self.spf in _SPF_FAILURES and self.dkim != "pass"

    def __str__(self) -> str:
        """``dmarc=fail dkim=none spf=softfail``: short, and free of personal data."""
        results = {"dmarc": self.dmarc, "dkim": self.dkim, "spf": self.spf}
        return " ".join(f"{method}={result or 'absent'}" for method, result in results.items())


def parse(value: str) -> AuthResults:
    """One header value; what cannot be read is skipped (garbage gives no results)."""
    first, *resinfos = _segments(value)
    if _METHOD.match(first):  # no authserv-id: the first segment is already a result
        authserv_id, resinfos = "", [first, *resinfos]
    else:
        words = first.split()
        authserv_id = words[0].strip('"').lower() if words else ""
    results = tuple(
        (found[1].lower(), found[2].lower()) for found in map(_METHOD.match, resinfos) if found
    )
    return AuthResults(authserv_id, results)


def verdict(values: Iterable[str], authserv_id: str) -> Verdict | None:
    """The verdict of the topmost header written by ``authserv_id`` (the header values in
    their order in the message, top first), or None when there is none: not checked."""
    wanted = authserv_id.strip().lower()
    ours = next((h for h in map(parse, values) if wanted and h.authserv_id == wanted), None)
    if ours is None:
        return None
    return Verdict(**{method: _result(ours, method) for method in ("dmarc", "dkim", "spf")})


def _result(header: AuthResults, method: str) -> str | None:
    results = [result for name, result in header.results if name == method]
    return "pass" if "pass" in results else next(iter(results), None)


def _segments(value: str) -> list[str]:
    """``value`` split at the semicolons that separate its parts, with comments removed.

    Quoted strings are kept whole (a ``reason="a; b"`` is one part), and comments may nest
    and hold quoted pairs (RFC 5322 §3.2.2): ``(a (b\\) c) d)`` is one comment.
    """
    segments, current = [], []
    depth, quoted, escaped = 0, False, False
    for char in value:
        if escaped:
            escaped = False
            if depth == 0:
                current.append(char)
        elif char == "\\" and (quoted or depth):
            escaped = True
            if depth == 0:
                current.append(char)
        elif quoted:
            quoted = char != '"'
            current.append(char)
        elif char == "(":
            depth += 1
        elif char == ")" and depth:
            depth -= 1
            if depth == 0:
                current.append(" ")  # a comment separates like white space
        elif depth:
            continue
        elif char == ";":
            segments.append("".join(current))
            current = []
        else:
            quoted = char == '"'
            current.append(char)
    segments.append("".join(current))
    return segments
