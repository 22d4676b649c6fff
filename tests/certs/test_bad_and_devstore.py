"""Bad-certificate factory and the PC side's device certificate store."""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization

from ouc.certs import (
    BadCertFactory,
    DeviceCertStore,
    PrivateKey,
    Template,
    create_certificate,
    generate_key,
    verify_peer_chain,
)
from ouc.device import Role
from ouc.errors import CertError, Status

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
ADDRESS = "127.0.0.1"


@pytest.fixture(scope="module")
def ca() -> tuple[x509.Certificate, PrivateKey]:
    key = generate_key("EC-P256")
    cert = create_certificate(
        common_name="Plant CA",
        template=Template.CA,
        key=key,
        not_before=NOW - 10 * DAY,
        not_after=NOW + 3650 * DAY,
    )
    return cert, key


@pytest.fixture(scope="module")
def factory(ca: tuple[x509.Certificate, PrivateKey]) -> BadCertFactory:
    return BadCertFactory(ca[0], ca[1], now=NOW, address=ADDRESS)


KINDS = [
    ("expired", Status.TLS_CERT_EXPIRED),
    ("not_yet_valid", Status.TLS_CERT_INVALID),
    ("wrong_san", Status.TLS_HANDSHAKE_FAILURE),
    ("self_signed_unknown", Status.TLS_NO_VALID_CA),
    ("unknown_ca", Status.TLS_NO_VALID_CA),
    ("revoked", Status.TLS_CERT_DISCARDED),
    ("wrong_key_usage", Status.TLS_CERT_INVALID),
    ("sha1_signed", Status.TLS_CERT_INVALID),
]


@pytest.mark.parametrize(("kind", "status"), KINDS)
@pytest.mark.parametrize("peer_role", [Role.PASSIVE, Role.ACTIVE])
def test_each_bad_certificate_fails_with_its_status(
    factory: BadCertFactory, kind: str, status: int, peer_role: Role
) -> None:
    bad = getattr(factory, kind)()
    # Every check on (the SAN against the address, the CRL), as in the call below.
    assert bad.kind == kind and bad.status("server", ext_tls_capabilities=1, crls=True) == status
    assert bad.key.public_key() == bad.cert.public_key()
    with pytest.raises(CertError) as info:
        verify_peer_chain(
            bad.cert,
            anchors=[factory.ca_cert],
            now=NOW,
            peer_role=peer_role,
            expected_address=ADDRESS,
            crls=[bad.crl] if bad.crl else (),
        )
    assert info.value.status == status


def test_good_control_certificate_verifies(factory: BadCertFactory) -> None:
    good = factory.good()
    assert good.expected_status == Status.DONE
    verify_peer_chain(
        good.cert,
        anchors=[factory.ca_cert],
        now=NOW,
        peer_role=Role.PASSIVE,
        expected_address=ADDRESS,
    )


def test_bad_certificates_are_bad_for_one_reason_only(factory: BadCertFactory) -> None:
    # Without the CRL the revoked one passes, with the issuer trusted the unknown-CA one passes,
    # with a legacy exemption the SHA-1 one passes: each has exactly its defect.
    revoked = factory.revoked()
    verify_peer_chain(revoked.cert, anchors=[factory.ca_cert], now=NOW, peer_role=Role.PASSIVE)
    unknown = factory.unknown_ca()
    assert unknown.issuer is not None and unknown.issuer != factory.ca_cert
    verify_peer_chain(unknown.cert, anchors=[unknown.issuer], now=NOW, peer_role=Role.PASSIVE)
    sha1 = factory.sha1_signed()
    assert isinstance(sha1.cert.signature_hash_algorithm, hashes.SHA1)
    verify_peer_chain(
        sha1.cert,
        anchors=[factory.ca_cert],
        now=NOW,
        peer_role=Role.PASSIVE,
        legacy_anchors=[factory.ca_cert],
    )
    expired = factory.expired()
    verify_peer_chain(
        expired.cert, anchors=[factory.ca_cert], now=NOW - 2 * DAY, peer_role=Role.PASSIVE
    )


def test_all_bad_has_every_kind(factory: BadCertFactory) -> None:
    assert sorted(factory.all_bad()) == sorted(kind for kind, _ in KINDS)


# -- device certificate store (PC side) --------------------------------------------------------


def test_folders_are_created(tmp_path: Path) -> None:
    store = DeviceCertStore(tmp_path / "device-certificate-store")
    for sub in ("trusted", "untrusted", "trusted/crl"):
        assert (store.path / sub).is_dir()


