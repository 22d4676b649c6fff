"""Thin helpers over libssl for :mod:`ouc.tls._engine`: names, sessions, BIOs, owned pointers.

The engine calls libssl through the cffi binding that pyOpenSSL and cryptography share, without
pyOpenSSL's ``Connection`` wrapper; these are the few conversions it needs. Layer 2.
"""

from __future__ import annotations

import sys
from typing import Any

from ouc.tls import _libssl as _lib
from ouc.tls._libssl import ffi as _ffi

_NULL = _ffi.NULL

gc = _ffi.gc
_string = _ffi.string


def name(ptr: Any) -> str | None:
    """A C string from libssl as an interned str (None for NULL): a mock PLC keeps one
    SessionInfo per negotiation, and a new str per field would cost ~60 B each."""
    if ptr == _NULL:
        return None
    return sys.intern(_string(ptr).decode("utf-8", "replace"))


def cipher_name(ssl: Any) -> str | None:
    """The negotiated cipher suite's OpenSSL name (None before the handshake)."""
    cipher = _lib.SSL_get_current_cipher(ssl)
    return None if cipher == _NULL else name(_lib.SSL_CIPHER_get_name(cipher))


def group_name(ssl: Any) -> str | None:
    """The negotiated key-exchange group (None without a session)."""
    # SSL_get0_group_name may crash without a session (pyOpenSSL guards it the same way).
    if _lib.SSL_get_session(ssl) == _NULL:
        return None
    return name(_lib.SSL_get0_group_name(ssl))


def get1_session(ssl: Any) -> Any:
    """The connection's SSL_SESSION with a reference of its own (freed with the cdata)."""
    session = _lib.SSL_get1_session(ssl)
    return None if session == _NULL else gc(session, _lib.SSL_SESSION_free)


def free_bios(*bios: Any) -> None:
    """Free BIOs not (yet) owned by an SSL object; NULLs are skipped."""
    for bio in bios:
        if bio != _NULL:
            _lib.BIO_free(bio)
