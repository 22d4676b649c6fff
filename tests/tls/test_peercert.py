"""The per-context cache of parsed peer certificates."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import crypto

from ouc.errors import CertError, Status
from ouc.tls import TLSContext
from ouc.tls._peercert import PeerCertCache, der_of

Kit = Any


def test_same_der_gives_the_same_parsed_object(pki: Any) -> None:
    cache = PeerCertCache()
    der = pki.server.public_bytes(Encoding.DER)
    first = cache.from_der(der)
    assert first.cert == pki.server and first.subject == "CN=PLC_1 server" and first.der == der
    assert cache.from_der(bytes(der)) is first
    assert len(cache) == 1


def test_cache_is_bounded_oldest_out(pki: Any) -> None:
    cache = PeerCertCache(max_items=2)
    ders = [c.public_bytes(Encoding.DER) for c in (pki.ca, pki.server, pki.client)]
    items = [cache.from_der(d) for d in ders]
    assert len(cache) == 2
    assert cache.from_der(ders[2]) is items[2]  # newest kept
    assert cache.from_der(ders[0]) is not items[0]  # oldest was dropped, parsed again


def test_bytes_that_are_no_certificate(pki: Any) -> None:
    with pytest.raises(CertError) as info:
        PeerCertCache().from_der(b"\x30\x03\x02\x01\x00")
    assert info.value.status == Status.TLS_CERT_INVALID


def test_der_of_an_openssl_certificate(pki: Any) -> None:
    wrapped = crypto.X509.from_cryptography(pki.client)
    der = der_of(wrapped._x509)
    assert x509.load_der_x509_certificate(der) == pki.client


def test_handshakes_share_the_parsed_peer_certificate(kit: Kit, pki: Any) -> None:
    seen: list[x509.Certificate] = []

    def verifier(leaf: x509.Certificate, **kwargs: Any) -> list[x509.Certificate]:
        seen.append(leaf)
        return [leaf, pki.ca]

    sctx = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki), kit.V31, verifier=verifier)
    for _ in range(2):
        kit.engines(sctx, cctx).pump()
    assert len(seen) == 2 and seen[0] is seen[1]
