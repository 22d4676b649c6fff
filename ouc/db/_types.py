"""The declaration model of a standard-access data block: types, members, and their sizes.

A layout is a tree: :class:`Member` objects name a :class:`ScalarType`, :class:`StringType`,
:class:`ArrayType` or :class:`StructType`. This module knows each type's size and alignment in
bits under the standard-access rules (domain.md §5), and nothing about values or bytes; the
codec in ``_plan`` turns a tree into a pack/unpack plan, ``_layout`` computes the offsets users see.

Sizes and alignment are counted in bits so that Bools (1 bit, no alignment) and everything else
(byte or word aligned) go through the same arithmetic.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeAlias

from ouc.errors import DataBlockError

__all__ = [
    "MAX_ARRAY_DIMENSIONS",
    "MAX_DB_SIZE",
    "MAX_NESTING",
    "ArrayType",
    "DataType",
    "Member",
    "ScalarType",
    "StringType",
    "StructType",
    "align_up",
    "scalar_names",
]

# A standard-access DB is addressed DBB0..DBB65535 on S7-1200 and S7-1500 (inference from the
# 16-bit byte offset of classic addressing); a layout larger than that cannot exist on a PLC, and
# the cap also keeps a hostile declaration from asking for gigabytes.
MAX_DB_SIZE = 65536
# TIA Portal allows six array dimensions (STEP 7 "Programming with STEP 7", data type ARRAY).
MAX_ARRAY_DIMENSIONS = 6
# Deep enough for any real program, shallow enough that recursion can never blow the stack.
MAX_NESTING = 24
# The String and WString maxima of the engineering tool.
MAX_STRING_LENGTH = 254
MAX_WSTRING_LENGTH = 16382


@dataclass(frozen=True)
class _ScalarSpec:
    """Size, alignment and struct code of one elementary type (``bits`` = 1 for Bool)."""

    name: str
    bits: int
    align: int  # in bits: 1 (Bool), 8 (byte types) or 16 (everything else)


# Canonical spelling as TIA Portal shows it; lookup is case-insensitive, with aliases below.
_SPECS: dict[str, _ScalarSpec] = {
    spec.name.lower(): spec
    for spec in (
        _ScalarSpec("Bool", 1, 1),
        _ScalarSpec("Byte", 8, 8),
        _ScalarSpec("Char", 8, 8),
        _ScalarSpec("SInt", 8, 8),
        _ScalarSpec("USInt", 8, 8),
        _ScalarSpec("Word", 16, 16),
        _ScalarSpec("Int", 16, 16),
        _ScalarSpec("UInt", 16, 16),
        _ScalarSpec("WChar", 16, 16),
        _ScalarSpec("Date", 16, 16),
        _ScalarSpec("DWord", 32, 16),
        _ScalarSpec("DInt", 32, 16),
        _ScalarSpec("UDInt", 32, 16),
        _ScalarSpec("Real", 32, 16),
        _ScalarSpec("Time", 32, 16),
        _ScalarSpec("Time_Of_Day", 32, 16),
        _ScalarSpec("LWord", 64, 16),
        _ScalarSpec("LInt", 64, 16),
        _ScalarSpec("ULInt", 64, 16),
        _ScalarSpec("LReal", 64, 16),
        _ScalarSpec("LTime", 64, 16),
        _ScalarSpec("LTime_Of_Day", 64, 16),
        _ScalarSpec("Date_And_Time", 64, 16),
        _ScalarSpec("LDT", 64, 16),
        _ScalarSpec("DTL", 96, 16),
    )
}
_ALIASES = {
    "tod": "time_of_day",
    "ltod": "ltime_of_day",
    "dt": "date_and_time",
    "date_and_ltime": "ldt",
}


def scalar_names() -> tuple[str, ...]:
    """Every elementary type name, canonically spelled (``Bool``, ``Int``, ``Time_Of_Day``...)."""
    return tuple(spec.name for spec in _SPECS.values())


def align_up(bits: int, alignment: int) -> int:
    """Round a bit position up to the next multiple of ``alignment`` bits."""
    return -(-bits // alignment) * alignment


@dataclass(frozen=True)
class ScalarType:
    """An elementary type: ``Bool``, ``Int``, ``Real``, ``Time``, ``DTL``... (case-insensitive).

    ``ScalarType("tod")`` is the same as ``ScalarType("Time_Of_Day")``: the name is stored in
    its canonical spelling. Raises :class:`DataBlockError` for a name that is not a type.
    """

    name: str

    def __post_init__(self) -> None:
        key = self.name.lower()
        spec = _SPECS.get(_ALIASES.get(key, key))
        if spec is None:
            raise DataBlockError(f"{self.name!r} is not an elementary data type")
        object.__setattr__(self, "name", spec.name)

    @property
    def spec(self) -> _ScalarSpec:
        """Size and alignment facts (private shape; use :attr:`bits` and :attr:`align`)."""
        return _SPECS[self.name.lower()]

    @property
    def bits(self) -> int:
        """Size in bits (1 for Bool, 8 × bytes otherwise)."""
        return self.spec.bits

    @property
    def align(self) -> int:
        """Alignment in bits: 1 for Bool, 8 for byte types, 16 (a word) for all others."""
        return self.spec.align

    @property
    def text(self) -> str:
        """The type as written in a declaration, e.g. ``Time_Of_Day``."""
        return self.name


@dataclass(frozen=True)
class StringType:
    """``String[n]`` (n+2 bytes: max length, current length, characters) or ``WString[n]``.

    A WString is n+2 UTF-16 words: max length word, current length word, then the characters.
    ``n`` defaults to 254, as in the engineering tool.
    """

    length: int = MAX_STRING_LENGTH
    wide: bool = False

    def __post_init__(self) -> None:
        limit = MAX_WSTRING_LENGTH if self.wide else MAX_STRING_LENGTH
        if isinstance(self.length, bool) or not isinstance(self.length, int):
            raise DataBlockError(f"{self.kind} length must be a whole number")
        if not 1 <= self.length <= limit:
            raise DataBlockError(f"{self.kind}[{self.length}] is outside 1..{limit} characters")

    @property
    def kind(self) -> str:
        """``String`` or ``WString``."""
        return "WString" if self.wide else "String"

    @property
    def bits(self) -> int:
        """Size in bits: (n+2) bytes, or (n+2) words for a WString."""
        return (self.length + 2) * (16 if self.wide else 8)

    @property
    def align(self) -> int:
        """Strings start on a word boundary."""
        return 16

    @property
    def text(self) -> str:
        """``String`` for the default length, ``String[20]`` otherwise."""
        default = self.length == MAX_STRING_LENGTH
        return self.kind if default else f"{self.kind}[{self.length}]"


@dataclass(frozen=True)
class ArrayType:
    """``Array[lo..hi, ...] of element``: one to six dimensions, stored last index fastest.

    Args:
        dims: ``((lo, hi), ...)`` inclusive bounds per dimension, lo <= hi.
        element: any type except another array (TIA has no arrays of arrays; use dimensions).
    """

    dims: tuple[tuple[int, int], ...]
    element: DataType

    def __post_init__(self) -> None:
        dims: tuple[tuple[int, int], ...] = tuple(tuple(d) for d in self.dims)  # type: ignore[misc]
        object.__setattr__(self, "dims", dims)
        if not 1 <= len(dims) <= MAX_ARRAY_DIMENSIONS:
            raise DataBlockError(f"an array has 1..{MAX_ARRAY_DIMENSIONS} dimensions")
        for dim in dims:
            if len(dim) != 2 or not all(type(b) is int for b in dim):
                raise DataBlockError(f"array bounds {dim!r} are not two whole numbers")
            lo, hi = dim
            if not -(2**31) <= lo <= hi < 2**31:
                raise DataBlockError(f"array bounds [{lo}..{hi}] are empty or out of DInt range")
        if isinstance(self.element, ArrayType):
            raise DataBlockError("an array of arrays is declared as one multi-dimensional array")
        # Refuse absurd sizes before anything multiplies them out.
        if self.count * max(self.element.bits, 1) > MAX_DB_SIZE * 8:
            raise DataBlockError(
                f"Array{_dims_text(dims)} of {self.element.text} is larger than a data block "
                f"({MAX_DB_SIZE} bytes)"
            )

    @property
    def shape(self) -> tuple[int, ...]:
        """Number of elements per dimension."""
        return tuple(hi - lo + 1 for lo, hi in self.dims)

    @property
    def count(self) -> int:
        """Total number of elements."""
        total = 1
        for n in self.shape:
            total *= n
        return total

    @property
    def is_bool(self) -> bool:
        """True for arrays of Bool, which pack bits instead of bytes."""
        return isinstance(self.element, ScalarType) and self.element.name == "Bool"

    @property
    def row_bytes(self) -> int:
        """Bytes per row of the last dimension of a multi-dimensional Bool array.

        STEP 7 starts every row of the last dimension of a multi-dimensional ARRAY of BOOL on a
        byte boundary ("Programming with STEP 7", data type ARRAY; observed in STEP 7 projects).
        A one-dimensional Bool array is a single row.
        """
        return -(-self.shape[-1] // 8)

    @property
    def stride(self) -> int:
        """Distance in bits between consecutive elements (not used for Bool arrays).

        Byte-sized elements follow each other; every other element starts on a word boundary,
        so an odd-sized ``String[3]`` (5 bytes) takes 6 bytes per element.
        """
        return align_up(self.element.bits, self.element.align)

    def element_bit(self, flat_index: int) -> int:
        """Bit offset of element ``flat_index`` (row-major) from the array's start."""
        if not self.is_bool:
            return flat_index * self.stride
        if len(self.dims) == 1:
            return flat_index
        row, col = divmod(flat_index, self.shape[-1])
        return row * self.row_bytes * 8 + col

    @property
    def bits(self) -> int:
        """Size in bits, padded to a word: an array starts and ends on a word boundary."""
        if self.is_bool:
            used = (
                self.count
                if len(self.dims) == 1
                else self.count // self.shape[-1] * self.row_bytes * 8
            )
        else:
            used = self.count * self.stride
        return align_up(used, 16)

    @property
    def align(self) -> int:
        """Arrays start on a word boundary."""
        return 16

    @property
    def text(self) -> str:
        """``Array[1..4] of Real``; an array of Struct says ``of Struct``."""
        return f"Array{_dims_text(self.dims)} of {self.element.text}"

    def index_text(self, flat_index: int) -> str:
        """The declared index of element ``flat_index``: ``[3]`` or ``[1,2]``."""
        return "[" + ",".join(str(i) for i in self.indexes(flat_index)) + "]"

    def indexes(self, flat_index: int) -> tuple[int, ...]:
        """Declared indexes of the element at ``flat_index`` (row-major order)."""
        out = []
        for (lo, _hi), n in zip(reversed(self.dims), reversed(self.shape), strict=True):
            flat_index, rem = divmod(flat_index, n)
            out.append(lo + rem)
        return tuple(reversed(out))

    def flat_index(self, indexes: tuple[int, ...]) -> int:
        """Row-major position of the element with the declared ``indexes``.

        Raises:
            DataBlockError: wrong number of indexes or one outside its bounds.
        """
        if len(indexes) != len(self.dims):
            raise DataBlockError(f"needs {len(self.dims)} index(es), got {len(indexes)}")
        flat = 0
        for idx, (lo, hi), n in zip(indexes, self.dims, self.shape, strict=True):
            if not lo <= idx <= hi:
                raise DataBlockError(f"index {idx} is outside [{lo}..{hi}]")
            flat = flat * n + (idx - lo)
        return flat


