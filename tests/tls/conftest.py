"""In-memory TLS fixtures: a small PKI per test module and a bounded client/server pump.

Certificates come from :mod:`ouc.certs` (real keys, real signatures). The PLC clock is a fixed
moment (``NOW``) inside every certificate's validity, so tests can move it on purpose.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from OpenSSL import SSL

from ouc.certs import PrivateKey, ResolvedEndpoint, Template, create_certificate, generate_key
from ouc.device import Device, Family, Role
from ouc.tls import TLSContext, TLSEngine, TLSSession
from ouc.transport import TransportEvent

NOW = dt.datetime(2026, 11, 21, 12, 0, tzinfo=dt.UTC)
SERVER_IP = "192.168.0.1"
CLIENT_IP = "192.168.0.2"
V31 = Device(Family.S7_1500, (3, 1))  # TLS 1.2 + 1.3
V28 = Device(Family.S7_1500, (2, 8))  # TLS 1.2 only


@dataclass(frozen=True)
class Pki:
    """A CA (ID 3) with a server certificate (ID 9) and a client certificate (ID 11)."""

    key_type: str
    ca: x509.Certificate
    ca_key: PrivateKey
    server: x509.Certificate
    server_key: PrivateKey
    client: x509.Certificate
    client_key: PrivateKey

    def issue(
        self,
        common_name: str,
        *,
        template: Template = Template.TLS_CLIENT,
        not_before: dt.datetime = NOW - dt.timedelta(days=30),
        not_after: dt.datetime = NOW + dt.timedelta(days=365),
        ip_sans: tuple[str, ...] = (),
        issuer: tuple[x509.Certificate, PrivateKey] | None = None,
    ) -> tuple[x509.Certificate, PrivateKey]:
        """Another certificate with a fresh key, issued by this CA or by ``issuer``."""
        key = generate_key(self.key_type)
        cert, cakey = issuer if issuer is not None else (self.ca, self.ca_key)
        return (
            create_certificate(
                common_name=common_name,
                template=template,
                key=key,
                issuer_cert=cert,
                issuer_key=cakey,
                not_before=not_before,
                not_after=not_after,
                ip_sans=ip_sans,
            ),
            key,
        )


def make_pki(key_type: str, ca_name: str = "CA 3") -> Pki:
    """A fresh CA with the example's server (IP SAN 192.168.0.1) and client certificates."""
    ca_key = generate_key(key_type)
    ca = create_certificate(
        common_name=ca_name,
        template=Template.CA,
        key=ca_key,
        not_before=NOW - dt.timedelta(days=365),
        not_after=NOW + dt.timedelta(days=3650),
    )
    bare = Pki(key_type, ca, ca_key, ca, ca_key, ca, ca_key)
    server, server_key = bare.issue(
        "PLC_1 server", template=Template.TLS_CLIENT_SERVER, ip_sans=(SERVER_IP,)
    )
    client, client_key = bare.issue("PLC_2 client")
    return Pki(key_type, ca, ca_key, server, server_key, client, client_key)


def server_endpoint(pki: Pki, *, require_client_cert: bool = True) -> ResolvedEndpoint:
    """The sample server block: own cert 9, clients validated by CA 3."""
    return ResolvedEndpoint(
        role=Role.PASSIVE,
        own_id=9,
        own_cert=pki.server,
        own_key=pki.server_key,
        chain=(),
        anchor_ids=(3,),
        anchors=(pki.ca,),
        require_peer_cert=require_client_cert,
    )


def client_endpoint(
    pki: Pki, *, with_cert: bool = True, check_san: bool = False
) -> ResolvedEndpoint:
    """The sample client block: server validated by CA 3, own client cert 11."""
    return ResolvedEndpoint(
        role=Role.ACTIVE,
        own_id=11 if with_cert else None,
        own_cert=pki.client if with_cert else None,
        own_key=pki.client_key if with_cert else None,
        chain=(),
        anchor_ids=(3,),
        anchors=(pki.ca,),
        check_san=check_san,
    )


def clock(moment: dt.datetime = NOW) -> Callable[[], dt.datetime]:
    return lambda: moment


@dataclass
class Pair:
    """A client and a server engine wired through buffers (h11's ConnectionPair, for TLS)."""

    client: TLSEngine
    server: TLSEngine
    client_events: list[TransportEvent] = field(default_factory=list)
    server_events: list[TransportEvent] = field(default_factory=list)
    # Every chunk that travelled, per direction, to check e.g. that nothing was sent.
    to_server: list[bytes] = field(default_factory=list)
    to_client: list[bytes] = field(default_factory=list)

    def pump(self, max_rounds: int = 20) -> int:
        """Move bytes both ways until both sides are quiet; returns the rounds used.

        Bounded: a handshake needs 3 rounds at most, so 20 rounds without quiet is a failure.
        """
        for rounds in range(1, max_rounds + 1):
            moved = False
            data = self.client.data_to_send()
            if data:
                self.to_server.append(data)
                self.server.receive_data(data)
                moved = True
            data = self.server.data_to_send()
            if data:
                self.to_client.append(data)
                self.client.receive_data(data)
                moved = True
            self.client_events.extend(drain(self.client))
            self.server_events.extend(drain(self.server))
            if not moved:
                return rounds
        raise AssertionError(f"the pair did not settle within {max_rounds} rounds")


