"""The PC's imported CAs: its own certificate store, not the device certificate store (§8).

Root certificates are not managed in the device store; WinCC keeps them in the PC's certificate
store, and so does :class:`TrustedCAs`: CAs imported in memory or kept as files in a folder. The
channel reads them when it starts (:class:`~ouc.channel.CertSnapshot`): a CA imported while it
runs applies at the next channel start, or after ``ouc channel restart`` (WinCC note: imported
certificates apply at the next Runtime start). Thread-safe: imports come from any thread.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from threading import Lock

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc._input import CERT_FILE_LIMIT, read_capped
from ouc.certs import DeviceCertStore
from ouc.certs._atomic import write_atomic
from ouc.errors import CertError, Status, StoreError

__all__ = ["TrustedCAs"]

_CERT_SUFFIXES = (".der", ".cer", ".crt", ".pem")


def _subject(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "<empty subject>"


def _is_ca(cert: x509.Certificate) -> bool:
    try:
        return bool(cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca)
    except x509.ExtensionNotFound:
        return False


def _checked_ca(cert: x509.Certificate, where: str | None) -> x509.Certificate:
    """``cert`` when it is a CA certificate; refused with 16#80E4 (naming ``where``) if not."""
    if not _is_ca(cert):
        raise CertError(
            f"{_subject(cert)} is not a CA certificate (no BasicConstraints CA:TRUE); "
            "an end-entity certificate is trusted by moving it to the device store's trusted/",
            status=Status.TLS_NO_VALID_CA,
            path=where,
        )
    return cert


def _load_certificates(data: bytes, where: str) -> list[x509.Certificate]:
    try:
        if b"-----BEGIN" in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError as exc:
        # The parser's own text (an ASN.1 tag, a Rust error kind) helps nobody who gave a file.
        raise StoreError(
            "not an X.509 certificate (PEM or DER); give a CA certificate file such as "
            "ca.pem, .der, .cer or .crt",
            path=where,
        ) from exc


class TrustedCAs:
    """The CA certificates the channel's PC trusts: its own certificate store, not the device's.

    Args:
        certificates: CAs imported from the start, kept in memory (certificates, PEM/DER
            bytes or files).
        folder: an optional folder of CA certificates (``*.der``, ``*.cer``, ``*.crt``,
            ``*.pem``), read by :meth:`certificates`: dropping a file in imports a CA, deleting
            it removes the trust (for a running channel: from its next start).
            :meth:`import_ca` writes there when a folder is set.

    Thread-safe: imports may come from any thread while the channel reads.
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
            for cert in self._loaded(item):
                if cert not in self._memory:
                    self._memory.append(cert)

    @staticmethod
    def _loaded(cert: x509.Certificate | bytes | str | Path) -> list[x509.Certificate]:
        """The CA certificates ``cert`` names (every one of a PEM bundle), read from bytes or a
        file when needed; one that is not a CA refuses them all (16#80E4)."""
        if isinstance(cert, x509.Certificate):
            return [_checked_ca(cert, None)]
        if isinstance(cert, bytes):
            data, where = cert, "certificate"
        else:
            where = str(cert)
            try:
                data = read_capped(cert, CERT_FILE_LIMIT, "a certificate file")
            except OSError as exc:
                raise StoreError(f"cannot read: {exc.strerror}", path=where) from exc
        path = None if isinstance(cert, bytes) else where
        return [_checked_ca(c, path) for c in _load_certificates(data, where)]

    def import_ca(self, cert: x509.Certificate | bytes | str | Path) -> x509.Certificate:
        """Import a CA (a certificate, its PEM/DER bytes or a file); returns the certificate.

        A PEM bundle imports every certificate in it (the first is returned); each must be a
        CA. With a folder each CA is written there as DER (so it survives a restart), else kept
        in memory. Importing a CA twice is harmless.

        Raises:
            CertError: not a CA certificate (16#80E4); StoreError: unreadable or not a
                certificate; ConfigError: a file larger than any certificate file (1 MiB).
        """
        loaded = self._loaded(cert)
        with self._lock:
            for ca in loaded:
                if self.folder is not None:
                    # Atomic (a unique temporary name, fsync, rename): a handshake never reads
                    # half a file, and two processes importing at once do not collide.
                    target = self.folder / DeviceCertStore.file_name(ca)
                    write_atomic(target, ca.public_bytes(serialization.Encoding.DER))
                elif ca not in self._memory:
                    self._memory.append(ca)
        return loaded[0]

    def certificates(self) -> list[x509.Certificate]:
        """The imported CAs right now (memory first, then the folder's files by name).

        Raises:
            CertError: a file of the folder holds a certificate that is not a CA (16#80E4, the
                file named): as for ``import_ca``, an end-entity certificate is no trust
                anchor.
            StoreError: a file is unreadable or not a certificate.
            ConfigError: a file is larger than any certificate file (1 MiB).
        """
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
                data = read_capped(path, CERT_FILE_LIMIT, "a certificate file")
            except OSError as exc:
                raise StoreError(f"cannot read: {exc.strerror}", path=str(path)) from exc
            loaded = [_checked_ca(c, str(path)) for c in _load_certificates(data, str(path))]
            found += [c for c in loaded if c not in found]
        return found

    def __repr__(self) -> str:
        where = f" folder={str(self.folder)!r}" if self.folder is not None else ""
        return f"<TrustedCAs {len(self._memory)} in memory{where}>"
