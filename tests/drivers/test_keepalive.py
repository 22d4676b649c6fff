"""TCP keep-alive on accepted and connected sockets, both drivers, read back from the kernel.

The seed capture (domain.md §4) shows keep-alives after about 30 s idle from both CPUs, so every
endpoint arms SO_KEEPALIVE with TCP_KEEPIDLE 30 by default (interval 10 s and 3 probes are an
inference). The test runs the standard example over real TLS on loopback and reads the options
of both TCP sockets of the connection through duplicates of this process's descriptors (found in
/proc/self/fd by their addresses), so it sees what the kernel holds, not what ouc meant to set.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import os
import socket
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.drivers import (
    ActiveEndpoint,
    AsyncActiveEndpoint,
    AsyncPassiveEndpoint,
    EndpointSpec,
    ExampleSetup,
    KeepAlive,
    PassiveEndpoint,
    example_store,
    parse_keepalive,
    standard_example,
)
from ouc.errors import ConfigError
from ouc.params import TconIpV4

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "TCP_KEEPIDLE"), reason="reads TCP_KEEPIDLE back (Linux, BSD)"
)

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
LIMIT = 20.0

Options = tuple[int, int, int, int]  # SO_KEEPALIVE, TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT


@pytest.fixture
def setup(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> ExampleSetup:
    store: CertStore = example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)
    return standard_example(store)


def _options(sock: socket.socket) -> Options:
    tcp = socket.IPPROTO_TCP
    return (
        int(sock.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0),
        sock.getsockopt(tcp, socket.TCP_KEEPIDLE),
        sock.getsockopt(tcp, socket.TCP_KEEPINTVL),
        sock.getsockopt(tcp, socket.TCP_KEEPCNT),
    )


@contextlib.contextmanager
def _tcp_sockets() -> Iterator[list[socket.socket]]:
    """Duplicates of every TCP socket this process holds (closed afterwards)."""
    found: list[socket.socket] = []
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            try:
                if not stat.S_ISSOCK(os.fstat(fd).st_mode):
                    continue
                dup = os.dup(fd)
            except OSError:
                continue  # closed meanwhile (the listing's own descriptor)
            try:
                sock = socket.socket(fileno=dup)  # family and type as the kernel reports them
            except OSError:
                os.close(dup)
                continue
            if sock.type == socket.SOCK_STREAM and sock.family == socket.AF_INET:
                found.append(sock)
            else:
                sock.close()
        yield found
    finally:
        for sock in found:
            sock.close()


def _both_ends(port: int) -> tuple[Options, Options]:
    """The keep-alive options of the accepted and the connected socket of the connection to
    the listener on ``port``: the one pair whose ends face each other (a socket another test
    left open towards an earlier listener that had the same port number is no such pair)."""
    accepted: dict[tuple[str, int], Options] = {}  # by the peer's address
    connected: dict[tuple[str, int], Options] = {}  # by the own address
    with _tcp_sockets() as socks:
        for sock in socks:
            try:
                local, peer = sock.getsockname(), sock.getpeername()
            except OSError:
                continue  # a listener, or not connected
            if local[1] == port:
                accepted[peer] = _options(sock)
            elif peer[1] == port:
                connected[local] = _options(sock)
    pairs = [(accepted[end], connected[end]) for end in accepted.keys() & connected.keys()]
    assert len(pairs) == 1, (accepted, connected)
    return pairs[0]


CASES = {
    "default": (None, (1, 30, 10, 3)),
    "custom": (KeepAlive(45, 7, 4), (1, 45, 7, 4)),
    "text": ("20,5,2", (1, 20, 5, 2)),
}


def _spec(spec: EndpointSpec, keepalive: KeepAlive | str | None) -> EndpointSpec:
    if keepalive is None:
        return spec  # the default every spec gets
    return dataclasses.replace(spec, keepalive=parse_keepalive(keepalive))


@pytest.mark.parametrize("case", sorted(CASES))
def test_blocking_driver_arms_keepalive_on_both_ends(setup: ExampleSetup, case: str) -> None:
    keepalive, expected = CASES[case]
    server_spec, client_spec = _spec(setup.server, keepalive), _spec(setup.client, keepalive)
    with (
        PassiveEndpoint(server_spec, address_map=setup.address_map) as server,
        ActiveEndpoint(client_spec, address_map=setup.address_map) as client,
    ):
        assert client.info is not None  # established: the handshake is done
        accepted, connected = _both_ends(server.port)
    assert accepted == expected
    assert connected == expected


@pytest.mark.parametrize("case", sorted(CASES))
def test_asyncio_driver_arms_keepalive_on_both_ends(setup: ExampleSetup, case: str) -> None:
    keepalive, expected = CASES[case]

    async def main() -> tuple[Options, Options]:
        server_spec, client_spec = _spec(setup.server, keepalive), _spec(setup.client, keepalive)
        async with (
            AsyncPassiveEndpoint(server_spec, address_map=setup.address_map) as server,
            AsyncActiveEndpoint(client_spec, address_map=setup.address_map) as c,
        ):
            await c.connect(timeout=10.0)
            return _both_ends(server.port)

    accepted, connected = asyncio.run(asyncio.wait_for(main(), LIMIT))
    assert accepted == expected
    assert connected == expected


def test_off_leaves_both_ends_without_keepalive(setup: ExampleSetup) -> None:
    server_spec = dataclasses.replace(setup.server, keepalive=parse_keepalive("off"))
    client_spec = dataclasses.replace(setup.client, keepalive=None)
    with (
        PassiveEndpoint(server_spec, address_map=setup.address_map) as server,
        ActiveEndpoint(client_spec, address_map=setup.address_map) as client,
    ):
        assert client.info is not None
        accepted, connected = _both_ends(server.port)
    assert accepted[0] == 0 and connected[0] == 0

    async def main() -> tuple[Options, Options]:
        async with (
            AsyncPassiveEndpoint(server_spec, address_map=setup.address_map) as server,
            AsyncActiveEndpoint(client_spec, address_map=setup.address_map) as c,
        ):
            await c.connect(timeout=10.0)
            return _both_ends(server.port)

    accepted, connected = asyncio.run(asyncio.wait_for(main(), LIMIT))
    assert accepted[0] == 0 and connected[0] == 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30", KeepAlive(30, 10, 3)),
        ("60,5", KeepAlive(60, 5, 3)),
        (" 15 , 2 , 9 ", KeepAlive(15, 2, 9)),
        ("off", None),
        ("OFF", None),
        ("on", KeepAlive()),
    ],
)
def test_parse(text: str, expected: KeepAlive | None) -> None:
    assert parse_keepalive(text) == expected


@pytest.mark.parametrize("text", ["", "x", "30,10,3,1", "0,1,1", "30,0", "30,10,128", "1.5"])
def test_parse_refuses_with_the_option_named(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_keepalive(text)
    assert info.value.path == "--keepalive"


def test_from_block_takes_the_text_and_refuses_nonsense(setup: ExampleSetup) -> None:
    plain = TconIpV4(64, 4, 11, False, "0.0.0.0", 0, 2000)
    assert EndpointSpec.from_block(plain).keepalive == KeepAlive(30, 10, 3)
    assert EndpointSpec.from_block(plain, keepalive="off").keepalive is None
    assert EndpointSpec.from_block(plain, keepalive="40,4,4").keepalive == KeepAlive(40, 4, 4)
    with pytest.raises(ConfigError) as info:
        EndpointSpec.from_block(plain, keepalive="soon")
    assert info.value.path == "keepalive"
