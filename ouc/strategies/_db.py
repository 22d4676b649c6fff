"""Hypothesis strategies for data-block layouts and the values they hold.

Use them to test peer software against every shape a standard-access DB can take::

    from hypothesis import given
    from ouc.strategies._db import layouts_with_values

    @given(layouts_with_values())
    def test_round_trip(pair):
        layout, values = pair
        assert layout.decode(layout.encode(values)) == values

Values are drawn in the form :meth:`~ouc.db.Layout.decode` returns them, so that round trips
compare with ``==``: Reals are float32-exact, no NaN (NaN != NaN), WStrings stay in the Basic
Multilingual Plane without surrogates, DTLs have whole microseconds.
"""

from __future__ import annotations

import datetime as dt
import keyword
from typing import Any

from hypothesis import strategies as st

from ouc.db import (
    ArrayType,
    DataType,
    Layout,
    Member,
    ScalarType,
    StringType,
    StructType,
    scalar_names,
)

__all__ = [
    "byte_images",
    "data_types",
    "layout_values",
    "layouts",
    "layouts_with_values",
    "values_for",
]

_NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,7}", fullmatch=True).filter(
    lambda n: not keyword.iskeyword(n)
)
_LATIN1 = st.characters(max_codepoint=0xFF)
_BMP = st.characters(max_codepoint=0xFFFF, exclude_categories=["Cs"])
_INT_RANGES = {
    "Byte": (0, 2**8 - 1),
    "USInt": (0, 2**8 - 1),
    "SInt": (-(2**7), 2**7 - 1),
    "Word": (0, 2**16 - 1),
    "UInt": (0, 2**16 - 1),
    "Int": (-(2**15), 2**15 - 1),
    "DWord": (0, 2**32 - 1),
    "UDInt": (0, 2**32 - 1),
    "DInt": (-(2**31), 2**31 - 1),
    "LWord": (0, 2**64 - 1),
    "ULInt": (0, 2**64 - 1),
    "LInt": (-(2**63), 2**63 - 1),
    "LTime": (-(2**63), 2**63 - 1),
}


def _scalar_types() -> st.SearchStrategy[DataType]:
    strings = st.builds(StringType, st.integers(1, 12), st.booleans())
    return st.one_of(
        st.sampled_from(scalar_names()).map(ScalarType),
        strings,
        st.just(StringType()),  # the default String[254]
    )


# Every generated type stays under this many bytes, so that six of them fit a data block.
_BUDGET_BITS = 2048 * 8


def data_types(max_depth: int = 3) -> st.SearchStrategy[DataType]:
    """Any data type: elementary, String/WString, Struct and Array, nested up to ``max_depth``.

    Every type drawn is at most 2 KiB, so that any six of them fit a data block.

    Example:
        ``data_types(2).example()`` may give
        ``ArrayType(dims=((0, 2),), element=ScalarType('Bool'))``.
    """
    leaves = _scalar_types()
    if max_depth <= 1:
        return leaves
    inner = data_types(max_depth - 1)
    structs = _struct_types(inner)
    arrays = _array_types(st.one_of(leaves, structs))
    return st.one_of(leaves, leaves, structs, arrays)


def _array_types(elements: st.SearchStrategy[DataType]) -> st.SearchStrategy[ArrayType]:
    bounds = st.tuples(st.integers(-3, 3), st.integers(0, 3)).map(lambda t: (t[0], t[0] + t[1]))

    @st.composite
    def build(draw: st.DrawFn) -> ArrayType:
        element = draw(elements)
        dims = draw(st.lists(bounds, min_size=1, max_size=3))
        while len(dims) > 1 and _too_big(dims, element):
            dims.pop()
        if _too_big(dims, element):
            dims = [(0, 0)]
        return ArrayType(tuple(dims), element)

    return build()


def _too_big(dims: list[tuple[int, int]], element: DataType) -> bool:
    count = 1
    for lo, hi in dims:
        count *= hi - lo + 1
    return count * (element.bits + 8) > _BUDGET_BITS


def _struct_types(inner: st.SearchStrategy[DataType]) -> st.SearchStrategy[StructType]:
    def fit(members: tuple[Member, ...]) -> StructType:
        while len(members) > 1 and sum(m.type.bits + 16 for m in members) > _BUDGET_BITS:
            members = members[:-1]
        return StructType(members)

    return _members(inner, max_members=4).map(fit)


def _members(
    inner: st.SearchStrategy[DataType], max_members: int
) -> st.SearchStrategy[tuple[Member, ...]]:
    @st.composite
    def build(draw: st.DrawFn) -> tuple[Member, ...]:
        names = draw(st.lists(_NAMES, min_size=1, max_size=max_members, unique_by=str.lower))
        out = []
        for name in names:
            dtype = draw(inner)
            out.append(Member(name, dtype, draw(_start_values(dtype))))
        return tuple(out)

    return build()


