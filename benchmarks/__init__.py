"""The comparison suite, run from a clone of the repository: ``python -m benchmarks``.

Every row is a :class:`Case` in :data:`REGISTRY`: a name, a group, the name of its baseline and a
``run(ctx) -> Result`` that measures one bounded run. The runner interleaves each row with its
baselines (A B, B A, ...) and reports medians and the ratio to the baseline of the same run.

Extension points for the ouc rows (register them in ``load_registry`` in ``_main.py``):

- in memory: ``_memory.transport_handshake_loop(make_pair, budget)`` and
  ``_memory.transport_echo_loop(client, server, size, budget)`` take any pair of
  ``ouc.transport.Transport`` objects (the TLS engine); baseline ``hs-mem-pyopenssl-<config>``;
- loopback handshakes: add a server kind to ``_server.SERVER_KINDS`` and call
  ``_sockets.handshake_case(ctx, kind, cfg, make_op)``; baseline ``hs-sock-pyopenssl-<config>``;
- records: ``_sockets.record_case(ctx, kind, cfg, connect, size, mode)`` with a ``connect(port)``
  that returns a ``_sockets.Stream``; baselines ``rec-echo-ssl-<size>``, ``rec-oneway-ssl-<size>``,
  ``rec-echo-asyncio-<size>``, ``rec-oneway-asyncio-<size>``;
- memory: ``_sockets.idle_memory_case(ctx, kind, cfg)``; baseline ``idle-asyncio-tls``.

Load against a user's own peer is not here: it ships with the package as ``ouc load``.
"""

from benchmarks._harness import (
    REGISTRY,
    Budget,
    Case,
    Metric,
    Registry,
    Result,
    Row,
    RunContext,
    register,
    run_suite,
)
from benchmarks._main import add_arguments, load_registry, main, run_from_args

__all__ = [
    "REGISTRY",
    "Budget",
    "Case",
    "Metric",
    "Registry",
    "Result",
    "Row",
    "RunContext",
    "add_arguments",
    "load_registry",
    "main",
    "register",
    "run_from_args",
    "run_suite",
]
