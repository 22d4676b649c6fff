"""Per-run certificates for the benchmarks, made with ``ouc.certs`` and written as PEM files.

Every stack in the suite (pyOpenSSL, ``ssl``, the ``openssl`` CLI, later the ouc endpoints) loads
the same files, so all rows of a configuration authenticate with identical keys and chains. One CA
per key type issues a server and a client certificate with an IP SAN for 127.0.0.1, the way the
engineering tool issues device certificates (domain.md §7). The CA has the same key type as its
leaves so an "RSA-2048" row pays for RSA verification throughout, and "EC-P256" for ECDSA.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.certs import Template, create_certificate, generate_key
from ouc.errors import ConfigError

__all__ = ["KEY_TYPES", "CertFiles", "make_cert_files"]

#: Key types of the server (and client) certificates the suite measures.
KEY_TYPES: tuple[str, ...] = ("EC-P256", "RSA-2048")


@dataclass(frozen=True)
class CertFiles:
    """Paths of one key type's PEM files (picklable, so server processes get them too)."""

    key_type: str
    ca: str
    server_cert: str
    server_key: str
    client_cert: str
    client_key: str


def _write(path: Path, data: bytes) -> str:
    path.write_bytes(data)
    path.chmod(0o600)
    return str(path)


def make_cert_files(directory: Path, key_type: str, *, now: dt.datetime | None = None) -> CertFiles:
    """Create a CA, a server and a client certificate of ``key_type`` under ``directory``.

    Args:
        directory: where the PEM files go (the run's private temporary directory).
        key_type: "EC-P256" or "RSA-2048" (any type ``ouc.certs.generate_key`` knows works).
        now: the clock; validity runs from a day before to 30 days after.

    Raises:
        ConfigError: an unknown key type (from ``generate_key``).
    """
    if not directory.is_dir():
        raise ConfigError(f"certificate directory {directory} does not exist")
    moment = now or dt.datetime.now(dt.UTC)
    not_before, not_after = moment - dt.timedelta(days=1), moment + dt.timedelta(days=30)
    ca_key = generate_key(key_type)
    ca = create_certificate(
        common_name=f"ouc-bench CA {key_type}",
        template=Template.CA,
        key=ca_key,
        not_before=not_before,
        not_after=not_after,
    )
    stem = key_type.lower()
    paths: dict[str, str] = {"ca": _write(directory / f"{stem}-ca.pem", _pem_cert(ca))}
    for role in ("server", "client"):
        key = generate_key(key_type)
        cert = create_certificate(
            common_name=f"ouc-bench {role}",
            template=Template.TLS_CLIENT_SERVER,
            key=key,
            issuer_cert=ca,
            issuer_key=ca_key,
            ip_sans=("127.0.0.1",),
            not_before=not_before,
            not_after=not_after,
        )
        paths[f"{role}_cert"] = _write(directory / f"{stem}-{role}.pem", _pem_cert(cert))
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        paths[f"{role}_key"] = _write(directory / f"{stem}-{role}.key", key_pem)
    return CertFiles(key_type=key_type, **paths)


def _pem_cert(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)
