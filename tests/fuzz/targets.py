"""Fuzz targets: the parsers that eat untrusted bytes, and what each must promise.

Every target takes one ``bytes`` input and may only fail with an :class:`~ouc.errors.OucError`
subclass (the parser's own, documented error); anything else escaping — ``IndexError``,
``struct.error``, ``UnicodeDecodeError``, an ``AssertionError`` from an invariant below — is a
bug. The targets also check cheap invariants that a crash-only fuzzer would miss (round trips,
byte accounting), so "no exception" really means "right answer or the right error".

Used two ways:

* by ``test_fuzz.py`` in the normal suite (hypothesis inputs, and a bounded atheris run);
* as a coverage-guided fuzzer when atheris is installed (``run_atheris.py``)::

      python tests/fuzz/run_atheris.py params -max_total_time=600 CORPUS_DIR

This file is imported by path (the suite runs in importlib mode), so it imports nothing from
the tests.
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from ouc.db import Layout, parse_scl
from ouc.errors import OucError
from ouc.framing import (
    AdHocReceiver,
    DataTPDU,
    FixedReceiver,
    MessageAssembler,
    TpduDecoder,
    decode_packet,
)
from ouc.params import build, parse, validate

Target = Callable[[bytes], None]

#: The standard example's data block (domain.md §1): 258 bytes.
STANDARD_SCL = "Var1 : Bool := TRUE;\nVar2 : String := 'Hello World!';\n"
#: A nested block with every tricky part: Structs in Structs, Bool arrays (bit packing, 2-D),
#: WString, DTL, Real/LReal, Time types, odd-byte Char/Byte followed by word-aligned types.
NESTED_SCL = """
Head : Struct
    Flag : Bool;
    Bits : Array[1..2, 0..4] of Bool;
    Count : Array[0..2] of Int;
    Inner : Struct
        Value : Real;
        Name : WString[4];
        Tag : Char;
    END_STRUCT;
END_STRUCT;
Stamp : DTL;
Label : String[8];
Precise : LReal;
Code : Byte;
Wide : WChar;
Span : Time;
Clock : Time_Of_Day;
Day : Date;
Long : LTime;
"""

_LAYOUTS: dict[str, Layout] = {}


def layout(name: str) -> Layout:
    """The fuzzed layouts, parsed once per process."""
    if name not in _LAYOUTS:
        _LAYOUTS[name] = parse_scl(STANDARD_SCL if name == "standard" else NESTED_SCL, name)
    return _LAYOUTS[name]


def _only_ouc_errors(function: Target) -> Target:
    """Swallow the parser's own errors; let everything else (the bugs) escape."""

    def target(data: bytes) -> None:
        try:
            function(data)
        except OucError as exc:
            # An OucError is only fine if it is a real one: it says something.
            assert str(exc), f"{type(exc).__name__} without a message"

    target.__name__ = function.__name__
    target.__doc__ = function.__doc__
    return target


@_only_ouc_errors
def params(data: bytes) -> None:
    """``ouc.params.parse`` on any bytes; a parsed block rebuilds to a block that parses equal,
    and validates (to a list of findings) without crashing."""
    block = parse(data)
    assert parse(build(block)) == block, "parse(build(parse(data))) != parse(data)"
    findings = validate(block)
    assert all(f.status >= 0x8000 for f in findings)


def _sized(data: bytes, size: int) -> bytes:
    """Most inputs are cut or padded to the layout's size, so the decoder gets past the length
    check; the first byte lets a few through unchanged to exercise that check too."""
    if not data or data[0] % 8:
        return data[1 : size + 1].ljust(size, b"\x00")
    return data[1:]


def _decode_layout(name: str, data: bytes) -> None:
    plan = layout(name)
    image = _sized(data, plan.size)
    values = plan.decode(image)
    again = plan.encode(values)
    assert len(again) == plan.size
    # What the decoder accepted, the encoder can write, and it decodes to the same values
    # (compared on the re-encoded bytes: NaN Reals would defeat a comparison of values).
    assert plan.encode(plan.decode(again)) == again


