"""The ``ouc`` command line: one ``main(argv) -> int`` that dispatches to sub-command modules.

Each sub-command lives in its own private module exposing ``register(subparsers)``; the
function it registers takes the parsed arguments and returns the exit status. Every
:class:`~ouc.errors.OucError` becomes one line on stderr and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ouc import __version__
from ouc.cli import _bench, _certs, _channel, _db, _demo, _endpoints, _params
from ouc.cli._parser import OneLineParser
from ouc.errors import OucError

__all__ = ["main"]

# Sub-command modules, in the order ``ouc --help`` lists them.
_MODULES = (_demo, _params, _certs, _db, _endpoints, _channel, _bench)


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="ouc",
        description=(
            "Emulate Siemens S7-1200/S7-1500 Secure Open User Communication endpoints: "
            "parameter blocks, certificates, data blocks, mock PLCs over real TLS."
        ),
    )
    parser.add_argument("--version", action="version", version=f"ouc {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for module in _MODULES:
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (0 ok, 1 findings, 2 error)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status: int = args.func(args)
    except OucError as exc:
        print(f"ouc: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("ouc: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0
    return status
