"""Bad-certificate factory: every certificate situation a peer meets in a plant, one call each.

Each method returns a :class:`BadCert`: the certificate, its key, what else a peer would need
(issuing CA, a CRL) and the status a PLC reports when it verifies it against the factory's CA at
the factory's ``now`` and address. Most kinds are refused whoever checks them; two only by a
check that is off by default, as on the CPU (domain.md §3): ``wrong_san`` only by an active side
with ExtTLSCapabilities bit 0 (a passive side never checks a client certificate's SAN), and
``revoked`` only where revocation lists count (the PC side; a PLC has no CRL support). So
``expected_status`` is the status under the defaults (0: accepted) and :meth:`BadCert.status`
the status for a given role and configuration. Built with real keys and signatures so peers
under test see exactly what they would see from a device. Pure, no I/O, time passed in.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import ExtendedKeyUsageOID

from ouc.certs._create import Template, as_utc, create_certificate, reissue
from ouc.certs._keys import PrivateKey, generate_key
from ouc.device import Role
from ouc.errors import ConfigError, Status

__all__ = ["BadCert", "BadCertFactory"]

_DAY = dt.timedelta(days=1)
_ROLES = {
    "server": Role.PASSIVE,
    "passive": Role.PASSIVE,
    "client": Role.ACTIVE,
    "active": Role.ACTIVE,
}


@dataclass(frozen=True)
class BadCert:
    """One certificate from the factory.

    Attributes:
        kind: the method that made it ("expired", "revoked", ...).
        cert / key: the end-entity certificate and its private key.
        issuer: the CA that signed it (None when self-signed); for "unknown_ca" a CA the
            verifier does not trust.
        crl: for "revoked", the factory CA's CRL naming it.
        expected_status: what a PLC reports under the defaults, whichever side presents it
            (ExtTLSCapabilities 16#0, no revocation lists): 16#80Ex, or 0 when it is accepted
            (``wrong_san``, ``revoked``). :meth:`status` gives it for other configurations.
        refused_status: the status when the check that catches it is on (= ``expected_status``
            for the kinds every check refuses).
        caught_by: None (refused whoever checks), ``"san"`` (only the active side's SAN check,
            ExtTLSCapabilities bit 0) or ``"crl"`` (only a verifier that honours the CA's CRL).
    """

    kind: str
    cert: x509.Certificate
    key: PrivateKey
    issuer: x509.Certificate | None
    expected_status: int
    crl: x509.CertificateRevocationList | None = None
    refused_status: int | None = None
    caught_by: str | None = None

    def status(
        self,
        presented_by: Role | str = Role.PASSIVE,
        *,
        ext_tls_capabilities: int = 0,
        crls: bool = False,
    ) -> int:
        """The status the side that verifies this certificate reports; 0 when it accepts it.

        Args:
            presented_by: who presents it: ``Role.PASSIVE``/``"server"`` (the TLS server's
                certificate, checked by an active side) or ``Role.ACTIVE``/``"client"`` (a
                client certificate, checked by a passive side with TLSServerReqClientCert).
            ext_tls_capabilities: the checking active side's ExtTLSCapabilities; bit 0 checks
                the server certificate's subjectAltName against the address connected to
                (domain.md §3). A passive side has no such check (bit 0 must be 0 there).
            crls: the verifier honours the CA's revocation list (``.crl``), as the PC side does
                with it in ``trusted/crl``; a PLC has no CRL support (domain.md §3).

        Raises:
            ConfigError: ``presented_by`` is not a role; ``ext_tls_capabilities`` bit 0 for a
                client certificate (its verifier, a passive side, refuses such a block with
                16#80EC before any certificate is checked: domain.md §2).
        """
        role = _ROLES.get(presented_by.lower()) if isinstance(presented_by, str) else presented_by
        if not isinstance(role, Role):
            raise ConfigError(
                f"presented by {presented_by!r}: use Role.PASSIVE/'server' or Role.ACTIVE/'client'",
                path="presented_by",
            )
        if role is Role.ACTIVE and ext_tls_capabilities & 1:
            raise ConfigError(
                "ext_tls_capabilities bit 0 is the active side's subjectAltName check; a client "
                "certificate is verified by a passive side, whose block is refused with it set "
                "(16#80EC): pass 0, or presented_by='server'",
                status=Status.TLS_EXT_CAPABILITIES,
                path="ext_tls_capabilities",
            )
        if self.caught_by is None:
            return self.expected_status
        if self.caught_by == "san":
            caught = role is Role.PASSIVE and bool(ext_tls_capabilities & 1)
        else:
            caught = crls
        refused = self.expected_status if self.refused_status is None else self.refused_status
        return refused if caught else int(Status.DONE)


class BadCertFactory:
    """Make bad certificates under one trusted CA.

    Args:
        ca_cert / ca_key: the CA the verifier trusts (e.g. store CA 3 and its key).
        now: the time the verifier will use.
        address: the address the verifier connects to (the good SAN; the wrong one differs).
        key_type: key type of the certificates made (EC P-256 keeps it fast).
        template: template of the certificates made (TLS Client/Server: valid for both roles).
    """

    def __init__(
        self,
        ca_cert: x509.Certificate,
        ca_key: PrivateKey,
        *,
        now: dt.datetime,
        address: str = "127.0.0.1",
        key_type: str = "EC-P256",
        template: Template = Template.TLS_CLIENT_SERVER,
    ) -> None:
        self.ca_cert, self.ca_key = ca_cert, ca_key
        self.now = as_utc(now)
        self.address = address
        self.key_type = key_type
        self.template = template

    def for_address(self, address: str) -> BadCertFactory:
        """The same factory for another address (the good SAN; ``wrong_san`` differs from it)."""
        return BadCertFactory(
            self.ca_cert,
            self.ca_key,
            now=self.now,
            address=address,
            key_type=self.key_type,
            template=self.template,
        )

    def _make(
        self,
        kind: str,
        status: int,
        *,
        start: dt.datetime | None = None,
        end: dt.datetime | None = None,
        ip: str | None = None,
        issuer: tuple[x509.Certificate, PrivateKey] | None = None,
        self_signed: bool = False,
        hash_name: str = "SHA256",
    ) -> BadCert:
        key = generate_key(self.key_type)
        ca_cert, ca_key = issuer or (self.ca_cert, self.ca_key)
        cert = create_certificate(
            common_name=f"ouc bad cert: {kind}",
            template=self.template,
            key=key,
            issuer_cert=None if self_signed else ca_cert,
            issuer_key=None if self_signed else ca_key,
            not_before=start or self.now - _DAY,
            not_after=end or self.now + 365 * _DAY,
            ip_sans=[ip or self.address],
            hash_name=hash_name,
        )
        return BadCert(kind, cert, key, None if self_signed else ca_cert, status)

    def good(self) -> BadCert:
        """A certificate that verifies (the control case): 0 in every configuration."""
        return self._make("good", Status.DONE)

    def expired(self) -> BadCert:
        """Valid until yesterday: 16#80E5, either role."""
        return self._make(
            "expired", Status.TLS_CERT_EXPIRED, start=self.now - 400 * _DAY, end=self.now - _DAY
        )

    def not_yet_valid(self) -> BadCert:
        """Valid from tomorrow (or: a PLC whose clock was never set): 16#80E2, either role."""
        return self._make(
            "not_yet_valid",
            Status.TLS_CERT_INVALID,
            start=self.now + _DAY,
            end=self.now + 400 * _DAY,
        )

    def wrong_san(self) -> BadCert:
        """An IP SAN other than the address connected to (192.0.2.1, TEST-NET-1).

        16#80E1 only as the server's certificate checked by an active side with
        ExtTLSCapabilities bit 0 (the host name check of domain.md §3); accepted (0) by
        default and as a client certificate. ``expected_status`` is 0;
        ``status("server", ext_tls_capabilities=1)`` is 16#80E1.
        """
        other = "192.0.2.1" if self.address != "192.0.2.1" else "192.0.2.2"
        made = self._make("wrong_san", Status.DONE, ip=other)
        return dataclasses.replace(
            made, refused_status=Status.TLS_HANDSHAKE_FAILURE, caught_by="san"
        )

    def self_signed_unknown(self) -> BadCert:
        """Self-signed and trusted by nobody: 16#80E4, either role."""
        return self._make("self_signed_unknown", Status.TLS_NO_VALID_CA, self_signed=True)

    def unknown_ca(self) -> BadCert:
        """Issued by a fresh CA the verifier does not know: 16#80E4, either role."""
        key = generate_key(self.key_type)
        stranger = create_certificate(
            common_name="ouc unknown CA",
            template=Template.CA,
            key=key,
            not_before=self.now - _DAY,
            not_after=self.now + 3650 * _DAY,
        )
        return self._make("unknown_ca", Status.TLS_NO_VALID_CA, issuer=(stranger, key))

    def revoked(self) -> BadCert:
        """Issued by the CA and listed in the CA's CRL (``.crl``).

        Accepted (0) by a PLC, either role: it has no CRL support (domain.md §3), and ouc
        accepts it as the CPU does. 16#80E3 where the CRL counts (``status(crls=True)``: the PC
        side with the list in ``trusted/crl``, or ``verify_peer_chain(crls=[bad.crl])``).
        """
        made = self._make("revoked", Status.DONE)
        entry = (
            x509.RevokedCertificateBuilder()
            .serial_number(made.cert.serial_number)
            .revocation_date(self.now - _DAY)
            .build()
        )
        crl = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(self.ca_cert.subject)
            .last_update(self.now - _DAY)
            .next_update(self.now + 30 * _DAY)
            .add_revoked_certificate(entry)
            .add_extension(x509.CRLNumber(1), critical=False)
            .sign(self.ca_key, hashes.SHA256())
        )
        return dataclasses.replace(
            made, crl=crl, refused_status=Status.TLS_CERT_DISCARDED, caught_by="crl"
        )

    def wrong_key_usage(self) -> BadCert:
        """KeyUsage dataEncipherment only, ExtendedKeyUsage codeSigning: 16#80E2 either role."""
        made = self._make("wrong_key_usage", Status.TLS_CERT_INVALID)
        usage = x509.KeyUsage(
            digital_signature=False,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=True,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
        cert = reissue(
            made.cert,
            signer=self.ca_key,
            issuer_name=self.ca_cert.subject,
            public_key=made.key.public_key(),
            not_before=made.cert.not_valid_before_utc,
            not_after=made.cert.not_valid_after_utc,
            replace=[usage, x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING])],
        )
        return BadCert(made.kind, cert, made.key, made.issuer, made.expected_status)

    def sha1_signed(self) -> BadCert:
        """Signed by the (non-legacy) CA with SHA-1: 16#80E2, either role."""
        return self._make("sha1_signed", Status.TLS_CERT_INVALID, hash_name="SHA1")

    def all_bad(self) -> dict[str, BadCert]:
        """One of each bad kind, by kind name (``wrong_san`` and ``revoked`` among them, which
        only their check refuses: see :meth:`BadCert.status`)."""
        makers = (
            self.expired,
            self.not_yet_valid,
            self.wrong_san,
            self.self_signed_unknown,
            self.unknown_ca,
            self.revoked,
            self.wrong_key_usage,
            self.sha1_signed,
        )
        return {made.kind: made for made in (maker() for maker in makers)}
