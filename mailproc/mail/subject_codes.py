"""Ticket codes in subjects: find one despite what mail clients and people do, add one once."""

from __future__ import annotations

import re
from functools import lru_cache

CODE_PLACEHOLDER = "{code}"
DEFAULT_TAG_FORMAT = "[#{code}]"

# A ticket code is "YYYY-NNNNNN" (mailproc.storage.codes pads to six digits; a busy year may need
# more). It is only ever searched right after a tag's decoration, so nothing can precede it;
# the lookahead keeps it from matching the start of a process number ("#2026-000123/2025",
# "#2026-000123-4", "#2026-000123.5").
_CODE = r"(\d{4}-\d{6,})(?![\d/]|[-.]\d)"
_CODE_RE = re.compile(_CODE)

# Subject prefixes that clients put before a reply or a forward, in the languages our users'
# clients speak (pt-BR Outlook: RES/ENC; Gmail/Thunderbird: Re/Fwd; German AW/WG; French TR;
# Spanish RV; Nordic SV/VS). Single-letter Italian "R:"/"I:" are left out: too easy to confuse.
REPLY_PREFIXES = frozenset({"re", "res", "resp", "aw", "sv", "vs", "antw", "rif"})
FORWARD_PREFIXES = frozenset({"enc", "fw", "fwd", "tr", "wg", "rv"})

# Every optional part carries its own trailing spaces, so no two "\s*" ever meet: adjacent
# ones backtrack polynomially over a long run of spaces (2 s for 1,000 with three of them).
_PREFIX = re.compile(
    r"""\s*(?P<word>[a-z]+)\s*
    (?:\.\s*)?                           # "Enc.:"
    (?:(?:\[\d+\]|\(\d+\)|\^\d+)\s*)?    # reply counters: "RE[2]:", "Re(3):", "Re^2:"
    [:：]\s*""",
    re.IGNORECASE | re.VERBOSE,
)

# Brackets that usually surround a tag and that mail gateways and people tend to lose.
_OUTER_BRACKETS = "[](){}<>"
_DECORATION_TOKEN = re.compile(r"\w+|\S")


def leading_prefixes(subject: str) -> tuple[str, ...]:
    """The reply/forward prefixes opening a subject, lower-cased: "RES: Enc.: x" -> (res, enc)."""
    return tuple(word for word, _ in _prefix_spans(subject))


def strip_reply_prefixes(subject: str) -> str:
    """The subject without its leading RE:/RES:/ENC:/FW:/Fwd:/AW:/... prefixes, however many."""
    return subject[_prefix_end(subject) :].strip()


def find_ticket_code(subject: str, tag_format: str = DEFAULT_TAG_FORMAT) -> str | None:
    """The ticket code a subject carries, or None.

    Accepted, in this order: the configured tag (any case and spacing), the tag without its
    surrounding brackets, and a bare "#CODE". A bare "CODE" is never taken: process numbers
    such as "processo 2026-000123/2025" look just like it.
    """
    for pattern in _tag_patterns(tag_format):
        found = pattern.search(subject)
        if found:
            return found.group(1)
    return None


def tag_subject(subject: str, code: str, tag_format: str = DEFAULT_TAG_FORMAT) -> str:
    """The subject carrying the ticket tag once, after any reply/forward prefixes.

    A subject that already names this code (in any accepted form) is returned unchanged.
    """
    if not _CODE_RE.fullmatch(code):
        raise ValueError(f"not a ticket code: {code!r}")
    if find_ticket_code(subject, tag_format) == code:
        return subject
    tag = tag_format.replace(CODE_PLACEHOLDER, code)
    end = _prefix_end(subject)
    head, rest = subject[:end], subject[end:].strip()
    return f"{head}{tag} {rest}".strip()


def untagged(subject: str, code: str, tag_format: str = DEFAULT_TAG_FORMAT) -> str:
    """The subject without the tag of ``code`` (in any accepted form) and the reply/forward
    prefixes: a new ticket opened by a reply about another one does not carry its code."""
    for pattern in _tag_patterns(tag_format):
        subject = pattern.sub(lambda found: "" if found.group(1) == code else found.group(0),
                              subject)  # fmt: skip
    return " ".join(strip_reply_prefixes(subject).split())


def _prefix_spans(subject: str) -> list[tuple[str, int]]:
    """Each leading known prefix with the index just after it."""
    spans: list[tuple[str, int]] = []
    position = 0
    known = REPLY_PREFIXES | FORWARD_PREFIXES
    while (found := _PREFIX.match(subject, position)) and found.group("word").lower() in known:
        position = found.end()
        spans.append((found.group("word").lower(), position))
    return spans


def _prefix_end(subject: str) -> int:
    """Index just after the last leading prefix (0 without any)."""
    spans = _prefix_spans(subject)
    return spans[-1][1] if spans else 0


@lru_cache(maxsize=16)
def _tag_patterns(tag_format: str) -> tuple[re.Pattern[str], ...]:
    """Compiled patterns for a tag format, strictest first, without duplicates."""
    if tag_format.count(CODE_PLACEHOLDER) != 1:
        raise ValueError(f"tag format must contain {CODE_PLACEHOLDER} once: {tag_format!r}")
    before, after = tag_format.split(CODE_PLACEHOLDER)
    candidates = (
        (before, after),
        (before.lstrip().lstrip(_OUTER_BRACKETS), after.rstrip().rstrip(_OUTER_BRACKETS)),
        ("#", ""),
    )
    sources = dict.fromkeys(
        r"\s*".join(part for part in (_tolerant(prefix), _CODE, _tolerant(suffix)) if part)
        for prefix, suffix in candidates
        if prefix.strip() or suffix.strip()
    )
    return tuple(re.compile(source, re.IGNORECASE) for source in sources)


def _tolerant(decoration: str) -> str:
    r"""A regex for the decoration around a code that allows any spacing: "[#" -> "\[\s*\#"."""
    tokens = _DECORATION_TOKEN.findall(decoration)
    pattern = r"\s*".join(re.escape(token) for token in tokens)
    # A decoration opening with a word must not match the tail of another word: "Subchamado".
    return rf"(?<!\w){pattern}" if tokens and tokens[0][0].isalnum() else pattern
