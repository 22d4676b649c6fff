"""Public hypothesis strategies for users who test and fuzz their own PLC-peer code.

Parameter blocks (``ouc.strategies._params`` and ``._broken``):

* :func:`valid_blocks` — blocks of any or one TCON type that validate clean, narrowed without
  filtering by ``secure=``, ``role=`` and ``protocol=``;
* :func:`broken_blocks` — ``(block_or_bytes, rule, status)`` breaking exactly one named rule
  (:data:`RULE_NAMES`), with :meth:`BrokenBlock.context` for the validation context it needs,
  narrowed the same way (and by ``type_name=``);
* :func:`mutated_bytes` — valid blocks' bytes after raw mutations, for parser fuzzing.

    >>> from hypothesis import given
    >>> from ouc.strategies import broken_blocks
    >>> @given(broken_blocks("udp_active"))
    ... def test_udp_must_be_passive(item):
    ...     block, rule, status = item
    ...     assert status == 0x80B5

Data blocks (``ouc.strategies._db``):

* :func:`data_types` / :func:`values_for` — S7 types (scalars, strings, arrays, structs) and
  in-range values for one;
* :func:`layouts`, :func:`layouts_with_values`, :func:`layout_values` — whole standard-access
  layouts, with values that encode;
* :func:`byte_images` — byte strings of exactly a layout's size, for decoder fuzzing.

    >>> from hypothesis import given
    >>> from ouc.strategies import layouts_with_values
    >>> @given(layouts_with_values())
    ... def test_round_trip(item):
    ...     layout, values = item
    ...     assert layout.decode(layout.encode(values)) == values

Wire bytes (``ouc.strategies._wire``):

* :func:`split_points` / :func:`frames_split` — a byte stream (or frames sent back to back) cut
  at random points: non-empty chunks whose concatenation is the input;
* :func:`tls_garbage` — TLS-record-ish bytes a TLS server must refuse (kinds in
  :data:`GARBAGE_KINDS`); :func:`client_hellos` / :func:`client_hello` — well-formed ClientHello
  records of any version (e.g. a TLS 1.0 hello an endpoint must refuse);
* :func:`tpkt_garbage` — TPKT/COTP-ish streams for ISO-on-TCP decoders.

    >>> from hypothesis import given
    >>> from ouc.framing import FixedReceiver
    >>> from ouc.strategies import split_points
    >>> @given(split_points(b"A" * 258 + b"B" * 258))
    ... def test_two_frames_however_they_arrive(chunks):
    ...     receiver = FixedReceiver(258)
    ...     frames = [f for chunk in chunks for f in receiver.feed(chunk)]
    ...     assert frames == [b"A" * 258, b"B" * 258]
    >>> test_two_frames_however_they_arrive()

hypothesis is a test extra: ``pip install ouc[test]``.
"""

try:
    import hypothesis  # noqa: F401 - only to fail early with a helpful message.
except ImportError as exc:  # pragma: no cover - depends on the environment.
    raise ImportError(
        "ouc.strategies needs hypothesis, which comes with the test extra: pip install ouc[test]"
    ) from exc

from ouc.strategies._broken import RULE_NAMES, BrokenBlock, broken_blocks, context_for
from ouc.strategies._db import (
    byte_images,
    data_types,
    layout_values,
    layouts,
    layouts_with_values,
    values_for,
)
from ouc.strategies._params import mutated_bytes, valid_blocks
from ouc.strategies._wire import (
    GARBAGE_KINDS,
    client_hello,
    client_hellos,
    frames_split,
    split_points,
    tls_garbage,
    tpkt_garbage,
)

RULES = RULE_NAMES
"""Alias of :data:`RULE_NAMES`: the names :func:`broken_blocks` accepts."""

__all__ = [
    "GARBAGE_KINDS",
    "RULES",
    "RULE_NAMES",
    "BrokenBlock",
    "broken_blocks",
    "byte_images",
    "client_hello",
    "client_hellos",
    "context_for",
    "data_types",
    "frames_split",
    "layout_values",
    "layouts",
    "layouts_with_values",
    "mutated_bytes",
    "split_points",
    "tls_garbage",
    "tpkt_garbage",
    "valid_blocks",
    "values_for",
]
