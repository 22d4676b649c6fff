"""The notations every JSON document and status line of ouc shares (layer 0).

* STATUS: ``16#7004``, as TIA Portal shows a status word (:func:`ouc.errors.format_status`); a
  STATUS *sequence* is a list of such strings in JSON (:func:`status_list`) and the same joined
  with `` → `` in text (:func:`sequence_text`).
* Hex text: bytes written as hex digits (``00 40 0a``, ``00:40:0A``, ``0x00400A``, ``xxd -p``
  lines), as ``encode`` commands print them (:func:`hex_digits`).
* Times: ISO 8601 in UTC with milliseconds and a ``Z`` (``2026-12-06T08:30:00.123Z``,
  :func:`iso_time`), for wall-clock stamps and certificate validity alike, so a script parses
  every time of every command one way.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from ouc.errors import format_status

__all__ = ["hex_digits", "iso_time", "sequence_text", "status_list"]

_ARROW = " → "


def iso_time(moment: float | dt.datetime) -> str:
    """``2026-12-06T08:30:00.123Z`` for epoch seconds or a datetime (naive means UTC)."""
    if isinstance(moment, dt.datetime):
        when = moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)
    else:
        when = dt.datetime.fromtimestamp(moment, dt.UTC)
    text = when.astimezone(dt.UTC).isoformat(timespec="milliseconds")
    return text.removesuffix("+00:00") + "Z"


def status_list(sequence: str | Iterable[int | str]) -> list[str]:
    """A STATUS sequence as ``["16#7000", "16#7001", ...]``: from status words, status texts
    (``"7000"``, ``"16#7000"``), or the text form (``7000 → 7001`` or ``16#7000 → 16#7001``;
    ``""`` is the empty sequence)."""
    items = sequence.split(_ARROW.strip()) if isinstance(sequence, str) else sequence
    out = []
    for item in items:
        if isinstance(item, int):
            out.append(format_status(item))
        elif item.strip():
            out.append(format_status(int(item.strip().removeprefix("16#"), 16)))
    return out


def sequence_text(sequence: str | Iterable[int | str]) -> str:
    """A STATUS sequence as text: ``16#7000 → 16#7001 → 16#7002 → 16#0001``."""
    return _ARROW.join(status_list(sequence))


_HEX_TEXT = re.compile(rb"(?:0[xX])?[0-9A-Fa-f]+")


def hex_digits(raw: bytes) -> str | None:
    """The hex digits of ``raw`` when it is hex text, else None.

    Hex text is nothing but hex digits, white space (line breaks too) and colons, with an
    optional ``0x`` in front and at least one digit. Any other byte (a control byte, a zero
    byte, a letter after F) makes ``raw`` no hex text. The digits may be an odd number: the
    caller says what that means.
    """
    joined = b"".join(raw.split()).replace(b":", b"")
    if not _HEX_TEXT.fullmatch(joined):
        return None
    return joined.decode("ascii").removeprefix("0x").removeprefix("0X")
