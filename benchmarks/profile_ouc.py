"""Where the ouc rows spend their time: per-operation CPU split and the top profile entries.

Run ``python benchmarks/profile_ouc.py SCENARIO [SECONDS]`` with SCENARIO one of
``hs-mem`` (engine pair, TLS 1.3 ECDSA server auth), ``rec-mem`` (engine pair, 258 B echo),
``hs-blocking`` / ``hs-asyncio`` (sequential loopback handshakes, TLS 1.3 ECDSA server auth),
``echo-blocking`` / ``echo-asyncio`` (258 B echo). For the loopback scenarios the server runs in
the suite's server process as in the benchmark; the client side is profiled with cProfile on
CPU time, the server side sampled with ``py-spy --gil`` when it is installed (self time by
function of the samples that hold the GIL). The CPU split
is measured without the profiler (client ``process_time`` and the server's own CPU per op).
This is a diagnostic for RESULTS.md, not part of the suite.
"""

from __future__ import annotations

import collections
import cProfile
import io
import pstats
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._cases import RECORD_CONFIG, tls_config
from benchmarks._harness import Budget, RunContext
from benchmarks._loops import echo_loop, op_loop
from benchmarks._memory import transport_echo_loop, transport_handshake
from benchmarks._ouc import OucPair, blocking_connect, blocking_handshake_op
from benchmarks._server import ListenSpec, ServerProcess
from benchmarks._stacks import TLSConfig

SCENARIOS = ("hs-mem", "rec-mem", "hs-blocking", "hs-asyncio", "echo-blocking", "echo-asyncio")


def _client_loop(scenario: str, cfg: TLSConfig, port: int, seconds: float) -> Callable[[], int]:
    """A callable running the scenario's client loop for ``seconds``; returns the op count."""
    budget = Budget(seconds=seconds, max_ops=10_000_000)
    if scenario == "hs-mem":
        pair = OucPair(cfg)
        return lambda: op_loop(lambda: transport_handshake(*pair.engines()), budget).ops
    if scenario == "rec-mem":
        pair = OucPair(cfg)
        return lambda: transport_echo_loop(*pair.engines(), 258, budget).ops
    if scenario == "hs-blocking":
        op = blocking_handshake_op(cfg)(port)
        return lambda: op_loop(op, budget).ops
    if scenario == "echo-blocking":
        stream = blocking_connect(cfg)(port)
        return lambda: echo_loop(stream.sendall, stream.recv_into, 258, budget).ops
    from benchmarks._ouc_aio import async_handshakes, async_records

    if scenario == "hs-asyncio":
        return lambda: async_handshakes(cfg, port, 1, budget).ops
    return lambda: async_records(cfg, port, 258, "echo", budget).ops


def _top(profile: cProfile.Profile, count: int = 18) -> str:
    out = io.StringIO()
    stats = pstats.Stats(profile, stream=out)
    stats.sort_stats("tottime").print_stats(count)
    lines = out.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    return "\n".join(line.replace(str(Path.cwd()) + "/", "") for line in lines[start:] if line)


def _server_samples(pid: int, seconds: float, folder: Path) -> subprocess.Popen[bytes] | None:
    if shutil.which("py-spy") is None:
        return None
    out = folder / "server.txt"
    cmd = ["py-spy", "record", "--pid", str(pid), "--duration", str(int(seconds) + 1)]
    # --gil: only samples of threads holding the GIL, i.e. Python work, not blocking waits.
    cmd += ["--format", "raw", "--output", str(out), "--rate", "500", "--nonblocking", "--gil"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _self_time(raw: Path, count: int = 15) -> str:
    """Leaf frames of py-spy's collapsed stacks, by share of samples (self time)."""
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        if not stack:
            continue
        leaf = stack.split(";")[-1]
        leaves[leaf] += int(n)
        total += int(n)
    rows = [f"{100 * n / total:5.1f}%  {leaf}" for leaf, n in leaves.most_common(count)]
    return "\n".join([f"(samples holding the GIL: {total})", *rows])


def main() -> None:
    scenario = sys.argv[1] if len(sys.argv) > 1 else "echo-blocking"
    seconds = float(sys.argv[2]) if len(sys.argv) > 2 else 3.0
    if scenario not in SCENARIOS:
        raise SystemExit(f"scenario must be one of {SCENARIOS}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        ctx = RunContext(
            quick=False, budget=Budget(1), concurrency=1, connections=1, workdir=folder
        )
        server = ServerProcess() if "-mem" not in scenario else None
        try:
            cfg = tls_config(ctx, *RECORD_CONFIG)
            port = 0
            if server is not None:
                kind = "ouc-asyncio" if scenario.endswith("asyncio") else "ouc-blocking"
                port = server.listen(ListenSpec(kind=kind, mode="echo", tls=cfg))
            _client_loop(scenario, cfg, port, 0.3)()  # warm-up
            # 1. CPU split without any profiler
            run = _client_loop(scenario, cfg, port, seconds)
            s0 = server.cpu() if server else 0.0
            c0, w0 = time.process_time(), time.perf_counter()
            ops = run()
            client_cpu, wall = time.process_time() - c0, time.perf_counter() - w0
            server_cpu = (server.cpu() - s0) if server else 0.0
            print(f"== {scenario}: {ops / wall:,.0f} ops/s over {wall:.1f} s")
            print(
                f"CPU per op: client {client_cpu / ops * 1e6:,.1f} µs, "
                f"server {server_cpu / ops * 1e6:,.1f} µs "
                f"(wall per op {wall / ops * 1e6:,.1f} µs)"
            )
            # 2. profiles
            sampler = (
                _server_samples(server.pid, seconds, folder) if server and server.pid else None
            )
            run = _client_loop(scenario, cfg, port, seconds)
            profile = cProfile.Profile(time.process_time)  # CPU time, not waits
            profile.enable()
            run()
            profile.disable()
            print("\n-- client side (cProfile on CPU time, by own time, profiler overhead in)")
            print(_top(profile))
            if sampler is not None:
                sampler.wait(seconds + 30)
                raw = folder / "server.txt"
                if raw.exists():
                    print("\n-- server side (py-spy, self time)")
                    print(_self_time(raw))
        finally:
            if server is not None:
                server.close()
            ctx.close()


if __name__ == "__main__":
    main()
