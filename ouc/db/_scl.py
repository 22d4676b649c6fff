"""Read and write SCL declarations of data blocks, the way a PLC engineer writes them.

Accepted, all in one grammar:

* a bare list of declarations: ``Var1 : Bool := TRUE; Var2 : String;``
* the same inside ``VAR ... END_VAR`` or ``STRUCT ... END_STRUCT``;
* a whole source file as the engineering tool generates it: ``TYPE "UDT" ... END_TYPE`` blocks,
  then ``DATA_BLOCK "Name" { S7_Optimized_Access := 'FALSE' } VERSION : 0.1 NON_RETAIN VAR ...
  END_VAR BEGIN Var2 := 'x'; END_DATA_BLOCK`` (a block may also be declared as a UDT:
  ``DATA_BLOCK "Name" "UDT" BEGIN ... END_DATA_BLOCK``).

Comments (``//``, ``(* *)``, ``/* */``), attribute blocks ``{ ... }`` and ``TITLE``/``AUTHOR``/
``FAMILY``/``NAME`` lines are skipped. Assignments in ``BEGIN`` become start values.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from ouc.db._codecs import CodecError
from ouc.db._layout import Layout
from ouc.db._lexer import Token, tokenize
from ouc.db._literals import format_value, read_literal
from ouc.db._plan import compile_type, split_path
from ouc.db._types import (
    MAX_NESTING,
    ArrayType,
    DataType,
    Member,
    ScalarType,
    StringType,
    StructType,
)
from ouc.errors import DataBlockError

__all__ = ["layout_to_scl", "parse_scl", "parse_type"]

# Header lines whose value is free text up to the end of the line.
_FREE_TEXT = re.compile(
    r"^[ \t]*(TITLE[ \t]*=|AUTHOR[ \t]*:|FAMILY[ \t]*:|NAME[ \t]*:).*$", re.I | re.M
)
_HEADER_WORDS = {"NON_RETAIN", "RETAIN", "KNOW_HOW_PROTECT", "READ_ONLY", "UNLINKED", "CONSTANT"}
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


def parse_scl(text: str, name: str | None = None) -> Layout:
    """Parse SCL declarations into a :class:`~ouc.db.Layout`.

    Args:
        text: declarations (see the module docstring for the accepted forms).
        name: the layout's name when the text declares none; when the text holds several
            ``DATA_BLOCK`` s, the one to use.

    Raises:
        DataBlockError: a syntax error or a bad declaration, with ``path="line N"``.

    Example:
        >>> parse_scl("Var1 : Bool; Var2 : String;").size
        258
    """
    return _Parser(text).parse_file(name)


def parse_type(text: str) -> DataType:
    """Parse type text such as ``Int``, ``String[20]``, ``Array[1..2, 0..3] of Int``.

    A ``Struct`` needs members and so cannot be given as text alone.
    """
    parser = _Parser(text)
    dtype = parser.parse_type(allow_struct=False)
    parser.expect_eof()
    return dtype


class _Parser:
    """Recursive descent over the token list; ``types`` collects ``TYPE`` blocks (UDTs)."""

    def __init__(self, text: str) -> None:
        text = _FREE_TEXT.sub("", text.lstrip("\ufeff"))
        self.tokens = tokenize(text)
        self.pos = 0
        self.types: dict[str, StructType] = {}
        self.lines: dict[str, int] = {}  # variable name (lower case) → line of its declaration
        self.depth = 0  # Struct/Array nesting, bounded before recursion could overflow

    # -- token helpers ----------------------------------------------------------------------

    @property
    def tok(self) -> Token:
        # Stay on ``eof`` once there: a rule that steps over a token it did not check (a value
        # after ``:=``) must meet "end of text" next, not run off the list.
        tokens = self.tokens
        return tokens[self.pos] if self.pos < len(tokens) else tokens[-1]

    def fail(self, message: str, tok: Token | None = None) -> DataBlockError:
        return DataBlockError(message, path=f"line {(tok or self.tok).line}")

    def is_word(self, *words: str) -> bool:
        return self.tok.kind == "name" and self.tok.text.upper() in words

    def at_keyword(self, *words: str) -> bool:
        """A keyword, not a variable that happens to be called ``Type`` (``Type : Int;``)."""
        nxt = self.tokens[min(self.pos + 1, len(self.tokens) - 1)]
        return self.is_word(*words) and not (nxt.kind == "punct" and nxt.text in (":", "{"))

    def is_punct(self, text: str) -> bool:
        return self.tok.kind == "punct" and self.tok.text == text

    def take_punct(self, text: str) -> bool:
        if self.is_punct(text):
            self.pos += 1
            return True
        return False

    def expect_punct(self, text: str) -> None:
        if not self.take_punct(text):
            raise self.fail(f"expected {text!r}, found {self.tok.text or 'end of text'!r}")

    def expect_word(self, word: str) -> None:
        if not self.is_word(word):
            raise self.fail(f"expected {word}, found {self.tok.text or 'end of text'!r}")
        self.pos += 1

    def expect_eof(self) -> None:
        if self.tok.kind != "eof":
            raise self.fail(f"unexpected {self.tok.text!r}")

    def skip_attributes(self) -> dict[str, Any]:
        """Skip ``{ Key := 'Value'; ... }`` and return what it said (keys upper-cased)."""
        attrs: dict[str, Any] = {}
        while self.take_punct("{"):
            while not self.take_punct("}"):
                if self.tok.kind == "eof":
                    raise self.fail("attribute block is never closed")
                key = self.tok.text.upper()
                self.pos += 1
                if self.take_punct(":="):
                    if self.tok.kind == "eof":
                        raise self.fail("attribute block is never closed")
                    attrs[key] = self.tok.value if self.tok.kind == "string" else self.tok.text
                    self.pos += 1
        return attrs

    # -- file level -------------------------------------------------------------------------

    def parse_file(self, want: str | None) -> Layout:
        blocks: list[tuple[str | None, tuple[Member, ...], int]] = []
        loose: list[Member] = []
        while self.tok.kind != "eof":
            if self.at_keyword("TYPE"):
                self.parse_type_block()
            elif self.at_keyword("DATA_BLOCK"):
                blocks.append(self.parse_data_block())
            elif self.at_keyword("VAR"):
                loose.extend(self.parse_var_section())
            elif self.at_keyword("STRUCT"):
                self.pos += 1
                loose.extend(self.parse_members(("END_STRUCT",)))
                self.pos += 1
                self.take_punct(";")
            else:
                loose.extend(self.parse_members(()))
        if blocks and loose:
            raise self.fail("declarations outside the DATA_BLOCK", self.tokens[0])
        if not blocks:
            if not loose:
                raise DataBlockError("the text declares no variables", path="line 1")
            return self.layout(tuple(loose), want, self.tokens[0].line)
        if len(blocks) == 1:
            block_name, members, line = blocks[0]
            return self.layout(members, block_name or want, line)
        chosen = [b for b in blocks if want is not None and b[0] == want]
        if not chosen:
            names = ", ".join(str(b[0]) for b in blocks)
            raise DataBlockError(
                f"the text holds several data blocks ({names}); name one", path="line 1"
            )
        return self.layout(chosen[0][1], chosen[0][0], chosen[0][2])

    def layout(self, members: tuple[Member, ...], name: str | None, line: int) -> Layout:
        """Build the layout; an error moves to the line that declares the variable it names."""
        try:
            return Layout(members, name)
        except DataBlockError as exc:
            names = re.findall(r"[^.\[\]]+", exc.path or "")
            found = [self.lines[n.lower()] for n in reversed(names) if n.lower() in self.lines]
            message = f"{exc.path}: {exc.message}" if exc.path else exc.message
            where = found[0] if found else line
            raise DataBlockError(message, status=exc.status, path=f"line {where}") from None

    def block_name(self, keyword: str) -> tuple[Token, str]:
        """Skip ``TYPE``/``DATA_BLOCK`` and read the name after it."""
        start = self.tok
        self.pos += 1
        if self.tok.kind not in ("qname", "name"):
            raise self.fail(f"{keyword} needs a name")
        self.pos += 1
        return start, self.tokens[self.pos - 1].text

    def parse_type_block(self) -> None:
        start, udt = self.block_name("TYPE")
        self.skip_headers()
        self.expect_word("STRUCT")
        members = self.parse_members(("END_STRUCT",))
        self.pos += 1
        self.take_punct(";")
        self.skip_headers()
        self.expect_word("END_TYPE")
        try:
            self.types[udt.lower()] = StructType(tuple(members))
        except DataBlockError as exc:
            raise _at(exc, start) from None

    def skip_headers(self) -> dict[str, Any]:
        attrs: dict[str, Any] = {}
        while True:
            if self.is_punct("{"):
                attrs.update(self.skip_attributes())
            elif self.is_word("VERSION"):
                self.pos += 1
                self.expect_punct(":")
                self.pos += 1
            elif self.tok.kind == "name" and self.tok.text.upper() in _HEADER_WORDS:
                self.pos += 1
            else:
                return attrs

    def parse_data_block(self) -> tuple[str | None, tuple[Member, ...], int]:
        start, block = self.block_name("DATA_BLOCK")
        attrs = self.skip_headers()
        if str(attrs.get("S7_OPTIMIZED_ACCESS", "FALSE")).upper() == "TRUE":
            raise self.fail(
                f"DATA_BLOCK {block} uses optimized access, which has no fixed offsets; "
                "switch 'Optimized block access' off",
                start,
            )
        members: list[Member] = []
        if self.tok.kind == "qname":
            members.extend(self.udt(self.tok).members)
            self.pos += 1
        while self.is_word("VAR", "STRUCT"):
            if self.is_word("VAR"):
                members.extend(self.parse_var_section())
            else:
                self.pos += 1
                members.extend(self.parse_members(("END_STRUCT",)))
                self.pos += 1
                self.take_punct(";")
        if self.is_word("BEGIN"):
            self.pos += 1
            while not self.is_word("END_DATA_BLOCK"):
                members = self.parse_assignment(members)
        self.expect_word("END_DATA_BLOCK")
        return block, tuple(members), start.line

    def parse_var_section(self) -> list[Member]:
        self.pos += 1
        while self.tok.kind == "name" and self.tok.text.upper() in _HEADER_WORDS:
            self.pos += 1
        self.skip_attributes()
        members = self.parse_members(("END_VAR",))
        self.pos += 1
        return members

    def parse_assignment(self, members: list[Member]) -> list[Member]:
        """``Motor.Speed := 5;`` in a BEGIN section: becomes that variable's start value."""
        start = self.tok
        parts: list[str] = []
        while not self.is_punct(":="):
            if self.tok.kind in ("eof",) or self.is_punct(";"):
                raise self.fail("expected 'variable := value;' in the BEGIN section")
            parts.append(self.tok.text)
            self.pos += 1
        self.pos += 1
        value, self.pos = read_literal(self.tokens, self.pos)
        self.expect_punct(";")
        try:
            return assign_start(members, "".join(parts), value)
        except DataBlockError as exc:
            raise _at(exc, start) from None

    # -- declarations -----------------------------------------------------------------------

    def parse_members(self, enders: tuple[str, ...]) -> list[Member]:
        """Declarations up to (not including) one of ``enders``, or to the end of the text."""
        members: list[Member] = []
        seen: set[str] = set()
        while not (self.is_word(*enders) if enders else self.tok.kind == "eof"):
            if self.tok.kind == "eof":
                raise self.fail(f"expected {' or '.join(enders)} before the end of the text")
            if not enders and self.at_keyword("VAR", "STRUCT", "TYPE", "DATA_BLOCK"):
                return members
            start = self.tok
            member = self.parse_member()
            if member.name.lower() in seen:
                raise self.fail(f"{member.name} is declared twice (names ignore case)", start)
            seen.add(member.name.lower())
            members.append(member)
        return members

    def parse_member(self) -> Member:
        start = self.tok
        if start.kind not in ("name", "qname"):
            raise self.fail(f"expected a variable name, found {start.text or 'end of text'!r}")
        self.pos += 1
        self.lines.setdefault(start.text.lower(), start.line)
        self.skip_attributes()
        self.expect_punct(":")
        dtype = self.parse_type(allow_struct=True)
        value: Any = None
        if self.take_punct(":="):
            value, self.pos = read_literal(self.tokens, self.pos)
        if not self.take_punct(";"):
            raise self.fail(f"expected ';' after the declaration of {start.text}")
        try:
            return Member(start.text, dtype, value)
        except DataBlockError as exc:
            raise _at(exc, start) from None

    def parse_type(self, *, allow_struct: bool) -> DataType:
        tok = self.tok
        if tok.kind == "qname":
            self.pos += 1
            return self.udt(tok)
        if tok.kind != "name":
            raise self.fail(f"expected a data type, found {tok.text or 'end of text'!r}")
        word = tok.text.upper()
        self.pos += 1
        if word in ("STRUCT", "ARRAY"):
            self.depth += 1
            try:
                if self.depth > MAX_NESTING:
                    raise self.fail(f"nesting is deeper than {MAX_NESTING} levels", tok)
                return self.parse_container(word, tok, allow_struct)
            finally:
                self.depth -= 1
        if word in ("STRING", "WSTRING"):
            length = 254
            if self.take_punct("["):
                if self.tok.kind != "number" or not self.tok.text.isdigit():
                    raise self.fail(f"{tok.text}[...] needs a whole number of characters")
                length = int(self.tok.text)
                self.pos += 1
                self.expect_punct("]")
            return self.wrap(lambda: StringType(length, wide=word == "WSTRING"), tok)
        return self.wrap(lambda: ScalarType(tok.text), tok)

    def parse_container(self, word: str, tok: Token, allow_struct: bool) -> DataType:
        """The rest of ``Struct ... END_STRUCT`` or ``Array[...] of type`` after the keyword."""
        if word == "STRUCT":
            if not allow_struct:
                raise self.fail("a Struct is declared with its members", tok)
            members = self.parse_members(("END_STRUCT",))
            self.pos += 1
            return self.wrap(lambda: StructType(tuple(members)), tok)
        self.expect_punct("[")
        dims = [self.parse_dim()]
        while self.take_punct(","):
            dims.append(self.parse_dim())
        self.expect_punct("]")
        self.expect_word("OF")
        element = self.parse_type(allow_struct=allow_struct)
        return self.wrap(lambda: ArrayType(tuple(dims), element), tok)

    def parse_dim(self) -> tuple[int, int]:
        lo = self.parse_bound()
        self.expect_punct("..")
        return lo, self.parse_bound()

    def parse_bound(self) -> int:
        sign = -1 if self.take_punct("-") else 1
        if self.tok.kind != "number" or not self.tok.text.replace("_", "").isdigit():
            raise self.fail(f"array bound must be a whole number, found {self.tok.text!r}")
        value = int(self.tok.text.replace("_", ""))
        self.pos += 1
        return sign * value

    def udt(self, tok: Token) -> StructType:
        found = self.types.get(tok.text.lower())
        if found is None:
            raise self.fail(
                f'type "{tok.text}" is not declared (TYPE blocks come before their use)', tok
            )
        return found

    def wrap(self, make: Any, tok: Token) -> Any:
        try:
            return make()
        except DataBlockError as exc:
            raise _at(exc, tok) from None


