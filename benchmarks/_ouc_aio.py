"""The asyncio driver's client loops: AsyncActiveEndpoint handshakes and records.

One ``asyncio.run`` per measured run: the client's loop lives in this process, the server's
(AsyncPassiveEndpoint, :mod:`benchmarks._ouc_server`) in the benchmark server process.
"""

from __future__ import annotations

import asyncio
import time

from benchmarks._harness import Budget
from benchmarks._loops import Timing, oneway_batch
from benchmarks._ouc import CONNECT_TIMEOUT, IO_TIMEOUT, endpoint_spec
from benchmarks._server import ACK
from benchmarks._stacks import TLSConfig
from ouc.device import Role
from ouc.drivers import AsyncActiveEndpoint, EndpointSpec
from ouc.errors import OucConnectionError

__all__ = ["async_handshakes", "async_records"]


def _async_active(spec: EndpointSpec, port: int, *, session_reuse: bool) -> AsyncActiveEndpoint:
    return AsyncActiveEndpoint(
        spec,
        connect_to=("127.0.0.1", port),
        connect_timeout=CONNECT_TIMEOUT,
        reconnect=False,
        session_reuse=session_reuse,
        send_timeout=IO_TIMEOUT,
    )


async def _receive_exact(endpoint: AsyncActiveEndpoint, size: int) -> None:
    got = 0
    while got < size:
        got += len(await endpoint.receive(IO_TIMEOUT))


async def _handshake_client(
    spec: EndpointSpec, port: int, budget: Budget, deadline: float, timing: Timing
) -> None:
    endpoint = _async_active(spec, port, session_reuse=False)
    clock = time.perf_counter
    try:
        while budget.more(timing.ops, deadline):
            start = clock()
            await endpoint.connect()
            await endpoint.send(b"x")
            await endpoint.receive(IO_TIMEOUT)
            await endpoint.disconnect()
            timing.latencies.append(clock() - start)
            timing.ops += 1
    finally:
        await endpoint.close()


def async_handshakes(cfg: TLSConfig, port: int, clients: int, budget: Budget) -> Timing:
    """Handshakes of ``clients`` AsyncActiveEndpoints in one event loop (a task each), as in
    :func:`blocking_handshake_op`; the aggregate rate and every single handshake's latency."""
    spec = endpoint_spec(cfg, Role.ACTIVE)
    share = Budget(seconds=budget.seconds, max_ops=max(1, budget.max_ops // clients))

    async def main() -> Timing:
        timings = [Timing() for _ in range(clients)]
        deadline = share.deadline()
        cpu0, t0 = time.process_time(), time.perf_counter()
        await asyncio.wait_for(
            asyncio.gather(*(_handshake_client(spec, port, share, deadline, t) for t in timings)),
            budget.seconds + 60,
        )
        total = Timing(wall=time.perf_counter() - t0, cpu=time.process_time() - cpu0)
        for timing in timings:
            total.ops += timing.ops
            total.latencies.extend(timing.latencies)
        return total

    return asyncio.run(main())


def async_records(cfg: TLSConfig, port: int, size: int, mode: str, budget: Budget) -> Timing:
    """Echo round trips or one-way frames (acknowledged per batch) over one established
    AsyncActiveEndpoint connection; set up before timing starts."""
    spec = endpoint_spec(cfg, Role.ACTIVE)
    payload = bytes(size)
    batch = oneway_batch(size)

    async def main() -> Timing:
        endpoint = _async_active(spec, port, session_reuse=False)
        try:
            await endpoint.connect()
            timing = Timing()
            clock = time.perf_counter
            deadline = budget.deadline()
            cpu0, t0, ops = time.process_time(), clock(), 0
            while budget.more(ops, deadline):
                start = clock()
                if mode == "echo":
                    await endpoint.send(payload)
                    await _receive_exact(endpoint, size)
                    timing.latencies.append(clock() - start)
                else:
                    for _ in range(batch):
                        await endpoint.send(payload)
                    if await endpoint.receive(IO_TIMEOUT) != ACK:
                        raise OucConnectionError("the benchmark sink answered garbage")
                ops += 1
            timing.wall = clock() - t0
            timing.cpu = time.process_time() - cpu0
            timing.ops = ops if mode == "echo" else ops * batch
            return timing
        finally:
            await endpoint.close()

    return asyncio.run(main())
