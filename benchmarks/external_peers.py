"""The other processes of ``python -m benchmarks.external``: baseline servers and a holding client.

Run as ``python -m benchmarks.external_peers ROLE ...``; each role is its own process so that
``/proc/PID/stat`` charges it exactly its own CPU:

- ``pyopenssl``: a raw pyOpenSSL (OpenSSL 4.0, as the ouc engine) blocking accept loop, one
  connection at a time: handshake, then echo what arrives until the peer leaves. The floor for
  a Python server on the same library.
- ``pyopenssl-bio``: the floor of a sans-I/O server in Python, as ouc's design is one: one
  epoll loop, non-blocking sockets, each connection a pyOpenSSL ``Connection`` on memory BIOs
  (bytes read from the socket are written into the TLS object, its output read back and sent),
  handshake, then echo. No framing, no STATUS, no timers: what a Python server on memory BIOs
  costs before it does anything of its own. Its gap to ``pyopenssl`` is the price of the design
  (the Python that moves every flight between socket and TLS object), not of ouc.
- ``pyopenssl-sock``: the same epoll loop with each ``Connection`` on the socket itself
  (OpenSSL's socket BIO, ``SSL_set_fd``): on each readiness, ``SSL_read`` and ``SSL_write``
  until OpenSSL wants more. What an event-driven Python server gains by handing its sockets to
  OpenSSL, the alternative to memory BIOs; its gap to ``pyopenssl`` is then the event loop
  itself (readiness wake-ups, the read that finds nothing), not the BIO.
- ``ssl``: Python's ``ssl`` module (system OpenSSL 3.0), a thread per connection, the same loop.
- With ``--processes N`` each server role runs as N processes on one port (SO_REUSEPORT,
  connections spread by the CPU that received them, as ``ouc serve --processes N`` does on
  loopback): what a second process costs a server that does nothing of its own.
- ``hold``: open N TLS connections to a server and keep them idle, for RSS per idle connection.
  Non-blocking, many handshakes in flight; a connection counts once bytes arrived after the
  client's handshake (TLS 1.3 session tickets, sent by the server only after it processed the
  client's Finished), so the server holds it as established. The client then drops its TLS
  state and keeps only the socket: 10,000 connections cost this process a few MB. It prints
  ``held N`` and waits for stdin to close.

Every server pins X25519, as ``ouc serve`` and ``openssl s_server -groups X25519`` do.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import select
import selectors
import signal
import socket
import ssl
import struct
import sys
import threading
import time
from collections.abc import Callable
from contextlib import suppress

from OpenSSL import SSL

from ouc.drivers._reuseport import attach_spread
from ouc.tls import _libssl

_RECORD = 16 * 1024
_OUTPUT = 64 * 1024
_NULL = _libssl.ffi.NULL


def _pending(bio: object) -> int:
    """Bytes a memory BIO holds (``BIO_get_mem_data`` with no pointer: its length)."""
    return int(_libssl.BIO_get_mem_data(bio, _NULL))


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_FIVE_SECONDS = struct.pack("ll", 5, 0)


def _pyopenssl_context(args: argparse.Namespace) -> SSL.Context:
    ctx = SSL.Context(SSL.TLS_METHOD)
    ctx.set_min_proto_version(SSL.TLS1_3_VERSION)
    ctx.set_max_proto_version(SSL.TLS1_3_VERSION)
    # pyOpenSSL has no set_groups; without the pin OpenSSL 4.0 negotiates X25519MLKEM768.
    if _libssl.SSL_CTX_set1_curves_list(_libssl.context_ptr(ctx), b"X25519") != 1:
        raise SystemExit("cannot pin X25519")
    ctx.use_certificate_chain_file(args.cert)
    ctx.use_privatekey_file(args.key)
    ctx.set_session_id(b"external")
    if args.mutual:
        ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
        ctx.load_verify_locations(args.ca)
    return ctx


def _listener(args: argparse.Namespace) -> socket.socket:
    """The listening socket; with ``--processes N`` one of N on the port (SO_REUSEPORT), the
    group spreading connections by CPU as ``ouc serve --processes N`` does on loopback."""
    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if args.processes > 1:
        lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    lsock.bind(("127.0.0.1", args.port))
    lsock.listen(4096)
    if args.processes > 1:
        attach_spread(lsock, args.processes)
    return lsock


def _fork_workers(processes: int) -> None:
    """Become one of ``processes`` servers: the others are children that end with this one
    (``PR_SET_PDEATHSIG``), so terminating the first stops them all."""
    first = os.getpid()
    for _ in range(processes - 1):
        if os.fork() == 0:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
            if os.getppid() != first:  # it ended before the call
                os._exit(0)
            return


def serve_pyopenssl(args: argparse.Namespace) -> None:
    ctx = _pyopenssl_context(args)
    lsock = _listener(args)
    while True:
        sock, _ = lsock.accept()
        # A peer that stalls must not hold the loop for ever: a kernel receive timeout keeps
        # the socket blocking for OpenSSL (a Python timeout would make it non-blocking).
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, _FIVE_SECONDS)
        conn = SSL.Connection(ctx, sock)
        conn.set_accept_state()
        try:
            conn.do_handshake()
            while True:
                data = conn.recv(_RECORD)
                if not data:
                    break
                conn.sendall(data)
        except (SSL.Error, OSError):
            pass
        sock.close()


def _epoll_loop(
    args: argparse.Namespace,
    on_socket: bool,
    ready: Callable[[socket.socket, SSL.Connection], bool],
) -> None:
    """One epoll loop over non-blocking sockets, each with its TLS object (on the socket itself
    when ``on_socket``, else on memory BIOs); ``ready(sock, conn)`` serves a readable socket and
    says whether the connection goes on."""
    ctx = _pyopenssl_context(args)
    lsock = _listener(args)
    lsock.setblocking(False)
    lfd = lsock.fileno()
    poller = select.epoll()
    poller.register(lfd, select.EPOLLIN)
    conns: dict[int, tuple[socket.socket, SSL.Connection]] = {}
    while True:
        for fd, _ in poller.poll():
            if fd == lfd:
                while True:  # every connection the backlog holds, as ouc's loop does
                    try:
                        sock, _ = lsock.accept()
                    except BlockingIOError:
                        break
                    sock.setblocking(False)
                    conn = SSL.Connection(ctx, sock if on_socket else None)
                    conn.set_accept_state()
                    conns[sock.fileno()] = (sock, conn)
                    poller.register(sock.fileno(), select.EPOLLIN)
                continue
            sock, conn = conns[fd]
            if not ready(sock, conn):
                del conns[fd]
                poller.unregister(fd)
                sock.close()


def _bio_ready(sock: socket.socket, conn: SSL.Connection) -> bool:
    try:
        data = sock.recv(_RECORD)
        if not data:
            return False
        conn.bio_write(data)
        incoming, outgoing = conn._into_ssl, conn._from_ssl
        # The handshake steps raise WantReadError (pyOpenSSL's only way to say it); after it,
        # one SSL_read per record the read brought, no read bound to fail.
        with suppress(SSL.WantReadError):
            conn.send(conn.recv(_RECORD))
            while _pending(incoming) > 0 or conn.pending():
                conn.send(conn.recv(_RECORD))
        while _pending(outgoing) > 0:  # a flight or an echo: one bio_read
            sock.sendall(conn.bio_read(_OUTPUT))
    except (SSL.Error, OSError):
        return False
    return True


def _sock_ready(sock: socket.socket, conn: SSL.Connection) -> bool:
    try:
        # The handshake steps, then one echo per record, until OpenSSL's read finds the
        # socket empty (WantReadError): the call an event loop cannot avoid.
        for _ in range(64):  # a fair share per wake-up; epoll reports the rest
            conn.sendall(conn.recv(_RECORD))
    except SSL.WantReadError:
        pass
    except (SSL.Error, OSError):
        return False
    return True


def serve_pyopenssl_bio(args: argparse.Namespace) -> None:
    """Serve on one epoll loop with memory-BIO TLS objects (see the module docstring)."""
    _epoll_loop(args, False, _bio_ready)


def serve_pyopenssl_sock(args: argparse.Namespace) -> None:
    """Serve on one epoll loop, each TLS object on its non-blocking socket (module docstring)."""
    _epoll_loop(args, True, _sock_ready)


def serve_ssl(args: argparse.Namespace) -> None:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_ecdh_curve("X25519")
    if args.mutual:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(args.ca)
    lsock = _listener(args)

    def handle(sock: socket.socket) -> None:  # a stalled peer holds only its own thread
        try:
            with ctx.wrap_socket(sock, server_side=True) as tls:
                while True:
                    data = tls.recv(_RECORD)
                    if not data:
                        break
                    tls.sendall(data)
        except (ssl.SSLError, OSError):
            pass
        finally:
            sock.close()

    while True:
        sock, _ = lsock.accept()
        threading.Thread(target=handle, args=(sock,), daemon=True).start()


def hold(args: argparse.Namespace) -> None:
    """Open ``args.count`` TLS connections, ``args.window`` handshakes in flight at a time."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    # A load client: the server's certificate checks are what is measured, not this side's.
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_3
    if args.client_cert:
        ctx.load_cert_chain(args.client_cert, args.client_key)
    sel = selectors.DefaultSelector()
    held: list[socket.socket] = []
    pending: dict[int, tuple[socket.socket, ssl.SSLObject, ssl.MemoryBIO, ssl.MemoryBIO]] = {}
    started = failed = 0
    deadline = time.monotonic() + args.timeout

    def open_one() -> None:
        sock = socket.socket()
        sock.setblocking(False)
        if args.source:
            sock.bind((args.source, 0))
        sock.connect_ex(("127.0.0.1", args.port))
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(incoming, outgoing)
        pending[sock.fileno()] = (sock, tls, incoming, outgoing)
        sel.register(sock, selectors.EVENT_WRITE)

    def step(fd: int) -> None:
        nonlocal failed
        sock, tls, incoming, outgoing = pending[fd]
        try:
            if tls is not None and sock.fileno() >= 0:
                try:
                    data = sock.recv(65536)
                    if not data:
                        raise ConnectionResetError("closed")
                    incoming.write(data)
                except BlockingIOError:
                    pass
            done = False
            try:
                tls.do_handshake()
                done = True
            except ssl.SSLWantReadError:
                pass
            out = outgoing.read()
            if out:
                sock.sendall(out)  # a flight fits the socket buffer of a fresh connection
            if done:
                # Established on our side; wait for the server's tickets (it has our Finished).
                pending[fd] = (sock, None, incoming, outgoing)  # type: ignore[assignment]
            sel.modify(sock, selectors.EVENT_READ)
        except (OSError, ssl.SSLError):
            failed += 1
            sel.unregister(sock)
            del pending[fd]
            sock.close()

    def settled(fd: int) -> None:
        nonlocal failed
        sock = pending.pop(fd)[0]
        sel.unregister(sock)
        try:
            if sock.recv(65536):
                held.append(sock)
                return
        except OSError:
            pass
        failed += 1
        sock.close()

    while len(held) + failed < args.count and time.monotonic() < deadline:
        while started < args.count and len(pending) < args.window:
            open_one()
            started += 1
        for key, _ in sel.select(timeout=1.0):
            fd = key.fd
            if fd not in pending:
                continue
            if pending[fd][1] is None:
                settled(fd)
            else:
                step(fd)
    print(f"held {len(held)} failed {failed}", flush=True)
    sys.stdin.read()  # keep the connections until the parent closes our stdin
    for sock in held:
        sock.close()


_SERVERS = {
    "pyopenssl": serve_pyopenssl,
    "pyopenssl-bio": serve_pyopenssl_bio,
    "pyopenssl-sock": serve_pyopenssl_sock,
    "ssl": serve_ssl,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.external_peers")
    parser.add_argument("role", choices=(*_SERVERS, "hold"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--processes", type=int, default=1, help="servers on the port, spread by CPU (1)"
    )
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca", required=True)
    parser.add_argument("--mutual", action="store_true")
    parser.add_argument("--client-cert")
    parser.add_argument("--client-key")
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--source", help="local address to connect from")
    parser.add_argument("--timeout", type=float, default=120.0)
    args = parser.parse_args()
    if args.role == "hold":
        import resource

        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        hold(args)
    else:
        _fork_workers(args.processes)
        _SERVERS[args.role](args)
    os._exit(0)


if __name__ == "__main__":
    main()
