"""TSEND_C's LEN at its limits, and a REQ the connection cannot take.

TIA help, TSEND_C: LEN above the CPU's maximum (65536 on S7-1500, 8192 on S7-1200; domain.md §4)
is 16#8085, LEN larger than the DATA area 16#8088, and a REQ while the connection is being
established 16#80C4 / without a connection 16#80A3. Each limit is tried on it and one past it,
with what the partner receives.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ouc.conn import FrameReceived
from ouc.device import Device, Family
from ouc.errors import FramingError, OucConnectionError, Status

Factory = Callable[..., Any]
LIMITS = {Family.S7_1500: 65536, Family.S7_1200: 8192}


@pytest.fixture(params=list(LIMITS), ids=lambda family: family.value)
def family(request: pytest.FixtureRequest) -> Family:
    family: Family = request.param
    return family


def _up(pair_factory: Factory, family: Family, receive_len: int) -> Any:
    pair = pair_factory(receive_len, adhoc=True, device=Device(family=family))
    pair.start()
    return pair


def test_len_at_the_limit_is_sent_whole(pair_factory: Factory, family: Family) -> None:
    limit = LIMITS[family]
    pair = _up(pair_factory, family, limit)
    data = bytes(range(256)) * (limit // 256)
    pair.client.send(data, limit, now=1.0)
    assert pair.client.data_to_send() == data
    assert pair.client.tsend.STATUS == Status.DONE


def test_len_one_past_the_limit_is_8085(pair_factory: Factory, family: Family) -> None:
    limit = LIMITS[family]
    pair = _up(pair_factory, family, limit)
    with pytest.raises(FramingError) as info:
        pair.client.send(bytes(limit + 1), limit + 1, now=1.0)
    assert (info.value.status, info.value.path) == (Status.LEN_INVALID, "LEN")
    assert info.value.message == f"LEN {limit + 1} is outside 1..{limit}"
    assert pair.client.tsend.STATUS == Status.LEN_INVALID
    assert pair.client.data_to_send() == b""


def test_whole_data_area_one_past_the_limit_is_8085(pair_factory: Factory, family: Family) -> None:
    """LEN 0 sends the whole DATA area, which is checked against the same limit."""
    limit = LIMITS[family]
    pair = _up(pair_factory, family, limit)
    with pytest.raises(FramingError) as info:
        pair.client.send(bytes(limit + 1), now=1.0)
    assert info.value.status == Status.LEN_INVALID


def test_len_at_the_limit_with_a_smaller_data_area_is_8088(
    pair_factory: Factory, family: Family
) -> None:
    limit = LIMITS[family]
    pair = _up(pair_factory, family, limit)
    with pytest.raises(FramingError) as info:
        pair.client.send(bytes(limit - 1), limit, now=1.0)
    assert (info.value.status, info.value.path) == (Status.RECEIVE_AREA_TOO_SMALL, "LEN")
    assert info.value.message == f"LEN {limit} is larger than the {limit - 1}-byte DATA area"
    assert pair.client.tsend.STATUS == Status.RECEIVE_AREA_TOO_SMALL
    assert pair.client.data_to_send() == b""


def test_len_past_the_limit_and_the_data_area_is_8085(pair_factory: Factory) -> None:
    """Both rules broken: the limit is checked first."""
    pair = _up(pair_factory, Family.S7_1200, 100)
    with pytest.raises(FramingError) as info:
        pair.client.send(bytes(10), 8193, now=1.0)
    assert info.value.status == Status.LEN_INVALID


@pytest.mark.parametrize("length", [1, 2])
def test_the_smallest_lens_send_a_prefix(pair_factory: Factory, length: int) -> None:
    pair = _up(pair_factory, Family.S7_1500, 10)
    pair.client.send(b"abcdef", length, now=1.0)
    pair.pump()
    assert pair.of("server", FrameReceived) == [FrameReceived(b"abcdef"[:length], length)]


def test_len_1_with_an_empty_data_area_is_8088(pair_factory: Factory) -> None:
    pair = _up(pair_factory, Family.S7_1500, 10)
    with pytest.raises(FramingError) as info:
        pair.client.send(b"", 1, now=1.0)
    assert info.value.status == Status.RECEIVE_AREA_TOO_SMALL
    assert info.value.message == "LEN 1 is larger than the 0-byte DATA area"


@pytest.mark.parametrize(("data", "length"), [(b"abc", -1), (b"", 0)])
def test_len_below_one_is_8085(pair_factory: Factory, data: bytes, length: int) -> None:
    pair = _up(pair_factory, Family.S7_1500, 10)
    with pytest.raises(FramingError) as info:
        pair.client.send(data, length, now=1.0)
    assert info.value.status == Status.LEN_INVALID
    assert info.value.message == f"LEN {length} is outside 1..65536"


def test_req_while_establishing_is_80c4_with_its_reason(establishing: Factory) -> None:
    conn = establishing()
    with pytest.raises(OucConnectionError) as info:
        conn.send(b"abcd", now=1.0)
    assert info.value.status == Status.TEMPORARY
    assert info.value.message == "cannot send: the connection is still being established"
    assert conn.tsend.STATUS == Status.TEMPORARY


def test_req_after_the_end_is_80a3_with_its_reason(pair_factory: Factory) -> None:
    pair = _up(pair_factory, Family.S7_1500, 4)
    pair.server.close(1.0)
    pair.pump()
    with pytest.raises(OucConnectionError) as info:
        pair.client.send(b"abcd", now=2.0)
    assert info.value.status == Status.NO_SUCH_CONNECTION
    assert info.value.message == "cannot send: the connection is not up (closed)"
    assert pair.client.tsend.STATUS == Status.NO_SUCH_CONNECTION
