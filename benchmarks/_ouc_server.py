"""The ouc server kinds of the benchmark server process: the blocking and asyncio passive drivers.

``ouc-blocking`` is a :class:`~ouc.drivers.PassiveEndpoint` (a thread per connection),
``ouc-asyncio`` an :class:`~ouc.drivers.AsyncPassiveEndpoint` on the server process's one event
loop. Both receive ad hoc (every received piece is one frame) and speak the suite's wire protocol
through their behaviour: ``echo`` returns each frame, ``sink`` answers one ``0x06`` per
``spec.unit`` bytes received on that connection, ``idle`` receives only. A CONNECTED record (the
handshake completed) counts the connection for ``wait_connections``.
"""

from __future__ import annotations

import asyncio
import weakref

from benchmarks._ouc import endpoint_spec
from benchmarks._server import ACK, ListenerStats, ListenSpec, event_loop
from ouc.conn import Connection, FrameReceived
from ouc.device import Role
from ouc.drivers import (
    AsyncPassiveEndpoint,
    Behaviour,
    EndpointRecord,
    EventCallback,
    PassiveEndpoint,
    PeerContext,
    RecordKind,
    echo,
    receive_only,
)
from ouc.errors import ConfigError

__all__ = ["serve_ouc_asyncio", "serve_ouc_blocking"]

# Endpoints stay referenced for the life of the server process (it is killed at the end).
_ENDPOINTS: list[object] = []


def _sink(unit: int) -> Behaviour:
    """One ACK per ``unit`` bytes received, counted per connection."""
    counts: weakref.WeakKeyDictionary[Connection, int] = weakref.WeakKeyDictionary()

    def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        got = counts.get(peer.connection, 0) + len(frame.data)
        acks, counts[peer.connection] = divmod(got, unit)
        return ACK * acks if acks else None

    return behaviour


def _behaviour(spec: ListenSpec) -> Behaviour:
    if spec.mode == "echo":
        return echo()
    if spec.mode == "sink":
        return _sink(spec.unit)
    return receive_only()


def _counter(stats: ListenerStats) -> EventCallback:
    def on_event(record: EndpointRecord) -> None:
        if record.kind is RecordKind.CONNECTED:
            stats.connected()

    return on_event


def serve_ouc_blocking(spec: ListenSpec, stats: ListenerStats) -> int:
    """Start a blocking PassiveEndpoint for ``spec`` on 127.0.0.1 port 0; its port."""
    if spec.tls is None:
        raise ConfigError("server kind 'ouc-blocking' needs a TLS configuration")
    endpoint = PassiveEndpoint(
        endpoint_spec(spec.tls, Role.PASSIVE),
        behaviour=_behaviour(spec),
        listen=("127.0.0.1", 0),
        max_connections=max(64, spec.workers * 2),
        on_event=_counter(stats),
        backlog=4096,
        spare_threads=max(4, spec.workers),
    )
    endpoint.start()
    _ENDPOINTS.append(endpoint)
    return endpoint.port


def serve_ouc_asyncio(spec: ListenSpec, stats: ListenerStats) -> int:
    """Start an AsyncPassiveEndpoint for ``spec`` on the process's event loop; its port."""
    if spec.tls is None:
        raise ConfigError("server kind 'ouc-asyncio' needs a TLS configuration")
    endpoint = AsyncPassiveEndpoint(
        endpoint_spec(spec.tls, Role.PASSIVE),
        behaviour=_behaviour(spec),
        listen=("127.0.0.1", 0),
        max_connections=None,
        on_event=_counter(stats),
    )

    async def start() -> int:
        await endpoint.start()
        return endpoint.port

    port = asyncio.run_coroutine_threadsafe(start(), event_loop()).result(30)
    _ENDPOINTS.append(endpoint)
    return port
