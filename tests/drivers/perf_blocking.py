"""Local timing script (not a test): the blocking driver against the raw stacks, over loopback.

Run ``PYTHONPATH=. python tests/drivers/perf_blocking.py [ROUNDS] [SECONDS]`` from the clone.
The server of every pair runs in a separate (spawned) process, as in the benchmark suite, so
client and server do not share a GIL:

- 258-byte echo round trips: ``ActiveEndpoint.send/receive`` ↔ ``PassiveEndpoint`` with
  ``echo()``, against Python's ``ssl`` module on both sides (target: ≥ 0.9x);
- 64 KiB one-way frames, acknowledged per 512 KiB: against ``ssl`` (target: ≥ 1.0x);
- sequential handshakes (connect, 1-byte echo, close), TLS 1.3 mutual, no resumption: against a
  raw pyOpenSSL socket loop (target: ≥ 0.9x).

Every loop uses the standard example's certificates (ECDSA P-256, mutual TLS 1.3). Rounds are
interleaved (A B A B ...) and the medians compared, since the machine is noisy.
"""

from __future__ import annotations

import datetime as dt
import multiprocessing
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from pathlib import Path

from benchmarks._certs import CertFiles
from benchmarks._loops import recv_exact
from benchmarks._server import ListenSpec, ServerProcess
from benchmarks._sockets import pyopenssl_handshake_op, ssl_connect
from benchmarks._stacks import TLSConfig
from ouc.certs import CertStore
from ouc.drivers import (
    ActiveEndpoint,
    AddressMap,
    EndpointSpec,
    PassiveEndpoint,
    echo,
    example_pem,
    example_store,
    standard_example,
)
from ouc.drivers._example import SERVER_IP

BATCH = 8  # 64 KiB frames per acknowledged batch (512 KiB)


def _pem_files(store: CertStore, folder: Path) -> CertFiles:
    pem = example_pem(store, folder)
    paths = (pem.ca, pem.server_cert, pem.server_key, pem.client_cert, pem.client_key)
    return CertFiles("EC-P256", *map(str, paths))


def _specs(store_path: str, mode: str) -> tuple[EndpointSpec, EndpointSpec, AddressMap]:
    store = CertStore(store_path)
    if mode == "echo":
        setup = standard_example(store, receive_len=258)
    elif mode == "sink":
        setup = standard_example(
            store,
            receive_len=65536,
            client_options={"receive_len": None, "adhoc": True},
        )
    else:
        setup = standard_example(
            store,
            server_options={"receive_len": None, "adhoc": True},
            client_options={"receive_len": None, "adhoc": True},
        )
    return setup.server, setup.client, setup.address_map


def _ouc_server(pipe: Pipe, store_path: str, mode: str) -> None:
    server, _, address_map = _specs(store_path, mode)
    count = [0]

    def sink(frame: object, peer: object) -> bytes | None:
        count[0] += 1
        return b"\x06" if count[0] % BATCH == 0 else None

    behaviour = sink if mode == "sink" else echo()
    endpoint = PassiveEndpoint(
        server, behaviour=behaviour, address_map=address_map, max_connections=8
    )
    with endpoint:
        pipe.send(endpoint.port)
        pipe.recv()  # until told to stop


class OucServer:
    def __init__(self, store_path: str, mode: str) -> None:
        ctx = multiprocessing.get_context("spawn")
        self.pipe, child = ctx.Pipe()
        self.proc = ctx.Process(target=_ouc_server, args=(child, store_path, mode), daemon=True)
        self.proc.start()
        if not self.pipe.poll(30):
            raise RuntimeError("the ouc server did not start")
        self.port: int = self.pipe.recv()

    def close(self) -> None:
        self.pipe.send("stop")
        self.proc.join(10)
        if self.proc.is_alive():
            self.proc.kill()


def _client(store_path: str, mode: str, port: int) -> ActiveEndpoint:
    _, client, address_map = _specs(store_path, mode)
    return ActiveEndpoint(
        client,
        address_map=address_map,
        connect_to=("127.0.0.1", port),
        reconnect=False,
        session_reuse=False,
    )


