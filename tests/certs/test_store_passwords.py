"""A store may mix encrypted and plain keys: the store password decrypts the encrypted ones and
is not offered to the plain ones (cryptography refuses a password for a plain key).

A store made without ``OUC_STORE_PASSWORD`` keeps its plain keys when the variable is set later;
the keys written from then on are encrypted. Every key stays usable with the variable set.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from ouc.certs import CertStore, PrivateKey, Template, generate_key
from ouc.cli import main
from ouc.errors import ConfigError, StoreError

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)
PASSWORD = "s3cret"


@pytest.fixture
def mixed(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> tuple[CertStore, int]:
    """A store with plain keys (CAs 1, 2) and one leaf whose key is encrypted."""
    plain = CertStore.init(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)
    locked = CertStore(plain.path, password=PASSWORD)
    leaf = locked.create(
        common_name="PLC_1",
        template=Template.TLS_CLIENT_SERVER,
        now=NOW,
        issuer_id=2,
        ip_sans=["192.168.0.1"],
    )
    return locked, leaf


def test_the_store_password_reads_encrypted_and_plain_keys(mixed: tuple[CertStore, int]) -> None:
    store, leaf = mixed
    assert not store.entry(2).key_encrypted and store.entry(leaf).key_encrypted
    assert "ENCRYPTED" in (store.path / str(store.entry(leaf).key_file)).read_text()
    reopened = CertStore(store.path, password=PASSWORD)
    assert reopened.private_key(2) is not None  # plain: the password is not offered to it
    assert reopened.private_key(leaf) is not None
    # Signing with the plain CA key works with the password set (renew needs CA 2's key).
    reopened.renew(leaf, now=NOW + dt.timedelta(days=1))
    without = CertStore(store.path)
    assert without.private_key(2) is not None
    with pytest.raises(StoreError, match="is encrypted; open the store with its password"):
        without.private_key(leaf)


def test_a_wrong_store_password_names_the_key_file_once(mixed: tuple[CertStore, int]) -> None:
    store, leaf = mixed
    with pytest.raises(StoreError) as caught:
        CertStore(store.path, password="wrong").private_key(leaf)
    key_file = str(store.entry(leaf).key_file)
    assert str(caught.value) == f"{key_file}: wrong password or not a private key"


def test_cli_with_the_store_password_set_uses_plain_keys(
    mixed: tuple[CertStore, int],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, leaf = mixed
    monkeypatch.setenv("OUC_STORE_PASSWORD", PASSWORD)
    common = ["--store", str(store.path), "--now", NOW.isoformat()]
    out = tmp_path / "ca2.pem"
    assert main(["certs", "export", "2", str(out), "--key", *common]) == 0, capsys.readouterr()
    assert "PRIVATE KEY" in out.read_text()
    assert main(["certs", "export", str(leaf), str(tmp_path / "leaf.pem"), "--key", *common]) == 0
    argv = ["certs", "create", "--template", "tls", "--cn", "PLC_2", "--issuer", "2"]
    assert main([*argv, "--ip", "192.168.0.2", *common]) == 0, capsys.readouterr()


def _write_plain_key(path: Path, key: PrivateKey) -> None:
    """``key`` as an unencrypted PKCS#8 PEM file at ``path``."""
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_a_password_for_a_plain_key_file_is_refused_in_words(
    tmp_path: Path, store: CertStore, ca_keys: tuple[PrivateKey, PrivateKey]
) -> None:
    key = generate_key("EC-P256")
    cert_id = store.create(
        common_name="X", template=Template.TLS_CLIENT_SERVER, now=NOW, key=key, ip_sans=["1.2.3.4"]
    )
    cert_file = tmp_path / "x.pem"
    store.export(cert_id, cert_file)
    key_file = tmp_path / "x.key"
    _write_plain_key(key_file, key)
    fresh = CertStore.init(tmp_path / "fresh", now=NOW, default_ca_keys=ca_keys)
    with pytest.raises(ConfigError) as caught:
        fresh.import_file(cert_file, key_path=key_file, password="pw")
    assert str(caught.value) == f"{key_file}: this key is not encrypted; leave the password out"
    assert fresh.import_file(cert_file, key_path=key_file) == [3]


def test_a_plain_key_file_beside_a_p12_is_read_with_the_p12_password(
    tmp_path: Path, store: CertStore, ca_keys: tuple[PrivateKey, PrivateKey]
) -> None:
    # The password belongs to the .p12 here, so the plain key file beside it is read as is.
    key = generate_key("EC-P256")
    cert_id = store.create(
        common_name="Y", template=Template.TLS_CLIENT_SERVER, now=NOW, key=key, ip_sans=["1.2.3.5"]
    )
    bundle = tmp_path / "y.p12"
    store.export(cert_id, bundle, password="pw")
    key_file = tmp_path / "y.key"
    _write_plain_key(key_file, key)
    fresh = CertStore.init(tmp_path / "fresh", now=NOW, default_ca_keys=ca_keys)
    (new_id,) = fresh.import_file(bundle, key_path=key_file, password="pw")
    assert fresh.private_key(new_id).public_key() == key.public_key()  # type: ignore[union-attr]
