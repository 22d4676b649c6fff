"""The ouc side of the suite: engines and drivers set up on the run's benchmark certificates.

Every ouc row measures the library exactly as users run it, on the same PEM files and the same
configurations (:class:`~benchmarks._stacks.TLSConfig`) as the raw baselines:

- :class:`OucPair`: the client and server :class:`~ouc.tls.TLSContext` of one configuration
  (built once, like every endpoint), for the in-memory rows (engine + engine, no sockets);
- :func:`endpoint_spec`: an :class:`~ouc.drivers.EndpointSpec` of either side, for the driver
  rows; the server kinds of :mod:`benchmarks._ouc_server` build theirs with it too;
- client ops for the loopback rows: blocking ``ActiveEndpoint`` handshakes and streams, and the
  asyncio ``AsyncActiveEndpoint`` loops.

The TLS version is pinned the way a PLC pins it: by firmware. A TLS 1.2 row emulates an S7-1500
V2.8 (TLS 1.2 only), a TLS 1.3 row a V3.1. Certificates come from the bench PEM files directly as
a :class:`~ouc.certs.ResolvedEndpoint` (what store resolution would hand the engine), so no
certificate store is built per run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import CertificateIssuerPrivateKeyTypes

from benchmarks._certs import CertFiles
from benchmarks._harness import Budget
from benchmarks._loops import Timing, op_loop
from benchmarks._memory import transport_handshake
from benchmarks._sockets import Stream
from benchmarks._stacks import TLSConfig
from ouc.certs import ResolvedEndpoint
from ouc.device import Device, Role
from ouc.drivers import ActiveEndpoint, EndpointSpec, system_clock
from ouc.errors import ConfigError, OucConnectionError, Status
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER, TconIpV4Sec
from ouc.tls import TLSContext, TLSEngine, TLSSession

__all__ = [
    "CLIENT_ID",
    "CONNECT_TIMEOUT",
    "IO_TIMEOUT",
    "SERVER_ID",
    "OucPair",
    "active_endpoint",
    "blocking_connect",
    "blocking_handshake_op",
    "device_for",
    "endpoint_spec",
    "memory_full_loop",
    "memory_resumed_loop",
    "resolved_endpoint",
    "stream_of",
]

# Store IDs the bench certificates play (those of the standard example: CA 3, 9, 11).
CA_ID, SERVER_ID, CLIENT_ID = 3, 9, 11
IO_TIMEOUT = 30.0
CONNECT_TIMEOUT = 10.0


def device_for(version: str) -> Device:
    """The emulated CPU whose firmware speaks exactly ``version`` at most (1.2: V2.8; 1.3: V3.1)."""
    if version not in ("1.2", "1.3"):
        raise ConfigError(f"TLS version {version!r} is not 1.2 or 1.3", path="version")
    return Device.from_text("S7-1500", "V3.1" if version == "1.3" else "V2.8")


@cache
def _load(certs: CertFiles) -> tuple[x509.Certificate, ...]:
    """(CA, server cert, client cert) of a key type; keys are loaded by :func:`_key`."""
    return tuple(
        x509.load_pem_x509_certificate(Path(p).read_bytes())
        for p in (certs.ca, certs.server_cert, certs.client_cert)
    )


def _key(path: str) -> CertificateIssuerPrivateKeyTypes:
    key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    return key  # type: ignore[return-value]


def resolved_endpoint(cfg: TLSConfig, role: Role) -> ResolvedEndpoint:
    """What resolving the standard example's block would give, on the bench certificates.

    Passive: own certificate = the server's, client certificates required (and validated by
    the CA) only when ``cfg.mutual``. Active: the server validated by the CA, own client
    certificate only when ``cfg.mutual`` (TLSClientCertRef 0 otherwise).
    """
    ca, server_cert, client_cert = _load(cfg.certs)
    if role is Role.PASSIVE:
        return ResolvedEndpoint(
            role=role,
            own_id=SERVER_ID,
            own_cert=server_cert,
            own_key=_key(cfg.certs.server_key),
            chain=(),
            anchor_ids=(CA_ID,) if cfg.mutual else (),
            anchors=(ca,) if cfg.mutual else (),
            require_peer_cert=cfg.mutual,
        )
    return ResolvedEndpoint(
        role=role,
        own_id=CLIENT_ID if cfg.mutual else None,
        own_cert=client_cert if cfg.mutual else None,
        own_key=_key(cfg.certs.client_key) if cfg.mutual else None,
        chain=(),
        anchor_ids=(CA_ID,),
        anchors=(ca,),
    )


def _block(cfg: TLSConfig, role: Role) -> TconIpV4Sec:
    """The standard example's block of ``role``; the passive one accepts any partner."""
    if role is Role.ACTIVE:
        return dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=CLIENT_ID if cfg.mutual else 0)
    conn = dataclasses.replace(STANDARD_SERVER.ConnPara, RemoteAddress="0.0.0.0")
    return dataclasses.replace(STANDARD_SERVER, ConnPara=conn, TLSServerReqClientCert=cfg.mutual)


