"""The project certificate store: numeric IDs → certificates and keys in a folder (domain.md §7).

Layout::

    STORE/index.json           the commit point (see ``_index``)
    STORE/certs/0009-r1.pem    one PEM certificate per ID and revision
    STORE/keys/0009-r1.key     its private key, PKCS#8 PEM, mode 0600, optionally encrypted
    STORE/crls/0003-2.crl      a CA's revocation list (DER), by CRL number

Every change writes its new files first, then commits a new ``index.json`` atomically, then removes
the files the old index named and the new one does not. IDs are assigned on create/import, never
changed and never reused (deleted IDs are kept as "retired"). Time is always a ``now`` argument.
The store notices when another process committed a new index and reloads it, so a running
endpoint picks up renewed certificates on its next connection.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from ouc.certs._checks import checked_parse
from ouc.certs._create import Template, as_utc, create_certificate, is_ca, reissue, valid_until
from ouc.certs._crl_order import check_newer, crl_number
from ouc.certs._formats import crl_bytes
from ouc.certs._index import (
    MAX_CRL_NUMBER,
    MAX_DEVICE_CERTS,
    Entry,
    Index,
    Revocations,
    write_index,
)
from ouc.certs._keys import (
    PrivateKey,
    check_key_supported,
    check_key_type,
    describe_key,
    generate_key,
)
from ouc.certs._listing import (
    CertDetails,
    CertRow,
    cert_details,
    cert_row,
    damaged_row,
)
from ouc.certs._server_san import check_server_san
from ouc.certs._storebase import StoreBase, device_name, writes
from ouc.certs._transfer import (
    bundle_from,
    export_cert,
    export_crl,
    import_bytes,
    import_file,
    read_bundle,
)
from ouc.device import Device
from ouc.errors import CertError, StoreError

__all__ = ["DEFAULT_CA_IDS", "MAX_DEVICE_CERTS", "CertStore"]

#: The two CAs every new store gets: ID 1 (RSA 2048, SHA-1, legacy) and ID 2 (RSA 2048, SHA-256).
DEFAULT_CA_IDS = (1, 2)
_CA_DAYS = 3650
_LEAF_DAYS = 730
_CRL_DAYS = 30

#: What :meth:`CertStore.replace` did with the ID's private key.
KeyOutcome = Literal["kept", "replaced", "dropped", "none"]


class CertStore(StoreBase):
    """A certificate store folder. Open an existing one with ``CertStore(path, password=...)``;
    make a new one with :meth:`init`.
    """

    # -- creation -------------------------------------------------------------------------------

    @classmethod
    def init(
        cls,
        path: str | Path,
        *,
        now: dt.datetime,
        password: str | bytes | None = None,
        default_ca_keys: tuple[PrivateKey, PrivateKey] | None = None,
    ) -> CertStore:
        """Create a new store with the default CAs 1 (SHA-1, legacy) and 2 (SHA-256).

        Args:
            path: folder to create, mode 0700 (may exist if empty; it then keeps its mode).
            now: creation time; the CAs are valid from ``now`` for ten years.
            password: encrypts the private keys.
            default_ca_keys: RSA 2048 keys for CA 1 and CA 2 (tests reuse keys; RSA is slow).

        Raises:
            StoreError: the folder already holds a store or cannot be written.
        """
        folder = Path(path)
        if (folder / "index.json").exists():
            raise StoreError("a certificate store already exists here", path=str(folder))
        if folder.exists() and not folder.is_dir():
            raise StoreError(
                "this is a file, not a folder; a store is a folder: name a new or empty one",
                path=str(folder),
            )
        if not folder.exists():
            # 0700 whatever the umask: only its owner reads the store (the keys in it are the
            # owner's anyway), and nobody else may swap its index. An existing (empty) folder
            # keeps the mode its owner gave it.
            folder.parent.mkdir(parents=True, exist_ok=True)
            folder.mkdir(mode=0o700)
            os.chmod(folder, 0o700)
        write_index(folder, Index())
        store = cls(folder, password=password)
        keys = default_ca_keys or (generate_key("RSA-2048"), generate_key("RSA-2048"))
        for ca_id, label, hash_name, key in (
            (1, "Default CA 1 (SHA-1, legacy)", "SHA1", keys[0]),
            (2, "Default CA 2", "SHA256", keys[1]),
        ):
            if describe_key(key) != "RSA-2048":
                raise StoreError("the default CAs use RSA 2048 keys", path="default_ca_keys")
            store.create(
                common_name=label,
                template=Template.CA,
                key=key,
                now=now,
                hash_name=hash_name,
                cert_id=ca_id,
                _legacy=ca_id == 1,
                _default=True,
            )
        return store

    @writes
    def create(
        self,
        *,
        common_name: str,
        template: Template,
        now: dt.datetime,
        key_type: str = "EC-P256",
        key: PrivateKey | None = None,
        issuer_id: int | None = None,
        not_before: dt.datetime | None = None,
        not_after: dt.datetime | None = None,
        days: int | None = None,
        ip_sans: Sequence[str] = (),
        dns_sans: Sequence[str] = (),
        uri_sans: Sequence[str] = (),
        hash_name: str = "SHA256",
        device: Device | None = None,
        cert_id: int | None = None,
        _legacy: bool = False,
        _default: bool = False,
    ) -> int:
        """Create a certificate from a template and a new (or given) key; returns its ID.

        Args:
            common_name / template / ip_sans / dns_sans / uri_sans / hash_name: as in
                :func:`~ouc.certs.create_certificate`.
            now: the current time; validity starts here unless ``not_before`` is given.
            key_type: key to generate ("EC-P256", "RSA-2048", ...), unless ``key`` is given.
            issuer_id: the store CA that signs it (it needs its private key); None self-signs.
            not_after / days: end of validity; default 10 years for a CA, 2 years otherwise.
            device: refuse key types this emulated device does not support (16#80E2).
            cert_id: an explicit ID (one never used before); default the next free ID.

        Raises:
            CertError: template/SAN/key problems, issuer missing, not a CA, without key or not
                valid at ``now``; StoreError: an ID already used, a write failure.
        """
        index = self._current()
        new_id = self._claim_id(index, cert_id)
        if key is None:
            check_key_type(key_type, device)  # refuse before a slow RSA generation
        own_key = key if key is not None else generate_key(key_type)
        check_key_supported(own_key, device)
        start = as_utc(not_before or now)
        if not_after is None:
            span = days if days is not None else (_CA_DAYS if template.is_ca else _LEAF_DAYS)
            not_after = valid_until(start, span)
        issuer_cert, issuer_key = None, None
        if issuer_id is not None:
            issuer_cert, issuer_key = self._signer(issuer_id, now)
        cert = create_certificate(
            common_name=common_name,
            template=template,
            key=own_key,
            issuer_cert=issuer_cert,
            issuer_key=issuer_key,
            not_before=start,
            not_after=not_after,
            ip_sans=ip_sans,
            dns_sans=dns_sans,
            uri_sans=uri_sans,
            hash_name=hash_name,
        )
        entry = Entry(
            id=new_id,
            cert_file="",
            template=template.value,
            legacy=_legacy,
            default=_default,
            issuer_id=issuer_id,
        )
        self._write_entry(index, entry, cert, own_key)
        return new_id

    @writes
    def add(
        self,
        cert: x509.Certificate,
        key: PrivateKey | None = None,
        *,
        cert_id: int | None = None,
    ) -> int:
        """Add an existing certificate (and its key) under a new ID; returns the ID.

        Raises:
            CertError: ``key`` does not belong to ``cert``; StoreError: ID in use, write failure.
        """
        index = self._current()
        new_id = self._claim_id(index, cert_id)
        self._check_pair(cert, key)
        entry = Entry(id=new_id, cert_file="", issuer_id=self.find_issuer(cert))
        self._write_entry(index, entry, cert, key)
        return new_id

    @writes
    def assign(self, device: str, ids: Iterable[int]) -> tuple[int, ...]:
        """Assign certificates to a named device; returns its assigned IDs.

        A device holds at most 64 certificates/keys, key entries counted too (domain.md §7):
        an ID whose private key is in the store counts twice.

        Raises:
            StoreError: unknown ID, bad device name, or more than 64 entries on the device.
        """
        name = device_name(device)
        index = self._current()
        wanted = list(index.devices.get(name, ()))
        for cert_id in ids:
            self.entry(cert_id)
            if cert_id not in wanted:
                wanted.append(cert_id)
        keys = sum(1 for cert_id in wanted if index.entries[cert_id].key_file is not None)
        if len(wanted) + keys > MAX_DEVICE_CERTS:
            raise StoreError(
                f"device {name} would hold {len(wanted) + keys} entries ({len(wanted)} "
                f"certificates, {keys} of them with their private key); a device holds at most "
                f"{MAX_DEVICE_CERTS} certificates/keys, a private key counting as one more",
                path=name,
            )
        devices = {**index.devices, name: tuple(wanted)}
        self._commit(index.evolve(devices=devices))
        return tuple(wanted)

    @writes
    def unassign(self, device: str, ids: Iterable[int]) -> tuple[int, ...]:
        """Remove certificates from a device; returns what stays assigned."""
        name = device_name(device)
        index = self._current()
        drop = set(ids)
        kept = tuple(i for i in index.devices.get(name, ()) if i not in drop)
        devices = dict(index.devices)
        if kept:
            devices[name] = kept
        else:
            devices.pop(name, None)
        self._commit(index.evolve(devices=devices))
        return kept

    # -- lifecycle ------------------------------------------------------------------------------

    @writes
    def renew(
        self, cert_id: int, *, now: dt.datetime, days: int | None = None, new_key: bool = False
    ) -> x509.Certificate:
        """Re-issue ``cert_id`` with a new validity and serial; the ID stays, so does the rest.

        Subject, extensions, signature hash and signer stay the same. The key stays too unless
        ``new_key`` asks for a fresh one of the same type ("same key parameters"); renewing a CA
        with its key keeps every certificate it issued valid.

        Args:
            now: the new validity starts here.
            days: new validity length; default: the old certificate's.

        Raises:
            StoreError: the signer (itself or its CA) has no private key in the store.
        """
        index = self._current()
        entry = self.entry(cert_id)
        old = self.certificate(cert_id)
        own_key = self.private_key(cert_id)
        if new_key:
            own_key = generate_key(describe_key(old.public_key()))
        if entry.issuer_id is None:
            if own_key is None:
                raise StoreError(
                    "self-signed, and the store has no private key to sign its renewal with",
                    path=f"ID {cert_id}",
                )
            issuer_name, signer = old.subject, own_key
        else:
            issuer_cert, signer = self._signer(entry.issuer_id, now)
            issuer_name = issuer_cert.subject
        public = own_key.public_key() if own_key is not None else old.public_key()
        span = (
            dt.timedelta(days=days)
            if days is not None
            else old.not_valid_after_utc - old.not_valid_before_utc
        )
        start = as_utc(now)
        cert = reissue(
            old,
            signer=signer,
            issuer_name=issuer_name,
            public_key=public,  # type: ignore[arg-type]
            not_before=start,
            not_after=valid_until(start, span),
        )
        self._write_entry(index, entry, cert, own_key if new_key else None, keep_key=not new_key)
        return cert

    @writes
    def replace(
        self,
        cert_id: int,
        cert: x509.Certificate,
        key: PrivateKey | None = None,
        *,
        drop_key: bool = False,
        change_use: bool = False,
    ) -> KeyOutcome:
        """Swap in a new certificate (e.g. from a .p12) under the same ID; returns what became
        of the ID's private key: "kept", "replaced" (by ``key``), "dropped" or "none".

        The ID keeps what endpoints rely on, or the swap is refused: a stored private key is
        kept when the new certificate's public key matches it and replaced by ``key`` when one
        is given. Without a matching key the stored one would be lost and the ID could no
        longer serve TLS (16#80E2 at the next ``ouc serve``), so that is refused unless
        ``drop_key`` says so. A CA turning into an end-entity certificate, or the other way
        round, changes what every TCON block naming the ID means, so that needs ``change_use``.
        A TLS server certificate needs an IP SAN, as at :meth:`create` (domain.md §7).

        Raises:
            CertError: ``key`` does not belong to ``cert``; the stored key does not match and
                neither ``key`` nor ``drop_key`` is given; the use changes without
                ``change_use``; a TLS server certificate without an IP SAN (16#80E2).
        """
        index = self._current()
        entry = self.entry(cert_id)
        self._check_pair(cert, key)
        self._check_use(cert_id, cert, change_use)
        try:
            old_cert: x509.Certificate | None = self.certificate(cert_id)
        except StoreError:
            old_cert = None  # damaged: nothing to compare with
        check_server_san(cert_id, cert, old_cert)
        keep = False
        if key is None and entry.key_file is not None:
            old_key = self.private_key(cert_id)
            keep = old_key is not None and old_key.public_key() == cert.public_key()
            if not keep and not drop_key:
                raise CertError(
                    "the stored private key does not match the new certificate's public key; "
                    "give the new certificate's key (--key FILE, or a .p12 holding both), or "
                    "--drop-key to store the certificate without a key",
                    path=f"ID {cert_id}",
                )
        updated = Entry(
            id=cert_id,
            cert_file="",
            template=None,
            legacy=entry.legacy,
            default=entry.default,
            issuer_id=self.find_issuer(cert),
            revision=entry.revision,
            key_file=entry.key_file if keep else None,
            key_encrypted=entry.key_encrypted if keep else False,
        )
        self._write_entry(index, updated, cert, key, keep_key=keep)
        if keep:
            return "kept"
        if key is not None:
            return "replaced"
        return "dropped" if entry.key_file is not None else "none"

    def _check_use(self, cert_id: int, cert: x509.Certificate, change_use: bool) -> None:
        """Refuse a replace that turns a CA into an end-entity certificate or back, unless
        ``change_use``. A damaged stored certificate has no use to keep: it is replaced."""
        try:
            was_ca = self.is_ca(cert_id)
        except StoreError:
            return
        if was_ca == is_ca(cert) or change_use:
            return
        old, new = ("a CA", "an end-entity") if was_ca else ("an end-entity", "a CA")
        raise CertError(
            f"holds {old} certificate and the new one is {new} certificate; pass "
            "--change-use if that is meant, or import it under a new ID ('ouc certs import')",
            path=f"ID {cert_id}",
        )

    @writes
    def delete(self, cert_id: int) -> None:
        """Delete ``cert_id``; its ID is retired, never reused. Device assignments are dropped.

        A CA that issued certificates still in the store is kept: deleting it would leave them
        naming an issuer that no longer exists, with nothing to build their chain or revoke
        them with (a decision of ouc's; the engineering tool's rule is not documented).

        Raises:
            StoreError: a CA whose certificates are still in the store, or a default CA (1, 2)
                that a device still references.
        """
        index = self._current()
        entry = self.entry(cert_id)
        issued = sorted(
            e.id for e in index.entries.values() if e.issuer_id == cert_id and e.id != cert_id
        )
        users = (
            [name for name, ids in index.devices.items() if cert_id in ids] if entry.default else []
        )
        users += [f"ID {i}" for i in issued]
        if users:
            kind = "default CA" if entry.default else "CA"
            raise StoreError(
                f"{kind} {cert_id} is still referenced by {', '.join(users)}; delete or "
                "replace those first",
                path=f"ID {cert_id}",
            )
        entries = {i: e for i, e in index.entries.items() if i != cert_id}
        devices = {
            name: tuple(i for i in ids if i != cert_id) for name, ids in index.devices.items()
        }
        revocations = {ca: rev for ca, rev in index.revocations.items() if ca != cert_id}
        self._commit(
            index.evolve(
                entries=entries,
                retired=index.retired | {cert_id},
                devices={name: ids for name, ids in devices.items() if ids},
                revocations=revocations,
            )
        )

    # -- revocation -----------------------------------------------------------------------------

    @writes
    def revoke(self, cert_id: int, *, now: dt.datetime) -> x509.CertificateRevocationList:
        """Revoke ``cert_id`` in its issuing CA's CRL; returns the CA's new CRL.

        Raises:
            StoreError: the certificate has no issuing CA in the store, or the CA has no key.
        """
        entry = self.entry(cert_id)
        if entry.issuer_id is None:
            raise StoreError(
                "no issuing CA in the store (it is self-signed, or its issuer is not here), so no "
                f"revocation list can name it; 'ouc certs delete {cert_id}' removes it",
                path=f"ID {cert_id}",
            )
        index = self._current()
        rev = index.revocations.get(entry.issuer_id, Revocations())
        serial = f"{self.certificate(cert_id).serial_number:X}"
        entries = rev.entries
        if all(s != serial for s, _ in entries):
            entries = (*entries, (serial, as_utc(now).isoformat()))
        return self._issue_crl(index, entry.issuer_id, entries, now)

    @writes
    def issue_crl(self, ca_id: int, *, now: dt.datetime) -> x509.CertificateRevocationList:
        """Issue the CA's revocation list anew, with the certificates it revoked so far (none
        yet: an empty list, as the engineering tool exports one, domain.md §7).

        Raises:
            StoreError / CertError: no such ID; not a CA; the CA has no key to sign with.
        """
        if not self.is_ca(ca_id):
            raise StoreError("not a CA, so it has no revocation list", path=f"ID {ca_id}")
        index = self._current()
        entries = index.revocations.get(ca_id, Revocations()).entries
        return self._issue_crl(index, ca_id, entries, now)

    @writes
    def add_crl(self, crl: x509.CertificateRevocationList, *, where: str = "crl") -> int:
        """Store an imported revocation list for the CA that signed it; returns the CA's ID.

        A list older than the stored one would silently take back revocations, so the new list
        must be newer: a higher CRL number (RFC 5280 5.2.3), or a later thisUpdate when either
        list has no number. Importing the very list the store holds changes nothing.

        Args:
            where: the file (or ``<stdin>``) the list came from, for error messages.

        Raises:
            CertError: no CA in the store has the CRL's issuer name; the signature does not
                verify with the key of the CA of that name; the list is not newer.
        """
        index = self._current()
        named = [(i, ca) for i, ca in self.readable() if ca.subject == crl.issuer and is_ca(ca)]
        for ca_id, ca in named:
            check = partial(crl.is_signature_valid, ca.public_key())  # type: ignore[arg-type]
            if not checked_parse(check, where, "the revocation list's signature"):
                continue
            try:
                stored = self.crl(ca_id)
            except CertError:  # a damaged stored list: the imported one replaces it
                stored = None
            if not check_newer(crl, stored, ca_id=ca_id, where=where):
                return ca_id  # the very list the store holds: nothing to do
            entries = tuple(
                (f"{r.serial_number:X}", r.revocation_date_utc.isoformat()) for r in crl
            )
            # Our bookkeeping number only grows, so file names never collide with older CRLs.
            number = max(
                index.revocations.get(ca_id, Revocations()).crl_number + 1,
                crl_number(crl) or 0,
            )
            self._save_crl(index, ca_id, crl, number, entries)
            return ca_id
        issuer = crl.issuer.rfc4514_string()
        if named:
            cas = " or ".join(f"CA {ca_id}'s" for ca_id, _ in named)
            raise CertError(
                f"the signature of the revocation list of {issuer} does not verify with {cas} "
                "key; import the list that CA signed",
                path=where,
            )
        raise CertError(
            f"no CA in the store is {issuer}, the issuer of this revocation list; import the "
            "CA certificate first",
            path=where,
        )

    # -- internals ------------------------------------------------------------------------------

    def _issue_crl(
        self,
        index: Index,
        ca_id: int,
        entries: tuple[tuple[str, str], ...],
        now: dt.datetime,
    ) -> x509.CertificateRevocationList:
        ca_cert, ca_key = self._signer(ca_id, None)
        number = index.revocations.get(ca_id, Revocations()).crl_number + 1
        moment = as_utc(now)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(moment)
            .next_update(moment + dt.timedelta(days=_CRL_DAYS))
            .add_extension(x509.CRLNumber(number), critical=False)
        )
        for serial, when in entries:
            revoked = (
                x509.RevokedCertificateBuilder()
                .serial_number(int(serial, 16))
                .revocation_date(dt.datetime.fromisoformat(when))
                .build()
            )
            builder = builder.add_revoked_certificate(revoked)
        # cryptography signs no SHA-1 CRLs, so even the legacy CA's CRL is SHA-256 signed.
        crl = builder.sign(ca_key, hashes.SHA256())
        self._save_crl(index, ca_id, crl, number, entries)
        return crl

    def _save_crl(
        self,
        index: Index,
        ca_id: int,
        crl: x509.CertificateRevocationList,
        number: int,
        entries: tuple[tuple[str, str], ...],
    ) -> None:
        """Write the CA's CRL file (named by CRL number) and commit it to the index; a number
        beyond RFC 5280's 20 octets is refused before anything is written."""
        if number > MAX_CRL_NUMBER:
            raise CertError(
                f"the revocation list of CA {ca_id} would have CRL number {number}, beyond the "
                "20 octets RFC 5280 allows; this CA can issue no further list: issue its "
                "certificates from a new CA",
                path=f"ID {ca_id}",
            )
        name = f"crls/{ca_id:04d}-{number}.crl"
        self._write_file(name, crl_bytes(crl))
        revocations = {
            **index.revocations,
            ca_id: Revocations(crl_number=number, entries=entries, crl_file=name),
        }
        self._commit(index.evolve(revocations=revocations))

    # -- listing, files -------------------------------------------------------------------------

    def rows(self) -> list[CertRow]:
        """The listing: one :class:`CertRow` per ID, ascending; a damaged entry is a row that
        says so (:attr:`CertRow.problem`), so one bad file does not hide the rest."""
        rows = []
        for cert_id in self.ids():
            try:
                rows.append(cert_row(self, cert_id))
            except StoreError as exc:
                rows.append(damaged_row(self, cert_id, exc.message))
        return rows

    def show(self, cert_id: int) -> CertDetails:
        """The detail view of one certificate."""
        return cert_details(self, cert_id)

    def import_file(
        self,
        path: str | Path,
        *,
        password: str | bytes | None = None,
        key_path: str | Path | None = None,
    ) -> list[int]:
        """Import .der/.cer/.crt/.pem/.p12 (new IDs, main first) or a .crl (its CA's ID)."""
        return import_file(self, path, password=password, key_path=key_path)

    def import_bytes(
        self,
        data: bytes,
        *,
        suffix: str,
        where: str = "<stdin>",
        password: str | bytes | None = None,
        key_path: str | Path | None = None,
    ) -> list[int]:
        """:meth:`import_file` for bytes (stdin): ``suffix`` (``.pem``, ``.der``, ``.p12``,
        ``.crl``, ...) names their format, ``where`` names them in errors."""
        return import_bytes(
            self, data, suffix=suffix, where=where, password=password, key_path=key_path
        )

    def replace_from_file(
        self,
        cert_id: int,
        path: str | Path,
        *,
        password: str | bytes | None = None,
        key_path: str | Path | None = None,
        drop_key: bool = False,
        change_use: bool = False,
    ) -> KeyOutcome:
        """:meth:`replace` with the certificate (and key) read from a file or .p12."""
        bundle = read_bundle(path, password=password, key_path=key_path)
        return self.replace(
            cert_id, bundle.cert, bundle.key, drop_key=drop_key, change_use=change_use
        )

    def replace_from_bytes(
        self,
        cert_id: int,
        data: bytes,
        *,
        suffix: str,
        where: str = "<stdin>",
        password: str | bytes | None = None,
        key_path: str | Path | None = None,
        drop_key: bool = False,
        change_use: bool = False,
    ) -> KeyOutcome:
        """:meth:`replace_from_file` for bytes (stdin): ``suffix`` names their format."""
        bundle = bundle_from(data, suffix=suffix, where=where, password=password, key_path=key_path)
        return self.replace(
            cert_id, bundle.cert, bundle.key, drop_key=drop_key, change_use=change_use
        )

    def export(
        self,
        cert_id: int,
        path: str | Path,
        *,
        with_key: bool = False,
        password: str | bytes | None = None,
        chain: bool = False,
    ) -> list[Path]:
        """Export by ``path``'s suffix (.der/.cer/.crt/.pem/.p12); returns the files written."""
        return export_cert(self, cert_id, path, with_key=with_key, password=password, chain=chain)

    def export_crl(self, ca_id: int, path: str | Path, *, now: dt.datetime | None = None) -> Path:
        """Write the CA's revocation list (.crl DER, .pem PEM); a CA that has revoked nothing
        yet first issues its empty list, dated ``now`` (default: the PC's clock)."""
        return export_crl(self, ca_id, path, now=now)