def test_unknown_partner_goes_to_untrusted_then_manual_trust(
    tmp_path: Path, factory: BadCertFactory
) -> None:
    store = DeviceCertStore(tmp_path / "dcs")
    partner = factory.self_signed_unknown()
    with pytest.raises(CertError) as info:
        store.verify(partner.cert, (), NOW)
    assert info.value.status == Status.TLS_NO_VALID_CA
    (parked,) = store.untrusted()
    assert parked.suffix == ".der"
    assert x509.load_der_x509_certificate(parked.read_bytes()) == partner.cert
    # Second failure does not duplicate the file.
    with pytest.raises(CertError):
        store.verify(partner.cert, (), NOW)
    assert len(store.untrusted()) == 1
    # The user moves it to trusted/: the next connection accepts it.
    store.trust(parked.name)
    assert store.verify(partner.cert, (), NOW) == [partner.cert]
    assert store.untrusted() == []
    # Moving it back revokes the trust.
    store.distrust(parked.name)
    with pytest.raises(CertError):
        store.verify(partner.cert, (), NOW)


def test_trusted_ca_file_and_crl(tmp_path: Path, factory: BadCertFactory) -> None:
    store = DeviceCertStore(tmp_path / "dcs")
    ca_der = factory.ca_cert.public_bytes(serialization.Encoding.DER)
    (store.trusted_dir / "plant-ca.DER").write_bytes(ca_der)
    revoked = factory.revoked()
    assert store.verify(revoked.cert, (), NOW)[-1] == factory.ca_cert
    assert revoked.crl is not None
    store.add_crl(revoked.crl, "plant-ca.crl")
    with pytest.raises(CertError) as info:
        store.verify(revoked.cert, (), NOW)
    assert info.value.status == Status.TLS_CERT_DISCARDED
    assert store.untrusted() == []  # only unknown certificates are parked


def test_roots_are_trusted_without_files(tmp_path: Path, factory: BadCertFactory) -> None:
    store = DeviceCertStore(tmp_path / "dcs", roots=[factory.ca_cert])
    good = factory.good()
    assert store.verify(good.cert, (), NOW, expected_address=ADDRESS)[-1] == factory.ca_cert
    unknown = factory.unknown_ca()
    with pytest.raises(CertError):
        store.verify(unknown.cert, (), NOW)
    assert len(store.untrusted()) == 1


def test_a_stray_or_damaged_file_fails_no_partner(
    tmp_path: Path, factory: BadCertFactory, caplog: pytest.LogCaptureFixture
) -> None:
    """A README in ``trusted/`` is not read; a damaged certificate or revocation list is skipped
    with one warning naming it (once per file version), and every other partner still works."""
    store = DeviceCertStore(tmp_path / "dcs")
    (store.trusted_dir / "plant-ca.der").write_bytes(
        factory.ca_cert.public_bytes(serialization.Encoding.DER)
    )
    (store.trusted_dir / "README.txt").write_text("put trusted certificates here")
    (store.trusted_dir / "junk.der").write_bytes(b"junk")
    (store.crl_dir / "notes.md").write_text("lists")
    (store.crl_dir / "broken.crl").write_bytes(b"\x30\x03junk")
    good = factory.good()
    with caplog.at_level(logging.WARNING, logger="ouc.certs"):
        for _ in range(2):
            assert store.verify(good.cert, (), NOW)[-1] == factory.ca_cert
    warned = [r.getMessage() for r in caplog.records]
    assert len(warned) == 2, warned
    assert warned[0].startswith(f"{store.trusted_dir / 'junk.der'}: skipped, not a readable cert")
    assert warned[1].startswith(f"{store.crl_dir / 'broken.crl'}: skipped, not a readable revoc")
    assert not any("README" in w or "notes" in w for w in warned)
    # A new version of the file is read (and warned about) again.
    (store.trusted_dir / "junk.der").write_bytes(b"other junk")
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="ouc.certs"):
        assert len(store.trusted()) == 1
    assert len(caplog.records) == 1


def test_verify_needs_a_time(tmp_path: Path, factory: BadCertFactory) -> None:
    with pytest.raises(CertError, match="now"):
        DeviceCertStore(tmp_path / "dcs").verify(factory.good().cert)


def test_callable_as_the_tls_engine_verifier(tmp_path: Path, factory: BadCertFactory) -> None:
    store = DeviceCertStore(tmp_path / "dcs")
    good, revoked = factory.good(), factory.revoked()
    assert revoked.crl is not None
    common = {"intermediates": (), "now": NOW, "expected_address": None, "legacy_anchors": ()}
    path = store(good.cert, anchors=[factory.ca_cert], crls=(), peer_role=Role.PASSIVE, **common)
    assert path == [good.cert, factory.ca_cert]
    with pytest.raises(CertError) as info:
        store(
            revoked.cert,
            anchors=[factory.ca_cert],
            crls=[revoked.crl],
            peer_role=Role.PASSIVE,
            **common,
        )
    assert info.value.status == Status.TLS_CERT_DISCARDED
    with pytest.raises(CertError):
        store(good.cert, anchors=(), crls=(), peer_role=Role.PASSIVE, **common)
    assert [p.name for p in store.untrusted()] == [DeviceCertStore.file_name(good.cert)]
