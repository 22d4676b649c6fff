"""Hypothesis strategies for TCON parameter blocks that break exactly one named rule.

Each rule has a recipe: the valid blocks it starts from (types and constraints, built by the
narrowed valid-block machinery, never filtered) and the one change that breaks the rule. The
constraints a caller gives (``type_name=``, ``secure=``, ``role=``, ``protocol=``) are merged into
the recipe's before anything is drawn, so narrowing costs nothing and a combination no block can
meet is refused up front.
"""

from __future__ import annotations

import dataclasses
import ipaddress
from collections.abc import Callable
from typing import Any, NamedTuple

from hypothesis import strategies as st

from ouc.device import SYSTEM_PORTS, Device, Role
from ouc.errors import ConfigError
from ouc.params import (
    BLOCK_TYPES,
    RULES,
    SIZES,
    Block,
    Protocol,
    TconIpRfc,
    TconIpV4Sec,
    TconParam,
    TconQdn,
    TconQdnSec,
    TSelector,
    build,
    canonical_type_name,
)
from ouc.strategies._params import (
    _IP,
    _NARROW,
    _NO_TLS,
    _QDN,
    _RESOLVED,
    _SEC,
    _TCP_UDP,
    Draw,
    _as_protocol,
    _as_role,
    _local_port,
    _protocol_choices,
    _qdn,
    _unicast,
    _valid,
    _Want,
)

__all__ = ["RULE_NAMES", "BrokenBlock", "broken_blocks", "context_for"]

RULE_NAMES: tuple[str, ...] = tuple(RULES)
"""Every rule :func:`broken_blocks` can break (the keys of :data:`ouc.params.RULES`)."""

