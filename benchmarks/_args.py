"""Command-line pieces shared by ``python -m benchmarks`` and its diagnostics (``ab_*``,
``cpu_split``, ``external``): positive numbers, so that ``--rounds 0`` or ``--seconds -1`` is one
usage line and exit 2 rather than a run that measures nothing, and a help layout that shows
every default and keeps the hand-made paragraphs of a description and epilog.

No ouc import: the A/B scripts run this in the parent process, whose ``sys.path`` must not
decide which revision of ouc a measuring child imports.
"""

from __future__ import annotations

import argparse

__all__ = ["HelpFormatter", "parser", "positive_float", "positive_int"]


def positive_float(text: str) -> float:
    """argparse type: a number above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} must be above 0 and finite")
    return value


def positive_int(text: str) -> int:
    """argparse type: a whole number of at least 1."""
    value = positive_float(text)
    if value != int(value):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(value)


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Every option's default after its help (where it has a value and the help does not
    already say it); description and epilog as written."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        default = action.default
        if default in (None, False, [], argparse.SUPPRESS) or "default" in text:
            return text
        return f"{text} (default: %(default)s)"


def parser(prog: str, doc: str, ratios: str) -> argparse.ArgumentParser:
    """A diagnostic's parser: the first paragraph of ``doc`` on top, ``ratios`` (what the
    printed ratios mean) at the bottom, defaults shown."""
    return argparse.ArgumentParser(
        prog=prog,
        description=doc.split("\n\n")[0],
        epilog=ratios,
        formatter_class=HelpFormatter,
    )
