"""TRCV_C stream framing: fixed-length (ADHOC FALSE) and ad hoc (ADHOC TRUE) receivers."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ouc.errors import FramingError, Status
from ouc.framing import AdHocReceiver, FixedReceiver


def _split(data: bytes, cuts: list[int]) -> list[bytes]:
    """Cut ``data`` at the given offsets (any order, duplicates allowed: empty chunks)."""
    points = sorted(min(c, len(data)) for c in cuts)
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


def _feed_all(receiver: FixedReceiver | AdHocReceiver, chunks: list[bytes]) -> list[bytes]:
    frames: list[bytes] = []
    for chunk in chunks:
        frames.extend(receiver.feed(chunk))
    return frames


FRAME = bytes(range(256)) + b"\x01\x02"  # 258 bytes: the Send_Data block size


class TestFixedReceiver:
    def test_whole_frame_is_returned_without_copy(self) -> None:
        receiver = FixedReceiver(258)
        (frame,) = receiver.feed(FRAME)
        assert frame is FRAME
        assert receiver.buffered == 0

    def test_byte_by_byte(self) -> None:
        receiver = FixedReceiver(258)
        frames = _feed_all(receiver, [FRAME[i : i + 1] for i in range(len(FRAME))])
        assert frames == [FRAME]
        assert receiver.buffered == 0

    def test_several_frames_and_trailing_bytes_in_one_chunk(self) -> None:
        receiver = FixedReceiver(4)
        frames = receiver.feed(b"aaaabbbbcccc12")
        assert frames == [b"aaaa", b"bbbb", b"cccc"]
        assert receiver.buffered == 2
        assert receiver.feed(b"34dd") == [b"1234"]
        assert receiver.buffered == 2

    def test_partial_then_remainder_with_next_frames(self) -> None:
        receiver = FixedReceiver(3)
        assert receiver.feed(b"a") == []
        assert receiver.feed(b"") == []
        assert receiver.feed(b"bcdefg") == [b"abc", b"def"]
        assert receiver.buffered == 1

    def test_frames_are_bytes_even_from_mutable_buffers(self) -> None:
        receiver = FixedReceiver(2)
        source = bytearray(b"xyzw")
        frames = receiver.feed(memoryview(source)) + receiver.feed(source[:0])
        source[:] = b"0000"
        assert frames == [b"xy", b"zw"]
        assert all(type(frame) is bytes for frame in frames)

    @pytest.mark.parametrize("length", [0, -1])
    def test_length_below_one_is_8085(self, length: int) -> None:
        with pytest.raises(FramingError) as info:
            FixedReceiver(length)
        assert info.value.status == Status.LEN_INVALID

    @given(
        length=st.integers(1, 70),
        data=st.binary(max_size=600),
        cuts=st.lists(st.integers(0, 600), max_size=25),
    )
    def test_any_split_gives_the_reference_frames(
        self, length: int, data: bytes, cuts: list[int]
    ) -> None:
        receiver = FixedReceiver(length)
        frames = _feed_all(receiver, _split(data, cuts))
        whole = len(data) // length
        assert frames == [data[i * length : (i + 1) * length] for i in range(whole)]
        assert receiver.buffered == len(data) % length
        assert all(type(frame) is bytes for frame in frames)


class TestAdHocReceiver:
    def test_what_arrived_is_one_receive(self) -> None:
        receiver = AdHocReceiver(258)
        assert receiver.feed(b"Hello") == [b"Hello"]
        assert receiver.feed(b"") == []
        assert receiver.buffered == 0

    def test_more_than_len_arrives_in_pieces(self) -> None:
        receiver = AdHocReceiver(100)
        pieces = receiver.feed(bytes(250))
        assert [len(p) for p in pieces] == [100, 100, 50]

    def test_max_len_below_one_is_8085(self) -> None:
        with pytest.raises(FramingError) as info:
            AdHocReceiver(0)
        assert info.value.status == Status.LEN_INVALID

    @given(
        max_len=st.integers(1, 64),
        data=st.binary(max_size=400),
        cuts=st.lists(st.integers(0, 400), max_size=25),
    )
    def test_any_split_keeps_every_byte_in_order(
        self, max_len: int, data: bytes, cuts: list[int]
    ) -> None:
        receiver = AdHocReceiver(max_len)
        chunks = _split(data, cuts)
        for chunk in chunks:
            pieces = receiver.feed(chunk)
            # Each feed delivers exactly what arrived, cut only where LEN forces it.
            assert b"".join(pieces) == chunk
            assert all(1 <= len(p) <= max_len for p in pieces)
            assert len(pieces) == -(-len(chunk) // max_len)
        assert receiver.buffered == 0
