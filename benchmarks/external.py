"""``python -m benchmarks.external``: ``ouc serve`` measured the way its peers see it.

Every server is a process of its own and is measured from outside, with server CPU read from
``/proc/PID/stat`` (the worker processes included for ``--processes``), because an external
client near 700 handshakes/s is the bottleneck and rates would compare the client:

- **handshakes**: ``openssl s_time -new -tls1_3`` (C, OpenSSL 3.0) against ``ouc serve`` (each
  driver; one process and ``--processes N``), ``openssl s_server -www``, a raw pyOpenSSL accept
  loop, the same library on memory BIOs in one epoll loop (the floor of a sans-I/O server in
  Python, ``pyopenssl-bio``; also as N processes on the port), the same loop with OpenSSL on
  the sockets (``pyopenssl-sock``: the floor of an event-driven server on socket BIOs) and
  Python's ``ssl`` threaded server, for server-auth and mutual TLS 1.3 (EC P-256, X25519).
  Row value: server CPU µs per handshake; ratios: the baseline's CPU over ouc's (the capacity
  ratio; ≥ 1 means ouc needs less).
  One ``s_time`` per row for those; ``ouc serve`` is measured again under N ``s_time`` at once
  for the comparison of one and N processes (``--processes N``: N workers are for N peers at
  once; one sequential client's figure is shown too: on loopback ``ouc serve`` gives each
  connection to the worker of the client's CPU, ``--spread hash`` to a worker
  by the kernel's hash, each then waking with cold caches).
- **echo**: one TLS connection, 258-byte frames sent and read back by a Python client; server
  CPU µs per round trip against the ``ssl`` threaded echo server, the raw pyOpenSSL loop and
  the two floors.
- **memory**: RSS per idle TLS connection of the ``ouc serve`` process itself while a client
  process (``benchmarks.external_peers hold``) keeps N connections open.

All servers run side by side for the whole run and are measured in interleaved rounds (the
order rotates each round); each ratio is the median of the per-round ratios with its spread
(min–max). ``ouc serve`` writes its status lines to /dev/null, as a mock PLC nobody watches
(``--logged``: to a file instead, every line formatted and written).

    python -m benchmarks.external                 # all rows, ~8 minutes
    python -m benchmarks.external --quick         # fewer, shorter rounds
    python -m benchmarks.external memory --connections 10000 --json memory.json
    python -m benchmarks.external handshakes --spread auto --spread hash   # both, same rounds
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import math
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from benchmarks._args import positive_int

__all__ = ["main"]

_ROOT = Path(__file__).resolve().parents[1]
_TICK = os.sysconf("SC_CLK_TCK")
_FRAME = 258
_START_TIMEOUT = 60.0
_HOLD_TIMEOUT = 240.0  # seconds the holding client may take to open its idle connections
CONFIGS = ("server-auth", "mutual")
PEERS = {
    "pyopenssl": "raw-pyopenssl",
    "pyopenssl-bio": "pyopenssl-bio",
    "pyopenssl-sock": "pyopenssl-sock",
    "ssl": "ssl-threaded",
}
SERVE_OPTIONS: list[str] = []  # --serve-option: more options for every ouc serve
SPREADS: list[str | None] = [None]  # --spread: an ouc serve --processes row for each (None: auto)


# -- processes and /proc -------------------------------------------------------------------------


def _stat(pid: int) -> list[str] | None:
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            return fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None


def tree(pid: int) -> list[int]:
    """``pid`` and its descendants (the workers of ``ouc serve --processes``)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, ()))
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """User + system CPU of the processes (their reaped children included)."""
    total = 0
    for pid in pids:
        fields = _stat(pid)
        if fields is not None:
            total += sum(int(x) for x in fields[11:15])  # utime stime cutime cstime
    return total / _TICK


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise OSError(f"no VmRSS for {pid}")


def listeners(port: int) -> int:
    """Sockets listening on 127.0.0.1:port (one per worker with SO_REUSEPORT)."""
    wanted = f"0100007F:{port:04X}"
    with open("/proc/net/tcp", encoding="ascii") as fh:
        return sum(1 for line in fh if line.split()[1:2] == [wanted] and line.split()[3] == "0A")


