"""The channel's trust decisions without sockets: ChannelVerifier, TrustedCAs, client_identity.

Real certificates from a real project store; the verifier is called the way the TLS engine
calls it (``ouc.tls.PeerVerifier``).
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ouc.certs import DeviceCertStore, Template
from ouc.channel import ChannelVerifier, TrustedCAs, client_identity
from ouc.device import Role
from ouc.errors import CertError, Status, StoreError

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)


def _verify(
    verifier: ChannelVerifier, leaf: x509.Certificate, now: dt.datetime
) -> list[x509.Certificate]:
    return verifier(
        leaf,
        anchors=(),
        intermediates=(),
        now=now,
        expected_address=None,
        crls=(),
        peer_role=Role.PASSIVE,
        legacy_anchors=(),
    )


@pytest.fixture
def verifier(plant: Plant) -> ChannelVerifier:
    return ChannelVerifier(plant.device_store, plant.trust)


def test_unknown_self_signed_is_parked_once_then_manual_trust_pins_it(
    plant: Plant, verifier: ChannelVerifier
) -> None:
    leaf = plant.cert(plant.plc_cert("PLC_1", plant.PLC1_IP, "self-signed"))
    for _ in range(2):
        with pytest.raises(CertError) as info:
            _verify(verifier, leaf, plant.clock())
        assert info.value.status == Status.TLS_NO_VALID_CA
    store: DeviceCertStore = plant.device_store
    (parked,) = store.untrusted()
    assert parked.read_bytes() == leaf.public_bytes(Encoding.DER)
    # The line says where the certificate is and what to do with it.
    assert info.value.message == (
        f"unknown self-signed certificate CN=PLC_1: written to {parked}; move it to trusted/ "
        "to trust it"
    )
    store.trust(parked.name)
    assert _verify(verifier, leaf, plant.clock()) == [leaf]


def test_ca_issued_leaf_in_trusted_needs_its_ca(plant: Plant, verifier: ChannelVerifier) -> None:
    leaf = plant.cert(plant.plc_cert("PLC_2", plant.PLC2_IP, "unknown-ca"))
    with pytest.raises(CertError) as info:
        _verify(verifier, leaf, plant.clock())
    assert info.value.message == (
        "no trusted CA for CN=PLC_2 (issuer CN=Other CA): import the certificate of "
        "CN=Other CA (cas or ca_dir), then 'ouc channel restart'"
    )
    store: DeviceCertStore = plant.device_store
    store.trust(store.untrusted()[0].name)
    with pytest.raises(CertError) as info:
        _verify(verifier, leaf, plant.clock())
    assert info.value.status == Status.TLS_NO_VALID_CA
    assert "import the CA" in info.value.message and "Other CA" in info.value.message

    ca = plant.cert(plant.other_ca())
    plant.trust.import_ca(ca)
    assert _verify(verifier, leaf, plant.clock()) == [leaf, ca]


def test_a_crl_applies_even_when_the_leaf_is_also_in_trusted(
    plant: Plant, verifier: ChannelVerifier
) -> None:
    plant.import_known_ca()
    leaf = plant.cert(9)
    store: DeviceCertStore = plant.device_store
    (store.trusted_dir / "plc1.der").write_bytes(leaf.public_bytes(Encoding.DER))
    assert len(_verify(verifier, leaf, plant.clock())) == 2  # via CA 3, not the pinned copy
    store.add_crl(plant.store.revoke(9, now=plant.NOW), "ca3.crl")
    with pytest.raises(CertError) as info:
        _verify(verifier, leaf, plant.clock())
    assert info.value.status == Status.TLS_CERT_DISCARDED


def test_trusted_cas_folder_is_read_live(plant: Plant, tmp_path: Path) -> None:
    trust = TrustedCAs(folder=tmp_path / "cas")
    ca = plant.cert(plant.CA_ID)
    assert trust.certificates() == []
    trust.import_ca(ca)
    (written,) = (tmp_path / "cas").iterdir()
    assert TrustedCAs(folder=tmp_path / "cas").certificates() == [ca]  # survives a restart
    written.unlink()
    assert trust.certificates() == []
    pem = tmp_path / "cas" / "ca3.pem"
    pem.write_bytes(ca.public_bytes(Encoding.PEM))
    assert trust.certificates() == [ca]
    (tmp_path / "cas" / "broken.der").write_bytes(b"not a certificate")
    with pytest.raises(StoreError, match=r"broken\.der"):
        trust.certificates()


def test_trusted_cas_refuse_end_entity_certificates(plant: Plant, tmp_path: Path) -> None:
    leaf_file = tmp_path / "leaf.der"
    leaf_file.write_bytes(plant.cert(9).public_bytes(Encoding.DER))
    with pytest.raises(CertError, match="not a CA") as info:
        TrustedCAs([leaf_file])
    assert info.value.status == Status.TLS_NO_VALID_CA
    with pytest.raises(StoreError):
        TrustedCAs().import_ca(tmp_path / "missing.der")


def test_a_pem_bundle_imports_every_ca_and_refuses_one_that_is_no_ca(
    plant: Plant, tmp_path: Path
) -> None:
    first, second = plant.cert(plant.CA_ID), plant.cert(plant.other_ca())
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(first.public_bytes(Encoding.PEM) + second.public_bytes(Encoding.PEM))
    assert TrustedCAs([bundle]).certificates() == [first, second]
    trust = TrustedCAs()
    assert trust.import_ca(bundle) == first
    assert trust.certificates() == [first, second]
    folder = TrustedCAs(folder=tmp_path / "cas")
    folder.import_ca(bundle)
    assert sorted(c.subject.rfc4514_string() for c in folder.certificates()) == [
        "CN=CA 3",
        "CN=Other CA",
    ]
    mixed = tmp_path / "mixed.pem"
    mixed.write_bytes(first.public_bytes(Encoding.PEM) + plant.cert(9).public_bytes(Encoding.PEM))
    with pytest.raises(CertError, match="CN=PLC_1 is not a CA") as info:
        TrustedCAs([mixed])
    assert info.value.path == str(mixed)


def test_an_end_entity_certificate_in_the_ca_folder_is_no_trust_anchor(
    plant: Plant, tmp_path: Path
) -> None:
    """``ca_dir`` gets the check ``cas`` has: an end-entity certificate there is refused
    (16#80E4, the file named) instead of becoming a trust anchor."""
    folder = tmp_path / "cas"
    folder.mkdir()
    (folder / "plc1.der").write_bytes(plant.cert(9).public_bytes(Encoding.DER))
    with pytest.raises(CertError, match="not a CA") as info:
        TrustedCAs(folder=folder).certificates()
    assert info.value.status == Status.TLS_NO_VALID_CA
    assert info.value.path == str(folder / "plc1.der")


def test_client_identity(plant: Plant) -> None:
    block = plant.block()
    now = plant.clock()
    resolved = client_identity(block, store=plant.store, device="HMI_1", now=now)
    assert (resolved.own_id, resolved.own_cert) == (plant.hmi_id, plant.cert(plant.hmi_id))
    assert resolved.role is Role.ACTIVE and resolved.anchors == ()

    none = client_identity(plant.block(own_cert=False), store=None, device="HMI_1", now=now)
    assert none.own_cert is None and none.own_id is None

    cases = [
        ({"store": None, "device": "HMI_1", "now": now}, Status.TLS_CERT_REF_UNKNOWN, "no project"),
        (
            {"store": plant.store, "device": "HMI_2", "now": now},
            Status.TLS_CERT_REF_UNKNOWN,
            "HMI_2",
        ),
        (
            {"store": plant.store, "device": "HMI_1", "now": now + dt.timedelta(days=4000)},
            Status.TLS_CERT_EXPIRED,
            "expired",
        ),
        (
            {"store": plant.store, "device": "HMI_1", "now": plant.NOW - dt.timedelta(days=1)},
            Status.TLS_CERT_INVALID,
            "not valid yet",
        ),
    ]
    for kwargs, status, text in cases:
        with pytest.raises(CertError) as info:
            client_identity(block, **kwargs)
        assert info.value.status == status and text in info.value.message
        assert info.value.path == "TLSClientCertRef"


def test_an_imported_ca_is_written_atomically(
    plant: Plant, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One DER file under the CA's name and no temporary file left; a write that fails (here:
    the rename) is one StoreError naming the file, and leaves nothing behind."""
    folder = tmp_path / "cas"
    folder.mkdir()
    trust = TrustedCAs(folder=folder)
    ca = trust.import_ca(plant.cert(plant.other_ca()))
    files = list(folder.iterdir())
    assert [path.name for path in files] == [DeviceCertStore.file_name(ca)]
    assert x509.load_der_x509_certificate(files[0].read_bytes()) == ca
    assert TrustedCAs(folder=folder).certificates() == [ca]

    third = plant.store.create(
        common_name="Third CA", template=Template.CA, now=dt.datetime.now(dt.UTC)
    )

    def no_rename(source: object, target: object) -> None:
        raise OSError(28, "No space left on device")

    third_ca = plant.cert(third)
    monkeypatch.setattr("ouc.certs._atomic.os.replace", no_rename)
    with pytest.raises(StoreError, match="No space left on device"):
        trust.import_ca(third_ca)
    assert list(folder.iterdir()) == files
