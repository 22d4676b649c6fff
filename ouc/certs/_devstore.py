"""The PC side's device certificate store (WinCC's S7-1200/S7-1500 channel, domain.md §8).

A folder with ``trusted/``, ``untrusted/`` and ``trusted/crl/`` holding DER files. A partner
certificate nobody trusts is written to ``untrusted/``; a user who moves it to ``trusted/``
("manual trust") makes it trusted from the next connection on, moving it back revokes the trust.
Revocation lists in ``trusted/crl/`` are honoured. Root CAs are not managed here (they live in the
PC's certificate store): pass them as ``roots``. The folders are re-read on every verification
(each file parsed once per name, size and mtime), so moves take effect without a restart.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.certs._atomic import TMP_SUFFIX, write_atomic
from ouc.certs._formats import load_crl
from ouc.certs._verify import verify_peer_chain
from ouc.device import Role
from ouc.errors import CertError, Status, StoreError

__all__ = ["DeviceCertStore"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
#: The files read from ``trusted/`` (WinCC's ``*.DER``, plus the other certificate suffixes)
#: and from ``trusted/crl/``; other files there (a README) are not certificates.
_CERT_SUFFIXES = frozenset({".der", ".cer", ".crt", ".pem"})
_CRL_SUFFIXES = frozenset({".crl", ".der", ".pem"})

log = logging.getLogger("ouc.certs")


class _Unreadable:
    """The cache's note that a file version did not parse (warned about once)."""


