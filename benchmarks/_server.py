"""The benchmark server process: listeners of every stack, in a process of their own.

Socket benchmarks run their servers in a separate process started with multiprocessing's
``spawn`` method, so client and server do not share a GIL (a real peer would not). One server
process hosts many listeners; the client process asks for them over a pipe:

- ``listen(spec) -> port``: open a listener on 127.0.0.1 port 0 of ``spec.kind`` (see
  :data:`SERVER_KINDS`) that serves connections in ``spec.mode``;
- ``cpu() -> seconds``: the process's CPU time, so a case can add the server's CPU to its own;
- ``rss() -> bytes`` and ``wait_connections(port, n)`` for the memory-per-connection cases.

Only one case runs at a time, so idle listeners of other cases cost nothing measurable. Modes use
one wire protocol on every stack (later the ouc endpoints too): ``echo`` sends back whatever
arrives; ``sink`` reads and answers one byte ``0x06`` per ``spec.unit`` bytes received, which lets
a one-way sender measure when its data has really arrived; ``idle`` holds the connection.
"""

from __future__ import annotations

import asyncio
import gc
import multiprocessing
import os
import resource
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any

from OpenSSL import SSL

from benchmarks._stacks import TLSConfig, pyopenssl_context, ssl_context
from ouc.errors import ConfigError, OucConnectionError, Status, WaitTimeoutError

__all__ = [
    "ACK",
    "SERVER_KINDS",
    "ListenSpec",
    "ListenerStats",
    "ServerProcess",
    "event_loop",
    "raise_nofile_limit",
    "rss_bytes",
    "serve",
]

ACK = b"\x06"
_MODES = ("echo", "sink", "idle")
_TLS_BUFFER = 16384  # one TLS record of plaintext at most
_TCP_BUFFER = 262144


@dataclass(frozen=True)
class ListenSpec:
    """What a listener serves (picklable).

    Attributes:
        kind: a key of :data:`SERVER_KINDS` ("pyopenssl", "ssl", "tcp", "asyncio-tls", ...).
        mode: "echo", "sink" or "idle".
        tls: the TLS configuration for TLS kinds, None for plain TCP.
        unit: sink mode: answer one ACK byte per ``unit`` bytes received.
        workers: blocking kinds: threads accepting and serving connections (1 = sequential).
    """

    kind: str
    mode: str
    tls: TLSConfig | None = None
    unit: int = 0
    workers: int = 1

    def __post_init__(self) -> None:
        if self.mode not in _MODES:
            raise ConfigError(f"server mode {self.mode!r} is not one of {_MODES}")
        if self.mode == "sink" and self.unit <= 0:
            raise ConfigError("sink mode needs a positive unit")


class ListenerStats:
    """Counts connections whose handshake completed; lets the client wait for a number."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.connections = 0

    def connected(self) -> None:
        with self._cond:
            self.connections += 1
            self._cond.notify_all()

    def wait(self, count: int, timeout: float) -> int:
        with self._cond:
            self._cond.wait_for(lambda: self.connections >= count, timeout)
            return self.connections


# A server kind opens a listener for a spec, starts serving in the background, returns its port.
ServerKind = Callable[[ListenSpec, ListenerStats], int]


def _listen_socket() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(4096)
    return sock


class _Stream:
    """The two calls the serve loops need, bound to one stack's connection object."""

    __slots__ = ("recv_into", "sendall")

    def __init__(self, recv_into: Callable[[memoryview], int], sendall: Callable[[Any], Any]):
        self.recv_into = recv_into
        self.sendall = sendall


def _handle(stream: _Stream, spec: ListenSpec, size: int) -> None:
    """Serve one connection in ``spec.mode`` until the peer closes it."""
    buf = bytearray(size)
    view = memoryview(buf)
    recv_into, sendall = stream.recv_into, stream.sendall
    if spec.mode == "echo":
        while n := recv_into(view):
            sendall(view[:n])
    elif spec.mode == "sink":
        got, unit = 0, spec.unit
        while n := recv_into(view):
            got += n
            while got >= unit:
                got -= unit
                sendall(ACK)
    else:
        while recv_into(view):
            pass


