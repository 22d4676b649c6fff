"""Certificates renewed in the store reach a running endpoint (domain.md §7, §8), both drivers.

From firmware V3.1 a CPU takes new certificates while running, below only with a download; the
connections established afterwards use them and established ones keep theirs. Each test runs the
standard example over real TLS on loopback with its own store, renews certificate 9 through a
second CertStore object on the same folder (as another process would), and looks at the serial
of the server certificate each new connection is shown. Waits are bounded in time and count.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import time
from pathlib import Path

import pytest
from cryptography import x509

from ouc.certs import CertStore
from ouc.certs._index import index_stamp
from ouc.conn import FrameReceived
from ouc.device import Device, Family
from ouc.drivers import (
    ActiveEndpoint,
    AsyncActiveEndpoint,
    AsyncPassiveEndpoint,
    EndpointSpec,
    ExampleSetup,
    PassiveEndpoint,
    PeerContext,
    _reload,
    echo,
    standard_example,
)
from ouc.errors import ConfigError, OucError
from ouc.params import STANDARD_SERVER, TconIpV4

NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
POLL = 20.0  # at most this long new connections are tried until the renewed certificate shows
# (a bound, not a wait: each poll ends as soon as it shows; a loaded machine needs the margin)
FRAME = bytes(range(256)) + b"ok"  # 258 bytes, the example's LEN


def _serial(info: object) -> int:
    der = getattr(info, "peer_cert_der", None)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def _renew_elsewhere(store: CertStore, cert_id: int = 9) -> int:
    """Renew through another CertStore on the same folder; the new serial."""
    return CertStore(store.path).renew(cert_id, now=NOW).serial_number


def _new_connection_serial(setup: ExampleSetup, client: EndpointSpec) -> int:
    with ActiveEndpoint(client, address_map=setup.address_map) as c:
        return _serial(c.info)


def _poll_for(setup: ExampleSetup, client: EndpointSpec, serial: int) -> list[int]:
    """Serials of new connections until one shows ``serial`` (at most POLL s, 20,000 tries)."""
    seen: list[int] = []
    deadline = time.monotonic() + POLL
    for _ in range(20_000):
        seen.append(_new_connection_serial(setup, client))
        if seen[-1] == serial or time.monotonic() > deadline:
            break
    return seen


def _setup(store: CertStore, **server_options: object) -> ExampleSetup:
    return standard_example(store, server_options=server_options)


def test_live_reload_serves_the_renewed_certificate_and_keeps_established_ones(
    store: CertStore,
) -> None:
    setup = _setup(store)  # S7-1500 V3.1: live
    assert setup.server.certs is not None and setup.server.certs.mode == "live"
    old = store.certificate(9).serial_number
    with (
        PassiveEndpoint(setup.server, behaviour=echo(), address_map=setup.address_map) as server,
        ActiveEndpoint(setup.client, address_map=setup.address_map) as established,
    ):
        assert _serial(established.info) == old
        new = _renew_elsewhere(store)
        assert new != old
        seen = _poll_for(setup, setup.client, new)
        assert seen[-1] == new, f"never served the renewed certificate: {seen}"
        assert set(seen) <= {old, new}
        # The connection established before keeps its certificate and still works.
        established.send(FRAME)
        assert established.receive(timeout=POLL) == FRAME
        assert _serial(established.info) == old
        assert server.connection_count >= 1


def test_below_v31_takes_new_certificates_only_at_a_download(store: CertStore) -> None:
    device = Device(Family.S7_1500, (3, 0), name="PLC_1", own_addresses=("192.168.0.1",))
    server = EndpointSpec.from_block(
        STANDARD_SERVER, store=store, device=device, receive_len=258, adhoc=False
    )  # cert_reload "auto": download below V3.1
    setup = dataclasses.replace(_setup(store), server=server)
    assert setup.server.certs is not None and setup.server.certs.mode == "download"
    old = store.certificate(9).serial_number
    with PassiveEndpoint(setup.server, address_map=setup.address_map):
        new = _renew_elsewhere(store)
        # Longer than the live mode's one-second check: still the old certificate.
        until = time.monotonic() + 1.5
        seen = [_new_connection_serial(setup, setup.client)]
        for _ in range(20_000):
            if time.monotonic() > until:
                break
            seen.append(_new_connection_serial(setup, setup.client))
        assert set(seen) == {old}
        change = setup.server.reload_certificates()  # the download
        assert change is not None
        assert (change.own_id, change.previous_serial, change.serial) == (9, old, new)
        assert _new_connection_serial(setup, setup.client) == new
        assert setup.server.reload_certificates() is None  # nothing changed since


def test_a_requested_download_happens_at_the_next_connection(store: CertStore) -> None:
    setup = _setup(store, cert_reload="download")
    changes: list[_reload.CertsReloaded] = []
    assert setup.server.certs is not None
    setup.server.certs.on_reload = changes.append
    with PassiveEndpoint(setup.server, address_map=setup.address_map):
        new = _renew_elsewhere(store)
        setup.server.request_certificate_reload()  # what SIGHUP does
        assert _new_connection_serial(setup, setup.client) == new
    assert [c.serial for c in changes] == [new]


def test_asyncio_driver_reloads_live_too(store: CertStore) -> None:
    setup = _setup(store)
    old = store.certificate(9).serial_number

    async def main() -> tuple[list[int], int, bytes, int]:
        async with (
            AsyncPassiveEndpoint(setup.server, behaviour=echo(), address_map=setup.address_map),
            AsyncActiveEndpoint(setup.client, address_map=setup.address_map) as established,
        ):
            first = _serial(await established.connect(timeout=POLL))
            new = _renew_elsewhere(store)
            seen: list[int] = []
            deadline = time.monotonic() + POLL
            for _ in range(20_000):
                async with AsyncActiveEndpoint(setup.client, address_map=setup.address_map) as c:
                    seen.append(_serial(await c.connect(timeout=POLL)))
                if seen[-1] == new or time.monotonic() > deadline:
                    break
            await established.send(FRAME)
            echoed = await established.receive(timeout=POLL)
            assert first == old
            return seen, new, echoed, _serial(established.info)

    seen, new, echoed, kept = asyncio.run(asyncio.wait_for(main(), 60.0))
    assert seen[-1] == new, seen
    assert echoed == FRAME and kept == old


def test_a_renewed_client_certificate_reaches_the_active_side(store: CertStore) -> None:
    setup = _setup(store)
    shown: list[int] = []  # the client certificate serial the server saw, per frame

    def note(frame: FrameReceived, peer: PeerContext) -> bytes:
        shown.append(_serial(peer.connection.info))
        return frame.data

    with PassiveEndpoint(setup.server, behaviour=note, address_map=setup.address_map):
        new = _renew_elsewhere(store, 11)
        deadline = time.monotonic() + POLL
        for _ in range(20_000):
            with ActiveEndpoint(setup.client, address_map=setup.address_map) as c:
                c.send(FRAME)
                assert c.receive(timeout=POLL) == FRAME  # the behaviour ran before the echo
            if shown[-1] == new or time.monotonic() > deadline:
                break
    assert shown[-1] == new, shown


def test_the_hot_path_looks_at_the_store_at_most_once_a_second(
    store: CertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = _setup(store)
    certs = setup.server.certs
    assert certs is not None
    looks: list[Path] = []

    def counting(folder: Path) -> object:
        looks.append(folder)
        return index_stamp(folder)

    monkeypatch.setattr(_reload, "index_stamp", counting)
    start = time.monotonic()
    for _ in range(20_000):
        certs.context()
    elapsed = time.monotonic() - start
    assert len(looks) <= int(elapsed) + 1


def test_a_failed_reload_keeps_the_certificates_and_says_why(
    store: CertStore, caplog: pytest.LogCaptureFixture
) -> None:
    setup = _setup(store, cert_reload="download")
    certs = setup.server.certs
    assert certs is not None
    before = certs.tls
    CertStore(store.path).unassign("PLC_1", [9])
    with pytest.raises(OucError):
        setup.server.reload_certificates()
    assert certs.tls is before
    with caplog.at_level(logging.WARNING, logger="ouc.drivers"):
        setup.server.request_certificate_reload()
        assert certs.context() is before
    assert "certificates not reloaded" in caplog.text


def test_a_live_failure_is_told_once_per_distinct_failure(
    store: CertStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store is looked at every second while it stays broken: each failure is told once,
    a different one again, and once a reload works the next failure is news again."""
    monkeypatch.setattr(_reload, "CHECK_INTERVAL", 0.0)  # every context() looks at the store
    setup = _setup(store)
    certs = setup.server.certs
    assert certs is not None and certs.mode == "live"
    failures: list[_reload.CertsNotReloaded] = []
    certs.on_failure = failures.append
    before, serial = certs.tls, store.certificate(9).serial_number
    other = CertStore(store.path)

    def look(times: int = 5) -> None:
        for _ in range(times):
            assert certs.context() is before  # the endpoint keeps what it has (domain.md §7)

    other.unassign("PLC_1", [9])
    look()
    other.renew(11, now=NOW)  # the store changed again, the failure is the same
    look()
    assert len(failures) == 1
    first = failures[0]
    assert (first.own_id, first.serial, first.mode, first.requested) == (9, serial, "live", False)
    assert "TLSServerCertRef" in first.reason and str(store.path) in first.hint
    other.assign("PLC_1", [9])  # fixed: nothing to change, and the failure is over
    look()
    other.unassign("PLC_1", [9])
    look()
    assert len(failures) == 2 and failures[1].key == first.key
    other.delete(9)
    look()
    assert len(failures) == 3 and failures[2].status == 0x80ED
    assert "certificate ID 9 is not in the store" in failures[2].reason
    line = failures[2].line()
    assert "(16#80ED)" in line and "keep own certificate 9" in line and f"{serial:X}" in line
    setup.server.request_certificate_reload()  # a download asked for is always answered
    look(1)
    assert len(failures) == 4 and failures[3].requested


