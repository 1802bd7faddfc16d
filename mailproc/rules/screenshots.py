"""Whether an attachment plausibly is the print of the screen, and if not, why (in pt-BR).

A print is an image larger than a signature element, that is no spacer or tracking pixel
and no logo: not shown after the sender's closing, not the image the sender sends in every
mail. A print pasted into a Word, LibreOffice or PDF document counts too. Pure: what the
bytes hold comes from mailproc.mail.images, what the sender sent before from the caller.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from enum import Enum
from typing import Final

from mailproc.mail.images import Contents, Picture, Problem
from mailproc.mail.message import Attachment

# An image this thin is a spacer, a rule or a tracking pixel, whatever its length.
MAX_SPACER_SIDE: Final = 3


@dataclass(frozen=True)
class Print:
    """What the desk asks of a print: its minimum size in pixels (rules file), and what
    it knows from elsewhere: the digests of images this sender sends in mail after mail."""

    min_width: int
    min_height: int
    repeated: Collection[str] = frozenset()


class Flaw(Enum):
    """Why one image is not a print."""

    SPACER = "spacer"
    SIGNATURE = "signature"
    REPEATED = "repeated"
    LETTERHEAD = "letterhead"  # a picture of a document's header or footer
    SMALL = "small"


# What a flaw says of "o arquivo X", and of "a maior imagem dentro dele" (in a document);
# %s stands for the size.
_OF_FILE: Final = {
    Flaw.SPACER: "tem apenas %s pixels: é um espaçador ou marcador invisível, não uma "
    "captura de tela",
    Flaw.SIGNATURE: "parece ser parte da assinatura",
    Flaw.REPEATED: "parece ser parte da assinatura: a mesma imagem veio em outras mensagens suas",
    Flaw.SMALL: "é pequeno demais (%s pixels) para ser uma captura de tela",
}
_OF_PICTURE: Final = {
    Flaw.SPACER: "tem apenas %s pixels: é um espaçador ou marcador invisível",
    Flaw.LETTERHEAD: "faz parte do cabeçalho ou do rodapé do documento",
    Flaw.SMALL: "é pequena demais (%s pixels) para ser uma captura de tela",
}
_UNREADABLE: Final = "não pôde ser aberto como imagem"
_TOO_LARGE: Final = "é grande demais para ser analisado"
_NOT_AN_IMAGE: Final = "não é uma imagem"


@dataclass(frozen=True)
class Verdict:
    """Whether a file counts as a print, and if not, ``reason``: a pt-BR clause naming it."""

    counts: bool
    reason: str = ""


_COUNTS: Final = Verdict(True)
_DOCUMENT_PROBLEMS: Final = {
    Problem.NO_IMAGES: "não contém imagens",
    Problem.ENCRYPTED: "está protegido por senha e não pôde ser aberto",
    Problem.BROKEN: "está corrompido e não pôde ser lido",
    Problem.TOO_LARGE: "é grande ou complexo demais para ser analisado",
    Problem.NOT_A_DOCUMENT: "não é uma imagem nem um documento com imagens",
}


def judge(attachment: Attachment, wanted: Print, signature: Collection[str] = ()) -> Verdict:
    """Whether ``attachment`` counts as a print. ``signature`` holds the digests of images
    shown in a signature anywhere in the ticket: the same bytes elsewhere (a copy loaded
    back from the database, which keeps no position) are that logo too."""
    found = attachment.contents
    subject = f"o arquivo {attachment.filename}"
    if found.document:
        return _judge_document(subject, found, wanted)
    if found.problem is not None:
        return Verdict(False, f"{subject} {_not_an_image(attachment, found.problem)}")
    [picture] = found.pictures
    flaw = _flaw(picture, wanted) or _signature_flaw(attachment, wanted, signature)
    if flaw is None:
        return _COUNTS
    return Verdict(False, f"{subject} {_said(_OF_FILE[flaw], picture)}")


def _not_an_image(attachment: Attachment, problem: Problem) -> str:
    if problem is Problem.TOO_LARGE:
        return _TOO_LARGE
    return _UNREADABLE if attachment.real_type.lower().startswith("image/") else _NOT_AN_IMAGE


def _signature_flaw(
    attachment: Attachment, wanted: Print, signature: Collection[str]
) -> Flaw | None:
    if attachment.in_signature or attachment.sha256 in signature:
        return Flaw.SIGNATURE
    return Flaw.REPEATED if attachment.sha256 in wanted.repeated else None


def _flaw(picture: Picture, wanted: Print) -> Flaw | None:
    """What rules the image out by itself: its size, or its place in a document."""
    if min(picture.width, picture.height) <= MAX_SPACER_SIDE:
        return Flaw.SPACER
    if picture.letterhead:
        return Flaw.LETTERHEAD
    if picture.width < wanted.min_width or picture.height < wanted.min_height:
        return Flaw.SMALL
    return None


def _judge_document(subject: str, found: Contents, wanted: Print) -> Verdict:
    """A document counts when one of its images is a print; else the largest one says why."""
    if found.problem is not None:
        return Verdict(False, f"{subject} {_DOCUMENT_PROBLEMS[found.problem]}")
    flaws = [(_flaw(picture, wanted), picture) for picture in found.pictures]
    if any(flaw is None for flaw, _ in flaws):
        return _COUNTS
    flaw, largest = max(flaws, key=lambda judged: judged[1].pixels)
    assert flaw is not None
    said = _said(_OF_PICTURE[flaw], largest)
    return Verdict(
        False, f"{subject} não contém uma captura de tela: a maior imagem dentro dele {said}"
    )


def _said(text: str, picture: Picture) -> str:
    return text % f"{picture.width}×{picture.height}" if "%s" in text else text
