"""Value codecs of the elementary types: Python value ⇄ ``struct`` fields, with range checks.

Each codec owns a slice of one big ``struct.Struct`` format (``fmt``, ``size`` bytes,
``nfields`` fields). ``encode`` validates a Python value and writes its fields into a list at a
given index; ``decode`` reads them back from the unpacked tuple. Both raise
:class:`CodecError` with a sentence; the containers in ``_plan`` add the variable path on the way
out, so that no path text is built while nothing is wrong.

Value types (the decisions taken for each):

* Bool → ``bool``; Byte..ULInt, Word..LWord → ``int``; Real/LReal → ``float`` (a Real is stored
  as float32, so it decodes to the nearest float32 value);
* Char → one Latin-1 character (every byte decodes), WChar → one UTF-16 code unit;
  String[n] → Latin-1 text of at most n characters; WString[n] → at most n UTF-16 units;
* Date → ``date``; Time → ``timedelta`` (ms; an ``int`` is taken as ms); LTime → ``int``
  nanoseconds (a ``timedelta`` is accepted); Time_Of_Day → ``time`` (an ``int`` is taken as ms);
  DTL → naive ``datetime`` (nanoseconds below the microsecond are dropped on decode);
* Date_And_Time (DT, 8 BCD bytes, 1990..2089, milliseconds) and LDT (nanoseconds since 1970)
  → naive ``datetime``; LTime_Of_Day (nanoseconds since midnight) → ``time`` (an ``int`` is
  taken as ns, in whole microseconds). As with DTL, nanoseconds below the microsecond are
  dropped on decode and refused by a strict decode.
"""

from __future__ import annotations

import datetime as dt
import re
import struct
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from ouc.db._literals import DATE_EPOCH, Literal, Nanoseconds, parse_literal
from ouc.errors import DataBlockError

__all__ = ["Codec", "CodecError", "scalar_codec", "string_codec"]

_F32 = struct.Struct(">f")
_QUOTED = re.compile(r"(?i)((W?STRING|W?CHAR)#)?'")
_MAX_DATE = 65378  # D#2168-12-31, the last Date the PLC accepts
_MS_PER_DAY = 86_400_000
_DTL_MIN = dt.datetime(1970, 1, 1)
_DTL_MAX = dt.datetime(2262, 4, 11, 23, 47, 16, 854775)
_DT_MIN = dt.datetime(1990, 1, 1)
_DT_MAX = dt.datetime(2089, 12, 31, 23, 59, 59, 999000)
_EPOCH = dt.datetime(1970, 1, 1)
_LDT_MAX_NS = 2**63 - 1  # LDT#2262-04-11-23:47:16.854775807
_NS_PER_DAY = 86_400 * 10**9
_US = dt.timedelta(microseconds=1)
_MS = dt.timedelta(milliseconds=1)
_SPECIAL_FLOATS = {
    f"{sign}{word}": float(f"{sign or '+'}inf")
    for sign in ("", "+", "-")
    for word in ("inf", "infinity")
} | {"nan": float("nan")}


class CodecError(Exception):
    """A value or byte image that does not fit; ``path`` is filled in by the containers."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []


class Codec:
    """Base of all codecs: ``fmt`` covers exactly ``size`` bytes with ``nfields`` fields."""

    fmt: str = ""
    size: int = 0
    nfields: int = 0
    text: str = ""

    def defaults(self) -> list[Any]:
        """The fields of the type's default value."""
        raise NotImplementedError

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        """Read the value whose first field is ``raw[i]``."""
        raise NotImplementedError

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        """Validate ``value`` and write its fields at ``fields[i]``."""
        raise NotImplementedError


def literal(value: Any, text: str) -> Any:
    """Resolve a :class:`Literal` into a Python value for a non-text type named ``text``."""
    if not isinstance(value, Literal):
        return value
    try:
        return parse_literal(value.text)
    except DataBlockError as exc:
        raise CodecError(f"{value.text!r} is not a valid {text} value ({exc.message})") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _PlainCodec(Codec):
    """A number stored in one ``struct`` field that decodes to the field itself."""

    nfields = 1

    def __init__(self, text: str, code: str) -> None:
        self.text, self.fmt = text, code
        self.size = struct.calcsize(">" + code)

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        return raw[i]


