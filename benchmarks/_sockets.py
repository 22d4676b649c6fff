"""Loopback loops: a client in this process against a listener in the server process.

Three families, each written once against small callables so a new stack (the ouc drivers) slots
in by supplying its own:

- handshakes: :func:`handshake_case` runs ``make_op(port)`` — one complete connection: connect,
  handshake, a one-byte echo (so the server finished too, e.g. verified a client certificate in
  TLS 1.3, and the client read the session tickets), close — sequentially or from N threads;
  :func:`asyncio_handshake_case` is the same connection with asyncio streams on both sides;
- records: :func:`record_case` runs the echo or one-way loop of :mod:`benchmarks._loops` over a
  stream from ``connect(port)``; :func:`asyncio_record_case` does the same with asyncio streams;
- memory: :func:`idle_memory_case` holds N idle connections to a fresh server process and reports
  its RSS growth per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from OpenSSL import SSL

from benchmarks._harness import Result, RunContext
from benchmarks._loops import (
    Timing,
    concurrent_loop,
    echo_loop,
    oneway_batch,
    oneway_loop,
    op_loop,
    server_cpu,
    to_result,
)
from benchmarks._server import ACK, ListenSpec, ServerProcess, raise_nofile_limit
from benchmarks._stacks import TLSConfig, pyopenssl_context, session_reused, ssl_context, tls_error
from ouc.errors import OucConnectionError, Status, WaitTimeoutError

__all__ = [
    "Stream",
    "asyncio_handshake_case",
    "asyncio_record_case",
    "handshake_case",
    "idle_memory_case",
    "pyopenssl_connect",
    "pyopenssl_handshake_op",
    "record_case",
    "shared_server",
    "ssl_connect",
    "ssl_handshake_op",
    "tcp_connect",
]

_HOST = "127.0.0.1"
_CONNECT_TIMEOUT = 10.0
_IO_TIMEOUT = 30


def shared_server(ctx: RunContext) -> ServerProcess:
    """The run's server process for every loopback case (spawned on first use)."""
    server: ServerProcess = ctx.resource("server", ServerProcess)
    return server


_TIMEVAL = struct.pack("ll", int(_IO_TIMEOUT), 0)


def _tcp(port: int) -> socket.socket:
    """A connected blocking socket whose reads and writes still give up after _IO_TIMEOUT.

    pyOpenSSL needs a blocking socket (with a Python-level timeout it sees EAGAIN as
    WantReadError), so the bound comes from the kernel (SO_RCVTIMEO/SO_SNDTIMEO) instead.
    """
    sock = socket.create_connection((_HOST, port), timeout=_CONNECT_TIMEOUT)
    sock.settimeout(None)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _TIMEVAL)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, _TIMEVAL)
    return sock


# -- handshakes ------------------------------------------------------------------------------------


def pyopenssl_handshake_op(
    cfg: TLSConfig, *, resume: bool = False, reused: list[int] | None = None
) -> Callable[[int], Callable[[], None]]:
    """``make_op`` for raw pyOpenSSL socket handshakes (context built once per client).

    With ``resume`` each connection offers the newest session of the previous one; ``reused``
    (a one-element counter) then counts the connections that really resumed.
    """

    def make_op(port: int) -> Callable[[], None]:
        ctx = pyopenssl_context(cfg, server=False)
        session: list[SSL.Session | None] = [None]

        def once() -> None:
            sock = _tcp(port)
            try:
                conn = SSL.Connection(ctx, sock)
                conn.set_connect_state()
                if session[0] is not None:
                    conn.set_session(session[0])
                conn.do_handshake()
                conn.sendall(b"x")
                conn.recv(1)
                if resume:
                    if reused is not None and session[0] is not None:
                        reused[0] += session_reused(conn)
                    session[0] = conn.get_session()
                    # Close cleanly (close_notify): OpenSSL drops the session of a connection
                    # freed without a shutdown, here and, for TLS 1.2 IDs, in the server's cache.
                    conn.shutdown()
            finally:
                sock.close()

        return once

    return make_op


def ssl_handshake_op(cfg: TLSConfig) -> Callable[[int], Callable[[], None]]:
    """``make_op`` for ``ssl`` module socket handshakes (context built once per client)."""

    def make_op(port: int) -> Callable[[], None]:
        ctx = ssl_context(cfg, server=False)

        def once() -> None:
            with ctx.wrap_socket(_tcp(port)) as tls:
                tls.sendall(b"x")
                tls.recv(1)

        return once

    return make_op


