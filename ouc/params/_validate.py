"""Validation: every rule of domain.md §2 and §3, each broken rule one :class:`Finding`.

:func:`validate` returns all findings (a PLC reports only the first; an engineer fixing a block
wants them all), :func:`check` raises the first as a :class:`ParamCheckError`. The rules are named
(:data:`RULES`, name → status) so tests and the hypothesis strategies can break exactly one.

Decisions where the sources are silent:

* Rules that depend on the protocol (ports, addresses, UDP, TLS on UDP) are skipped when
  ConnectionType names no protocol: 16#80B6 alone says what is wrong.
* When ActivateSecureConn is FALSE the TLS fields are ignored, as the PLC ignores them. Secure UDP
  gets 16#80EA alone, since no other TLS rule means anything without TLS.
* A local port above the firmware's range (49151 before S7-1500 V3.0) is 16#80A2, the status the
  S7-1200 manual gives for "49152 to 65535 are reserved"; a remote port above it is 16#80B7.
* An invalid remote address (16#80A4) is multicast, broadcast, class E, or in 0.0.0.0/8 other than
  0.0.0.0 itself. Loopback (127.0.0.0/8) is accepted: an emulator runs there.
* 16#80A2 (port used by the system) follows the device's settings (web server, OPC UA,
  PROFINET; :data:`ouc.device.SYSTEM_SERVICES` says which ports are inferred).
* 16#80A1 (port in use) applies to any non-zero local port of a TCP or UDP block; ISO-on-TCP
  shares port 102 by design and is told apart by its TSAP.
* Secure OUC on a firmware without TLS support is 16#809A (the CPU does not support the
  structure's secure mode).
* ``udt65_lengths=True`` adds TCON_Param's length table (rules ``block_length_udt65`` and
  ``udt65_length``, 16#80B7). Inference from a third-party copy: the VIPA SPEED7 operation list
  (HB00 OPL_SP7, section "UDT 65 - TCON_PAR", pages 124-128) reproduces Siemens' FB 65/UDT 65
  table; domain.md is silent. Off by default, since it changes block_length's code and refuses
  blocks ouc accepts without it.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from types import MappingProxyType

from ouc.device import Device, Family, Role
from ouc.errors import ParamError, Status, format_status
from ouc.params._types import (
    Block,
    Protocol,
    TconIpRfc,
    TconIpV4,
    TconIpV4Sec,
    TconParam,
    TconQdn,
    TconQdnSec,
)

__all__ = ["RULES", "Finding", "ParamCheckError", "check", "validate"]

RULES: MappingProxyType[str, int] = MappingProxyType(
    {
        # Structure, raised by parse (ParamError) rather than found by validate.
        "length": Status.CONNECT_LENGTH,
        "structure": Status.CONNECT_INVALID,
        # Found by validate, in the order it reports them.
        "block_length": Status.CONNECT_LENGTH,
        "block_length_udt65": Status.PORT_OR_ADDRESS,  # With udt65_lengths=True (inference).
        "id_range": Status.ID_INVALID,
        "id_mismatch": Status.ID_MISMATCH,
        "interface_id_zero": Status.INTERFACE_ID,
        "connection_type": Status.CONNECTION_TYPE,
        "udp_active": Status.UDP_ACTIVE,
        "active_remote_port_zero": Status.PORT_OR_ADDRESS,
        "passive_local_port_zero": Status.PORT_OR_ADDRESS,
        "udp_local_port_zero": Status.PORT_OR_ADDRESS,
        "active_remote_address_zero": Status.PORT_OR_ADDRESS,
        "address_length": Status.PORT_OR_ADDRESS,
        "udt65_length": Status.PORT_OR_ADDRESS,  # With udt65_lengths=True (inference).
        "remote_port_range": Status.PORT_OR_ADDRESS,
        "local_port_range": Status.LOCAL_PORT_SYSTEM,
        "local_port_system": Status.LOCAL_PORT_SYSTEM,
        "local_port_in_use": Status.LOCAL_PORT_IN_USE,
        "remote_address_invalid": Status.REMOTE_ADDRESS_INVALID,
        "remote_address_own": Status.REMOTE_ADDRESS_INVALID,
        "tselector_length": Status.PORT_OR_ADDRESS,
        "tsap_invalid": Status.TSAP_INVALID,
        "tsap_structure": Status.TSAP_INVALID,
        "qdn_empty": Status.QDN_EMPTY,
        "qdn_not_qualified": Status.QDN_NOT_QUALIFIED,
        "qdn_unresolvable": Status.QDN_UNRESOLVABLE,
        "secure_unsupported": Status.CONNECT_LENGTH,
        "secure_udp": Status.TLS_DTLS_UNSUPPORTED,
        "active_requests_client_cert": Status.TLS_ACTIVE_REQ_CLIENT_CERT,
        "passive_ext_capabilities": Status.TLS_EXT_CAPABILITIES,
        "passive_without_server_cert": Status.TLS_NO_SERVER_CERT,
        "cert_ref_unknown": Status.TLS_CERT_REF_UNKNOWN,
    }
)
"""Every named rule → the status a PLC reports when it is broken."""


@dataclass(frozen=True)
class Finding:
    """One broken rule: the field, the PLC status, a sentence, and the rule's name."""

    path: str
    status: int
    message: str
    rule: str = ""

    @property
    def status_text(self) -> str:
        return format_status(self.status)

    def __str__(self) -> str:
        return f"{format_status(self.status)} {self.path}: {self.message}"


