"""A client/server :class:`~ouc.conn.Connection` pair wired through buffers, no sockets.

The TLS fixtures (``contexts``, ``tls_engines``) give both sides the real TLS engine with real
certificates made for the test session, for tests that need the bytes TLS puts on the wire.

:class:`Pair` plays both drivers: it moves ``data_to_send()`` of each side into the other's
``receive_data()`` (optionally cut into chunks by a splitter), half-closes a side (feeds the
peer ``b""``) once that side is closing or ended, and collects every event. The pump loop is
bounded in rounds; a pair that still moves bytes after that is a bug and fails the test.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest

from ouc.certs import ResolvedEndpoint, Template, create_certificate, generate_key
from ouc.conn import Connection, ConnectionConfig, ConnectionEvent, ConnState, IsoConfig
from ouc.device import Device, Role
from ouc.tls import TLSContext, TLSEngine
from ouc.transport import PlainTransport, Transport

Splitter = Callable[[bytes], list[bytes]]

MAX_ROUNDS = 200


def whole(data: bytes) -> list[bytes]:
    return [data]


class Pair:
    """Two connections, the active one (``client``) and the passive one (``server``)."""

    def __init__(
        self,
        client: Connection,
        server: Connection,
        split: Splitter = whole,
    ) -> None:
        self.client = client
        self.server = server
        self.split = split
        self.events: dict[str, list[ConnectionEvent]] = {"client": [], "server": []}
        self._eof_sent = {"client": False, "server": False}
        self.now = 0.0

    def start(self, now: float = 0.0) -> None:
        """Both drivers have their TCP connection: CONT 0→1 on both sides, then pump."""
        self.now = now
        self.server.connect(now)
        self.client.connect(now)
        self.pump()

    def _side(self, name: str) -> tuple[Connection, Connection]:
        if name == "client":
            return self.client, self.server
        return self.server, self.client

    def pump(self) -> None:
        """Move bytes until both sides are quiet (bounded)."""
        for _ in range(MAX_ROUNDS):
            moved = False
            for name in ("client", "server"):
                conn, peer = self._side(name)
                data = conn.data_to_send()
                if data and not peer.ended:
                    for chunk in self.split(data):
                        peer.receive_data(chunk, now=self.now)
                    moved = True
                closing = conn.state is ConnState.DISCONNECTING or conn.ended
                if closing and not self._eof_sent[name] and not data:
                    self._eof_sent[name] = True
                    peer.receive_data(b"", now=self.now)
                    moved = True
            self.collect()
            if not moved:
                return
        raise AssertionError(f"pair still busy after {MAX_ROUNDS} rounds")

    def collect(self) -> None:
        for name in ("client", "server"):
            conn, _ = self._side(name)
            while (event := conn.next_event()) is not None:
                self.events[name].append(event)

    def of(self, name: str, kind: type) -> list:  # type: ignore[type-arg]
        return [e for e in self.events[name] if isinstance(e, kind)]


def make_config(role: Role, receive_len: int = 258, **kwargs: object) -> ConnectionConfig:
    return ConnectionConfig(role, receive_len, **kwargs)  # type: ignore[arg-type]


def make_pair(
    receive_len: int = 258,
    *,
    adhoc: bool = False,
    iso: tuple[IsoConfig, IsoConfig] | None = None,
    device: Device | None = None,
    split: Splitter = whole,
    transports: tuple[Transport, Transport] | None = None,
    **kwargs: object,
) -> Pair:
    """A pair with the same receive settings on both sides (ISO: client config, server config)."""
    device = device or Device()
    client_t, server_t = transports or (PlainTransport(), PlainTransport())
    common = dict(adhoc=adhoc, device=device, **kwargs)
    client = Connection(
        make_config(Role.ACTIVE, receive_len, iso=iso[0] if iso else None, **common), client_t
    )
    server = Connection(
        make_config(Role.PASSIVE, receive_len, iso=iso[1] if iso else None, **common), server_t
    )
    return Pair(client, server, split)


@pytest.fixture(scope="session")
def pair_factory() -> Callable[..., Pair]:
    """``pair_factory(receive_len, adhoc=, iso=, device=, split=, transports=, **config)``."""
    return make_pair


class SilentTransport(PlainTransport):
    """Plain TCP whose handshake never completes (a TLS peer that stays silent)."""

    def start(self) -> None:
        pass


@pytest.fixture(scope="session")
def up() -> Callable[..., Connection]:
    """``up(role=Role.PASSIVE, receive_len=4, **config)``: one connection over plain TCP,
    established, its Established event taken."""

    def make(role: Role = Role.PASSIVE, receive_len: int = 4, **config: object) -> Connection:
        conn = Connection(make_config(role, receive_len, **config), PlainTransport())
        conn.connect(0.0)
        conn.next_event()
        return conn

    return make


@pytest.fixture(scope="session")
def establishing() -> Callable[..., Connection]:
    """``establishing(role=Role.ACTIVE, connect=True, **config)``: one connection whose
    transport handshake never completes (7002 stays); ``connect=False`` leaves it idle."""

    def make(role: Role = Role.ACTIVE, *, connect: bool = True, **config: object) -> Connection:
        conn = Connection(make_config(role, 4, **config), SilentTransport())
        if connect:
            conn.connect(0.0)
        return conn

    return make


@pytest.fixture(scope="session")
def pair_type() -> type[Pair]:
    """The :class:`Pair` class, for tests that build their own two connections."""
    return Pair


#: The certificates' time and the server certificate's IP SAN (the client checks it).
TLS_NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
TLS_SERVER_IP = "192.168.0.1"


def _cert(name: str, template: Template, issuer: tuple[Any, Any] | None = None, **kw: Any) -> Any:
    key = generate_key("EC-P256")
    signer = {"issuer_cert": issuer[0], "issuer_key": issuer[1]} if issuer else {}
    cert = create_certificate(
        common_name=name,
        template=template,
        key=key,
        not_before=TLS_NOW - dt.timedelta(days=30),
        not_after=TLS_NOW + dt.timedelta(days=365),
        **signer,
        **kw,
    )
    return cert, key


@pytest.fixture(scope="session")
def contexts() -> tuple[TLSContext, TLSContext]:
    """The standard example: CA 3, server certificate 9, client certificate 11, mutual TLS."""
    ca = _cert("CA 3", Template.CA)
    server, server_key = _cert("PLC_1", Template.TLS_CLIENT_SERVER, ca, ip_sans=(TLS_SERVER_IP,))
    client, client_key = _cert("PLC_2", Template.TLS_CLIENT, ca)
    passive = ResolvedEndpoint(Role.PASSIVE, 9, server, server_key, (), (3,), (ca[0],))
    active = ResolvedEndpoint(Role.ACTIVE, 11, client, client_key, (), (3,), (ca[0],))
    return TLSContext.build(active, Device()), TLSContext.build(passive, Device())


@pytest.fixture(scope="session")
def tls_engines(
    contexts: tuple[TLSContext, TLSContext],
) -> Callable[[], tuple[TLSEngine, TLSEngine]]:
    """``tls_engines()``: a fresh (client, server) pair of TLS engines on the session's
    certificates, both clocks at ``TLS_NOW``; give them to ``pair_factory(transports=...)``."""
    client_ctx, server_ctx = contexts

    def make() -> tuple[TLSEngine, TLSEngine]:
        return (
            TLSEngine(client_ctx, now=lambda: TLS_NOW, peer_address=TLS_SERVER_IP),
            TLSEngine(server_ctx, now=lambda: TLS_NOW),
        )

    return make
