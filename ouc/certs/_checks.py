"""Validation of certificates, keys and revocation lists as they come in from outside.

cryptography parses X.509 lazily: ``load_der_x509_certificate`` checks the outer structure, and
an extension, a name or the public key is decoded only when asked for. A file whose
subjectAltName bytes do not parse therefore loads fine and raises ``ValueError`` later, in
``ouc certs list`` or in the middle of a handshake set-up. So every object that enters the store
(import, replace, a store file read back) first goes through one of these functions: each reads
everything later code reads, and turns whatever the parser raises into one
:class:`~ouc.errors.CertError` that names the file and the part that is wrong.

What later code reads, and so what is checked: the version; serial number; issuer and subject
(their common names and RFC 4514 text); the validity; the signature algorithm and its hash; the
public key (RSA, or EC on a named curve); the extensions, and the values of subjectAltName,
KeyUsage, ExtendedKeyUsage and BasicConstraints; the fingerprint. For a CRL also each revoked
entry's serial and date.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from ouc.errors import CertError, Status

__all__ = [
    "check_certificate",
    "check_crl",
    "check_public_key",
    "checked_parse",
    "parser_warnings",
]

_T = TypeVar("_T")


@contextmanager
def parser_warnings(where: str) -> Iterator[None]:
    """Keep cryptography's parser warnings off the user's screen, and act on them.

    A ``CryptographyDeprecationWarning`` while parsing says the input breaks a rule that a
    coming release of cryptography will enforce (a serial number that is not positive, for
    one): the input is refused now, as a CertError, rather than working until an upgrade.
    Other parser warnings (a country name of the wrong length, a PKCS#12 file in BER) concern
    inputs that still work and are dropped.

    Raises:
        CertError: a deprecation warning was issued inside the block.
    """
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        yield
    for warning in seen:
        if issubclass(warning.category, CryptographyDeprecationWarning):
            reason = str(warning.message).split(". ", 1)[0]
            raise CertError(
                f"{where}: refused: {reason}", status=Status.TLS_CERT_INVALID, path=where
            )


def checked_parse(parse: Callable[[], _T], where: str, what: str) -> _T:
    """Run ``parse`` and translate any parser error into a CertError for ``where``.

    cryptography raises ValueError for most bad bytes, but also TypeError,
    ``UnsupportedAlgorithm``, ``InvalidVersion`` and others depending on the field, so the
    catch is broad on purpose: this wraps calls on bytes from outside, nothing else.
    """
    try:
        return parse()
    except CertError:
        raise
    except Exception as exc:  # every parser error of untrusted bytes
        reason = _reason(exc)
        raise CertError(
            f"{where}: {what} cannot be read ({reason})",
            status=Status.TLS_CERT_INVALID,
            path=where,
        ) from exc


def _reason(exc: Exception) -> str:
    """A short reason: cryptography's ASN.1 errors name the kind and the field deep inside a
    debug dump (``ParseError { kind: UnexpectedTag {...}, location: ["..."] }``)."""
    text = str(exc)
    kind = re.search(r"kind: (\w+)", text)
    if kind:
        where = re.search(r'location: \["([^"]+)"', text)
        return f"ASN.1 {kind.group(1)}" + (f" in {where.group(1)}" if where else "")
    return text.split("\n", 1)[0][:160] or type(exc).__name__


def check_public_key(key: object, where: str) -> None:
    """Refuse a public key that is neither RSA nor EC on a named curve cryptography knows."""
    if isinstance(key, rsa.RSAPublicKey):
        checked_parse(lambda: (key.key_size, key.public_numbers()), where, "the RSA key")
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        checked_parse(lambda: (key.curve.name, key.key_size), where, "the EC key")
        return
    raise CertError(
        f"{where}: only RSA and EC keys are supported, not {type(key).__name__.lstrip('_')}",
        status=Status.TLS_CERT_INVALID,
        path=where,
    )


def _name_text(name: x509.Name) -> None:
    name.rfc4514_string()
    for attr in name.get_attributes_for_oid(NameOID.COMMON_NAME):
        str(attr.value)


def _extensions(cert_or_crl: x509.Certificate | x509.CertificateRevocationList) -> None:
    for ext in cert_or_crl.extensions:
        value = ext.value
        if isinstance(value, x509.SubjectAlternativeName):
            for general in value:
                str(general.value)
        elif isinstance(value, x509.KeyUsage):
            # encipher_only/decipher_only raise unless key_agreement is set: read what listing does.
            for field in ("digital_signature", "key_cert_sign", "crl_sign", "key_agreement"):
                getattr(value, field)
        elif isinstance(value, x509.ExtendedKeyUsage):
            list(value)
        elif isinstance(value, x509.BasicConstraints) and (value.path_length or 0) < 0:
            raise ValueError("negative path length")


def check_certificate(cert: x509.Certificate, where: str) -> x509.Certificate:
    """Read every part of ``cert`` that ouc uses; CertError (16#80E2) naming the first bad one.

    Returns the certificate, so a loader can ``return check_certificate(load(...), where)``.
    """
    checked_parse(lambda: cert.version, where, "the certificate's version")
    checked_parse(lambda: cert.serial_number, where, "the serial number")
    checked_parse(lambda: _name_text(cert.subject), where, "the subject name")
    checked_parse(lambda: _name_text(cert.issuer), where, "the issuer name")
    checked_parse(
        lambda: (cert.not_valid_before_utc, cert.not_valid_after_utc), where, "the validity"
    )
    checked_parse(
        lambda: (cert.signature_algorithm_oid, cert.signature_hash_algorithm),
        where,
        "the signature algorithm",
    )
    key = checked_parse(cert.public_key, where, "the public key")
    check_public_key(key, where)
    checked_parse(lambda: _extensions(cert), where, "an extension")
    checked_parse(lambda: cert.fingerprint(hashes.SHA256()), where, "the certificate")
    return cert


def check_crl(crl: x509.CertificateRevocationList, where: str) -> x509.CertificateRevocationList:
    """Read every part of ``crl`` that ouc uses; CertError naming the first bad one."""
    checked_parse(lambda: _name_text(crl.issuer), where, "the issuer name")
    checked_parse(lambda: (crl.last_update_utc, crl.next_update_utc), where, "the update times")
    checked_parse(
        lambda: (crl.signature_algorithm_oid, crl.signature_hash_algorithm),
        where,
        "the signature algorithm",
    )
    checked_parse(lambda: _extensions(crl), where, "an extension")

    def entries() -> None:
        for revoked in crl:
            _ = revoked.serial_number, revoked.revocation_date_utc
            _ = [ext.value for ext in revoked.extensions]

    checked_parse(entries, where, "a revoked entry")
    return crl
