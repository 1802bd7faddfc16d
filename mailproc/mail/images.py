"""What a file holds by way of images: its own size, or the images inside a document.

Pure and bounded: a file is read from its bytes only, hostile input (garbage, truncated
images, decompression and zip bombs, encrypted or huge documents) gives a ``Problem``, never
an exception, and each file's answer is computed once per process (by its SHA-256).
Pillow and pypdf are imported here, lazily, by the first file that needs them.
"""

from __future__ import annotations

import hashlib
import io
import re
import threading
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:  # both are imported where used, by the first file that needs them
    from PIL import Image
    from pypdf import PageObject

# Pillow reads the size from the header; decoding is what costs. An image larger than
# MAX_PIXELS is refused (a screen of 8K is 33 M pixels; Pillow's own bomb limit is 89 M).
# PNG data is checked without decoding and JPEG decoded at 1/8 scale; other formats (BMP,
# GIF, TIFF, WebP) are decoded in full, so only up to MAX_DECODED_PIXELS (64 MB in RGBA).
MAX_PIXELS: Final = 40_000_000
MAX_DECODED_PIXELS: Final = 16_000_000
# Documents: what is opened at most. Each bound makes a hostile file cost little and a
# real one (a report with a few prints, a scanned page) still pass.
MAX_DOCUMENT_BYTES: Final = 25 * 1024 * 1024
MAX_ZIP_MEMBERS: Final = 2_000
MAX_IMAGES_PER_DOCUMENT: Final = 20
MAX_IMAGE_BYTES: Final = 20 * 1024 * 1024
MAX_DOCUMENT_DECOMPRESSED: Final = 60 * 1024 * 1024
MAX_ZIP_RATIO: Final = 100  # images are compressed already: more is a zip bomb
MAX_PDF_PAGES: Final = 10
MAX_PART_XML_BYTES: Final = 2 * 1024 * 1024
CACHE_SIZE: Final = 2_048

_PDF_MAGIC: Final = b"%PDF-"
_ZIP_MAGIC: Final = b"PK\x03\x04"
# Where office documents keep their pictures: Word, Excel, PowerPoint; LibreOffice.
_MEDIA_FOLDERS: Final = ("word/media/", "xl/media/", "ppt/media/", "Pictures/")
# The parts of a document that are its letterhead: Word's header and footer relationships,
# LibreOffice's page styles. A picture they name is a logo, not something pasted in.
_LETTERHEAD_PARTS: Final = re.compile(r"word/_rels/(?:header|footer)\d*\.xml\.rels|styles\.xml")
_PICTURE_NAME: Final = re.compile(rb"(?:media|Pictures)/([^\"'<>\s]+)")


class Problem(StrEnum):
    """Why a file yields no image to judge."""

    UNREADABLE = "unreadable"  # not an image Pillow can decode (garbage, truncated)
    TOO_LARGE = "too_large"  # past the bounds above: not opened
    NOT_A_DOCUMENT = "not_a_document"  # a ZIP file that is no office document
    NO_IMAGES = "no_images"  # a document without pictures
    ENCRYPTED = "encrypted"
    BROKEN = "broken"  # a document that cannot be read


@dataclass(frozen=True)
class Picture:
    """One image: its size in pixels, and whether a document shows it in its letterhead
    (header, footer, page style)."""

    width: int
    height: int
    letterhead: bool = False

    @property
    def pixels(self) -> int:
        return self.width * self.height


@dataclass(frozen=True)
class Contents:
    """What a file holds: ``document`` tells a document from an image; ``pictures`` are
    the image itself or those inside the document; ``problem`` why there are none."""

    document: bool = False
    pictures: tuple[Picture, ...] = ()
    problem: Problem | None = None


