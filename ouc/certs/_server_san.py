"""The IP SAN rule of ``ouc certs replace``: a TLS server certificate from a file needs an IP
SAN, as :meth:`~ouc.certs.CertStore.create` requires through its template (domain.md §7)."""

from __future__ import annotations

from cryptography import x509

from ouc.certs._create import Template
from ouc.certs._listing import used_as
from ouc.errors import CertError, Status

__all__ = ["check_server_san"]


def _sans(cert: x509.Certificate) -> x509.SubjectAlternativeName:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return x509.SubjectAlternativeName([])


def check_server_san(
    cert_id: int, cert: x509.Certificate, old: x509.Certificate | None = None
) -> None:
    """The rule :meth:`CertStore.create` applies through the template, for a certificate from a
    file: "for a TLS server the IP SAN is mandatory" (domain.md §7). A file has no template, so
    the template its extensions make it (:func:`used_as`, the "used as" column) says whether it
    is a TLS server certificate (inference): one whose ExtendedKeyUsage names serverAuth, or one
    with none at all that replaces a certificate with an IP SAN (what the ID stood for). A
    certificate without ExtendedKeyUsage in place of one without an IP SAN is left alone, as
    at import: many third-party client certificates have none. One that names an application
    URI is left alone too: OPC UA identifies by URI, not address."""
    label = used_as(cert)
    if label not in _TEMPLATE_LABELS or not Template(label).requires_ip_san:
        return
    try:
        cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    except x509.ExtensionNotFound:  # no EKU: a server only if the ID stood for one
        if old is None or not _sans(old).get_values_for_type(x509.IPAddress):
            return
    san = _sans(cert)
    if san.get_values_for_type(x509.IPAddress) or san.get_values_for_type(
        x509.UniformResourceIdentifier
    ):
        return
    raise CertError(
        f"the new certificate is a {label} certificate, a TLS server certificate, and needs an "
        "IP SAN as at 'ouc certs create --ip': reissue it with the device's address",
        status=Status.TLS_CERT_INVALID,
        path=f"ID {cert_id}",
    )


_TEMPLATE_LABELS = frozenset(template.value for template in Template)