def _start_values(dtype: DataType) -> st.SearchStrategy[Any]:
    """None, or a start value for scalar types and arrays of them (finite numbers only)."""
    if isinstance(dtype, StructType):
        return st.none()
    if isinstance(dtype, ArrayType):
        if isinstance(dtype.element, StructType):
            return st.none()
        element = values_for(dtype.element, finite=True)
        return st.none() | st.lists(element, max_size=dtype.count).map(tuple)
    return st.none() | values_for(dtype, finite=True)


def values_for(dtype: DataType, *, finite: bool = False) -> st.SearchStrategy[Any]:
    """In-range values of ``dtype``, in the form :meth:`Layout.decode` returns.

    Example:
        ``values_for(ScalarType("Int")).example()`` → ``-1234``;
        ``values_for(parse_type("Array[1..2, 0..1] of Bool"))`` →
        ``[[True, False], [False, False]]``.
    """
    if isinstance(dtype, StructType):
        return st.fixed_dictionaries(
            {m.name: values_for(m.type, finite=finite) for m in dtype.members}
        )
    if isinstance(dtype, ArrayType):
        strategy = values_for(dtype.element, finite=finite)
        for n in reversed(dtype.shape):
            strategy = st.lists(strategy, min_size=n, max_size=n)
        return strategy
    if isinstance(dtype, StringType):
        return st.text(_BMP if dtype.wide else _LATIN1, max_size=dtype.length)
    name = dtype.name
    if name in _INT_RANGES:
        return st.integers(*_INT_RANGES[name])
    table: dict[str, st.SearchStrategy[Any]] = {
        "Bool": st.booleans(),
        "Real": st.floats(width=32, allow_nan=False, allow_infinity=not finite),
        "LReal": st.floats(allow_nan=False, allow_infinity=not finite),
        "Char": _LATIN1,
        "WChar": _BMP,
        "Date": st.dates(dt.date(1990, 1, 1), dt.date(2168, 12, 31)),
        "Time": st.integers(-(2**31), 2**31 - 1).map(lambda ms: dt.timedelta(milliseconds=ms)),
        "Time_Of_Day": st.integers(0, 86_399_999).map(_tod),
        "LTime_Of_Day": st.times(),
        "Date_And_Time": st.integers(0, _DT_SPAN_MS).map(
            lambda ms: dt.datetime(1990, 1, 1) + dt.timedelta(milliseconds=ms)
        ),
        "LDT": st.datetimes(dt.datetime(1970, 1, 1), _LAST_LDT),
        "DTL": st.datetimes(dt.datetime(1970, 1, 1), _LAST_LDT),
    }
    return table[name]


# DT covers 1990-01-01 .. 2089-12-31 23:59:59.999 in milliseconds; DTL and LDT end where a
# signed 64-bit count of nanoseconds since 1970 ends (to the microsecond).
_LAST_DT = dt.datetime(2089, 12, 31, 23, 59, 59, 999000)
_DT_SPAN_MS = (_LAST_DT - dt.datetime(1990, 1, 1)) // dt.timedelta(milliseconds=1)
_LAST_LDT = dt.datetime(2262, 4, 11, 23, 47, 16, 854775)


def _tod(ms: int) -> dt.time:
    secs, ms = divmod(ms, 1000)
    return dt.time(secs // 3600, secs // 60 % 60, secs % 60, ms * 1000)


def layouts(max_members: int = 6, max_depth: int = 3) -> st.SearchStrategy[Layout]:
    """Random valid layouts: every type, nested Structs, multi-dimensional arrays, start values.

    Example:
        ``layouts().example().to_scl()`` might print ``VAR a : Bool := TRUE;
        Q : Array[0..1, 2..3] of Int; x : Struct ... END_STRUCT; END_VAR``.
    """
    members = _members(data_types(max_depth), max_members)
    names = st.none() | _NAMES
    return st.builds(Layout, members, names)


def layout_values(layout: Layout) -> st.SearchStrategy[dict[str, Any]]:
    """A full set of in-range values for ``layout`` (every variable given)."""
    return values_for(layout.struct_type)


def layouts_with_values(
    max_members: int = 6, max_depth: int = 3
) -> st.SearchStrategy[tuple[Layout, dict[str, Any]]]:
    """``(layout, values)`` pairs where ``values`` fits ``layout``.

    Example:
        ``layout, values = layouts_with_values().example()``;
        ``layout.decode(layout.encode(values)) == values`` always holds.
    """
    return layouts(max_members, max_depth).flatmap(
        lambda layout: st.tuples(st.just(layout), layout_values(layout))
    )


def byte_images(layout: Layout) -> st.SearchStrategy[bytes]:
    """Arbitrary bytes of exactly ``layout.size``: what a hostile or buggy peer might send."""
    return st.binary(min_size=layout.size, max_size=layout.size)
