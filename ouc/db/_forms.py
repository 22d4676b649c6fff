"""The JSON form of a layout, and :func:`load_layout` for ``.scl``/``.db``/``.json`` files.

JSON form::

    {"name": "Send_Data",
     "vars": [{"name": "Var1", "type": "Bool", "start": true},
              {"name": "Var2", "type": "String", "start": "Hello World!"},
              {"name": "Motor", "type": "Struct", "members": [{"name": "Speed", "type": "Int"}]},
              {"name": "Cells", "type": "Array[1..2] of Struct", "members": [...]},
              {"name": "Delay", "type": "Time", "start": "T#5S"}]}

``type`` is type text as in SCL. ``start`` is JSON where JSON has the type (bool, number, text
for String/Char), otherwise SCL literal text (``"T#5S"``, ``"D#2024-01-31"``); an array's start
is a list. ``comment`` is optional.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ouc._input import LAYOUT_FILE_LIMIT, load_json, read_capped
from ouc.db._layout import Layout
from ouc.db._literals import Literal, to_json
from ouc.db._scl import parse_scl, parse_type
from ouc.db._types import (
    MAX_NESTING,
    ArrayType,
    DataType,
    Member,
    ScalarType,
    StringType,
    StructType,
)
from ouc.errors import ConfigError, DataBlockError

__all__ = ["layout_from_dict", "layout_to_dict", "load_layout"]

_TEXT_TYPES = ("Char", "WChar")
_MEMBER_KEYS = {"name", "type", "start", "members", "comment"}


def layout_to_dict(layout: Layout) -> dict[str, Any]:
    """The JSON form of ``layout`` (see the module docstring)."""
    out: dict[str, Any] = {}
    if layout.name is not None:
        out["name"] = layout.name
    out["vars"] = [_member_to_dict(m) for m in layout.members]
    return out


def _member_to_dict(member: Member) -> dict[str, Any]:
    out: dict[str, Any] = {"name": member.name, "type": member.type.text}
    inner = member.type.element if isinstance(member.type, ArrayType) else member.type
    if isinstance(inner, StructType):
        out["members"] = [_member_to_dict(m) for m in inner.members]
    if member.start is not None:
        out["start"] = to_json(
            list(member.start) if isinstance(member.start, tuple) else member.start
        )
    if member.comment:
        out["comment"] = member.comment
    return out


def layout_from_dict(data: Mapping[str, Any]) -> Layout:
    """Build a layout from its JSON form.

    Raises:
        DataBlockError: a missing or unknown key, bad type text or a bad start value, with
            ``path`` naming the variable.
    """
    if not isinstance(data, Mapping):
        raise DataBlockError("a layout is a JSON object with a 'vars' list")
    unknown = set(data) - {"name", "vars"}
    if unknown:
        raise DataBlockError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}")
    name = data.get("name")
    if name is not None and not isinstance(name, str):
        raise DataBlockError("'name' must be text")
    members = _members(data.get("vars"), "")
    return Layout(members, name)


def _members(items: Any, prefix: str) -> tuple[Member, ...]:
    where = prefix.rstrip(".") or None
    if not isinstance(items, list):
        raise DataBlockError("expected a list of variables ('vars' / 'members')", path=where)
    if prefix.count(".") > MAX_NESTING:
        raise DataBlockError(f"nesting is deeper than {MAX_NESTING} levels", path=where)
    return tuple(_member(item, prefix) for item in items)


def _member(item: Any, prefix: str) -> Member:
    if not isinstance(item, Mapping) or not isinstance(item.get("name"), str):
        raise DataBlockError(
            f"each variable is an object with a 'name', got {item!r}",
            path=prefix.rstrip(".") or None,
        )
    name = item["name"]
    path = prefix + name
    unknown = set(item) - _MEMBER_KEYS
    if unknown:
        raise DataBlockError(f"unknown key(s) {', '.join(sorted(map(str, unknown)))}", path=path)
    text = item.get("type")
    if not isinstance(text, str):
        raise DataBlockError('needs a \'type\' such as "Int" or "Array[1..4] of Real"', path=path)
    dtype = _type(text, item, path)
    start = item.get("start")
    if start is not None:
        start = _start(dtype, start)
    comment = item.get("comment", "")
    if not isinstance(comment, str):
        raise DataBlockError("'comment' must be text", path=path)
    try:
        return Member(name, dtype, start, comment)
    except DataBlockError as exc:
        raise DataBlockError(exc.message, path=path) from None


def _type(text: str, item: Mapping[str, Any], path: str) -> DataType:
    stripped = text.strip()
    struct_like = re.fullmatch(r"(?is)(array\s*\[.*\]\s*of\s+)?struct", stripped)
    try:
        if struct_like:
            members = StructType(_members(item.get("members"), path + "."))
            if not struct_like.group(1):
                return members
            outer = parse_type(stripped[: -len("struct")] + "Int")
            assert isinstance(outer, ArrayType)
            return ArrayType(outer.dims, members)
        if "members" in item:
            raise DataBlockError(f"'members' belongs to a Struct, not to {text}")
        return parse_type(text)
    except DataBlockError as exc:
        if exc.path and not exc.path.startswith("line "):
            raise
        raise DataBlockError(exc.message, path=path) from None


def _start(dtype: DataType, value: Any) -> Any:
    """JSON start value → a value the codecs take (text for non-text types is an SCL literal)."""
    if isinstance(value, list):
        element = dtype.element if isinstance(dtype, ArrayType) else dtype
        return [_start(element, v) for v in value]
    textual = isinstance(dtype, StringType) or (
        isinstance(dtype, ScalarType) and dtype.name in _TEXT_TYPES
    )
    if isinstance(value, str) and not textual:
        return Literal(value)
    return value


def load_layout(path: str | Path) -> Layout:
    """Read a layout from a file: the JSON form (a ``.json`` file, or text starting with
    ``{``) or SCL source (anything else).

    The layout is named after the ``DATA_BLOCK`` (or the JSON ``name``), else the file's stem.

    Raises:
        ConfigError: the file cannot be read, or is larger than any layout
            (``LAYOUT_FILE_LIMIT``).
        DataBlockError: the content is not a valid layout (a JSON key given twice in one object
            too); ``path`` is ``FILE:LINE`` when the
            line is known (the variable the error is about is named in the message).
    """
    file = Path(path)
    try:
        text = read_capped(file, LAYOUT_FILE_LIMIT, "a data-block layout").decode("utf-8-sig")
    except OSError as exc:
        raise ConfigError(f"cannot read the layout: {exc.strerror or exc}", path=str(file)) from exc
    except UnicodeDecodeError as exc:
        raise DataBlockError("is not UTF-8 text", path=str(file)) from exc
    return loads_layout(text, str(file))


def loads_layout(text: str, name: str = "<stdin>") -> Layout:
    """A layout from text (a file's, or stdin's): the JSON form when the first non-blank
    character is ``{`` (whatever the file is called), else SCL source. ``name`` stands for the
    file in errors (``NAME:LINE``) and names a layout that does not name itself.

    Raises:
        DataBlockError: as :func:`load_layout`.
    """
    file = Path(name)
    if text.lstrip().startswith("{") or file.suffix.lower() == ".json":
        return _load_json(file, text)
    try:
        return _named(parse_scl(text), file.stem)
    except DataBlockError as exc:
        line = exc.path[5:] if exc.path and exc.path.startswith("line ") else None
        where = f"{file}:{line}" if line else str(file)
        message = exc.message if line or not exc.path else f"{exc.path}: {exc.message}"
        raise DataBlockError(message, status=exc.status, path=where) from None


def _named(layout: Layout, stem: str) -> Layout:
    return layout if layout.name is not None else Layout(layout.members, stem)


def _load_json(file: Path, text: str) -> Layout:
    try:
        data = load_json(text, where=str(file), error=DataBlockError)
    except json.JSONDecodeError as exc:
        raise DataBlockError(f"is not valid JSON: {exc.msg}", path=f"{file}:{exc.lineno}") from exc
    except RecursionError as exc:
        raise DataBlockError("JSON is nested too deeply", path=str(file)) from exc
    try:
        return _named(layout_from_dict(data), file.stem)
    except DataBlockError as exc:
        line = _json_line(text, exc.path)
        where = f"{file}:{line}" if line else str(file)
        message = f"{exc.path}: {exc.message}" if exc.path else exc.message
        raise DataBlockError(message, status=exc.status, path=where) from None


def _json_line(text: str, var_path: str | None) -> int | None:
    """Best effort: the line of the ``"name": "X"`` that declares the last name in the path."""
    for name in reversed(re.findall(r"[^.\[\]]+", var_path or "")):
        match = re.search(r'"name"\s*:\s*' + re.escape(json.dumps(name)), text)
        if match:
            return text.count("\n", 0, match.start()) + 1
    return None
