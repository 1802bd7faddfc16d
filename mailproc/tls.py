"""How a connection to a mail server is secured: the one definition of the TLS modes."""

from __future__ import annotations

from typing import Literal, get_args

TlsMode = Literal["ssl", "starttls", "none"]
TLS_MODES: tuple[TlsMode, ...] = get_args(TlsMode)