def _blocking_server(
    spec: ListenSpec, stats: ListenerStats, wrap: Callable[[socket.socket], _Stream], size: int
) -> int:
    lsock = _listen_socket()

    def accept_loop() -> None:
        while True:
            try:
                sock, _ = lsock.accept()
            except OSError:
                return
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                stream = wrap(sock)
                stats.connected()
                _handle(stream, spec, size)
            except (OSError, SSL.Error):
                pass  # the client went away mid-stream; the next connection is what counts
            finally:
                sock.close()

    for i in range(max(1, spec.workers)):
        threading.Thread(target=accept_loop, name=f"{spec.kind}-{i}", daemon=True).start()
    port: int = lsock.getsockname()[1]
    return port


def _tls(spec: ListenSpec) -> TLSConfig:
    if spec.tls is None:
        raise ConfigError(f"server kind {spec.kind!r} needs a TLS configuration")
    return spec.tls


def _serve_tcp(spec: ListenSpec, stats: ListenerStats) -> int:
    return _blocking_server(spec, stats, lambda s: _Stream(s.recv_into, s.sendall), _TCP_BUFFER)


def _serve_ssl(spec: ListenSpec, stats: ListenerStats) -> int:
    ctx = ssl_context(_tls(spec), server=True)

    def wrap(sock: socket.socket) -> _Stream:
        tls = ctx.wrap_socket(sock, server_side=True)
        return _Stream(tls.recv_into, tls.sendall)

    return _blocking_server(spec, stats, wrap, _TLS_BUFFER)


def _serve_pyopenssl(spec: ListenSpec, stats: ListenerStats) -> int:
    ctx = pyopenssl_context(_tls(spec), server=True)

    def wrap(sock: socket.socket) -> _Stream:
        conn = SSL.Connection(ctx, sock)
        conn.set_accept_state()
        conn.do_handshake()

        def recv_into(view: memoryview) -> int:
            try:
                return conn.recv_into(view, _TLS_BUFFER)
            except SSL.ZeroReturnError:
                # The client closed cleanly: so do we, without writing to a closed socket.
                # Freed without a shutdown, the session would leave the session-ID cache.
                conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
                return 0

        return _Stream(recv_into, conn.sendall)

    return _blocking_server(spec, stats, wrap, _TLS_BUFFER)


_LOOP: asyncio.AbstractEventLoop | None = None
_LOOP_LOCK = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """The process's one asyncio loop, running in a daemon thread (started on first use)."""
    global _LOOP
    with _LOOP_LOCK:
        if _LOOP is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="asyncio", daemon=True).start()
            _LOOP = loop
        return _LOOP


async def _async_handle(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, spec: ListenSpec
) -> None:
    got = 0
    try:
        while data := await reader.read(65536):
            if spec.mode == "echo":
                writer.write(data)
                await writer.drain()
            elif spec.mode == "sink":
                got += len(data)
                while got >= spec.unit:
                    got -= spec.unit
                    writer.write(ACK)
    except (OSError, ssl.SSLError):
        pass
    finally:
        writer.close()


def _serve_asyncio(spec: ListenSpec, stats: ListenerStats) -> int:
    ctx = ssl_context(_tls(spec), server=True) if spec.kind == "asyncio-tls" else None

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        stats.connected()  # with ssl=..., asyncio calls back after the handshake
        await _async_handle(reader, writer, spec)

    async def start() -> int:
        server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=ctx, backlog=4096)
        port: int = server.sockets[0].getsockname()[1]
        return port

    return asyncio.run_coroutine_threadsafe(start(), event_loop()).result(30)


def _serve_ouc(spec: ListenSpec, stats: ListenerStats) -> int:
    """The ouc drivers' kinds, imported on first use (the baselines do not need the drivers)."""
    from benchmarks._ouc_server import serve_ouc_asyncio, serve_ouc_blocking

    serve_kind = serve_ouc_blocking if spec.kind == "ouc-blocking" else serve_ouc_asyncio
    return serve_kind(spec, stats)


#: Server kinds by name; the ouc drivers' kinds take the same ListenSpec (TLS config → a
#: ResolvedEndpoint, see benchmarks._ouc) and serve the same modes.
SERVER_KINDS: dict[str, ServerKind] = {
    "ouc-blocking": _serve_ouc,
    "ouc-asyncio": _serve_ouc,
    "tcp": _serve_tcp,
    "ssl": _serve_ssl,
    "pyopenssl": _serve_pyopenssl,
    "asyncio-tls": _serve_asyncio,
    "asyncio-tcp": _serve_asyncio,
}


