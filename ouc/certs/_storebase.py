"""The read side and the file mechanics of the project certificate store (see ``_store``).

:class:`StoreBase` owns the folder: it reads the index (reloading it when another process
committed a new one), parses certificates and keys once per file revision, claims IDs, writes new
file revisions and commits the index. :class:`~ouc.certs._store.CertStore` adds the workflows.

Every change is a read-modify-write of the index (plus new files). Commits are atomic, but two
writers that read the same index would each commit without the other's change, and could claim
the same next ID. So each mutating method runs under the store's write lock (:func:`writes`):
an exclusive ``flock`` on ``.lock`` in the store folder, taken afresh per call, which excludes
other processes and other threads alike; the index is re-read under it.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import wraps
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.certs._atomic import TMP_SUFFIX, fsync_dir, write_atomic
from ouc.certs._checks import check_certificate, checked_parse, parser_warnings
from ouc.certs._create import as_utc, is_ca
from ouc.certs._formats import key_bytes, load_crl, load_key
from ouc.certs._index import MAX_ID, Entry, Index, index_stamp, read_index, write_index
from ouc.certs._keys import PrivateKey
from ouc.certs._verify import signed_by
from ouc.errors import CertError, ConfigError, StoreError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX: no cross-process lock
    fcntl = None  # type: ignore[assignment]

__all__ = ["LEFTOVERS_NAME", "LOCK_NAME", "MAX_ID", "StoreBase", "device_name", "writes"]

LOCK_NAME = ".lock"
#: Where a writer moves the certificate, key and CRL files no index names.
LEFTOVERS_NAME = "leftovers"
#: The temporary files of :func:`~ouc.certs._atomic.write_atomic`: ``.NAME.HEX.tmp``.
_OWN_TMP = re.compile(r"\..+\.[0-9a-f]{8}" + re.escape(TMP_SUFFIX))

log = logging.getLogger("ouc.certs")

_S = TypeVar("_S", bound="StoreBase")
_P = ParamSpec("_P")
_R = TypeVar("_R")


def writes(method: Callable[Concatenate[_S, _P], _R]) -> Callable[Concatenate[_S, _P], _R]:
    """Run a mutating store method under the store's write lock.

    The lock is not re-entrant (each call locks a file descriptor of its own), so a mutating
    method must not call another one; they share private helpers instead.
    """

    @wraps(method)
    def locked(self: _S, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with self._write_lock():
            return method(self, *args, **kwargs)

    return locked


def _password(password: str | bytes | None) -> bytes | None:
    return password.encode() if isinstance(password, str) else password


class StoreBase:
    """An open store folder: reading, caching, and the write/commit mechanics.

    Args:
        path: the store folder (holding ``index.json``).
        password: encrypts newly written private keys and decrypts encrypted ones.
    """

    def __init__(self, path: str | Path, *, password: str | bytes | None = None) -> None:
        self._path = Path(path)
        self._password = _password(password)
        self._index, stamp = read_index(self._path)
        self._stamp: tuple[int, int, int] | None = stamp
        self._parsed: dict[str, x509.Certificate] = {}
        self._keys: dict[str, PrivateKey] = {}

    # -- reading --------------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self._path

    def ids(self) -> list[int]:
        """All live IDs, ascending."""
        return sorted(self._current().entries)

    def id_available(self, cert_id: int) -> bool:
        """True when ``cert_id`` was never used, so ``create(cert_id=...)`` may claim it."""
        index = self._current()
        return 1 <= cert_id <= MAX_ID and cert_id not in index.entries | dict.fromkeys(
            index.retired
        )

    def __contains__(self, cert_id: object) -> bool:
        return cert_id in self._current().entries

    def entry(self, cert_id: int) -> Entry:
        """The index entry of ``cert_id``; StoreError when there is none."""
        entry = self._current().entries.get(cert_id)
        if entry is None:
            raise StoreError(
                "no certificate with this ID in the store (ouc certs list shows the IDs)",
                path=f"ID {cert_id}",
            )
        return entry

    def certificate(self, cert_id: int) -> x509.Certificate:
        """The certificate with ``cert_id`` (parsed and checked once per file revision).

        Raises:
            StoreError: the file is unreadable, or holds a certificate a part of which does not
                parse (written by an older ouc, or changed on disk); the line says how to fix it.
        """
        name = self.entry(cert_id).cert_file
        cert = self._parsed.get(name)
        if cert is None:
            data = self._read(
                name,
                f"ID {cert_id}",
                f"replace the certificate ('ouc certs replace {cert_id} FILE') or delete it "
                f"('ouc certs delete {cert_id}')",
            )
            try:
                with parser_warnings(name):
                    cert = checked_parse(
                        lambda: x509.load_pem_x509_certificate(data), name, "the certificate"
                    )
                    check_certificate(cert, name)
            except CertError as exc:
                raise StoreError(
                    f"the certificate is damaged: {exc.message}; replace it "
                    f"('ouc certs replace {cert_id} FILE') or delete it "
                    f"('ouc certs delete {cert_id}')",
                    status=exc.status,
                    path=f"ID {cert_id}",
                ) from exc
            self._parsed[name] = cert
        return cert

    def readable(self) -> Iterator[tuple[int, x509.Certificate]]:
        """(ID, certificate) for every ID whose certificate reads; damaged ones are skipped.

        For searches over the whole store (issuers, duplicates): one damaged entry must not
        stop an import or a CRL that does not concern it. ``rows()`` marks the damaged ones.
        """
        for cert_id in self.ids():
            try:
                cert = self.certificate(cert_id)
            except StoreError:
                continue
            yield cert_id, cert

    def has_private_key(self, cert_id: int) -> bool:
        return self.entry(cert_id).key_file is not None

    def private_key(self, cert_id: int) -> PrivateKey | None:
        """The private key of ``cert_id``, None when the store has none.

        Raises:
            StoreError: the key is encrypted and no (or a wrong) store password was given; the
                key does not belong to the certificate.
        """
        entry = self.entry(cert_id)
        if entry.key_file is None:
            return None
        key = self._keys.get(entry.key_file)
        if key is None:
            if entry.key_encrypted and not self._password:
                raise StoreError(
                    f"the key of ID {cert_id} is encrypted; open the store with its password",
                    path=entry.key_file,
                )
            # The store password decrypts the keys written encrypted; a store may mix them
            # with plain keys written before the password was set.
            secret = self._password if entry.key_encrypted else None
            data = self._read(
                entry.key_file,
                f"ID {cert_id}",
                f"give the ID its key again ('ouc certs replace {cert_id} C.pem --key KEY')",
            )
            try:
                key = load_key(data, password=secret, where=entry.key_file)
            except (CertError, ConfigError) as exc:
                raise StoreError(exc.message, path=entry.key_file) from exc
            # A key file swapped on disk or in the index would sign with the wrong key (renew
            # re-issued the ID with it; a .p12 export was an internal error). A damaged
            # certificate has no public key to compare: replacing it needs its key.
            if not self._belongs(cert_id, key):
                raise StoreError(
                    f"the private key in {entry.key_file} does not belong to the certificate "
                    f"(their public keys differ); give the ID its own key: 'ouc certs export "
                    f"{cert_id} C.pem', then 'ouc certs replace {cert_id} C.pem --key KEY'",
                    path=f"ID {cert_id}",
                )
            self._keys[entry.key_file] = key
        return key

    def _belongs(self, cert_id: int, key: PrivateKey) -> bool:
        try:
            cert = self.certificate(cert_id)
        except StoreError:
            return True
        return key.public_key() == cert.public_key()

    def is_ca(self, cert_id: int) -> bool:
        return is_ca(self.certificate(cert_id))

    def is_legacy(self, cert_id: int) -> bool:
        return self.entry(cert_id).legacy

    def find_issuer(self, cert: x509.Certificate) -> int | None:
        """ID of the store CA whose signature is on ``cert``; None if self-signed or unknown."""
        if cert.issuer == cert.subject:
            return None
        for cert_id, candidate in self.readable():
            if candidate == cert or not is_ca(candidate):
                continue
            if signed_by(cert, candidate):
                return cert_id
        return None

    def chain(self, cert_id: int) -> list[x509.Certificate]:
        """The issuing CAs of ``cert_id`` up to the root, as far as the store knows them."""
        out: list[x509.Certificate] = []
        seen = {cert_id}
        current = self.entry(cert_id).issuer_id
        while current is not None and current in self and current not in seen:
            out.append(self.certificate(current))
            seen.add(current)
            current = self.entry(current).issuer_id
        return out

    # -- devices --------------------------------------------------------------------------------

    def devices(self) -> dict[str, tuple[int, ...]]:
        """Device name → assigned IDs."""
        return dict(self._current().devices)

    def device_ids(self, device: str) -> tuple[int, ...]:
        """IDs assigned to ``device`` (empty when it has none)."""
        return self._current().devices.get(device, ())

    def crl(self, ca_id: int) -> x509.CertificateRevocationList | None:
        """The CA's current revocation list, None when it has none."""
        rev = self._current().revocations.get(ca_id)
        if rev is None or rev.crl_file is None:
            return None
        data = self._read(
            rev.crl_file,
            f"the revocation list of CA {ca_id}",
            "import the CA's revocation list again ('ouc certs import FILE.crl')",
        )
        return load_crl(data, where=rev.crl_file)

    def crls(self) -> list[x509.CertificateRevocationList]:
        """Every revocation list in the store."""
        found = (self.crl(ca) for ca in sorted(self._current().revocations))
        return [crl for crl in found if crl is not None]

    def is_revoked(self, cert_id: int) -> bool:
        """True when the issuing CA's revocation list names this certificate's serial."""
        issuer = self.entry(cert_id).issuer_id
        rev = self._current().revocations.get(issuer) if issuer is not None else None
        serial = f"{self.certificate(cert_id).serial_number:X}"
        return rev is not None and any(s == serial for s, _ in rev.entries)

    @contextmanager
    def _write_lock(self, *, sweep: bool = True) -> Iterator[None]:
        """Hold the store's exclusive write lock (``flock`` on ``.lock``, mode 0600); with
        ``sweep``, first tidy the files no index names (:meth:`_sweep_orphans`)."""
        if fcntl is None:  # pragma: no cover - not POSIX
            yield
            return
        try:
            fd = os.open(self._path / LOCK_NAME, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError as exc:
            raise StoreError(
                f"cannot lock the store for writing: {exc.strerror}", path=str(self._path)
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # Said at once rather than after a delay: this layer keeps no clock.
                log.warning("waiting for another ouc writing %s", self._path)
                fcntl.flock(fd, fcntl.LOCK_EX)
            # Always re-read: the (inode, mtime, size) stamp of _current() can miss a commit of
            # the same size within one timestamp tick (coarse file times; inodes get reused).
            self._index, self._stamp = read_index(self._path)
            if sweep:
                self._sweep_orphans()
            yield
        finally:
            os.close(fd)  # releases the lock

    def _sweep_orphans(self) -> list[Path]:
        """Tidy what no index names (called under the write lock); returns the files moved.

        A writer writes the key, then the certificate, then commits the index; a full disk or a
        crash in between leaves ``keys/NNNN-rK.key`` or ``certs/NNNN-rK.pem`` that no index
        names. But so does an ``index.json`` restored from a backup (the advice for a damaged
        index): then the orphans are the current keys. So nothing is deleted silently: our own
        temporary files (``.NAME.HEX.tmp``) are removed, every other orphan in ``certs/``,
        ``keys/`` and ``crls/`` is moved to ``leftovers/`` (mode 0700; a key keeps its 0600)
        with one warning, for the user to import again or delete. Files in the store's top
        folder are the user's and stay.
        """
        moved: list[Path] = []
        try:
            for path in self.leftovers():
                if _OWN_TMP.fullmatch(path.name):
                    path.unlink(missing_ok=True)
                elif path.parent != self._path:
                    moved.append(self._move_aside(path))
                else:
                    continue
                self._parsed.pop(path.relative_to(self._path).as_posix(), None)
                self._keys.pop(path.relative_to(self._path).as_posix(), None)
        except OSError:  # pragma: no cover - a read-only file system: the next writer tries
            return moved
        if moved:
            fsync_dir(self._path)
            names = ", ".join(p.name for p in moved[:4]) + (", ..." if len(moved) > 4 else "")
            log.warning(
                "%s: moved %d file(s) no index.json names to %s (%s): left by an interrupted "
                "write, or the current files of an index.json restored from a backup; import "
                "what you need ('ouc certs import FILE --key KEY'), then delete the folder",
                self._path,
                len(moved),
                self._path / LEFTOVERS_NAME,
                names,
            )
        return moved

    def _move_aside(self, path: Path) -> Path:
        folder = self._path / LEFTOVERS_NAME
        folder.mkdir(mode=0o700, exist_ok=True)
        os.chmod(folder, 0o700)  # the umask may have narrowed it; keys inside stay private
        target = folder / path.name
        for number in range(1, 1000):
            if not target.exists():
                break
            target = folder / f"{path.stem}.{number}{path.suffix}"
        os.replace(path, target)
        return target

    def _current(self) -> Index:
        """The index, reloaded when another process committed a new one since we read it."""
        stamp = index_stamp(self._path)
        if stamp is not None and stamp != self._stamp:
            self._index, self._stamp = read_index(self._path)
        return self._index

    def _claim_id(self, index: Index, cert_id: int | None) -> int:
        if cert_id is None:
            return index.next_id()
        if not 1 <= cert_id <= MAX_ID:
            raise StoreError(f"certificate ID {cert_id} is outside 1..{MAX_ID}", path="cert_id")
        if cert_id in index.entries or cert_id in index.retired:
            raise StoreError(
                f"certificate ID {cert_id} is already used (IDs are never reused); choose one "
                "never used, or leave it out for the next free ID ('ouc certs list' shows them)",
                path="cert_id",
            )
        return cert_id

    def _signer(self, ca_id: int, now: dt.datetime | None) -> tuple[x509.Certificate, PrivateKey]:
        """The CA certificate and key that sign for ``ca_id``; checks it can."""
        ca = self.certificate(ca_id)
        if not is_ca(ca):
            raise CertError(f"ID {ca_id} is not a CA certificate", path="issuer_id")
        key = self.private_key(ca_id)
        if key is None:
            raise CertError(f"CA {ca_id} has no private key in the store", path="issuer_id")
        if now is not None:
            moment = as_utc(now)
            if not ca.not_valid_before_utc <= moment <= ca.not_valid_after_utc:
                raise CertError(f"CA {ca_id} is not valid at {moment:%Y-%m-%d}", path="issuer_id")
        return ca, key

    @staticmethod
    def _check_pair(cert: x509.Certificate, key: PrivateKey | None) -> None:
        if key is not None and key.public_key() != cert.public_key():
            raise CertError(
                "the private key does not belong to the certificate (their public keys "
                "differ); give the certificate's own key",
                path="key",
            )

    def _write_entry(
        self,
        index: Index,
        entry: Entry,
        cert: x509.Certificate,
        key: PrivateKey | None,
        *,
        keep_key: bool = False,
    ) -> None:
        """Write the files of a new revision of ``entry`` and commit them."""
        previous = index.entries.get(entry.id)
        revision = previous.revision + 1 if previous is not None else 1
        stem = f"{entry.id:04d}-r{revision}"
        cert_file = f"certs/{stem}.pem"
        key_file, encrypted = (entry.key_file, entry.key_encrypted) if keep_key else (None, False)
        if key is not None:
            key_file, encrypted = f"keys/{stem}.key", self._password is not None
            self._write_file(key_file, key_bytes(key, password=self._password), secret=True)
        self._write_file(cert_file, cert.public_bytes(serialization.Encoding.PEM))
        updated = Entry(
            id=entry.id,
            cert_file=cert_file,
            key_file=key_file,
            key_encrypted=encrypted,
            template=entry.template,
            legacy=entry.legacy,
            default=entry.default,
            issuer_id=entry.issuer_id,
            revision=revision,
        )
        self._parsed[cert_file] = cert
        if key is not None and key_file is not None:
            self._keys[key_file] = key
        self._commit(index.evolve(entries={**index.entries, entry.id: updated}))

    def _commit(self, index: Index) -> None:
        """Write ``index`` atomically, then remove the files only the old index named."""
        old_files = self._index.files()
        write_index(self._path, index)
        self._index, self._stamp = index, index_stamp(self._path)
        for name in sorted(old_files - index.files()):
            (self._path / name).unlink(missing_ok=True)
            self._parsed.pop(name, None)
            self._keys.pop(name, None)

    def _write_file(self, name: str, data: bytes, *, secret: bool = False) -> None:
        target = self._path / name
        try:
            target.parent.mkdir(mode=0o700 if secret else 0o755, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create {target.parent}: {exc.strerror}", path=str(target.parent)
            ) from exc
        write_atomic(target, data, mode=0o600 if secret else 0o644)

    def _read(self, name: str, where: str, remedy: str) -> bytes:
        """The bytes of the store file ``name``.

        Args:
            where: what the file belongs to (``ID 9``), the error's path.
            remedy: the store command that mends the entry when the file is lost for good.

        Raises:
            StoreError: the file cannot be read; the line names the whole path and what to do.
        """
        file = self._path / name
        try:
            return file.read_bytes()
        except OSError as exc:
            raise StoreError(
                f"cannot read {file}: {exc.strerror or exc}; check that the user running ouc "
                f"may read it (ls -l {file}), or {remedy}",
                path=where,
            ) from exc

    def leftovers(self) -> list[Path]:
        """Files in the store that no index names: interrupted writes, or the current files of
        an index restored from a backup (the next writer moves them to ``leftovers/``)."""
        named = self._current().files() | {"index.json", LOCK_NAME}
        found: list[Path] = []
        for folder in (self._path, *(self._path / sub for sub in ("certs", "keys", "crls"))):
            if not folder.is_dir():
                continue
            for child in folder.iterdir():
                rel = child.relative_to(self._path).as_posix()
                if child.is_file() and (rel not in named or child.name.endswith(TMP_SUFFIX)):
                    found.append(child)
        return sorted(found)

    def clean(self) -> list[Path]:
        """Delete :meth:`leftovers` (what a writer would move to ``leftovers/``); returns them.

        Only on request: a leftover may be a key an index restored from a backup forgot. Under
        the write lock: another writer's new files are leftovers until its commit.
        """
        with self._write_lock(sweep=False):
            removed = self.leftovers()
            for path in removed:
                path.unlink(missing_ok=True)
            if removed:
                fsync_dir(self._path)
            return removed


def device_name(device: str) -> str:
    name = device.strip()
    if not name or len(name) > 128:
        raise StoreError("a device name needs 1..128 characters", path="device")
    return name
