"""Interleaved A/B of ``ouc serve`` between two revisions of ouc, measured from outside.

Both revisions' ``ouc serve`` (the revision ``--old`` exported with ``git archive``, the
working tree as the new one) run side by side as processes, with the same certificates, and
are measured in alternating order round after round, the way ``benchmarks.external`` measures
them: server CPU per handshake from ``/proc`` while ``openssl s_time -new -tls1_3`` connects
(server-auth and mutual TLS 1.3), and server CPU per 258-byte echo round trip. Prints each
row's new/old CPU ratio per round, with median, min and max (< 1: the new revision needs
less)::

    python -m benchmarks.ab_serve --old main --rounds 8
    python -m benchmarks.ab_serve --old HEAD~1 --only echo --serve-option=--driver=blocking
    python -m benchmarks.ab_serve --old main --baseline --rounds 10

``--baseline`` measures the targets' baseline in the same rounds too (the raw pyOpenSSL loop
for handshakes, Python's ``ssl`` threaded server for the echo) and prints each revision's
capacity ratio against it (baseline CPU / ouc CPU, ≥ 1: ouc needs less).

A diagnostic for RESULTS.md, not part of the suite.
"""

from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import _args, external

_ROWS = ("server-auth", "mutual", "echo")
RATIOS = """\
ratios: new/old is the working tree's server CPU per operation over the --old revision's, in
the same round; the median over rounds is printed with the min-max range (below 1: the new
revision needs less CPU). With --baseline, capacity vs BASE is the baseline's CPU per
operation over each revision's (1 or more: ouc needs less than the baseline). CPU is read
from /proc for the server process; a round where a server made no connection is left out."""


def export(revision: str, folder: Path) -> Path:
    """The ``ouc`` package of ``revision`` under ``folder`` (run with it as the cwd)."""
    folder.mkdir(parents=True, exist_ok=True)
    archive = folder / "old.tar"
    with archive.open("wb") as fh:
        subprocess.run(
            ["git", "archive", revision, "ouc"], cwd=external._ROOT, stdout=fh, check=True
        )
    with tarfile.open(archive) as tar:
        tar.extractall(folder, filter="data")
    return folder


def measure(row: str, m: external.Material, server: external.Server, seconds: int) -> float:
    if row == "echo":
        return external.echo_cpu(m, "mutual", server, seconds)["us"]
    return external.handshake_cpu(m, row, server, seconds)["us"]


def main() -> None:
    parser = _args.parser("python -m benchmarks.ab_serve", __doc__ or "", RATIOS)
    parser.add_argument("--old", default="main", help="the baseline revision (git)")
    parser.add_argument("--rounds", type=_args.positive_int, default=6, help="interleaved rounds")
    parser.add_argument(
        "--seconds", type=_args.positive_int, default=2, help="s_time seconds per measurement"
    )
    parser.add_argument("--only", action="append", choices=_ROWS, help="these rows (default: all)")
    parser.add_argument(
        "--serve-option", action="append", default=[], metavar="OPT",
        help="pass OPT to both revisions' ouc serve, e.g. --serve-option=--driver=blocking",
    )  # fmt: skip
    parser.add_argument("--baseline", action="store_true", help="the targets' baseline too")
    parser.add_argument("--json", metavar="FILE", help="also write the results here")
    args = parser.parse_args()
    if shutil.which("openssl") is None:
        parser.error("needs the openssl command on PATH")
    external.SERVE_OPTIONS[:] = args.serve_option
    report: dict[str, Any] = {"old": args.old, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="ouc-ab-serve-") as tmp:
        folder = Path(tmp)
        old_root = export(args.old, folder / "old")
        m = external.make_material(folder)
        for row in args.only or _ROWS:
            config = "mutual" if row == "echo" else row
            old = external.ouc_server(m, config, echo=row == "echo")
            old.cwd = old_root
            old.name = "old"
            new = external.ouc_server(m, config, echo=row == "echo")
            new.name = "new"
            servers = [old, new]
            if args.baseline:
                base = external.peer_server(m, config, "ssl" if row == "echo" else "pyopenssl")
                label, base.name = base.name, "base"
                servers.append(base)
            ratios: list[float] = []
            cpu: dict[str, list[float]] = {s.name: [] for s in servers}
            with external.running(servers):
                for r in range(args.rounds):
                    turn = servers[r % len(servers) :] + servers[: r % len(servers)]
                    got = {s.name: measure(row, m, s, args.seconds) for s in turn}
                    for name, value in got.items():
                        cpu[name].append(value)
                    ratios.append(got["new"] / got["old"])
            ratios = [r for r in ratios if r == r]  # a round without a connection is NaN
            if not ratios:
                print(f"{row:12} no round made a connection with both revisions", flush=True)
                continue
            line: dict[str, Any] = {
                "old_us": statistics.median(v for v in cpu["old"] if v == v),
                "new_us": statistics.median(v for v in cpu["new"] if v == v),
                "ratio": statistics.median(ratios),
                "min": min(ratios),
                "max": max(ratios),
            }
            report[row] = line
            print(
                f"{row:12} old {line['old_us']:8.1f} µs  new {line['new_us']:8.1f} µs  "
                f"new/old {line['ratio']:.3f} ({line['min']:.3f}–{line['max']:.3f}), "
                f"{len(ratios)} rounds",
                flush=True,
            )
            if args.baseline:
                for name in ("old", "new"):
                    pairs = zip(cpu["base"], cpu[name], strict=True)
                    capacity = [b / o for b, o in pairs if b == b and o == o]  # NaN: none made
                    if capacity:
                        line[f"{name}_capacity"] = external.spread(capacity)
                        print(
                            f"{'':12} {name}: capacity vs {label} "
                            f"{statistics.median(capacity):.3f} "
                            f"({min(capacity):.3f}–{max(capacity):.3f}), baseline "
                            f"{statistics.median(v for v in cpu['base'] if v == v):.1f} µs",
                            flush=True,
                        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1) + "\n")


if __name__ == "__main__":
    main()
