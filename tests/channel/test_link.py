"""The channel's rules without sockets or threads: the sans-I/O :class:`Link` alone.

Each test drives one link with events and ``now`` and checks what it asks for. The handshake is
played by calling the attempt's verifier the way the TLS engine calls it, with real
certificates from a real project store, so the trust decisions are the ones a real
establishment makes (domain.md §8: manual trust, imported CAs, the change table).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ouc.channel import CertSnapshot, ChannelConnection, LinkState
from ouc.channel._link import Connect, Drop, Link, LinkRules, Stop, Wait
from ouc.device import Device, Role
from ouc.errors import CertError, ConfigError, Status

Plant = Any  # the fixture's class lives in conftest (importlib mode: not importable)


def _rules(plant: Plant, **changes: Any) -> LinkRules:
    values: dict[str, Any] = {
        "device": Device(name="HMI_1", own_addresses=(plant.PC_IP,)),
        "project_store": plant.store,
        "cpus": {},
        "default_cpu": Device(),
        "allow_unsecured": False,
        "access_points": {},
        "clock": plant.clock,
        "retry_delay": 1.0,
        "max_retry_delay": 8.0,
    }
    return LinkRules(**{**values, **changes})


def _link(plant: Plant, *, force: bool = True, use_alternative: bool = False, **rules: Any) -> Link:
    settings = ChannelConnection(
        "PLC",
        plant.block(),
        alternative_address=plant.ALTERNATIVE,
        use_alternative=use_alternative,
        force=force,
    )
    link = Link(settings, plant.device_store, _rules(plant, **rules))
    link.start(CertSnapshot.take(plant.trust, plant.store, "HMI_1"))
    return link


def _connect(link: Link, now: float = 0.0) -> Connect:
    action = link.poll(now)
    assert isinstance(action, Connect), action
    assert link.state is LinkState.CONNECTING
    assert link.status in (Status.CONNECTING, Status.IN_PROGRESS)
    return action


def _handshake(link: Link, action: Connect, leaf: x509.Certificate, now: float = 0.0) -> None:
    """What the runner reports after the TLS engine ran the attempt's verifier on ``leaf``."""
    try:
        action.verifier(
            leaf,
            anchors=(),
            intermediates=(),
            now=link.rules.clock(),
            expected_address=None,
            crls=(),
            peer_role=Role.PASSIVE,
            legacy_anchors=(),
        )
    except CertError as exc:
        link.failed(action.attempt, exc.status, exc.message, now)
    else:
        link.connected(action.attempt, "TLSv1.3", leaf.public_bytes(Encoding.DER))


def _up(link: Link, plant: Plant, now: float = 0.0) -> Connect:
    action = _connect(link, now)
    link.connected(action.attempt, "TLSv1.3", plant.cert(9).public_bytes(Encoding.DER))
    assert (link.state, link.status) == (LinkState.CONNECTED, Status.CONNECTED_IDLE)
    return action


def _kinds(link: Link) -> list[str]:
    return [event.kind for event in link.take_events()]


# -- the life of a connection ------------------------------------------------------------------


def test_connect_disconnect_and_connect_again(plant: Plant) -> None:
    link = _link(plant)
    action = _up(link, plant)
    assert action.target == f"{plant.PLC1_IP}:2000" and action.bind is None
    assert action.block.secure and action.identity is not None
    assert action.identity.own_cert == plant.cert(plant.hmi_id)
    assert link.poll(1.0) == Wait(None)
    row = link.row()
    assert (row.peer, row.security, row.connections) == ("CN=PLC_1", "TLSv1.3", 1)
    assert _kinds(link) == ["connecting", "connected"]

    link.set("ForceConnectionState", 0, 2.0)
    assert link.poll(2.0) == Drop(action.attempt)
    assert (link.state, link.status) == (LinkState.DISCONNECTING, Status.DISCONNECTING)
    assert link.poll(2.0) == Wait(None)  # until the runner reports the endpoint closed
    link.released(action.attempt)
    assert (link.state, link.status) == (LinkState.DISCONNECTED, Status.NO_JOB)
    assert link.poll(3.0) == Wait(None)
    assert _kinds(link) == ["set", "disconnected"]

    link.set("ForceConnectionState", 1, 4.0)
    assert _connect(link, 4.0).attempt == action.attempt + 1


