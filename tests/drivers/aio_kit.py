"""The asyncio driver's socket-test kit: certificates made per module, endpoint specs, waits on
records and frames bounded in time (never a sleep), a connected pair."""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

from cryptography import x509

from ouc.certs import PrivateKey, ResolvedEndpoint, Template, create_certificate, generate_key
from ouc.conn import FrameReceived
from ouc.device import Device, Role
from ouc.drivers._aio import AsyncPassiveEndpoint
from ouc.drivers._aio_active import AsyncActiveEndpoint
from ouc.drivers._aio_loop import lean_event_loop
from ouc.drivers._records import EndpointRecord, RecordKind
from ouc.drivers._setup import EndpointSpec, PeerContext
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER

T = TypeVar("T")

NOW = dt.datetime.now(dt.UTC)
DAY = dt.timedelta(days=1)
LIMIT = 20.0  # seconds any one test may run
WAIT = 10.0  # seconds any one wait may take (generous for a loaded 2-core machine)

# The sample blocks with "any partner" on the server side (most tests connect from 127.0.0.1).
SERVER_ANY = dataclasses.replace(
    STANDARD_SERVER, ConnPara=dataclasses.replace(STANDARD_SERVER.ConnPara, RemoteAddress="0.0.0.0")
)
SEND_DATA = b"\x01\x00" + bytes([254, 12]) + b"Hello World!" + bytes(242)  # 258-byte image
# A handshake record holding a ClientHello one byte long: OpenSSL answers decode_error. (An HTTP
# request would not do: OpenSSL deliberately sends no alert to one.)
BROKEN_HELLO = bytes.fromhex("1603010005" + "0100000100")


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one test's coroutine in a fresh loop, bounded in time."""
    return asyncio.run(asyncio.wait_for(coro, LIMIT))


def run_lean(coro: Coroutine[Any, Any, T]) -> T:
    """Run on the loop ``ouc serve`` runs on (lean selector: its own timers), bounded."""
    with asyncio.Runner(loop_factory=lean_event_loop) as runner:
        return runner.run(asyncio.wait_for(coro, LIMIT))


# ---------------------------------------------------------------------------------- certificates


@dataclass(frozen=True)
class Pki:
    """CA 3 with a server certificate (IP SAN 192.168.0.1) and a client certificate."""

    ca: x509.Certificate
    ca_key: PrivateKey
    server: tuple[x509.Certificate, PrivateKey]
    client: tuple[x509.Certificate, PrivateKey]

    def issue(
        self,
        name: str,
        *,
        template: Template = Template.TLS_CLIENT,
        not_after: dt.datetime = NOW + 30 * DAY,
        issuer: tuple[x509.Certificate, PrivateKey] | None = None,
        ip_sans: tuple[str, ...] = (),
    ) -> tuple[x509.Certificate, PrivateKey]:
        key = generate_key("EC-P256")
        cert, cakey = issuer or (self.ca, self.ca_key)
        return (
            create_certificate(
                common_name=name,
                template=template,
                key=key,
                issuer_cert=cert,
                issuer_key=cakey,
                not_before=not_after - 60 * DAY,
                not_after=not_after,
                ip_sans=ip_sans,
            ),
            key,
        )


def make_pki() -> Pki:
    """A fresh CA 3 (EC P-256) with PLC_1's server and PLC_2's client certificates."""
    ca_key = generate_key("EC-P256")
    ca = create_certificate(
        common_name="CA 3",
        template=Template.CA,
        key=ca_key,
        not_before=NOW - 365 * DAY,
        not_after=NOW + 3650 * DAY,
    )
    bare = Pki(ca, ca_key, (ca, ca_key), (ca, ca_key))
    server = bare.issue("PLC_1", template=Template.TLS_CLIENT_SERVER, ip_sans=("192.168.0.1",))
    return Pki(ca, ca_key, server, bare.issue("PLC_2"))