class ParamCheckError(ParamError):
    """Raised by :func:`check`: the first finding as status/path/message, all in ``findings``."""

    def __init__(self, findings: list[Finding]):
        first = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        super().__init__(first.message + more, status=first.status, path=first.path)
        self.findings = findings


_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")
_CONNECTION_TYPES: dict[str, tuple[int, ...]] = {
    "TCON_IP_V4": (11, 17, 19),
    "TCON_IP_V4_SEC": (11, 17, 19),
    "TCON_QDN": (11, 17, 19),
    "TCON_QDN_SEC": (11, 17, 19),
    "TCON_IP_RFC": (12, 18),
    "TCON_PARAM": (17, 18, 19),
}


@dataclass(frozen=True)
class _View:
    """What the rules look at, the same for every block type, with each field's path."""

    block: Block
    protocol: Protocol | None
    role: Role
    remote_address: str | None
    remote_port: int
    local_port: int
    p: dict[str, str]  # logical name → TIA path of this type


def _view(block: Block) -> _View:
    pre = "ConnPara." if isinstance(block, TconIpV4Sec | TconQdnSec) else ""
    paths = {
        "id": pre + "ID",
        "interface": pre + "InterfaceId",
        "type": pre + "ConnectionType",
        "active": pre + "ActiveEstablished",
        "address": pre + "RemoteAddress",
        "qdn": pre + "RemoteQDN",
        "remote_port": pre + "RemotePort",
        "local_port": pre + "LocalPort",
    }
    if isinstance(block, TconParam):
        paths = {
            "id": "id",
            "type": "connection_type",
            "active": "active_est",
            "address": "rem_staddr",
            "remote_port": "rem_tsap_id",
            "local_port": "local_tsap_id",
        }
    return _View(
        block,
        block.protocol,
        block.role,
        block.remote_address,
        block.remote_port,
        block.local_port,
        paths,
    )


