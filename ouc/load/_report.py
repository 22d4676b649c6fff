"""The table and the JSON document of ``ouc load``.

A row shows what the peer accepted (count, rate, latency) and, next to it, every failure by its
PLC status with the count and the first reason seen. A row where nothing was accepted shows no
rate: refused handshakes are not throughput. A row where no operation ran at all (the budget was
spent before the first one started) says so and is not a pass. MB/s is an echo row's payload in
each direction (sent, and echoed back alike): not the sum of both, and without TLS overhead.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ouc.load._run import LoadSettings, RowResult

__all__ = ["document", "format_table"]


def _num(value: float | None, digits: int = 1) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def _failures(row: RowResult) -> str:
    if row.note is not None:
        return f"0 - {row.note}, not a pass"
    if not row.failed:
        return "0"
    parts = [f"{count:,}x {key} ({row.reasons.get(key, '')})" for key, count in
             row.failures.most_common()]  # fmt: skip
    return f"{row.failed:,}: " + "; ".join(parts)


def format_table(rows: Sequence[RowResult]) -> str:
    """The human table: one line per row, failures by status at the end of the line."""
    header = ("row", "accepted", "rate/s", "MB/s each way", "p50 ms", "p99 ms", "failed")
    lines: list[tuple[str, ...]] = [header]
    for row in rows:
        doc = row.to_json()
        lines.append((
            row.name,
            f"{row.ops:,}",
            _num(doc["rate"]),
            _num(doc["mb_s"], 2),
            _num(doc["p50_ms"], 2),
            _num(doc["p99_ms"], 2),
            _failures(row),
        ))  # fmt: skip
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    out = []
    for line in lines:
        cells = [line[0].ljust(widths[0])]
        cells += [cell.rjust(width) for cell, width in zip(line[1:-1], widths[1:], strict=True)]
        out.append("  ".join([*cells, line[-1]]).rstrip())
    return "\n".join(out)


def document(
    rows: Sequence[RowResult], settings: LoadSettings, where: str, verdict: str
) -> dict[str, Any]:
    """The JSON document: target, settings, the acceptance rule, rows, ok.

    ``ok`` only when every row ran something and nothing failed.
    """
    return {
        "target": where,
        "accepted_when": verdict,
        "settings": {
            "seconds": settings.seconds,
            "max_ops": settings.max_ops,
            "concurrency": settings.concurrency,
            "sizes": list(settings.sizes),
            "processes": settings.processes,
        },
        "rows": [row.to_json() for row in rows],
        "ok": all(row.ok for row in rows),
    }