def handshake_case(
    ctx: RunContext,
    kind: str,
    cfg: TLSConfig,
    make_op: Callable[[int], Callable[[], None]],
    *,
    clients: int = 1,
    info: dict[str, str] | None = None,
) -> Result:
    """Handshakes against a ``kind`` listener: sequential (``clients`` 1) or N concurrent.

    CPU per handshake covers both processes. Concurrent runs give the server one worker per
    client (blocking kinds), report the aggregate rate, and p50/p99 of single handshakes.
    """
    server = shared_server(ctx)
    port = server.listen(ListenSpec(kind=kind, mode="echo", tls=cfg, workers=clients))
    try:
        with server_cpu(server) as spent:
            if clients == 1:
                timing = op_loop(make_op(port), ctx.budget)
            else:
                timing = concurrent_loop(lambda: make_op(port), clients, ctx.budget)
    except SSL.Error as exc:
        raise tls_error(exc, f"{kind} handshake") from exc
    return to_result(timing, extra_cpu=spent[0], info=info)


# -- records ---------------------------------------------------------------------------------------


@dataclass
class Stream:
    """A connected client stream: the calls the record loops use, and how to close it."""

    sendall: Callable[[bytes], object]
    recv_into: Callable[[memoryview], int]
    close: Callable[[], None]


def tcp_connect(port: int) -> Stream:
    sock = _tcp(port)
    return Stream(sock.sendall, sock.recv_into, sock.close)


def ssl_connect(cfg: TLSConfig) -> Callable[[int], Stream]:
    ctx = ssl_context(cfg, server=False)

    def connect(port: int) -> Stream:
        tls = ctx.wrap_socket(_tcp(port))
        return Stream(tls.sendall, tls.recv_into, tls.close)

    return connect


def pyopenssl_connect(cfg: TLSConfig) -> Callable[[int], Stream]:
    ctx = pyopenssl_context(cfg, server=False)

    def connect(port: int) -> Stream:
        sock = _tcp(port)
        conn = SSL.Connection(ctx, sock)
        conn.set_connect_state()
        conn.do_handshake()

        def recv_into(view: memoryview) -> int:
            # pyOpenSSL allocates nbytes per call: ask for one record's worth at most.
            return conn.recv_into(view, min(len(view), 16384))

        return Stream(conn.sendall, recv_into, sock.close)

    return connect


def record_case(
    ctx: RunContext,
    kind: str,
    tls: TLSConfig | None,
    connect: Callable[[int], Stream],
    size: int,
    mode: str,
) -> Result:
    """Echo round trips or one-way frames of ``size`` bytes over one connection to ``kind``.

    The connection is set up before timing starts; ops are round trips (echo) or frames
    (one-way); MB/s counts payload in one direction.
    """
    server = shared_server(ctx)
    unit = size * oneway_batch(size)
    spec = ListenSpec(kind=kind, mode="sink" if mode == "oneway" else "echo", tls=tls, unit=unit)
    port = server.listen(spec)
    try:
        stream = connect(port)
        try:
            with server_cpu(server) as spent:
                loop = echo_loop if mode == "echo" else oneway_loop
                timing = loop(stream.sendall, stream.recv_into, size, ctx.budget)
        finally:
            stream.close()
    except SSL.Error as exc:
        raise tls_error(exc, f"{kind} records") from exc
    return to_result(timing, extra_cpu=spent[0], payload_per_op=size)


async def _asyncio_loop(
    port: int, tls: TLSConfig | None, size: int, mode: str, ctx: RunContext
) -> Timing:
    client_ctx = ssl_context(tls, server=False) if tls is not None else None
    reader, writer = await asyncio.wait_for(
        asyncio.open_connection(_HOST, port, ssl=client_ctx), _CONNECT_TIMEOUT
    )
    payload = bytes(size)
    batch = oneway_batch(size)
    budget = ctx.budget
    timing = Timing()
    clock = time.perf_counter
    deadline = budget.deadline()
    cpu0, t0, ops = time.process_time(), clock(), 0
    try:
        while budget.more(ops, deadline):
            start = clock()
            if mode == "echo":
                writer.write(payload)
                await writer.drain()
                await reader.readexactly(size)
                timing.latencies.append(clock() - start)
            else:
                for _ in range(batch):
                    writer.write(payload)
                    await writer.drain()
                if await reader.readexactly(1) != ACK:
                    raise OucConnectionError("the benchmark sink answered garbage")
            ops += 1
        timing.wall = clock() - t0
        timing.cpu = time.process_time() - cpu0
    except asyncio.IncompleteReadError as exc:
        raise OucConnectionError(
            "the benchmark peer closed the connection", status=Status.PARTNER_CLOSED
        ) from exc
    finally:
        writer.close()
        with contextlib.suppress(OSError, ssl.SSLError):
            await asyncio.wait_for(writer.wait_closed(), _CONNECT_TIMEOUT)
    timing.ops = ops if mode == "echo" else ops * batch
    return timing


