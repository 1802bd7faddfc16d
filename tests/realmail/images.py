"""Deterministic pictures and documents for the realistic corpus, drawn with Pillow.

Everything is a function of its arguments: the same call gives the same bytes, so the corpus
is reproducible (fixed PDF dates, fixed zip timestamps, seeded noise).
"""

# ruff: noqa: E501 -- the OOXML/ODF parts are data, kept as the tools write them

from __future__ import annotations

import io
import random
import time
import zipfile
from functools import cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image as PilImage

# 2026-12-07 10:00 UTC: the corpus' "today".
_FIXED_TIME = time.gmtime(1796637600)
_ZIP_TIME = (2026, 12, 7, 10, 0, 0)

NAVY, GOLD, RED, GREY = (19, 52, 99), (226, 181, 39), (190, 30, 45), (232, 234, 237)


def _font(size: int):  # type: ignore[no-untyped-def]
    from PIL import ImageFont

    return ImageFont.load_default(size=size)


def _encode(image: PilImage.Image, fmt: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


@cache
def _screen(title: str, message: str, width: int = 1366, height: int = 768) -> PilImage.Image:
    """A Windows desktop with a browser on Compras.gov.br/SIASG and an error dialog."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    # Browser chrome: tab strip, address bar.
    draw.rectangle((0, 0, width, 34), fill=(222, 225, 230))
    draw.rectangle((8, 6, 260, 34), fill="white")
    draw.text((18, 12), title[:34], fill="black", font=_font(13))
    draw.rectangle((0, 34, width, 72), fill="white", outline=(200, 200, 200))
    draw.rounded_rectangle((90, 41, width - 200, 66), radius=12, fill=(241, 243, 244))
    draw.text(
        (110, 46),
        "https://www.comprasnet.gov.br/siasg/divulgacao/aviso.asp",
        fill=(60, 60, 60),
        font=_font(13),
    )
    # Site header and side menu.
    draw.rectangle((0, 72, width, 128), fill=NAVY)
    draw.text((24, 86), "Compras.gov.br  |  SIASG", fill="white", font=_font(24))
    draw.rectangle((0, 128, 230, height - 40), fill=GREY)
    for row, item in enumerate(
        (
            "Divulgação de Compras",
            "Pregão",
            "Empenho",
            "IRP",
            "SICAF",
            "Cadastro de UASG",
            "Relatórios",
            "Sair",
        )
    ):
        draw.text((18, 150 + 36 * row), item, fill=NAVY, font=_font(15))
    # A form with fields.
    for row, label in enumerate(("UASG", "Número do pregão", "Objeto", "Data de abertura")):
        top = 160 + 60 * row
        draw.text((270, top), label, fill="black", font=_font(14))
        draw.rectangle((270, top + 20, 900, top + 44), outline=(150, 150, 150))
    draw.rounded_rectangle((270, 420, 400, 452), radius=6, fill=NAVY)
    draw.text((300, 428), "Publicar", fill="white", font=_font(15))
    # The error dialog.
    left, top = width // 2 - 260, height // 2 - 90
    draw.rectangle((left + 6, top + 6, left + 526, top + 196), fill=(120, 120, 120))
    draw.rectangle((left, top, left + 520, top + 190), fill="white", outline=RED, width=2)
    draw.rectangle((left, top, left + 520, top + 34), fill=RED)
    draw.text((left + 12, top + 8), "Erro", fill="white", font=_font(16))
    for line, text in enumerate(_wrap(message, 52)):
        draw.text((left + 20, top + 56 + 22 * line), text, fill="black", font=_font(15))
    draw.rounded_rectangle((left + 420, top + 146, left + 500, top + 176), radius=4, fill=GREY)
    draw.text((left + 446, top + 152), "OK", fill="black", font=_font(15))
    # Taskbar with the clock.
    draw.rectangle((0, height - 40, width, height), fill=(32, 32, 40))
    draw.text((width - 90, height - 30), "10:07", fill="white", font=_font(14))
    return image


def _wrap(text: str, size: int) -> list[str]:
    lines, line = [], ""
    for word in text.split():
        if line and len(line) + len(word) >= size:
            lines.append(line)
            line = ""
        line = f"{line} {word}".strip()
    return [*lines, line][:4]


def screenshot(
    message: str = "Erro interno no servidor (código 500)",
    *,
    fmt: str = "PNG",
    title: str = "SIASG - Divulgação",
) -> bytes:
    """A 1366×768 print of the screen, as PNG (Print Screen + paste) or JPEG."""
    image = _screen(title, message)
    return _encode(image, fmt, quality=88) if fmt == "JPEG" else _encode(image, fmt)


def phone_photo(message: str = "Sessão expirada. Acesse novamente.") -> bytes:
    """A 1600×1200 JPEG: the monitor photographed at an angle, with sensor noise."""
    from PIL import Image

    screen = _screen("SIASG", message).resize((1100, 620))
    photo = Image.new("RGB", (1600, 1200), (38, 36, 34))
    photo.paste(screen.rotate(-4, expand=True, fillcolor=(20, 20, 20)), (230, 260))
    rng = random.Random(message)
    noise = Image.frombytes("L", (200, 150), rng.randbytes(200 * 150)).resize((1600, 1200))
    photo = Image.blend(photo, Image.merge("RGB", (noise, noise, noise)), 0.08)
    return _encode(photo, "JPEG", quality=80)


def paint_bmp(message: str = "Falha ao gravar o empenho.") -> bytes:
    """A print saved from Paint: an uncompressed 24-bit BMP, cropped to the browser."""
    return _encode(_screen("SIASG - Empenho", message).crop((0, 0, 960, 600)), "BMP")


def brasao(width: int = 140, height: int = 70) -> bytes:
    """The state's coat of arms beside its name, as a signature logo."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    shield = height - 10
    draw.polygon(
        [
            (5, 5),
            (5 + shield * 0.8, 5),
            (5 + shield * 0.8, shield * 0.6),
            (5 + shield * 0.4, shield + 4),
            (5, shield * 0.6),
        ],
        fill=NAVY,
        outline=GOLD,
    )
    draw.ellipse((5 + shield * 0.2, 14, 5 + shield * 0.6, 14 + shield * 0.4), fill=GOLD)
    draw.text(
        (shield * 0.8 + 12, height // 2 - 16),
        "GOVERNO DO\nESTADO DO RJ",
        fill=NAVY,
        font=_font(max(9, height // 7)),
    )
    return _encode(image, "PNG")


def banner(text: str = "Secretaria de Estado de Planejamento e Gestão") -> bytes:
    """A 600×90 signature banner with the body's name."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (600, 90), NAVY)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 78, 600, 90), fill=GOLD)
    draw.text((110, 26), text, fill="white", font=_font(20))
    image.paste(_open(brasao(80, 60)), (14, 10))
    return _encode(image, "PNG")


def big_logo() -> bytes:
    """A 400×250 JPEG logo: as big as a small print, but a signature element."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (400, 250), "white")
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, 400, 250), outline=NAVY, width=6)
    image.paste(_open(brasao(200, 100)), (100, 30))
    draw.text((40, 160), "FUNDAÇÃO SAÚDE\nDO ESTADO DO RIO DE JANEIRO", fill=NAVY, font=_font(20))
    return _encode(image, "JPEG", quality=90)


def spacer_gif() -> bytes:
    """The 1×1 transparent GIF that HTML signatures use for spacing."""
    from PIL import Image

    image = Image.new("P", (1, 1), 0)
    return _encode(image, "GIF", transparency=0)


def scanned_page() -> bytes:
    """A grey A4 page at 100 dpi with typed lines: a scanned letter, not a screen."""
    from PIL import Image, ImageDraw

    page = Image.new("L", (827, 1169), 238)
    draw = ImageDraw.Draw(page)
    draw.text((90, 90), "OFÍCIO Nº 412/2026 - SEPLAG/SUBCOMP", fill=30, font=_font(20))
    for line in range(28):
        draw.line((90, 180 + 30 * line, 740 - (line * 37) % 120, 180 + 30 * line), fill=70, width=2)
    return _encode_pdf(page)


def _encode_pdf(image: PilImage.Image) -> bytes:
    return _encode(image, "PDF", resolution=96.0, creationDate=_FIXED_TIME, modDate=_FIXED_TIME)


def pdf_with_print(message: str = "Erro interno no servidor (código 500)") -> bytes:
    """A print saved as PDF ("Imprimir > Salvar como PDF")."""
    return _encode_pdf(_screen("SIASG - Pregão", message))


def _open(data: bytes) -> PilImage.Image:
    from PIL import Image

    return Image.open(io.BytesIO(data))


# --- Word and LibreOffice documents with a pasted print --------------------------------------

_DOCX_TYPES = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Default Extension="png" ContentType="image/png"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"""
_DOCX_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>"""
_DOCX_DOC_RELS = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId5" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/image" Target="media/image1.png"/></Relationships>"""
_DOCX_DOCUMENT = """<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:wp="http://schemas.openxmlformats.org/drawingml/2006/wordprocessingDrawing" xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:pic="http://schemas.openxmlformats.org/drawingml/2006/picture"><w:body><w:p><w:r><w:t>{caption}</w:t></w:r></w:p><w:p><w:r><w:drawing><wp:inline><wp:extent cx="5760000" cy="3238500"/><wp:docPr id="1" name="Imagem 1"/><a:graphic><a:graphicData uri="http://schemas.openxmlformats.org/drawingml/2006/picture"><pic:pic><pic:nvPicPr><pic:cNvPr id="1" name="image1.png"/><pic:cNvPicPr/></pic:nvPicPr><pic:blipFill><a:blip r:embed="rId5"/><a:stretch><a:fillRect/></a:stretch></pic:blipFill><pic:spPr><a:xfrm><a:off x="0" y="0"/><a:ext cx="5760000" cy="3238500"/></a:xfrm><a:prstGeom prst="rect"><a:avLst/></a:prstGeom></pic:spPr></pic:pic></a:graphicData></a:graphic></wp:inline></w:drawing></w:r></w:p><w:sectPr/></w:body></w:document>"""

_ODT_MANIFEST = """<?xml version="1.0" encoding="UTF-8"?>
<manifest:manifest xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2"><manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/><manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/><manifest:file-entry manifest:full-path="Pictures/10000001000005560000030050A1B2C3.png" manifest:media-type="image/png"/></manifest:manifest>"""
_ODT_CONTENT = """<?xml version="1.0" encoding="UTF-8"?>
<office:document-content xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" xmlns:draw="urn:oasis:names:tc:opendocument:xmlns:drawing:1.0" xmlns:xlink="http://www.w3.org/1999/xlink" xmlns:svg="urn:oasis:names:tc:opendocument:xmlns:svg-compatible:1.0" office:version="1.2"><office:body><office:text><text:p>{caption}</text:p><text:p><draw:frame draw:name="Imagem1" svg:width="17cm" svg:height="9.56cm"><draw:image xlink:href="Pictures/10000001000005560000030050A1B2C3.png" xlink:type="simple" xlink:show="embed" xlink:actuate="onLoad"/></draw:frame></text:p></office:text></office:body></office:document-content>"""


def _zip(entries: list[tuple[str, bytes]], *, stored_first: bool = False) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for number, (name, data) in enumerate(entries):
            info = zipfile.ZipInfo(name, _ZIP_TIME)
            stored = stored_first and number == 0
            info.compress_type = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return buffer.getvalue()


def docx_with_print(caption: str, image: bytes) -> bytes:
    """A Word document: a line of text, then the print pasted below it."""
    return _zip(
        [
            ("[Content_Types].xml", _DOCX_TYPES.encode()),
            ("_rels/.rels", _DOCX_RELS.encode()),
            ("word/document.xml", _DOCX_DOCUMENT.format(caption=caption).encode()),
            ("word/_rels/document.xml.rels", _DOCX_DOC_RELS.encode()),
            ("word/media/image1.png", image),
        ]
    )


def odt_with_print(caption: str, image: bytes) -> bytes:
    """A LibreOffice Writer document with the print in Pictures/."""
    return _zip(
        [
            ("mimetype", b"application/vnd.oasis.opendocument.text"),
            ("META-INF/manifest.xml", _ODT_MANIFEST.encode()),
            ("content.xml", _ODT_CONTENT.format(caption=caption).encode()),
            ("Pictures/10000001000005560000030050A1B2C3.png", image),
        ],
        stored_first=True,
    )
