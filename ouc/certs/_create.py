"""Purpose templates and certificate creation, the way the engineering tool's manager does it.

A certificate is created from a purpose template that fixes KeyUsage, ExtendedKeyUsage and
BasicConstraints (domain.md §7); it is self-signed or issued by a CA whose key is at hand. Server
templates require an IP subjectAltName, because the PLC's peers check the address they connected
to (domain.md §3, ExtTLSCapabilities bit 0). Pure functions, no I/O, time passed in (layer 1).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Sequence
from enum import Enum

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ouc.certs._keys import PrivateKey, PublicKey, check_key_supported, hash_algorithm
from ouc.certs._sha1 import resign_sha1
from ouc.errors import CertError, ConfigError, Status

__all__ = [
    "Template",
    "as_utc",
    "create_certificate",
    "is_ca",
    "reissue",
    "sign_builder",
    "valid_until",
]

_SERVER = ExtendedKeyUsageOID.SERVER_AUTH
_CLIENT = ExtendedKeyUsageOID.CLIENT_AUTH


class Template(Enum):
    """Purpose templates of the certificate manager; the value is the label the tool shows.

    ``requires_ip_san`` is how a template says "TLS server": every template whose certificate a
    TLS client validates by address (serverAuth for Secure OUC or HTTPS) needs an IP SAN. OPC UA
    identifies applications by URI instead, so OPCUA requires a URI SAN and no IP.
    """

    TLS_CLIENT_SERVER = "TLS Client/Server"
    TLS_CLIENT = "TLS Client"
    WEB_SERVER = "Web server"
    OPCUA = "OPC UA client/server"
    CA = "CA"

    @classmethod
    def from_text(cls, text: str) -> Template:
        """Parse a CLI spelling: member name, label, or a short alias (tls, web, opcua, ca)."""
        norm = text.strip().lower().replace("_", "-").replace(" ", "-")
        for member in cls:
            if norm in (
                member.name.lower().replace("_", "-"),
                member.value.lower().replace(" ", "-"),
            ):
                return member
        alias = _ALIASES.get(norm)
        if alias is None:
            choices = ", ".join(sorted(_ALIASES))
            raise ConfigError(f"unknown template {text!r}; use one of {choices}", path="template")
        return alias

    @property
    def is_ca(self) -> bool:
        return self is Template.CA

    @property
    def extended_key_usage(self) -> tuple[x509.ObjectIdentifier, ...]:
        """ExtendedKeyUsage purposes; empty for the CA template (no EKU extension)."""
        return _EKU[self]

    @property
    def requires_ip_san(self) -> bool:
        return _SERVER in self.extended_key_usage and self is not Template.OPCUA

    @property
    def requires_uri_san(self) -> bool:
        return self is Template.OPCUA

    def key_usage(self, key: PrivateKey) -> x509.KeyUsage:
        """KeyUsage for this template and key type (RSA encipherment vs EC key agreement)."""
        is_rsa = isinstance(key, rsa.RSAPrivateKey)
        if self is Template.CA:
            return _ku(digital_signature=True, key_cert_sign=True, crl_sign=True)
        if self is Template.OPCUA:
            return _ku(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=is_rsa,
                data_encipherment=is_rsa,
                key_agreement=not is_rsa,
            )
        return _ku(digital_signature=True, key_encipherment=is_rsa, key_agreement=not is_rsa)


_EKU: dict[Template, tuple[x509.ObjectIdentifier, ...]] = {
    Template.TLS_CLIENT_SERVER: (_SERVER, _CLIENT),
    Template.TLS_CLIENT: (_CLIENT,),
    Template.WEB_SERVER: (_SERVER,),
    Template.OPCUA: (_SERVER, _CLIENT),
    Template.CA: (),
}

_ALIASES: dict[str, Template] = {
    "tls": Template.TLS_CLIENT_SERVER,
    "tls-client": Template.TLS_CLIENT,
    "web": Template.WEB_SERVER,
    "opcua": Template.OPCUA,
    "ca": Template.CA,
}


def _ku(
    *,
    digital_signature: bool = False,
    content_commitment: bool = False,
    key_encipherment: bool = False,
    data_encipherment: bool = False,
    key_agreement: bool = False,
    key_cert_sign: bool = False,
    crl_sign: bool = False,
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=content_commitment,
        key_encipherment=key_encipherment,
        data_encipherment=data_encipherment,
        key_agreement=key_agreement,
        key_cert_sign=key_cert_sign,
        crl_sign=crl_sign,
        encipher_only=False,
        decipher_only=False,
    )


def as_utc(moment: dt.datetime) -> dt.datetime:
    """``moment`` as an aware UTC datetime; a naive datetime is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC)