def raise_nofile_limit() -> int:
    """Raise the open-files soft limit to the hard limit (10,000 connections need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY or soft < hard:
        target = hard if hard != resource.RLIM_INFINITY else max(soft, 65536)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
            soft = target
        except (ValueError, OSError):
            pass  # keep the soft limit; the memory case then reports fewer connections
    return soft


def rss_bytes() -> int:
    """Resident set size of this process, from /proc (Linux) after a full collection."""
    gc.collect()
    with open("/proc/self/statm", encoding="ascii") as fh:
        resident_pages = int(fh.read().split()[1])
    return resident_pages * os.sysconf("SC_PAGE_SIZE")


def serve(pipe: Connection) -> None:
    """Entry point of the server process: answer commands until ``stop`` or the pipe closes."""
    raise_nofile_limit()
    listeners: dict[int, ListenerStats] = {}
    while True:
        try:
            command, *args = pipe.recv()
        except (EOFError, OSError):
            return
        try:
            if command == "listen":
                spec: ListenSpec = args[0]
                stats = ListenerStats()
                kind = SERVER_KINDS.get(spec.kind)
                if kind is None:
                    raise ConfigError(f"unknown server kind {spec.kind!r}")
                port = kind(spec, stats)
                listeners[port] = stats
                pipe.send(("ok", port))
            elif command == "cpu":
                pipe.send(("ok", time.process_time()))
            elif command == "rss":
                pipe.send(("ok", rss_bytes()))
            elif command == "wait":
                port, count, timeout = args
                pipe.send(("ok", listeners[port].wait(count, timeout)))
            elif command == "stop":
                pipe.send(("ok", None))
                return
            else:
                pipe.send(("error", f"unknown command {command!r}"))
        except Exception as exc:  # report to the client instead of dying silently
            pipe.send(("error", f"{type(exc).__name__}: {exc}"))


class ServerProcess:
    """Client-side handle of one spawned server process; close() always cleans it up."""

    def __init__(self, *, answer_timeout: float = 60.0) -> None:
        mp = multiprocessing.get_context("spawn")
        self._pipe, child = mp.Pipe()
        self._proc = mp.Process(target=serve, args=(child,), name="ouc-bench-server", daemon=True)
        self._proc.start()
        child.close()
        self._timeout = answer_timeout
        self._ports: dict[ListenSpec, int] = {}

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def _call(self, *message: Any, timeout: float | None = None) -> Any:
        wait = self._timeout if timeout is None else timeout
        try:
            self._pipe.send(message)
            if not self._pipe.poll(wait):
                raise WaitTimeoutError(
                    f"benchmark server did not answer {message[0]!r} within {wait:.0f} s"
                )
            status, value = self._pipe.recv()
        except (EOFError, OSError) as exc:
            raise OucConnectionError(
                f"benchmark server process is gone ({exc or type(exc).__name__})",
                status=Status.PARTNER_CLOSED,
            ) from exc
        if status != "ok":
            raise OucConnectionError(f"benchmark server: {value}")
        return value

    def listen(self, spec: ListenSpec) -> int:
        """The port of a listener for ``spec``; listeners are opened once and reused."""
        if spec not in self._ports:
            self._ports[spec] = int(self._call("listen", spec))
        return self._ports[spec]

    def cpu(self) -> float:
        return float(self._call("cpu"))

    def rss(self) -> int:
        return int(self._call("rss"))

    def wait_connections(self, port: int, count: int, timeout: float) -> int:
        """Block until ``count`` connections completed on ``port`` or ``timeout``; the count."""
        return int(self._call("wait", port, count, timeout, timeout=timeout + self._timeout))

    def close(self) -> None:
        """Stop the process: ask politely, then terminate, then kill (bounded waits)."""
        if self._proc.is_alive():
            try:
                self._pipe.send(("stop",))
                if self._pipe.poll(5):
                    self._pipe.recv()
            except (EOFError, OSError):
                pass
            self._proc.join(5)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(5)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join(5)
        self._pipe.close()
