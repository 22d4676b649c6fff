"""Import and export between a store and the tool's file formats (domain.md §7).

File bytes are parsed and encoded by ``_formats``; this module adds the file system and the
store's rules: imported certificates get new IDs, a chain's CA certificates already in the store
are not duplicated, exported private keys are written with mode 0600.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING

from ouc.certs._atomic import write_atomic
from ouc.certs._formats import Bundle, crl_bytes, export_bytes, load_bundle, load_crl, load_key
from ouc.errors import ConfigError, StoreError

if TYPE_CHECKING:
    from ouc.certs._store import CertStore

__all__ = ["bundle_from", "export_cert", "export_crl", "import_bytes", "import_file", "read_bundle"]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read {path}: {exc.strerror}", path=str(path)) from exc


def read_bundle(
    path: str | Path,
    *,
    password: str | bytes | None = None,
    key_path: str | Path | None = None,
) -> Bundle:
    """Read a certificate file (and optionally a separate key file) into a :class:`Bundle`."""
    source = Path(path)
    return bundle_from(
        _read(source), suffix=source.suffix, where=str(source), password=password, key_path=key_path
    )


def bundle_from(
    data: bytes,
    *,
    suffix: str,
    where: str,
    password: str | bytes | None = None,
    key_path: str | Path | None = None,
) -> Bundle:
    """A :class:`Bundle` from file bytes in the format ``suffix`` names (``where`` names them in
    errors: a file, or ``<stdin>``), with the key from ``key_path`` when given."""
    bundle = load_bundle(data, suffix=suffix, password=password, where=where)
    if key_path is not None:
        key_file = Path(key_path)
        # With a .p12 the password is the .p12's; a plain key file beside it is read as is.
        plain_ok = suffix.lower() in (".p12", ".pfx")
        key = load_key(_read(key_file), password=password, where=str(key_file), plain_ok=plain_ok)
        bundle = Bundle(certs=bundle.certs, key=key)
    return bundle


def import_file(
    store: CertStore,
    path: str | Path,
    *,
    password: str | bytes | None = None,
    key_path: str | Path | None = None,
) -> list[int]:
    """Import a certificate file (.der/.cer/.crt/.pem/.p12) or a revocation list (.crl).

    Returns:
        the new IDs, the file's main certificate first, then CA certificates of its chain that
        the store did not hold yet; for a ``.crl``, the ID of the CA it belongs to.

    Raises:
        StoreError: the main certificate is already in the store.
    """
    source = Path(path)
    return import_bytes(
        store,
        _read(source),
        suffix=source.suffix,
        where=str(source),
        password=password,
        key_path=key_path,
    )


def import_bytes(
    store: CertStore,
    data: bytes,
    *,
    suffix: str,
    where: str,
    password: str | bytes | None = None,
    key_path: str | Path | None = None,
) -> list[int]:
    """:func:`import_file` for bytes read elsewhere (stdin): ``suffix`` names their format,
    ``where`` names them in errors."""
    if suffix.lower() == ".crl":
        return [store.add_crl(load_crl(data, where=where), where=where)]
    bundle = bundle_from(data, suffix=suffix, where=where, password=password, key_path=key_path)
    known = {cert: cert_id for cert_id, cert in store.readable()}
    if bundle.cert in known:
        cert_id = known[bundle.cert]
        hint = ""
        if bundle.key is not None and not store.has_private_key(cert_id):
            hint = (
                f", without the private key this file holds; 'ouc certs replace {cert_id} "
                f"{'-' if where == '<stdin>' else where}' adds it under the same ID"
            )
        raise StoreError(
            f"this certificate is already in the store as ID {cert_id}{hint}", path=where
        )
    # CAs first, so the main certificate's issuer is found among them.
    new_ids = [store.add(extra) for extra in reversed(bundle.certs[1:]) if extra not in known]
    main = store.add(bundle.cert, bundle.key)
    return [main, *reversed(new_ids)]


def _outside_store(store: CertStore, path: str | Path) -> Path:
    """``path`` as the export target, refused when it lies inside the store folder (symlinks
    resolved): an export there would overwrite the store's own files, e.g. put one ID's
    certificate or key in another ID's file."""
    target = Path(path)
    try:
        inside = target.resolve().is_relative_to(store.path.resolve())
    except (OSError, RuntimeError) as exc:  # a symlink loop
        raise StoreError(f"cannot resolve the export target: {exc}", path=str(target)) from exc
    if inside:
        raise StoreError(
            f"the export target is inside the store folder {store.path}, whose files only ouc "
            "writes; export to a file outside it",
            path=str(target),
        )
    return target


def export_cert(
    store: CertStore,
    cert_id: int,
    path: str | Path,
    *,
    with_key: bool = False,
    password: str | bytes | None = None,
    chain: bool = False,
) -> list[Path]:
    """Export ``cert_id`` in the format ``path``'s suffix names; returns the files written.

    ``.der``/``.cer`` write the key (when asked) to ``<path>.key`` beside it.

    Raises:
        StoreError: a key was asked for and the store has none.
    """
    target = _outside_store(store, path)
    key = store.private_key(cert_id) if with_key else None
    if with_key and key is None:
        raise StoreError(
            "the store has no private key for it to export; leave --key out", path=f"ID {cert_id}"
        )
    key_file = target.with_suffix(".key")
    if target.suffix.lower() in (".der", ".cer") and key is not None:
        _outside_store(store, key_file)
    data, separate = export_bytes(
        store.certificate(cert_id),
        suffix=target.suffix,
        key=key,
        password=password,
        chain=store.chain(cert_id) if chain else (),
        name=f"ouc-{cert_id}",
    )
    holds_key = key is not None and separate is None
    write_atomic(target, data, mode=0o600 if holds_key else 0o644)
    written = [target]
    if separate is not None:
        write_atomic(key_file, separate, mode=0o600)
        written.append(key_file)
    return written


def export_crl(
    store: CertStore, ca_id: int, path: str | Path, *, now: dt.datetime | None = None
) -> Path:
    """Write the CA's revocation list as DER (``.crl``) or PEM (``.pem``). A CA that has
    revoked nothing yet issues its empty list first (dated ``now``, default the PC's clock):
    the engineering tool exports CRLs, empty ones included (domain.md §7).

    Raises:
        StoreError: no such ID; the ID is not a CA (the line names its issuing CA, whose list
            would name it); a CA without a list and without a key to sign one.
    """
    target = _outside_store(store, path)
    entry = store.entry(ca_id)
    if not store.is_ca(ca_id):
        issuer = entry.issuer_id
        where = (
            f"export its issuing CA's: 'ouc certs export {issuer} FILE.crl'"
            if issuer is not None
            else "its issuer is not in the store"
        )
        raise StoreError(f"not a CA, so it has no revocation list; {where}", path=f"ID {ca_id}")
    crl = store.crl(ca_id)
    if crl is None:
        if store.private_key(ca_id) is None:
            raise StoreError(
                "a CA with no revocation list and no key in the store to sign an empty one; "
                "import its list ('ouc certs import FILE.crl') or its key with the certificate",
                path=f"ID {ca_id}",
            )
        crl = store.issue_crl(ca_id, now=now if now is not None else dt.datetime.now(dt.UTC))
    write_atomic(target, crl_bytes(crl, pem=target.suffix.lower() == ".pem"))
    return target
