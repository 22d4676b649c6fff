"""Stack-agnostic measuring loops: one operation repeated within a budget, timed honestly.

Every raw baseline and every later ouc row goes through these loops, so both sides of a ratio
are measured the same way: wall time with ``time.perf_counter``, CPU with ``time.process_time``
of this process plus, for socket cases, the CPU the server process reports for itself over its
control pipe (more precise than ``RUSAGE_CHILDREN``, which only counts reaped children).
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from benchmarks._harness import Budget, Result
from benchmarks._server import ACK, ServerProcess
from ouc.errors import OucConnectionError, Status, WaitTimeoutError
from ouc.load._run import percentile  # nearest rank, as ``ouc load`` reports its rows

__all__ = [
    "Timing",
    "concurrent_loop",
    "echo_loop",
    "oneway_batch",
    "oneway_loop",
    "op_loop",
    "percentile",
    "recv_exact",
    "server_cpu",
    "to_result",
]

RecvInto = Callable[[memoryview], int]
SendAll = Callable[[bytes], object]


@dataclass
class Timing:
    """Raw measurements of one loop: operations, wall seconds, CPU seconds, latencies."""

    ops: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    latencies: list[float] = field(default_factory=list)


def to_result(
    timing: Timing,
    *,
    extra_cpu: float = 0.0,
    payload_per_op: int = 0,
    info: dict[str, str] | None = None,
) -> Result:
    """Turn a Timing into a Result: rate, CPU µs/op (plus ``extra_cpu``), p50/p99 (nearest
    rank: always one of the measured latencies), MB/s."""
    ops, wall = timing.ops, timing.wall
    if ops <= 0 or wall <= 0:
        raise OucConnectionError("the loop completed no operation within its budget")
    lat = timing.latencies
    return Result(
        rate=ops / wall,
        cpu_us=(timing.cpu + extra_cpu) / ops * 1e6,
        p50_ms=None if not lat else (percentile(lat, 50) or 0.0) * 1e3,
        p99_ms=None if not lat else (percentile(lat, 99) or 0.0) * 1e3,
        mb_s=ops * payload_per_op / wall / 1e6 if payload_per_op else None,
        ops=ops,
        seconds=wall,
        info=dict(info or {}),
    )


def op_loop(op: Callable[[], object], budget: Budget, *, latencies: bool = True) -> Timing:
    """Run ``op`` until the budget is spent; optionally record each operation's latency."""
    timing = Timing()
    lat = timing.latencies
    clock = time.perf_counter
    deadline = budget.deadline()
    cpu0, t0 = time.process_time(), clock()
    ops = 0
    while budget.more(ops, deadline):
        start = clock()
        op()
        if latencies:
            lat.append(clock() - start)
        ops += 1
    timing.wall = clock() - t0
    timing.cpu = time.process_time() - cpu0
    timing.ops = ops
    return timing


def concurrent_loop(
    make_op: Callable[[], Callable[[], object]], clients: int, budget: Budget
) -> Timing:
    """``clients`` threads each run their own ``op`` until the shared deadline.

    The threads start together on a barrier (no sleeps); each is bounded by the deadline and by
    its share of ``budget.max_ops``; joins are bounded too. The first failure is re-raised.
    """
    ops_each = max(1, budget.max_ops // clients)
    share = Budget(seconds=budget.seconds, max_ops=ops_each, min_ops=1)
    barrier = threading.Barrier(clients + 1, timeout=60)
    results: list[Timing] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            op = make_op()
            barrier.wait()
            timing = op_loop(op, share)
        except threading.BrokenBarrierError:
            return  # another client failed first; its error is reported
        except BaseException as exc:  # handed to the caller below
            with lock:
                errors.append(exc)
            barrier.abort()
            return
        with lock:
            results.append(timing)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for thread in threads:
        thread.start()
    cpu0 = time.process_time()
    with contextlib.suppress(threading.BrokenBarrierError):
        barrier.wait()
    t0 = time.perf_counter()
    for thread in threads:
        thread.join(budget.seconds + 60)
    wall = time.perf_counter() - t0
    if errors:
        raise errors[0]
    if len(results) != clients:
        raise WaitTimeoutError("a benchmark client thread did not finish")
    total = Timing(wall=wall, cpu=time.process_time() - cpu0)
    for timing in results:
        total.ops += timing.ops
        total.latencies.extend(timing.latencies)
    return total


@contextmanager
def server_cpu(server: ServerProcess | None) -> Iterator[list[float]]:
    """Yield a one-element list that holds the server's CPU seconds spent inside the block."""
    spent = [0.0]
    before = server.cpu() if server is not None else 0.0
    yield spent
    if server is not None:
        spent[0] = server.cpu() - before


def recv_exact(recv_into: RecvInto, view: memoryview, count: int) -> None:
    """Receive exactly ``count`` bytes into ``view`` (raises when the peer closes first)."""
    got = 0
    while got < count:
        n = recv_into(view[got:count])
        if not n:
            raise OucConnectionError(
                "the benchmark peer closed the connection", status=Status.PARTNER_CLOSED
            )
        got += n


def echo_loop(sendall: SendAll, recv_into: RecvInto, size: int, budget: Budget) -> Timing:
    """Round trips of ``size``-byte frames: send one, receive it back in full, repeat."""
    payload = bytes(size)
    view = memoryview(bytearray(size))

    def once() -> None:
        sendall(payload)
        recv_exact(recv_into, view, size)

    return op_loop(once, budget)


def oneway_batch(size: int) -> int:
    """Frames per acknowledged batch: about 512 KiB, so the ACK round trip costs < 1 %."""
    return max(1, (512 * 1024) // size)


def oneway_loop(sendall: SendAll, recv_into: RecvInto, size: int, budget: Budget) -> Timing:
    """One-way frames: batches of ``oneway_batch(size)`` frames, each batch acknowledged by the
    server's sink (one ACK byte) so the timing covers data that really arrived. ops = frames."""
    payload = bytes(size)
    batch = oneway_batch(size)
    ack = memoryview(bytearray(1))

    def one_batch() -> None:
        for _ in range(batch):
            sendall(payload)
        recv_exact(recv_into, ack, 1)
        if ack[0] != ACK[0]:
            raise OucConnectionError("the benchmark sink answered garbage")

    timing = op_loop(one_batch, budget, latencies=False)
    timing.ops *= batch
    return timing
