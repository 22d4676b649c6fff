"""Record-path timing of the asyncio driver against asyncio's own TLS streams (a script).

Benchmarks are never timed tests: the one test here runs a tiny configuration only to prove the
script works. Run the measurement with::

    PYTHONPATH=. python tests/drivers/test_aio_perf.py [ROUNDS] [SECONDS]   # from the clone

Both servers run in separate (spawned) processes, as in the benchmark suite, so client and
server do not share a GIL; the clients run in this process's event loop:

- 258-byte echo round trips: ``AsyncActiveEndpoint.send/receive`` ↔ ``AsyncPassiveEndpoint``
  with ``echo()``, against ``asyncio.open_connection(ssl=...)`` ↔ ``asyncio.start_server(ssl=...)``
  (target: ≥ 1.0x);
- 64 KiB one-way frames, acknowledged by the server per 512 KiB (target: ≥ 1.0x).

The standard example's certificates (ECDSA P-256, mutual TLS 1.3) on both stacks; rounds are
interleaved (A B A B ...) and medians compared, since the machine is noisy. ouc negotiates
TLS_AES_128_GCM_SHA256 (the firmware's first suite), asyncio's OpenSSL 3.0 server picks
TLS_AES_256_GCM_SHA384; the script prints both.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import multiprocessing
import os
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from benchmarks._certs import CertFiles
from benchmarks._server import ListenSpec, ServerProcess
from benchmarks._stacks import TLSConfig, ssl_context
from ouc.certs import CertStore
from ouc.conn import FrameReceived
from ouc.drivers import (
    AddressMap,
    EndpointSpec,
    PeerContext,
    echo,
    example_store,
    standard_example,
)
from ouc.drivers._aio import AsyncPassiveEndpoint
from ouc.drivers._aio_active import AsyncActiveEndpoint

BATCH = 8  # 64 KiB frames per acknowledged batch (512 KiB)
BIG = 65536
SMALL = 258


def _pem_files(store: CertStore, folder: Path) -> CertFiles:
    def write(name: str, data: bytes) -> str:
        path = folder / name
        path.write_bytes(data)
        return str(path)

    def cert(cert_id: int) -> str:
        pem = store.certificate(cert_id).public_bytes(serialization.Encoding.PEM)
        return write(f"{cert_id}.pem", pem)

    def key(cert_id: int) -> str:
        private = store.private_key(cert_id)
        assert private is not None
        pem = private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return write(f"{cert_id}.key", pem)

    return CertFiles("EC-P256", cert(3), cert(9), key(9), cert(11), key(11))


def _specs(store_path: str, mode: str) -> tuple[EndpointSpec, EndpointSpec, AddressMap]:
    store = CertStore(store_path)
    if mode == "echo":
        setup = standard_example(store, receive_len=SMALL)
    else:  # the sink: 64 KiB frames in, one ACK byte out per batch
        setup = standard_example(store, receive_len=BIG, client_options={"receive_len": 1})
    return setup.server, setup.client, setup.address_map


def _sink() -> Callable[[FrameReceived, PeerContext], bytes | None]:
    count = 0

    def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        nonlocal count
        count += 1
        return b"\x06" if count % BATCH == 0 else None

    return behaviour


def _ouc_server(pipe: Pipe, store_path: str) -> None:
    """The child process: one echo and one sink endpoint until told to stop."""

    async def serve() -> None:
        echo_spec, _, amap = _specs(store_path, "echo")
        sink_spec, _, _ = _specs(store_path, "sink")
        where = {"listen": ("127.0.0.1", 0), "address_map": amap}
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        loop.add_reader(pipe.fileno(), lambda: stop.done() or stop.set_result(None))
        async with (
            AsyncPassiveEndpoint(echo_spec, behaviour=echo(), **where) as one,
            AsyncPassiveEndpoint(sink_spec, behaviour=_sink(), **where) as two,
        ):
            pipe.send((one.port, two.port))
            await stop
        loop.remove_reader(pipe.fileno())

    asyncio.run(serve())


class OucServer:
    """The ouc echo and sink servers in a spawned process."""

    def __init__(self, store_path: str) -> None:
        # The spawned child unpickles _ouc_server from this module, by its dotted name under the
        # repository root: the root goes on the path the child inherits, for the start only (a
        # lasting change would alter how later tests in this process import ouc).
        root = str(Path(__file__).resolve().parents[2])
        added = root not in sys.path
        if added:
            sys.path.append(root)
        ctx = multiprocessing.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_ouc_server, args=(child, store_path), daemon=True)
        try:
            self.proc.start()
        finally:
            if added:
                sys.path.remove(root)
        if not self.pipe.poll(30):
            self.close()
            raise RuntimeError("the ouc server did not start")
        self.echo_port, self.sink_port = self.pipe.recv()

    def close(self) -> None:
        if self.proc.is_alive():
            self.pipe.send("stop")
            self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()
            self.proc.join(10)
        self.pipe.close()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process ``pid`` (Linux ``/proc``)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(
    op: Callable[[], Awaitable[None]], seconds: float, server_pid: int
) -> tuple[float, float]:
    """Operations per second of ``op`` over about ``seconds``, and CPU seconds per operation
    of both sides together (this process and the server process)."""
    clock = time.perf_counter
    end = clock() + seconds
    count = 0
    cpu0, server0 = time.process_time(), cpu_seconds(server_pid)
    start = clock()
    while True:
        await op()
        count += 1
        if count % 16 == 0 and clock() >= end:
            wall = clock() - start
            cpu = time.process_time() - cpu0 + cpu_seconds(server_pid) - server0
            return count / wall, cpu / count


async def measure(
    store_path: str,
    cfg: TLSConfig,
    ports: dict[str, int],
    pids: dict[str, int],
    rounds: int,
    seconds: float,
) -> dict[str, list[float]]:
    """Interleaved rounds of each loop; per loop the list of operations per second."""
    _, echo_client, amap = _specs(store_path, "echo")  # the map binds plant 192.168.0.2
    _, sink_client, _ = _specs(store_path, "sink")
    clients = [
        AsyncActiveEndpoint(
            spec, address_map=amap, connect_to=("127.0.0.1", ports[name]), reconnect=False
        )
        for spec, name in ((echo_client, "ouc-echo"), (sink_client, "ouc-sink"))
    ]
    ouc_echo, ouc_sink = clients
    context = ssl_context(cfg, server=False)
    base = [await asyncio.open_connection("127.0.0.1", ports[n], ssl=context) for n in ("ae", "as")]
    (echo_reader, echo_writer), (sink_reader, sink_writer) = base
    small, big = bytes(SMALL), bytes(BIG)
    for client in clients:
        await client.connect()

    async def ouc_echo_op() -> None:
        await ouc_echo.send(small)
        await ouc_echo.receive(10)

    async def base_echo_op() -> None:
        echo_writer.write(small)
        await echo_writer.drain()
        await echo_reader.readexactly(SMALL)

    async def ouc_sink_op() -> None:
        for _ in range(BATCH):
            await ouc_sink.send(big)
        await ouc_sink.receive(10)

    async def base_sink_op() -> None:
        for _ in range(BATCH):
            sink_writer.write(big)
            await sink_writer.drain()
        await sink_reader.readexactly(1)

    pairs: dict[str, tuple[Any, Any, int]] = {
        "echo-258": (ouc_echo_op, base_echo_op, 1),
        "oneway-64k": (ouc_sink_op, base_sink_op, BATCH),
    }
    results: dict[str, list[float]] = {}
    try:
        for _ in range(rounds):
            for name, (ouc_op, base_op, scale) in pairs.items():
                for side, op in (("ouc", ouc_op), ("base", base_op)):
                    rate, cpu = await timed(op, seconds, pids[side])
                    results.setdefault(f"{side} {name}", []).append(rate * scale)
                    results.setdefault(f"{side} {name} cpu", []).append(cpu / scale)
        ciphers = (
            ouc_echo.info.cipher if ouc_echo.info else "?",
            echo_writer.get_extra_info("cipher"),
        )
        results["ciphers"] = []
        print(f"ciphers: ouc {ciphers[0]}, asyncio streams {ciphers[1]}")
    finally:
        for client in clients:
            await client.close()
        for _, writer in base:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                await asyncio.wait_for(writer.wait_closed(), 5)
    return results


def run(rounds: int, seconds: float) -> dict[str, float]:
    """Measure; returns the median ratios ouc / asyncio streams per loop."""
    now = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    with tempfile.TemporaryDirectory(prefix="ouc-aio-perf-") as tmp:
        store = example_store(Path(tmp) / "store", now=now)
        cfg = TLSConfig("1.3", True, _pem_files(store, Path(tmp)))
        store_path = str(store.path)
        baseline = ServerProcess()
        ouc = None
        try:
            ports = {
                "ae": baseline.listen(ListenSpec(kind="asyncio-tls", mode="echo", tls=cfg)),
                "as": baseline.listen(
                    ListenSpec(kind="asyncio-tls", mode="sink", tls=cfg, unit=BIG * BATCH)
                ),
            }
            ouc = OucServer(store_path)
            ports.update({"ouc-echo": ouc.echo_port, "ouc-sink": ouc.sink_port})
            pids = {"ouc": ouc.proc.pid, "base": baseline.pid}
            assert pids["ouc"] is not None and pids["base"] is not None
            results = asyncio.run(measure(store_path, cfg, ports, pids, rounds, seconds))
        finally:
            if ouc is not None:
                ouc.close()
            baseline.close()
    ratios: dict[str, float] = {}
    for name, unit in (("echo-258", "RT/s"), ("oneway-64k", "frames/s")):
        mine = statistics.median(results[f"ouc {name}"])
        theirs = statistics.median(results[f"base {name}"])
        my_cpu = statistics.median(results[f"ouc {name} cpu"]) * 1e6
        their_cpu = statistics.median(results[f"base {name} cpu"]) * 1e6
        ratios[name] = mine / theirs
        ratios[f"{name} cpu"] = their_cpu / my_cpu
        print(
            f"{name:11s} ouc {mine:7.0f} {unit} {my_cpu:6.1f} us CPU/op | asyncio streams "
            f"{theirs:7.0f} {unit} {their_cpu:6.1f} us CPU/op | speed ratio {ratios[name]:.2f}, "
            f"CPU ratio {ratios[f'{name} cpu']:.2f}"
        )
    return ratios


@pytest.mark.usefixtures("benchmarks_on_path")  # its baseline server process imports benchmarks
def test_the_timing_script_runs_a_tiny_configuration() -> None:
    """Not a benchmark: one short round proves the servers, clients and loops work."""
    ratios = run(rounds=1, seconds=0.05)
    assert set(ratios) == {"echo-258", "oneway-64k", "echo-258 cpu", "oneway-64k cpu"}
    assert all(ratio > 0 for ratio in ratios.values())


if __name__ == "__main__":
    run(
        int(sys.argv[1]) if len(sys.argv) > 1 else 5,
        float(sys.argv[2]) if len(sys.argv) > 2 else 1.5,
    )
