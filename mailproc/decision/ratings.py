"""A requester's rating of a resolved ticket, 1 to 5, read from the first line of a reply.

    "5"   "5 - ótimo"   "Nota: 4"   "nota 4/5"   "avaliação 3 - bom atendimento"   "4 de 5"

A bare number counts only when it is the whole line or is followed by a dash, colon or
comma: "5 dias depois ainda não funciona" and "1. Acessei o sistema" are no ratings.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMENT_LIMIT = 2000

_OUT_OF = r"(?:\s*(?:/|de)\s*5)?(?:\s*(?:estrelas?|pontos?))?"
_WORDED = re.compile(
    r"(?:minha\s+)?(?:nota|avalia[çc][ãa]o|avalio(?:\s+com)?|classifica[çc][ãa]o)"
    rf"\s*[:=\-–]?\s*(?P<score>[1-5]){_OUT_OF}(?:\s*[.!,;:\-–—]+\s*(?P<comment>.*))?",
    re.IGNORECASE,
)
_BARE = re.compile(
    rf"(?P<score>[1-5]){_OUT_OF}(?:\s*[.!]?\s*|\s*[,:\-–—]+\s*(?P<comment>.*))",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Rating:
    """A score from 1 to 5 and what the requester said with it."""

    score: int
    comment: str = ""


def read_rating(text: str) -> Rating | None:
    """The rating a reply opens with, or None. The lines after it are its comment too."""
    first, _, rest = text.strip().partition("\n")
    line = " ".join(first.split())
    found = _WORDED.fullmatch(line) or _BARE.fullmatch(line)
    if found is None:
        return None
    comment = "\n".join(filter(None, [(found.group("comment") or "").strip(), rest.strip()]))
    return Rating(int(found.group("score")), comment[:COMMENT_LIMIT])
