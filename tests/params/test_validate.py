"""validate/check: one example per rule with its status and path, plus the rules' interplay."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ouc.device import Device, Family
from ouc.errors import ParamError, Status
from ouc.params import (
    BLOCK_TYPES,
    QDN_SEC_EXAMPLE,
    RULES,
    SAMPLES,
    STANDARD_CLIENT,
    STANDARD_SERVER,
    Block,
    Finding,
    ParamCheckError,
    TconIpRfc,
    TconIpV4,
    TconParam,
    TSelector,
    check,
    validate,
)

SERVER, CLIENT, QDN = STANDARD_SERVER, STANDARD_CLIENT, QDN_SEC_EXAMPLE
ISO = SAMPLES["iso_on_tcp"]
assert isinstance(ISO, TconIpRfc)
LEGACY = TconParam(64, 2, 17, False, 1, 2, 0, 0, 0, 0, local_tsap_id=b"\x07\xd0")
LEGACY_ACTIVE = TconParam(
    64, 2, 17, True, 1, 0, 0, 4, 2, 0, rem_staddr=bytes([198, 51, 100, 7]), rem_tsap_id=b"\x07\xd0"
)
LEGACY_UDP = TconParam(64, 2, 19, False, 1, 2, 0, 0, 0, 0, local_tsap_id=b"\x07\xd0")
LEGACY_ISO = TconParam(64, 2, 18, False, 1, 2, 0, 0, 0, 0, local_tsap_id=b"\xe0\x02")
UDT65 = {"udt65_lengths": True}  # TCON_Param's length table, an inference (see _validate.py).
PLAIN = TconIpV4(64, 4, 11, False, "0.0.0.0", 0, 2000)
UDP = TconIpV4(64, 5, 19, False, "0.0.0.0", 0, 3000)


def conn(block: Any, **changes: Any) -> Any:
    """The block with fields of its ConnPara changed."""
    return dataclasses.replace(block, ConnPara=dataclasses.replace(block.ConnPara, **changes))


def rep(block: Any, **changes: Any) -> Any:
    return dataclasses.replace(block, **changes)


S7_1200 = Device(Family.S7_1200, (4, 5))
S7_1500_V29 = Device(Family.S7_1500, (2, 9))

# (rule, block, validate keyword arguments, the path the finding names)
EXAMPLES: list[tuple[str, Block, dict[str, Any], str]] = [
    ("block_length", rep(LEGACY, block_length=48), {}, "block_length"),
    ("id_range", conn(SERVER, ID=0), {}, "ConnPara.ID"),
    ("id_range", rep(PLAIN, ID=4096), {}, "ID"),
    ("id_range", rep(LEGACY, id=0xFFFF), {}, "id"),
    ("id_mismatch", SERVER, {"block_id": 2}, "ConnPara.ID"),
    ("interface_id_zero", rep(PLAIN, InterfaceId=0), {}, "InterfaceId"),
    ("interface_id_zero", rep(ISO, InterfaceId=0), {}, "InterfaceId"),
    ("connection_type", rep(PLAIN, ConnectionType=12), {}, "ConnectionType"),
    ("connection_type", rep(ISO, ConnectionType=11), {}, "ConnectionType"),
    ("connection_type", conn(SERVER, ConnectionType=0), {}, "ConnPara.ConnectionType"),
    ("connection_type", rep(LEGACY, connection_type=11), {}, "connection_type"),
    ("udp_active", rep(UDP, ActiveEstablished=True), {}, "ActiveEstablished"),
    ("udp_active", rep(LEGACY, connection_type=19, active_est=True), {}, "active_est"),
    ("active_remote_port_zero", conn(CLIENT, RemotePort=0), {}, "ConnPara.RemotePort"),
    ("passive_local_port_zero", conn(SERVER, LocalPort=0), {}, "ConnPara.LocalPort"),
    ("passive_local_port_zero", rep(LEGACY, local_tsap_id_len=0), {}, "local_tsap_id_len"),
    ("passive_local_port_zero", rep(LEGACY, local_tsap_id=b"\0\0"), {}, "local_tsap_id"),
    ("udp_local_port_zero", rep(UDP, LocalPort=0), {}, "LocalPort"),
    (
        "active_remote_address_zero",
        conn(CLIENT, RemoteAddress="0.0.0.0"),
        {},
        "ConnPara.RemoteAddress",
    ),
    (
        "active_remote_address_zero",
        rep(ISO, ActiveEstablished=True, RemoteAddress="0.0.0.0"),
        {},
        "RemoteAddress",
    ),
    ("address_length", rep(LEGACY, rem_staddr_len=6), {}, "rem_staddr_len"),
    ("block_length_udt65", rep(LEGACY, block_length=48), UDT65, "block_length"),
    ("udt65_length", rep(LEGACY, rem_subnet_id_len=1), UDT65, "rem_subnet_id_len"),
    ("udt65_length", rep(LEGACY, next_staddr_len=2), UDT65, "next_staddr_len"),
    ("udt65_length", rep(LEGACY, rem_tsap_id_len=3), UDT65, "rem_tsap_id_len"),
    ("udt65_length", rep(LEGACY_ACTIVE, local_tsap_id_len=1), UDT65, "local_tsap_id_len"),
    ("udt65_length", rep(LEGACY_UDP, rem_tsap_id_len=2), UDT65, "rem_tsap_id_len"),
    ("udt65_length", rep(LEGACY_UDP, next_staddr_len=1), UDT65, "next_staddr_len"),
    (
        "udt65_length",
        rep(LEGACY_UDP, rem_staddr_len=4, rem_staddr=bytes([198, 51, 100, 7])),
        UDT65,
        "rem_staddr_len",
    ),
    ("udt65_length", rep(LEGACY_ISO, rem_tsap_id_len=1), UDT65, "rem_tsap_id_len"),
    (
        "remote_port_range",
        conn(CLIENT, RemotePort=50000),
        {"device": S7_1200},
        "ConnPara.RemotePort",
    ),
    (
        "local_port_range",
        conn(SERVER, LocalPort=50000),
        {"device": S7_1500_V29},
        "ConnPara.LocalPort",
    ),
    ("local_port_system", conn(SERVER, LocalPort=102), {}, "ConnPara.LocalPort"),
    ("local_port_system", rep(UDP, LocalPort=34964), {}, "LocalPort"),
    ("local_port_in_use", SERVER, {"ports_in_use": [2000]}, "ConnPara.LocalPort"),
    (
        "remote_address_invalid",
        conn(CLIENT, RemoteAddress="224.0.0.1"),
        {},
        "ConnPara.RemoteAddress",
    ),
    ("remote_address_invalid", rep(ISO, RemoteAddress="255.255.255.255"), {}, "RemoteAddress"),
    (
        "remote_address_own",
        CLIENT,
        {"device": Device(own_addresses=("192.168.0.1",))},
        "ConnPara.RemoteAddress",
    ),
    (
        "remote_address_own",
        QDN,
        {"device": Device(own_addresses=("10.0.0.9",)), "resolve_qdn": lambda n: "10.0.0.9"},
        "ConnPara.RemoteQDN",
    ),
    (
        "tselector_length",
        rep(ISO, LocalTSelector=TSelector(33, b"x")),
        {},
        "LocalTSelector.TSelLength",
    ),
    ("tselector_length", rep(ISO, RemoteTSelector=TSelector(40)), {}, "RemoteTSelector.TSelLength"),
    ("tselector_length", rep(LEGACY, rem_tsap_id_len=17), {}, "rem_tsap_id_len"),
    # 16#80B4 as TCON's table words it: length 0, 2 bytes not 16#E0 first, "SIMATIC-...".
    ("tsap_invalid", rep(ISO, LocalTSelector=TSelector(0)), {}, "LocalTSelector.TSelLength"),
    ("tsap_invalid", rep(ISO, LocalTSelector=TSelector.of(b"\x01\x01")), {}, "LocalTSelector.TSel"),
    ("tsap_invalid", rep(ISO, LocalTSelector=TSelector.of(b"\xe1\x02")), {}, "LocalTSelector.TSel"),
    ("tsap_invalid", rep(ISO, LocalTSelector=TSelector.of("SIMATIC-1")), {}, "LocalTSelector.TSel"),
    (
        "tsap_invalid",
        rep(LEGACY, connection_type=18, local_tsap_id=b"\x01\x02", local_tsap_id_len=2),
        {},
        "local_tsap_id",
    ),
    # The TSAP structure: TSAP-ID 2-16 bytes from 16#E0, ASCII TSAP 3-16 characters.
    (
        "tsap_structure",
        rep(ISO, LocalTSelector=TSelector.of(b"\x01")),
        {},
        "LocalTSelector.TSelLength",
    ),
    (
        "tsap_structure",
        rep(ISO, LocalTSelector=TSelector.of(b"\xe0" + bytes(16))),
        {},
        "LocalTSelector.TSelLength",
    ),
    (
        "tsap_structure",
        rep(ISO, LocalTSelector=TSelector.of(b"PLC-TSAP-17-CHARS")),
        {},
        "LocalTSelector.TSelLength",
    ),
    ("tsap_structure", rep(ISO, LocalTSelector=TSelector.of(b"AB\xff")), {}, "LocalTSelector.TSel"),
    (
        "tsap_structure",
        rep(ISO, LocalTSelector=TSelector.of(b"AB\x01")),
        {"device": S7_1200},
        "LocalTSelector.TSel",
    ),
    (
        "tsap_structure",
        rep(LEGACY, connection_type=18, local_tsap_id_len=1),
        {},
        "local_tsap_id_len",
    ),
    ("qdn_empty", conn(QDN, RemoteQDN=""), {}, "ConnPara.RemoteQDN"),
    ("qdn_not_qualified", conn(QDN, RemoteQDN="plc-1.plant.example"), {}, "ConnPara.RemoteQDN"),
    ("qdn_not_qualified", conn(QDN, RemoteQDN="plc_1.plant."), {}, "ConnPara.RemoteQDN"),
    ("qdn_unresolvable", QDN, {"resolve_qdn": lambda name: None}, "ConnPara.RemoteQDN"),
    (
        "secure_unsupported",
        SERVER,
        {"device": Device(Family.S7_1200, (4, 3))},
        "ActivateSecureConn",
    ),
    ("secure_udp", conn(SERVER, ConnectionType=19), {}, "ActivateSecureConn"),
    (
        "active_requests_client_cert",
        rep(CLIENT, TLSServerReqClientCert=True),
        {},
        "TLSServerReqClientCert",
    ),
    ("passive_ext_capabilities", rep(SERVER, ExtTLSCapabilities=0x0001), {}, "ExtTLSCapabilities"),
    ("passive_without_server_cert", rep(SERVER, TLSServerCertRef=0), {}, "TLSServerCertRef"),
    ("cert_ref_unknown", SERVER, {"cert_ids": {3}}, "TLSServerCertRef"),
    ("cert_ref_unknown", CLIENT, {"cert_ids": {3, 9}}, "TLSClientCertRef"),
]


@pytest.mark.parametrize(
    ("rule", "block", "kwargs", "path"),
    EXAMPLES,
    ids=[f"{e[0]}-{i}" for i, e in enumerate(EXAMPLES)],
)
def test_each_rule_gives_its_status(
    rule: str, block: Block, kwargs: dict[str, Any], path: str
) -> None:
    findings = validate(block, **kwargs)
    assert [(f.rule, f.status, f.path) for f in findings] == [(rule, RULES[rule], path)]
    assert findings[0].message.endswith(".") and findings[0].message[0].isupper()


def test_the_client_ref_is_checked_only_where_it_is_used() -> None:
    """A passive side's TLSClientCertRef is the CA for client certificates: unknown, it is an
    error only when the server requests one (the endpoints resolve it only then)."""
    assert SERVER.TLSServerReqClientCert and SERVER.TLSClientCertRef == 3
    findings = validate(SERVER, cert_ids={9})
    assert [(f.status, f.path) for f in findings] == [(0x80ED, "TLSClientCertRef")]
    unused = rep(SERVER, TLSServerReqClientCert=False)
    assert validate(unused, cert_ids={9}) == []


def test_every_validation_rule_has_an_example() -> None:
    parse_rules = {"length", "structure"}  # Raised by parse; see test_codec.py.
    assert {e[0] for e in EXAMPLES} == set(RULES) - parse_rules


@pytest.mark.parametrize(
    "block",
    [
        rep(LEGACY, rem_subnet_id_len=1),
        rep(LEGACY, next_staddr_len=2),
        rep(LEGACY, rem_tsap_id_len=3),
        rep(LEGACY_ACTIVE, local_tsap_id_len=1),
        rep(LEGACY_UDP, rem_tsap_id_len=2, rem_tsap_id=b"\x07\xd0"),
        rep(LEGACY_UDP, rem_staddr_len=4, rem_staddr=bytes([198, 51, 100, 7])),
        rep(LEGACY_ISO, rem_tsap_id_len=1),
    ],
)
def test_the_udt65_table_is_an_option_that_is_off_by_default(block: TconParam) -> None:
    """The UDT 65 length rules are inferred from a third-party copy of Siemens' table (the VIPA
    SPEED7 operation list, UDT 65 - TCON_PAR, pp. 124-128): by default ouc accepts what it
    accepted before, with the option the length byte is 16#80B7."""
    for base in (LEGACY, LEGACY_ACTIVE, LEGACY_UDP, LEGACY_ISO):
        assert validate(base) == [] and validate(base, **UDT65) == []
    assert validate(block) == []
    findings = validate(block, **UDT65)
    assert [(f.rule, f.status) for f in findings] == [("udt65_length", 0x80B7)]
    assert "inference" in findings[0].message
    with pytest.raises(ParamCheckError) as info:
        check(block, **UDT65)
    assert info.value.status == 0x80B7


