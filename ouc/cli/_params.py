"""``ouc params``: decode, encode and check TCON connection descriptions.

* ``ouc params decode FILE | --hex HEX [--type T] [--json] [--lenient]`` prints the TIA-style
  table (offset, field, type, value) or the TIA-view JSON;
* ``ouc params encode FILE.json [-o OUT.bin] [--bool-form bits]`` writes the binary image (raw
  on stdout with ``-o -``), or prints it as hex without ``-o``; ``-o`` naming FILE is refused;
* ``ouc params check FILE [--family S7-1500 --firmware V3.1 --own-ip IP --ports-in-use P,..
  --id N --cert-ids 3,9,11 --no-web-server --no-opc-ua --no-profinet --udt65-lengths --json]``
  lists the findings with their status codes and the ports the device's switched-on services
  hold (16#80A2); exit 1 when any finding.

Any bad input (file, hex, number, type) is one ``ouc: error: ...`` line on stderr and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ouc.cli import _types
from ouc.cli._inputs import STDIN, input_name, not_an_input, read_block
from ouc.cli._words import counted
from ouc.device import SYSTEM_SERVICES, Device
from ouc.errors import ConfigError, format_status
from ouc.params import (
    Block,
    BoolForm,
    build,
    describe,
    dump_json,
    parse,
    validate,
)

__all__ = ["register"]


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc params`` with its three actions."""
    parser = sub.add_parser(
        "params",
        help="decode, encode and check TCON parameter blocks",
        description="Decode, encode and check TCON connection descriptions (CONNECT blocks).",
    )
    actions = parser.add_subparsers(dest="params_action", metavar="ACTION")
    actions.required = True

    decode = actions.add_parser(
        "decode",
        help="show a block as a TIA-style table or JSON",
        description="Show a CONNECT block as TIA shows it: offset, field, type and value of "
        "every field (or the TIA-view JSON with --json). The block type is detected from the "
        "length unless --type names it.",
    )
    source = decode.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "file", nargs="?", help="a block file: JSON, hex text or the binary image (- for stdin)"
    )
    source.add_argument(
        "--hex",
        type=_types.hex_bytes,
        metavar="HEX",
        help="the block's bytes as hex (spaces and colons allowed)",
    )
    decode.add_argument("--type", help="the block type (default: detected from the length)")
    decode.add_argument("--json", action="store_true", help="print the TIA-view JSON instead")
    decode.add_argument(
        "--lenient",
        action="store_true",
        help="accept stray bits, non-zero reserved bytes and stale String characters",
    )
    decode.set_defaults(func=_decode)

    encode = actions.add_parser(
        "encode",
        help="write a JSON block as its binary image",
        description="Write a block (TIA-view JSON, or a binary image or hex text to re-encode) "
        "as the bytes the CPU reads: to a file with -o (raw on stdout with -o -), else as hex "
        "on stdout.",
    )
    encode.add_argument(
        "file", help="a block file (JSON, or hex text or binary to re-encode; - for stdin)"
    )
    encode.add_argument(
        "-o",
        "--output",
        type=_types.new_file,
        help="write the bytes to this file (- for raw bytes on stdout; default: hex on stdout)",
    )
    encode.add_argument(
        "--bool-form",
        choices=["bytes", "bits"],
        help="SEC blocks: store the two Bools as bytes 16/17 or as bits 16.0/16.1",
    )
    encode.set_defaults(func=_encode)

    check = actions.add_parser(
        "check",
        help="validate a block; exit 1 when a rule is broken",
        description="Check a block against the rules the CPU applies when TSEND_C/TRCV_C/TCON "
        "start it, for one CPU family and firmware: each broken rule is a finding with the "
        "STATUS the instruction would show. Exit 0: no findings; 1: findings; 2: bad input.",
    )
    check.add_argument(
        "file", help="a block file: JSON, hex text or the binary image (- for stdin)"
    )
    check.add_argument(
        "--family", default="S7-1500", type=_types.family, help="S7-1200 or S7-1500 (S7-1500)"
    )
    check.add_argument(
        "--firmware", default="V3.1", type=_types.firmware, help="firmware version (V3.1)"
    )
    check.add_argument(
        "--own-ip",
        action="append",
        default=[],
        metavar="IP",
        help="the CPU's own IPv4 address (repeatable)",
    )
    check.add_argument(
        "--ports-in-use",
        metavar="PORT,...",
        help="local ports already taken, 1..65535: 2000,2001",
    )
    check.add_argument(
        "--id",
        metavar="N",
        help=f"the ID input of the instruction, 1..{_types.MAX_CONN_ID} "
        "(16#80B8 when it differs from the block's)",
    )
    check.add_argument(
        "--cert-ids",
        metavar="ID,...",
        help="certificate IDs in the device's store: 3,9,11 (16#80ED for one the block names "
        "and the store lacks)",
    )
    for service in SYSTEM_SERVICES:
        if service.setting is None:
            continue
        ports = "/".join(str(p) for p in service.ports)
        label = " (inferred)" if service.inferred else ""
        check.add_argument(
            "--" + service.setting.replace("_", "-"),
            action=argparse.BooleanOptionalAction,
            default=True,
            help=f"the CPU's {service.name} is on: it holds {ports}{label}, 16#80A2 "
            "(default: on, so a block that passes is valid whatever the CPU switched on)",
        )
    check.add_argument(
        "--udt65-lengths",
        action="store_true",
        help="TCON_Param: also apply the UDT 65 length table (16#80B7; a wrong block_length "
        "is then 16#80B7, not 16#809A). Inferred from a third-party copy of Siemens' table",
    )
    check.add_argument("--json", action="store_true", help="print the findings as JSON")
    check.set_defaults(func=_check)


