"""What an engineer reads: each rule's finding as ``str(finding)`` (status, TIA path, sentence),
word for word, for every block type whose paths differ, and the parts of a sentence that
depend on the block (the QDN's hint, a service's switch, an address's reason, TCON_Param's
field names)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ouc.device import Device, Family
from ouc.errors import ParamError
from ouc.params import (
    QDN_SEC_EXAMPLE,
    SAMPLES,
    STANDARD_CLIENT,
    STANDARD_SERVER,
    Block,
    ParamCheckError,
    TconIpRfc,
    TconIpV4,
    TconParam,
    TSelector,
    validate,
)

SERVER, CLIENT, QDN = STANDARD_SERVER, STANDARD_CLIENT, QDN_SEC_EXAMPLE
ISO = SAMPLES["iso_on_tcp"]
assert isinstance(ISO, TconIpRfc)
LEGACY = TconParam(64, 2, 17, False, 1, 2, 0, 0, 0, 0, local_tsap_id=b"\x07\xd0")
PLAIN = TconIpV4(64, 4, 11, False, "0.0.0.0", 0, 2000)
UDP = TconIpV4(64, 5, 19, False, "0.0.0.0", 0, 3000)
S7_1200 = Device(Family.S7_1200, (4, 5))
S7_1500_V29 = Device(Family.S7_1500, (2, 9))


def conn(block: Any, **changes: Any) -> Any:
    return dataclasses.replace(block, ConnPara=dataclasses.replace(block.ConnPara, **changes))


def rep(block: Any, **changes: Any) -> Any:
    return dataclasses.replace(block, **changes)


def legacy_active(address: bytes, port: int = 2000) -> TconParam:
    """An active TCP TCON_Param block to ``address``:``port``."""
    return rep(
        LEGACY,
        active_est=True,
        rem_staddr_len=4,
        rem_staddr=address,
        rem_tsap_id_len=2,
        rem_tsap_id=port.to_bytes(2, "big"),
    )


def lines(block: Block, **kwargs: Any) -> list[str]:
    return [str(f) for f in validate(block, **kwargs)]


# (block, validate keyword arguments, every finding as the user sees it)
MESSAGES: list[tuple[Block, dict[str, Any], list[str]]] = [
    (
        rep(LEGACY, block_length=48),
        {},
        [
            "16#809A block_length: The block_length is 16#0030; a TCON_Param block is always "
            "64 bytes (16#0040)."
        ],
    ),
    (
        SERVER,
        {"block_id": 2},
        [
            "16#80B8 ConnPara.ID: The block's ID is 1 but the instruction's ID input is 2; "
            "they must be the same."
        ],
    ),
    (
        rep(PLAIN, InterfaceId=0),
        {},
        [
            "16#809B InterfaceId: InterfaceId 0 is not allowed in TCON_IP_V4 (only the SEC and "
            "QDN types may leave the choice to the CPU); enter the hardware identifier of the "
            "interface, e.g. 64."
        ],
    ),
    (
        rep(PLAIN, ID=4096),
        {},
        ["16#8086 ID: The connection ID is 4096; it must be between 1 and 4095."],
    ),
    # The allowed values are listed per block type, each with its protocol's name.
    (
        rep(PLAIN, ConnectionType=12),
        {},
        [
            "16#80B6 ConnectionType: ConnectionType 12 (16#0C) is not allowed in TCON_IP_V4; "
            "use 11 (TCP), 17 (TCP), 19 (UDP)."
        ],
    ),
    (
        rep(ISO, ConnectionType=11),
        {},
        [
            "16#80B6 ConnectionType: ConnectionType 11 (16#0B) is not allowed in TCON_IP_RFC; "
            "use 12 (ISO-on-TCP), 18 (ISO-on-TCP)."
        ],
    ),
    (
        rep(UDP, ActiveEstablished=True),
        {},
        [
            "16#80B5 ActiveEstablished: A UDP connection must be passive: set "
            "ActiveEstablished to FALSE."
        ],
    ),
    (
        conn(SERVER, LocalPort=0),
        {},
        [
            "16#80B7 ConnPara.LocalPort: A passive TCP connection needs a port to listen on, "
            "but LocalPort is 0."
        ],
    ),
    (
        rep(UDP, LocalPort=0),
        {},
        ["16#80B7 LocalPort: A UDP connection needs a LocalPort; it is 0."],
    ),
    (
        conn(CLIENT, RemoteAddress="0.0.0.0"),
        {},
        [
            "16#80B7 ConnPara.RemoteAddress: An active connection needs the partner's IP "
            "address, but RemoteAddress is 0.0.0.0."
        ],
    ),
    (
        rep(LEGACY, rem_staddr_len=6),
        {},
        [
            "16#80B7 rem_staddr_len: The rem_staddr_len is 6; the partner address is 4 bytes "
            "(or 0 for any partner)."
        ],
    ),
    (
        conn(CLIENT, RemotePort=50000),
        {"device": S7_1200},
        [
            "16#80B7 ConnPara.RemotePort: RemotePort 50000 is above 49151, the highest port an "
            "S7-1200 V4.5 allows."
        ],
    ),
    (
        conn(SERVER, LocalPort=50000),
        {"device": S7_1500_V29},
        [
            "16#80A2 ConnPara.LocalPort: LocalPort 50000 is above 49151: on an S7-1500 V2.9 "
            "ports from 49152 up are reserved for the system."
        ],
    ),
    # A service that is always on has no switch; one the device settings switch on says so.
    (
        conn(SERVER, LocalPort=102),
        {},
        [
            "16#80A2 ConnPara.LocalPort: LocalPort 102 is used by the CPU itself (S7 "
            "communication / ISO-on-TCP); choose another port, 2000-5000 is recommended."
        ],
    ),
    (
        conn(SERVER, LocalPort=443),
        {},
        [
            "16#80A2 ConnPara.LocalPort: LocalPort 443 is used by the CPU itself (web server "
            "(HTTP, HTTPS), switched on in the device settings); choose another port, "
            "2000-5000 is recommended."
        ],
    ),
    (
        rep(ISO, RemoteTSelector=TSelector(40)),
        {},
        [
            "16#80B7 RemoteTSelector.TSelLength: The TSAP length is 40; a T selector holds at "
            "most 32 bytes."
        ],
    ),
    (
        conn(QDN, ActiveEstablished=True, RemoteQDN=""),
        {},
        [
            "16#80D0 ConnPara.RemoteQDN: An active TCP connection needs the partner's name, "
            "but RemoteQDN is empty."
        ],
    ),
    (
        SERVER,
        {"ports_in_use": [2000]},
        [
            "16#80A1 ConnPara.LocalPort: LocalPort 2000 is already used by another connection "
            "on this CPU."
        ],
    ),
    (
        CLIENT,
        {"device": Device(own_addresses=("192.168.0.1",))},
        [
            "16#80A4 ConnPara.RemoteAddress: RemoteAddress 192.168.0.1 is this CPU's own "
            "address; enter the partner's address."
        ],
    ),
    (
        QDN,
        {"device": Device(own_addresses=("10.0.0.9",)), "resolve_qdn": lambda n: "10.0.0.9"},
        [
            "16#80A4 ConnPara.RemoteQDN: RemoteQDN 'plc-1.plant.example.' resolves to 10.0.0.9, "
            "this CPU's own address."
        ],
    ),
    (
        rep(ISO, LocalTSelector=TSelector(33, b"x")),
        {},
        [
            "16#80B7 LocalTSelector.TSelLength: The TSAP length is 33; a T selector holds at "
            "most 32 bytes."
        ],
    ),
    (
        rep(ISO, LocalTSelector=TSelector(0)),
        {},
        [
            "16#80B4 LocalTSelector.TSelLength: The local TSAP is empty; use a TSAP-ID such as "
            "16#E0 16#02 or an ASCII TSAP of 3-16 characters."
        ],
    ),
    (
        rep(ISO, LocalTSelector=TSelector.of(b"\x01")),
        {},
        [
            "16#80B4 LocalTSelector.TSelLength: The local TSAP is 1 byte long; use a TSAP-ID "
            "such as 16#E0 16#02 or an ASCII TSAP of 3-16 characters."
        ],
    ),
    (
        rep(ISO, LocalTSelector=TSelector.of(b"PLC-TSAP-17-CHARS")),
        {},
        [
            "16#80B4 LocalTSelector.TSelLength: The local TSAP is 17 bytes long; an ASCII TSAP "
            "has 3-16 characters."
        ],
    ),
    # The hint to add the final dot only when the dot is what is missing.
    (
        conn(QDN, RemoteQDN="plc-1.plant.example"),
        {},
        [
            "16#80D1 ConnPara.RemoteQDN: RemoteQDN 'plc-1.plant.example' is not a fully "
            "qualified domain name: labels of letters, digits and hyphens, ending with a dot "
            "(write 'plc-1.plant.example.')."
        ],
    ),
    (
        conn(QDN, RemoteQDN="plc_1.plant."),
        {},
        [
            "16#80D1 ConnPara.RemoteQDN: RemoteQDN 'plc_1.plant.' is not a fully qualified "
            "domain name: labels of letters, digits and hyphens, ending with a dot."
        ],
    ),
    # The TLS rules; the first firmware with Secure OUC per family (domain.md §3).
    (
        SERVER,
        {"device": Device(Family.S7_1200, (4, 3))},
        [
            "16#809A ActivateSecureConn: This S7-1200 with firmware V4.3 has no Secure Open User "
            "Communication (TLS needs V4.4 or later); set ActivateSecureConn to FALSE."
        ],
    ),
    (
        SERVER,
        {"device": Device(Family.S7_1500, (1, 8))},
        [
            "16#809A ActivateSecureConn: This S7-1500 with firmware V1.8 has no Secure Open User "
            "Communication (TLS needs V2.0 or later); set ActivateSecureConn to FALSE."
        ],
    ),
    (
        conn(SERVER, ConnectionType=19),
        {},
        [
            "16#80EA ActivateSecureConn: Secure communication over UDP (DTLS) is not supported: "
            "use TCP (ConnectionType 11) or set ActivateSecureConn to FALSE."
        ],
    ),
    (
        rep(CLIENT, TLSServerReqClientCert=True),
        {},
        [
            "16#80EB TLSServerReqClientCert: The active side is the TLS client and cannot "
            "request a client certificate: set TLSServerReqClientCert to FALSE."
        ],
    ),
    (
        rep(SERVER, ExtTLSCapabilities=0x0001),
        {},
        [
            "16#80EC ExtTLSCapabilities: The passive side is the TLS server and cannot check the "
            "partner's subjectAltName (ExtTLSCapabilities bit 0); only the client can. Clear "
            "bit 0."
        ],
    ),
    (
        rep(SERVER, TLSServerCertRef=0),
        {},
        [
            "16#80E9 TLSServerCertRef: A passive secure connection (TLS server) needs its own "
            "server certificate, but TLSServerCertRef is 0."
        ],
    ),
    (
        CLIENT,
        {"cert_ids": {3}},
        [
            "16#80ED TLSClientCertRef: TLSClientCertRef 11 names no certificate in this "
            "device's certificate store."
        ],
    ),
]


@pytest.mark.parametrize(
    ("block", "kwargs", "expected"), MESSAGES, ids=[m[2][0].split(":")[0] for m in MESSAGES]
)
def test_each_finding_reads_as_written(
    block: Block, kwargs: dict[str, Any], expected: list[str]
) -> None:
    assert lines(block, **kwargs) == expected


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("255.255.255.255", "broadcast"),
        ("239.1.2.3", "multicast"),
        ("240.0.0.1", "reserved class E"),
        ("0.1.2.3", "the 0.0.0.0/8 network"),
    ],
)
def test_an_invalid_remote_address_says_why(address: str, reason: str) -> None:
    assert lines(conn(CLIENT, RemoteAddress=address)) == [
        f"16#80A4 ConnPara.RemoteAddress: RemoteAddress {address} is not a valid partner "
        f"address ({reason})."
    ]


def test_tcon_param_names_its_own_fields() -> None:
    """TCON_Param calls the partner's address rem_staddr and its port rem_tsap_id."""
    assert lines(legacy_active(bytes([224, 0, 0, 1]))) == [
        "16#80A4 rem_staddr: RemoteAddress 224.0.0.1 is not a valid partner address (multicast)."
    ]
    assert lines(legacy_active(bytes([192, 168, 0, 9]), port=0)) == [
        "16#80B7 rem_tsap_id: An active TCP connection needs the partner's port, but "
        "RemotePort is 0."
    ]
    assert lines(legacy_active(bytes([192, 168, 0, 9]))) == []


