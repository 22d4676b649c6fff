"""``ouc db``: data-block layouts on the command line.

* ``ouc db layout FILE [--json] [--no-elements]`` — the offset table, like the engineering tool's
  "Offset" column, and the total size (the ``LEN`` to use);
* ``ouc db encode FILE [--set PATH=VALUE ...] [--values JSON] [--hex] [-o OUT]`` — the byte image
  (hex on stdout unless ``-o`` names a file; ``-o -`` writes raw bytes to stdout);
* ``ouc db decode FILE [DATA | --hex HEX] [--json] [--strict]`` — named values of received bytes
  (DATA is a file, ``-`` for stdin: the raw bytes, or hex text as ``encode`` prints it).

FILE is SCL source (``.scl``, ``.db``: declarations or a whole ``DATA_BLOCK``) or the JSON form.
``--set`` values are SCL literals (``TRUE``, ``16#FF``, ``T#5s``); for String and Char variables
the text is taken as it is (quote it as ``'...'`` to use ``$`` escapes).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ouc._input import load_json
from ouc._notation import hex_digits
from ouc.cli import _types
from ouc.cli._inputs import input_name, not_an_input, one_stdin, read_input, read_layout
from ouc.cli._words import counted
from ouc.db import Entry, Layout, Literal, format_value, json_text, to_json
from ouc.device import Device, Family
from ouc.errors import ConfigError

__all__ = ["register"]

_Handler = Callable[[argparse.Namespace], int]


def _layout_cmd(args: argparse.Namespace) -> int:
    layout = read_layout(args.file)
    entries = layout.entries(expand_arrays=not args.no_elements)
    if args.json:
        doc = {
            "name": layout.name,
            "size": layout.size,
            "entries": [
                {
                    "path": e.path,
                    "type": e.type,
                    "offset": e.offset,
                    "bits": e.bits,
                    "start": None if e.start is None else to_json(e.start, e.dtype),
                }
                for e in entries
            ],
        }
        print(json.dumps(doc, indent=2))
        return 0
    rows = [("Offset", "Name", "Data type", "Start value")]
    rows += [
        (e.offset, "  " * e.depth + e.path.rsplit(".", 1)[-1], e.type, _shown(e, e.start))
        for e in entries
    ]
    print(_table(rows))
    print(_size_line(layout))
    return 0


def _size_line(layout: Layout) -> str:
    line = f"Total size: {counted(layout.size, 'byte')} (LEN = {layout.size})"
    small = Device(family=Family.S7_1200).max_send_len
    if layout.size > small:
        line += f"; more than an S7-1200 sends in one job ({small})"
    return line


def _shown(entry: Entry, value: Any) -> str:
    if entry.start is None and value is None:
        return ""
    return format_value(entry.dtype, value)


def _table(rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows
    )


def _values(args: argparse.Namespace) -> dict[str, Any]:
    values: dict[str, Any] = {}
    where = f"--values {input_name(args.values or '')}"  # "--values <stdin>: is not JSON"
    if args.values:
        try:
            loaded = load_json(
                read_input(args.values, "--values").decode("utf-8-sig"), where=args.values
            )
        except UnicodeDecodeError as exc:
            raise ConfigError("is not UTF-8 text", path=where) from exc
        except json.JSONDecodeError as exc:
            raise ConfigError(f"is not JSON: {exc.msg} (line {exc.lineno})", path=where) from exc
        except RecursionError as exc:
            raise ConfigError("is nested too deeply", path=where) from exc
        if not isinstance(loaded, dict):
            raise ConfigError("must hold a JSON object of variable values", path=where)
        values.update(_literals(loaded))
    for item in args.set or ():
        path, sep, text = item.partition("=")
        if not sep or not path.strip():
            raise ConfigError(f"{item!r} is not PATH=VALUE", path="--set")
        values[path.strip()] = Literal(text)
    return values


def _literals(value: Any) -> Any:
    """JSON values as the codecs take them: text becomes a Literal read by the variable's type."""
    if isinstance(value, dict):
        return {k: _literals(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_literals(v) for v in value]
    if isinstance(value, str):
        return Literal(value)
    return value


def _encode_cmd(args: argparse.Namespace) -> int:
    one_stdin(FILE=args.file, **{"--values": args.values})
    not_an_input(args.output, FILE=args.file, **{"--values": args.values})
    layout = read_layout(args.file)
    data = layout.encode(_values(args))
    if args.output is None:
        print(data.hex())
    elif args.output == "-":
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        try:
            out = Path(args.output)
            if args.hex:
                out.write_text(data.hex() + "\n", encoding="ascii")
            else:
                out.write_bytes(data)
        except OSError as exc:
            raise ConfigError(f"cannot write: {exc.strerror or exc}", path=args.output) from exc
        # As 'ouc params encode -o': a file written says so, and how much.
        form = " as hex text" if args.hex else ""
        print(f"wrote {counted(len(data), 'byte')} ({layout.name}){form} to {args.output}")
    return 0


def _read_data(args: argparse.Namespace, size: int) -> bytes:
    """The bytes to decode: --hex, or DATA holding the raw bytes or hex text.

    A data-block image can be any bytes, hex digits too, so DATA of exactly the layout's
    ``size`` is always the raw image; otherwise DATA that is hex text (what ``ouc db encode``
    prints) is read as hex, so ``ouc db encode L > d.hex; ouc db decode L d.hex`` works.
    """
    if args.hex is not None:
        return args.hex  # parsed by _types.hex_bytes
    if args.data is None:
        raise ConfigError("give the received bytes as a file (DATA, - for stdin) or --hex HEX")
    raw = read_input(args.data)
    digits = None if len(raw) == size else hex_digits(raw)
    if digits is None:
        return raw
    if len(digits) % 2:
        raise ConfigError(
            f"holds hex text of {len(digits)} digits, an odd number: two digits per byte",
            path=input_name(args.data),
        )
    return bytes.fromhex(digits)


def _decode_cmd(args: argparse.Namespace) -> int:
    one_stdin(FILE=args.file, DATA=args.data)
    layout = read_layout(args.file)
    if args.data is not None and args.hex is not None:
        raise ConfigError("give DATA or --hex, not both")
    values = layout.decode(_read_data(args, layout.size), strict=args.strict)
    if args.json:
        print(json_text(to_json(values, layout.struct_type), indent=2))
        return 0
    flat = layout.flatten(values)
    rows = [("Offset", "Name", "Data type", "Value")]
    for entry in layout.entries():
        if entry.path in flat:  # Struct and Array rows hold no value of their own
            rows.append(
                (entry.offset, entry.path, entry.type, format_value(entry.dtype, flat[entry.path]))
            )
    print(_table(rows))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc db layout|encode|decode``."""
    db = sub.add_parser(
        "db",
        help="data-block layouts: offsets, encode and decode",
        description=(
            "Standard-access data blocks: the offset table and LEN of a layout, and the bytes "
            "TSEND_C sends and TRCV_C receives. FILE is SCL source or the JSON form."
        ),
    )
    actions = db.add_subparsers(dest="db_command", metavar="ACTION")
    actions.required = True

    def add(name: str, handler: _Handler, help_text: str) -> argparse.ArgumentParser:
        parser = actions.add_parser(name, help=help_text, description=help_text)
        parser.add_argument("file", metavar="FILE", help="layout: SCL source or JSON (- for stdin)")
        parser.set_defaults(func=handler)
        return parser

    p = add("layout", _layout_cmd, "the offset table and total size (LEN) of a layout")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--no-elements", action="store_true", help="do not list array elements")

    p = add("encode", _encode_cmd, "the byte image of a layout: start values plus --set values")
    p.add_argument(
        "--set",
        action="append",
        metavar="PATH=VALUE",
        help="a value, e.g. Var2='Hello' or Motor.Speeds[2]=1.5 (repeatable)",
    )
    p.add_argument(
        "--values",
        metavar="JSON",
        help="a JSON file of values (as decode --json prints; - for stdin)",
    )
    p.add_argument("--hex", action="store_true", help="write hex text (the default on stdout)")
    p.add_argument(
        "-o",
        "--output",
        type=_types.new_file,
        metavar="OUT",
        help="write to a file (- for raw bytes on stdout)",
    )

    p = add("decode", _decode_cmd, "named values of received bytes")
    p.add_argument(
        "data",
        metavar="DATA",
        nargs="?",
        help="file with the bytes (- for stdin): raw, or hex text as encode prints it (a file of "
        "exactly the layout's size is always raw)",
    )
    p.add_argument(
        "--hex",
        type=_types.hex_bytes,
        metavar="HEX",
        help="the bytes as hex text instead of a file (spaces, colons and line breaks allowed)",
    )
    p.add_argument("--json", action="store_true", help="JSON output")
    p.add_argument(
        "--strict",
        action="store_true",
        help="also check String headers and DTL/DT weekdays, and refuse nanoseconds below the "
        "microsecond (DTL, LDT, LTOD)",
    )