def validate(
    block: Block,
    *,
    device: Device = Device(),  # noqa: B008 - Device is frozen; one shared default is fine.
    block_id: int | None = None,
    ports_in_use: Collection[int] = (),
    resolve_qdn: Callable[[str], str | None] | None = None,
    cert_ids: Collection[int] | None = None,
    udt65_lengths: bool = False,
) -> list[Finding]:
    """Every rule ``block`` breaks on ``device``: structure first, then the block's own fields
    (protocol, roles, addresses, ports), then the TLS fields. The help lists the codes, not the
    order a CPU checks them in, so which code comes first where several rules are broken is an
    inference (:func:`check` raises the first and carries them all).

    Args:
        block: any connection description.
        device: the emulated CPU (port range, own addresses, whether it has Secure OUC).
        block_id: the ID input of the TSEND_C/TRCV_C/TCON call, when known (16#80B8).
        ports_in_use: local ports other connections of the device already hold (16#80A1).
        resolve_qdn: name → IPv4 text or None; when given, an unresolvable QDN is 16#80D3.
        cert_ids: IDs of the certificates in the device's store; when given, a TLS reference
            to another ID is 16#80ED.
        udt65_lengths: also apply TCON_Param's length table as a third-party copy of Siemens'
            UDT 65 table gives it (16#80B7; an inference, see the module doc): a wrong
            block_length is then 16#80B7 instead of 16#809A, and rem_subnet_id_len,
            next_staddr_len and the TSAP/address lengths for each protocol and side are
            checked.

    Returns:
        The findings, empty when the block is valid.
    """
    if not isinstance(block, TconIpV4 | TconIpV4Sec | TconQdn | TconQdnSec | TconIpRfc | TconParam):
        raise ParamError(f"{type(block).__name__} is not a connection description")
    ctx = _Context(device, block_id, frozenset(ports_in_use), resolve_qdn, cert_ids, udt65_lengths)
    view = _view(block)
    findings = list(_structure(view, ctx))
    if view.protocol is not None:
        findings.extend(_protocol_rules(view, ctx))
    findings.extend(_tls_rules(view, ctx))
    return findings


def check(
    block: Block,
    *,
    device: Device = Device(),  # noqa: B008 - see validate.
    block_id: int | None = None,
    ports_in_use: Collection[int] = (),
    resolve_qdn: Callable[[str], str | None] | None = None,
    cert_ids: Collection[int] | None = None,
    udt65_lengths: bool = False,
) -> None:
    """Verify ``block`` by raising: :class:`ParamCheckError` (a ParamError) when any rule breaks.

    Same arguments as :func:`validate`; the error carries the first finding's status and path
    and all findings in ``.findings``.
    """
    findings = validate(
        block,
        device=device,
        block_id=block_id,
        ports_in_use=ports_in_use,
        resolve_qdn=resolve_qdn,
        cert_ids=cert_ids,
        udt65_lengths=udt65_lengths,
    )
    if findings:
        raise ParamCheckError(findings)


@dataclass(frozen=True)
class _Context:
    device: Device
    block_id: int | None
    ports_in_use: frozenset[int]
    resolve_qdn: Callable[[str], str | None] | None
    cert_ids: Collection[int] | None
    udt65_lengths: bool = False


def _f(rule: str, path: str, message: str) -> Finding:
    return Finding(path, RULES[rule], message, rule)


def _structure(v: _View, ctx: _Context) -> Iterator[Finding]:
    b = v.block
    name = b.type_name
    if isinstance(b, TconParam) and b.block_length != 64:
        yield _f(
            "block_length_udt65" if ctx.udt65_lengths else "block_length",
            "block_length",
            f"The block_length is 16#{b.block_length:04X}; a TCON_Param block is always "
            "64 bytes (16#0040).",
        )
    if not 1 <= b.conn_id <= 4095:
        yield _f(
            "id_range",
            v.p["id"],
            f"The connection ID is {b.conn_id}; it must be between 1 and 4095.",
        )
    if ctx.block_id is not None and ctx.block_id != b.conn_id:
        yield _f(
            "id_mismatch",
            v.p["id"],
            f"The block's ID is {b.conn_id} but the instruction's ID input is {ctx.block_id}; "
            "they must be the same.",
        )
    if isinstance(b, TconIpV4 | TconIpRfc) and b.InterfaceId == 0:
        yield _f(
            "interface_id_zero",
            v.p["interface"],
            f"InterfaceId 0 is not allowed in {name} (only the SEC and QDN types may leave the "
            "choice to the CPU); enter the hardware identifier of the interface, e.g. 64.",
        )
    allowed = _CONNECTION_TYPES[name]
    ctype = b.connection_type if isinstance(b, TconParam) else _conn_para(b).ConnectionType
    if ctype not in allowed:
        names = {11: "TCP", 12: "ISO-on-TCP", 17: "TCP", 18: "ISO-on-TCP", 19: "UDP"}
        choices = ", ".join(f"{t} ({names[t]})" for t in allowed)
        yield _f(
            "connection_type",
            v.p["type"],
            f"ConnectionType {ctype} (16#{ctype:02X}) is not allowed in {name}; use {choices}.",
        )


