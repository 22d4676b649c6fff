"""parse/build: golden vectors, the round-trip triple, truncation, trailing bytes, garbage."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.device import Role
from ouc.errors import OucError, ParamError, Status
from ouc.params import (
    BLOCK_TYPES,
    ISO_ON_TCP_PORT,
    SAMPLES,
    SIZES,
    STANDARD_SERVER,
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
    detect_type,
    parse,
)
from ouc.strategies import mutated_bytes, valid_blocks

VECTORS = Path(__file__).parents[1] / "vectors" / "params"

SERVER_CONN = TconIpV4(64, 1, 11, False, "192.168.0.2", 0, 2000)

# What each golden vector must parse to, spelled out here rather than taken from ouc's samples.
EXPECTED: dict[str, Block] = {
    "tcon_ip_v4_passive_tcp": TconIpV4(64, 5, 11, False, "0.0.0.0", 0, 2000),
    "tcon_ip_v4_sec_server": TconIpV4Sec(SERVER_CONN, True, True, 0, 9, 3),
    "tcon_ip_v4_sec_server_bits": TconIpV4Sec(SERVER_CONN, True, True, 0, 9, 3, BoolForm.BITS),
    "tcon_ip_v4_sec_client": TconIpV4Sec(
        TconIpV4(64, 1, 11, True, "192.168.0.1", 2000, 0), True, False, 0, 3, 11
    ),
    "tcon_qdn_active": TconQdn(0, 7, 11, True, "plc-2.plant.example.", 2001, 0),
    "tcon_qdn_sec_client": TconQdnSec(
        TconQdn(64, 2, 11, True, "plc-1.plant.example.", 2000, 0), True, False, 1, 3, 11
    ),
    "tcon_ip_rfc_passive": TconIpRfc(
        64, 3, 12, False, "192.168.0.2", TSelector.of(b"OUC-CLI"), TSelector.of(b"OUC-SRV")
    ),
    "tcon_param_tcp_active": TconParam(
        block_length=64,
        id=1,
        connection_type=0x11,
        active_est=True,
        local_device_id=1,
        local_tsap_id_len=0,
        rem_subnet_id_len=0,
        rem_staddr_len=4,
        rem_tsap_id_len=2,
        next_staddr_len=0,
        rem_staddr=bytes([192, 168, 0, 1]),
        rem_tsap_id=bytes([0x07, 0xD0]),
    ),
}


def _status(exc: pytest.ExceptionInfo[ParamError]) -> int | None:
    return exc.value.status


# --------------------------------------------------------------------------- golden vectors


def test_every_vector_has_an_expectation_and_a_note() -> None:
    names = {p.stem for p in VECTORS.glob("*.bin")}
    assert names == set(EXPECTED)
    for name in names:
        note = (VECTORS / f"{name}.txt").read_text()
        assert "struct" in note and (VECTORS / f"{name}.bin").read_bytes().hex(" ") in note


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_vector_parses_and_rebuilds_exactly(name: str) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    block = parse(data)
    assert block == EXPECTED[name]
    assert type(block) is type(EXPECTED[name])
    assert build(block) == data
    assert parse(data, block.type_name) == block
    assert len(data) == block.size


def test_bits_vector_reports_the_bit_form_and_builds_it_back() -> None:
    data = (VECTORS / "tcon_ip_v4_sec_server_bits.bin").read_bytes()
    block = parse(data)
    assert isinstance(block, TconIpV4Sec)
    assert block.bool_form is BoolForm.BITS
    assert build(block) == data
    assert build(block, BoolForm.BYTES) == (VECTORS / "tcon_ip_v4_sec_server.bin").read_bytes()


def test_legacy_block_answers_ports_and_address_from_its_arrays() -> None:
    block = EXPECTED["tcon_param_tcp_active"]
    assert (block.remote_address, block.remote_port, block.local_port) == ("192.168.0.1", 2000, 0)
    assert (block.role, block.protocol, block.conn_id) == (Role.ACTIVE, Protocol.TCP, 1)


# --------------------------------------------------------------------------- round trip


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_round_trip_triple_by_example(name: str) -> None:
    block = SAMPLES[name]
    data = build(block)
    assert parse(data) == block
    assert build(parse(data)) == data
    assert len(data) == block.size == BLOCK_TYPES[block.type_name].size


@settings(max_examples=150)
@given(valid_blocks(), st.sampled_from(BoolForm))
def test_round_trip_triple_property(block: Block, form: BoolForm) -> None:
    data = build(block, form)
    assert len(data) == block.size
    again = parse(data, block.type_name)
    assert again == block
    assert build(again) == data
    assert parse(data) == block  # Detected from the length as well.


@settings(max_examples=150)
@given(mutated_bytes())
def test_bytes_that_parse_build_back_identically(data: bytes) -> None:
    try:
        block = parse(data)
    except ParamError:
        return
    assert build(block) == data


# --------------------------------------------------------------------------- three ways


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_truncated_at_every_byte_is_a_length_error(name: str) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    type_name = EXPECTED[name].type_name
    for cut in range(len(data)):
        with pytest.raises(ParamError) as info:
            parse(data[:cut], type_name)
        assert info.value.status == Status.CONNECT_LENGTH
        assert "truncated" in info.value.message
        # Detected from the length, a prefix is an error or, at another type's size, that type.
        try:
            block = parse(data[:cut])
        except ParamError as exc:
            assert exc.status in (Status.CONNECT_LENGTH, Status.CONNECT_INVALID)
        else:
            assert block.size == cut


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("extra", [b"\x00", b"\xff" * 3, bytes(64)])
def test_trailing_bytes_are_a_length_error(name: str, extra: bytes) -> None:
    data = (VECTORS / f"{name}.bin").read_bytes()
    with pytest.raises(ParamError) as info:
        parse(data + extra, EXPECTED[name].type_name)
    assert info.value.status == Status.CONNECT_LENGTH
    assert f"{len(extra)} trailing bytes" in info.value.message


def test_detection_reads_a_block_plus_its_own_size_as_the_bigger_type() -> None:
    # Documented: without a type, a 14-byte block + 14 bytes is a 28-byte TCON_IP_V4_SEC.
    data = build(SERVER_CONN)
    doubled = parse(data + bytes(14))
    assert isinstance(doubled, TconIpV4Sec) and doubled.ConnPara == SERVER_CONN
    with pytest.raises(ParamError) as info:
        parse(data + bytes(14), "TCON_IP_V4")
    assert info.value.status == Status.CONNECT_LENGTH


@pytest.mark.parametrize("size", [0, 1, 13, 15, 27, 29, 63, 65, 79, 81, 265, 267, 283, 285, 1000])
def test_unknown_length_is_809A(size: int) -> None:
    with pytest.raises(ParamError) as info:
        parse(bytes(size))
    assert info.value.status == Status.CONNECT_LENGTH
    assert str(size) in info.value.message


def test_sizes_are_distinct_and_detected() -> None:
    assert sorted(SIZES) == [14, 28, 64, 80, 266, 284]
    assert {detect_type(size) for size in SIZES} == set(BLOCK_TYPES)


# --------------------------------------------------------------------------- garbage


@settings(max_examples=300)
@given(st.binary(max_size=300) | mutated_bytes())
def test_arbitrary_bytes_give_a_block_or_an_ouc_error(data: bytes) -> None:
    for strict in (True, False):
        try:
            block = parse(data, strict=strict)
        except OucError:
            continue
        assert block.size == len(data)


@settings(max_examples=200)
@given(st.sampled_from(sorted(SIZES)).flatmap(lambda n: st.binary(min_size=n, max_size=n)))
def test_random_bytes_of_a_block_size_parse_or_fail_cleanly(data: bytes) -> None:
    for type_name in BLOCK_TYPES:
        try:
            parse(data, type_name, strict=False)
        except OucError as exc:
            assert exc.status in (Status.CONNECT_LENGTH, Status.CONNECT_INVALID)


def test_parse_refuses_what_is_not_bytes() -> None:
    with pytest.raises(ParamError) as info:
        parse("00 40", None)  # type: ignore[arg-type]
    assert info.value.status == Status.CONNECT_INVALID


def test_unknown_type_name_is_809A_and_names_are_case_insensitive() -> None:
    with pytest.raises(ParamError) as info:
        parse(bytes(14), "TCON_IP_V6")
    assert (info.value.status, info.value.path) == (Status.CONNECT_LENGTH, "type")
    assert parse(build(SERVER_CONN), "tcon_ip_v4") == SERVER_CONN
    assert parse(build(SERVER_CONN), "TCON_IP_v4") == SERVER_CONN


def test_build_refuses_what_is_not_a_block() -> None:
    with pytest.raises(ParamError):
        build(object())  # type: ignore[arg-type]


@pytest.mark.parametrize("form", ["BITS", "bits", 42, True, 0])
@pytest.mark.parametrize("block", [STANDARD_SERVER, STANDARD_SERVER.ConnPara])
def test_build_refuses_a_bool_form_that_is_no_bool_form(block: Block, form: object) -> None:
    """A typo (``"BITS"`` for ``BoolForm.BITS``) is an error, not silently the default form."""
    with pytest.raises(
        ParamError, match=r"must be BoolForm\.BYTES, BoolForm\.BITS or None"
    ) as info:
        build(block, form)  # type: ignore[arg-type]
    assert (info.value.status, info.value.path) == (Status.CONNECT_INVALID, "bool_form")
    assert build(block, None) == build(block)


# --------------------------------------------------------------------------- strictness


def _sec_bytes(first: int, second: int) -> bytes:
    data = bytearray(build(STANDARD_SERVER))
    data[16], data[17] = first, second
    return bytes(data)


@pytest.mark.parametrize(
    ("first", "second", "activate", "req_cert", "form"),
    [
        (0, 0, False, False, BoolForm.BYTES),
        (1, 0, True, False, BoolForm.BYTES),
        (0, 1, False, True, BoolForm.BYTES),
        (1, 1, True, True, BoolForm.BYTES),
        (2, 0, False, True, BoolForm.BITS),
        (3, 0, True, True, BoolForm.BITS),
    ],
)
def test_bool_forms_at_byte_16(
    first: int, second: int, activate: bool, req_cert: bool, form: BoolForm
) -> None:
    block = parse(_sec_bytes(first, second))
    assert isinstance(block, TconIpV4Sec)
    assert (block.ActivateSecureConn, block.TLSServerReqClientCert) == (activate, req_cert)
    assert block.bool_form is form
    assert build(block) == _sec_bytes(first, second)


@pytest.mark.parametrize(("first", "second"), [(2, 1), (4, 0), (1, 2), (0xFF, 0), (3, 1)])
def test_other_bool_bytes_are_8089_unless_lenient(first: int, second: int) -> None:
    with pytest.raises(ParamError) as info:
        parse(_sec_bytes(first, second))
    assert (info.value.status, info.value.path) == (Status.CONNECT_INVALID, "ActivateSecureConn")
    assert isinstance(parse(_sec_bytes(first, second), strict=False), TconIpV4Sec)


def test_qdn_sec_bools_sit_at_272() -> None:
    qdn = TconQdnSec(TconQdn(64, 2, 11, False, "", 0, 2000), True, True, 0, 9, 0)
    data = build(qdn, BoolForm.BITS)
    assert data[272:274] == b"\x03\x00"
    assert parse(data).bool_form is BoolForm.BITS  # type: ignore[union-attr]
    assert build(qdn)[272:274] == b"\x01\x01"


def test_equality_ignores_the_bool_form() -> None:
    bits = TconIpV4Sec(SERVER_CONN, True, True, 0, 9, 3, BoolForm.BITS)
    assert bits == STANDARD_SERVER and hash(bits) == hash(STANDARD_SERVER)


def test_active_established_must_be_a_bool_byte() -> None:
    data = bytearray(build(SERVER_CONN))
    data[5] = 2
    with pytest.raises(ParamError) as info:
        parse(bytes(data))
    assert (info.value.status, info.value.path) == (Status.CONNECT_INVALID, "ActiveEstablished")
    lenient = parse(bytes(data), strict=False)
    assert isinstance(lenient, TconIpV4) and lenient.ActiveEstablished is False


@pytest.mark.parametrize(
    ("block", "offset", "path"),
    [
        (STANDARD_SERVER, 14, "Reserved[14..15]"),
        (SAMPLES["qdn_sec"], 270, "Reserved[266..271]"),
        (SAMPLES["iso_on_tcp"], 7, "Reserved[6..7]"),
    ],
)
def test_reserved_bytes_must_be_zero_unless_lenient(block: Block, offset: int, path: str) -> None:
    data = bytearray(build(block))
    data[offset] = 0x5A
    with pytest.raises(ParamError) as info:
        parse(bytes(data))
    assert (info.value.status, info.value.path) == (Status.CONNECT_INVALID, path)
    assert parse(bytes(data), strict=False) == block


def test_qdn_string_rules() -> None:
    block = EXPECTED["tcon_qdn_active"]
    good = build(block)
    stale = bytearray(good)
    stale[6 + 2 + 25] = ord("x")  # A stale character after the current length (20).
    with pytest.raises(ParamError) as info:
        parse(bytes(stale))
    assert info.value.path == "RemoteQDN"
    assert parse(bytes(stale), strict=False) == block
    other_max = bytearray(good)
    other_max[6] = 100
    with pytest.raises(ParamError):
        parse(bytes(other_max))
    too_long = bytearray(good)
    too_long[7] = 255
    for strict in (True, False):
        with pytest.raises(ParamError) as info:
            parse(bytes(too_long), strict=strict)
        assert (info.value.status, info.value.path) == (Status.CONNECT_INVALID, "RemoteQDN")


# --------------------------------------------------------------------------- the dataclasses


@pytest.mark.parametrize(
    ("make", "path", "status"),
    [
        (lambda: TconIpV4(64, 1, 11, False, "0.0.0.0", 70000, 0), "RemotePort", 0x8089),
        (lambda: TconIpV4(64, 1, 256, False, "0.0.0.0", 0, 0), "ConnectionType", 0x8089),
        (lambda: TconIpV4(64, 1, 11, 1, "0.0.0.0", 0, 0), "ActiveEstablished", 0x8089),  # type: ignore[arg-type]
        (lambda: TconIpV4(64, 1, 11, False, "1.2.3", 0, 0), "RemoteAddress", 0x80A4),
        (lambda: TconIpV4(-1, 1, 11, False, "0.0.0.0", 0, 0), "InterfaceId", 0x8089),
        (lambda: TconQdn(64, 1, 11, True, "a" * 255, 1, 0), "RemoteQDN", 0x8089),
        (lambda: TconQdn(64, 1, 11, True, "plc€.", 1, 0), "RemoteQDN", 0x8089),
        (lambda: TSelector(2, bytes(33)), "TSel", 0x8089),
        (lambda: TconIpV4Sec(SERVER_CONN, True, True, 0, 2**32, 0), "TLSServerCertRef", 0x8089),
        (
            lambda: TconIpV4Sec(TconQdn(0, 1, 11, False, "", 0, 1), True, False, 0, 1, 0),  # type: ignore[arg-type]
            "ConnPara",
            0x8089,
        ),
        (
            lambda: TconParam(64, 1, 17, False, 1, 2, 0, 0, 0, 0, local_tsap_id=bytes(17)),
            "local_tsap_id",
            0x8089,
        ),
    ],
)
def test_unrepresentable_values_are_refused_with_the_field(
    make: object, path: str, status: int
) -> None:
    with pytest.raises(ParamError) as info:
        make()  # type: ignore[operator]
    assert (info.value.path, info.value.status) == (path, status)


def test_addresses_and_arrays_are_kept_canonical() -> None:
    # Leading zeros are refused (they read as octal in some tools), never silently reinterpreted.
    with pytest.raises(ParamError) as info:
        TconIpV4(64, 1, 11, False, "192.168.000.002", 0, 2000)
    assert info.value.status == Status.REMOTE_ADDRESS_INVALID
    sel = TSelector(2, b"\xe0\x02")
    assert len(sel.TSel) == 32 and sel.value == b"\xe0\x02" and sel == TSelector.of(b"\xe0\x02")
    assert TSelector(40, b"x").value == b"x" + bytes(31)


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_block_answers_the_common_questions(name: str) -> None:
    block = SAMPLES[name]
    assert block.type_name in BLOCK_TYPES
    assert isinstance(block.role, Role)
    assert isinstance(block.secure, bool) and isinstance(block.conn_id, int)
    assert block.protocol in (Protocol.TCP, Protocol.ISO_ON_TCP)
    assert (block.remote_address is None) != (block.remote_qdn is None)


def test_common_questions_per_type() -> None:
    server, client = SAMPLES["standard_server"], SAMPLES["standard_client"]
    assert (server.role, server.secure, server.local_port) == (Role.PASSIVE, True, 2000)
    assert (client.role, client.remote_port, client.remote_address) == (
        Role.ACTIVE,
        2000,
        "192.168.0.1",
    )
    iso = SAMPLES["iso_on_tcp"]
    assert isinstance(iso, TconIpRfc)
    assert (iso.local_port, iso.remote_port, iso.secure) == (ISO_ON_TCP_PORT, 102, False)
    assert (iso.local_tsap, iso.remote_tsap) == (b"OUC-SRV", b"OUC-CLI")
    qdn = SAMPLES["qdn_sec"]
    assert (qdn.remote_qdn, qdn.remote_address, qdn.conn_id) == ("plc-1.plant.example.", None, 2)
    assert TconIpV4(64, 1, 12, False, "0.0.0.0", 0, 1).protocol is None
    assert TconIpV4(64, 1, 19, False, "0.0.0.0", 0, 1).protocol is Protocol.UDP
