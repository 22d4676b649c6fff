"""Resolution: certificate IDs in a TCON_*_SEC block → what a TLS endpoint needs (domain.md §3).

=====================  ====================================  ====================================
field                  active side (TLS client, TSEND_C)     passive side (TLS server, TRCV_C)
=====================  ====================================  ====================================
TLSServerCertRef       CA (or pinned certificate) that       own server certificate with key;
                       validates the server; 0 = every CA    0 → 16#80E9
                       assigned to the device
TLSClientCertRef       own client certificate with key;      CA that validates clients; 0 = every
                       0 = present none                      CA assigned to the device
=====================  ====================================  ====================================

A device resolves only certificates assigned to it (domain.md §7): an ID that is not in the
store, or not assigned to the device, is 16#80ED. The own certificate needs its private key
(16#80E2) and must be valid at the emulated clock time (16#80E2 not yet valid, 16#80E5 expired).
"Every CA" means every CA certificate assigned to the device that is valid at ``now``; none is
16#80E4. A passive side that does not request client certificates needs no CA.
"""

from __future__ import annotations

import datetime as dt
import os
from typing import Protocol

from cryptography import x509

from ouc.certs._create import as_utc, is_ca
from ouc.certs._keys import PrivateKey
from ouc.certs._resolved import ResolvedEndpoint
from ouc.certs._storebase import StoreBase
from ouc.device import Role
from ouc.errors import CertError, ConfigError, Status

__all__ = ["SecureBlock", "resolve"]


class SecureBlock(Protocol):
    """What resolution reads from a block (``ouc.params.TconIpV4Sec`` / ``TconQdnSec``)."""

    @property
    def role(self) -> Role: ...

    @property
    def secure(self) -> bool: ...

    @property
    def TLSServerReqClientCert(self) -> bool: ...

    @property
    def ExtTLSCapabilities(self) -> int: ...

    @property
    def TLSServerCertRef(self) -> int: ...

    @property
    def TLSClientCertRef(self) -> int: ...


def _assigned(store: StoreBase, device: str, cert_id: int, field: str) -> x509.Certificate:
    if cert_id not in store or cert_id not in store.device_ids(device):
        where = "in the store" if cert_id not in store else f"assigned to device {device}"
        raise CertError(
            f"certificate ID {cert_id} is not {where}",
            status=Status.TLS_CERT_REF_UNKNOWN,
            path=field,
        )
    return store.certificate(cert_id)


def _own(
    store: StoreBase, device: str, cert_id: int, field: str, now: dt.datetime
) -> tuple[x509.Certificate, PrivateKey]:
    cert = _assigned(store, device, cert_id, field)
    key = store.private_key(cert_id)
    if key is None:
        raise CertError(
            f"certificate ID {cert_id} has no private key in the store",
            status=Status.TLS_CERT_INVALID,
            path=field,
        )
    if now < cert.not_valid_before_utc:
        raise CertError(
            f"own certificate ID {cert_id} is not valid before "
            f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M:%S}Z (device clock {now:%Y-%m-%d})",
            status=Status.TLS_CERT_INVALID,
            path=field,
        )
    if now > cert.not_valid_after_utc:
        raise CertError(
            f"own certificate ID {cert_id} expired {cert.not_valid_after_utc:%Y-%m-%d %H:%M:%S}Z",
            status=Status.TLS_CERT_EXPIRED,
            path=field,
        )
    return cert, key


def _usable_cas(store: StoreBase, device: str, now: dt.datetime) -> list[int]:
    found = []
    for cert_id in store.device_ids(device):
        if cert_id not in store:
            continue
        cert = store.certificate(cert_id)
        if is_ca(cert) and cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            found.append(cert_id)
    return found


def _anchor_ids(store: StoreBase, device: str, ref: int, field: str, now: dt.datetime) -> list[int]:
    if ref != 0:
        _assigned(store, device, ref, field)
        return [ref]
    found = _usable_cas(store, device, now)
    if not found:
        raise CertError(
            f"{field} is 0 (every CA) but device {device} holds no CA valid at "
            f"{now:%Y-%m-%d %H:%M:%S}Z",
            status=Status.TLS_NO_VALID_CA,
            path=field,
        )
    return found


