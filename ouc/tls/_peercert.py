"""Peer certificates out of OpenSSL, parsed once per context.

A PLC talks to the same few partners over and over, so every handshake presents the same
certificate bytes. :class:`PeerCertCache` keeps the parsed ``x509.Certificate`` (whose extensions
cryptography parses once per object) and its RFC 4514 subject by DER, bounded, so a handshake
pays for neither a parse nor a re-encoding; ``ouc.certs.verify_peer_chain`` then sees the same
object each time. :class:`VerdictCache` keeps what verifying them concluded, so a repeat
partner costs a dictionary lookup and a validity-window check per handshake. Layer 2: no I/O.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cryptography import x509

from ouc.errors import CertError, Status
from ouc.tls import _libssl as _lib
from ouc.tls._libssl import ffi as _ffi

__all__ = ["PeerCert", "PeerCertCache", "Verdict", "VerdictCache", "der_of"]


def der_of(ptr: Any) -> bytes:
    """The DER encoding of an OpenSSL ``X509 *`` (not consumed)."""
    bio = _lib.BIO_new(_lib.BIO_s_mem())
    if bio == _ffi.NULL:
        raise MemoryError("BIO_new failed")
    try:
        if _lib.i2d_X509_bio(bio, ptr) != 1:
            _lib.ERR_clear_error()
            raise CertError("the peer's certificate cannot be encoded", status=0x80E2)
        data = _ffi.new("char **")
        size = _lib.BIO_get_mem_data(bio, data)
        return _ffi.buffer(data[0], size)[:]
    finally:
        _lib.BIO_free(bio)


@dataclass(frozen=True, slots=True)
class PeerCert:
    """A parsed peer certificate with what SessionInfo shows of it."""

    cert: x509.Certificate
    der: bytes
    subject: str


class PeerCertCache:
    """Parsed certificates by DER; at most ``max_items``, the oldest dropped first.

    Safe to share between threads: a race at worst parses a certificate twice.
    """

    __slots__ = ("_items", "_max")

    def __init__(self, max_items: int = 128) -> None:
        self._items: dict[bytes, PeerCert] = {}
        self._max = max_items

    def __len__(self) -> int:
        return len(self._items)

    def from_der(self, der: bytes) -> PeerCert:
        """The parsed certificate; CertError (16#80E2) when the bytes are not a certificate."""
        item = self._items.get(der)
        if item is not None:
            return item
        try:
            cert = x509.load_der_x509_certificate(der)
            subject = cert.subject.rfc4514_string()
        except ValueError as exc:
            raise CertError(
                f"the peer's certificate cannot be parsed: {exc}", status=Status.TLS_CERT_INVALID
            ) from exc
        item = PeerCert(cert, der, subject)
        if len(self._items) >= self._max:
            # Another thread may change the dict meanwhile: then skip this eviction.
            with contextlib.suppress(RuntimeError, StopIteration):
                self._items.pop(next(iter(self._items)), None)
        self._items[der] = item
        return item

    def from_ptr(self, ptr: Any) -> PeerCert:
        """The parsed certificate behind an OpenSSL ``X509 *``."""
        return self.from_der(der_of(ptr))


@dataclass(frozen=True, slots=True)
class Verdict:
    """A successful verification: the store ID of the anchor it reached, when it is valid."""

    anchor_id: int | None
    not_before: dt.datetime
    not_after: dt.datetime


class VerdictCache:
    """Successful verifications of one context, by what the peer presented.

    The default verifier is a pure function of the presented certificates, the context's fixed
    anchors/CRLs, the expected address and the clock; the clock only matters through the path's
    validity window. So a PLC that sees the same partner certificate on every connection verifies
    it once and afterwards checks only the window against its own clock — a hit is exactly what
    a fresh verification would return. Failures are never cached. Bounded; thread-safe like
    :class:`PeerCertCache`.
    """

    __slots__ = ("_items", "_max")

    def __init__(self, max_items: int = 64) -> None:
        self._items: dict[tuple[Any, ...], Verdict] = {}
        self._max = max_items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, key: tuple[Any, ...], now: dt.datetime) -> Verdict | None:
        """The verdict for ``key`` if one is cached and ``now`` (aware UTC) is in its window."""
        item = self._items.get(key)
        if item is None or not item.not_before <= now <= item.not_after:
            return None
        return item

    def put(
        self, key: tuple[Any, ...], path: Sequence[x509.Certificate], anchor_id: int | None
    ) -> None:
        """Remember that ``path`` (leaf → anchor ``anchor_id``) verified for ``key``."""
        if not path:
            return
        verdict = Verdict(
            anchor_id,
            max(cert.not_valid_before_utc for cert in path),
            min(cert.not_valid_after_utc for cert in path),
        )
        if len(self._items) >= self._max:
            self._items.clear()  # simple and safe when several threads verify at once
        self._items[key] = verdict
