"""The argument parser every ``ouc`` command uses: usage errors as one line, exit status 2."""

from __future__ import annotations

import argparse
from typing import NoReturn

__all__ = ["OneLineParser"]


class OneLineParser(argparse.ArgumentParser):
    """Usage errors as one line on stderr (exit 2), like every other bad input.

    Sub-parsers inherit the class (argparse uses ``type(self)`` for ``add_subparsers``).
    """

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