def _conn_para(b: Block) -> TconIpV4 | TconQdn | TconIpRfc:
    if isinstance(b, TconIpV4Sec | TconQdnSec):
        return b.ConnPara
    assert isinstance(b, TconIpV4 | TconQdn | TconIpRfc)
    return b


def _protocol_rules(v: _View, ctx: _Context) -> Iterator[Finding]:
    b = v.block
    active = v.role is Role.ACTIVE
    if v.protocol is Protocol.UDP and active:
        yield _f(
            "udp_active",
            v.p["active"],
            "A UDP connection must be passive: set ActiveEstablished to FALSE.",
        )
    if isinstance(b, TconParam):
        yield from _legacy_lengths(b)
        if ctx.udt65_lengths:
            yield from _udt65_lengths(b)
    if v.protocol is Protocol.ISO_ON_TCP:
        yield from _tsap_rules(v, ctx)
    else:
        yield from _port_rules(v, ctx, active)
    if v.remote_address is not None:
        yield from _address_rules(v, ctx, active)
    if b.remote_qdn is not None:
        yield from _qdn_rules(v, ctx, active)


def _port_rules(v: _View, ctx: _Context, active: bool) -> Iterator[Finding]:
    tcp = v.protocol is Protocol.TCP
    lp, rp = v.p["local_port"], v.p["remote_port"]
    if tcp and active and v.remote_port == 0:
        need = "An active TCP connection needs the partner's port"
        yield _f(
            "active_remote_port_zero",
            *_no_port(v, "rem_tsap_id_len", need, rp, f"{need}, but RemotePort is 0."),
        )
    if tcp and not active and v.local_port == 0:
        need = "A passive TCP connection needs a port to listen on"
        yield _f(
            "passive_local_port_zero",
            *_no_port(v, "local_tsap_id_len", need, lp, f"{need}, but LocalPort is 0."),
        )
    if v.protocol is Protocol.UDP and v.local_port == 0:
        need = "A UDP connection needs a LocalPort"
        yield _f(
            "udp_local_port_zero", *_no_port(v, "local_tsap_id_len", need, lp, f"{need}; it is 0.")
        )
    top, dev = ctx.device.max_port, f"{ctx.device.family.value} {ctx.device.firmware_text}"
    if v.remote_port > top:
        yield _f(
            "remote_port_range",
            rp,
            f"RemotePort {v.remote_port} is above {top}, the highest port an {dev} allows.",
        )
    if v.local_port > top:
        yield _f(
            "local_port_range",
            lp,
            f"LocalPort {v.local_port} is above {top}: on an {dev} ports from {top + 1} up are "
            "reserved for the system.",
        )
    service = ctx.device.system_service(v.local_port)
    if service is not None:
        switch = ", switched on in the device settings" if service.setting else ""
        yield _f(
            "local_port_system",
            lp,
            f"LocalPort {v.local_port} is used by the CPU itself ({service.name}{switch}); "
            "choose another port, 2000-5000 is recommended.",
        )
    if v.local_port != 0 and v.local_port in ctx.ports_in_use:
        yield _f(
            "local_port_in_use",
            lp,
            f"LocalPort {v.local_port} is already used by another connection on this CPU.",
        )


def _no_port(v: _View, length_path: str, need: str, path: str, message: str) -> tuple[str, str]:
    """Path and message for a port of 0: a TCON_Param whose TSAP length byte is not 2 holds no
    port at all (its TCP/UDP port is the 2-byte TSAP), so the length byte is named rather than
    a port of 0 the block does not hold."""
    if isinstance(v.block, TconParam):
        length = getattr(v.block, length_path)
        if length != 2:
            return length_path, (
                f"{need}, but {length_path} is {length}: a TCP or UDP port is the 2-byte TSAP, "
                f"so set {length_path} to 2."
            )
    return path, message


