"""The rows of ``ouc load``: loops that count accepted operations and failures per status.

Rows (``--only`` selects by name, glob or substring):

- ``handshake``: one client, one connection after the other: connect, handshake, the peer's
  verdict (:meth:`LoadClient.confirm`); counted only when the peer accepted;
- ``handshake-concurrent``: the same with N clients at once (threads);
- ``echo-SIZE``: TSEND_C of SIZE bytes and TRCV_C of the peer's echo, round trips on one
  connection per client (the peer must send back what it receives); a connection that fails is
  counted under its status and opened again.

Every row is bounded by a wall-time budget and an operation count that its clients share (the
count is exact per row and process; the clock starts once every client is ready). A row where
no operation ran is not a pass (:attr:`RowResult.empty`). With ``processes`` > 1 each
row runs in every process at once (they start together on a barrier) and the counts are merged:
rates add up, failures add up, latencies are pooled.
"""

from __future__ import annotations

import fnmatch
import math
import multiprocessing
import queue
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ouc.errors import ConfigError, OucError, format_status
from ouc.load._client import LoadClient, Target
from ouc.load._target import TargetRecipe

__all__ = [
    "MAX_CONCURRENCY",
    "LoadSettings",
    "RowResult",
    "merge",
    "row_names",
    "run_load",
    "select_rows",
]

#: Most clients of ``handshake-concurrent`` per process: each is a thread and a socket of its
#: own; more load comes from ``processes``.
MAX_CONCURRENCY = 1024
_JOIN_GRACE = 60.0  # seconds beyond the budget a worker may take before it counts as hung


@dataclass(frozen=True)
class LoadSettings:
    """How long and how hard each row runs."""

    seconds: float = 5.0
    max_ops: int = 1_000_000
    concurrency: int = 8
    sizes: tuple[int, ...] = (258,)
    processes: int = 1

    def __post_init__(self) -> None:
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise ConfigError(
                f"{self.concurrency} clients is outside 1..{MAX_CONCURRENCY} per process "
                "(each is a thread and a socket); add processes for more",
                path="--concurrency",
            )


@dataclass
class RowResult:
    """One row's counts (one process, or merged).

    ``ops`` counts accepted operations only (handshakes the peer accepted, echoes that came
    back); ``failures`` maps each status (``"16#80E2"``) to its count — ``"timeout"`` when the
    client's own time limit ran out (no PLC code), ``"error"`` for another failure without
    one — and ``reasons`` to the first message seen with it.
    """

    name: str
    description: str
    ops: int = 0
    seconds: float = 0.0
    rate: float = 0.0
    payload: int = 0
    processes: int = 1
    clients: int = 1
    budget: float = 0.0
    failures: Counter[str] = field(default_factory=Counter)
    reasons: dict[str, str] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(self.failures.values())

    @property
    def empty(self) -> bool:
        """No operation ran at all: nothing was accepted and nothing failed. Not a pass."""
        return not self.ops and not self.failed

    @property
    def ok(self) -> bool:
        """Something ran and nothing failed."""
        return not self.empty and not self.failed

    @property
    def note(self) -> str | None:
        """Why a row is not a pass though nothing failed (None otherwise)."""
        if not self.empty:
            return None
        return f"nothing ran: no operation started within the {self.budget:g} s budget"

    def fail(self, exc: OucError) -> None:
        if exc.status is not None:
            key = format_status(exc.status)
        else:  # no PLC code: the client's own time limit, or an error without one
            key = "timeout" if isinstance(exc, TimeoutError) else "error"
        self.failures[key] += 1
        self.reasons.setdefault(key, exc.message)

    def percentile(self, q: float) -> float | None:
        lat = self.latencies
        if not lat:
            return None
        ordered = sorted(lat)
        rank = max(0, min(len(ordered) - 1, round(q / 100 * len(ordered) + 0.5) - 1))
        return ordered[rank]

    def to_json(self) -> dict[str, Any]:
        p50, p99 = self.percentile(50), self.percentile(99)
        return {
            "name": self.name,
            "description": self.description,
            "accepted": self.ops,
            "rate": round(self.rate, 1) if self.ops else None,
            "mb_s": round(self.rate * self.payload / 1e6, 2) if self.ops and self.payload else None,
            "p50_ms": None if p50 is None else round(p50 * 1e3, 3),
            "p99_ms": None if p99 is None else round(p99 * 1e3, 3),
            "seconds": round(self.seconds, 2),
            "processes": self.processes,
            "clients": self.clients,
            "failed": self.failed,
            "ok": self.ok,
            "reason": self.note,  # why the row is not a pass though nothing failed
            "failures": [
                {
                    # A PLC STATUS where one exists; else null, and the kind says what it was.
                    "status": key if key.startswith("16#") else None,
                    "kind": "status" if key.startswith("16#") else key,  # timeout, error
                    "count": count,
                    "reason": self.reasons.get(key, ""),
                }
                for key, count in self.failures.most_common()
            ],
        }