def _dims_text(dims: tuple[tuple[int, int], ...]) -> str:
    return "[" + ", ".join(f"{lo}..{hi}" for lo, hi in dims) + "]"


@dataclass(frozen=True)
class Member:
    """One declared variable: ``name : type := start``.

    Args:
        name: the variable name (letters, digits, ``_``; no ``.``/``[``/``]``/``,``/quotes).
        type: its data type.
        start: the start value (None = the type's default). For an array, a flat sequence in
            element order, possibly shorter than the array (the rest keep their defaults).
            Struct members carry their own start values; a Struct or DTL array has none.
        comment: free text kept in the JSON form and written as ``//`` comment in SCL.
    """

    name: str
    type: DataType
    start: Any = None
    comment: str = ""

    def __post_init__(self) -> None:
        check_name(self.name)
        if isinstance(self.start, list):
            object.__setattr__(self, "start", tuple(self.start))


def check_name(name: str) -> None:
    """Refuse names that would make a path (``Motor.Speeds[2]``) ambiguous."""
    if not isinstance(name, str) or not name or name != name.strip():
        raise DataBlockError(f"{name!r} is not a variable name")
    bad = set(name) & set(".[],\"'#:;{}()/*\n\r\t")
    if bad:
        raise DataBlockError(f"variable name {name!r} contains {''.join(sorted(bad))!r}")


