"""How ``ouc serve`` runs its endpoint: on the asyncio driver (the default) or the blocking one.

Both drivers serve the same block with the same options, behaviours and status lines; they
differ in how they hold connections. The asyncio driver (:class:`~ouc.drivers.
AsyncPassiveEndpoint`) keeps each idle TLS connection in ~25 KB on one event loop and batches
the status output once per loop iteration; the blocking driver (:class:`~ouc.drivers.
PassiveEndpoint`) serves each connection in a thread of its own. Both stop cleanly on Ctrl-C
and SIGTERM, and after ``--count`` frames.

``ouc serve --processes N`` runs :func:`serve_asyncio` / :func:`serve_blocking` in each worker
process with a :class:`WorkerShare` (:mod:`ouc.cli._workers`).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import resource
import signal
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ouc.cli._printer import Printer, SentLines, frame_printer
from ouc.conn import ConnState, FrameReceived
from ouc.db import Layout
from ouc.drivers import (
    AddressMap,
    AsyncPassiveEndpoint,
    Behaviour,
    CertsNotReloaded,
    CertsReloaded,
    EndpointSpec,
    PassiveEndpoint,
    PeerContext,
)
from ouc.drivers._aio_sock import lean_event_loop
from ouc.drivers._passive_common import ConnectionSlots
from ouc.errors import Status, format_status

__all__ = [
    "ServeJob",
    "WorkerShare",
    "on_sighup",
    "on_sigterm",
    "raise_open_files_limit",
    "serve_asyncio",
    "serve_blocking",
    "watch_certificates",
]


@dataclass(frozen=True)
class WorkerShare:
    """What a worker process of ``ouc serve --processes`` shares with the others."""

    number: int  # 1..N, named in every status line of the worker
    slots: ConnectionSlots  # the connection limit of the whole mock PLC (16#8087)
    tally: Callable[[], int]  # counts one frame, returns the total of all workers
    reached: Callable[[], None]  # --count reached: ask the supervisor to stop everything
    spread_by_cpu: int = 0  # --spread cpu: the workers' count (each takes its CPUs' peers)


@dataclass(frozen=True)
class ServeJob:
    """One ``ouc serve`` as parsed: the endpoint's setup and what to do with frames."""

    spec: EndpointSpec
    layout: Layout | None  # decodes the printed frames (None: hex)
    listen: tuple[str, int] | None
    answer: Behaviour  # --echo / --reply / receive only
    address_map: AddressMap
    max_connections: int
    count: int | None  # stop after this many frames
    as_json: bool
    partner: str | None  # the block's RemoteAddress, for the hint on refused peers
    spread: str = "auto"  # --spread: which --processes worker takes a connection
    # --control: serves the PLC controls of the started endpoint (its loop for asyncio);
    # returns what to stop() at the end, or None.
    control: Callable[[Any, asyncio.AbstractEventLoop | None], Any] = lambda endpoint, loop: None

    def printer(self, share: WorkerShare | None = None) -> Printer:
        worker = None if share is None else share.number
        insecure = self.spec.tls is not None and self.spec.tls.insecure
        return Printer(self.as_json, self.partner, worker, insecure=insecure)

    def sent_lines(self, printer: Printer) -> SentLines | None:
        """The ``sent`` lines of this job's TSEND_C jobs (None: stdout is discarded)."""
        return None if printer.discarded else SentLines(printer, self.spec)

    def options(
        self,
        printer: Printer,
        reached: Callable[[], None],
        share: WorkerShare | None,
        sent: SentLines | None = None,
    ) -> dict[str, Any]:
        """The keyword arguments of either driver's passive endpoint for this job."""
        return {
            "behaviour": self.behaviour(printer, reached, share, sent),
            "listen": self.listen,
            "address_map": self.address_map,
            "max_connections": self.max_connections,
            "on_event": None if printer.discarded else printer.record,
            "slots": None if share is None else share.slots,
            "reuse_port": share is not None,
            "spread_by_cpu": 0 if share is None else share.spread_by_cpu,
        }

    def behaviour(
        self,
        printer: Printer,
        reached: Callable[[], None],
        share: WorkerShare | None = None,
        sent: SentLines | None = None,
    ) -> Behaviour:
        """The answer, plus the frame's status line and the answer's ``sent`` line unless
        stdout is discarded, plus the ``--count`` tally: only the parts that are needed, so a
        plain echo stays a plain echo."""
        answer = self.answer
        show = None if printer.discarded else frame_printer(printer, self.spec, self.layout)
        count = self.count
        if show is None and count is None:
            return answer
        limit = sys.maxsize if count is None else count  # no frame number reaches maxsize
        if share is not None:
            tally = share.tally
            reached = share.reached
        else:
            tally = itertools.count(1).__next__  # atomic under the GIL: threads share it

        def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes | None:
            number = 0 if count is None else tally()
            if number > limit:
                return None  # past --count, e.g. in the same read: neither shown nor answered
            if show is not None:
                show(frame, peer)
            if number == limit:
                reached()
            data = answer(frame, peer)
            if sent is not None and data is not None:
                sent.answer(peer, data)
            return data

        return behaviour