def _read(args: argparse.Namespace) -> Block:
    strict = not getattr(args, "lenient", False)
    if getattr(args, "hex", None) is not None:
        return parse(args.hex, args.type, strict=strict)
    return read_block(args.file, getattr(args, "type", None), strict=strict)


def _decode(args: argparse.Namespace) -> int:
    block = _read(args)
    if args.json:
        sys.stdout.write(dump_json(block))
        return 0
    rows = describe(block)
    form = getattr(block, "bool_form", None)
    at = next((int(r.offset.split(".")[0]) for r in rows if r.path == "ActivateSecureConn"), 0)
    note = ""
    if form is BoolForm.BITS:
        note = f", Bools bit-packed in byte {at} (bits .0 and .1)"
    elif form is BoolForm.BYTES:
        note = f", Bools as bytes {at} and {at + 1}"
    print(f"{block.type_name}, {counted(block.size, 'byte')}{note}")
    table = [("offset", "field", "type", "value")]
    for row in rows:
        name = "  " * row.path.count(".") + row.path.rsplit(".", 1)[-1]
        table.append((row.offset, name, row.tia_type, row.value))
    widths = [max(len(r[i]) for r in table) for i in range(3)]
    for r in table:
        print(f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip())
    return 0


def _encode(args: argparse.Namespace) -> int:
    not_an_input(args.output, FILE=args.file)
    block = read_block(args.file)
    form = None if args.bool_form is None else BoolForm(args.bool_form.upper())
    data = build(block, form)
    if args.output is None:
        print(data.hex())
        return 0
    if args.output == STDIN:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return 0
    try:
        Path(args.output).write_bytes(data)
    except OSError as exc:
        raise ConfigError(f"cannot write: {exc.strerror or exc}", path=args.output) from exc
    print(f"wrote {counted(len(data), 'byte')} ({block.type_name}) to {args.output}")
    return 0


#: What each list option holds and its range: a port no TCP connection can use, an ID the
#: instruction cannot have or a certificate ID no store can hold is a typing error, not a finding.
_RANGES = {
    "--ports-in-use": ("a port", 1, 65535),
    "--id": ("the ID", 1, _types.MAX_CONN_ID),
    "--cert-ids": ("a certificate ID", 1, _types.MAX_CERT_ID),
}


