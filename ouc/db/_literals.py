"""SCL literals: read and write ``TRUE``, ``16#FF``, ``T#1s_500ms``, ``D#2024-01-31``, ``'x'``.

Reading turns a literal into a plain Python value; which PLC type it lands in is decided later by
the variable's type (``_codecs``). The value types are:

* ``T#``/``TIME#`` → :class:`datetime.timedelta` (millisecond resolution);
* ``LT#``/``LTIME#`` → :class:`Nanoseconds` (an ``int`` subclass, so Time and LTime never mix up);
* ``D#``/``DATE#`` → :class:`datetime.date`; ``TOD#``/``TIME_OF_DAY#`` and
  ``LTOD#``/``LTIME_OF_DAY#`` → :class:`datetime.time`;
* ``DTL#``/``DT#``/``LDT#`` → :class:`datetime.datetime` (nanoseconds beyond the microsecond
  are refused rather than silently dropped);
* numbers → ``int``/``float``; ``TRUE``/``FALSE`` → ``bool``; strings → ``str``;
* ``[1, 2, 3(0)]`` → a ``list`` (``n(v)`` repeats ``v`` n times).
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from ouc.db._lexer import Token, tokenize
from ouc.db._types import ArrayType, DataType, ScalarType, StringType, StructType
from ouc.errors import DataBlockError

__all__ = [
    "DATE_EPOCH",
    "Literal",
    "Nanoseconds",
    "format_duration_ms",
    "format_ltime",
    "format_string",
    "format_value",
    "json_text",
    "parse_literal",
    "read_literal",
    "to_json",
]

DATE_EPOCH = dt.date(1990, 1, 1)
_MAX_REPEAT = 1 << 20  # more elements than any data block can hold
_MAX_LIST_DEPTH = 8  # arrays have at most six dimensions; a little slack for signs


class Nanoseconds(int):
    """An ``LT#`` literal: a duration in nanoseconds, kept apart from plain ints (Time is ms)."""


@dataclass(frozen=True)
class Literal:
    """Text to be read as an SCL literal by the type of the variable it is assigned to.

    ``layout.encode({"Var1": Literal("TRUE"), "Delay": Literal("T#5s")})``. For String, WString,
    Char and WChar variables the text is taken as it is, unless it is written as a quoted SCL
    string (``'it$'s'``), which is then unescaped.
    """

    text: str


_UNITS_NS = {
    "d": 86_400 * 10**9,
    "h": 3_600 * 10**9,
    "m": 60 * 10**9,
    "s": 10**9,
    "ms": 10**6,
    "us": 10**3,
    "ns": 1,
}
_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|us|ns|d|h|m|s)", re.IGNORECASE)
_DATE = r"(\d{4})-(\d{1,2})-(\d{1,2})"
_TOD = r"(\d{1,2}):(\d{1,2})(?::(\d{1,2})(?:\.(\d{1,9}))?)?"
_DATE_RE = re.compile(_DATE + r"$")
_TOD_RE = re.compile(_TOD + r"$")
_DTL_RE = re.compile(_DATE + r"-" + _TOD + r"$")
_INT_TYPES = {
    "B", "W", "DW", "LW", "BYTE", "WORD", "DWORD", "LWORD", "SINT", "USINT", "INT", "UINT",
    "DINT", "UDINT", "LINT", "ULINT",
}  # fmt: skip


def parse_literal(text: str) -> Any:
    """Read one SCL literal (scalar or ``[...]`` list) from ``text``.

    Raises:
        DataBlockError: the text is not a literal.
    """
    tokens = tokenize(text)
    value, pos = read_literal(tokens, 0)
    if tokens[pos].kind != "eof":
        raise DataBlockError(f"unexpected {tokens[pos].text!r} after the value {text!r}")
    return value


