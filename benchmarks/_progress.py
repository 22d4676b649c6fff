"""A one-line progress bar on stderr, without a dependency.

It draws only when enabled and stderr is a terminal, so logs, pipes, CI and ``--json`` runs stay
clean. Each tick redraws the line with ``\\r``; :meth:`Progress.close` clears it.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """Count ``total`` steps, drawing ``[#####.....]  12/80  0:07  name`` on ``stream``.

    Args:
        total: steps expected (more are tolerated and clamp to 100 %).
        enabled: draw at all (False for ``--json``); drawing also needs a TTY.
        stream: where to draw, stderr by default.
        width: characters of the bar itself.
    """

    def __init__(
        self, total: int, *, enabled: bool = True, stream: TextIO | None = None, width: int = 30
    ) -> None:
        self.total = max(1, total)
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.active = enabled and _isatty(self.stream)
        self._start = time.monotonic()
        self._drawn = 0

    def __call__(self, label: str) -> None:
        """Record one step about to run ``label`` and redraw."""
        self.done += 1
        if self.active:
            self._draw(label)

    def render(self, label: str) -> str:
        """The bar line for the current state (also used by tests)."""
        frac = min(1.0, self.done / self.total)
        filled = int(frac * self.width)
        bar = "#" * filled + "." * (self.width - filled)
        elapsed = int(time.monotonic() - self._start)
        clock = f"{elapsed // 60}:{elapsed % 60:02d}"
        count = f"{min(self.done, self.total):>{len(str(self.total))}}/{self.total}"
        return f"[{bar}] {count} {clock} {label}"[:118]

    def _draw(self, label: str) -> None:
        line = self.render(label)
        pad = max(0, self._drawn - len(line))
        self.stream.write("\r" + line + " " * pad)
        self.stream.flush()
        self._drawn = len(line)

    def close(self) -> None:
        """Erase the bar so the table starts on a clean line."""
        if self.active and self._drawn:
            self.stream.write("\r" + " " * self._drawn + "\r")
            self.stream.flush()
            self._drawn = 0


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
