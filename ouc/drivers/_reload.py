"""Certificates of a running endpoint, taken from the store again when it changes.

Renew and Replace keep a certificate's ID, "that is what lets a device load new certificates at
run time" (domain.md §7): a CPU with firmware V3.1 or later takes them while running, earlier
firmware only with a download, and either way the new certificates serve the connections
established afterwards while established ones keep theirs (§7, §8). :class:`CertReload` does that
for an endpoint whose certificates come from a :class:`~ouc.certs.CertStore`:

* ``live``: the store's index stamp (inode, mtime, size of ``index.json``) is looked at, at most
  once per second, when a connection is being set up; only a changed stamp re-resolves the
  certificate IDs, and only changed certificates rebuild the TLS context. A handshake otherwise
  costs one clock read more. A renewal by another process (``ouc certs renew 9``) is served to
  the connections set up a second or more later.
* ``download``: nothing is looked at until :meth:`CertReload.request` (a signal handler may call
  it: one attribute write) or :meth:`CertReload.reload` asks for it, like a download into a CPU
  below V3.1.

A reload that fails (an ID deleted or unassigned, a store that cannot be read) leaves the
endpoint with the certificates it has, as a CPU keeps what it has until a download succeeds
(§7); :class:`CertsNotReloaded` says so once per distinct failure (``on_failure``).

``auto`` follows the device: live on an S7-1500 from V3.1, download otherwise (for S7-1200
firmware domain.md says nothing about run-time loading; download is an inference).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from ouc.certs import CertStore, ResolvedEndpoint, resolve
from ouc.certs._index import index_stamp
from ouc.device import Device
from ouc.errors import ConfigError, OucError, format_status
from ouc.params import TconIpV4Sec, TconQdnSec
from ouc.tls import TLSContext

__all__ = ["CERT_RELOAD_MODES", "CertReload", "CertsNotReloaded", "CertsReloaded", "reload_mode"]

log = logging.getLogger("ouc.drivers")

#: Seconds between two looks at the store's stamp in live mode.
CHECK_INTERVAL = 1.0

CERT_RELOAD_MODES = ("auto", "live", "download")

_Stamp = tuple[int, int, int] | None  # index.json's (inode, mtime_ns, size)
_T = TypeVar("_T")


def reload_mode(mode: str, device: Device) -> str:
    """``auto`` → ``live`` or ``download`` by the device's firmware; others as they are."""
    text = str(mode).strip().lower()
    if text not in CERT_RELOAD_MODES:
        raise ConfigError(
            f"unknown certificate reload mode {mode!r}; use auto, live or download",
            path="cert_reload",
        )
    if text == "auto":
        return "live" if device.loads_certificates_at_runtime else "download"
    return text


@dataclass(frozen=True)
class CertsReloaded:
    """What a reload changed, for status lines: the own certificate's ID and serials."""

    own_id: int | None
    serial: int | None
    previous_serial: int | None
    generation: int

    def line(self) -> str:
        def hexed(serial: int | None) -> str:
            return "none" if serial is None else f"{serial:X}"

        own = f"own certificate {self.own_id}" if self.own_id is not None else "no own certificate"
        return (
            f"certificates reloaded: {own}, serial {hexed(self.previous_serial)} -> "
            f"{hexed(self.serial)}; new connections use them"
        )


@dataclass(frozen=True)
class CertsNotReloaded:
    """A reload that failed, for status lines: the endpoint keeps the certificates it has.

    A CPU keeps using what it has until a download succeeds (domain.md §7): the failure changes
    nothing on the wire, so this is the only sign of it. ``own_id``/``serial`` name the own
    certificate new connections keep getting; ``status`` is the PLC status of the failure
    (16#80ED for a deleted ID, ...; None when none applies, a store that cannot be read, say).
    ``requested``: a download was asked for (SIGHUP, ``ouc plc download``), not a live look.
    """

    own_id: int | None
    serial: int | None
    status: int | None
    reason: str  # the error, ``field: message`` without the status
    mode: str
    store: str  # the store's folder, for what to do next
    requested: bool = False

    @classmethod
    def of(
        cls, exc: OucError, resolved: ResolvedEndpoint, *, mode: str, store: str, requested: bool
    ) -> CertsNotReloaded:
        message, path = exc.message, exc.path
        reason = f"{path}: {message}" if path and not message.startswith(f"{path}: ") else message
        own = resolved.own_cert
        return cls(
            resolved.own_id,
            None if own is None else own.serial_number,
            exc.status,
            reason,
            mode,
            store,
            requested,
        )

    @property
    def key(self) -> tuple[int | None, str]:
        """What makes two failures the same one (a live endpoint says each once)."""
        return self.status, self.reason

    @property
    def hint(self) -> str:
        """What to do next, one clause."""
        then = (
            "the next connection then takes the certificates"
            if self.mode == "live"
            else "then download again (SIGHUP, or ouc plc download)"
        )
        return (
            f"fix the store (ouc certs list --store {self.store}): {then}; or restart with a "
            "block whose IDs are there"
        )

    def line(self) -> str:
        status = "" if self.status is None else f" ({format_status(self.status)})"
        if self.own_id is not None:
            serial = "none" if self.serial is None else f"{self.serial:X}"
            kept = f"new connections keep own certificate {self.own_id}, serial {serial}"
        else:
            kept = "new connections keep the certificates they had"
        return f"certificates not reloaded: {self.reason}{status}; {kept}; {self.hint}"