# -- the loops ----------------------------------------------------------------------------------


class _Budget:
    """Wall time and operations of one row, shared by its clients: each operation takes one."""

    def __init__(self, seconds: float, max_ops: int) -> None:
        self.seconds = seconds
        self.max_ops = max_ops
        self.issued = 0
        self.started = 0.0
        self.deadline = -math.inf  # nothing runs before start()
        self._lock = threading.Lock()

    def start(self) -> None:
        """The clock starts (once every client is ready to run)."""
        self.started = time.perf_counter()
        self.deadline = time.monotonic() + self.seconds

    def take(self) -> bool:
        """One more operation, while time and operations are left."""
        with self._lock:
            if self.issued >= self.max_ops or time.monotonic() >= self.deadline:
                return False
            self.issued += 1
            return True


def _handshakes(target: Target, row: RowResult, budget: _Budget, lock: threading.Lock) -> None:
    """Connect, handshake, verdict; again until the budget is spent. Accepted ones count."""
    client = LoadClient(target)
    clock = time.perf_counter
    while budget.take():
        start = clock()
        try:
            client.connect()
            client.confirm()
        except OucError as exc:
            client.abort()
            with lock:
                row.fail(exc)
        else:
            elapsed = clock() - start
            with lock:
                row.ops += 1
                row.latencies.append(elapsed)


def _echoes(
    target: Target, size: int, row: RowResult, budget: _Budget, lock: threading.Lock
) -> None:
    """Round trips of ``size``-byte frames on one connection; a broken one is opened again."""
    client = LoadClient(target)
    payload = bytes(size)
    clock = time.perf_counter
    up = False
    while budget.take():
        try:
            if not up:
                client.connect()
                up = True
            start = clock()
            client.send(payload)
            client.receive(size)
            elapsed = clock() - start
        except OucError as exc:
            client.abort()
            up = False
            with lock:
                row.fail(exc)
        else:
            with lock:
                row.ops += 1
                row.latencies.append(elapsed)
    if up:
        try:
            client.confirm()
        except OucError as exc:
            with lock:
                row.fail(exc)


def _threads(clients: int, work: Callable[[], None], budget: _Budget) -> None:
    """Run ``work`` in ``clients`` threads, the budget started once all are up (bounded joins).

    Raises:
        OucError: a thread could not be started (the system's limit), or one hung.
        BaseException: an unexpected error of a client, re-raised.
    """
    errors: list[BaseException] = []
    go = threading.Event()

    def run() -> None:
        go.wait()  # set below, also when starting the others failed
        try:
            work()
        except BaseException as exc:  # handed to the caller below
            errors.append(exc)

    threads = [threading.Thread(target=run, daemon=True) for _ in range(clients)]
    started = 0
    try:
        for thread in threads:
            thread.start()
            started += 1
        budget.start()
    except RuntimeError as exc:
        raise OucError(
            f"could not start client {started + 1} of {clients} ({exc}); use a lower "
            "--concurrency and more --processes"
        ) from exc
    finally:
        go.set()  # without start() the budget is spent: clients that did start end at once
    for thread in threads:
        thread.join(budget.seconds + _JOIN_GRACE)
    if errors:
        raise errors[0]
    if any(thread.is_alive() for thread in threads):
        raise OucError("a load client did not finish within its budget")


# -- rows ---------------------------------------------------------------------------------------


def row_names(settings: LoadSettings) -> list[str]:
    """Every row's name, in run order."""
    return ["handshake", "handshake-concurrent", *(f"echo-{size}" for size in settings.sizes)]


