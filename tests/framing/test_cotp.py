"""TPKT/COTP packet codecs: golden vectors, the round-trip triple, malformed input."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ouc.errors import FramingError
from ouc.framing import (
    MALFORMED,
    TPDU_SIZES,
    ConnectionConfirm,
    ConnectionRequest,
    DataTPDU,
    DisconnectRequest,
    ErrorTPDU,
    Tpdu,
    decode_packet,
)

VECTORS = Path(__file__).parent / "vectors" / "iso_on_tcp.txt"


def _load_vectors() -> dict[str, bytes]:
    vectors: dict[str, bytes] = {}
    for line in VECTORS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, hex_text = line.split(":", 1)
            vectors[name.strip()] = bytes.fromhex(hex_text)
    return vectors


GOLDEN: dict[str, Tpdu] = {
    "cr_s7": ConnectionRequest(
        calling_tsap=b"\x01\x00", called_tsap=b"\x01\x02", tpdu_size=1024, src_ref=1
    ),
    "cc_s7": ConnectionConfirm(
        calling_tsap=b"\x01\x00", called_tsap=b"\x01\x02", tpdu_size=1024, src_ref=1, dst_ref=1
    ),
    "cr_ascii_called": ConnectionRequest(called_tsap=b"ABC", src_ref=7),
    "dr_tsap": DisconnectRequest(dst_ref=1, src_ref=1, reason=0x02),
    "dt_hello": DataTPDU(b"Hello", eot=True),
    "dt_more": DataTPDU(b"A", eot=False),
    "er_cause3": ErrorTPDU(dst_ref=1, cause=3),
}


def test_every_vector_has_an_expected_object() -> None:
    assert set(_load_vectors()) == set(GOLDEN)


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_round_trip_triple(name: str) -> None:
    wire = _load_vectors()[name]
    expected = GOLDEN[name]
    assert decode_packet(wire) == (expected, len(wire))
    assert expected.encode() == wire
    assert expected.size == len(wire)
    # Trailing bytes (the next packet) are left alone.
    assert decode_packet(wire + b"\x03\x00\x00") == (expected, len(wire))


@pytest.mark.parametrize("name", sorted(GOLDEN))
def test_golden_truncated_is_malformed(name: str) -> None:
    wire = _load_vectors()[name]
    for cut in range(len(wire)):
        with pytest.raises(FramingError) as info:
            decode_packet(wire[:cut])
        assert info.value.status == MALFORMED


def test_parameter_order_is_accepted_and_canonicalised() -> None:
    # C2, C1, C0 instead of C0, C1, C2 (some stacks send this order).
    wire = bytes.fromhex("03000016 11 E0 0000 0001 00 C2020102 C1020100 C0010A")
    tpdu, size = decode_packet(wire)
    assert size == len(wire)
    assert tpdu == GOLDEN["cr_s7"]
    assert tpdu.encode() == _load_vectors()["cr_s7"]


def test_negotiated_size_defaults_to_128() -> None:
    assert ConnectionRequest(called_tsap=b"AB").negotiated_size == 128
    assert ConnectionRequest(tpdu_size=2048).negotiated_size == 2048


@pytest.mark.parametrize(
    ("hex_text", "words"),
    [
        ("04000007 02F080", "expected 03 00"),  # TPKT version 4
        ("03010007 02F080", "expected 03 00"),  # reserved byte set
        ("03000006 02F0", "below the minimum"),  # TPKT length 6
        ("03000008 00F08041", "length indicator"),  # LI 0
        ("03000008 09F08041", "length indicator"),  # LI beyond the TPDU
        ("03000008 03F08041", "length indicator 2"),  # DT with LI 3
        ("0300000C 06E00000000100 41", "user data"),  # CR with user data
        ("0300000E 09E00000000100C00106", "07..0D"),  # TPDU size code 06 (64 bytes)
        ("03000011 0CE00000000100C0010AC0010A", "twice"),  # C0 twice
        ("0300000D 08E00000000100C105", "runs past"),  # parameter longer than the header
        ("0300000C 07E00000000100C1", "cut off"),  # parameter code without a length
        ("03000007 02A080", "unknown COTP"),  # unknown TPDU code (LI 2)
        ("0300000A 05800000 0001", "DR header"),  # DR too short
        ("03000008 0370 0001", "ER header"),  # ER too short
        ("03000005 02", "too few|below the minimum"),
    ],
)
def test_malformed_packets(hex_text: str, words: str) -> None:
    with pytest.raises(FramingError, match=words) as info:
        decode_packet(bytes.fromhex(hex_text))
    assert info.value.status == MALFORMED


@pytest.mark.parametrize(
    ("factory", "path"),
    [
        (lambda: ConnectionRequest(tpdu_size=1000), "tpdu_size"),
        (lambda: ConnectionRequest(src_ref=70000), "src_ref"),
        (lambda: ConnectionConfirm(class_option=256), "class_option"),
        (lambda: ConnectionRequest(extra=((0xC1, b"x"),)), "extra"),
        (lambda: ConnectionRequest(called_tsap=bytes(256)), "params length"),
        (lambda: ConnectionRequest(extra=tuple((0x10 + i, bytes(60)) for i in range(5))), "extra"),
        (lambda: DisconnectRequest(reason=300), "reason"),
        (lambda: ErrorTPDU(cause=-1), "cause"),
        (lambda: DataTPDU(nr=128), "nr"),
        (lambda: DataTPDU(bytes(65529)), "data length"),
    ],
)
def test_objects_that_cannot_be_encoded_are_refused(factory: object, path: str) -> None:
    with pytest.raises(FramingError) as info:
        factory()  # type: ignore[operator]
    assert info.value.path == path


# -- hypothesis: every TPDU object survives encode → decode ------------------------------------

_u16 = st.integers(0, 0xFFFF)
_tsap = st.one_of(st.none(), st.binary(max_size=32))
_extra = st.lists(
    st.tuples(
        st.integers(0, 0xFF).filter(lambda c: c not in (0xC0, 0xC1, 0xC2)), st.binary(max_size=16)
    ),
    max_size=3,
).map(tuple)


def _connects(cls: type[ConnectionRequest] | type[ConnectionConfirm]) -> st.SearchStrategy[Tpdu]:
    return st.builds(
        cls,
        calling_tsap=_tsap,
        called_tsap=_tsap,
        tpdu_size=st.one_of(st.none(), st.sampled_from(sorted(TPDU_SIZES))),
        src_ref=_u16,
        dst_ref=_u16,
        class_option=st.integers(0, 0xFF),
        extra=_extra,
    )


TPDUS: st.SearchStrategy[Tpdu] = st.one_of(
    _connects(ConnectionRequest),
    _connects(ConnectionConfirm),
    st.builds(DisconnectRequest, _u16, _u16, st.integers(0, 0xFF), _extra),
    st.builds(ErrorTPDU, _u16, st.integers(0, 0xFF), _extra),
    st.builds(DataTPDU, st.binary(max_size=300), st.booleans(), st.integers(0, 0x7F)),
)


@given(tpdu=TPDUS, trailing=st.binary(max_size=8))
def test_round_trip_property(tpdu: Tpdu, trailing: bytes) -> None:
    wire = tpdu.encode()
    assert len(wire) == tpdu.size
    assert decode_packet(wire) == (tpdu, len(wire))
    assert decode_packet(wire + trailing) == (tpdu, len(wire))


@given(data=st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_framing_error(data: bytes) -> None:
    try:
        tpdu, used = decode_packet(data)
    except FramingError as exc:
        assert exc.status == MALFORMED
    else:
        assert 7 <= used <= len(data)
        assert decode_packet(tpdu.encode())[0] == tpdu


@given(tpdu=TPDUS, position=st.integers(0, 400), value=st.integers(0, 0xFF))
def test_mutated_packets_decode_or_raise_framing_error(
    tpdu: Tpdu, position: int, value: int
) -> None:
    wire = bytearray(tpdu.encode())
    wire[position % len(wire)] = value
    try:
        decoded, used = decode_packet(bytes(wire))
    except FramingError as exc:
        assert exc.status == MALFORMED
    else:
        assert used <= len(wire)
        assert decode_packet(decoded.encode())[0] == decoded
