"""Printing listings for a terminal and for scripts; times and sizes as people read them."""

from __future__ import annotations

import json
import shutil
import sys
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta, tzinfo

# A cut line ends with this, so that nobody takes a cut subject for the whole one.
CUT = "…"


def say(line: str, *, fit: bool = False) -> None:
    """Print one line of a listing, what a terminal would act on shown as Python escapes:
    a subject holding ESC or a bidi override must not move the cursor or reorder the line.

    ``fit``: a row of a table, cut to the terminal's width so that each row stays one line;
    only on a terminal: a script reading a pipe wants whole lines."""
    line = _escaped(line, lambda character: character.encode("unicode_escape").decode())
    if fit and sys.stdout.isatty():
        line = _cut(line, shutil.get_terminal_size().columns)
    print(line)


def say_json(value: object) -> None:
    """Print ``value`` as one line of JSON, what a terminal would act on as JSON escapes
    (json escapes only C0 controls itself): the same JSON to a script, safe on a screen."""
    text = json.dumps(value, ensure_ascii=False, default=_json_value)
    print(_escaped(text, _json_escape))


def _json_value(value: object) -> str:
    """What JSON has no type for: a time as ISO 8601 (as stored, in UTC), anything else as
    its text."""
    return value.isoformat() if isinstance(value, datetime) else str(value)


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


def desk_time(moment: datetime | None, zone: tzinfo) -> str:
    """A stored (aware) time as the desk reads it, the one format of the command line's text:
    "2026-12-07 09:15 -03" in the desk's zone, with the offset so that nobody has to guess
    it; "-" for none. (JSON output keeps ISO 8601 in UTC, as stored.)"""
    if moment is None:
        return "-"
    local = moment.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M} {_offset(local)}"


def _offset(moment: datetime) -> str:
    """ "-03", "+00", "+05:30": ISO 8601's offset, minutes only when there are some."""
    minutes = int((moment.utcoffset() or timedelta()).total_seconds()) // 60
    sign = "-" if minutes < 0 else "+"
    hours, minutes = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}" + (f":{minutes:02d}" if minutes else "")


def human_size(size: int) -> str:
    """A file's size as people say it: "999 B", "1.5 MB", "182 KB" (powers of 1024, one
    decimal below ten)."""
    value, unit = float(size), "B"
    for bigger in ("KB", "MB", "GB"):
        if value < 1000:
            break
        value, unit = value / 1024, bigger
    if unit == "B":
        return f"{size} B"
    return f"{value:.1f} {unit}" if value < 10 else f"{value:.0f} {unit}"


def _cut(line: str, columns: int) -> str:
    """``line`` within ``columns`` cells of a terminal, ending with CUT when cut (East Asian
    wide characters take two cells, combining marks none)."""
    widths = [_cells(c) for c in line]
    if sum(widths) <= columns:
        return line
    room, end = columns - 1, 0
    while end < len(line) and widths[end] <= room:
        room -= widths[end]
        end += 1
    return line[:end] + CUT


def _cells(character: str) -> int:
    if unicodedata.combining(character):
        return 0
    return 2 if unicodedata.east_asian_width(character) in "WF" else 1
