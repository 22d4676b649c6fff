"""ISO-on-TCP streams: TPDUs out of a TCP byte stream, messages out of DT TPDUs, and back.

* :class:`TpduDecoder` — feed any split of the stream, pull whole TPDUs in order; a malformed
  packet raises :class:`~ouc.errors.FramingError` (16#80C6) exactly where it stands, after every
  good TPDU before it was handed out.
* :class:`MessageAssembler` — DT TPDUs until the one with EOT make one message (one TSEND_C);
  a message larger than the receive area is 16#8088 and is discarded up to its EOT, so the next
  message is received normally (that is what TRCV_C does: the job fails, the connection stays).
* :func:`encode_message` — one message as DT packets cut to the negotiated TPDU size.
"""

from __future__ import annotations

from ouc.errors import FramingError, Status
from ouc.framing._cotp import (
    DT_HEADER,
    DT_HEADER_LEN,
    TPDU_SIZES,
    TPKT_HEADER_LEN,
    Tpdu,
    check_tpkt_header,
    parse_cotp,
)

__all__ = ["MessageAssembler", "TpduDecoder", "encode_message", "encoded_message_size"]

_EOT = 0x80


class TpduDecoder:
    """Cut a TCP byte stream into TPKT packets and decode their COTP TPDUs.

    Use: ``feed(data)`` with whatever arrived, then call :meth:`next_tpdu` until it returns
    None (more bytes needed). After a FramingError the decoder stays broken and raises the same
    error again: there is no way to find the next packet boundary in a corrupted stream.
    """

    __slots__ = ("_buf", "_error", "_pos")

    def __init__(self) -> None:
        self._buf = bytearray()
        self._pos = 0
        self._error: FramingError | None = None

    @property
    def buffered(self) -> int:
        """Bytes received but not yet returned as a TPDU."""
        return len(self._buf) - self._pos

    def feed(self, data: bytes) -> None:
        """Add bytes from the stream (any split)."""
        if self._pos:
            # Compact once per feed, so a burst of small packets stays linear.
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def next_tpdu(self) -> Tpdu | None:
        """The next whole TPDU, or None when more bytes are needed.

        Raises:
            FramingError: 16#80C6 for a malformed packet (and on every later call).
        """
        if self._error is not None:
            raise self._error
        buf, pos = self._buf, self._pos
        if len(buf) - pos < TPKT_HEADER_LEN:
            return None
        length = (buf[pos + 2] << 8) | buf[pos + 3]
        try:
            check_tpkt_header(buf[pos], buf[pos + 1], length)
            if len(buf) - pos < length:
                return None
            tpdu = parse_cotp(bytes(buf[pos + TPKT_HEADER_LEN : pos + length]))
        except FramingError as exc:
            self._error = exc
            self._buf.clear()
            self._pos = 0
            raise
        self._pos = pos + length
        return tpdu

    def decode(self, data: bytes) -> list[Tpdu]:
        """Feed ``data`` and return every TPDU now complete (a convenience over the two verbs)."""
        self.feed(data)
        tpdus: list[Tpdu] = []
        while (tpdu := self.next_tpdu()) is not None:
            tpdus.append(tpdu)
        return tpdus


class MessageAssembler:
    """Join DT TPDUs into messages (TSDUs) of at most ``max_len`` bytes.

    Args:
        max_len: the receive area (TRCV_C LEN); a longer message is 16#8088.
    """

    __slots__ = ("_discarding", "_max_len", "_parts", "_size")

    def __init__(self, max_len: int) -> None:
        if max_len < 0:
            raise FramingError(
                f"receive area {max_len} is negative", status=Status.LEN_INVALID, path="max_len"
            )
        self._max_len = max_len
        self._parts: list[bytes] = []
        self._size = 0
        self._discarding = False

    @property
    def buffered(self) -> int:
        """Bytes of the incomplete message received so far."""
        return self._size

    def add(self, data: bytes, eot: bool) -> bytes | None:
        """Add one DT TPDU's data; return the message when ``eot`` completes it.

        Raises:
            FramingError: 16#8088 the moment the message outgrows the receive area. The rest
                of that message is dropped silently up to its EOT.
        """
        if self._discarding:
            self._discarding = not eot
            return None
        if eot and not self._parts:
            # The common case: a whole message in one TPDU, no copy.
            if len(data) > self._max_len:
                raise self._too_large(len(data))
            return data
        self._size += len(data)
        if self._size > self._max_len:
            size = self._size
            self._parts.clear()
            self._size = 0
            self._discarding = not eot
            raise self._too_large(size)
        self._parts.append(data)
        if not eot:
            return None
        message = b"".join(self._parts)
        self._parts.clear()
        self._size = 0
        return message

    def _too_large(self, size: int) -> FramingError:
        more = "" if not self._discarding else " (and more to come)"
        return FramingError(
            f"ISO-on-TCP message of {size} bytes{more} does not fit the "
            f"{self._max_len}-byte receive area",
            status=Status.RECEIVE_AREA_TOO_SMALL,
        )


def _check_tpdu_size(tpdu_size: int) -> None:
    if tpdu_size not in TPDU_SIZES:
        raise FramingError(
            f"TPDU size {tpdu_size} is not a power of two in 128..8192", path="tpdu_size"
        )


def encoded_message_size(length: int, tpdu_size: int) -> int:
    """Bytes :func:`encode_message` produces for a ``length``-byte message."""
    _check_tpdu_size(tpdu_size)
    chunk = tpdu_size - 3
    packets = max(1, -(-length // chunk))
    return length + packets * DT_HEADER_LEN


def encode_message(data: bytes, tpdu_size: int) -> bytes:
    """Encode one message as DT packets whose TPDUs are at most ``tpdu_size`` bytes.

    The TPDU size counts the 3-byte COTP DT header, not the 4-byte TPKT header. An empty message
    is one DT with EOT and no data.

    Raises:
        FramingError: when ``tpdu_size`` is not one class 0 can negotiate.
    """
    _check_tpdu_size(tpdu_size)
    chunk = tpdu_size - 3
    size = len(data)
    if size <= chunk:
        return DT_HEADER.pack(3, 0, size + DT_HEADER_LEN, 2, 0xF0, _EOT) + data
    view = memoryview(data)
    parts: list[bytes | memoryview] = []
    for start in range(0, size, chunk):
        piece = view[start : start + chunk]
        last = start + chunk >= size
        parts.append(DT_HEADER.pack(3, 0, len(piece) + DT_HEADER_LEN, 2, 0xF0, _EOT if last else 0))
        parts.append(piece)
    return b"".join(parts)