def _at(exc: DataBlockError, tok: Token) -> DataBlockError:
    """The same error, located at a line (a variable path moves into the message)."""
    message = (
        f"{exc.path}: {exc.message}"
        if exc.path and not exc.path.startswith("line ")
        else exc.message
    )
    path = exc.path if exc.path and exc.path.startswith("line ") else f"line {tok.line}"
    return DataBlockError(message, status=exc.status, path=path)


def assign_start(members: list[Member], path: str, value: Any) -> list[Member]:
    """Members with the start value at ``path`` (``Motor.Speed``, ``Speeds[2]``) replaced."""
    try:
        parts = split_path(path)
    except CodecError as exc:
        raise DataBlockError(exc.message) from None
    return list(_assign(tuple(members), parts, value, path))


def _assign(
    members: tuple[Member, ...], parts: list[Any], value: Any, path: str
) -> tuple[Member, ...]:
    head, rest = parts[0], parts[1:]
    if not isinstance(head, str):
        raise DataBlockError("an index needs an array in front of it", path=path)
    for n, member in enumerate(members):
        if member.name.lower() != head.lower():
            continue
        mtype = member.type
        if isinstance(mtype, ArrayType) and isinstance(mtype.element, StructType) and rest:
            raise DataBlockError(
                "start values of single elements of a Struct array are not supported", path=path
            )
        if not rest:
            new = dataclasses.replace(member, start=value)
        elif isinstance(mtype, StructType) and isinstance(rest[0], str):
            new = dataclasses.replace(
                member, type=StructType(_assign(mtype.members, rest, value, path))
            )
        elif isinstance(mtype, ArrayType) and isinstance(rest[0], tuple) and len(rest) == 1:
            k = mtype.flat_index(rest[0])
            flat = list(member.start or ())
            if len(flat) <= k:
                flat.extend([_element_default(mtype.element)] * (k + 1 - len(flat)))
            flat[k] = value
            new = dataclasses.replace(member, start=tuple(flat))
        else:
            raise DataBlockError("does not name a variable of this block", path=path)
        return (*members[:n], new, *members[n + 1 :])
    raise DataBlockError("is not declared", path=path)