def asyncio_record_case(ctx: RunContext, tls: TLSConfig | None, size: int, mode: str) -> Result:
    """Echo or one-way with asyncio streams on both sides (``asyncio.open_connection(ssl=...)``
    against ``asyncio.start_server(ssl=...)``): asyncio's own TLS, the asyncio baseline."""
    server = shared_server(ctx)
    kind = "asyncio-tls" if tls is not None else "asyncio-tcp"
    unit = size * oneway_batch(size)
    spec = ListenSpec(kind=kind, mode="sink" if mode == "oneway" else "echo", tls=tls, unit=unit)
    port = server.listen(spec)
    with server_cpu(server) as spent:
        timing = asyncio.run(_asyncio_loop(port, tls, size, mode, ctx))
    return to_result(timing, extra_cpu=spent[0], payload_per_op=size)


async def _asyncio_handshakes(port: int, tls: TLSConfig, ctx: RunContext) -> Timing:
    """Sequential connections with asyncio streams, used as their documentation shows: open
    with ``ssl=``, a one-byte echo, ``close()`` and ``wait_closed()`` (which waits for the
    server's close, as asyncio's TLS shutdown does)."""
    client_ctx = ssl_context(tls, server=False)
    budget = ctx.budget
    timing = Timing()
    clock = time.perf_counter
    deadline = budget.deadline()
    cpu0, t0 = time.process_time(), clock()
    try:
        while budget.more(timing.ops, deadline):
            start = clock()
            async with asyncio.timeout(_CONNECT_TIMEOUT + _IO_TIMEOUT):
                reader, writer = await asyncio.open_connection(_HOST, port, ssl=client_ctx)
                try:
                    writer.write(b"x")
                    await reader.readexactly(1)
                finally:
                    writer.close()
                    with contextlib.suppress(OSError, ssl.SSLError):
                        await writer.wait_closed()
            timing.latencies.append(clock() - start)
            timing.ops += 1
    except asyncio.IncompleteReadError as exc:
        raise OucConnectionError(
            "the benchmark peer closed the connection", status=Status.PARTNER_CLOSED
        ) from exc
    except TimeoutError as exc:
        raise WaitTimeoutError("an asyncio handshake did not complete in time") from exc
    timing.wall = clock() - t0
    timing.cpu = time.process_time() - cpu0
    return timing


def asyncio_handshake_case(ctx: RunContext, tls: TLSConfig) -> Result:
    """Sequential handshakes of asyncio's own TLS (``asyncio.open_connection(ssl=...)`` against
    ``asyncio.start_server(ssl=...)``, Python's ``ssl`` module underneath): what an event loop
    costs per connection, next to the ouc asyncio driver's rows."""
    server = shared_server(ctx)
    port = server.listen(ListenSpec(kind="asyncio-tls", mode="echo", tls=tls))
    with server_cpu(server) as spent:
        timing = asyncio.run(_asyncio_handshakes(port, tls, ctx))
    return to_result(timing, extra_cpu=spent[0])


# -- memory per idle connection --------------------------------------------------------------------


def _open_many(
    port: int, tls: TLSConfig | None, count: int, deadline: float, threads: int = 4
) -> list[socket.socket]:
    """Open ``count`` connections (handshaken when ``tls``) from a few threads, until deadline."""
    ctx = ssl_context(tls, server=False) if tls is not None else None
    held: list[socket.socket] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker(share: int) -> None:
        mine: list[socket.socket] = []
        try:
            for _ in range(share):
                if time.perf_counter() > deadline:
                    break
                sock = _tcp(port)
                mine.append(ctx.wrap_socket(sock) if ctx is not None else sock)
        except OSError as exc:
            errors.append(exc)
        with lock:
            held.extend(mine)

    shares = [count // threads + (i < count % threads) for i in range(threads)]
    workers = [threading.Thread(target=worker, args=(n,), daemon=True) for n in shares]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(max(1.0, deadline - time.perf_counter()) + 30)
    if errors and not held:
        raise errors[0]
    return held


def idle_memory_case(
    ctx: RunContext, kind: str, tls: TLSConfig | None, *, timeout: float = 300.0
) -> Result:
    """Server memory per idle connection: a fresh server process, RSS before and after holding
    ``ctx.connections`` connections (capped by the open-files limit), divided by the count.

    A fresh process per measurement keeps earlier cases' heap out of the delta. Both processes
    raise their RLIMIT_NOFILE soft limit to the hard limit first.
    """
    limit = raise_nofile_limit()
    count = max(1, min(ctx.connections, limit - 256))
    server = ServerProcess()
    held: list[socket.socket] = []
    try:
        port = server.listen(ListenSpec(kind=kind, mode="idle", tls=tls))
        before = server.rss()
        t0 = time.perf_counter()
        held = _open_many(port, tls, count, t0 + timeout)
        done = server.wait_connections(port, len(held), timeout)
        after = server.rss()
        wall = time.perf_counter() - t0
    finally:
        for sock in held:
            sock.close()
        server.close()
    if done < 1:
        raise WaitTimeoutError("no benchmark connection was established")
    info = {"connections": str(done), "requested": str(count)}
    return Result(bytes_per_conn=(after - before) / done, rate=done / wall, ops=done, info=info)
