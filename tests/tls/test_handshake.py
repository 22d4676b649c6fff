"""Successful handshakes in memory: versions, key types, mutual auth, what goes on the wire."""

from __future__ import annotations

import logging
import struct
from dataclasses import replace
from typing import Any

import pytest
from cryptography import x509

from ouc.certs import Template
from ouc.device import Device, Family
from ouc.errors import CertError, ConfigError, Status
from ouc.tls import TLSContext, TLSEngine, TLSProfile, TLSState
from ouc.transport import HandshakeComplete, SessionInfo, Transport

Kit = Any  # the kit fixture's type lives in conftest (importlib mode: not importable)

TLS13_SUITES = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"}
TLS12_SUITES = {
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES256-GCM-SHA384",
}


def completed(events: list[Any]) -> SessionInfo:
    assert len(events) == 1, events
    (event,) = events
    assert isinstance(event, HandshakeComplete), event
    return event.info


@pytest.mark.parametrize("key", ["pki", "pki_rsa"])
@pytest.mark.parametrize("mutual", [True, False], ids=["mutual", "server-auth"])
@pytest.mark.parametrize("firmware", [(3, 1), (2, 8)], ids=["V3.1-tls13", "V2.8-tls12"])
def test_handshake_matrix(
    kit: Kit, request: pytest.FixtureRequest, key: str, mutual: bool, firmware: tuple[int, int]
) -> None:
    pki = request.getfixturevalue(key)
    device = Device(Family.S7_1500, firmware)
    pair = kit.make_pair(
        kit.server_endpoint(pki, require_client_cert=mutual),
        kit.client_endpoint(pki, check_san=True),
        server_device=device,
        client_device=device,
    )
    rounds = pair.pump()
    assert rounds <= 4
    client, server = completed(pair.client_events), completed(pair.server_events)
    version = "TLSv1.3" if firmware >= (2, 9) else "TLSv1.2"
    suites = TLS13_SUITES if version == "TLSv1.3" else TLS12_SUITES
    for info in (client, server):
        assert info.secure and not info.insecure and not info.resumed
        assert info.version == version
        assert info.cipher in suites
        assert info.group == "x25519"  # pinned: no post-quantum hybrid share
    assert client.peer_subject == "CN=PLC_1 server"
    assert client.peer_cert_der == pki.server.public_bytes(x509_der())
    assert client.peer_anchor_id == 3
    assert server.own_cert_id == 9
    assert client.own_cert_id == (11 if mutual else None)  # presented only when asked
    if mutual:
        assert server.peer_subject == "CN=PLC_2 client"
        assert server.peer_anchor_id == 3
    else:
        assert server.peer_subject is None and server.peer_cert_der is None
    assert pair.client.state is TLSState.ESTABLISHED is pair.server.state
    assert pair.client.info == client and pair.server.info == server


def x509_der() -> Any:
    from cryptography.hazmat.primitives.serialization import Encoding

    return Encoding.DER


def test_engine_implements_the_transport_protocol(kit: Kit, pki: Any) -> None:
    ctx = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    engine = TLSEngine(ctx, now=kit.clock())
    assert isinstance(engine, Transport)
    assert engine.info is None and engine.session is None and engine.failure is None
    assert engine.state is TLSState.IDLE


def test_one_context_serves_many_connections(kit: Kit, pki: Any) -> None:
    sctx = TLSContext.build(kit.server_endpoint(pki), kit.V31)
    cctx = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    for _ in range(3):
        pair = kit.engines(sctx, cctx)
        pair.pump()
        assert completed(pair.client_events).peer_anchor_id == 3
        assert completed(pair.server_events).peer_anchor_id == 3


def test_client_without_certificate_against_server_not_asking(kit: Kit, pki: Any) -> None:
    pair = kit.make_pair(
        kit.server_endpoint(pki, require_client_cert=False),
        kit.client_endpoint(pki, with_cert=False),
    )
    pair.pump()
    assert completed(pair.client_events).own_cert_id is None
    assert completed(pair.server_events).peer_subject is None