def reserve_port() -> socket.socket:
    """A port on 127.0.0.1 held for a server started later (its number: ``getsockname()``).

    The socket is bound with SO_REUSEADDR and never listens: no other bind to port 0 and no
    outgoing connection gets the number while it is held, yet the server (which sets
    SO_REUSEADDR on its listener, as ouc, ``openssl s_server`` and the baselines do) binds
    and listens on it. A probe closed at once would leave the number to whoever asks next
    before the server starts (a test running in parallel, a client's source port)."""
    probe = socket.socket()
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", 0))
    except OSError:
        probe.close()
        raise
    return probe


# -- the certificates ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Material:
    """The standard example's store and PEM files, and a server-auth copy of the server block."""

    store: Path
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    blocks: dict[str, Path]


def make_material(folder: Path) -> Material:
    import datetime as dt

    from ouc.drivers import example_pem, example_store

    store = example_store(folder / "store", now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    pem = example_pem(store, folder / "pem")
    blocks = {}
    for config in CONFIGS:
        block = json.loads((_ROOT / "samples" / "standard_server.json").read_text())
        block["TLSServerReqClientCert"] = config == "mutual"
        path = folder / f"{config}.json"
        path.write_text(json.dumps(block))
        blocks[config] = path
    return Material(
        store.path,
        pem.ca,
        pem.server_cert,
        pem.server_key,
        pem.client_cert,
        pem.client_key,
        blocks,
    )


# -- servers -------------------------------------------------------------------------------------


@dataclass
class Server:
    """One server process on 127.0.0.1:port; ``argv`` starts it."""

    name: str
    argv: list[str]
    port: int
    listeners: int = 1
    stdout: IO[bytes] | None = None
    stderr: IO[bytes] | None = None
    cwd: Path = _ROOT  # python -m ouc runs the ouc found here first
    proc: subprocess.Popen[bytes] | None = None
    pids: list[int] = field(default_factory=list)
    reservation: socket.socket | None = None  # holds the port until close() (reserve_port)

    def start(self) -> Server:
        out: Any = self.stdout if self.stdout is not None else subprocess.DEVNULL
        # stderr to a file, not a pipe nobody reads while the server runs: `openssl s_server
        # -Verify` writes its verify lines there for every connection, and a full pipe would
        # stop it after a few hundred handshakes.
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            self.argv, stdin=subprocess.DEVNULL, stdout=out, stderr=self.stderr, cwd=self.cwd
        )
        deadline = time.monotonic() + _START_TIMEOUT
        while listeners(self.port) < self.listeners:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                err = self.errors()
                self.close()
                raise RuntimeError(f"{self.name} did not start: {err.strip()[-500:]}")
            time.sleep(0.05)  # polling a process we do not control; bounded by the deadline
        self.pids = tree(self.proc.pid)
        return self

    def errors(self) -> str:
        """What the server wrote to stderr so far."""
        if self.stderr is None:
            return ""
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def cpu(self) -> float:
        return cpu_seconds(tree(self.pid))

    def close(self) -> None:
        reservation, self.reservation = self.reservation, None
        if reservation is not None:
            reservation.close()
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        if self.stderr is not None:
            self.stderr.close()
            self.stderr = None


def ouc_server(
    m: Material,
    config: str,
    *,
    driver: str = "asyncio",
    processes: int = 1,
    spread: str | None = None,
    echo: bool = False,
    max_connections: int = 20_000,
    stdout: IO[bytes] | None = None,
) -> Server:
    reservation = reserve_port()
    port = reservation.getsockname()[1]
    argv = [sys.executable, "-m", "ouc", "serve", "--store", str(m.store)]
    argv += ["--block", str(m.blocks[config]), "--port", str(port)]
    argv += ["--map", "192.168.0.2=127.0.0.1"]
    if driver != "asyncio":  # the default: measured as users run it, without the option
        argv += ["--driver", driver]
    argv += ["--max-connections", str(max_connections)]
    if processes > 1:
        argv += ["--processes", str(processes)]
    if spread is not None:
        argv += ["--spread", spread]
    if echo:
        argv.append("--echo")
    argv += SERVE_OPTIONS
    name = f"ouc-{driver}" + (f"-x{processes}" if processes > 1 else "")
    name += f"-{spread}" if spread is not None else ""
    return Server(name, argv, port, listeners=processes, stdout=stdout, reservation=reservation)


