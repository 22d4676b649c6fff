"""The certificate manager's file formats, as pure bytes ↔ objects functions (no file I/O).

Formats (domain.md §7): ``.der``/``.cer`` (one certificate, DER; a ``.cer`` in PEM is accepted
too), ``.crt``/``.pem`` (PEM certificates, optionally the chain, optionally the private key in the
same file, optionally encrypted), ``.p12``/``.pfx`` (PKCS#12 with a password), ``.crl``
(revocation list, DER or PEM) and separate key files (``.key``, PEM or DER, PKCS#8).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ouc.certs._checks import (
    check_certificate,
    check_crl,
    check_public_key,
    checked_parse,
    parser_warnings,
)
from ouc.certs._keys import PrivateKey
from ouc.errors import CertError, ConfigError

__all__ = [
    "CERT_SUFFIXES",
    "Bundle",
    "crl_bytes",
    "export_bytes",
    "key_bytes",
    "load_bundle",
    "load_crl",
    "load_key",
]

CERT_SUFFIXES = (".der", ".cer", ".crt", ".pem", ".p12", ".pfx")
_PEM_KEY = re.compile(
    rb"-----BEGIN (?:ENCRYPTED |RSA |EC )?PRIVATE KEY-----.+?-----END (?:ENCRYPTED |RSA |EC )?"
    rb"PRIVATE KEY-----",
    re.DOTALL,
)


@dataclass(frozen=True)
class Bundle:
    """What a certificate file held: certificates (the first is the main one) and maybe a key."""

    certs: tuple[x509.Certificate, ...]
    key: PrivateKey | None = None

    @property
    def cert(self) -> x509.Certificate:
        return self.certs[0]


def _password(password: str | bytes | None) -> bytes | None:
    if password is None or isinstance(password, bytes):
        return password
    return password.encode()


def _checked_key(key: object, where: str) -> PrivateKey:
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise CertError(f"{where}: only RSA and EC keys are supported", path=where)
    check_public_key(checked_parse(key.public_key, where, "the key"), where)
    return key


def load_key(
    data: bytes,
    *,
    password: str | bytes | None = None,
    where: str = "key",
    plain_ok: bool = False,
) -> PrivateKey:
    """Load a PEM or DER private key (PKCS#8 or traditional), decrypting with ``password``.

    Args:
        plain_ok: an unencrypted key is read although a password is given (the password
            belongs to another file, e.g. the .p12 a separate key file comes with).

    Raises:
        ConfigError: encrypted without (or with a wrong) password; a password for a key that
            is not encrypted (unless ``plain_ok``).
        CertError: not a key, neither RSA nor EC, or a curve cryptography does not know.
    """
    with parser_warnings(where):
        try:
            return _load_key(data, password=password, where=where)
        except _NotEncryptedError:
            if plain_ok:
                return _load_key(data, password=None, where=where)
            raise ConfigError(
                f"{where}: this key is not encrypted; leave the password out", path=where
            ) from None


class _NotEncryptedError(Exception):
    """A password was given for a key that is not encrypted."""


def _load_key(data: bytes, *, password: str | bytes | None, where: str) -> PrivateKey:
    secret = _password(password)
    try:
        if b"-----BEGIN" in data:
            key = serialization.load_pem_private_key(data, secret)
        else:
            key = serialization.load_der_private_key(data, secret)
    except TypeError as exc:
        # cryptography's TypeError says either "not encrypted" (a password was given) or
        # "password was not given" (the key is encrypted).
        if secret is not None:
            raise _NotEncryptedError from exc
        raise ConfigError(f"{where}: the key is encrypted; give its password", path=where) from exc
    except ValueError as exc:
        text = "wrong password or not a private key" if secret else "not a private key"
        raise ConfigError(f"{where}: {text}", path=where) from exc
    except Exception as exc:  # e.g. UnsupportedAlgorithm: an unknown curve
        raise CertError(
            f"{where}: the key cannot be used ({str(exc)[:160] or type(exc).__name__})",
            path=where,
        ) from exc
    return _checked_key(key, where)


def load_bundle(
    data: bytes, *, suffix: str, password: str | bytes | None = None, where: str = "file"
) -> Bundle:
    """Parse a certificate file by its suffix (see module docstring); every certificate and the
    key are checked (``_checks``), so what comes back can be listed and used.

    Raises:
        CertError: not a certificate file of that kind, or a part of it does not parse.
        ConfigError: a bad or missing password.
    """
    with parser_warnings(where):
        return _load_bundle(data, suffix=suffix, password=password, where=where)


def _load_bundle(data: bytes, *, suffix: str, password: str | bytes | None, where: str) -> Bundle:
    suffix = suffix.lower()
    if suffix in (".p12", ".pfx"):
        try:
            p12 = pkcs12.load_pkcs12(data, _password(password))
        except ValueError as exc:
            why = (
                "or the password is wrong"
                if password
                else "or it is encrypted: give its password (--password-env VAR)"
            )
            raise ConfigError(f"{where}: not a PKCS#12 file, {why}", path=where) from exc
        except Exception as exc:  # e.g. UnsupportedAlgorithm inside the bag
            raise CertError(
                f"{where}: the PKCS#12 file cannot be read ({str(exc)[:160]})", path=where
            ) from exc
        # Without a key, the certificates are all "additional": the first is the main one.
        extra = tuple(c.certificate for c in p12.additional_certs)
        certs = extra if p12.cert is None else (p12.cert.certificate, *extra)
        if not certs:
            raise CertError(f"{where}: the PKCS#12 file holds no certificate", path=where)
        key = None if p12.key is None else _checked_key(p12.key, where)
        return Bundle(certs=tuple(check_certificate(c, where) for c in certs), key=key)
    if suffix not in CERT_SUFFIXES:
        raise ConfigError(
            f"{where}: unknown certificate format {suffix!r}; use {', '.join(CERT_SUFFIXES)}",
            path=where,
        )
    try:
        if b"-----BEGIN" in data:
            certs = tuple(x509.load_pem_x509_certificates(data))
        else:
            certs = (x509.load_der_x509_certificate(data),)
    except ValueError as exc:
        why = _parse_failure(exc, data, b"-----BEGIN" in data)
        raise CertError(f"{where}: no readable certificate: {why}", path=where) from exc
    except Exception as exc:  # e.g. InvalidVersion: an X.509 version beyond v3
        raise CertError(f"{where}: not a usable certificate ({exc})", path=where) from exc
    certs = tuple(check_certificate(cert, where) for cert in certs)
    match = _PEM_KEY.search(data)
    key = None if match is None else load_key(match.group(0), password=password, where=where)
    return Bundle(certs=certs, key=key)


_PARSE_ERROR = re.compile(r"ParseError \{ kind: (\w+)(?:.*?location: \[([^\]]*)\])?")
_PEM_TYPE = re.compile(rb"-----BEGIN ([A-Z0-9 ]+)-----")


def _parse_failure(exc: ValueError, data: bytes, pem: bool) -> str:
    """Why cryptography could not read a certificate, in words: which field of the DER did not
    parse (its ASN.1 parser reports a Rust debug dump), or which PEM blocks the file holds."""
    text = str(exc)
    if pem and b"-----BEGIN CERTIFICATE-----" not in data:
        return f"the PEM data holds no CERTIFICATE block ({_pem_blocks(data)})"
    what = "a CERTIFICATE block is not" if pem else "not PEM (no -----BEGIN line) and not"
    detail = _asn1_detail(text)
    if detail is None:
        if "Unable to load PEM file" in text:  # cryptography's pointer to its FAQ
            return f"the PEM data is not valid PEM ({text.rsplit('. ', 1)[-1]})"
        return f"{what} a DER X.509 certificate ({text})"
    return f"{what} a DER X.509 certificate ({detail})"


def _pem_blocks(data: bytes) -> str:
    found = sorted({m.decode() for m in _PEM_TYPE.findall(data)}) or ["none readable"]
    return f"PEM blocks: {', '.join(found)}"


def _asn1_detail(text: str) -> str | None:
    """The kind and field of a cryptography ASN.1 ``ParseError`` dump, in words; None when
    ``text`` is not one."""
    match = _PARSE_ERROR.search(text)
    if match is None:
        return None
    kind, location = match.groups()
    if kind == "ShortData":
        return "too short"
    if not location:
        return kind
    fields = [part.strip().strip('"').split("::")[-1] for part in location.split(",")]
    return f"at {'.'.join(fields)}: {kind}"


def _der_kind(data: bytes) -> str | None:
    """What DER bytes that are not a revocation list are instead, when ouc can tell."""
    probes: tuple[tuple[str, Callable[[], object]], ...] = (
        ("an X.509 certificate", lambda: x509.load_der_x509_certificate(data)),
        ("a certificate signing request", lambda: x509.load_der_x509_csr(data)),
        ("a private key", lambda: serialization.load_der_private_key(data, None)),
        ("a public key", lambda: serialization.load_der_public_key(data)),
    )
    for name, probe in probes:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                probe()
            except TypeError:  # an encrypted private key: a key all the same
                return name if "key" in name else None
            except Exception:  # not this kind either
                continue
        return name
    return None


def _not_a_crl(exc: Exception, data: bytes) -> str:
    """Why bytes are not a revocation list, saying what they are when ouc can tell."""
    if not data.strip():
        return "the input is empty"
    if b"-----BEGIN" in data:
        if b"-----BEGIN X509 CRL-----" not in data:
            return f"the PEM data holds no X509 CRL block ({_pem_blocks(data)})"
        return f"the X509 CRL block does not parse ({_asn1_detail(str(exc)) or exc})"
    kind = _der_kind(data)
    if kind == "an X.509 certificate":
        return f"it is {kind} (import it as .der, or from stdin with --format der)"
    if kind is not None:
        return f"it is {kind}"
    return f"not PEM and not a DER X.509 revocation list ({_asn1_detail(str(exc)) or exc})"


def load_crl(data: bytes, *, where: str = "crl") -> x509.CertificateRevocationList:
    """Parse a DER or PEM revocation list; raises CertError when it is not one (or a part of
    it that ouc reads does not parse)."""
    with parser_warnings(where):
        return _load_crl(data, where)


def _load_crl(data: bytes, where: str) -> x509.CertificateRevocationList:
    try:
        if b"-----BEGIN" in data:
            crl = x509.load_pem_x509_crl(data)
        else:
            crl = x509.load_der_x509_crl(data)
    except ValueError as exc:
        why = _not_a_crl(exc, data)
        raise CertError(f"{where}: not a revocation list: {why}", path=where) from exc
    except Exception as exc:  # e.g. InvalidVersion
        raise CertError(f"{where}: not a usable revocation list ({exc})", path=where) from exc
    return check_crl(crl, where)


def key_bytes(
    key: PrivateKey,
    *,
    password: str | bytes | None = None,
    encoding: serialization.Encoding = serialization.Encoding.PEM,
) -> bytes:
    """PKCS#8 bytes of ``key``, encrypted with ``password`` when one is given."""
    secret = _password(password)
    algorithm: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(secret) if secret else serialization.NoEncryption()
    )
    return key.private_bytes(encoding, serialization.PrivateFormat.PKCS8, algorithm)