def test_tls13_device_talks_tls12_to_an_old_firmware(kit: Kit, pki: Any) -> None:
    pair = kit.make_pair(kit.server_endpoint(pki), kit.client_endpoint(pki), client_device=kit.V28)
    pair.pump()
    assert completed(pair.client_events).version == "TLSv1.2"
    assert completed(pair.server_events).version == "TLSv1.2"


def test_s7_1200_firmware_versions(kit: Kit, pki: Any) -> None:
    v44 = TLSContext.build(kit.client_endpoint(pki), Device(Family.S7_1200, (4, 4)))
    v45 = TLSContext.build(kit.client_endpoint(pki), Device(Family.S7_1200, (4, 5)))
    assert [v.value for v in v44.versions] == ["TLSv1.2"]
    assert [v.value for v in v45.versions] == ["TLSv1.2", "TLSv1.3"]
    with pytest.raises(ConfigError, match="no Secure OUC"):
        TLSContext.build(kit.client_endpoint(pki), Device(Family.S7_1200, (4, 2)))


# -- what the ClientHello offers -------------------------------------------------------------


def client_hello_extensions(record: bytes) -> tuple[list[int], dict[int, bytes]]:
    """Cipher suites and extensions of a ClientHello record (RFC 8446 §4.1.2)."""
    assert record[0] == 22, "not a handshake record"
    body = record[5:]
    assert body[0] == 1, "not a ClientHello"
    pos = 4 + 2 + 32
    pos += 1 + body[pos]  # legacy_session_id
    (suites_len,) = struct.unpack_from("!H", body, pos)
    suites = list(struct.unpack_from(f"!{suites_len // 2}H", body, pos + 2))
    pos += 2 + suites_len
    pos += 1 + body[pos]  # compression methods
    (ext_len,) = struct.unpack_from("!H", body, pos)
    pos += 2
    end = pos + ext_len
    extensions: dict[int, bytes] = {}
    while pos < end:
        ext_type, length = struct.unpack_from("!HH", body, pos)
        extensions[ext_type] = body[pos + 4 : pos + 4 + length]
        pos += 4 + length
    return suites, extensions


def u16_list(data: bytes, prefix: int = 2) -> list[int]:
    count = (len(data) - prefix) // 2
    return list(struct.unpack_from(f"!{count}H", data, prefix))


def test_client_hello_offers_only_what_the_firmware_does(kit: Kit, pki: Any) -> None:
    ctx = TLSContext.build(kit.client_endpoint(pki), kit.V31)
    engine = TLSEngine(ctx, now=kit.clock(), peer_address=kit.SERVER_IP)
    engine.start()
    suites, ext = client_hello_extensions(engine.data_to_send())
    # TLS 1.3 suites, then ECDHE-ECDSA/RSA with AES-GCM; 0x00FF is the renegotiation SCSV.
    assert set(suites) - {0x00FF} == {0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030}
    assert u16_list(ext[10]) == [0x001D, 0x0017, 0x0018]  # supported_groups X25519, P-256, P-384
    # Key shares: X25519 (32 B) then P-256 (65 B), nothing hybrid (WireProfile's default).
    key_share = ext[51]
    shares, pos = [], 2
    while pos < len(key_share):
        group, length = struct.unpack_from("!HH", key_share, pos)
        shares.append((group, length))
        pos += 4 + length
    assert shares == [(0x001D, 32), (0x0017, 65)]
    sigalgs = set(u16_list(ext[13]))
    assert sigalgs == {0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601}
    assert u16_list(ext[43], prefix=1) == [0x0304, 0x0303]  # supported_versions 1.3, 1.2


def test_tls12_firmware_does_not_offer_tls13(kit: Kit, pki: Any) -> None:
    ctx = TLSContext.build(kit.client_endpoint(pki), kit.V28)
    engine = TLSEngine(ctx, now=kit.clock(), peer_address=kit.SERVER_IP)
    engine.start()
    suites, ext = client_hello_extensions(engine.data_to_send())
    assert not {0x1301, 0x1302, 0x1303} & set(suites)
    assert 43 not in ext or u16_list(ext[43], prefix=1) == [0x0303]


