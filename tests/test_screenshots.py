"""Screenshots that are screenshots (issue #17, item 1): which file counts as the print of the
screen, which does not and why, from the bytes (mail.images), the place in the mail
(mail.parse, mail.signatures) and the sender's history (store, pipeline)."""

from __future__ import annotations

import dataclasses
import io
import struct
import time
import zipfile
import zlib
from collections.abc import Callable
from email.message import EmailMessage
from functools import cache
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from mailproc.errors import RulesError
from mailproc.mail import images
from mailproc.mail.message import Attachment
from mailproc.mail.parse import parse_message
from mailproc.mail.signatures import signature_start
from mailproc.resources import shipped_dir
from mailproc.rules.requirements import Evidence, check_attachments, check_message
from mailproc.rules.rulebook import Rulebook, Theme, load_rulebook
from mailproc.rules.screenshots import Print, Verdict, judge
from tests.e2e import Desk, bare_id, message_id
from tests.mails import SUPPORT, error_body, mail, screenshot_png
from tests.threads import plain_text

Ingest = Callable[[bytes], dict]
DEFAULT = Print(300, 200)
OUTLOOK_CID = "@01DB4A2C.5E3F1A20"


# --- images as mail clients and people make them -------------------------------------------


def encoded(image: Image.Image, kind: str, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


@cache
def brasao_png() -> bytes:
    """The state's coat of arms as Outlook signatures carry it: 140x70 pixels."""
    image = Image.new("RGB", (140, 70), "white")
    draw = ImageDraw.Draw(image)
    draw.ellipse((5, 5, 65, 65), outline=(0, 70, 140), width=4, fill=(240, 200, 40))
    draw.text((75, 28), "GOV RJ", fill=(0, 70, 140))
    return encoded(image, "PNG")


@cache
def spacer_gif() -> bytes:
    return encoded(Image.new("P", (1, 1), 0), "GIF", transparency=0)


@cache
def banner_png() -> bytes:
    """A signature banner large enough to pass for a print by its size: 700x250."""
    image = Image.new("RGB", (700, 250), (0, 70, 140))
    ImageDraw.Draw(image).text((30, 110), "Secretaria de Estado de Saude", fill="white")
    return encoded(image, "PNG")


@cache
def phone_photo_jpeg() -> bytes:
    """A phone's photo of the screen: 3000x4000, noisy, the screen slanted in the middle."""
    noise = Image.effect_noise((3000, 4000), 40).convert("RGB")
    draw = ImageDraw.Draw(noise)
    draw.polygon([(400, 900), (2600, 1000), (2500, 2900), (500, 3000)], fill=(230, 235, 240))
    draw.rectangle((1200, 1800, 1900, 2100), outline=(200, 0, 0), width=12)
    return encoded(noise, "JPEG", quality=80)


@cache
def paint_bmp() -> bytes:
    """A print pasted into Paint and saved as BMP (24 bits)."""
    return encoded(Image.open(io.BytesIO(screenshot_png(1024, 600))).convert("RGB"), "BMP")


def png_header(width: int, height: int) -> bytes:
    """A PNG that announces ``width`` x ``height`` pixels and carries almost no data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )


def bmp_header(width: int, height: int) -> bytes:
    """A 24-bit BMP that announces ``width`` x ``height`` pixels and carries no pixels."""
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    return b"BM" + struct.pack("<IHHI", 54 + width * height * 3, 0, 0, 54) + info


def attachment(name: str, data: bytes, kind: str = "image/png", **fields: object) -> Attachment:
    return Attachment(name, kind, kind, data, **fields)  # type: ignore[arg-type]


# --- documents -------------------------------------------------------------------------------

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
ODT = "application/vnd.oasis.opendocument.text"


def docx(media: dict[str, bytes], *, header: tuple[str, ...] = ()) -> bytes:
    """A minimal Word document: its parts, ``media`` under word/media/, the names in
    ``header`` shown by the page header (word/_rels/header1.xml.rels)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        archive.writestr("word/document.xml", "<w:document><w:body>Print</w:body></w:document>")
        relations = "".join(
            f'<Relationship Id="r{n}" Target="media/{name}"/>' for n, name in enumerate(header)
        )
        if header:
            archive.writestr(
                "word/_rels/header1.xml.rels", f"<Relationships>{relations}</Relationships>"
            )
        for name, data in media.items():
            archive.writestr(f"word/media/{name}", data)
    return buffer.getvalue()


def odt(media: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", ODT, compress_type=zipfile.ZIP_STORED)
        archive.writestr("content.xml", "<office:document-content/>")
        for name, data in media.items():
            archive.writestr(f"Pictures/{name}", data)
    return buffer.getvalue()


def image_pdf(data: bytes) -> bytes:
    """A print saved as PDF (Pillow writes the image as the page)."""
    return encoded(Image.open(io.BytesIO(data)).convert("RGB"), "PDF")


def text_pdf(pages: int = 1) -> bytes:
    from pypdf import PdfWriter

    writer = PdfWriter()
    for _ in range(pages):
        writer.add_blank_page(595, 842)
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


def encrypted_pdf(user_password: str = "segredo") -> bytes:
    """A print saved as PDF with a password; with an empty one it only restricts what the
    reader may do (printing, copying), and opens for anyone."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(image_pdf(screenshot_png()))))
    writer.encrypt(user_password=user_password, owner_password="dono", algorithm="AES-128")
    buffer = io.BytesIO()
    writer.write(buffer)
    return buffer.getvalue()


# --- images judged by themselves -------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("print-erro.png", screenshot_png, "image/png"),
        ("IMG_20261119_154012.jpg", phone_photo_jpeg, "image/jpeg"),
        ("tela.bmp", paint_bmp, "image/bmp"),
    ],
)
def test_prints_as_servidores_make_them_count(
    name: str, make: Callable[[], bytes], kind: str
) -> None:
    assert judge(attachment(name, make(), kind), DEFAULT).counts


@pytest.mark.parametrize(
    ("file", "reason"),
    [
        (
            attachment("image001.png", brasao_png()),
            "o arquivo image001.png é pequeno demais (140×70 pixels) para ser uma captura de tela",
        ),
        (
            attachment("image002.gif", spacer_gif(), "image/gif"),
            "o arquivo image002.gif tem apenas 1×1 pixels: é um espaçador ou marcador "
            "invisível, não uma captura de tela",
        ),
        (
            attachment("linha.png", png_header(900, 2)),
            "o arquivo linha.png tem apenas 900×2 pixels: é um espaçador ou marcador "
            "invisível, não uma captura de tela",
        ),
        (
            attachment("x.png", b"isto nao e uma imagem" * 50),
            "o arquivo x.png não pôde ser aberto como imagem",
        ),
        (
            attachment("cortado.png", screenshot_png()[:4000]),
            "o arquivo cortado.png não pôde ser aberto como imagem",
        ),
        (
            attachment(
                "foto.jpg", phone_photo_jpeg()[: len(phone_photo_jpeg()) // 2], "image/jpeg"
            ),
            "o arquivo foto.jpg não pôde ser aberto como imagem",
        ),
        (
            attachment("planilha.csv", b"uasg;valor\n160123;10\n", "text/csv"),
            "o arquivo planilha.csv não é uma imagem",
        ),
        (
            attachment("assinatura.png", banner_png(), in_signature=True),
            "o arquivo assinatura.png parece ser parte da assinatura",
        ),
    ],
    ids=[
        "logo",
        "spacer",
        "rule",
        "garbage",
        "truncated-png",
        "truncated-jpeg",
        "csv",
        "signature",
    ],
)
def test_what_is_not_a_print_is_named_with_its_reason(file: Attachment, reason: str) -> None:
    assert judge(file, DEFAULT) == Verdict(False, reason)


@pytest.mark.parametrize(
    "data",
    [png_header(30_000, 30_000), png_header(20_000, 20_000), png_header(8_000, 8_000),
     bmp_header(5_000, 4_000)],
    ids=["pillow-bomb-error", "pillow-bomb-error-2", "over-40M", "bmp-over-decoding-cap"],
)  # fmt: skip
def test_huge_images_are_refused_from_their_header_in_no_time(data: bytes) -> None:
    """Pillow's bomb error (above 2 x 89 M pixels), the desk's own cap (40 M pixels), and
    the cap on formats decoded in full (16 M pixels)."""
    file = attachment("bomba.png", data)
    started = time.monotonic()
    verdict = judge(file, DEFAULT)
    assert time.monotonic() - started < 1
    assert verdict.reason == "o arquivo bomba.png é grande demais para ser analisado"


def test_minimum_size_is_the_requirements(shipped: Rulebook) -> None:
    print_ = attachment("print.png", screenshot_png(640, 480))
    assert judge(print_, Print(300, 200)).counts
    assert judge(print_, Print(800, 600)).reason == (
        "o arquivo print.png é pequeno demais (640×480 pixels) para ser uma captura de tela"
    )
    theme = erro_siasg(shipped)
    [required] = theme.attachments
    assert (required.min_width, required.min_height) == (300, 200)


def test_the_same_image_in_mail_after_mail_is_a_logo_but_a_print_sent_again_is_not() -> None:
    banner = attachment("image003.png", banner_png())
    assert judge(banner, DEFAULT).counts  # by its size alone, it could be a print
    repeated = dataclasses.replace(DEFAULT, repeated=frozenset({banner.sha256}))
    assert judge(banner, repeated).reason == (
        "o arquivo image003.png parece ser parte da assinatura: a mesma imagem veio em outras "
        "mensagens suas"
    )


def test_a_copy_of_a_signature_image_is_a_signature_image() -> None:
    """Files loaded back from the database have no place in the HTML: the same bytes shown
    in a signature in this message tell what they are."""
    stored = attachment("image003.png", banner_png())
    assert judge(stored, DEFAULT, signature={stored.sha256}).reason == (
        "o arquivo image003.png parece ser parte da assinatura"
    )


def test_each_file_is_inspected_once(monkeypatch: pytest.MonkeyPatch) -> None:
    examined: list[int] = []
    examine = images._examine

    def counting(data: bytes) -> images.Contents:
        examined.append(len(data))
        return examine(data)

    monkeypatch.setattr(images, "_examine", counting)
    data = screenshot_png()
    for name in ("a.png", "b.png", "c.png"):
        assert judge(attachment(name, data), DEFAULT).counts
    assert examined == [len(data)]


# --- documents with a print inside -----------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("relatorio.docx", lambda: docx({"image1.png": screenshot_png()}), DOCX),
        ("erro.odt", lambda: odt({"1000000000.png": screenshot_png()}), ODT),
        ("print.pdf", lambda: image_pdf(screenshot_png()), "application/pdf"),
        ("foto.pdf", lambda: image_pdf(phone_photo_jpeg()), "application/pdf"),
        ("restrito.pdf", lambda: encrypted_pdf(user_password=""), "application/pdf"),
        (
            "oficio.docx",
            lambda: docx({"image1.png": banner_png(), "image2.png": screenshot_png()},
                         header=("image1.png",)),
            DOCX,
        ),
    ],
)  # fmt: skip
def test_a_print_pasted_into_a_document_counts(
    name: str, make: Callable[[], bytes], kind: str
) -> None:
    assert judge(attachment(name, make(), kind), DEFAULT).counts


def zip_bomb() -> bytes:
    """A Word document whose one picture inflates 1,000 times (a 60 MB member)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/media/image1.png", b"\x00" * (60 * 1024 * 1024))
    return buffer.getvalue()


def crowded_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        for number in range(images.MAX_ZIP_MEMBERS + 1):
            archive.writestr(f"word/x{number}.xml", b"")
    return buffer.getvalue()


def password_member() -> bytes:
    """A member flagged as encrypted (ZipCrypto), as a password-protected archive has."""
    data = bytearray(docx({"image1.png": screenshot_png()}))
    for signature in (b"PK\x03\x04", b"PK\x01\x02"):
        start = 0
        while (start := data.find(signature, start)) >= 0:
            flags = start + (6 if signature == b"PK\x03\x04" else 8)
            data[flags] |= 0x1
            start += 4
    return bytes(data)


def plain_zip() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("print.png", screenshot_png())
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("relatorio.docx", lambda: docx({}), "não contém imagens"),
        ("texto.pdf", text_pdf, "não contém imagens"),
        (
            "logo.docx",
            lambda: docx({"image1.png": brasao_png()}),
            "não contém uma captura de tela: a maior imagem dentro dele é pequena demais "
            "(140×70 pixels) para ser uma captura de tela",
        ),
        (
            "oficio.docx",
            lambda: docx({"image1.png": banner_png()}, header=("image1.png",)),
            "não contém uma captura de tela: a maior imagem dentro dele faz parte do cabeçalho "
            "ou do rodapé do documento",
        ),
        ("protegido.pdf", encrypted_pdf, "está protegido por senha e não pôde ser aberto"),
        ("senha.docx", password_member, "está protegido por senha e não pôde ser aberto"),
        (
            "cortado.docx",
            lambda: docx({"image1.png": screenshot_png()})[:-200],
            "está corrompido e não pôde ser lido",
        ),
        (
            "quebrado.pdf",
            lambda: b"%PDF-1.7\n" + b"\x00lixo" * 100,
            "está corrompido e não pôde ser lido",
        ),
        ("bomba.docx", zip_bomb, "é grande ou complexo demais para ser analisado"),
        ("lotado.docx", crowded_zip, "é grande ou complexo demais para ser analisado"),
        (
            "enorme.docx",
            lambda: docx({"image1.png": screenshot_png()}) + b"\x00" * images.MAX_DOCUMENT_BYTES,
            "é grande ou complexo demais para ser analisado",
        ),
        ("prints.zip", plain_zip, "não é uma imagem nem um documento com imagens"),
    ],
)  # fmt: skip
def test_a_document_without_a_print_says_why(
    name: str, make: Callable[[], bytes], reason: str
) -> None:
    started = time.monotonic()
    verdict = judge(attachment(name, make(), "application/octet-stream"), DEFAULT)
    assert time.monotonic() - started < 5
    assert (verdict.counts, verdict.reason) == (False, f"o arquivo {name} {reason}")


