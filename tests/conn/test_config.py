"""ConnectionConfig: validation and construction from CONNECT blocks.

Limits, each tried on it and one past it, and each refusal with the line it shows: a T selector
holds at most 32 bytes (TCON_IP_RFC ``TSel Array[1..32]``, 16#80B7 beyond); LEN is 1..65536 on
S7-1500, 1..8192 on S7-1200 (domain.md §4); TPDU sizes are the powers of two 128..8192
(RFC 1006 / ISO 8073).
"""

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


def test_real_rfc_block() -> None:
    from ouc import params

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


# ---------------------------------------------------------------------------- limits and lines


@dataclass(frozen=True)
class _Bare:
    """The attributes every block has, and no ``protocol``."""

    role: Role = Role.PASSIVE
    secure: bool = False
    conn_id: int = 4
    type_name: str = "TCON_IP_V4"


@dataclass(frozen=True)
class _Iso(_Bare):
    """An ISO-on-TCP block that names no TSAP at all."""

    type_name: str = "TCON_PARAM"
    protocol: _Proto = _Proto.ISO_ON_TCP


@dataclass(frozen=True)
class _Rfc(_Bare):
    type_name: str = "TCON_IP_RFC"
    LocalTSelector: Any = None
    RemoteTSelector: Any = None


@dataclass(frozen=True)
class _Legacy(_Iso):
    local_tsap: Any = b""
    remote_tsap: Any = b""


def _refusal(error: type[Exception], **config: Any) -> Any:
    arguments: dict[str, Any] = {"role": Role.ACTIVE, "receive_len": 10, **config}
    with pytest.raises(error) as info:
        ConnectionConfig(**arguments)
    return info.value


# ---------------------------------------------------------------------------- ConnectionConfig


@pytest.mark.parametrize(
    ("config", "path", "message"),
    [
        (
            {"half_close": "keep"},
            "half_close",
            "half_close must be one of drop, answer, got 'keep'",
        ),
        ({"com_rst": "abort"}, "com_rst", "com_rst must be one of rst, fin, got 'abort'"),
        ({"stop": None}, "stop", "stop must be one of rst, fin, got None"),
        (
            {"receive_len": 0},
            "receive_len",
            "receive LEN 0 is outside 1..65536 for S7-1500",
        ),
        (
            {"receive_len": 8193, "device": Device(family=Family.S7_1200)},
            "receive_len",
            "receive LEN 8193 is outside 1..8192 for S7-1200",
        ),
        (
            {"handshake_timeout": 0.0},
            "handshake_timeout",
            "handshake_timeout must be positive seconds, got 0.0",
        ),
        ({"close_timeout": -1}, "close_timeout", "close_timeout must be positive seconds, got -1"),
        (
            {"secure": True, "iso": IsoConfig(b"ab")},
            "iso",
            "ISO-on-TCP has no secure variant (domain.md §2)",
        ),
    ],
)
def test_each_refusal_says_what_is_wrong(config: dict[str, Any], path: str, message: str) -> None:
    error = _refusal(ConfigError, **config)
    assert (error.path, error.message) == (path, message)


def test_receive_len_status_is_8085() -> None:
    assert _refusal(ConfigError, receive_len=65537).status == Status.LEN_INVALID


@pytest.mark.parametrize("receive_len", [1, 65536])
def test_receive_len_at_its_limits(receive_len: int) -> None:
    assert ConnectionConfig(Role.ACTIVE, receive_len).receive_len == receive_len


@pytest.mark.parametrize("name", ["handshake_timeout", "idle_timeout", "close_timeout"])
def test_timeouts_below_a_second_are_accepted(name: str) -> None:
    config = ConnectionConfig(Role.ACTIVE, 10, **{name: 0.25})  # type: ignore[arg-type]
    assert getattr(config, name) == 0.25


# ---------------------------------------------------------------------------- IsoConfig


def test_tpdu_size_refusal_names_the_sizes() -> None:
    with pytest.raises(ConfigError) as info:
        IsoConfig(b"ab", tpdu_size=1000)
    assert info.value.message == "TPDU size 1000 is not a power of two in 128..8192"


@pytest.mark.parametrize("name", ["local_tsap", "remote_tsap"])
def test_a_tsap_holds_32_bytes_and_not_33(name: str) -> None:
    tsaps: dict[str, Any] = {"local_tsap": b"", name: bytes(32)}
    assert getattr(IsoConfig(**tsaps), name) == bytes(32)
    with pytest.raises(ConfigError) as info:
        IsoConfig(**{**tsaps, name: bytes(33)})
    assert (info.value.status, info.value.path) == (Status.PORT_OR_ADDRESS, name)
    assert info.value.message == "a TSAP has at most 32 bytes"


