"""Certificates, keys and CRLs whose inner parts do not parse: refused at import in one line,
and a store that already holds one (an older ouc wrote it, or the file changed on disk) still
lists, shows and refuses ``serve`` in one clear line.

The bad inputs are made here, from real certificates: an extension whose bytes are not DER
(cryptography writes an ``UnrecognizedExtension`` as given), and DER edits of one field (the
version, a curve OID, the bytes of a name) the way a damaged or hostile file would have them.
"""

from __future__ import annotations

import base64
import datetime as dt
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtensionOID, NameOID

from ouc.certs import CertStore, PrivateKey, resolve
from ouc.cli import main
from ouc.drivers import example_store
from ouc.errors import CertError, OucError
from ouc.params import STANDARD_SERVER

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
ONE_LINE = re.compile(r"^ouc( [a-z-]+)*: error: \S")
#: prime256v1's OID, and one of the same length that names no curve.
P256_OID = bytes.fromhex("06082a8648ce3d030107")
NO_CURVE_OID = bytes.fromhex("06082a8648ce3d030163")


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


def _cert(
    *extensions: x509.ExtensionType,
    key: object = None,
    issuer_cn: str = "Issuer ZZZZ",
) -> x509.Certificate:
    """A self-made certificate with the given raw extensions (signed by a throwaway key)."""
    signer = ec.generate_private_key(ec.SECP256R1())
    public = key if key is not None else signer.public_key()
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Bad")]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer_cn)]))
        .public_key(public)  # type: ignore[arg-type]
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - dt.timedelta(days=1))
        .not_valid_after(NOW + dt.timedelta(days=30))
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=False)
    return builder.sign(signer, hashes.SHA256())


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def _patched(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1, "the edit must hit exactly one place"
    return data.replace(old, new)


def _raw(oid: x509.ObjectIdentifier, value: bytes) -> x509.UnrecognizedExtension:
    return x509.UnrecognizedExtension(oid, value)


GARBAGE = b"\x04\x02\xff\xff"  # an OCTET STRING where a SEQUENCE / BIT STRING must be

#: name → the bytes of a certificate file whose import must be refused.
BAD_CERTS: dict[str, Callable[[], bytes]] = {
    "san": lambda: _der(_cert(_raw(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, GARBAGE))),
    "key_usage": lambda: _der(_cert(_raw(ExtensionOID.KEY_USAGE, GARBAGE))),
    "basic_constraints": lambda: _der(_cert(_raw(ExtensionOID.BASIC_CONSTRAINTS, GARBAGE))),
    "eku": lambda: _der(_cert(_raw(ExtensionOID.EXTENDED_KEY_USAGE, GARBAGE))),
    "san_cut": lambda: _der(_cert(_raw(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x05\x87"))),
    # [0] EXPLICIT INTEGER 2 (v3) → 7: no such X.509 version.
    "version": lambda: _patched(_der(_cert()), b"\xa0\x03\x02\x01\x02", b"\xa0\x03\x02\x01\x07"),
    "curve": lambda: _patched(_der(_cert()), P256_OID, NO_CURVE_OID),
    "ed25519": lambda: _der(_cert(key=ed25519.Ed25519PrivateKey.generate().public_key())),
    # The issuer's CN as a UTF8String (tag 0x0c) holding bytes that are not UTF-8.
    "issuer": lambda: _patched(
        _der(_cert()), b"\x0c\x0bIssuer ZZZZ", b"\x0c\x0bIssuer \xff\xfe\xff\xfe"
    ),
}


def _check_refused(capsys: pytest.CaptureFixture[str], argv: list[str]) -> str:
    assert main(argv) == 2
    out, err = capsys.readouterr()
    lines = err.strip().splitlines()
    assert out == "" and len(lines) == 1 and ONE_LINE.match(lines[0]), err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


def _still_usable(capsys: pytest.CaptureFixture[str], store: CertStore) -> None:
    assert main(["certs", "list", "--store", str(store.path)]) == 0
    assert main(["certs", "show", "9", "--store", str(store.path)]) == 0
    out, err = capsys.readouterr()
    assert "PLC_1" in out and err == "" and "DAMAGED" not in out
    resolved = resolve(CertStore(store.path), STANDARD_SERVER, device="PLC_1", now=NOW)
    assert resolved.own_cert is not None


def _snapshot(store: CertStore) -> dict[str, bytes]:
    return {
        str(p.relative_to(store.path)): p.read_bytes()
        for p in sorted(store.path.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.mark.parametrize("name", sorted(BAD_CERTS))
@pytest.mark.parametrize("suffix", [".der", ".pem"])
def test_bad_certificate_import_is_refused(
    capsys: pytest.CaptureFixture[str],
    store: CertStore,
    tmp_path: Path,
    name: str,
    suffix: str,
) -> None:
    data = BAD_CERTS[name]()
    if suffix == ".pem":
        data = _pem(data)
    bad = tmp_path / f"bad{suffix}"
    bad.write_bytes(data)
    before = _snapshot(store)
    line = _check_refused(capsys, ["certs", "import", str(bad), "--store", str(store.path)])
    assert str(bad) in line
    line = _check_refused(capsys, ["certs", "replace", "11", str(bad), "--store", str(store.path)])
    assert _snapshot(store) == before
    _still_usable(capsys, store)


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der)
    return b"-----BEGIN CERTIFICATE-----\n" + body + b"-----END CERTIFICATE-----\n"


def test_bad_certificate_inside_a_p12(
    capsys: pytest.CaptureFixture[str], store: CertStore, tmp_path: Path
) -> None:
    cert = x509.load_der_x509_certificate(BAD_CERTS["san"]())
    p12 = tmp_path / "bad.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"bad", None, cert, None, serialization.NoEncryption()
        )
    )
    before = _snapshot(store)
    _check_refused(capsys, ["certs", "import", str(p12), "--store", str(store.path)])
    assert _snapshot(store) == before
    _still_usable(capsys, store)


def test_key_on_an_unknown_curve_is_refused(
    capsys: pytest.CaptureFixture[str], store: CertStore, tmp_path: Path
) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    cert_file = tmp_path / "good.pem"
    cert_file.write_bytes(_cert(key=key.public_key()).public_bytes(serialization.Encoding.PEM))
    for name, data in {
        "curve.key": _patched(der, P256_OID, NO_CURVE_OID),
        "ed.key": ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    }.items():
        key_file = tmp_path / name
        key_file.write_bytes(data)
        argv = ["certs", "import", str(cert_file), "--key", str(key_file)]
        assert str(key_file) in _check_refused(capsys, [*argv, "--store", str(store.path)])
    _still_usable(capsys, store)


def _crl(ca: x509.Certificate, key: PrivateKey) -> bytes:
    crl = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.subject)
        .last_update(NOW - dt.timedelta(days=1))
        .next_update(NOW + dt.timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(12345)
            .revocation_date(NOW - dt.timedelta(hours=2))
            .build()
        )
        .sign(key, hashes.SHA256())  # type: ignore[arg-type]
    )
    return crl.public_bytes(serialization.Encoding.DER)


def test_bad_crls_are_refused(
    capsys: pytest.CaptureFixture[str], store: CertStore, tmp_path: Path
) -> None:
    ca, key = store.certificate(3), store.private_key(3)
    assert key is not None
    good = _crl(ca, key)
    # The CRL's version INTEGER 1 (v2) → 7, and a revoked entry's date cut to garbage.
    version = _patched(good, b"\x02\x01\x01\x30", b"\x02\x01\x07\x30")
    for name, data in {"version.crl": version, "cut.crl": good[: len(good) // 2]}.items():
        crl_file = tmp_path / name
        crl_file.write_bytes(data)
        before = _snapshot(store)
        line = _check_refused(
            capsys, ["certs", "import", str(crl_file), "--store", str(store.path)]
        )
        assert str(crl_file) in line
        assert _snapshot(store) == before
    good_file = tmp_path / "good.crl"
    good_file.write_bytes(good)
    assert main(["certs", "import", str(good_file), "--store", str(store.path)]) == 0
    _still_usable(capsys, store)


@pytest.mark.parametrize("name", ["san", "key_usage", "version", "issuer"])
def test_a_store_holding_a_damaged_entry(
    capsys: pytest.CaptureFixture[str], store: CertStore, name: str
) -> None:
    # An older ouc accepted the certificate; now it sits in the store as ID 11's file.
    target = store.path / store.entry(11).cert_file
    target.write_bytes(_pem(BAD_CERTS[name]()))
    path = str(store.path)

    assert main(["certs", "list", "--store", path]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    row = next(line for line in out.splitlines() if line.startswith("11 "))
    assert "DAMAGED" in row
    assert "ID 11: the certificate is damaged:" in out and "ouc certs delete 11" in out
    assert "PLC_1" in out  # the other rows are all there
    assert main(["certs", "list", "--json", "--store", path]) == 0
    assert '"problem"' in capsys.readouterr().out

    line = _check_refused(capsys, ["certs", "show", "11", "--store", path])
    assert "ID 11: the certificate is damaged" in line
    # The client PLC's own certificate is the damaged one: serve for it is one clear line.
    line = _check_refused(
        capsys,
        ["connect", "--store", path, "--device", "PLC_2", "--to", "127.0.0.1:9", "--timeout", "5"],
    )
    assert "ID 11: the certificate is damaged" in line
    # What does not involve ID 11 still works: show, resolve for PLC_1, a new import.
    assert main(["certs", "show", "9", "--store", path]) == 0
    capsys.readouterr()
    assert resolve(CertStore(path), STANDARD_SERVER, device="PLC_1", now=NOW).own_cert
    # Deleting the damaged entry heals the store.
    assert main(["certs", "delete", "11", "--store", path]) == 0
    assert main(["certs", "list", "--store", path]) == 0
    assert "DAMAGED" not in capsys.readouterr().out


def test_the_library_raises_only_cert_errors(store: CertStore, tmp_path: Path) -> None:
    for name, make in BAD_CERTS.items():
        bad = tmp_path / f"{name}.der"
        bad.write_bytes(make())
        with pytest.raises(CertError) as info:
            store.import_file(bad)
        assert isinstance(info.value, OucError) and str(bad) in str(info.value)


def test_a_p12_with_certificates_only_imports_them(
    capsys: pytest.CaptureFixture[str], store: CertStore, tmp_path: Path
) -> None:
    # Without a key every certificate of a PKCS#12 file is an "additional" one; the first is
    # the main certificate (it used to be refused as "holds no certificate").
    leaf = _cert(_raw(ExtensionOID.SUBJECT_ALTERNATIVE_NAME, b"\x30\x06\x87\x04\xc0\xa8\x00\x07"))
    p12 = tmp_path / "certs-only.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"x", None, leaf, [store.certificate(3)], serialization.NoEncryption()
        )
    )
    assert main(["certs", "import", str(p12), "--json", "--store", str(store.path)]) == 0
    assert '"ids": [\n    12\n  ]' in capsys.readouterr().out
    assert CertStore(store.path).certificate(12) == leaf


def test_negative_serial_is_refused_not_warned(
    capsys: pytest.CaptureFixture[str], store: CertStore, tmp_path: Path
) -> None:
    # cryptography warns that it will refuse such certificates; ouc refuses them now, in one
    # line, instead of printing a multi-line warning and storing a time bomb.
    der = _der(_cert())
    serial_at = der.index(b"\xa0\x03\x02\x01\x02") + 5  # the INTEGER after the version
    length = der[serial_at + 1]
    negative = der[: serial_at + 2] + b"\x80" + der[serial_at + 3 :]
    assert len(negative) == len(der) and length > 1
    bad = tmp_path / "negative.der"
    bad.write_bytes(negative)
    line = _check_refused(capsys, ["certs", "import", str(bad), "--store", str(store.path)])
    assert "serial number" in line
    _still_usable(capsys, store)


def test_serve_with_a_damaged_own_certificate(store: CertStore) -> None:
    # The server PLC's own certificate 9 is damaged: 'ouc serve' stops before listening,
    # with one line (a subprocess, bounded, so a regression cannot hang the suite).
    target = store.path / store.entry(9).cert_file
    target.write_bytes(_pem(BAD_CERTS["san"]()))
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).parents[2]))
    done = subprocess.run(
        [sys.executable, "-m", "ouc", "serve", "--store", str(store.path), "--port", "0"],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 2 and done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("ouc: error: ID 9: the certificate is damaged")
    assert "ouc certs delete 9" in lines[0] and "Traceback" not in done.stderr
