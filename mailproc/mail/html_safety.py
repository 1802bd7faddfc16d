"""Senders' HTML made safe to show to staff: nh3 (ammonia) with a help desk's allow-list.

What stays is what reading a support mail needs: text formatting, headings, lists, tables,
quotes, links and the images the mail itself carries. Everything else goes:

- scripts, styles, ``<svg>``/``<math>`` (the usual carriers of mutation XSS), frames,
  objects, forms and ``<template>`` lose their content too, not only their tags;
- every attribute not listed below: event handlers (``onerror``), ``style`` (CSS
  ``expression()`` and ``url()`` beacons), ``class``/``id`` (they would hook into the styles
  of the page showing the mail);
- ``<base>``, ``<meta>`` (refresh redirects), ``<link>`` and comments (conditional comments);
- links other than ``http``, ``https`` and ``mailto`` (``javascript:``, ``data:``, relative
  links, which would resolve against the desk's own site); kept links get
  ``rel="noopener noreferrer"``;
- image addresses other than ``cid:``: a remote image is a tracking pixel that tells the
  sender (or a spammer) when and from where staff read the mail, and ``data:`` images are
  left out too (arbitrary size, SVG payloads). ``cid:`` images are the mail's own inline
  parts, stored as its attachments, which a viewer resolves without leaving the desk.

The result is bounded: at most ``limit`` characters, cut (and marked as cut) when the
sender's HTML is larger; the plain text of the message is kept whole beside it.
"""

from __future__ import annotations

import nh3

MAX_HTML_CHARS = 1_000_000
# Shown to staff at the end of HTML that was cut to the bound.
TRUNCATED_NOTE = "<p><em>[HTML truncado: o texto completo está na versão em texto.]</em></p>"

ALLOWED_TAGS = frozenset(
    {
        *("p", "br", "div", "span", "hr", "pre", "code", "blockquote"),
        *("b", "strong", "i", "em", "u", "s", "strike", "del", "ins", "sub", "sup", "small"),
        *("h1", "h2", "h3", "h4", "h5", "h6"),
        *("ul", "ol", "li", "dl", "dt", "dd"),
        *("table", "caption", "thead", "tbody", "tfoot", "tr", "th", "td", "colgroup", "col"),
        *("a", "img"),
    }
)
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start"},
}
# Removed together with everything inside them: their content is code, or fallback text
# that would otherwise show up as stray markup.
DROPPED_WITH_CONTENT = frozenset(
    {
        *("script", "style", "template", "title", "noscript", "noembed", "noframes"),
        *("svg", "math", "iframe", "frame", "frameset", "object", "embed", "applet"),
    }
)
LINK_SCHEMES = ("http:", "https:", "mailto:")
IMAGE_SCHEMES = ("cid:",)


def _only_safe_addresses(tag: str, attribute: str, value: str) -> str | None:
    """nh3 already refused schemes outside the union; this narrows each attribute's own."""
    if tag == "a" and attribute == "href":
        return value if value.lower().startswith(LINK_SCHEMES) else None
    if tag == "img" and attribute == "src":
        return value if value.lower().startswith(IMAGE_SCHEMES) else None
    return value


_CLEANER = nh3.Cleaner(
    tags=set(ALLOWED_TAGS),
    clean_content_tags=set(DROPPED_WITH_CONTENT),
    attributes=ALLOWED_ATTRIBUTES,
    attribute_filter=_only_safe_addresses,
    url_schemes={scheme.rstrip(":") for scheme in (*LINK_SCHEMES, *IMAGE_SCHEMES)},
    url_relative="deny",
    link_rel="noopener noreferrer",
    strip_comments=True,
)


def sanitize_html(html: str, limit: int = MAX_HTML_CHARS) -> str:
    """``html`` with only the allowed markup left, in at most ``limit`` characters.

    Escaping can make the clean text longer than its source ("<" becomes "&lt;"), so a
    result over the bound is made again from a shorter source rather than cut, which
    would break the markup.
    """
    size = limit
    while True:
        clean = _CLEANER.clean(html[:size])
        result = clean + TRUNCATED_NOTE if size < len(html) else clean
        if len(result) <= limit or size == 0:
            return result
        size = min(size, len(html)) // 2


def display_html(html: str | None, limit: int = MAX_HTML_CHARS) -> str | None:
    """What to store for showing a message's HTML part: None when there is none, or when
    nothing is left of it once sanitized (a mail that was all script)."""
    if html is None:
        return None
    clean = sanitize_html(html, limit)
    return clean if clean.strip() else None