def timed(op: Callable[[], None], seconds: float) -> float:
    """Operations per second of ``op`` over about ``seconds``."""
    end = time.perf_counter() + seconds
    count = 0
    start = time.perf_counter()
    while True:
        op()
        count += 1
        if count % 16 == 0 and time.perf_counter() >= end:
            break
    return count / (time.perf_counter() - start)


def main() -> None:
    rounds = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 1.5
    now = dt.datetime.now(dt.UTC)
    with tempfile.TemporaryDirectory() as tmp:
        store = example_store(Path(tmp) / "store", now=now)
        assert SERVER_IP in str(store.certificate(9).extensions)
        files = _pem_files(store, Path(tmp))
        cfg = TLSConfig("1.3", True, files)
        store_path = str(store.path)
        baseline = ServerProcess()
        results: dict[str, list[float]] = {}
        try:
            ssl_echo = baseline.listen(ListenSpec(kind="ssl", mode="echo", tls=cfg))
            ssl_sink = baseline.listen(
                ListenSpec(kind="ssl", mode="sink", tls=cfg, unit=65536 * BATCH)
            )
            raw_hs = baseline.listen(ListenSpec(kind="pyopenssl", mode="echo", tls=cfg))
            servers = {m: OucServer(store_path, m) for m in ("echo", "sink", "hs")}
            try:
                _run(rounds, seconds, cfg, store_path, servers, ssl_echo, ssl_sink, raw_hs, results)
            finally:
                for server in servers.values():
                    server.close()
        finally:
            baseline.close()
    for name in ("echo-258", "oneway-64k", "handshakes"):
        ouc, base = (
            statistics.median(results[f"ouc {name}"]),
            statistics.median(results[f"base {name}"]),
        )
        print(f"{name:12s} ouc {ouc:10.0f}/s  baseline {base:10.0f}/s  ratio {ouc / base:.2f}")


def _run(
    rounds: int,
    seconds: float,
    cfg: TLSConfig,
    store_path: str,
    servers: dict[str, OucServer],
    ssl_echo: int,
    ssl_sink: int,
    raw_hs: int,
    results: dict[str, list[float]],
) -> None:
    payload = bytes(258)
    big = bytes(65536)
    view = memoryview(bytearray(65536))
    ouc_echo = _client(store_path, "echo", servers["echo"].port)
    ouc_echo.connect()
    ouc_sink = _client(store_path, "sink", servers["sink"].port)
    ouc_sink.connect()
    ouc_hs = _client(store_path, "hs", servers["hs"].port)
    base_echo = ssl_connect(cfg)(ssl_echo)
    base_sink = ssl_connect(cfg)(ssl_sink)
    base_hs = pyopenssl_handshake_op(cfg)(raw_hs)

    def ouc_echo_op() -> None:
        ouc_echo.send(payload)
        ouc_echo.receive(10)

    def base_echo_op() -> None:
        base_echo.sendall(payload)
        recv_exact(base_echo.recv_into, view, 258)

    def ouc_sink_op() -> None:
        for _ in range(BATCH):
            ouc_sink.send(big)
        ouc_sink.receive(10)

    def base_sink_op() -> None:
        for _ in range(BATCH):
            base_sink.sendall(big)
        recv_exact(base_sink.recv_into, view, 1)

    def ouc_hs_op() -> None:
        ouc_hs.connect()
        ouc_hs.send(b"x")
        ouc_hs.receive(10)
        ouc_hs.disconnect()

    pairs = {
        "echo-258": (ouc_echo_op, base_echo_op, 1),
        "oneway-64k": (ouc_sink_op, base_sink_op, BATCH),
        "handshakes": (ouc_hs_op, base_hs, 1),
    }
    try:
        for _ in range(rounds):
            for name, (ouc_op, base_op, scale) in pairs.items():
                results.setdefault(f"ouc {name}", []).append(timed(ouc_op, seconds) * scale)
                results.setdefault(f"base {name}", []).append(timed(base_op, seconds) * scale)
    finally:
        for endpoint in (ouc_echo, ouc_sink, ouc_hs):
            endpoint.close()
        base_echo.close()
        base_sink.close()


if __name__ == "__main__":
    main()
