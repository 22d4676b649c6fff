"""Hypothesis strategies for TCON parameter blocks: valid ones and mutated bytes (the
one-rule-broken ones, built from these, are in ``ouc.strategies._broken``).

>>> from hypothesis import given
>>> from ouc.params import validate
>>> from ouc.strategies import valid_blocks
>>> @given(valid_blocks("TCON_IP_V4_SEC"))
... def test_my_loader_accepts(block):
...     assert validate(block) == []
...     my_loader(build(block))          # your code under test
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from ouc.device import SYSTEM_PORTS, Device, Family, Role
from ouc.errors import ConfigError
from ouc.params import (
    BLOCK_TYPES,
    Block,
    BoolForm,
    Protocol,
    TconIpRfc,
    TconIpV4,
    TconIpV4Sec,
    TconParam,
    TconQdn,
    TconQdnSec,
    TSelector,
    build,
    canonical_type_name,
)

__all__ = ["mutated_bytes", "valid_blocks"]

Draw = Callable[[st.SearchStrategy[Any]], Any]

# Base blocks for broken blocks (ouc.strategies._broken) keep every port at or below 49151 so
# that the same block is valid on every firmware; the rules about port ranges and firmware then
# switch only the device.
_NARROW = Device(Family.S7_1500, (2, 9))
_NO_TLS = Device(Family.S7_1500, (1, 8))
_RESOLVED = "198.51.100.7"  # What a resolvable QDN resolves to in context_for (TEST-NET-2).

_SEC = ("TCON_IP_V4_SEC", "TCON_QDN_SEC")
_QDN = ("TCON_QDN", "TCON_QDN_SEC")
_IP = ("TCON_IP_V4", "TCON_IP_V4_SEC")
_TCP_UDP = (*_IP, *_QDN, "TCON_PARAM")


# --------------------------------------------------------------------------- building blocks


def _local_port(device: Device) -> st.SearchStrategy[int]:
    return st.integers(1, device.max_port).filter(lambda p: p not in SYSTEM_PORTS)


def _unicast(device: Device | None = None) -> st.SearchStrategy[str]:
    """A valid partner address: 1.0.0.0 .. 223.255.255.255 (no 0.0.0.0/8, multicast, class E or
    broadcast) and, given ``device``, none of its own addresses (16#80A4)."""
    addresses = st.integers(0x0100_0000, 0xDFFF_FFFF).map(lambda n: str(ipaddress.IPv4Address(n)))
    if device is None or not device.own_addresses:
        return addresses
    # A device has a handful of own addresses among 3.7e9, so the filter almost never rejects.
    return addresses.filter(lambda a: not device.is_own_address(a))


def _partner(device: Device, active: bool) -> st.SearchStrategy[str]:
    """An ISO-on-TCP partner address: required on the active side, 0.0.0.0 (any) allowed on the
    passive one."""
    return _unicast(device) if active else st.just("0.0.0.0") | _unicast(device)


def _qdn() -> st.SearchStrategy[str]:
    label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?\Z")
    return st.lists(label, min_size=1, max_size=5).map(lambda ls: ".".join(ls) + ".")


@dataclasses.dataclass(frozen=True)
class _Want:
    """Constraints on a generated valid block (None: any)."""

    protocol: Protocol | None = None
    role: Role | None = None
    secure: bool | None = None
    exclude: frozenset[Protocol] = frozenset()  # Protocols no block may have (broken blocks).


def _protocol_choices(type_name: str, want: _Want) -> list[tuple[int, Protocol]]:
    """The (ConnectionType, protocol) pairs of ``type_name`` that ``want`` allows (may be [])."""
    if want.secure and type_name not in _SEC:
        return []  # only the _SEC types can carry ActivateSecureConn TRUE
    choices = {
        "TCON_IP_RFC": [(12, Protocol.ISO_ON_TCP), (18, Protocol.ISO_ON_TCP)],
        "TCON_PARAM": [(17, Protocol.TCP), (18, Protocol.ISO_ON_TCP), (19, Protocol.UDP)],
    }.get(type_name, [(11, Protocol.TCP), (17, Protocol.TCP), (19, Protocol.UDP)])
    if want.protocol is not None:
        choices = [c for c in choices if c[1] is want.protocol]
    choices = [c for c in choices if c[1] not in want.exclude]
    if want.secure or want.role is Role.ACTIVE:
        choices = [c for c in choices if c[1] is not Protocol.UDP]  # UDP: passive, no DTLS
    return choices


def _pick_protocol(draw: Draw, type_name: str, want: _Want) -> tuple[int, Protocol]:
    pair: tuple[int, Protocol] = draw(st.sampled_from(_protocol_choices(type_name, want)))
    return pair


def _pick_role(draw: Draw, protocol: Protocol, want: _Want) -> bool:
    if protocol is Protocol.UDP:
        return False
    if want.role is not None:
        return want.role is Role.ACTIVE
    active: bool = draw(st.booleans())
    return active


def _endpoint(draw: Draw, protocol: Protocol, active: bool, device: Device) -> dict[str, Any]:
    """RemoteAddress/RemotePort/LocalPort for a valid TCP or UDP block."""
    top = device.max_port
    if protocol is Protocol.TCP and active:
        return {
            "RemoteAddress": draw(_unicast(device)),
            "RemotePort": draw(st.integers(1, top)),
            "LocalPort": draw(st.just(0) | _local_port(device)),
        }
    return {
        "RemoteAddress": draw(st.just("0.0.0.0") | _unicast(device)),
        "RemotePort": draw(st.integers(0, top)),
        "LocalPort": draw(_local_port(device)),
    }


@st.composite
def _valid(draw: Draw, type_name: str, device: Device, want: _Want) -> Block:
    ctype, protocol = _pick_protocol(draw, type_name, want)
    active = _pick_role(draw, protocol, want)
    head = {
        "InterfaceId": draw(st.integers(0 if type_name in (*_SEC, *_QDN) else 1, 0xFFFF)),
        "ID": draw(st.integers(1, 4095)),
        "ConnectionType": ctype,
        "ActiveEstablished": active,
    }
    if type_name == "TCON_IP_RFC":
        return _valid_rfc(draw, head, active, device)
    if type_name == "TCON_PARAM":
        return _valid_param(draw, head, protocol, active, device)
    ends = _endpoint(draw, protocol, active, device)
    if type_name in _QDN:
        needed = protocol is Protocol.TCP and active
        ends.pop("RemoteAddress")
        conn: TconIpV4 | TconQdn = TconQdn(
            RemoteQDN=draw(_qdn() if needed else st.just("") | _qdn()), **head, **ends
        )
    else:
        conn = TconIpV4(**head, **ends)
    if type_name not in _SEC:
        return conn
    # A firmware without Secure OUC refuses ActivateSecureConn TRUE (16#809A): draw it only where
    # the device has TLS (valid_blocks refuses secure=True for the others).
    secure = (
        protocol is not Protocol.UDP
        and device.supports_secure_ouc
        and (want.secure if want.secure is not None else draw(st.booleans()))
    )
    tls = _tls_fields(draw, secure, active)
    if isinstance(conn, TconQdn):
        return TconQdnSec(ConnPara=conn, **tls)
    return TconIpV4Sec(ConnPara=conn, **tls)


def _tls_fields(draw: Draw, secure: bool, active: bool) -> dict[str, Any]:
    ref = st.integers(0, 0xFFFF_FFFF) | st.integers(0, 64)
    fields: dict[str, Any] = {
        "ActivateSecureConn": secure,
        "TLSServerReqClientCert": draw(st.booleans()),
        "ExtTLSCapabilities": draw(st.integers(0, 0xFFFF)),
        "TLSServerCertRef": draw(ref),
        "TLSClientCertRef": draw(ref),
        "bool_form": draw(st.sampled_from(BoolForm)),
    }
    if secure and active:
        fields["TLSServerReqClientCert"] = False
    if secure and not active:
        fields["ExtTLSCapabilities"] &= 0xFFFE
        fields["TLSServerCertRef"] = draw(st.integers(1, 0xFFFF_FFFF) | st.integers(1, 64))
    return fields


def _tsap(min_size: int, max_size: int) -> st.SearchStrategy[bytes]:
    """A partner TSAP: any bytes (ouc checks only their length), never "SIMATIC-..."."""
    return st.binary(min_size=min_size, max_size=max_size).filter(
        lambda b: not b.startswith(b"SIMATIC-")
    )


def _ascii_tsap(low: int, high: int) -> st.SearchStrategy[bytes]:
    chars = st.lists(st.integers(low, high), min_size=3, max_size=16).map(bytes)
    return chars.filter(lambda b: not b.startswith(b"SIMATIC-"))


def _local_tsap(device: Device, active: bool) -> st.SearchStrategy[bytes]:
    """A valid local TSAP (TCON's 16#80B4 rules, the TSAP structure): a TSAP-ID of 2-16 bytes
    starting with 16#E0, or an ASCII TSAP of 3-16 characters (16#20-16#7E on an S7-1200's
    passive side)."""
    tsap_id = st.binary(min_size=1, max_size=15).map(lambda b: b"\xe0" + b)
    printable = device.family is Family.S7_1200 and not active
    return tsap_id | (_ascii_tsap(0x20, 0x7E) if printable else _ascii_tsap(0x00, 0x7F))


def _valid_rfc(draw: Draw, head: dict[str, Any], active: bool, device: Device) -> TconIpRfc:
    return TconIpRfc(
        RemoteAddress=draw(_partner(device, active)),
        RemoteTSelector=TSelector.of(draw(_tsap(0, 32))),
        LocalTSelector=TSelector.of(draw(_local_tsap(device, active))),
        **head,
    )


def _valid_param(
    draw: Draw, head: dict[str, Any], protocol: Protocol, active: bool, device: Device
) -> TconParam:
    args: dict[str, Any] = {
        "block_length": 64,
        "id": head["ID"],
        "connection_type": head["ConnectionType"],
        "active_est": active,
        "local_device_id": draw(st.integers(0, 0xFF)),
        "rem_subnet_id_len": 0,
        "next_staddr_len": 0,
        "spare": 0,
    }
    # The UDT 65 table (validate's udt65_lengths) allows a partner TSAP of 0 or 2-16 bytes for
    # ISO-on-TCP and none for UDP, whose partner comes with each telegram: the blocks keep to it.
    if protocol is Protocol.ISO_ON_TCP:
        local, remote = draw(_local_tsap(device, active)), draw(_tsap(0, 0) | _tsap(2, 16))
        address = draw(_partner(device, active))
    elif protocol is Protocol.UDP:
        local, remote = draw(_local_port(device)).to_bytes(2, "big"), b""
        address = "0.0.0.0"
    else:
        ends = _endpoint(draw, protocol, active, device)
        local = ends["LocalPort"].to_bytes(2, "big") if ends["LocalPort"] else b""
        remote = ends["RemotePort"].to_bytes(2, "big") if ends["RemotePort"] else b""
        address = ends["RemoteAddress"]
    packed = ipaddress.IPv4Address(address).packed
    args.update(
        local_tsap_id_len=len(local),
        local_tsap_id=local,
        rem_tsap_id_len=len(remote),
        rem_tsap_id=remote,
        rem_staddr_len=0 if address == "0.0.0.0" else 4,
        rem_staddr=b"" if address == "0.0.0.0" else packed,
    )
    return TconParam(**args)


def valid_blocks(
    type_name: str | None = None,
    *,
    device: Device = Device(),  # noqa: B008 - Device is frozen.
    secure: bool | None = None,
    role: Role | str | None = None,
    protocol: Protocol | str | None = None,
) -> st.SearchStrategy[Block]:
    """Blocks that :func:`ouc.params.validate` accepts on ``device`` (no other context, with or
    without ``udt65_lengths``).

    The narrowing is built in, never filtered, so it costs nothing and never trips hypothesis's
    health checks.

    Args:
        type_name: one type (``"TCON_QDN_SEC"``, any case) or None for every type that can
            meet the other constraints.
        device: the CPU the blocks are valid on: its port range, its own addresses (never a
            partner) and its firmware (ActivateSecureConn TRUE only where it has Secure OUC).
        secure: True: ActivateSecureConn TRUE (the _SEC types over TCP); False: plain
            (any type, _SEC ones with ActivateSecureConn FALSE); None: either (always plain on
            a firmware without Secure OUC).
        role: ``Role.ACTIVE`` / ``"active"`` (TSEND_C, the TLS client) or ``Role.PASSIVE`` /
            ``"passive"``; None: either.
        protocol: ``Protocol.TCP`` / ``"TCP"``, ``"UDP"`` or ``"ISO-on-TCP"``; None: any.

    Raises:
        ConfigError: an unknown role or protocol, or constraints no block can meet (a secure
            UDP block, an active UDP block, a secure ISO-on-TCP block, a type that cannot, a
            secure block on a firmware without Secure OUC).

    Example::

        @given(valid_blocks(secure=True, role="passive"))
        def test_my_server_config(block):
            assert block.secure and block.role is Role.PASSIVE
    """
    want = _Want(protocol=_as_protocol(protocol), role=_as_role(role), secure=secure)
    if secure and not device.supports_secure_ouc:
        first = "V4.4" if device.family is Family.S7_1200 else "V2.0"
        raise ConfigError(
            f"no block is valid with secure=True on an {device.family.value} "
            f"{device.firmware_text}: it has no Secure OUC (16#809A; TLS needs {first} or "
            "later); pass a newer firmware or secure=False",
            path="valid_blocks",
        )
    names = [canonical_type_name(type_name)] if type_name else list(BLOCK_TYPES)
    names = [n for n in names if _protocol_choices(n, want)]
    if not names:
        raise ConfigError(
            f"no {type_name or 'TCON'} block is valid with secure={secure!r}, role={role!r}, "
            f"protocol={protocol!r} (secure means TLS on TCP; UDP is passive only)",
            path="valid_blocks",
        )
    return st.sampled_from(names).flatmap(lambda n: _valid(n, device, want))


def _as_role(role: Role | str | None) -> Role | None:
    if role is None or isinstance(role, Role):
        return role
    try:
        return Role(role.strip().lower())
    except ValueError:
        raise ConfigError(
            f"role must be 'active' or 'passive', got {role!r}", path="role"
        ) from None


def _as_protocol(protocol: Protocol | str | None) -> Protocol | None:
    if protocol is None or isinstance(protocol, Protocol):
        return protocol
    for member in Protocol:
        if protocol.strip().lower() in (member.value.lower(), member.name.lower()):
            return member
    names = ", ".join(m.value for m in Protocol)
    raise ConfigError(f"protocol must be one of {names}, got {protocol!r}", path="protocol")


# --------------------------------------------------------------------------- raw mutations


@st.composite
def _mutate(draw: Draw, type_name: str | None) -> bytes:
    data = bytearray(build(draw(valid_blocks(type_name))))
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "extend", "insert", "delete"]))
        at = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif op == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif op == "truncate":
            del data[at:]
        elif op == "extend":
            data += draw(st.binary(min_size=1, max_size=32))
        elif op == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif op == "delete" and data:
            del data[at : at + draw(st.integers(1, 4))]
    return bytes(data)


def mutated_bytes(type_name: str | None = None) -> st.SearchStrategy[bytes]:
    """Valid blocks' bytes with one to four raw mutations: bit flips, overwritten bytes,
    truncation, extension, insertion, deletion. Feed them to a parser: it must return a block or
    raise its own error, never crash.

    Example::

        @given(mutated_bytes("TCON_IP_V4_SEC"))
        def test_parser_never_crashes(data):
            try:
                parse(data)
            except OucError:
                pass
    """
    if type_name is not None:
        canonical_type_name(type_name)
    return _mutate(type_name)
