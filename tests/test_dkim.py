"""DKIM as proof of the From domain: only a valid signature aligned with From counts.

Every key is made in the test and published on a real DNS server on 127.0.0.1
(tests/dns_fixtures.py); the verifier asks it through dnspython, as it would ask the
domain's name server.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from mailproc.config import load_config
from mailproc.errors import ConfigError
from mailproc.sources.dkim import (
    DkimResult,
    DkimSettings,
    DkimVerifier,
    parse_dns_server,
)
from tests.conftest import write_config
from tests.dns_fixtures import LocalDns, Signer

MakeSigner = Callable[..., Signer]

FROM_DOMAIN = "example.gov.br"
MAIL = (
    b"From: Maria Souza <maria@example.gov.br>\r\n"
    b"To: suporte@compras.example.gov.br\r\n"
    b"Subject: Re: [#2026-000123] Pedido de cadastro\r\n"
    b"Date: Mon, 02 Mar 2026 10:00:00 -0300\r\n"
    b"Message-ID: <a1@mail.example.gov.br>\r\n"
    b"\r\n"
    b"#resolvido\r\n"
    b"Obrigada.\r\n"
)


def verifier_for(address: str, timeout: float = 2.0) -> DkimVerifier:
    server = parse_dns_server(address)
    return DkimVerifier(DkimSettings(dns_servers=(server,), dns_timeout_seconds=timeout))


@pytest.fixture
def verifier(dns_server: LocalDns) -> DkimVerifier:
    return verifier_for(dns_server.address)


@pytest.fixture
def gov(dns_server: LocalDns, signer: MakeSigner) -> Signer:
    """The requester's own mail server: signs as mail.example.gov.br, key published."""
    made = signer("mail.example.gov.br", "s2026")
    dns_server.publish(made)
    return made


# --- what counts -----------------------------------------------------------------------------


def test_a_valid_signature_of_a_subdomain_of_the_from_domain_is_proof(
    verifier: DkimVerifier, gov: Signer, dns_server: LocalDns
) -> None:
    result = verifier.verify(gov.sign(MAIL), FROM_DOMAIN)
    assert result == DkimResult(True, "mail.example.gov.br", "pass d=mail.example.gov.br")
    assert dns_server.queries == ["s2026._domainkey.mail.example.gov.br"]


def test_a_valid_signature_of_another_domain_proves_nothing_about_from(
    verifier: DkimVerifier, dns_server: LocalDns, signer: MakeSigner
) -> None:
    evil = signer("evil.example")
    dns_server.publish(evil)
    signed = evil.sign(MAIL)
    result = verifier.verify(signed, FROM_DOMAIN)
    assert result == DkimResult(False, "evil.example", "signature not aligned")
    # The signature itself is good: it proves evil.example, which is not who From names.
    assert verifier.verify(signed, "evil.example").aligned


def test_a_mail_without_signature_asks_no_dns(verifier: DkimVerifier, dns_server: LocalDns) -> None:
    assert verifier.verify(MAIL, FROM_DOMAIN) == DkimResult(False, None, "no signature")
    assert dns_server.queries == []


def test_any_of_several_signatures_may_be_the_proof(
    verifier: DkimVerifier, gov: Signer, dns_server: LocalDns, signer: MakeSigner
) -> None:
    """A list or the provider signs on top of the author's domain: each one is verified."""
    provider = signer("relay.example.net")
    dns_server.publish(provider)
    result = verifier.verify(provider.sign(gov.sign(MAIL)), FROM_DOMAIN)
    assert result.aligned and result.domain == "mail.example.gov.br"


# --- configuration ---------------------------------------------------------------------------


def test_the_authentication_table_configures_dkim(tmp_path: Path) -> None:
    extra = (
        "[authentication]\n"
        'dkim = false\ndns_servers = ["10.0.0.53", "[2001:db8::53]:5353"]\n'
        "dns_timeout_seconds = 2\n"
    )
    config = load_config(write_config(tmp_path, "sqlite:///x.db", extra=extra))
    assert config.authentication.dkim == DkimSettings(
        enabled=False,
        dns_servers=(("10.0.0.53", 53), ("2001:db8::53", 5353)),
        dns_timeout_seconds=2,
    )
    default = load_config(write_config(tmp_path, "sqlite:///x.db")).authentication.dkim
    assert default == DkimSettings(enabled=True, dns_servers=(), dns_timeout_seconds=5)


@pytest.mark.parametrize("entry", ["dns.example.net", "10.0.0.53:0", "10.0.0.53:x", "[::1"])
def test_a_dns_server_is_an_address_not_a_name(tmp_path: Path, entry: str) -> None:
    extra = f'[authentication]\ndns_servers = ["{entry}"]\n'
    with pytest.raises(ConfigError, match=r"authentication\.dns_servers"):
        load_config(write_config(tmp_path, "sqlite:///x.db", extra=extra))


def test_dkim_off_checks_nothing(dns_server: LocalDns, gov: Signer) -> None:
    off = DkimVerifier(DkimSettings(enabled=False))
    assert off.verify(gov.sign(MAIL), FROM_DOMAIN) == DkimResult(
        False, None, "not checked (dkim = false)"
    )
    assert dns_server.queries == []
