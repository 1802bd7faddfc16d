"""Attachment file names: decoded from MIME parameters, then made safe to show and store."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from email.message import Message

from mailproc.mail.charsets import decode_encoded_words

MAX_NAME_LENGTH = 150
# Longer "extensions" are just the tail of a long name and are not worth keeping whole.
_MAX_EXTENSION_LENGTH = 16

# Bidirectional embeddings, overrides, isolates and marks: they can make "a\u202egnp.exe"
# display as "aexe.png".
_BIDI_CONTROLS = frozenset("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_PATH_SEPARATORS = re.compile(r"[/\\]")
_SPACES = re.compile(r"\s+")
# Characters Windows refuses in a file name (":" also opens an NTFS alternate data stream):
# a staff member saving the file there must get the name we show.
_WINDOWS_RESERVED_CHARACTERS = re.compile(r'[:*?"<>|]')
# Device names Windows reserves whatever the extension ("NUL.txt" is the null device too).
_WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{port}{n}" for port in ("com", "lpt") for n in (*"0123456789", "¹", "²", "³")}
)


def decode_filename(content_headers: Message) -> str:
    """The file name a part's Content-Disposition (or Content-Type ``name``) carries.

    ``content_headers`` holds the part's Content-* fields as plain text, so the stdlib's
    compat32 parameter reader applies: it joins RFC 2231 continuations and decodes their
    charset leniently. Encoded words (RFC 2047), which many mailers put in quoted file
    names against the rules, are decoded after that.
    """
    try:
        name = content_headers.get_filename()
    except (ValueError, LookupError):  # an RFC 2231 charset such as "undefined" fails to decode
        return ""
    return decode_encoded_words(name or "")


def safe_filename(name: str) -> str:
    """``name`` made safe to show and to save on Linux and Windows, NFC, at most 150 chars.

    No path, no control or bidi characters, no leading dots (hidden files) nor trailing dots
    and spaces (which Windows drops), Windows-reserved characters replaced by "_" and device
    names ("CON", "nul.txt", "COM1") prefixed with "_". Returns "" when nothing usable is
    left; the caller then generates a name.
    """
    name = _PATH_SEPARATORS.split(name)[-1]
    name = "".join(_safe_character(character) for character in name)
    name = _WINDOWS_RESERVED_CHARACTERS.sub("_", name)
    name = _SPACES.sub(" ", name).strip().lstrip(".").strip().rstrip(". ")
    if _is_device_name(name):
        name = f"_{name}"
    return _shortened(unicodedata.normalize("NFC", name)).rstrip(". ")


def unique_names(names: Iterable[str]) -> list[str]:
    """The names in order, later repeats numbered: print.png, print-2.png, print-3.png.

    Compared without case, as Windows and macOS file systems compare them.
    """
    taken: set[str] = set()
    unique: list[str] = []
    for name in names:
        candidate, number = name, 1
        while candidate.casefold() in taken:
            number += 1
            candidate = _numbered(name, number)
        taken.add(candidate.casefold())
        unique.append(candidate)
    return unique


def generated_filename(number: int, extension: str, stem: str = "anexo") -> str:
    """A name for a file that came without one: ``anexo-1.pdf``, ``imagem-colada-2.png``."""
    return f"{stem}-{number}.{extension or 'bin'}"


def _safe_character(character: str) -> str:
    """Control characters become a space (a tab or newline in a name separates words); bidi go."""
    if character in _BIDI_CONTROLS:
        return ""
    if unicodedata.category(character) == "Cc":
        return " "
    return character


def _is_device_name(name: str) -> bool:
    return name.partition(".")[0].rstrip(" ").casefold() in _WINDOWS_DEVICE_NAMES


def _numbered(name: str, number: int) -> str:
    """ "print.png" -> "print-2.png", kept within MAX_NAME_LENGTH."""
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_LENGTH:
        stem, extension = name, ""
    suffix = f"-{number}" + (f".{extension}" if extension else "")
    return stem[: MAX_NAME_LENGTH - len(suffix)] + suffix


def _shortened(name: str) -> str:
    """Cut the stem so the whole name fits MAX_NAME_LENGTH, keeping a real extension."""
    if len(name) <= MAX_NAME_LENGTH:
        return name
    stem, dot, extension = name.rpartition(".")
    if not dot or not stem or len(extension) > _MAX_EXTENSION_LENGTH:
        return name[:MAX_NAME_LENGTH].rstrip()
    return stem[: MAX_NAME_LENGTH - len(extension) - 1].rstrip() + "." + extension