class _Memo:
    """A bounded, thread-safe memo of Contents by SHA-256 (the poller's workers share it)."""

    def __init__(self, size: int) -> None:
        self._size, self._lock = size, threading.Lock()
        self._entries: OrderedDict[str, Contents] = OrderedDict()

    def get(self, digest: str) -> Contents | None:
        with self._lock:
            found = self._entries.get(digest)
            if found is not None:
                self._entries.move_to_end(digest)
            return found

    def put(self, digest: str, contents: Contents) -> None:
        with self._lock:
            self._entries[digest] = contents
            if len(self._entries) > self._size:
                self._entries.popitem(last=False)


_MEMO: Final = _Memo(CACHE_SIZE)


def contents(data: bytes, digest: str | None = None) -> Contents:
    """What ``data`` holds, worked out once per SHA-256 ``digest`` (computed when not given)."""
    digest = digest or hashlib.sha256(data).hexdigest()
    found = _MEMO.get(digest)
    if found is None:
        found = _examine(data)
        _MEMO.put(digest, found)
    return found


def _examine(data: bytes) -> Contents:
    """By the bytes alone: a PDF, a ZIP container, or else whatever Pillow recognises."""
    if data.startswith(_PDF_MAGIC):
        return _document(_pdf_pictures, data)
    if data.startswith(_ZIP_MAGIC):
        return _document(_office_pictures, data)
    found = picture(data)
    return Contents(pictures=(found,)) if isinstance(found, Picture) else Contents(problem=found)


def picture(data: bytes) -> Picture | Problem:
    """The image's size, once Pillow has read its header and checked its data; else why not.

    PNG data is checked chunk by chunk (CRCs, no pixels decoded), JPEG decoded at 1/8 of
    its size, any other format decoded in full below MAX_DECODED_PIXELS."""
    from PIL import Image

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            problem = Problem.TOO_LARGE if width * height > MAX_PIXELS else _data_problem(image)
    except Image.DecompressionBombError:
        return Problem.TOO_LARGE
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError):
        # What Pillow raises on garbage and truncated files (OSError: unidentified image,
        # "image file is truncated", broken data; SyntaxError: its parsers' "not a ... file").
        return Problem.UNREADABLE
    return problem or Picture(width, height)


