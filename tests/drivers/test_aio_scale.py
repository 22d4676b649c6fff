"""Scale: the asyncio mock PLC holds thousands of idle TLS 1.3 connections; what each one costs.

The passive endpoint runs in a child process (this file with ``--serve``) built the way ``ouc
serve`` builds it: a certificate store with the standard example, the sample server block,
mutual TLS 1.3. This process opens N connections with :class:`AsyncActiveEndpoint` clients
(sample client block, source address 127.0.0.2 = plant 192.168.0.2 through the address map),
and the child reports its resident set size from ``/proc/self/statm`` before and after. The
memory is the server's alone. Both processes raise RLIMIT_NOFILE to the hard limit first.

The test runs N = 2,000. The full measurement is a script run (not a test)::

    python tests/drivers/test_aio_scale.py --connections 10000 [--server-auth] [--trace]

``--trace`` also runs tracemalloc in the child and prints where the Python-level bytes of one
connection go; the C heap (OpenSSL) is the malloc delta (``mallinfo2``) minus the Python objects
that went through malloc.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import dataclasses
import datetime as dt
import gc
import json
import logging
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Awaitable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ouc.certs import CertStore, build_standard_example, generate_key
from ouc.device import Device
from ouc.drivers._aio import AsyncPassiveEndpoint
from ouc.drivers._aio_active import AsyncActiveEndpoint
from ouc.drivers._records import EndpointRecord, RecordKind
from ouc.drivers._setup import AddressMap, EndpointSpec
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER

T = TypeVar("T")

N_TEST = 2000
LIMIT_PER_CONNECTION = 25_000  # bytes: the issue-6 target at 10,000 connections
REGRESSION_LIMIT = 40_000  # bytes: ~1.3x what this driver measures with mutual TLS 1.3 (~31 KB)
ANSWER_TIMEOUT = 120.0  # seconds the child may take for one command
PLANT_MAP = ["192.168.0.2=127.0.0.2"]  # the client's plant address, on loopback


# ---------------------------------------------------------------------------------- both sides


def raise_nofile() -> int:
    """Raise the open-files soft limit to the hard limit; returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def make_store(folder: Path) -> CertStore:
    """A store with the standard example (CA 3, server 9, client 11), valid from an hour ago."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    keys = (generate_key("RSA-2048"), generate_key("RSA-2048"))
    store = CertStore.init(folder, now=now, default_ca_keys=keys)
    build_standard_example(store, now=now)
    return store


def server_block(mutual: bool) -> Any:
    return dataclasses.replace(STANDARD_SERVER, TLSServerReqClientCert=mutual)


# ---------------------------------------------------------------------------------- the child


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def _c_heap() -> int:
    """Bytes malloc has handed out and not got back (glibc ``mallinfo2``), 0 elsewhere."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallinfo2.restype = _MallInfo2
    except (OSError, AttributeError):
        return 0
    info = libc.mallinfo2()
    return int(info.uordblks + info.hblkhd)


def _rss() -> int:
    gc.collect()
    with open("/proc/self/statm", encoding="ascii") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _measure() -> dict[str, int]:
    doc = {"rss": _rss(), "c_heap": _c_heap()}
    if tracemalloc.is_tracing():
        doc["traced"] = tracemalloc.get_traced_memory()[0]
        large = sum(t.size for t in tracemalloc.take_snapshot().traces if t.size > 512)
        doc["traced_large"] = large  # Python objects that went through malloc, not obmalloc
    return doc