def resolve(
    store: StoreBase,
    block: SecureBlock,
    *,
    device: str,
    now: dt.datetime,
    role: Role | None = None,
    send_chain: bool = False,
    with_crls: bool = False,
) -> ResolvedEndpoint:
    """Resolve a secure block's certificate IDs for ``device`` at the emulated time ``now``.

    Args:
        store: the project certificate store.
        block: a ``TconIpV4Sec`` / ``TconQdnSec`` with ActivateSecureConn TRUE.
        device: the device name whose assigned certificates count.
        now: the emulated PLC clock (naive = UTC).
        role: overrides ``block.role`` (ActiveEstablished).
        send_chain: also send the own certificate's issuing CAs (a PLC sends only its leaf).
        with_crls: include the store's revocation lists (the PLC has none; a PC side may).

    Raises:
        ConfigError: ``store`` is a path, not a store object.
        CertError: 16#80ED unknown/unassigned ID, 16#80E9 passive without server certificate,
            16#80E2 no private key / own certificate not yet valid, 16#80E5 own certificate
            expired, 16#80E4 no usable CA; a block without ActivateSecureConn.
    """
    if isinstance(store, str | bytes | os.PathLike):
        raise ConfigError(
            f"store must be a certificate store object, not the path {os.fsdecode(store)!r}: "
            "pass ouc.certs.CertStore(path) (with password= for encrypted keys)",
            path="store",
        )
    if not block.secure:
        raise CertError(
            "ActivateSecureConn is FALSE: the connection is plain TCP, nothing to resolve",
            path="ActivateSecureConn",
        )
    side = role if role is not None else block.role
    moment = as_utc(now)
    if side is Role.ACTIVE:
        own_ref, own_field = block.TLSClientCertRef, "TLSClientCertRef"
        anchor_ref, anchor_field = block.TLSServerCertRef, "TLSServerCertRef"
        need_anchors, check_san = True, bool(block.ExtTLSCapabilities & 1)
    else:
        own_ref, own_field = block.TLSServerCertRef, "TLSServerCertRef"
        anchor_ref, anchor_field = block.TLSClientCertRef, "TLSClientCertRef"
        need_anchors, check_san = bool(block.TLSServerReqClientCert), False
        if own_ref == 0:
            raise CertError(
                "a passive secure connection needs its own server certificate "
                "(TLSServerCertRef is 0)",
                status=Status.TLS_NO_SERVER_CERT,
                path=own_field,
            )
    own_id: int | None = None
    own_cert: x509.Certificate | None = None
    own_key: PrivateKey | None = None
    chain: tuple[x509.Certificate, ...] = ()
    if own_ref != 0:
        own_cert, own_key = _own(store, device, own_ref, own_field, moment)
        own_id = own_ref
        if send_chain:
            chain = tuple(store.chain(own_ref))
    anchor_ids = (
        _anchor_ids(store, device, anchor_ref, anchor_field, moment) if need_anchors else []
    )
    anchors = tuple(store.certificate(i) for i in anchor_ids)
    intermediates = tuple(
        store.certificate(i)
        for i in store.device_ids(device)
        if i in store and i not in anchor_ids and store.is_ca(i)
    )
    return ResolvedEndpoint(
        role=side,
        own_id=own_id,
        own_cert=own_cert,
        own_key=own_key,
        chain=chain,
        anchor_ids=tuple(anchor_ids),
        anchors=anchors,
        intermediates=intermediates,
        require_peer_cert=need_anchors,
        check_san=check_san,
        crls=tuple(store.crls()) if with_crls else (),
        legacy_anchors=tuple(
            a for i, a in zip(anchor_ids, anchors, strict=True) if store.is_legacy(i)
        ),
    )