# -- chains with an intermediate CA -----------------------------------------------------------


def server_under_sub_ca(kit: Kit, pki: Any) -> tuple[Any, Any]:
    """A server certificate issued by an intermediate "Sub CA" under CA 3: (resolved, sub CA)."""
    sub_ca = pki.issue("Sub CA", template=Template.CA)
    leaf, key = pki.issue(
        "PLC_9 server",
        template=Template.TLS_CLIENT_SERVER,
        ip_sans=(kit.SERVER_IP,),
        issuer=sub_ca,
    )
    return replace(kit.server_endpoint(pki), own_cert=leaf, own_key=key), sub_ca[0]


@pytest.mark.parametrize("sent_by", ["peer", "device"])
def test_intermediate_ca_from_the_peer_or_the_own_store(kit: Kit, pki: Any, sent_by: str) -> None:
    server, sub_ca = server_under_sub_ca(kit, pki)
    client = kit.client_endpoint(pki, check_san=True)
    if sent_by == "peer":
        server = replace(server, chain=(sub_ca,))
    else:
        client = replace(client, intermediates=(sub_ca,))
    pair = kit.make_pair(server, client)
    pair.pump()
    info = completed(pair.client_events)
    assert info.peer_subject == "CN=PLC_9 server" and info.peer_anchor_id == 3
    completed(pair.server_events)


def test_incomplete_chain_fails_with_no_valid_ca(kit: Kit, pki: Any) -> None:
    server, _ = server_under_sub_ca(kit, pki)
    pair = kit.make_pair(server, kit.client_endpoint(pki))
    pair.pump()
    failure = pair.client.failure
    assert failure is not None and failure.status == Status.TLS_NO_VALID_CA


# -- configuration errors --------------------------------------------------------------------


def test_passive_side_without_server_certificate_is_80E9(kit: Kit, pki: Any) -> None:
    resolved = replace(kit.server_endpoint(pki), own_id=None, own_cert=None, own_key=None)
    with pytest.raises(CertError) as info:
        TLSContext.build(resolved, kit.V31)
    assert info.value.status == Status.TLS_NO_SERVER_CERT


def test_own_certificate_with_the_wrong_key_is_refused(kit: Kit, pki: Any) -> None:
    resolved = replace(kit.server_endpoint(pki), own_key=pki.client_key)
    with pytest.raises(CertError) as info:
        TLSContext.build(resolved, kit.V31)
    assert info.value.status == Status.TLS_CERT_INVALID
    assert info.value.path == "TLSServerCertRef"


def test_unknown_profile_is_a_config_error(kit: Kit, pki: Any) -> None:
    with pytest.raises(ConfigError, match="profile"):
        TLSContext.build(kit.server_endpoint(pki), kit.V31, profile="paranoid")
    ctx = TLSContext.build(kit.server_endpoint(pki), kit.V31, profile="STRICT")
    assert ctx.profile is TLSProfile.STRICT


def test_san_check_needs_the_peer_address(kit: Kit, pki: Any) -> None:
    ctx = TLSContext.build(kit.client_endpoint(pki, check_san=True), kit.V31)
    with pytest.raises(ConfigError, match="peer address"):
        TLSEngine(ctx, now=kit.clock())


def test_context_cannot_be_built_directly() -> None:
    with pytest.raises(TypeError):
        TLSContext()


# -- insecure mode and the key log -----------------------------------------------------------


def test_insecure_accepts_an_unknown_ca_and_says_so(
    kit: Kit, pki: Any, caplog: pytest.LogCaptureFixture
) -> None:
    stranger = kit.make_pki("EC-P256", "Stranger CA")
    server = replace(kit.server_endpoint(pki), anchors=(stranger.ca,))
    client = replace(kit.client_endpoint(pki, check_san=True), anchors=(stranger.ca,))
    with caplog.at_level(logging.WARNING, logger="ouc.tls"):
        pair = kit.make_pair(
            server, client, server_kwargs={"insecure": True}, client_kwargs={"insecure": True}
        )
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2 and all("insecure" in r.getMessage() for r in warnings)
    pair.pump()
    client_info, server_info = completed(pair.client_events), completed(pair.server_events)
    assert client_info.insecure and server_info.insecure
    assert client_info.peer_subject == "CN=PLC_1 server" and client_info.peer_anchor_id is None


