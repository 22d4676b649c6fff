"""Interleaved A/B of the sans-I/O connection core between two revisions of ouc.

What the blocks' STATUS machine costs where it runs most: a connection pair over the TLS engine
in memory (the standard example: mutual TLS 1.3, EC P-256), timing process CPU per complete
handshake (both sides) and per 258-byte echo round trip through ``Connection.send`` /
``receive_data`` / ``next_event``. Each measurement runs in a fresh interpreter with
``PYTHONPATH`` set to one revision's ``ouc`` (exported with ``git archive``); rounds alternate
the order (ABBA), so drift on a shared machine hits both. Prints each round's B/A ratio with
their median, min and max::

    python benchmarks/ab_conn.py --old 4fd66cb --new HEAD --rounds 10

A diagnostic for RESULTS.md, not part of the suite.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

try:
    from benchmarks import _args
except ModuleNotFoundError:  # run as a file: benchmarks/ itself is on sys.path
    import _args  # type: ignore[no-redef]


RATIOS = """\
B/A: revision B's process CPU per operation (a complete handshake of both sides, a 258-byte
echo round trip) over revision A's, in the same round; printed as the median over rounds with
min and max (below 1: B needs less CPU)."""


_KINDS = ("handshake", "record")


def _measure(kind: str, seconds: float) -> dict[str, float]:
    """One measurement in this interpreter (the revision on ``PYTHONPATH``)."""
    import datetime as dt

    import ouc
    from ouc.conn import Established
    from ouc.drivers import example_store, standard_example

    folder = tempfile.mkdtemp(prefix="ouc-ab-conn-")
    store = example_store(Path(folder) / "store", now=dt.datetime.now(dt.UTC))
    setup = standard_example(store)

    def pair() -> tuple[ouc.conn.Connection, ouc.conn.Connection]:
        client = setup.client.new_connection(peer_address="192.168.0.1")
        server = setup.server.new_connection(peer_address="192.168.0.2")
        server.connect(0.0)
        client.connect(0.0)
        up = 0
        for _ in range(20):  # flights (bounded)
            for src, dst in ((client, server), (server, client)):
                data = src.data_to_send()
                if data:
                    dst.receive_data(data, 0.0)
            for side in (client, server):
                while (event := side.next_event()) is not None:
                    up += type(event) is Established
            if up == 2:
                return client, server
        raise SystemExit("the in-memory handshake did not complete")

    count = 0
    if kind == "handshake":
        start = time.process_time()
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            pair()
            count += 1
    else:
        client, server = pair()
        frame = bytes(258)
        start = time.process_time()
        end = time.perf_counter() + seconds
        now = 1.0
        while time.perf_counter() < end:
            for _ in range(100):
                client.send(frame, now=now)
                server.receive_data(client.data_to_send(), now)
                event = server.next_event()
                server.send(event.data, now=now)  # type: ignore[union-attr]
                client.receive_data(server.data_to_send(), now)
                client.next_event()
                count += 1
    return {"us": (time.process_time() - start) / count * 1e6, "file": ouc.__file__}  # type: ignore[dict-item]


def _export(rev: str, target: Path) -> Path:
    target.mkdir(parents=True)
    archive = subprocess.run(["git", "archive", rev, "ouc"], capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", str(target)], input=archive.stdout, check=True)
    return target


def main() -> None:
    parser = _args.parser("benchmarks/ab_conn.py", __doc__ or "", RATIOS)
    parser.add_argument("--old", required=True, help="revision A (e.g. a commit id)")
    parser.add_argument("--new", default="HEAD", help="revision B")
    parser.add_argument("--rounds", type=_args.positive_int, default=10, help="ABBA rounds")
    parser.add_argument("--seconds", type=_args.positive_float, default=1.0, help="per measurement")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ouc-ab-conn-") as tmp:
        trees = {
            "A": _export(args.old, Path(tmp) / "a"),
            "B": _export(args.new, Path(tmp) / "b"),
        }
        results: dict[tuple[str, str], list[float]] = {(k, t): [] for k in _KINDS for t in trees}
        for round_no in range(args.rounds):
            order = ["A", "B"] if round_no % 2 == 0 else ["B", "A"]
            for kind in _KINDS:
                for name in order:
                    out = subprocess.run(
                        # The file itself, not -m: the repository root must not be on sys.path
                        # ahead of the revision measured.
                        [
                            sys.executable,
                            str(Path(__file__).resolve()),
                            "--one",
                            kind,
                            str(args.seconds),
                        ],
                        env={**os.environ, "PYTHONPATH": str(trees[name])},
                        capture_output=True,
                        text=True,
                        check=True,
                    ).stdout
                    doc = json.loads(out)
                    if not str(doc["file"]).startswith(str(trees[name])):
                        raise SystemExit(f"measured the wrong ouc: {doc['file']}")
                    results[(kind, name)].append(float(doc["us"]))
        for kind in _KINDS:
            a, b = results[(kind, "A")], results[(kind, "B")]
            ratios = sorted(y / x for x, y in zip(a, b, strict=True))
            print(
                f"{kind}: A {statistics.median(a):.1f} µs, B {statistics.median(b):.1f} µs; "
                f"B/A per round: median {statistics.median(ratios):.3f} "
                f"(min {ratios[0]:.3f}, max {ratios[-1]:.3f}, {len(ratios)} rounds)"
            )


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(_measure(sys.argv[2], float(sys.argv[3]))))
    else:
        main()
