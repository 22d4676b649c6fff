"""The runner on loopback: a connection change from PLC1 to PLC2 (domain.md §8).

The rules themselves are tested without sockets in test_link*.py and test_tags.py (every case
of the firmware rule there); these tests show the runner carries them out over real TLS, one
case each: the documented sequence (ForceConnectionState 0,
UseAlternativeAddress 1, ForceConnectionState 1 → the alternative CPU), each row of the change
table (unknown self-signed → manual trust; unknown CA → import the CA, applied by a restart;
known CA → works) and the firmware rule (both CPUs below V2.9 → connected without TLS; one below
and one from V2.9 → refused with 16#80E1, or without TLS when explicitly allowed).
"""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from ouc.channel import ChannelConnection, LinkState, cpu_profile, format_table
from ouc.drivers import RecordKind, RecordLog
from ouc.errors import ConfigError, Status

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)


def _two_plcs(
    plant: Plant, plc2_kind: str, *, plc2_cpu: str = "S7-1500 V3.1"
) -> tuple[RecordLog, RecordLog, int]:
    """PLC1 (certificate 9, CA 3) answering b"PLC1", PLC2 answering b"PLC2"."""
    log1, log2 = RecordLog(), RecordLog()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, answer=b"PLC1", log=log1)
    cert2 = plant.plc_cert("PLC_2", plant.PLC2_IP, plc2_kind)
    plant.start_plc(
        "PLC_2", plant.PLC2_IP, cert2, answer=b"PLC2", log=log2, cpu=cpu_profile(plc2_cpu)
    )
    return log1, log2, cert2


def _contacts(log: RecordLog) -> list[RecordKind]:
    """What a PLC's log shows of partners (everything but its own LISTENING line)."""
    return [r.kind for r in log.records if r.kind is not RecordKind.LISTENING]


def _change_to_alternative(channel: Any, wait: float) -> Any:
    channel.set("PLC", "ForceConnectionState", 0, wait=wait)
    channel.set("PLC", "UseAlternativeAddress", 1)
    return channel.set("PLC", "ForceConnectionState", 1, wait=wait)


def _connection(plant: Plant, **options: Any) -> ChannelConnection:
    return plant.connection("PLC", alternative_address=plant.ALTERNATIVE, **options)


def test_the_documented_sequence_changes_from_plc1_to_plc2_and_back(plant: Plant) -> None:
    plant.import_known_ca()
    log1, log2, _ = _two_plcs(plant, "known-ca")
    channel = plant.channel(_connection(plant))
    row = channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)
    assert (row.target, row.via_alternative) == (f"{plant.PLC1_IP}:2000", False)
    assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC1"

    row = channel.set("PLC", "ForceConnectionState", 0, wait=plant.WAIT)
    assert (row.state, row.status) == (LinkState.DISCONNECTED, Status.NO_JOB)
    log1.wait_for(RecordKind.CLOSED, timeout=plant.WAIT)  # PLC1 saw the orderly close
    row = channel.set("PLC", "UseAlternativeAddress", 1)
    assert row.state is LinkState.DISCONNECTED  # nothing happens before force 1
    assert channel.get("PLC", "UseAlternativeAddress") == 1

    row = channel.set("PLC", "ForceConnectionState", 1, wait=plant.WAIT)
    assert row.state is LinkState.CONNECTED
    assert (row.target, row.via_alternative) == (f"{plant.PLC2_IP}:2000", True)
    assert row.peer == "CN=PLC_2"
    assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC2"
    assert len(log2.of(RecordKind.CONNECTED)) == 1

    channel.set("PLC", "ForceConnectionState", 0, wait=plant.WAIT)
    channel.set("PLC", "UseAlternativeAddress", 0)
    row = channel.set("PLC", "ForceConnectionState", 1, wait=plant.WAIT)
    assert (row.target, row.peer) == (f"{plant.PLC1_IP}:2000", "CN=PLC_1")
    assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC1"
    assert len(log1.of(RecordKind.CONNECTED)) == 2


