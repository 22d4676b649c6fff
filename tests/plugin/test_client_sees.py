"""The README's "what your client sees" classification, as a peer's suite would use it: under
TLS 1.3 a strict PLC's refusal reaches a client whose handshake already completed."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import ssl

import pytest

from ouc.drivers import RecordKind
from ouc.pytest_plugin import present, trust

PLC_HUNG_UP = (ssl.SSLEOFError, ConnectionResetError, BrokenPipeError, asyncio.IncompleteReadError)
WAIT = 10.0


def refused_client(ouc_store, certificate) -> ssl.SSLContext:
    ctx = trust(ssl.create_default_context(), ouc_store)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    return present(ctx, certificate)


def test_a_strict_plc_refusal_after_the_tls13_handshake_is_a_hang_up(
    ouc_passive, ouc_store, ouc_bad_certs
) -> None:
    plc = ouc_passive(profile="strict")
    ctx = refused_client(ouc_store, ouc_bad_certs.unknown_ca())
    raw = socket.create_connection(plc.address, timeout=WAIT)
    with ctx.wrap_socket(raw, server_hostname="192.168.0.1") as tls:  # completes: TLS 1.3
        try:
            tls.sendall(bytes(258))
            answer = tls.recv(258)
        except PLC_HUNG_UP:
            answer = b""
    assert answer == b""
    refusal = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert refusal.status == 0x80E4 and refusal.reset  # why: unknown CA; how: reset


@pytest.mark.asyncio
async def test_the_asyncio_client_sees_the_same_hang_up(
    ouc_async_passive, ouc_store, ouc_bad_certs
) -> None:
    plc = await ouc_async_passive(profile="strict")
    ctx = refused_client(ouc_store, ouc_bad_certs.unknown_ca())
    reader, writer = await asyncio.open_connection(
        *plc.address, ssl=ctx, server_hostname="192.168.0.1"
    )
    with pytest.raises(PLC_HUNG_UP):
        writer.write(bytes(258))
        await writer.drain()
        await asyncio.wait_for(reader.readexactly(258), WAIT)
    writer.close()
    with contextlib.suppress(ssl.SSLError, OSError):
        await writer.wait_closed()
    refusal = await ouc_async_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert refusal.status == 0x80E4