def test_block_length_is_809a_by_default_and_80b7_with_the_udt65_table() -> None:
    assert [f.status for f in validate(rep(LEGACY, block_length=48))] == [0x809A]
    assert [f.status for f in validate(rep(LEGACY, block_length=48), **UDT65)] == [0x80B7]


def test_status_table_matches_domain_md() -> None:
    expected = {
        "id_range": 0x8086,
        "id_mismatch": 0x80B8,
        "length": 0x809A,
        "structure": 0x8089,
        "interface_id_zero": 0x809B,
        "connection_type": 0x80B6,
        "udp_active": 0x80B5,
        "active_remote_port_zero": 0x80B7,
        "passive_local_port_zero": 0x80B7,
        "udp_local_port_zero": 0x80B7,
        "active_remote_address_zero": 0x80B7,
        "remote_address_invalid": 0x80A4,
        "remote_address_own": 0x80A4,
        "local_port_system": 0x80A2,
        "local_port_in_use": 0x80A1,
        "tsap_invalid": 0x80B4,
        "tsap_structure": 0x80B4,
        "tselector_length": 0x80B7,
        "qdn_empty": 0x80D0,
        "qdn_not_qualified": 0x80D1,
        "qdn_unresolvable": 0x80D3,
        "secure_udp": 0x80EA,
        "active_requests_client_cert": 0x80EB,
        "passive_ext_capabilities": 0x80EC,
        "cert_ref_unknown": 0x80ED,
        "passive_without_server_cert": 0x80E9,
    }
    assert {rule: RULES[rule] for rule in expected} == expected