@pytest.mark.parametrize("length", [0, 1, 3, 16])
def test_tcon_param_port_of_another_length_names_the_length_byte(length: int) -> None:
    """A TCP/UDP port is TCON_Param's 2-byte TSAP: with another length the block holds no port,
    and the finding names the length byte, not a "LocalPort is 0" the user never wrote."""
    tsap = bytes(range(7, 7 + length))
    passive = rep(LEGACY, local_tsap_id_len=length, local_tsap_id=tsap)
    assert lines(passive) == [
        f"16#80B7 local_tsap_id_len: A passive TCP connection needs a port to listen on, but "
        f"local_tsap_id_len is {length}: a TCP or UDP port is the 2-byte TSAP, so set "
        "local_tsap_id_len to 2."
    ]
    udp = rep(passive, connection_type=19)
    assert lines(udp) == [
        f"16#80B7 local_tsap_id_len: A UDP connection needs a LocalPort, but local_tsap_id_len "
        f"is {length}: a TCP or UDP port is the 2-byte TSAP, so set local_tsap_id_len to 2."
    ]
    active = rep(legacy_active(bytes([192, 168, 0, 9])), rem_tsap_id_len=length, rem_tsap_id=tsap)
    assert lines(active) == [
        f"16#80B7 rem_tsap_id_len: An active TCP connection needs the partner's port, but "
        f"rem_tsap_id_len is {length}: a TCP or UDP port is the 2-byte TSAP, so set "
        "rem_tsap_id_len to 2."
    ]


