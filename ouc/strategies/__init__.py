"""Public hypothesis strategies for users who test and fuzz their own PLC-peer code.

Parameter blocks (``ouc.strategies._params``):

* :func:`valid_blocks` — blocks of any or one TCON type that validate clean;
* :func:`broken_blocks` — ``(block_or_bytes, rule, status)`` breaking exactly one named rule
  (:data:`RULE_NAMES`), with :meth:`BrokenBlock.context` for the validation context it needs;
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

hypothesis is a test extra: ``pip install ouc[test]``.
"""

try:
    import hypothesis  # noqa: F401 - only to fail early with a helpful message.
except ImportError as exc:  # pragma: no cover - depends on the environment.
    raise ImportError(
        "ouc.strategies needs hypothesis, which comes with the test extra: pip install ouc[test]"
    ) from exc

from ouc.strategies._db import (
    byte_images,
    data_types,
    layout_values,
    layouts,
    layouts_with_values,
    values_for,
)
from ouc.strategies._params import (
    RULE_NAMES,
    BrokenBlock,
    broken_blocks,
    context_for,
    mutated_bytes,
    valid_blocks,
)

RULES = RULE_NAMES
"""Alias of :data:`RULE_NAMES`: the names :func:`broken_blocks` accepts."""

__all__ = [
    "RULES",
    "RULE_NAMES",
    "BrokenBlock",
    "broken_blocks",
    "byte_images",
    "context_for",
    "data_types",
    "layout_values",
    "layouts",
    "layouts_with_values",
    "mutated_bytes",
    "valid_blocks",
    "values_for",
]