def endpoint_spec(cfg: TLSConfig, role: Role, *, session_tickets: bool = True) -> EndpointSpec:
    """An endpoint of ``role`` for ``cfg``: TRCV_C/TSEND_C ad hoc up to the device's LEN.

    Ad hoc receiving is what makes the ouc endpoints speak the bench's byte-stream protocol
    (echo whatever arrives, ACK per unit): each received piece is one frame.
    """
    return EndpointSpec.from_block(
        _block(cfg, role),
        device=device_for(cfg.version),
        resolved=resolved_endpoint(cfg, role),
        receive_len=None,
        adhoc=True,
        session_tickets=session_tickets,
        keylog=False,  # an SSLKEYLOGFILE left in the environment must not cost time here
        handshake_timeout=IO_TIMEOUT,
    )


# -- in memory: ouc client engine + ouc server engine --------------------------------------------


class OucPair:
    """The client and server TLSContexts of one configuration (built once, reused).

    The engines check certificates against a fixed emulated clock (the moment the pair was
    built): what a PLC does, minus a ``datetime.now()`` per handshake that is not TLS work.
    """

    def __init__(self, cfg: TLSConfig) -> None:
        self.cfg = cfg
        device = device_for(cfg.version)
        self.client_ctx = TLSContext.build(resolved_endpoint(cfg, Role.ACTIVE), device)
        self.server_ctx = TLSContext.build(resolved_endpoint(cfg, Role.PASSIVE), device)
        moment = system_clock()
        self.clock: Callable[[], dt.datetime] = lambda: moment

    def engines(self, session: TLSSession | None = None) -> tuple[TLSEngine, TLSEngine]:
        """A fresh (client, server) pair; the client offers ``session`` when given."""
        return (
            TLSEngine(self.client_ctx, now=self.clock, session=session),
            TLSEngine(self.server_ctx, now=self.clock),
        )


def _describe(engine: TLSEngine) -> dict[str, str]:
    info = engine.info
    if info is None:
        return {}
    return {"version": info.version or "", "cipher": info.cipher or "", "group": info.group or ""}


def memory_full_loop(pair: OucPair, budget: Budget) -> tuple[Timing, dict[str, str]]:
    """Full in-memory handshakes of ouc engine pairs until the budget is spent."""
    client, server = pair.engines()
    transport_handshake(client, server)
    info = _describe(client)
    return op_loop(lambda: transport_handshake(*pair.engines()), budget, latencies=False), info


