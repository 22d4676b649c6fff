"""An active endpoint's status records name the block that reports each code, as its STATUS
sequences show it (README, STATUS): the partner's close is TRCV_C's 16#80C5 (an idle TSEND_C
shows 16#80A3), an ISO-on-TCP message larger than the receive area TRCV_C's 16#8088 — not the
endpoint's TSEND_C for every code. Both drivers share the recorder; both are run.
"""

from __future__ import annotations

import asyncio

import pytest

from ouc.certs import CertStore
from ouc.drivers import (
    ActiveEndpoint,
    AddressMap,
    AsyncActiveEndpoint,
    EndpointRecord,
    EndpointSpec,
    PassiveEndpoint,
    RecordKind,
    RecordLog,
    reply,
    standard_example,
)
from ouc.errors import Status

WAIT = 15.0


def _ended(log: RecordLog) -> EndpointRecord:
    return log.wait_for(lambda r: r.kind in (RecordKind.CLOSED, RecordKind.FAILED), timeout=WAIT)


def _partner_closes_blocking(store: CertStore) -> EndpointRecord:
    setup = standard_example(store)
    log = RecordLog()
    with PassiveEndpoint(setup.server, address_map=setup.address_map) as server:
        client = ActiveEndpoint(
            setup.client, address_map=setup.address_map, reconnect=False, on_event=log
        )
        client.connect()
        server.stop()  # close_notify and FIN: the partner closed
        ended = _ended(log)
        client.close()
    assert log.of(RecordKind.CONNECTED)[0].block == "TSEND_C"  # 0001: both blocks, its own
    return ended


def _partner_closes_asyncio(store: CertStore) -> EndpointRecord:
    setup = standard_example(store)
    log = RecordLog()

    async def run(server: PassiveEndpoint) -> EndpointRecord:
        client = AsyncActiveEndpoint(
            setup.client, address_map=setup.address_map, reconnect=False, on_event=log
        )
        await client.connect()
        await asyncio.to_thread(server.stop)
        ended = await log.wait_for_async(
            lambda r: r.kind in (RecordKind.CLOSED, RecordKind.FAILED), timeout=WAIT
        )
        await client.close()
        return ended

    with PassiveEndpoint(setup.server, address_map=setup.address_map) as server:
        return asyncio.run(run(server))


@pytest.mark.parametrize("run", [_partner_closes_blocking, _partner_closes_asyncio])
def test_the_partners_close_is_trcv_cs_80c5(store: CertStore, run: object) -> None:
    ended = run(store)  # type: ignore[operator]
    assert ended.status == Status.PARTNER_CLOSED
    assert "80C5" in ended.sequences["TRCV_C"] and "80C5" not in ended.sequences["TSEND_C"]
    assert "80A3" in ended.sequences["TSEND_C"]  # an idle TSEND_C
    assert ended.block == "TRCV_C"
    assert ended.line().split()[:2] == ["PLC_2", "TRCV_C"]
    assert ended.to_json()["block"] == "TRCV_C"


def test_an_iso_message_too_large_for_the_active_side_is_trcv_cs_8088(
    iso_pair: tuple[EndpointSpec, EndpointSpec, AddressMap],
) -> None:
    """TCON_IP_RFC: the partner answers with 3000 bytes, the client's receive area has 100."""
    server, client, address_map = iso_pair
    log = RecordLog()
    with (
        PassiveEndpoint(server, behaviour=reply(bytes(3000)), address_map=address_map),
        ActiveEndpoint(client, address_map=address_map, on_event=log) as active,
    ):
        active.send(b"ask")
        event = active.receive_event(timeout=WAIT)
        failed = log.wait_for(RecordKind.RECEIVE_FAILED, timeout=WAIT)
        trcv = active.format_sequence("TRCV_C")
    assert event.status == Status.RECEIVE_AREA_TOO_SMALL  # type: ignore[union-attr]
    assert "8088" in trcv and "8088" not in active.format_sequence("TSEND_C")
    assert (failed.status, failed.block) == (Status.RECEIVE_AREA_TOO_SMALL, "TRCV_C")
    assert failed.line().split()[:2] == ["PLC_2", "TRCV_C"]


def test_iso_on_tcp_lines_say_iso_on_tcp_not_plain_tcp(
    iso_pair: tuple[EndpointSpec, EndpointSpec, AddressMap],
) -> None:
    """TCON_IP_RFC is ISO-on-TCP (RFC 1006) and never TLS (domain.md §2): the listening and
    connected lines of both sides say so."""
    server, client, address_map = iso_pair
    passive, active = RecordLog(), RecordLog()
    with (
        PassiveEndpoint(server, address_map=address_map, on_event=passive),
        ActiveEndpoint(client, address_map=address_map, on_event=active),
    ):
        served = passive.wait_for(RecordKind.CONNECTED, timeout=WAIT)
    listening = passive.of(RecordKind.LISTENING)[0].line()
    assert "ISO-on-TCP (no TLS)" in listening and "plain TCP" not in listening, listening
    for record in (served, active.of(RecordKind.CONNECTED)[0]):
        assert record.line().endswith("connected ISO-on-TCP (no TLS)"), record.line()