def test_force_1_while_disconnecting_connects_as_soon_as_it_is_closed(plant: Plant) -> None:
    link = _link(plant)
    first = _up(link, plant)
    link.set("ForceConnectionState", 0, 1.0)
    assert isinstance(link.poll(1.0), Drop)
    link.set("ForceConnectionState", 1, 1.0)
    assert link.poll(1.0) == Wait(None)  # still closing
    link.released(first.attempt)
    assert _connect(link, 1.0).attempt == 2


def test_failed_attempts_back_off_doubling_to_the_maximum(plant: Plant) -> None:
    link = _link(plant)
    now, delays = 0.0, []
    for _ in range(6):
        action = _connect(link, now)
        link.failed(action.attempt, Status.NETWORK_ERROR, "unreachable", now)
        assert (link.state, link.status) == (LinkState.RETRYING, Status.NETWORK_ERROR)
        wait = link.poll(now)
        assert isinstance(wait, Wait) and wait.until is not None
        assert link.poll(wait.until - 0.001) == wait  # not a moment early
        delays.append(wait.until - now)
        now = wait.until
    assert delays == [1.0, 2.0, 4.0, 8.0, 8.0, 8.0]
    assert link.row().reason == "unreachable"

    link.set("ForceConnectionState", 1, now)  # tries at once, the back-off starts over
    action = _connect(link, now)
    link.failed(action.attempt, None, "again", now)
    assert link.status == Status.TEMPORARY
    assert link.poll(now) == Wait(now + 1.0)


def test_a_drop_closes_the_endpoint_and_reconnects_at_once(plant: Plant) -> None:
    link = _link(plant)
    first = _up(link, plant)
    link.dropped(first.attempt, Status.PARTNER_CLOSED, "the partner closed", 5.0)
    link.dropped(first.attempt, Status.NETWORK_ERROR, "twice", 5.0)  # reported once only
    assert (link.state, link.status) == (LinkState.RETRYING, Status.PARTNER_CLOSED)
    assert link.poll(5.0) == Drop(first.attempt)
    assert link.state is LinkState.RETRYING  # not a disconnect: force stays 1
    link.released(first.attempt)
    assert _connect(link, 5.0).attempt == 2
    assert _kinds(link) == ["connecting", "connected", "dropped", "connecting"]


def test_a_stale_drop_report_changes_nothing(plant: Plant) -> None:
    link = _link(plant)
    first = _up(link, plant)
    link.set("ForceConnectionState", 0, 1.0)
    assert link.poll(1.0) == Drop(first.attempt)
    link.dropped(first.attempt, Status.PARTNER_CLOSED, "closing", 1.0)  # the close itself
    assert link.state is LinkState.DISCONNECTING
    link.released(first.attempt)
    assert link.state is LinkState.DISCONNECTED


def test_force_0_after_failures_stops_retrying(plant: Plant) -> None:
    link = _link(plant)
    action = _connect(link)
    link.failed(action.attempt, Status.NETWORK_ERROR, "unreachable", 0.0)
    link.set("ForceConnectionState", 0, 0.5)
    assert link.poll(100.0) == Wait(None)
    assert (link.state, link.status, link.reason) == (LinkState.DISCONNECTED, Status.NO_JOB, "")


@pytest.mark.parametrize("where", ["disconnected", "connecting", "connected", "retrying"])
def test_shutdown_from_every_state_closes_then_stops(plant: Plant, where: str) -> None:
    link = _link(plant, force=where != "disconnected")
    opened = None
    if where == "connecting":
        pending = _connect(link)
    elif where == "connected":
        opened = _up(link, plant).attempt
    elif where == "retrying":
        pending = _connect(link)
        link.failed(pending.attempt, Status.NETWORK_ERROR, "x", 0.0)
    link.shutdown()
    if where == "connecting":
        assert link.poll(0.0) == Wait(None)  # the attempt's outcome first
        link.connected(pending.attempt, None, None)
        opened = pending.attempt
    if opened is not None:
        assert link.poll(0.0) == Drop(opened)
        link.released(opened)
    assert link.poll(0.0) == Stop()
    assert link.state is LinkState.CLOSED
    assert link.poll(1.0) == Stop()
    kinds = _kinds(link)
    assert "disconnected" not in kinds
    assert kinds[-1] == "closed" and kinds.count("closed") == 1  # one line per connection


