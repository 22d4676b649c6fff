"""The blocking driver over loopback: handshakes, frames, behaviours, partner check, limit, stop.

Every test makes its own certificate store with the standard example (CA 3, 9, 11; the default
CAs' RSA keys are shared per module because RSA key generation is the slow part) and runs the
example's two endpoints on 127.0.0.1 / 127.0.0.2 through the address map, ports chosen by the
kernel. Waits are bounded (``RecordLog.wait_for``, ``receive(timeout=...)``), never sleeps.
"""

from __future__ import annotations

import dataclasses
import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.conn import FrameReceived
from ouc.drivers import (
    ActiveEndpoint,
    AddressMap,
    EndpointSpec,
    ExampleSetup,
    PassiveEndpoint,
    PeerContext,
    RecordKind,
    RecordLog,
    callback,
    echo,
    example_pem,
    reply,
    standard_example,
)
from ouc.errors import ConfigError, FramingError, OucConnectionError, Status, TLSError
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER, TconIpV4Sec

WAIT = 10.0  # seconds: the bound of every wait (generous for a loaded 2-core machine)


@pytest.fixture
def setup(store: CertStore) -> ExampleSetup:
    return standard_example(store)


@pytest.fixture
def no_leaks(open_sockets: Callable[[], set[str]]) -> Iterator[None]:
    """The test leaves no thread and no socket behind (its own: a thread or socket of an
    earlier test may end while this one runs, which a count would take for this test's)."""
    threads, sockets = set(threading.enumerate()), open_sockets()
    yield
    assert [t.name for t in threading.enumerate() if t not in threads] == []
    assert open_sockets() - sockets == set()