#: X.509 times end here (GeneralizedTime has four year digits).
_LAST_MOMENT = dt.datetime(9999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def valid_until(start: dt.datetime, span: dt.timedelta | int) -> dt.datetime:
    """``start`` plus a validity (a timedelta or days), refused when it is not positive or ends
    after 9999-12-31, the last moment a certificate can express.

    Raises:
        CertError: with ``path="days"``.
    """
    begin = as_utc(start)
    try:
        length = span if isinstance(span, dt.timedelta) else dt.timedelta(days=span)
        end: dt.datetime | None = begin + length
    except OverflowError:
        end = None
    if end is None or not begin < end <= _LAST_MOMENT:
        days = span.days if isinstance(span, dt.timedelta) else span
        raise CertError(
            f"a validity of {days} days from {begin:%Y-%m-%d} is not positive or ends after "
            "9999-12-31",
            path="days",
        )
    return end


def is_ca(cert: x509.Certificate) -> bool:
    """True when ``cert`` has BasicConstraints CA:TRUE."""
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _sans(
    ip_sans: Sequence[str], dns_sans: Sequence[str], uri_sans: Sequence[str]
) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for text in ip_sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(text.strip())))
        except ValueError as exc:
            raise CertError(f"{text!r} is not an IP address", path="ip_sans") from exc
    for text in dns_sans:
        name = text.strip().rstrip(".")
        problem = _dns_problem(name)
        if problem is not None:
            raise CertError(f"{text!r} is not a DNS name: {problem}", path="dns_sans")
        names.append(x509.DNSName(name))
    for text in uri_sans:
        if ":" not in text:
            raise CertError(f"{text!r} is not a URI (scheme:...)", path="uri_sans")
        names.append(x509.UniformResourceIdentifier(text.strip()))
    return names


_DNS_LABEL = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?")


def _dns_problem(name: str) -> str | None:
    """Why ``name`` is not a host name for a dNSName SAN (RFC 1123 labels: letters, digits and
    inner hyphens, 1..63 characters, 253 in all; RFC 6125 allows a leftmost ``*``); None when
    it is one. Peers match such a SAN against the name they connected to, and no name they
    can connect to holds a space or a ``!``."""
    if not name:
        return "it is empty"
    if len(name) > 253:
        return "longer than 253 characters"
    labels = name.split(".")
    for position, label in enumerate(labels):
        if position == 0 and label == "*" and len(labels) > 1:
            continue
        if not label:
            return "an empty label (two dots in a row)"
        if not _DNS_LABEL.fullmatch(label):
            return (
                f"the label {label!r} may hold only letters, digits and inner hyphens "
                "(1..63 characters)"
            )
    return None