@dataclass(frozen=True)
class StructType:
    """``Struct ... END_STRUCT``: members laid out in order; starts and ends on a word boundary."""

    members: tuple[Member, ...]
    _offsets: tuple[int, ...] = field(init=False, repr=False, compare=False)
    _bits: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        members = tuple(self.members)
        object.__setattr__(self, "members", members)
        if not members:
            raise DataBlockError("a Struct needs at least one member")
        seen: set[str] = set()
        for m in members:
            if not isinstance(m, Member):
                raise DataBlockError(f"{m!r} is not a Member")
            key = m.name.lower()  # TIA names are unique regardless of case.
            if key in seen:
                raise DataBlockError(f"{m.name} is declared twice (names ignore case)")
            seen.add(key)
        if depth(self) > MAX_NESTING:
            raise DataBlockError(f"nesting is deeper than {MAX_NESTING} levels")
        offsets = []
        cursor = 0
        for m in members:
            cursor = align_up(cursor, m.type.align)
            offsets.append(cursor)
            cursor += m.type.bits
            if cursor > MAX_DB_SIZE * 8:
                raise DataBlockError(
                    f"the layout grows past {MAX_DB_SIZE} bytes, the largest data block",
                    path=m.name,
                )
        object.__setattr__(self, "_offsets", tuple(offsets))
        object.__setattr__(self, "_bits", align_up(cursor, 16))

    @property
    def offsets(self) -> tuple[int, ...]:
        """Bit offset of each member from the start of the Struct."""
        return self._offsets

    @property
    def bits(self) -> int:
        """Size in bits, padded to a word."""
        return self._bits

    @property
    def align(self) -> int:
        """A Struct starts on a word boundary."""
        return 16

    @property
    def text(self) -> str:
        """``Struct``."""
        return "Struct"


def depth(dtype: DataType) -> int:
    """Nesting depth of a type (1 for a scalar)."""
    if isinstance(dtype, StructType):
        return 1 + max((depth(m.type) for m in dtype.members), default=0)
    if isinstance(dtype, ArrayType):
        return 1 + depth(dtype.element)
    return 1


DataType: TypeAlias = ScalarType | StringType | ArrayType | StructType
