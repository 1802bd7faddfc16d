"""Senders' HTML made bounded and safe: to show to staff (nh3) and to read as text (inscriptis).

Every HTML library tried costs more than linear time on some markup: nh3 (html5ever)
takes time growing with the square of the nesting ("<div>" 10,000 times unclosed: 0.2 s,
40,000: 3.5 s), of the attributes of one tag, and of the named character references in one
text; libxml2 (lxml, under inscriptis) with the square of the attributes of one tag; and
inscriptis lays out a table whose text grows with rows times width. So the HTML reaches
them only through ``bound_html``, in linear time:

1. the size: at most ``MAX_HTML_CHARS``, once the base64 of pasted images (kept as files
   by the parser) is left out;
2. a tokenizer (regular expressions following the HTML5 tokenizer) writes every tag again
   with its attribute values escaped, so that no later reader finds a tag it did not see;
   a tag with more than ``MAX_ATTRIBUTES`` attributes keeps none, and comments go;
3. libxml2 builds the tree, which it stops at 256 levels; elements more than ``MAX_DEPTH``
   levels down, and formatting elements (``<b>``, ``<font>`` ...) inside more than
   ``MAX_FORMATTING_DEPTH`` others, lose their tags and keep their text. html5ever copies
   the open formatting elements into every block that follows them, so their nesting
   multiplies the markup it builds.

From that tree, the text (for HTML-only mail) comes from inscriptis with tables written
row by row rather than laid out, and the HTML shown to staff from nh3 with a help desk's
allow-list. What stays is what reading a support mail needs: text formatting, headings,
lists, tables, quotes, links and the images the mail itself carries. Everything else goes:

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

import re
from dataclasses import dataclass, field
from functools import cache
from typing import TYPE_CHECKING

import nh3

if TYPE_CHECKING:  # lxml and inscriptis are imported when a mail has HTML (start-up time)
    from inscriptis.model.config import ParserConfig
    from lxml.html import HtmlElement

MAX_HTML_CHARS = 1_000_000
# The corpus of real mail nests 39 levels at most, formatting elements 5 and attributes 23.
MAX_DEPTH = 64
MAX_FORMATTING_DEPTH = 8
MAX_ATTRIBUTES = 64
# The longest text nh3 is given in one piece (see _split_long_texts).
TEXT_PIECE = 16_384
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
# The elements HTML5 reopens in each block that follows them while they are open.
FORMATTING_TAGS = (
    *("a", "b", "big", "code", "em", "font", "i", "nobr", "s", "small"),
    *("strike", "strong", "tt", "u"),
)


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

# --- the tokenizer -------------------------------------------------------------------------
# The HTML5 tokenizer's tag states as expressions; possessive quantifiers (no backtracking)
# and an end of input accepted wherever the tokenizer accepts one keep every match linear.
_NAME = r"[A-Za-z][^\t\n\f\r />]*+"
_ATTRIBUTE = (
    r"[^\t\n\f\r />][^\t\n\f\r />=]*+"  # a name, which may begin with "="
    r"(?:[\t\n\f\r ]*+=[\t\n\f\r ]*+"
    r"(?:\"[^\"]*+(?:\"|\Z)|'[^']*+(?:'|\Z)|[^\t\n\f\r >\"'][^\t\n\f\r >]*+)?)?"
)
_ATTRIBUTES = rf"(?:[\t\n\f\r /]*+{_ATTRIBUTE})*+[\t\n\f\r /]*+"
# Elements whose content is text up to their end tag, whatever "<" it holds.
_RAW_TEXT = "script|style|xmp|iframe|noembed|noframes|noscript|textarea|title|plaintext"
_MARKUP = re.compile(
    rf"<(?:(?P<raw>{_RAW_TEXT})(?=[\t\n\f\r />])(?P<raw_attributes>{_ATTRIBUTES})(?:>|\Z)"
    rf"(?P<text>.*?)(?:</(?P=raw)(?=[\t\n\f\r />]){_ATTRIBUTES}(?:>|\Z)|\Z)"
    rf"|(?P<start>{_NAME})(?P<attributes>{_ATTRIBUTES})(?P<close>>|\Z)"
    rf"|/(?P<end>{_NAME}){_ATTRIBUTES}(?:>|\Z)"
    r"|!--(?:>|->|.*?(?:--!?>|\Z))"  # a comment
    r"|[!?/][^>]*+(?:>|\Z)"  # a doctype, a processing instruction, "</" and no name
    r"|)",  # a "<" that opens nothing: text
    re.DOTALL | re.IGNORECASE,
)
_ONE_ATTRIBUTE = re.compile(_ATTRIBUTE)


@dataclass
class _Rewriter:
    """Writes each piece of markup ``_MARKUP`` finds again, noting what it took away."""

    attributes_dropped: int = 0

    def __call__(self, match: re.Match[str]) -> str:
        if match["raw"] is not None:
            start = self._tag(match["raw"], match["raw_attributes"])
            return f"{start}{match['text'].replace('<', '&lt;')}</{match['raw']}>"
        if match["start"] is not None:
            # A tag the end of the HTML cuts short is no tag (the HTML5 tokenizer drops it).
            return self._tag(match["start"], match["attributes"]) if match["close"] else ""
        if match["end"] is not None:
            return f"</{match['end']}>"  # an end tag's attributes mean nothing
        return "&lt;" if match.end() - match.start() == 1 else ""

    def _tag(self, name: str, attributes: str) -> str:
        # Each attribute takes two characters at least: only a long tag can have too many.
        too_long = len(attributes) > 2 * MAX_ATTRIBUTES
        if too_long and len(_ONE_ATTRIBUTE.findall(attributes)) > MAX_ATTRIBUTES:
            self.attributes_dropped += 1
            return f"<{name}>"
        if "<" in attributes or ">" in attributes:  # inside quoted values
            attributes = attributes.replace("<", "&lt;").replace(">", "&gt;")
        return f"<{name}{attributes}>"


# --- the tree ------------------------------------------------------------------------------

# What libxml2 cannot hold in a tree: control characters (a form feed is white space to HTML),
# non-characters, and the lone surrogates of bytes no charset could decode.
_NOT_IN_TREE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
_IN_TREE_INSTEAD = {"\x0c": " "} | {chr(c): "\ufffd" for c in range(0xD800, 0xE000)}
_PASTED_IMAGE_DATA = re.compile(r"(data:image/[\w.+-]+;base64,)[A-Za-z0-9+/=\r\n]+", re.I)
# lxml writes these named references, which cost html5ever time growing with the square of
# their number in one text; numeric ones do not.
_NAMED_REFERENCES = {"&amp;": "&#38;", "&lt;": "&#60;", "&gt;": "&#62;", "&quot;": "&#34;"}
_NAMED_REFERENCE = re.compile("|".join(_NAMED_REFERENCES))


@dataclass(frozen=True)
class BoundedHtml:
    """A sender's HTML as a tree of bounded size, depth and width, and what was cut."""

    tree: HtmlElement | None
    defects: tuple[str, ...] = field(default=())

    def sanitized(self, limit: int = MAX_HTML_CHARS) -> str:
        """The HTML with only the allowed markup left, in at most ``limit`` characters.

        Escaping can make the clean text longer than its source ("<" becomes "&lt;"), so a
        result over the bound is made again from a shorter source rather than cut, which
        would break the markup.
        """
        if self.tree is None:
            return ""
        from lxml.html import tostring

        html = _NAMED_REFERENCE.sub(
            lambda found: _NAMED_REFERENCES[found[0]], tostring(self.tree, encoding="unicode")
        )
        size = limit
        while True:
            clean = _CLEANER.clean(_cut(html, size))
            result = clean + TRUNCATED_NOTE if size < len(html) else clean
            if len(result) <= limit or size == 0:
                return result
            size = min(size, len(html)) // 2

    def shown(self, limit: int = MAX_HTML_CHARS) -> str | None:
        """What to keep for showing: None when nothing is left once sanitized (a mail that
        was all script)."""
        clean = self.sanitized(limit)
        return clean if clean.strip() else None

    def text(self) -> str:
        """The text a reader sees, at most ``MAX_HTML_CHARS`` characters."""
        if self.tree is None:
            return ""
        from inscriptis.html_engine import Inscriptis

        text: str = Inscriptis(_with_labelled_rows(self.tree), _text_config()).get_text()
        return text[:MAX_HTML_CHARS]


