"""Hostile mail through the whole pipeline: every parse limit, damaged real mail and generated
MIME trees get one clean outcome.

Every message goes through the code ``mailproc ingest`` runs (``App(...).pipeline.process``)
on a SQLite desk in a temporary folder. The invariant, for each message:

* ``process`` returns a Result whose outcome is an Outcome, and raises nothing;
* the raw row holds the bytes and has its outcome set (the same one, unless the bytes were
  seen before), and at most one message row points at it;
* a quarantined message never has a reason starting with "internal error" (the pipeline's
  shunt caught an exception: a bug) nor "unexpected parser failure" (parse's last resort).

The suite runs a bounded, derandomised pass (the same examples each time, well under a
minute). A longer, random run explores further; failures are saved under .hypothesis/ and
replayed first by every later run:

    MAILPROC_FUZZ_EXAMPLES=5000 python -m pytest -q tests/test_fuzz.py

(about 45 s per 1,000 examples of each of the two fuzz tests).
"""

from __future__ import annotations

import codecs
import os
import re
from collections.abc import Callable
from email import policy
from email.message import EmailMessage
from functools import cache
from hashlib import sha256
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from mailproc.decision.values import Outcome
from mailproc.mail.parse import MAX_ATTACHMENTS
from mailproc.service.app import App
from mailproc.storage import models as m
from tests.conftest import CORPUS, require_corpus

