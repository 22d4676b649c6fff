"""Reading what a user gives ouc (layer 0): a size cap on every file, JSON that refuses a key
given twice, and the longest time span a setting may name.

A file is read up to its cap plus one byte, so ``/dev/zero`` or a mistaken multi-gigabyte file is
refused with a line naming it instead of filling the memory. The caps are far above any real
input of the kind (see each constant) and far below what hurts.

Python's :func:`json.loads` keeps the last of two equal keys in one object, silently
(``"LocalPort": 2000, "LocalPort": 3000`` is 3000); TOML refuses that, and so does
:func:`load_json`, naming the key.
"""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from ouc.errors import ConfigError, OucError

__all__ = [
    "BLOCK_FILE_LIMIT",
    "CERT_FILE_LIMIT",
    "CONFIG_FILE_LIMIT",
    "INPUT_LIMIT",
    "LAYOUT_FILE_LIMIT",
    "MAX_SECONDS",
    "load_json",
    "read_capped",
    "read_stream_capped",
    "seconds",
]

#: Longest time span a setting may name: 30 days, the limit of the CLI's seconds. Far longer ones
#: overflow the timers (a wait beyond ``threading.TIMEOUT_MAX`` raises OverflowError).
MAX_SECONDS = 30 * 86400.0
#: A connection description file: the largest block, TCON_QDN_SEC, is 284 bytes binary and about
#: 1 KB as indented JSON; 64 KiB leaves room for any formatting.
BLOCK_FILE_LIMIT = 64 * 1024
#: A data-block layout (JSON or SCL source): even a DB declaring thousands of variables is a
#: few MB of source at most; 16 MiB is well above that.
LAYOUT_FILE_LIMIT = 16 * 1024 * 1024
#: A channel configuration: a few hundred bytes per connection, so 4 MiB holds thousands.
CONFIG_FILE_LIMIT = 4 * 1024 * 1024
#: A certificate file (PEM, DER, a PEM bundle of CAs): a certificate is 1-2 KB, so 1 MiB holds
#: hundreds.
CERT_FILE_LIMIT = 1024 * 1024
#: Any other file a command reads (blocks, layouts, values, replies, certificates): the largest
#: of the caps above, so each kind can still apply its own.
INPUT_LIMIT = LAYOUT_FILE_LIMIT


def seconds(value: object, where: str) -> float:
    """``value`` as a time span in seconds: a number, finite, more than 0, at most
    :data:`MAX_SECONDS`.

    ``nan`` passes a ``value <= 0`` check and ``inf`` overflows the timers, so both are refused
    here, where the setting is read, with its name.

    Raises:
        ConfigError: anything else, with ``where`` (the key or argument) as the path.
    """
    if isinstance(value, int | float) and not isinstance(value, bool):
        # An int is compared as it is: float(10**400) would raise OverflowError.
        finite = isinstance(value, int) or math.isfinite(value)
        if finite and 0 < value <= MAX_SECONDS:
            return float(value)
    shown = f"{value:g}" if isinstance(value, float) else repr(value)[:24]
    raise ConfigError(
        f"must be a number of seconds more than 0 and at most {MAX_SECONDS:.0f}, not {shown}",
        path=where,
    )


def _too_large(limit: int, what: str, where: str) -> ConfigError:
    return ConfigError(
        f"is larger than {limit} bytes, too large for {what}: check that this is the right file",
        path=where,
    )


def read_capped(path: str | os.PathLike[str], limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of the file ``path``.

    Args:
        limit: the largest size accepted, in bytes.
        what: what the file should be (``"a connection description"``), for the error.

    Raises:
        ConfigError: the file holds more than ``limit`` bytes (naming the file).
        OSError: the file cannot be read (callers say so in their own words).
    """
    with Path(path).open("rb") as handle:
        data = handle.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit, what, os.fspath(path))
    return data


def read_stream_capped(stream: IO[bytes], limit: int, what: str, where: str = "<stdin>") -> bytes:
    """At most ``limit`` bytes of an open binary stream (stdin); as :func:`read_capped`."""
    data = stream.read(limit + 1)
    if len(data) > limit:
        raise _too_large(limit, what, where)
    return data


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """The object of ``pairs``; a key given twice raises :class:`_DuplicateKeyError`."""
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


def _lines(text: str, key: str) -> list[int]:
    """The lines where ``"key":`` is written (best effort: the key as JSON writes it)."""
    pattern = re.escape(json.dumps(key, ensure_ascii=False)) + r"\s*:"
    return [text.count("\n", 0, match.start()) + 1 for match in re.finditer(pattern, text)]


def load_json(
    text: str | bytes,
    *,
    where: str | None,
    error: Callable[..., OucError] = ConfigError,
    status: int | None = None,
) -> Any:
    """``json.loads(text)``, refusing an object that names a key twice.

    Args:
        where: the file (or option) the text came from, for the error's path.
        error: the error class to raise (``ParamError`` for a block, ...).
        status: the PLC status of the error, when one applies.

    Raises:
        ``error``: a key given twice in one object, naming the key (and, when the key is written
            exactly twice in the whole text, both lines).
        json.JSONDecodeError, RecursionError, UnicodeDecodeError: as :func:`json.loads`.
    """
    try:
        return json.loads(text, object_pairs_hook=_unique)
    except _DuplicateKeyError as exc:
        decoded = text.decode("utf-8-sig", "replace") if isinstance(text, bytes) else text
        lines = _lines(decoded, exc.key)
        at = "" if len(lines) != 2 else f" (lines {lines[0]} and {lines[1]})"
        at = f" (line {lines[0]})" if at and lines[0] == lines[1] else at
        raise error(
            f"the key {json.dumps(exc.key)} is given twice in one object{at}; JSON would "
            "silently keep the last: keep one",
            status=status,
            path=where,
        ) from None
