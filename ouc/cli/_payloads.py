"""What ``ouc serve`` and ``ouc connect`` send, checked before they listen or connect.

TSEND_C sends 1 byte at least and at most the device's largest LEN in one job (16#8085 outside
that range, domain.md §2), so data it could not send is refused up front, naming the option
that gave it: a ``--reply`` of serve as a ``--file`` of connect. Without that, serve would
listen and fail every answer with 16#8085, and connect would blame a reply LEN derived from
the data's length.
"""

from __future__ import annotations

import argparse

from ouc.cli._db import _values as db_values
from ouc.cli._inputs import read_input, read_layout
from ouc.cli._words import counted
from ouc.db import Layout
from ouc.device import Device
from ouc.drivers import Behaviour, echo, receive_only, reply, send_data_layout
from ouc.errors import ConfigError, Status

__all__ = ["answer", "check_len", "payload", "sendable"]


def answer(args: argparse.Namespace, device: Device) -> Behaviour:
    """What serve sends back; a ``--reply``/``--reply-hex`` its TSEND_C could not send (no
    bytes, more than the device's LEN) is refused before it listens, as connect refuses it."""
    if args.echo:
        return echo()
    if args.reply is not None:
        return reply(sendable(read_input(args.reply, "--reply"), "--reply", device))
    if args.reply_hex is not None:
        return reply(sendable(args.reply_hex, "--reply-hex", device))
    return receive_only()


def sendable(data: bytes, option: str, device: Device) -> bytes:
    """The bytes ``option`` gave, refused before connecting or listening when TSEND_C could
    not send them in one job: none (LEN is 1 at least) or more than the device's largest LEN
    (both 16#8085, domain.md §2)."""
    limit = device.max_send_len
    if not data:
        raise ConfigError(
            "gives no bytes to send; TSEND_C sends 1 byte at least",
            status=Status.LEN_INVALID,
            path=option,
        )
    if len(data) > limit:
        raise ConfigError(
            f"gives {counted(len(data), 'byte')}, more than TSEND_C sends in one job on an "
            f"{device.family.value} (LEN 1..{limit}); send less",
            status=Status.LEN_INVALID,
            path=option,
        )
    return data


def payload(args: argparse.Namespace, device: Device) -> tuple[bytes, Layout | None]:
    """The data to send, checked against TSEND_C's LEN range before the reply's LEN is
    derived from its length (so a too large --file is the --file's error)."""
    sources = [x for x in (args.hex, args.file) if x is not None]
    if len(sources) > 1 or (sources and (args.db or args.set)):
        raise ConfigError("give one of --db (with --set), --hex or --file")
    if args.hex is not None:
        return sendable(args.hex, "--hex", device), None
    if args.file is not None:
        return sendable(read_input(args.file, "--file"), "--file", device), None
    layout = read_layout(args.db, "--db") if args.db else send_data_layout()
    args.values = None  # ``ouc db``'s value reader also knows --values; not offered here
    data = layout.encode(db_values(args))
    return sendable(data, "--db", device), layout


def check_len(length: int | None, size: int, device: Device) -> None:
    """``--len`` checked before connecting, as TSEND_C checks it on REQ (16#8085 outside the
    CPU's range, 16#8088 larger than the data)."""
    limit = device.max_send_len
    if not length:
        return
    if length > limit:
        raise ConfigError(
            f"LEN {length} is outside 1..{limit} on an {device.family.value}",
            status=Status.LEN_INVALID,
            path="--len",
        )
    if length > size:
        raise ConfigError(
            f"LEN {length} is larger than the {counted(size, 'byte')} of data to "
            f"send; give --len {size} or less, or more data",
            status=Status.RECEIVE_AREA_TOO_SMALL,
            path="--len",
        )