@_only_ouc_errors
def layout_standard(data: bytes) -> None:
    """``Layout.decode`` on the standard example's 258-byte ``Send_Data`` block."""
    _decode_layout("standard", data)


@_only_ouc_errors
def layout_nested(data: bytes) -> None:
    """``Layout.decode`` on a nested layout with every kind of member."""
    _decode_layout("nested", data)


def _chunks(data: bytes) -> tuple[int, list[bytes]]:
    """The first byte is a parameter; the rest is cut where the next byte says."""
    if not data:
        return 1, []
    head, rest = data[0], data[1:]
    cut = head % (len(rest) + 1)
    return head, [c for c in (rest[:cut], rest[cut:]) if c]


@_only_ouc_errors
def tpdu(data: bytes) -> None:
    """``TpduDecoder`` on a stream in two pieces, DT TPDUs into a ``MessageAssembler``; every
    decoded TPDU re-encodes to a packet that decodes equal."""
    head, chunks = _chunks(data)
    decoder = TpduDecoder()
    assembler = MessageAssembler(max_len=64 + head)
    fed = 0
    for chunk in chunks:
        decoder.feed(chunk)
        fed += len(chunk)
        while (unit := decoder.next_tpdu()) is not None:
            wire = unit.encode()
            assert decode_packet(wire) == (unit, len(wire)), f"{unit!r} does not round-trip"
            if isinstance(unit, DataTPDU):
                try:
                    message = assembler.add(unit.data, unit.eot)
                except OucError:
                    continue  # 16#8088: the job fails, the connection (and the fuzzing) goes on
                assert message is None or len(message) <= 64 + head
    assert decoder.buffered <= fed


@_only_ouc_errors
def stream(data: bytes) -> None:
    """``FixedReceiver`` / ``AdHocReceiver``: every byte fed comes out once, in order, in frames
    of exactly LEN (fixed) or at most LEN (ad hoc) bytes, whatever the split."""
    head, chunks = _chunks(data)
    length = head % 16 + 1
    fixed, adhoc = FixedReceiver(length), AdHocReceiver(length)
    fixed_out: list[bytes] = []
    adhoc_out: list[bytes] = []
    for chunk in chunks:
        fixed_out += fixed.feed(chunk)
        adhoc_out += adhoc.feed(chunk)
    joined = b"".join(chunks)
    assert all(len(frame) == length for frame in fixed_out)
    assert b"".join(fixed_out) == joined[: len(joined) - fixed.buffered]
    assert fixed.buffered < length
    assert all(0 < len(piece) <= length for piece in adhoc_out)
    assert b"".join(adhoc_out) == joined


def _import_module() -> ModuleType:
    """``targets_import.py``, loaded by path like this file (no sibling imports in tests)."""
    spec = importlib.util.spec_from_file_location(
        "ouc_fuzz_targets_import", Path(__file__).with_name("targets_import.py")
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_IMPORTS = _import_module()

TARGETS: dict[str, Target] = {
    "params": params,
    "layout_standard": layout_standard,
    "layout_nested": layout_nested,
    "tpdu": tpdu,
    "stream": stream,
    **{name: _only_ouc_errors(target) for name, target in _IMPORTS.IMPORT_TARGETS.items()},
}


@functools.cache
def seeds() -> dict[str, list[bytes]]:
    """A small valid corpus per target, so a fuzzer starts from inputs that get deep."""
    from ouc.framing import ConnectionRequest, encode_message
    from ouc.params import SAMPLES

    blocks = [build(block) for block in SAMPLES.values()]
    standard, nested = layout("standard"), layout("nested")
    iso = ConnectionRequest(b"\x01\x00", b"\x01\x02", 1024, src_ref=1).encode()
    return {
        "params": blocks,
        "layout_standard": [b"\x01" + standard.encode(), b"\x00" + standard.encode()],
        "layout_nested": [b"\x01" + nested.encode()],
        "tpdu": [b"\x10" + iso + encode_message(bytes(300), 128)],
        "stream": [b"\x05" + bytes(range(40))],
        **_IMPORTS.import_seeds(),
    }
