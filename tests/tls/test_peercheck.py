"""check_peer, resumed_client_problem and offered_cert_valid: the TLS engine's certificate
decisions, called directly with real contexts and real certificates (no handshake needed)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import sys
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec

from ouc.certs import ResolvedEndpoint
from ouc.device import Device, Family, Role
from ouc.errors import CertError, Status
from ouc.tls import TLSContext
from ouc.tls._peercert import PeerCert
from ouc.tls._peercheck import PeerCheck, check_peer, offered_cert_valid, resumed_client_problem
from ouc.transport import SessionInfo

sys.path.insert(0, str(Path(__file__).parent.parent / "certs"))
from chains import (
    CLIENT_AUTH,
    DAY,
    LEAF_IP,
    NOW,
    SERVER_AUTH,
    Case,
    base_case,
    build_case,
    pool_key,
)

V31 = Device(Family.S7_1500, (3, 1))
SECOND = dt.timedelta(seconds=1)


def _context(
    case: Case,
    role: Role,
    *,
    check_san: bool = False,
    crls: tuple[x509.CertificateRevocationList, ...] = (),
    legacy: bool = False,
    **build: object,
) -> TLSContext:
    """A context trusting the case's root as anchor ID 3; its own certificate is the leaf."""
    resolved = ResolvedEndpoint(
        role=role,
        own_id=9,
        own_cert=case.leaf,
        own_key=pool_key(case.specs[-1].key),
        chain=(),
        anchor_ids=(3,),
        anchors=(case.root,),
        check_san=check_san,
        crls=crls,
        legacy_anchors=(case.root,) if legacy else (),
    )
    return TLSContext.build(resolved, V31, **build)  # type: ignore[arg-type]


def _peer(cert: x509.Certificate) -> PeerCert:
    from cryptography.hazmat.primitives.serialization import Encoding

    return PeerCert(cert, cert.public_bytes(Encoding.DER), cert.subject.rfc4514_string())


def _check(
    context: TLSContext, case: Case, *, now: dt.datetime = NOW, address: str | None = None
) -> PeerCheck:
    extra = tuple(_peer(cert) for cert in case.intermediates)
    return check_peer(context, _peer(case.leaf), extra, now=now, peer_address=address)


def test_accepted_peer_names_the_anchor_id() -> None:
    case = build_case("valid", 1, server=True)
    result = _check(_context(case, Role.ACTIVE), case)
    assert result.ok is True and result.anchor_id == 3
    assert result.error is None and result.bug is None


def test_refused_peer_carries_the_rule() -> None:
    case = build_case("expired-leaf", 1, server=True)
    result = _check(_context(case, Role.ACTIVE), case)
    assert result.ok is False and result.bug is None
    assert result.error is not None and result.error.rule == "expired"


@pytest.mark.parametrize(
    ("context_role", "leaf_eku", "ok"),
    [
        (Role.ACTIVE, SERVER_AUTH, True),  # a client checks its server: serverAuth
        (Role.ACTIVE, CLIENT_AUTH, False),
        (Role.PASSIVE, CLIENT_AUTH, True),  # a server checks its client: clientAuth
        (Role.PASSIVE, SERVER_AUTH, False),
    ],
)
def test_the_peer_role_is_the_opposite_of_ours(
    context_role: Role, leaf_eku: x509.ObjectIdentifier, ok: bool
) -> None:
    case = base_case(0)
    case.specs[-1] = dataclasses.replace(case.specs[-1], eku=(leaf_eku,))
    case.build()
    own = build_case("valid", 0, server=True)
    context = _context(own, context_role)
    result = _check(context, case)
    assert result.ok is ok
    if not ok:
        assert result.error is not None and result.error.rule == "extended-key-usage"


def test_crls_of_the_endpoint_are_applied() -> None:
    case = build_case("revoked", 0, server=True)
    crl = case.crl()
    assert crl is not None
    result = _check(_context(case, Role.ACTIVE, crls=(crl,)), case)
    assert result.error is not None and result.error.rule == "revoked"
    assert _check(_context(case, Role.ACTIVE), case).ok is True


def test_legacy_anchors_of_the_endpoint_are_applied() -> None:
    case = build_case("sha1-legacy-good", 0, server=True)
    own = build_case("valid", 0, server=True)
    legacy = _context(own, Role.ACTIVE, legacy=True)
    legacy.resolved = dataclasses.replace(
        legacy.resolved, anchors=(case.root,), legacy_anchors=(case.root,)
    )
    assert _check(legacy, case).ok is True
    plain = _context(own, Role.ACTIVE)
    plain.resolved = dataclasses.replace(plain.resolved, anchors=(case.root,))
    result = _check(plain, case)
    assert result.error is not None and result.error.rule == "sha1"


def test_san_is_checked_only_with_check_san_and_is_part_of_the_cache_key() -> None:
    case = build_case("valid", 0, server=True)
    unchecked = _context(case, Role.ACTIVE)
    assert _check(unchecked, case, address="10.9.9.9").ok is True
    checked = _context(case, Role.ACTIVE, check_san=True)
    assert _check(checked, case, address=LEAF_IP).ok is True  # cached now
    result = _check(checked, case, address="10.9.9.9")
    assert result.ok is False
    assert result.error is not None and result.error.rule == "subject-alt-name"


def test_the_sent_chain_is_part_of_the_cache_key() -> None:
    case = build_case("valid", 1, server=True)
    context = _context(case, Role.ACTIVE)
    assert _check(context, case).ok is True  # leaf + intermediate: cached
    case.send_intermediates = False
    result = _check(context, case)
    assert result.error is not None and result.error.rule == "no-anchor"


