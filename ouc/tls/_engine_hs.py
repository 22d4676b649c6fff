"""What one TLS handshake learns, and what the engine reports from it once complete.

Split out of :mod:`ouc.tls._engine` so that the engine module keeps the record path (bytes in,
plaintext and bytes out, parking of the memory BIOs) and this one the handshake's bookkeeping:
the per-handshake :class:`Handshake` record the verify and certificate callbacks fill in, the
verdict on the peer's certificates, the :class:`~ouc.transport.SessionInfo` built when the
handshake completes, and the :class:`~ouc.tls.TLSSession` a client offers next time. None of
it runs per record. The functions take the engine as their first argument and are bound as
its methods (``TLSEngine._verify_peer = verify_peer``), so no call goes through an extra frame.
Layer 2: no sockets, threads or clocks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ouc.device import Role
from ouc.errors import CertError
from ouc.tls import _libssl as _lib
from ouc.tls._context import TLSSession
from ouc.tls._libssl import ffi as _ffi
from ouc.tls._peercert import PeerCert
from ouc.tls._peercheck import check_peer
from ouc.tls._ssl import get1_session
from ouc.transport import SessionInfo

if TYPE_CHECKING:
    from ouc.tls._engine import TLSEngine

__all__ = ["Handshake", "build_info", "reject", "session_of", "verify_peer"]

_NULL = _ffi.NULL


class Handshake:
    """What one handshake learns before it completes: the engine drops it then (the
    :class:`SessionInfo` keeps what stays), so an idle connection holds none of it."""

    __slots__ = (
        "bug",
        "cert_error",
        "cert_requested",
        "offered",
        "peer",
        "peer_anchor_id",
        "verdict",
    )

    def __init__(self) -> None:
        self.verdict: bool | None = None  # the verify callback decided (once per handshake)
        self.cert_error: CertError | None = None
        self.cert_requested = False  # a client: the server asked for our certificate
        self.bug: BaseException | None = None  # the peer verifier itself raised this
        self.peer: PeerCert | None = None
        self.peer_anchor_id: int | None = None
        self.offered: TLSSession | None = None  # a client: the session offered for resumption


def verify_peer(
    engine: TLSEngine, hs: Handshake, peer: PeerCert, extra: tuple[PeerCert, ...]
) -> bool:
    """Called once per handshake by the context's verify callback; returns the verdict
    (:func:`ouc.tls._peercheck.check_peer` decides, the handshake record keeps the outcome)."""
    hs.peer = peer
    check = check_peer(
        engine._context, peer, extra, now=engine._now(), peer_address=engine.peer_address
    )
    if check.ok:
        hs.peer_anchor_id = check.anchor_id
    elif check.bug is not None:
        hs.bug = check.bug
    elif check.error is not None:
        hs.cert_error = check.error
    hs.verdict = check.ok
    return check.ok


def reject(engine: TLSEngine, hs: Handshake, error: CertError) -> bool:
    """Refuse the peer's certificate with ``error`` (from the verify callback)."""
    hs.cert_error = error
    hs.verdict = False
    return False


def build_info(engine: TLSEngine) -> SessionInfo:
    """What the completed handshake negotiated, from libssl and the handshake record."""
    hs = engine._hs or Handshake()
    ssl = engine._ssl
    resumed = bool(_lib.SSL_session_reused(ssl))
    peer = hs.peer
    anchor_id = hs.peer_anchor_id
    offered = hs.offered
    if resumed and offered is not None:
        peer, anchor_id = offered._peer, offered.peer_anchor_id
    elif peer is None:
        peer = _peer_from_session(engine)
    return engine._context.negotiated(
        ssl, resumed, peer, anchor_id, _presented_own_cert(engine, hs, resumed)
    )


def _peer_from_session(engine: TLSEngine) -> PeerCert | None:
    """The peer's certificate when the verify callback did not run (resumption)."""
    ptr = _lib.SSL_get_peer_certificate(engine._ssl)  # get1: we own a reference
    if ptr == _NULL:
        return None
    try:
        return engine._context._certs.from_ptr(ptr)
    except CertError:
        return None
    finally:
        _lib.X509_free(ptr)


def _presented_own_cert(engine: TLSEngine, hs: Handshake, resumed: bool) -> bool:
    """A server always presents its certificate; a client only when it was asked for one
    (on resumption: when the resumed session carries a client certificate, seen by the
    server; the client cannot tell, so it reports what the full handshake did)."""
    if engine._context.role is Role.PASSIVE:
        return True
    if hs.cert_requested:
        return True
    offered = hs.offered
    return offered is not None and offered.own_cert_presented and resumed


def session_of(engine: TLSEngine) -> TLSSession | None:
    """The body of :attr:`TLSEngine.session` (see there)."""
    context = engine._context
    info = engine._info
    if context.role is not Role.ACTIVE or not context.session_tickets or info is None:
        return None
    ssl = engine._ssl
    current = _lib.SSL_get_session(ssl)
    if current == _NULL:
        return None
    first = engine._session_at_handshake
    if info.version == "TLSv1.3" and first is not None and current == first:
        return None  # no ticket yet: this session object cannot be resumed
    pysession = get1_session(ssl)
    if pysession is None:  # pragma: no cover - SSL_get_session was not NULL just above
        return None
    der = info.peer_cert_der
    peer = context._certs.from_der(der) if der is not None else None
    return TLSSession(
        context,
        peer,
        info.peer_anchor_id,
        info.version or "",
        info.own_cert_id is not None,
        pysession,
    )