def test_address_values_never_disconnect_a_running_connection(plant: Plant) -> None:
    plant.import_known_ca()
    _, log2, _ = _two_plcs(plant, "known-ca")
    channel = plant.channel(_connection(plant))
    channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)

    channel.set("PLC", "UseAlternativeAddress", 1)
    channel.set("PLC", "AlternativeAddress", f"IPAddress={plant.PLC2_IP}")
    row = channel.row("PLC")
    assert row.connected and not row.via_alternative
    assert row.alternative_address == f"IPAddress={plant.PLC2_IP};"
    assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC1"
    assert _contacts(log2) == []  # PLC2 was never contacted
    assert row.connections == 1


@pytest.mark.parametrize("kind", ["self-signed", "unknown-ca", "known-ca"])
def test_change_table(plant: Plant, kind: str) -> None:
    """unknown self-signed → manual trust; unknown CA → import the CA; known CA → works."""
    plant.import_known_ca()
    _, log2, cert2 = _two_plcs(plant, kind)
    channel = plant.channel(_connection(plant))
    channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)
    row = _change_to_alternative(channel, plant.WAIT)
    store = plant.device_store

    if kind == "known-ca":
        assert row.state is LinkState.CONNECTED
        assert store.untrusted() == []
        assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC2"
        return

    assert (row.state, row.status) == (LinkState.RETRYING, Status.TLS_NO_VALID_CA)
    (parked,) = store.untrusted()
    assert parked.read_bytes() == plant.cert(cert2).public_bytes(Encoding.DER)
    store.trust(parked.name)  # manual trust
    row = channel.set("PLC", "ForceConnectionState", 1, wait=plant.WAIT)  # attempt now
    if kind == "self-signed":
        assert row.state is LinkState.CONNECTED
        assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC2"
        return

    # A CA-issued certificate: trusting the end-entity certificate is not enough.
    assert (row.state, row.status) == (LinkState.RETRYING, Status.TLS_NO_VALID_CA)
    assert "import the CA" in row.reason
    assert log2.of(RecordKind.CONNECTED) == []
    plant.trust.import_ca(plant.cert(plant.other_ca()))  # imported while the channel runs
    row = channel.set("PLC", "ForceConnectionState", 1, wait=plant.WAIT)
    assert (row.state, row.status) == (LinkState.RETRYING, Status.TLS_NO_VALID_CA)
    assert "next channel start" in row.reason
    (row,) = channel.restart(keep_values=True, wait=plant.WAIT)  # the import applies now
    assert row.state is LinkState.CONNECTED and row.via_alternative
    assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC2"


@pytest.mark.parametrize(("old_cpu", "where"), [("S7-1500 V2.8", "alternative")])
def test_a_change_between_a_cpu_below_v2_9_and_one_from_v2_9_is_refused(
    plant: Plant, old_cpu: str, where: str
) -> None:
    plant.import_known_ca()
    old_ip = plant.PLC2_IP if where == "alternative" else plant.PLC1_IP
    _, log2, _ = _two_plcs(plant, "known-ca")
    channel = plant.channel(_connection(plant), cpus={old_ip: cpu_profile(old_cpu)})
    channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)  # no change: secured

    row = _change_to_alternative(channel, plant.WAIT)
    assert (row.state, row.status) == (LinkState.RETRYING, Status.TLS_HANDSHAKE_FAILURE)
    assert old_cpu.split()[1] in row.reason and old_ip in row.reason
    assert _contacts(log2) == []  # refused before any packet went to PLC2


@pytest.mark.parametrize("cpu", ["S7-1200 V4.5"])
def test_cpus_from_v2_9_change_securely(plant: Plant, cpu: str) -> None:
    plant.import_known_ca()
    _two_plcs(plant, "known-ca", plc2_cpu=cpu)
    channel = plant.channel(_connection(plant), cpus={plant.PLC2_IP: cpu_profile(cpu)})
    channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)
    row = _change_to_alternative(channel, plant.WAIT)
    assert row.state is LinkState.CONNECTED
    assert row.security == "TLSv1.3"