def peer_server(m: Material, config: str, role: str, processes: int = 1) -> Server:
    reservation = reserve_port()
    port = reservation.getsockname()[1]
    argv = [sys.executable, "-m", "benchmarks.external_peers", role, "--port", str(port)]
    argv += ["--cert", str(m.server_cert), "--key", str(m.server_key), "--ca", str(m.ca)]
    if config == "mutual":
        argv.append("--mutual")
    if processes > 1:
        argv += ["--processes", str(processes)]
        name = f"{PEERS[role]}-x{processes}"
        return Server(name, argv, port, listeners=processes, reservation=reservation)
    return Server(PEERS[role], argv, port, reservation=reservation)


def s_server(m: Material, config: str) -> Server:
    reservation = reserve_port()
    port = reservation.getsockname()[1]
    argv = ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-www", "-quiet"]
    argv += ["-groups", "X25519", "-tls1_3", "-cert", str(m.server_cert)]
    argv += ["-key", str(m.server_key)]
    if config == "mutual":
        argv += ["-Verify", "1", "-CAfile", str(m.ca)]
    return Server("openssl-s_server", argv, port, reservation=reservation)


# -- measurements -------------------------------------------------------------------------------


def s_time(m: Material, config: str, port: int, seconds: int) -> int:
    """Connections ``openssl s_time -new`` made in ``seconds``."""
    argv = ["openssl", "s_time", "-connect", f"127.0.0.1:{port}", "-new", "-tls1_3"]
    argv += ["-time", str(seconds)]
    if config == "mutual":
        argv += ["-cert", str(m.client_cert), "-key", str(m.client_key)]
    try:
        out = subprocess.run(
            argv, capture_output=True, text=True, timeout=seconds + 30, check=False
        ).stdout
    except subprocess.TimeoutExpired:
        return 0  # a stuck run counts as none (the row shows it as missing)
    for line in out.splitlines():
        if "connections in" in line and "real seconds" not in line:
            return int(line.split()[0])
    # No count (it could not connect at all, or ran no time): none, as a stuck run; say why.
    last = out.strip().splitlines()[-1:] or ["no output"]
    progress(f"  s_time on port {port} printed no count ({last[0][:200]}): none this round")
    return 0


def handshake_cpu(
    m: Material, config: str, server: Server, seconds: int, clients: int = 1
) -> dict[str, float]:
    """Server CPU per handshake while ``clients`` ``s_time`` processes run side by side."""
    before = server.cpu()
    if clients == 1:
        count = s_time(m, config, server.port, seconds)
    else:
        with ThreadPoolExecutor(clients) as pool:
            runs = pool.map(lambda _: s_time(m, config, server.port, seconds), range(clients))
            count = sum(runs)
    used = server.cpu() - before
    if count == 0:
        progress(f"  {server.name}: s_time made no connection (left out of this round)")
        return {"us": math.nan, "rate": 0.0, "count": 0}
    return {"us": used / count * 1e6, "rate": count / seconds, "count": count}


def _handshake_of(
    m: Material, config: str, seconds: int, processes: int, server: Server
) -> dict[str, float]:
    """One client (every row), and for ``ouc serve`` also ``processes`` clients at once: the
    load that N worker processes are for. Both figures compare one and N processes: with
    ``--spread cpu`` (the default on loopback) one sequential client's connections stay with
    the worker of its CPU; with ``--spread hash`` they go to the workers at random, each
    waking with its caches cold."""
    result = handshake_cpu(m, config, server, seconds)
    if server.name.startswith(("ouc", "pyopenssl-bio")):
        many = handshake_cpu(m, config, server, seconds, clients=processes)
        result["us_clients"], result["rate_clients"] = many["us"], many["rate"]
    return result


def client_context(m: Material, config: str) -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_verify_locations(m.ca)
    if config == "mutual":
        ctx.load_cert_chain(m.client_cert, m.client_key)
    return ctx


def echo_cpu(m: Material, config: str, server: Server, seconds: float) -> dict[str, float]:
    """Round trips of 258 bytes over one connection for ``seconds``; server CPU per trip."""
    frame = bytes(range(256)) + b"\x01\x02"
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with client_context(m, config).wrap_socket(raw) as tls:

            def trip() -> None:
                tls.sendall(frame)
                got = 0
                while got < _FRAME:
                    chunk = tls.recv(_FRAME - got)
                    if not chunk:
                        raise RuntimeError(f"{server.name} closed during the echo")
                    got += len(chunk)

            for _ in range(200):
                trip()  # warm-up
            before = server.cpu()
            start = time.perf_counter()
            trips = 0
            while time.perf_counter() - start < seconds:
                for _ in range(100):
                    trip()
                trips += 100
            wall = time.perf_counter() - start
            used = server.cpu() - before
    return {"us": used / trips * 1e6, "rate": trips / wall, "count": trips}


