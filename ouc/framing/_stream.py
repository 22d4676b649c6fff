"""TRCV_C receive framing on a plain byte stream (TCP, or TLS plaintext).

A TCP stream has no message boundaries, so TRCV_C makes its own (domain.md §4):

* ``ADHOC`` FALSE — :class:`FixedReceiver`: a receive completes when exactly ``LEN`` bytes have
  arrived, however TCP split them; the stream becomes a sequence of ``LEN``-byte frames.
* ``ADHOC`` TRUE — :class:`AdHocReceiver`: a receive completes with whatever arrived, at most
  ``LEN`` bytes (``RCVD_LEN`` says how many); more than ``LEN`` arrives as several receives.

This is the record path the benchmarks measure, so the receivers avoid per-byte work and
quadratic copies: while a frame is incomplete the arrived chunks are only referenced, and a
completed frame costs one ``join`` (or nothing at all when a chunk is exactly one frame, the
common case of a 258-byte echo). Frames are always immutable ``bytes``.
"""

from __future__ import annotations

from typing import Protocol

from ouc.errors import FramingError, Status

__all__ = ["AdHocReceiver", "FixedReceiver", "Receiver"]


class Receiver(Protocol):
    """What the connection needs from a stream receiver: bytes in, frames out."""

    def feed(self, data: bytes) -> list[bytes]:
        """Add bytes from the stream; return the frames they complete (maybe none)."""

    @property
    def buffered(self) -> int:
        """Bytes held back as the start of an incomplete frame."""


def _check_length(length: int, name: str) -> None:
    if length < 1:
        raise FramingError(
            f"receive length must be at least 1, got {length}", status=Status.LEN_INVALID, path=name
        )


class FixedReceiver:
    """``ADHOC`` FALSE: cut the stream into frames of exactly ``length`` bytes.

    Args:
        length: the LEN of TRCV_C (the DATA size when LEN is 0), at least 1.

    Raises:
        FramingError: 16#8085 when ``length`` is below 1.
    """

    __slots__ = ("_count", "_length", "_pending")

    def __init__(self, length: int) -> None:
        _check_length(length, "length")
        self._length = length
        # Chunks of the incomplete frame, kept by reference until the frame is complete.
        self._pending: list[bytes] = []
        self._count = 0

    @property
    def length(self) -> int:
        """The frame length (LEN)."""
        return self._length

    @property
    def buffered(self) -> int:
        """Bytes of the incomplete frame received so far."""
        return self._count

    def feed(self, data: bytes) -> list[bytes]:
        """Add stream bytes; return every frame they complete, in order."""
        if type(data) is not bytes:
            # A bytearray or memoryview could change under us once handed out as a frame.
            data = bytes(data)
        length = self._length
        if self._count:
            self._pending.append(data)
            self._count += len(data)
            if self._count < length:
                return []
            data = b"".join(self._pending)
            self._pending.clear()
            self._count = 0
        size = len(data)
        if size == length:
            return [data]
        if size < length:
            if size:
                self._pending.append(data)
                self._count = size
            return []
        end = size - size % length
        frames = [data[start : start + length] for start in range(0, end, length)]
        if end < size:
            self._pending.append(data[end:])
            self._count = size - end
        return frames


class AdHocReceiver:
    """``ADHOC`` TRUE: each arrival completes a receive, cut into pieces of at most ``max_len``.

    Nothing is ever held back, so :attr:`buffered` is always 0; it exists so the connection can
    treat both receivers alike.

    Args:
        max_len: the LEN of TRCV_C (the receive area), at least 1.

    Raises:
        FramingError: 16#8085 when ``max_len`` is below 1.
    """

    __slots__ = ("_max_len",)

    def __init__(self, max_len: int) -> None:
        _check_length(max_len, "max_len")
        self._max_len = max_len

    @property
    def max_len(self) -> int:
        """The largest piece one receive returns (LEN)."""
        return self._max_len

    #: Always 0: ad hoc receives never wait for more bytes. A class attribute rather than a
    #: property: the connection reads it after every chunk of the record path.
    buffered = 0

    def feed(self, data: bytes) -> list[bytes]:
        """Return what arrived, split into pieces of at most ``max_len`` bytes (none for b"")."""
        if type(data) is not bytes:
            data = bytes(data)
        size = len(data)
        limit = self._max_len
        if size <= limit:
            return [data] if size else []
        return [data[start : start + limit] for start in range(0, size, limit)]
