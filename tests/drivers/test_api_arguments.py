"""The endpoint classes check their arguments when they are given, on both drivers.

A bad argument is one :class:`ConfigError` naming it (and the PLC status where one applies),
raised by the constructor or ``EndpointSpec.from_block`` before any socket is opened: not a
made-up status later ("not established within -1 s (16#80C4)"), not silent acceptance
(``retry_delay=-1``), not a foreign exception (OverflowError from ``bind``, TypeError from the
store). The CLI refuses the same values with its argument types (``ouc.cli._types``).
"""

from __future__ import annotations

import asyncio
import math
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aio_kit import SERVER_ANY, Pki, client_spec, make_pki, server_spec

from ouc._faults import Faults
from ouc.device import Device, Family
from ouc.drivers import (
    ActiveEndpoint,
    AsyncActiveEndpoint,
    AsyncPassiveEndpoint,
    EndpointSpec,
    PassiveEndpoint,
    RecordKind,
    RecordLog,
)
from ouc.errors import ConfigError, Status
from ouc.params import STANDARD_SERVER

ACTIVE = [ActiveEndpoint, AsyncActiveEndpoint]
PASSIVE = [PassiveEndpoint, AsyncPassiveEndpoint]


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


# ------------------------------------------------------------------------------ receive_len


@pytest.mark.parametrize("family", list(Family))
def test_receive_len_0_is_refused_like_the_cli_len_0(pki: Pki, family: Family) -> None:
    """``--len 0`` is refused by the CLI; ``receive_len=0`` was silently the largest LEN."""
    device = Device(family=family, name="PLC_1")
    limit = device.max_send_len
    resolved = server_spec(pki).resolved
    with pytest.raises(ConfigError) as info:
        EndpointSpec.from_block(SERVER_ANY, resolved=resolved, device=device, receive_len=0)
    error = info.value
    assert error.status == Status.LEN_INVALID
    assert error.path == "receive_len"
    assert f"outside 1..{limit}" in str(error)
    assert str(error) == (
        f"receive_len: LEN 0 is outside 1..{limit} on an {family.value} (None, not 0, "
        f"receives ad hoc up to {limit} bytes) (16#8085)"
    )


@pytest.mark.parametrize("value", [-1, 65537, "258", 258.0, True])
def test_receive_len_out_of_range_or_not_an_int_is_refused(pki: Pki, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        server_spec(pki, receive_len=value)
    assert info.value.path == "receive_len"
    if isinstance(value, int) and not isinstance(value, bool):
        assert info.value.status == Status.LEN_INVALID


def test_receive_len_none_is_the_largest_len_and_1_is_kept(pki: Pki) -> None:
    assert server_spec(pki, receive_len=None).config.receive_len == 65536
    assert server_spec(pki, receive_len=1, adhoc=False).config.receive_len == 1


# ------------------------------------------------------------------------------ the store


@pytest.mark.parametrize("as_path", [str, Path])
def test_a_store_path_instead_of_a_store_is_a_config_error(tmp_path: Path, as_path: Any) -> None:
    with pytest.raises(ConfigError) as info:
        EndpointSpec.from_block(STANDARD_SERVER, store=as_path(tmp_path / "store"))
    assert info.value.path == "store"
    assert "CertStore(path)" in str(info.value)


# ------------------------------------------------------------------------------ addresses


@pytest.mark.parametrize("cls", PASSIVE)
@pytest.mark.parametrize("port", [70000, -1])
def test_a_listen_port_out_of_range_is_a_config_error(pki: Pki, cls: Any, port: int) -> None:
    with pytest.raises(ConfigError) as info:
        cls(server_spec(pki), listen=("127.0.0.1", port))
    assert info.value.path == "listen"
    assert f"port {port} is outside 0..65535" in str(info.value)


@pytest.mark.parametrize("cls", PASSIVE)
@pytest.mark.parametrize("listen", [("127.0.0.1", "2000"), "127.0.0.1:2000", (1, 2000)])
def test_a_listen_address_of_the_wrong_shape_is_a_config_error(
    pki: Pki, cls: Any, listen: object
) -> None:
    with pytest.raises(ConfigError) as info:
        cls(server_spec(pki), listen=listen)
    assert info.value.path == "listen"


@pytest.mark.parametrize("cls", ACTIVE)
@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("connect_to", ("127.0.0.1", 0)),
        ("connect_to", ("127.0.0.1", 70000)),
        ("bind", ("127.0.0.1", 65536)),
    ],
)
def test_active_addresses_out_of_range_are_config_errors(
    pki: Pki, cls: Any, name: str, value: object
) -> None:
    with pytest.raises(ConfigError) as info:
        cls(client_spec(pki), **{name: value})
    assert info.value.path == name
    assert f"port {value[1]} is outside" in str(info.value)  # type: ignore[index]


# ------------------------------------------------------------------------------ times, counts

BAD_SECONDS = [-1, 0, math.nan, math.inf, "5", True]