def _started(endpoint: Any, sent: SentLines | None) -> Any:
    """A started endpoint as ``--control`` drives it: its REQs print ``sent`` lines (unless
    stdout is discarded), which also learn the listening address now."""
    if sent is None:
        return endpoint
    host, port = endpoint.address
    sent.local = f"{host}:{port}"
    return Requests(endpoint, sent)


class Requests:
    """A passive endpoint whose REQs (``ouc plc req``) print a ``sent`` line per connection
    the job went to, as ``ouc connect`` prints its own; everything else is the endpoint's."""

    def __init__(self, endpoint: Any, sent: SentLines) -> None:
        self._endpoint = endpoint
        self._sent = sent

    def __getattr__(self, name: str) -> Any:
        return getattr(self._endpoint, name)

    def send(self, data: bytes, length: int = 0) -> Any:
        """REQ of the server's TSEND_C on every established connection (the endpoint's
        ``send``; a coroutine for the asyncio endpoint, run on its loop like the endpoint's)."""
        if isinstance(self._endpoint, AsyncPassiveEndpoint):
            return self._send_async(data, length)
        targets = self._established()
        count: int = self._endpoint.send(data, length)
        self._show(targets, count, length or len(data))
        return count

    async def _send_async(self, data: bytes, length: int) -> int:
        targets = self._established()
        count: int = await self._endpoint.send(data, length)
        self._show(targets, count, length or len(data))
        return count

    def _established(self) -> list[PeerContext]:
        """The connections a REQ goes to: the established ones (as the endpoint's send)."""
        return [p for p in self._endpoint.peers() if p.connection.state is ConnState.CONNECTED]

    def _show(self, targets: list[PeerContext], count: int, length: int) -> None:
        if count != len(targets):
            # Some job failed (its send-failed line says so): those that TSEND_C completed.
            targets = [p for p in targets if p.connection.tsend.STATUS == Status.DONE]
        for peer in targets:
            self._sent.show(peer, length)


def raise_open_files_limit() -> None:
    """Raise the soft open-files limit to the hard one: each connection is a descriptor, and a
    mock PLC holding 10,000 connections must not stop at the usual soft limit of 1,024."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard and (hard == resource.RLIM_INFINITY or soft < hard):
        # If refused, the soft limit stays; accept() then reports 16#80C4 when it runs out.
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def watch_certificates(spec: EndpointSpec, printer: Printer) -> None:
    """Print a status line when renewed or replaced certificates reach the endpoint, and one
    (event ``certificates-failed``) when a reload fails: the endpoint then keeps serving the
    certificates it has, as a CPU does until a download succeeds (domain.md §7), and without
    the line nothing would show it."""
    certs = spec.certs
    if certs is None:
        return

    def show(change: CertsReloaded) -> None:
        doc = {
            "event": "certificates",
            "device": spec.name,
            "block": spec.block_name,
            "own_cert_id": change.own_id,
            "serial": None if change.serial is None else f"{change.serial:X}",
            "previous_serial": (
                None if change.previous_serial is None else f"{change.previous_serial:X}"
            ),
            "mode": certs.mode,
        }
        printer.line(f"{spec.name} {spec.block_name} {change.line()}", doc)

    def failed(failure: CertsNotReloaded) -> None:
        doc = {
            "event": "certificates-failed",
            "device": spec.name,
            "block": spec.block_name,
            "status": None if failure.status is None else format_status(failure.status),
            "reason": failure.reason,
            "own_cert_id": failure.own_id,
            "serial": None if failure.serial is None else f"{failure.serial:X}",
            "mode": failure.mode,
            "requested": failure.requested,
            "hint": failure.hint,
        }
        printer.line(f"{spec.name} {spec.block_name} {failure.line()}", doc)

    certs.on_reload = show
    certs.on_failure = failed


def on_sighup(spec: EndpointSpec) -> Any:
    """SIGHUP asks for a certificate reload (the "download") at the next connection; returns
    the handler to restore. The handler only sets a flag: no lock, no I/O in a signal handler."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "SIGHUP"):
        return None

    def hangup(signum: int, frame: object) -> None:
        spec.request_certificate_reload()

    return signal.signal(signal.SIGHUP, hangup)