def idle_memory(m: Material, config: str, driver: str, connections: int) -> dict[str, float]:
    """RSS per idle TLS connection of one ``ouc serve`` process holding ``connections``."""
    server = ouc_server(m, config, driver=driver).start()
    try:
        base = rss_bytes(server.pid)
        argv = [sys.executable, "-m", "benchmarks.external_peers", "hold"]
        argv += ["--port", str(server.port), "--ca", str(m.ca), "--count", str(connections)]
        argv += ["--timeout", str(_HOLD_TIMEOUT)]
        if config == "mutual":
            argv += ["--client-cert", str(m.client_cert), "--client-key", str(m.client_key)]
        started = time.monotonic()
        holder = subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=_ROOT
        )
        try:
            assert holder.stdout is not None
            line = holder.stdout.readline().split()
            seconds = time.monotonic() - started
            if len(line) < 4 or line[0] != "held":
                raise RuntimeError(f"the holding client failed: {line}")
            held, failed = int(line[1]), int(line[3])
            rss = rss_bytes(server.pid)
        finally:
            if holder.stdin is not None:
                holder.stdin.close()
            holder.wait(60)
    finally:
        server.close()
    return {
        "held": held,
        "failed": failed,
        "base_rss": base,
        "rss": rss,
        "bytes_per_connection": (rss - base) / max(1, held),
        "total_per_connection": rss / max(1, held),
        "seconds": seconds,
    }


# -- the run ------------------------------------------------------------------------------------


def spread(values: list[float]) -> dict[str, float]:
    values = [v for v in values if not math.isnan(v)] or [math.nan]
    return {
        "median": statistics.median(values),
        "min": min(values),
        "max": max(values),
        "n": len(values),
    }


@contextmanager
def running(servers: list[Server]) -> Iterator[list[Server]]:
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.close()


def interleaved(
    servers: list[Server], rounds: int, measure: Callable[[Server], dict[str, float]]
) -> dict[str, list[dict[str, float]]]:
    """``rounds`` rounds over all servers, the order rotated each round."""
    results: dict[str, list[dict[str, float]]] = {s.name: [] for s in servers}
    for r in range(rounds):
        order = servers[r % len(servers) :] + servers[: r % len(servers)]
        for server in order:
            results[server.name].append(measure(server))
        progress(f"  round {r + 1}/{rounds}")
    return results


def ratios(results: dict[str, list[dict[str, float]]], row: str, baseline: str) -> dict[str, float]:
    """The baseline's CPU over the row's, per round (capacity ratio), with spread."""
    per_round = [b["us"] / a["us"] for a, b in zip(results[row], results[baseline], strict=True)]
    return spread(per_round)


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def handshake_rows(
    m: Material, rounds: int, seconds: int, processes: int, logged: Path | None
) -> dict[str, Any]:
    report: dict[str, Any] = {}
    for config in CONFIGS:
        progress(f"handshakes, {config}")
        log = open(logged / f"ouc-{config}.log", "wb") if logged else None  # noqa: SIM115
        servers = [
            ouc_server(m, config, stdout=log),
            ouc_server(m, config, driver="blocking", stdout=log),
            *(
                ouc_server(m, config, driver=driver, processes=processes, spread=each, stdout=log)
                for driver in ("asyncio", "blocking")
                for each in SPREADS
            ),
            s_server(m, config),
            peer_server(m, config, "pyopenssl"),
            peer_server(m, config, "pyopenssl-bio"),
            peer_server(m, config, "pyopenssl-bio", processes=processes),
            peer_server(m, config, "pyopenssl-sock"),
            peer_server(m, config, "ssl"),
        ]
        measure = functools.partial(_handshake_of, m, config, seconds, processes)
        with running(servers):
            results = interleaved(servers, rounds, measure)
        if log is not None:
            log.close()
        rows = {}
        for name, runs in results.items():
            rows[name] = {
                "cpu_us": spread([x["us"] for x in runs]),
                "rate": spread([x["rate"] for x in runs]),
            }
            if name.startswith("ouc"):
                rows[name]["vs_s_server"] = ratios(results, name, "openssl-s_server")
                rows[name]["vs_ssl"] = ratios(results, name, "ssl-threaded")
                rows[name]["vs_bio"] = ratios(results, name, "pyopenssl-bio")
            if name.startswith(("ouc", "pyopenssl")):  # the two floors against the raw loop too
                rows[name]["vs_raw"] = ratios(results, name, "raw-pyopenssl")
                rows[name]["vs_sock"] = ratios(results, name, "pyopenssl-sock")
        pairs_of_one_and_many = [
            (one, f"{one}-x{processes}" + (f"-{each}" if each is not None else ""))
            for one, each in itertools.product(("ouc-asyncio", "ouc-blocking"), SPREADS)
        ]
        # The floor as N processes too: what a second process costs a server of no work of
        # its own, the baseline for ouc's figure.
        pairs_of_one_and_many.append(("pyopenssl-bio", f"pyopenssl-bio-x{processes}"))
        for one, many in pairs_of_one_and_many:
            pairs = list(zip(results[one], results[many], strict=True))
            rows[many]["cpu_vs_one_process"] = spread([b["us"] / a["us"] for a, b in pairs])
            rows[many]["cpu_vs_one_process_clients"] = spread(
                [b["us_clients"] / a["us_clients"] for a, b in pairs]
            )
            for name in (one, many):
                rows[name]["cpu_us_clients"] = spread([x["us_clients"] for x in results[name]])
                rows[name]["rate_clients"] = spread([x["rate_clients"] for x in results[name]])
        report[config] = rows
    return report


