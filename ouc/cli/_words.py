"""Counted nouns in what the command line prints: ``1 byte``, ``258 bytes``, ``1 connection``.

Sizes and limits are often 1 on a PLC (LEN 1, ``--max-connections 1`` as a CPU's block), so a
line never says "1 bytes".
"""

from __future__ import annotations

__all__ = ["counted"]


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """``count`` and ``noun``, in the plural (``plural``, else ``noun + "s"``) unless it is 1."""
    return f"{count} {noun if count == 1 else plural or noun + 's'}"