def test_a_pdf_of_ten_thousand_pages_is_read_only_at_its_start() -> None:
    """The print on page 10,001 is past what is examined: bounded work, a clear reason."""
    from pypdf import PdfReader, PdfWriter

    writer = PdfWriter()
    for _ in range(10_000):
        writer.add_blank_page(595, 842)
    writer.append(PdfReader(io.BytesIO(image_pdf(screenshot_png()))))
    buffer = io.BytesIO()
    writer.write(buffer)
    started = time.monotonic()
    verdict = judge(attachment("longo.pdf", buffer.getvalue(), "application/pdf"), DEFAULT)
    assert time.monotonic() - started < 10
    assert verdict.reason == "o arquivo longo.pdf não contém imagens"


# --- the requirement: every file named when none counts ------------------------------------


@pytest.fixture(scope="module")
def shipped() -> Rulebook:
    return load_rulebook(shipped_dir("rules"))


def erro_siasg(book: Rulebook) -> Theme:
    theme = book.get("erro-siasg")
    assert theme is not None
    return theme


def attachments_evidence(*files: Attachment, repeated: frozenset[str] = frozenset()) -> Evidence:
    return Evidence(body="", found={}, earlier={}, attachments=files, repeated_images=repeated)


def test_outlook_signature_images_do_not_make_a_report_complete(shipped: Rulebook) -> None:
    files = (
        attachment("image001.png", brasao_png(), inline=True),
        attachment("image002.gif", spacer_gif(), "image/gif", inline=True),
    )
    [item] = check_attachments(erro_siasg(shipped), attachments_evidence(*files)).missing
    assert item.reason == (
        "nenhum dos anexos recebidos serve como captura de tela: o arquivo image001.png é "
        "pequeno demais (140×70 pixels) para ser uma captura de tela; o arquivo image002.gif "
        "tem apenas 1×1 pixels: é um espaçador ou marcador invisível, não uma captura de tela"
    )