def _address_rules(v: _View, ctx: _Context, active: bool) -> Iterator[Finding]:
    text = v.remote_address or "0.0.0.0"
    path = v.p["address"]
    if text == "0.0.0.0":
        if active and v.protocol is not Protocol.UDP:
            yield _f(
                "active_remote_address_zero",
                path,
                "An active connection needs the partner's IP address, but RemoteAddress is "
                "0.0.0.0.",
            )
        return
    if v.protocol is Protocol.UDP:
        return  # UDP names its partner per telegram (TADDR_Param); RemoteAddress is unused.
    reason = _invalid_address_reason(ipaddress.IPv4Address(text))
    if reason:
        yield _f(
            "remote_address_invalid",
            path,
            f"RemoteAddress {text} is not a valid partner address ({reason}).",
        )
    elif ctx.device.is_own_address(text):
        yield _f(
            "remote_address_own",
            path,
            f"RemoteAddress {text} is this CPU's own address; enter the partner's address.",
        )


def _invalid_address_reason(address: ipaddress.IPv4Address) -> str:
    if address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if address.is_multicast:
        return "multicast"
    if address in ipaddress.IPv4Network("240.0.0.0/4"):
        return "reserved class E"
    if address in ipaddress.IPv4Network("0.0.0.0/8"):
        return "the 0.0.0.0/8 network"
    return ""


def _qdn_rules(v: _View, ctx: _Context, active: bool) -> Iterator[Finding]:
    qdn = v.block.remote_qdn or ""
    path = v.p["qdn"]
    if not qdn:
        if active and v.protocol is Protocol.TCP:
            yield _f(
                "qdn_empty",
                path,
                "An active TCP connection needs the partner's name, but RemoteQDN is empty.",
            )
        return
    if not qdn.endswith(".") or not all(_LABEL.match(label) for label in qdn[:-1].split(".")):
        hint = f" (write '{qdn}.')" if not qdn.endswith(".") else ""
        yield _f(
            "qdn_not_qualified",
            path,
            f"RemoteQDN '{qdn}' is not a fully qualified domain name: labels of letters, digits "
            f"and hyphens, ending with a dot{hint}.",
        )
        return
    if ctx.resolve_qdn is None:
        return
    address = ctx.resolve_qdn(qdn)
    if not address:
        yield _f(
            "qdn_unresolvable",
            path,
            f"RemoteQDN '{qdn}' could not be resolved to an IPv4 address.",
        )
    elif ctx.device.is_own_address(address):
        yield _f(
            "remote_address_own",
            path,
            f"RemoteQDN '{qdn}' resolves to {address}, this CPU's own address.",
        )


def _tsap_rules(v: _View, ctx: _Context) -> Iterator[Finding]:
    """The T selectors' lengths (16#80B7) and the local TSAP's rules (16#80B4).

    TCON's table gives 16#80B4 for a local TSAP of length 0, of length 2 whose first byte is not
    16#E0, and for an ASCII TSAP starting with "SIMATIC-" (rule ``tsap_invalid``). The help's
    "TSAP structure" adds what a TSAP may be at all: a TSAP-ID of 2-16 bytes starting with
    16#E0, or an ASCII TSAP of 3-16 bytes, on an S7-1200 passive side only 16#20-16#7E (rule
    ``tsap_structure``; that a broken structure is 16#80B4 too is an inference — the help names
    no other code). The partner's TSAP is checked only for its length: domain.md states no rule
    for it. TCON_Param's ISO-on-TCP TSAPs (16 bytes at most) follow the same rules.
    """
    b = v.block
    # (path of the length, path of the bytes, length, the local TSAP's bytes or None)
    sides: list[tuple[str, str, int, bytes | None]]
    if isinstance(b, TconIpRfc):
        limit = 32
        local, remote = b.LocalTSelector, b.RemoteTSelector
        sides = [
            ("LocalTSelector.TSelLength", "LocalTSelector.TSel", local.TSelLength, local.value),
            ("RemoteTSelector.TSelLength", "RemoteTSelector.TSel", remote.TSelLength, None),
        ]
    else:
        assert isinstance(b, TconParam)
        limit = 16
        sides = [("local_tsap_id_len", "local_tsap_id", b.local_tsap_id_len, b.local_tsap)]
    for length_path, data_path, length, local_tsap in sides:
        if length > limit:
            yield _f(
                "tselector_length",
                length_path,
                f"The TSAP length is {length}; a T selector holds at most {limit} bytes.",
            )
        elif local_tsap is not None:
            finding = _local_tsap_finding(local_tsap, length_path, data_path, v.role, ctx.device)
            if finding is not None:
                yield finding


