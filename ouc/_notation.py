"""The notations every JSON document and status line of ouc shares (layer 0).

* STATUS: ``16#7004``, as TIA Portal shows a status word (:func:`ouc.errors.format_status`); a
  STATUS *sequence* is a list of such strings in JSON (:func:`status_list`) and the same joined
  with `` → `` in text (:func:`sequence_text`).
* Times: ISO 8601 in UTC with milliseconds and a ``Z`` (``2026-12-06T08:30:00.123Z``,
  :func:`iso_time`), for wall-clock stamps and certificate validity alike, so a script parses
  every time of every command one way.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from ouc.errors import format_status

__all__ = ["iso_time", "sequence_text", "status_list"]

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