def test_one_real_print_among_logos_completes_the_attachments(shipped: Rulebook) -> None:
    files = (
        attachment("image001.png", brasao_png(), inline=True),
        attachment("image002.png", screenshot_png(), inline=True),
        attachment("image003.gif", spacer_gif(), "image/gif", inline=True),
    )
    assert check_attachments(erro_siasg(shipped), attachments_evidence(*files)).missing == ()


def test_two_prints_asked_one_given_names_the_others(shipped: Rulebook) -> None:
    theme = erro_siasg(shipped)
    two = dataclasses.replace(theme.attachments[0], count=2)
    theme = dataclasses.replace(theme, attachments=(two,))
    files = (attachment("tela.png", screenshot_png()), attachment("image001.png", brasao_png()))
    [item] = check_attachments(theme, attachments_evidence(*files)).missing
    assert item.reason == (
        "recebido(s) 1 de 2 (o arquivo image001.png é pequeno demais (140×70 pixels) para ser "
        "uma captura de tela)"
    )


def test_many_refused_files_are_named_up_to_a_limit(shipped: Rulebook) -> None:
    files = [attachment(f"image{n:03}.gif", spacer_gif(), "image/gif") for n in range(1, 10)]
    [item] = check_attachments(erro_siasg(shipped), attachments_evidence(*files)).missing
    assert item.reason.count("o arquivo image0") == 6
    assert item.reason.endswith("; e mais 3 arquivo(s) que também não servem")


