"""Standard-access S7 data blocks: the bytes TSEND_C sends and TRCV_C receives.

Declare a block the way a PLC engineer writes it, get its offsets, its size (the ``LEN`` to
use), and encode/decode its byte image::

    >>> from ouc.db import parse_scl
    >>> layout = parse_scl("Var1 : Bool := TRUE; Var2 : String := 'Hello World!';", "Send_Data")
    >>> layout.size
    258
    >>> [(e.path, e.offset) for e in layout.entries()]
    [('Var1', '0.0'), ('Var2', '2.0')]
    >>> layout.decode(layout.encode({"Var2": "Hi"}))
    {'Var1': True, 'Var2': 'Hi'}

Offsets follow domain.md §5: Bools pack into bits, Byte/Char/SInt/USInt take the next byte,
everything else starts on an even byte, Structs and arrays start and end on an even byte, and
every row of the last dimension of a multi-dimensional Bool array starts on a new byte.
Every error is a :class:`~ouc.errors.DataBlockError` whose ``path`` names the variable.
"""

from ouc.db._forms import load_layout, loads_layout
from ouc.db._layout import Entry, Layout
from ouc.db._literals import (
    Literal,
    Nanoseconds,
    format_value,
    json_text,
    parse_literal,
    to_json,
)
from ouc.db._scl import parse_scl, parse_type
from ouc.db._types import (
    MAX_DB_SIZE,
    ArrayType,
    DataType,
    Member,
    ScalarType,
    StringType,
    StructType,
    scalar_names,
)

__all__ = [
    "MAX_DB_SIZE",
    "ArrayType",
    "DataType",
    "Entry",
    "Layout",
    "Literal",
    "Member",
    "Nanoseconds",
    "ScalarType",
    "StringType",
    "StructType",
    "format_value",
    "json_text",
    "load_layout",
    "loads_layout",
    "parse_literal",
    "parse_scl",
    "parse_type",
    "scalar_names",
    "to_json",
]