def server_spec(
    pki: Pki,
    *,
    block: Any = SERVER_ANY,
    cert: tuple[x509.Certificate, PrivateKey] | None = None,
    mutual: bool = True,
    plant: tuple[str, ...] = (),
    **options: Any,
) -> EndpointSpec:
    own, key = cert or pki.server
    resolved = ResolvedEndpoint(
        Role.PASSIVE, 9, own, key, (), (3,), (pki.ca,), require_peer_cert=mutual
    )
    device = Device(name="PLC_1", own_addresses=plant)
    options.setdefault("receive_len", 258)
    options.setdefault("adhoc", True)
    return EndpointSpec.from_block(block, resolved=resolved, device=device, **options)


def client_spec(
    pki: Pki,
    *,
    block: Any = STANDARD_CLIENT,
    cert: tuple[x509.Certificate, PrivateKey] | None = None,
    **options: Any,
) -> EndpointSpec:
    own, key = cert or pki.client
    resolved = ResolvedEndpoint(Role.ACTIVE, 11, own, key, (), (3,), (pki.ca,))
    device = Device(name="PLC_2", own_addresses=("192.168.0.2",))
    options.setdefault("receive_len", 258)
    options.setdefault("adhoc", True)
    return EndpointSpec.from_block(block, resolved=resolved, device=device, **options)


# ---------------------------------------------------------------------------------- waiting


class Records:
    """An ``on_event`` callback that keeps the records and lets a test wait for one."""

    def __init__(self) -> None:
        self.items: list[EndpointRecord] = []
        self._changed = asyncio.Event()

    def __call__(self, record: EndpointRecord) -> None:
        self.items.append(record)
        self._changed.set()

    def of(self, kind: RecordKind) -> list[EndpointRecord]:
        return [r for r in self.items if r.kind is kind]

    async def wait(self, kind: RecordKind, count: int = 1) -> EndpointRecord:
        """The ``count``-th record of ``kind`` (bounded wait)."""
        return await wait_until(lambda: len(self.of(kind)) >= count, self._changed, self.of, kind)


class Frames:
    """A behaviour that collects frames (and answers with ``answer(frame)``)."""

    def __init__(self, answer: Callable[[bytes], bytes | None] = lambda data: None) -> None:
        self.frames: list[FrameReceived] = []
        self._answer = answer
        self._changed = asyncio.Event()

    def __call__(self, frame: FrameReceived, peer: PeerContext) -> bytes | None:
        self.frames.append(frame)
        self._changed.set()
        return self._answer(frame.data)

    async def wait(self, count: int) -> list[FrameReceived]:
        await wait_until(lambda: len(self.frames) >= count, self._changed, lambda: None)
        return self.frames


async def wait_until(
    done: Callable[[], bool], changed: asyncio.Event, result: Callable[..., Any], *args: Any
) -> Any:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT
    while not done():
        changed.clear()
        left = deadline - loop.time()
        if left <= 0:
            raise AssertionError("the awaited event did not come within the wait limit")
        await asyncio.gather(asyncio.wait_for(changed.wait(), left), return_exceptions=True)
    value = result(*args)
    return value[-1] if isinstance(value, list) else value


async def connected_pair(
    pki: Pki,
    *,
    behaviour: Any = None,
    server_options: dict[str, Any] | None = None,
    client_options: dict[str, Any] | None = None,
    endpoint_options: dict[str, Any] | None = None,
) -> tuple[AsyncPassiveEndpoint, AsyncActiveEndpoint, Records, Records]:
    """A started server (any partner) and a connected client; the caller closes both."""
    srecords, crecords = Records(), Records()
    server = AsyncPassiveEndpoint(
        server_spec(pki, **(server_options or {})),
        behaviour=behaviour,
        listen=("127.0.0.1", 0),
        on_event=srecords,
    )
    await server.start()
    client = AsyncActiveEndpoint(
        client_spec(pki, **(client_options or {})),
        connect_to=("127.0.0.1", server.port),
        on_event=crecords,
        **(endpoint_options or {}),
    )
    await client.connect()
    return server, client, srecords, crecords