def test_tcon_param_tsap_lengths_over_16_for_tcp_and_udp() -> None:
    """For TCP and UDP both TSAP arrays are checked, the local one first; ISO-on-TCP's local
    TSAP has its own rules (16#80B4), so only the partner's length is checked here."""
    for ctype in (17, 19):
        block = rep(LEGACY, connection_type=ctype, local_tsap_id_len=17, rem_tsap_id_len=18)
        found = [(f.rule, f.path, f.message) for f in validate(block)]
        assert [f for f in found if f[0] == "tselector_length"] == [
            (
                "tselector_length",
                "local_tsap_id_len",
                "The local_tsap_id_len is 17; the array holds at most 16 bytes.",
            ),
            (
                "tselector_length",
                "rem_tsap_id_len",
                "The rem_tsap_id_len is 18; the array holds at most 16 bytes.",
            ),
        ]


def test_the_resolver_is_asked_for_the_block_s_name() -> None:
    asked: list[str] = []

    def resolve(name: str) -> str | None:
        asked.append(name)
        return {"plc-1.plant.example.": "192.168.0.7"}.get(name)

    assert validate(QDN, resolve_qdn=resolve) == []
    assert asked == ["plc-1.plant.example."]
    assert lines(conn(QDN, RemoteQDN="other.plant.example."), resolve_qdn=resolve) == [
        "16#80D3 ConnPara.RemoteQDN: RemoteQDN 'other.plant.example.' could not be resolved "
        "to an IPv4 address."
    ]


def test_validate_refuses_what_is_not_a_block() -> None:
    with pytest.raises(ParamError) as info:
        validate(SAMPLES)  # type: ignore[arg-type]
    assert str(info.value) == "dict is not a connection description"
    assert not isinstance(info.value, ParamCheckError)


def test_validate_reports_every_layer_in_order() -> None:
    """Structure, then the protocol's rules, then TLS: all of them, in the PLC's order."""
    bad = rep(conn(SERVER, ID=0, LocalPort=0), TLSServerCertRef=0)
    assert [(f.rule, f.path) for f in validate(bad)] == [
        ("id_range", "ConnPara.ID"),
        ("passive_local_port_zero", "ConnPara.LocalPort"),
        ("passive_without_server_cert", "TLSServerCertRef"),
    ]