EXAMPLES = int(os.environ.get("MAILPROC_FUZZ_EXAMPLES", "0"))
FUZZ = settings(
    max_examples=EXAMPLES or 300,
    deadline=None,
    derandomize=not EXAMPLES,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# The big corpus files (screenshots and PDFs of 0.5-1.5 MB) add time and database size, not
# new structure: the generated trees carry attachments of every kind.
MAX_SAMPLE_BYTES = 256 * 1024
require_corpus()
SAMPLES = sorted(
    path
    for path in CORPUS.rglob("*")
    if path.is_file()
    and path.suffix not in {".yml", ".tsv", ".md"}
    and path.stat().st_size <= MAX_SAMPLE_BYTES
)


@pytest.fixture(scope="module")
def desk(module_desk: App) -> App:
    return module_desk


def assert_one_clean_outcome(desk: App, raw: bytes) -> None:
    result = desk.pipeline.process(raw, "fuzz")

    assert isinstance(result.outcome, Outcome)
    with desk.sessions() as session:
        row = session.scalars(select(m.RawMessage).filter_by(sha256=sha256(raw).hexdigest())).one()
        assert row.data == raw
        messages = select(func.count()).select_from(m.Message).filter_by(raw_id=row.id)
        assert session.scalar(messages) <= 1
    assert row.outcome is not None
    if result.outcome is not Outcome.DUPLICATE:
        assert row.outcome == result.outcome.value
    # The stored reason, not this call's: replayed bytes come back as duplicates.
    if row.outcome == Outcome.QUARANTINED:
        assert row.reason
        assert not row.reason.startswith("internal error"), row.reason
        assert not row.reason.startswith("unexpected parser failure"), row.reason


# --- each parse limit through the pipeline --------------------------------------------------


def hostile(body_header: str, body: bytes) -> bytes:
    head = f"From: Maria <maria@rj.gov.br>\r\nSubject: limite\r\n{body_header}\r\n\r\n"
    return head.encode() + body


def nested(levels: int) -> bytes:
    body = b"Content-Type: text/plain\r\n\r\nNo fundo."
    for level in range(levels):
        boundary = f"n{level}".encode()
        body = (
            (b'Content-Type: multipart/mixed; boundary="' + boundary + b'"\r\n\r\n--' + boundary)
            + b"\r\n"
            + body
            + b"\r\n--"
            + boundary
            + b"--\r\n"
        )
    return b"From: Maria <maria@rj.gov.br>\r\nSubject: fundo\r\n" + body


def many_files(count: int) -> bytes:
    part = b"--f\r\nContent-Type: application/octet-stream\r\n\r\n"
    parts = b"".join(part + str(n).encode() + b"\r\n" for n in range(count))
    return hostile('Content-Type: multipart/mixed; boundary="f"', parts + b"--f--\r\n")


def forwarded(levels: int) -> bytes:
    raw = b"From: a@rj.gov.br\r\nSubject: original\r\n\r\nTexto.\r\n"
    for level in range(levels):
        raw = (
            (
                f"From: b{level}@rj.gov.br\r\nSubject: Fwd\r\n"
                f'Content-Type: multipart/mixed; boundary="w{level}"\r\n\r\n'
                f"--w{level}\r\nContent-Type: message/rfc822\r\n\r\n"
            ).encode()
            + raw
            + f"\r\n--w{level}--\r\n".encode()
        )
    return raw


LIMITS = {
    "mime depth (15 levels)": (nested(15), Outcome.NO_THEME, ""),
    "stdlib recursion (1,200 levels)": (nested(1200), Outcome.QUARANTINED, "nested too deeply"),
    "parts and attachments (600 files)": (many_files(600), Outcome.NO_THEME, ""),
    # Bodies of their own: mail that differs only in X- fields is one mail (mail.fingerprint).
    "header fields (300)": (
        hostile("\r\n".join(f"X-F{n}: {n}" for n in range(300)), b"Corpo de 300 campos."),
        Outcome.NO_THEME,
        "",
    ),
    "header length (20 KB)": (hostile(f"X-Long: {'a' * 20_000}", b"Longo."), Outcome.NO_THEME, ""),
    "attached messages (6 levels)": (forwarded(6), Outcome.NO_THEME, ""),
    "not an e-mail": (bytes(range(256)) * 4, Outcome.QUARANTINED, "no header fields"),
}


@pytest.mark.parametrize(("raw", "outcome", "reason"), LIMITS.values(), ids=LIMITS.keys())
def test_every_parse_limit_gives_a_clear_outcome(
    desk: App, raw: bytes, outcome: Outcome, reason: str
) -> None:
    result = desk.pipeline.process(raw, "limits")
    assert result.outcome is outcome
    assert reason in result.reason
    assert_one_clean_outcome(desk, raw)


def test_attachments_past_the_limit_are_not_stored(desk: App) -> None:
    raw = many_files(150)
    desk.pipeline.process(raw, "limits")
    with desk.sessions() as session:
        row = session.scalars(select(m.RawMessage).filter_by(sha256=sha256(raw).hexdigest())).one()
        message = session.scalars(select(m.Message).filter_by(raw_id=row.id)).one()
        assert len(message.attachments) == MAX_ATTACHMENTS


# --- mutated real messages -----------------------------------------------------------------

Mutation = Callable[[st.DrawFn, bytes], bytes]

CHARSET_LABELS = [
    "utf-8",
    "us-ascii",
    "iso-8859-1",
    "windows-1252",
    "iso-8859-15",
    "koi8-r",
    "gb2312",
    "big5",
    "shift_jis",
    "iso-2022-jp",
    "euc-kr",
    "utf-7",
    "utf-16",
    "utf-32",
    "unicode_escape",
    "base64",
    "rot13",
    "x-unknown",
    "unknown-8bit",
    "",
    '"',
    "utf-8\x00",
]
TRANSFER_ENCODINGS = [b"base64", b"quoted-printable", b"7bit", b"8bit", b"binary", b"x-uue", b"??"]
_BOUNDARY = re.compile(rb"""boundary\s*=\s*"?([^";\s]+)"?""", re.IGNORECASE)
_CHARSET = re.compile(rb"""charset\s*=\s*"?([^";\s]*)"?|=\?([^?\s]*)\?""", re.IGNORECASE)
_TRANSFER_ENCODING = re.compile(rb"(content-transfer-encoding\s*:\s*)(\S*)", re.IGNORECASE)


@cache
def sample_bytes(path: Path) -> bytes:
    return path.read_bytes()


def header_end(raw: bytes) -> int:
    found = re.search(rb"\r?\n\r?\n", raw)
    return found.start() if found else len(raw)


def flip_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    data = bytearray(raw)
    for _ in range(draw(st.integers(1, 8))):
        if data:
            data[draw(st.integers(0, len(data) - 1))] ^= draw(st.integers(1, 255))
    return bytes(data)


def truncate(draw: st.DrawFn, raw: bytes) -> bytes:
    return raw[: draw(st.integers(0, len(raw)))]


def insert_bytes(draw: st.DrawFn, raw: bytes) -> bytes:
    at = draw(st.integers(0, len(raw)))
    return raw[:at] + draw(st.binary(min_size=1, max_size=64)) + raw[at:]


def duplicate_header(draw: st.DrawFn, raw: bytes) -> bytes:
    lines = raw[: header_end(raw)].split(b"\n")
    index = draw(st.integers(0, len(lines) - 1))
    copies = draw(st.sampled_from([1, 2, 50, 300]))
    lines[index:index] = [lines[index]] * copies
    return b"\n".join(lines) + raw[header_end(raw) :]


def damage_boundary(draw: st.DrawFn, raw: bytes) -> bytes:
    boundaries = [found.group(1) for found in _BOUNDARY.finditer(raw)]
    if not boundaries:
        return flip_bytes(draw, raw)
    boundary = draw(st.sampled_from(boundaries))
    delimiter = b"--" + boundary
    places = [found.start() for found in re.finditer(re.escape(delimiter), raw)]
    how = draw(st.sampled_from(["rename", "drop", "close-early", "extra", "prefix"]))
    if how == "rename" or not places:
        return raw.replace(b"=" + boundary, b"=" + boundary[:-1] + b"X", 1)
    at = draw(st.sampled_from(places))
    if how == "drop":
        return raw[:at] + raw[at + len(delimiter) :]
    if how == "close-early":
        return raw[:at] + delimiter + b"--\r\n" + raw[at:]
    if how == "extra":
        return raw[:at] + delimiter + b"\r\n" + raw[at:]
    return raw.replace(b"=" + boundary, b"=" + boundary[: max(1, len(boundary) // 2)], 1)


def swap_charset(draw: st.DrawFn, raw: bytes) -> bytes:
    labels = list(_CHARSET.finditer(raw))
    if not labels:
        return (
            raw[: header_end(raw)]
            + b"\r\nContent-Type: text/plain; charset=utf-7"
            + raw[header_end(raw) :]
        )
    found = draw(st.sampled_from(labels))
    group = 1 if found.group(1) is not None else 2
    label = draw(st.sampled_from(CHARSET_LABELS)).encode("latin-1")
    return raw[: found.start(group)] + label + raw[found.end(group) :]


def swap_transfer_encoding(draw: st.DrawFn, raw: bytes) -> bytes:
    fields = list(_TRANSFER_ENCODING.finditer(raw))
    if not fields:
        return flip_bytes(draw, raw)
    found = draw(st.sampled_from(fields))
    encoding = draw(st.sampled_from(TRANSFER_ENCODINGS))
    return raw[: found.start(2)] + encoding + raw[found.end(2) :]


def change_line_endings(draw: st.DrawFn, raw: bytes) -> bytes:
    lf = raw.replace(b"\r\n", b"\n")
    return draw(st.sampled_from([lf, lf.replace(b"\n", b"\r\n"), lf.replace(b"\n", b"\r")]))


MUTATIONS: list[Mutation] = [
    flip_bytes,
    truncate,
    insert_bytes,
    duplicate_header,
    damage_boundary,
    swap_charset,
    swap_transfer_encoding,
    change_line_endings,
]


@st.composite
def mutated_corpus_mail(draw: st.DrawFn) -> bytes:
    raw = sample_bytes(draw(st.sampled_from(SAMPLES)))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        raw = mutation(draw, raw)
    return raw


@FUZZ
@given(raw=mutated_corpus_mail())
def test_damaged_real_mail_gets_one_clean_outcome(desk: App, raw: bytes) -> None:
    assert_one_clean_outcome(desk, raw)


# --- generated MIME trees ------------------------------------------------------------------

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(13)
PDF = b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj << >> endobj\n%%EOF\n"
FILE_TYPES = [
    ("image", "png"),
    ("image", "jpeg"),
    ("application", "pdf"),
    ("application", "octet-stream"),
    ("application", "x-msdownload"),
    ("text", "plain"),
    ("text", "calendar"),
    ("text", "rfc822-headers"),
    ("audio", "x-weird"),
]
HOSTILE_NAMES = st.one_of(
    st.text(max_size=40),
    st.sampled_from(
        [
            "../../etc/passwd",
            "..\\..\\boot.ini",
            "CON",
            "nul.txt",
            "COM1.pdf",
            "a\u202egnp.exe",
            "print.png",
            "relatório: março?.pdf",
            ".bashrc",
            "...",
            "x" * 400 + ".pdf",
            "=?utf-8?B?T2bDrWNpbw==?=.pdf",
        ]
    ),
    st.text(alphabet=':*?"<>|/\\.\t \u200f\u202e', max_size=12),
)
HOSTILE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400
) | st.sampled_from(["begin 644 x.png\n`\nend\n", '<img src="data:image/png;base64,AAAA">'])


@st.composite
def text_part(draw: st.DrawFn) -> EmailMessage:
    part = EmailMessage()
    subtype = draw(st.sampled_from(["plain", "html"]))
    label = draw(st.sampled_from(CHARSET_LABELS))
    try:
        codec = codecs.lookup(label).name
        data = draw(HOSTILE_TEXT).encode(codec, "replace")
    except (LookupError, TypeError, ValueError, UnicodeError):
        data = draw(HOSTILE_TEXT).encode("utf-8", "surrogatepass")
    cte = draw(st.sampled_from(["base64", "quoted-printable", "8bit"]))
    part.set_content(data, "text", subtype, cte=cte)
    if label:
        part.set_param("charset", label)
    return part


@st.composite
def file_part(draw: st.DrawFn) -> EmailMessage:
    part = EmailMessage()
    maintype, subtype = draw(st.sampled_from(FILE_TYPES))
    data = draw(st.sampled_from([b"", PNG, PDF])) + draw(st.binary(max_size=600))
    disposition = draw(st.sampled_from(["attachment", "inline"]))
    name = draw(st.none() | HOSTILE_NAMES)
    content_id = draw(st.none() | st.text(max_size=12))
    try:
        part.set_content(data, maintype, subtype, disposition=disposition, filename=name)
        if content_id is not None:
            part["Content-ID"] = f"<{content_id}@fuzz>"
    except (ValueError, TypeError):
        assume(False)  # the stdlib refuses line breaks in header values
    return part


def multipart(children: st.SearchStrategy[EmailMessage]) -> st.SearchStrategy[EmailMessage]:
    @st.composite
    def build(draw: st.DrawFn) -> EmailMessage:
        part = EmailMessage()
        subtype = draw(st.sampled_from(["mixed", "alternative", "related", "report", "digest"]))
        part["Content-Type"] = f"multipart/{subtype}"
        # Chosen here: the stdlib would draw one from the random module.
        part.set_boundary(f"=_fuzz_{draw(st.integers(0, 2**32))}")
        for child in draw(st.lists(children, max_size=5)):
            part.attach(child)
        return part

    return build()


def attached_message(children: st.SearchStrategy[EmailMessage]) -> st.SearchStrategy[EmailMessage]:
    @st.composite
    def build(draw: st.DrawFn) -> EmailMessage:
        inner = draw(children)
        del inner["From"], inner["Subject"]
        inner["From"] = draw(st.sampled_from(["Joao <joao@rj.gov.br>", "x", "<>"]))
        inner["Subject"] = "original"
        part = EmailMessage()
        part["Content-Type"] = draw(st.sampled_from(["message/rfc822", "message/global"]))
        part.set_payload([inner])
        return part

    return build()


MIME_TREES = st.recursive(
    text_part() | file_part(),
    lambda children: multipart(children) | attached_message(children),
    max_leaves=12,
)

HEADER_VALUE = st.binary(max_size=80).map(lambda b: b.replace(b"\r", b" ").replace(b"\n", b" "))
FROM_VALUES = st.one_of(
    st.sampled_from(
        [
            b"Maria Silva <maria.silva@saude.rj.gov.br>",
            b"alice@example.com <bob@example.com>",
            b'"alice@example.com" <bob@example.com>',
            b'"your secret past" <power quadrant system@example.com>',
            b"<>",
            b"Undisclosed-Recipients:;",
            b"=?x-unknown?B?////?= <a@b.com>",
            b"MAILER-DAEMON@rj.gov.br",
        ]
    ),
    HEADER_VALUE,
)


@st.composite
def header_block(draw: st.DrawFn) -> bytes:
    """Top-level fields written as raw bytes: nothing stops them being hostile."""
    fields = [b"From: " + draw(FROM_VALUES), b"Subject: " + draw(HEADER_VALUE)]
    optional = {
        b"Message-ID": st.sampled_from([b"<fuzz@rj.gov.br>", b"", b"<<>>"]) | HEADER_VALUE,
        b"In-Reply-To": HEADER_VALUE,
        b"References": HEADER_VALUE,
        b"Date": st.sampled_from([b"Mon, 02 Mar 2026 10:00:00 -0300", b"99999999999"])
        | HEADER_VALUE,
        b"To": HEADER_VALUE,
        b"Cc": HEADER_VALUE,
        b"Auto-Submitted": st.sampled_from([b"no", b"auto-replied"]),
        b"Return-Path": st.sampled_from([b"<>", b"<maria@rj.gov.br>"]),
    }
    for name, values in optional.items():
        if draw(st.booleans()):
            fields.append(name + b": " + draw(values))
    return b"\r\n".join(fields) + b"\r\n"


@st.composite
def generated_mail(draw: st.DrawFn) -> bytes:
    tree = draw(MIME_TREES)
    try:
        body = tree.as_bytes(policy=policy.SMTP)
    except (ValueError, TypeError, LookupError, UnicodeError, AttributeError):
        assume(False)  # the stdlib cannot write every tree it lets us build
    return draw(header_block()) + body


@FUZZ
@given(raw=generated_mail())
def test_generated_mime_trees_get_one_clean_outcome(desk: App, raw: bytes) -> None:
    assert_one_clean_outcome(desk, raw)