# A two-column row whose first cell is a label ("UASG" | "160123"), pasted from Word or Excel.
_TWO_CELL_ROWS = "//tr[count(td|th) = 2]"
MAX_LABEL_CELL_CHARS = 100


def _with_labelled_rows(tree: HtmlElement) -> HtmlElement:
    """The tree, or a copy of it where each two-column row reads "Label: value": the first
    cell becomes its text and a colon (Outlook wraps it in paragraphs, which would put the
    label and its value on lines of their own). The tree shown to staff is left as it is."""
    from copy import deepcopy

    from lxml.etree import XPath

    if not XPath(_TWO_CELL_ROWS)(tree):
        return tree
    copy = deepcopy(tree)
    for row in XPath(_TWO_CELL_ROWS)(copy):
        label_cell = row.xpath("td|th")[0]
        label = " ".join(label_cell.text_content().split()).strip("*_ ")
        if not label or len(label) > MAX_LABEL_CELL_CHARS:
            continue
        tail = label_cell.tail
        label_cell.clear()
        label_cell.text = label if label.endswith(":") else f"{label}:"
        label_cell.tail = tail
    return copy


def _cut(html: str, size: int) -> str:
    """The first ``size`` characters of serialized HTML, less a character reference cut in
    two ("&#6" of "&#60;" would be a control character)."""
    cut = html[:size]
    reference = cut.rfind("&")
    return cut[:reference] if reference > cut.rfind(";") else cut


