"""Local timing script (not a test): ouc TLS engines vs a raw pyOpenSSL memory-BIO loop.

Run ``python tests/tls/perf_compare.py [N]``. It measures CPU time per full in-memory handshake
(client + server together) and per 258-byte echo round trip, interleaving the two loops several
times and reporting medians and the ratio ouc / raw (target: handshake <= 1.15x).
"""

from __future__ import annotations

import datetime as dt
import functools
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from OpenSSL import SSL, crypto

sys.path.insert(0, str(Path(__file__).parent))
from conftest import (
    V28,
    V31,
    Pki,
    client_endpoint,
    engines,
    make_pki,
    server_endpoint,
)

from ouc.tls import GROUPS, TLSContext, TLSEngine, _libssl
from ouc.transport import PlaintextReceived


def raw_contexts(pki: Pki, tls13: bool, mutual: bool) -> tuple[SSL.Context, SSL.Context]:
    def make(server: bool) -> SSL.Context:
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD if server else SSL.TLS_CLIENT_METHOD)
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        ctx.set_max_proto_version(SSL.TLS1_3_VERSION if tls13 else SSL.TLS1_2_VERSION)
        _libssl.SSL_CTX_set1_curves_list(_libssl.context_ptr(ctx), GROUPS.encode())
        store = ctx.get_cert_store()
        assert store is not None
        store.add_cert(crypto.X509.from_cryptography(pki.ca))
        store.set_time(dt.datetime(2026, 11, 21, 12, 0))
        if server:
            ctx.use_certificate(pki.server)
            ctx.use_privatekey(pki.server_key)
            if mutual:
                ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
                ctx.set_session_id(b"raw")
        else:
            ctx.set_verify(SSL.VERIFY_PEER)
            ctx.use_certificate(pki.client)
            ctx.use_privatekey(pki.client_key)
        return ctx

    return make(True), make(False)


def raw_pump(a: SSL.Connection, b: SSL.Connection) -> None:
    for _ in range(20):
        done = 0
        for x in (a, b):
            try:
                x.do_handshake()
                done += 1
            except SSL.WantReadError:
                pass
        moved = False
        for x, y in ((a, b), (b, a)):
            try:
                y.bio_write(x.bio_read(65536))
                moved = True
            except SSL.WantReadError:
                pass
        if done == 2 and not moved:
            return
    raise AssertionError("raw pump did not settle")


def raw_handshake(sctx: SSL.Context, cctx: SSL.Context) -> tuple[SSL.Connection, SSL.Connection]:
    server = SSL.Connection(sctx)
    server.set_accept_state()
    client = SSL.Connection(cctx)
    client.set_connect_state()
    raw_pump(client, server)
    return client, server


def raw_recv_all(conn: SSL.Connection) -> bytes:
    chunks = []
    for _ in range(100):
        try:
            chunks.append(conn.recv(65536))
        except SSL.WantReadError:
            return b"".join(chunks)
    raise AssertionError("too many records")


def raw_echo(client: SSL.Connection, server: SSL.Connection, payload: bytes) -> None:
    client.sendall(payload)
    server.bio_write(client.bio_read(1 << 20))
    data = raw_recv_all(server)
    server.sendall(data)
    client.bio_write(server.bio_read(1 << 20))
    assert len(raw_recv_all(client)) == len(payload)


def cpu(fn: Callable[[], object], n: int) -> float:
    """CPU microseconds per call of ``fn`` over ``n`` calls."""
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


def compare(ours: Callable[[], object], raw: Callable[[], object], n: int) -> tuple[float, ...]:
    """Interleave five runs of each loop; medians of ours, raw and the per-run ratio."""
    runs = [(cpu(ours, n), cpu(raw, n)) for _ in range(5)]
    return (
        statistics.median(a for a, _ in runs),
        statistics.median(b for _, b in runs),
        statistics.median(a / b for a, b in runs),
    )


def ours_handshake(sctx: TLSContext, cctx: TLSContext) -> None:
    pair = engines(sctx, cctx)
    pair.pump()
    assert pair.client.info is not None and pair.server.info is not None


def received(engine: TLSEngine) -> bytes:
    return b"".join(
        e.data for e in iter(engine.next_event, None) if isinstance(e, PlaintextReceived)
    )


def ours_echo(client: TLSEngine, server: TLSEngine, payload: bytes) -> None:
    client.send(payload)
    server.receive_data(client.data_to_send())
    server.send(received(server))
    client.receive_data(server.data_to_send())
    assert len(received(client)) == len(payload)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    pki = make_pki("EC-P256")
    for tls13 in (True, False):
        for mutual in (False, True):
            device = V31 if tls13 else V28
            sctx = TLSContext.build(server_endpoint(pki, require_client_cert=mutual), device)
            cctx = TLSContext.build(client_endpoint(pki), device)
            rs, rc = raw_contexts(pki, tls13, mutual)
            a, b, r = compare(
                functools.partial(ours_handshake, sctx, cctx),
                functools.partial(raw_handshake, rs, rc),
                n,
            )
            name = f"TLS {'1.3' if tls13 else '1.2'} {'mutual' if mutual else 'server'} auth"
            print(f"handshake {name:<22} ouc {a:7.0f} us  raw {b:7.0f} us  ratio {r:.3f}")
    # Record path: echo round trips over an established TLS 1.3 connection.
    sctx = TLSContext.build(server_endpoint(pki), V31)
    cctx = TLSContext.build(client_endpoint(pki), V31)
    pair = engines(sctx, cctx)
    pair.pump()
    rs, rc = raw_contexts(pki, True, True)
    rclient, rserver = raw_handshake(rs, rc)
    for size in (258, 4096, 65536):
        payload = b"x" * size
        m = n * 20 if size < 65536 else n * 2
        a, b, r = compare(
            functools.partial(ours_echo, pair.client, pair.server, payload),
            functools.partial(raw_echo, rclient, rserver, payload),
            m,
        )
        print(f"echo {size:6d} B        ouc {a:7.1f} us  raw {b:7.1f} us  ratio {r:.3f}")


if __name__ == "__main__":
    main()