def test_the_same_logo_received_twice_is_named_once(shipped: Rulebook) -> None:
    logo = attachment("image001.png", brasao_png())
    [item] = check_attachments(erro_siasg(shipped), attachments_evidence(logo, logo)).missing
    assert item.reason.count("image001.png") == 1


def test_check_message_passes_the_senders_recurring_images_on(shipped: Rulebook) -> None:
    banner = attachment("image001.png", banner_png())
    theme = erro_siasg(shipped)
    body = error_body()
    assert check_message(theme, body, [banner]).complete
    result = check_message(theme, body, [banner], repeated_images=frozenset({banner.sha256}))
    assert [item.key for item in result.missing] == ["attachments[0]"]


# --- the rules file -------------------------------------------------------------------------


def rules_folder(folder: Path, attachment_lines: str) -> Path:
    text = (shipped_dir("rules") / "erro-siasg.toml").read_text(encoding="utf-8")
    start = text.index("[[attachments]]")
    end = text.index("[[answers]]")
    (folder / "erro-siasg.toml").write_text(
        text[:start] + "[[attachments]]\n" + attachment_lines + "\n" + text[end:], encoding="utf-8"
    )
    return folder


def test_rules_file_sets_the_minimum_size(tmp_path: Path) -> None:
    lines = 'kind = "image"\ndescription = "print"\nmin_width = 800\nmin_height = 600\n'
    book = load_rulebook(rules_folder(tmp_path, lines))
    [required] = erro_siasg(book).attachments
    assert (required.min_width, required.min_height) == (800, 600)


