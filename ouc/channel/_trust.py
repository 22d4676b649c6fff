"""How the channel trusts PLCs, and which certificate it presents (domain.md §3, §7, §8).

WinCC's channel trusts a PLC certificate in one of two ways, and this module decides both:

- **Manual trust** of a self-signed end-entity certificate through the device certificate store
  (:class:`~ouc.certs.DeviceCertStore`): an unknown certificate fails with 16#80E4 and is written
  to ``untrusted/``; moved to ``trusted/`` it is trusted from the next establishment on, moved
  back the trust ends there. The device store is read at every handshake.
- **Imported CAs**: "root certificates are not managed" in the device store (§8); they are the
  PC's own certificate store (:class:`~ouc.channel.TrustedCAs`). A certificate issued by an
  imported CA is trusted without any manual step ("from a known CA → works").

What the channel imported is fixed when it starts: :class:`CertSnapshot` holds the imported CAs
and the project-store IDs of the PC station as they were then. WinCC applies certificates
imported while Runtime runs at the next Runtime start (the WinCC note, domain.md §8), so a CA
imported (or an own certificate assigned) while the channel runs is used after the next channel
start or ``ouc channel restart``; a failure it would have fixed says so. A certificate *renewed
or replaced* under an ID the channel already had is an update, not an import (§7: Renew and
Replace keep the ID so that certificates can be updated at run time; §8: "new certificates are
used the next time the connection is established"): it is presented from the next establishment.

Decision (the change table, §8): a certificate issued by a CA the PC does not know "needs the CA
imported". Moving such an end-entity certificate to ``trusted/`` is *not* enough: the chain to a
trusted root is incomplete (§3 "an incomplete chain fails"), so :class:`ChannelVerifier` refuses
it with 16#80E4 and a message that says to import the CA. Revocation lists in ``trusted/crl/``
apply to CA-issued certificates (16#80E3); a self-signed certificate is revoked by moving it out
of ``trusted/``.

Part of the sans-I/O core: it reads certificate files, but no sockets, threads or clocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography import x509

from ouc.certs import CertStore, DeviceCertStore, ResolvedEndpoint, verify_peer_chain
from ouc.device import Role
from ouc.errors import CertError, Status
from ouc.params import Block

__all__ = ["CASource", "CertSnapshot", "ChannelVerifier", "client_identity"]

RESTART_HINT = "it applies at the next channel start ('ouc channel restart')"


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "<empty subject>"


class CASource(Protocol):
    """Where imported CAs come from (:class:`~ouc.channel.TrustedCAs`)."""

    def certificates(self) -> list[x509.Certificate]: ...


@dataclass(frozen=True)
class CertSnapshot:
    """The certificates a channel loaded when it started.

    Attributes:
        anchors: the imported CAs.
        own_ids: the project-store IDs assigned to the PC station (None: no project store).
        imports: the live import list, only to tell that a CA imported since applies at the
            next start.
    """

    anchors: tuple[x509.Certificate, ...] = ()
    own_ids: frozenset[int] | None = None
    imports: CASource | None = None

    @classmethod
    def take(cls, imports: CASource, project_store: CertStore | None, device: str) -> CertSnapshot:
        """Read what is imported now (the CA list, the PC station's certificate IDs)."""
        own_ids = None if project_store is None else frozenset(project_store.device_ids(device))
        return cls(tuple(imports.certificates()), own_ids, imports)


class ChannelVerifier:
    """The TLS engine's peer verifier for a channel connection (``ouc.tls.PeerVerifier``).

    Args:
        store: the device certificate store: ``trusted/`` (manual trust), ``untrusted/``,
            ``trusted/crl/``, read at every handshake.
        cas: the imported CAs: fixed (a sequence, the channel's :class:`CertSnapshot`) or read
            at every handshake (a :class:`CASource`).
        imports: the live import list of a fixed ``cas``: a refusal that a CA imported since
            would have avoided says it applies at the next channel start.

    Raises (from ``__call__``):
        CertError: as :func:`~ouc.certs.verify_peer_chain`. An unknown certificate (16#80E4) is
            first written to ``untrusted/``. A CA-issued certificate trusted only by its copy in
            ``trusted/`` is refused with 16#80E4 too: its CA must be imported.
    """

    def __init__(
        self,
        store: DeviceCertStore,
        cas: Sequence[x509.Certificate] | CASource = (),
        *,
        imports: CASource | None = None,
    ) -> None:
        self.store = store
        self.cas = cas
        self.imports = imports

    def anchors(self) -> list[x509.Certificate]:
        """The imported CAs this verifier trusts."""
        cas = self.cas
        return list(cas) if isinstance(cas, Sequence) else cas.certificates()

    def __call__(
        self,
        leaf: x509.Certificate,
        *,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate],
        now: dt.datetime,
        expected_address: str | None,
        crls: Sequence[x509.CertificateRevocationList],
        peer_role: Role,
        legacy_anchors: Sequence[x509.Certificate],
    ) -> list[x509.Certificate]:
        roots = [*anchors, *self.anchors()]
        checks = {
            "intermediates": intermediates,
            "now": now,
            "expected_address": expected_address,
            "peer_role": peer_role,
            "legacy_anchors": legacy_anchors,
        }
        try:
            path = self.store(leaf, anchors=roots, crls=crls, **checks)  # type: ignore[arg-type]
            if len(path) > 1 or leaf.issuer == leaf.subject or any(leaf == r for r in roots):
                return path
            # The leaf was found as its own copy in trusted/, yet a CA issued it: only a chain
            # to an imported CA counts (which also applies that CA's revocation list).
            try:
                return verify_peer_chain(
                    leaf,
                    anchors=roots,
                    crls=[*crls, *self.store.crls()],
                    **checks,  # type: ignore[arg-type]
                )
            except CertError as exc:
                if exc.status != Status.TLS_NO_VALID_CA:
                    raise
                raise CertError(
                    f"certificate {_subject(leaf)} was issued by "
                    f"{leaf.issuer.rfc4514_string()}, a CA this PC does not trust: import the "
                    "CA certificate (trusting the end-entity certificate in trusted/ is not "
                    "enough)",
                    status=Status.TLS_NO_VALID_CA,
                ) from exc
        except CertError as exc:
            pending = self._pending_issuer(leaf, roots)
            if exc.status != Status.TLS_NO_VALID_CA:
                raise
            if pending is None:
                hint = self._next_step(leaf, exc.message)
                if not hint:
                    raise
                raise CertError(f"{exc.message}: {hint}", status=exc.status, path=exc.path) from exc
            raise CertError(
                f"{exc.message}; its CA {_subject(pending)} was imported while the channel "
                f"runs: {RESTART_HINT}",
                status=exc.status,
                path=exc.path,
            ) from exc

    def _next_step(self, leaf: x509.Certificate, message: str) -> str:
        """What the user does about an unknown PLC certificate ("" when the message says it).

        A self-signed one was written to ``untrusted/``: moving it to ``trusted/`` trusts it
        from the next attempt on (no restart). One issued by a CA the PC does not know needs
        that CA imported, which applies after a restart (WinCC note, domain.md §8).
        """
        if leaf.issuer == leaf.subject:
            parked = self.store.untrusted_dir / DeviceCertStore.file_name(leaf)
            return f"written to {parked}; move it to trusted/ to trust it"
        if message.startswith("no trusted CA for"):
            return (
                f"import the certificate of {leaf.issuer.rfc4514_string()} (cas or ca_dir), "
                "then 'ouc channel restart'"
            )
        return ""

    def _pending_issuer(
        self, leaf: x509.Certificate, roots: Sequence[x509.Certificate]
    ) -> x509.Certificate | None:
        """The leaf's issuer among the CAs imported since the snapshot, if any."""
        if self.imports is None:
            return None
        for cert in self.imports.certificates():
            if cert.subject == leaf.issuer and cert not in roots:
                return cert
        return None


