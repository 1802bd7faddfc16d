"""Text a sender chose and staff see: file names, subjects and display names, made safe to
show, store and put in a header.

Controls (C0 and C1: NUL, ESC, BEL...) would end a PostgreSQL text at NUL and act on the
terminal of an operator listing tickets; bidirectional controls make "a\u202egnp.exe" show
as "aexe.png". Neither is ever part of what a person wrote. File names get more, as staff
save and open them: see safe_filename.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from email.message import Message

import regex

from mailproc.mail.charsets import decode_encoded_words

MAX_NAME_LENGTH = 150
# Put before a file name with a word written in two alphabets (see safe_filename).
SUSPECT_MARK = "[nome suspeito] "
# Longer "extensions" are just the tail of a long name and are not worth keeping whole.
_MAX_EXTENSION_LENGTH = 16

# C0 and C1 controls (Unicode category Cc): each becomes a space, as a tab or a line break
# between two words separates them.
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
# Bidirectional embeddings, overrides, isolates and marks, and the Arabic letter mark.
_BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Characters that show nothing: format characters (zero-width space and joiners, soft
# hyphen, BOM, bidi controls, tags) and every default-ignorable code point (Hangul fillers,
# variation selectors): in a file name they only make two different names look alike.
_INVISIBLE = regex.compile(r"[\p{Cf}\p{Default_Ignorable_Code_Point}]")
# A word of a file name, and its Latin letters and its letters of any other script (by
# Script_Extensions, so a letter shared by several scripts counts for each).
_WORD = regex.compile(r"[\p{L}\p{M}]+")
_LATIN_LETTER = regex.compile(r"[\p{L}&&\p{scx=Latin}]", regex.V1)
_OTHER_LETTER = regex.compile(r"[\p{L}--\p{scx=Latin}]", regex.V1)
_PATH_SEPARATORS = re.compile(r"[/\\]")
_SPACES = re.compile(r"\s+")
# Characters Windows refuses in a file name (":" also opens an NTFS alternate data stream):
# a staff member saving the file there must get the name we show.
_WINDOWS_RESERVED_CHARACTERS = re.compile(r'[:*?"<>|]')
# Device names Windows reserves whatever the extension ("NUL.txt" is the null device too).
_WINDOWS_DEVICE_NAMES = frozenset(
    {"con", "prn", "aux", "nul", "conin$", "conout$"}
    | {f"{port}{n}" for port in ("com", "lpt") for n in "0123456789"}
)


def safe_text(text: str) -> str:
    """One line of a sender's text (a subject, a display name) safe to show, store and put
    in a header: controls become spaces, bidi controls go, runs of white space are one
    space, and none leads or trails."""
    return " ".join(_BIDI_CONTROLS.sub("", _CONTROLS.sub(" ", text)).split())


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
    """``name`` made safe to show and to save on Linux and Windows, at most 150 characters.

    NFKC first, so a name is made of the characters it shows (full-width letters, ligatures
    and other compatibility forms become plain ones: "ｅｘｅ" is "exe"); then no invisible
    characters (see _INVISIBLE), no controls (each a space), no path, no leading dots
    (hidden files) nor trailing dots and spaces (which Windows drops), Windows-reserved
    characters replaced by "_" and device names ("CON", "nul.txt", "COM1") prefixed with
    "_". A name with a word that mixes Latin letters with letters of another script (a
    Cyrillic "о" in "bоleto.pdf") is kept but begins with SUSPECT_MARK: see mixes_scripts.
    Returns "" when nothing usable is left; the caller then generates a name.
    """
    name = _PATH_SEPARATORS.split(_CONTROLS.sub(" ", _visible(name)))[-1]
    name = _WINDOWS_RESERVED_CHARACTERS.sub("_", name)
    name = _SPACES.sub(" ", name).strip().lstrip(".").strip().rstrip(". ")
    if _is_device_name(name):
        name = f"_{name}"
    if name and mixes_scripts(name) and not name.startswith(SUSPECT_MARK):
        name = SUSPECT_MARK + name
    return _shortened(name).rstrip(". ")


def mixes_scripts(name: str) -> bool:
    """Whether a word of ``name`` (a run of letters and marks) holds Latin letters and
    letters of another script: a look-alike such as "bоleto" with a Cyrillic "о", or
    "fatura.рdf". Each word is judged alone, as a browser judges each label of a domain
    name (UTS #39 mixed-script detection), so "Отчет final.pdf" is two one-script words.
    Digits, punctuation and accents belong to every script."""
    return any(
        _LATIN_LETTER.search(word) and _OTHER_LETTER.search(word) for word in _WORD.findall(name)
    )


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


def _visible(name: str) -> str:
    """NFKC without invisible characters. Normalised again once they are gone, as one may
    have stood between a letter and its accent, and before, as NFKC may make one (U+3164)."""
    visible = _INVISIBLE.sub("", unicodedata.normalize("NFKC", name))
    return unicodedata.normalize("NFKC", visible)


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
