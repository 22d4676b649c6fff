"""Interleaved A/B of sequential loopback handshakes: rate and the CPU of each side.

The suite's rows give one ratio per configuration; this diagnostic splits it: for each
``CLIENT@SERVER`` pair (``pyopenssl``, ``ouc-blocking``, ``ouc-asyncio``; ``X`` alone means
``X@X``) it runs the suite's own handshake op against the suite's server process, in interleaved
rounds, and prints the median rate, the client's CPU per handshake (``process_time``), the
server process's CPU per handshake, and the rate ratio to the first pair of the same round.
Mixing stacks shows which side a gap is on: ``pyopenssl@ouc-blocking`` is the ouc server with
a raw client, ``ouc-blocking@pyopenssl`` the ouc client against a raw server.

    python benchmarks/ab_handshakes.py pyopenssl ouc-blocking pyopenssl@ouc-blocking \\
        ouc-blocking@pyopenssl [--mutual] [--tls12] [--rounds 8] [--seconds 0.6]

A diagnostic for RESULTS.md, not part of the suite.
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import _args
from benchmarks._cases import RECORD_CONFIG, tls_config
from benchmarks._harness import Budget, RunContext
from benchmarks._loops import op_loop
from benchmarks._ouc import blocking_handshake_op
from benchmarks._server import ListenSpec, ServerProcess
from benchmarks._sockets import pyopenssl_handshake_op
from benchmarks._stacks import TLSConfig

RATIOS = """\
ratio: a pair's handshake rate over the first pair's in the same round; the median over rounds
and its range (above 1: more handshakes per second than the first pair). client µs and server µs
are each side's CPU per handshake, medians over rounds."""


STACKS = ("pyopenssl", "ouc-blocking", "ouc-asyncio")


def _runner(client: str, cfg: TLSConfig, port: int) -> Callable[[Budget], int]:
    """A function running ``client``'s handshake loop for a budget; returns the count."""
    if client == "ouc-asyncio":
        from benchmarks._ouc_aio import async_handshakes

        return lambda budget: async_handshakes(cfg, port, 1, budget).ops
    make = pyopenssl_handshake_op if client == "pyopenssl" else blocking_handshake_op
    op = make(cfg)(port)
    return lambda budget: op_loop(op, budget).ops


def main() -> None:
    parser = _args.parser("benchmarks/ab_handshakes.py", __doc__ or "", RATIOS)
    parser.add_argument("pairs", nargs="+", help="CLIENT@SERVER or STACK")
    parser.add_argument("--mutual", action="store_true", help="mutual authentication")
    parser.add_argument("--tls12", action="store_true", help="TLS 1.2 instead of 1.3")
    parser.add_argument(
        "--rounds", type=_args.positive_int, default=8, help="measured rounds (after a warm-up)"
    )
    parser.add_argument(
        "--seconds", type=_args.positive_float, default=0.6, help="per pair and round"
    )
    args = parser.parse_args()
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
            runners = {}
            for pair in pairs:
                client, server_kind = pair.split("@")
                port = server.listen(ListenSpec(kind=server_kind, mode="echo", tls=cfg))
                runners[pair] = _runner(client, cfg, port)
            samples: dict[str, list[tuple[float, float, float]]] = {p: [] for p in pairs}
            for round_no in range(args.rounds + 1):  # round 0 warms up
                for pair in pairs:
                    s0 = server.cpu()
                    c0, w0 = time.process_time(), time.perf_counter()
                    ops = max(1, runners[pair](Budget(seconds=args.seconds, max_ops=10**6)))
                    cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                    if round_no:
                        samples[pair].append(
                            (ops / wall, cpu / ops * 1e6, (server.cpu() - s0) / ops * 1e6)
                        )
        finally:
            server.close()
    base = samples[pairs[0]]
    print(f"{'pair':28} {'rate/s':>7} {'client µs':>10} {'server µs':>10} {'ratio':>6}  range")
    for pair in pairs:
        rows = samples[pair]
        ratios = [a[0] / b[0] for a, b in zip(rows, base, strict=True)]
        print(
            f"{pair:28} {statistics.median(r[0] for r in rows):7.0f} "
            f"{statistics.median(r[1] for r in rows):10.0f} "
            f"{statistics.median(r[2] for r in rows):10.0f} "
            f"{statistics.median(ratios):6.2f}  {min(ratios):.2f}-{max(ratios):.2f}"
        )


if __name__ == "__main__":
    main()
