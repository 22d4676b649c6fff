"""The status output of ``ouc serve`` and ``ouc connect``: status lines or JSON lines.

:class:`Printer` builds only the form that is printed, batches the lines of an event loop into
one write per iteration, and names the worker process in the merged stream of
``ouc serve --processes``. :func:`frame_printer` is the line printed per received frame.
"""

from __future__ import annotations

import asyncio
import io
import os
import select
import stat
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ouc._notation import iso_time
from ouc.cli._words import counted
from ouc.conn import ConnState, FrameReceived
from ouc.db import Layout, format_value, json_text, to_json
from ouc.drivers import EndpointRecord, EndpointSpec, PeerContext, RecordKind
from ouc.errors import OucError

__all__ = [
    "INSECURE_TEXT",
    "Printer",
    "SentLines",
    "frame_printer",
    "output_discarded",
    "value_lines",
    "whole_lines",
]


#: The records that start an endpoint's work: the first line a user reads.
_STARTS = frozenset({RecordKind.LISTENING, RecordKind.CONNECTING})
#: Connection states in which TSEND_C takes a job (``Connection.send``).
_SENDS = frozenset({ConnState.CONNECTED, ConnState.HALF_CLOSED})
#: How a status line says that peer verification is off (as a connected line's TLS text does).
INSECURE_TEXT = "INSECURE (verification off)"


class Printer:
    """Prints status lines or JSON lines (endpoint threads print too).

    Only the form that is printed is built (``--json``: the dict, else the line). A serving
    event loop calls :meth:`batch`: lines then collect and go out in one write per loop
    iteration instead of one write and flush per line. In a merged stream of several worker
    processes (``worker`` set) each line names its worker and each write is whole lines of at
    most ``PIPE_BUF`` bytes, so lines of different workers never interleave.
    """

    def __init__(
        self,
        as_json: bool,
        partner: str | None = None,
        worker: int | None = None,
        *,
        merged: bool = False,
        insecure: bool = False,
    ) -> None:
        self.json = as_json
        self.insecure = insecure  # --insecure: the endpoint's first line says so
        self.partner = partner  # the block's RemoteAddress, for the hint on refused peers
        self.worker = worker
        self.merged = merged or worker is not None  # other processes write to stdout too
        self._lock = threading.Lock()
        self._pending: list[str] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    @property
    def discarded(self) -> bool:
        """stdout is /dev/null: nobody reads the lines, so nothing needs to be built."""
        return output_discarded(sys.stdout)

    def batch(self, loop: asyncio.AbstractEventLoop | None) -> None:
        """Collect lines and write them once per iteration of ``loop`` (None: write each)."""
        self.flush()
        self._loop = loop

    def line(self, text: str, doc: dict[str, Any] | None = None) -> None:
        """Print ``text``, or ``doc`` as one JSON line with ``--json``. A line without a JSON
        form is for humans: with ``--json`` it goes to stderr, so stdout stays JSON only."""
        if self.json:
            if doc is None:
                print(text, file=sys.stderr, flush=True)
                return
            if self.worker is not None:
                doc = {"worker": self.worker, **doc}
            text = json_text(doc)
        elif self.worker is not None:
            text = f"[worker {self.worker}] {text}"
        self._out(text + "\n")

    def record(self, record: EndpointRecord) -> None:
        if self.insecure and record.kind in _STARTS:
            self._insecure_record(record)
            return
        if self.json:
            self.line("", record.to_json())
            return
        text = record.line()
        if record.kind is RecordKind.REFUSED and record.peer and self.partner:
            local = record.peer.rsplit(":", 1)[0]
            text += f"; to accept it as the partner: --map {self.partner}={local}"
        self.line(text)

    def _insecure_record(self, record: EndpointRecord) -> None:
        """A listening or connecting line of an endpoint with verification switched off says
        so, as its connected lines do (``INSECURE (verification off)``; JSON ``insecure``)."""
        if self.json:
            self.line("", {**record.to_json(), "insecure": True})
        else:
            self.line(f"{record.line()} {INSECURE_TEXT}")

    def _out(self, text: str) -> None:
        loop = self._loop
        if loop is None:
            with self._lock:
                self._write([text])
            return
        pending = self._pending
        if not pending:
            loop.call_soon(self.flush)
        pending.append(text)

    def flush(self) -> None:
        """Write what :meth:`batch` collected."""
        pending = self._pending
        if pending:
            self._pending = []
            with self._lock:
                self._write(pending)

    def _write(self, texts: list[str]) -> None:
        if not self.merged:
            out = sys.stdout
            try:
                out.write("".join(texts))
            except UnicodeEncodeError:
                # One line the stream cannot encode must not cost the others: each is written
                # on its own, one that fails with backslash escapes (\udc80), never dropped.
                for text in texts:
                    try:
                        out.write(text)
                    except UnicodeEncodeError:
                        out.write(_encodable(text, out.encoding))
            out.flush()
            return
        sys.stdout.flush()
        fd = sys.stdout.fileno()
        for chunk in whole_lines(texts, select.PIPE_BUF):
            os.write(fd, chunk)


