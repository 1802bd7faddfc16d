"""A real DNS server on 127.0.0.1 for DKIM keys, and a signer with a fresh key pair.

``dns_server`` answers TXT questions from a zone the test fills, over UDP and TCP on one free
port, as a domain's name server would: an answer longer than 512 bytes is truncated over UDP,
so the resolver asks again over TCP. Names it was asked are in ``queries``.

``signer(domain, selector)`` makes an RSA key pair; ``txt_record`` is what the domain would
publish at ``selector._domainkey.domain``, ``sign(raw)`` returns the mail with a
DKIM-Signature on top, as the domain's outgoing server would add it.
"""

from __future__ import annotations

import subprocess
import threading
import time
from base64 import b64encode
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from dkim.canonicalization import CanonicalizationPolicy
from dkim.crypto import HASH_ALGORITHMS, parse_pem_private_key
from dkim.util import get_linesep
from dnslib import QTYPE, RCODE, RR, TXT, DNSRecord
from dnslib.server import DNSHandler, DNSLogger, DNSServer

# What a signer signs by default: the headers real signers name, From twice (oversigned, so
# that a second From cannot be added without breaking the signature).
SIGNED_HEADERS = ("from", "to", "subject", "date", "message-id", "from")


class _TruncatingHandler(DNSHandler):
    """Answers over UDP as real servers do without EDNS: at most 512 bytes, else an empty
    answer with the TC flag. (dnslib's own truncation drops the question, which dnspython
    rightly refuses as an answer to another question.)"""

    def get_reply(self, data: bytes) -> bytes:
        packed: bytes = super().get_reply(data)
        if self.protocol != "udp" or len(packed) <= 512:
            return packed
        request = DNSRecord.parse(data)
        truncated = request.reply()
        truncated.header.tc = 1
        return bytes(truncated.pack())


class _Zone:
    """dnslib's resolver: TXT records by name; any other name does not exist."""

    def __init__(self) -> None:
        self.txt: dict[str, list[str]] = {}
        self.queries: list[str] = []
        self.tcp_queries: list[str] = []
        self._lock = threading.Lock()

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord:
        name = str(request.q.qname).rstrip(".").lower()
        with self._lock:
            self.queries.append(name)
            if handler.protocol == "tcp":
                self.tcp_queries.append(name)
            records = list(self.txt.get(name, ()))
        reply = request.reply()
        if not records:
            reply.header.rcode = RCODE.NXDOMAIN
        elif request.q.qtype == QTYPE.TXT:
            for value in records:
                reply.add_answer(RR(request.q.qname, QTYPE.TXT, rdata=_txt(value), ttl=60))
        return reply


def _txt(value: str) -> TXT:
    """A TXT record as zone files hold a long key: strings of at most 255 bytes."""
    data = value.encode("ascii")
    return TXT([data[i : i + 255] for i in range(0, len(data), 255)] or [b""])


class LocalDns:
    """The running server: ``address`` ("127.0.0.1:PORT") for ``dns_servers``."""

    def __init__(self) -> None:
        self._zone = _Zone()
        logger = DNSLogger("-request,-reply,-truncated", prefix=False)
        self._servers = _listen(self._zone, logger)
        for server in self._servers:
            # A short poll: shutdown() waits for it (dnslib's start_thread polls every 0.5 s).
            threading.Thread(
                target=server.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
            ).start()
        self.port = self._servers[0].server.server_address[1]
        self.address = f"127.0.0.1:{self.port}"

    @property
    def queries(self) -> list[str]:
        return self._zone.queries

    @property
    def tcp_queries(self) -> list[str]:
        return self._zone.tcp_queries

    def add_txt(self, name: str, value: str) -> None:
        """Publish a TXT record (another call for the same name adds a second record)."""
        self._zone.txt.setdefault(name.rstrip(".").lower(), []).append(value)

    def publish(self, signer: Signer) -> None:
        self.add_txt(signer.key_name, signer.txt_record)

    def stop(self) -> None:
        for server in self._servers:
            server.stop()
            server.server.server_close()


