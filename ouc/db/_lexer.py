"""Tokens of SCL declarations and literals, with line numbers for error messages.

Shared by the declaration parser (``_scl``) and the literal reader (``_literals``): names,
``"quoted names"``, numbers, ``'strings'`` (``$`` escapes decoded), typed literals such as
``T#5s``, ``16#FF``, ``DTL#2024-01-31-12:00:00``, ``STRING#'x'``, and punctuation. Comments
(``//``, ``(* *)``, ``/* */``) are skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ouc.errors import DataBlockError

__all__ = ["Token", "tokenize"]


@dataclass(frozen=True)
class Token:
    """One token.

    ``kind`` is ``name``, ``qname`` (a double-quoted name), ``number``, ``string``, ``typed``
    (``prefix#body``; ``text`` is the prefix, ``value`` the body or, for ``STRING#'..'``, the
    decoded string), ``punct`` or ``eof``.
    """

    kind: str
    text: str
    line: int
    value: str = ""
    quoted: bool = False  # typed literal whose body was a quoted string


_PUNCT = (":=", "..", ":", ";", ",", "[", "]", "(", ")", "{", "}", ".", "-", "+", "=")
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|\d[\d_]*(?:\.\d[\d_]*)?(?:[eE][+-]?\d+)?")
_BODY = re.compile(r"(?:[A-Za-z0-9_:+#-]|\.(?!\.))+")
_SPACE = re.compile(r"[ \t\r\f\v]+")
_ESCAPES = {"$": "$", "'": "'", '"': '"', "l": "\n", "n": "\n", "p": "\f", "r": "\r", "t": "\t"}
_WIDE_PREFIXES = ("WSTRING", "WCHAR")  # their strings also take $hhhh (one UTF-16 code unit)
_HEX = frozenset("0123456789abcdefABCDEF")


def tokenize(text: str) -> list[Token]:
    """Split SCL text into tokens; the last one is ``eof``.

    Raises:
        DataBlockError: an unterminated string or comment, or a character SCL does not use,
            with ``path="line N"``.
    """
    tokens: list[Token] = []
    pos, line, end = 0, 1, len(text)
    while pos < end:
        ch = text[pos]
        if ch == "\n":
            line += 1
            pos += 1
            continue
        space = _SPACE.match(text, pos)
        if space:
            pos = space.end()
            continue
        if text.startswith("//", pos):
            nl = text.find("\n", pos)
            pos = end if nl < 0 else nl
            continue
        if text.startswith("(*", pos) or text.startswith("/*", pos):
            close = "*)" if ch == "(" else "*/"
            stop = text.find(close, pos + 2)
            if stop < 0:
                raise DataBlockError("comment is never closed", path=f"line {line}")
            line += text.count("\n", pos, stop)
            pos = stop + 2
            continue
        if ch == "'":
            value, pos, line = _read_string(text, pos, line)
            tokens.append(Token("string", value, line, value))
            continue
        if ch == '"':
            stop = text.find('"', pos + 1)
            if stop < 0 or "\n" in text[pos:stop]:
                raise DataBlockError("quoted name is never closed", path=f"line {line}")
            tokens.append(Token("qname", text[pos + 1 : stop], line))
            pos = stop + 1
            continue
        word = _WORD.match(text, pos)
        if word:
            pos = word.end()
            if pos < end and text[pos] == "#":
                pos += 1
                if pos < end and text[pos] == "'":
                    wide = word.group().upper() in _WIDE_PREFIXES
                    value, pos, line = _read_string(text, pos, line, wide)
                    tokens.append(Token("typed", word.group(), line, value, quoted=True))
                    continue
                body = _BODY.match(text, pos)
                if not body:
                    raise DataBlockError(
                        f"{word.group()}# is not followed by a value", path=f"line {line}"
                    )
                pos = body.end()
                tokens.append(Token("typed", word.group(), line, body.group()))
                continue
            kind = "number" if word.group()[0].isdigit() else "name"
            tokens.append(Token(kind, word.group(), line))
            continue
        for punct in _PUNCT:
            if text.startswith(punct, pos):
                tokens.append(Token("punct", punct, line))
                pos += len(punct)
                break
        else:
            raise DataBlockError(f"unexpected character {ch!r}", path=f"line {line}")
    tokens.append(Token("eof", "", line))
    return tokens


def _read_string(text: str, pos: int, line: int, wide: bool = False) -> tuple[str, int, int]:
    """Read a single-quoted SCL string at ``pos``; returns (value, new pos, new line).

    ``$hh`` is one character by its code. In ``wide`` strings (``WSTRING#'..'``,
    ``WCHAR#'..'``) four hex digits ``$hhhh`` are one UTF-16 code unit, as IEC 61131-3 writes
    double-byte strings (that TIA takes ``$hhhh`` in WSTRING# literals is an inference); there
    two digits still mean ``$hh`` when no four follow.
    """
    out: list[str] = []
    start_line = line
    pos += 1
    end = len(text)
    while True:
        if pos >= end:
            raise DataBlockError("string is never closed", path=f"line {start_line}")
        ch = text[pos]
        if ch == "'":
            return "".join(out), pos + 1, line
        if ch == "\n":
            raise DataBlockError("string runs past the end of the line", path=f"line {line}")
        if ch != "$":
            out.append(ch)
            pos += 1
            continue
        nxt = text[pos + 1 : pos + 2]
        if nxt.lower() in _ESCAPES:
            out.append(_ESCAPES[nxt.lower()])
            pos += 2
            continue
        digits = 4 if wide and _hex_at(text, pos + 1, 4) else 2
        if _hex_at(text, pos + 1, digits):
            out.append(chr(int(text[pos + 1 : pos + 1 + digits], 16)))
            pos += 1 + digits
            continue
        raise DataBlockError(f"unknown escape ${nxt} in a string", path=f"line {line}")


def _hex_at(text: str, pos: int, count: int) -> bool:
    """Whether ``count`` hex digits start at ``pos``."""
    digits = text[pos : pos + count]
    return len(digits) == count and _HEX.issuperset(digits)