def read_literal(tokens: list[Token], pos: int, depth: int = 0) -> tuple[Any, int]:
    """Read a literal starting at ``tokens[pos]``; returns (value, position after it)."""
    tok = tokens[pos]
    where = f"line {tok.line}"
    if depth > _MAX_LIST_DEPTH:
        raise DataBlockError("lists are nested too deeply", path=where)
    if tok.kind == "punct" and tok.text == "[":
        return _read_list(tokens, pos + 1, depth + 1)
    if tok.kind == "punct" and tok.text in "+-":
        value, nxt = read_literal(tokens, pos + 1, depth + 1)
        if isinstance(value, bool) or not isinstance(value, (int, float, dt.timedelta)):
            raise DataBlockError(f"a sign cannot precede {tokens[pos + 1].text!r}", path=where)
        if tok.text == "+":
            return value, nxt
        return (Nanoseconds(-value) if isinstance(value, Nanoseconds) else -value), nxt
    if tok.kind == "number":
        return _number(tok.text, where), pos + 1
    if tok.kind == "string":
        return tok.value, pos + 1
    if tok.kind == "name" and tok.text.upper() in ("TRUE", "FALSE"):
        return tok.text.upper() == "TRUE", pos + 1
    if tok.kind == "typed":
        try:
            return _typed(tok.text, tok.value, tok.quoted), pos + 1
        except (ValueError, OverflowError, ArithmeticError) as exc:
            raise DataBlockError(
                f"{tok.text}#{tok.value} is not a valid value", path=where
            ) from exc
    shown = tok.text or "end of text"
    raise DataBlockError(f"expected a value, found {shown!r}", path=where)


