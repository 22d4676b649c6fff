"""broken_blocks refuses only what the validator can never report.

The set of (rule, type, secure, role, protocol) combinations that must be drawable is derived
from :func:`ouc.params.validate` itself, not from the strategy's recipes: valid blocks of every
narrowing get one field broken (the field the rule names, with a value and a validation context
chosen without looking at the block's protocol or role), and every combination for which
validate() then reports exactly that one rule must be accepted by :func:`broken_blocks` and give
blocks that meet it. A strategy that refuses a combination the validator can produce fails here.
"""

from __future__ import annotations

import dataclasses
import functools
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from ouc.device import Device, Family, Role
from ouc.errors import ConfigError
from ouc.params import (
    BLOCK_TYPES,
    RULES,
    Block,
    Protocol,
    TconIpRfc,
    TconIpV4Sec,
    TconParam,
    TconQdnSec,
    TSelector,
    validate,
)
from ouc.strategies import BrokenBlock, broken_blocks, valid_blocks

# Field setters only: which blocks a rule applies to is left to validate().
from ouc.strategies._broken import _set_address, _set_conn, _set_port

_OLD_FIRMWARE = Device(Family.S7_1500, (2, 9))  # Ports 1..49151 (domain.md §2).
_NO_TLS = Device(Family.S7_1500, (1, 8))  # Secure OUC from V2.0 (domain.md §3).
_DEFAULT_DEVICE = Device()  # What validate() checks against when given no device.
_PARTNER = "198.51.100.7"

Context = dict[str, Any]
Breaker = Callable[[Block], Iterator[tuple[Block, Context]]]


def _conn(block: Block) -> Any:
    return block.ConnPara if isinstance(block, TconIpV4Sec | TconQdnSec) else block


def _has(block: Block, field: str) -> bool:
    return field in {f.name for f in dataclasses.fields(_conn(block))}


def _tls(block: Block, **changes: Any) -> Iterator[tuple[Block, Context]]:
    if isinstance(block, TconIpV4Sec | TconQdnSec):
        yield dataclasses.replace(block, **changes), {}


def _cert_ids(block: Block) -> Context:
    if isinstance(block, TconIpV4Sec | TconQdnSec):
        return {"cert_ids": {block.TLSServerCertRef, block.TLSClientCertRef} - {0}}
    return {}


def _ports(side: str, port: int, device: Device = _DEFAULT_DEVICE) -> Breaker:
    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        if not isinstance(block, TconIpRfc) and not (
            isinstance(block, TconParam) and block.connection_type == 18
        ):
            yield _set_port(block, side, port), {"device": device}

    return breaker


def _address(address: str, **context: Any) -> Breaker:
    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        if block.remote_address is not None:
            yield _set_address(block, address), context

    return breaker


def _conn_field(**changes: Any) -> Breaker:
    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        if isinstance(block, TconParam):
            legacy = {
                "ID": "id",
                "ConnectionType": "connection_type",
                "ActiveEstablished": "active_est",
            }
            if all(k in legacy for k in changes):
                yield dataclasses.replace(block, **{legacy[k]: v for k, v in changes.items()}), {}
        elif all(_has(block, k) for k in changes):
            yield _set_conn(block, **changes), {}

    return breaker


def _local_tsap(tsap: bytes) -> Breaker:
    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        if isinstance(block, TconIpRfc):
            yield dataclasses.replace(block, LocalTSelector=TSelector.of(tsap)), {}
        elif isinstance(block, TconParam) and len(tsap) <= 16:
            yield dataclasses.replace(block, local_tsap_id=tsap, local_tsap_id_len=len(tsap)), {}

    return breaker


def _tselector_length(block: Block) -> Iterator[tuple[Block, Context]]:
    if isinstance(block, TconIpRfc):
        yield dataclasses.replace(block, RemoteTSelector=TSelector(33, b"")), {}
    elif isinstance(block, TconParam):
        yield dataclasses.replace(block, local_tsap_id_len=17), {}
        yield dataclasses.replace(block, rem_tsap_id_len=17), {}


