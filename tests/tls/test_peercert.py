"""The per-context cache of parsed peer certificates."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import crypto

from ouc.errors import CertError, Status
from ouc.tls import TLSContext
from ouc.tls._peercert import PeerCertCache, VerdictCache, der_of

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


# -- the verdict cache: a repeat partner costs a lookup, and the answer stays exact -----------


def _failure_status(pair: Any) -> int | None:
    for event in pair.client_events + pair.server_events:
        if type(event).__name__ == "Failed":
            return int(event.status)
    return None


def _count_verifications(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count calls of the default verifier as the engine makes them (the real function runs)."""
    import ouc.tls._context as context_module

    calls = [0]
    real = context_module.verify_peer_chain

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return real(*args, **kwargs)

    # A context built without a verifier uses the module's verify_peer_chain (with its device)
    # and caches its verdicts: patch that name, so the counting wrapper is "the default".
    monkeypatch.setattr(context_module, "verify_peer_chain", counting)
    return calls


def test_repeat_partner_is_verified_once(
    kit: Kit, pki: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_verifications(monkeypatch)
    sctx = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    for _ in range(3):
        pair = kit.engines(sctx, cctx)
        pair.pump()
        assert _failure_status(pair) is None
        assert pair.client.info is not None and pair.client.info.peer_anchor_id == 3
        assert pair.server.info is not None and pair.server.info.peer_anchor_id == 3
    assert calls[0] == 2  # once per side, not once per handshake
    assert len(cctx._verdicts or ()) == 1 and len(sctx._verdicts or ()) == 1


def test_cached_verdict_still_expires_with_the_plc_clock(kit: Kit, pki: Any) -> None:
    sctx = TLSContext.build(kit.server_endpoint(pki, require_client_cert=False), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki, with_cert=False), kit.V31)
    first = kit.engines(sctx, cctx)
    first.pump()
    assert _failure_status(first) is None
    later = kit.NOW + dt.timedelta(days=400)  # past the server certificate's notAfter
    again = kit.engines(sctx, cctx, client_now=later)
    again.pump()
    assert _failure_status(again) == Status.TLS_CERT_EXPIRED
    earlier = kit.NOW - dt.timedelta(days=31)  # before its notBefore
    before = kit.engines(sctx, cctx, client_now=earlier)
    before.pump()
    assert _failure_status(before) == Status.TLS_CERT_INVALID


def test_cached_verdict_is_per_expected_address(kit: Kit, pki: Any) -> None:
    sctx = TLSContext.build(kit.server_endpoint(pki, require_client_cert=False), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki, with_cert=False, check_san=True), kit.V31)
    ok = kit.engines(sctx, cctx)
    ok.pump()
    assert _failure_status(ok) is None
    wrong = kit.engines(sctx, cctx, peer="192.168.0.77")
    wrong.pump()
    assert _failure_status(wrong) == Status.TLS_HANDSHAKE_FAILURE


def test_failures_are_not_cached(kit: Kit, pki: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_verifications(monkeypatch)
    stranger = kit.make_pki(pki.key_type, "Other CA")
    sctx = TLSContext.build(kit.server_endpoint(stranger, require_client_cert=False), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki, with_cert=False), kit.V31)
    for _ in range(2):
        pair = kit.engines(sctx, cctx)
        pair.pump()
        assert _failure_status(pair) == Status.TLS_NO_VALID_CA
    assert calls[0] == 2 and len(cctx._verdicts or ()) == 0


def test_a_replacement_verifier_is_asked_every_time(kit: Kit, pki: Any) -> None:
    answers: list[bool] = [True, False]

    def flipping(leaf: x509.Certificate, **kwargs: Any) -> list[x509.Certificate]:
        if not answers.pop(0):
            raise CertError("manual trust withdrawn", status=Status.TLS_NO_VALID_CA)
        return [leaf, pki.ca]

    sctx = TLSContext.build(kit.server_endpoint(pki, require_client_cert=False), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki, with_cert=False), kit.V31, verifier=flipping)
    assert cctx._verdicts is None
    first = kit.engines(sctx, cctx)
    first.pump()
    assert _failure_status(first) is None
    second = kit.engines(sctx, cctx)
    second.pump()
    assert _failure_status(second) == Status.TLS_NO_VALID_CA
    assert answers == []


def test_verdict_cache_is_bounded(pki: Any) -> None:
    cache = VerdictCache(max_items=2)
    for n in range(3):
        cache.put((n,), [pki.server, pki.ca], 3)
    assert len(cache) <= 2
    hit = cache.get((2,), dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC))
    assert hit is not None and hit.anchor_id == 3
    assert hit.not_after == min(pki.server.not_valid_after_utc, pki.ca.not_valid_after_utc)