def test_an_attempt_failing_after_the_stop_promises_no_next_attempt(plant: Plant) -> None:
    link = _link(plant)
    action = _connect(link)
    link.take_events()
    link.shutdown()
    link.failed(action.attempt, Status.TEMPORARY, "not established within 5 s", 0.0)
    assert link.poll(0.0) == Stop()
    lines = [(event.kind, event.text) for event in link.take_events()]
    assert lines == [
        ("failed", "not established within 5 s"),
        ("closed", "the channel closed the connection"),
    ]


def test_re_establishments_show_7002_and_the_first_attempt_7001(plant: Plant) -> None:
    """domain.md §4: 7001 is the initial call, 7002 "active: trying to connect"."""
    link = _link(plant)
    first = _connect(link)
    assert link.status == Status.CONNECTING
    link.failed(first.attempt, Status.NETWORK_ERROR, "unreachable", 0.0)
    _connect(link, 1.0)
    assert link.status == Status.IN_PROGRESS
    statuses = [event.status for event in link.take_events() if event.kind == "connecting"]
    assert statuses == [Status.CONNECTING, Status.IN_PROGRESS]


def test_the_row_forgets_the_tls_session_of_a_connection_that_ended(plant: Plant) -> None:
    link = _link(plant)
    first = _up(link, plant)
    assert (link.row().security, link.row().peer) == ("TLSv1.3", "CN=PLC_1")
    link.dropped(first.attempt, Status.PARTNER_CLOSED, "the partner closed", 1.0)
    row = link.row()
    assert (row.security, row.peer, row.peer_valid_to) == ("", None, None)
    assert link.poll(1.0) == Drop(first.attempt)
    link.released(first.attempt)
    second = _up(link, plant, 1.0)
    link.set("ForceConnectionState", 0, 2.0)
    assert link.poll(2.0) == Drop(second.attempt)
    link.released(second.attempt)
    row = link.row()
    assert (row.state, row.security, row.peer) == (LinkState.DISCONNECTED, "", None)


def test_force_0_while_retrying_says_disconnected(plant: Plant) -> None:
    link = _link(plant)
    action = _connect(link)
    link.failed(action.attempt, Status.NETWORK_ERROR, "unreachable", 0.0)
    link.take_events()
    link.set("ForceConnectionState", 0, 0.5)
    link.poll(0.5)
    assert _kinds(link) == ["set", "disconnected"]


def test_an_outcome_for_another_attempt_is_a_bug(plant: Plant) -> None:
    link = _link(plant)
    action = _connect(link)
    with pytest.raises(AssertionError):
        link.connected(action.attempt + 1, None, None)
    with pytest.raises(AssertionError):
        link.released(action.attempt)


# -- control values and the connection change ----------------------------------------------------


def test_the_documented_change_sequence_targets_the_alternative(plant: Plant) -> None:
    link = _link(plant, access_points={"S7ONLINE": "127.0.0.5"})
    first = _up(link, plant)
    link.set("UseAlternativeAddress", 1, 1.0)  # never drops a connection that is up
    link.set("AlternativeAddress", f"AccessPoint=S7ONLINE; IPAddress={plant.PLC2_IP}", 1.0)
    assert link.poll(1.0) == Wait(None) and link.state is LinkState.CONNECTED
    link.set("ForceConnectionState", 0, 2.0)
    link.poll(2.0)
    link.released(first.attempt)
    link.set("ForceConnectionState", 1, 3.0)
    action = _connect(link, 3.0)
    assert action.target == f"{plant.PLC2_IP}:2000"
    assert action.bind == ("127.0.0.5", 0)
    assert action.block.remote_address == plant.PLC2_IP and action.block.secure
    assert link.row().via_alternative


def test_use_alternative_without_an_alternative_address_fails_80a4(plant: Plant) -> None:
    link = _link(plant)
    link.set("AlternativeAddress", "", 0.0)
    link.set("UseAlternativeAddress", 1, 0.0)
    assert link.poll(0.0) == Wait(1.0)  # failed without asking for a connection
    assert (link.state, link.status) == (LinkState.RETRYING, Status.REMOTE_ADDRESS_INVALID)
    assert "AlternativeAddress is empty" in link.reason


