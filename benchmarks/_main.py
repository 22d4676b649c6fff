"""The command line of the suite: ``python -m benchmarks`` from a clone of the repository.

``add_arguments`` defines the options on any parser, ``run_from_args`` runs them, ``main`` is the
entry of ``python -m benchmarks`` (errors read as in ``ouc``: an OucError is one line on stderr
and exit 2, never a traceback). Exit status 0 when every selected row measured, 1 when a row
failed (its error is in the table and JSON).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from benchmarks._args import positive_float, positive_int
from benchmarks._harness import REGISTRY, Budget, Case, Registry, Row, RunContext, run_suite, steps
from benchmarks._progress import Progress
from ouc.errors import ConfigError

__all__ = ["add_arguments", "load_registry", "main", "run_from_args"]

_QUICK = {"rounds": 3, "seconds": 0.1, "connections": 300}
_FULL = {"rounds": 5, "seconds": 1.0, "connections": 10_000}
_loaded = False


def load_registry() -> Registry:
    """The registry with every row registered (baselines first; ouc rows add theirs here)."""
    global _loaded
    if not _loaded:
        from benchmarks._cases import register_baselines
        from benchmarks._ouc_cases import register_ouc

        register_baselines(REGISTRY)
        register_ouc(REGISTRY)
        _loaded = True
    return REGISTRY


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Define the suite's options on ``parser``."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="short runs, fewer rounds and connections (under a minute)",
    )
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="PATTERN",
        help="run rows whose name or group matches (glob, or substring); "
        "repeatable, comma-separated; baselines are added",
    )
    parser.add_argument("--list", action="store_true", help="list the rows and exit")
    parser.add_argument(
        "--from",
        dest="source",
        metavar="FILE",
        help="measure nothing: report an earlier run's JSON (-o) with this version's table, "
        "--markdown and --chart",
    )
    parser.add_argument(
        "--json", action="store_true", help="print the results as JSON (no table, no progress)"
    )
    parser.add_argument("-o", "--output", metavar="FILE", help="write the results as JSON to FILE")
    parser.add_argument(
        "--markdown", metavar="FILE", help="write the results as Markdown (for RESULTS.md)"
    )
    parser.add_argument(
        "--chart",
        metavar="FILE.png",
        help="draw the handshake rows per case, baseline beside ouc (needs matplotlib)",
    )
    parser.add_argument(
        "--rounds", type=positive_int, help="interleaved rounds per row (default 5, quick 3)"
    )
    parser.add_argument(
        "--seconds",
        type=positive_float,
        help="wall-time budget of one run of one row (default 1.0, quick 0.1)",
    )
    parser.add_argument(
        "--max-ops",
        type=positive_int,
        default=1_000_000,
        help="at most this many operations per run",
    )
    parser.add_argument(
        "--concurrency",
        type=positive_int,
        default=8,
        help="clients in the concurrent handshake rows (default 8)",
    )
    parser.add_argument(
        "--connections",
        type=positive_int,
        help="idle connections in the memory rows (default 10000, quick 300)",
    )


def _patterns(args: argparse.Namespace) -> list[str]:
    return [p.strip() for chunk in args.only for p in chunk.split(",") if p.strip()]


def _list(cases: Sequence[Case]) -> int:
    width = max(len(c.name) for c in cases)
    for case in cases:
        flag = "quick" if case.quick else "full "
        base = f" (vs {case.baseline})" if case.baseline else ""
        print(f"{case.name:<{width}}  {flag}  {case.group}: {case.description}{base}")
    return 0


def run_from_args(args: argparse.Namespace) -> int:
    """Run the suite as ``args`` say; returns the exit status."""
    mode = _QUICK if args.quick else _FULL
    from benchmarks.targets import target_rows

    if args.chart is not None:
        from benchmarks._report import chart_available

        missing = chart_available()
        if missing is not None:  # before the run, not after it
            raise ConfigError(missing, path="--chart")
    if args.source is not None:
        return _report_earlier(args)
    cases = load_registry().select(_patterns(args), quick=args.quick, always=target_rows())
    if args.list:
        return _list(cases)
    rounds = args.rounds or int(mode["rounds"])
    settings: dict[str, Any] = {
        "quick": args.quick,
        "rounds": rounds,
        "seconds": args.seconds or mode["seconds"],
        "max_ops": args.max_ops,
        "concurrency": args.concurrency,
        "connections": args.connections or mode["connections"],
        "only": _patterns(args),
    }
    with contextlib.suppress(OSError):
        settings["load_average_start"] = [round(x, 2) for x in os.getloadavg()]
    settings["confidence"] = "lower (quick mode)" if args.quick else "full"
    progress = Progress(steps(cases, rounds), enabled=not args.json)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="ouc-bench-") as workdir:
        ctx = RunContext(
            quick=args.quick,
            budget=Budget(seconds=settings["seconds"], max_ops=args.max_ops),
            concurrency=args.concurrency,
            connections=settings["connections"],
            workdir=Path(workdir),
        )
        try:
            rows = run_suite(cases, ctx, rounds=rounds, progress=progress)
        finally:
            progress.close()
            ctx.close()
    settings["duration_s"] = round(time.monotonic() - started, 1)
    return _report(rows, settings, args)


def _report_earlier(args: argparse.Namespace) -> int:
    """``--from FILE``: the rows of an earlier run, reported as a run would report them."""
    import json

    from benchmarks._report import rows_from_document

    try:
        doc = json.loads(Path(args.source).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read {args.source}: {exc}", path="--from") from exc
    rows = rows_from_document(doc)
    doc["rows"] = [row.as_dict() for row in rows]
    return _report(rows, doc["settings"], args, doc=doc)


def _report(
    rows: list[Row],
    settings: dict[str, Any],
    args: argparse.Namespace,
    *,
    doc: dict[str, Any] | None = None,
) -> int:
    from benchmarks._report import (
        document,
        format_markdown,
        format_table,
        write_chart,
        write_json,
        write_text,
    )

    if doc is None:
        doc = document(rows, settings)
    if args.json:
        write_json(None, doc)
    else:
        print(format_table(rows, quick=bool(settings.get("quick"))))
        print(f"\n{len(rows)} rows in {settings['duration_s']} s")
    if args.output is not None:
        write_json(args.output, doc)
    if args.markdown is not None:
        write_text(args.markdown, format_markdown(rows, doc), "--markdown")
    if args.chart is not None:
        message = write_chart(rows, args.chart)
        if message is not None:
            print(f"python -m benchmarks: {message}", file=sys.stderr)
    failed = [r for r in rows if r.error is not None and not r.skipped]
    return 1 if failed else 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m benchmarks [OPTIONS]``; the exit status (0 ok, 1 a row failed, 2 bad input)."""
    from ouc.cli._parser import OneLineParser
    from ouc.errors import OucError

    parser = OneLineParser(
        prog="python -m benchmarks",
        description="Handshakes/s, CPU per handshake, record-path throughput and memory per "
        "connection, each ouc row with its ratio to a baseline measured in the same run "
        "(raw pyOpenSSL, Python's ssl, asyncio, plain TCP, openssl s_time/speed).",
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        return run_from_args(args)
    except OucError as exc:
        print(f"python -m benchmarks: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("python -m benchmarks: interrupted", file=sys.stderr)
        return 130
