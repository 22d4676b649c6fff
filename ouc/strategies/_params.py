"""Hypothesis strategies for TCON parameter blocks: valid, one-rule-broken, and mutated bytes.

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
from typing import Any, NamedTuple

from hypothesis import strategies as st

from ouc.device import SYSTEM_PORTS, Device, Family, Role
from ouc.errors import ConfigError
from ouc.params import (
    BLOCK_TYPES,
    RULES,
    SIZES,
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

__all__ = [
    "RULE_NAMES",
    "BrokenBlock",
    "broken_blocks",
    "context_for",
    "mutated_bytes",
    "valid_blocks",
]

RULE_NAMES: tuple[str, ...] = tuple(RULES)
"""Every rule :func:`broken_blocks` can break (the keys of :data:`ouc.params.RULES`)."""

Draw = Callable[[st.SearchStrategy[Any]], Any]

# Base blocks for broken_blocks keep every port at or below 49151 so that the same block is valid
# on every firmware; the rules about port ranges and firmware then switch only the device.
_NARROW = Device(Family.S7_1500, (2, 9))
_NO_TLS = Device(Family.S7_1500, (1, 8))
_RESOLVED = "198.51.100.7"  # What a resolvable QDN resolves to in context_for (TEST-NET-2).

_SEC = ("TCON_IP_V4_SEC", "TCON_QDN_SEC")
_QDN = ("TCON_QDN", "TCON_QDN_SEC")
_IP = ("TCON_IP_V4", "TCON_IP_V4_SEC")
_TCP_UDP = (*_IP, *_QDN, "TCON_PARAM")
_WITH_ADDRESS = (*_IP, "TCON_IP_RFC", "TCON_PARAM")


# --------------------------------------------------------------------------- building blocks


def _local_port(device: Device) -> st.SearchStrategy[int]:
    return st.integers(1, device.max_port).filter(lambda p: p not in SYSTEM_PORTS)


def _unicast() -> st.SearchStrategy[str]:
    # 1.0.0.0 .. 223.255.255.255: no 0.0.0.0/8, multicast, class E or broadcast.
    return st.integers(0x0100_0000, 0xDFFF_FFFF).map(lambda n: str(ipaddress.IPv4Address(n)))


def _qdn() -> st.SearchStrategy[str]:
    label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,14}[a-z0-9])?\Z")
    return st.lists(label, min_size=1, max_size=5).map(lambda ls: ".".join(ls) + ".")


@dataclasses.dataclass(frozen=True)
class _Want:
    """Constraints on a generated valid block (None: any)."""

    protocol: Protocol | None = None
    role: Role | None = None
    secure: bool | None = None


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
            "RemoteAddress": draw(_unicast()),
            "RemotePort": draw(st.integers(1, top)),
            "LocalPort": draw(st.just(0) | _local_port(device)),
        }
    return {
        "RemoteAddress": draw(st.just("0.0.0.0") | _unicast()),
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
    secure = protocol is not Protocol.UDP and (
        want.secure if want.secure is not None else draw(st.booleans())
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
        RemoteAddress=draw(_unicast() if active else st.just("0.0.0.0") | _unicast()),
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
    if protocol is Protocol.ISO_ON_TCP:
        local, remote = draw(_local_tsap(device, active)), draw(_tsap(0, 16))
        address = draw(_unicast() if active else st.just("0.0.0.0") | _unicast())
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
    """Blocks that :func:`ouc.params.validate` accepts on ``device`` (no other context).

    The narrowing is built in, never filtered, so it costs nothing and never trips hypothesis's
    health checks.

    Args:
        type_name: one type (``"TCON_QDN_SEC"``, any case) or None for every type that can
            meet the other constraints.
        device: the CPU whose port range the blocks respect.
        secure: True: ActivateSecureConn TRUE (the _SEC types over TCP); False: plain
            (any type, _SEC ones with ActivateSecureConn FALSE); None: either.
        role: ``Role.ACTIVE`` / ``"active"`` (TSEND_C, the TLS client) or ``Role.PASSIVE`` /
            ``"passive"``; None: either.
        protocol: ``Protocol.TCP`` / ``"TCP"``, ``"UDP"`` or ``"ISO-on-TCP"``; None: any.

    Raises:
        ConfigError: an unknown role or protocol, or constraints no block can meet (a secure
            UDP block, an active UDP block, a secure ISO-on-TCP block, a type that cannot).

    Example::

        @given(valid_blocks(secure=True, role="passive"))
        def test_my_server_config(block):
            assert block.secure and block.role is Role.PASSIVE
    """
    want = _Want(protocol=_as_protocol(protocol), role=_as_role(role), secure=secure)
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


# --------------------------------------------------------------------------- broken blocks


class BrokenBlock(NamedTuple):
    """A block (or, for ``length``/``structure``, raw bytes) that breaks exactly ``rule``.

    Unpacks as ``(block_or_bytes, rule_name, expected_status)``; :meth:`context` gives the
    keyword arguments :func:`ouc.params.validate` needs to see the rule (a device, a block_id...).
    """

    block: Block | bytes
    rule: str
    status: int

    def context(self) -> dict[str, Any]:
        """``validate(item.block, **item.context())`` reports exactly this rule."""
        if isinstance(self.block, bytes):
            return {}
        return context_for(self.block, self.rule)


def context_for(block: Block, rule: str) -> dict[str, Any]:
    """The validation context under which a block from :func:`broken_blocks` breaks ``rule``.

    It is derived from the block alone: the ID input (equal to the block's ID except for
    ``id_mismatch``), the device (narrower port range for ``*_port_range``, no TLS firmware for
    ``secure_unsupported``, the partner's address as its own for ``remote_address_own``), the
    ports in use, a QDN resolver and the certificate IDs of the store.
    """
    device = Device()
    if rule in ("local_port_range", "remote_port_range"):
        device = _NARROW
    elif rule == "secure_unsupported":
        device = _NO_TLS
    elif rule == "remote_address_own":
        device = Device(own_addresses=(block.remote_address or "0.0.0.0",))
    resolver: Callable[[str], str | None] | None = None
    if block.remote_qdn:
        resolver = _unresolvable if rule == "qdn_unresolvable" else _resolvable
    cert_ids: set[int] | None = None
    if isinstance(block, TconIpV4Sec | TconQdnSec):
        cert_ids = {block.TLSServerCertRef, block.TLSClientCertRef} - {0}
        if rule == "cert_ref_unknown":
            cert_ids.discard(block.TLSServerCertRef)
    return {
        "device": device,
        "block_id": block.conn_id % 4095 + 1 if rule == "id_mismatch" else block.conn_id,
        "ports_in_use": (block.local_port,) if rule == "local_port_in_use" else (),
        "resolve_qdn": resolver,
        "cert_ids": cert_ids,
    }


def _resolvable(name: str) -> str | None:
    return _RESOLVED


def _unresolvable(name: str) -> str | None:
    return None


def _replace(obj: Any, **changes: Any) -> Any:
    """``dataclasses.replace`` for blocks whose type is only known at run time."""
    return dataclasses.replace(obj, **changes)


def _set_conn(block: Block, **changes: Any) -> Block:
    """``dataclasses.replace`` on the connection fields, wherever the type keeps them."""
    if isinstance(block, TconIpV4Sec | TconQdnSec):
        return _replace(block, ConnPara=_replace(block.ConnPara, **changes))
    return _replace(block, **changes)


def _set_port(block: Block, side: str, port: int) -> Block:
    """Set LocalPort (side "local") or RemotePort ("remote") on a TCP/UDP block of any type."""
    if isinstance(block, TconParam):
        prefix = "local_tsap_id" if side == "local" else "rem_tsap_id"
        return _replace(block, **{prefix: port.to_bytes(2, "big"), prefix + "_len": 2})
    return _set_conn(block, **{"LocalPort" if side == "local" else "RemotePort": port})


def _set_address(block: Block, address: str) -> Block:
    if isinstance(block, TconParam):
        packed = ipaddress.IPv4Address(address).packed
        return _replace(block, rem_staddr=packed, rem_staddr_len=4)
    return _set_conn(block, RemoteAddress=address)


def _base(types: tuple[str, ...], **want: Any) -> st.SearchStrategy[Block]:
    return st.sampled_from(types).flatmap(lambda n: _valid(n, _NARROW, _Want(**want)))


_Breaker = Callable[[Draw], Block | bytes]


def _length(draw: Draw) -> bytes:
    data = build(draw(valid_blocks(device=_NARROW)))
    sizes = [n for n in range(len(data) + 40) if n not in SIZES]
    size = draw(st.sampled_from(sizes))
    if size <= len(data):
        return data[:size]
    return data + draw(st.binary(min_size=size - len(data), max_size=size - len(data)))


def _structure(draw: Draw) -> bytes:
    block = draw(valid_blocks(device=_NARROW))
    data = bytearray(build(block))
    spots = [(5, range(2, 256))]  # ActiveEstablished / active_est: a Bool byte.
    if isinstance(block, TconIpV4Sec):
        spots += [(14, range(1, 256)), (17, range(2, 256))]
    elif isinstance(block, TconQdnSec):
        spots += [(266, range(1, 256)), (273, range(2, 256))]
    elif isinstance(block, TconIpRfc):
        spots += [(6, range(1, 256))]
    if isinstance(block, TconQdn | TconQdnSec):
        spots += [(6, range(254))]  # The String[254]'s maximum-length byte.
    offset, values = draw(st.sampled_from(spots))
    data[offset] = draw(st.sampled_from(values))
    if offset in (17, 273):
        data[offset - 1] = draw(st.integers(0, 255))  # Any first byte: the pair is invalid.
    return bytes(data)


def _breakers() -> dict[str, _Breaker]:
    def bad_port(port: st.SearchStrategy[int], side: str, **want: Any) -> _Breaker:
        base = _base(_TCP_UDP, **want).filter(lambda b: b.protocol is not Protocol.ISO_ON_TCP)
        return lambda draw: _set_port(draw(base), side, draw(port))

    def conn(types: tuple[str, ...], change: dict[str, Any], **want: Any) -> _Breaker:
        return lambda draw: _set_conn(draw(_base(types, **want)), **change)

    def tls(change: dict[str, Any], **want: Any) -> _Breaker:
        return lambda draw: _replace(draw(_base(_SEC, secure=True, **want)), **change)

    tcp = Protocol.TCP
    return {
        "length": _length,
        "structure": _structure,
        "block_length": lambda draw: _replace(
            draw(_base(("TCON_PARAM",))),
            block_length=draw(st.integers(0, 0xFFFF).filter(lambda n: n != 64)),
        ),
        "id_range": _id_range,
        "id_mismatch": lambda draw: draw(valid_blocks(device=_NARROW)),
        "interface_id_zero": conn(("TCON_IP_V4", "TCON_IP_RFC"), {"InterfaceId": 0}),
        "connection_type": _connection_type,
        "udp_active": lambda draw: _set_active(draw(_base(_TCP_UDP, protocol=Protocol.UDP))),
        "active_remote_port_zero": bad_port(st.just(0), "remote", protocol=tcp, role=Role.ACTIVE),
        "passive_local_port_zero": bad_port(st.just(0), "local", protocol=tcp, role=Role.PASSIVE),
        "udp_local_port_zero": bad_port(st.just(0), "local", protocol=Protocol.UDP),
        "active_remote_address_zero": lambda draw: _set_address(
            draw(_base(_WITH_ADDRESS, role=Role.ACTIVE)), "0.0.0.0"
        ),
        "address_length": lambda draw: _replace(
            draw(_base(("TCON_PARAM",), role=Role.PASSIVE)),
            rem_staddr_len=draw(st.integers(0, 255).filter(lambda n: n not in (0, 4))),
        ),
        "remote_port_range": bad_port(st.integers(49152, 65535), "remote", protocol=tcp),
        "local_port_range": bad_port(st.integers(49152, 65535), "local"),
        "local_port_system": bad_port(st.sampled_from(sorted(SYSTEM_PORTS)), "local"),
        "local_port_in_use": lambda draw: draw(_base(_TCP_UDP).filter(_fixed_local_port)),
        "remote_address_invalid": _remote_address_invalid,
        "remote_address_own": lambda draw: draw(
            _base(_WITH_ADDRESS).filter(
                lambda b: b.remote_address != "0.0.0.0" and b.protocol is not Protocol.UDP
            )
        ),
        "tselector_length": _tselector_length,
        "tsap_invalid": _tsap_invalid,
        "tsap_structure": _tsap_structure,
        "qdn_empty": conn(_QDN, {"RemoteQDN": ""}, protocol=tcp, role=Role.ACTIVE),
        "qdn_not_qualified": _qdn_not_qualified,
        "qdn_unresolvable": lambda draw: draw(_base(_QDN).filter(lambda b: b.remote_qdn != "")),
        "secure_unsupported": lambda draw: draw(_base(_SEC, secure=True)),
        "secure_udp": lambda draw: _replace(
            draw(_base(_SEC, protocol=Protocol.UDP)), ActivateSecureConn=True
        ),
        "active_requests_client_cert": tls({"TLSServerReqClientCert": True}, role=Role.ACTIVE),
        "passive_ext_capabilities": lambda draw: _set_ext_bit0(
            draw(_base(_SEC, secure=True, role=Role.PASSIVE))
        ),
        "passive_without_server_cert": tls({"TLSServerCertRef": 0}, role=Role.PASSIVE),
        "cert_ref_unknown": lambda draw: draw(_base(_SEC, secure=True).filter(_distinct_refs)),
    }


def _fixed_local_port(block: Block) -> bool:
    """A TCP/UDP block with a local port set (ISO-on-TCP shares port 102 by design)."""
    return block.local_port != 0 and block.protocol is not Protocol.ISO_ON_TCP


def _distinct_refs(block: Block) -> bool:
    """A server certificate reference that is set and differs from the client one."""
    assert isinstance(block, TconIpV4Sec | TconQdnSec)
    return block.TLSServerCertRef not in (0, block.TLSClientCertRef)


def _set_active(block: Block) -> Block:
    if isinstance(block, TconParam):
        return _replace(block, active_est=True)
    return _set_conn(block, ActiveEstablished=True)


def _set_ext_bit0(block: Block) -> Block:
    assert isinstance(block, TconIpV4Sec | TconQdnSec)
    return _replace(block, ExtTLSCapabilities=block.ExtTLSCapabilities | 1)


def _id_range(draw: Draw) -> Block:
    block = draw(valid_blocks(device=_NARROW))
    bad = draw(st.just(0) | st.integers(4096, 0xFFFF))
    if isinstance(block, TconParam):
        return _replace(block, id=bad)
    return _set_conn(block, ID=bad)


def _connection_type(draw: Draw) -> Block:
    block = draw(valid_blocks(device=_NARROW))
    allowed = {"TCON_IP_RFC": (12, 18), "TCON_PARAM": (17, 18, 19)}.get(
        block.type_name, (11, 17, 19)
    )
    bad = draw(st.integers(0, 255).filter(lambda t: t not in allowed))
    if isinstance(block, TconParam):
        return _replace(block, connection_type=bad)
    return _set_conn(block, ConnectionType=bad)


def _remote_address_invalid(draw: Draw) -> Block:
    block = draw(_base(_WITH_ADDRESS).filter(lambda b: b.protocol is not Protocol.UDP))
    bad = draw(
        st.sampled_from(["255.255.255.255", "224.0.0.1", "239.1.2.3", "240.0.0.1", "0.0.0.7"])
    )
    return _set_address(block, bad)


def _tselector_length(draw: Draw) -> Block:
    block = draw(_base(("TCON_IP_RFC", "TCON_PARAM"), protocol=Protocol.ISO_ON_TCP))
    if isinstance(block, TconParam):
        field = draw(st.sampled_from(["local_tsap_id_len", "rem_tsap_id_len"]))
        return _replace(block, **{field: draw(st.integers(17, 255))})
    assert isinstance(block, TconIpRfc)
    side = draw(st.sampled_from(["LocalTSelector", "RemoteTSelector"]))
    old: TSelector = getattr(block, side)
    new = TSelector(draw(st.integers(33, 0xFFFF)), old.TSel)
    return _replace(block, **{side: new})


def _tsap_invalid(draw: Draw) -> Block:
    """A local TSAP TCON's table gives 16#80B4: empty, 2 bytes not 16#E0 first, "SIMATIC-..."."""
    not_e0 = st.integers(0, 0xDF) | st.integers(0xE1, 0xFF)
    tsaps = (
        st.just(b"")
        | st.tuples(not_e0, st.integers(0, 0xFF)).map(bytes)
        | st.binary(max_size=8).map(lambda b: b"SIMATIC-" + b)
    )
    return _set_local_tsap(draw, lambda limit: tsaps)


def _with_high_byte(data: bytes) -> bytes:
    """``data`` with its last byte above 16#7F unless some byte already is."""
    return data if max(data) > 0x7F else data[:-1] + bytes([data[-1] | 0x80])


def _tsap_structure(draw: Draw) -> Block:
    """A local TSAP that is neither a TSAP-ID nor an ASCII TSAP: 1 byte, longer than 16 bytes
    (TCON_IP_RFC only: TCON_Param's array ends at 16), or 3-16 bytes not starting with 16#E0
    that hold a byte above 16#7F."""
    not_e0 = st.integers(0, 0xDF) | st.integers(0xE1, 0xFF)
    non_ascii = st.tuples(not_e0, st.binary(min_size=2, max_size=15)).map(
        lambda t: _with_high_byte(bytes([t[0]]) + t[1])
    )

    def tsaps(limit: int) -> st.SearchStrategy[bytes]:
        choices = st.binary(min_size=1, max_size=1) | non_ascii
        if limit > 16:
            choices |= st.binary(min_size=17, max_size=limit)
        return choices.filter(lambda b: not b.startswith(b"SIMATIC-"))

    return _set_local_tsap(draw, tsaps)


def _set_local_tsap(draw: Draw, tsaps: Callable[[int], st.SearchStrategy[bytes]]) -> Block:
    """An ISO-on-TCP block whose local TSAP is drawn from ``tsaps(longest length it holds)``."""
    block = draw(_base(("TCON_IP_RFC", "TCON_PARAM"), protocol=Protocol.ISO_ON_TCP))
    tsap = draw(tsaps(16 if isinstance(block, TconParam) else 32))
    if isinstance(block, TconParam):
        return _replace(block, local_tsap_id=tsap, local_tsap_id_len=len(tsap))
    return _replace(block, LocalTSelector=TSelector.of(tsap))


def _qdn_not_qualified(draw: Draw) -> Block:
    block = draw(_base(_QDN))
    name = (block.remote_qdn or "plc.").rstrip(".") or "plc"
    bad = draw(st.sampled_from([name, name + "_x.", "-" + name + ".", name + " x.", "."]))
    return _set_conn(block, RemoteQDN=bad)


@st.composite
def _broken(draw: Draw, rule: str) -> BrokenBlock:
    return BrokenBlock(_BREAKERS[rule](draw), rule, RULES[rule])


_BREAKERS = _breakers()


def broken_blocks(rule: str | None = None) -> st.SearchStrategy[BrokenBlock]:
    """Blocks that break exactly one named rule, as ``(block_or_bytes, rule, status)``.

    For the rules ``length`` and ``structure`` the first item is bytes that
    :func:`ouc.params.parse` refuses with ``status``; for every other rule it is a block for which
    ``validate(block, **item.context())`` returns exactly one finding, with that rule and status.

    Args:
        rule: one of :data:`RULE_NAMES`, or None for any.

    Example::

        @given(broken_blocks("passive_without_server_cert"))
        def test_plc_refuses(item):
            block, rule, status = item
            assert my_plc_model(block).status == status   # 16#80E9
    """
    if rule is not None and rule not in _BREAKERS:
        known = ", ".join(RULE_NAMES)
        raise ConfigError(f"unknown rule {rule!r}; the rules are {known}", path="rule")
    names = [rule] if rule else list(RULE_NAMES)
    return st.sampled_from(names).flatmap(_broken)


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