def bound_html(html: str) -> BoundedHtml:
    """``html`` read into a tree within the limits above, in time linear in its length."""
    defects: list[str] = []
    if "base64" in html or "BASE64" in html:
        html = _PASTED_IMAGE_DATA.sub(r"\1", html)
    if len(html) > MAX_HTML_CHARS:
        defects.append(f"HTML longer than {MAX_HTML_CHARS} characters: the rest not read")
        html = html[:MAX_HTML_CHARS]
    html = _NOT_IN_TREE.sub(lambda found: _IN_TREE_INSTEAD.get(found[0], ""), html)
    rewriter = _Rewriter()
    html = _MARKUP.sub(rewriter, html)
    if rewriter.attributes_dropped:
        defects.append(
            f"{rewriter.attributes_dropped} HTML tags with more than {MAX_ATTRIBUTES}"
            " attributes: their attributes dropped"
        )
    tree = _tree(html, defects)
    return BoundedHtml(tree, tuple(defects))


def sanitize_html(html: str, limit: int = MAX_HTML_CHARS) -> str:
    """``html`` bounded, then with only the allowed markup left, in at most ``limit``
    characters."""
    return bound_html(html).sanitized(limit)


def display_html(html: str | None, limit: int = MAX_HTML_CHARS) -> str | None:
    """What to keep for showing a message's HTML part (see ``BoundedHtml.shown``)."""
    return None if html is None else bound_html(html).shown(limit)


def _tree(html: str, defects: list[str]) -> HtmlElement | None:
    from lxml.etree import ParserError, XPath, strip_tags
    from lxml.html import HTMLParser, document_fromstring

    parser = HTMLParser(remove_comments=True, remove_pis=True, no_network=True)
    try:
        tree = document_fromstring(html, parser=parser)
    except ParserError:  # nothing but white space, or nothing libxml2 keeps
        return None
    if any("Excessive depth" in error.message for error in parser.error_log):
        defects.append("HTML nested deeper than 256 levels: the rest not read")
    too_deep = XPath("/*" + "/*" * MAX_DEPTH)(tree)
    for element in too_deep:
        strip_tags(element, "*")
    if too_deep:
        defects.append(f"HTML nested deeper than {MAX_DEPTH} levels: the deeper tags dropped")
    if _drop_nested_formatting(tree):
        defects.append(
            f"HTML formatting nested deeper than {MAX_FORMATTING_DEPTH}: the deeper tags dropped"
        )
    _split_long_texts(tree)
    return tree


def _drop_nested_formatting(tree: HtmlElement) -> bool:
    """Drop the tags (not the text) of formatting elements inside MAX_FORMATTING_DEPTH others."""
    from lxml.etree import iterwalk

    depth, nested = 0, []
    for event, element in iterwalk(tree, events=("start", "end"), tag=FORMATTING_TAGS):
        depth += 1 if event == "start" else -1
        if event == "start" and depth > MAX_FORMATTING_DEPTH:
            nested.append(element)
    for element in nested:  # the outermost first: each moves the next one up, not the rest
        element.drop_tag()
    return bool(nested)


def _split_long_texts(tree: HtmlElement) -> None:
    """Cut texts over TEXT_PIECE characters into spans of that many. nh3 escapes each "&"
    and no-break space of a text by copying what it wrote of it so far: its time grows with
    the square of one text's length, and the spans keep that length short. (Each element is
    looked at, not XPath's text(): libxml2 keeps the texts left by dropped tags apart.)"""
    from lxml.html import Element

    long_ones = [
        (element, is_tail)
        for element in tree.iter()
        for is_tail, text in ((False, element.text), (True, element.tail))
        if text is not None and len(text) > TEXT_PIECE
    ]
    for element, is_tail in long_ones:
        text = element.tail if is_tail else element.text
        pieces = [text[i : i + TEXT_PIECE] for i in range(0, len(text), TEXT_PIECE)]
        spans = [Element("span") for _ in pieces[1:]]
        for span, piece in zip(spans, pieces[1:], strict=True):
            span.text = piece
        if is_tail:  # after the element, within its parent
            element.tail = pieces[0]
            for before, span in zip([element, *spans], spans, strict=False):
                before.addnext(span)
        else:  # before the element's first child
            element.text = pieces[0]
            for index, span in enumerate(spans):
                element.insert(index, span)


@cache
def _text_config() -> ParserConfig:
    """inscriptis' settings: a table's rows one after the other, each cell's text after the
    last (its layout pads every row to the widest: rows times width characters)."""
    from inscriptis.css_profiles import CSS_PROFILES
    from inscriptis.html_properties import Display
    from inscriptis.model.config import ParserConfig
    from inscriptis.model.html_element import HtmlElement as Layout
    from inscriptis.model.tag import CustomHtmlTagHandlerMapping

    css = dict(CSS_PROFILES["relaxed"])
    css.update(
        table=Layout("table", display=Display.block),
        tr=Layout("tr", display=Display.block),
        td=Layout("td", suffix="  "),
        th=Layout("th", suffix="  "),
    )
    unset = dict.fromkeys(("table", "tr", "td", "th"), _nothing)
    handlers = CustomHtmlTagHandlerMapping(start_tag_mapping=unset, end_tag_mapping=unset)
    return ParserConfig(css=css, custom_html_tag_handler_mapping=handlers)


def _nothing(*_: object) -> None:
    """A tag handler that does nothing: the CSS above says how the element shows."""