def test_a_cached_verdict_still_checks_the_clock() -> None:
    case = build_case("valid", 0, server=True)
    context = _context(case, Role.ACTIVE)
    assert _check(context, case).ok is True
    later = case.leaf.not_valid_after_utc + SECOND
    result = _check(context, case, now=later)
    assert result.error is not None and result.error.rule == "expired"


def test_a_custom_verifier_that_raises_something_else_is_a_bug() -> None:
    boom = RuntimeError("broken verifier")

    def verifier(*args: object, **kw: object) -> list[x509.Certificate]:
        raise boom

    case = build_case("valid", 0, server=True)
    result = _check(_context(case, Role.ACTIVE, verifier=verifier), case)
    assert result.ok is False and result.bug is boom and result.error is None


def test_a_custom_verifier_may_return_no_path() -> None:
    case = build_case("valid", 0, server=True)
    result = _check(_context(case, Role.ACTIVE, verifier=lambda *a, **k: []), case)
    assert result.ok is True and result.anchor_id is None


def test_insecure_context_accepts_anything() -> None:
    case = build_case("expired-leaf", 0, server=True)
    result = _check(_context(case, Role.ACTIVE, insecure=True), case)
    assert result.ok is True and result.anchor_id is None


def test_offered_cert_valid_bounds_are_inclusive() -> None:
    leaf = build_case("valid", 0, server=True).leaf
    assert offered_cert_valid(leaf, leaf.not_valid_before_utc)
    assert offered_cert_valid(leaf, leaf.not_valid_after_utc)
    assert not offered_cert_valid(leaf, leaf.not_valid_before_utc - SECOND)
    assert not offered_cert_valid(leaf, leaf.not_valid_after_utc + SECOND)


def _resumed(
    case: Case, role: Role = Role.PASSIVE, **build: object
) -> tuple[TLSContext, SessionInfo]:
    from cryptography.hazmat.primitives.serialization import Encoding

    context = _context(case, role, **build)
    info = SessionInfo(
        secure=True,
        resumed=True,
        peer_cert_der=case.leaf.public_bytes(Encoding.DER),
        peer_subject="CN=PLC leaf",
    )
    return context, info


def test_resumed_client_inside_its_validity_is_fine() -> None:
    case = build_case("valid", 0, server=False)
    context, info = _resumed(case)
    assert resumed_client_problem(context, info, NOW) is None
    assert resumed_client_problem(context, info, case.leaf.not_valid_after_utc) is None
    assert resumed_client_problem(context, info, case.leaf.not_valid_before_utc) is None


def test_resumed_client_after_expiry_is_80e5() -> None:
    case = build_case("valid", 0, server=False)
    context, info = _resumed(case)
    later = case.leaf.not_valid_after_utc + SECOND
    problem = resumed_client_problem(context, info, later)
    assert problem is not None
    status, reason = problem
    assert status == Status.TLS_CERT_EXPIRED
    moment = f"{later:%Y-%m-%d %H:%M:%S}Z"
    assert reason == f"resumed session: client certificate CN=PLC leaf is not valid at {moment}"


def test_resumed_client_before_validity_is_80e2() -> None:
    case = build_case("valid", 0, server=False)
    context, info = _resumed(case)
    problem = resumed_client_problem(context, info, case.leaf.not_valid_before_utc - SECOND)
    assert problem is not None and problem[0] == Status.TLS_CERT_INVALID


def test_resumed_check_applies_to_secure_servers_with_a_client_certificate_only() -> None:
    case = build_case("valid", 0, server=False)
    late = case.leaf.not_valid_after_utc + DAY
    client_side, info = _resumed(case, Role.ACTIVE)
    assert resumed_client_problem(client_side, info, late) is None
    insecure, info = _resumed(case, Role.PASSIVE, insecure=True)
    assert resumed_client_problem(insecure, info, late) is None
    server, info = _resumed(case)
    assert (
        resumed_client_problem(server, dataclasses.replace(info, peer_cert_der=None), late) is None
    )
    assert resumed_client_problem(server, info, late) is not None


def _self_signed(key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "PLC_1")])
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(9)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(key, hashes.SHA256())
    )


@pytest.mark.parametrize(("curve", "refused"), [(ec.SECP384R1(), False), (ec.SECP521R1(), True)])
def test_an_own_key_the_device_does_not_support_is_refused_when_the_context_is_built(
    curve: ec.EllipticCurve, refused: bool
) -> None:
    """The PLC rules hold for the device's own certificate too: a mock PLC must not serve a
    key (P-521) that a CPU partner refuses with 16#80E2; a verifier of one's own (the PC
    side) leaves it alone."""
    key = ec.generate_private_key(curve)
    cert = _self_signed(key)
    case = build_case("valid", 0, server=True)
    resolved = ResolvedEndpoint(
        role=Role.PASSIVE,
        own_id=9,
        own_cert=cert,
        own_key=key,
        chain=(),
        anchor_ids=(3,),
        anchors=(case.root,),
    )
    if not refused:
        assert TLSContext.build(resolved, V31).device is V31
        return
    with pytest.raises(CertError) as info:
        TLSContext.build(resolved, V31)
    assert info.value.status == Status.TLS_CERT_INVALID
    assert str(info.value).startswith("ID 9: own certificate has key type EC-secp521r1, which")
    pc_side = TLSContext.build(resolved, V31, verifier=lambda *a, **k: [])
    assert pc_side.resolved.own_key is key