def _numbers(text: str | None, option: str) -> list[int]:
    """``"2000, 2001"`` or ``"16#7D0"`` → ints in the option's range (:data:`_RANGES`);
    ConfigError naming the option otherwise."""
    what, low, high = _RANGES[option]
    values: list[int] = []
    for item in (text or "").replace(";", ",").split(","):
        item = item.strip()
        if not item:
            continue
        try:
            value = int(item[3:], 16) if item.startswith("16#") else int(item)
        except ValueError:
            raise ConfigError(f"{item!r} is not a number", path=option) from None
        if not low <= value <= high:
            raise ConfigError(f"{what} must be {low}..{high}, got {item}", path=option)
        values.append(value)
    return values


def _given(option: str, *values: str | None) -> None:
    """An option given with no value at all (``--own-ip ''``) is refused: left out silently,
    the check would pass for a device that was never described."""
    if any(value is not None and not value.replace(",", "").strip() for value in values):
        raise ConfigError(
            f"is empty; give a value (see 'ouc params check --help') or leave {option} out",
            path=option,
        )


def _check(args: argparse.Namespace) -> int:
    _given("--own-ip", *args.own_ip)
    _given("--ports-in-use", args.ports_in_use)
    _given("--id", args.id)
    own = tuple(a.strip() for item in args.own_ip for a in item.split(",") if a.strip())
    settings = {s.setting: getattr(args, s.setting) for s in SYSTEM_SERVICES if s.setting}
    device = Device.from_text(args.family, args.firmware, own_addresses=own, **settings)
    block_ids = _numbers(args.id, "--id")
    if len(block_ids) > 1:
        raise ConfigError("give one ID", path="--id")
    block = read_block(args.file)
    findings = validate(
        block,
        device=device,
        block_id=block_ids[0] if block_ids else None,
        ports_in_use=_numbers(args.ports_in_use, "--ports-in-use"),
        cert_ids=None if args.cert_ids is None else _numbers(args.cert_ids, "--cert-ids"),
        udt65_lengths=args.udt65_lengths,
    )
    where = f"{block.type_name} on {device.family.value} {device.firmware_text}"
    if args.json:
        report = {
            "file": input_name(args.file),
            "type": block.type_name,
            "family": device.family.value,
            "firmware": device.firmware_text,
            "system_ports": _system_ports(device),
            "findings": [
                {
                    "path": f.path,
                    "status": format_status(f.status),
                    "rule": f.rule,
                    "message": f.message,
                }
                for f in findings
            ],
        }
        print(json.dumps(report, indent=2))
    else:
        if not findings:
            print(f"{input_name(args.file)}: {where}: OK, no findings")
        else:
            count = f"{len(findings)} finding{'s' if len(findings) > 1 else ''}"
            print(f"{input_name(args.file)}: {where}: {count}")
            for f in findings:
                print(f"  {format_status(f.status)}  {f.path}: {f.message}")
        print("Ports the system holds (16#80A2), by device setting:")
        for row in _system_ports(device):
            ports = ", ".join(str(p) for p in row["ports"])
            state = "always" if row["setting"] is None else "on" if row["on"] else "off"
            flag = "" if row["setting"] is None else f" ({row['flag']})"
            if row["setting"] is not None and not row["on"]:
                flag = f" (--no-{row['flag'][2:]})"
            inferred = "  [inferred]" if row["inferred"] else ""
            print(f"  {ports:<19}  {row['service']:<29}  {state}{flag}{inferred}")
    return 1 if findings else 0


def _system_ports(device: Device) -> list[dict[str, Any]]:
    """Each port-holding service, whether this device has it on, and where its ports come from."""
    on = device.services
    return [
        {
            "service": s.name,
            "ports": list(s.ports),
            "setting": s.setting,
            "flag": None if s.setting is None else "--" + s.setting.replace("_", "-"),
            "on": s in on,
            "inferred": s.inferred,
            "source": s.source,
        }
        for s in SYSTEM_SERVICES
    ]
