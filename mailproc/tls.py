"""How a connection to a mail server is secured: the one definition of the TLS modes."""

from __future__ import annotations

import ipaddress
from typing import Literal, get_args

TlsMode = Literal["ssl", "starttls", "none"]
TLS_MODES: tuple[TlsMode, ...] = get_args(TlsMode)


def is_loopback(host: str) -> bool:
    """Whether ``host`` names this machine (127.0.0.0/8, ::1, localhost): the only place a
    password and mail may travel without TLS unless the operator says otherwise. A name is
    not resolved: one that resolves to 127.0.0.1 today may not tomorrow."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        return False