def _qdn(name: str, resolve: Callable[[str], str | None] | None) -> Breaker:
    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        if block.remote_qdn is not None:
            yield _set_conn(block, RemoteQDN=name), {"resolve_qdn": resolve}

    return breaker


def _legacy(**changes: Any) -> Breaker:
    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        if isinstance(block, TconParam):
            yield dataclasses.replace(block, **changes), {}

    return breaker


def _udt65(*changes: dict[str, Any]) -> Breaker:
    """TCON_Param changes seen under validate's udt65_lengths (TCON_Param's length table)."""

    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        if isinstance(block, TconParam):
            for change in changes:
                yield dataclasses.replace(block, **change), {"udt65_lengths": True}

    return breaker


def _context(**context: Any) -> Breaker:
    def breaker(block: Block) -> Iterator[tuple[Block, Context]]:
        yield block, context

    return breaker


def _own_address(block: Block) -> Iterator[tuple[Block, Context]]:
    if block.remote_address is not None:
        address = block.remote_address if block.remote_address != "0.0.0.0" else _PARTNER
        yield _set_address(block, address), {"device": Device(own_addresses=(address,))}
    if block.remote_qdn is not None:
        named = block if block.remote_qdn else _set_conn(block, RemoteQDN="partner.example.")
        own = Device(own_addresses=(_PARTNER,))
        yield named, {"device": own, "resolve_qdn": lambda name: _PARTNER}


def _cert_ref_unknown(block: Block) -> Iterator[tuple[Block, Context]]:
    if isinstance(block, TconIpV4Sec | TconQdnSec):
        ref = block.TLSClientCertRef % 0xFFFF_FFFF + 1
        yield (
            dataclasses.replace(block, TLSServerCertRef=ref),
            {"cert_ids": {block.TLSClientCertRef}},
        )


# One or more ways to break the field each rule names (validate decides whether it applies).
_BREAKERS: dict[str, Breaker] = {
    "block_length": _legacy(block_length=63),
    "block_length_udt65": _udt65({"block_length": 63}),
    "udt65_length": _udt65(
        {"rem_subnet_id_len": 1},
        {"next_staddr_len": 7},
        {"local_tsap_id_len": 1},
        {"rem_tsap_id_len": 1},
        {"rem_staddr_len": 4, "rem_staddr": bytes([198, 51, 100, 7])},
    ),
    "id_range": _conn_field(ID=0),
    "id_mismatch": lambda b: iter([(b, {"block_id": b.conn_id % 4095 + 1})]),
    "interface_id_zero": _conn_field(InterfaceId=0),
    "connection_type": _conn_field(ConnectionType=0),
    "udp_active": _conn_field(ActiveEstablished=True),
    "active_remote_port_zero": _ports("remote", 0),
    "passive_local_port_zero": _ports("local", 0),
    "udp_local_port_zero": _ports("local", 0),
    "active_remote_address_zero": _address("0.0.0.0"),
    "address_length": _legacy(rem_staddr_len=3),
    "remote_port_range": _ports("remote", 65535, _OLD_FIRMWARE),
    "local_port_range": _ports("local", 65535, _OLD_FIRMWARE),
    "local_port_system": _ports("local", 102),
    "local_port_in_use": lambda b: iter([(b, {"ports_in_use": (b.local_port,)})]),
    "remote_address_invalid": _address("255.255.255.255"),
    "remote_address_own": _own_address,
    "tselector_length": _tselector_length,
    "tsap_invalid": _local_tsap(b""),
    "tsap_structure": _local_tsap(b"\x01"),
    "qdn_empty": _qdn("", None),
    "qdn_not_qualified": _qdn("plc", None),
    "qdn_unresolvable": _qdn("partner.example.", lambda name: None),
    "secure_unsupported": _context(device=_NO_TLS),
    "secure_udp": lambda b: _tls(b, ActivateSecureConn=True),
    "active_requests_client_cert": lambda b: _tls(b, TLSServerReqClientCert=True),
    "passive_ext_capabilities": lambda b: _tls(b, ExtTLSCapabilities=1),
    "passive_without_server_cert": lambda b: _tls(b, TLSServerCertRef=0),
    "cert_ref_unknown": _cert_ref_unknown,
}

