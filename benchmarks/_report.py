"""Output of a benchmark run: the terminal table, the JSON document and the PNG chart.

The JSON is the durable record (``benchmarks/RESULTS.md`` is written from it): every row with its
median metrics, its ratio to the baseline measured in the same run, the per-round samples, and
the machine it ran on. The chart shows handshakes per second per configuration; matplotlib is an
optional extra (``pip install 'ouc[bench]'``), and without it the chart degrades to one line.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import ssl
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._harness import Metric, Row
from ouc.errors import ConfigError

__all__ = [
    "CHART_GROUPS",
    "document",
    "format_markdown",
    "format_table",
    "machine_info",
    "write_chart",
    "write_json",
    "write_text",
]

#: Groups drawn in the chart: loopback rates, and in-memory CPU turned into handshakes per CPU-s.
CHART_GROUPS = ("handshake-socket", "handshake-concurrent")
_CPU_CHART_GROUPS = ("handshake-memory", "handshake-resumed-memory")
_SCHEMA = 1


def machine_info() -> dict[str, Any]:
    """What the numbers were measured on: CPU, cores, Python and the OpenSSL builds."""
    from OpenSSL import SSL
    from OpenSSL import __version__ as pyopenssl_version

    info: dict[str, Any] = {
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "python": platform.python_version(),
        "pyopenssl": pyopenssl_version,
        "pyopenssl_openssl": SSL.OpenSSL_version(SSL.OPENSSL_VERSION).decode(),
        "ssl_module_openssl": ssl.OPENSSL_VERSION,
        "openssl_cli": _openssl_cli_version(),
    }
    with contextlib.suppress(OSError):
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _openssl_cli_version() -> str | None:
    path = shutil.which("openssl")
    if path is None:
        return None
    try:
        done = subprocess.run([path, "version"], capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.decode(errors="replace").strip() or None


# -- table -----------------------------------------------------------------------------------------


def _num(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0 or abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "-"
    return f"{row.ratio:.2f}x {row.metric.value}"


def _cells(row: Row) -> list[str]:
    r = row.result
    if row.error is not None:
        return [row.name, row.error]
    kb = None if r.bytes_per_conn is None else r.bytes_per_conn / 1000
    return [
        row.name,
        _num(r.rate),
        _num(r.cpu_us, 1),
        _num(r.p50_ms, 2),
        _num(r.p99_ms, 2),
        _num(r.mb_s, 1),
        _num(kb, 1),
        "-" if row.spread is None else f"±{row.spread * 100:.0f}%",
        _ratio(row),
        row.baseline or "",
    ]


_HEAD = [
    "case",
    "ops/s",
    "CPU µs/op",
    "p50 ms",
    "p99 ms",
    "MB/s",
    "KB/conn",
    "noise",
    "ratio",
    "baseline",
]


def format_table(rows: Sequence[Row]) -> str:
    """The terminal table: one section per group, numbers right-aligned.

    ``ratio`` is this row's metric divided by its baseline's, measured in the same run (median
    of the per-round ratios): above 1 is better for ops/s and MB/s, worse for CPU and memory.
    """
    table = [_HEAD] + [_cells(r) for r in rows if r.error is None]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEAD))]
    out: list[str] = []

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        if len(cells) == 2:  # an error or skip line
            return f"{first}  {cells[1]}"
        rest = [c.rjust(w) for c, w in zip(cells[1:-1], widths[1:-1], strict=True)]
        return "  ".join([first, *rest, cells[-1]]).rstrip()

    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            out.append("")
            out.append(f"== {group}")
            out.append(fmt(_HEAD))
        out.append(fmt(_cells(row)))
    out.append("")
    out.append(
        "ratio = this row / its baseline, same run, median of per-round ratios "
        "(rate, mb_s: higher is better; cpu_us, bytes_per_conn: lower is better); "
        "noise = half the range of the ratio's metric over the rounds, relative to the median; "
        "MB and KB are 10^6 and 10^3 bytes"
    )
    return "\n".join(out).lstrip("\n")


def format_markdown(rows: Sequence[Row], doc: dict[str, Any]) -> str:
    """The run as Markdown (the body of ``benchmarks/RESULTS.md``): machine, settings, one
    table per group with the same columns as the terminal table."""
    machine, settings = doc["machine"], doc["settings"]
    mode = "quick" if settings.get("quick") else "full"
    lines = [
        f"Run {doc['written']}, {mode} mode: {settings.get('rounds')} interleaved rounds of "
        f"{settings.get('seconds')} s per row, {settings.get('concurrency')} concurrent clients, "
        f"{settings.get('connections')} idle connections; took {settings.get('duration_s')} s.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}; "
        f"Python {machine['python']}; pyOpenSSL {machine['pyopenssl']} on "
        f"{machine['pyopenssl_openssl']}; ssl module on {machine['ssl_module_openssl']}; "
        f"openssl CLI {machine['openssl_cli'] or 'absent'}; "
        f"load average at the end {machine.get('load_average', '?')}.",
    ]
    group = None
    for row in rows:
        if row.group != group:
            group = row.group
            lines += ["", f"### {group}", "", "| " + " | ".join(_HEAD) + " |"]
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(_HEAD) - 2) + ["---"]) + "|")
        cells = _cells(row)
        if len(cells) == 2:
            cells = [cells[0], *([""] * (len(_HEAD) - 2)), cells[1]]
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines += [
        "",
        "ratio = this row / its baseline, same run, median of per-round ratios; noise = half "
        "the range of the compared metric over the rounds, relative to its median.",
        "",
    ]
    return "\n".join(lines)


def write_text(path: str, text: str, option: str) -> None:
    """Write ``text`` to ``path``; ConfigError (naming ``option``) when that fails."""
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", path=option) from exc


# -- JSON ------------------------------------------------------------------------------------------


def document(rows: Sequence[Row], settings: dict[str, Any]) -> dict[str, Any]:
    """The JSON document of a run: settings, machine, rows."""
    return {
        "schema": _SCHEMA,
        "written": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "settings": settings,
        "machine": machine_info(),
        "rows": [row.as_dict() for row in rows],
    }


def write_json(path: str, doc: dict[str, Any]) -> None:
    """Write the document to ``path`` ("-" = stdout).

    Raises:
        ConfigError: the file cannot be written.
    """
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if path == "-":
        print(text, end="")
    else:
        write_text(path, text, "--json")


# -- chart -----------------------------------------------------------------------------------------


def _chart_series(rows: Sequence[Row]) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    loopback = [
        (r.name, r.result.rate)
        for r in rows
        if r.group in CHART_GROUPS and r.metric is Metric.RATE and r.result.rate
    ]
    memory = [
        (r.name, 1e6 / r.result.cpu_us)
        for r in rows
        if r.group in _CPU_CHART_GROUPS and r.result.cpu_us
    ]
    return loopback, memory


def write_chart(rows: Sequence[Row], path: str) -> str | None:
    """Draw handshakes/s per configuration into a PNG at ``path``.

    Returns None when written, else the one-line reason it was skipped (matplotlib missing, no
    handshake rows in this run).

    Raises:
        ConfigError: the file cannot be written.
    """
    loopback, memory = _chart_series(rows)
    if not loopback and not memory:
        return "chart skipped: no handshake rows in this run"
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "chart skipped: matplotlib is not installed (pip install 'ouc[bench]')"
    panels = [
        (title, data)
        for title, data in (
            ("loopback handshakes/s (client + server process)", loopback),
            ("in-memory handshakes per CPU-second (both sides)", memory),
        )
        if data
    ]
    height = max(3.0, 0.28 * max(len(d) for _, d in panels) + 1.5)
    fig, axes = plt.subplots(1, len(panels), figsize=(7.5 * len(panels), height), squeeze=False)
    for ax, (title, data) in zip(axes[0], panels, strict=True):
        labels = [name for name, _ in data][::-1]
        values = [value for _, value in data][::-1]
        colors = [_color(name) for name in labels]
        ax.barh(labels, values, color=colors)
        ax.set_title(title, fontsize=10)
        ax.tick_params(axis="y", labelsize=7)
        ax.grid(axis="x", alpha=0.3)
    from matplotlib.patches import Patch

    legend = [
        Patch(color=c, label=k)
        for k, c in _LEGEND
        if any(_color(n) == c for n, _ in loopback + memory)
    ]
    axes[0][0].legend(handles=legend, fontsize=7, loc="lower right")
    fig.tight_layout()
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", path="--chart") from exc
    finally:
        plt.close(fig)
    return None


_COLORS = (("ouc", "#2a7"), ("pyopenssl", "#47c"), ("-ssl-", "#c84"), ("openssl", "#888"))
_LEGEND = (("ouc", "#2a7"), ("raw pyOpenSSL", "#47c"), ("Python ssl", "#c84"), ("openssl", "#888"))


def _color(name: str) -> str:
    """Bar colour by stack, matched on the row name (first match wins: pyopenssl ≠ openssl)."""
    for key, color in _COLORS:
        if key in name:
            return color
    return "#999"