def _read_list(tokens: list[Token], pos: int, depth: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while True:
        tok = tokens[pos]
        if tok.kind == "punct" and tok.text == "]" and not items:
            return items, pos + 1
        nxt = tokens[min(pos + 1, len(tokens) - 1)]
        if tok.kind == "number" and nxt.kind == "punct" and nxt.text == "(":
            count = _number(tok.text, f"line {tok.line}")
            if not isinstance(count, int) or not 0 < count <= _MAX_REPEAT:
                raise DataBlockError(
                    f"repeat count {tok.text} is not usable", path=f"line {tok.line}"
                )
            inner, pos = _read_list_until(tokens, pos + 2, ")", depth)
            items.extend(inner * count)
        else:
            value, pos = read_literal(tokens, pos, depth)
            items.append(value)
        if len(items) > _MAX_REPEAT:
            raise DataBlockError("the list has more values than a data block can hold")
        tok = tokens[pos]
        if tok.kind == "punct" and tok.text == ",":
            pos += 1
            continue
        if tok.kind == "punct" and tok.text == "]":
            return items, pos + 1
        raise DataBlockError(f"expected ',' or ']', found {tok.text!r}", path=f"line {tok.line}")


def _read_list_until(
    tokens: list[Token], pos: int, close: str, depth: int
) -> tuple[list[Any], int]:
    items: list[Any] = []
    while True:
        value, pos = read_literal(tokens, pos, depth)
        items.append(value)
        tok = tokens[pos]
        if tok.kind == "punct" and tok.text == ",":
            pos += 1
            continue
        if tok.kind == "punct" and tok.text == close:
            return items, pos + 1
        raise DataBlockError(
            f"expected ',' or {close!r}, found {tok.text!r}", path=f"line {tok.line}"
        )


def _number(text: str, where: str) -> int | float:
    clean = text.replace("_", "")
    try:
        if any(c in clean for c in ".eE"):
            return float(clean)
        return int(clean)
    except ValueError as exc:
        raise DataBlockError(f"{text!r} is not a number", path=where) from exc


def _based_int(body: str) -> int:
    """``16#FF``, ``2#1010``, ``-5`` or ``1_000`` → int."""
    body = body.replace("_", "")
    if "#" in body:
        base, _, digits = body.partition("#")
        if base not in ("2", "8", "16"):
            raise ValueError(f"base {base}")
        return int(digits, int(base))
    return int(body, 10)


def _typed(prefix: str, body: str, quoted: bool) -> Any:
    """The value of ``prefix#body``; raises ValueError when the body does not fit the prefix."""
    p = prefix.upper()
    if quoted:
        if p in ("STRING", "WSTRING", "CHAR", "WCHAR"):
            return body
        raise ValueError("a quoted value needs STRING#, WSTRING#, CHAR# or WCHAR#")
    if p in ("2", "8", "16"):
        return _based_int(f"{p}#{body}")
    if p in _INT_TYPES:
        return _based_int(body)
    if p in ("REAL", "LREAL"):
        return float(body.replace("_", ""))
    if p == "BOOL":
        flag = body.upper()
        if flag in ("TRUE", "1"):
            return True
        if flag in ("FALSE", "0"):
            return False
        raise ValueError(body)
    if p in ("CHAR", "WCHAR"):
        return chr(_based_int(body))
    if p in ("T", "TIME"):
        ns = duration_ns(body)
        if ns % 10**6:
            raise ValueError("TIME has millisecond resolution")
        return dt.timedelta(milliseconds=ns // 10**6)
    if p in ("LT", "LTIME"):
        return Nanoseconds(duration_ns(body))
    if p in ("D", "DATE"):
        m = _DATE_RE.match(body)
        if not m:
            raise ValueError(body)
        return dt.date(int(m[1]), int(m[2]), int(m[3]))
    if p in ("TOD", "TIME_OF_DAY", "LTOD", "LTIME_OF_DAY"):
        m = _TOD_RE.match(body)
        if not m:
            raise ValueError(body)
        return dt.time(int(m[1]), int(m[2]), int(m[3] or 0), _micros(m[4]))
    if p in ("DTL", "DT", "DATE_AND_TIME", "LDT", "DATE_AND_LTIME"):
        m = _DTL_RE.match(body)
        if not m:
            raise ValueError(body)
        return dt.datetime(
            int(m[1]), int(m[2]), int(m[3]), int(m[4]), int(m[5]), int(m[6] or 0), _micros(m[7])
        )
    raise ValueError(f"unknown literal prefix {prefix}#")


def _micros(fraction: str | None) -> int:
    if not fraction:
        return 0
    digits = (fraction + "000000000")[:9]
    if digits[6:] != "000":
        raise ValueError("nanoseconds beyond the microsecond cannot be kept")
    return int(digits[:6])


def duration_ns(body: str) -> int:
    """``1d2h3m4s5ms``, ``-1.5s``, ``1H_30M`` → nanoseconds (exact, or ValueError)."""
    text = body.replace("_", "")
    sign = 1
    if text[:1] in "+-":
        sign = -1 if text[0] == "-" else 1
        text = text[1:]
    pos, total = 0, Fraction(0)
    if not text:
        raise ValueError("empty duration")
    while pos < len(text):
        m = _DURATION_PART.match(text, pos)
        if not m:
            raise ValueError(body)
        total += Fraction(m[1]) * _UNITS_NS[m[2].lower()]
        pos = m.end()
    if total.denominator != 1:
        raise ValueError("finer than a nanosecond")
    return sign * int(total)


def _duration_text(ns: int, units: tuple[str, ...]) -> str:
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    parts = []
    for unit in units:
        qty, ns = divmod(ns, _UNITS_NS[unit])
        if qty:
            parts.append(f"{qty}{unit.upper()}")
    return sign + ("_".join(parts) or f"0{units[-1].upper()}")


def format_duration_ms(td: dt.timedelta) -> str:
    """A Time value as ``T#1D_2H_3M_4S_5MS`` (TIA's spelling)."""
    ms = td // dt.timedelta(milliseconds=1)
    return "T#" + _duration_text(ms * 10**6, ("d", "h", "m", "s", "ms"))


def format_ltime(ns: int) -> str:
    """An LTime value (nanoseconds) as ``LT#1S_500MS_3NS``."""
    return "LT#" + _duration_text(ns, ("d", "h", "m", "s", "ms", "us", "ns"))


def format_string(text: str, prefix: str = "") -> str:
    """Quote text as an SCL string: ``$`` and ``'`` escaped, control characters as ``$hh``.

    With a ``WSTRING#`` or ``WCHAR#`` prefix the escapes are ``$hhhh`` (one UTF-16 code unit,
    as the lexer reads them there), and lone surrogates (U+D800..DFFF, which a WString from a
    peer may hold: they have no printable form and cannot be encoded as UTF-8) are escaped
    too, so the text prints anywhere and reads back as the same value.
    """
    wide = prefix.upper().rstrip("#") in ("WSTRING", "WCHAR")
    out = []
    for ch in text:
        code = ord(ch)
        if ch in "$'":
            out.append("$" + ch)
        elif code < 0x20 or 0x7F <= code <= 0x9F or 0xD800 <= code <= 0xDFFF:
            out.append(f"${code:04X}" if wide or code > 0xFF else f"${code:02X}")
        else:
            out.append(ch)
    return prefix + "'" + "".join(out) + "'"


def _fraction(micro: int) -> str:
    return f".{micro:06d}".rstrip("0") if micro else ""


def format_date(value: dt.date) -> str:
    """``D#2024-01-31``."""
    return f"D#{value.year:04d}-{value.month:02d}-{value.day:02d}"


def format_tod(value: dt.time, prefix: str = "TOD") -> str:
    """``TOD#12:34:56.789`` (milliseconds, as the engineering tool shows it; microseconds when
    the value has them, e.g. an LTime_Of_Day, so that no digit is lost)."""
    micro = value.microsecond
    fraction = f"{micro // 1000:03d}" if micro % 1000 == 0 else f"{micro:06d}"
    return f"{prefix}#{value.hour:02d}:{value.minute:02d}:{value.second:02d}.{fraction}"


def format_dtl(value: dt.datetime, prefix: str = "DTL") -> str:
    """``DTL#2024-01-31-12:34:56.25`` (``prefix`` DT or LDT for those types)."""
    return (
        f"{prefix}#{value.year:04d}-{value.month:02d}-{value.day:02d}-"
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}{_fraction(value.microsecond)}"
    )


def to_json(value: Any, dtype: DataType | None = None) -> Any:
    """A decoded value in JSON-friendly form: temporal values as SCL literal text.

    With ``dtype`` (the value's type, e.g. a layout's ``struct_type``) a temporal value is
    written with its own type's prefix (``DT#``, ``LDT#``, ``LTOD#``); without it the value's
    Python type decides (``DTL#``, ``TOD#``), which reads back the same. Non-finite floats become
    the strings ``"NaN"``, ``"Infinity"``, ``"-Infinity"`` so that the output stays strict JSON.
    """
    if isinstance(dtype, StructType) and isinstance(value, dict):
        types = {m.name: m.type for m in dtype.members}
        return {k: to_json(v, types.get(k)) for k, v in value.items()}
    if isinstance(dtype, ArrayType) and isinstance(value, (list, tuple)):
        # Rows of a multi-dimensional array are lists again; their leaves are elements.
        return [to_json(v, dtype if isinstance(v, list) else dtype.element) for v in value]
    if isinstance(dtype, ScalarType) and dtype.name in _TYPED_JSON:
        return format_value(dtype, value)
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dt.datetime):
        return format_dtl(value)
    if isinstance(value, dt.date):
        return format_date(value)
    if isinstance(value, dt.time):
        return format_tod(value)
    if isinstance(value, dt.timedelta):
        return format_duration_ms(value)
    return value