def test_bad_control_values_change_nothing(plant: Plant) -> None:
    link = _link(plant, access_points={"S7ONLINE": "127.0.0.5"})
    before = link.row()
    with pytest.raises(ConfigError, match="'IPAdress'"):
        link.set("AlternativeAddress", "IPAdress=1.2.3.4", 0.0)
    with pytest.raises(ConfigError, match="'CP1'"):
        link.set("AlternativeAddress", f"AccessPoint=CP1; IPAddress={plant.PLC2_IP}", 0.0)
    with pytest.raises(ConfigError, match="1 or 0"):
        link.set("ForceConnectionState", 2, 0.0)
    with pytest.raises(ConfigError, match="unknown control value"):
        link.set("ForceConnection", 1, 0.0)
    assert link.row() == before and link.take_events() == []


# -- trust: the certificate combinations of a connection change (domain.md §8) -------------------


def _to_plc2(plant: Plant, kind: str) -> tuple[Link, x509.Certificate]:
    """A link on the alternative address, and PLC2's certificate of the given kind (CA 3 is
    imported before the channel starts)."""
    plant.import_known_ca()
    leaf = plant.cert(plant.plc_cert("PLC_2", plant.PLC2_IP, kind))
    return _link(plant, use_alternative=True), leaf


def test_change_table_known_ca_works(plant: Plant) -> None:
    link, leaf = _to_plc2(plant, "known-ca")
    _handshake(link, _connect(link), leaf)
    assert link.state is LinkState.CONNECTED and link.row().peer == "CN=PLC_2"
    assert plant.device_store.untrusted() == []


def test_change_table_unknown_self_signed_needs_manual_trust(plant: Plant) -> None:
    link, leaf = _to_plc2(plant, "self-signed")
    _handshake(link, _connect(link), leaf)
    assert (link.state, link.status) == (LinkState.RETRYING, Status.TLS_NO_VALID_CA)
    (parked,) = plant.device_store.untrusted()
    assert parked.read_bytes() == leaf.public_bytes(Encoding.DER)

    plant.device_store.trust(parked.name)  # manual trust
    link.set("ForceConnectionState", 1, 0.0)  # attempt now
    _handshake(link, _connect(link), leaf)
    assert link.state is LinkState.CONNECTED

    plant.device_store.distrust(parked.name)  # moved back: the trust is revoked
    assert link.state is LinkState.CONNECTED  # the connection that is up stays up
    _reconnect(link, leaf)
    assert link.status == Status.TLS_NO_VALID_CA


def _reconnect(link: Link, leaf: x509.Certificate) -> None:
    """ForceConnectionState 0, the endpoint closed, 1 again: a new handshake with ``leaf``."""
    link.set("ForceConnectionState", 0, 0.0)
    action = link.poll(0.0)
    assert isinstance(action, Drop)
    link.released(action.attempt)
    link.set("ForceConnectionState", 1, 0.0)
    _handshake(link, _connect(link), leaf)


def test_change_table_unknown_ca_needs_the_ca_imported(plant: Plant) -> None:
    link, leaf = _to_plc2(plant, "unknown-ca")
    _handshake(link, _connect(link), leaf)
    assert link.status == Status.TLS_NO_VALID_CA
    plant.device_store.trust(plant.device_store.untrusted()[0].name)
    link.set("ForceConnectionState", 1, 0.0)
    _handshake(link, _connect(link), leaf)  # the end-entity certificate alone is not enough
    assert link.status == Status.TLS_NO_VALID_CA and "import the CA" in link.reason

    plant.trust.import_ca(plant.cert(plant.other_ca()))  # while the channel runs
    link.set("ForceConnectionState", 1, 0.0)
    _handshake(link, _connect(link), leaf)
    assert link.status == Status.TLS_NO_VALID_CA
    assert "imported while the channel runs" in link.reason

    link.restart(CertSnapshot.take(plant.trust, plant.store, "HMI_1"))
    _handshake(link, _connect(link), leaf)  # the restart applied the import
    assert link.state is LinkState.CONNECTED


def test_an_expired_peer_certificate_keeps_the_connection_and_fails_the_next(
    plant: Plant,
) -> None:
    plant.import_known_ca()
    leaf = plant.cert(plant.plc_cert("PLC_1", plant.PLC1_IP, "known-ca", days=30))
    link = _link(plant)
    _handshake(link, _connect(link), leaf)
    plant.clock.advance(dt.timedelta(days=60))
    row = link.row()
    assert row.connected and row.peer_expired
    _reconnect(link, leaf)
    assert link.status == Status.TLS_CERT_EXPIRED


