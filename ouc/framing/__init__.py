"""Framing codecs for TSEND_C/TRCV_C (layer 1: pure, no I/O, no clocks).

* Plain TCP / TLS streams: :class:`FixedReceiver` (``ADHOC`` FALSE, exactly LEN bytes per
  frame) and :class:`AdHocReceiver` (``ADHOC`` TRUE, what arrived, at most LEN per piece).
* ISO-on-TCP (RFC 1006): the TPDU types (:class:`ConnectionRequest`, :class:`ConnectionConfirm`,
  :class:`DisconnectRequest`, :class:`DataTPDU`, :class:`ErrorTPDU`) with ``encode()``/``size``
  and :func:`decode_packet`; :class:`TpduDecoder` for a stream, :class:`MessageAssembler` for DT
  TPDUs → messages, :func:`encode_message` for a message → DT packets.

Errors are :class:`~ouc.errors.FramingError`: 16#80C6 (:data:`MALFORMED`) for bytes that break
the protocol, 16#8088 for a message larger than the receive area, 16#8085 for a bad LEN.
"""

from ouc.framing._cotp import (
    DEFAULT_TPDU_SIZE,
    DR_NORMAL,
    DR_PROTOCOL_ERROR,
    DR_TSAP_UNKNOWN,
    MALFORMED,
    TPDU_SIZES,
    ConnectionConfirm,
    ConnectionRequest,
    DataTPDU,
    DisconnectRequest,
    ErrorTPDU,
    Tpdu,
    decode_packet,
    parse_cotp,
)
from ouc.framing._iso import MessageAssembler, TpduDecoder, encode_message, encoded_message_size
from ouc.framing._stream import AdHocReceiver, FixedReceiver, Receiver

__all__ = [
    "DEFAULT_TPDU_SIZE",
    "DR_NORMAL",
    "DR_PROTOCOL_ERROR",
    "DR_TSAP_UNKNOWN",
    "MALFORMED",
    "TPDU_SIZES",
    "AdHocReceiver",
    "ConnectionConfirm",
    "ConnectionRequest",
    "DataTPDU",
    "DisconnectRequest",
    "ErrorTPDU",
    "FixedReceiver",
    "MessageAssembler",
    "Receiver",
    "Tpdu",
    "TpduDecoder",
    "decode_packet",
    "encode_message",
    "encoded_message_size",
    "parse_cotp",
]