class DeviceCertStore:
    """A ``device-certificate-store`` folder.

    Args:
        path: the folder; ``trusted/``, ``untrusted/`` and ``trusted/crl/`` are created.
        roots: CA certificates the PC trusts anyway (its own certificate store).
    """

    def __init__(self, path: str | Path, *, roots: Sequence[x509.Certificate] = ()) -> None:
        self.path = Path(path)
        self.roots = tuple(roots)
        self.trusted_dir = self.path / "trusted"
        self.untrusted_dir = self.path / "untrusted"
        self.crl_dir = self.trusted_dir / "crl"
        for folder in (self.trusted_dir, self.untrusted_dir, self.crl_dir):
            try:
                folder.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create {folder}: {exc.strerror}", path=str(folder)
                ) from exc
        self._cache: dict[tuple[str, int, int], object] = {}

    # -- reading the folders -------------------------------------------------------------------

    def _files(self, folder: Path, suffixes: frozenset[str] | None = None) -> list[Path]:
        """The files in ``folder`` (with one of ``suffixes``, any case, when given)."""
        try:
            return sorted(
                p
                for p in folder.iterdir()
                if p.is_file()
                and not p.name.endswith(TMP_SUFFIX)
                and (suffixes is None or p.suffix.lower() in suffixes)
            )
        except OSError as exc:
            raise StoreError(f"cannot read {folder}: {exc.strerror}", path=str(folder)) from exc

    def _readable(self, folder: Path, kind: str) -> list[object]:
        """The parsed certificates (``kind`` "cert") or revocation lists ("crl") of ``folder``.

        Only the suffixes certificate and CRL files have are read, so a README or a backup file
        in the folder is not one. A file that cannot be read or parsed is skipped with one
        warning naming it (once per file version), so one broken file does not fail every
        partner: a broken trusted certificate trusts nothing, and a broken revocation list
        revokes nothing, as a missing one would.
        """
        suffixes = _CRL_SUFFIXES if kind == "crl" else _CERT_SUFFIXES
        found = []
        for path in self._files(folder, suffixes):
            parsed = self._parsed(path, kind)
            if not isinstance(parsed, _Unreadable):
                found.append(parsed)
        return found

    def _parsed(self, path: Path, kind: str) -> object:
        try:
            stat = path.stat()
        except OSError:  # moved away meanwhile (a user's manual trust)
            return _Unreadable()
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in self._cache:
            try:
                data = path.read_bytes()
                if kind == "crl":
                    self._cache[key] = load_crl(data, where=str(path))
                elif b"-----BEGIN" in data:
                    self._cache[key] = x509.load_pem_x509_certificate(data)
                else:
                    self._cache[key] = x509.load_der_x509_certificate(data)
            except (OSError, ValueError, CertError, x509.InvalidVersion) as exc:
                what = "revocation list" if kind == "crl" else "certificate"
                why = exc.strerror if isinstance(exc, OSError) else str(exc).split("\n")[0][:160]
                log.warning("%s: skipped, not a readable %s (%s)", path, what, why)
                self._cache[key] = _Unreadable()
        return self._cache[key]

    def trusted(self) -> list[x509.Certificate]:
        """The certificates in ``trusted/`` right now."""
        found = self._readable(self.trusted_dir, "cert")
        return [c for c in found if isinstance(c, x509.Certificate)]

    def crls(self) -> list[x509.CertificateRevocationList]:
        """The revocation lists in ``trusted/crl/`` right now."""
        found = self._readable(self.crl_dir, "crl")
        return [c for c in found if isinstance(c, x509.CertificateRevocationList)]

    def untrusted(self) -> list[Path]:
        """Files waiting in ``untrusted/`` for a user's decision."""
        return self._files(self.untrusted_dir)

    # -- manual trust --------------------------------------------------------------------------

    @staticmethod
    def file_name(cert: x509.Certificate) -> str:
        """``<CN>_<first 16 hex digits of the SHA-256 fingerprint>.der``: readable and unique."""
        cns = cert.subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
        label = _UNSAFE.sub("_", str(cns[0].value) if cns else "certificate").strip("_")
        digest = hashlib.sha256(cert.public_bytes(serialization.Encoding.DER)).hexdigest()
        return f"{label or 'certificate'}_{digest[:16]}.der"

    def trust(self, name: str) -> Path:
        """Move ``untrusted/<name>`` to ``trusted/`` (what the user does by hand)."""
        return self._move(self.untrusted_dir / Path(name).name, self.trusted_dir)

    def distrust(self, name: str) -> Path:
        """Move ``trusted/<name>`` back to ``untrusted/``."""
        return self._move(self.trusted_dir / Path(name).name, self.untrusted_dir)

    @staticmethod
    def _move(source: Path, folder: Path) -> Path:
        target = folder / source.name
        try:
            source.replace(target)
        except OSError as exc:
            raise StoreError(f"cannot move {source}: {exc.strerror}", path=str(source)) from exc
        return target

    def add_crl(self, crl: x509.CertificateRevocationList, name: str) -> Path:
        """Write a revocation list (DER) into ``trusted/crl/``."""
        target = self.crl_dir / Path(name).name
        write_atomic(target, crl.public_bytes(serialization.Encoding.DER))
        return target

    # -- verification --------------------------------------------------------------------------

    def verify(
        self,
        leaf: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        now: dt.datetime | None = None,
        *,
        expected_address: str | None = None,
        peer_role: Role = Role.PASSIVE,
    ) -> list[x509.Certificate]:
        """Verify a partner's certificate against roots + ``trusted/``, honouring ``trusted/crl/``.

        Args:
            leaf / chain: what the partner presented (chain: its CA certificates, if any).
            now: the verification time (required; the PC's clock as the caller sees it).
            expected_address: the partner address to check the SAN against, if wanted.
            peer_role: the partner's role; a PC usually connects to a passive PLC.

        Raises:
            CertError: as :func:`~ouc.certs.verify_peer_chain`; when no anchor is found (16#80E4)
                the leaf is first written to ``untrusted/``.

        An instance is also callable with the TLS engine's verifier signature (``__call__``),
        so ``TLSContext(..., verifier=DeviceCertStore(path))`` gives a PC-side endpoint.
        """
        if now is None:
            raise CertError("verify needs the current time (now=)", path="now")
        return self(
            leaf,
            anchors=(),
            intermediates=chain,
            now=now,
            expected_address=expected_address,
            crls=(),
            peer_role=peer_role,
            legacy_anchors=(),
        )

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
        """The TLS engine's verifier contract (``ouc.tls`` ``PeerVerifier``): ``anchors`` and
        ``crls`` from resolution count in addition to roots, ``trusted/`` and ``trusted/crl/``;
        an unknown leaf is written to ``untrusted/`` before the 16#80E4 error propagates."""
        try:
            return verify_peer_chain(
                leaf,
                anchors=[*anchors, *self.roots, *self.trusted()],
                intermediates=intermediates,
                now=now,
                expected_address=expected_address,
                crls=[*crls, *self.crls()],
                peer_role=peer_role,
                legacy_anchors=legacy_anchors,
            )
        except CertError as exc:
            if exc.status == Status.TLS_NO_VALID_CA:
                self._park(leaf)
            raise

    def _park(self, leaf: x509.Certificate) -> None:
        target = self.untrusted_dir / self.file_name(leaf)
        if not target.exists():
            write_atomic(target, leaf.public_bytes(serialization.Encoding.DER))
