"""Helpers for the hostile-peer tests, handed out as the ``hostile`` fixture (importlib mode:
tests cannot import from conftest) and the ``server`` fixture (one mock PLC per driver).

Every wait here is bounded and wakes on what it waits for (a record, EOF); no sleeps.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
import struct
import threading
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ouc.certs import SERVER_DEVICE, CertStore
from ouc.device import Device
from ouc.drivers import (
    AddressMap,
    Behaviour,
    EndpointRecord,
    EndpointSpec,
    RecordKind,
    RecordLog,
    echo,
)
from ouc.params import STANDARD_SERVER, Block
from ouc.pytest_plugin import ActiveFactory, PassiveFactory, PemFiles

WAIT = 10.0  # seconds any single wait may take before the test fails
PARTNER = "192.168.0.2"  # the sample server block's partner; the fixtures map 127.0.0.1 to it
FRAME = 258
ENDED = (RecordKind.FAILED, RecordKind.CLOSED)


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


class Hostile:
    """Raw-socket peers and the checks every hostile-peer test ends with."""

    def __init__(self, pem: PemFiles) -> None:
        self.pem = pem
        self.fds_before = _fds()
        self.threads_before = set(threading.enumerate())

    # -- raw peers ------------------------------------------------------------------------------

    @staticmethod
    def raw(address: tuple[str, int]) -> socket.socket:
        """A plain TCP connection to the endpoint (seen as the partner 192.168.0.2)."""
        sock = socket.create_connection(address, timeout=WAIT)
        return sock

    @staticmethod
    def peer_text(sock: socket.socket) -> str:
        """How the endpoint's records name this client: ``192.168.0.2:PORT``."""
        return f"{PARTNER}:{sock.getsockname()[1]}"

    @staticmethod
    def reset(sock: socket.socket) -> None:
        """Close with SO_LINGER 0: the kernel sends RST instead of FIN."""
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()

    @staticmethod
    def read_to_eof(sock: socket.socket, limit: int = 1 << 20) -> bytes:
        """Everything the endpoint sends until it closes (bounded in bytes and by WAIT)."""
        sock.settimeout(WAIT)
        data = b""
        while len(data) < limit:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            data += chunk
        return data

    def ended(self, log: RecordLog, peer: str) -> EndpointRecord:
        """The record that ended the connection of ``peer`` (waits for it)."""
        return log.wait_for(lambda r: r.peer == peer and r.kind in ENDED, timeout=WAIT)

    # -- TLS clients ----------------------------------------------------------------------------

    def tls_context(self, **versions: Any) -> ssl.SSLContext:
        """A client context of the ``ssl`` module with client certificate 11 and CA 3."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        context.check_hostname = False  # certificate 9 carries the plant address 192.168.0.1
        context.load_verify_locations(self.pem.ca)
        context.load_cert_chain(self.pem.client_cert, self.pem.client_key)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated
            for name, value in versions.items():
                setattr(context, name, value)
        return context

    def tls(self, address: tuple[str, int], **versions: Any) -> ssl.SSLSocket:
        return self.tls_context(**versions).wrap_socket(self.raw(address))

    # -- the endings ----------------------------------------------------------------------------

    @staticmethod
    def assert_serves(ouc_active: ActiveFactory, address: tuple[str, int]) -> None:
        """A well-behaved client (the sample client block) is served: echo of one frame."""
        client = ouc_active(address, reconnect=False)
        frame = os.urandom(FRAME)
        client.send(frame)
        assert client.receive(timeout=WAIT) == frame
        client.close()

    def finish(self, ouc_active: ActiveFactory, plc: Server) -> None:
        """The end of every hostile-peer test: a good client is served, nothing leaked."""
        self.assert_serves(ouc_active, plc.address)
        self.assert_clean(ouc_active.close_all, plc.stop)

    def assert_clean(self, *stop: Callable[[], None]) -> None:
        """Stop everything, then: no thread and no file descriptor more than at the start."""
        for function in stop:
            function()
        leaked = [t.name for t in threading.enumerate() if t not in self.threads_before]
        assert not leaked, f"threads left running: {leaked}"
        assert _fds() <= self.fds_before, f"{_fds() - self.fds_before} file descriptors leaked"


@pytest.fixture
def hostile(ouc_pem: PemFiles) -> Hostile:
    return Hostile(ouc_pem)


# --------------------------------------------------------------------------- one server per driver


@dataclass
class Server:
    """A running mock PLC of either driver, as the tests see it."""

    driver: str
    address: tuple[str, int]
    log: RecordLog
    stop: Callable[[], None]
    endpoint: Any


class _LoopThread:
    """An event loop in a thread of its own, for the asyncio endpoint."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="aio-server")
        self.thread.start()

    def run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(WAIT)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(WAIT)
        self.loop.close()


def _async_server(
    store: CertStore, block: Block, behaviour: Behaviour, options: dict[str, Any]
) -> Server:
    aio = pytest.importorskip("ouc.drivers._aio", reason="the asyncio driver is not in this tree")
    AsyncPassiveEndpoint = aio.AsyncPassiveEndpoint

    endpoint_names = ("max_connections", "backlog")
    endpoint_options = {k: options.pop(k) for k in endpoint_names if k in options}
    options.setdefault("receive_len", FRAME)
    spec = EndpointSpec.from_block(
        block,
        store=store,
        device=Device(name=SERVER_DEVICE, own_addresses=("192.168.0.1",)),
        **options,
    )
    log = RecordLog()
    runner = _LoopThread()
    endpoint = AsyncPassiveEndpoint(
        spec,
        behaviour=behaviour,
        listen=("127.0.0.1", 0),
        address_map=AddressMap({(PARTNER, None): ("127.0.0.1", None)}),
        on_event=log,
        **endpoint_options,
    )
    runner.run(endpoint.start())
    stopped = False

    def stop() -> None:
        nonlocal stopped
        if not stopped:
            stopped = True
            runner.run(endpoint.stop())
            runner.close()

    return Server("asyncio", endpoint.address, log, stop, endpoint)


@pytest.fixture(params=["blocking", "asyncio"])
def server(
    request: pytest.FixtureRequest, ouc_passive: PassiveFactory, ouc_store: CertStore
) -> Iterator[Callable[..., Server]]:
    """``server(**options)``: the sample server block (echo) on the driver of the test's
    parameter; ``options`` are EndpointSpec.from_block's (``handshake_timeout``, ...)."""
    made: list[Server] = []

    def start(block: Block = STANDARD_SERVER, **options: Any) -> Server:
        if request.param == "blocking":
            endpoint = ouc_passive(block, echo(), **options)
            made.append(
                Server(
                    "blocking", endpoint.address, ouc_passive.log(endpoint), endpoint.stop, endpoint
                )
            )
        else:
            made.append(_async_server(ouc_store, block, echo(), dict(options)))
        return made[-1]

    yield start
    for item in made:
        item.stop()