@pytest.mark.parametrize(
    ("lines", "key", "reason"),
    [
        ('kind = "image"\ndescription = "p"\nmin_width = 0\n', "min_width", ">= 1"),
        ('kind = "image"\ndescription = "p"\nmin_height = "200"\n', "min_height", ">= 1"),
        ('kind = "pdf"\ndescription = "p"\nmin_width = 300\n', "min_width", 'kind = "image"'),
        ('kind = "image"\ndescription = "p"\nmin_pixels = 300\n', "min_pixels", "unknown key"),
    ],
)
def test_rules_file_size_keys_are_validated(
    tmp_path: Path, lines: str, key: str, reason: str
) -> None:
    with pytest.raises(RulesError) as caught:
        load_rulebook(rules_folder(tmp_path, lines))
    assert (caught.value.file, caught.value.key) == ("erro-siasg.toml", f"attachments[0].{key}")
    assert reason in caught.value.reason


# --- where the HTML shows an image ----------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        "Atenciosamente,",
        "Att.",
        "Att.,",
        "At.te",
        "Abs",
        "Grato pela atenção.",
        "Grata,",
        "Cordialmente,",
        "Respeitosamente,",
        "Fico no aguardo.",
        "Desde já agradeço.",
        "-- ",
    ],
)
def test_a_closing_line_starts_the_signature(line: str) -> None:
    text = f"Segue o print.\n{line}\nMaria Silva\n"
    assert signature_start(text, is_html=False) == text.index(line) + len(line)
    markup = f"<p>Segue o print.</p><p><span>{line}</span><o:p></o:p></p><p>Maria</p>"
    start = signature_start(markup)
    assert start is not None and markup[:start].endswith(f"{line}</span><o:p></o:p>")