def client_identity(
    block: Block,
    *,
    store: CertStore | None,
    device: str,
    now: dt.datetime,
    own_ids: frozenset[int] | None = None,
) -> ResolvedEndpoint:
    """What the channel's TLS client presents and checks for one establishment.

    The own certificate is the block's TLSClientCertRef in the project store (assigned to the
    PC station ``device``), resolved at ``now`` so renewals apply at the next establishment; 0
    presents none. ``own_ids`` (the IDs the station had when the channel started) refuses an ID
    assigned since: imports apply at the next channel start. TLSServerCertRef is not used: a
    channel trusts PLCs through the device store and its imported CAs, not through certificate
    IDs. ExtTLSCapabilities bit 0 asks for the subjectAltName check against the address
    connected to.

    Raises:
        CertError: 16#80ED the ID is not in the store or not assigned to ``device`` (or no store
            was given, or it was assigned after the channel started), 16#80E2 no private key /
            not yet valid, 16#80E5 expired.
    """
    own_ref = int(getattr(block, "TLSClientCertRef", 0))
    check_san = bool(int(getattr(block, "ExtTLSCapabilities", 0)) & 1)
    cert: x509.Certificate | None = None
    key = None
    if own_ref:
        field = "TLSClientCertRef"
        if store is None:
            raise CertError(
                f"client certificate ID {own_ref} cannot be found: no project store is "
                "configured (set project_store to the folder of the project certificate "
                "store, the one 'ouc certs' manages)",
                status=Status.TLS_CERT_REF_UNKNOWN,
                path=field,
            )
        if own_ref not in store:
            raise CertError(
                f"client certificate ID {own_ref} is not in the project store {store.path} "
                f"(see 'ouc certs list --store {store.path}')",
                status=Status.TLS_CERT_REF_UNKNOWN,
                path=field,
            )
        if own_ref not in store.device_ids(device):
            raise CertError(
                f"client certificate ID {own_ref} is not assigned to the PC station {device}: "
                f"assign it with 'ouc certs assign {device} {own_ref} --store {store.path}'",
                status=Status.TLS_CERT_REF_UNKNOWN,
                path=field,
            )
        if own_ids is not None and own_ref not in own_ids:
            raise CertError(
                f"client certificate ID {own_ref} was assigned to the PC station {device} "
                f"after the channel started: {RESTART_HINT}",
                status=Status.TLS_CERT_REF_UNKNOWN,
                path=field,
            )
        cert, key = store.certificate(own_ref), store.private_key(own_ref)
        moment = now if now.tzinfo else now.replace(tzinfo=dt.UTC)
        if key is None:
            problem, status = "has no private key in the store", Status.TLS_CERT_INVALID
        elif moment < cert.not_valid_before_utc:
            problem, status = "is not valid yet", Status.TLS_CERT_INVALID
        elif moment > cert.not_valid_after_utc:
            problem, status = "has expired", Status.TLS_CERT_EXPIRED
        else:
            problem, status = "", Status.DONE
        if problem:
            raise CertError(f"client certificate ID {own_ref} {problem}", status=status, path=field)
    return ResolvedEndpoint(
        role=Role.ACTIVE,
        own_id=own_ref or None,
        own_cert=cert,
        own_key=key,
        chain=(),
        anchor_ids=(),
        anchors=(),
        require_peer_cert=True,
        check_san=check_san,
    )