_SURROGATE = re.compile("[\ud800-\udfff]")


def json_text(doc: Any, indent: int | None = None) -> str:
    """``doc`` (e.g. :func:`to_json` output) as JSON text that can always be printed.

    Non-ASCII characters stay readable (``"ä"``), but lone surrogates, which a WString or WChar
    from a peer may hold and no UTF-8 stream can encode, are written as ``\\udxxx`` escapes:
    the same JSON string, read back as the same UTF-16 code units (a high and a low surrogate
    side by side as the one character they encode).
    """
    text = json.dumps(doc, indent=indent, ensure_ascii=False)
    return _SURROGATE.sub(lambda m: f"\\u{ord(m[0]):04x}", text)


def format_value(dtype: DataType, value: Any) -> str:
    """A value of ``dtype`` as SCL literal text (``TRUE``, ``16#0F``, ``T#5S``, ``'text'``...).

    Arrays are written flat in element order, runs of equal values as ``n(value)``.
    """
    if isinstance(dtype, ArrayType):
        flat = _flatten(value)
        runs: list[str] = []
        j = 0
        while j < len(flat):
            n = 1
            while (
                j + n < len(flat) and flat[j + n] == flat[j] and type(flat[j + n]) is type(flat[j])
            ):
                n += 1
            text = format_value(dtype.element, flat[j])
            runs.append(f"{n}({text})" if n > 1 else text)
            j += n
        return "[" + ", ".join(runs) + "]"
    if isinstance(dtype, StringType):
        return format_string(value, "WSTRING#" if dtype.wide else "")
    if not isinstance(dtype, ScalarType):
        raise DataBlockError(f"type {dtype.text} has no literal")
    name = dtype.name
    if name == "Bool":
        return "TRUE" if value else "FALSE"
    if name in _HEX_WIDTH:
        return f"16#{value:0{_HEX_WIDTH[name]}X}"
    if name in ("Real", "LReal"):
        return repr(float(value))
    if name in ("Char", "WChar"):
        return format_string(value, "WCHAR#" if name == "WChar" else "")
    if name == "Date":
        return format_date(value)
    if name in _DATETIME_PREFIX:
        return format_dtl(value, _DATETIME_PREFIX[name])
    if name == "Time_Of_Day":
        return format_tod(value)
    if name == "LTime_Of_Day":
        return format_tod(value, "LTOD")
    if name == "Time":
        return format_duration_ms(value)
    if name == "LTime":
        return format_ltime(value)
    return str(int(value))


_HEX_WIDTH = {"Byte": 2, "Word": 4, "DWord": 8, "LWord": 16}
_DATETIME_PREFIX = {"DTL": "DTL", "Date_And_Time": "DT", "LDT": "LDT"}
_TYPED_JSON = ("Date_And_Time", "LDT", "LTime_Of_Day")  # a prefix to_json cannot infer


def _flatten(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return [leaf for item in value for leaf in _flatten(item)]
    return [value]
