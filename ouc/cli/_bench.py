"""``ouc bench``: moved. The comparison suite is not part of the installed package.

The suite (baselines with raw pyOpenSSL, ``ssl``, ``openssl s_time``) runs from a clone of the
repository as ``python -m benchmarks``; this stub says so instead of an unknown-command error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ouc.cli._parser import OneLineParser

MOVED = (
    "'ouc bench' moved out of the installed package: run the comparison suite from a clone "
    "of the repository with 'python -m benchmarks' (see its --help)"
)


class _TakesAnything(OneLineParser):
    """A parser that accepts every argument, so the old options reach the message, not an error."""

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        namespace = namespace if namespace is not None else argparse.Namespace()
        namespace.func = _run
        return namespace, []


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``ouc bench`` stub: any arguments, one line on stderr, exit 2."""
    parser = sub.add_parser("bench", help="moved: 'python -m benchmarks' from a clone")
    parser.__class__ = _TakesAnything


def _run(args: Any) -> int:
    print(f"ouc: error: {MOVED}", file=sys.stderr)
    return 2