# ---------------------------------------------------------------------------- from_block


def test_every_setting_is_passed_on() -> None:
    config = ConnectionConfig.from_block(
        _Bare(),
        Device(),
        receive_len=20,
        adhoc=True,
        handshake_timeout=3.0,
        idle_timeout=7.0,
        close_timeout=2.0,
        half_close="answer",
        com_rst="fin",
        stop="rst",
    )
    assert (config.adhoc, config.handshake_timeout, config.idle_timeout) == (True, 3.0, 7.0)
    assert (config.close_timeout, config.half_close) == (2.0, "answer")
    assert (config.com_rst, config.stop) == ("fin", "rst")


def test_the_defaults_are_the_configs_own() -> None:
    config = ConnectionConfig.from_block(_Bare(), Device(), receive_len=20)
    assert config == ConnectionConfig(
        Role.PASSIVE, 20, device=config.device, conn_id=4, type_name="TCON_IP_V4"
    )
    assert (config.adhoc, config.handshake_timeout, config.close_timeout) == (False, 10.0, 5.0)


def test_a_block_without_a_protocol_is_tcp_unless_it_is_tcon_ip_rfc() -> None:
    assert ConnectionConfig.from_block(_Bare(), Device(), receive_len=20).iso is None
    rfc = ConnectionConfig.from_block(_Rfc(), Device(), receive_len=20)
    assert rfc.iso == IsoConfig(b"", b"")


def test_udp_refusal_names_the_block_and_the_field() -> None:
    @dataclass(frozen=True)
    class _Udp(_Bare):
        type_name: str = "TCON_IP_V4"
        protocol: _Proto = _Proto.UDP

    with pytest.raises(ConfigError) as info:
        ConnectionConfig.from_block(_Udp(), Device(), receive_len=20)
    assert (info.value.status, info.value.path) == (Status.CONNECTION_TYPE, "ConnectionType")
    assert info.value.message == (
        "TCON_IP_V4 describes a UDP connection; TSEND_C/TRCV_C over UDP is not emulated"
    )


def test_an_iso_block_without_tsaps_has_empty_ones() -> None:
    assert ConnectionConfig.from_block(_Iso(), Device(), receive_len=20).iso == IsoConfig(b"")


@pytest.mark.parametrize("size", [0, 32])
def test_legacy_tsaps_at_their_limits(size: int) -> None:
    block = _Legacy(local_tsap=bytes(size), remote_tsap=bytearray(b"\x01"))
    iso = ConnectionConfig.from_block(block, Device(), receive_len=20).iso
    assert iso == IsoConfig(bytes(size), b"\x01")


@pytest.mark.parametrize(("value", "text"), [(bytes(33), repr(bytes(33))), ("TCP-1", "'TCP-1'")])
def test_a_legacy_tsap_too_long_or_not_bytes_is_refused(value: Any, text: str) -> None:
    with pytest.raises(ParamError) as info:
        ConnectionConfig.from_block(_Legacy(remote_tsap=value), Device(), receive_len=20)
    assert (info.value.status, info.value.path) == (Status.PORT_OR_ADDRESS, "remote_tsap")
    assert info.value.message == f"TSAP {text} is not at most 32 bytes"


@pytest.mark.parametrize(
    ("selector", "tsap"),
    [(_Sel(0, bytes(32)), b""), (_Sel(32, b"x" * 32), b"x" * 32), (_Sel(2, b"ab"), b"ab")],
)
def test_t_selectors_at_their_limits(selector: _Sel, tsap: bytes) -> None:
    iso = ConnectionConfig.from_block(_Rfc(LocalTSelector=selector), Device(), receive_len=20).iso
    assert iso is not None and iso.local_tsap == tsap


@pytest.mark.parametrize(
    ("selector", "status", "message"),
    [
        (_Sel(33, bytes(33)), Status.PORT_OR_ADDRESS, "TSelLength 33 is outside 0..32"),
        (_Sel(-1, bytes(32)), Status.PORT_OR_ADDRESS, "TSelLength -1 is outside 0..32"),
        (_Sel(3, b"ab"), Status.CONNECT_INVALID, "TSelLength 3 is longer than the 2 bytes of TSel"),
        (
            _Sel("x", b""),
            Status.CONNECT_INVALID,
            "T selector is not readable: invalid literal for int() with base 10: 'x'",
        ),
    ],
)
def test_bad_t_selectors_say_why(selector: _Sel, status: int, message: str) -> None:
    with pytest.raises(ParamError) as info:
        ConnectionConfig.from_block(_Rfc(RemoteTSelector=selector), Device(), receive_len=20)
    assert (info.value.status, info.value.message) == (status, message)
