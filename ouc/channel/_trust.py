"""How the channel trusts PLCs, and which certificate it presents (domain.md §3, §7, §8).

WinCC's channel trusts a PLC certificate in one of two ways, and this module models both:

- **Manual trust** of a self-signed end-entity certificate through the device certificate store
  (:class:`~ouc.certs.DeviceCertStore`): an unknown certificate fails with 16#80E4 and is written
  to ``untrusted/``; moved to ``trusted/`` it is trusted from the next establishment on.
- **Imported CAs**: "root certificates are not managed" in the device store (§8), they live in
  the PC's own certificate store. :class:`TrustedCAs` is that store: CA certificates imported
  in memory or dropped into a folder, re-read at every handshake. A certificate issued by an
  imported CA is trusted without any manual step ("from a known CA → works").

Decision (the change table, §8): a certificate issued by a CA the PC does not know "needs the CA
imported". Moving such an end-entity certificate to ``trusted/`` is *not* enough: the chain to a
trusted root is incomplete (§3 "an incomplete chain fails"), so :class:`ChannelVerifier` refuses
it with 16#80E4 and a message that says to import the CA. Revocation lists in ``trusted/crl/``
apply to CA-issued certificates (16#80E3); a self-signed certificate is revoked by moving it out
of ``trusted/``.

:func:`client_identity` resolves the channel's own client certificate (TLSClientCertRef) from
the project store at every establishment, so a renewed or replaced certificate is presented from
the next establishment on. Layer 1 work (files and certificates), no sockets or clocks.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from pathlib import Path
from threading import Lock

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.certs import CertStore, DeviceCertStore, ResolvedEndpoint, verify_peer_chain
from ouc.device import Role
from ouc.errors import CertError, Status, StoreError
from ouc.params import Block

__all__ = ["ChannelVerifier", "TrustedCAs", "client_identity"]

_CERT_SUFFIXES = (".der", ".cer", ".crt", ".pem")


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "<empty subject>"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _load_certificates(data: bytes, where: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        raise StoreError(f"not a certificate: {exc}", path=where) from exc


class TrustedCAs:
    """The CA certificates the channel's PC trusts: its own certificate store, not the device's.

    Args:
        certificates: CAs imported from the start, kept in memory (certificates, PEM/DER
            bytes or files).
        folder: an optional folder of CA certificates (``*.der``, ``*.cer``, ``*.crt``,
            ``*.pem``), read at every handshake: dropping a file in imports a CA at run time,
            deleting it removes the trust. :meth:`import_ca` writes there when a folder is set.

    Thread-safe: the channel's connections read it from their own threads.
    """

    def __init__(
        self,
        certificates: Iterable[x509.Certificate | bytes | str | Path] = (),
        *,
        folder: str | Path | None = None,
    ) -> None:
        self._lock = Lock()
        self._memory: list[x509.Certificate] = []
        self.folder = None if folder is None else Path(folder)
        if self.folder is not None:
            try:
                self.folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create {self.folder}: {exc.strerror}", path=str(self.folder)
                ) from exc
        for item in certificates:
            cert = self._loaded(item)
            if cert not in self._memory:
                self._memory.append(cert)

    @staticmethod
    def _loaded(cert: x509.Certificate | bytes | str | Path) -> x509.Certificate:
        """The CA certificate ``cert`` names, read from bytes or a file when needed."""
        if isinstance(cert, x509.Certificate):
            loaded = cert
        else:
            if isinstance(cert, bytes):
                data, where = cert, "certificate"
            else:
                where = str(cert)
                try:
                    data = Path(cert).read_bytes()
                except OSError as exc:
                    raise StoreError(f"cannot read: {exc.strerror}", path=where) from exc
            loaded = _load_certificates(data, where)[0]
        if not _is_ca(loaded):
            raise CertError(
                f"{_subject(loaded)} is not a CA certificate (no BasicConstraints CA:TRUE); "
                "an end-entity certificate is trusted by moving it to the device store's trusted/",
                status=Status.TLS_NO_VALID_CA,
            )
        return loaded

    def import_ca(self, cert: x509.Certificate | bytes | str | Path) -> x509.Certificate:
        """Import a CA (a certificate, its PEM/DER bytes or a file); returns the certificate.

        With a folder the CA is written there as DER (so it survives a restart), else kept in
        memory. Importing a CA twice is harmless.

        Raises:
            CertError: not a CA certificate (16#80E4); StoreError: unreadable or not a
                certificate.
        """
        loaded = self._loaded(cert)
        with self._lock:
            if self.folder is not None:
                name = DeviceCertStore.file_name(loaded)
                target = self.folder / name
                partial = target.with_name(name + ".partial")  # not read as a certificate
                try:
                    partial.write_bytes(loaded.public_bytes(serialization.Encoding.DER))
                    partial.replace(target)  # a handshake never reads half a file
                except OSError as exc:
                    raise StoreError(f"cannot write: {exc.strerror}", path=str(target)) from exc
            elif loaded not in self._memory:
                self._memory.append(loaded)
        return loaded

    def certificates(self) -> list[x509.Certificate]:
        """The imported CAs right now (memory first, then the folder's files by name)."""
        with self._lock:
            found = list(self._memory)
        if self.folder is None:
            return found
        try:
            files = sorted(
                p
                for p in self.folder.iterdir()
                if p.is_file() and p.suffix.lower() in _CERT_SUFFIXES
            )
        except OSError as exc:
            raise StoreError(f"cannot read: {exc.strerror}", path=str(self.folder)) from exc
        for path in files:
            try:
                data = path.read_bytes()
            except OSError as exc:
                raise StoreError(f"cannot read: {exc.strerror}", path=str(path)) from exc
            found += [c for c in _load_certificates(data, str(path)) if c not in found]
        return found

    def __repr__(self) -> str:
        where = f" folder={str(self.folder)!r}" if self.folder is not None else ""
        return f"<TrustedCAs {len(self._memory)} in memory{where}>"


class ChannelVerifier:
    """The TLS engine's peer verifier for a channel connection (``ouc.tls.PeerVerifier``).

    Trust anchors: the imported CAs (:class:`TrustedCAs`) and the device store's ``trusted/``;
    revocation lists: the device store's ``trusted/crl/``. Both are read at every handshake, so
    changes apply from the next establishment on and never to a connection that is up.

    Raises (from ``__call__``):
        CertError: as :func:`~ouc.certs.verify_peer_chain`. An unknown certificate (16#80E4) is
            first written to ``untrusted/``. A CA-issued certificate trusted only by its copy in
            ``trusted/`` is refused with 16#80E4 too: its CA must be imported.
    """

    def __init__(self, store: DeviceCertStore, cas: TrustedCAs) -> None:
        self.store = store
        self.cas = cas

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
        roots = [*anchors, *self.cas.certificates()]
        path = self.store(
            leaf,
            anchors=roots,
            intermediates=intermediates,
            now=now,
            expected_address=expected_address,
            crls=crls,
            peer_role=peer_role,
            legacy_anchors=legacy_anchors,
        )
        if len(path) > 1 or leaf.issuer == leaf.subject or any(leaf == r for r in roots):
            return path
        # The leaf was found as its own copy in trusted/, yet a CA issued it: only a chain to
        # an imported CA counts (which also applies that CA's revocation list).
        try:
            return verify_peer_chain(
                leaf,
                anchors=roots,
                intermediates=intermediates,
                now=now,
                expected_address=expected_address,
                crls=[*crls, *self.store.crls()],
                peer_role=peer_role,
                legacy_anchors=legacy_anchors,
            )
        except CertError as exc:
            if exc.status != Status.TLS_NO_VALID_CA:
                raise
            raise CertError(
                f"certificate {_subject(leaf)} was issued by {leaf.issuer.rfc4514_string()}, "
                "a CA this PC does not trust: import the CA certificate (trusting the "
                "end-entity certificate in trusted/ is not enough)",
                status=Status.TLS_NO_VALID_CA,
            ) from exc


def client_identity(
    block: Block, *, store: CertStore | None, device: str, now: dt.datetime
) -> ResolvedEndpoint:
    """What the channel's TLS client presents and checks for one establishment.

    The own certificate is the block's TLSClientCertRef in the project store (assigned to the
    PC station ``device``), resolved at ``now`` so renewals apply at the next establishment; 0
    presents none. TLSServerCertRef is not used: a channel trusts PLCs through the device store
    and its imported CAs, not through certificate IDs. ExtTLSCapabilities bit 0 asks for the
    subjectAltName check against the address connected to.

    Raises:
        CertError: 16#80ED the ID is not in the store or not assigned to ``device`` (or no store
            was given), 16#80E2 no private key / not yet valid, 16#80E5 expired.
    """
    own_ref = int(getattr(block, "TLSClientCertRef", 0))
    check_san = bool(int(getattr(block, "ExtTLSCapabilities", 0)) & 1)
    cert: x509.Certificate | None = None
    key = None
    if own_ref:
        field = "TLSClientCertRef"
        if store is None or own_ref not in store or own_ref not in store.device_ids(device):
            where = (
                "given: no project store is configured"
                if store is None
                else "in the project store"
                if own_ref not in store
                else f"assigned to the PC station {device}"
            )
            raise CertError(
                f"client certificate ID {own_ref} is not {where}",
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
