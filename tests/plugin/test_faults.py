"""Each fault of :class:`ouc.pytest_plugin.Faults`, injected for real and observed from the peer."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
import os
import socket
import ssl
import time

import pytest

from ouc.certs import BadCertFactory, CertStore
from ouc.drivers import RecordKind
from ouc.errors import ConfigError, OucConnectionError, Status, TLSError
from ouc.params import STANDARD_CLIENT
from ouc.pytest_plugin import ActiveFactory, Faults, PassiveFactory, PemFiles

FRAME = 258
WAIT = 10.0
_MAX_FRAMES = 80_000


def frame() -> bytes:
    return os.urandom(FRAME)


# --------------------------------------------------------------------------- the switch


def test_faults_are_off_by_default_and_name_what_is_on() -> None:
    assert not Faults()
    assert Faults().names == ()
    faults = Faults(delay=0.2, wrong_length=-3, accept_any_client_cert=True)
    assert faults and faults.names == ("delay", "wrong_length", "accept_any_client_cert")
    assert faults.shape(b"abcdef") == b"abc"
    assert Faults(wrong_length=2).shape(b"ab") == b"ab\x00\x00"
    assert Faults(wrong_length=-9).shape(b"ab") == b""


@pytest.mark.parametrize("delay", [-0.1, float("inf"), float("nan")])
def test_a_bad_delay_is_a_config_error(delay: float) -> None:
    with pytest.raises(ConfigError, match="delay"):
        Faults(delay=delay)


@pytest.mark.parametrize("pause", [-1.0, float("nan")])
def test_a_bad_pause_is_a_config_error(pause: float) -> None:
    with pytest.raises(ConfigError, match="pause_receiving") as info:
        Faults(pause_receiving=pause)
    assert info.value.path == "pause_receiving"
    assert Faults(pause_receiving=math.inf).names == ("pause_receiving",)


# --------------------------------------------------------------------------- passive side


def test_close_after_handshake(ouc_passive: PassiveFactory, ouc_active: ActiveFactory) -> None:
    plc = ouc_passive(faults=Faults(close_after_handshake=True))
    client = ouc_active(plc, reconnect=False)
    closed = ouc_active.log(client).wait_for(RecordKind.CLOSED, timeout=WAIT)
    assert closed.status == Status.PARTNER_CLOSED and not closed.reset
    server_log = ouc_passive.log(plc)
    server_log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    kinds = [r.kind for r in server_log.records if r.peer]
    assert kinds == [RecordKind.CONNECTED, RecordKind.CLOSED]


def test_reset_mid_frame(ouc_passive: PassiveFactory, ouc_active: ActiveFactory) -> None:
    plc = ouc_passive(faults=Faults(reset_mid_frame=True))
    client = ouc_active(plc, reconnect=False)
    client.send(frame())
    with pytest.raises(OucConnectionError) as info:
        client.receive(timeout=WAIT)
    assert info.value.status in (Status.PARTNER_CLOSED, Status.NETWORK_ERROR)
    # Half a frame arrived and was never handed out as a frame.
    conn = client.connection
    assert conn is not None and conn.buffered == FRAME // 2
    record = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert record.reset and "reset mid-frame" in record.reason


def test_delay(ouc_passive: PassiveFactory, ouc_active: ActiveFactory) -> None:
    plc = ouc_passive(faults=Faults(delay=0.2))
    client = ouc_active(plc)
    data = frame()
    started = time.monotonic()
    client.send(data)
    assert client.receive(timeout=WAIT) == data
    assert time.monotonic() - started >= 0.2


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_3, ssl.TLSVersion.TLSv1_2], ids=["tls13", "tls12"]
)
def test_pause_receiving_for_ever_fills_the_window_and_blocks_the_sender(
    ouc_passive: PassiveFactory, ouc_pem: PemFiles, version: ssl.TLSVersion
) -> None:
    """EN_R FALSE after the handshake: a plain ``ssl`` client's sends stop being taken at some
    point (its send times out) and the PLC received no frame at all. The handshake itself
    completes: with TLS 1.2 the server's Finished is the last flight, sent before the pause."""
    plc = ouc_passive(faults=Faults(pause_receiving=math.inf))
    ctx = ssl.create_default_context(cafile=ouc_pem.ca)
    ctx.maximum_version = version
    ctx.check_hostname = False
    ctx.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
    raw = socket.create_connection(plc.address, timeout=3.0)  # the handshake must not wait
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 16384)
    sent = 0
    with ctx.wrap_socket(raw) as tls:
        assert tls.version() == ("TLSv1.3" if version is ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
        connected = ouc_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=WAIT)
        assert connected.status == Status.ESTABLISHED
        tls.settimeout(0.5)
        with pytest.raises(TimeoutError):
            for _ in range(_MAX_FRAMES):  # bounded: ~20 MB, far beyond any TCP window here
                tls.sendall(frame())
                sent += 1
    assert 0 < sent < _MAX_FRAMES
    kinds = {r.kind for r in ouc_passive.log(plc).records}
    assert RecordKind.RECEIVE_FAILED not in kinds and RecordKind.FAILED not in kinds
    conn = next(iter(plc.peers())).connection
    # TRCV_C never got to receive: connecting, connected, its job waiting (EN_R = 1), then
    # EN_R = 0 (7004) while receiving is paused; nothing after.
    assert conn.status_sequence("TRCV_C") == [
        Status.NO_JOB,
        Status.CONNECTING,
        Status.IN_PROGRESS,
        Status.ESTABLISHED,
        Status.RECEIVING,
        Status.CONNECTED_IDLE,
    ]