def test_own_certificate_problems_fail_before_any_connection(plant: Plant) -> None:
    plant.store.unassign("HMI_1", [plant.hmi_id])
    link = _link(plant)
    assert isinstance(link.poll(0.0), Wait)
    assert (link.state, link.status) == (LinkState.RETRYING, Status.TLS_CERT_REF_UNKNOWN)
    assert "HMI_1" in link.reason


# -- certificates imported while the channel runs apply at its next start ------------------------


def _snapshot(plant: Plant) -> CertSnapshot:
    return CertSnapshot.take(plant.trust, plant.store, "HMI_1")


def test_an_import_while_running_is_not_used_until_restart(plant: Plant) -> None:
    link = _link(plant)  # started with no CA imported
    leaf = plant.cert(9)  # PLC_1, issued by CA 3
    _handshake(link, _connect(link), leaf)
    assert link.status == Status.TLS_NO_VALID_CA
    assert "imported while" not in link.reason

    plant.import_known_ca()
    for _ in range(3):  # every later attempt still uses what was loaded at the start
        link.set("ForceConnectionState", 1, 0.0)
        _handshake(link, _connect(link), leaf)
        assert link.status == Status.TLS_NO_VALID_CA
        assert "imported while the channel runs" in link.reason and "CA 3" in link.reason

    link.restart(_snapshot(plant))
    _handshake(link, _connect(link), leaf)  # at once: nothing was open, no back-off
    assert link.state is LinkState.CONNECTED
    assert "restart" in _kinds(link)


def test_an_own_certificate_assigned_while_running_needs_a_restart(plant: Plant) -> None:
    plant.store.unassign("HMI_1", [plant.hmi_id])
    link = _link(plant)
    plant.store.assign("HMI_1", [plant.hmi_id])  # after the start
    link.poll(0.0)
    assert link.status == Status.TLS_CERT_REF_UNKNOWN
    assert "after the channel started" in link.reason and "restart" in link.reason
    link.restart(_snapshot(plant))
    action = _connect(link)
    assert action.identity is not None and action.identity.own_id == plant.hmi_id


def test_a_renewed_own_certificate_is_an_update_used_at_the_next_establishment(
    plant: Plant,
) -> None:
    link = _link(plant)
    first = _up(link, plant)
    assert first.identity is not None
    renewed = plant.store.renew(plant.hmi_id, now=plant.NOW + dt.timedelta(minutes=1))
    link.set("ForceConnectionState", 0, 0.0)
    link.released(_drop_action(link))
    link.set("ForceConnectionState", 1, 0.0)
    action = _connect(link)  # no restart: the ID was there at the start
    assert action.identity is not None and action.identity.own_cert == renewed


def _drop_action(link: Link) -> int:
    action = link.poll(0.0)
    assert isinstance(action, Drop)
    return action.attempt


@pytest.mark.parametrize("keep_values", [False, True])
def test_restart_closes_reloads_and_connects_again(plant: Plant, keep_values: bool) -> None:
    link = _link(plant)
    first = _up(link, plant)
    link.set("UseAlternativeAddress", 1, 0.0)
    link.take_events()
    link.restart(_snapshot(plant), keep_values=keep_values)
    assert link.poll(0.0) == Drop(first.attempt)  # closed in order first
    assert link.state is LinkState.DISCONNECTING
    link.released(first.attempt)
    action = _connect(link)
    assert link.values.use_alternative is keep_values  # start value 0 unless kept
    assert action.target.startswith(plant.PLC2_IP if keep_values else plant.PLC1_IP)
    assert _kinds(link) == ["disconnected", "restart", "connecting"]


def test_restart_with_force_start_value_0_stays_down(plant: Plant) -> None:
    link = _link(plant, force=False)
    link.set("ForceConnectionState", 1, 0.0)
    first = _up(link, plant)
    link.restart(_snapshot(plant))
    link.released(_drop_action(link))
    assert link.poll(0.0) == Wait(None)
    assert (link.state, link.values.force) == (LinkState.DISCONNECTED, False)
    assert first.attempt == link.attempts
