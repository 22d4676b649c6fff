"""Output of a benchmark run: the terminal table, the JSON document and the PNG chart.

The JSON is the durable record (``benchmarks/RESULTS.md`` is written from it): every row with its
median metrics, its ratio to the baseline measured in the same run, the per-round samples, and
the machine it ran on. The chart shows the handshake rows grouped per case, baseline first;
matplotlib is an optional extra (``pip install 'ouc[bench]'``), checked before a run starts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import platform
import shutil
import ssl
import statistics
import subprocess
from collections.abc import Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any

from benchmarks._harness import (
    _NUMERIC,
    TRUST_SPREAD,
    Metric,
    Result,
    Row,
    median_result,
    paired_ratios,
)
from ouc.errors import ConfigError

__all__ = [
    "CHART_GROUPS",
    "chart_available",
    "chart_cases",
    "document",
    "format_markdown",
    "format_table",
    "machine_info",
    "ordered",
    "rows_from_document",
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
    spread = row.ratio_spread
    noise = "" if spread is None else f" ±{spread * 100:.0f}%"
    return f"{row.ratio:.2f}x {row.metric.value}{noise}"


def ordered(rows: Sequence[Row]) -> list[tuple[Row, int]]:
    """Rows in table order with their depth: per group, each baseline followed directly by the
    rows compared with it (depth 1, 2, ...); rows whose baseline is elsewhere start a tree."""
    out: list[tuple[Row, int]] = []
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.group, []).append(row)
    for members in groups.values():
        names = {r.name for r in members}
        children: dict[str, list[Row]] = {}
        for row in members:
            if row.baseline is not None and row.baseline in names and row.baseline != row.name:
                children.setdefault(row.baseline, []).append(row)
        stack = [(row, 0) for row in reversed(members) if row.baseline not in names]
        while stack:
            row, depth = stack.pop()
            out.append((row, depth))
            stack.extend((child, depth + 1) for child in reversed(children.get(row.name, [])))
    return out


def _cells(row: Row, depth: int = 0) -> list[str]:
    r = row.result
    name = f"{'  ' * (depth - 1)}└ {row.name}" if depth else row.name
    if row.error is not None:
        return [name, row.error]
    kb = None if r.bytes_per_conn is None else r.bytes_per_conn / 1000
    warning = row.warning
    return [
        name,
        _num(r.rate),
        _num(r.cpu_us, 1),
        _num(r.p50_ms, 2),
        _num(r.p99_ms, 2),
        _num(r.mb_s, 1),
        _num(kb, 1),
        "-" if row.spread is None else f"±{row.spread * 100:.0f}%",
        _ratio(row),
        f"(!) {warning}" if warning else "",
        "" if depth or row.baseline is None else f"vs {row.baseline}",
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
    "ratio ±spread",
    "trust",
    "",
]

_LEGEND_TEXT = (
    "Each row compared with a baseline stands directly under it (└). ratio = this row / its "
    "baseline, same run, median of the per-round ratios (rate, mb_s: higher is better; cpu_us, "
    "bytes_per_conn: lower is better); ±spread = half the range of those per-round ratios, "
    "relative to the median; noise = the same for the row's own metric. (!) marks a ratio not "
    "to be read as a result: its rounds fall on both sides of 1, the ratio of the medians "
    f"points the other way, its spread is above ±{TRUST_SPREAD * 100:.0f}%, or it comes from "
    "a single round (no spread to judge it by: --rounds 2 or more). MB and KB are "
    "10^6 and 10^3 bytes."
)


def _flagged(rows: Sequence[Row]) -> str | None:
    count = sum(1 for r in rows if r.error is None and r.warning)
    if not count:
        return None
    return (
        f"(!) {count} ratio(s) too noisy to trust in this run (or from a single round): re-run "
        "those rows (--only), with more --rounds where their cost allows."
    )


def format_table(rows: Sequence[Row], *, quick: bool = False) -> str:
    """The terminal table: one section per group, each compared row under its baseline."""
    tree = ordered(rows)
    table = [_HEAD] + [_cells(r, d) for r, d in tree if r.error is None]
    widths = [max(len(line[i]) for line in table) for i in range(len(_HEAD))]
    out: list[str] = []

    def fmt(cells: list[str]) -> str:
        first = cells[0].ljust(widths[0])
        if len(cells) == 2:  # an error or skip line
            return f"{first}  {cells[1]}"
        rest = [c.rjust(w) for c, w in zip(cells[1:-2], widths[1:-2], strict=True)]
        tail = [cells[-2].ljust(widths[-2]), cells[-1]]
        return "  ".join([first, *rest, *tail]).rstrip()

    group = None
    for row, depth in tree:
        if row.group != group:
            group = row.group
            out.append("")
            out.append(f"== {group}")
            out.append(fmt(_HEAD))
        out.append(fmt(_cells(row, depth)))
    out.append("")
    out.append(_LEGEND_TEXT)
    if quick:
        out.append(_QUICK_TEXT)
    flagged = _flagged(rows)
    if flagged:
        out.append(flagged)
    return "\n".join(out).lstrip("\n")


_QUICK_TEXT = (
    "Quick mode: every row with a target runs, but with few short rounds: lower confidence "
    "than a full run; read the ratios as indications."
)


def format_markdown(rows: Sequence[Row], doc: dict[str, Any]) -> str:
    """The run as Markdown (the body of ``benchmarks/RESULTS.md``): machine, settings, one
    table per group with the same columns and order as the terminal table."""
    machine, settings = doc["machine"], doc["settings"]
    quick = bool(settings.get("quick"))
    mode = "quick (lower confidence)" if quick else "full"
    lines = [
        f"Run {doc['written']}, {mode} mode: {settings.get('rounds')} interleaved rounds of "
        f"{settings.get('seconds')} s per row, {settings.get('concurrency')} concurrent clients, "
        f"{settings.get('connections')} idle connections; took {settings.get('duration_s')} s.",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['platform']}; "
        f"Python {machine['python']}; pyOpenSSL {machine['pyopenssl']} on "
        f"{machine['pyopenssl_openssl']}; ssl module on {machine['ssl_module_openssl']}; "
        f"openssl CLI {machine['openssl_cli'] or 'absent'}; "
        f"load average at the start {settings.get('load_average_start', '?')}, "
        f"at the end {machine.get('load_average', '?')}.",
    ]
    group = None
    for row, depth in ordered(rows):
        if row.group != group:
            group = row.group
            lines += ["", f"### {group}", "", "| " + " | ".join(_HEAD) + " |"]
            lines.append("|" + "|".join(["---"] + ["---:"] * (len(_HEAD) - 3) + ["---"] * 2) + "|")
        cells = _cells(row, depth)
        if len(cells) == 2:
            cells = [cells[0], *([""] * (len(_HEAD) - 2)), cells[1]]
        if depth:
            cells[0] = "&nbsp;&nbsp;" * (depth - 1) + cells[0].lstrip()
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    lines += ["", _LEGEND_TEXT]
    if quick:
        lines += ["", _QUICK_TEXT]
    flagged = _flagged(rows)
    if flagged:
        lines += ["", flagged]
    lines.append("")
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


def rows_from_document(doc: dict[str, Any]) -> list[Row]:
    """The rows of an earlier run's JSON (``--from FILE``), to draw it with this report.

    Ratios, their spread and the warnings are recomputed from the samples, paired by round
    with the baseline's, exactly as a run computes them.

    Raises:
        ConfigError: the document is not a results file of this suite.
    """
    try:
        entries = {entry["name"]: entry for entry in doc["rows"]}
        samples = {
            name: tuple(Result(**{k: s.get(k) for k in (*_NUMERIC, "ops")}) for s in e["samples"])
            for name, e in entries.items()
        }
        rows = []
        for name, e in entries.items():
            metric = Metric(e["metric"])
            mine, base = samples[name], samples.get(e["baseline"] or "")
            ratios = paired_ratios(metric, mine, base) if base else []
            medians = None
            if base and mine:
                a, b = median_result(mine).metric(metric), median_result(base).metric(metric)
                medians = a / b if a is not None and b else None
            result = Result(**{f.name: e.get(f.name) for f in fields(Result) if f.name in e})
            rows.append(
                Row(
                    name=name,
                    group=e["group"],
                    baseline=e["baseline"],
                    metric=metric,
                    result=result,
                    ratio=statistics.median(ratios) if ratios else None,
                    rounds=e["rounds"],
                    description=e.get("description", ""),
                    error=e.get("error"),
                    skipped=bool(e.get("skipped")),
                    samples=mine,
                    ratios=tuple(ratios),
                    medians_ratio=medians,
                )
            )
    except (KeyError, TypeError, ValueError) as exc:
        raise ConfigError(f"not a results file of the suite: {exc!r}", path="--from") from exc
    return rows


def write_json(path: str | None, doc: dict[str, Any]) -> None:
    """Print the document (``path`` None, ``--json``) or write it to ``path`` (``-o``).

    Raises:
        ConfigError: the file cannot be written.
    """
    text = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    if path is None:
        print(text, end="")
    else:
        write_text(path, text, "--output")


# -- chart -----------------------------------------------------------------------------------------


def chart_available() -> str | None:
    """None when a chart can be drawn, else why not (checked before a run starts)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return "matplotlib is not installed: pip install 'ouc[bench]' (or drop --chart)"
    return None