def test_pause_receiving_then_answers_what_waited(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory
) -> None:
    plc = ouc_passive(faults=Faults(pause_receiving=0.3))
    started = time.monotonic()
    client = ouc_active(plc)
    first, second = frame(), frame()
    client.send(first)
    client.send(second)
    assert client.receive(timeout=WAIT) == first
    assert time.monotonic() - started >= 0.3
    assert client.receive(timeout=WAIT) == second


def test_wrong_length_longer(ouc_passive: PassiveFactory, ouc_active: ActiveFactory) -> None:
    plc = ouc_passive(faults=Faults(wrong_length=+3))
    client = ouc_active(plc)
    first, second = frame(), frame()
    client.send(first)
    assert client.receive(timeout=WAIT) == first  # 258 of the 261 bytes: one frame...
    client.send(second)
    # ...and the 3 extra zeros start the next frame: the client's stream is off by 3 now.
    assert client.receive(timeout=WAIT) == bytes(3) + second[:-3]


def test_wrong_length_shorter(ouc_passive: PassiveFactory, ouc_active: ActiveFactory) -> None:
    plc = ouc_passive(faults=Faults(wrong_length=-8))
    client = ouc_active(plc, receive_len=FRAME, adhoc=True)
    data = frame()
    client.send(data)
    event = client.receive_event(timeout=WAIT)
    assert event.data == data[:-8] and event.rcvd_len == FRAME - 8  # type: ignore[union-attr]


def test_expired_certificate(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory, ouc_store: CertStore
) -> None:
    plc = ouc_passive(faults=Faults(expired_certificate=True))
    # The store holds the expired certificate 9 now, and the endpoint presents it.
    now = dt.datetime.now(dt.UTC)
    assert ouc_store.certificate(9).not_valid_after_utc < now
    with pytest.raises(TLSError) as info:
        ouc_active(plc, reconnect=False)
    assert info.value.status == Status.TLS_CERT_EXPIRED
    failed = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.status == Status.TLS_CERT_EXPIRED  # the client's certificate_expired alert


def test_accept_any_client_cert(
    ouc_passive: PassiveFactory,
    ouc_active: ActiveFactory,
    ouc_store: CertStore,
    ouc_bad_certs: BadCertFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A client certificate from a CA the PLC does not know: refused, unless verification is off.
    stranger = ouc_bad_certs.unknown_ca()
    stranger_id = ouc_store.add(stranger.cert, stranger.key)
    ouc_store.assign("PLC_2", [stranger_id])
    block = dataclasses.replace(STANDARD_CLIENT, TLSClientCertRef=stranger_id)
    strict = ouc_passive()
    refused_client = ouc_active(strict, block, reconnect=False)
    refused = ouc_passive.log(strict).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert refused.status == Status.TLS_NO_VALID_CA
    # TLS 1.3: the client finished its handshake before the server refused its certificate;
    # it learns of the refusal from the alert that follows.
    alert = ouc_active.log(refused_client).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert alert.status == Status.TLS_NO_VALID_CA

    with caplog.at_level(logging.WARNING, logger="ouc.tls"):
        lax = ouc_passive(faults=Faults(accept_any_client_cert=True))
    assert "switched OFF" in caplog.text
    client = ouc_active(lax, block)
    data = frame()
    client.send(data)
    assert client.receive(timeout=WAIT) == data
    connected = ouc_passive.log(lax).wait_for(RecordKind.CONNECTED, timeout=WAIT)
    assert connected.info is not None and connected.info.insecure
    assert "INSECURE" in connected.line()


# --------------------------------------------------------------------------- active side


def test_active_expired_certificate(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory, ouc_store: CertStore
) -> None:
    plc = ouc_passive()
    client = ouc_active(plc, faults=Faults(expired_certificate=True), reconnect=False)
    assert ouc_store.certificate(11).not_valid_after_utc < dt.datetime.now(dt.UTC)
    failed = ouc_passive.log(plc).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.status == Status.TLS_CERT_EXPIRED
    alert = ouc_active.log(client).wait_for(RecordKind.FAILED, timeout=WAIT)
    assert alert.status == Status.TLS_CERT_EXPIRED


def test_active_accepts_any_server_certificate(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory
) -> None:
    plc = ouc_passive(faults=Faults(expired_certificate=True))
    client = ouc_active(plc, faults=Faults(accept_any_client_cert=True))
    assert client.info is not None and client.info.insecure


def test_active_close_after_handshake(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory
) -> None:
    plc = ouc_passive()
    client = ouc_active(plc, faults=Faults(close_after_handshake=True))
    assert not client.connected
    closed = ouc_passive.log(plc).wait_for(RecordKind.CLOSED, timeout=WAIT)
    assert closed.status == Status.PARTNER_CLOSED


def test_active_send_faults(ouc_passive: PassiveFactory, ouc_active: ActiveFactory) -> None:
    plc = ouc_passive()
    client = ouc_active(plc, faults=Faults(wrong_length=+2, delay=0.1))
    first, second = frame(), frame()
    started = time.monotonic()
    client.send(first)
    client.send(second)
    assert time.monotonic() - started >= 0.2
    assert client.receive(timeout=WAIT) == first
    # The server cut the stream into 258-byte frames: the 2 extra zeros start the second one.
    assert client.receive(timeout=WAIT) == bytes(2) + second[:-2]


def test_active_reset_mid_frame_is_refused(ouc_active: ActiveFactory) -> None:
    with pytest.raises(ConfigError, match="passive-side"):
        ouc_active("127.0.0.1:1", faults=Faults(reset_mid_frame=True), connect=False)


def test_active_pause_receiving_is_refused(ouc_active: ActiveFactory) -> None:
    with pytest.raises(ConfigError, match="passive-side") as info:
        ouc_active("127.0.0.1:1", faults=Faults(pause_receiving=1.0), connect=False)
    assert info.value.path == "faults.pause_receiving"