async def _serve(store_dir: str, mutual: bool, trace: bool) -> None:
    raise_nofile()
    logging.getLogger("ouc").setLevel(logging.ERROR)  # 10,000 status lines are not the point
    spec = EndpointSpec.from_block(
        server_block(mutual),
        store=CertStore(store_dir),
        device=Device(name="PLC_1"),
        receive_len=258,
        handshake_timeout=60.0,
    )
    live: set[int] = set()
    changed = asyncio.Event()

    def on_event(record: EndpointRecord) -> None:
        if record.kind is RecordKind.CONNECTED:
            live.add(record.connection)
        elif record.kind in (RecordKind.CLOSED, RecordKind.FAILED):
            live.discard(record.connection)
        changed.set()

    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    server = AsyncPassiveEndpoint(
        spec,
        listen=("127.0.0.1", 0),
        address_map=AddressMap.parse(PLANT_MAP),
        max_connections=None,
        on_event=on_event,
    )
    snapshot: tracemalloc.Snapshot | None = None

    def answer(doc: dict[str, Any]) -> None:
        sys.stdout.write(json.dumps(doc) + "\n")
        sys.stdout.flush()

    async with server:
        answer({"port": server.port, "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0]})
        while line := (await reader.readline()).decode().split():
            command, args = line[0], line[1:]
            if command == "wait":  # wait N SECONDS: until N connections are established
                count, deadline = int(args[0]), loop.time() + float(args[1])
                while len(live) != count and loop.time() < deadline:
                    changed.clear()
                    with_timeout = asyncio.wait_for(changed.wait(), deadline - loop.time())
                    await asyncio.gather(with_timeout, return_exceptions=True)
                answer({"established": len(live), "held": server.connection_count})
            elif command == "measure":
                if trace and args and args[0] == "mark":
                    snapshot = tracemalloc.take_snapshot()
                answer(_measure())
            elif command == "top" and snapshot is not None:
                diff = tracemalloc.take_snapshot().compare_to(snapshot, "lineno")
                top = [[str(s.traceback), s.size_diff, s.count_diff] for s in diff[:40]]
                answer({"top": top})
            else:
                answer({"error": f"unknown command {line}"})


# ---------------------------------------------------------------------------------- the parent


class Child:
    """The server process, spoken to over its stdin/stdout (one JSON line per answer)."""

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc

    @classmethod
    async def start(cls, store_dir: Path, *, mutual: bool, trace: bool) -> tuple[Child, int]:
        argv = [sys.executable, __file__, "--serve", str(store_dir)]
        argv += ["--server-auth"] if not mutual else []
        argv += ["--trace"] if trace else []
        proc = await asyncio.create_subprocess_exec(
            *argv, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        child = cls(proc)
        hello = await child.read()
        return child, int(hello["port"])

    async def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = await asyncio.wait_for(self.proc.stdout.readline(), ANSWER_TIMEOUT)
        if not line:
            raise AssertionError("the server process ended")
        doc: dict[str, Any] = json.loads(line)
        return doc

    async def ask(self, *words: object) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write((" ".join(map(str, words)) + "\n").encode())
        await self.proc.stdin.drain()
        return await self.read()

    async def close(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 10)
            except TimeoutError:
                self.proc.kill()
                await asyncio.wait_for(self.proc.wait(), 10)


async def _bounded(awaitable: Awaitable[T], seconds: float) -> T:
    return await asyncio.wait_for(awaitable, seconds)


async def open_clients(
    spec: EndpointSpec, port: int, count: int, *, batch: int = 200
) -> list[AsyncActiveEndpoint]:
    """``count`` established clients (in batches, so the listen backlog never overflows)."""
    amap = AddressMap.parse([*PLANT_MAP, f"192.168.0.1:2000=127.0.0.1:{port}"])
    # Each attempt's bound is generous: the handshakes of a batch share one loop and the
    # server's CPU, so on a loaded machine one attempt may wait several seconds for its turn.
    clients = [
        AsyncActiveEndpoint(
            spec, address_map=amap, reconnect=False, session_reuse=False, connect_timeout=60.0
        )
        for _ in range(count)
    ]
    for start in range(0, count, batch):
        await asyncio.gather(*(c.connect() for c in clients[start : start + batch]))
    return clients


async def measure(
    connections: int, *, mutual: bool = True, trace: bool = False, report: bool = False
) -> dict[str, float]:
    """Hold ``connections`` idle connections on a child server; its memory per connection."""
    raise_nofile()
    with tempfile.TemporaryDirectory(prefix="ouc-scale-") as tmp:
        store = make_store(Path(tmp) / "store")
        client_spec = EndpointSpec.from_block(
            STANDARD_CLIENT,
            store=store,
            device=Device(name="PLC_2", own_addresses=("192.168.0.2",)),
            receive_len=258,
            handshake_timeout=60.0,
        )
        child, port = await Child.start(Path(tmp) / "store", mutual=mutual, trace=trace)
        clients: list[AsyncActiveEndpoint] = []
        try:
            # Warm up: the first connections pay for code paths and OpenSSL tables.
            warm = await open_clients(client_spec, port, 50)
            await asyncio.gather(*(c.close() for c in warm))
            assert (await child.ask("wait", 0, 30))["established"] == 0
            before = await child.ask("measure", "mark")
            t0 = time.perf_counter()
            clients = await open_clients(client_spec, port, connections)
            opened = time.perf_counter() - t0
            held = await child.ask("wait", connections, 60)
            after = await child.ask("measure")
            top = (await child.ask("top"))["top"] if trace else []
        finally:
            await _bounded(asyncio.gather(*(c.close() for c in clients)), 120)
            await child.close()
    result = {
        "connections": float(held["established"]),
        "held": float(held["held"]),
        "seconds_to_open": opened,
        "rss_per_connection": (after["rss"] - before["rss"]) / connections,
        "c_heap_per_connection": (after["c_heap"] - before["c_heap"]) / connections,
    }
    if trace:
        python = (after["traced"] - before["traced"]) / connections
        large = (after["traced_large"] - before["traced_large"]) / connections
        result["python_per_connection"] = python
        result["openssl_per_connection"] = result["c_heap_per_connection"] - large
    if report:
        for key, value in result.items():
            print(f"{key:>24}: {value:,.0f}")
        for where, size, count in top:
            print(f"{size / connections:>10,.1f} B/conn {count / connections:>6.2f}/conn  {where}")
    return result


@pytest.fixture(scope="module")
def held() -> dict[str, float]:
    """One measurement shared by the tests below (about 3 s: 2,000 mutual-TLS handshakes)."""
    return asyncio.run(_bounded(measure(N_TEST), 300))  # a bound: about 3 s when idle


def test_the_server_holds_2000_idle_mutual_tls_connections(held: dict[str, float]) -> None:
    """Every connection is established and still held by the child process, and its RSS grew
    by less than ``REGRESSION_LIMIT`` per connection (measured ~31 KB; asyncio's own TLS
    streams: ~280 KB)."""
    assert held["connections"] == N_TEST
    assert held["held"] == N_TEST
    assert 0 < held["rss_per_connection"] <= REGRESSION_LIMIT, held


@pytest.mark.xfail(
    strict=True,
    reason="With mutual TLS (this test) OpenSSL 4.0 holds ~27 KB per connection: ~22 KB as with "
    "server auth (two record layers 8.8 KB, SSL_new 6.3 KB) plus ~4 KB for the parsed client "
    "certificate; Python adds ~1.5 KB. The targets (ouc serve, 10,000 connections: 25 KB "
    "server auth, 30 KB mutual) and what they measure: benchmarks/RESULTS.md.",
)
def test_25_kb_per_idle_connection_even_with_mutual_tls(held: dict[str, float]) -> None:
    assert held["rss_per_connection"] <= LIMIT_PER_CONNECTION, held


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", metavar="STORE", help="(internal) run the server child")
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--server-auth", action="store_true", help="no client certificates")
    parser.add_argument("--trace", action="store_true", help="tracemalloc breakdown")
    args = parser.parse_args(argv)
    if args.serve:
        if args.trace:
            tracemalloc.start()
        asyncio.run(_serve(args.serve, not args.server_auth, args.trace))
        return 0
    asyncio.run(
        measure(args.connections, mutual=not args.server_auth, trace=args.trace, report=True)
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
