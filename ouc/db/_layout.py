"""The public :class:`Layout`: offsets, size (= the LEN to use), encode and decode of a data block.

A :class:`Layout` is the declaration of a standard-access data block (its variables, as
:class:`~ouc.db.Member` objects) plus everything derived from it once at construction: the
offset of every variable, the total size, and the compiled pack/unpack plan (``_plan``).
Start values are normalized on the way in to what the PLC would store (a Real start value
becomes the nearest float32, a Time given as ``5000`` becomes ``timedelta(seconds=5)``), so
that two layouts that produce the same bytes compare equal.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from ouc.db._codecs import CodecError
from ouc.db._plan import Plan, to_error
from ouc.db._types import ArrayType, DataType, Member, StructType
from ouc.errors import DataBlockError, Status

__all__ = ["Entry", "Layout"]


@dataclass(frozen=True)
class Entry:
    """One row of the offset table, as the engineering tool's "Offset" column shows it.

    Attributes:
        path: ``Var2``, ``Motor.Speeds[2]``, ``Grid[1,2]``.
        type: the type as text (``Bool``, ``String[20]``, ``Array[1..4] of Real``, ``Struct``).
        dtype: the type object.
        byte: byte offset from the start of the block.
        bit: bit number within that byte (0 except for Bools).
        bits: size in bits (1 for a Bool, 8 × bytes otherwise).
        start: the start value the block is encoded with (None for Struct and Array rows).
        depth: nesting level (0 for the block's own variables).
    """

    path: str
    type: str
    dtype: DataType
    byte: int
    bit: int
    bits: int
    start: Any
    depth: int

    @property
    def offset(self) -> str:
        """Offset text as the engineering tool writes it: ``0.0``, ``2.0``, ``4.3``."""
        return f"{self.byte}.{self.bit}"

    @property
    def size(self) -> int:
        """Size in whole bytes (0 for a Bool, which takes one bit)."""
        return self.bits // 8


@dataclass(frozen=True)
class Layout:
    """A standard-access data block layout.

    Args:
        members: the block's variables, in declaration order (= memory order).
        name: the block name (``Send_Data``), or None.

    Raises:
        DataBlockError: no variables, a duplicate name, a start value that does not fit its
            type (``path`` names it), or a block larger than 64 KiB.

    Example:
        >>> from ouc.db import parse_scl
        >>> layout = parse_scl("Var1 : Bool := TRUE; Var2 : String := 'Hello World!';")
        >>> layout.size
        258
        >>> layout.decode(layout.encode({"Var2": "Hi"}))
        {'Var1': True, 'Var2': 'Hi'}
    """

    members: tuple[Member, ...]
    name: str | None = None
    _plan: Plan = field(init=False, repr=False, compare=False)
    _strict: list[Plan] = field(init=False, repr=False, compare=False)
    _image: bytes = field(init=False, repr=False, compare=False)
    _type: StructType = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        members = tuple(self.members)
        if not members:
            raise DataBlockError("the data block declares no variables", path=self.name)
        try:
            plan = Plan(StructType(members))
        except CodecError as exc:
            raise to_error(exc) from None
        image = plan.pack(plan.blank)
        defaults = plan.unpack(image)
        object.__setattr__(self, "members", tuple(_normalize(members, defaults, "")))
        object.__setattr__(self, "_type", StructType(self.members))
        object.__setattr__(self, "_plan", plan)
        object.__setattr__(self, "_strict", [])
        object.__setattr__(self, "_image", image)

    # -- sizes and offsets ------------------------------------------------------------------

    @property
    def size(self) -> int:
        """Total size in bytes: the ``LEN`` to give TSEND_C/TRCV_C (always even)."""
        return self._plan.size

    @property
    def struct_type(self) -> StructType:
        """The block as one Struct type."""
        return self._type

    def entries(self, *, expand_arrays: bool = True) -> list[Entry]:
        """Every variable with its offset, in memory order (Struct members follow their Struct).

        Args:
            expand_arrays: also list each array element (``Speeds[1]``, ``Speeds[2]``...).
        """
        defaults = self.defaults()
        return list(_entries(self.struct_type, 0, "", 0, defaults, expand_arrays))

    def entry(self, path: str) -> Entry:
        """The offset row of one variable path (``Motor.Speeds[2]``).

        Raises:
            DataBlockError: no such variable.
        """
        try:
            _, _, shown = self._plan.resolve(path)
        except CodecError as exc:
            raise to_error(exc) from None
        canonical = "".join(
            p if p.startswith("[") or i == 0 else "." + p for i, p in enumerate(shown)
        )
        for row in self.entries():
            if row.path == canonical:
                return row
        raise DataBlockError("is not a variable of this block", path=path)  # pragma: no cover

    # -- values -----------------------------------------------------------------------------

    def defaults(self) -> dict[str, Any]:
        """The block's start values, decoded: what :meth:`encode` sends when given nothing."""
        return self._plan.unpack(self._image)

    def flatten(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Decoded (nested) values as ``{path: value}`` for every elementary variable.

        >>> layout.flatten({"Motor": {"Speeds": [1.0, 2.0]}})  # doctest: +SKIP
        {'Motor.Speeds[1]': 1.0, 'Motor.Speeds[2]': 2.0}
        """
        rows = _entries(self.struct_type, 0, "", 0, values, True)
        return {e.path: e.start for e in rows if not isinstance(e.dtype, (StructType, ArrayType))}

    def encode(self, values: Mapping[str, Any] | None = None) -> bytes:
        """The byte image of the block: start values, overridden by ``values``.

        Args:
            values: variable name → value; a Struct takes a mapping of its members, an array a
                list (nested per dimension) or a mapping ``{index: value}``. Keys may also be
                paths: ``{"Motor.Speeds[2]": 1.5}``. Wrap text in :class:`~ouc.db.Literal` to
                have it read as an SCL literal (``Literal("T#5s")``).

        Raises:
            DataBlockError: an unknown variable or a value outside its type's range, with
                ``path`` naming the variable (``Var2``, ``Motor.Speeds[2]``).
        """
        if not values:
            return self._image
        fields = list(self._plan.blank)
        try:
            self._plan.fill(fields, values)
            return self._plan.pack(fields)
        except CodecError as exc:
            raise to_error(exc) from None

    def decode(
        self, data: bytes | bytearray | memoryview, *, strict: bool = False
    ) -> dict[str, Any]:
        """Named values of a byte image of exactly :attr:`size` bytes.

        Args:
            data: the received bytes.
            strict: also require every String's maximum-length header to match the layout and
                every DTL weekday to match its date (a PLC writes both; a PC peer may not).

        Raises:
            DataBlockError: the data is longer than the block (status 16#8088, as TRCV_C reports
                a receive area that is too small) or shorter (no status: TRCV_C with ADHOC
                FALSE would still be waiting), or a value no PLC could hold (a String whose
                current length exceeds its maximum, a Date after 2168, a month 13 in a DTL...),
                with ``path`` naming it.
        """
        size = self._plan.size
        if len(data) != size:
            if len(data) > size:
                raise DataBlockError(
                    f"{len(data)} bytes do not fit the {size}-byte receive area",
                    status=Status.RECEIVE_AREA_TOO_SMALL,
                    path=self.name,
                )
            got = "1 byte is" if len(data) == 1 else f"{len(data)} bytes are"
            raise DataBlockError(
                f"{got} {size - len(data)} short of the {size}-byte block "
                "(a TRCV_C with ADHOC FALSE would still be waiting)",
                path=self.name,
            )
        plan = self._plan
        if strict:
            if not self._strict:
                self._strict.append(Plan(self.struct_type, strict=True))
            plan = self._strict[0]
        try:
            return plan.unpack(bytes(data))
        except CodecError as exc:
            raise to_error(exc) from None

    # -- other forms ------------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"name": ..., "vars": [{"name", "type", "start", ...}]}``."""
        from ouc.db._forms import layout_to_dict

        return layout_to_dict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Layout:
        """Build a layout from its JSON form (see :meth:`to_dict`).

        Raises:
            DataBlockError: a missing key, unknown type text, or a bad start value.
        """
        from ouc.db._forms import layout_from_dict

        return layout_from_dict(data)

    def to_scl(self) -> str:
        """SCL source of the block (``DATA_BLOCK`` with standard access), readable by
        :func:`~ouc.db.parse_scl` and by the engineering tool's source import."""
        from ouc.db._scl import layout_to_scl

        return layout_to_scl(self)


def _normalize(
    members: tuple[Member, ...], values: Mapping[str, Any], prefix: str
) -> Iterator[Member]:
    """Members whose start values are replaced by what the PLC stores (decoded from bytes)."""
    for member in members:
        value = values[member.name]
        mtype = member.type
        path = prefix + member.name
        if isinstance(mtype, StructType):
            inner = tuple(_normalize(mtype.members, value, path + "."))
            yield dataclasses.replace(member, type=StructType(inner))
            continue
        if isinstance(mtype, ArrayType) and isinstance(mtype.element, StructType):
            first = _flatten(value)[0]
            inner = tuple(_normalize(mtype.element.members, first, path + "[*]."))
            element = StructType(inner)
            yield dataclasses.replace(member, type=dataclasses.replace(mtype, element=element))
            continue
        if member.start is None:
            yield member
            continue
        if isinstance(mtype, ArrayType):
            start: Any = tuple(_flatten(value)[: len(member.start)])
        else:
            start = value
        for item in start if isinstance(start, tuple) else (start,):
            if isinstance(item, float) and not math.isfinite(item):
                raise DataBlockError("a start value must be a finite number", path=path)
        yield dataclasses.replace(member, start=start)


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, list):
        return (
            [leaf for item in value for leaf in _flatten(item)]
            if value and isinstance(value[0], list)
            else list(value)
        )
    return [value]


def _entries(
    stype: StructType, base: int, prefix: str, depth: int, values: Mapping[str, Any], expand: bool
) -> Iterator[Entry]:
    for member, offset in zip(stype.members, stype.offsets, strict=True):
        bit = base + offset
        path = prefix + member.name
        yield from _type_entries(member.type, bit, path, depth, values[member.name], expand)


def _type_entries(
    dtype: DataType, bit: int, path: str, depth: int, value: Any, expand: bool
) -> Iterator[Entry]:
    leaf = not isinstance(dtype, (StructType, ArrayType))
    yield Entry(
        path, dtype.text, dtype, bit // 8, bit % 8, dtype.bits, value if leaf else None, depth
    )
    if isinstance(dtype, StructType):
        yield from _entries(dtype, bit, path + ".", depth + 1, value, expand)
    elif isinstance(dtype, ArrayType) and expand:
        flat = _flatten(value) if len(dtype.dims) > 1 else value
        for k in range(dtype.count):
            yield from _type_entries(
                dtype.element,
                bit + dtype.element_bit(k),
                path + dtype.index_text(k),
                depth + 1,
                flat[k],
                expand,
            )
