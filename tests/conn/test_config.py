"""ConnectionConfig: validation and construction from CONNECT blocks."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from typing import Any

import pytest

from ouc.conn import ConnectionConfig, IsoConfig
from ouc.device import Device, Family, Role
from ouc.errors import ConfigError, ParamError, Status


class _Proto(Enum):
    TCP = "TCP"
    UDP = "UDP"
    ISO_ON_TCP = "ISO-on-TCP"


@dataclass(frozen=True)
class _Sel:
    TSelLength: int
    TSel: Any


@dataclass(frozen=True)
class _Block:
    """A stand-in with the attribute names every ``ouc.params`` block has."""

    role: Role = Role.ACTIVE
    secure: bool = True
    conn_id: int = 1
    type_name: str = "TCON_IP_V4_SEC"
    protocol: _Proto = _Proto.TCP


@dataclass(frozen=True)
class _RfcBlock(_Block):
    secure: bool = False
    type_name: str = "TCON_IP_RFC"
    protocol: _Proto = _Proto.ISO_ON_TCP
    LocalTSelector: _Sel = _Sel(5, b"TCP-1".ljust(32, b"\0"))
    RemoteTSelector: _Sel = _Sel(2, b"\x01\x00".ljust(32, b"\0"))


@dataclass(frozen=True)
class _LegacyBlock(_Block):
    secure: bool = False
    type_name: str = "TCON_PARAM"
    protocol: _Proto = _Proto.ISO_ON_TCP
    local_tsap: bytes = b"\x01\x02"
    remote_tsap: bytes = b"\x01\x00"


def test_from_secure_tcp_block() -> None:
    device = Device(family=Family.S7_1200, firmware=(4, 5))
    config = ConnectionConfig.from_block(
        _Block(conn_id=7), device, receive_len=258, adhoc=True, idle_timeout=30.0
    )
    assert (config.role, config.secure, config.conn_id, config.iso) == (Role.ACTIVE, True, 7, None)
    assert (config.receive_len, config.adhoc, config.idle_timeout) == (258, True, 30.0)
    assert config.device is device
    assert config.type_name == "TCON_IP_V4_SEC"


def test_from_rfc_block_reads_the_t_selectors() -> None:
    config = ConnectionConfig.from_block(
        _RfcBlock(role=Role.PASSIVE), Device(), receive_len=100, tpdu_size=512
    )
    assert config.iso == IsoConfig(b"TCP-1", b"\x01\x00", 512)
    assert config.role is Role.PASSIVE


def test_from_legacy_block_reads_the_tsap_properties() -> None:
    config = ConnectionConfig.from_block(_LegacyBlock(), Device(), receive_len=100)
    assert config.iso == IsoConfig(b"\x01\x02", b"\x01\x00")


@pytest.mark.parametrize(
    ("selector", "status", "path"),
    [
        (_Sel(33, bytes(32)), Status.PORT_OR_ADDRESS, "LocalTSelector.TSelLength"),
        (_Sel(5, b"ab"), Status.CONNECT_INVALID, "LocalTSelector.TSelLength"),
        (_Sel(2, [256, 1]), Status.CONNECT_INVALID, "LocalTSelector"),
        (_Sel("x", b""), Status.CONNECT_INVALID, "LocalTSelector"),
    ],
)
def test_bad_t_selectors(selector: _Sel, status: int, path: str) -> None:
    with pytest.raises(ParamError) as info:
        ConnectionConfig.from_block(_RfcBlock(LocalTSelector=selector), Device(), receive_len=1)
    assert (info.value.status, info.value.path) == (status, path)


def test_legacy_tsap_too_long() -> None:
    with pytest.raises(ParamError) as info:
        ConnectionConfig.from_block(_LegacyBlock(local_tsap=bytes(33)), Device(), receive_len=1)
    assert info.value.path == "local_tsap"


def test_udp_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        ConnectionConfig.from_block(
            _Block(protocol=_Proto.UDP, secure=False), Device(), receive_len=10
        )
    assert info.value.status == Status.CONNECTION_TYPE


@pytest.mark.parametrize(
    ("kwargs", "path"),
    [
        ({"receive_len": 0}, "receive_len"),
        ({"receive_len": 65537}, "receive_len"),
        ({"handshake_timeout": 0.0}, "handshake_timeout"),
        ({"idle_timeout": -1.0}, "idle_timeout"),
        ({"close_timeout": 0}, "close_timeout"),
        ({"secure": True, "iso": IsoConfig(b"ab")}, "iso"),
    ],
)
def test_config_validation(kwargs: dict[str, Any], path: str) -> None:
    arguments: dict[str, Any] = {"role": Role.ACTIVE, "receive_len": 10, **kwargs}
    with pytest.raises(ConfigError) as info:
        ConnectionConfig(**arguments)
    assert info.value.path == path


def test_iso_config_validation() -> None:
    with pytest.raises(ConfigError) as info:
        IsoConfig(b"ab", tpdu_size=1000)
    assert info.value.path == "tpdu_size"
    with pytest.raises(ConfigError) as info:
        IsoConfig(b"ab", remote_tsap=bytes(33))
    assert (info.value.status, info.value.path) == (Status.PORT_OR_ADDRESS, "remote_tsap")


def test_real_rfc_block_when_ouc_params_exports_it() -> None:
    params = pytest.importorskip("ouc.params")
    if not hasattr(params, "TconIpRfc") or not hasattr(params, "TSelector"):
        pytest.skip("ouc.params does not export TconIpRfc/TSelector yet")
    block = params.TconIpRfc(
        InterfaceId=64,
        ID=3,
        ConnectionType=12,
        ActiveEstablished=True,
        RemoteAddress="192.168.0.1",
        RemoteTSelector=params.TSelector.of(b"TCP-1"),
        LocalTSelector=params.TSelector.of(b"\x01\x00"),
    )
    config = ConnectionConfig.from_block(block, Device(), receive_len=100)
    assert config.iso == IsoConfig(b"\x01\x00", b"TCP-1")
    assert (config.role, config.conn_id, config.secure) == (Role.ACTIVE, 3, False)