def test_endpoints_without_a_store_have_nothing_to_reload() -> None:
    spec = EndpointSpec.from_block(TconIpV4(64, 4, 11, False, "0.0.0.0", 0, 2000))
    assert spec.certs is None
    with pytest.raises(ConfigError):
        spec.reload_certificates()


@pytest.mark.parametrize(
    ("mode", "device", "expected"),
    [
        ("auto", Device(Family.S7_1500, (3, 1)), "live"),
        ("auto", Device(Family.S7_1500, (4, 0)), "live"),
        ("auto", Device(Family.S7_1500, (3, 0)), "download"),
        ("auto", Device(Family.S7_1200, (4, 6)), "download"),
        ("live", Device(Family.S7_1500, (2, 9)), "live"),
        ("Download", Device(), "download"),
    ],
)
def test_reload_mode_follows_the_firmware_gate(mode: str, device: Device, expected: str) -> None:
    assert _reload.reload_mode(mode, device) == expected


def test_unknown_reload_mode_is_refused(store: CertStore) -> None:
    with pytest.raises(ConfigError) as info:
        _setup(store, cert_reload="sometimes")
    assert info.value.path == "cert_reload"


def test_a_failing_reload_callback_does_not_stop_the_connection(store: CertStore) -> None:
    setup = _setup(store, cert_reload="download")
    assert setup.server.certs is not None

    def broken(change: _reload.CertsReloaded) -> None:
        raise RuntimeError("printer gone")

    setup.server.certs.on_reload = broken
    with PassiveEndpoint(setup.server, address_map=setup.address_map):
        new = _renew_elsewhere(store)
        setup.server.request_certificate_reload()
        assert _new_connection_serial(setup, setup.client) == new
