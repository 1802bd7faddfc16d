"""Decoding mail text whose charset is missing, wrong or unknown: bodies, raw headers, RFC 2047."""

from __future__ import annotations

import binascii
import codecs
import re
from typing import NamedTuple

# Tried in this order after the declared charset. cp1252 comes before any guessing because
# Portuguese mail from Windows clients is cp1252 far more often than anything a detector
# would propose (charset-normalizer reads "manutenção" as cp1250); latin-1 never fails.
_FALLBACKS = ("utf-8", "cp1252")
_LAST_RESORT = "latin-1"

# Declared labels decoded with a superset, as browsers do (WHATWG Encoding Standard):
# mail labelled iso-8859-1 by Outlook routinely holds cp1252 quotes and dashes.
_SUPERSETS = {
    "iso8859-1": "cp1252",
    "gb2312": "gb18030",
    "euc_kr": "cp949",
    "shift_jis": "cp932",
}
# Labels seen in real mail that Python does not know.
_UNKNOWN_LABELS = {"iso-gb2312": "gb18030", "x-sjis": "cp932"}
# Python codecs that are no character set: escape interpreters (a hostile
# "charset=unicode_escape" must not turn backslashes into other characters) and the
# binary and text transforms of the codecs module, which bytes.decode() refuses.
_NOT_CHARSETS = frozenset(
    {"unicode-escape", "raw-unicode-escape", "punycode", "idna", "undefined"}
    | {"base64", "bz2", "hex", "quopri", "uu", "zlib", "rot-13"}
)

_RAW_8BIT = re.compile("[\udc80-\udcff]")
_LINE_BREAKS = re.compile(r"\r\n|\r|\n")
# The payload may hold spaces: against RFC 2047, but common in Q words (zammad mail050).
_ENCODED_WORD = re.compile(r"=\?([^?\s*]+)(?:\*[^?\s]*)?\?([bBqQ])\?([^?]*)\?=")


class Decoded(NamedTuple):
    """Text decoded from bytes and the codec used; ``as_declared`` is False when a declared
    charset was unknown or did not fit the bytes."""

    text: str
    charset: str
    as_declared: bool


def decode_bytes(data: bytes, declared: str | None = None) -> Decoded:
    """Decode with the declared charset, then strict UTF-8, then cp1252, then latin-1.

    Undeclared or declared UTF-8 that is mostly UTF-8 is read as UTF-8 with replacement
    characters before cp1252 is tried (see _mostly_utf8).
    """
    declared_codecs = _declared_codecs(declared)
    for codec in declared_codecs:
        try:
            return Decoded(data.decode(codec), codec, as_declared=True)
        except UnicodeError:
            continue
    if declared_codecs and data.isascii():
        # 7-bit data that fails its declared charset is in a 7-bit encoding with a few bad
        # sequences (ISO-2022-JP with Windows' NEC characters, zammad mail099): read it with
        # U+FFFD for those rather than as ASCII escape codes.
        return Decoded(data.decode(declared_codecs[0], "replace"), declared_codecs[0], False)
    if declared_codecs in ((), ("utf-8",)):
        mostly = _mostly_utf8(data)
        if mostly is not None:
            return Decoded(mostly, "utf-8", as_declared=False)
    for codec in _FALLBACKS:
        try:
            return Decoded(data.decode(codec), codec, as_declared=declared is None)
        except UnicodeError:
            continue
    return Decoded(data.decode(_LAST_RESORT), _LAST_RESORT, as_declared=declared is None)


def _mostly_utf8(data: bytes) -> str | None:
    """UTF-8 with U+FFFD for the broken sequences, when the good multi-byte characters
    outnumber them; None otherwise (and for valid UTF-8, which the caller decodes itself).

    One stray byte in a UTF-8 body (spam tools, a cp1252 fragment pasted into a reply) must
    cost one character, not turn every accent of the message into cp1252 mojibake
    ("manutenÃ§Ã£o"); text in a single-byte charset has almost no valid UTF-8 sequences.
    """
    replaced = data.decode("utf-8", "replace")
    kept = data.decode("utf-8", "ignore")
    broken = len(replaced) - len(kept)
    good = sum(1 for character in kept if ord(character) > 0x7F)
    return replaced if 0 < broken < good else None


def _declared_codecs(label: str | None) -> tuple[str, ...]:
    """Python codecs for a MIME charset label, superset first; empty when it names none."""
    if not label:
        return ()
    name = label.strip().strip("\"'").lower()
    name = _UNKNOWN_LABELS.get(name, name)
    try:
        codec = codecs.lookup(name).name
    except (LookupError, ValueError):  # ValueError: a NUL in the label ("utf-8\x00")
        return ()
    if codec in _NOT_CHARSETS:
        return ()
    superset = _SUPERSETS.get(codec)
    return (superset, codec) if superset else (codec,)


def text_from_raw_header(value: str) -> str:
    """A raw header value as the parser stored it, with 8-bit bytes decoded and lines unfolded.

    The stdlib keeps raw 8-bit header bytes as surrogate escapes and later shows them as
    U+FFFD; decoding them ourselves keeps "Informações" sent unencoded in UTF-8 or latin-1.
    A NUL goes: no header holds one rightly, and PostgreSQL cannot store it.
    """
    if _RAW_8BIT.search(value):
        value = decode_bytes(value.encode("utf-8", "surrogateescape")).text
    return _LINE_BREAKS.sub("", value).replace("\x00", "")


def decode_encoded_words(text: str) -> str:
    """Decode RFC 2047 encoded words, tolerating unknown charsets and words split mid-character.

    Adjacent words in one charset are joined as bytes before decoding, because some mailers
    split a multi-byte character across two words; white space between words is dropped.
    """
    if "=?" not in text:
        return text
    pieces: list[str] = []
    run, run_charset = bytearray(), ""
    position = 0
    for match in _ENCODED_WORD.finditer(text):
        gap = text[position : match.start()]
        charset, data = match.group(1).lower(), _encoded_word_bytes(match.group(2), match.group(3))
        between_words = bool(run) and (not gap or gap.isspace())
        if data is None or not between_words or charset != run_charset:
            pieces.append(_flush(run, run_charset))
        if data is None or not between_words:
            pieces.append(gap)
        if data is None:
            pieces.append(match.group(0))
        else:
            run += data
            run_charset = charset
        position = match.end()
    pieces.append(_flush(run, run_charset))
    pieces.append(text[position:])
    return "".join(pieces)


def _encoded_word_bytes(encoding: str, payload: str) -> bytes | None:
    """The bytes one encoded word carries, or None when its payload is not valid B or Q."""
    try:
        if encoding in "bB":
            return binascii.a2b_base64(payload + "=" * (-len(payload) % 4))
        return binascii.a2b_qp(payload.encode("utf-8", "surrogateescape"), header=True)
    except ValueError:  # binascii.Error, or a B payload holding non-ASCII characters
        return None


def _flush(run: bytearray, charset: str) -> str:
    """Decode and empty the pending run of encoded-word bytes."""
    text = decode_bytes(bytes(run), charset).text if run else ""
    run.clear()
    return text
