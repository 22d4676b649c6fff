"""``ouc load HOST:PORT``: load-generate against your own peer, counting what it accepted.

The active side of the standard client block by default (its client certificate 11 and CA 3
from ``./ouc-store``, device ``PLC_2``), so a mutual-TLS peer gets the certificate a PLC would
present. A handshake counts once the peer accepted it (see :mod:`ouc.load._client`); failures
are counted per PLC status and shown in the row; the exit status is 1 when any failed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from ouc.certs import CLIENT_DEVICE
from ouc.cli import _types
from ouc.errors import ConfigError, Status

__all__ = ["register"]

VERDICT = (
    "the peer answered the client's close_notify with its own close_notify or FIN, with no "
    "alert before it (TLS 1.3 completes on the client before the server checked the client "
    "certificate)"
)


def _processes(text: str) -> int:
    if text == "auto":
        return os.cpu_count() or 1
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'auto'") from None
    if not 1 <= value <= 256:
        raise argparse.ArgumentTypeError(f"{text} is outside 1..256")
    return value


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc load``."""
    p = sub.add_parser(
        "load",
        help="load-generate against your own peer (handshakes, echo), counting what it accepted",
        description="Handshakes/s and echo round trips of the TSEND_C side against your own "
        "Secure OUC peer (a CPU, a gateway, your software). A handshake counts once the peer "
        f"accepted it: {VERDICT}. Failures are counted per PLC status (16#80E2, 16#80C5, ...); "
        "exit status 1 when any failed. Beyond one machine: ouc.locust (pip install "
        "'ouc[locust]').",
    )
    p.add_argument("target", metavar="HOST:PORT", help="the peer, e.g. 192.0.2.10:2000")
    who = p.add_argument_group("who connects (defaults: the standard client block)")
    who.add_argument("--block", metavar="FILE", help="CONNECT block, JSON or binary (- for stdin)")
    who.add_argument(
        "--store", default="ouc-store", metavar="DIR", help="certificate store (./ouc-store)"
    )
    who.add_argument(
        "--device", metavar="NAME", help=f"whose certificates count (default {CLIENT_DEVICE})"
    )
    who.add_argument("--family", help="emulated CPU: S7-1500 (default) or S7-1200")
    who.add_argument("--firmware", help="firmware, e.g. V3.1 (decides TLS 1.2 / 1.3)")
    who.add_argument(
        "--own-ip", action="append", metavar="IP", help="the device's own plant address"
    )
    who.add_argument("--bind", metavar="HOST[:PORT]", help="local address to connect from")
    who.add_argument(
        "--profile", choices=("compatible", "strict"), default="compatible", help="TLS profile"
    )
    who.add_argument(
        "--insecure", action="store_true", help="do NOT verify the peer's certificate (loud)"
    )
    how = p.add_argument_group("how hard")
    how.add_argument("--seconds", type=_types.seconds, default=5.0, metavar="S", help="per row (5)")
    how.add_argument(
        "--max-ops",
        type=_types.positive_int,
        default=1_000_000,
        metavar="N",
        help="per row and process",
    )
    how.add_argument(
        "--concurrency", type=_types.positive_int, default=8, metavar="N",
        help="clients of handshake-concurrent, per process (8)",
    )  # fmt: skip
    how.add_argument(
        "--size", type=_types.positive_int, action="append", metavar="BYTES",
        help="echo frame size, repeatable (258)",
    )  # fmt: skip
    how.add_argument(
        "--processes", type=_processes, default=1, metavar="N|auto",
        help="run every row in N processes at once and merge (auto: one per core)",
    )  # fmt: skip
    how.add_argument(
        "--timeout", type=_types.seconds, default=10.0, metavar="S",
        help="seconds for each connect, handshake, reply and verdict (10)",
    )  # fmt: skip
    out = p.add_argument_group("what runs and what is printed")
    out.add_argument(
        "--only", action="append", default=[], metavar="ROW",
        help="run only these rows (a name, a glob or a substring; repeatable, comma-separated)",
    )  # fmt: skip
    out.add_argument("--list", action="store_true", help="list the rows and exit")
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument("-o", "--output", metavar="FILE", help="also write the JSON to FILE")
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ouc.cli._inputs import STDIN, read_block
    from ouc.drivers import split_host_port
    from ouc.load._report import document, format_table
    from ouc.load._run import LoadSettings, run_load, select_rows
    from ouc.load._target import TargetRecipe, parse_target

    host, port = parse_target(args.target)
    block = read_block(args.block, option="--block") if args.block == STDIN else args.block
    bind = None
    if args.bind:
        bind_host, bind_port = split_host_port(args.bind, "--bind")
        bind = (bind_host or "0.0.0.0", bind_port or 0)
    recipe = TargetRecipe(
        host=host, port=port, store=args.store, block=block, device=args.device,
        family=args.family, firmware=args.firmware, own_ip=tuple(args.own_ip or ()),
        bind=bind, insecure=args.insecure, profile=args.profile, timeout=args.timeout,
    )  # fmt: skip
    settings = LoadSettings(
        seconds=args.seconds,
        max_ops=args.max_ops,
        concurrency=args.concurrency,
        sizes=tuple(dict.fromkeys(args.size or (258,))),
        processes=args.processes,
    )
    limit = recipe.device_model().max_send_len
    for size in settings.sizes:
        if size > limit:
            raise ConfigError(
                f"frame size {size} is above {limit}, the largest TSEND_C LEN of the device",
                status=Status.LEN_INVALID,
                path="--size",
            )
    patterns = [p.strip() for chunk in args.only for p in chunk.split(",") if p.strip()]
    names = select_rows(settings, patterns)
    if args.list:
        print("\n".join(names))
        return 0
    if args.insecure:
        print(
            "ouc: WARNING: --insecure: the peer's certificate is NOT verified. Use this for "
            "commissioning tests only.",
            file=sys.stderr,
            flush=True,
        )
    started = time.monotonic()

    def progress(name: str) -> None:
        elapsed = time.monotonic() - started
        print(f"ouc load: {name} ({elapsed:.0f} s so far)", file=sys.stderr, flush=True)

    rows = run_load(recipe, names, settings, progress=progress)
    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    doc = document(rows, settings, where, VERDICT)
    text = json.dumps(doc, indent=2)
    if args.output:
        _write(args.output, text + "\n")
    if args.json:
        print(text)
    else:
        print(format_table(rows))
        failed = sum(row.failed for row in rows)
        verdict = "every operation accepted" if not failed else f"{failed:,} failed"
        print(f"\n{where}: {verdict}; a handshake counts once {VERDICT}.")
    return 0 if doc["ok"] else 1


def _write(path: str, text: str) -> None:
    target = Path(path)
    tmp = target.with_name(f".{target.name}.tmp")
    try:
        tmp.write_text(text)
        os.replace(tmp, target)
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", path="--output") from exc
