"""``ouc bench``: the benchmark suite and the load generator (``--target HOST:PORT``).

The options live in :mod:`ouc.bench` so ``python -m benchmarks`` offers the same; the suite's
heavy imports (pyOpenSSL, the baselines) load only when the command runs.
"""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc bench``."""
    from ouc.bench import add_arguments

    parser = sub.add_parser(
        "bench",
        help="benchmark handshakes and the record path next to raw baselines",
        description="Handshakes/s, CPU per handshake, record-path throughput and memory per "
        "connection, each row with its ratio to a baseline measured in the same run "
        "(raw pyOpenSSL, Python's ssl, asyncio, plain TCP, openssl s_time/speed). "
        "--target HOST:PORT turns it into a load generator against your own peer.",
    )
    add_arguments(parser)
    parser.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    from ouc.bench import run_from_args

    return run_from_args(args)
