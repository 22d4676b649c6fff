"""The pytest plugin's certificate helpers: what an endpoint of the fixtures presents
(``server_cert=`` / ``client_cert=``) and :func:`trust` / :func:`present` for the peer's own
``ssl`` context.

Imported by :mod:`ouc.pytest_plugin` at load, so it stays as cheap: the TLS stack and the
certificate modules are imported inside the functions.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import ssl

    from ouc.certs import CertStore
    from ouc.params import Block

__all__ = ["present", "trust"]


def trust(ctx: ssl.SSLContext, store: CertStore, *ids: int) -> ssl.SSLContext:
    """Make a Python ``ssl`` context trust ``store``'s certificates ``ids`` (default: CA 3,
    which issued the example's certificates), as a PLC trusts its TLSServerCertRef.

    Returns ``ctx``, so ``trust(ssl.create_default_context(), ouc_store)`` is one line.
    """
    from cryptography.hazmat.primitives import serialization

    from ouc.certs import EXAMPLE_CA_ID

    for cert_id in ids or (EXAMPLE_CA_ID,):
        pem = store.certificate(cert_id).public_bytes(serialization.Encoding.PEM)
        ctx.load_verify_locations(cadata=pem.decode("ascii"))
    return ctx


def present(ctx: ssl.SSLContext, cert: Any, store: CertStore | None = None) -> ssl.SSLContext:
    """Make a Python ``ssl`` context present ``cert``: a :class:`~ouc.certs.BadCert` (from
    ``ouc_bad_certs``) or a store ID (with ``store``), with its issuing CA when it has one.

    Returns ``ctx``. The key passes through a private temporary file (``ssl`` loads keys only
    from files), removed before this returns.

    Raises:
        ConfigError: ``cert`` is neither, or the store has no key for it.
        CertError: the context refuses the certificate, e.g. a SHA-1 signed one under
            OpenSSL's default security level (the message says how to lower it).
    """
    import ssl
    import tempfile

    from cryptography.hazmat.primitives import serialization

    from ouc.certs import BadCert
    from ouc.errors import CertError, ConfigError

    if isinstance(cert, BadCert):
        leaf, chain = cert.cert, [cert.issuer] if cert.issuer else []
        key: Any = cert.key
    elif isinstance(cert, int) and store is not None:
        leaf, chain, key = store.certificate(cert), [], store.private_key(cert)
        if key is None:
            raise ConfigError(
                f"present(cert={cert}): the store has no private key for certificate {cert}; "
                "give the ID of a certificate whose key the store holds",
                path="cert",
            )
    else:
        raise ConfigError(
            f"present() takes a BadCert, or a store ID with store=, got cert={cert!r}",
            path="cert",
        )
    pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (leaf, *chain))
    secret = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with tempfile.TemporaryDirectory(prefix="ouc-present-") as folder:
        certfile, keyfile = Path(folder, "cert.pem"), Path(folder, "key.pem")
        certfile.write_bytes(pem)
        keyfile.touch(mode=0o600)
        keyfile.write_bytes(secret)
        try:
            ctx.load_cert_chain(certfile, keyfile)
        except ssl.SSLError as exc:
            raise CertError(_refused_text(exc), path="cert") from exc
    return ctx


#: OpenSSL's reasons for refusing a certificate under the context's security level.
_TOO_WEAK = {
    "CA_MD_TOO_WEAK": "a certificate signed with a weak digest (SHA-1, MD5)",
    "EE_KEY_TOO_SMALL": "a certificate whose key is too small",
    "CA_KEY_TOO_SMALL": "a certificate whose issuer's key is too small",
}


def _refused_text(exc: ssl.SSLError) -> str:
    """One line saying why ``ssl`` refused the certificate and what to do next."""
    reason = getattr(exc, "reason", None) or str(exc)
    weak = _TOO_WEAK.get(str(reason))
    if weak is not None:
        return (
            f"present(cert=...): the context's security level refuses {weak} ({reason}); call "
            'ctx.set_ciphers("DEFAULT:@SECLEVEL=0") before present() to let it through'
        )
    return f"present(cert=...): the ssl context refuses the certificate ({reason})"


def _presenting(
    own: Any, block: Block, store: CertStore, device_name: str, what: str, *, now: dt.datetime
) -> Any:
    """The block's certificates resolved from ``store`` as usual, but presenting ``own`` (a
    BadCert, a store ID or a PEM pair) whatever its validity: the PLC's own check of its
    certificate (16#80E2/16#80E5 at start-up) is skipped on purpose."""
    import dataclasses

    from cryptography import x509

    from ouc.certs import BadCert, resolve
    from ouc.errors import ConfigError

    field = "server_cert" if block.role.value == "passive" else "client_cert"
    if not block.secure:
        raise ConfigError(f"{what}({field}=...) needs a secure block", path=field)
    resolved = resolve(store, block, device=device_name, now=now)  # type: ignore[arg-type]
    chain: tuple[x509.Certificate, ...] = ()
    own_id = resolved.own_id
    key: Any
    if isinstance(own, BadCert):
        cert, key = own.cert, own.key
        if own.issuer is not None and resolved.chain:
            chain = (own.issuer,)  # the wire profile sends the issuing CA along
    elif isinstance(own, int) and not isinstance(own, bool):
        cert, key, own_id = store.certificate(own), store.private_key(own), own
        if key is None:
            raise ConfigError(f"{field}={own}: the store has no private key for it", path=field)
    elif isinstance(own, tuple) and len(own) == 2:
        cert, key = _pem_pair(own, field)
    else:
        raise ConfigError(
            f"{field} takes a BadCert, a store ID or (cert.pem, key.pem), got {own!r}", path=field
        )
    return dataclasses.replace(resolved, own_id=own_id, own_cert=cert, own_key=key, chain=chain)


def _pem_pair(files: tuple[Any, Any], field: str) -> tuple[Any, Any]:
    """The certificate (the first in the file) and the unencrypted key of ``(cert.pem,
    key.pem)``, as the ``server_cert``/``client_cert`` argument ``field`` gave them.

    Raises:
        ConfigError: a file that cannot be read, or a key that is encrypted.
        CertError: a file that holds no certificate or no usable key.
    """
    from ouc.certs._formats import load_bundle, load_key
    from ouc.errors import ConfigError

    data = []
    for what, name in zip(("certificate", "key"), files, strict=True):
        try:
            data.append(Path(name).read_bytes())
        except OSError as exc:
            raise ConfigError(
                f"{field}=(cert.pem, key.pem): cannot read the {what} file {str(name)!r} "
                f"({exc.strerror or exc}); give the path of a PEM file that exists",
                path=field,
            ) from exc
    where = f"{field}: {files[0]}"
    cert = load_bundle(data[0], suffix=".pem", where=where).cert
    key = load_key(data[1], where=f"{field}: {files[1]}")
    return cert, key
