"""One load-generating connection that counts only what the peer accepted.

A TLS 1.3 client finishes its handshake before the server has checked the client certificate:
the server verifies it on receiving the client's last flight and answers with an alert when it
refuses. A handshake counted at the client's "handshake complete" therefore counts refusals as
successes. :class:`LoadClient` waits for the peer's verdict instead, with a round trip that every
TLS peer must answer and that needs no application data (a peer with a fixed TRCV_C LEN would
not answer a probe byte):

    the client sends close_notify and its FIN, then reads until the peer's end of stream,
    bounded by ``timeout``. The peer's close_notify or FIN means it accepted everything it was
    sent; an alert means it refused (status from the alert: 16#80E2, 16#80E4, ...); a reset
    means it dropped the connection (16#80C5, e.g. the partner check of a PLC, 16#80C9 on its
    side); nothing within ``timeout`` is :class:`~ouc.errors.WaitTimeoutError`, without a status
    (the client's own limit, not a PLC code; ``ouc load`` counts it as "timeout").

The same applies to plain TCP (ActivateSecureConn FALSE): FIN, then the peer's FIN or reset.
Frames in between are TSEND_C/TRCV_C of a TCP connection (ConnectionType 11/17): the bytes as
they are, no header. The engine is :class:`ouc.tls.TLSEngine`, the one the endpoints use, built
on the endpoint's TLS context (from the block and the certificate store).
"""

from __future__ import annotations

import contextlib
import socket
import time
from dataclasses import dataclass

from ouc.drivers import EndpointSpec, connection_error, own_timeout
from ouc.errors import ConfigError, OucConnectionError, OucError, Status, TLSError, WaitTimeoutError
from ouc.params import Protocol
from ouc.tls import TLSEngine
from ouc.transport import Closed, Failed, HandshakeComplete, PlaintextReceived

__all__ = ["LoadClient", "Target", "is_refusal"]

_CHUNK = 65536


def is_refusal(status: int | None) -> bool:
    """Whether a failure status is the peer refusing the TLS handshake (16#80E0..16#80ED)."""
    return status is not None and 0x80E0 <= status <= 0x80EF


