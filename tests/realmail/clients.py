"""One function per mail client: a Letter as that client puts it on the wire (REALMAIL.md)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable

from tests.realmail.mime import (
    Letter,
    Part,
    Picture,
    digest,
    encoded_word,
    envelope,
    finish,
    flowed,
    html_document,
    image_part,
    multipart,
    plain,
    rfc2231,
    rich,
    text_part,
)
from tests.realmail.mime import (
    Part as _Part,
)

OUTLOOK_CID_SUFFIX = "@01DB6A2F.4C9E1B30"
_MSO_HEAD = (
    '<meta name="Generator" content="Microsoft Word 15 (filtered medium)">'
    "<style><!-- p.MsoNormal {margin:0cm;font-size:11.0pt;"
    'font-family:"Calibri",sans-serif;} --></style>'
)


def _topic(subject: str) -> str:
    """Thread-Topic: the subject without its RE:/ENC: prefixes."""
    words = subject
    while words[:4].upper() in ("RES:", "ENC:") or words[:3].upper() in ("RE:", "FW:"):
        words = words.split(":", 1)[1].strip()
    return words


def _thread_index(letter: Letter) -> str:
    return base64.b64encode(
        b"\x01\xdb\x6a\x2f" + hashlib.sha256(_topic(letter.subject).encode()).digest()[:18]
    ).decode()


def _size(picture: Picture) -> str:
    stamp = '"Mon, 07 Dec 2026 13:10:00 GMT"'
    return f"size={len(picture.data)}; creation-date={stamp}; modification-date={stamp}"


# --- Outlook / Exchange ---------------------------------------------------------------------


def outlook(letter: Letter, *, owa: bool = False) -> bytes:
    """Outlook desktop (pt-BR): mixed{related{alternative{text, html}, image00N}, files}.
    ``owa``: Exchange webmail, alternative{text, related{html, images}} inside mixed.
    Text in the letter's charset (windows-1252 or iso-8859-1), quoted-printable; file names
    as RFC 2047 encoded-words."""
    cs = letter.charset

    def cid(picture: Picture) -> str:
        return picture.filename + OUTLOOK_CID_SUFFIX

    text = plain(letter, lambda p: f"[cid:{cid(p)}]")
    body = rich(
        letter,
        cid,
        line="<p class=MsoNormal>{}<o:p></o:p></p>",
        blank="<p class=MsoNormal><o:p>&nbsp;</o:p></p>",
    )
    alternative_parts = [
        text_part(text, "plain", cs, "quoted-printable"),
        text_part(
            html_document(f"<div class=WordSection1>\n{body}\n</div>", cs, head=_MSO_HEAD),
            "html",
            cs,
            "quoted-printable",
        ),
    ]
    images = [_outlook_image(p, cs, cid(p)) for p in letter.inline]
    key = letter.message_id
    if owa and images:
        related = multipart(
            "related",
            [alternative_parts[1], *images],
            f"_004_{digest(key, 'r')}_",
            extra='; type="text/html"',
        )
        tree = multipart(
            "alternative", [alternative_parts[0], related], f"_000_{digest(key, 'a')}_"
        )
    else:
        tree = multipart("alternative", alternative_parts, f"_000_{digest(key, 'a')}_")
        if images:
            tree = multipart(
                "related",
                [tree, *images],
                f"_004_{digest(key, 'r')}_",
                extra='; type="multipart/alternative"',
            )
    if letter.attachments:
        files = [_outlook_file(p, cs) for p in letter.attachments]
        tree = multipart("mixed", [tree, *files], f"_006_{digest(key, 'm')}_")
    headers = envelope(letter, cs)
    headers[3:3] = [
        ("Thread-Topic", encoded_word(_topic(letter.subject), cs)),
        ("Thread-Index", _thread_index(letter)),
    ]
    headers += [
        ("Accept-Language", "pt-BR, en-US"),
        ("Content-Language", "pt-BR"),
        ("X-MS-Has-Attach", "yes" if letter.attachments or letter.inline else ""),
        ("X-MS-TNEF-Correlator", ""),
        ("MIME-Version", "1.0"),
    ]
    return finish(letter, headers, tree)


def _outlook_image(picture: Picture, charset: str, cid: str) -> Part:
    return image_part(
        picture,
        [
            ("Content-Type", f'{picture.mime}; name="{picture.filename}"'),
            ("Content-Description", picture.filename),
            ("Content-Disposition", f'inline; filename="{picture.filename}"; {_size(picture)}'),
            ("Content-ID", f"<{cid}>"),
        ],
    )


def _outlook_file(picture: Picture, charset: str) -> Part:
    name = encoded_word(picture.filename, charset)
    return image_part(
        picture,
        [
            ("Content-Type", f'{picture.mime}; name="{name}"'),
            ("Content-Description", name),
            ("Content-Disposition", f'attachment; filename="{name}"; {_size(picture)}'),
        ],
    )


# --- Gmail ----------------------------------------------------------------------------------


def gmail(letter: Letter, *, signature: str = "") -> bytes:
    """Gmail web: mixed{related{alternative{text, html}, inline}, files}, UTF-8 QP; inline
    pictures as "[image: NAME]" in the text, with X-Attachment-Id; bold labels as *X*."""
    key = letter.message_id
    ids = {p.filename: f"ii_{digest(key, p.filename, size=11)}" for p in letter.inline}
    text = plain(
        letter, lambda p: f"[image: {p.filename}]", keep_stars=True, table=lambda a, b: f"{a}\t{b}"
    )
    body = rich(letter, lambda p: ids[p.filename])
    tree = multipart(
        "alternative",
        [
            text_part(text, "plain", "UTF-8", "quoted-printable"),
            text_part(f'<div dir="ltr">{body}</div>\n', "html", "UTF-8", "quoted-printable"),
        ],
        f"000000000000{digest(key, 'a', size=16)}",
    )
    if letter.inline:
        inline = [
            image_part(
                p,
                [
                    ("Content-Type", f'{p.mime}; name="{encoded_word(p.filename, "utf-8")}"'),
                    (
                        "Content-Disposition",
                        f'inline; filename="{encoded_word(p.filename, "utf-8")}"',
                    ),
                    ("Content-ID", f"<{ids[p.filename]}>"),
                    ("X-Attachment-Id", ids[p.filename]),
                ],
            )
            for p in letter.inline
        ]
        tree = multipart("related", [tree, *inline], f"000000000000{digest(key, 'r', size=16)}")
    if letter.attachments:
        files = []
        for p in letter.attachments:
            attachment_id = f"f_{digest(key, p.filename, size=9)}0"
            name = encoded_word(p.filename, "utf-8")
            files.append(
                image_part(
                    p,
                    [
                        ("Content-Type", f'{p.mime}; name="{name}"'),
                        ("Content-Disposition", f'attachment; filename="{name}"'),
                        ("Content-ID", f"<{attachment_id}>"),
                        ("X-Attachment-Id", attachment_id),
                    ],
                )
            )
        tree = multipart("mixed", [tree, *files], f"000000000000{digest(key, 'm', size=16)}")
    headers = [("MIME-Version", "1.0"), *envelope(letter, "utf-8")]
    return finish(letter, headers, tree)


# --- Thunderbird ----------------------------------------------------------------------------


def thunderbird(
    letter: Letter, *, forwarded: bytes | None = None, forwarded_name: str = ""
) -> bytes:
    """Thunderbird: text/plain format=flowed, 8bit, in the letter's charset; attachments with
    RFC 2231 names; a forward "as attachment" carries the original as message/rfc822."""
    cs = letter.charset
    text = flowed(plain(letter, lambda p: ""))
    tree = text_part(text, "plain", cs.upper(), "8bit", params="; format=flowed")
    files = [
        image_part(
            p,
            [
                ("Content-Type", f'{p.mime}; name="{encoded_word(p.filename, "utf-8")}"'),
                ("Content-Disposition", f"attachment; {rfc2231(p.filename)}"),
            ],
        )
        for p in letter.attachments
    ]
    if forwarded is not None:
        files.append(
            _Part(
                [
                    (
                        "Content-Type",
                        f'message/rfc822; name="{encoded_word(forwarded_name, "utf-8")}"',
                    ),
                    ("Content-Disposition", f"attachment; {rfc2231(forwarded_name)}"),
                    ("Content-Transfer-Encoding", "8bit"),
                ],
                forwarded.replace(b"\r\n", b"\n"),
            )
        )
    if files:
        tree = multipart(
            "mixed",
            [tree, *files],
            f"------------{digest(letter.message_id, size=24)}",
            preamble="This is a multi-part message in MIME format.",
        )
    headers = [
        ("Message-ID", f"<{letter.message_id}>"),
        ("Date", letter.date),
        ("MIME-Version", "1.0"),
        ("User-Agent", "Mozilla Thunderbird"),
        ("Content-Language", "pt-BR"),
    ]
    headers += [h for h in envelope(letter, cs) if h[0] not in ("Message-ID", "Date")]
    return finish(letter, headers, tree)


# --- Zimbra / Expresso ----------------------------------------------------------------------


def zimbra(letter: Letter) -> bytes:
    """Zimbra webmail: HTML only, base64, in the letter's charset; inline pictures in a
    related part, files beside it."""
    cs = letter.charset
    key = letter.message_id
    ids = {p.filename: f"{digest(key, p.filename, size=40)}@zimbra" for p in letter.inline}
    body = rich(
        letter,
        lambda p: ids[p.filename],
        line="<div>{}</div>",
        blank='<div><br data-mce-bogus="1"></div>',
    )
    document = html_document(
        f'<div style="font-family: arial, helvetica, sans-serif; font-size: 12pt; color: #000000">'
        f"{body}</div>",
        cs,
    )
    tree = text_part(document, "html", cs, "base64")
    if letter.inline:
        images = [
            image_part(
                p,
                [
                    ("Content-Type", f"{p.mime}; name={p.filename}"),
                    ("Content-Disposition", f"inline; filename={p.filename}"),
                    ("Content-Id", f"<{ids[p.filename]}>"),
                ],
            )
            for p in letter.inline
        ]
        tree = multipart("related", [tree, *images], f"=_{digest(key, 'r', size=36)}")
    if letter.attachments:
        files = [
            image_part(
                p,
                [
                    ("Content-Type", f'{p.mime}; name="{encoded_word(p.filename, cs)}"'),
                    (
                        "Content-Disposition",
                        f'attachment; filename="{encoded_word(p.filename, cs)}"',
                    ),
                ],
            )
            for p in letter.attachments
        ]
        tree = multipart("mixed", [tree, *files], f"=_{digest(key, 'm', size=36)}")
    headers = [
        *envelope(letter, cs),
        ("MIME-Version", "1.0"),
        ("X-Mailer", "Zimbra 8.8.15_GA_4545 (ZimbraWebClient - FF120 (Win)/8.8.15_GA_4545)"),
        ("Thread-Topic", encoded_word(_topic(letter.subject), cs)),
        ("Thread-Index", _thread_index(letter)),
    ]
    return finish(letter, headers, tree)


# --- Phones ---------------------------------------------------------------------------------


def iphone(letter: Letter) -> bytes:
    """iPhone Mail: "Mime-Version: 1.0 (1.0)"; alternative{text QP, related{html, photo}}:
    the photo sits inside the HTML alternative, not beside it."""
    key = letter.message_id
    ids = {p.filename: digest(key, p.filename, size=32).upper() for p in letter.inline}
    text = plain(letter, lambda p: "")
    body = rich(letter, lambda p: ids[p.filename], line="{}<br>", blank="<br>")
    html_part = text_part(
        f'<html><head><meta http-equiv="content-type" content="text/html; charset=utf-8"></head>'
        f'<body dir="auto">{body}</body></html>',
        "html",
        "utf-8",
        "quoted-printable",
    )
    if letter.inline:
        photos = [
            image_part(
                p,
                [
                    (
                        "Content-Type",
                        f"{p.mime}; name={p.filename}; x-apple-part-url={ids[p.filename]}",
                    ),
                    ("Content-Disposition", f"inline; filename={p.filename}"),
                    ("Content-Id", f"<{ids[p.filename]}>"),
                ],
            )
            for p in letter.inline
        ]
        html_part = multipart(
            "related",
            [html_part, *photos],
            f"Apple-Mail-{digest(key, 'r', size=8).upper()}",
            extra='; type="text/html"',
        )
    tree = multipart(
        "alternative",
        [text_part(text, "plain", "utf-8", "quoted-printable"), html_part],
        f"Apple-Mail-{digest(key, 'a', size=8).upper()}",
    )
    headers = [
        ("Content-Transfer-Encoding", "7bit"),
        *envelope(letter, "utf-8"),
        ("Mime-Version", "1.0 (1.0)"),
        ("X-Mailer", "iPhone Mail (22B91)"),
    ]
    return finish(letter, headers, tree)


def samsung(letter: Letter) -> bytes:
    """Samsung Email: mixed{alternative{text, html} base64, photo attached}."""
    key = letter.message_id
    text = plain(letter, lambda p: "")
    body = rich(letter, lambda p: p.filename, line="<div>{}</div>")
    tree = multipart(
        "alternative",
        [
            text_part(text, "plain", "UTF-8", "base64"),
            text_part(
                f'<html><head><meta http-equiv="Content-Type" content="text/html; charset=UTF-8">'
                f"</head><body>{body}</body></html>",
                "html",
                "UTF-8",
                "base64",
            ),
        ],
        f"--_com.samsung.android.email_{digest(key, 'a', size=14)}",
    )
    if letter.attachments:
        files = [
            image_part(
                p,
                [
                    ("Content-Type", f'{p.mime}; name="{encoded_word(p.filename, "utf-8")}"'),
                    (
                        "Content-Disposition",
                        f'attachment; filename="{encoded_word(p.filename, "utf-8")}"',
                    ),
                ],
            )
            for p in letter.attachments
        ]
        tree = multipart(
            "mixed", [tree, *files], f"--_com.samsung.android.email_{digest(key, 'm', size=14)}"
        )
    headers = [
        ("MIME-Version", "1.0"),
        *envelope(letter, "UTF-8"),
        ("Importance", "Normal"),
        ("X-Priority", "3"),
    ]
    return finish(letter, headers, tree)


def scanner(letter: Letter) -> bytes:
    """A network scanner's "scan to e-mail": mixed{text/plain 7bit, the PDF}, no name in From."""
    key = letter.message_id
    files = [
        image_part(
            p,
            [
                ("Content-Type", f'{p.mime}; name="{p.filename}"'),
                ("Content-Disposition", f'attachment; filename="{p.filename}"'),
            ],
        )
        for p in letter.attachments
    ]
    tree = multipart(
        "mixed",
        [text_part(letter.body, "plain", "us-ascii", "7bit"), *files],
        f"=_NextPart_{digest(key, size=20)}",
    )
    headers = [*envelope(letter, "us-ascii"), ("MIME-Version", "1.0")]
    return finish(letter, headers, tree)


CLIENTS: dict[str, Callable[..., bytes]] = {
    "scanner": scanner,
    "outlook": outlook,
    "exchange": lambda letter: outlook(letter, owa=True),
    "gmail": gmail,
    "thunderbird": thunderbird,
    "zimbra": zimbra,
    "iphone": iphone,
    "samsung": samsung,
}