@pytest.mark.parametrize("cls", ACTIVE)
@pytest.mark.parametrize(
    "name", ["connect_timeout", "retry_delay", "max_retry_delay", "send_timeout"]
)
@pytest.mark.parametrize("value", BAD_SECONDS)
def test_active_times_are_checked_up_front(pki: Pki, cls: Any, name: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        cls(client_spec(pki), **{name: value})
    assert info.value.path == name
    assert info.value.status is None  # the caller's mistake, no PLC status
    assert str(info.value).startswith(f"{name}: must be a number of seconds more than 0")


@pytest.mark.parametrize("cls", ACTIVE)
def test_connect_timeout_minus_one_no_longer_fails_later_with_80c4(pki: Pki, cls: Any) -> None:
    """It used to be accepted and fail at connect() with "not established within -1 s"."""
    with pytest.raises(ConfigError, match="connect_timeout: must be a number of seconds"):
        cls(client_spec(pki), connect_timeout=-1)


@pytest.mark.parametrize("cls", ACTIVE)
def test_good_times_and_none_send_timeout_are_kept(pki: Pki, cls: Any) -> None:
    endpoint = cls(
        client_spec(pki), connect_timeout=2, retry_delay=0.01, max_retry_delay=1, send_timeout=None
    )
    assert (endpoint.connect_timeout, endpoint.retry_delay) == (2.0, 0.01)
    assert endpoint.send_timeout is None
    if isinstance(endpoint, ActiveEndpoint):
        endpoint.close()


@pytest.mark.parametrize("value", BAD_SECONDS)
def test_the_blocking_servers_send_timeout_is_checked(pki: Pki, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        PassiveEndpoint(server_spec(pki), send_timeout=value)  # type: ignore[arg-type]
    assert info.value.path == "send_timeout"


@pytest.mark.parametrize("cls", PASSIVE)
@pytest.mark.parametrize(
    ("name", "value"),
    [("max_connections", 0), ("max_connections", "8"), ("backlog", -1), ("backlog", 1.5)],
)
def test_passive_counts_are_checked(pki: Pki, cls: Any, name: str, value: object) -> None:
    with pytest.raises(ConfigError) as info:
        cls(server_spec(pki), **{name: value})
    assert info.value.path == name


def test_the_async_clients_max_buffered_is_checked(pki: Pki) -> None:
    with pytest.raises(ConfigError) as info:
        AsyncActiveEndpoint(client_spec(pki), max_buffered=0)
    assert info.value.path == "max_buffered"


# ------------------------------------------------------------------------------ faults


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("wrong_length", "3"),
        ("wrong_length", 1.5),
        ("wrong_length", True),
        ("delay", "1"),
        ("pause_receiving", None),
        ("close_after_handshake", 1),
        ("reset_mid_frame", "yes"),
        ("handshake_abort", 2),
    ],
)
def test_faults_of_the_wrong_type_are_refused(name: str, value: object) -> None:
    """``Faults(wrong_length="3")`` was accepted, and the mock then never answered."""
    with pytest.raises(ConfigError) as info:
        Faults(**{name: value})  # type: ignore[arg-type]
    assert info.value.path == name
    assert repr(value) in str(info.value)


def test_faults_of_the_right_types_are_kept() -> None:
    faults = Faults(delay=1, wrong_length=-2, pause_receiving=math.inf, reset_mid_frame=True)
    assert faults.names == ("reset_mid_frame", "delay", "wrong_length", "pause_receiving")


# ------------------------------------------------------------------------------ per call

CALLS = [
    ("connect", (), -1),
    ("connect", (), 0),
    ("send", (b"x",), -1),
    ("send", (b"x",), "5"),
    ("receive", (), -1),
    ("receive", (), math.nan),
    ("receive_event", (), "1"),
]


@pytest.fixture
def refusing() -> Iterator[tuple[str, int]]:
    """A bound loopback port nobody listens on: where the calls below would connect (and be
    refused) if they did not check their timeout first."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[:2]


@pytest.mark.parametrize(("call", "positional", "timeout"), CALLS)
def test_a_calls_own_timeout_is_checked_on_the_blocking_driver(
    pki: Pki, refusing: tuple[str, int], call: str, positional: tuple[object, ...], timeout: object
) -> None:
    endpoint = ActiveEndpoint(client_spec(pki), connect_to=refusing, watch=False)
    try:
        with pytest.raises(ConfigError) as info:
            getattr(endpoint, call)(*positional, timeout=timeout)
    finally:
        endpoint.close()
    assert info.value.path == "timeout"
    assert endpoint.connections == 0  # refused before any attempt


@pytest.mark.parametrize(("call", "positional", "timeout"), CALLS)
def test_a_calls_own_timeout_is_checked_on_the_asyncio_driver(
    pki: Pki, refusing: tuple[str, int], call: str, positional: tuple[object, ...], timeout: object
) -> None:
    async def main() -> ConfigError:
        endpoint = AsyncActiveEndpoint(client_spec(pki), connect_to=refusing)
        try:
            with pytest.raises(ConfigError) as info:
                await getattr(endpoint, call)(*positional, timeout=timeout)
        finally:
            await endpoint.close()
        assert endpoint.connections == 0
        return info.value

    error = asyncio.run(asyncio.wait_for(main(), 10.0))
    assert error.path == "timeout"


# ------------------------------------------------------------------------------ wording


@pytest.mark.parametrize(("limit", "text"), [(1, "max 1 connection"), (2, "max 2 connections")])
def test_the_listening_line_counts_its_connection_limit_in_words(
    pki: Pki, limit: int, text: str
) -> None:
    log = RecordLog()
    with PassiveEndpoint(
        server_spec(pki), listen=("127.0.0.1", 0), max_connections=limit, on_event=log
    ):
        (listening,) = log.of(RecordKind.LISTENING)
    assert listening.reason.endswith(text), listening.line()