def echo_rows(m: Material, rounds: int, seconds: float) -> dict[str, Any]:
    config = "mutual"
    progress("echo, 258 bytes")
    servers = [
        ouc_server(m, config, echo=True),
        ouc_server(m, config, driver="blocking", echo=True),
        peer_server(m, config, "pyopenssl"),
        peer_server(m, config, "pyopenssl-bio"),
        peer_server(m, config, "pyopenssl-sock"),
        peer_server(m, config, "ssl"),
    ]
    with running(servers):
        results = interleaved(servers, rounds, lambda s: echo_cpu(m, config, s, seconds))
    rows: dict[str, Any] = {}
    for name, runs in results.items():
        rows[name] = {
            "cpu_us": spread([x["us"] for x in runs]),
            "rate": spread([x["rate"] for x in runs]),
        }
        if name.startswith("ouc"):
            rows[name]["vs_ssl"] = ratios(results, name, "ssl-threaded")
            rows[name]["vs_raw"] = ratios(results, name, "raw-pyopenssl")
            rows[name]["vs_bio"] = ratios(results, name, "pyopenssl-bio")
        if name.startswith(("ouc", "pyopenssl")):
            rows[name]["vs_sock"] = ratios(results, name, "pyopenssl-sock")
        if name.startswith("pyopenssl"):
            rows[name]["vs_ssl"] = ratios(results, name, "ssl-threaded")
    return rows


def memory_rows(
    m: Material, connections: int, blocking_connections: int, configs: Sequence[str]
) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    for config in configs:
        progress(f"memory, {config}, {connections} connections")
        rows[f"ouc-asyncio {config}"] = idle_memory(m, config, "asyncio", connections)
    if blocking_connections:
        progress(f"memory, blocking driver, {blocking_connections} connections")
        rows["ouc-blocking server-auth"] = idle_memory(
            m, "server-auth", "blocking", blocking_connections
        )
    return rows


def _fmt(s: dict[str, float], digits: int = 2) -> str:
    return f"{s['median']:.{digits}f} ({s['min']:.{digits}f}–{s['max']:.{digits}f})"