def test_both_cpus_below_v2_9_change_without_tls_and_every_status_line_says_so(
    plant: Plant,
) -> None:
    """The WinCC note (§8): both CPUs below V2.9 → the change works, without TLS."""
    plant.import_known_ca()
    old = cpu_profile("S7-1500 V2.8")
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, answer=b"PLC1", cpu=old)
    plant.start_plc("PLC_2", plant.PLC2_IP, None, answer=b"PLC2", cpu=old)  # plain TCP
    cpus = {plant.PLC1_IP: old, plant.PLC2_IP: old}
    channel = plant.channel(_connection(plant), cpus=cpus)  # no option needed
    row = channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)
    assert row.security == "TLSv1.2"  # no change yet: the block's TLS (V2.8 has no TLS 1.3)

    row = _change_to_alternative(channel, plant.WAIT)
    assert (row.state, row.via_alternative, row.peer) == (LinkState.CONNECTED, True, None)
    assert row.security.startswith("without TLS (both CPUs below V2.9")
    assert f"{plant.PLC2_IP} runs S7-1500 V2.8" in row.security
    assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC2"
    table = format_table(channel.status())
    assert "without TLS" in table.splitlines()[1]
    lines = [e.line() for e in channel.events() if e.kind in ("connecting", "connected")]
    assert all("without TLS" in line for line in lines[-2:]), lines


def test_allow_unsecured_connects_a_mixed_change_without_tls_and_says_so(plant: Plant) -> None:
    plant.import_known_ca()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, answer=b"PLC1")
    old = cpu_profile("S7-1500 V2.8")
    plant.start_plc("PLC_2", plant.PLC2_IP, None, answer=b"PLC2", cpu=old)  # plain TCP
    channel = plant.channel(_connection(plant), cpus={plant.PLC2_IP: old}, allow_unsecured=True)
    channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)
    row = _change_to_alternative(channel, plant.WAIT)
    assert row.state is LinkState.CONNECTED
    assert row.security.startswith("without TLS (allow_unsecured") and "V2.8" in row.security
    assert row.peer is None
    assert channel.request("PLC", b"?", timeout=plant.WAIT) == b"PLC2"


def test_access_points_limit_the_alternative_address(plant: Plant) -> None:
    plant.import_known_ca()
    _, log2, _ = _two_plcs(plant, "known-ca")
    channel = plant.channel(_connection(plant), access_points={"S7ONLINE": "127.0.0.5"})
    with pytest.raises(ConfigError, match="'CP1'"):
        channel.set("PLC", "AlternativeAddress", f"AccessPoint=CP1; IPAddress={plant.PLC2_IP}")
    channel.wait_for("PLC", LinkState.CONNECTED, timeout=plant.WAIT)
    row = _change_to_alternative(channel, plant.WAIT)  # S7ONLINE binds 127.0.0.5
    assert row.connected
    # The client's handshake ends before the server has read its Finished: wait for PLC2's record.
    log2.wait_for(RecordKind.CONNECTED, timeout=plant.WAIT)
    (record,) = log2.of(RecordKind.CONNECTED)
    assert record.peer is not None and record.peer.startswith(f"{plant.PC_IP}:")


def test_force_1_while_still_disconnecting_connects_again(plant: Plant) -> None:
    plant.import_known_ca()
    log = RecordLog()
    plant.start_plc("PLC_1", plant.PLC1_IP, 9, log=log)
    channel = plant.channel()
    channel.wait_for("PLC1", LinkState.CONNECTED, timeout=plant.WAIT)
    closing = (LinkState.DISCONNECTING, LinkState.DISCONNECTED)
    for round_ in range(1, 4):
        channel.set("PLC1", "ForceConnectionState", 0)
        channel.wait_for("PLC1", lambda r: r.state in closing, timeout=plant.WAIT)
        channel.set("PLC1", "ForceConnectionState", 1)  # often while it is still closing
        row = channel.wait_for(
            "PLC1", lambda r, n=round_: r.connected and r.connections > n, timeout=plant.WAIT
        )
        assert row.force == 1
    log.wait_for(RecordKind.CLOSED, count=3, timeout=plant.WAIT)
