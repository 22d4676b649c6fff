"""``ouc endpoints``: placeholder until issue 5 lands; registers no sub-command yet."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register nothing yet (issue 5)."""