def memory_resumed_loop(pair: OucPair, budget: Budget) -> tuple[Timing, dict[str, str]]:
    """Resumed in-memory handshakes: each client offers the newest session (ticket) of the
    previous one and closes with close_notify; one untimed full handshake primes it. The info
    counts real resumptions."""
    client, server = pair.engines()
    transport_handshake(client, server)
    info = _describe(client)
    session = [client.session]
    client.close()
    server.close()
    if session[0] is None:
        raise OucConnectionError(
            "the ouc server issued no session ticket", status=Status.TLS_HANDSHAKE_FAILURE
        )
    reused = [0]

    def once() -> None:
        client, server = pair.engines(session[0])
        transport_handshake(client, server)
        assert client.info is not None
        reused[0] += client.info.resumed
        fresh = client.session
        if fresh is not None:
            session[0] = fresh
        # close_notify from both sides, as the drivers' disconnect sends: OpenSSL marks the
        # session of a connection freed without a shutdown as not resumable
        # (ssl_clear_bad_session); on a server with stateful tickets that drops the newest
        # ticket from its cache.
        client.close()
        server.close()

    timing = op_loop(once, budget, latencies=False)
    info["resumed"] = f"{reused[0]}/{timing.ops}"
    return timing, info


# -- blocking driver clients ------------------------------------------------------------------


def active_endpoint(
    spec: EndpointSpec, port: int, *, host: str = "127.0.0.1", session_reuse: bool = False
) -> ActiveEndpoint:
    """A blocking client that connects only when told (no watcher, no re-establishment)."""
    return ActiveEndpoint(
        spec,
        connect_to=(host, port),
        connect_timeout=CONNECT_TIMEOUT,
        reconnect=False,
        session_reuse=session_reuse,
        watch=False,
        send_timeout=IO_TIMEOUT,
    )


def blocking_handshake_op(
    cfg: TLSConfig, *, resume: bool = False, reused: list[int] | None = None
) -> Callable[[int], Callable[[], None]]:
    """``make_op`` for blocking-driver handshakes: one ActiveEndpoint per client (its context
    built once); one op = CONT 0→1 (connect + handshake), send 1 byte, receive the echo,
    CONT 1→0 (close_notify). With ``resume`` each connection offers the previous session;
    ``reused`` (a one-element counter) counts real resumptions."""
    spec = endpoint_spec(cfg, Role.ACTIVE)

    def make_op(port: int) -> Callable[[], None]:
        endpoint = active_endpoint(spec, port, session_reuse=resume)

        def once() -> None:
            info = endpoint.connect()
            endpoint.send(b"x")
            endpoint.receive(IO_TIMEOUT)
            endpoint.disconnect()
            if reused is not None:
                reused[0] += info.resumed

        return once

    return make_op


class _Pieces:
    """``recv_into`` over a frame source: frames larger than the view wait for the next call."""

    __slots__ = ("_pending", "_receive")

    def __init__(self, receive: Callable[[], bytes]) -> None:
        self._receive = receive
        self._pending = memoryview(b"")

    def recv_into(self, view: memoryview) -> int:
        pending = self._pending
        if not pending:
            frame = self._receive()
            n = len(frame)
            if n <= len(view):  # the usual case: the whole frame fits, no views needed
                view[:n] = frame
                return n
            pending = memoryview(frame)
        n = min(len(view), len(pending))
        view[:n] = pending[:n]
        self._pending = pending[n:]
        return n


def blocking_connect(cfg: TLSConfig) -> Callable[[int], Stream]:
    """``connect(port)`` for the record rows: an established blocking ActiveEndpoint as a
    Stream (``send`` is one TSEND_C per frame, ``receive`` one ad hoc TRCV_C piece)."""
    spec = endpoint_spec(cfg, Role.ACTIVE)

    def connect(port: int) -> Stream:
        endpoint = active_endpoint(spec, port)
        endpoint.connect()
        return stream_of(endpoint)

    return connect


def stream_of(endpoint: ActiveEndpoint) -> Stream:
    """An established ActiveEndpoint as a Stream: ``sendall`` is one TSEND_C per frame,
    ``recv_into`` hands out the ad hoc TRCV_C pieces; ``close`` closes the endpoint."""
    pieces = _Pieces(lambda: endpoint.receive(IO_TIMEOUT))
    return Stream(endpoint.send, pieces.recv_into, endpoint.close)
