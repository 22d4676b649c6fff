"""Interleaved A/B: what TCP keep-alive and the live certificate watch cost per handshake.

Both sides are ouc's blocking endpoints with the standard example (mutual TLS 1.3, EC P-256,
certificates resolved from a store), in one process on loopback. Each variant sets both specs:

* ``base``: keep-alive off, no certificate watch (the endpoints before these features);
* ``keepalive``: keep-alive on (30,10,3), no watch;
* ``live``: keep-alive on and the live certificate watch (the default of an S7-1500 V3.1).

Every round runs each variant for ``--seconds`` of sequential connections (connect, full
handshake, close), in a rotating order; the report gives per variant the median of the process's
CPU time per handshake (both sides: ``process_time``, steadier than rates on a loaded machine)
and the median and range of its ratio to ``base`` in the same round, and the rate likewise.

    python benchmarks/ab_runtime.py [--rounds 8] [--seconds 1.0]
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import statistics
import tempfile
import time
from pathlib import Path

try:
    from benchmarks import _args
except ModuleNotFoundError:  # run as a file: benchmarks/ itself is on sys.path
    import _args  # type: ignore[no-redef]


from ouc.drivers import (
    ActiveEndpoint,
    EndpointSpec,
    ExampleSetup,
    PassiveEndpoint,
    example_store,
    standard_example,
)

RATIOS = """\
ratio: a variant's process CPU per handshake (both sides) over base's in the same round, and
its handshake rate over base's likewise; each printed as the median over rounds with its range
(CPU below 1 / rate above 1: the variant costs less than base)."""


VARIANTS = ("base", "keepalive", "live")


def _variant(setup: ExampleSetup, name: str) -> tuple[EndpointSpec, EndpointSpec]:
    def adapt(spec: EndpointSpec) -> EndpointSpec:
        if name == "base":
            return dataclasses.replace(spec, keepalive=None, certs=None)
        if name == "keepalive":
            return dataclasses.replace(spec, certs=None)
        assert spec.certs is not None and spec.certs.mode == "live"
        return spec

    return adapt(setup.server), adapt(setup.client)


def _run(setup: ExampleSetup, name: str, seconds: float) -> tuple[float, float]:
    """(handshakes per second, CPU microseconds per handshake) of one variant."""
    server_spec, client_spec = _variant(setup, name)
    address_map = dataclasses.replace(setup.address_map, entries=dict(setup.address_map.entries))
    with PassiveEndpoint(server_spec, address_map=address_map):
        count = 0
        start, cpu = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            with ActiveEndpoint(client_spec, address_map=address_map) as client:
                assert client.info is not None
            count += 1
        cpu = time.process_time() - cpu
        return count / (time.perf_counter() - start), cpu / count * 1e6


def main() -> None:
    parser = _args.parser("benchmarks/ab_runtime.py", __doc__ or "", RATIOS)
    parser.add_argument(
        "--rounds", type=_args.positive_int, default=8, help="measured rounds (after a warm-up)"
    )
    parser.add_argument(
        "--seconds", type=_args.positive_float, default=1.0, help="per variant and round"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = example_store(Path(tmp) / "store", now=dt.datetime.now(dt.UTC))
        setup = standard_example(store)
        results: dict[str, list[tuple[float, float]]] = {v: [] for v in VARIANTS}
        for round_no in range(args.rounds + 1):  # round 0 warms up
            order = VARIANTS[round_no % 3 :] + VARIANTS[: round_no % 3]
            got = {name: _run(setup, name, args.seconds) for name in order}
            if round_no:
                for name in VARIANTS:
                    results[name].append(got[name])
        print(f"{args.rounds} rounds x {args.seconds:g} s per variant; ratios to base per round")
        base = results["base"]
        for name in VARIANTS:
            mine = results[name]
            cpu = [m[1] / b[1] for m, b in zip(mine, base, strict=True)]
            rate = [m[0] / b[0] for m, b in zip(mine, base, strict=True)]
            print(
                f"  {name:<10} CPU {statistics.median(m[1] for m in mine):6.0f} us/hs, ratio "
                f"{statistics.median(cpu):.3f} ({min(cpu):.3f}-{max(cpu):.3f});  "
                f"{statistics.median(m[0] for m in mine):5.0f} hs/s, ratio "
                f"{statistics.median(rate):.3f} ({min(rate):.3f}-{max(rate):.3f})"
            )


if __name__ == "__main__":
    main()