def output_discarded(stream: Any) -> bool:
    """Whether ``stream`` writes to /dev/null."""
    try:
        mode = os.fstat(stream.fileno())
        null = os.stat(os.devnull)
    except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
        return False
    return stat.S_ISCHR(mode.st_mode) and mode.st_rdev == null.st_rdev


def _encodable(text: str, encoding: str | None) -> str:
    """``text`` with what ``encoding`` (a stream's; None: UTF-8) cannot encode as backslash
    escapes (``\\ud83d``, ``\\xe4``)."""
    codec = encoding or "utf-8"
    return text.encode(codec, "backslashreplace").decode(codec)


def whole_lines(texts: list[str], limit: int) -> Iterator[bytes]:
    """``texts`` encoded as chunks of at most ``limit`` bytes that never split one text (a
    text longer than ``limit`` is a chunk of its own)."""
    chunk = bytearray()
    for text in texts:
        data = text.encode("utf-8", "backslashreplace")  # a bad line is escaped, never lost
        if chunk and len(chunk) + len(data) > limit:
            yield bytes(chunk)
            chunk.clear()
        chunk += data
    if chunk:
        yield bytes(chunk)


def value_lines(layout: Layout, data: bytes) -> tuple[list[str], Any]:
    """``Var1 = TRUE`` lines and the JSON values of ``data`` decoded with ``layout``."""
    values = layout.decode(data)
    flat = layout.flatten(values)
    lines = [
        f"  {entry.path} = {format_value(entry.dtype, flat[entry.path])}"
        for entry in layout.entries()
        if entry.path in flat
    ]
    return lines, to_json(values)


def frame_printer(
    printer: Printer, spec: EndpointSpec, layout: Layout | None
) -> Callable[[FrameReceived, PeerContext], None]:
    """The behaviour part that prints one received frame (decoded with ``layout``, else hex)."""
    device, block = spec.name, spec.block_name

    def show(frame: FrameReceived, peer: PeerContext) -> None:
        where = f"{peer.address}:{peer.port}"
        lines: list[str] = []
        if printer.json:
            doc: dict[str, Any] = {
                "event": "frame",
                "device": device,
                "block": block,
                "status": "16#0000",  # TRCV_C: a receive completed (RCVD_LEN)
                "peer": where,
                "connection": peer.serial,
                "time": iso_time(time.time()),
                "rcvd_len": frame.rcvd_len,
            }
            if layout is None:
                doc["hex"] = frame.data.hex()
            else:
                try:
                    _, doc["values"] = value_lines(layout, frame.data)
                except OucError as exc:
                    doc["error"] = str(exc)
            printer.line("", doc)
            return
        text = f"{device} {block} {where} 16#0000 received {counted(frame.rcvd_len, 'byte')} "
        text += f"(RCVD_LEN {frame.rcvd_len})"
        if layout is not None:
            try:
                lines, _ = value_lines(layout, frame.data)
            except OucError as exc:
                lines = [f"  cannot decode as {layout.name}: {exc}"]
        else:
            preview = frame.data[:32].hex(" ")
            lines = [f"  {preview}{' ...' if frame.rcvd_len > 32 else ''}"]
        printer.line("\n".join([text, *lines]))

    return show


class SentLines:
    """The ``sent`` lines of ``ouc serve``: one per TSEND_C job of the mock PLC, an answer of
    ``--echo``/``--reply`` or a REQ from ``ouc plc``, with the fields of ``ouc connect``'s.

    Made only when lines are printed (``ouc serve`` with stdout discarded builds none, so a
    plain echo stays a plain echo). ``local`` is the listening address, known once the
    endpoint is started.
    """

    __slots__ = ("_device", "_limit", "_printer", "local")

    def __init__(self, printer: Printer, spec: EndpointSpec) -> None:
        self._printer = printer
        self._device = spec.name
        self._limit = spec.device.max_send_len
        self.local: str | None = None

    def answer(self, peer: PeerContext, data: bytes) -> None:
        """The behaviour answered a frame with ``data``: the driver hands it to TSEND_C at once.
        A job TSEND_C refuses (the connection ended, 16#80A3; LEN beyond the device's limit,
        16#8085, as ``Connection.send`` checks them) is the driver's ``send-failed`` line
        instead."""
        size = len(data)
        if peer.connection.state in _SENDS and 0 < size <= self._limit:
            self.show(peer, size)

    def show(self, peer: PeerContext, length: int) -> None:
        """One job of ``length`` bytes (LEN) handed to the connection with ``peer``."""
        printer = self._printer
        where = f"{peer.address}:{peer.port}"
        if printer.json:
            doc = {
                "event": "sent",
                "device": self._device,
                "block": "TSEND_C",
                "status": "16#0000",  # TSEND_C: DONE, the job was handed to the stack
                "peer": where,
                "local": self.local,
                "connection": peer.serial,
                "time": iso_time(time.time()),
                "len": length,
            }
            printer.line("", doc)
            return
        text = f"{self._device} TSEND_C {where} 16#0000 sent {counted(length, 'byte')}"
        printer.line(f"{text} (LEN {length})")
