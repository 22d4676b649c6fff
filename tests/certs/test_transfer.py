"""Import/export in the tool's formats: .der/.cer, .crt/.pem, .p12, .crl."""

from __future__ import annotations

import datetime as dt
import stat
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from ouc.certs import CertStore, Template
from ouc.errors import CertError, ConfigError, StoreError

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def leaf(example: CertStore) -> int:
    """Server certificate 9 of the standard example (issued by CA 3)."""
    return 9


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("suffix", [".der", ".cer"])
def test_der_export_with_separate_key(example: CertStore, tmp_path: Path, suffix: str) -> None:
    files = example.export(9, tmp_path / f"plc1{suffix}", with_key=True)
    cert_file, key_file = files
    assert key_file.suffix == ".key" and _mode(key_file) == 0o600
    assert x509.load_der_x509_certificate(cert_file.read_bytes()) == example.certificate(9)
    key = serialization.load_pem_private_key(key_file.read_bytes(), None)
    assert key.public_key() == example.certificate(9).public_key()


def test_der_refuses_a_chain(example: CertStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="one certificate"):
        example.export(9, tmp_path / "x.der", chain=True)


def test_pem_export_with_encrypted_key_and_chain(example: CertStore, tmp_path: Path) -> None:
    (target,) = example.export(9, tmp_path / "plc1.pem", with_key=True, password="pw", chain=True)
    data = target.read_bytes()
    assert _mode(target) == 0o600  # holds a key
    certs = x509.load_pem_x509_certificates(data)
    assert certs == [example.certificate(9), example.certificate(3)]
    assert b"ENCRYPTED PRIVATE KEY" in data


def test_pem_without_key_is_world_readable(example: CertStore, tmp_path: Path) -> None:
    (target,) = example.export(3, tmp_path / "ca3.crt")
    assert _mode(target) == 0o644
    assert x509.load_pem_x509_certificate(target.read_bytes()) == example.certificate(3)


def test_p12_export_needs_password_for_key(example: CertStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="password"):
        example.export(9, tmp_path / "x.p12", with_key=True)
    (target,) = example.export(9, tmp_path / "x.p12", with_key=True, password="pw", chain=True)
    p12 = pkcs12.load_pkcs12(target.read_bytes(), b"pw")
    assert p12.cert is not None and p12.cert.certificate == example.certificate(9)
    assert [c.certificate for c in p12.additional_certs] == [example.certificate(3)]


def test_export_key_that_does_not_exist(example: CertStore, tmp_path: Path) -> None:
    example.export(3, tmp_path / "ca3.der")
    example.delete(11)
    example.delete(9)
    example.delete(3)
    (keyless,) = example.import_file(tmp_path / "ca3.der")
    with pytest.raises(StoreError, match="no private key"):
        example.export(keyless, tmp_path / "again.pem", with_key=True)


def test_roundtrip_p12_into_another_store(
    example: CertStore, tmp_path: Path, ca_keys: tuple[object, object]
) -> None:
    example.export(9, tmp_path / "x.p12", with_key=True, password="pw", chain=True)
    other = CertStore.init(tmp_path / "other", now=NOW, default_ca_keys=ca_keys)  # type: ignore[arg-type]
    ids = other.import_file(tmp_path / "x.p12", password="pw")
    assert ids == [4, 3]  # CA 3 imported first so the leaf finds its issuer
    assert other.certificate(4) == example.certificate(9)
    assert other.certificate(3) == example.certificate(3)
    assert other.entry(4).issuer_id == 3
    assert other.has_private_key(4) and not other.has_private_key(3)
    assert other.show(4).row.used_as == "TLS Client/Server"
    with pytest.raises(StoreError, match="already in the store as ID 4"):
        other.import_file(tmp_path / "x.p12", password="pw")


def test_import_with_wrong_password(example: CertStore, tmp_path: Path) -> None:
    example.export(9, tmp_path / "x.p12", with_key=True, password="pw")
    with pytest.raises(ConfigError, match="password"):
        example.import_file(tmp_path / "x.p12", password="nope")


def test_import_der_with_separate_key(
    example: CertStore, tmp_path: Path, ca_keys: tuple[object, object]
) -> None:
    example.export(11, tmp_path / "c.cer", with_key=True, password="k")
    other = CertStore.init(tmp_path / "o", now=NOW, default_ca_keys=ca_keys)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="encrypted"):
        other.import_file(tmp_path / "c.cer", key_path=tmp_path / "c.key")
    (new_id,) = other.import_file(tmp_path / "c.cer", key_path=tmp_path / "c.key", password="k")
    key = other.private_key(new_id)
    assert key is not None and key.public_key() == example.certificate(11).public_key()
    assert other.entry(new_id).issuer_id is None  # CA 3 is not in this store


def test_import_pem_with_key_in_same_file(example: CertStore, tmp_path: Path) -> None:
    example.export(11, tmp_path / "c.pem", with_key=True)
    example.delete(11)
    (new_id,) = example.import_file(tmp_path / "c.pem")
    assert new_id == 12 and example.has_private_key(new_id)
    assert example.entry(new_id).issuer_id == 3


def test_replace_from_p12_keeps_id(example: CertStore, tmp_path: Path) -> None:
    fresh = example.create(
        common_name="PLC_1 new",
        template=Template.TLS_CLIENT_SERVER,
        now=NOW,
        issuer_id=3,
        ip_sans=["192.168.0.1"],
    )
    example.export(fresh, tmp_path / "new.p12", with_key=True, password="pw")
    example.replace_from_file(9, tmp_path / "new.p12", password="pw")
    assert example.certificate(9) == example.certificate(fresh)
    key = example.private_key(9)
    assert key is not None and key.public_key() == example.certificate(fresh).public_key()


def test_crl_export_and_import(example: CertStore, tmp_path: Path) -> None:
    empty = example.export_crl(3, tmp_path / "empty.crl", now=NOW)  # revoked nothing yet
    assert list(x509.load_der_x509_crl(empty.read_bytes())) == []
    example.revoke(11, now=NOW)
    target = example.export_crl(3, tmp_path / "ca3.crl")
    crl = x509.load_der_x509_crl(target.read_bytes())
    assert crl.get_revoked_certificate_by_serial_number(example.certificate(11).serial_number)
    # Importing it elsewhere attaches it to the CA that signed it.
    assert example.import_file(target) == [3]


def test_import_crl_of_unknown_ca(
    example: CertStore, tmp_path: Path, ca_keys: tuple[object, object]
) -> None:
    example.revoke(11, now=NOW)
    target = example.export_crl(3, tmp_path / "ca3.crl")
    other = CertStore.init(tmp_path / "x", now=NOW, default_ca_keys=ca_keys)  # type: ignore[arg-type]
    with pytest.raises(CertError, match="no CA in the store"):
        other.import_file(target)


@pytest.mark.parametrize(
    ("name", "data", "error"),
    [
        ("junk.der", b"\x30\x03junk", CertError),
        ("junk.pem", b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n", CertError),
        ("junk.p12", b"junk", ConfigError),
        ("junk.crl", b"junk", CertError),
        ("cert.txt", b"junk", ConfigError),
    ],
)
def test_bad_files_are_one_clear_error(
    example: CertStore, tmp_path: Path, name: str, data: bytes, error: type[Exception]
) -> None:
    path = tmp_path / name
    path.write_bytes(data)
    with pytest.raises(error):
        example.import_file(path)


def test_missing_file(example: CertStore, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        example.import_file(tmp_path / "nope.der")