# -- blocking driver -----------------------------------------------------------------------------


def serve_blocking(job: ServeJob, share: WorkerShare | None = None) -> int:
    """Serve on the blocking driver until ``--count`` frames, Ctrl-C or SIGTERM."""
    spec = job.spec
    printer = job.printer(share)
    watch_certificates(spec, printer)
    done = threading.Event()
    sent = job.sent_lines(printer)
    endpoint = PassiveEndpoint(spec, **job.options(printer, done.set, share, sent))
    previous = on_sigterm()
    previous_hup = on_sighup(spec)
    control = None
    status = 0
    try:
        endpoint.start()
        control = job.control(_started(endpoint, sent), None)
        done.wait()
    except KeyboardInterrupt as exc:
        status = stop_status(exc)
        if share is None:  # not a worker: the supervisor says it once for all workers
            printer.line(f"{spec.name} {spec.block_name} stopping", None)
    finally:
        if control is not None:
            control.stop()
        endpoint.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if previous_hup is not None:
            signal.signal(signal.SIGHUP, previous_hup)
    return status


INTERRUPTED = 130  # the exit status of a command stopped with Ctrl-C, as a shell reports it


class Terminated(KeyboardInterrupt):
    """SIGTERM: stop as on Ctrl-C, but the stop was asked for, so the exit status is 0."""


def stop_status(exc: KeyboardInterrupt | int) -> int:
    """The exit status after a stop: 130 for Ctrl-C (SIGINT), 0 for SIGTERM (a clean stop
    asked for, by systemd or a script)."""
    if isinstance(exc, int):
        return 0 if exc == signal.SIGTERM else INTERRUPTED
    return 0 if isinstance(exc, Terminated) else INTERRUPTED


def _interrupt(signum: int, frame: object) -> None:
    raise Terminated


def on_sigterm() -> Any:
    """Stop cleanly on SIGTERM as on Ctrl-C (main thread only); returns the handler to restore.

    The handler raises KeyboardInterrupt rather than setting an Event: taking a lock inside a
    signal handler can deadlock with the interrupted code holding it.
    """
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, _interrupt)


# -- asyncio driver ------------------------------------------------------------------------------


def serve_asyncio(job: ServeJob, share: WorkerShare | None = None) -> int:
    """Serve on the asyncio driver until ``--count`` frames, Ctrl-C or SIGTERM.

    The loop's selector is the lean one: the connections' sockets share the loop's epoll and
    are served from its ``select()`` (:class:`~ouc.drivers._aio_sock.LeanSelector`).
    """
    with asyncio.Runner(loop_factory=lean_event_loop) as runner:
        return runner.run(_serve_loop(job, share))


_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


async def _serve_loop(job: ServeJob, share: WorkerShare | None) -> int:
    loop = asyncio.get_running_loop()
    spec = job.spec
    printer = job.printer(share)
    watch_certificates(spec, printer)
    stop: asyncio.Future[int | None] = loop.create_future()  # the stop signal, None: --count

    def reached() -> None:
        if not stop.done():
            stop.set_result(None)

    def interrupted(signum: int) -> None:
        if not stop.done():
            stop.set_result(signum)

    sent = job.sent_lines(printer)
    endpoint = AsyncPassiveEndpoint(spec, **job.options(printer, reached, share, sent))
    handled = _stop_on_signals(loop, interrupted, spec.request_certificate_reload)
    printer.batch(loop)
    control = None
    status = 0
    try:
        await endpoint.start()
        control = job.control(_started(endpoint, sent), loop)
        signum = await stop
        if signum is not None:
            status = stop_status(signum)
            if share is None:  # not a worker: the supervisor says it once for all workers
                printer.line(f"{spec.name} {spec.block_name} stopping", None)
    finally:
        if control is not None:
            await loop.run_in_executor(None, control.stop)  # it joins its thread
        await endpoint.stop()
        for signum in handled:
            loop.remove_signal_handler(signum)
        printer.batch(None)  # writes what is left
    return status


def _stop_on_signals(
    loop: asyncio.AbstractEventLoop, stop: Callable[[int], None], reload: Callable[[], None]
) -> list[int]:
    """Ctrl-C and SIGTERM call ``stop(signum)``, SIGHUP ``reload`` (the certificate "download"), in
    the loop (main thread only); the signals handled."""
    if threading.current_thread() is not threading.main_thread():
        return []
    for signum in _STOP_SIGNALS:
        loop.add_signal_handler(signum, stop, signum)
    loop.add_signal_handler(signal.SIGHUP, reload)
    return [*_STOP_SIGNALS, signal.SIGHUP]
