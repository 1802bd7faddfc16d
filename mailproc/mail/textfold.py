"""Folding text for matching: case-, accent- and spacing-insensitive comparisons."""

from __future__ import annotations

import re
import unicodedata

_SPACES = re.compile(r"\s+")


def fold(text: str) -> str:
    """Lower-case, strip accents, collapse white space: "Reativação  UASG" -> "reativacao uasg"."""
    if text.isascii():  # most lines: nothing to decompose (the rest costs ten times more)
        return _SPACES.sub(" ", text.lower()).strip()
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return _SPACES.sub(" ", stripped).strip()
