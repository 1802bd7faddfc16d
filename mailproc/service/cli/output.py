"""Printing listings for a terminal and for scripts."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Callable


def say(line: str) -> None:
    """Print one line of a listing, what a terminal would act on shown as Python escapes:
    a subject holding ESC or a bidi override must not move the cursor or reorder the line."""
    print(_escaped(line, lambda character: character.encode("unicode_escape").decode()))


def say_json(value: object) -> None:
    """Print ``value`` as one line of JSON, what a terminal would act on as JSON escapes
    (json escapes only C0 controls itself): the same JSON to a script, safe on a screen."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    print(_escaped(text, _json_escape))


def _escaped(text: str, escape: Callable[[str], str]) -> str:
    """``text`` with every character a terminal acts on rather than shows (controls, format
    characters such as bidi overrides, unassigned and private ones, line and paragraph
    separators) replaced by ``escape`` of it."""
    if text.isprintable():
        return text
    return "".join(escape(c) if _acts(c) else c for c in text)


def _acts(character: str) -> bool:
    return unicodedata.category(character)[0] == "C" or character in "\u2028\u2029"


def _json_escape(character: str) -> str:
    """A JSON string escape of one character, as a surrogate pair beyond the BMP."""
    units = character.encode("utf-16-be")
    return "".join(f"\\u{units[i] << 8 | units[i + 1]:04x}" for i in range(0, len(units), 2))
