"""The argument parser every ``ouc`` command uses: usage errors as one line, exit status 2."""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

__all__ = ["OldSpelling", "OneLineParser", "plain_help"]

# Docstrings double as help texts: their reStructuredText roles and literals read as plain text.
_ROLE = re.compile(r":[a-z]+:`~?([^`<]+?)`")
_LITERAL = re.compile(r"``([^`]+)``")
_SINGLE = re.compile(r"(?<![\w`])`([^`\n]+)`(?![\w`])")


def plain_help(text: str) -> str:
    """``text`` without reStructuredText markup: ``x``, `x` and :role:`a.b.C` become x and C."""
    text = _ROLE.sub(lambda m: m.group(1).rsplit(".", 1)[-1], text)
    text = _LITERAL.sub(r"\1", text)
    return _SINGLE.sub(r"\1", text)


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), like every other bad input.

    Sub-parsers inherit the class (argparse uses ``type(self)`` for ``add_subparsers``).
    """

    def format_help(self) -> str:
        return plain_help(super().format_help())

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


class OldSpelling(argparse.Action):
    """Store the value; given by one of its older spellings (every option string after the
    first), the option also says on stderr which spelling to use instead."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: str | Sequence[Any] | None,
        option_string: str | None = None,
    ) -> None:
        current = self.option_strings[0]
        if option_string is not None and option_string != current:
            sys.stderr.write(
                f"{parser.prog}: {option_string} is deprecated, use {current} (same meaning)\n"
            )
        setattr(namespace, self.dest, values)