@dataclass(frozen=True)
class Target:
    """Where the load goes and as whom.

    Attributes:
        host / port: the peer.
        spec: the active endpoint's setup (block, device, TLS context from the store).
        peer_address: the peer's plant address for the subjectAltName check (the block's
            RemoteAddress; the host when the block names none).
        bind: local (address, port) to connect from (a PLC's partner check), None = any.
        timeout: seconds for each of: TCP connect, handshake, a reply, the verdict.
    """

    host: str
    port: int
    spec: EndpointSpec
    peer_address: str | None = None
    bind: tuple[str, int] | None = None
    timeout: float = 10.0

    def __post_init__(self) -> None:
        if self.spec.block.protocol not in (Protocol.TCP, None):
            raise ConfigError(
                f"the load generator speaks TCP frames (ConnectionType 11 or 17), not "
                f"{self.spec.block.protocol.value}",
                status=Status.CONNECTION_TYPE,
                path="ConnectionType",
            )

    @property
    def where(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def _error(failed: Failed) -> OucError:
    cls = TLSError if is_refusal(failed.status) else OucConnectionError
    return cls(failed.reason, status=failed.status)


class LoadClient:
    """One connection of the load: :meth:`connect`, :meth:`send` / :meth:`receive`, then
    :meth:`confirm` (the peer's verdict). Every failure raises an OucError with its status."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self._sock: socket.socket | None = None
        self._engine: TLSEngine | None = None
        self._plain = bytearray()  # received application bytes not handed out yet
        self._buffer = bytearray(_CHUNK)

    # -- the steps ------------------------------------------------------------------------------

    def connect(self) -> None:
        """TCP connect and (secure blocks) the full TLS handshake, as the client sees it."""
        t = self.target
        deadline = time.monotonic() + t.timeout
        sock: socket.socket | None = None
        try:
            sock = socket.create_connection(
                (t.host, t.port), timeout=t.timeout, source_address=t.bind
            )
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError as exc:
            if sock is not None:
                sock.close()
            # No answer to the TCP connect within the timeout: partner unreachable (16#80C6).
            raise connection_error(
                exc, f"connecting to {t.where} failed", timed_out=Status.NETWORK_ERROR
            ) from exc
        self._sock = sock
        context = t.spec.tls
        if context is None:
            return
        engine = TLSEngine(context, now=t.spec.clock, peer_address=t.peer_address)
        self._engine = engine
        engine.start()
        try:
            while True:
                self._flush()
                event = engine.next_event()
                while event is not None:
                    if isinstance(event, HandshakeComplete):
                        return
                    if isinstance(event, Failed):
                        raise _error(event)
                    event = engine.next_event()
                self._read(deadline, "the TLS handshake")  # end of stream: a Failed event
        except BaseException:
            self.abort()
            raise

    def send(self, data: bytes) -> None:
        """TSEND_C of one frame: ``data`` as it is (TCP frames carry no header)."""
        engine = self._engine
        if engine is not None:
            engine.send(data)
            self._flush()
        else:
            self._sendall(data)

    def receive(self, length: int) -> bytes:
        """TRCV_C of a fixed LEN: exactly ``length`` bytes, within ``timeout``."""
        deadline = time.monotonic() + self.target.timeout
        what = f"a {length}-byte reply"
        while len(self._plain) < length:
            got = self._read(deadline, what)
            if self._engine is not None:
                self._drain_events()  # a Closed or Failed event raises here
            if not got:
                raise OucConnectionError(
                    f"the peer closed the connection before {what}", status=Status.PARTNER_CLOSED
                )
        data = bytes(self._plain[:length])
        del self._plain[:length]
        return data

    @property
    def pending(self) -> int:
        """Application bytes received and not yet handed out by :meth:`receive`."""
        return len(self._plain)

    def confirm(self) -> int:
        """The peer's verdict: close_notify and FIN out, then read to the peer's end of stream.

        Returns when the peer closed in order (it accepted the handshake and every frame), with
        the number of application bytes that arrived and were never read (:attr:`pending` at
        the end: a reply longer than asked for); raises with the alert's status when it refused,
        16#80C5 on a reset, WaitTimeoutError when it did not answer within ``timeout``.
        The socket is closed either way.
        """
        sock = self._sock
        if sock is None:
            raise OucConnectionError("not connected", status=Status.NO_SUCH_CONNECTION)
        deadline = time.monotonic() + self.target.timeout
        engine = self._engine
        try:
            if engine is not None:
                engine.close()
                with contextlib.suppress(OSError):  # a refusing peer may be gone: read below
                    self._flush()
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_WR)
            while True:
                got = self._read(deadline, "the peer's answer to close_notify")
                closed = engine is not None and self._drain_events(closing=True)
                if closed or not got:
                    return self.pending
        finally:
            self.abort()

    def abort(self) -> None:
        """Drop the connection without waiting (after a failure)."""
        sock, self._sock = self._sock, None
        self._engine = None
        self._plain.clear()
        if sock is not None:
            sock.close()

    # -- internals ------------------------------------------------------------------------------

    def _flush(self) -> None:
        engine = self._engine
        assert engine is not None
        out = engine.data_to_send()
        if out:
            self._sendall(out)

    def _sendall(self, data: bytes) -> None:
        sock = self._sock
        if sock is None:
            raise OucConnectionError("not connected", status=Status.NO_SUCH_CONNECTION)
        try:
            sock.sendall(data)
        except OSError as exc:
            if own_timeout(exc):
                raise WaitTimeoutError(
                    f"the peer took no data within {self.target.timeout:g} s"
                ) from exc
            raise connection_error(exc, "sending failed") from exc

    def _read(self, deadline: float, what: str) -> int:
        """One read, fed to the engine (or kept, plain TCP); 0 at the peer's end of stream."""
        sock = self._sock
        assert sock is not None
        left = deadline - time.monotonic()
        try:
            if left <= 0:
                raise TimeoutError
            sock.settimeout(left)
            n = sock.recv_into(self._buffer)
        except OSError as exc:
            if own_timeout(exc):
                raise WaitTimeoutError(
                    f"no answer within {self.target.timeout:g} s to {what}"
                ) from exc
            if self._engine is not None:
                self._drain_events()  # an alert that came before the reset names the refusal
            raise connection_error(exc, f"the peer dropped the connection during {what}") from exc
        data = bytes(memoryview(self._buffer)[:n])
        if self._engine is not None:
            self._engine.receive_data(data)
        else:
            self._plain += data
        return n

    def _drain_events(self, *, closing: bool = False) -> bool:
        """Take the engine's events: plaintext kept, a failure raised; True once it closed."""
        engine = self._engine
        assert engine is not None
        done = False
        event = engine.next_event()
        while event is not None:
            if isinstance(event, PlaintextReceived):
                self._plain += event.data
            elif isinstance(event, Failed):
                raise _error(event)
            elif isinstance(event, Closed):
                if not closing:
                    raise OucConnectionError(
                        "the peer closed the connection", status=Status.PARTNER_CLOSED
                    )
                done = True
            event = engine.next_event()
        with contextlib.suppress(OSError):
            out = engine.data_to_send()
            if out and self._sock is not None:
                self._sock.sendall(out)
        return done