def _essence(resolved: ResolvedEndpoint) -> tuple[object, ...]:
    """What decides the TLS context (the key object may be a fresh equal one)."""
    return (
        resolved.own_id,
        resolved.own_cert,
        resolved.chain,
        resolved.anchor_ids,
        resolved.anchors,
        resolved.intermediates,
        resolved.require_peer_cert,
        resolved.check_san,
        resolved.crls,
        resolved.legacy_anchors,
    )


class CertReload:
    """The current TLS context of one endpoint, rebuilt when the store's certificates change.

    Args:
        store: the project certificate store the block's IDs resolve in.
        block / device / device_name / clock: as the endpoint resolved them first.
        build: makes a TLS context from resolved certificates (the endpoint's options bound).
        resolved / tls: what the endpoint started with.
        mode: ``live`` or ``download`` (see :func:`reload_mode`).
        on_reload: called (in the thread that set up the connection) after each change.
        on_failure: called when a reload fails and the endpoint keeps its certificates: once
            per distinct failure while live mode looks, and at every requested download.
    """

    def __init__(
        self,
        store: CertStore,
        block: TconIpV4Sec | TconQdnSec,
        *,
        device_name: str,
        clock: Callable[[], dt.datetime],
        build: Callable[[ResolvedEndpoint], TLSContext],
        resolved: ResolvedEndpoint,
        tls: TLSContext,
        mode: str,
        on_reload: Callable[[CertsReloaded], None] | None = None,
        on_failure: Callable[[CertsNotReloaded], None] | None = None,
    ) -> None:
        self._store = store
        self._block = block
        self._device_name = device_name
        self._clock = clock
        self._build = build
        self._resolved = resolved
        self._tls = tls
        self._stamp = index_stamp(store.path)
        self._live = mode == "live"
        self.mode = mode
        self._next_check = time.monotonic() + CHECK_INTERVAL
        self._requested = False
        self._failed: tuple[int | None, str] | None = None  # the failure last said (say once)
        self._lock = threading.Lock()
        self.generation = 0
        self.on_reload = on_reload
        self.on_failure = on_failure

    @property
    def tls(self) -> TLSContext:
        """The context new connections get now (without looking at the store)."""
        return self._tls

    @property
    def resolved(self) -> ResolvedEndpoint:
        return self._resolved

    def context(self) -> TLSContext:
        """The context for a connection being set up; the hot path.

        Live: one clock read, and a stat of the index at most once per second. Download: one
        attribute read unless a reload was requested.
        """
        if self._requested or (self._live and time.monotonic() >= self._next_check):
            self._refresh()
        return self._tls

    def request(self) -> None:
        """Ask for a download at the next connection (safe in a signal handler: no lock)."""
        self._requested = True

    def reload(self) -> CertsReloaded | None:
        """Download now: re-resolve the certificates and rebuild the context if they changed.

        Returns what changed, None when nothing did.

        Raises:
            OucError: the block's certificates no longer resolve (16#80ED, 16#80E9, ...) or
                cannot be used; the endpoint keeps the certificates it has (``on_failure`` is
                told too).
        """
        with self._lock:
            self._requested = False
            return self._load(index_stamp(self._store.path), requested=True, raise_errors=True)

    def _refresh(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # another thread is reloading: this connection takes the current context
        try:
            requested, self._requested = self._requested, False
            self._next_check = time.monotonic() + CHECK_INTERVAL
            stamp = index_stamp(self._store.path)
            if stamp != self._stamp or requested:
                self._load(stamp, requested=requested)
        finally:
            self._lock.release()

    def _load(
        self, stamp: _Stamp, *, requested: bool, raise_errors: bool = False
    ) -> CertsReloaded | None:
        try:
            resolved = resolve(
                self._store, self._block, device=self._device_name, now=self._clock()
            )
            if _essence(resolved) == _essence(self._resolved):
                self._stamp, self._failed = stamp, None
                return None
            tls = self._build(resolved)
        except OucError as exc:
            self._fail(exc, requested=requested)
            if raise_errors:
                raise
            return None
        previous = self._resolved.own_cert
        self._resolved, self._tls, self._stamp, self._failed = resolved, tls, stamp, None
        self.generation += 1
        change = CertsReloaded(
            resolved.own_id,
            None if resolved.own_cert is None else resolved.own_cert.serial_number,
            None if previous is None else previous.serial_number,
            self.generation,
        )
        log.info("%s", change.line())
        _tell(self.on_reload, change)
        return change

    def _fail(self, exc: OucError, *, requested: bool) -> None:
        """Say that the endpoint keeps its certificates: a requested download always, a live
        look once per distinct failure (the store is looked at again every second)."""
        failure = CertsNotReloaded.of(
            exc, self._resolved, mode=self.mode, store=str(self._store.path), requested=requested
        )
        if not requested and failure.key == self._failed:
            return
        self._failed = failure.key
        log.warning("%s", failure.line())
        _tell(self.on_failure, failure)


def _tell(callback: Callable[[_T], None] | None, news: _T) -> None:
    """Call a status callback; one that fails is logged (a status printer must not stop the
    connection being set up)."""
    if callback is not None:
        try:
            callback(news)
        except Exception:
            log.exception("the certificate reload callback failed")
