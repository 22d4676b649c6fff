"""Drivers: the blocking (threads) and asyncio endpoints that move bytes for the sans-I/O core.

Layer 3: the only place (with the CLI) that touches sockets, threads, asyncio and the clock.
"""

from ouc.drivers._setup import (
    AddressMap,
    Behaviour,
    EndpointSpec,
    PeerContext,
    echo,
    receive_only,
    reply,
    system_clock,
)

__all__ = [
    "AddressMap",
    "Behaviour",
    "EndpointSpec",
    "PeerContext",
    "echo",
    "receive_only",
    "reply",
    "system_clock",
]
