"""The TLS engine of Secure OUC endpoints: sans-I/O, over pyOpenSSL memory BIOs (layer 2).

- :class:`TLSContext` (``TLSContext.build(resolved, device, ...)``): one endpoint's TLS
  configuration, built once and shared by all its connections.
- :class:`TLSEngine`: one connection, implementing :class:`ouc.transport.Transport`.
- :class:`TLSProfile`: "compatible" (alerts, like OpenSSL) or "strict" (reset, like the firmware).
- :class:`TLSSession`: what a client offers to resume; :class:`PeerVerifier`: the verification hook.
- :class:`WireProfile` / :class:`Tickets`: session tickets, chain and key shares on the wire.
"""

from ouc.tls._context import (
    CIPHERS_TLS12,
    CIPHERS_TLS13,
    GROUPS,
    SIGALGS,
    PeerVerifier,
    TLSContext,
    TLSProfile,
    TLSSession,
)
from ouc.tls._engine import TLSEngine, TLSState
from ouc.tls._status import ALERT_NAMES, ALERT_STATUS, alert_status
from ouc.tls._wire import Tickets, WireProfile

__all__ = [
    "ALERT_NAMES",
    "ALERT_STATUS",
    "CIPHERS_TLS12",
    "CIPHERS_TLS13",
    "GROUPS",
    "SIGALGS",
    "PeerVerifier",
    "TLSContext",
    "TLSEngine",
    "TLSProfile",
    "TLSSession",
    "TLSState",
    "Tickets",
    "WireProfile",
    "alert_status",
]
