"""``ouc params``: decode, encode and check TCON connection descriptions (filled in by issue 2)."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    sub.add_parser("params", help="decode, encode and check TCON parameter blocks")
