"""``ouc load HOST:PORT``: load-generate against your own peer, counting what it accepted.

The active side of the standard client block by default (its client certificate 11 and CA 3
from ``./ouc-store``, device ``PLC_2``), so a mutual-TLS peer gets the certificate a PLC would
present. A handshake counts once the peer accepted it (see :mod:`ouc.load._client`); failures
are counted per PLC status and shown in the row; the exit status is 1 when any failed or a row
ran nothing. ``-o FILE`` is checked before the first row runs, so a typo costs no run.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import secrets
import sys
import textwrap
import time
from pathlib import Path
from typing import TYPE_CHECKING

from ouc.certs import CLIENT_DEVICE
from ouc.cli import _types
from ouc.cli._words import counted
from ouc.errors import ConfigError, Status, format_status

if TYPE_CHECKING:
    from ouc.load._run import LoadSettings, RowResult
    from ouc.load._target import TargetRecipe

__all__ = ["register"]

HANDSHAKE_VERDICT = (
    "the peer answered the client's close_notify with its own close_notify or FIN, with no "
    "alert before it (TLS 1.3 completes on the client before the server checked the client "
    "certificate)"
)
ECHO_VERDICT = (
    "its reply is the frame sent, byte for byte (every frame differs: its number, then a "
    "pattern), and no byte more arrived"
)
VERDICT = f"a handshake: {HANDSHAKE_VERDICT}; an echo: {ECHO_VERDICT}"

DESCRIPTION = """\
Handshakes/s and echo round trips of the TSEND_C side against your own Secure OUC
peer (a CPU, a gateway, your software), counting only what the peer accepted.

Rows: handshake (one client, one connection after the other), handshake-concurrent
(--concurrency clients at once), echo-SIZE (one connection per process, a TSEND_C
of SIZE bytes and the TRCV_C of its echo, again and again; the peer must send back
what it receives).