def table(report: dict[str, Any]) -> str:
    lines = []
    for config, rows in report.get("handshakes", {}).items():
        lines.append(f"\nhandshakes, TLS 1.3 {config}: server CPU µs/handshake (median, min–max)")
        lines.append(
            f"{'server':24} {'CPU µs':>22} {'vs raw':>18} {'vs s_server':>18} {'vs bio floor':>18}"
            f" {'vs sock floor':>18}"
        )
        for name, row in rows.items():
            columns = ("vs_raw", "vs_s_server", "vs_bio", "vs_sock")
            cells = [_fmt(row[k]) if k in row else "" for k in columns]
            lines.append(
                f"{name:24} {_fmt(row['cpu_us'], 0):>22} " + " ".join(f"{c:>18}" for c in cells)
            )
            if "cpu_vs_one_process_clients" in row:
                lines.append(
                    f"{'':24} CPU vs one process, {report['processes']} clients at once: "
                    f"{_fmt(row['cpu_vs_one_process_clients'])}; one sequential client: "
                    f"{_fmt(row['cpu_vs_one_process'])}"
                )
    if "echo" in report:
        lines.append("\necho, 258 bytes: server CPU µs/round trip (median, min–max)")
        head = f"{'server':24} {'CPU µs':>22} {'vs ssl':>18} {'vs bio floor':>18}"
        lines.append(f"{head} {'vs sock floor':>18}")
        for name, row in report["echo"].items():
            cells = [_fmt(row[k]) if k in row else "" for k in ("vs_ssl", "vs_bio", "vs_sock")]
            lines.append(
                f"{name:24} {_fmt(row['cpu_us'], 1):>22} " + " ".join(f"{c:>18}" for c in cells)
            )
    if "memory" in report:
        lines.append("\nRSS per idle TLS connection of the ouc serve process")
        for name, row in report["memory"].items():
            lines.append(
                f"{name:28} {row['bytes_per_connection'] / 1000:6.1f} KB  "
                f"({row['held']} held, {row['failed']} failed, {row['seconds']:.0f} s)"
            )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.external", description=__doc__)
    parser.add_argument(
        "parts", nargs="*", metavar="PART", help="handshakes, echo, memory (default: all)"
    )
    parser.add_argument("--quick", action="store_true", help="3 short rounds")
    parser.add_argument(
        "--rounds", type=positive_int, help="interleaved rounds (default 5, --quick 3)"
    )
    parser.add_argument(
        "--seconds",
        type=positive_int,
        help="s_time seconds per measurement, whole (default 2, --quick 1)",
    )
    parser.add_argument(
        "--processes", type=positive_int, default=2, help="for the --processes rows (2)"
    )
    parser.add_argument("--connections", type=int, default=10_000, help="for memory (10000)")
    parser.add_argument(
        "--blocking-connections", type=int, default=2_000, help="blocking memory row (2000)"
    )
    parser.add_argument(
        "--config", action="append", choices=CONFIGS, help="memory rows for this one (both)"
    )
    parser.add_argument(
        "--serve-option",
        action="append",
        default=[],
        metavar="OPT",
        help="pass OPT to every ouc serve, e.g. --serve-option=--tickets=stateless",
    )
    parser.add_argument(
        "--spread",
        action="append",
        choices=("auto", "cpu", "hash"),
        help="an ouc serve --processes row with this --spread (repeat for several in the same "
        "rounds; default: one row with ouc serve's own default, auto)",
    )
    parser.add_argument("--logged", action="store_true", help="ouc serve's output to a file")
    parser.add_argument("--json", metavar="FILE", help="write the results here")
    args = parser.parse_args(argv)
    parts = args.parts or ["handshakes", "echo", "memory"]
    SERVE_OPTIONS[:] = args.serve_option
    SPREADS[:] = args.spread or [None]
    for part in parts:
        if part not in ("handshakes", "echo", "memory"):
            parser.error(f"{part!r} is not one of handshakes, echo, memory")
    if "handshakes" in parts and shutil.which("openssl") is None:
        parser.error("the handshake rows need the openssl command on PATH")
    if args.processes < 2 and "handshakes" in parts:
        parser.error("--processes: the handshake rows compare one process with 2 or more")
    rounds = args.rounds or (3 if args.quick else 5)
    seconds = args.seconds or (1 if args.quick else 2)
    report: dict[str, Any] = {"machine": {"cores": os.cpu_count(), "load": os.getloadavg()}}
    with tempfile.TemporaryDirectory(prefix="ouc-external-") as tmp:
        folder = Path(tmp)
        material = make_material(folder)
        if "handshakes" in parts:
            logged = folder if args.logged else None
            report["processes"] = args.processes
            report["handshakes"] = handshake_rows(material, rounds, seconds, args.processes, logged)
        if "echo" in parts:
            report["echo"] = echo_rows(material, rounds, seconds)
        if "memory" in parts:
            report["memory"] = memory_rows(
                material, args.connections, args.blocking_connections, args.config or CONFIGS
            )
    print(table(report))
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")
    with suppress(BrokenPipeError):
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