def select_rows(settings: LoadSettings, patterns: Sequence[str]) -> list[str]:
    """The rows ``--only`` names (a row's name, else a glob or substring); all without patterns.

    Raises:
        ConfigError: a pattern matches no row (names the rows there are).
    """
    names = row_names(settings)
    if not patterns:
        return names
    chosen: list[str] = []
    for pattern in patterns:
        if pattern in names:  # a row's own name selects that row alone
            hits = [pattern]
        else:
            hits = [n for n in names if fnmatch.fnmatchcase(n, pattern) or pattern in n]
        if not hits:
            raise ConfigError(
                f"{pattern!r} matches no row (rows: {', '.join(names)})", path="--only"
            )
        chosen.extend(h for h in hits if h not in chosen)
    return [n for n in names if n in chosen]


def _describe(name: str, settings: LoadSettings, where: str) -> tuple[str, int, int]:
    """(description, clients per process, payload bytes per op) of a row."""
    if name == "handshake":
        return f"handshakes accepted by {where}, one client", 1, 0
    if name == "handshake-concurrent":
        clients = min(settings.concurrency, settings.max_ops)  # no client without an operation
        return f"handshakes accepted by {where}, {clients} clients", clients, 0
    size = int(name.split("-", 1)[1])
    return f"TSEND_C {size} B + TRCV_C echo round trips with {where}", 1, size


def run_row(target: Target, name: str, settings: LoadSettings) -> RowResult:
    """One row in this process."""
    description, clients, payload = _describe(name, settings, target.where)
    row = RowResult(name, description, payload=payload, clients=clients, budget=settings.seconds)
    lock = threading.Lock()
    budget = _Budget(settings.seconds, settings.max_ops)
    if name.startswith("echo-"):
        size = payload

        def work() -> None:
            _echoes(target, size, row, budget, lock)
    else:

        def work() -> None:
            _handshakes(target, row, budget, lock)

    if clients == 1:
        budget.start()
        work()
    else:
        _threads(clients, work, budget)
    row.seconds = time.perf_counter() - budget.started
    row.rate = row.ops / row.seconds if row.seconds > 0 else 0.0
    return row


def merge(parts: Sequence[RowResult]) -> RowResult:
    """One row from the same row run in several processes at once: counts and rates add up."""
    first = parts[0]
    merged = RowResult(first.name, first.description, payload=first.payload,
                       clients=first.clients, processes=len(parts),
                       budget=first.budget)  # fmt: skip
    for part in parts:
        merged.ops += part.ops
        merged.rate += part.rate
        merged.failures.update(part.failures)
        for key, reason in part.reasons.items():
            merged.reasons.setdefault(key, reason)
        merged.latencies.extend(part.latencies)
    merged.seconds = statistics.fmean(p.seconds for p in parts)
    return merged


def _worker(
    recipe: TargetRecipe,
    names: list[str],
    settings: LoadSettings,
    barrier: Any,
    results: Any,
) -> None:
    """A spawned process: build the target, run each row when every process is ready."""
    try:
        target = recipe.build()
        for name in names:
            barrier.wait(_JOIN_GRACE)
            results.put(("row", run_row(target, name, settings)))
    except BaseException as exc:  # reported to the parent, which decides
        barrier.abort()
        results.put(("error", f"{type(exc).__name__}: {exc}"))


def run_load(
    recipe: TargetRecipe,
    names: Sequence[str],
    settings: LoadSettings,
    *,
    progress: Callable[[str], None] | None = None,
) -> list[RowResult]:
    """Run the rows ``names`` against the recipe's target, in ``settings.processes`` processes.

    Raises:
        OucError: the target does not resolve (bad store, block, IDs), or a process failed.
    """
    target = recipe.build()  # in this process too: bad input is one clear error up front
    if settings.processes <= 1:
        rows = []
        for name in names:
            if progress is not None:
                progress(name)
            rows.append(run_row(target, name, settings))
        return rows
    ctx = multiprocessing.get_context("spawn")
    count = settings.processes
    barrier = ctx.Barrier(count)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(recipe, list(names), settings, barrier, results))
        for _ in range(count)
    ]
    for proc in procs:
        proc.start()
    by_name: dict[str, list[RowResult]] = {name: [] for name in names}
    try:
        for name in names:
            if progress is not None:
                progress(name)
            for _ in range(count):
                try:
                    kind, value = results.get(timeout=settings.seconds + 2 * _JOIN_GRACE)
                except queue.Empty:
                    raise OucError(f"a load process gave no result for {name}") from None
                if kind == "error":
                    raise OucError(f"a load process failed: {value}")
                by_name[value.name].append(value)
    finally:
        for proc in procs:
            proc.join(_JOIN_GRACE)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    return [merge(by_name[name]) for name in names]