def drain(engine: TLSEngine) -> Iterator[TransportEvent]:
    """All events the engine has right now (bounded: an engine queues a handful at most)."""
    for _ in range(10_000):
        event = engine.next_event()
        if event is None:
            return
        yield event
    raise AssertionError("an engine produced more than 10,000 events")


def make_pair(
    server: ResolvedEndpoint,
    client: ResolvedEndpoint,
    *,
    server_device: Device = V31,
    client_device: Device = V31,
    server_now: dt.datetime = NOW,
    client_now: dt.datetime = NOW,
    peer_address: str | None = SERVER_IP,
    server_kwargs: dict[str, object] | None = None,
    client_kwargs: dict[str, object] | None = None,
) -> Pair:
    sctx = TLSContext.build(server, server_device, **(server_kwargs or {}))  # type: ignore[arg-type]
    cctx = TLSContext.build(client, client_device, **(client_kwargs or {}))  # type: ignore[arg-type]
    return engines(sctx, cctx, server_now=server_now, client_now=client_now, peer=peer_address)


def engines(
    sctx: TLSContext,
    cctx: TLSContext,
    *,
    server_now: dt.datetime = NOW,
    client_now: dt.datetime = NOW,
    peer: str | None = SERVER_IP,
    session: TLSSession | None = None,
) -> Pair:
    server = TLSEngine(sctx, now=clock(server_now), peer_address=CLIENT_IP)
    client = TLSEngine(cctx, now=clock(client_now), peer_address=peer, session=session)
    client.start()
    server.start()
    return Pair(client, server)


class RawPeer:
    """A plain pyOpenSSL memory-BIO peer, for behaviour our own engines never show (a TLS
    1.3-only peer, a peer that asks for renegotiation)."""

    def __init__(
        self, pki: Pki, *, server: bool, min_version: int = SSL.TLS1_2_VERSION, max_version: int = 0
    ) -> None:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD if server else SSL.TLS_CLIENT_METHOD)
        ctx.set_min_proto_version(min_version)
        if max_version:
            ctx.set_max_proto_version(max_version)
        if server:
            ctx.use_certificate(pki.server)
            ctx.use_privatekey(pki.server_key)
        self.conn = SSL.Connection(ctx, None)
        if server:
            self.conn.set_accept_state()
        else:
            self.conn.set_connect_state()
        self.errors: list[str] = []
        self.received = bytearray()

    def step(self) -> None:
        """Advance the handshake and read application data, remembering any failure."""
        try:
            self.conn.do_handshake()
            for _ in range(100):
                self.received += self.conn.recv(65536)
        except (SSL.WantReadError, SSL.ZeroReturnError):
            pass
        except SSL.Error as exc:
            self.errors.append(str(exc))

    def wire_out(self) -> bytes:
        try:
            return self.conn.bio_read(1 << 20)
        except SSL.WantReadError:
            return b""


def pump_raw(engine: TLSEngine, raw: RawPeer, events: list[TransportEvent]) -> None:
    """Move bytes between an engine and a raw peer until both are quiet (bounded)."""
    for _ in range(20):
        raw.step()
        moved = False
        data = engine.data_to_send()
        if data:
            raw.conn.bio_write(data)
            raw.step()
            moved = True
        data = raw.wire_out()
        if data:
            engine.receive_data(data)
            moved = True
        events.extend(drain(engine))
        if not moved:
            return
    raise AssertionError("engine and raw peer did not settle")


class Kit:
    """Test helpers, handed to tests as the ``kit`` fixture (importlib mode: no imports from
    conftest)."""

    NOW = NOW
    SERVER_IP = SERVER_IP
    CLIENT_IP = CLIENT_IP
    V31 = V31
    V28 = V28
    Pair = Pair
    RawPeer = RawPeer
    make_pki = staticmethod(make_pki)
    server_endpoint = staticmethod(server_endpoint)
    client_endpoint = staticmethod(client_endpoint)
    clock = staticmethod(clock)
    drain = staticmethod(drain)
    make_pair = staticmethod(make_pair)
    engines = staticmethod(engines)
    pump_raw = staticmethod(pump_raw)


@pytest.fixture(scope="session")
def kit() -> type[Kit]:
    return Kit


@pytest.fixture(scope="session")
def pki() -> Pki:
    """EC P-256 CA 3, server certificate 9 (IP SAN 192.168.0.1), client certificate 11."""
    return make_pki("EC-P256")


@pytest.fixture(scope="session")
def pki_rsa() -> Pki:
    """The same PKI with RSA-2048 keys."""
    return make_pki("RSA-2048")
