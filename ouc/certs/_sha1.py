"""SHA-1 signatures for the legacy default CA and the bad-certificate factory.

``cryptography`` refuses to sign X.509 objects with SHA-1, yet the engineering tool's default CA
ID 1 is SHA-1 signed (domain.md §7) and users need SHA-1 certificates to test their peers. We let
``cryptography`` build and sign the certificate with SHA-256, swap the signature AlgorithmIdentifier
inside the TBS for the SHA-1 one, re-sign the new TBS with SHA-1 and reassemble the DER. Only the
few DER primitives that needs live here.
"""

from __future__ import annotations

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from ouc.certs._keys import PrivateKey
from ouc.errors import CertError, Status

__all__ = ["resign_sha1"]

# AlgorithmIdentifier DER: sha1WithRSAEncryption (with NULL parameters) and ecdsa-with-SHA1.
_SHA1_RSA = bytes.fromhex("300d06092a864886f70d0101050500")
_SHA1_ECDSA = bytes.fromhex("300906072a8648ce3d0401")


def _encode_length(length: int) -> bytes:
    if length < 0x80:
        return bytes([length])
    raw = length.to_bytes((length.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes([tag]) + _encode_length(len(content)) + content


def _elements(der: bytes) -> list[bytes]:
    """Split the content of one DER SEQUENCE into its encoded elements."""
    if not der or der[0] != 0x30:
        raise ValueError("not a DER SEQUENCE")
    pos, end = _header(der, 0)
    if end != len(der):
        raise ValueError("trailing bytes after SEQUENCE")
    out: list[bytes] = []
    while pos < end:
        start = pos
        _content, stop = _header(der, pos)
        out.append(der[start:stop])
        pos = stop
    return out


def _header(der: bytes, pos: int) -> tuple[int, int]:
    """Return (content start, element end) of the element starting at ``pos``."""
    first = der[pos + 1]
    if first < 0x80:
        return pos + 2, pos + 2 + first
    count = first & 0x7F
    length = int.from_bytes(der[pos + 2 : pos + 2 + count], "big")
    start = pos + 2 + count
    return start, start + length


def resign_sha1(cert: x509.Certificate, issuer_key: PrivateKey) -> x509.Certificate:
    """Return ``cert`` with the same content, signed by ``issuer_key`` with SHA-1.

    Raises:
        CertError: the key is neither RSA nor EC (16#80E2).
    """
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        alg = _SHA1_RSA
    elif isinstance(issuer_key, ec.EllipticCurvePrivateKey):
        alg = _SHA1_ECDSA
    else:  # pragma: no cover - PrivateKey is RSA | EC
        raise CertError("SHA-1 signing needs an RSA or EC key", status=Status.TLS_CERT_INVALID)
    fields = _elements(cert.tbs_certificate_bytes)
    # TBSCertificate: [0] version (explicit tag A0, present for v3), serial, signature AlgId, ...
    index = 2 if fields[0][0] == 0xA0 else 1
    fields[index] = alg
    tbs = _tlv(0x30, b"".join(fields))
    if isinstance(issuer_key, rsa.RSAPrivateKey):
        signature = issuer_key.sign(tbs, padding.PKCS1v15(), hashes.SHA1())
    else:
        signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA1()))
    der = _tlv(0x30, tbs + alg + _tlv(0x03, b"\x00" + signature))
    return x509.load_der_x509_certificate(der)
