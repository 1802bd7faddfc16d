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
"""

from __future__ import annotations

import logging
import re

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


class MaskingFormatter(logging.Formatter):
    """Wraps the handler's formatter and masks everything it writes, traceback included.

    A formatter rather than a logging.Filter: a filter sees the record before the traceback
    is rendered, and formatters such as mailproc.service.logs.JsonFormatter render it themselves.
    """

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        return mask(self.inner.format(record))


def install_masking(handler: logging.Handler) -> None:
    """Mask what ``handler`` writes, keeping its formatter (idempotent)."""
    if not isinstance(handler.formatter, MaskingFormatter):
        handler.setFormatter(MaskingFormatter(handler.formatter))