def _resumed(row: Row) -> bool:
    return "resumed" in row.name or "resumed" in row.group


#: The chart's panels: (title, groups, resumed, per CPU-second instead of the rate).
_PANELS = (
    ("loopback: full handshakes/s (client + server process)", CHART_GROUPS, False, False),
    ("loopback: resumed handshakes/s", CHART_GROUPS, True, False),
    ("in memory: full handshakes per CPU-second (both sides)", _CPU_CHART_GROUPS, False, True),
    ("in memory: resumed handshakes per CPU-second", _CPU_CHART_GROUPS, True, True),
)


def _value(result: Any, per_cpu: bool) -> float | None:
    if per_cpu:
        return 1e6 / result.cpu_us if result.cpu_us else None
    return result.rate or None


def chart_cases(rows: Sequence[Row]) -> list[tuple[str, list[list[tuple[Row, int]]], bool]]:
    """The chart's panels: (title, cases, per_cpu); a case is a baseline and the rows compared
    with it, baseline first (as in the table)."""
    panels = []
    for title, groups, resumed, per_cpu in _PANELS:
        chosen = [
            r for r in rows
            if r.error is None and r.group in groups and _resumed(r) == resumed
            and _value(r.result, per_cpu) is not None
        ]  # fmt: skip
        cases: list[list[tuple[Row, int]]] = []
        for row, depth in ordered(chosen):
            if depth == 0:
                cases.append([])
            cases[-1].append((row, depth))
        if cases:
            panels.append((title, cases, per_cpu))
    return panels


