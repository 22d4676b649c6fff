"""``--help`` of the commands a new user meets first: each sub-command says what it does,
every positional and metavar reads as a word, and a removed command is not listed."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from ouc.cli import build_parser, main

#: The commands this file holds to it (``certs`` and the endpoints have tests of their own).
COMMANDS = ("demo", "params", "plc", "channel")


def parsers(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser under ``parser`` with the command words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from parsers(sub, (*path, name))


MINE = [(path, p) for path, p in parsers(build_parser()) if path and path[0] in COMMANDS]


def test_the_walk_reaches_the_sub_commands() -> None:
    names = {" ".join(path) for path, _ in MINE}
    assert {"params decode", "params encode", "params check", "channel run"} <= names
    assert {"channel status", "demo", "plc"} <= names


@pytest.mark.parametrize(("path", "parser"), MINE, ids=[" ".join(p) for p, _ in MINE])
def test_each_command_describes_itself_and_its_arguments(
    path: tuple[str, ...], parser: argparse.ArgumentParser
) -> None:
    assert parser.description, f"ouc {' '.join(path)} --help has no description"
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction | argparse._SubParsersAction):
            continue
        assert action.help, f"ouc {' '.join(path)}: {action.dest} has no help"
        if action.option_strings and action.nargs != 0 and action.choices is None:
            shown = action.metavar or action.dest.upper()
            # A raw destination (PORTS_IN_USE) reads as Python, not as what to type; with
            # choices argparse shows them instead.
            assert "_" not in str(shown), f"ouc {' '.join(path)}: metavar {shown}"


def test_the_removed_bench_is_not_listed_but_still_answers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["--help"]) == 0
    listing = capsys.readouterr().out
    assert "bench" not in listing and "load" in listing
    assert main(["bench", "--target", "127.0.0.1:1"]) == 2
    err = capsys.readouterr().err
    assert "'ouc load HOST:PORT'" in err and "python -m benchmarks" in err
    assert err.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["serve", "--jsno"], "ouc serve"),
        (["certs", "list", "--jsno"], "ouc certs list"),
        (["connect", "--json", "--jsno", "x"], "ouc connect"),
    ],
)
def test_an_unknown_option_points_to_the_help_of_its_command(
    argv: list[str], command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """The command's own help lists its options; the top level's does not."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"{command}: error: unrecognized arguments: --jsno"), err
    assert err.rstrip().endswith(f"(see '{command} --help')") and err.count("\n") == 1


def test_an_unknown_command_lists_only_the_commands_help_lists(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["bogus"]) == 2
    err = capsys.readouterr().err
    assert "invalid choice: 'bogus'" in err and "'serve'" in err and "'load'" in err
    assert "bench" not in err and err.count("\n") == 1