Columns (in --json: accepted, rate, mb_s, p50_ms, p99_ms, failed and failures):
{accepted}
  rate/s    accepted operations per second of the row's wall time; with
            --processes, the processes' rates added up. No rate when nothing was
            accepted.
  MB/s      echo rows: the payload in each direction, accepted echoes x SIZE per
            second in 1e6 bytes (sent, and received alike; not the two added up,
            without TLS overhead).
  p50, p99  latency of accepted operations only, in ms, by nearest rank (the
            value at rank ceil(q/100 x n) of the n sorted latencies), pooled over
            all clients and processes. Handshake rows time TCP connect, TLS
            handshake and the close_notify round trip of the verdict; echo rows
            time TSEND_C until the last byte of the reply (the connect not
            included).
  failed    failures by PLC status (16#80E2, 16#80C5, ...) or, where none exists,
            by kind: timeout (the client's own --timeout), wrong-reply (other bytes
            than the frame came back), extra-bytes (more bytes than the frame came
            back), error; each with the first reason seen.

Exit status 1 when any operation failed or a row ran nothing. Ctrl-C prints
the rows measured so far, marked as interrupted (in --json: interrupted), and
exits 130. Beyond one machine: ouc.locust (pip install 'ouc[locust]').
""".format(
    accepted=textwrap.fill(
        f"accepted  operations the peer accepted. A handshake: {HANDSHAKE_VERDICT}. An echo: "
        f"{ECHO_VERDICT}.",
        width=82,
        initial_indent="  ",
        subsequent_indent=" " * 12,
    )
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


def _concurrency(text: str) -> int:
    from ouc.load._run import MAX_CONCURRENCY

    value = _types.positive_int(text)
    if value > MAX_CONCURRENCY:
        raise argparse.ArgumentTypeError(
            f"{value} clients is more than {MAX_CONCURRENCY} per process (each is a thread and "
            "a socket); add --processes for more"
        )
    return value


def _output(text: str) -> str:
    if text == "-":
        raise argparse.ArgumentTypeError("'-' is not a file; --json prints the JSON to stdout")
    return _types.new_file(text)


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc load``."""
    p = sub.add_parser(
        "load",
        help="load-generate against your own peer (handshakes, echo), counting what it accepted",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "target", metavar="HOST:PORT", nargs="?",
        help="the peer, e.g. 192.0.2.10:2000 (not needed with --list)",
    )  # fmt: skip
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
    who.add_argument(
        "--bind",
        type=_types.bind_address,
        metavar="HOST[:PORT]",
        help="local address to connect from: an IPv4 address of this host",
    )
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
        help="operations per row and process, shared by its clients (1000000)",
    )
    how.add_argument(
        "--concurrency", type=_concurrency, default=8, metavar="N",
        help="clients of handshake-concurrent, per process (8, at most 1024)",
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
    out.add_argument(
        "--list", action="store_true",
        help="list the rows (as --only and --size select them) and exit; needs no HOST:PORT",
    )  # fmt: skip
    out.add_argument("--json", action="store_true", help="print the results as JSON")
    out.add_argument(
        "-o", "--output", type=_output, metavar="FILE",
        help="also write the JSON to FILE (its folder must exist; checked before any row runs)",
    )  # fmt: skip
    p.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ouc.cli._inputs import STDIN, read_block
    from ouc.load._run import run_load, select_rows
    from ouc.load._target import TargetRecipe, parse_target

    if args.target is not None:
        host, port = parse_target(args.target)
        _check_literal(host)
    elif args.list:
        host, port = "", 0  # --list connects nowhere
    else:
        raise ConfigError(
            "ouc load needs the peer as HOST:PORT (e.g. ouc load 192.0.2.10:2000); "
            "--list shows the rows without one"
        )
    block = read_block(args.block, option="--block") if args.block == STDIN else args.block
    bind = args.bind
    recipe = TargetRecipe(
        host=host, port=port, store=args.store, block=block, device=args.device,
        family=args.family, firmware=args.firmware, own_ip=tuple(args.own_ip or ()),
        bind=bind, insecure=args.insecure, profile=args.profile, timeout=args.timeout,
    )  # fmt: skip
    settings = _settings(args)
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
    if args.output:
        _check_writable(args.output)
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

    where = f"{host}:{port}" if ":" not in host else f"[{host}]:{port}"
    measured: list[RowResult] = []
    try:
        rows = run_load(recipe, names, settings, progress=progress, done=measured.append)
    except KeyboardInterrupt:
        # Ctrl-C: the rows measured so far are results too. Shown, marked as interrupted; then
        # main says "ouc: interrupted" and exits 130.
        _show(args, measured, recipe, where, interrupted=len(names))
        raise
    return _show(args, rows, recipe, where)


def _show(
    args: argparse.Namespace,
    rows: list[RowResult],
    recipe: TargetRecipe,
    where: str,
    *,
    interrupted: int = 0,
) -> int:
    """Print the rows (table or JSON) and write ``-o``; the exit status. ``interrupted``: the
    run was stopped with Ctrl-C before the last of that many rows."""
    from ouc.load._report import document, format_table

    _add_hints(rows, recipe)
    settings = _settings(args)
    doc = document(rows, settings, where, VERDICT)
    if interrupted:
        doc["interrupted"] = True
        doc["ok"] = False  # not every row ran
    text = json.dumps(doc, indent=2)
    if args.json:
        print(text, flush=True)
    else:
        print(format_table(rows))
        verdict = _verdict(rows)
        if interrupted:
            verdict = (
                f"interrupted (Ctrl-C) after {counted(len(rows), 'row')} of {interrupted}; "
                + verdict
            )
        print(
            f"\n{where}: {verdict}; a handshake counts once {HANDSHAKE_VERDICT}; an echo once "
            f"{ECHO_VERDICT}.",
            flush=True,
        )
    if args.output:  # after printing: a failed write loses no result
        _write(args.output, text + "\n")
    return 0 if doc["ok"] else 1


def _settings(args: argparse.Namespace) -> LoadSettings:
    from ouc.load._run import LoadSettings

    return LoadSettings(
        seconds=args.seconds,
        max_ops=args.max_ops,
        concurrency=args.concurrency,
        sizes=tuple(dict.fromkeys(args.size or (258,))),
        processes=args.processes,
    )


def _check_literal(host: str) -> None:
    """The target is an address, not a name: a PLC has no name to look up, and a name that
    does not resolve would be counted as thousands of failed connects (16#80C6)."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"{host!r} is not an IPv4 address such as 192.0.2.10 (a PLC's address is one; ouc "
            "looks up no names)",
            path="HOST:PORT",
        ) from None


def _add_hints(rows: list[RowResult], recipe: TargetRecipe) -> None:
    """Add what to do next to the first reason of failures with a usual cause, as ``ouc
    connect`` does: a reset before any reply (a partner check or a connection limit), a local
    port in use because ``--bind`` named one."""
    reset = format_status(Status.PARTNER_CLOSED)
    in_use = format_status(Status.LOCAL_PORT_IN_USE)
    bind = f"{recipe.bind[0]}:{recipe.bind[1]}" if recipe.bind is not None else ""
    for row in rows:
        if reset in row.failures:
            row.reasons[reset] += f"; {_reset_hint(recipe)}"
        if in_use in row.failures and recipe.bind is not None and recipe.bind[1]:
            row.reasons[in_use] += (
                f"; --bind {bind} names a local port: each closed connection keeps it in TCP "
                "TIME_WAIT for a while, so the next connect from it fails; leave the port out "
                f"(--bind {recipe.bind[0]})"
            )


def _reset_hint(recipe: TargetRecipe) -> str:
    """Why a peer resets a TSEND_C side before any byte, and what gets past it."""
    from ouc.cli._connect_output import plant_hint

    plant = plant_hint(recipe.build().spec)
    return (
        "if the partner is at its connection limit (16#8087 on its side), lower --concurrency "
        "or --processes; if it refused this device as its partner (16#80C9 on its side), "
        f"connect from the plant address it expects: against a mock PLC on this host --bind "
        f"127.0.0.2 with its --map {plant}=127.0.0.2, against a real one --bind the address "
        "its RemoteAddress names"
    )


def _verdict(rows: list[RowResult]) -> str:
    """The summary: what failed, which rows ran nothing; "every operation accepted" otherwise."""
    failed = sum(row.failed for row in rows)
    parts = [f"{failed:,} failed"] if failed else []
    empty = [row.name for row in rows if row.empty]
    if empty:
        parts.append(f"nothing ran in {', '.join(empty)} (not a pass: raise --seconds)")
    return "; ".join(parts) or "every operation accepted"


def _check_writable(path: str) -> None:
    """Create and remove a file next to ``path`` now, so a folder that takes no files fails
    before the rows run rather than after."""
    target = Path(path)
    probe = target.with_name(f".{target.name}.{secrets.token_hex(4)}.tmp")
    try:
        probe.touch(exist_ok=False)
        probe.unlink()
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror or exc}", path="--output") from exc


def _write(path: str, text: str) -> None:
    from ouc.certs._atomic import write_atomic

    write_atomic(Path(path), text.encode())