def _element_default(dtype: DataType) -> Any:
    if isinstance(dtype, ScalarType) and dtype.name == "Bool":
        return False
    codec = compile_type(dtype, strict=False)
    return codec.decode(codec.defaults(), 0)


# -- writing -------------------------------------------------------------------------------


def layout_to_scl(layout: Layout) -> str:
    """SCL source for ``layout``: a standard-access ``DATA_BLOCK`` (bare ``VAR`` when unnamed)."""
    body = ["   VAR"]
    for member in layout.members:
        body.extend(_member_lines(member, 2))
    body.append("   END_VAR")
    if layout.name is None:
        return "\n".join(body) + "\n"
    head = [
        f'DATA_BLOCK "{layout.name}"',
        "{ S7_Optimized_Access := 'FALSE' }",
        "VERSION : 0.1",
        "NON_RETAIN",
    ]
    return "\n".join([*head, *body, "", "BEGIN", "", "END_DATA_BLOCK"]) + "\n"


def _name(name: str) -> str:
    return name if _PLAIN_NAME.match(name) else f'"{name}"'


def _member_lines(member: Member, level: int) -> list[str]:
    pad = "   " * level
    comment = f"   // {member.comment}" if member.comment else ""
    dtype = member.type
    inner = dtype.element if isinstance(dtype, ArrayType) else dtype
    if isinstance(inner, StructType):
        head = f"{dtype.text[: -len('Struct')]}Struct" if isinstance(dtype, ArrayType) else "Struct"
        lines = [f"{pad}{_name(member.name)} : {head}{comment}"]
        for sub in inner.members:
            lines.extend(_member_lines(sub, level + 1))
        return [*lines, f"{pad}END_STRUCT;"]
    start = "" if member.start is None else " := " + format_value(dtype, member.start)
    return [f"{pad}{_name(member.name)} : {dtype.text}{start};{comment}"]
