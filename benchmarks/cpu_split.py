"""Where one side's CPU goes, by machine code: OpenSSL, the Python interpreter, the kernel, libc.

cProfile can only see Python calls, and its overhead inflates exactly the small calls the ouc
layers consist of. This diagnostic samples one process with ``perf record`` instead (no Python
instrumentation at all) and splits its CPU per operation by shared object:

- ``openssl``: cryptography's bundled OpenSSL 4.0 (``_rust.abi3.so``; pyOpenSSL's and ouc's TLS)
  and a system ``libssl``/``libcrypto`` (Python's ``ssl`` module);
- ``python``: the interpreter (``libpython``), ``_cffi_backend`` and the other extension modules;
- ``kernel``: system calls, loopback TCP, scheduling;
- ``libc``: ``malloc``/``free``, ``memcpy``, locks.

For each ``CLIENT@SERVER`` pair (stacks ``pyopenssl``, ``ssl`` and ``ouc-blocking``; ``X``
alone means ``X@X``) it runs the scenario once without perf for the CPU per operation
(``process_time`` of the client, the server process's own CPU), then once under
``perf record -p`` on the chosen ``--side``, and prints µs per operation in each category::

    python benchmarks/cpu_split.py pyopenssl ouc-blocking [--side client|server]
        [--scenario hs|echo] [--tls12] [--mutual] [--seconds 4]

Scenarios: ``hs`` is the suite's sequential loopback handshake op (connect, handshake, one-byte
echo, close), ``echo`` 258-byte echo round trips over one connection. Needs ``perf`` on PATH and
permission to attach (root, or ``kernel.perf_event_paranoid`` <= 1). A diagnostic for
RESULTS.md, not part of the suite.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import _args
from benchmarks._cases import RECORD_CONFIG, tls_config
from benchmarks._harness import Budget, RunContext
from benchmarks._loops import echo_loop, op_loop
from benchmarks._ouc import blocking_connect, blocking_handshake_op
from benchmarks._server import ListenSpec, ServerProcess
from benchmarks._sockets import (
    pyopenssl_connect,
    pyopenssl_handshake_op,
    ssl_connect,
    ssl_handshake_op,
)
from benchmarks._stacks import TLSConfig

RATIOS = """\
No ratios: total is the --side process's CPU µs per operation, measured without perf; the
columns after it split that total by the share of perf samples in each category (openssl,
python, kernel, libc, other). Compare pairs by their totals, measured in the same run."""


STACKS = ("pyopenssl", "ssl", "ouc-blocking")
CATEGORIES = ("openssl", "python", "kernel", "libc", "other")
_ECHO_SIZE = 258


def category(dso: str) -> str:
    """The category of one shared object as ``perf report --sort dso`` names it."""
    if dso.startswith("[kernel") or dso in ("[vdso]", "[unknown]"):
        return "kernel"
    if "_rust.abi3" in dso or dso.startswith(("libssl", "libcrypto")):
        return "openssl"
    extension = dso.endswith(".so") and ("cpython" in dso or "_cffi" in dso)
    if dso.startswith("libpython") or extension:
        return "python"
    if dso.startswith(("libc.so", "libc-", "ld-linux", "libm.so", "libpthread")):
        return "libc"
    return "other"


def _loop(scenario: str, client: str, cfg: TLSConfig, port: int) -> Callable[[float], int]:
    """A function running ``client``'s loop for some seconds; returns the operation count."""
    if scenario == "hs":
        make = {"pyopenssl": pyopenssl_handshake_op, "ssl": ssl_handshake_op}
        op = make.get(client, blocking_handshake_op)(cfg)(port)
        return lambda seconds: op_loop(op, Budget(seconds=seconds, max_ops=10**7)).ops
    connects = {"pyopenssl": pyopenssl_connect, "ssl": ssl_connect}
    stream = connects.get(client, blocking_connect)(cfg)(port)
    budget = Budget  # one stream for every run of this pair

    def run(seconds: float) -> int:
        timing = echo_loop(
            stream.sendall, stream.recv_into, _ECHO_SIZE, budget(seconds=seconds, max_ops=10**8)
        )
        return timing.ops

    return run