def crl_bytes(crl: x509.CertificateRevocationList, *, pem: bool = False) -> bytes:
    """DER (the tool's ``.crl``) or PEM bytes of a revocation list."""
    return crl.public_bytes(serialization.Encoding.PEM if pem else serialization.Encoding.DER)


def export_bytes(
    cert: x509.Certificate,
    *,
    suffix: str,
    key: PrivateKey | None = None,
    password: str | bytes | None = None,
    chain: Sequence[x509.Certificate] = (),
    name: str = "ouc",
) -> tuple[bytes, bytes | None]:
    """Encode ``cert`` for a file with ``suffix``; returns (file bytes, separate key bytes or None).

    ``.der``/``.cer`` cannot hold a key, so the key comes back separately (PKCS#8 PEM) and the chain
    is refused; ``.crt``/``.pem`` put chain and key into the one file; ``.p12`` needs a password
    when it holds a key.

    Raises:
        ConfigError: an unknown suffix, a chain for DER, a .p12 key without password.
    """
    suffix = suffix.lower()
    if suffix in (".der", ".cer"):
        if chain:
            raise ConfigError(
                "a .der/.cer file holds one certificate; use .pem or .p12 for a chain"
            )
        separate = None if key is None else key_bytes(key, password=password)
        return cert.public_bytes(serialization.Encoding.DER), separate
    if suffix in (".crt", ".pem"):
        parts = [c.public_bytes(serialization.Encoding.PEM) for c in (cert, *chain)]
        if key is not None:
            parts.append(key_bytes(key, password=password))
        return b"".join(parts), None
    if suffix in (".p12", ".pfx"):
        secret = _password(password)
        if key is not None and not secret:
            raise ConfigError("a .p12 file with a private key needs a password", path="password")
        algorithm: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(secret)
            if secret
            else serialization.NoEncryption()
        )
        data = pkcs12.serialize_key_and_certificates(
            name.encode(), key, cert, list(chain) or None, algorithm
        )
        return data, None
    raise ConfigError(
        f"unknown certificate format {suffix!r}; use {', '.join(CERT_SUFFIXES)} or .crl"
    )