# --------------------------------------------------------------------------- clean blocks


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_samples_validate_clean(name: str) -> None:
    assert validate(SAMPLES[name]) == []
    check(SAMPLES[name])


def test_standard_example_is_clean_on_its_own_plcs() -> None:
    server_plc = Device(own_addresses=("192.168.0.1",))
    client_plc = Device(own_addresses=("192.168.0.2",))
    store = {3, 9, 11}
    assert validate(SERVER, device=server_plc, block_id=1, cert_ids=store) == []
    assert validate(CLIENT, device=client_plc, block_id=1, cert_ids=store) == []
    assert validate(SERVER, device=Device(Family.S7_1200, (4, 5))) == []


def test_tls_fields_are_ignored_when_not_secure() -> None:
    plain = rep(SERVER, ActivateSecureConn=False, TLSServerCertRef=0, ExtTLSCapabilities=0xFFFF)
    assert validate(plain, device=Device(Family.S7_1500, (1, 8)), cert_ids=set()) == []
    udp = conn(rep(plain, TLSServerReqClientCert=True), ConnectionType=19)
    assert validate(udp) == []


def test_secure_udp_reports_only_dtls() -> None:
    bad = rep(conn(SERVER, ConnectionType=19), TLSServerCertRef=0, ExtTLSCapabilities=1)
    assert [f.rule for f in validate(bad)] == ["secure_udp"]