@pytest.mark.parametrize(
    "line",
    [
        "Obrigada! Segue o print:",
        "Desde já agradeço. Segue a tela abaixo:",
        "Obrigado pelo retorno, segue a tela com o erro",
        "Abstenção registrada no sistema",
        "Atenciosamente aguardo o retorno pois o pregão abre amanhã cedo",
        "---------- Forwarded message ---------",
    ],
)
def test_a_sentence_that_begins_like_a_closing_is_no_closing(line: str) -> None:
    assert signature_start(f"Bom dia.\n{line}\nMais texto.\n", is_html=False) is None


def test_a_signature_block_marked_by_the_client_starts_the_signature() -> None:
    markup = '<div>Segue.</div><div class="gmail_signature"><img src="cid:logo"></div>'
    assert signature_start(markup) == markup.index('<div class="gmail_signature"')


def test_hostile_markup_costs_one_pass() -> None:
    for markup in ("<" * 2_000_000, "<p" * 1_000_000, "<a" + "x" * 5_000_000):
        started = time.monotonic()
        assert signature_start(markup) is None
        assert time.monotonic() - started < 3


def outlook_report(
    subject: str,
    *,
    print_png: bytes | None = None,
    attach: tuple[tuple[str, str, bytes], ...] = (),
    sender: str = "Maria Silva <maria.silva@saude.rj.gov.br>",
) -> bytes:
    """An error report as Outlook (pt-BR) sends it: windows-1252 quoted-printable text with
    ``[cid:...]`` marks, HTML with the images in multipart/related, the signature's coat of
    arms and a spacer after "Atenciosamente,"; a print pasted before it when given."""
    answers = error_body().replace("\n", "\r\n")
    shown = f"[cid:image003.png{OUTLOOK_CID}]\r\n" if print_png else ""
    signature = (
        f"Atenciosamente,\r\n\r\nMaria Silva\r\nSecretaria de Estado de Saúde\r\n"
        f"[cid:image001.png{OUTLOOK_CID}][cid:image002.gif{OUTLOOK_CID}]\r\n"
    )
    message = EmailMessage()
    message["From"] = sender
    message["To"] = SUPPORT
    message["Subject"] = subject
    message["Date"] = "Thu, 19 Nov 2026 16:02:11 -0300"
    message["Message-ID"] = (
        f"<CP6P284MB{abs(hash(subject)) % 10**9}@CP6P284MB.BRAP284.PROD.OUTLOOK.COM>"
    )
    message["Thread-Topic"] = subject
    message["Thread-Index"] = "AdtKLF4/Gw3yqmQ1Rk6b8cVd0Jr1Xg=="
    message["Content-Language"] = "pt-BR"
    message["X-MS-Has-Attach"] = "yes"
    message.set_content(answers + shown + signature, charset="windows-1252", cte="quoted-printable")
    paragraphs = "".join(
        f"<p class=MsoNormal>{line}<o:p></o:p></p>" for line in error_body().splitlines()
    )
    pasted = (
        f'<p class=MsoNormal><img width=683 height=384 src="cid:image003.png{OUTLOOK_CID}"></p>'
    )
    html = (
        "<html><head><style>p.MsoNormal{margin:0cm;font-family:Calibri}</style></head><body>"
        + paragraphs
        + (pasted if print_png else "")
        + "<p class=MsoNormal><span style='color:#1F497D'>Atenciosamente,<o:p></o:p></span></p>"
        + "<p class=MsoNormal><b>Maria Silva</b><br>Secretaria de Estado de Sa&uacute;de</p>"
        + f'<p class=MsoNormal><img width=140 height=70 src="cid:image001.png{OUTLOOK_CID}">'
        + f'<img width=1 height=1 src="cid:image002.gif{OUTLOOK_CID}"></p></body></html>'
    )
    message.add_alternative(html, subtype="html", charset="windows-1252", cte="quoted-printable")
    html_part = message.get_payload()[1]
    images_shown = [("image001.png", "png", brasao_png()), ("image002.gif", "gif", spacer_gif())]
    if print_png:
        images_shown.append(("image003.png", "png", print_png))
    for name, subtype, data in images_shown:
        html_part.add_related(data, "image", subtype, cid=f"<{name}{OUTLOOK_CID}>", filename=name,
                              disposition="inline")  # fmt: skip
    for name, mime, data in attach:
        maintype, subtype = mime.split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
    return message.as_bytes()


