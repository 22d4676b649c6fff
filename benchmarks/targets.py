"""The suite's performance targets, checked against a results file of the suite (``--json``).

Run ``python benchmarks/targets.py benchmarks/results.json``: prints a Markdown table of every
target (met / missed, with the measured ratio) and the informational comparisons of the ouc
loopback handshakes with the ``ssl`` module and ``openssl s_time`` (rows that share the raw
pyOpenSSL baseline, so ours / theirs is the median over rounds of the per-round quotient).
With several files (``targets.py a.json b.json c.json``) it prints the targets side
by side instead, with how many of the runs met each: single rows move by ±0.1 between runs.
"""

from __future__ import annotations

import json
import statistics
import sys
from typing import Any

CONFIGS = tuple(
    f"tls{v}-{k}-{a}" for k in ("ecdsa", "rsa") for v in ("13", "12") for a in ("server", "mutual")
)
_HS_MEM = "in-memory handshake CPU vs raw pyOpenSSL memory BIOs"
_HS_SOCK = "sequential loopback handshakes vs raw pyOpenSSL"

# (row, bound, "max" or "min", what); the asyncio driver's handshake rows exist for ECDSA only.
TARGETS: list[tuple[str, float, str, str]] = [
    *((f"hs-mem-ouc-{cfg}", 1.15, "max", _HS_MEM) for cfg in CONFIGS),
    *((f"hs-sock-ouc-blocking-{cfg}", 0.9, "min", _HS_SOCK) for cfg in CONFIGS),
    *((f"hs-sock-ouc-asyncio-{cfg}", 0.9, "min", _HS_SOCK) for cfg in CONFIGS if "ecdsa" in cfg),
    ("rec-echo-ouc-blocking-258", 0.9, "min", "blocking 258 B echo vs ssl blocking"),
    ("rec-oneway-ouc-blocking-65536", 1.0, "min", "blocking 64 KiB one-way vs ssl blocking"),
    ("rec-echo-ouc-asyncio-258", 1.0, "min", "asyncio 258 B echo vs asyncio TLS streams"),
    ("rec-oneway-ouc-asyncio-65536", 1.0, "min", "asyncio 64 KiB one-way vs asyncio TLS streams"),
]
IDLE_ROW, IDLE_BOUND = "idle-ouc-asyncio-tls", 25_000.0


def target_rows() -> list[str]:
    """Every row a target is set for: ``--quick`` runs them all (with lower confidence)."""
    return [name for name, *_ in TARGETS] + [IDLE_ROW]


def _rows(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in doc["rows"]}


def _versus(mine: dict[str, Any], theirs: dict[str, Any]) -> float | None:
    """Median over rounds of mine/theirs (same metric, same round index)."""
    metric = mine["metric"]
    pairs = zip(mine["samples"], theirs["samples"], strict=False)
    values = [a[metric] / b[metric] for a, b in pairs if a.get(metric) and b.get(metric)]
    return statistics.median(values) if values else None


def report(doc: dict[str, Any]) -> str:
    rows = _rows(doc)
    out = ["| target | row | bound | measured | |", "|---|---|---:|---:|---|"]
    for name, bound, kind, what in TARGETS:
        row = rows.get(name)
        ratio = None if row is None else row["ratio"]
        if ratio is None:
            verdict, shown = "not measured", "-"
        else:
            ok = ratio <= bound if kind == "max" else ratio >= bound
            verdict, shown = ("met" if ok else "**missed**"), f"{ratio:.2f}x"
        sign = "≤" if kind == "max" else "≥"
        out.append(f"| {what} | `{name}` | {sign} {bound:.2f}x | {shown} | {verdict} |")
    idle = rows.get(IDLE_ROW)
    if idle is not None and idle["bytes_per_conn"] is not None:
        value = idle["bytes_per_conn"]
        verdict = "met" if value <= IDLE_BOUND else "**missed**"
        held = idle["info"].get("connections", "?")
        out.append(
            f"| server memory per idle TLS connection ({held} held) | `{IDLE_ROW}` | "
            f"≤ 25 KB | {value / 1000:.1f} KB ({idle['ratio']:.2f}x asyncio) | {verdict} |"
        )
    out += [
        "",
        "Informational: ouc loopback handshakes against the `ssl` module, `openssl s_time` and "
        "(asyncio driver) asyncio's own TLS streams",
        "",
    ]
    out += [
        "| ouc row | vs `hs-sock-ssl-*` | vs `hs-stime-openssl-*` | vs `hs-sock-asyncio-*` |",
        "|---|---:|---:|---:|",
    ]
    for name, row in rows.items():
        if not name.startswith("hs-sock-ouc-") or name.endswith("-resumed"):
            continue
        cfg = name.split("-", 4)[4]
        others = [f"hs-sock-ssl-{cfg}", f"hs-stime-openssl-{cfg}"]
        others.append(f"hs-sock-asyncio-{cfg}" if "-asyncio-" in name else "")
        cells = []
        for other in others:
            value = _versus(row, rows[other]) if other in rows else None
            cells.append("-" if value is None else f"{value:.2f}x")
        out.append(f"| `{name}` | {' | '.join(cells)} |")
    return "\n".join(out)


def _verdict(doc: dict[str, Any], name: str, bound: float, kind: str) -> tuple[str, bool]:
    row = _rows(doc).get(name)
    if name == IDLE_ROW:
        value = None if row is None else row["bytes_per_conn"]
        if value is None:
            return "-", False
        return f"{value / 1000:.1f} KB", value <= bound
    ratio = None if row is None else row["ratio"]
    if ratio is None:
        return "-", False
    return f"{ratio:.2f}x", ratio <= bound if kind == "max" else ratio >= bound


def side_by_side(docs: list[tuple[str, dict[str, Any]]]) -> str:
    """Every target's measurement in each run, and in how many runs it was met."""
    out = [
        "| row | " + " | ".join(label for label, _ in docs) + " | met in |",
        "|---|" + "---:|" * len(docs) + "---:|",
    ]
    targets = [(name, bound, kind) for name, bound, kind, _ in TARGETS]
    targets.append((IDLE_ROW, IDLE_BOUND, "max"))
    for name, bound, kind in targets:
        cells = [_verdict(doc, name, bound, kind) for _, doc in docs]
        met = sum(ok for _, ok in cells)
        shown = " | ".join(text for text, _ in cells)
        out.append(f"| `{name}` | {shown} | {met} of {len(docs)} |")
    return "\n".join(out)


def main() -> None:
    paths = sys.argv[1:] or ["benchmarks/results.json"]
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as fh:
            docs.append((path.rsplit("/", 1)[-1].removesuffix(".json"), json.load(fh)))
    print(report(docs[0][1]) if len(docs) == 1 else side_by_side(docs))


if __name__ == "__main__":
    main()
