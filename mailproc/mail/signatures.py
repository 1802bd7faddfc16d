"""Where a sender's signature starts in a body: after the closing, or a signature block.

Used by the parse stage to tell the logos of a signature (the state's coat of arms, a
banner, a spacer) from an image pasted into the text: an image the body shows after the
closing is part of the signature.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from typing import Final

from mailproc.mail.textfold import fold

# A closing alone on its line, as servidores write it, with a few words after it at most
# ("Att., Fulano de Tal", "Fico no aguardo de um retorno."): a line that goes on after a
# colon or a question is a sentence. Thanks close a mail only alone or with a courtesy, as
# replies open with "Obrigada! Segue o print" or "Obrigado pelo retorno, segue a UASG".
_CLOSING: Final = re.compile(
    r"(?:(?:att|atte|at\.? ?te|atenciosamente|cordialmente|respeitosamente|abs|abracos?"
    r"|saudacoes|fico no aguardo|fico a disposicao|desde ja agradeco)(?![\w-])[.,;!]*"
    r"(?: [^:.!?,;]{1,40})?"
    r"|(?:obrigad[oa]s?|grat[oa]s?)(?: (?:pela atencao|desde ja|antecipadamente))?"
    r"|--)[\s.!,;]*"
)
# Clients that mark their signature: Outlook (the _MailAutoSig bookmark, a div
# id="Signature"), Gmail (gmail_signature), Thunderbird (moz-signature), Apple, Zimbra.
_SIGNATURE_BLOCK: Final = re.compile(
    r"""<[^<>]{0,1000}?(?:name=["']?_MailAutoSig|id=["']?(?:Signature|signature)\b"""
    r"""|class=["']?[^"'>]*\b(?:gmail_signature|moz-signature|AppleMailSignature|signature)\b)""",
    re.IGNORECASE,
)
# Tags are matched without crossing a "<": markup full of unclosed tags costs one pass.
# The boundaries of the lines a browser shows: a break, a paragraph, a cell, a list item.
_LINE_BREAK: Final = re.compile(
    r"<(?:br|/?(?:p|div|tr|td|th|li|h[1-6]|table|blockquote|pre))\b[^<>]*>", re.IGNORECASE
)
_TAG: Final = re.compile(r"<[^>]*>")
# A line longer than this, markup included, is not a closing: skipped without unescaping.
_MAX_LINE_MARKUP: Final = 2_000
_MAX_CLOSING_CHARS: Final = 60


def signature_start(markup: str, *, is_html: bool = True) -> int | None:
    """The offset in ``markup`` where the signature starts, or None when none shows.

    The earliest of: the end of a closing line, and a block that a client marked as its
    signature. One pass over the markup; a line is cleaned and folded only when short."""
    marked = _SIGNATURE_BLOCK.search(markup) if is_html else None
    end = marked.start() if marked else len(markup)
    for start, stop in _lines(markup, end, is_html=is_html):
        if stop - start > _MAX_LINE_MARKUP:
            continue
        if is_closing(_shown(markup[start:stop], is_html=is_html)):
            return stop
    return end if marked else None


def _lines(markup: str, end: int, *, is_html: bool) -> Iterator[tuple[int, int]]:
    """(start, stop) of each line of ``markup[:end]``."""
    breaks = _LINE_BREAK.finditer(markup, 0, end) if is_html else re.finditer("\n", markup)
    start = 0
    for found in breaks:
        if found.start() >= end:
            break
        yield start, found.start()
        start = found.end()
    yield start, end


def _shown(line: str, *, is_html: bool) -> str:
    return html.unescape(_TAG.sub("", line)) if is_html else line


def is_closing(text: str) -> bool:
    """Whether a line of text is a closing ("Att.,", "Atenciosamente", "Grato pela
    atenção"), after which the signature comes; the one list of closings of the package."""
    text = text.strip()
    return 0 < len(text) <= _MAX_CLOSING_CHARS and _CLOSING.fullmatch(fold(text)) is not None
