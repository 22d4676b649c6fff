"""The plugin's fixtures used directly: the store, PEM files, bad certificates, the factories."""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import ssl
from pathlib import Path

import pytest

from ouc.certs import BadCertFactory, CertStore
from ouc.drivers import PeerContext, RecordKind, callback, reply
from ouc.errors import CertError, ConfigError, OucConnectionError, Status
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER
from ouc.pytest_plugin import STORE_AGE, ActiveFactory, PassiveFactory, PemFiles

FRAME = 258
WAIT = 10.0


def test_store_holds_the_standard_example(ouc_store: CertStore) -> None:
    assert {3, 9, 11} <= set(ouc_store.ids())
    assert set(ouc_store.device_ids("PLC_1")) == {3, 9}
    assert set(ouc_store.device_ids("PLC_2")) == {3, 11}
    server = ouc_store.certificate(9)
    start = server.not_valid_before_utc
    now = dt.datetime.now(dt.UTC)
    assert now - STORE_AGE - dt.timedelta(minutes=5) < start <= now - STORE_AGE
    assert server.not_valid_after_utc > now


def test_each_test_gets_its_own_copy(ouc_store: CertStore, ouc_store_template: Path) -> None:
    template = CertStore(ouc_store_template)
    assert ouc_store.path != template.path
    assert ouc_store.certificate(9) == template.certificate(9)
    ouc_store.renew(9, now=dt.datetime.now(dt.UTC))
    assert ouc_store.certificate(9) != template.certificate(9)
    assert CertStore(ouc_store_template).certificate(9) == template.certificate(9)


def test_pem_files_make_a_working_ssl_context(ouc_pem: PemFiles) -> None:
    context = ssl.create_default_context(cafile=ouc_pem.ca)
    context.load_cert_chain(ouc_pem.client_cert, ouc_pem.client_key)
    context.load_cert_chain(ouc_pem.server_cert, ouc_pem.server_key)
    assert ouc_pem.client_key.stat().st_mode & 0o777 == 0o600


def test_bad_certs_are_issued_by_ca_3(ouc_bad_certs: BadCertFactory, ouc_store: CertStore) -> None:
    expired = ouc_bad_certs.expired()
    assert expired.expected_status == Status.TLS_CERT_EXPIRED
    assert expired.cert.issuer == ouc_store.certificate(3).subject
    assert expired.cert.not_valid_after_utc < dt.datetime.now(dt.UTC)


def test_passive_and_active_echo_over_mutual_tls(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory
) -> None:
    plc = ouc_passive()
    assert plc.address[0] == "127.0.0.1" and plc.port > 0
    client = ouc_active(plc)
    assert client.connected
    info = client.info
    assert info is not None and info.version == "TLSv1.3" and info.peer_subject == "CN=PLC_1"
    frame = os.urandom(FRAME)
    client.send(frame)
    assert client.receive(timeout=WAIT) == frame
    connected = ouc_passive.log(plc).wait_for(RecordKind.CONNECTED, timeout=WAIT)
    assert connected.peer is not None and connected.peer.startswith("192.168.0.2:")
    assert ouc_active.log(client).of(RecordKind.CONNECTED)


def test_active_targets_in_every_form(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory
) -> None:
    plc = ouc_passive()
    host, port = plc.address
    for target in (None, plc, (host, port), f"{host}:{port}"):
        client = ouc_active(target)
        client.send(b"T" * FRAME)
        assert client.receive(timeout=WAIT) == b"T" * FRAME
    with pytest.raises(ConfigError, match="needs a port"):
        ouc_active(host)


def test_active_without_any_target_is_a_config_error(ouc_active: ActiveFactory) -> None:
    with pytest.raises(ConfigError, match="needs a target"):
        ouc_active()


def test_unknown_options_are_type_errors(ouc_passive: PassiveFactory) -> None:
    with pytest.raises(TypeError, match="unknown options"):
        ouc_passive(handshake_timout=1)


def test_options_reach_the_spec_and_the_endpoint(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory
) -> None:
    seen: list[int] = []

    def count(data: bytes, peer: PeerContext) -> bytes:
        seen.append(len(data))
        return data

    plc = ouc_passive(behaviour=callback(count), receive_len=100, adhoc=True, max_connections=2)
    assert plc.max_connections == 2
    assert plc.spec.config.receive_len == 100
    client = ouc_active(plc, receive_len=100, adhoc=True)
    client.send(b"x" * 250)
    got = b""
    for _ in range(3):
        got += client.receive(timeout=WAIT)
    assert got == b"x" * 250 and max(seen) <= 100


def test_the_partner_check_still_applies_without_the_map(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory
) -> None:
    plc = ouc_passive(partner=None)
    with pytest.raises(OucConnectionError):
        ouc_active(plc, reconnect=False, connect_timeout=WAIT)
    refused = ouc_passive.log(plc).wait_for(RecordKind.REFUSED, timeout=WAIT)
    assert refused.status == Status.PARTNER_REFUSED


def test_plain_tcp_block(ouc_passive: PassiveFactory, ouc_active: ActiveFactory) -> None:
    server_block = dataclasses.replace(STANDARD_SERVER, ActivateSecureConn=False)
    client_block = dataclasses.replace(STANDARD_CLIENT, ActivateSecureConn=False)
    plc = ouc_passive(server_block, reply(b"R" * FRAME))
    client = ouc_active(plc, client_block)
    assert client.info is not None and not client.info.secure
    client.send(b"Q" * FRAME)
    assert client.receive(timeout=WAIT) == b"R" * FRAME


def test_everything_is_stopped_after_the_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_leak="""
        import socket, threading

        STATE = {}

        def test_start(ouc_passive, ouc_active):
            plc = ouc_passive()
            ouc_active(plc)
            STATE["address"] = plc.address
            STATE["threads"] = [t for t in threading.enumerate() if t.name.startswith("ouc-")]
            assert STATE["threads"]

        def test_after():
            assert not [t for t in STATE["threads"] if t.is_alive()]
            probe = socket.socket()
            try:
                assert probe.connect_ex(STATE["address"]) != 0  # nobody listens any more
            finally:
                probe.close()
        """
    )
    result = pytester.runpytest("-W", "error", "-p", "no:cacheprovider", "-p", "no:randomly")
    result.assert_outcomes(passed=2)


def test_an_expired_store_certificate_fails_the_handshake(
    ouc_passive: PassiveFactory, ouc_active: ActiveFactory, ouc_store: CertStore
) -> None:
    # The store is the user's to change: an expired certificate 9 makes the endpoint refuse
    # to start, as resolution checks the own certificate against the PLC clock (16#80E5).
    ouc_store.renew(9, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=10), days=5)
    with pytest.raises(CertError) as info:
        ouc_passive()
    assert info.value.status == Status.TLS_CERT_EXPIRED
