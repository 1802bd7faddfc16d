"""DKIM as proof of the From domain: only a valid signature aligned with From counts.

Every key is made in the test and published on a real DNS server on 127.0.0.1
(tests/dns_fixtures.py); the verifier asks it through dnspython, as it would ask the
domain's name server.
"""

from __future__ import annotations

import re
import socket
import time
from base64 import b64encode
from collections.abc import Callable, Iterator
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mailproc.config import load_config
from mailproc.errors import ConfigError
from mailproc.sources.dkim import (
    MAX_SIGNATURES,
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


# --- forged and altered mail -----------------------------------------------------------------


def test_a_body_changed_after_signing_is_no_proof(verifier: DkimVerifier, gov: Signer) -> None:
    signed = gov.sign(MAIL).replace(b"Obrigada.", b"Clique em http://evil.example/login")
    result = verifier.verify(signed, FROM_DOMAIN)
    assert result == DkimResult(False, None, "body hash mismatch")


def test_a_from_changed_after_signing_is_no_proof(
    verifier: DkimVerifier, dns_server: LocalDns, signer: MakeSigner
) -> None:
    """An attacker of the same organization re-sends a colleague's signed mail as hers."""
    joao = MAIL.replace(b"Maria Souza <maria@", b"Joao <joao@")
    evil = signer("mail.example.gov.br")
    dns_server.publish(evil)
    forged = evil.sign(joao).replace(b"Joao <joao@", b"Maria Souza <maria@")
    assert verifier.verify(forged, FROM_DOMAIN) == DkimResult(False, None, "bad signature")


def test_a_from_added_above_a_signed_one_breaks_the_signature(
    verifier: DkimVerifier, gov: Signer
) -> None:
    """Signed once (not oversigned), a second From on top must still not pass: dkimpy checks
    one From more than h= names."""
    signed = gov.sign(MAIL, headers=("from", "to", "subject", "date", "message-id"))
    forged = b"From: Chefe <chefe@example.gov.br>\r\n" + signed
    assert verifier.verify(forged, FROM_DOMAIN).reason == "bad signature"


def test_a_signature_that_leaves_from_out_is_ignored(
    verifier: DkimVerifier, gov: Signer, dns_server: LocalDns
) -> None:
    signed = gov.sign(MAIL, headers=("to", "subject", "date", "message-id"))
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: gov.txt_record.encode())
    assert verifier.verify(signed, FROM_DOMAIN) == DkimResult(False, None, "From not signed")
    assert dns_server.queries == []


def test_a_signature_over_part_of_the_body_does_not_count(
    verifier: DkimVerifier, gov: Signer, dns_server: LocalDns
) -> None:
    """l= lets anyone append to a signed mail: here a link after the signed text."""
    signed = gov.sign(MAIL, length=True) + b"Atualize seus dados: http://evil.example/\r\n"
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: gov.txt_record.encode())
    result = verifier.verify(signed, FROM_DOMAIN)
    assert result == DkimResult(False, None, "l= tag: partial body signed")
    assert dns_server.queries == []


def test_rsa_sha1_does_not_count(verifier: DkimVerifier, gov: Signer) -> None:
    signed = gov.sign(MAIL, algorithm="rsa-sha1")
    assert dkim.verify(signed, dnsfunc=lambda name, timeout=5: gov.txt_record.encode())
    assert verifier.verify(signed, FROM_DOMAIN).reason == "rsa-sha1 signature"


def test_a_public_suffix_speaks_for_no_one(
    verifier: DkimVerifier, dns_server: LocalDns, signer: MakeSigner
) -> None:
    """Whoever runs a name server could publish a key under gov.br in this test; a
    signature for a public suffix is valid and still proves no organization."""
    suffix = signer("gov.br")
    dns_server.publish(suffix)
    result = verifier.verify(suffix.sign(MAIL), FROM_DOMAIN)
    assert result == DkimResult(False, "gov.br", "signature not aligned")


# --- keys ------------------------------------------------------------------------------------


def test_a_revoked_key_proves_nothing(
    verifier: DkimVerifier, dns_server: LocalDns, signer: MakeSigner
) -> None:
    retired = signer("example.gov.br", "old")
    dns_server.add_txt(retired.key_name, "v=DKIM1; k=rsa; p=")
    assert verifier.verify(retired.sign(MAIL), FROM_DOMAIN).reason == "key revoked"


def test_a_key_missing_from_dns_proves_nothing(verifier: DkimVerifier, signer: MakeSigner) -> None:
    unpublished = signer("example.gov.br", "nowhere")
    assert verifier.verify(unpublished.sign(MAIL), FROM_DOMAIN).reason == "no key in DNS"


def test_a_key_shorter_than_1024_bits_does_not_count(
    verifier: DkimVerifier, dns_server: LocalDns, signer: MakeSigner
) -> None:
    weak = signer("example.gov.br", "weak", bits=768)
    dns_server.publish(weak)
    result = verifier.verify(weak.sign(MAIL), FROM_DOMAIN)
    assert result == DkimResult(False, None, "key shorter than 1024 bits")


def test_a_4096_bit_key_is_fetched_over_tcp(
    verifier: DkimVerifier, dns_server: LocalDns, signer: MakeSigner
) -> None:
    """Its record is over 512 bytes: the UDP answer is truncated and the resolver asks again
    over TCP, as with a real name server."""
    strong = signer("example.gov.br", "big", bits=4096)
    dns_server.publish(strong)
    assert verifier.verify(strong.sign(MAIL), FROM_DOMAIN).aligned
    assert dns_server.tcp_queries == ["big._domainkey.example.gov.br"]


