"""verify_peer_chain: every failure with the PLC's status code."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.certs import PrivateKey, Template, create_certificate, generate_key, verify_peer_chain
from ouc.device import Role
from ouc.errors import CertError, Status

NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
PASSIVE, ACTIVE = Role.PASSIVE, Role.ACTIVE


@dataclass(frozen=True)
class PKI:
    root: x509.Certificate
    root_key: PrivateKey
    inter: x509.Certificate
    inter_key: PrivateKey
    leaf: x509.Certificate  # issued by root, TLS Client/Server, IP 10.0.0.1, DNS plc1.example
    leaf_key: PrivateKey


def _cert(
    template: Template,
    key: PrivateKey,
    issuer: tuple[x509.Certificate, PrivateKey] | None = None,
    **kw: object,
) -> x509.Certificate:
    kw.setdefault("not_before", NOW - DAY)
    kw.setdefault("not_after", NOW + 365 * DAY)
    kw.setdefault("common_name", f"{template.name} test")
    return create_certificate(
        template=template,
        key=key,
        issuer_cert=issuer[0] if issuer else None,
        issuer_key=issuer[1] if issuer else None,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def pki() -> PKI:
    root_key, inter_key, leaf_key = (generate_key("EC-P256") for _ in range(3))
    root = _cert(Template.CA, root_key, common_name="Root")
    inter = _cert(Template.CA, inter_key, (root, root_key), common_name="Intermediate")
    leaf = _cert(
        Template.TLS_CLIENT_SERVER,
        leaf_key,
        (root, root_key),
        ip_sans=["10.0.0.1"],
        dns_sans=["plc1.example"],
    )
    return PKI(root, root_key, inter, inter_key, leaf, leaf_key)


def _status(leaf: x509.Certificate, **kw: object) -> int | None:
    kw.setdefault("now", NOW)
    kw.setdefault("peer_role", PASSIVE)
    with pytest.raises(CertError) as info:
        verify_peer_chain(leaf, **kw)  # type: ignore[arg-type]
    return info.value.status


def test_good_chain_returns_path_leaf_to_anchor(pki: PKI) -> None:
    path = verify_peer_chain(
        pki.leaf, anchors=[pki.root], now=NOW, peer_role=PASSIVE, expected_address="10.0.0.1"
    )
    assert path == [pki.leaf, pki.root]


def test_path_through_intermediate(pki: PKI) -> None:
    leaf = _cert(Template.TLS_CLIENT, generate_key("EC-P256"), (pki.inter, pki.inter_key))
    path = verify_peer_chain(
        leaf, anchors=[pki.root], intermediates=[pki.inter], now=NOW, peer_role=ACTIVE
    )
    assert path == [leaf, pki.inter, pki.root]


def test_incomplete_chain_is_no_valid_ca(pki: PKI) -> None:
    leaf = _cert(Template.TLS_CLIENT, generate_key("EC-P256"), (pki.inter, pki.inter_key))
    assert _status(leaf, anchors=[pki.root], peer_role=ACTIVE) == Status.TLS_NO_VALID_CA


def test_pinned_peer_certificate_is_its_own_anchor(pki: PKI) -> None:
    assert verify_peer_chain(pki.leaf, anchors=[pki.leaf], now=NOW, peer_role=PASSIVE) == [pki.leaf]


def test_unknown_ca(pki: PKI) -> None:
    other_key = generate_key("EC-P256")
    other = _cert(Template.CA, other_key, common_name="Other")
    assert _status(pki.leaf, anchors=[other]) == Status.TLS_NO_VALID_CA


def test_unknown_self_signed(pki: PKI) -> None:
    self_signed = _cert(Template.TLS_CLIENT_SERVER, pki.leaf_key, ip_sans=["10.0.0.1"])
    assert _status(self_signed, anchors=[pki.root]) == Status.TLS_NO_VALID_CA


def test_expired_and_not_yet_valid_leaf(pki: PKI) -> None:
    assert _status(pki.leaf, anchors=[pki.root], now=NOW + 400 * DAY) == Status.TLS_CERT_EXPIRED
    assert _status(pki.leaf, anchors=[pki.root], now=NOW - 2 * DAY) == Status.TLS_CERT_INVALID


def test_never_set_plc_clock_rejects_valid_certificate(pki: PKI) -> None:
    # A CPU whose clock was never set runs from 1970 (DTL default): 16#80E2 (domain.md §3).
    unset = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    assert _status(pki.leaf, anchors=[pki.root], now=unset) == Status.TLS_CERT_INVALID


def test_expired_anchor(pki: PKI) -> None:
    old_key = generate_key("EC-P256")
    old_ca = _cert(Template.CA, old_key, not_before=NOW - 20 * DAY, not_after=NOW - DAY)
    leaf = _cert(Template.TLS_CLIENT, generate_key("EC-P256"), (old_ca, old_key))
    assert _status(leaf, anchors=[old_ca], peer_role=ACTIVE) == Status.TLS_CERT_EXPIRED


def test_bad_signature_is_integrity_error(pki: PKI) -> None:
    # A forger's CA with the same name as the real root signs a leaf.
    forger_key = generate_key("EC-P256")
    forger = _cert(Template.CA, forger_key, common_name="Root")
    forged = _cert(
        Template.TLS_CLIENT_SERVER, pki.leaf_key, (forger, forger_key), ip_sans=["1.1.1.1"]
    )
    verify_peer_chain(pki.leaf, anchors=[pki.root], now=NOW, peer_role=PASSIVE)  # warm cache
    assert _status(forged, anchors=[pki.root]) == Status.TLS_INTEGRITY


@pytest.mark.parametrize("critical", [True, False])
def test_unhandled_extension_fails_only_when_critical(pki: PKI, critical: bool) -> None:
    oid = x509.ObjectIdentifier("1.3.6.1.4.1.99999.1")
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "odd")]))
        .issuer_name(pki.root.subject)
        .public_key(pki.leaf_key.public_key())
        .serial_number(7)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.UnrecognizedExtension(oid, b"\x05\x00"), critical=critical)
        .sign(pki.root_key, hashes.SHA256())
    )
    if critical:
        assert _status(cert, anchors=[pki.root]) == Status.TLS_UNSUPPORTED_EXTENSION
    else:
        assert verify_peer_chain(cert, anchors=[pki.root], now=NOW, peer_role=PASSIVE)


@pytest.mark.parametrize("address", ["10.0.0.1", "plc1.example", "PLC1.example."])
def test_san_matches(pki: PKI, address: str) -> None:
    verify_peer_chain(
        pki.leaf, anchors=[pki.root], now=NOW, peer_role=PASSIVE, expected_address=address
    )


@pytest.mark.parametrize("address", ["10.0.0.2", "plc2.example", "::1"])
def test_san_mismatch(pki: PKI, address: str) -> None:
    status = _status(pki.leaf, anchors=[pki.root], expected_address=address)
    assert status == Status.TLS_HANDSHAKE_FAILURE


def test_wildcard_dns_san_covers_one_label(pki: PKI) -> None:
    leaf = _cert(
        Template.TLS_CLIENT_SERVER,
        pki.leaf_key,
        (pki.root, pki.root_key),
        ip_sans=["10.0.0.9"],
        dns_sans=["*.line1.example"],
    )
    verify_peer_chain(
        leaf, anchors=[pki.root], now=NOW, peer_role=PASSIVE, expected_address="plc.line1.example"
    )
    status = _status(leaf, anchors=[pki.root], expected_address="a.plc.line1.example")
    assert status == Status.TLS_HANDSHAKE_FAILURE


def test_no_san_means_mismatch_without_cn_fallback(pki: PKI) -> None:
    leaf = _cert(
        Template.TLS_CLIENT, pki.leaf_key, (pki.root, pki.root_key), common_name="10.0.0.1"
    )
    status = _status(leaf, anchors=[pki.root], peer_role=ACTIVE, expected_address="10.0.0.1")
    assert status == Status.TLS_HANDSHAKE_FAILURE


def _crl(
    issuer: x509.Certificate, key: PrivateKey, *serials: int
) -> x509.CertificateRevocationList:
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOW - DAY)
        .next_update(NOW + DAY)
    )
    for serial in serials:
        builder = builder.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(serial)
            .revocation_date(NOW - DAY)
            .build()
        )
    return builder.sign(key, hashes.SHA256())


def test_revoked_by_crl(pki: PKI) -> None:
    crl = _crl(pki.root, pki.root_key, pki.leaf.serial_number)
    assert _status(pki.leaf, anchors=[pki.root], crls=[crl]) == Status.TLS_CERT_DISCARDED
    # The same CRL without the leaf's serial lets it pass.
    clean = _crl(pki.root, pki.root_key, 12345)
    verify_peer_chain(pki.leaf, anchors=[pki.root], now=NOW, peer_role=PASSIVE, crls=[clean])


def test_forged_crl_is_integrity_error(pki: PKI) -> None:
    forger_key = generate_key("EC-P256")
    crl = _crl(pki.root, forger_key, 1)
    assert _status(pki.leaf, anchors=[pki.root], crls=[crl]) == Status.TLS_INTEGRITY


def test_wrong_eku_for_peer_role(pki: PKI) -> None:
    client_only = _cert(Template.TLS_CLIENT, pki.leaf_key, (pki.root, pki.root_key))
    assert _status(client_only, anchors=[pki.root], peer_role=PASSIVE) == Status.TLS_CERT_INVALID
    verify_peer_chain(client_only, anchors=[pki.root], now=NOW, peer_role=ACTIVE)
    server_only = _cert(
        Template.WEB_SERVER, pki.leaf_key, (pki.root, pki.root_key), ip_sans=["10.0.0.1"]
    )
    assert _status(server_only, anchors=[pki.root], peer_role=ACTIVE) == Status.TLS_CERT_INVALID


def test_certificate_without_eku_serves_either_role(pki: PKI) -> None:
    # No ExtendedKeyUsage means any purpose (RFC 5280); digitalSignature is in its KeyUsage.
    for role in (PASSIVE, ACTIVE):
        assert verify_peer_chain(pki.inter, anchors=[pki.root], now=NOW, peer_role=role)


def test_sha1_refused_unless_issuer_is_legacy(pki: PKI) -> None:
    leaf = _cert(Template.TLS_CLIENT, pki.leaf_key, (pki.root, pki.root_key), hash_name="SHA1")
    assert _status(leaf, anchors=[pki.root], peer_role=ACTIVE) == Status.TLS_CERT_INVALID
    path = verify_peer_chain(
        leaf, anchors=[pki.root], now=NOW, peer_role=ACTIVE, legacy_anchors=[pki.root]
    )
    assert path == [leaf, pki.root]


def test_issuer_that_is_not_a_ca(pki: PKI) -> None:
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "under a leaf")]))
        .issuer_name(pki.leaf.subject)
        .public_key(generate_key("EC-P256").public_key())
        .serial_number(11)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(pki.leaf_key, hashes.SHA256())
    )
    assert _status(cert, anchors=[pki.leaf]) == Status.TLS_NO_VALID_CA


def test_path_length_constraint(pki: PKI) -> None:
    key0, key1, key2 = (generate_key("EC-P256") for _ in range(3))
    base = _cert(Template.CA, key0, common_name="Strict root")
    strict = (
        x509.CertificateBuilder()
        .subject_name(base.subject)
        .issuer_name(base.subject)
        .public_key(key0.public_key())
        .serial_number(1)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(key0, hashes.SHA256())
    )
    inter = _cert(Template.CA, key1, (strict, key0), common_name="Sub CA")
    leaf = _cert(Template.TLS_CLIENT, key2, (inter, key1))
    status = _status(leaf, anchors=[strict], intermediates=[inter], peer_role=ACTIVE)
    assert status == Status.TLS_NO_VALID_CA
    direct = _cert(Template.TLS_CLIENT, key2, (strict, key0))
    verify_peer_chain(direct, anchors=[strict], now=NOW, peer_role=ACTIVE)


def test_naive_now_is_utc(pki: PKI) -> None:
    naive = NOW.replace(tzinfo=None)
    assert verify_peer_chain(pki.leaf, anchors=[pki.root], now=naive, peer_role=PASSIVE)


@settings(max_examples=40)
@given(offset_hours=st.integers(min_value=-24 * 800, max_value=24 * 800))
def test_validity_window_property(pki: PKI, offset_hours: int) -> None:
    moment = NOW + dt.timedelta(hours=offset_hours)
    anchors = [pki.root]
    if moment < pki.leaf.not_valid_before_utc:
        assert _status(pki.leaf, anchors=anchors, now=moment) == Status.TLS_CERT_INVALID
    elif moment > pki.leaf.not_valid_after_utc:
        assert _status(pki.leaf, anchors=anchors, now=moment) == Status.TLS_CERT_EXPIRED
    else:
        assert verify_peer_chain(pki.leaf, anchors=anchors, now=moment, peer_role=PASSIVE)
