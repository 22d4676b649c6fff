"""Properties over generated layouts (``ouc.strategies._db``): round trips and hostile bytes."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.db import ArrayType, Layout, StructType, parse_scl
from ouc.errors import DataBlockError
from ouc.strategies._db import byte_images, layouts, layouts_with_values, values_for

# Layout generation dominates the cost; 60 examples per property keep the file near 10 s.
FEW = settings(max_examples=60)


@FEW
@given(layouts_with_values())
def test_any_values_round_trip(pair: tuple[Layout, dict[str, Any]]) -> None:
    layout, values = pair
    data = layout.encode(values)
    assert len(data) == layout.size
    assert layout.decode(data) == values
    assert layout.decode(data, strict=True) == values  # ouc writes what a PLC writes
    assert layout.encode(layout.decode(data)) == data


@FEW
@given(st.data())
def test_arbitrary_bytes_decode_or_raise_the_library_error(data: st.DataObject) -> None:
    layout = data.draw(layouts())
    image = data.draw(byte_images(layout))
    try:
        values = layout.decode(image)
    except DataBlockError as exc:
        assert exc.message and exc.path  # always says which variable
        return
    normalized = layout.encode(values)  # padding and unused characters become zero
    assert len(normalized) == layout.size
    assert layout.encode(layout.decode(normalized)) == normalized


@FEW
@given(layouts())
def test_scl_and_json_forms_round_trip(layout: Layout) -> None:
    assert parse_scl(layout.to_scl()) == layout
    assert Layout.from_dict(json.loads(json.dumps(layout.to_dict()))) == layout


@FEW
@given(layouts())
def test_offsets_are_ordered_aligned_and_inside_the_block(layout: Layout) -> None:
    assert layout.size % 2 == 0
    previous_end = 0
    for entry in layout.entries():
        start = entry.byte * 8 + entry.bit
        if isinstance(entry.dtype, (StructType, ArrayType)):
            assert entry.bit == 0 and entry.byte % 2 == 0  # containers start on a word
            continue
        assert start >= previous_end  # no overlap, memory order = declaration order
        if entry.type != "Bool":
            assert entry.bit == 0
            if entry.type not in ("Byte", "Char", "SInt", "USInt"):
                assert entry.byte % 2 == 0
        previous_end = start + entry.bits
    assert previous_end <= layout.size * 8


@FEW
@given(st.data())
def test_a_dotted_path_sets_the_same_bytes_as_nested_values(data: st.DataObject) -> None:
    layout = data.draw(layouts())
    leaves = [e for e in layout.entries() if not isinstance(e.dtype, (StructType, ArrayType))]
    entry = data.draw(st.sampled_from(leaves))
    value = data.draw(values_for(entry.dtype))
    image = layout.encode({entry.path: value})
    flat = layout.flatten(layout.decode(image))
    assert flat[entry.path] == value
    nested = layout.decode(image)
    assert layout.encode(nested) == image


_EDIT_CHARS = list("[]();:=.,'\"#{}-+0123456789abxyzT$\n *")


@FEW
@given(st.data())
def test_damaged_scl_gives_a_layout_or_the_library_error(data: st.DataObject) -> None:
    chars = list(data.draw(layouts(max_members=3, max_depth=2)).to_scl())
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(chars) - 1))
        edit = data.draw(st.sampled_from(["delete", "insert", "replace"]))
        char = data.draw(st.sampled_from(_EDIT_CHARS))
        if edit == "delete":
            del chars[at]
        elif edit == "insert":
            chars.insert(at, char)
        else:
            chars[at] = char
    try:
        layout = parse_scl("".join(chars))
    except DataBlockError as exc:
        assert exc.message and (exc.path or "").startswith("line ")
        return
    assert layout.size % 2 == 0