def test_a_key_record_in_several_strings_is_one_text(
    verifier: DkimVerifier, gov: Signer, dns_server: LocalDns
) -> None:
    assert len(gov.txt_record) > 255  # published as two strings of a TXT record
    assert verifier.verify(gov.sign(MAIL), FROM_DOMAIN).aligned


def test_a_key_with_a_huge_exponent_is_refused_before_any_rsa_check(
    verifier: DkimVerifier, dns_server: LocalDns, gov: Signer
) -> None:
    """An attacker's own key with a 2000-bit public exponent would make each check slow."""
    modulus = rsa_modulus(gov)
    exponent = (1 << 1999) + 1
    public = rsa.RSAPublicNumbers(exponent, modulus).public_key()
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    dns_server.add_txt("slow._domainkey.example.gov.br", f"p={b64encode(der).decode()}")
    forged = gov.sign(MAIL).replace(b"s=s2026;", b"s=slow;")
    forged = forged.replace(b"d=mail.example.gov.br", b"d=example.gov.br")
    assert verifier.verify(forged, FROM_DOMAIN).reason == "oversized key"


def rsa_modulus(signer: Signer) -> int:
    key = serialization.load_der_public_key(signer.public_der)
    assert isinstance(key, rsa.RSAPublicKey)
    return key.public_numbers().n


# --- DNS failures and bounded work -----------------------------------------------------------


@pytest.fixture
def silent_dns() -> Iterator[str]:
    """A UDP port that takes questions and never answers."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"127.0.0.1:{sock.getsockname()[1]}"


def test_a_dns_server_that_does_not_answer_is_a_reason_not_an_error(
    silent_dns: str, gov: Signer, signer: MakeSigner
) -> None:
    """Three signatures share one time budget: the message waits 0.5 s, not 3 x 0.5 s."""
    other = signer("example.org")
    signed = other.sign(other.sign(gov.sign(MAIL)))
    started = time.monotonic()
    result = verifier_for(silent_dns, timeout=0.5).verify(signed, FROM_DOMAIN)
    elapsed = time.monotonic() - started
    assert result == DkimResult(False, None, "dns timeout")
    assert 0.4 < elapsed < 1.5


def test_a_hundred_signatures_make_at_most_five_lookups(
    verifier: DkimVerifier, gov: Signer, dns_server: LocalDns
) -> None:
    """Each a different selector, none published; the valid one is the last: out of reach."""
    signed = gov.sign(MAIL)
    header, _, _ = signed.partition(b"From: ")
    copies = b"".join(header.replace(b"s=s2026;", b"s=junk%d;" % i) for i in range(99))
    result = verifier.verify(copies + signed, FROM_DOMAIN)
    assert len(set(dns_server.queries)) == MAX_SIGNATURES
    assert result == DkimResult(False, None, "no key in DNS; 95 more signatures not checked")


def test_work_on_hostile_signatures_stays_bounded(
    verifier: DkimVerifier, dns_server: LocalDns, signer: MakeSigner
) -> None:
    """dkimpy's cost grows with h= times the header count, and with the square of folding
    white space in b=: at the limits (5 signatures of 4 KB naming 99 headers each, 120 KB
    of headers) a mail still costs about a second, not minutes."""
    evil = signer("evil.example")
    dns_server.publish(evil)
    absent = [f"x-absent-{i}" for i in range(98)]
    signed = evil.sign(MAIL, headers=["from", *absent])
    signature, _, mail = signed.partition(b"From: ")
    folded = signature.replace(b"b=", b"b=" + b"\r\n " * 650, 1)
    filler = b"".join(b"X-Filler-%d: v\r\n" % i for i in range(5500))
    raw = folded * 5 + filler + b"From: " + mail
    started = time.monotonic()
    result = verifier.verify(raw, FROM_DOMAIN)
    assert time.monotonic() - started < 3
    assert result.reason == "signature not aligned"  # all read, all valid, none for From


def test_headers_beyond_the_limit_are_not_verified(verifier: DkimVerifier, gov: Signer) -> None:
    raw = gov.sign(MAIL).replace(b"From: ", b"X-Big: a\r\n" + b" b\r\n" * 40_000 + b"From: ")
    assert verifier.verify(raw, FROM_DOMAIN) == DkimResult(
        False, None, "headers too large to verify"
    )


def test_a_signature_dkimpy_cannot_read_is_a_reason_not_an_error(
    verifier: DkimVerifier, gov: Signer
) -> None:
    """A bh= with a character outside base64 made dkimpy raise binascii.Error."""
    raw = re.sub(rb"bh=.", b"bh=!", gov.sign(MAIL), count=1)
    assert verifier.verify(raw, FROM_DOMAIN) == DkimResult(False, None, "malformed signature")


def test_several_key_records_at_one_name_prove_nothing(
    verifier: DkimVerifier, gov: Signer, dns_server: LocalDns
) -> None:
    """RFC 6376 3.6.2.2: the result is undefined, so no proof."""
    dns_server.add_txt(gov.key_name, "v=DKIM1; p=")
    assert verifier.verify(gov.sign(MAIL), FROM_DOMAIN).reason == "several key records"


def test_a_signed_mail_stored_with_lf_line_ends_still_verifies(
    verifier: DkimVerifier, gov: Signer
) -> None:
    """Signed on the wire with CRLF, kept in a Maildir with LF."""
    stored = gov.sign(MAIL).replace(b"\r\n", b"\n")
    assert verifier.verify(stored, FROM_DOMAIN).aligned
