"""One vocabulary across the command line: every command's help reads as plain text.

Walks every command and sub-command of ``ouc`` (as ``ouc ... --help`` prints them) and checks
what a user reads there: no reStructuredText markup, no internal references.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator

import pytest

from ouc.cli import build_parser


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[str, ...]]:
    yield path
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from commands(sub, (*path, name))


def parser_for(path: tuple[str, ...]) -> argparse.ArgumentParser:
    parser = build_parser()
    for name in path:
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        parser = sub.choices[name]
    return parser


ALL = sorted(commands(build_parser()))


def test_every_command_is_walked() -> None:
    names = {path[0] for path in ALL if path}
    assert {"certs", "db", "params", "demo", "serve", "connect", "channel", "plc"} <= names
    assert len(ALL) > 30  # the sub-commands too


@pytest.mark.parametrize("path", ALL, ids=lambda p: " ".join(p) or "ouc")
def test_help_is_plain_text(path: tuple[str, ...]) -> None:
    text = parser_for(path).format_help()  # what --help prints
    assert "``" not in text
    assert not re.search(r":(class|func|meth|data|mod|attr):", text)
    assert not re.search(r"\((issue|session) \d+\)", text, flags=re.I)
    assert not re.search(r"(?<![\w`])`[^`\n]+`(?![\w`])", text)


CLOCKS = {"now", "plc_time", "time"}


def test_one_clock_option_for_every_command() -> None:
    seen = []
    for path in ALL:
        for action in parser_for(path)._actions:
            if action.dest in CLOCKS and action.option_strings:
                seen.append(path)
                assert action.option_strings[0] == "--now", (path, action.option_strings)
    assert {p[0] for p in seen} >= {"certs", "serve", "connect", "channel"}


@pytest.mark.parametrize(
    ("argv", "old"),
    [
        (["serve", "--plc-time", "2026-01-02T03:04:05+00:00"], "--plc-time"),
        (["connect", "--plc-time", "2026-01-02T03:04:05+00:00"], "--plc-time"),
        (["channel", "run", "x.toml", "--time", "2026-01-02T03:04:05+00:00"], "--time"),
    ],
)
def test_old_clock_spellings_still_work_with_a_note(
    argv: list[str], old: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = build_parser().parse_args(argv)
    new = build_parser().parse_args([a if a != old else "--now" for a in argv])
    assert vars(args) == vars(new)
    assert f"{old} is deprecated, use --now" in capsys.readouterr().err
