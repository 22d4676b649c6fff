"""Which listening socket of an SO_REUSEPORT group takes a connection: by the receiving CPU.

On loopback the kernel processes a connection's SYN on the CPU of the thread that called
``connect()`` (no RPS on ``lo``), so a client thread pinned to one CPU shows where the program
of :func:`~ouc.drivers._reuseport.spread_by_cpu` sends that CPU's connections: to the socket
at index CPU mod N of the group (the order the sockets listened in), as in the kernel's
selftest ``reuseport_bpf_cpu.c``. Every wait is bounded (select with a timeout).
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.drivers import (
    AsyncPassiveEndpoint,
    PassiveEndpoint,
    RecordKind,
    RecordLog,
    _reuseport,
    standard_example,
)
from ouc.drivers._reuseport import attach_spread, check_spread, probe_spread, spread_by_cpu
from ouc.errors import ConfigError

WAIT = 10.0  # seconds any one wait may take (generous for a loaded 2-core machine)


@contextmanager
def group(count: int) -> Iterator[list[socket.socket]]:
    """``count`` sockets listening on one 127.0.0.1 port with SO_REUSEPORT, in order."""
    with ExitStack() as stack:
        socks: list[socket.socket] = []
        port = 0
        for _ in range(count):
            sock = stack.enter_context(socket.socket())
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind(("127.0.0.1", port))
            sock.listen(16)
            port = sock.getsockname()[1]
            socks.append(sock)
        yield socks


def connect_from(cpu: int, port: int, times: int) -> None:
    """``times`` connections to ``port`` from a thread pinned to ``cpu`` (closed at once)."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            os.sched_setaffinity(0, {cpu})  # this thread only
            for _ in range(times):
                # Made, and maybe reset by a listener that refused it before we looked.
                with suppress(ConnectionResetError):
                    socket.create_connection(("127.0.0.1", port), timeout=WAIT).close()
        except BaseException as exc:  # reported in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(WAIT * (times + 1))
    assert not thread.is_alive() and not failed, failed


def taken_by(socks: list[socket.socket], expected: int) -> list[int]:
    """Accept ``expected`` waiting connections; the index of the socket that held each."""
    taken: list[int] = []
    for _ in range(expected):
        ready, _, _ = select.select(socks, [], [], WAIT)
        assert ready, "a connection did not arrive"
        for sock in ready:
            conn, _ = sock.accept()
            conn.close()
            taken.append(socks.index(sock))
    return taken


@pytest.mark.parametrize("count", [2, 3])
def test_each_cpu_s_connections_go_to_the_socket_of_its_index(count: int) -> None:
    cpus = sorted(os.sched_getaffinity(0))
    with group(count) as socks:
        spread_by_cpu(socks[-1], count)  # any member attaches it for the whole group
        port = socks[0].getsockname()[1]
        for cpu in cpus:
            connect_from(cpu, port, 6)
            assert taken_by(socks, 6) == [cpu % count] * 6, f"CPU {cpu}"


def test_the_cpus_this_process_may_use_are_given_to_the_sockets_in_turn() -> None:
    """``cpus`` maps the i-th CPU to index i mod N: here the CPUs in reverse order, so each
    CPU's connections go where CPU mod N would not send them (with two or more CPUs)."""
    cpus = sorted(os.sched_getaffinity(0))
    order = cpus[::-1]
    with group(2) as socks:
        spread_by_cpu(socks[0], 2, order)
        port = socks[0].getsockname()[1]
        for cpu in cpus:
            connect_from(cpu, port, 4)
            assert taken_by(socks, 4) == [order.index(cpu) % 2] * 4, f"CPU {cpu}"


def test_a_socket_without_so_reuseport_is_refused() -> None:
    with socket.create_server(("127.0.0.1", 0)) as plain:
        with pytest.raises(OSError):
            spread_by_cpu(plain, 2)
        with pytest.raises(ConfigError, match="kernel refused") as caught:
            attach_spread(plain, 2)
        assert caught.value.path == "spread_by_cpu"
    assert probe_spread(2) is None  # this kernel takes it


def test_a_count_without_reuse_port_or_below_zero_is_a_config_error() -> None:
    assert check_spread(0, False) == 0 and check_spread(3, True) == 3
    for spread, reuse_port in ((2, False), (-1, True)):
        with pytest.raises(ConfigError, match="reuse_port=True") as caught:
            check_spread(spread, reuse_port)
        assert caught.value.path == "spread_by_cpu"


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_a_kernel_that_refuses_the_program_is_one_error_and_frees_the_port(
    driver: str, store: CertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As on a kernel before 4.5 or under a seccomp filter: an option the kernel does not
    know (ENOPROTOOPT). The endpoint does not start, says why, and leaves the port free."""
    monkeypatch.setattr(_reuseport, "SO_ATTACH_REUSEPORT_CBPF", 0x7FFF)
    refused = probe_spread(2)
    assert isinstance(refused, OSError)
    setup = standard_example(store)
    # The port is held (SO_REUSEADDR, never listening) so that nobody else takes the number
    # meanwhile; the endpoint and the check below (SO_REUSEADDR too) still bind it.
    with socket.socket() as holder:
        holder.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        options: dict[str, Any] = {
            "listen": ("127.0.0.1", port),
            "reuse_port": True,
            "spread_by_cpu": 2,
        }
        if driver == "blocking":
            with pytest.raises(ConfigError, match="kernel refused"):
                PassiveEndpoint(setup.server, **options).start()
        else:

            async def main() -> None:
                with pytest.raises(ConfigError, match="kernel refused"):
                    await AsyncPassiveEndpoint(setup.server, **options).start()

            asyncio.run(asyncio.wait_for(main(), 30))
        with socket.create_server(("127.0.0.1", port)):
            pass  # bound and listening again: no listener of the endpoint kept the port


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_an_endpoint_that_spreads_by_cpu_joins_the_group_with_the_program(
    driver: str, store: CertStore
) -> None:
    """The passive endpoint of either driver with ``reuse_port`` and ``spread_by_cpu=2``
    listens beside another member of the group (index 0), and the program it attached sends
    CPU 0's connections to that one and CPU 1's to the endpoint (index 1), which refuses
    them as peers that are not its partner (16#80C9) and records each."""
    cpus = sorted(os.sched_getaffinity(0))
    setup = standard_example(store)
    log = RecordLog()
    with group(1) as (first,):
        port = first.getsockname()[1]
        options: dict[str, Any] = {
            "listen": ("127.0.0.1", port),
            "reuse_port": True,
            "spread_by_cpu": 2,
            "on_event": log,
        }

        def check() -> None:
            for cpu in cpus:
                connect_from(cpu, port, 4)
                if cpu % 2 == 0:
                    assert taken_by([first], 4) == [0] * 4, f"CPU {cpu}"
            others = sum(cpu % 2 for cpu in cpus)
            if others:
                log.wait_for(RecordKind.REFUSED, timeout=WAIT, count=4 * others)
            assert len(log.of(RecordKind.REFUSED)) == 4 * others

        if driver == "blocking":
            with PassiveEndpoint(setup.server, **options):
                check()
            return

        async def main() -> None:
            async with AsyncPassiveEndpoint(setup.server, **options):
                await asyncio.to_thread(check)

        asyncio.run(asyncio.wait_for(main(), 30))
