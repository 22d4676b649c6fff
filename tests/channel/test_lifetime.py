"""The runner on loopback: certificate lifetime as the WinCC note gives it (domain.md §8).

An established connection stays up when a certificate expires (by the channel's emulated
clock); renewed certificates are used when a connection is established again; certificates
imported while the channel runs (a CA, an own certificate ID) apply at the next channel start
or after a restart; the channel closes in order.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509

from ouc.channel import ChannelRow, LinkState
from ouc.drivers import RecordKind, RecordLog
from ouc.errors import Status, WaitTimeoutError

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)


def test_connection_stays_up_when_the_plc_certificate_expires(plant: Plant) -> None:
    plant.import_known_ca()
    cert_id = plant.plc_cert("PLC_1", plant.PLC1_IP, "known-ca", days=30)
    plant.start_plc("PLC_1", plant.PLC1_IP, cert_id)
    channel = plant.channel()
    row = channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    assert not row.peer_expired
    assert row.peer_valid_to == plant.cert(cert_id).not_valid_after_utc

    plant.clock.advance(dt.timedelta(days=60))  # the PLC certificate has expired now
    row = channel.row("PLC1")
    assert row.state is LinkState.CONNECTED
    assert row.peer_expired
    assert channel.request("PLC1", b"after expiry", timeout=plant.WAIT) == b"after expiry"

    channel.set("PLC1", "ForceConnectionState", 0, wait=plant.WAIT)
    row = channel.set("PLC1", "ForceConnectionState", 1, wait=plant.WAIT)
    assert row.state is LinkState.RETRYING
    assert row.status == Status.TLS_CERT_EXPIRED
    assert "PLC_1" in row.reason


def test_renewed_own_certificate_is_presented_from_the_next_establishment(plant: Plant) -> None:
    plant.import_known_ca()
    seen: list[bytes | None] = []
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, require_client_cert=True, seen=seen)
    channel = plant.channel()
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    channel.request("PLC1", b"one", timeout=plant.WAIT)
    first = x509.load_der_x509_certificate(seen[-1] or b"")
    assert first == plant.cert(plant.hmi_id)

    renewed = plant.store.renew(plant.hmi_id, now=plant.NOW + dt.timedelta(minutes=1))
    assert renewed.serial_number != first.serial_number
    channel.request("PLC1", b"two", timeout=plant.WAIT)  # same connection: old certificate
    assert seen[-1] == seen[0]

    channel.set("PLC1", "ForceConnectionState", 0, wait=plant.WAIT)
    channel.set("PLC1", "ForceConnectionState", 1, wait=plant.WAIT)
    channel.request("PLC1", b"three", timeout=plant.WAIT)
    assert x509.load_der_x509_certificate(seen[-1] or b"") == renewed


def test_plc_restarted_with_a_renewed_certificate_is_verified_when_re_established(
    plant: Plant,
) -> None:
    plant.import_known_ca()
    log = RecordLog()
    plc = plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log)
    channel = plant.channel()
    before = channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    # TLS 1.3: the channel (the client) is connected once it sent its Finished; the PLC only
    # once it read it. Stopping the PLC in between would end its side before 0001.
    log.wait_for(RecordKind.CONNECTED, timeout=plant.WAIT)

    address = plc.address
    plc.stop()  # the PLC goes away: the channel sees the drop
    channel.wait_for(
        "PLC1",
        lambda r: r.connections == 1 and r.state is not LinkState.CONNECTED,
        timeout=plant.WAIT,
    )
    # The drop's own STATUS: the row may already show the next attempt (16#7001) by now.
    (dropped,) = [e for e in channel.events() if e.kind == "dropped"]
    assert dropped.status >= 0x8000
    renewed = plant.store.renew(9, now=plant.NOW + dt.timedelta(minutes=10))
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log, listen=address)

    after = channel.wait_for(
        "PLC1", lambda r: r.connections == 2 and r.connected, timeout=plant.WAIT
    )
    assert after.peer_valid_to == renewed.not_valid_after_utc != before.peer_valid_to
    log.wait_for(RecordKind.CONNECTED, timeout=plant.WAIT, count=2)  # the PLC side's record
    assert len(log.of(RecordKind.CONNECTED)) == 2
    assert any(e.kind == "dropped" for e in channel.events())


def test_a_ca_imported_while_running_is_not_used_until_restart(plant: Plant) -> None:
    """The WinCC note: certificates imported while Runtime runs apply at the next start."""
    log = RecordLog()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log)  # issued by CA 3, not imported yet
    channel = plant.channel()
    row = channel.wait_for("PLC1", lambda r: r.status == Status.TLS_NO_VALID_CA, timeout=plant.WAIT)
    assert "CA 3" in row.reason

    plant.import_known_ca()
    seen = row.attempts
    row = channel.wait_for("PLC1", lambda r: _retrying_after(r, seen), timeout=plant.WAIT)
    assert (row.state, row.connections) == (LinkState.RETRYING, 0)  # tried, not used
    assert row.status == Status.TLS_NO_VALID_CA and "next channel start" in row.reason
    assert log.of(RecordKind.CONNECTED) == []

    (row,) = channel.restart(wait=plant.WAIT)
    assert row.state is LinkState.CONNECTED and row.peer == "CN=PLC_1"
    assert any(e.kind == "restart" for e in channel.events())


def test_an_unknown_own_certificate_id_fails_80ed_without_connecting(plant: Plant) -> None:
    plant.import_known_ca()
    log = RecordLog()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log)
    plant.store.unassign("HMI_1", [plant.hmi_id])
    channel = plant.channel()
    row = channel.wait_for(
        "PLC1", lambda r: r.attempts >= 1 and r.state is LinkState.RETRYING, timeout=plant.WAIT
    )
    assert row.status == Status.TLS_CERT_REF_UNKNOWN
    assert "HMI_1" in row.reason

    plant.store.assign("HMI_1", [plant.hmi_id])  # fixed in the project while running
    seen = row.attempts
    row = channel.wait_for("PLC1", lambda r: _retrying_after(r, seen), timeout=plant.WAIT)
    assert row.status == Status.TLS_CERT_REF_UNKNOWN and "after the channel started" in row.reason
    assert _contacts(log) == []  # refused before any packet went out

    channel.restart(wait=plant.WAIT)
    assert channel.row("PLC1").connected
    log.wait_for(RecordKind.CONNECTED, timeout=plant.WAIT)  # the PLC side's record
    assert len(log.of(RecordKind.CONNECTED)) == 1


def _retrying_after(row: ChannelRow, attempts: int) -> bool:
    """Two more attempts than ``attempts`` were made, and the last one failed."""
    return row.attempts >= attempts + 2 and row.state is LinkState.RETRYING


def _contacts(log: RecordLog) -> list[RecordKind]:
    return [r.kind for r in log.records if r.kind is not RecordKind.LISTENING]


def _channel_threads(before: set[threading.Thread]) -> list[str]:
    """The channel's threads started since ``before`` (a worker of an earlier test's channel
    may still be ending: close() does not wait for one inside a handshake)."""
    return [
        t.name
        for t in threading.enumerate()
        if t.name.startswith(("ouc-channel", "ouc-HMI")) and t not in before
    ]


def test_close_stops_every_thread_and_closes_in_order(
    plant: Plant, open_sockets: Callable[[], set[str]]
) -> None:
    plant.import_known_ca()
    log = RecordLog()
    before, threads = open_sockets(), set(threading.enumerate())
    plc = plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log)
    channel = plant.channel()
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    assert _channel_threads(threads)  # a worker and the driver's watcher

    channel.close()
    assert channel.row("PLC1").state is LinkState.CLOSED
    assert _channel_threads(threads) == []
    record = log.wait_for(RecordKind.CLOSED, timeout=plant.WAIT)  # the PLC saw an orderly close
    assert not record.reset
    channel.close()  # twice is harmless
    plc.stop()
    assert open_sockets() - before == set()  # no socket left behind


def test_restart_waits_for_the_start_values_to_apply(plant: Plant) -> None:
    """A connection switched off (force 0, start value 1) is up again when restart returns."""
    plant.import_known_ca()
    log = RecordLog()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log)
    channel = plant.channel()
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    channel.set("@PLC1@ForceConnectionState", 0, wait=plant.WAIT)
    (row,) = channel.restart(wait=plant.WAIT)
    assert (row.state, row.force, row.connections) == (LinkState.CONNECTED, 1, 2)
    log.wait_for(RecordKind.CONNECTED, count=2, timeout=plant.WAIT)


def test_waits_that_run_out_raise_a_timeout_without_a_plc_status(plant: Plant) -> None:
    """``wait_for`` and ``receive(timeout=)`` give up on the caller's limit: no STATUS (the
    help lists no timeout code), a ``TimeoutError``, and the connection carries on."""
    plant.import_known_ca()
    plant.start_plc("PLC_1", plant.PLC1_IP, plant.plc_cert("PLC_1", plant.PLC1_IP, "known-ca"))
    channel = plant.channel()
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    with pytest.raises(TimeoutError) as waited:
        channel.wait_for("PLC1", LinkState.DISCONNECTED, timeout=0.1)
    assert isinstance(waited.value, WaitTimeoutError) and waited.value.status is None
    assert "did not reach disconnected within 0.1 s; it is connected" in waited.value.message
    with pytest.raises(WaitTimeoutError) as received:
        channel.receive("PLC1", timeout=0.1)
    assert received.value.status is None
    assert channel.row("PLC1").state is LinkState.CONNECTED
    assert channel.request("PLC1", b"still up", timeout=plant.WAIT) == b"still up"
