"""The event/status log of an endpoint: one record per connection event.

Every driver reports what a PLC engineer would look at — a peer connected (0001, with the TLS
version, cipher and peer certificate), was refused (16#80C9 partner, 16#8087 limit), closed
(16#80C5) or failed (16#80C4 handshake timeout, 16#80C6 idle timeout, 16#80Ex TLS) — as an
:class:`EndpointRecord`, handed to the endpoint's ``on_event`` callback and to the
``ouc.drivers`` logger. Frames are *not* records: the record path must not pay for logging (a
behaviour sees every frame instead).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from ouc._notation import iso_time, status_list
from ouc.conn import (
    Connection,
    ConnectionEvent,
    Disconnected,
    Established,
    ReceiveFailed,
    StatusEntry,
    format_sequence,
)
from ouc.errors import OucError, Status, WaitTimeoutError, format_status
from ouc.transport import SessionInfo

__all__ = [
    "ISO_TEXT",
    "EndpointRecord",
    "EventCallback",
    "RecordKind",
    "RecordLog",
    "Recorder",
    "describe_session",
    "reporting_block",
    "sequences_of",
    "session_json",
]

log = logging.getLogger("ouc.drivers")
# A library does not print by itself: without this, Python's last-resort handler would write
# every WARNING record to stderr, twice over for the CLI, which prints the records already.
log.addHandler(logging.NullHandler())


class RecordKind(Enum):
    """What happened, in the words of the status line."""

    LISTENING = "listening"
    CONNECTING = "connecting"  # active side: a TCP connection attempt starts
    CONNECTED = "connected"  # the connection is established: STATUS 0001
    REFUSED = "refused"  # passive side: a peer that is not RemoteAddress (16#80C9)
    LIMIT = "limit"  # passive side: max_connections reached (16#8087)
    RECEIVE_FAILED = "receive-failed"  # one receive failed, the connection stays (16#8088)
    BEHAVIOUR_FAILED = "behaviour-failed"  # the user's behaviour raised
    SEND_FAILED = "send-failed"  # TSEND_C refused data (connection gone 80A3, LEN 8085): lost
    CLOSED = "closed"  # ended in order (by us: 0000/7000; by the partner: 16#80C5)
    FAILED = "failed"  # ended by an error: timeout, TLS, network
    RETRYING = "retrying"  # active side: re-establishment attempt failed, will retry
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class EndpointRecord:
    """One line of an endpoint's event/status log.

    Attributes:
        kind: what happened.
        device: the emulated device (``PLC_1``).
        block: the block that shows ``status``: the endpoint's, ``TRCV_C`` (passive) or
            ``TSEND_C`` (active), unless only the other shows it (the partner's close, 16#80C5,
            and a failed receive, 16#8088, are TRCV_C's on the active side too).
        status: the STATUS a PLC shows for it (16#0001 connected, 16#80C9 refused, ...).
        peer: the partner as ``plant-address:port`` (None for endpoint-level records).
        local: our local ``address:port`` (the listening address for LISTENING).
        reason: one sentence for the log.
        info: the negotiated TLS parameters (CONNECTED records).
        sequences: block name → STATUS sequence ``7000 → 7001 → 7002 → 0001 ...`` (end records).
        connection: serial number of the TCP connection within the endpoint (0: none).
        reset: the connection was reset (RST) instead of closed.
        time: wall-clock seconds (``time.time()``).
        iso: the connection is ISO-on-TCP (RFC 1006, TCON_IP_RFC: never TLS).
    """

    kind: RecordKind
    device: str
    block: str
    status: int
    peer: str | None = None
    local: str | None = None
    reason: str = ""
    info: SessionInfo | None = None
    sequences: Mapping[str, str] = field(default_factory=dict)
    connection: int = 0
    reset: bool = False
    time: float = field(default_factory=time.time)
    iso: bool = False

    @property
    def status_text(self) -> str:
        return format_status(self.status)

    @property
    def error(self) -> bool:
        """True for the 16#8xxx statuses (the blocks' ERROR output)."""
        return self.status >= 0x8000

    def line(self) -> str:
        """The status line: ``PLC_1 TRCV_C 192.168.0.2:51234 16#0001 connected TLSv1.3 ...``."""
        parts = [self.device, self.block]
        if self.peer:
            parts.append(self.peer)
        parts += [self.status_text, self.kind.value]
        if self.kind is RecordKind.LISTENING and self.local:
            parts.append(f"on {self.local}")
        info = self.info
        if info is not None:
            parts.append(describe_session(info, iso=self.iso))
        if self.reason and self.reason != self.kind.value:  # not "closed - closed"
            parts.append(f"- {self.reason}")
        if self.reset:
            parts.append("(reset)")
        return " ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json`` prints one per line): STATUS as ``16#0001``, STATUS
        sequences as lists of such strings, the time as ISO 8601 UTC (``...T08:30:00.123Z``)."""
        doc: dict[str, Any] = {
            "event": self.kind.value,
            "device": self.device,
            "block": self.block,
            "status": self.status_text,
            "peer": self.peer,
            "local": self.local,
            "reason": self.reason or None,
            "connection": self.connection,
            "time": iso_time(self.time),
        }
        if self.reset:
            doc["reset"] = True
        if self.sequences:
            doc["sequences"] = {b: status_list(s) for b, s in self.sequences.items()}
        if self.info is not None:
            doc["tls"] = session_json(self.info)
        return doc


#: How a status line names an ISO-on-TCP connection.
ISO_TEXT = "ISO-on-TCP (no TLS)"


def describe_session(info: SessionInfo, *, iso: bool = False) -> str:
    """``TLSv1.3 TLS_AES_128_GCM_SHA256 x25519 peer CN=PLC_2 (CA 3)``, ``plain TCP``, or
    ``ISO-on-TCP (no TLS)`` for ``iso`` (TCON_IP_RFC has no secure variant, domain.md §2)."""
    if not info.secure:
        return ISO_TEXT if iso else "plain TCP"
    parts = [info.version or "TLS", info.cipher or "?"]
    if info.group:
        parts.append(info.group)
    if info.resumed:
        parts.append("resumed")
    if info.peer_subject:
        anchor = f" (CA {info.peer_anchor_id})" if info.peer_anchor_id is not None else ""
        parts.append(f"peer {info.peer_subject}{anchor}")
    else:
        parts.append("no peer certificate")
    if info.own_cert_id is not None:
        parts.append(f"own cert {info.own_cert_id}")
    if info.insecure:
        parts.append("INSECURE (verification off)")
    return " ".join(parts)


def session_json(info: SessionInfo) -> dict[str, Any]:
    """The JSON form of :class:`~ouc.transport.SessionInfo` (without the DER bytes)."""
    return {
        "secure": info.secure,
        "version": info.version,
        "cipher": info.cipher,
        "group": info.group,
        "peer_subject": info.peer_subject,
        "peer_anchor_id": info.peer_anchor_id,
        "own_cert_id": info.own_cert_id,
        "resumed": info.resumed,
        "insecure": info.insecure,
    }


def sequences_of(conn: Connection) -> Mapping[str, str]:
    """Both blocks' STATUS sequences of a connection (``{"TSEND_C": "7000 → ...", ...}``),
    from a snapshot of its history, formatted when first read."""
    return _Sequences(conn.status_history)


_BLOCKS = ("TSEND_C", "TRCV_C")


class _Sequences(Mapping[str, str]):
    """Both blocks' STATUS sequences, formatted when first read.

    A record keeps a snapshot of the connection's STATUS history; a mock PLC ending thousands
    of connections whose records nobody prints does not format their sequences.
    """

    __slots__ = ("_history", "_text")

    def __init__(self, history: list[StatusEntry]) -> None:
        self._history = history
        self._text: dict[str, str] | None = None

    def _formatted(self) -> dict[str, str]:
        text = self._text
        if text is None:
            text = {block: format_sequence(self._history, block) for block in _BLOCKS}
            self._text = text
        return text

    def __getitem__(self, block: str) -> str:
        return self._formatted()[block]

    def __iter__(self) -> Iterator[str]:
        return iter(_BLOCKS)

    def __len__(self) -> int:
        return 2

    def __repr__(self) -> str:
        return repr(self._formatted())


def reporting_block(history: list[StatusEntry], status: int, own: str) -> str:
    """The block whose STATUS shows ``status`` in ``history`` (the latest that does): a record
    names the block that reports its code, as the STATUS sequences show it — the partner's
    close is TRCV_C's 16#80C5 while an idle TSEND_C shows 16#80A3 (README, STATUS). ``own``
    (the endpoint's block) when it shows it too, or neither does."""
    found = None
    for _, block, value in reversed(history):
        if value == status:
            if block == own:
                return own
            found = found or block
    return found or own


EventCallback = Callable[[EndpointRecord], None]

# Kinds logged at WARNING; a partner closing (16#80C5) is ordinary and logs at INFO.
_WARN = frozenset(
    {
        RecordKind.REFUSED,
        RecordKind.LIMIT,
        RecordKind.RECEIVE_FAILED,
        RecordKind.BEHAVIOUR_FAILED,
        RecordKind.SEND_FAILED,
        RecordKind.FAILED,
        RecordKind.RETRYING,
    }
)


# A connection that ends with these ended in order: a CLOSED record (INFO), else FAILED.
_ORDERLY = frozenset({0, int(Status.PARTNER_CLOSED)})


class Recorder:
    """Hands records to the ``on_event`` callback and to the ``ouc.drivers`` logger.

    Connection events log at INFO, failures and refusals at WARNING; a callback that raises is
    logged and otherwise ignored (the endpoint must keep serving). When there is no callback
    and the record's level is off, nothing is built (a mock PLC serving thousands of
    connections should not format STATUS sequences nobody reads). Thread-safe: records are
    immutable and the callback is the user's to guard.
    """

    __slots__ = ("_callback", "block", "device")

    def __init__(self, device: str, block: str, callback: EventCallback | None) -> None:
        self.device = device
        self.block = block
        self._callback = callback

    def listened(self, kind: RecordKind) -> bool:
        """Whether a record of ``kind`` goes anywhere (the callback, or an enabled log level)."""
        if self._callback is not None:
            return True
        return log.isEnabledFor(logging.WARNING if kind in _WARN else logging.INFO)

    def skips(self, event: ConnectionEvent) -> bool:
        """Whether :meth:`connection_event` would build nothing for ``event`` (no callback, its
        level off): a driver then need not even format the peer's address."""
        if self._callback is not None:
            return False
        kind = type(event)
        if kind is Established or (kind is Disconnected and event.status in _ORDERLY):  # type: ignore[union-attr]
            return not log.isEnabledFor(logging.INFO)
        return not log.isEnabledFor(logging.WARNING)

    def emit(
        self, kind: RecordKind, status: int, *, block: str | None = None, **fields: Any
    ) -> EndpointRecord | None:
        """Build the record and hand it on; None (nothing built) when nobody listens.

        ``block``: the block that shows ``status`` (default: the endpoint's)."""
        level = logging.WARNING if kind in _WARN else logging.INFO
        logged = log.isEnabledFor(level)
        if self._callback is None and not logged:
            return None
        record = EndpointRecord(kind, self.device, block or self.block, int(status), **fields)
        if logged:
            log.log(level, "%s", record.line())
        if self._callback is not None:
            try:
                self._callback(record)
            except Exception:
                log.exception("on_event callback failed for: %s", record.line())
        return record

    def connection_event(
        self,
        event: ConnectionEvent,
        conn: Connection,
        *,
        peer: str,
        local: str | None,
        serial: int,
    ) -> EndpointRecord | None:
        """Record a connection's Established (0001), Disconnected (CLOSED for 0000/16#80C5,
        else FAILED, with both STATUS sequences) or ReceiveFailed; frames are not recorded."""
        if type(event) is Established:
            return self.emit(
                RecordKind.CONNECTED,
                Status.ESTABLISHED,
                peer=peer,
                local=local,
                info=event.info,
                connection=serial,
                iso=conn.config.iso is not None,
            )
        if type(event) is Disconnected:
            orderly = event.status in _ORDERLY
            kind = RecordKind.CLOSED if orderly else RecordKind.FAILED
            if not self.listened(kind):
                return None  # skip formatting the STATUS sequences for nobody
            history = conn.status_history
            status = event.status or Status.NO_JOB
            return self.emit(
                kind,
                status,
                block=reporting_block(history, status, self.block),
                peer=peer,
                local=local,
                reason=event.reason,
                reset=event.reset,
                sequences=_Sequences(history),
                connection=serial,
            )
        if type(event) is ReceiveFailed:
            return self.emit(
                RecordKind.RECEIVE_FAILED,
                event.status,
                block=reporting_block(conn.status_history, event.status, self.block),
                peer=peer,
                local=local,
                reason=event.reason,
                connection=serial,
            )
        return None

    def behaviour_failed(
        self, exc: Exception, *, peer: str, local: str | None, serial: int
    ) -> EndpointRecord | None:
        """Record that the user's behaviour raised (its OucError's STATUS, else 0000); a bug
        that is not an OucError is logged with its traceback too."""
        status = exc.status if isinstance(exc, OucError) and exc.status else Status.NO_JOB
        if not isinstance(exc, OucError):
            log.error("behaviour failed for %s", peer, exc_info=exc)
        return self.emit(
            RecordKind.BEHAVIOUR_FAILED,
            status,
            peer=peer,
            local=local,
            reason=f"{type(exc).__name__}: {exc}",
            connection=serial,
        )

    def send_failed(
        self,
        exc: OucError,
        conn: Connection,
        size: int,
        *,
        peer: str,
        local: str | None,
        serial: int,
        answer: bool = True,
    ) -> EndpointRecord | None:
        """Record that ``size`` bytes for TSEND_C were not sent (a behaviour's answer unless
        ``answer`` is False): STATUS from ``exc`` (16#80A3 when the connection is gone), the
        reason names what was lost and why, e.g. ``answer of 258 bytes not sent: the
        connection had ended (the partner closed the connection)``.

        Not a behaviour failure: the behaviour answered; its partner had closed the connection
        meanwhile (a client that sends and closes at once), or the connection failed sending.
        """
        if not self.listened(RecordKind.SEND_FAILED):
            return None
        ended = conn.disconnect
        if ended is not None:
            why = f"the connection had ended ({ended.reason})"
        else:
            why = exc.message.removeprefix("cannot send: ")
        what = f"{size} byte{'' if size == 1 else 's'}"
        what = f"answer of {what}" if answer else what
        return self.emit(
            RecordKind.SEND_FAILED,
            exc.status or Status.NO_JOB,
            peer=peer,
            local=local,
            reason=f"{what} not sent: {why}",
            connection=serial,
        )


class RecordLog:
    """An ``on_event`` callback that keeps the records and lets a thread wait for one.

    For tests, scripts and ``ouc demo``: ``log = RecordLog(); PassiveEndpoint(..., on_event=log)``
    then ``log.wait_for(RecordKind.CONNECTED, timeout=5)``, or in a coroutine
    ``await log.wait_for_async(...)`` (records may come from any thread or event loop). Waits are
    bounded and wake on each new record (no polling). ``limit`` bounds the memory: the oldest
    records are dropped.
    """

    def __init__(self, limit: int = 10_000) -> None:
        self._records: list[EndpointRecord] = []
        self._limit = limit
        self._cond = threading.Condition()
        self._seen = 0
        self._wakers: set[Callable[[], None]] = set()

    def __call__(self, record: EndpointRecord) -> None:
        with self._cond:
            self._records.append(record)
            self._seen += 1
            if len(self._records) > self._limit:
                del self._records[: len(self._records) - self._limit]
            self._cond.notify_all()
            wakers = list(self._wakers)
        for wake in wakers:
            wake()

    @property
    def records(self) -> list[EndpointRecord]:
        """A copy of the records kept, oldest first."""
        with self._cond:
            return list(self._records)

    def of(self, kind: RecordKind) -> list[EndpointRecord]:
        """The records of one kind, oldest first."""
        return [r for r in self.records if r.kind is kind]

    def wait_for(
        self,
        match: RecordKind | Callable[[EndpointRecord], bool],
        *,
        timeout: float,
        count: int = 1,
    ) -> EndpointRecord:
        """Wait until ``count`` records match (a kind or a predicate); returns the last match.

        Raises:
            WaitTimeoutError: fewer matched within ``timeout`` seconds (the message lists what
                came); a ``TimeoutError`` without a PLC status.
        """
        test = _matcher(match)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                hit = self._nth(test, count)
                if hit is not None:
                    return hit
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise self._timed_out(test, count, timeout)
                self._cond.wait(remaining)

    def _nth(self, test: Callable[[EndpointRecord], bool], count: int) -> EndpointRecord | None:
        """The ``count``-th matching record, or None (called under the lock)."""
        hits = [r for r in self._records if test(r)]
        return hits[count - 1] if len(hits) >= count else None

    def _timed_out(
        self, test: Callable[[EndpointRecord], bool], count: int, timeout: float
    ) -> WaitTimeoutError:
        hits = sum(1 for r in self._records if test(r))
        seen = "; ".join(r.line() for r in self._records[-8:]) or "nothing"
        return WaitTimeoutError(
            f"{hits} of {count} matching records after {timeout:g} s; last records: {seen}"
        )

    async def wait_for_async(
        self,
        match: RecordKind | Callable[[EndpointRecord], bool],
        *,
        timeout: float,
        count: int = 1,
    ) -> EndpointRecord:
        """:meth:`wait_for` for a coroutine: the event loop keeps running while it waits.

        Raises:
            WaitTimeoutError: as :meth:`wait_for`.
        """
        loop = asyncio.get_running_loop()
        changed = asyncio.Event()

        def wake() -> None:
            # Records come from the endpoint's thread or loop, maybe not this one; a loop that
            # already closed has nobody waiting any more.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(changed.set)

        test = _matcher(match)
        deadline = loop.time() + timeout
        with self._cond:
            self._wakers.add(wake)
        try:
            while True:
                changed.clear()
                with self._cond:
                    hit = self._nth(test, count)
                    if hit is not None:
                        return hit
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        raise self._timed_out(test, count, timeout)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(changed.wait(), remaining)
        finally:
            with self._cond:
                self._wakers.discard(wake)


def _matcher(
    match: RecordKind | Callable[[EndpointRecord], bool],
) -> Callable[[EndpointRecord], bool]:
    return (lambda r: r.kind is match) if isinstance(match, RecordKind) else match
