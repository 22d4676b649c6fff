"""to_dict/from_dict/dump_json/load and the decode table."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings

from ouc.errors import ConfigError, ParamError, Status
from ouc.params import (
    SAMPLES,
    STANDARD_CLIENT,
    STANDARD_SERVER,
    Block,
    BoolForm,
    TconIpRfc,
    TconIpV4,
    TconIpV4Sec,
    TconParam,
    TSelector,
    build,
    describe,
    dump_json,
    from_dict,
    load,
    to_dict,
)
from ouc.strategies import valid_blocks

SERVER_DICT = {
    "type": "TCON_IP_V4_SEC",
    "ConnPara": {
        "InterfaceId": 64,
        "ID": 1,
        "ConnectionType": 11,
        "ActiveEstablished": False,
        "RemoteAddress": "192.168.0.2",
        "RemotePort": 0,
        "LocalPort": 2000,
    },
    "ActivateSecureConn": True,
    "TLSServerReqClientCert": True,
    "ExtTLSCapabilities": "16#0000",
    "TLSServerCertRef": 9,
    "TLSClientCertRef": 3,
}


def _server(**changes: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(SERVER_DICT))
    conn = changes.pop("ConnPara", {})
    data["ConnPara"].update(conn)
    data.update(changes)
    return data


def test_to_dict_is_the_tia_view() -> None:
    assert to_dict(STANDARD_SERVER) == SERVER_DICT
    assert from_dict(SERVER_DICT) == STANDARD_SERVER


@settings(max_examples=150)
@given(valid_blocks())
def test_dict_and_json_round_trip(block: Block) -> None:
    assert from_dict(to_dict(block)) == block
    assert from_dict(json.loads(dump_json(block))) == block
    again = from_dict(to_dict(block))
    assert getattr(again, "bool_form", None) == getattr(block, "bool_form", None)


def test_bits_form_is_kept_and_only_written_when_used() -> None:
    bits = TconIpV4Sec(STANDARD_SERVER.ConnPara, True, True, 0, 9, 3, BoolForm.BITS)
    data = to_dict(bits)
    assert data["bool_form"] == "BITS" and "bool_form" not in to_dict(STANDARD_SERVER)
    assert from_dict(data).bool_form is BoolForm.BITS  # type: ignore[union-attr]


@pytest.mark.parametrize("word", [0, "16#0", "16#0000", "W#16#0", "0x0", "0", " 16#0 "])
def test_words_and_ints_are_accepted_in_every_tia_spelling(word: object) -> None:
    assert from_dict(_server(ExtTLSCapabilities=word)) == STANDARD_SERVER


def test_other_lenient_spellings() -> None:
    data = _server(
        ConnPara={
            "InterfaceId": "16#40",
            "ActiveEstablished": "FALSE",
            "RemoteAddress": [192, 168, 0, 2],
        },
        ActivateSecureConn="true",
        TLSServerReqClientCert=1,
        type="tcon_ip_v4_sec",
    )
    assert from_dict(data) == STANDARD_SERVER
    rfc = to_dict(SAMPLES["iso_on_tcp"])
    rfc["LocalTSelector"]["TSel"] = "4F 55 43 2D 53 52 56"
    rfc["RemoteTSelector"]["TSel"] = ["16#4F", 0x55, 0x43, 0x2D, 0x43, 0x4C, 0x49]
    assert from_dict(rfc) == SAMPLES["iso_on_tcp"]


@pytest.mark.parametrize(
    ("data", "path", "status"),
    [
        (_server(ConnPara={"RemotePort": 70000}), "ConnPara.RemotePort", 0x8089),
        (_server(ConnPara={"RemotePort": "two thousand"}), "ConnPara.RemotePort", 0x8089),
        (_server(ConnPara={"RemoteAddress": "192.168.0.256"}), "ConnPara.RemoteAddress", 0x80A4),
        (_server(ConnPara={"Remoteport": 1}), "ConnPara.Remoteport", 0x8089),
        (_server(ActivateSecureConn="yes"), "ActivateSecureConn", 0x8089),
        (_server(TLSServerCertRef=True), "TLSServerCertRef", 0x8089),
        ({**SERVER_DICT, "ConnPara": [1, 2]}, "ConnPara", 0x8089),
        (_server(type="TCON_IP_V6"), "type", 0x809A),
        (_server(bool_form="NIBBLES"), "bool_form", 0x8089),
        ({**to_dict(STANDARD_SERVER.ConnPara), "bool_form": "BITS"}, "bool_form", 0x8089),
        ({"ConnPara": {}}, "type", 0x8089),
    ],
)
def test_bad_dicts_name_the_field(data: dict[str, Any], path: str, status: int) -> None:
    with pytest.raises(ParamError) as info:
        from_dict(data)
    assert (info.value.path, info.value.status) == (path, status)


def test_missing_field_is_an_error_not_a_default() -> None:
    data = _server()
    del data["ConnPara"]["LocalPort"]
    with pytest.raises(ParamError) as info:
        from_dict(data)
    assert info.value.path == "ConnPara.LocalPort" and "missing" in info.value.message


def test_bad_array_items_name_their_index() -> None:
    rfc = to_dict(SAMPLES["iso_on_tcp"])
    rfc["LocalTSelector"]["TSel"] = [1, 2, 300]
    with pytest.raises(ParamError) as info:
        from_dict(rfc)
    assert info.value.path == "LocalTSelector.TSel[3]"
    rfc["LocalTSelector"]["TSel"] = "zz"
    with pytest.raises(ParamError):
        from_dict(rfc)


def test_from_dict_refuses_what_is_not_an_object() -> None:
    with pytest.raises(ParamError):
        from_dict([1, 2])  # type: ignore[arg-type]


def test_legacy_block_dict() -> None:
    legacy = TconParam(64, 2, 17, False, 1, 2, 0, 0, 0, 0, local_tsap_id=b"\x07\xd0")
    data = to_dict(legacy)
    assert data["block_length"] == "16#0040" and data["local_tsap_id"][:2] == [7, 0xD0]
    assert len(data["local_tsap_id"]) == 16
    assert from_dict(data) == legacy


def test_dump_json_is_indented_text_with_a_final_newline() -> None:
    text = dump_json(STANDARD_CLIENT)
    assert text.endswith("}\n") and '\n  "ConnPara": {' in text
    assert json.loads(text) == to_dict(STANDARD_CLIENT)


# --------------------------------------------------------------------------- files


def test_load_json_binary_and_bom(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(dump_json(STANDARD_SERVER))
    (tmp_path / "b.bin").write_bytes(build(STANDARD_SERVER))
    (tmp_path / "c.json").write_bytes(b"\xef\xbb\xbf  " + dump_json(STANDARD_SERVER).encode())
    for name in ("a.json", "b.bin", "c.json"):
        assert load(tmp_path / name) == STANDARD_SERVER
    assert load(str(tmp_path / "b.bin"), "TCON_IP_V4_SEC") == STANDARD_SERVER


def test_binary_starting_with_a_brace_is_still_binary(tmp_path: Path) -> None:
    block = TconIpV4(0x7B20, 1, 11, False, "0.0.0.0", 0, 2000)  # Bytes begin "{ ".
    (tmp_path / "x.bin").write_bytes(build(block))
    assert load(tmp_path / "x.bin") == block


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(_server(ConnPara={"RemotePort": -1})))
    with pytest.raises(ParamError) as info:
        load(bad)
    assert info.value.path == f"{bad}: ConnPara.RemotePort"
    assert str(bad) in str(info.value)

    broken = tmp_path / "broken.json"
    broken.write_text('{"type": "TCON_IP_V4_SEC",')
    with pytest.raises(ParamError) as info:
        load(broken)
    assert info.value.path == f"{broken}: line 1, column 27" and "JSON" in info.value.message
    assert info.value.status == Status.CONNECT_INVALID

    short = tmp_path / "short.bin"
    short.write_bytes(bytes(20))
    with pytest.raises(ParamError) as info:
        load(short)
    assert (info.value.path, info.value.status) == (str(short), Status.CONNECT_LENGTH)

    with pytest.raises(ConfigError) as config:
        load(tmp_path / "missing.json")
    assert config.value.path == str(tmp_path / "missing.json")
    with pytest.raises(ConfigError):
        load(tmp_path)  # A directory.


def test_load_with_a_type_that_does_not_match_the_json(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(dump_json(STANDARD_SERVER))
    with pytest.raises(ParamError) as info:
        load(tmp_path / "a.json", "TCON_QDN_SEC")
    assert info.value.status == Status.CONNECT_LENGTH and "holds a TCON_IP_V4_SEC" in str(
        info.value
    )


# --------------------------------------------------------------------------- decode table


def test_describe_lists_offsets_types_and_values() -> None:
    rows = {r.path: r for r in describe(STANDARD_SERVER)}
    assert (rows["ConnPara.RemotePort"].offset, rows["ConnPara.RemotePort"].value) == ("10.0", "0")
    assert rows["ConnPara"].value == "" and rows["ConnPara"].tia_type == "TCON_IP_v4"
    assert (
        rows["ActivateSecureConn"].offset == "16.0" and rows["ActivateSecureConn"].value == "TRUE"
    )
    assert rows["TLSServerReqClientCert"].offset == "17.0"
    assert rows["ExtTLSCapabilities"].value == "16#0000"
    assert rows["Reserved"].value == "2 × 00"
    bits = {r.path: r for r in describe(STANDARD_SERVER, BoolForm.BITS)}
    assert bits["TLSServerReqClientCert"].offset == "16.1"


def test_describe_covers_every_byte_once() -> None:
    for block in SAMPLES.values():
        leaves = [r for r in describe(block) if r.value != "" or r.tia_type == "String[254]"]
        covered = sum(
            1 for r in describe(block) if r.tia_type not in ("TCON_IP_v4", "TCON_QDN", "TSelector")
        )
        assert covered == len(leaves)
    rows = {r.path: r for r in describe(SAMPLES["qdn_sec"])}
    assert rows["ConnPara.RemoteQDN"].value == "'plc-1.plant.example.'"
    assert rows["ActivateSecureConn"].offset == "272.0"


def test_describe_shows_arrays_as_hex_with_ascii() -> None:
    rfc = TconIpRfc(64, 3, 12, True, "10.0.0.1", TSelector.of(b"\xe0\x02"), TSelector.of("TCP-1"))
    rows = {r.path: r for r in describe(rfc)}
    assert rows["RemoteTSelector.TSel"].value == "E0 02 (+30 × 00)"
    assert rows["LocalTSelector.TSel"].value == "54 43 50 2D 31 (+27 × 00)  'TCP-1'"