_TSAP_HINT = "use a TSAP-ID such as 16#E0 16#02 or an ASCII TSAP of 3-16 characters"


def _local_tsap_finding(
    tsap: bytes, length_path: str, data_path: str, role: Role, device: Device
) -> Finding | None:
    """The first rule the local TSAP breaks (TCON's table, then the TSAP structure), or None."""
    length = len(tsap)
    if length == 0:
        return _f("tsap_invalid", length_path, f"The local TSAP is empty; {_TSAP_HINT}.")
    if length == 2 and tsap[0] != 0xE0:
        return _f(
            "tsap_invalid",
            data_path,
            f"A 2-byte local TSAP must start with 16#E0 (a TSAP-ID, e.g. 16#E0 16#02); it starts "
            f"with 16#{tsap[0]:02X}.",
        )
    if tsap.startswith(b"SIMATIC-"):
        return _f(
            "tsap_invalid",
            data_path,
            "A local TSAP starting with 'SIMATIC-' is reserved for the CPU's own S7 connections.",
        )
    if length == 1:
        return _f(
            "tsap_structure",
            length_path,
            f"The local TSAP is 1 byte long; {_TSAP_HINT}.",
        )
    if tsap[0] == 0xE0:
        if length > 16:
            return _f(
                "tsap_structure",
                length_path,
                f"The local TSAP is a TSAP-ID (first byte 16#E0) of {length} bytes; a TSAP-ID "
                "has 2-16 bytes.",
            )
        return None
    if length > 16:
        return _f(
            "tsap_structure",
            length_path,
            f"The local TSAP is {length} bytes long; an ASCII TSAP has 3-16 characters.",
        )
    printable = device.family is Family.S7_1200 and role is Role.PASSIVE
    low, high, allowed = (0x20, 0x7E, "16#20-16#7E") if printable else (0x00, 0x7F, "ASCII")
    bad = next((i for i, c in enumerate(tsap) if not low <= c <= high), None)
    if bad is None:
        return None
    where = " on an S7-1200's passive side" if printable else ""
    return _f(
        "tsap_structure",
        data_path,
        f"The local TSAP does not start with 16#E0, so it is an ASCII TSAP, which{where} may "
        f"hold only {allowed} characters; byte {bad + 1} is 16#{tsap[bad]:02X}.",
    )


def _legacy_lengths(b: TconParam) -> Iterator[Finding]:
    """The length bytes of TCON_Param that no other rule covers (ISO TSAPs: _tsap_rules)."""
    if b.rem_staddr_len not in (0, 4):
        yield _f(
            "address_length",
            "rem_staddr_len",
            f"The rem_staddr_len is {b.rem_staddr_len}; the partner address is 4 bytes (or 0 for "
            "any partner).",
        )
    lengths = [("rem_tsap_id_len", b.rem_tsap_id_len)]
    if b.connection_type != 18:
        lengths.insert(0, ("local_tsap_id_len", b.local_tsap_id_len))
    for path, length in lengths:
        if length > 16:
            yield _f(
                "tselector_length",
                path,
                f"The {path} is {length}; the array holds at most 16 bytes.",
            )


