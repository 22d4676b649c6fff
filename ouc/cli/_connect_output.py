"""What ``ouc connect`` prints besides the endpoint's records: each send, each reply, a reply
that did not come in full within ``--timeout``, received bytes its close drops, both blocks'
STATUS sequences at the end, and a first connect that failed with what to do about it (under
``--control`` the attempts go on, as TSEND_C's with CONT = 1 do).

Every event carries the records' common fields (``block``, ``status``, ``peer``, ``local``,
``connection``, ``time``), so a script reads a ``frame`` as it reads a ``connected``.
"""

from __future__ import annotations

import argparse
import threading
import time
from typing import Any

from cryptography import x509

from ouc._notation import iso_time, sequence_text, status_list
from ouc.cli._printer import Printer, value_lines
from ouc.cli._words import counted
from ouc.conn import TABLE, BlockEvent, ConnState, FrameReceived
from ouc.db import Layout
from ouc.drivers import (
    ActiveEndpoint,
    AddressMap,
    EndpointRecord,
    EndpointSpec,
    RecordKind,
    sequences_of,
)
from ouc.errors import (
    OucConnectionError,
    OucError,
    Status,
    TLSError,
    WaitTimeoutError,
    format_status,
)

__all__ = [
    "Program",
    "establish",
    "first_connect",
    "no_reply",
    "plant_hint",
    "show_event",
    "show_reply",
    "show_sent",
    "show_sequences",
    "show_unread",
]


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


def show_sequences(printer: Printer, endpoint: ActiveEndpoint) -> None:
    """Both blocks' STATUS sequences at the end, also of an establishment that failed before
    any connection existed (the TCP connect refused or timed out: 16#80C4)."""
    spec = endpoint.spec
    conn = endpoint.connection
    if conn is not None:
        sequences = {b: status_list(endpoint.format_sequence(b)) for b in sequences_of(conn)}
    elif endpoint.last_error is not None and endpoint.last_error.status is not None:
        sequences = _unconnected_sequences(endpoint.last_error.status)
    else:
        return
    text = "\n".join(f"{spec.name} {b} STATUS: {sequence_text(s)}" for b, s in sequences.items())
    printer.line(text, {"event": "sequences", "device": spec.name, "sequences": sequences})


def _unconnected_sequences(status: int) -> dict[str, list[str]]:
    """The blocks' STATUS sequences when establishing failed with ``status`` before the core
    had a connection (no TCP connection, so no history): what the core's table gives for the
    initial call (CONT 0→1: 7001, 7002) and the failure, after 7000 (TIA help "TSEND_C": 7002
    while the connection is being established, then the error)."""
    start = TABLE[(ConnState.IDLE, BlockEvent.CONT_ON)]
    failed = TABLE[(start.next, BlockEvent.FAILED)]
    sequences = {}
    for block, before, after in (
        ("TSEND_C", start.tsend, failed.tsend),
        ("TRCV_C", start.trcv, failed.trcv),
    ):
        # A negative value is the table's stand-in for the status the failure carries.
        values = [Status.NO_JOB, *before, *(status if v < 0 else v for v in after)]
        sequences[block] = [format_status(v) for v in values]
    return sequences