class _IntCodec(_PlainCodec):
    """Byte, Word, DWord, LWord, SInt..ULInt: an int in the type's range."""

    def __init__(self, text: str, code: str, lo: int, hi: int) -> None:
        super().__init__(text, code)
        self.lo, self.hi = lo, hi

    def defaults(self) -> list[Any]:
        return [0]

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = literal(value, self.text)
        if not _is_int(value) or isinstance(value, Nanoseconds):
            raise CodecError(f"{self.text} expects a whole number, got {value!r}")
        if not self.lo <= value <= self.hi:
            raise CodecError(f"{value} is outside the {self.text} range {self.lo}..{self.hi}")
        fields[i] = value


class _RealCodec(_PlainCodec):
    """Real (float32) and LReal (float64)."""

    def defaults(self) -> list[Any]:
        return [0.0]

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        if isinstance(value, Literal):
            # What JSON output ("Infinity", "NaN") and the tables ("inf") write reads back.
            value = _SPECIAL_FLOATS.get(value.text.strip().lower(), value)
        value = literal(value, self.text)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise CodecError(f"{self.text} expects a number, got {value!r}")
        try:
            value = float(value)
            if self.fmt == "f":
                _F32.pack(value)
        except OverflowError as exc:
            raise CodecError(f"{value!r} is too large for {self.text}") from exc
        fields[i] = value


class _CharCodec(Codec):
    """Char (a Latin-1 byte) and WChar (a UTF-16 code unit)."""

    nfields = 1

    def __init__(self, wide: bool) -> None:
        self.wide = wide
        self.text, self.fmt, self.size = ("WChar", "H", 2) if wide else ("Char", "B", 1)
        self.limit = 0xFFFF if wide else 0xFF

    def defaults(self) -> list[Any]:
        # TIA Portal shows ' ' as the default start value of Char and WChar (inference).
        return [0x20]

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        return chr(raw[i])

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = text_value(value)
        if not isinstance(value, str) or len(value) != 1:
            raise CodecError(f"{self.text} expects exactly one character, got {value!r}")
        code = ord(value)
        if code > self.limit:
            what = "a UTF-16 code unit" if self.wide else "a Latin-1 character"
            raise CodecError(f"{value!r} is not {what}")
        fields[i] = code


def text_value(value: Any) -> Any:
    """For text types: a Literal is raw text unless written as a quoted SCL string."""
    if not isinstance(value, Literal):
        return value
    text = value.text
    if len(text) >= 2 and text.endswith("'") and _QUOTED.match(text):
        try:
            result = parse_literal(text)
        except DataBlockError as exc:
            raise CodecError(f"{text!r} is not a string literal ({exc.message})") from exc
        if isinstance(result, str):
            return result
    return text


class _StringCodec(Codec):
    """String[n] (Latin-1) and WString[n] (UTF-16): header of max and current length, then text."""

    nfields = 3

    def __init__(self, length: int, wide: bool, strict: bool) -> None:
        self.length, self.wide, self.strict = length, wide, strict
        kind = "WString" if wide else "String"
        self.text = f"{kind}[{length}]"
        self.fmt = f"HH{2 * length}s" if wide else f"BB{length}s"
        self.size = (length + 2) * (2 if wide else 1)

    def defaults(self) -> list[Any]:
        return [self.length, 0, b""]

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        declared, current, data = raw[i], raw[i + 1], raw[i + 2]
        if current > self.length:
            raise CodecError(f"current length {current} is larger than the {self.text} holds")
        if self.strict and declared != self.length:
            raise CodecError(
                f"maximum-length header says {declared}, the layout declares {self.text}"
            )
        if self.wide:
            return data[: 2 * current].decode("utf-16-be", "surrogatepass")
        return data[:current].decode("latin-1")

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = text_value(value)
        if not isinstance(value, str):
            raise CodecError(f"{self.text} expects text, got {value!r}")
        try:
            data = (
                value.encode("utf-16-be", "surrogatepass") if self.wide else value.encode("latin-1")
            )
        except UnicodeEncodeError as exc:
            raise CodecError(
                f"{value[exc.start : exc.end]!r} cannot be stored in a String (Latin-1)"
            ) from exc
        count = len(data) // 2 if self.wide else len(data)
        if count > self.length:
            raise CodecError(f"text of {count} characters is longer than {self.text} holds")
        fields[i : i + 3] = [self.length, count, data]