def write_chart(rows: Sequence[Row], path: str) -> str | None:
    """Draw the handshake rows into a PNG at ``path``: one panel per kind (loopback / in
    memory, full / resumed), bars grouped per case (the baseline first, the rows compared with
    it beside it), error bars from the lowest to the highest round, each compared bar labelled
    with its ratio and spread, (!) where the ratio is not to be trusted.

    Returns None when written, else the one-line reason it was skipped (no handshake rows).

    Raises:
        ConfigError: matplotlib is missing or the file cannot be written.
    """
    panels = chart_cases(rows)
    if not panels:
        return "chart skipped: no handshake rows in this run"
    missing = chart_available()
    if missing is not None:
        raise ConfigError(missing, path="--chart")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    sizes = [sum(len(case) + 1 for case in cases) for _, cases, _ in panels]
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(11, 0.22 * sum(sizes) + 1.4 * len(panels)), squeeze=False,
        gridspec_kw={"height_ratios": sizes},
    )  # fmt: skip
    for ax, (title, cases, per_cpu) in zip(axes[:, 0], panels, strict=True):
        y = 0.0
        ticks: list[float] = []
        labels: list[str] = []
        for case in cases:
            for row, depth in case:
                values = [v for s in row.samples if (v := _value(s, per_cpu)) is not None]
                mid = _value(row.result, per_cpu) or 0.0
                low, high = (min(values), max(values)) if values else (mid, mid)
                ax.barh(
                    -y, mid, color=_color(row.name), height=0.8,
                    xerr=[[max(0.0, mid - low)], [max(0.0, high - mid)]],
                    error_kw={"elinewidth": 0.8, "capsize": 2, "ecolor": "#333"},
                )  # fmt: skip
                if depth and row.ratio is not None:
                    spread = row.ratio_spread
                    text = f"{row.ratio:.2f}x" + ("" if spread is None else f" ±{spread:.0%}")
                    if row.metric is not Metric.RATE:
                        text += f" {row.metric.value}"
                    if row.warning:
                        text += " (!)"
                    ax.text(max(high, mid) * 1.01, -y, text, va="center", fontsize=6.5,
                            color="#b00" if row.warning else "#222")  # fmt: skip
                ticks.append(-y)
                labels.append(("  " * depth) + row.name)
                y += 1
            y += 0.8  # a gap between cases
        ax.set_yticks(ticks, labels, fontsize=6.5)
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(axis="x", alpha=0.3)
        ax.set_xlim(right=ax.get_xlim()[1] * 1.15)  # room for the ratio labels
    present = {_color(row.name) for _, cases, _ in panels for case in cases for row, _ in case}
    legend = [Patch(color=c, label=k) for k, c in _LEGEND if c in present]
    axes[0][0].legend(handles=legend, fontsize=7, loc="lower right")
    fig.text(
        0.01, 0.002,
        "bars: median of the rounds; error bars: lowest to highest round; labels: ratio to the "
        "case's first bar (its baseline), ± its spread over rounds; (!) = not to be trusted",
        fontsize=7, color="#444",
    )  # fmt: skip
    fig.tight_layout(rect=(0, 0.015, 1, 1))
    try:
        fig.savefig(path, dpi=100)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", path="--chart") from exc
    finally:
        plt.close(fig)
    return None


_COLORS = (
    ("ouc", "#2a7"),
    ("pyopenssl", "#47c"),
    ("-ssl-", "#c84"),
    ("asyncio", "#b6b"),
    ("openssl", "#888"),
)
_LEGEND = (
    ("ouc", "#2a7"),
    ("raw pyOpenSSL", "#47c"),
    ("Python ssl", "#c84"),
    ("asyncio TLS streams", "#b6b"),
    ("openssl s_time", "#888"),
)


def _color(name: str) -> str:
    """Bar colour by stack, matched on the row name (first match wins: pyopenssl ≠ openssl)."""
    for key, color in _COLORS:
        if key in name:
            return color
    return "#999"
