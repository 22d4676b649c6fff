"""``ouc bench``: gone from the installed package; this stub says where its two jobs went.

Load against a user's own peer is ``ouc load HOST:PORT``; the comparison suite (baselines with
raw pyOpenSSL, ``ssl``, ``openssl s_time``) runs from a clone as ``python -m benchmarks``. The
stub answers any arguments with that one line (exit 2) instead of an unknown-command error.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from ouc.cli._parser import OneLineParser

MOVED = (
    "'ouc bench' is gone from the installed package: load against your own peer is "
    "'ouc load HOST:PORT' (what 'ouc bench --target' did, now counting only what the peer "
    "accepted); the comparison suite runs from a clone of the repository as "
    "'python -m benchmarks'"
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
    """Add the ``ouc bench`` stub: any arguments, one line on stderr, exit 2.

    It has no ``help``, so ``ouc --help`` does not list it (argparse lists only the commands
    that have one): the command list shows what there is, the stub answers who types it.
    """
    parser = sub.add_parser("bench")
    parser.__class__ = _TakesAnything


def _run(args: Any) -> int:
    print(f"ouc: error: {MOVED}", file=sys.stderr)
    return 2