def _data_problem(image: Image.Image) -> Problem | None:
    """Read the image's data within the bounds; Pillow raises when it is broken."""
    if image.format == "PNG":
        image.verify()
        return None
    if image.format == "JPEG":
        image.draft("RGB", (max(1, image.width // 8), max(1, image.height // 8)))
    elif image.width * image.height > MAX_DECODED_PIXELS:
        return Problem.TOO_LARGE
    image.load()
    return None


_Reader = Callable[[bytes], "list[Picture] | Problem"]


def _document(reader: _Reader, data: bytes) -> Contents:
    if len(data) > MAX_DOCUMENT_BYTES:
        return Contents(document=True, problem=Problem.TOO_LARGE)
    try:
        found = reader(data)
    except _Refused as refused:
        return Contents(document=True, problem=refused.problem)
    if isinstance(found, Problem):
        return Contents(document=True, problem=found)
    if not found:
        return Contents(document=True, problem=Problem.NO_IMAGES)
    return Contents(document=True, pictures=tuple(found))


class _Refused(Exception):
    """A document given up on: past a bound, encrypted or broken."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.value)
        self.problem = problem


# --- Word, Excel, PowerPoint, LibreOffice: ZIP containers ----------------------------------


def _office_pictures(data: bytes) -> list[Picture] | Problem:
    """The pictures of an OOXML or ODF document, within the bounds (zipfile, stdlib)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            members = archive.infolist()
            if len(members) > MAX_ZIP_MEMBERS:
                return Problem.TOO_LARGE
            if not _is_office(archive, members):
                return Problem.NOT_A_DOCUMENT
            return list(_office_media(archive, members))
    except (zipfile.BadZipFile, zipfile.LargeZipFile, zlib.error, EOFError, OSError, ValueError):
        return Problem.BROKEN
    except (NotImplementedError, RuntimeError):
        # An unsupported compression method, or a member that asks for a password.
        return Problem.ENCRYPTED


def _is_office(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> bool:
    names = {member.filename for member in members}
    if "[Content_Types].xml" in names:
        return True
    if "mimetype" not in names:
        return False
    return _read(archive, archive.getinfo("mimetype"), 200, _Budget()).startswith(
        b"application/vnd.oasis.opendocument"
    )


@dataclass
class _Budget:
    """Bytes decompressed so far from one document."""

    used: int = 0


def _office_media(archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]) -> Iterator[Picture]:
    budget = _Budget()
    letterhead = _letterhead_names(archive, members, budget)
    media = [m for m in members if m.filename.startswith(_MEDIA_FOLDERS) and not m.is_dir()]
    for member in media[:MAX_IMAGES_PER_DOCUMENT]:
        if member.flag_bits & 0x1:
            raise _Refused(Problem.ENCRYPTED)
        found = picture(_read(archive, member, MAX_IMAGE_BYTES, budget))
        if isinstance(found, Picture):
            name = member.filename.rpartition("/")[2]
            yield Picture(found.width, found.height, letterhead=name in letterhead)


def _letterhead_names(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo], budget: _Budget
) -> frozenset[str]:
    """File names of the pictures that the document's headers, footers or page styles show."""
    names: set[str] = set()
    for member in members:
        if _LETTERHEAD_PARTS.fullmatch(member.filename):
            text = _read(archive, member, MAX_PART_XML_BYTES, budget)
            names.update(found.decode("utf-8", "replace") for found in _PICTURE_NAME.findall(text))
    return frozenset(names)


def _read(archive: zipfile.ZipFile, member: zipfile.ZipInfo, limit: int, budget: _Budget) -> bytes:
    """A member's bytes, refused before reading when its header says it is too big or too
    compressed, and cut off when it turns out bigger than its header said."""
    declared = member.file_size
    compressed = max(member.compress_size, 1)
    if declared > limit or declared // compressed > MAX_ZIP_RATIO:
        raise _Refused(Problem.TOO_LARGE)
    allowed = min(limit, MAX_DOCUMENT_DECOMPRESSED - budget.used)
    with archive.open(member) as stream:
        data = stream.read(allowed + 1)
    if len(data) > allowed:
        raise _Refused(Problem.TOO_LARGE)
    budget.used += len(data)
    return data


# --- PDF -----------------------------------------------------------------------------------


def _pdf_pictures(data: bytes) -> list[Picture] | Problem:
    """The images the first pages of a PDF show, by their declared size (pypdf, lazily).

    Only the image dictionaries are read: their pixels are never decoded, so a crafted
    stream costs nothing. pypdf raises many kinds of errors on broken files; any of them
    means the file does not count."""
    from pypdf import PdfReader
    from pypdf.errors import FileNotDecryptedError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):  # "" opens permission-only ones
            return Problem.ENCRYPTED
        pages = [reader.pages[number] for number in range(min(len(reader.pages), MAX_PDF_PAGES))]
        return [image for page in pages for image in _page_images(page)][:MAX_IMAGES_PER_DOCUMENT]
    except FileNotDecryptedError:
        return Problem.ENCRYPTED
    except Exception:  # a third-party parser on hostile input: see the docstring
        return Problem.BROKEN


def _page_images(page: PageObject) -> Iterator[Picture]:
    from pypdf.generic import DictionaryObject, StreamObject

    resources = page.get("/Resources")
    resources = resources.get_object() if resources is not None else None
    objects = resources.get("/XObject") if isinstance(resources, DictionaryObject) else None
    objects = objects.get_object() if objects is not None else None
    if not isinstance(objects, DictionaryObject):
        return
    for reference in list(objects.values())[:MAX_IMAGES_PER_DOCUMENT]:
        stream = reference.get_object()
        if not isinstance(stream, StreamObject) or stream.get("/Subtype") != "/Image":
            continue
        width, height = stream.get("/Width"), stream.get("/Height")
        if isinstance(width, int) and isinstance(height, int) and width > 0 and height > 0:
            yield Picture(int(width), int(height))
