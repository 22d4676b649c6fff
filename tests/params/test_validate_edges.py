"""Edges of the validation rules that a single example per rule does not pin down: check()
passes every argument on, the error's summary counts the other findings, and each TSAP limit
is tested on both sides with the message that names it."""

from __future__ import annotations

import dataclasses

import pytest

from ouc.device import Device, Family
from ouc.errors import Status
from ouc.params import (
    SAMPLES,
    STANDARD_CLIENT,
    STANDARD_SERVER,
    TconIpRfc,
    TSelector,
    check,
    validate,
)
from ouc.params._validate import ParamCheckError

ISO = SAMPLES["iso_on_tcp"]
assert isinstance(ISO, TconIpRfc)
S7_1200 = Device(Family.S7_1200, (4, 5))
S7_1500 = Device(Family.S7_1500, (3, 1))


def _iso(tsap: bytes, *, active: bool = False) -> TconIpRfc:
    block = dataclasses.replace(ISO, LocalTSelector=TSelector.of(tsap))
    if active:
        block = dataclasses.replace(block, ActiveEstablished=True)
    return block


def _rules(block: object, device: Device = S7_1500) -> list[tuple[str, str]]:
    return [(f.rule, f.message) for f in validate(block, device=device)]  # type: ignore[arg-type]


# --- check() passes each argument on to validate() ----------------------------------------


def test_check_passes_the_block_id() -> None:
    with pytest.raises(ParamCheckError) as info:
        check(STANDARD_SERVER, block_id=2)
    assert info.value.status == Status.ID_MISMATCH


def test_check_passes_the_ports_in_use() -> None:
    with pytest.raises(ParamCheckError) as info:
        check(STANDARD_SERVER, ports_in_use=[2000])
    assert info.value.status == Status.LOCAL_PORT_IN_USE


def test_check_passes_the_device() -> None:
    high = dataclasses.replace(
        STANDARD_SERVER, ConnPara=dataclasses.replace(STANDARD_SERVER.ConnPara, LocalPort=60000)
    )
    check(high, device=S7_1500)  # 1..65535 from S7-1500 V3.0
    with pytest.raises(ParamCheckError) as info:
        check(high, device=S7_1200)  # 1..49151
    assert info.value.status == Status.LOCAL_PORT_SYSTEM


def test_check_passes_the_certificate_ids() -> None:
    check(STANDARD_CLIENT, cert_ids=[3, 11])
    with pytest.raises(ParamCheckError) as info:
        check(STANDARD_CLIENT, cert_ids=[11])
    assert info.value.status == Status.TLS_CERT_REF_UNKNOWN


def test_check_passes_the_name_resolver() -> None:
    qdn = SAMPLES["qdn_sec"]
    check(qdn, resolve_qdn=lambda name: "192.168.0.7")
    with pytest.raises(ParamCheckError) as info:
        check(qdn, resolve_qdn=lambda name: None)
    assert info.value.status == Status.QDN_UNRESOLVABLE


def test_check_error_counts_the_other_findings() -> None:
    with pytest.raises(ParamCheckError) as one:
        check(STANDARD_SERVER, block_id=2)
    assert len(one.value.findings) == 1
    assert "more)" not in one.value.message
    assert one.value.message == one.value.findings[0].message
    with pytest.raises(ParamCheckError) as two:
        check(STANDARD_SERVER, block_id=2, ports_in_use=[2000])
    assert len(two.value.findings) == 2
    assert two.value.message == two.value.findings[0].message + " (and 1 more)"


# --- The local TSAP ---------------------------------------------------------------------


def test_two_byte_tsap_message_names_its_first_byte() -> None:
    [(rule, message)] = _rules(_iso(b"\x01\xe0"))
    assert rule == "tsap_invalid"
    assert message.endswith("it starts with 16#01.")


def test_simatic_tsap_message() -> None:
    [(rule, message)] = _rules(_iso(b"SIMATIC-ROOT"))
    assert rule == "tsap_invalid"
    assert message == (
        "A local TSAP starting with 'SIMATIC-' is reserved for the CPU's own S7 connections."
    )


@pytest.mark.parametrize("length", [2, 16])
def test_tsap_id_of_2_to_16_bytes_is_valid(length: int) -> None:
    assert _rules(_iso(b"\xe0" + bytes(range(1, length)))) == []


def test_tsap_id_of_17_bytes_is_refused() -> None:
    [(rule, message)] = _rules(_iso(b"\xe0" + bytes(range(1, 17))))
    assert rule == "tsap_structure"
    assert message == (
        "The local TSAP is a TSAP-ID (first byte 16#E0) of 17 bytes; a TSAP-ID has 2-16 bytes."
    )


@pytest.mark.parametrize(("byte", "ok"), [(0x20, True), (0x7E, True), (0x1F, False), (0x7F, False)])
def test_s7_1200_passive_ascii_tsap_is_printable(byte: int, ok: bool) -> None:
    findings = _rules(_iso(b"PL" + bytes([byte])), S7_1200)
    if ok:
        assert findings == []
    else:
        [(rule, message)] = findings
        assert rule == "tsap_structure"
        assert message == (
            "The local TSAP does not start with 16#E0, so it is an ASCII TSAP, which on an "
            "S7-1200's passive side may hold only 16#20-16#7E characters; byte 3 is "
            f"16#{byte:02X}."
        )


@pytest.mark.parametrize(("byte", "ok"), [(0x00, True), (0x7F, True), (0x80, False)])
def test_other_ascii_tsaps_are_ascii(byte: int, ok: bool) -> None:
    for block, device in (
        (_iso(b"PL" + bytes([byte])), S7_1500),
        (_iso(b"PL" + bytes([byte]), active=True), S7_1200),
    ):
        findings = _rules(block, device)
        if ok:
            assert findings == []
        else:
            [(rule, message)] = findings
            assert rule == "tsap_structure"
            assert message == (
                "The local TSAP does not start with 16#E0, so it is an ASCII TSAP, which may "
                f"hold only ASCII characters; byte 3 is 16#{byte:02X}."
            )
