"""What ``ouc connect`` prints besides the endpoint's records: each send, each reply, a reply
that did not come in full within ``--timeout``, and received bytes its close drops.

Every event carries the records' common fields (``block``, ``status``, ``peer``, ``local``,
``connection``, ``time``), so a script reads a ``frame`` as it reads a ``connected``.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ouc._notation import iso_time
from ouc.cli._printer import Printer, value_lines
from ouc.cli._words import counted
from ouc.conn import FrameReceived
from ouc.db import Layout
from ouc.drivers import ActiveEndpoint
from ouc.errors import OucError, Status, WaitTimeoutError, format_status

__all__ = ["Program", "no_reply", "show_event", "show_reply", "show_sent", "show_unread"]


class Program:
    """The endpoint as ``ouc plc`` drives it: a REQ prints its "sent" line like the sends of
    ``ouc connect`` itself; everything else is the endpoint's."""

    def __init__(self, endpoint: ActiveEndpoint, printer: Printer) -> None:
        self._endpoint = endpoint
        self._printer = printer

    def __getattr__(self, name: str) -> Any:
        return getattr(self._endpoint, name)

    def send(self, data: bytes, length: int = 0) -> None:
        self._endpoint.send(data, length)
        show_sent(self._printer, self._endpoint, length or len(data))


def _doc(endpoint: ActiveEndpoint, event: str, block: str, status: int) -> dict[str, Any]:
    """The fields every event of ``ouc connect`` has, as the endpoint's records have them."""
    return {
        "event": event,
        "device": endpoint.spec.name,
        "block": block,
        "status": format_status(status),
        "peer": endpoint.peer_text,
        "local": endpoint.local_address,
        "connection": endpoint.serial,
        "time": iso_time(time.time()),
    }


def show_sent(printer: Printer, endpoint: ActiveEndpoint, length: int) -> None:
    spec = endpoint.spec
    doc = None
    if printer.json:
        doc = {**_doc(endpoint, "sent", spec.block_name, Status.DONE), "len": length}
    text = f"{spec.name} {spec.block_name} 16#0000 sent {counted(length, 'byte')} (LEN {length})"
    printer.line(text, doc)


def show_event(
    printer: Printer, endpoint: ActiveEndpoint, event: Any, layout: Layout | None
) -> None:
    """A frame that came under ``--control``; a failed receive has its record line already."""
    if isinstance(event, FrameReceived):
        show_reply(printer, endpoint, event, layout)


def show_reply(
    printer: Printer, endpoint: ActiveEndpoint, event: FrameReceived, layout: Layout | None
) -> Any:
    length = event.rcvd_len
    text = f"{endpoint.spec.name} TRCV_C 16#0000 received {counted(length, 'byte')} "
    text += f"(RCVD_LEN {length})"
    doc: dict[str, Any] = {**_doc(endpoint, "frame", "TRCV_C", Status.DONE), "rcvd_len": length}
    lines: list[str]
    if layout is not None and event.rcvd_len == layout.size:
        lines, doc["values"] = value_lines(layout, event.data)
    else:
        lines = [f"  {event.data[:64].hex(' ')}{' ...' if event.rcvd_len > 64 else ''}"]
        doc["hex"] = event.data.hex()
    printer.line("\n".join([text, *lines]), doc)
    return doc


def no_reply(printer: Printer, endpoint: ActiveEndpoint, args: argparse.Namespace) -> OucError:
    """The reply did not come within --timeout: say how much of it did, print the event, and
    return the error to raise (TRCV_C itself would go on waiting in 16#7006)."""
    conn = endpoint.connection
    got = conn.buffered if conn is not None else 0
    expected = endpoint.spec.config.receive_len
    waited = f"{args.timeout:g} s"
    if got:
        reason = (
            f"{got} of {counted(expected, 'byte')} of the reply arrived in {waited}; TRCV_C "
            f"waits for all {expected} (16#7006): give --reply-len {got} for replies this long, "
            "or --adhoc to take what arrives"
        )
    else:
        reason = (
            f"no reply arrived in {waited} (TRCV_C waits in 16#7006); a partner that answers "
            "later needs a longer --timeout"
        )
    if printer.json:
        doc = _doc(endpoint, "timeout", "TRCV_C", Status.RECEIVING)
        printer.line("", {**doc, "reason": reason, "size": got, "seconds": args.timeout})
    return WaitTimeoutError(reason)


def show_unread(printer: Printer, endpoint: ActiveEndpoint, args: argparse.Namespace) -> None:
    """Before our close: received bytes nobody read are dropped by it (as by TRCV_C), so say
    how many — a reply longer than --reply-len, or more replies than were read."""
    if not endpoint.connected:
        return
    try:
        unread = endpoint.unread()
    except OucError:
        return  # the connection broke: its record says so
    conn = endpoint.connection
    if not unread or conn is None:
        return
    why = "more replies than were read"
    if not args.adhoc:
        why = f"a reply longer than --reply-len {endpoint.spec.config.receive_len}, or " + why
    reason = f"{counted(unread, 'byte')} received and not read are dropped by the close ({why}?)"
    spec = endpoint.spec
    doc = None
    if printer.json:
        doc = {**_doc(endpoint, "unread", "TRCV_C", conn.trcv.STATUS), "size": unread}
        doc["reason"] = reason
    status = format_status(conn.trcv.STATUS)
    printer.line(f"{spec.name} TRCV_C {endpoint.peer_text} {status} unread - {reason}", doc)
