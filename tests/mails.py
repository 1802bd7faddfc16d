"""Builders of realistic pt-BR test messages (the seed's cases), as raw bytes."""

from __future__ import annotations

import itertools
import struct
import zlib
from email.message import EmailMessage
from email.utils import make_msgid

SUPPORT = "suporte@compras.example.gov.br"
# The test desk's receiving server (tests.conftest.AUTHENTICATION).
AUTHSERV_ID = "mx.compras.example.gov.br"
REQUESTER = "Maria Silva <maria.silva@saude.rj.gov.br>"

ERROR_ANSWERS = """UASG: 925001
Módulo: Divulgação de Compras
Data e hora do erro: 19/11/2026 às 15h40
Mensagem de erro: Erro interno no servidor (código 500)
"""
STEP_BY_STEP = (
    "Passo a passo: Entrei no Compras.gov.br, abri Divulgação de Compras, selecionei o "
    "pregão 90012/2026 e cliquei em Publicar; a tela ficou em branco.\n"
)
REACTIVATION = """UASG: 927003
Órgão/Entidade: Fundação Estadual de Educação
CNPJ: {cnpj}
Endereço: Rua da Assembleia, 10, Centro, Rio de Janeiro - RJ
Telefone: (21) 2333-4455
Motivo: A unidade voltará a realizar compras em 2027 e precisa do acesso.
"""
VALID_CNPJ = "11.222.333/0001-81"
INVALID_CNPJ = "11.222.333/0001-82"

_serial = itertools.count(1)
_TRACE_HEADERS = frozenset({"received", "authentication-results", "delivered-to"})


def png(width: int = 16, height: int = 16) -> bytes:
    """A small, valid PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    # Each row: filter byte 0, then width RGB pixels.
    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 9 % 256, y * 7 % 256, 90)) for x in range(width))
        for y in range(height)
    )
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


def screenshot_png(
    width: int = 1366, height: int = 768, *, label: str = "", kind: str = "PNG"
) -> bytes:
    """A realistic print of the screen: a browser window of SIASG with a title bar, a menu,
    a form and a red error box, as PNG (in ASCII: Pillow's default font has no accents).
    Each call draws a serial number into it, so two prints differ like two real ones do
    (``label`` adds a text of the caller's). ``kind="JPEG"``: the same print as a JPEG."""
    from io import BytesIO

    from PIL import Image, ImageDraw

    image = Image.new("RGB", (width, height), (240, 240, 240))
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 0, width, 32), fill=(32, 80, 150))
    draw.text((12, 10), "Compras.gov.br - SIASG - Divulgacao de Compras", fill="white")
    draw.rectangle((0, 33, 220, height), fill=(225, 230, 238))
    for row, item in enumerate(("Inicio", "Divulgacao", "Empenho", "Contratos", "Sair")):
        draw.text((16, 60 + 28 * row), item, fill=(20, 40, 90))
    draw.rectangle((250, 60, width - 30, height - 40), outline=(150, 150, 150), fill="white")
    for row in range(8):
        top = 90 + 36 * row
        draw.text((270, top), f"Campo {row + 1}:", fill="black")
        draw.rectangle((380, top - 4, 700, top + 18), outline=(120, 120, 120))
    box = (width // 2 - 200, height // 2 - 60, width // 2 + 200, height // 2 + 60)
    draw.rectangle(box, outline=(180, 0, 0), fill=(255, 235, 235), width=3)
    draw.text((box[0] + 20, box[1] + 30), "Erro interno no servidor (codigo 500)", fill="red")
    draw.text((box[0] + 20, box[1] + 60), f"{label} #{next(_serial)}", fill="black")
    buffer = BytesIO()
    image.save(buffer, kind)
    return buffer.getvalue()


PDF = b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


def mail(
    subject: str,
    body: str,
    *,
    sender: str = REQUESTER,
    to: str = SUPPORT,
    attachments: tuple[tuple[str, str, bytes], ...] = (),
    headers: dict[str, str] | None = None,
    message_id: str | None = None,
    charset: str = "utf-8",
) -> bytes:
    """A message with a text body and (filename, mime type, bytes) attachments. Trace
    ``headers`` (Received, Authentication-Results) go on top, where receiving servers put
    them; the others below the sender's own."""
    msg = EmailMessage()
    trace = {k: v for k, v in (headers or {}).items() if k.lower() in _TRACE_HEADERS}
    for name, value in trace.items():
        msg[name] = value
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = f"Fri, 20 Nov 2026 09:{next(_serial) % 60:02d}:00 -0300"
    msg["Message-ID"] = message_id or make_msgid(domain="orgao.rj.gov.br")
    for name, value in (headers or {}).items():
        if name not in trace:
            msg[name] = value
    msg.set_content(body, charset=charset)
    for filename, mime, data in attachments:
        maintype, subtype = mime.split("/")
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return msg.as_bytes()


def authenticated(address: str) -> dict[str, str]:
    """The header by which the test desk's receiving server vouches for mail From ``address``
    (DMARC passed for its domain): with it, the From is authentic."""
    domain = address.rpartition("@")[2].strip(">").lower()
    return {
        "Authentication-Results": f"{AUTHSERV_ID}; dmarc=pass header.from={domain}; "
        f"dkim=pass header.d={domain}"
    }


def vouched(raw: bytes, address: str) -> bytes:
    """``raw`` as the test desk's receiving server hands it on, vouching for From ``address``
    (a mail written elsewhere, such as a fixture file)."""
    [(name, value)] = authenticated(address).items()
    return f"{name}: {value}\r\n".encode() + raw


def error_body(*, steps: bool = True) -> str:
    steps_text = STEP_BY_STEP if steps else ""
    return "Bom dia,\n\nO SIASG apresenta erro.\n\n" + ERROR_ANSWERS + steps_text


def error_report(
    *, screenshot: bool = True, steps: bool = True, message_id: str | None = None
) -> bytes:
    files = (("print-erro.png", "image/png", screenshot_png()),) if screenshot else ()
    return mail(
        "Erro ao publicar aviso no SIASG",
        error_body(steps=steps),
        attachments=files,
        message_id=message_id,
    )


def reactivation_body(cnpj: str = VALID_CNPJ) -> str:
    return "Senhores,\n\n" + REACTIVATION.format(cnpj=cnpj)


def reactivation(cnpj: str = VALID_CNPJ) -> bytes:
    return mail("Reativação de UASG", reactivation_body(cnpj))
