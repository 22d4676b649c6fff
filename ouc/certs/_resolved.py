"""What certificate resolution hands to a TLS endpoint (the contract between store and engine).

Resolution (``ouc.certs.resolve``) turns a parameter block + role + device + clock time into a
:class:`ResolvedEndpoint`; the TLS engine (``ouc.tls``) builds its context from it and verifies the
peer with ``ouc.certs.verify_peer_chain`` using the anchors and intermediates listed here.
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from ouc.device import Role

__all__ = ["ResolvedEndpoint"]


@dataclass(frozen=True)
class ResolvedEndpoint:
    """Everything a TLS endpoint needs, resolved from numeric certificate IDs.

    Attributes:
        role: ACTIVE (TLS client, TSEND_C) or PASSIVE (TLS server, TRCV_C).
        own_id: store ID of the certificate this endpoint presents, None when it presents none
            (active side with TLSClientCertRef 0).
        own_cert / own_key: that certificate and its private key.
        chain: certificates to send after ``own_cert`` (issuing CAs, leaf excluded; usually empty,
            since a PLC sends only its end-entity certificate).
        anchor_ids / anchors: the store certificates that may validate the peer (a CA, or the
            peer's own certificate when pinned), parallel tuples.
        intermediates: further CA certificates the device holds, used to complete a peer chain.
        require_peer_cert: passive side: TLSServerReqClientCert; active side: always True.
        check_san: active side with ExtTLSCapabilities bit 0: check the server's subjectAltName
            against the address connected to.
        crls: revocation lists to honour (the PLC has none; the PC side does).
        legacy_anchors: anchors whose SHA-1 signatures are accepted (the legacy default CA 1);
            pass them to ``verify_peer_chain(legacy_anchors=...)``.
    """

    role: Role
    own_id: int | None
    own_cert: x509.Certificate | None
    own_key: CertificateIssuerPrivateKeyTypes | None
    chain: tuple[x509.Certificate, ...]
    anchor_ids: tuple[int, ...]
    anchors: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...] = ()
    require_peer_cert: bool = True
    check_san: bool = False
    crls: tuple[x509.CertificateRevocationList, ...] = ()
    legacy_anchors: tuple[x509.Certificate, ...] = ()

    def anchor_id_for(self, cert: x509.Certificate) -> int | None:
        """The store ID of ``cert`` when it is one of the anchors, else None."""
        for anchor_id, anchor in zip(self.anchor_ids, self.anchors, strict=True):
            if anchor == cert:
                return anchor_id
        return None