_WITH_ADDRESS = (*_IP, "TCON_IP_RFC", "TCON_PARAM")
_ALL = tuple(BLOCK_TYPES)
_ISO = ("TCON_IP_RFC", "TCON_PARAM")


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
    ports in use, a QDN resolver, the certificate IDs of the store, and ``udt65_lengths`` for the
    two rules of TCON_Param's length table. A QDN block's partner is what the resolver returns,
    so for ``remote_address_own`` that address is the CPU's own.
    """
    device = Device()
    if rule in ("local_port_range", "remote_port_range"):
        device = _NARROW
    elif rule == "secure_unsupported":
        device = _NO_TLS
    elif rule == "remote_address_own":
        device = Device(own_addresses=(block.remote_address or _RESOLVED,))
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
        "udt65_lengths": rule in ("block_length_udt65", "udt65_length"),
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


_Make = Callable[[Draw, Block], Block | bytes]
_NO_PROTOCOL = "none"  # What a broken ConnectionType leaves: no protocol at all.


@dataclasses.dataclass(frozen=True)
class _Recipe:
    """How to break one rule: start from a valid block of ``types`` meeting ``want`` and apply
    ``make``. ``forces`` names what the break itself decides on the result (``udp_active`` makes
    the block active; ``secure_udp`` makes it secure; ``connection_type`` leaves no protocol), so
    a caller's constraint on that property is checked against the result, not the base.
    ``not_udp`` names the types whose UDP blocks cannot break the rule although other types' can
    (validate skips RemoteAddress for UDP, but resolves a UDP block's RemoteQDN)."""

    types: tuple[str, ...]
    make: _Make
    want: _Want = _Want()  # noqa: RUF009 - _Want is frozen.
    forces: tuple[tuple[str, Any], ...] = ()
    not_udp: tuple[str, ...] = ()


def _merge(recipe: _Recipe, user: _Want) -> _Want | None:
    """The base constraints that meet both the recipe and the caller, or None if none can."""
    forced = dict(recipe.forces)
    merged: dict[str, Any] = {}
    for field in ("protocol", "role", "secure"):
        mine, theirs = getattr(recipe.want, field), getattr(user, field)
        if field in forced:
            if theirs is not None and theirs != forced[field]:
                return None
            theirs = None  # Met by the break itself; the base must not be asked for it.
        if mine is not None and theirs is not None and mine != theirs:
            return None
        merged[field] = mine if mine is not None else theirs
    exclude = recipe.want.exclude | user.exclude
    if merged["protocol"] in exclude:
        return None
    return _Want(**merged, exclude=exclude)


def _plan(recipe: _Recipe, type_name: str | None, user: _Want) -> list[tuple[str, _Want]] | None:
    """The base types of ``recipe`` with their constraints under the caller's, or None if
    impossible."""
    want = _merge(recipe, user)
    if want is None:
        return None
    udp_excluded = dataclasses.replace(want, exclude=want.exclude | {Protocol.UDP})
    pairs = [(n, udp_excluded if n in recipe.not_udp else want) for n in recipe.types]
    pairs = [(n, w) for n, w in pairs if type_name in (None, n) and _protocol_choices(n, w)]
    return pairs or None


@st.composite
def _broken(draw: Draw, rule: str, pairs: list[tuple[str, _Want]]) -> BrokenBlock:
    base: Block = draw(st.sampled_from(pairs).flatmap(lambda p: _valid(p[0], _NARROW, p[1])))
    return BrokenBlock(_RECIPES[rule].make(draw, base), rule, RULES[rule])


def _length(draw: Draw, block: Block) -> bytes:
    data = build(block)
    sizes = [n for n in range(len(data) + 40) if n not in SIZES]
    size = draw(st.sampled_from(sizes))
    if size <= len(data):
        return data[:size]
    return data + draw(st.binary(min_size=size - len(data), max_size=size - len(data)))


def _structure(draw: Draw, block: Block) -> bytes:
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


def _recipes() -> dict[str, _Recipe]:
    tcp, udp, iso = Protocol.TCP, Protocol.UDP, Protocol.ISO_ON_TCP
    active, passive = Role.ACTIVE, Role.PASSIVE

    def port(values: st.SearchStrategy[int], side: str, **want: Any) -> _Recipe:
        """A TCP/UDP block whose ``side`` port is drawn from ``values``."""
        want.setdefault("exclude", frozenset({iso}))
        return _Recipe(_TCP_UDP, lambda d, b: _set_port(b, side, d(values)), _Want(**want))

    def tls(change: dict[str, Any], role: Role) -> _Recipe:
        return _Recipe(_SEC, lambda d, b: _replace(b, **change), _Want(secure=True, role=role))

    not_64 = st.integers(0, 0xFFFF).filter(lambda n: n != 64)
    not_0_or_4 = st.integers(0, 255).filter(lambda n: n not in (0, 4))
    return {
        "length": _Recipe(_ALL, _length),
        "structure": _Recipe(_ALL, _structure),
        "block_length": _Recipe(("TCON_PARAM",), lambda d, b: _replace(b, block_length=d(not_64))),
        "block_length_udt65": _Recipe(
            ("TCON_PARAM",), lambda d, b: _replace(b, block_length=d(not_64))
        ),
        "id_range": _Recipe(_ALL, _id_range),
        "id_mismatch": _Recipe(_ALL, lambda d, b: b),
        "interface_id_zero": _Recipe(
            ("TCON_IP_V4", "TCON_IP_RFC"), lambda d, b: _set_conn(b, InterfaceId=0)
        ),
        "connection_type": _Recipe(_ALL, _connection_type, forces=(("protocol", _NO_PROTOCOL),)),
        "udp_active": _Recipe(
            _TCP_UDP,
            lambda d, b: _set_active(b),
            _Want(protocol=udp),
            forces=(("role", active),),
        ),
        "active_remote_port_zero": port(st.just(0), "remote", protocol=tcp, role=active),
        "passive_local_port_zero": port(st.just(0), "local", protocol=tcp, role=passive),
        "udp_local_port_zero": port(st.just(0), "local", protocol=udp),
        "active_remote_address_zero": _Recipe(
            _WITH_ADDRESS, lambda d, b: _set_address(b, "0.0.0.0"), _Want(role=active)
        ),
        "address_length": _Recipe(
            ("TCON_PARAM",),
            lambda d, b: _replace(b, rem_staddr_len=d(not_0_or_4)),
            _Want(role=passive),
        ),
        "udt65_length": _Recipe(("TCON_PARAM",), _udt65_length),
        # validate checks both ports' range for TCP and UDP alike (UDP's RemotePort too).
        "remote_port_range": port(st.integers(49152, 65535), "remote"),
        "local_port_range": port(st.integers(49152, 65535), "local"),
        "local_port_system": port(st.sampled_from(sorted(SYSTEM_PORTS)), "local"),
        "local_port_in_use": _Recipe(_TCP_UDP, _local_port_in_use, _Want(exclude=frozenset({iso}))),
        "remote_address_invalid": _Recipe(
            _WITH_ADDRESS, _remote_address_invalid, _Want(exclude=frozenset({udp}))
        ),
        "remote_address_own": _Recipe(
            (*_WITH_ADDRESS, *_QDN), _remote_address_own, not_udp=_WITH_ADDRESS
        ),
        "tselector_length": _Recipe(_ISO, _tselector_length),
        "tsap_invalid": _Recipe(_ISO, _tsap_invalid, _Want(protocol=iso)),
        "tsap_structure": _Recipe(_ISO, _tsap_structure, _Want(protocol=iso)),
        "qdn_empty": _Recipe(
            _QDN, lambda d, b: _set_conn(b, RemoteQDN=""), _Want(protocol=tcp, role=active)
        ),
        "qdn_not_qualified": _Recipe(_QDN, _qdn_not_qualified),
        "qdn_unresolvable": _Recipe(_QDN, _qdn_unresolvable),
        "secure_unsupported": _Recipe(_SEC, lambda d, b: b, _Want(secure=True)),
        "secure_udp": _Recipe(
            _SEC,
            lambda d, b: _replace(b, ActivateSecureConn=True),
            _Want(protocol=udp),
            forces=(("secure", True),),
        ),
        "active_requests_client_cert": tls({"TLSServerReqClientCert": True}, active),
        "passive_ext_capabilities": _Recipe(
            _SEC, lambda d, b: _set_ext_bit0(b), _Want(secure=True, role=passive)
        ),
        "passive_without_server_cert": tls({"TLSServerCertRef": 0}, passive),
        "cert_ref_unknown": _Recipe(_SEC, _cert_ref_unknown, _Want(secure=True)),
    }


def _udt65_length(draw: Draw, block: Block) -> Block:
    """A TCON_Param length byte the UDT 65 table refuses and no other rule sees (validate's
    ``_udt65_lengths`` lists them): rem_subnet_id_len or next_staddr_len always; the active
    TCP side's local TSAP length, the passive TCP side's or ISO-on-TCP's partner TSAP length,
    UDP's partner address or TSAP length."""
    assert isinstance(block, TconParam)
    udp = block.protocol is Protocol.UDP
    changes: list[dict[str, Any]] = [
        {"rem_subnet_id_len": draw(st.integers(1, 255))},
        {"next_staddr_len": draw(st.integers(1 if udp else 2, 255))},
    ]
    some_length = st.sampled_from([1, *range(3, 17)])
    if block.protocol is Protocol.TCP:
        side = "local_tsap_id" if block.active_est else "rem_tsap_id"
        length = draw(some_length)
        changes.append({side + "_len": length, side: draw(st.binary(min_size=16, max_size=16))})
    elif block.protocol is Protocol.ISO_ON_TCP:
        changes.append({"rem_tsap_id_len": 1})
    elif udp:
        changes.append({"rem_tsap_id_len": draw(st.integers(1, 16))})
        changes.append(
            {"rem_staddr_len": 4, "rem_staddr": ipaddress.IPv4Address(draw(_unicast())).packed}
        )
    return _replace(block, **draw(st.sampled_from(changes)))


def _local_port_in_use(draw: Draw, block: Block) -> Block:
    """A TCP/UDP block with a local port set (ISO-on-TCP shares port 102 by design)."""
    if block.local_port:
        return block
    return _set_port(block, "local", draw(_local_port(_NARROW)))


def _cert_ref_unknown(draw: Draw, block: Block) -> Block:
    """A server certificate reference that is set and differs from the client one."""
    assert isinstance(block, TconIpV4Sec | TconQdnSec)
    if block.TLSServerCertRef not in (0, block.TLSClientCertRef):
        return block
    return _replace(block, TLSServerCertRef=block.TLSClientCertRef % 0xFFFF_FFFF + 1)


def _set_active(block: Block) -> Block:
    if isinstance(block, TconParam):
        return _replace(block, active_est=True)
    return _set_conn(block, ActiveEstablished=True)


def _set_ext_bit0(block: Block) -> Block:
    assert isinstance(block, TconIpV4Sec | TconQdnSec)
    return _replace(block, ExtTLSCapabilities=block.ExtTLSCapabilities | 1)


def _id_range(draw: Draw, block: Block) -> Block:
    bad = draw(st.just(0) | st.integers(4096, 0xFFFF))
    if isinstance(block, TconParam):
        return _replace(block, id=bad)
    return _set_conn(block, ID=bad)


def _connection_type(draw: Draw, block: Block) -> Block:
    allowed = {"TCON_IP_RFC": (12, 18), "TCON_PARAM": (17, 18, 19)}.get(
        block.type_name, (11, 17, 19)
    )
    bad = draw(st.integers(0, 255).filter(lambda t: t not in allowed))
    if isinstance(block, TconParam):
        return _replace(block, connection_type=bad)
    return _set_conn(block, ConnectionType=bad)


def _remote_address_invalid(draw: Draw, block: Block) -> Block:
    bad = draw(
        st.sampled_from(["255.255.255.255", "224.0.0.1", "239.1.2.3", "240.0.0.1", "0.0.0.7"])
    )
    return _set_address(block, bad)


def _remote_address_own(draw: Draw, block: Block) -> Block:
    """A block with a partner address or name set (the context then names the address, or what
    the name resolves to, as the CPU's own)."""
    if block.remote_qdn is not None:
        return _qdn_unresolvable(draw, block)
    if block.remote_address != "0.0.0.0":
        return block
    return _set_address(block, draw(_unicast()))


def _tselector_length(draw: Draw, block: Block) -> Block:
    """A T selector (TCON_Param: a TSAP array, which holds a TCP/UDP port) longer than it can
    be. On a TCP/UDP TCON_Param the port in the broken array reads as 0, so an active block gets
    its local array broken (LocalPort 0 is allowed there) and a passive one its remote array."""
    if isinstance(block, TconParam):
        fields = ["local_tsap_id_len", "rem_tsap_id_len"]
        if block.protocol is not Protocol.ISO_ON_TCP:
            fields = [fields[block.role is Role.PASSIVE]]
        field = draw(st.sampled_from(fields))
        return _replace(block, **{field: draw(st.integers(17, 255))})
    assert isinstance(block, TconIpRfc)
    side = draw(st.sampled_from(["LocalTSelector", "RemoteTSelector"]))
    old: TSelector = getattr(block, side)
    new = TSelector(draw(st.integers(33, 0xFFFF)), old.TSel)
    return _replace(block, **{side: new})


def _tsap_invalid(draw: Draw, block: Block) -> Block:
    """A local TSAP TCON's table gives 16#80B4: empty, 2 bytes not 16#E0 first, "SIMATIC-..."."""
    not_e0 = st.integers(0, 0xDF) | st.integers(0xE1, 0xFF)
    tsaps = (
        st.just(b"")
        | st.tuples(not_e0, st.integers(0, 0xFF)).map(bytes)
        | st.binary(max_size=8).map(lambda b: b"SIMATIC-" + b)
    )
    return _set_local_tsap(block, draw(tsaps))


def _with_high_byte(data: bytes) -> bytes:
    """``data`` with its last byte above 16#7F unless some byte already is."""
    return data if max(data) > 0x7F else data[:-1] + bytes([data[-1] | 0x80])


def _tsap_structure(draw: Draw, block: Block) -> Block:
    """A local TSAP that is neither a TSAP-ID nor an ASCII TSAP: 1 byte, longer than 16 bytes
    (TCON_IP_RFC only: TCON_Param's array ends at 16), or 3-16 bytes not starting with 16#E0
    that hold a byte above 16#7F."""
    not_e0 = st.integers(0, 0xDF) | st.integers(0xE1, 0xFF)
    non_ascii = st.tuples(not_e0, st.binary(min_size=2, max_size=15)).map(
        lambda t: _with_high_byte(bytes([t[0]]) + t[1])
    )
    choices = st.binary(min_size=1, max_size=1) | non_ascii
    if isinstance(block, TconIpRfc):
        choices |= st.binary(min_size=17, max_size=32)
    return _set_local_tsap(block, draw(choices.filter(lambda b: not b.startswith(b"SIMATIC-"))))


def _set_local_tsap(block: Block, tsap: bytes) -> Block:
    if isinstance(block, TconParam):
        return _replace(block, local_tsap_id=tsap, local_tsap_id_len=len(tsap))
    return _replace(block, LocalTSelector=TSelector.of(tsap))


def _qdn_not_qualified(draw: Draw, block: Block) -> Block:
    name = (block.remote_qdn or "plc.").rstrip(".") or "plc"
    bad = draw(st.sampled_from([name, name + "_x.", "-" + name + ".", name + " x.", "."]))
    return _set_conn(block, RemoteQDN=bad)


def _qdn_unresolvable(draw: Draw, block: Block) -> Block:
    """A block that names its partner (the context's resolver then finds nothing)."""
    return block if block.remote_qdn else _set_conn(block, RemoteQDN=draw(_qdn()))


_RECIPES = _recipes()


def broken_blocks(
    rule: str | None = None,
    *,
    type_name: str | None = None,
    secure: bool | None = None,
    role: Role | str | None = None,
    protocol: Protocol | str | None = None,
) -> st.SearchStrategy[BrokenBlock]:
    """Blocks that break exactly one named rule, as ``(block_or_bytes, rule, status)``.

    For the rules ``length`` and ``structure`` the first item is bytes that
    :func:`ouc.params.parse` refuses with ``status``; for every other rule it is a block for which
    ``validate(block, **item.context())`` returns exactly one finding, with that rule and status.

    The constraints narrow the broken block as it comes out (for ``length`` and ``structure``:
    the block the bytes were built from). They are built in, never filtered, so they cost nothing
    and never trip hypothesis's health checks. A rule that decides a property itself meets only
    that value: ``udp_active`` blocks are active, ``secure_udp`` blocks are secure, and a
    ``connection_type`` block has no protocol (so that rule is left out when ``protocol`` is
    given).

    Args:
        rule: one of :data:`RULE_NAMES`, or None for every rule the constraints allow.
        type_name: one type (``"TCON_IP_V4_SEC"``, any case) or None for any.
        secure: True: ActivateSecureConn TRUE; False: a plain block; None: either.
        role: ``Role.ACTIVE`` / ``"active"`` or ``Role.PASSIVE`` / ``"passive"``; None: either.
        protocol: ``Protocol.TCP`` / ``"TCP"``, ``"UDP"`` or ``"ISO-on-TCP"``; None: any.

    Raises:
        ConfigError: an unknown rule, role or protocol, or constraints no broken block can meet
            (``broken_blocks("udp_active", role="passive")``, ``secure=True`` with
            ``protocol="ISO-on-TCP"``...), naming the rule and the constraints.

    Example::

        @given(broken_blocks("passive_without_server_cert"))
        def test_plc_refuses(item):
            block, rule, status = item
            assert my_plc_model(block).status == status   # 16#80E9

        @given(broken_blocks(secure=True, role="active", protocol="TCP"))
        def test_my_client_config_checker(item):
            ...
    """
    if rule is not None and rule not in _RECIPES:
        known = ", ".join(RULE_NAMES)
        raise ConfigError(f"unknown rule {rule!r}; the rules are {known}", path="rule")
    canonical = canonical_type_name(type_name) if type_name else None
    user = _Want(protocol=_as_protocol(protocol), role=_as_role(role), secure=secure)
    plans = {}
    for name in [rule] if rule else RULE_NAMES:
        plan = _plan(_RECIPES[name], canonical, user)
        if plan is not None:
            plans[name] = plan
    if not plans:
        raise ConfigError(
            f"no {canonical or 'TCON'} block breaks {rule or 'any rule'} with secure={secure!r}, "
            f"role={role!r}, protocol={protocol!r} (secure means TLS on TCP; UDP is passive only; "
            "see the rule's own constraints in RULES)",
            path="broken_blocks",
        )
    return st.sampled_from(list(plans)).flatmap(lambda n: _broken(n, plans[n]))