def test_keylog_receives_nss_lines_for_both_sides(kit: Kit, pki: Any) -> None:
    lines: list[bytes] = []
    pair = kit.make_pair(
        kit.server_endpoint(pki),
        kit.client_endpoint(pki),
        client_kwargs={"keylog": lines.append},
    )
    pair.pump()
    completed(pair.client_events)
    labels = {line.split(b" ")[0] for line in lines}
    assert {
        b"CLIENT_HANDSHAKE_TRAFFIC_SECRET",
        b"SERVER_HANDSHAKE_TRAFFIC_SECRET",
        b"CLIENT_TRAFFIC_SECRET_0",
        b"SERVER_TRAFFIC_SECRET_0",
    } <= labels
    assert all(not line.endswith(b"\n") and len(line.split(b" ")) == 3 for line in lines)


def test_a_failing_keylog_callback_does_not_break_the_handshake(
    kit: Kit, pki: Any, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(line: bytes) -> None:
        raise OSError("disk full")

    with caplog.at_level(logging.ERROR, logger="ouc.tls"):
        pair = kit.make_pair(
            kit.server_endpoint(pki), kit.client_endpoint(pki), client_kwargs={"keylog": broken}
        )
        pair.pump()
    completed(pair.client_events)
    assert any("SSLKEYLOGFILE" in r.getMessage() for r in caplog.records)


# -- verifier override -----------------------------------------------------------------------


def test_verifier_override_decides_and_gets_the_plc_inputs(kit: Kit, pki: Any) -> None:
    calls: list[dict[str, Any]] = []

    def verifier(leaf: x509.Certificate, **kwargs: Any) -> list[x509.Certificate]:
        calls.append({"leaf": leaf, **kwargs})
        return [leaf, pki.ca]

    pair = kit.make_pair(
        kit.server_endpoint(pki),
        kit.client_endpoint(pki, check_san=True),
        client_kwargs={"verifier": verifier},
    )
    pair.pump()
    assert completed(pair.client_events).peer_anchor_id == 3
    (call,) = calls
    assert call["leaf"] == pki.server
    assert call["now"] == kit.NOW
    assert call["expected_address"] == kit.SERVER_IP
    assert call["peer_role"].value == "passive"
    assert tuple(call["anchors"]) == (pki.ca,)


def test_verifier_override_refusal_status_reaches_both_sides(kit: Kit, pki: Any) -> None:
    def verifier(leaf: x509.Certificate, **kwargs: Any) -> list[x509.Certificate]:
        raise CertError("not in trusted/ (moved to untrusted/)", status=Status.TLS_CERT_DISCARDED)

    pair = kit.make_pair(
        kit.server_endpoint(pki), kit.client_endpoint(pki), server_kwargs={"verifier": verifier}
    )
    pair.pump()
    failure = pair.server.failure
    assert failure is not None and failure.status == Status.TLS_CERT_DISCARDED
    assert "untrusted" in failure.reason
    # The client hears certificate_revoked, the alert OpenSSL sends for that X.509 error.
    assert pair.client.failure is not None
    assert pair.client.failure.status == Status.TLS_CERT_DISCARDED


def test_a_broken_verifier_is_a_bug_and_surfaces(kit: Kit, pki: Any) -> None:
    def verifier(leaf: x509.Certificate, **kwargs: Any) -> list[x509.Certificate]:
        raise ZeroDivisionError("verifier bug")

    pair = kit.make_pair(
        kit.server_endpoint(pki), kit.client_endpoint(pki), client_kwargs={"verifier": verifier}
    )
    with pytest.raises(ZeroDivisionError, match="verifier bug"):
        pair.pump()
    assert pair.client.state is TLSState.FAILED
