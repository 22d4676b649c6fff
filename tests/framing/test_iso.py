"""ISO-on-TCP streams: TPDU decoder, message assembler, message encoder."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ouc.errors import FramingError, Status
from ouc.framing import (
    MALFORMED,
    TPDU_SIZES,
    ConnectionConfirm,
    ConnectionRequest,
    DataTPDU,
    DisconnectRequest,
    MessageAssembler,
    Tpdu,
    TpduDecoder,
    encode_message,
    encoded_message_size,
)

STREAM_TPDUS: list[Tpdu] = [
    ConnectionRequest(calling_tsap=b"\x01\x00", called_tsap=b"TCP-1", tpdu_size=512, src_ref=3),
    ConnectionConfirm(calling_tsap=b"\x01\x00", called_tsap=b"TCP-1", tpdu_size=512, dst_ref=3),
    DataTPDU(b"first ", eot=False),
    DataTPDU(b"message", eot=True),
    DataTPDU(b"", eot=True),
    DisconnectRequest(reason=0x80),
]
STREAM = b"".join(t.encode() for t in STREAM_TPDUS)


def _decode_chunks(chunks: list[bytes]) -> tuple[list[Tpdu], TpduDecoder]:
    decoder = TpduDecoder()
    tpdus: list[Tpdu] = []
    for chunk in chunks:
        tpdus.extend(decoder.decode(chunk))
    return tpdus, decoder


class TestTpduDecoder:
    def test_whole(self) -> None:
        tpdus, decoder = _decode_chunks([STREAM])
        assert tpdus == STREAM_TPDUS
        assert decoder.buffered == 0

    def test_byte_by_byte(self) -> None:
        tpdus, decoder = _decode_chunks([STREAM[i : i + 1] for i in range(len(STREAM))])
        assert tpdus == STREAM_TPDUS
        assert decoder.buffered == 0

    def test_trailing_partial_packet_stays_buffered(self) -> None:
        tail = DataTPDU(b"next").encode()
        tpdus, decoder = _decode_chunks([STREAM + tail[:5]])
        assert tpdus == STREAM_TPDUS
        assert decoder.buffered == 5
        assert decoder.decode(tail[5:]) == [DataTPDU(b"next")]

    @given(cuts=st.lists(st.integers(0, len(STREAM)), max_size=20))
    def test_random_splits(self, cuts: list[int]) -> None:
        edges = [0, *sorted(cuts), len(STREAM)]
        chunks = [STREAM[a:b] for a, b in itertools.pairwise(edges)]
        tpdus, decoder = _decode_chunks(chunks)
        assert tpdus == STREAM_TPDUS
        assert decoder.buffered == 0

    def test_good_tpdus_before_garbage_come_first_then_the_error_sticks(self) -> None:
        decoder = TpduDecoder()
        decoder.feed(DataTPDU(b"ok").encode() + b"\x05\x00\x00\x07\x02\xf0\x80")
        assert decoder.next_tpdu() == DataTPDU(b"ok")
        with pytest.raises(FramingError) as first:
            decoder.next_tpdu()
        assert first.value.status == MALFORMED
        decoder.feed(DataTPDU(b"later").encode())
        with pytest.raises(FramingError) as again:
            decoder.next_tpdu()
        assert again.value is first.value

    @given(data=st.binary(max_size=200), cuts=st.lists(st.integers(0, 200), max_size=8))
    def test_garbage_gives_tpdus_or_framing_error(self, data: bytes, cuts: list[int]) -> None:
        edges = [0, *sorted(min(c, len(data)) for c in cuts), len(data)]
        decoder = TpduDecoder()
        try:
            for a, b in itertools.pairwise(edges):
                decoder.decode(data[a:b])
        except FramingError as exc:
            assert exc.status == MALFORMED


class TestMessageAssembler:
    def test_single_tpdu_message_is_returned_as_is(self) -> None:
        data = b"payload"
        assert MessageAssembler(10).add(data, True) is data

    def test_pieces_until_eot(self) -> None:
        assembler = MessageAssembler(10)
        assert assembler.add(b"abc", False) is None
        assert assembler.buffered == 3
        assert assembler.add(b"def", False) is None
        assert assembler.add(b"g", True) == b"abcdefg"
        assert assembler.buffered == 0

    def test_empty_message(self) -> None:
        assert MessageAssembler(0).add(b"", True) == b""

    def test_exactly_the_receive_area_fits(self) -> None:
        assembler = MessageAssembler(6)
        assert assembler.add(b"abc", False) is None
        assert assembler.add(b"def", True) == b"abcdef"

    def test_too_large_single_tpdu_is_8088(self) -> None:
        assembler = MessageAssembler(4)
        with pytest.raises(FramingError) as info:
            assembler.add(b"12345", True)
        assert info.value.status == Status.RECEIVE_AREA_TOO_SMALL
        assert assembler.add(b"ok", True) == b"ok"

    def test_too_large_message_is_8088_once_and_discarded_to_its_eot(self) -> None:
        assembler = MessageAssembler(4)
        assert assembler.add(b"123", False) is None
        with pytest.raises(FramingError) as info:
            assembler.add(b"456", False)
        assert info.value.status == Status.RECEIVE_AREA_TOO_SMALL
        assert "6 bytes" in info.value.message
        assert assembler.add(b"789", False) is None  # still the oversized message: dropped
        assert assembler.add(b"0", True) is None  # its end
        assert assembler.buffered == 0
        assert assembler.add(b"next", True) == b"next"

    def test_negative_area_is_8085(self) -> None:
        with pytest.raises(FramingError) as info:
            MessageAssembler(-1)
        assert info.value.status == Status.LEN_INVALID


class TestEncodeMessage:
    def test_small_message_is_one_dt_with_eot(self) -> None:
        assert encode_message(b"Hello", 1024) == bytes.fromhex("0300000C02F080") + b"Hello"

    def test_empty_message_is_one_empty_dt(self) -> None:
        assert encode_message(b"", 128) == bytes.fromhex("0300000702F080")

    def test_split_by_tpdu_size(self) -> None:
        message = bytes(range(256)) * 4  # 1024 bytes
        wire = encode_message(message, 512)
        tpdus, _ = _decode_chunks([wire])
        # TPDU size counts the 3-byte DT header: 509 data bytes per TPDU.
        assert [len(t.data) for t in tpdus if isinstance(t, DataTPDU)] == [509, 509, 6]
        assert [t.eot for t in tpdus if isinstance(t, DataTPDU)] == [False, False, True]
        assert all(t.size - 4 <= 512 for t in tpdus)

    def test_bad_tpdu_size(self) -> None:
        with pytest.raises(FramingError):
            encode_message(b"x", 100)
        with pytest.raises(FramingError):
            encoded_message_size(1, 4096 + 1)

    @given(
        message=st.binary(max_size=3000),
        tpdu_size=st.sampled_from(sorted(TPDU_SIZES)),
        cuts=st.lists(st.integers(0, 3500), max_size=10),
    )
    def test_round_trip_through_decoder_and_assembler(
        self, message: bytes, tpdu_size: int, cuts: list[int]
    ) -> None:
        wire = encode_message(message, tpdu_size)
        assert len(wire) == encoded_message_size(len(message), tpdu_size)
        edges = [0, *sorted(min(c, len(wire)) for c in cuts), len(wire)]
        tpdus, decoder = _decode_chunks([wire[a:b] for a, b in itertools.pairwise(edges)])
        assembler = MessageAssembler(len(message))
        results = [assembler.add(t.data, t.eot) for t in tpdus if isinstance(t, DataTPDU)]
        assert results[-1] == message
        assert all(r is None for r in results[:-1])
        assert decoder.buffered == 0