def _listen(zone: _Zone, logger: DNSLogger) -> tuple[DNSServer, DNSServer]:
    """UDP on a free port, then TCP on the same port (retried if that one is taken)."""
    for _ in range(20):
        udp = DNSServer(zone, "127.0.0.1", 0, logger=logger, handler=_TruncatingHandler)
        port = udp.server.server_address[1]
        try:
            tcp = DNSServer(zone, "127.0.0.1", port, tcp=True, logger=logger)
        except OSError:
            udp.server.server_close()
            time.sleep(0.01)
            continue
        return udp, tcp
    raise RuntimeError("no free port for both UDP and TCP")


@pytest.fixture
def dns_server() -> Iterator[LocalDns]:
    server = LocalDns()
    yield server
    server.stop()


@dataclass(frozen=True)
class Signer:
    domain: str
    selector: str
    private_pem: bytes
    public_der: bytes

    @property
    def key_name(self) -> str:
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def txt_record(self) -> str:
        return f"v=DKIM1; k=rsa; p={b64encode(self.public_der).decode('ascii')}"

    def sign(
        self,
        raw: bytes,
        headers: Sequence[str] = SIGNED_HEADERS,
        *,
        length: bool = False,
        algorithm: str = "rsa-sha256",
        domain: str | None = None,
    ) -> bytes:
        """``raw`` with this signer's DKIM-Signature on top (``domain``: claim another d=,
        as a forger would, with this key)."""
        names = [h.encode("ascii") for h in headers]
        d, s = (domain or self.domain).encode("ascii"), self.selector.encode("ascii")
        if b"from" not in names:
            return _signature_without_from(raw, s, d, self.private_pem, names) + raw
        signature = dkim.sign(
            raw,
            s,
            d,
            self.private_pem,
            include_headers=names,
            length=length,
            signature_algorithm=algorithm.encode("ascii"),
            linesep=get_linesep(raw),
        )
        return signature + raw


def _signature_without_from(
    raw: bytes, selector: bytes, domain: bytes, pem: bytes, names: list[bytes]
) -> bytes:
    """A forger's signature whose h= leaves From out. dkimpy refuses to make one (RFC 6376
    requires From to be signed), so this is its signing step without that check."""
    message = dkim.DKIM(raw, linesep=get_linesep(raw))
    message.hasher = HASH_ALGORITHMS[b"rsa-sha256"]
    policy = CanonicalizationPolicy.from_c_value(b"relaxed/simple")
    body_hash = b64encode(message.hasher(policy.canonicalize_body(message.body)).digest())
    fields = [
        (b"v", b"1"),
        (b"a", b"rsa-sha256"),
        (b"c", b"relaxed/simple"),
        (b"d", domain),
        (b"s", selector),
        (b"h", b" : ".join(names)),
        (b"bh", body_hash),
        (b"b", b"0" * 60),
    ]
    value = message.gen_header(fields, names, policy, b"DKIM-Signature", parse_pem_private_key(pem))
    return b"DKIM-Signature: " + value


def make_signer(domain: str, selector: str = "sel", bits: int = 2048) -> Signer:
    key = _private_key(bits)
    return Signer(
        domain=domain,
        selector=selector,
        private_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.TraditionalOpenSSL,
            serialization.NoEncryption(),
        ),
        public_der=key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
    )


def _private_key(bits: int) -> rsa.RSAPrivateKey:
    if bits >= 1024:
        return rsa.generate_private_key(public_exponent=65537, key_size=bits)
    # cryptography makes no key shorter than 1024 bits; an old signer's key comes from OpenSSL.
    pem = subprocess.run(
        ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", f"rsa_keygen_bits:{bits}"],
        check=True,
        capture_output=True,
    ).stdout
    key = serialization.load_pem_private_key(pem, None)
    assert isinstance(key, rsa.RSAPrivateKey)
    return key


@pytest.fixture
def signer() -> Callable[..., Signer]:
    """``signer(domain, selector="sel", bits=2048)`` -> a Signer with a fresh key pair."""
    return make_signer
