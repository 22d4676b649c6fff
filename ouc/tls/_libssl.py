"""The one fence around libssl: every C symbol ouc calls, resolved once, at import.

ouc drives libssl through the cffi binding that cryptography builds and pyOpenSSL re-exports as
``OpenSSL._util``. That binding is private: cryptography removes declarations that no consumer it
knows of uses, and pyOpenSSL plans to move off cffi. So this module is the only place in ouc that
imports it (a test scans the tree), the only place that reads pyOpenSSL's private ``_context`` /
``_ssl`` attributes, and it resolves every symbol the rest of ouc uses when it is imported. A
missing one fails here, once, with an :class:`~ouc.errors.OucError` that names the installed
versions and the supported range, instead of an ``AttributeError`` in the middle of a handshake.

Callers use the names below exactly as the C API spells them (``_lib.SSL_read(...)`` with this
module imported as ``_lib``); mypy then rejects any symbol not listed here. pyOpenSSL's public API
is used wherever it serves without a pyOpenSSL ``Connection``: context set-up (versions, cipher
lists, TLS 1.3 suites, certificates, options, modes) and the constants it exports (``SSL.OP_*``,
``SSL.VERIFY_*``, ``SSL.SENT_SHUTDOWN`` ...). The engine deliberately drives a bare ``SSL *``:
measured against pyOpenSSL's ``Connection`` over the same memory BIOs it needs ~0.75x the CPU per
handshake and ~0.6x per small record. pyOpenSSL's per-connection accessors and callbacks (key log,
verify callback, group name, peer certificate) all require a ``Connection`` (its callbacks look the
connection up by its ``SSL *``), so those libssl calls stay here.

Symbols marked *not used by pyOpenSSL* carry the highest risk of being dropped by a future
cryptography release; :data:`NOT_USED_BY_PYOPENSSL` lists them. Layer 2: no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable
from importlib import metadata
from typing import Any

from ouc.errors import OucError

__all__ = [
    "NOT_USED_BY_PYOPENSSL",
    "REQUIREMENTS",
    "SUPPORTED",
    "SYMBOLS",
    "binding",
    "connection_ptr",
    "context_ptr",
    "ffi",
    "incompatible",
    "installed_versions",
    "missing",
]

#: The tested dependency range, as setup.cfg's install_requires states it (a test compares).
REQUIREMENTS = ("cryptography>=47,<51", "pyOpenSSL>=26.1,<27")
SUPPORTED = " with ".join(REQUIREMENTS)

#: Symbols ouc needs that pyOpenSSL itself does not call, so nothing else keeps them alive.
NOT_USED_BY_PYOPENSSL = frozenset(
    {
        "SSL_CTX_set1_curves_list",  # pin X25519/P-256/P-384 (pyOpenSSL has no set_groups)
        "SSL_CTX_set1_sigalgs_list",  # offer only the classic ECDSA/RSA signature algorithms
        "SSL_CTX_set_cert_cb",  # a client learns that the server asked for its certificate
        "SSL_session_reused",  # SessionInfo.resumed
    }
)


def installed_versions() -> str:
    """``"cryptography 50.0.2, pyOpenSSL 26.4.0"`` (``not installed`` where one is absent)."""
    found = []
    for dist in ("cryptography", "pyOpenSSL"):
        try:
            found.append(f"{dist} {metadata.version(dist)}")
        except metadata.PackageNotFoundError:
            found.append(f"{dist} not installed")
    return ", ".join(found)


def incompatible(detail: str) -> OucError:
    """The one error for bindings ouc cannot use: what is wrong, what is installed, what works."""
    return OucError(
        f"the installed TLS bindings cannot be used ({detail}); installed: "
        f"{installed_versions()}; supported: {SUPPORTED} "
        f"(pip install {' '.join(repr(r) for r in REQUIREMENTS)})"
    )


def missing(binding: Any, names: Iterable[str]) -> list[str]:
    """The names in ``names`` that ``binding`` (the cffi ``lib``) does not have."""
    return [name for name in names if not hasattr(binding, name)]


try:
    from OpenSSL import SSL as _SSL
    from OpenSSL._util import ffi as _ffi
    from OpenSSL._util import lib as _binding
except (ImportError, AttributeError) as _exc:  # pragma: no cover - installed packages
    raise incompatible(f"cannot load pyOpenSSL's libssl binding: {_exc}") from _exc

#: cffi's FFI object of the binding (NULL, callback, gc, new, buffer, string, unpack ...).
ffi: Any = _ffi

_names: list[str] = []


def _get(name: str) -> Any:
    _names.append(name)
    return getattr(_binding, name, None)


# -- BIOs and errors ---------------------------------------------------------------------------
BIO_free = _get("BIO_free")
BIO_get_mem_data = _get("BIO_get_mem_data")
BIO_new = _get("BIO_new")
BIO_read = _get("BIO_read")
BIO_s_mem = _get("BIO_s_mem")
BIO_write = _get("BIO_write")
ERR_GET_REASON = _get("ERR_GET_REASON")
ERR_clear_error = _get("ERR_clear_error")
ERR_get_error = _get("ERR_get_error")
ERR_peek_error = _get("ERR_peek_error")
ERR_reason_error_string = _get("ERR_reason_error_string")

# -- contexts (set up once per endpoint) -------------------------------------------------------
SSL_CTX_set1_curves_list = _get("SSL_CTX_set1_curves_list")
SSL_CTX_set1_sigalgs_list = _get("SSL_CTX_set1_sigalgs_list")
SSL_CTX_set_cert_cb = _get("SSL_CTX_set_cert_cb")
SSL_CTX_set_keylog_callback = _get("SSL_CTX_set_keylog_callback")
SSL_CTX_set_verify = _get("SSL_CTX_set_verify")

# -- connections -------------------------------------------------------------------------------
SSL_CIPHER_get_name = _get("SSL_CIPHER_get_name")
SSL_SESSION_free = _get("SSL_SESSION_free")
SSL_do_handshake = _get("SSL_do_handshake")
SSL_free = _get("SSL_free")
SSL_get0_group_name = _get("SSL_get0_group_name")
SSL_get1_session = _get("SSL_get1_session")
SSL_get_current_cipher = _get("SSL_get_current_cipher")
SSL_get_error = _get("SSL_get_error")
SSL_get_ex_data_X509_STORE_CTX_idx = _get("SSL_get_ex_data_X509_STORE_CTX_idx")
SSL_get_peer_certificate = _get("SSL_get_peer_certificate")
SSL_get_session = _get("SSL_get_session")
SSL_get_shutdown = _get("SSL_get_shutdown")
SSL_get_version = _get("SSL_get_version")
SSL_new = _get("SSL_new")
SSL_pending = _get("SSL_pending")
SSL_read = _get("SSL_read")
SSL_session_reused = _get("SSL_session_reused")
SSL_set_accept_state = _get("SSL_set_accept_state")
SSL_set_bio = _get("SSL_set_bio")
SSL_set_connect_state = _get("SSL_set_connect_state")
SSL_set_mode = _get("SSL_set_mode")
SSL_set_session = _get("SSL_set_session")
SSL_shutdown = _get("SSL_shutdown")
SSL_write = _get("SSL_write")

# -- certificates in the verify callback ---------------------------------------------------------
X509_STORE_CTX_get1_chain = _get("X509_STORE_CTX_get1_chain")
X509_STORE_CTX_get_ex_data = _get("X509_STORE_CTX_get_ex_data")
X509_STORE_CTX_set_error = _get("X509_STORE_CTX_set_error")
X509_free = _get("X509_free")
i2d_X509_bio = _get("i2d_X509_bio")
sk_X509_free = _get("sk_X509_free")
sk_X509_num = _get("sk_X509_num")
sk_X509_value = _get("sk_X509_value")

# -- constants ---------------------------------------------------------------------------------
SSL_ERROR_SYSCALL = _get("SSL_ERROR_SYSCALL")
SSL_ERROR_WANT_READ = _get("SSL_ERROR_WANT_READ")
SSL_ERROR_WANT_WRITE = _get("SSL_ERROR_WANT_WRITE")
SSL_ERROR_ZERO_RETURN = _get("SSL_ERROR_ZERO_RETURN")
SSL_MODE_AUTO_RETRY = _get("SSL_MODE_AUTO_RETRY")
SSL_MODE_ENABLE_PARTIAL_WRITE = _get("SSL_MODE_ENABLE_PARTIAL_WRITE")
X509_V_ERR_CERT_HAS_EXPIRED = _get("X509_V_ERR_CERT_HAS_EXPIRED")
X509_V_ERR_CERT_REJECTED = _get("X509_V_ERR_CERT_REJECTED")
X509_V_ERR_CERT_REVOKED = _get("X509_V_ERR_CERT_REVOKED")
X509_V_ERR_CERT_SIGNATURE_FAILURE = _get("X509_V_ERR_CERT_SIGNATURE_FAILURE")
X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY = _get("X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY")
X509_V_OK = _get("X509_V_OK")

#: Every libssl name above, in the order listed.
SYMBOLS: tuple[str, ...] = tuple(_names)

_absent = missing(_binding, SYMBOLS)
if _absent:
    raise incompatible(f"libssl symbols missing from the binding: {', '.join(_absent)}")


def binding() -> Any:
    """The whole cffi ``lib``, for tests that poke libssl where ouc itself does not.

    ouc's own modules use only the names resolved above (a test checks), so that this module
    stays the complete list of what ouc needs.
    """
    return _binding


def context_ptr(ctx: Any) -> Any:
    """The ``SSL_CTX *`` behind a pyOpenSSL ``Context`` (its private ``_context``)."""
    return ctx._context


def connection_ptr(conn: Any) -> Any:
    """The ``SSL *`` behind a pyOpenSSL ``Connection`` (its private ``_ssl``)."""
    return conn._ssl


def _check_private_attributes() -> None:
    """pyOpenSSL's ``Context._context`` and ``Connection._ssl`` must be the binding's pointers."""
    try:
        ctx = _SSL.Context(_SSL.TLS_METHOD)
        conn = _SSL.Connection(ctx, None)
        ok = ffi.typeof(context_ptr(ctx)) == ffi.typeof("SSL_CTX *")
        ok = ok and ffi.typeof(connection_ptr(conn)) == ffi.typeof("SSL *")
    except (AttributeError, TypeError) as exc:
        raise incompatible(f"pyOpenSSL's Context/Connection internals changed: {exc}") from exc
    if not ok:
        raise incompatible("pyOpenSSL's Context/Connection no longer hold cffi libssl pointers")


_check_private_attributes()
