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

    _given: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        if "required" in message:
            # argparse checks required arguments before it reports unknown ones; a mistyped
            # flag is the likelier cause (``--frob`` hid behind "file or --hex is required").
            unknown = self._unknown_options()
            if unknown:
                message = f"unrecognized arguments: {' '.join(unknown)}"
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        """As argparse's; the arguments this parser was given are kept for :meth:`error`."""
        self._given = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def _unknown_options(self) -> list[str]:
        """The option-like arguments given to this parser that none of its options matches
        (up to a ``--``, after which everything is positional)."""
        unknown = []
        for arg in self._given:
            if arg == "--":
                break
            if not arg.startswith("-") or len(arg) == 1 or arg in self._option_string_actions:
                continue
            if len(self._get_option_tuples(arg)) > 1:  # ambiguous: argparse says so itself
                continue
            found = self._parse_optional(arg)
            if found is not None and found[0] is None:
                unknown.append(arg)
        return unknown

    def parse_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> argparse.Namespace:
        """As argparse's, but an unknown option is reported by the command it was typed to
        (``ouc serve: error: ... (see 'ouc serve --help')``), whose help lists its options."""
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            _command_parser(self, parsed).error(f"unrecognized arguments: {' '.join(extras)}")
        return parsed

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        """An unknown command lists the commands ``--help`` lists: not the hidden ones (those
        registered without a help text, such as the removed ``bench`` that only says where its
        jobs went)."""
        if not isinstance(action, argparse._SubParsersAction) or value in action.choices:
            super()._check_value(action, value)
            return
        shown = ", ".join(repr(sub.dest) for sub in action._get_subactions())
        raise argparse.ArgumentError(action, f"invalid choice: {value!r} (choose from {shown})")


def _command_parser(parser: argparse.ArgumentParser, parsed: argparse.Namespace) -> Any:
    """The parser of the (sub-)command that ``parsed`` came to, following each sub-command
    choice from ``parser`` down."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            name = getattr(parsed, action.dest, None)
            if name in action.choices:
                return _command_parser(action.choices[name], parsed)
    return parser


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
