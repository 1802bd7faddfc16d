"""Personal data kept out of the logs (LGPD): CPF, CNPJ, phones and e-mail local parts masked.

Logs are read by more people and kept longer than tickets, and they are never purged with
them (mailproc.storage.retention), so what identifies a person is masked in every line a handler
writes: the message with its arguments, and any traceback. Install it once, on each handler:

    install_masking(handler)

Masked: e-mail local parts (``***@saude.rj.gov.br``: the domain tells which organisation
wrote, which an operator needs), CPF and CNPJ (numeric and the alphanumeric form of July
2026), formatted or bare, and Brazilian phone numbers written as phone numbers (with +55,
a DDD in parentheses, or a hyphen before the last four digits). Not masked, to keep log
lines that hold counts, UIDs and timestamps readable: bare runs of 10 digits or of 12 and
more, which cannot be told from those. Names are not masked: no pattern can find them.

A log line may also carry named fields (``Fields``: outcome, ticket, outbox id...), passed as
``extra=fields(...)``: mailproc.service.logs writes them as JSON keys, or as ``key=value``
after the text. Its formatters mask each part of a line as they write it (``MasksItself``).
"""

from __future__ import annotations

import logging
import re
from typing import TypedDict, Unpack

from mailproc.rules.validators import cnpj as cnpj_problem
from mailproc.rules.validators import cpf as cpf_problem

# Lookarounds keep the patterns from matching inside longer numbers, words or identifiers
# ("2026-000123" is a ticket code, "…-1234-5678-…" part of a UUID).
_EMAIL = re.compile(r"(?<![\w.+-])\w[\w.+'-]*@(?=[\w-]+(?:\.[\w-]+)+)")
_CNPJ = re.compile(
    r"(?<![\w./-])[0-9A-Z]{2}\.?[0-9A-Z]{3}\.?[0-9A-Z]{3}/?[0-9A-Z]{4}-?\d{2}(?![\w/-])",
    re.IGNORECASE,
)
_CPF = re.compile(r"(?<![\w./-])\d{3}\.?\d{3}\.?\d{3}-?\d{2}(?![\w/-])")
_PHONE = re.compile(
    r"""(?<![\w+/-])(?:
        \+55[\s.-]?\(?\d{2}\)?[\s.-]?9?\d{4}[\s.-]?\d{4}   # +55 21 98765-4321, +5521987654321
      | \(\d{2}\)[\s.-]?9?\d{4}[\s.-]?\d{4}                # (21) 2345-6789, (21)987654321
      | \d{2}[\s-]9?\d{4}[\s-]\d{4}                        # 21 98765-4321, 21-2345-6789
      | 9?\d{4}-\d{4}                                      # 98765-4321, 2345-6789
    )(?![\w/-])""",
    re.VERBOSE,
)
_MOBILE = re.compile(r"[1-9]{2}9\d{8}")
_PUNCTUATION = re.compile(r"[./-]")


def mask(text: str) -> str:
    """``text`` with e-mail local parts, CPF, CNPJ and phone numbers replaced by markers."""
    text = _EMAIL.sub("***@", text)
    text = _CNPJ.sub(_masked_cnpj, text)
    text = _CPF.sub(_masked_cpf, text)
    return _PHONE.sub("[telefone]", text)


def _masked_cnpj(found: re.Match[str]) -> str:
    value = found.group()
    digits_only = _PUNCTUATION.sub("", value).isdigit()
    # A bare 14-character run of letters and digits is often an identifier of some system:
    # only a formatted one, an all-digit one or one whose check digits hold is a CNPJ.
    if digits_only or "/" in value or cnpj_problem(value, {}) is None:
        return "[cnpj]"
    return value


def _masked_cpf(found: re.Match[str]) -> str:
    value = found.group()
    bare = _PUNCTUATION.sub("", value)
    # Eleven bare digits may also be a mobile number with its DDD (21987654321).
    if bare == value and _MOBILE.fullmatch(bare) and cpf_problem(bare, {}) is not None:
        return "[telefone]"
    return "[cpf]"


class Fields(TypedDict, total=False):
    """The fields a log line may carry besides its text: named once, here."""

    outcome: str  # a message's (mailproc.decision.values.Outcome)
    ticket: str | None  # a ticket's code
    theme: str | None
    replies: int  # queued for the message
    origin: str  # where a message came from: "imap:suporte/INBOX", "maildir:local", "stdin"
    raw_id: int  # the stored raw message (`mailproc reprocess RAW_ID`)
    outbox: int  # an outbox mail's id (`mailproc outbox list`)
    message_id: str  # the Message-ID of the desk's own mail, bare
    relay: str  # what took a mail: the SMTP server's answer to DATA, or the Maildir file


FIELDS = frozenset(Fields.__optional_keys__)
# Not masked: made by mailproc out of nothing a person wrote, and useless masked. The desk's
# Message-IDs are a uuid, "@", its domain: masked, they would match nothing in the relay's
# log or in a bounce.
UNMASKED = frozenset({"message_id"})


def fields(**values: Unpack[Fields]) -> dict[str, object]:
    """The ``extra`` of a log call that carries ``values``."""
    return dict(values)


def masked(name: str, value: object) -> object:
    """A field's value as a log line may show it: text masked, numbers and None as they are."""
    if name in UNMASKED:
        return value
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list | tuple):
        return [masked(name, item) for item in value]
    return value


class MasksItself:
    """Marks a formatter that masks each part of a line as it writes it: the message with
    its arguments, each field (``masked``), the traceback (mailproc.service.logs). Masking
    the finished line instead (MaskingFormatter) would mask the fields kept whole
    (UNMASKED), take a JSON number for a CPF, and miss a CPF behind a "\\n" of JSON text."""


class MaskingFormatter(logging.Formatter):
    """Wraps the handler's formatter and masks everything it writes, traceback included: for
    a formatter that does not mask itself (another library's, a test's).

    A formatter rather than a logging.Filter: a filter sees the record before the traceback
    is rendered, and some formatters render it themselves.
    """

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return mask(self.inner.format(record))


def install_masking(handler: logging.Handler) -> None:
    """Mask what ``handler`` writes, keeping its formatter (idempotent; a formatter that
    MasksItself is left as it is)."""
    if not isinstance(handler.formatter, MaskingFormatter | MasksItself):
        handler.setFormatter(MaskingFormatter(handler.formatter))
