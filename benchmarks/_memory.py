"""In-memory loops: client and server wired through buffers in one process, no sockets.

This is the CPU cost of a handshake or a record round trip, both sides together, measured with
``time.process_time``. Three flavours share the measuring loop:

- raw pyOpenSSL over memory BIOs (``Connection(ctx, None)``), the baseline of the ouc TLS engine;
- Python's ``ssl`` with ``SSLObject`` + ``MemoryBIO`` (record path only);
- any pair of :class:`ouc.transport.Transport` objects (the ouc TLS engine implements it), which
  is how the ouc rows slot in: :func:`transport_handshake_loop` / :func:`transport_echo_loop`.

A handshake counts as complete when both sides finished and every byte either side wrote has
been consumed, including TLS 1.3 session tickets: the client reads them, as it would on its first
read of application data, so resumption rows can use them.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import Callable

from OpenSSL import SSL

from benchmarks._harness import Budget
from benchmarks._loops import Timing, op_loop
from benchmarks._stacks import TLSConfig, pyopenssl_context, session_reused, ssl_context, tls_error
from ouc.errors import Status, TLSError
from ouc.transport import Failed, HandshakeComplete, PlaintextReceived, Transport

__all__ = [
    "PyOpenSSLPair",
    "pyopenssl_echo",
    "pyopenssl_handshake",
    "pyopenssl_handshake_loop",
    "ssl_memory_echo",
    "transport_echo_loop",
    "transport_handshake",
    "transport_handshake_loop",
]

_MAX_FLIGHTS = 32  # a TLS handshake needs at most a handful; more means it is stuck
# Read sizes: pyOpenSSL allocates a buffer of the requested size on every call, so ask for what
# can arrive (a TLS record carries at most 16 KiB of plaintext) rather than for megabytes.
_BIO_CHUNK = 65536
_RECORD = 16384


def _incomplete(what: str) -> TLSError:
    return TLSError(f"{what} did not finish", status=Status.TLS_HANDSHAKE_FAILURE)


# -- raw pyOpenSSL ---------------------------------------------------------------------------------


def _move(src: SSL.Connection, dst: SSL.Connection) -> bool:
    """Move every byte ``src`` wrote into ``dst``; True when something moved."""
    moved = False
    while True:
        try:
            data = src.bio_read(_BIO_CHUNK)
        except SSL.WantReadError:
            return moved
        dst.bio_write(data)
        moved = True


def _step(conn: SSL.Connection) -> bool:
    try:
        conn.do_handshake()
    except SSL.WantReadError:
        return False
    return True


class PyOpenSSLPair:
    """Client and server pyOpenSSL contexts of one configuration, built once and reused."""

    def __init__(self, cfg: TLSConfig) -> None:
        self.cfg = cfg
        self.client_ctx = pyopenssl_context(cfg, server=False)
        self.server_ctx = pyopenssl_context(cfg, server=True)


def pyopenssl_handshake(
    pair: PyOpenSSLPair, session: SSL.Session | None = None
) -> tuple[SSL.Connection, SSL.Connection]:
    """One complete in-memory handshake; returns the connected (client, server).

    Raises:
        TLSError: the handshake failed or did not finish (16#80E1).
    """
    client = SSL.Connection(pair.client_ctx, None)
    client.set_connect_state()
    if session is not None:
        client.set_session(session)
    server = SSL.Connection(pair.server_ctx, None)
    server.set_accept_state()
    c_done = s_done = False
    try:
        for _ in range(_MAX_FLIGHTS):
            if not c_done:
                c_done = _step(client)
            moved = _move(client, server)
            if not s_done:
                s_done = _step(server)
            moved = _move(server, client) or moved
            if c_done and s_done and not moved:
                break
        else:
            raise _incomplete("the in-memory pyOpenSSL handshake")
        with contextlib.suppress(SSL.WantReadError):
            client.recv(1)  # consume post-handshake messages (TLS 1.3 tickets)
    except SSL.Error as exc:
        raise tls_error(exc, "in-memory pyOpenSSL handshake") from exc
    return client, server


def _read_exact(read: Callable[[int], bytes], want_read: type[Exception], size: int) -> bytes:
    """Read ``size`` plaintext bytes a record at a time from a memory-BIO TLS object whose
    peer has already written them all (needing more input means the exchange is broken)."""
    parts, got = [], 0
    while got < size:
        try:
            data = read(_RECORD)
        except want_read:
            raise _incomplete("an in-memory record exchange") from None
        parts.append(data)
        got += len(data)
    return b"".join(parts)


def _forget(conn: SSL.Connection) -> None:
    """Mark ``conn`` as shut down, so freeing it does not invalidate its session.

    OpenSSL removes the session of a connection freed without a shutdown from resumption
    (``ssl_clear_bad_session``), on the client (its ticket) and on the server (its session-ID
    cache). Real peers close with close_notify, which has the same effect on the session as
    this flag, minus the bytes nobody reads in a memory benchmark.
    """
    conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)


def _describe(conn: SSL.Connection) -> dict[str, str]:
    return {
        "version": conn.get_protocol_version_name(),
        "cipher": conn.get_cipher_name() or "",
        "group": conn.get_group_name() or "",
    }


def pyopenssl_handshake_loop(
    pair: PyOpenSSLPair, budget: Budget, *, resume: bool = False
) -> tuple[Timing, dict[str, str]]:
    """Full (or, with ``resume``, resumed) in-memory handshakes until the budget is spent.

    Resumed runs prime a session with one untimed full handshake and then resume from the newest
    session each time (TLS 1.3 tickets, or TLS 1.2 session IDs when the config says so); the
    info reports how many of the timed handshakes really resumed.
    """
    client, server = pyopenssl_handshake(pair)
    info = _describe(client)
    _forget(client)
    _forget(server)
    session: list[SSL.Session | None] = [client.get_session() if resume else None]
    reused = [0]

    def once() -> None:
        client, server = pyopenssl_handshake(pair, session[0])
        _forget(client)
        _forget(server)  # a TLS 1.2 server keeps the session ID in its cache only then
        if resume:
            reused[0] += session_reused(client)
            session[0] = client.get_session()

    timing = op_loop(once, budget, latencies=False)
    if resume:
        info["resumed"] = f"{reused[0]}/{timing.ops}"
    return timing, info


def pyopenssl_echo(pair: PyOpenSSLPair, size: int, budget: Budget) -> Timing:
    """In-memory round trips of ``size`` bytes over an established pyOpenSSL pair."""
    client, server = pyopenssl_handshake(pair)
    payload = bytes(size)

    def once() -> None:
        client.sendall(payload)
        _move(client, server)
        server.sendall(_read_exact(server.recv, SSL.WantReadError, size))
        _move(server, client)
        _read_exact(client.recv, SSL.WantReadError, size)

    try:
        return op_loop(once, budget, latencies=False)
    except SSL.Error as exc:
        raise tls_error(exc, "in-memory pyOpenSSL records") from exc


# -- Python's ssl: SSLObject + MemoryBIO -----------------------------------------------------------


def ssl_memory_echo(cfg: TLSConfig, size: int, budget: Budget) -> Timing:
    """In-memory round trips of ``size`` bytes with ``ssl.SSLObject`` over ``MemoryBIO``s."""
    c_in, c_out, s_in, s_out = (ssl.MemoryBIO() for _ in range(4))
    client = ssl_context(cfg, server=False).wrap_bio(c_in, c_out, server_side=False)
    server = ssl_context(cfg, server=True).wrap_bio(s_in, s_out, server_side=True)
    payload = bytes(size)

    def handshake_step(obj: ssl.SSLObject) -> bool:
        try:
            obj.do_handshake()
        except ssl.SSLWantReadError:
            return False
        return True

    def once() -> None:
        client.write(payload)
        s_in.write(c_out.read())
        server.write(_read_exact(server.read, ssl.SSLWantReadError, size))
        c_in.write(s_out.read())
        _read_exact(client.read, ssl.SSLWantReadError, size)

    try:
        c_done = s_done = False
        for _ in range(_MAX_FLIGHTS):
            c_done = c_done or handshake_step(client)
            s_in.write(c_out.read())
            s_done = s_done or handshake_step(server)
            c_in.write(s_out.read())
            if c_done and s_done and not c_out.pending and not s_in.pending:
                break
        else:
            raise _incomplete("the in-memory ssl handshake")
        return op_loop(once, budget, latencies=False)
    except ssl.SSLError as exc:
        raise tls_error(exc, "in-memory ssl records") from exc


# -- any Transport pair (the ouc TLS engine) -------------------------------------------------------


def _pump(src: Transport, dst: Transport) -> bool:
    data = src.data_to_send()
    if data:
        dst.receive_data(data)
    return bool(data)


def _drain(transport: Transport, sink: list[bytes] | None = None) -> bool:
    """Pull every pending event; True when a HandshakeComplete was among them."""
    done = False
    while (event := transport.next_event()) is not None:
        if isinstance(event, HandshakeComplete):
            done = True
        elif isinstance(event, PlaintextReceived):
            if sink is not None:
                sink.append(event.data)
        elif isinstance(event, Failed):
            raise TLSError(f"transport failed: {event.reason}", status=event.status)
    return done


def transport_handshake(client: Transport, server: Transport) -> None:
    """Wire two Transports together and pump until both completed the handshake and are quiet.

    Raises:
        TLSError: a side reported Failed (its status), or the pair did not finish (16#80E1).
    """
    client.start()
    server.start()
    c_done = s_done = False
    for _ in range(_MAX_FLIGHTS):
        moved = _pump(client, server)
        s_done = _drain(server) or s_done
        moved = _pump(server, client) or moved
        c_done = _drain(client) or c_done
        if c_done and s_done and not moved:
            return
    raise _incomplete("the in-memory transport handshake")


def transport_handshake_loop(
    make_pair: Callable[[], tuple[Transport, Transport]], budget: Budget
) -> Timing:
    """Complete handshakes of fresh (client, server) Transport pairs until the budget is spent.

    ``make_pair`` builds two new endpoints from contexts built once outside the loop; for the ouc
    engine: ``lambda: (TLSEngine(client_ctx, now=clock), TLSEngine(server_ctx, now=clock))``.
    """
    return op_loop(lambda: transport_handshake(*make_pair()), budget, latencies=False)


def transport_echo_loop(client: Transport, server: Transport, size: int, budget: Budget) -> Timing:
    """Round trips of ``size`` bytes over a handshaken Transport pair (the server echoes)."""
    transport_handshake(client, server)
    payload = bytes(size)

    def collect(transport: Transport) -> bytes:
        parts: list[bytes] = []
        _drain(transport, parts)
        data = b"".join(parts)
        if len(data) != size:
            raise _incomplete("an in-memory transport record exchange")
        return data

    def once() -> None:
        client.send(payload)
        _pump(client, server)
        server.send(collect(server))
        _pump(server, client)
        collect(client)

    return op_loop(once, budget, latencies=False)