class _DateCodec(Codec):
    """Date: days since 1990-01-01 as UInt, up to D#2168-12-31."""

    text, fmt, size, nfields = "Date", "H", 2, 1

    def defaults(self) -> list[Any]:
        return [0]

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        days = raw[i]
        if days > _MAX_DATE:
            raise CodecError(f"day number {days} is after D#2168-12-31, the last valid Date")
        return DATE_EPOCH + dt.timedelta(days=days)

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = literal(value, self.text)
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise CodecError(f"Date expects a datetime.date, got {value!r}")
        days = (value - DATE_EPOCH).days
        if not 0 <= days <= _MAX_DATE:
            raise CodecError(f"{value.isoformat()} is outside D#1990-01-01..D#2168-12-31")
        fields[i] = days


def _duration_ns(value: Any, text: str, int_unit_ns: int) -> int:
    """timedelta, Nanoseconds or int (in ``int_unit_ns``) → nanoseconds."""
    if isinstance(value, dt.timedelta):
        return (value // _US) * 1000
    if isinstance(value, Nanoseconds):
        return int(value)
    if _is_int(value):
        return int(value) * int_unit_ns
    raise CodecError(f"{text} expects a duration (datetime.timedelta or a number), got {value!r}")


class _TimeCodec(Codec):
    """Time: signed milliseconds (DInt); LTime: signed nanoseconds (LInt)."""

    nfields = 1

    def __init__(self, long: bool) -> None:
        self.long = long
        self.text, self.fmt, self.size = ("LTime", "q", 8) if long else ("Time", "i", 4)
        self.unit = 1 if long else 10**6
        self.limit = 2**63 if long else 2**31

    def defaults(self) -> list[Any]:
        return [0]

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        return raw[i] if self.long else dt.timedelta(milliseconds=raw[i])

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = literal(value, self.text)
        ns = _duration_ns(value, self.text, self.unit)
        count, rest = divmod(ns, self.unit)
        if rest:
            raise CodecError(f"{value!r} is finer than the millisecond resolution of Time")
        if not -self.limit <= count < self.limit:
            raise CodecError(f"{value!r} is outside the {self.text} range")
        fields[i] = count


class _TodCodec(Codec):
    """Time_Of_Day: milliseconds since midnight (UDInt), 0..86399999."""

    text, fmt, size, nfields = "Time_Of_Day", "I", 4, 1

    def defaults(self) -> list[Any]:
        return [0]

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        ms = raw[i]
        if ms >= _MS_PER_DAY:
            raise CodecError(f"{ms} ms is past midnight, not a Time_Of_Day")
        secs, ms = divmod(ms, 1000)
        return dt.time(secs // 3600, secs // 60 % 60, secs % 60, ms * 1000)

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = literal(value, self.text)
        if isinstance(value, dt.time):
            if value.microsecond % 1000:
                raise CodecError(f"{value.isoformat()} is finer than a millisecond")
            ms = ((value.hour * 60 + value.minute) * 60 + value.second) * 1000
            ms += value.microsecond // 1000
        elif _is_int(value) and not isinstance(value, Nanoseconds):
            ms = value
        else:
            raise CodecError(f"Time_Of_Day expects a datetime.time or milliseconds, got {value!r}")
        if not 0 <= ms < _MS_PER_DAY:
            raise CodecError(f"{ms} ms is outside a day (0..86399999)")
        fields[i] = ms


def _datetime_in(value: Any, text: str, lo: dt.datetime, hi: dt.datetime) -> dt.datetime:
    """A datetime for DTL/DT/LDT, naive (a time zone is dropped), within ``lo..hi``."""
    if not isinstance(value, dt.datetime):
        raise CodecError(f"{text} expects a datetime.datetime, got {value!r}")
    value = value.replace(tzinfo=None)
    if not lo <= value <= hi:
        raise CodecError(f"{value.isoformat()} is outside the {text} range {lo.year}..{hi.year}")
    return value


class _DtlCodec(Codec):
    """DTL: Year UInt, Month, Day, Weekday (1 = Sunday), Hour, Minute, Second, Nanosecond UDInt."""

    text, fmt, size, nfields = "DTL", "HBBBBBBI", 12, 8

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def defaults(self) -> list[Any]:
        return [1970, 1, 1, 5, 0, 0, 0, 0]  # DTL#1970-01-01-00:00:00, a Thursday

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        year, month, day, weekday, hour, minute, second, nanos = raw[i : i + 8]
        if nanos >= 10**9:
            raise CodecError(f"nanosecond field {nanos} is not below one second")
        try:
            value = dt.datetime(year, month, day, hour, minute, second, nanos // 1000)
        except ValueError as exc:
            raise CodecError(f"is not a valid date and time ({exc})") from exc
        if not _DTL_MIN <= value <= _DTL_MAX:
            raise CodecError(f"{value.isoformat()} is outside the DTL range 1970..2262")
        if self.strict and weekday != value.isoweekday() % 7 + 1:
            raise CodecError(f"weekday field {weekday} does not match {value.date().isoformat()}")
        if self.strict and nanos % 1000:
            raise CodecError(f"nanosecond field {nanos} is finer than a microsecond")
        return value

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = _datetime_in(literal(value, self.text), "DTL", _DTL_MIN, _DTL_MAX)
        fields[i : i + 8] = [
            value.year,
            value.month,
            value.day,
            _weekday(value),
            value.hour,
            value.minute,
            value.second,
            value.microsecond * 1000,
        ]


def _weekday(value: dt.date) -> int:
    """The PLC's day of the week: 1 = Sunday .. 7 = Saturday."""
    return value.isoweekday() % 7 + 1


def _bcd(byte: int) -> int:
    high, low = byte >> 4, byte & 0x0F
    if high > 9 or low > 9:
        raise CodecError(f"byte 16#{byte:02X} is not a BCD number")
    return high * 10 + low


def _to_bcd(number: int) -> int:
    return (number // 10) << 4 | number % 10


class _DtCodec(Codec):
    """Date_And_Time (DT): 8 BCD bytes, year (90..99 = 1990s, 00..89 = 2000..2089), month,
    day, hour, minute, second, two digits of milliseconds, then the last millisecond digit in
    the high nibble and the weekday (1 = Sunday) in the low nibble of the last byte."""

    text, fmt, size, nfields = "Date_And_Time", "8s", 8, 1

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def defaults(self) -> list[Any]:
        return [bytes([0x90, 1, 1, 0, 0, 0, 0, 0x02])]  # DT#1990-01-01-00:00:00, a Monday

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        data: bytes = raw[i]
        yy, month, day, hour, minute, second, ms_high = (_bcd(b) for b in data[:7])
        ms_low, weekday = data[7] >> 4, data[7] & 0x0F
        if ms_low > 9:
            raise CodecError(f"byte 16#{data[7]:02X} does not hold a BCD millisecond digit")
        year = yy + (1900 if yy >= 90 else 2000)
        try:
            value = dt.datetime(
                year, month, day, hour, minute, second, (ms_high * 10 + ms_low) * 1000
            )
        except ValueError as exc:
            raise CodecError(f"is not a valid date and time ({exc})") from exc
        if self.strict and weekday != _weekday(value):
            raise CodecError(f"weekday field {weekday} does not match {value.date().isoformat()}")
        return value

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = _datetime_in(literal(value, self.text), "DT", _DT_MIN, _DT_MAX)
        if value.microsecond % 1000:
            raise CodecError(f"{value.isoformat()} is finer than the millisecond of DT")
        ms = value.microsecond // 1000
        parts = (value.year % 100, value.month, value.day, value.hour, value.minute, value.second)
        fields[i] = bytes(
            [*(_to_bcd(n) for n in parts), _to_bcd(ms // 10), (ms % 10) << 4 | _weekday(value)]
        )


class _NanosCodec(Codec):
    """A count of nanoseconds in one ULInt field (LDT, LTime_Of_Day), default 0."""

    fmt, size, nfields = "Q", 8, 1

    def __init__(self, strict: bool) -> None:
        self.strict = strict

    def defaults(self) -> list[Any]:
        return [0]

    def micros(self, ns: int) -> int:
        """Nanoseconds → microseconds: dropped below the µs, or refused by a strict decode."""
        micros, rest = divmod(ns, 1000)
        if self.strict and rest:
            raise CodecError(f"{self.text} {ns} ns is finer than a microsecond")
        return micros


class _LdtCodec(_NanosCodec):
    """LDT (Date_And_LTime): nanoseconds since 1970-01-01 00:00, up to 2262-04-11."""

    text = "LDT"

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        ns = raw[i]
        if ns > _LDT_MAX_NS:
            raise CodecError(f"{ns} ns is after LDT#2262-04-11-23:47:16.854775807")
        return _EPOCH + dt.timedelta(microseconds=self.micros(ns))

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = _datetime_in(literal(value, self.text), "LDT", _DTL_MIN, _DTL_MAX)
        fields[i] = (value - _EPOCH) // _US * 1000


class _LtodCodec(_NanosCodec):
    """LTime_Of_Day (LTOD): nanoseconds since midnight, below one day."""

    text = "LTime_Of_Day"

    def decode(self, raw: Sequence[Any], i: int) -> Any:
        ns = raw[i]
        if ns >= _NS_PER_DAY:
            raise CodecError(f"{ns} ns is past midnight, not an LTime_Of_Day")
        secs, micros = divmod(self.micros(ns), 10**6)
        return dt.time(secs // 3600, secs // 60 % 60, secs % 60, micros)

    def encode(self, value: Any, fields: list[Any], i: int) -> None:
        value = literal(value, self.text)
        if isinstance(value, dt.time):
            secs = (value.hour * 60 + value.minute) * 60 + value.second
            ns = (secs * 10**6 + value.microsecond) * 1000
        elif _is_int(value) and not isinstance(value, Nanoseconds):  # not an LT# duration
            ns = int(value)
        else:
            raise CodecError(f"LTime_Of_Day expects a datetime.time or nanoseconds, got {value!r}")
        if not 0 <= ns < _NS_PER_DAY:
            raise CodecError(f"{ns} ns is outside a day (0..86399999999999)")
        if ns % 1000:
            # A decoded value is a datetime.time: what it cannot hold is refused, not lost.
            raise CodecError(f"{ns} ns is finer than the microsecond LTime_Of_Day keeps")
        fields[i] = ns


def _int(text: str, code: str, signed: bool) -> _IntCodec:
    bits = struct.calcsize(code) * 8
    lo, hi = (-(2 ** (bits - 1)), 2 ** (bits - 1) - 1) if signed else (0, 2**bits - 1)
    return _IntCodec(text, code, lo, hi)


# The elementary types' codecs, as constructor arguments: a codec is built when a layout is
# compiled (once per member or array), not at import, so that nothing about a codec is fixed
# before the code that builds it runs (mutation testing switches mutants on at call time).
_INTEGERS: dict[str, tuple[str, bool]] = {  # name → (struct code, signed)
    "Byte": ("B", False),
    "Word": ("H", False),
    "DWord": ("I", False),
    "LWord": ("Q", False),
    "SInt": ("b", True),
    "USInt": ("B", False),
    "Int": ("h", True),
    "UInt": ("H", False),
    "DInt": ("i", True),
    "UDInt": ("I", False),
    "LInt": ("q", True),
    "ULInt": ("Q", False),
}
_OTHERS: dict[str, Callable[[], Codec]] = {
    "Real": partial(_RealCodec, "Real", "f"),
    "LReal": partial(_RealCodec, "LReal", "d"),
    "Char": partial(_CharCodec, wide=False),
    "WChar": partial(_CharCodec, wide=True),
    "Date": _DateCodec,
    "Time": partial(_TimeCodec, long=False),
    "LTime": partial(_TimeCodec, long=True),
    "Time_Of_Day": _TodCodec,
}
# The date-and-time codecs whose strict decode checks more (weekdays, sub-microseconds).
_CHECKED: dict[str, Callable[[bool], Codec]] = {
    cls.text: cls for cls in (_DtlCodec, _DtCodec, _LdtCodec, _LtodCodec)
}


def scalar_codec(name: str, strict: bool) -> Codec:
    """The codec of an elementary type other than Bool, built afresh (codecs are stateless;
    a layout compiles each member's codec once, so the record path never comes here)."""
    integer = _INTEGERS.get(name)
    if integer is not None:
        return _int(name, *integer)
    checked = _CHECKED.get(name)
    if checked is not None:
        return checked(strict)
    return _OTHERS[name]()


def string_codec(length: int, wide: bool, strict: bool) -> Codec:
    """The codec of ``String[length]`` / ``WString[length]``."""
    return _StringCodec(length, wide, strict)


def is_plain_number(codec: Codec) -> bool:
    """True when the decoded value is the raw field itself (fast slicing of arrays)."""
    return isinstance(codec, _PlainCodec)
