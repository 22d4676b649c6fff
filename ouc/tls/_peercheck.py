"""Checking the peer's certificates with the PLC's rules, for one TLS engine (layer 2).

OpenSSL's own chain building always fails here (its trust store is empty on purpose); the
context's verify callback hands the peer's certificates to :func:`check_peer` once per full
handshake, which applies the PLC rules (``ouc.certs.verify_peer_chain`` or the user's
verifier) against the PLC clock, through the context's verdict cache. A resumed handshake runs
no verify callback, so a resumed server side re-checks the client certificate's validity window
with :func:`resumed_client_problem`. Pure functions of the context, the certificates and the
time: the engine keeps the outcome.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cryptography import x509

from ouc.certs._create import as_utc
from ouc.device import Role
from ouc.errors import CertError, Status
from ouc.tls._context import TLSContext
from ouc.tls._peercert import PeerCert
from ouc.transport import SessionInfo

__all__ = ["PeerCheck", "check_peer", "offered_cert_valid", "resumed_client_problem"]


@dataclass(frozen=True, slots=True)
class PeerCheck:
    """The outcome of one check: accepted (with the anchor it chained to), refused with the
    PLC's certificate error, or a verifier that raised something else (a bug, re-raised by the
    engine after the handshake)."""

    ok: bool
    anchor_id: int | None = None
    error: CertError | None = None
    bug: Exception | None = None


_INSECURE = PeerCheck(True)


def check_peer(
    context: TLSContext,
    peer: PeerCert,
    extra: tuple[PeerCert, ...],
    *,
    now: dt.datetime,
    peer_address: str | None,
) -> PeerCheck:
    """Verify the peer's leaf and the certificates it sent with it.

    A partner seen before with the same certificates (and, with the SAN check, the same
    address) costs a lookup in the context's verdict cache plus the validity-window check
    against ``now``; anything else runs the verifier.
    """
    if context.insecure:
        return _INSECURE
    resolved = context.resolved
    expected = peer_address if resolved.check_san else None
    cache = context._verdicts
    key = (peer.der, expected, *(item.der for item in extra))
    if cache is not None:
        hit = cache.get(key, as_utc(now))
        if hit is not None:
            return PeerCheck(True, hit.anchor_id)
    try:
        path = context.verifier(
            peer.cert,
            anchors=resolved.anchors,
            intermediates=tuple(item.cert for item in extra) + resolved.intermediates,
            now=now,
            expected_address=expected,
            crls=resolved.crls,
            peer_role=Role.PASSIVE if context.role is Role.ACTIVE else Role.ACTIVE,
            legacy_anchors=resolved.legacy_anchors,
        )
    except CertError as exc:
        return PeerCheck(False, error=exc)
    except Exception as exc:  # a broken verifier is a bug: the engine re-raises it
        return PeerCheck(False, bug=exc)
    anchor_id = resolved.anchor_id_for(path[-1]) if path else None
    if cache is not None:
        cache.put(key, path, anchor_id)
    return PeerCheck(True, anchor_id)


def _valid_at(cert: x509.Certificate, moment: dt.datetime) -> bool:
    return cert.not_valid_before_utc <= moment <= cert.not_valid_after_utc


def resumed_client_problem(
    context: TLSContext, info: SessionInfo, now: dt.datetime
) -> tuple[int, str] | None:
    """A resumed server side: None while the client certificate is valid at ``now`` (the PLC
    clock), else the status and reason to end the connection with."""
    if context.role is not Role.PASSIVE or info.peer_cert_der is None or context.insecure:
        return None
    leaf = context._certs.from_der(info.peer_cert_der).cert
    now = as_utc(now)
    if _valid_at(leaf, now):
        return None
    expired = now > leaf.not_valid_after_utc
    status = Status.TLS_CERT_EXPIRED if expired else Status.TLS_CERT_INVALID
    return int(status), (
        f"resumed session: client certificate {info.peer_subject} "
        f"is not valid at {now:%Y-%m-%d %H:%M:%S}Z"
    )


def offered_cert_valid(cert: x509.Certificate, now: dt.datetime) -> bool:
    """Whether a certificate (a session's peer, before offering the session) is valid now."""
    return _valid_at(cert, as_utc(now))