def _udt65_lengths(b: TconParam) -> Iterator[Finding]:
    """TCON_Param's length bytes as the UDT 65 table allows them (rule ``udt65_length``,
    16#80B7), an inference from the third-party copy the module doc names: rem_subnet_id_len 0;
    next_staddr_len 0 or 1 (UDP: 0); TCP: local_tsap_id_len 0 or 2 active, rem_tsap_id_len 0
    or 2 passive; ISO-on-TCP: rem_tsap_id_len 0 or 2-16; UDP: rem_staddr_len and
    rem_tsap_id_len 0. What other rules already report is left to them (the port rules,
    ``tselector_length`` above 16, ``address_length``, the ISO-on-TCP local TSAP's 16#80B4).
    """
    udp = b.protocol is Protocol.UDP
    checks: list[tuple[str, int, tuple[int, ...], str]] = [
        ("rem_subnet_id_len", b.rem_subnet_id_len, (0,), "only 0, the field is not used"),
        (
            "next_staddr_len",
            b.next_staddr_len,
            (0,) if udp else (0, 1),
            "0 for UDP, the field is not used" if udp else "0 or 1",
        ),
    ]
    if b.protocol is Protocol.TCP and b.active_est:
        checks.append(
            ("local_tsap_id_len", b.local_tsap_id_len, (0, 2), "0 or 2 on an active TCP side")
        )
    elif b.protocol is Protocol.TCP:
        checks.append(
            ("rem_tsap_id_len", b.rem_tsap_id_len, (0, 2), "0 or 2 on a passive TCP side")
        )
    elif b.protocol is Protocol.ISO_ON_TCP:
        checks.append(
            ("rem_tsap_id_len", b.rem_tsap_id_len, (0, *range(2, 17)), "0 or 2-16 for ISO-on-TCP")
        )
    elif udp:
        unused = "0 for UDP, whose partner comes with each telegram"
        if b.rem_staddr_len == 4:  # Other values than 0 and 4 are address_length's.
            checks.append(("rem_staddr_len", 4, (0,), unused))
        checks.append(("rem_tsap_id_len", b.rem_tsap_id_len, (0,), unused))
    for path, value, allowed, what in checks:
        if value in allowed or (path.endswith("tsap_id_len") and value > 16):
            continue
        yield _f(
            "udt65_length",
            path,
            f"The {path} is {value}; the UDT 65 table allows {what} (an inference from "
            "a third-party copy of the table).",
        )


def _tls_rules(v: _View, ctx: _Context) -> Iterator[Finding]:
    b = v.block
    if not isinstance(b, TconIpV4Sec | TconQdnSec) or not b.ActivateSecureConn:
        return
    if not ctx.device.supports_secure_ouc:
        first = "V4.4" if ctx.device.family is Family.S7_1200 else "V2.0"
        yield _f(
            "secure_unsupported",
            "ActivateSecureConn",
            f"This {ctx.device.family.value} with firmware {ctx.device.firmware_text} has no "
            f"Secure Open User Communication (TLS needs {first} or later); set "
            "ActivateSecureConn to FALSE.",
        )
        return
    if v.protocol is Protocol.UDP:
        yield _f(
            "secure_udp",
            "ActivateSecureConn",
            "Secure communication over UDP (DTLS) is not supported: use TCP "
            "(ConnectionType 11) or set ActivateSecureConn to FALSE.",
        )
        return
    if v.role is Role.ACTIVE and b.TLSServerReqClientCert:
        yield _f(
            "active_requests_client_cert",
            "TLSServerReqClientCert",
            "The active side is the TLS client and cannot request a client certificate: set "
            "TLSServerReqClientCert to FALSE.",
        )
    if v.role is Role.PASSIVE and b.ExtTLSCapabilities & 1:
        yield _f(
            "passive_ext_capabilities",
            "ExtTLSCapabilities",
            "The passive side is the TLS server and cannot check the partner's subjectAltName "
            "(ExtTLSCapabilities bit 0); only the client can. Clear bit 0.",
        )
    if v.role is Role.PASSIVE and b.TLSServerCertRef == 0:
        yield _f(
            "passive_without_server_cert",
            "TLSServerCertRef",
            "A passive secure connection (TLS server) needs its own server certificate, but "
            "TLSServerCertRef is 0.",
        )
    if ctx.cert_ids is not None:
        # 16#80ED is TCON's code for a TLSServerCertRef that names no certificate. For
        # TLSClientCertRef the help names no code: 16#80ED as well (inference), and only where
        # the field is used (the active side's own certificate; the passive side's client CA
        # when it requests a client certificate), as the endpoints resolve it.
        paths = ["TLSServerCertRef"]
        if v.role is Role.ACTIVE or b.TLSServerReqClientCert:
            paths.append("TLSClientCertRef")
        for path in paths:
            ref = getattr(b, path)
            if ref != 0 and ref not in ctx.cert_ids:
                yield _f(
                    "cert_ref_unknown",
                    path,
                    f"{path} {ref} names no certificate in this device's certificate store.",
                )