def test_allowed_addresses() -> None:
    assert validate(conn(CLIENT, RemoteAddress="127.0.0.1")) == []  # Loopback: an emulator.
    assert validate(conn(SERVER, RemoteAddress="0.0.0.0")) == []  # Passive: any partner.
    assert validate(rep(UDP, RemoteAddress="239.1.1.1")) == []  # UDP: partner per telegram.


def test_port_range_follows_the_firmware() -> None:
    high = conn(SERVER, LocalPort=60000)
    assert validate(high, device=Device(Family.S7_1500, (3, 0))) == []
    assert [f.status for f in validate(high, device=S7_1200)] == [Status.LOCAL_PORT_SYSTEM]
    assert [f.rule for f in validate(high, device=S7_1500_V29)] == ["local_port_range"]
    assert "49151" in validate(high, device=S7_1200)[0].message


def test_every_finding_is_returned_in_order() -> None:
    bad = rep(conn(SERVER, ID=0, LocalPort=0), TLSServerCertRef=0)
    findings = validate(bad, ports_in_use=[0])
    assert [f.rule for f in findings] == [
        "id_range",
        "passive_local_port_zero",
        "passive_without_server_cert",
    ]


def test_an_unknown_connection_type_silences_the_protocol_rules() -> None:
    bad = rep(PLAIN, ConnectionType=99, LocalPort=0)
    assert [f.rule for f in validate(bad)] == ["connection_type"]