Combination = tuple[str, str, bool, Role, Protocol | None]


def _narrowings(type_name: str) -> Iterator[dict[str, Any]]:
    for secure, role, protocol in itertools.product((True, False), Role, Protocol):
        want: dict[str, Any] = {"secure": secure, "role": role, "protocol": protocol}
        try:
            valid_blocks(type_name, **want)
        except ConfigError:
            continue
        yield want


@functools.cache
def _reachable(type_name: str) -> frozenset[Combination]:
    """Every combination for which validate() reports exactly one rule after one break."""
    seen: set[Combination] = set()
    for want in _narrowings(type_name):

        @settings(
            max_examples=8,
            derandomize=True,
            database=None,
            suppress_health_check=[HealthCheck.too_slow],
        )
        @given(valid_blocks(type_name, **want))
        def run(base: Block) -> None:
            assert validate(base) == []
            for rule, breaker in _BREAKERS.items():
                for block, context in breaker(base):
                    context = {**_cert_ids(block), "block_id": block.conn_id, **context}
                    if [f.rule for f in validate(block, **context)] == [rule]:
                        seen.add((rule, type_name, block.secure, block.role, block.protocol))

        run()
    return frozenset(seen)


def _draws_it(combination: Combination) -> None:
    rule, type_name, secure, role, protocol = combination
    want: dict[str, Any] = {"type_name": type_name, "secure": secure, "role": role}
    if protocol is not None:
        want["protocol"] = protocol
    strategy = broken_blocks(rule, **want)  # Raises ConfigError on an over-refusal.

    @settings(max_examples=3, database=None)
    @given(strategy)
    def run(item: BrokenBlock) -> None:
        assert not isinstance(item.block, bytes)
        findings = validate(item.block, **item.context())
        assert [(f.rule, f.status) for f in findings] == [(rule, RULES[rule])]
        got = (item.block.type_name, item.block.secure, item.block.role, item.block.protocol)
        assert got == (type_name, secure, role, protocol)

    run()


@pytest.mark.parametrize("type_name", sorted(BLOCK_TYPES))
def test_every_combination_the_validator_reports_is_drawable(type_name: str) -> None:
    reachable = _reachable(type_name)
    assert {c[0] for c in reachable} >= {"id_range", "id_mismatch", "connection_type"}
    refused = []
    for combination in sorted(reachable, key=str):
        try:
            _draws_it(combination)
        except ConfigError:
            refused.append(combination)
    assert refused == [], "\n".join(map(str, refused))


def test_the_derivation_reaches_every_rule_validate_reports() -> None:
    """Every rule but the two parse() raises is found for some combination, so no rule's
    over-refusal can hide behind a breaker that never fires."""
    reached = {c[0] for t in BLOCK_TYPES for c in _reachable(t)}
    assert reached == set(RULES) - {"length", "structure"}


@pytest.mark.parametrize(
    "combination",
    [
        ("remote_port_range", "TCON_IP_V4", False, Role.PASSIVE, Protocol.UDP),
        ("remote_port_range", "TCON_PARAM", False, Role.PASSIVE, Protocol.UDP),
        ("remote_address_own", "TCON_QDN", False, Role.PASSIVE, Protocol.UDP),
        ("remote_address_own", "TCON_QDN_SEC", True, Role.ACTIVE, Protocol.TCP),
        ("tselector_length", "TCON_PARAM", False, Role.ACTIVE, Protocol.TCP),
        ("tselector_length", "TCON_PARAM", False, Role.PASSIVE, Protocol.UDP),
    ],
    ids=lambda c: "-".join(str(getattr(x, "value", x)) for x in c),
)
def test_combinations_once_refused_are_found_and_drawn(combination: Combination) -> None:
    """Combinations the strategy used to refuse although validate reports them: a UDP block's
    RemotePort above the firmware's range (16#80B7), a QDN resolving to the CPU's own address
    (16#80A4, UDP included: validate resolves a UDP block's RemoteQDN), and a TCP/UDP
    TCON_Param's TSAP array longer than 16 bytes (16#80B7)."""
    assert combination in _reachable(combination[1])
    _draws_it(combination)