def test_standard_example_mutual_tls_and_a_frame(setup: ExampleSetup, no_leaks: None) -> None:
    server_log, client_log = RecordLog(), RecordLog()
    frames: list[tuple[bytes, str]] = []

    def keep(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        frames.append((frame.data, peer.address))
        return None

    server = PassiveEndpoint(
        setup.server, behaviour=keep, address_map=setup.address_map, on_event=server_log
    )
    with server:
        assert setup.address_map.to_local("192.168.0.1", 2000) == ("127.0.0.1", server.port)
        with ActiveEndpoint(setup.client, address_map=setup.address_map, on_event=client_log) as c:
            info = c.info
            assert info is not None
            assert (info.version, info.group) == ("TLSv1.3", "x25519")
            assert info.peer_subject == "CN=PLC_1" and info.peer_anchor_id == 3
            assert info.own_cert_id == 11
            assert c.local_address is not None and c.local_address.startswith("127.0.0.2:")
            c.send(b"\x01\x00" + bytes(256))
            server_log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
        closed = server_log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    assert frames == [(b"\x01\x00" + bytes(256), "192.168.0.2")]
    connected = server_log.of(RecordKind.CONNECTED)[0]
    assert connected.peer is not None and connected.peer.startswith("192.168.0.2:")
    assert connected.info is not None and connected.info.peer_subject == "CN=PLC_2"
    assert "16#0001 connected TLSv1.3" in connected.line()
    assert closed.status == Status.PARTNER_CLOSED
    assert closed.sequences["TRCV_C"] == "7000 → 7001 → 7002 → 0001 → 7006 → 0000 → 80C5 → 80C4"
    assert c.format_sequence("TSEND_C") == (
        "7000 → 7001 → 7002 → 0001 → 7004 → 7005 → 0000 → 7003 → 0003 → 7000"
    )
    kinds = [r.kind for r in client_log.records]
    assert kinds == [RecordKind.CONNECTING, RecordKind.CONNECTED, RecordKind.CLOSED]
    assert [r.kind for r in server_log.records][-1] is RecordKind.STOPPED


def test_echo_fixed_frames_split_and_coalesced(setup: ExampleSetup) -> None:
    """TCP is a stream: 258-byte frames come back whole however the sends were cut."""
    with (
        PassiveEndpoint(setup.server, behaviour=echo(), address_map=setup.address_map),
        ActiveEndpoint(setup.client, address_map=setup.address_map) as client,
    ):
        frames = [bytes([i]) * 258 for i in range(20)]
        for frame in frames:
            client.send(frame)
        assert [client.receive(timeout=WAIT) for _ in frames] == frames
        # LEN 10 of a 300-byte DATA area sends 10 bytes: the server's fixed 258-byte frame
        # is complete only after more bytes arrive.
        client.send(bytes(300), 10)
        client.send(b"\xff" * 248)
        assert client.receive(timeout=WAIT) == bytes(10) + b"\xff" * 248


def test_adhoc_receive_reports_rcvd_len(store: CertStore) -> None:
    setup = standard_example(store, receive_len=1000, adhoc=True)
    with (
        PassiveEndpoint(setup.server, behaviour=echo(), address_map=setup.address_map),
        ActiveEndpoint(setup.client, address_map=setup.address_map) as client,
    ):
        client.send(b"hello")
        event = client.receive_event(timeout=WAIT)
        assert isinstance(event, FrameReceived)
        assert (event.data, event.rcvd_len) == (b"hello", 5)
        assert client.connection is not None and client.connection.trcv.RCVD_LEN == 5


def test_reply_and_callback_behaviours(setup: ExampleSetup) -> None:
    answer = b"\x00\x00" + bytes(256)
    with (
        PassiveEndpoint(setup.server, behaviour=reply(answer), address_map=setup.address_map),
        ActiveEndpoint(setup.client, address_map=setup.address_map) as client,
    ):
        client.send(bytes(258))
        assert client.receive(timeout=WAIT) == answer

    def upper(data: bytes, peer: PeerContext) -> bytes | None:
        assert peer.address == "192.168.0.2"
        return data.upper() if data.startswith(b"a") else None

    setup2 = standard_example(setup.store, receive_len=4)
    with (
        PassiveEndpoint(setup2.server, behaviour=callback(upper), address_map=setup2.address_map),
        ActiveEndpoint(setup2.client, address_map=setup2.address_map) as client,
    ):
        client.send(b"zzzz")  # no answer
        client.send(b"abcd")
        assert client.receive(timeout=WAIT) == b"ABCD"


def test_a_failing_behaviour_is_recorded_and_the_connection_stays(setup: ExampleSetup) -> None:
    log = RecordLog()

    def broken(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        if frame.data[0] == 1:
            raise ValueError("bad frame")
        return frame.data

    with (
        PassiveEndpoint(
            setup.server, behaviour=broken, address_map=setup.address_map, on_event=log
        ),
        ActiveEndpoint(setup.client, address_map=setup.address_map) as client,
    ):
        client.send(b"\x01" * 258)
        failed = log.wait_for(RecordKind.BEHAVIOUR_FAILED, timeout=WAIT)
        assert "ValueError: bad frame" in failed.reason
        client.send(b"\x02" * 258)
        assert client.receive(timeout=WAIT) == b"\x02" * 258


def test_an_answer_to_a_partner_that_closed_is_a_lost_send_not_a_behaviour_failure(
    setup: ExampleSetup, store: CertStore, tmp_path: Path, raw_tls: Any
) -> None:
    """Two frames and the partner's close_notify in one segment: the connection has ended
    (16#80C5, half_close "drop") before the echo answers, so TSEND_C refuses each answer
    with 16#80A3 (TIA help: no connection). The behaviour worked: send-failed, not
    behaviour-failed, and the reason names what was lost."""
    log = RecordLog()
    pem = example_pem(store, tmp_path / "pem")
    ctx = raw_tls.context(pem.ca, pem.client_cert, pem.client_key)
    with PassiveEndpoint(
        setup.server, behaviour=echo(), address_map=setup.address_map, on_event=log
    ) as server:
        echoed = raw_tls.send_then_close(ctx, server.address, b"\x01" * 258 + b"\x02" * 258)
        log.wait_for(RecordKind.CLOSED, timeout=WAIT)
        lost = log.wait_for(RecordKind.SEND_FAILED, timeout=WAIT, count=2)
    assert echoed == b""
    assert [r.status for r in log.of(RecordKind.SEND_FAILED)] == [Status.NO_SUCH_CONNECTION] * 2
    assert lost.reason == (
        "answer of 258 bytes not sent: the connection had ended (the partner closed the connection)"
    )
    assert lost.line().endswith(f"16#80A3 send-failed - {lost.reason}")
    assert lost.to_json()["event"] == "send-failed"
    assert not log.of(RecordKind.BEHAVIOUR_FAILED)


def test_an_answer_beyond_the_send_limit_is_a_lost_send_and_the_connection_stays(
    setup: ExampleSetup,
) -> None:
    """TSEND_C refuses LEN beyond the device's limit with 16#8085 (TIA help); the record says
    which answer was lost and why, and the next frame is answered."""
    log = RecordLog()
    limit = setup.server.device.max_send_len

    def too_big_first(frame: FrameReceived, peer: PeerContext) -> bytes:
        return bytes(limit + 1) if frame.data[0] == 1 else frame.data

    with (
        PassiveEndpoint(
            setup.server, behaviour=too_big_first, address_map=setup.address_map, on_event=log
        ),
        ActiveEndpoint(setup.client, address_map=setup.address_map) as client,
    ):
        client.send(b"\x01" * 258)
        lost = log.wait_for(RecordKind.SEND_FAILED, timeout=WAIT)
        client.send(b"\x02" * 258)
        assert client.receive(timeout=WAIT) == b"\x02" * 258
    assert lost.status == Status.LEN_INVALID
    assert lost.reason == (
        f"answer of {limit + 1} bytes not sent: LEN {limit + 1} is outside 1..{limit}"
    )
    assert not log.of(RecordKind.BEHAVIOUR_FAILED)


@pytest.mark.parametrize("closed", [False, True], ids=["open", "partner-closed"])
def test_an_answer_that_is_not_bytes_is_a_behaviour_failure_and_the_thread_lives_on(
    setup: ExampleSetup, store: CertStore, tmp_path: Path, raw_tls: Any, closed: bool
) -> None:
    """A behaviour that returns neither bytes nor None (an int here) failed: behaviour-failed
    naming the type, whether the connection is still up or already ended, and the serving
    thread goes on (the next frame is answered; a closed connection still ends with its
    record and frees its slot)."""
    log = RecordLog()

    def int_first(frame: FrameReceived, peer: PeerContext) -> Any:
        return 5 if frame.data[0] == 1 else frame.data

    with PassiveEndpoint(
        setup.server, behaviour=int_first, address_map=setup.address_map, on_event=log
    ) as server:
        if closed:
            pem = example_pem(store, tmp_path / "pem")
            ctx = raw_tls.context(pem.ca, pem.client_cert, pem.client_key)
            raw_tls.send_then_close(ctx, server.address, b"\x01" * 258)
            log.wait_for(RecordKind.CLOSED, timeout=WAIT)
        else:
            with ActiveEndpoint(setup.client, address_map=setup.address_map) as client:
                client.send(b"\x01" * 258)
                log.wait_for(RecordKind.BEHAVIOUR_FAILED, timeout=WAIT)
                client.send(b"\x02" * 258)
                assert client.receive(timeout=WAIT) == b"\x02" * 258
        if closed:
            assert server.connection_count == 0  # the slot was freed
    (failed,) = log.of(RecordKind.BEHAVIOUR_FAILED)
    assert "the behaviour returned int; return bytes or None" in failed.reason
    assert not log.of(RecordKind.SEND_FAILED)


def test_partner_check_refuses_other_peers_with_80c9(setup: ExampleSetup) -> None:
    log = RecordLog()
    with PassiveEndpoint(setup.server, address_map=setup.address_map, on_event=log) as server:
        # No map for the client: it connects from 127.0.0.1, which is not where the plant
        # address 192.168.0.2 runs (127.0.0.2); the map's 127.0.0.1 is the server's own.
        stranger = ActiveEndpoint(setup.client, connect_to=("127.0.0.1", server.port))
        with pytest.raises(OucConnectionError) as caught:
            stranger.connect()
        stranger.close()
        refused = log.wait_for(RecordKind.REFUSED, timeout=WAIT)
    assert caught.value.status in (Status.PARTNER_CLOSED, Status.NETWORK_ERROR)
    assert refused.status == Status.PARTNER_REFUSED
    assert refused.peer is not None and refused.peer.startswith("127.0.0.1:")
    assert server.refused == 1 and server.served_total == 0


def test_remote_address_0_0_0_0_accepts_any_partner(store: CertStore) -> None:
    any_partner = dataclasses.replace(STANDARD_SERVER.ConnPara, RemoteAddress="0.0.0.0")
    block = dataclasses.replace(STANDARD_SERVER, ConnPara=any_partner)
    spec = EndpointSpec.from_block(block, store=store, device_name="PLC_1", receive_len=258)
    setup = standard_example(store)
    with PassiveEndpoint(spec, behaviour=echo(), listen=("127.0.0.1", 0)) as server:
        client = ActiveEndpoint(setup.client, connect_to=("127.0.0.1", server.port))
        with client:
            client.send(bytes(258))
            assert client.receive(timeout=WAIT) == bytes(258)


def test_connection_limit_8087_and_the_others_are_served(
    setup: ExampleSetup, no_leaks: None
) -> None:
    log = RecordLog()
    with PassiveEndpoint(
        setup.server,
        behaviour=echo(),
        address_map=setup.address_map,
        max_connections=2,
        on_event=log,
    ) as server:
        clients = [
            ActiveEndpoint(setup.client, address_map=setup.address_map, reconnect=False)
            for _ in range(3)
        ]
        try:
            clients[0].connect()
            clients[1].connect()
            log.wait_for(RecordKind.CONNECTED, timeout=WAIT, count=2)
            with pytest.raises(OucConnectionError):
                clients[2].connect()
            limit = log.wait_for(RecordKind.LIMIT, timeout=WAIT)
            assert limit.status == Status.CONNECTION_LIMIT
            assert server.connection_count == 2
            for client in clients[:2]:
                client.send(b"\x05" * 258)
                assert client.receive(timeout=WAIT) == b"\x05" * 258
            # A slot frees up: the next peer is served.
            clients[0].close()
            log.wait_for(RecordKind.CLOSED, timeout=WAIT)
            clients[2].connect()
            clients[2].send(b"\x06" * 258)
            assert clients[2].receive(timeout=WAIT) == b"\x06" * 258
        finally:
            for client in clients:
                client.close()


def test_many_concurrent_connections_then_a_clean_stop(setup: ExampleSetup, no_leaks: None) -> None:
    """Eight clients at once, each echoing; stop() with connections still open joins everything."""
    log = RecordLog()
    server = PassiveEndpoint(
        setup.server, behaviour=echo(), address_map=setup.address_map, on_event=log
    )
    errors: list[BaseException] = []
    clients = [ActiveEndpoint(setup.client, address_map=setup.address_map) for _ in range(8)]
    ready = threading.Barrier(len(clients) + 1, timeout=WAIT)

    def run(client: ActiveEndpoint, marker: int) -> None:
        try:
            client.connect()
            for _ in range(5):
                client.send(bytes([marker]) * 258)
                assert client.receive(timeout=WAIT) == bytes([marker]) * 258
        except BaseException as exc:
            errors.append(exc)
        finally:
            ready.wait()

    with server:
        workers = [threading.Thread(target=run, args=(c, i)) for i, c in enumerate(clients)]
        for worker in workers:
            worker.start()
        ready.wait()
        for worker in workers:
            worker.join(WAIT)
        assert not errors
        assert server.connection_count == 8
    # stop() closed the open connections in order: each client saw its partner close.
    assert len(log.of(RecordKind.CLOSED)) == 8
    assert all(r.reason == "the endpoint stopped" for r in log.of(RecordKind.CLOSED))
    for client in clients:
        client.close()


def test_plain_tcp_block(store: CertStore) -> None:
    """TCON_IP_v4 (no TLS): the same endpoints, no certificate store needed."""
    setup = standard_example(store)
    server_block, client_block = setup.server.block, setup.client.block
    assert isinstance(server_block, TconIpV4Sec) and isinstance(client_block, TconIpV4Sec)
    spec = EndpointSpec.from_block(server_block.ConnPara, receive_len=4)
    client_spec = EndpointSpec.from_block(client_block.ConnPara, receive_len=4)
    assert spec.tls is None and client_spec.tls is None
    address_map = AddressMap.parse(["192.168.0.1:2000=127.0.0.1:0"])
    with PassiveEndpoint(
        spec, behaviour=echo(), address_map=address_map, listen=("127.0.0.1", 0)
    ) as server:
        address_map.add("192.168.0.1", 2000, "127.0.0.1", server.port)
        address_map.add("192.168.0.2", None, "127.0.0.2", None)
        client = ActiveEndpoint(client_spec, address_map=address_map, bind=("127.0.0.2", 0))
        with client:
            assert client.info is not None and not client.info.secure
            client.send(b"ping")
            assert client.receive(timeout=WAIT) == b"ping"


def test_keylog_file_gets_nss_lines(store: CertStore, tmp_path: Path) -> None:
    keylog = tmp_path / "keys.log"
    setup = standard_example(store, client_options={"keylog_file": keylog})
    with (
        PassiveEndpoint(setup.server, address_map=setup.address_map),
        ActiveEndpoint(setup.client, address_map=setup.address_map),
    ):
        pass
    lines = keylog.read_text().splitlines()
    labels = {line.split()[0] for line in lines}
    assert {"CLIENT_HANDSHAKE_TRAFFIC_SECRET", "CLIENT_TRAFFIC_SECRET_0"} <= labels
    assert all(len(line.split()) == 3 for line in lines)
    assert oct(keylog.stat().st_mode & 0o777) == "0o600"


def test_sslkeylogfile_environment_variable(
    store: CertStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Both endpoints of this process log. The client is established once it sent its Finished;
    the server writes its last line (CLIENT_TRAFFIC_SECRET_0) only when it has read that Finished,
    and an endpoint stopped before then drops the half-done handshake: so the test waits for the
    server's CONNECTED record, which comes after the server's lines are written."""
    keylog = tmp_path / "env-keys.log"
    monkeypatch.setenv("SSLKEYLOGFILE", str(keylog))
    setup = standard_example(store)
    server_log = RecordLog()
    with (
        PassiveEndpoint(setup.server, address_map=setup.address_map, on_event=server_log),
        ActiveEndpoint(setup.client, address_map=setup.address_map),
    ):
        server_log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
    # Two handshakes' worth of lines (5 each in TLS 1.3), each label once per side.
    lines = keylog.read_text().splitlines()
    assert len(lines) == 10
    assert all(n == 2 for n in Counter(line.split()[0] for line in lines).values())
    # A variable set for another program that cannot be written does not stop the endpoint.
    monkeypatch.setenv("SSLKEYLOGFILE", str(tmp_path / "missing-folder" / "keys.log"))
    assert standard_example(store).server.keylog is None


def test_bad_arguments_are_config_errors(setup: ExampleSetup) -> None:
    with pytest.raises(ConfigError, match="ActiveEndpoint"):
        PassiveEndpoint(setup.client)
    with pytest.raises(ConfigError, match="PassiveEndpoint"):
        ActiveEndpoint(setup.server)
    with pytest.raises(ConfigError, match="max_connections"):
        PassiveEndpoint(setup.server, max_connections=0)


def test_port_in_use_is_80a1(setup: ExampleSetup) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        endpoint = PassiveEndpoint(setup.server, listen=("127.0.0.1", port))
        with pytest.raises(OucConnectionError) as caught:
            endpoint.start()
        endpoint.stop()
    assert caught.value.status == Status.LOCAL_PORT_IN_USE


def test_send_len_errors_are_framing_errors(setup: ExampleSetup) -> None:
    with (
        PassiveEndpoint(setup.server, address_map=setup.address_map),
        ActiveEndpoint(setup.client, address_map=setup.address_map) as client,
    ):
        with pytest.raises(FramingError) as caught:
            client.send(bytes(10), 11)
        assert caught.value.status == Status.RECEIVE_AREA_TOO_SMALL
        assert client.connection is not None
        assert client.connection.tsend.STATUS == Status.RECEIVE_AREA_TOO_SMALL
        client.send(bytes(258))  # the connection is still fine


def test_iso_on_tcp_messages_and_8088(
    no_leaks: None, iso_pair: tuple[EndpointSpec, EndpointSpec, AddressMap]
) -> None:
    """TCON_IP_RFC (plain ISO-on-TCP, RFC 1006): CR/CC, messages, a message too large."""
    server, client, address_map = iso_pair
    log = RecordLog()
    with (
        PassiveEndpoint(server, behaviour=echo(), address_map=address_map, on_event=log),
        ActiveEndpoint(client, address_map=address_map) as active,
    ):
        assert active.connection is not None and active.connection.tpdu_size == 1024
        active.send(b"hello ISO")
        assert active.receive(timeout=WAIT) == b"hello ISO"  # one message, whatever its size
        active.send(bytes(3000))
        too_big = log.wait_for(RecordKind.RECEIVE_FAILED, timeout=WAIT)
        active.send(b"still up")
        assert active.receive(timeout=WAIT) == b"still up"
    assert too_big.status == Status.RECEIVE_AREA_TOO_SMALL
    assert log.of(RecordKind.CONNECTED)[0].info is not None


def test_san_check_uses_the_plant_address(store: CertStore) -> None:
    """ExtTLSCapabilities bit 0: certificate 9 names 192.168.0.1, the address the client was
    configured with, not 127.0.0.1 where the server really runs; another plant address fails."""
    setup = standard_example(store)
    checking = dataclasses.replace(STANDARD_CLIENT, ExtTLSCapabilities=1)
    wrong = dataclasses.replace(
        checking, ConnPara=dataclasses.replace(checking.ConnPara, RemoteAddress="192.168.0.9")
    )
    device = setup.client.device
    with PassiveEndpoint(setup.server, address_map=setup.address_map) as server:
        setup.address_map.add("192.168.0.9", 2000, "127.0.0.1", server.port)
        for block, fails in ((checking, False), (wrong, True)):
            spec = EndpointSpec.from_block(
                block, store=store, device=device, device_name="PLC_2", receive_len=258
            )
            client = ActiveEndpoint(spec, address_map=setup.address_map, reconnect=False)
            try:
                if fails:
                    with pytest.raises(TLSError) as caught:
                        client.connect()
                    assert caught.value.status == Status.TLS_HANDSHAKE_FAILURE
                else:
                    assert client.connect().peer_subject == "CN=PLC_1"
            finally:
                client.close()


def test_disconnect_does_not_wait_for_the_partners_answer(setup: ExampleSetup) -> None:
    """CONT 1→0 sends close_notify and FIN and releases the socket at once, like the CPU: a
    partner that is busy (here: its serving thread blocked in the behaviour) does not hold
    the block up, and still gets the orderly close when it comes back."""
    server_log, client_log = RecordLog(), RecordLog()
    busy, released = threading.Event(), threading.Event()

    def hold(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        busy.set()
        released.wait(WAIT)
        return None

    server = PassiveEndpoint(
        setup.server, behaviour=hold, address_map=setup.address_map, on_event=server_log
    )
    with server:
        client = ActiveEndpoint(setup.client, address_map=setup.address_map, on_event=client_log)
        try:
            client.connect()
            client.send(b"\x01\x00" + bytes(256))
            assert busy.wait(WAIT)
            client.disconnect()
            closed = client_log.of(RecordKind.CLOSED)
            # Ended by our own close (0000), not by the close timeout running out.
            assert [(r.status, r.reason) for r in closed] == [(Status.NO_JOB, "closed")]
            assert closed[0].line().endswith("16#7000 closed")  # not "closed - closed"
            assert not released.is_set() and not client.connected
        finally:
            released.set()
            client.close()
        partner = server_log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    assert partner.status == Status.PARTNER_CLOSED  # our close_notify arrived


def test_records_are_built_only_for_a_listener(caplog: pytest.LogCaptureFixture) -> None:
    """No callback and the level off: nothing is built; a callback or the log level: the
    record, with the STATUS sequences of a Disconnected connection."""
    from ouc.conn import Disconnected
    from ouc.drivers._records import Recorder

    class _Conn:
        status_history = [(0.0, "TSEND_C", 0x7000), (0.0, "TRCV_C", 0x7000), (1.0, "TSEND_C", 0)]

    event = Disconnected(0, "closed", False)
    caplog.set_level("WARNING", logger="ouc.drivers")
    quiet = Recorder("PLC_2", "TSEND_C", None)
    assert quiet.emit(RecordKind.CONNECTED, Status.CONNECTED_IDLE) is None
    assert quiet.connection_event(event, _Conn(), peer="p", local=None, serial=1) is None  # type: ignore[arg-type]
    assert quiet.emit(RecordKind.REFUSED, Status.PARTNER_REFUSED) is not None  # WARNING is on
    seen: list[object] = []
    heard = Recorder("PLC_2", "TSEND_C", seen.append)
    record = heard.connection_event(event, _Conn(), peer="p", local=None, serial=1)  # type: ignore[arg-type]
    assert record is not None and seen == [record]
    assert dict(record.sequences) == {"TSEND_C": "7000 → 0000", "TRCV_C": "7000"}
    caplog.set_level("INFO", logger="ouc.drivers")
    logged = quiet.emit(RecordKind.CONNECTED, Status.CONNECTED_IDLE)
    assert logged is not None and logged.line() in caplog.text


def test_served_sockets_have_the_record_path_options(setup: ExampleSetup) -> None:
    """TCP_NODELAY and the send timeout on every served socket (inherited from the listening
    socket on Linux, set per socket elsewhere)."""
    import struct

    server = PassiveEndpoint(setup.server, address_map=setup.address_map, send_timeout=7.0)
    with server, ActiveEndpoint(setup.client, address_map=setup.address_map) as client:
        client.send(b"\x01\x00" + bytes(256))
        served = list(server._served.values())
        assert len(served) == 1
        sock = served[0].sock
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
        seconds, micros = struct.unpack(
            "ll", sock.getsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, 16)
        )
        assert seconds + micros / 1e6 == pytest.approx(7.0)
        assert sock.gettimeout() is None
