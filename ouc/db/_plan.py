"""Compile a layout into one ``struct.Struct`` and a tree of codecs: the fast encode/decode path.

The whole data block becomes a single big-endian ``struct`` format in which every value is one
or more fields and every gap is ``x`` padding; Bools that share a byte share one ``B`` field.
Encoding copies the precomputed default fields, lets the codecs of the given values overwrite
their fields, and packs once; decoding unpacks once and lets the codec tree build the nested
dict. Nothing is interpreted per call except the values themselves.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ouc.db._codecs import Codec, CodecError, is_plain_number, literal, scalar_codec, string_codec
from ouc.db._types import ArrayType, DataType, ScalarType, StringType, StructType
from ouc.errors import DataBlockError

__all__ = ["Plan", "join_path", "split_path", "to_error"]


def _pad(nbytes: int) -> str:
    return f"{nbytes}x" if nbytes > 0 else ""


class _BoolCodec(Codec):
    """One Bool: a bit of a byte field owned by the enclosing Struct or Array."""

    text = "Bool"

    def __init__(self, mask: int) -> None:
        self.mask = mask

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        return bool(raw[i] & self.mask)

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = literal(value, "Bool")
        if value is True or value is False or (type(value) is int and value in (0, 1)):
            fields[i] = fields[i] | self.mask if value else fields[i] & ~self.mask
            return
        raise CodecError(f"Bool expects TRUE or FALSE, got {value!r}")


_BOOLS = tuple(_BoolCodec(1 << bit) for bit in range(8))


class StructCodec(Codec):
    """A Struct (and the data block itself): members at fixed field positions."""

    text = "Struct"

    def __init__(self, stype: StructType, strict: bool) -> None:
        self.members: list[tuple[str, Codec, int]] = []
        parts: list[str] = []
        defaults: list[Any] = []
        cursor = 0  # next byte not yet covered by the format
        bool_byte = -1  # byte of the most recent Bool field
        for member, bit in zip(stype.members, stype.offsets, strict=True):
            byte = bit // 8
            mtype = member.type
            if isinstance(mtype, ScalarType) and mtype.name == "Bool":
                if byte != bool_byte:
                    parts.append(_pad(byte - cursor) + "B")
                    defaults.append(0)
                    cursor, bool_byte = byte + 1, byte
                self.members.append((member.name, _BOOLS[bit % 8], len(defaults) - 1))
                continue
            try:
                sub = compile_type(mtype, strict)
            except CodecError as exc:
                exc.path.insert(0, member.name)
                raise
            parts.append(_pad(byte - cursor) + sub.fmt)
            self.members.append((member.name, sub, len(defaults)))
            defaults.extend(sub.defaults())
            cursor = byte + sub.size
        self.size = stype.bits // 8
        parts.append(_pad(self.size - cursor))
        self.fmt = "".join(parts)
        self.nfields = len(defaults)
        for member, (name, codec, rel) in zip(stype.members, self.members, strict=True):
            if member.start is not None:
                try:
                    _apply_start(member.type, codec, member.start, defaults, rel)
                except CodecError as exc:
                    exc.path.insert(0, name)
                    raise
        self._defaults = defaults
        self.by_name = {name: (name, codec, rel) for name, codec, rel in self.members}
        self.by_lower = {name.lower(): (name, codec, rel) for name, codec, rel in self.members}

    def defaults(self) -> list[Any]:
        return list(self._defaults)

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        out = {}
        for name, codec, rel in self.members:
            try:
                out[name] = codec.decode(raw, i + rel)
            except CodecError as exc:
                exc.path.insert(0, name)
                raise
        return out

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        if not isinstance(value, Mapping):
            raise CodecError(f"a Struct takes a mapping of member values, got {value!r}")
        for key, item in value.items():
            name, codec, rel = self.member(key)
            try:
                codec.encode(item, fields, i + rel)
            except CodecError as exc:
                exc.path.insert(0, name)
                raise

    def member(self, name: Any) -> tuple[str, Codec, int]:
        """Declared name, codec and relative field index of member ``name``.

        The lookup is exact first, then case-insensitive, as names are in the engineering tool.
        """
        found = self.by_name.get(name) or self.by_lower.get(str(name).lower())
        if found is None:
            known = ", ".join(n for n, _, _ in self.members)
            raise CodecError(f"there is no variable {name!r} here (known: {known})")
        return found


class ArrayCodec(Codec):
    """An array of anything but Bool: elements at a fixed field stride."""

    def __init__(self, atype: ArrayType, strict: bool) -> None:
        self.atype = atype
        self.text = atype.text
        self.elem = compile_type(atype.element, strict)
        self.plain = is_plain_number(self.elem)
        count, stride = atype.count, atype.stride // 8
        gap = _pad(stride - self.elem.size)
        if self.elem.nfields == 1 and not gap and self.elem.fmt.isalpha():
            body = f"{count}{self.elem.fmt}"
        else:
            body = (self.elem.fmt + gap) * count
        self.size = atype.bits // 8
        self.fmt = body + _pad(self.size - count * stride)
        self.nfields = self.elem.nfields * count

    def defaults(self) -> list[Any]:
        return self.elem.defaults() * self.atype.count

    def element(self, k: int) -> tuple[Codec, int]:
        """Codec and relative field index of the element at flat position ``k``."""
        return self.elem, k * self.elem.nfields

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        count = self.atype.count
        if self.plain:
            flat = list(raw[i : i + count])
        else:
            nf, elem = self.elem.nfields, self.elem
            flat = []
            for k in range(count):
                try:
                    flat.append(elem.decode(raw, i + k * nf))
                except CodecError as exc:
                    exc.path.insert(0, self.atype.index_text(k))
                    raise
        return reshape(flat, self.atype.shape)

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        nf, elem = self.elem.nfields, self.elem
        walk_array(
            self.atype, literal(value, self.text), lambda k, v: elem.encode(v, fields, i + k * nf)
        )


class BoolArrayCodec(Codec):
    """An array of Bool: bits packed into bytes, rows of multi-dimensional arrays byte-aligned."""

    def __init__(self, atype: ArrayType) -> None:
        self.atype = atype
        self.text = atype.text
        self.bits = tuple(atype.element_bit(k) for k in range(atype.count))
        self.nfields = self.bits[-1] // 8 + 1
        self.size = atype.bits // 8
        self.fmt = f"{self.nfields}B" + _pad(self.size - self.nfields)

    def defaults(self) -> list[Any]:
        return [0] * self.nfields

    def element(self, k: int) -> tuple[Codec, int]:
        bit = self.bits[k]
        return _BOOLS[bit % 8], bit // 8

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        data = raw[i : i + self.nfields]
        flat = [bool(data[b >> 3] >> (b & 7) & 1) for b in self.bits]
        return reshape(flat, self.atype.shape)

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        def setter(k: int, v: Any) -> None:
            codec, rel = self.element(k)
            codec.encode(v, fields, i + rel)

        walk_array(self.atype, literal(value, self.text), setter)


def _apply_start(dtype: DataType, codec: Codec, start: Any, fields: list[Any], i: int) -> None:
    """Write a declared start value (for an array: a flat list, possibly short) into fields."""
    if isinstance(dtype, StructType) or (
        isinstance(dtype, ArrayType) and isinstance(dtype.element, StructType)
    ):
        raise CodecError("a Struct takes no start value; give its members start values")
    if not isinstance(codec, (ArrayCodec, BoolArrayCodec)):
        codec.encode(start, fields, i)
        return
    atype = codec.atype
    items = literal(start, codec.text)
    if not isinstance(items, (list, tuple)):
        raise CodecError(f"the start value of an array is a list like [1, 2, 3], got {items!r}")
    flat = _flat(items)
    if len(flat) > atype.count:
        raise CodecError(f"{len(flat)} start values for {atype.count} elements")
    for k, item in enumerate(flat):
        ecodec, rel = codec.element(k)
        try:
            ecodec.encode(item, fields, i + rel)
        except CodecError as exc:
            exc.path.insert(0, atype.index_text(k))
            raise


def _flat(items: Any) -> list[Any]:
    out: list[Any] = []
    for item in items:
        if isinstance(item, (list, tuple)):
            out.extend(_flat(item))
        else:
            out.append(item)
    return out


def reshape(flat: list[Any], shape: tuple[int, ...]) -> list[Any]:
    """A flat row-major list as nested lists of ``shape``."""
    if len(shape) == 1:
        return flat
    step = len(flat) // shape[0]
    return [reshape(flat[j * step : (j + 1) * step], shape[1:]) for j in range(shape[0])]


def walk_array(atype: ArrayType, value: Any, setter: Callable[[int, Any], None]) -> None:
    """Call ``setter(flat_index, element_value)`` for every element given in ``value``.

    ``value`` is a nested list (one level per dimension, full length), a flat list of every
    element for a multi-dimensional array, or a mapping ``{declared index: value}`` at any level
    to set only some elements.
    """
    shape = atype.shape
    if (
        len(shape) > 1
        and isinstance(value, (list, tuple))
        and len(value) == atype.count
        and not any(isinstance(v, (list, tuple, Mapping)) for v in value)
    ):
        for k, item in enumerate(value):
            _set(atype, setter, k, item)
        return
    _walk(atype, value, 0, 0, setter)


def _set(atype: ArrayType, setter: Callable[[int, Any], None], k: int, item: Any) -> None:
    try:
        setter(k, item)
    except CodecError as exc:
        exc.path.insert(0, atype.index_text(k))
        raise


def _walk(
    atype: ArrayType,
    value: Any,
    level: int,
    base: int,
    setter: Callable[[int, Any], None],
    prefix: tuple[int, ...] = (),
) -> None:
    lo, hi = atype.dims[level]
    n = hi - lo + 1
    try:
        if isinstance(value, (list, tuple)):
            if len(value) != n:
                raise CodecError(f"[{lo}..{hi}] needs {n} values, got {len(value)}")
            items: Any = list(enumerate(value))
        elif isinstance(value, Mapping):
            items = []
            for key, item in value.items():
                idx = _index(key)
                if idx is None or not lo <= idx <= hi:
                    raise CodecError(f"index {key!r} is outside [{lo}..{hi}]")
                items.append((idx - lo, item))
        else:
            raise CodecError(f"an array takes a list of values, got {value!r}")
    except CodecError as exc:
        if prefix:  # an inner dimension of a multi-dimensional array: say which row
            exc.path.insert(0, "[" + ",".join(map(str, prefix)) + "]")
        raise
    last = level == len(atype.dims) - 1
    for j, item in items:
        k = base * n + j
        if last:
            _set(atype, setter, k, item)
        else:
            _walk(atype, item, level + 1, k, setter, (*prefix, lo + j))


def _index(key: Any) -> int | None:
    if isinstance(key, bool):
        return None
    if isinstance(key, int):
        return key
    if isinstance(key, str) and re.fullmatch(r"\s*[+-]?\d+\s*", key):
        return int(key)
    return None


def compile_type(dtype: DataType, strict: bool) -> Codec:
    """The codec of any type (a Bool on its own is only ever a member or an array element)."""
    if isinstance(dtype, StructType):
        return StructCodec(dtype, strict)
    if isinstance(dtype, ArrayType):
        return BoolArrayCodec(dtype) if dtype.is_bool else ArrayCodec(dtype, strict)
    if isinstance(dtype, StringType):
        return string_codec(dtype.length, dtype.wide, strict)
    return scalar_codec(dtype.name, strict)


# A path step: ``[1,2]``, or a name, optionally after a dot and optionally "quoted". Names cannot
# contain ``.``, ``[`` or ``]``, so a name may hold spaces and still split unambiguously.
_PATH_PART = re.compile(r'\s*(?:\[([^\]]*)\]|(\.)?\s*(?:"([^"]+)"|([^.\[\]"]+)))')


def split_path(path: str) -> list[str | tuple[int, ...]]:
    """``Motor.Speeds[2]`` → ``["Motor", "Speeds", (2,)]``; ``Grid[1, 2]`` → ``["Grid", (1, 2)]``.

    Raises:
        CodecError: the text is not a path.
    """
    parts: list[str | tuple[int, ...]] = []
    pos = 0
    text = path.strip()
    while pos < len(text):
        m = _PATH_PART.match(text, pos)
        if not m:
            raise CodecError(f"{path!r} is not a variable path like Motor.Speeds[2]")
        name = m.group(3) or (m.group(4) or "").strip()
        if (name and parts and not m.group(2)) or (m.group(2) and not parts):
            raise CodecError(f"{path!r} is not a variable path like Motor.Speeds[2]")
        if m.group(1) is None:
            if not name:
                raise CodecError(f"{path!r} has an empty name")
            parts.append(name)
        else:
            try:
                parts.append(tuple(int(x) for x in m.group(1).split(",")))
            except ValueError as exc:
                raise CodecError(f"{path!r} has a bad index [{m.group(1)}]") from exc
        pos = m.end()
    if not parts or not isinstance(parts[0], str):
        raise CodecError(f"{path!r} is not a variable path like Motor.Speeds[2]")
    return parts


def join_path(parts: Sequence[str]) -> str:
    """``["Motor", "Speeds", "[2]"]`` → ``Motor.Speeds[2]``."""
    out = ""
    for part in parts:
        out += part if part.startswith("[") or not out else "." + part
    return out


class Plan:
    """The compiled form of a data block: one ``struct.Struct`` plus the codec tree.

    Args:
        stype: the data block as a Struct (its members are the block's variables).
        strict: decode also checks String maximum-length headers, DTL and DT weekdays and
            sub-microsecond digits (DTL, LDT, LTOD).
    """

    def __init__(self, stype: StructType, strict: bool = False) -> None:
        self.root = StructCodec(stype, strict)
        self.struct = struct.Struct(">" + self.root.fmt)
        self.size = self.struct.size
        assert self.size == stype.bits // 8, "the format does not cover the block exactly"
        self.blank = self.root.defaults()

    def resolve(self, path: str) -> tuple[Codec, int, list[str]]:
        """The codec and absolute field index of a variable path, and its canonical parts."""
        codec: Codec = self.root
        index = 0
        shown: list[str] = []
        try:
            for part in split_path(path):
                if isinstance(part, str):
                    if not isinstance(codec, StructCodec):
                        raise CodecError(f"{part!r} follows a {codec.text}, which has no members")
                    name, codec, rel = codec.member(part)
                    shown.append(name)
                else:
                    if not isinstance(codec, (ArrayCodec, BoolArrayCodec)):
                        raise CodecError(f"an index follows a {codec.text}, which is not an array")
                    try:
                        k = codec.atype.flat_index(part)
                    except DataBlockError as exc:
                        raise CodecError(exc.message) from exc
                    shown.append("[" + ",".join(map(str, part)) + "]")
                    codec, rel = codec.element(k)
                index += rel
        except CodecError as exc:
            exc.path = shown + exc.path
            raise
        return codec, index, shown

    def set_path(self, fields: list[Any], path: str, value: Any) -> None:
        """Validate ``value`` and write it at variable ``path`` into ``fields``."""
        codec, index, shown = self.resolve(path)
        try:
            codec.encode(value, fields, index)
        except CodecError as exc:
            exc.path = shown + exc.path
            raise

    def fill(self, fields: list[Any], values: Mapping[str, Any]) -> None:
        """Apply user values: member names with nested values, or dotted paths."""
        if not isinstance(values, Mapping):
            raise CodecError(
                f"values must be a mapping of variable names, got {type(values).__name__}"
            )
        for key, value in values.items():
            if not isinstance(key, str):
                raise CodecError(f"variable names are text, got {key!r}")
            if any(c in key for c in ".[") or key not in self.root.by_name:
                self.set_path(fields, key, value)
            else:
                _, codec, rel = self.root.by_name[key]
                try:
                    codec.encode(value, fields, rel)
                except CodecError as exc:
                    exc.path.insert(0, key)
                    raise

    def pack(self, fields: list[Any]) -> bytes:
        """Pack the fields (already validated by the codecs)."""
        try:
            return self.struct.pack(*fields)
        except struct.error as exc:  # a codec let something through: report it, never crash
            raise CodecError(f"value does not fit its field ({exc})") from exc

    def unpack(self, data: bytes) -> Any:
        """Decode a byte image of exactly :attr:`size` bytes to nested values."""
        return self.root.decode(self.struct.unpack(data), 0)


def to_error(exc: CodecError, status: int | None = None) -> DataBlockError:
    """The public error for a :class:`CodecError` raised inside the codec tree."""
    return DataBlockError(exc.message, status=status, path=join_path(exc.path) or None)