def _perf_shares(data: Path) -> dict[str, float]:
    """Shares (0..1) of the samples in ``data`` per category."""
    report = subprocess.run(
        ["perf", "report", "-i", str(data), "--no-children", "--sort", "dso", "-g", "none"],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    ).stdout
    shares = dict.fromkeys(CATEGORIES, 0.0)
    for line in report.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0].endswith("%"):
            shares[category(parts[1])] += float(parts[0][:-1]) / 100
    return shares


def measure(
    pair: str, scenario: str, side: str, cfg: TLSConfig, server: ServerProcess, seconds: float
) -> tuple[float, dict[str, float]]:
    """CPU µs per operation of ``side`` without perf, and its split by category with perf."""
    client, server_kind = pair.split("@")
    mode = "echo"
    port = server.listen(ListenSpec(kind=server_kind, mode=mode, tls=cfg))
    run = _loop(scenario, client, cfg, port)
    run(0.5)  # warm up: contexts, caches, the server's threads
    s0, c0 = server.cpu(), time.process_time()
    ops = max(1, run(seconds))
    spent = (time.process_time() - c0) if side == "client" else (server.cpu() - s0)
    per_op = spent / ops * 1e6
    target = os.getpid() if side == "client" else server.pid
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "perf.data"
        perf = subprocess.Popen(
            [
                *("perf", "record", "-F", "2999", "-o", str(data), "-p", str(target)),
                *("--", "sleep", f"{seconds:g}"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        run(seconds + 0.5)
        _, err = perf.communicate(timeout=seconds + 60)
        if perf.returncode != 0 or not data.exists():
            last = err.decode(errors="replace").strip().splitlines()[-1:] or ["no output"]
            raise SystemExit(f"perf record failed ({last[0]}); see --help for permissions")
        shares = _perf_shares(data)
    return per_op, {name: share * per_op for name, share in shares.items()}


def main() -> None:
    parser = _args.parser("benchmarks/cpu_split.py", __doc__ or "", RATIOS)
    parser.add_argument("pairs", nargs="+", help="CLIENT@SERVER or STACK")
    parser.add_argument(
        "--side", choices=("client", "server"), default="client", help="the process perf samples"
    )
    parser.add_argument(
        "--scenario", choices=("hs", "echo"), default="hs",
        help="hs: connect, handshake, 1-byte echo, close; echo: 258-byte round trips",
    )  # fmt: skip
    parser.add_argument("--mutual", action="store_true", help="mutual authentication")
    parser.add_argument("--tls12", action="store_true", help="TLS 1.2 instead of 1.3")
    parser.add_argument("--seconds", type=_args.positive_float, default=4.0, help="per measurement")
    args = parser.parse_args()
    if shutil.which("perf") is None:
        sys.exit("cpu_split: perf is not on PATH (Debian: apt install linux-perf)")
    pairs = [p if "@" in p else f"{p}@{p}" for p in args.pairs]
    for pair in pairs:
        if any(side not in STACKS for side in pair.split("@")):
            parser.error(f"{pair}: each side is one of {', '.join(STACKS)}")
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(
            quick=False, budget=Budget(1), concurrency=1, connections=1, workdir=Path(tmp)
        )
        cfg = dataclasses.replace(
            tls_config(ctx, *RECORD_CONFIG),
            mutual=args.mutual,
            version="1.2" if args.tls12 else "1.3",
        )
        server = ServerProcess()
        try:
            rows = [
                (pair, *measure(pair, args.scenario, args.side, cfg, server, args.seconds))
                for pair in pairs
            ]
        finally:
            server.close()
    print(f"{args.side} CPU µs per {args.scenario} op, split by perf samples")
    print(f"{'pair':28} {'total':>7} " + " ".join(f"{c:>8}" for c in CATEGORIES))
    for pair, total, split in rows:
        cells = " ".join(f"{split[c]:8.0f}" for c in CATEGORIES)
        print(f"{pair:28} {total:7.0f} {cells}")


if __name__ == "__main__":
    main()
