"""Interleaved A/B of the wire profiles: ``WireProfile.LEAN`` (A) against the default (B).

The default profile (stateful tickets, the CA sent after each leaf, a second key share)
follows the CPU's capture; this measures what that costs per handshake, on the two paths the
benchmark suite times: an ouc engine pair in memory (CPU µs per handshake, client + server) and
the blocking drivers on loopback (wall µs and process CPU µs per connection: connect, handshake,
a 1-byte echo, close_notify). Mutual TLS 1.3 and 1.2 with EC P-256, as in ``ouc demo``.

Rounds alternate A and B (ABBA order), so drift on a shared machine hits both; the output is
each round's B/A ratio and their median, min and max::

    python -m benchmarks.ab_wire --rounds 10
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import _args
from benchmarks._cases import tls_config
from benchmarks._harness import Budget, RunContext
from benchmarks._memory import transport_handshake
from benchmarks._ouc import _block, device_for, resolved_endpoint
from ouc.device import Role
from ouc.drivers import ActiveEndpoint, EndpointSpec, PassiveEndpoint, echo
from ouc.tls import TLSContext, TLSEngine, WireProfile
from ouc.transport import SessionInfo

RATIOS = """\
B/A: the default profile's (B) µs per handshake over the lean profile's (A), in the same
round, for CPU in memory (mem_cpu), wall and process CPU on loopback (loop_wall, loop_cpu);
the median over rounds with min and max (above 1: the default profile costs more)."""


PROFILES = {"A lean": WireProfile.LEAN, "B default": WireProfile()}


def memory_op(cfg: object, wire: WireProfile) -> Callable[[], None]:
    device = device_for(cfg.version)  # type: ignore[attr-defined]
    client = TLSContext.build(resolved_endpoint(cfg, Role.ACTIVE), device, wire=wire)  # type: ignore[arg-type]
    server = TLSContext.build(resolved_endpoint(cfg, Role.PASSIVE), device, wire=wire)  # type: ignore[arg-type]
    now = dt.datetime.now(dt.UTC)

    def once() -> None:
        c = TLSEngine(client, now=lambda: now)
        s = TLSEngine(server, now=lambda: now)
        transport_handshake(c, s)
        c.close()
        s.close()

    return once


class Loopback:
    """A blocking passive endpoint (echo) and one active endpoint, for connect/echo/close ops."""

    def __init__(self, cfg: object, wire: WireProfile) -> None:
        def spec(role: Role) -> EndpointSpec:
            return EndpointSpec.from_block(
                _block(cfg, role),  # type: ignore[arg-type]
                device=device_for(cfg.version),  # type: ignore[attr-defined]
                resolved=resolved_endpoint(cfg, role),  # type: ignore[arg-type]
                receive_len=None,
                adhoc=True,
                keylog=False,
                wire=wire,
            )

        self.server = PassiveEndpoint(spec(Role.PASSIVE), behaviour=echo(), listen=("127.0.0.1", 0))
        self.server.__enter__()
        self.client = ActiveEndpoint(
            spec(Role.ACTIVE),
            connect_to=("127.0.0.1", self.server.port),
            reconnect=False,
            session_reuse=False,
            watch=False,
        )
        self.info: SessionInfo | None = None

    def once(self) -> None:
        self.info = self.client.connect()
        self.client.send(b"x")
        self.client.receive(10.0)
        self.client.disconnect()

    def close(self) -> None:
        self.server.__exit__(None, None, None)


def timed(op: Callable[[], None], count: int) -> tuple[float, float]:
    """(wall µs, process CPU µs) per op over ``count`` ops."""
    op()  # warm
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(count):
        op()
    return (
        (time.perf_counter() - wall) / count * 1e6,
        (time.process_time() - cpu) / count * 1e6,
    )


def summary(ratios: list[float]) -> dict[str, float]:
    return {
        "median": round(statistics.median(ratios), 3),
        "min": round(min(ratios), 3),
        "max": round(max(ratios), 3),
    }


def main() -> None:
    parser = _args.parser("python -m benchmarks.ab_wire", __doc__ or "", RATIOS)
    parser.add_argument("--rounds", type=_args.positive_int, default=10, help="ABBA rounds")
    parser.add_argument(
        "--memory-ops", type=_args.positive_int, default=150,
        help="handshakes in memory per profile and round",
    )  # fmt: skip
    parser.add_argument(
        "--loopback-ops", type=_args.positive_int, default=100,
        help="loopback connections per profile and round",
    )  # fmt: skip
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        ctx = RunContext(
            quick=True,
            budget=Budget(0.05, max_ops=5),
            concurrency=1,
            connections=1,
            workdir=Path(tmp),
        )
        results: dict[str, object] = {}
        try:
            for version in ("1.3", "1.2"):
                cfg = tls_config(ctx, version, "EC-P256", True)
                mem = {name: memory_op(cfg, wire) for name, wire in PROFILES.items()}
                loops = {name: Loopback(cfg, wire) for name, wire in PROFILES.items()}
                samples: dict[str, dict[str, list[float]]] = {
                    k: {n: [] for n in PROFILES} for k in ("mem_cpu", "loop_wall", "loop_cpu")
                }
                try:
                    for rnd in range(args.rounds):
                        order = list(PROFILES) if rnd % 2 == 0 else list(reversed(PROFILES))
                        for name in order:
                            _, cpu = timed(mem[name], args.memory_ops)
                            samples["mem_cpu"][name].append(cpu)
                            wall, cpu = timed(loops[name].once, args.loopback_ops)
                            samples["loop_wall"][name].append(wall)
                            samples["loop_cpu"][name].append(cpu)
                finally:
                    for loop in loops.values():
                        loop.close()
                row: dict[str, object] = {}
                for key, per in samples.items():
                    a, b = per["A lean"], per["B default"]
                    row[key] = {
                        "A_median_us": round(statistics.median(a), 1),
                        "B_median_us": round(statistics.median(b), 1),
                        "B/A": summary([y / x for x, y in zip(a, b, strict=True)]),
                    }
                results[f"TLS {version} mutual EC P-256"] = row
                print(f"TLS {version}: {json.dumps(row)}", flush=True)
        finally:
            ctx.close()
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
