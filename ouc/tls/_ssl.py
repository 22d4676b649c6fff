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


# The names of versions, cipher suites and groups are libssl's constant strings, so one
# address always names the same thing: each handshake's three names are one lookup each
# instead of a copy, a decode and an intern. Bounded, should a build ever return others.
_STATIC_NAMES: dict[Any, str | None] = {}
_STATIC_LIMIT = 256


def static_name(ptr: Any) -> str | None:
    """:func:`name` of a string libssl never frees (a version, cipher or group name)."""
    try:
        return _STATIC_NAMES[ptr]
    except KeyError:
        text = name(ptr)
        if len(_STATIC_NAMES) < _STATIC_LIMIT:
            _STATIC_NAMES[ptr] = text
        return text


def get1_session(ssl: Any) -> Any:
    """The connection's SSL_SESSION with a reference of its own (freed with the cdata)."""
    session = _lib.SSL_get1_session(ssl)
    return None if session == _NULL else gc(session, _lib.SSL_SESSION_free)


def free_bios(*bios: Any) -> None:
    """Free BIOs not (yet) owned by an SSL object; NULLs are skipped."""
    for bio in bios:
        if bio != _NULL:
            _lib.BIO_free(bio)