def create_certificate(
    *,
    common_name: str,
    template: Template,
    key: PrivateKey,
    issuer_cert: x509.Certificate | None = None,
    issuer_key: PrivateKey | None = None,
    not_before: dt.datetime,
    not_after: dt.datetime,
    ip_sans: Sequence[str] = (),
    dns_sans: Sequence[str] = (),
    uri_sans: Sequence[str] = (),
    hash_name: str = "SHA256",
    serial: int | None = None,
) -> x509.Certificate:
    """Create a certificate from a purpose template; self-signed when no issuer is given.

    Args:
        common_name: subject CN (1..64 characters).
        template: sets KeyUsage/ExtendedKeyUsage/BasicConstraints and the SAN requirements.
        key: the subject's private key (its public half goes into the certificate).
        issuer_cert / issuer_key: the issuing CA and its key; both or neither.
        not_before / not_after: validity (naive datetimes are UTC).
        ip_sans / dns_sans / uri_sans: subjectAltName entries.
        hash_name: "SHA256" (default), "SHA384", "SHA512" or "SHA1" (legacy).
        serial: serial number; a random 159-bit one when None.

    Raises:
        CertError: a server template without IP SAN, an OPC UA one without URI SAN, an issuer that
            is not a CA or whose key does not match, an empty validity (status 16#80E2).
        ConfigError: an unknown hash name.
    """
    cn = common_name.strip()
    if not 1 <= len(cn) <= 64:
        raise CertError("common name must have 1..64 characters", path="common_name")
    if (issuer_cert is None) != (issuer_key is None):
        raise CertError("give both issuer_cert and issuer_key, or neither", path="issuer")
    check_key_supported(key, None)
    start, end = as_utc(not_before), as_utc(not_after)
    if end <= start:
        raise CertError("not_after must be later than not_before", path="not_after")
    if template.requires_ip_san and not ip_sans:
        raise CertError(
            f"a {template.value} certificate is a TLS server certificate and needs an IP SAN",
            status=Status.TLS_CERT_INVALID,
            path="ip_sans",
        )
    if template.requires_uri_san and not uri_sans:
        raise CertError(
            "an OPC UA certificate needs a URI SAN (the application URI)",
            status=Status.TLS_CERT_INVALID,
            path="uri_sans",
        )
    digest = hash_algorithm(hash_name)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    public = key.public_key()
    if issuer_cert is not None and issuer_key is not None:
        if not is_ca(issuer_cert):
            raise CertError("the issuer is not a CA certificate", path="issuer")
        if issuer_cert.public_key() != issuer_key.public_key():
            raise CertError(
                "the issuer key does not belong to the issuer certificate", path="issuer"
            )
        issuer_name, signer = issuer_cert.subject, issuer_key
        aki = _aki_from(issuer_cert)
    else:
        issuer_name, signer = subject, key
        aki = x509.AuthorityKeyIdentifier.from_issuer_public_key(public)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public)
        .serial_number(serial if serial is not None else x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=template.is_ca, path_length=None), critical=True)
        .add_extension(template.key_usage(key), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(aki, critical=False)
    )
    if template.extended_key_usage:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage(list(template.extended_key_usage)), critical=False
        )
    sans = _sans(ip_sans, dns_sans, uri_sans)
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return sign_builder(builder, signer, digest)


def sign_builder(
    builder: x509.CertificateBuilder, signer: PrivateKey, digest: hashes.HashAlgorithm
) -> x509.Certificate:
    """Sign ``builder`` with ``signer``; SHA-1 (refused by cryptography) goes through a re-sign."""
    if isinstance(digest, hashes.SHA1):
        # Sign with SHA-256 first, then swap in a SHA-1 signature over the rewritten TBS.
        return resign_sha1(builder.sign(signer, hashes.SHA256()), signer)
    return builder.sign(signer, digest)  # type: ignore[arg-type]


def _aki_from(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def reissue(
    old: x509.Certificate,
    *,
    signer: PrivateKey,
    issuer_name: x509.Name,
    public_key: PublicKey,
    not_before: dt.datetime,
    not_after: dt.datetime,
    digest: hashes.HashAlgorithm | None = None,
    replace: Sequence[x509.ExtensionType] = (),
    critical: bool = False,
) -> x509.Certificate:
    """A copy of ``old`` with new validity, serial, key and signer (renew, bad-cert factory).

    Extensions are copied; the key identifiers follow the new key; ``replace`` swaps the
    extensions of those types (added with ``critical`` when ``old`` lacks them).
    """
    swaps = {type(ext): ext for ext in replace}
    self_signed = old.issuer == old.subject
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(as_utc(not_before))
        .not_valid_after(as_utc(not_after))
    )
    for ext in old.extensions:
        value = swaps.pop(type(ext.value), ext.value)
        if isinstance(value, x509.SubjectKeyIdentifier):
            value = x509.SubjectKeyIdentifier.from_public_key(public_key)
        elif isinstance(value, x509.AuthorityKeyIdentifier) and self_signed:
            value = x509.AuthorityKeyIdentifier.from_issuer_public_key(public_key)
        builder = builder.add_extension(value, critical=ext.critical)
    for value in swaps.values():
        builder = builder.add_extension(value, critical=critical)
    return sign_builder(builder, signer, digest or old.signature_hash_algorithm or hashes.SHA256())