def establish(endpoint: ActiveEndpoint, args: argparse.Namespace, printer: Printer) -> bool:
    """Set up the connection; whether it is up.

    Without ``--control`` one attempt, and its failure is the command's error (with what to do
    about it). Under ``--control`` the program runs with CONT = 1, and TSEND_C keeps trying to
    establish the connection until CONT goes to 0 or the CPU stops (TIA help "TSEND_C": CONT
    = 1 keeps the connection and establishes it; 7002 on every further attempt): the first
    failure is printed once with its hints, then each attempt's lines, after a back-off that
    doubles from the endpoint's ``retry_delay`` up to its ``max_retry_delay``, as its own
    re-establishment after a drop. Ctrl-C ends; ``ouc plc ... cont 0`` stops the attempts
    (False: not connected, the program goes on under control).
    """
    try:
        first_connect(endpoint, args)
        return True
    except (OucConnectionError, TLSError) as exc:
        if args.control is None:
            raise
        printer.line(
            f"ouc connect: {exc}; CONT stays 1 under --control, so TSEND_C keeps trying (Ctrl-C "
            f"ends, 'ouc plc --control {args.control} cont 0' stops trying)",
            None,
        )
        error: OucError = exc
    pause = threading.Event()  # never set: an interruptible wait (Ctrl-C, SIGTERM)
    delay = 0.0
    while endpoint.cont and endpoint.cpu_running and not endpoint.connected:
        delay = min(endpoint.max_retry_delay, max(endpoint.retry_delay, delay * 2))
        spec = endpoint.spec
        retry = EndpointRecord(
            RecordKind.RETRYING,
            spec.name,
            spec.block_name,
            int(error.status or Status.TEMPORARY),
            peer=endpoint.peer_text,
            reason=f"next attempt in {delay:g} s",
        )
        printer.record(retry)
        pause.wait(delay)
        if not (endpoint.cont and endpoint.cpu_running):
            break
        try:
            endpoint.connect()
        except (OucConnectionError, TLSError) as exc:
            error = exc
    return endpoint.connected


def first_connect(endpoint: ActiveEndpoint, args: argparse.Namespace) -> None:
    try:
        endpoint.connect()
    except OucConnectionError as exc:
        if exc.status == Status.PARTNER_CLOSED:
            # A PLC resets a partner that is not its RemoteAddress, and one over its connection
            # limit, before any TLS byte (16#80C9 / 16#8087 on its side); all this side sees is
            # the reset. Say what would get past it.
            why = "if the partner is at its connection limit (16#8087 on its side), close one"
            partner = partner_hint(endpoint, args)
            if partner:
                why += "; if it refused this device as its partner (16#80C9 on its side), "
                why += partner
            raise OucConnectionError(f"{exc.message}; {why}", status=exc.status) from exc
        if args.to is not None or args.map:
            raise
        host, port = endpoint.target()
        raise OucConnectionError(
            f"{exc.message}; to reach a mock PLC on this host: --to 127.0.0.1:{port} "
            f"or --map {host}=127.0.0.1",
            status=exc.status,
        ) from exc


def partner_hint(endpoint: ActiveEndpoint, args: argparse.Namespace) -> str:
    """What gets this device past a partner check that may have refused it ("" when the
    options already say where it connects from: a ``--bind``, or an ``--own-ip`` that
    ``--map`` runs on this host)."""
    if args.bind is not None:
        return ""
    if not args.own_ip:
        plant = plant_hint(endpoint.spec)
        return (
            "connect from the plant address it expects: against a mock PLC on this host "
            f"--own-ip {plant} --map {plant}=127.0.0.2, against a real one from the address its "
            "RemoteAddress names"
        )
    own = args.own_ip[0]
    if AddressMap.parse(list(args.map or ())).to_local(own, 0)[0] != own:
        return ""
    return (
        f"--own-ip {own} is not run on this host by a --map, so this device connected from "
        "whatever address the system chose: against a mock PLC on this host add the --map "
        f"that the mock PLC has for it, e.g. --map {own}=127.0.0.2, against a real one --bind "
        f"{own} on a host that has that address"
    )


def plant_hint(spec: EndpointSpec) -> str:
    """The plant address to suggest for this device: its certificate's first IP SAN, if any
    (``ouc connect`` and ``ouc load`` name it when a partner check may have refused them)."""
    cert = spec.resolved.own_cert if spec.resolved is not None else None
    if cert is not None:
        try:
            ips = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        except x509.ExtensionNotFound:
            ips = None
        addresses = ips.get_values_for_type(x509.IPAddress) if ips is not None else []
        if addresses:
            return str(addresses[0])
    return "PLANT_IP"