def test_parse_places_outlook_images_before_and_after_the_closing() -> None:
    parsed = parse_message(outlook_report("Erro no SIASG", print_png=screenshot_png()))
    placed = {a.filename: (a.content_id, a.in_signature) for a in parsed.attachments}
    assert placed == {
        "image001.png": (f"image001.png{OUTLOOK_CID}".lower(), True),
        "image002.gif": (f"image002.gif{OUTLOOK_CID}".lower(), True),
        "image003.png": (f"image003.png{OUTLOOK_CID}".lower(), False),
    }


def test_parse_places_images_of_a_text_only_mail_by_their_cid_marks() -> None:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Maria <m@rj.gov.br>", SUPPORT, "Erro"
    message.set_content(f"Segue:\n[cid:tela{OUTLOOK_CID}]\nAtt.\nMaria\n[cid:logo{OUTLOOK_CID}]\n")
    message.add_attachment(
        screenshot_png(), maintype="image", subtype="png", cid=f"<tela{OUTLOOK_CID}>"
    )
    message.add_attachment(
        banner_png(), maintype="image", subtype="png", cid=f"<logo{OUTLOOK_CID}>"
    )
    flags = [a.in_signature for a in parse_message(message.as_bytes()).attachments]
    assert flags == [False, True]


def test_an_image_pasted_as_data_after_the_closing_is_part_of_the_signature() -> None:
    import base64

    logo = base64.b64encode(banner_png()).decode()
    shot = base64.b64encode(screenshot_png()).decode()
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = "Maria <m@rj.gov.br>", SUPPORT, "Erro"
    message.set_content(
        f'<div>Segue a tela:</div><div><img src="data:image/png;base64,{shot}"></div>'
        f'<div>Att.,</div><div>Maria</div><div><img src="data:image/png;base64,{logo}"></div>',
        subtype="html",
    )
    flags = [a.in_signature for a in parse_message(message.as_bytes()).attachments]
    assert flags == [False, True]


def test_attachments_rebuilt_from_the_database_still_work() -> None:
    """The store builds Attachments from five columns: the new fields have their defaults."""
    stored = Attachment("print.png", "image/png", "image/png", screenshot_png(), True)
    assert (stored.content_id, stored.in_signature) == (None, False)
    assert judge(stored, DEFAULT).counts


# --- through the pipeline: the sender's history, the notice --------------------------------