@pytest.mark.parametrize("type_name", sorted(BLOCK_TYPES))
def test_connection_type_finding_agrees_with_protocol(type_name: str) -> None:
    base = {
        "TCON_IP_V4": PLAIN,
        "TCON_IP_V4_SEC": SERVER,
        "TCON_QDN": QDN.ConnPara,
        "TCON_QDN_SEC": QDN,
        "TCON_IP_RFC": ISO,
        "TCON_PARAM": LEGACY,
    }[type_name]
    for ctype in range(256):
        if type_name == "TCON_PARAM":
            block = rep(base, connection_type=ctype)
        elif type_name.endswith("_SEC"):
            block = conn(base, ConnectionType=ctype)
        else:
            block = rep(base, ConnectionType=ctype)
        rules = [f.rule for f in validate(block)]
        assert ("connection_type" in rules) == (block.protocol is None), ctype


def test_check_raises_the_first_finding_with_all_of_them() -> None:
    bad = rep(conn(SERVER, LocalPort=0), TLSServerCertRef=0)
    with pytest.raises(ParamCheckError) as info:
        check(bad)
    assert isinstance(info.value, ParamError)
    assert (info.value.status, info.value.path) == (0x80B7, "ConnPara.LocalPort")
    assert [f.status for f in info.value.findings] == [0x80B7, 0x80E9]
    assert "(and 1 more)" in str(info.value) and "16#80B7" in str(info.value)
    check(SERVER)  # A valid block: no exception.


def test_finding_formats_its_status() -> None:
    finding = validate(conn(CLIENT, RemotePort=0))[0]
    assert isinstance(finding, Finding)
    assert finding.status_text == "16#80B7"
    assert str(finding).startswith("16#80B7 ConnPara.RemotePort: An active TCP connection")
    with pytest.raises(dataclasses.FrozenInstanceError):
        finding.status = 0  # type: ignore[misc]


def test_validate_refuses_what_is_not_a_block() -> None:
    with pytest.raises(ParamError):
        validate({"type": "TCON_IP_V4"})  # type: ignore[arg-type]


# --------------------------------------------------------------------------- device settings


@pytest.mark.parametrize(
    ("port", "setting"),
    [(80, "web_server"), (443, "web_server"), (4840, "opc_ua"), (34962, "profinet")],
)
def test_a_service_holds_its_ports_only_while_switched_on(port: int, setting: str) -> None:
    block = conn(SERVER, LocalPort=port)
    on = validate(block)
    assert [(f.rule, f.status) for f in on] == [("local_port_system", 0x80A2)]
    assert "switched on in the device settings" in on[0].message
    assert validate(block, device=Device(**{setting: False})) == []


def test_port_102_is_held_whatever_is_switched_off() -> None:
    bare = Device(web_server=False, opc_ua=False, profinet=False)
    assert [f.rule for f in validate(conn(SERVER, LocalPort=102), device=bare)] == [
        "local_port_system"
    ]
    # Ports other services of a CPU may use are no longer refused on their own (domain.md §2).
    assert validate(conn(SERVER, LocalPort=502), device=bare) == []


@pytest.mark.parametrize(
    ("tsap", "device"),
    [
        (b"\xe0\x02", Device()),
        (b"\xe0" + bytes(range(1, 16)), Device()),
        (b"SRV", Device()),
        (b"SIMATIC", Device()),
        (b"ABCDEFGHIJKLMNOP", S7_1200),
        (b"AB\x01", Device()),
    ],
)
def test_tsaps_at_the_edges_of_the_structure_are_valid(tsap: bytes, device: Device) -> None:
    assert validate(rep(ISO, LocalTSelector=TSelector.of(tsap)), device=device) == []


def test_no_tls_status_outside_tcons_table() -> None:
    """TCON's table lists 16#80E0-16#80E7 and 16#80E9-16#80ED; 16#80E8/16#80EE do not exist."""
    listed = set(range(0x80E0, 0x80E8)) | set(range(0x80E9, 0x80EE))
    tls_range = {int(s) for s in Status if 0x80E0 <= s <= 0x80EF}
    assert tls_range == listed
