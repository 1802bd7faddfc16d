"""Every message of the shared corpus parses, without raising, into safe and storable data."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mailproc.mail.message import Address, Attachment, InboundMessage
from mailproc.mail.parse import parse_message
from mailproc.mail.safe_names import MAX_NAME_LENGTH
from tests.conftest import CORPUS, require_corpus

require_corpus()

NOT_MESSAGES = {".yml", ".tsv", ".md"}  # zammad's expected results, the manifest, the notes

# Corpus files that are no e-mail at all and must come back with ``fatal`` set.
NOT_AN_EMAIL = {
    # An Outlook .msg (OLE2 compound file), kept upstream as a negative case.
    "mail-parser/mail_outlook_1",
    # CPython's digest body without any header line: its tests use it as a part of msg_02.
    "cpython-test_email/msg_19.txt",
    # Plain prose without a header line: RT uses it as attachment content, not as a mail.
    "rt/lorem-ipsum",
}

BIDI_CONTROLS = set("\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")

MESSAGE_FILES = sorted(
    path for path in CORPUS.rglob("*") if path.is_file() and path.suffix not in NOT_MESSAGES
)


def corpus_name(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def every_message(message: InboundMessage) -> Iterator[InboundMessage]:
    yield message
    for forwarded in message.forwarded:
        yield from every_message(forwarded)


def every_string(message: InboundMessage) -> Iterator[str]:
    """The text fields a store will write, for this message and those attached to it."""
    for part in every_message(message):
        yield from (part.subject, part.text, part.html or "", *part.defects)
        yield from (value for values in part.headers.values() for value in values)
        for address in (part.sender, *part.to, *part.cc, *part.reply_to):
            yield from (address.email, address.name) if address else ()
        yield from (attachment.filename for attachment in part.attachments)


def assert_safe(attachment: Attachment) -> None:
    name = attachment.filename
    assert attachment.data and isinstance(attachment.data, bytes)
    assert name and len(name) <= MAX_NAME_LENGTH
    assert name == unicodedata.normalize("NFC", name)
    assert not name.startswith(".")
    assert not any(character in "/\\" or character in BIDI_CONTROLS for character in name)
    assert not any(unicodedata.category(character) == "Cc" for character in name)


@pytest.mark.parametrize("path", MESSAGE_FILES, ids=corpus_name)
def test_corpus_message_parses_into_safe_storable_data(path: Path) -> None:
    message = parse_message(path.read_bytes())

    assert isinstance(message, InboundMessage)
    if corpus_name(path) in NOT_AN_EMAIL:
        assert message.fatal
    else:
        assert message.fatal is None, message.fatal
    for part in every_message(message):
        for attachment in part.attachments:
            assert_safe(attachment)
    for text in every_string(message):
        text.encode("utf-8")  # raises on surrogate escapes, which no database would store


def test_corpus_is_all_there() -> None:
    assert len(MESSAGE_FILES) == 225


# --- spot checks against zammad's expected parser output ------------------------------------

# Files whose subject and sender exercise decoding: RFC 2047 in several charsets, a Q word
# with spaces (mail050), raw 8-bit headers (mail065), header lines that lost their folding
# (mail054) and a banner line before the header (mail068).
ZAMMAD_SPOT_CHECKS = [
    "mail004",
    "mail009",
    "mail011",
    "mail045",
    "mail050",
    "mail054",
    "mail065",
    "mail068",
    "mail081",
    "mail099",
]


def zammad_expected(name: str) -> dict[str, Any]:
    """zammad's expected output for one .box file, read with PyYAML (skipped without it).

    The files tag their hashes with a Ruby class, also inside lists, and hold binary
    strings, so stripping the first line is not enough: a SafeLoader subclass reads both tags
    as plain data.
    """
    yaml = pytest.importorskip("yaml")
    loader: Any = type("RubyHashLoader", (yaml.SafeLoader,), {})
    loader.add_constructor(
        "!ruby/hash:ActiveSupport::HashWithIndifferentAccess",
        lambda reader, node: reader.construct_mapping(node, deep=True),
    )
    loader.add_constructor("!binary", lambda reader, node: reader.construct_yaml_binary(node))
    text = (CORPUS / "zammad" / f"{name}.yml").read_text(encoding="utf-8")
    expected: dict[str, Any] = yaml.load(text, Loader=loader)
    return expected


@pytest.mark.parametrize("name", ZAMMAD_SPOT_CHECKS)
def test_subject_and_sender_agree_with_zammad(name: str) -> None:
    expected = zammad_expected(name)
    message = parse_message((CORPUS / "zammad" / f"{name}.box").read_bytes())

    assert message.subject == " ".join(expected["subject"].split())
    assert message.sender is not None
    assert message.sender.email == expected["from_email"].lower()


# --- senders the stdlib alone would get wrong ---------------------------------------------

SENDERS = {
    # The display name is an address; the mail comes from the one in angle brackets.
    "mail-parser/mail_test_19": Address("bob@example.com"),
    "mail-parser/mail_test_15": Address("do-not-reply@ncs.gov.ng"),
    # Quotes around a local part that needs none are dropped; an address never keeps them.
    "otobo/EmailParser/PostMaster-Test8.box": Address("#fax#*49000783135#@otobo.fax"),
    "zammad/mail035.box": Address("finances8@firstfinanceloanfirm.example.com"),
    # "<power quadrant system@example.com>": no usable address, and no fragment of it.
    "zammad/mail071.box": None,
}


@pytest.mark.parametrize(("name", "sender"), sorted(SENDERS.items(), key=str))
def test_the_sender_is_the_real_address(name: str, sender: Address | None) -> None:
    message = parse_message((CORPUS / name).read_bytes())
    assert message.sender == sender


def test_every_address_in_the_corpus_is_bare() -> None:
    for path in MESSAGE_FILES:
        for part in every_message(parse_message(path.read_bytes())):
            for address in (part.sender, *part.to, *part.cc, *part.reply_to):
                if address is not None:
                    assert not set(address.email) & set('"<> \t'), (corpus_name(path), address)
                    assert address.email.count("@") == 1, (corpus_name(path), address)
