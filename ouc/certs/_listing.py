"""The certificate manager's listing columns and detail view, as typed rows (domain.md §7).

Columns: ID, common name, serial number, issuer, valid to, used as, private key (yes/no),
signature algorithm, key length. ``as_json`` gives the ``--json`` form of the CLI.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, SignatureAlgorithmOID

from ouc._notation import iso_time
from ouc.certs._create import Template, is_ca
from ouc.certs._keys import describe_key

if TYPE_CHECKING:
    from ouc.certs._storebase import StoreBase

__all__ = [
    "CertDetails",
    "CertRow",
    "cert_details",
    "cert_row",
    "damaged_row",
    "signature_name",
]

# The names the engineering tool (and Windows) show for signature algorithms.
_SIG_NAMES = {
    SignatureAlgorithmOID.RSA_WITH_SHA1: "sha1RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA256: "sha256RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA384: "sha384RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA512: "sha512RSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA1: "sha1ECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA256: "sha256ECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA384: "sha384ECDSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA512: "sha512ECDSA",
    SignatureAlgorithmOID.RSA_WITH_MD5: "md5RSA",
    SignatureAlgorithmOID.RSA_WITH_SHA224: "sha224RSA",
    SignatureAlgorithmOID.ECDSA_WITH_SHA224: "sha224ECDSA",
    SignatureAlgorithmOID.RSASSA_PSS: "RSASSA-PSS",
    SignatureAlgorithmOID.DSA_WITH_SHA1: "sha1DSA",
    SignatureAlgorithmOID.DSA_WITH_SHA256: "sha256DSA",
    SignatureAlgorithmOID.ED25519: "Ed25519",
    SignatureAlgorithmOID.ED448: "Ed448",
}

_KU_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def signature_name(cert: x509.Certificate) -> str:
    """ "sha256ECDSA", "sha1RSA", ... or the dotted OID for anything else."""
    oid = cert.signature_algorithm_oid
    return _SIG_NAMES.get(oid, oid.dotted_string)


def _cn(name: x509.Name) -> str:
    attrs = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attrs[0].value) if attrs else name.rfc4514_string()


def _ext(cert: x509.Certificate, cls: type[x509.ExtensionType]) -> Any:
    try:
        return cert.extensions.get_extension_for_class(cls).value
    except (x509.ExtensionNotFound, ValueError):
        return None


def used_as(cert: x509.Certificate) -> str:
    """A template label derived from the extensions (for imported certificates)."""
    if is_ca(cert):
        return Template.CA.value
    eku = _ext(cert, x509.ExtendedKeyUsage)
    server = eku is None or ExtendedKeyUsageOID.SERVER_AUTH in eku
    client = eku is None or ExtendedKeyUsageOID.CLIENT_AUTH in eku
    if server and client:
        return Template.TLS_CLIENT_SERVER.value
    if server:
        return Template.WEB_SERVER.value
    return Template.TLS_CLIENT.value if client else "other"


@dataclass(frozen=True)
class CertRow:
    """One line of ``ouc certs list``.

    A damaged entry (a store file that no longer reads) is a row too: ``problem`` says what is
    wrong, ``valid_to``, ``key_length`` and ``revoked`` are None (unknown, not 0 or false:
    they come from the certificate that does not read) and the other columns are empty.
    """

    id: int
    common_name: str
    serial: str
    issuer: str
    valid_to: dt.datetime | None
    used_as: str
    private_key: bool
    signature_algorithm: str
    key_length: int | None
    key_type: str
    legacy: bool
    revoked: bool | None
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        doc = {
            "id": self.id,
            "common_name": self.common_name,
            "serial": self.serial,
            "issuer": self.issuer,
            "valid_to": None if self.valid_to is None else iso_time(self.valid_to),
            "used_as": self.used_as,
            "private_key": self.private_key,
            "signature_algorithm": self.signature_algorithm,
            "key_length": self.key_length,
            "key_type": self.key_type,
            "legacy": self.legacy,
            "revoked": self.revoked,
        }
        if self.problem is not None:
            doc["problem"] = self.problem
        return doc


@dataclass(frozen=True)
class CertDetails:
    """Everything ``ouc certs show`` prints about one certificate."""

    row: CertRow
    subject: str
    issuer_dn: str
    issuer_id: int | None
    valid_from: dt.datetime
    sans: tuple[str, ...]
    key_usage: tuple[str, ...]
    extended_key_usage: tuple[str, ...]
    is_ca: bool
    fingerprint_sha256: str
    devices: tuple[str, ...]
    template: str | None
    key_encrypted: bool
    pem: str

    def as_json(self) -> dict[str, Any]:
        doc = self.row.as_json()
        doc.update(
            subject=self.subject,
            issuer_dn=self.issuer_dn,
            issuer_id=self.issuer_id,
            valid_from=iso_time(self.valid_from),
            sans=list(self.sans),
            key_usage=list(self.key_usage),
            extended_key_usage=list(self.extended_key_usage),
            is_ca=self.is_ca,
            fingerprint_sha256=self.fingerprint_sha256,
            devices=list(self.devices),
            template=self.template,
            key_encrypted=self.key_encrypted,
            pem=self.pem,
        )
        return doc


def cert_row(store: StoreBase, cert_id: int) -> CertRow:
    """The listing row of ``cert_id``."""
    cert = store.certificate(cert_id)
    entry = store.entry(cert_id)
    public = cert.public_key()
    bits = (
        public.key_size
        if isinstance(public, rsa.RSAPublicKey | ec.EllipticCurvePublicKey)
        else None
    )
    return CertRow(
        id=cert_id,
        common_name=_cn(cert.subject),
        serial=f"{cert.serial_number:X}",
        issuer=_cn(cert.issuer),
        valid_to=cert.not_valid_after_utc,
        used_as=entry.template or used_as(cert),
        private_key=entry.key_file is not None,
        signature_algorithm=signature_name(cert),
        key_length=bits,
        key_type=describe_key(public),
        legacy=entry.legacy,
        revoked=store.is_revoked(cert_id),
    )


def damaged_row(store: StoreBase, cert_id: int, problem: str) -> CertRow:
    """The listing row of an entry whose certificate does not read: what the index knows."""
    entry = store.entry(cert_id)
    return CertRow(
        id=cert_id,
        common_name="",
        serial="",
        issuer="" if entry.issuer_id is None else f"ID {entry.issuer_id}",
        valid_to=None,
        used_as="DAMAGED",
        private_key=entry.key_file is not None,
        signature_algorithm="",
        key_length=None,
        key_type="",
        legacy=entry.legacy,
        revoked=None,
        problem=problem,
    )


def _san_text(name: x509.GeneralName) -> str:
    kind = {
        x509.IPAddress: "IP",
        x509.DNSName: "DNS",
        x509.UniformResourceIdentifier: "URI",
    }.get(type(name), type(name).__name__)
    return f"{kind}:{name.value}"


def cert_details(store: StoreBase, cert_id: int) -> CertDetails:
    """The detail view of ``cert_id``."""
    cert = store.certificate(cert_id)
    entry = store.entry(cert_id)
    san = _ext(cert, x509.SubjectAlternativeName)
    ku = _ext(cert, x509.KeyUsage)
    eku = _ext(cert, x509.ExtendedKeyUsage)
    usages: tuple[str, ...] = ()
    if ku is not None:
        usages = tuple(f for f in _KU_FIELDS if getattr(ku, f))
    purposes = tuple(getattr(oid, "_name", oid.dotted_string) for oid in eku) if eku else ()
    return CertDetails(
        row=cert_row(store, cert_id),
        subject=cert.subject.rfc4514_string(),
        issuer_dn=cert.issuer.rfc4514_string(),
        issuer_id=entry.issuer_id,
        valid_from=cert.not_valid_before_utc,
        sans=tuple(_san_text(n) for n in san) if san else (),
        key_usage=usages,
        extended_key_usage=purposes,
        is_ca=is_ca(cert),
        fingerprint_sha256=cert.fingerprint(hashes.SHA256()).hex(":").upper(),
        devices=tuple(sorted(n for n, ids in store.devices().items() if cert_id in ids)),
        template=entry.template,
        key_encrypted=entry.key_encrypted,
        pem=cert.public_bytes(serialization.Encoding.PEM).decode(),
    )