def test_outlook_report_with_only_signature_images_gets_a_notice_naming_them(
    ingest: Ingest, config_path: Path
) -> None:
    from tests.test_pipeline import replies, text_of

    result = ingest(outlook_report("Erro ao publicar aviso no SIASG"))

    assert (result["outcome"], result["missing"]) == ("incomplete", ["attachments[0]"])
    text = " ".join(text_of(replies(config_path)[0]).split())
    assert "o arquivo image001.png é pequeno demais (140×70 pixels)" in text
    assert "o arquivo image002.gif tem apenas 1×1 pixels" in text


def test_the_same_report_with_its_print_in_a_word_file_is_registered(ingest: Ingest) -> None:
    word = docx({"image1.png": screenshot_png()})
    result = ingest(
        outlook_report("Erro ao publicar aviso no SIASG", attach=(("erro.docx", DOCX, word),))
    )

    assert (result["outcome"], result["missing"]) == ("created", [])


def test_a_banner_sent_in_every_mail_stops_counting_but_a_print_sent_again_still_counts(
    ingest: Ingest,
) -> None:
    """Mail after mail with the same large image (outside any closing): from the third
    ticket on it is the sender's logo. A print sent twice is a print twice."""
    banner = (("banner.png", "image/png", banner_png()),)
    for number in (1, 2):
        first = ingest(mail(f"Erro no SIASG ({number})", error_body(), attachments=banner))
        assert first["outcome"] == "created", first
    third = ingest(mail("Erro no SIASG (3)", error_body(), attachments=banner))
    assert (third["outcome"], third["missing"]) == ("incomplete", ["attachments[0]"])

    print_ = (("tela.png", "image/png", screenshot_png()),)
    for number in (4, 5):
        again = ingest(mail(f"Erro no SIASG ({number})", error_body(), attachments=print_))
        assert again["outcome"] == "created", again


# --- end to end: Dovecot in, ``mailproc poll --once``, the SMTP listener out ----------------


@pytest.mark.servers
def test_outlook_signature_images_and_a_print_in_word_through_real_mail(desk: Desk) -> None:
    """An Outlook report whose only images are the coat of arms and a spacer gets the
    "aguardando informações" notice naming both files and why; the same report from a
    colleague with the print pasted into a Word file is registered."""
    word = docx({"image1.png": screenshot_png()})
    only_logos = outlook_report("Erro ao publicar aviso no SIASG")
    with_word = outlook_report(
        "Erro ao emitir empenho no SIASG",
        attach=(("erro-empenho.docx", DOCX, word),),
        sender="João Souza <joao.souza@fazenda.rj.gov.br>",
    )
    desk.imap.append_many("INBOX", [only_logos, with_word])

    poll = desk.poll()

    assert poll.returncode == 0, poll.stderr
    assert desk.outcomes() == {
        message_id(only_logos): "incomplete",
        message_id(with_word): "created",
    }
    notices = {bare_id(reply["In-Reply-To"]): reply for reply in desk.replies()}
    incomplete = notices[message_id(only_logos)]
    assert "Chamado aguardando informações" in str(incomplete["Subject"])
    text = " ".join(plain_text(incomplete).split())
    assert (
        "print (captura) da tela que apresentou o erro: nenhum dos anexos recebidos serve como "
        "captura de tela: o arquivo image001.png é pequeno demais (140×70 pixels) para ser uma "
        "captura de tela; o arquivo image002.gif tem apenas 1×1 pixels: é um espaçador ou "
        "marcador invisível, não uma captura de tela"
    ) in text
    assert "Chamado registrado" in str(notices[message_id(with_word)]["Subject"])


def test_a_parse_worker_inspects_images_ahead_and_the_result_travels_back() -> None:
    import pickle

    from mailproc.mail.parse import parse_ahead

    raw = outlook_report("Erro no SIASG", print_png=screenshot_png())
    travelled = pickle.loads(pickle.dumps(parse_ahead(raw)))
    for file in travelled.attachments:
        assert "contents" in vars(file), file.filename  # no second inspection in the desk
    assert [len(file.contents.pictures) for file in travelled.attachments] == [1, 1, 1]
