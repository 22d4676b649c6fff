"""The runner on loopback: manual trust through the device certificate store, and CRLs.

An unknown self-signed PLC certificate fails the connection with 16#80E4 and lands in
``untrusted/``; moved to ``trusted/`` the next attempt succeeds; moved back, the next
establishment fails again (the connection that is up stays up); a CA-issued certificate revoked
by a CRL in ``trusted/crl/`` fails with 16#80E3.
"""

from __future__ import annotations

from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from ouc.channel import LinkState
from ouc.drivers import RecordKind, RecordLog
from ouc.errors import Status

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)


def _der(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.DER)


def test_unknown_self_signed_certificate_fails_80e4_and_lands_in_untrusted(plant: Plant) -> None:
    cert_id = plant.plc_cert("PLC_1", plant.PLC1_IP, "self-signed")
    plant.start_plc("PLC_1", plant.PLC1_IP, cert_id)
    channel = plant.channel()

    row = channel.wait_for(
        "PLC1", lambda r: r.attempts >= 1 and r.state is LinkState.RETRYING, timeout=plant.WAIT
    )
    assert row.status == Status.TLS_NO_VALID_CA
    assert "self-signed" in row.reason
    store = plant.device_store
    parked = store.untrusted()
    assert [p.read_bytes() for p in parked] == [_der(plant.cert(cert_id))]
    assert store.trusted() == []
    # Further attempts fail the same way and do not write it again.
    channel.wait_for("PLC1", lambda r: r.attempts >= 3, timeout=plant.WAIT)
    assert len(store.untrusted()) == 1


def test_moving_the_file_to_trusted_lets_the_next_attempt_succeed(plant: Plant) -> None:
    cert_id = plant.plc_cert("PLC_1", plant.PLC1_IP, "self-signed")
    plant.start_plc("PLC_1", plant.PLC1_IP, cert_id)
    channel = plant.channel()
    channel.wait_for("PLC1", lambda r: r.status == Status.TLS_NO_VALID_CA, timeout=plant.WAIT)

    (parked,) = plant.device_store.untrusted()
    plant.device_store.trust(parked.name)  # what the user does by hand

    row = channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    assert row.status == Status.CONNECTED_IDLE
    assert row.peer == "CN=PLC_1"
    assert row.security == "TLSv1.3"
    assert channel.request("PLC1", b"hello", timeout=plant.WAIT) == b"hello"


def test_moving_it_back_revokes_the_trust_from_the_next_establishment(plant: Plant) -> None:
    cert_id = plant.plc_cert("PLC_1", plant.PLC1_IP, "self-signed")
    plant.start_plc("PLC_1", plant.PLC1_IP, cert_id)
    store = plant.device_store
    channel = plant.channel()
    channel.wait_for("PLC1", lambda r: r.status == Status.TLS_NO_VALID_CA, timeout=plant.WAIT)
    store.trust(store.untrusted()[0].name)
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)

    (trusted,) = [p for p in store.trusted_dir.iterdir() if p.is_file()]
    store.distrust(trusted.name)
    # The connection that is up stays up.
    assert channel.request("PLC1", b"still up", timeout=plant.WAIT) == b"still up"
    assert channel.row("PLC1").state is LinkState.CONNECTED

    channel.set("PLC1", "ForceConnectionState", 0, wait=plant.WAIT)
    row = channel.set("PLC1", "ForceConnectionState", 1, wait=plant.WAIT)
    assert row.state is LinkState.RETRYING
    assert row.status == Status.TLS_NO_VALID_CA


def test_crl_in_trusted_crl_fails_80e3(plant: Plant) -> None:
    plant.import_known_ca()
    log = RecordLog()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log)  # the example's certificate, CA 3
    channel = plant.channel()
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)

    crl = plant.store.revoke(9, now=plant.NOW)
    plant.device_store.add_crl(crl, "ca3.crl")
    assert channel.request("PLC1", b"x", timeout=plant.WAIT) == b"x"  # up, stays up

    channel.set("PLC1", "ForceConnectionState", 0, wait=plant.WAIT)
    row = channel.set("PLC1", "ForceConnectionState", 1, wait=plant.WAIT)
    assert row.status == Status.TLS_CERT_DISCARDED
    assert "revoked" in row.reason
    assert plant.device_store.untrusted() == []  # revoked is not unknown: nothing to trust
    assert len(log.of(RecordKind.CONNECTED)) == 1
