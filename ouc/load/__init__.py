"""ouc.load: load generation against your own peer, counting only what the peer accepted.

Layer 4. :class:`LoadClient` is one connection of the load (handshake, TSEND_C, TRCV_C, then the
peer's verdict); :func:`run_load` runs the rows of ``ouc load HOST:PORT`` (sequential and
concurrent handshakes, echo per frame size) in one or more processes and merges them;
:mod:`ouc.locust` puts the same client under Locust.
"""

from ouc.load._client import LoadClient, Target, is_refusal

__all__ = ["LoadClient", "Target", "is_refusal"]
