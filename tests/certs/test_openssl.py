"""Every certificate the store issues verifies with the real ``openssl verify`` (Done-when 1).

These run the system ``openssl`` command (3.0) as a subprocess, an independent X.509
implementation from the ``cryptography`` that made the certificates; skipped only when it is not
on PATH.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.certs import CertStore, Template

NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)  # as in conftest.py
OpensslVerify = Callable[..., subprocess.CompletedProcess[str]]


def write_pem(path: Path, cert: x509.Certificate) -> Path:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return path


pytestmark = pytest.mark.openssl

CASES = [
    # template, key type, issuing CA, hash, purposes that must pass, purposes that must fail
    (Template.TLS_CLIENT_SERVER, "EC-P256", 3, "SHA256", ["sslserver", "sslclient"], []),
    (Template.TLS_CLIENT_SERVER, "EC-P384", 2, "SHA384", ["sslserver", "sslclient"], []),
    (Template.WEB_SERVER, "RSA-2048", 2, "SHA256", ["sslserver"], ["sslclient"]),
    (Template.TLS_CLIENT, "EC-P256", 3, "SHA512", ["sslclient"], ["sslserver"]),
    (Template.OPCUA, "EC-P256", 3, "SHA256", ["sslserver", "sslclient"], []),
    (Template.TLS_CLIENT_SERVER, "EC-P256", 1, "SHA1", ["sslserver", "sslclient"], []),
    (Template.CA, "EC-P256", 2, "SHA256", [None], []),
]


@pytest.mark.parametrize(("template", "key_type", "issuer", "hash_name", "ok", "bad"), CASES)
def test_store_issued_certificates_verify_with_openssl(
    example: CertStore,
    openssl_verify: OpensslVerify,
    template: Template,
    key_type: str,
    issuer: int,
    hash_name: str,
    ok: list[str | None],
    bad: list[str],
) -> None:
    cert_id = example.create(
        common_name="ossl",
        template=template,
        now=NOW,
        key_type=key_type,
        issuer_id=issuer,
        hash_name=hash_name,
        ip_sans=["10.0.0.1"],
        uri_sans=["urn:ouc:test"],
    )
    cert, ca = example.certificate(cert_id), example.certificate(issuer)
    for purpose in ok:
        result = openssl_verify(cert, ca, purpose=purpose)
        assert result.returncode == 0 and ": OK" in result.stdout, result.stderr
    for purpose in bad:
        result = openssl_verify(cert, ca, purpose=purpose)
        assert result.returncode != 0 and "unsuitable certificate purpose" in result.stderr


def test_default_and_example_cas_and_leaves_verify(
    example: CertStore, openssl_verify: OpensslVerify
) -> None:
    for ca_id in (1, 2, 3):
        ca = example.certificate(ca_id)
        assert openssl_verify(ca, ca).returncode == 0
    assert (
        openssl_verify(
            example.certificate(9), example.certificate(3), purpose="sslserver"
        ).returncode
        == 0
    )
    assert (
        openssl_verify(
            example.certificate(11), example.certificate(3), purpose="sslclient"
        ).returncode
        == 0
    )


def test_renewed_certificate_verifies_and_old_validity_is_gone(
    example: CertStore, openssl_verify: OpensslVerify
) -> None:
    renewed = example.renew(9, now=NOW.replace(year=2027), days=365)
    ca = example.certificate(3)
    assert openssl_verify(renewed, ca, at=NOW.replace(year=2027, month=6)).returncode == 0
    result = openssl_verify(renewed, ca, at=NOW)  # before the new validity starts
    assert result.returncode != 0 and "not yet valid" in result.stderr


def _openssl() -> str:
    path = shutil.which("openssl")
    assert path is not None
    return path


def test_revocation_list_is_honoured_by_openssl(
    example: CertStore, openssl_verify: OpensslVerify, tmp_path: Path
) -> None:
    example.revoke(11, now=NOW)
    crl_file = example.export_crl(3, tmp_path / "ca3.crl")
    pem_crl = tmp_path / "ca3-crl.pem"
    subprocess.run(
        [_openssl(), "crl", "-inform", "DER", "-in", str(crl_file), "-out", str(pem_crl)],
        check=True,
        timeout=30,
        capture_output=True,
    )
    ca = write_pem(tmp_path / "ca3.pem", example.certificate(3))
    leaf = write_pem(tmp_path / "c11.pem", example.certificate(11))
    cmd = [_openssl(), "verify", "-attime", str(int(NOW.timestamp()) + 60), "-crl_check"]
    result = subprocess.run(
        [*cmd, "-CAfile", str(ca), "-CRLfile", str(pem_crl), str(leaf)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode != 0 and "certificate revoked" in result.stderr


def test_exported_p12_opens_with_openssl(example: CertStore, tmp_path: Path) -> None:
    example.export(9, tmp_path / "plc1.p12", with_key=True, password="pw", chain=True)
    result = subprocess.run(
        [_openssl(), "pkcs12", "-in", str(tmp_path / "plc1.p12"), "-passin", "pass:pw", "-nodes"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("BEGIN CERTIFICATE") == 2
    assert "PRIVATE KEY" in result.stdout
