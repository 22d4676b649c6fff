"""The runner against real PLCs on loopback: establishments the PLC refuses after the TLS 1.3
handshake, and closing the channel while an attempt is under way."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from ouc.channel import ChannelRow, LinkState
from ouc.errors import ConfigError, WaitTimeoutError

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)


def test_a_plc_refusing_the_pc_certificate_is_a_failed_attempt_with_back_off(
    plant: Plant,
) -> None:
    """Under TLS 1.3 the PC's handshake is complete before the PLC checks the PC's certificate
    (RFC 8446 §4.4.4); a PLC whose TLSClientCertRef is a CA the PC's certificate is not from
    ends the connection right after it. That is a failed attempt with back-off (never
    "connected", never an immediate retry), and the line names the likely cause."""
    plant.import_known_ca()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, require_client_cert=True, client_ca=plant.other_ca())
    channel = plant.channel(retry_delay=1.0, max_retry_delay=2.0)

    def three_failed(row: ChannelRow) -> bool:
        return row.state is LinkState.RETRYING and row.attempts >= 3

    row = channel.wait_for("PLC1", three_failed, timeout=plant.WAIT)
    assert row.connections == 0
    events = [event for event in channel.events() if event.connection == "PLC1"]
    kinds = [event.kind for event in events]
    assert "connected" not in kinds and "dropped" not in kinds
    failed = [event.text for event in events if event.kind == "failed"][:3]
    assert all(f"refused the PC's certificate {plant.hmi_id}" in text for text in failed)
    # Each failure waits longer before the next attempt (1 s, doubled up to 2 s).
    assert [text.rsplit("(next attempt in ", 1)[1] for text in failed] == ["1 s)", "2 s)", "2 s)"]
    # 7001 is the initial call, 7002 every re-establishment (domain.md §4).
    connecting = [event.status for event in events if event.kind == "connecting"][:3]
    assert connecting == [0x7001, 0x7002, 0x7002]


def test_a_tls_1_3_establishment_is_connected_once_it_lived_the_retry_delay(
    plant: Plant,
) -> None:
    plant.import_known_ca()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, require_client_cert=True)
    channel = plant.channel(retry_delay=0.2, max_retry_delay=0.4)
    row = channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    assert (row.attempts, row.connections, row.security) == (1, 1, "TLSv1.3")
    assert channel.request("PLC1", b"ping", timeout=plant.WAIT) == b"ping"


@pytest.fixture
def silent_plc(plant: Plant) -> Iterator[None]:
    """PLC1's address answers the TCP connect (the kernel's backlog) and then says nothing."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)
    host, port = listener.getsockname()
    plant.map.add(plant.PLC1_IP, plant.PORT, host, port)
    try:
        yield
    finally:
        listener.close()


def test_closing_during_a_handshake_with_a_silent_plc_does_not_wait_for_it(
    plant: Plant, silent_plc: None
) -> None:
    channel = plant.channel(connect_timeout=60.0)
    channel.wait_for("PLC1", LinkState.CONNECTING, timeout=plant.WAIT)
    started = time.monotonic()
    channel.close()
    # The attempt's own bound is 60 s; close() does not wait for it.
    assert time.monotonic() - started < 30.0


@pytest.fixture
def talking_plc(plant: Plant) -> Iterator[tuple[threading.Event, list[int]]]:
    """A plain-TCP PLC at PLC1's address that, once the PC connects, sends it 4 MiB unasked
    (more than the sockets' buffers hold) and then 5 bytes more; ``sent`` gets the total and
    the event is set once every byte went out (a PC that reads nothing leaves the PLC's
    sendall stuck). The PC may count the last byte before the PLC's thread runs again, so a
    test waits for the event rather than reading ``sent`` at once."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(plant.WAIT)
    host, port = listener.getsockname()
    plant.map.add(plant.PLC1_IP, plant.PORT, host, port)
    sent: list[int] = []
    all_sent = threading.Event()

    def talk() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.settimeout(plant.WAIT * 3)
            payload = b"\x5a" * (4 << 20)
            conn.sendall(payload)
            conn.sendall(b"tail!")
            sent.append(len(payload) + 5)
            all_sent.set()
            conn.recv(1)  # until the PC closes

    thread = threading.Thread(target=talk, name="talking-plc", daemon=True)
    thread.start()
    try:
        yield all_sent, sent
    finally:
        listener.close()


def test_what_the_plc_sends_unasked_is_read_counted_and_logged(
    plant: Plant, talking_plc: tuple[threading.Event, list[int]]
) -> None:
    all_sent, sent = talking_plc
    channel = plant.channel(plant.connection(block=plant.block(secure=False)))
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    expected = (4 << 20) + 5

    def all_counted(row: ChannelRow) -> bool:
        received = [e for e in channel.events() if e.kind == "received"]
        return bool(received) and received[-1].text.endswith(
            f"{expected} bytes on this connection)"
        )

    channel.wait_for("PLC1", all_counted, timeout=plant.WAIT * 3)
    # The PLC's sendall finished: the PC drained the socket.
    assert all_sent.wait(plant.WAIT) and sent == [expected]
    received = [e for e in channel.events() if e.kind == "received"]
    assert all(e.status == 0 for e in received)
    # The last frames are kept for receive(): the oldest kept one is taken first.
    frames = []
    while True:
        try:
            frames.append(channel.receive("PLC1", timeout=0.0))
        except WaitTimeoutError:
            break
    assert frames and b"".join(frames).endswith(b"\x5a" * 16 + b"tail!")


def test_a_worker_that_dies_of_a_bug_stops_its_connection_visibly(
    plant: Plant, caplog: pytest.LogCaptureFixture
) -> None:
    """An unexpected exception in a worker (a bug) is logged, ends that connection with a
    ``failed`` line naming it (state closed, not a stale "connecting" nobody works on), and
    closing the channel still stops cleanly."""
    channel = plant.channel(start=False)

    def broken_open(*args: object) -> None:
        raise RuntimeError("boom")

    channel._open = broken_open  # type: ignore[method-assign]
    channel.start()
    row = channel.wait_for("PLC1", LinkState.CLOSED, timeout=plant.WAIT)
    assert row.reason.startswith("internal error (RuntimeError: boom)")
    failed = [e for e in channel.events() if e.kind == "failed"]
    assert failed and "internal error (RuntimeError: boom)" in failed[-1].line()
    assert "channel worker of PLC1 failed" in caplog.text
    started = time.monotonic()
    channel.close(timeout=plant.WAIT)
    assert time.monotonic() - started < plant.WAIT
    assert "did not stop" not in caplog.text


@pytest.mark.parametrize("key", ["connect_timeout", "retry_delay", "max_retry_delay"])
@pytest.mark.parametrize("value", [float("nan"), float("inf"), 0.0])
def test_a_channel_refuses_a_time_no_timer_can_wait(plant: Plant, key: str, value: float) -> None:
    with pytest.raises(ConfigError, match=f"^{key}: must be a number of seconds"):
        plant.channel(start=False, **{key: value})
