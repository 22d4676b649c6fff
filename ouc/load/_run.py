"""The rows of ``ouc load``: loops that count accepted operations and failures per status.

Rows (``--only`` selects by name, glob or substring):

- ``handshake``: one client, one connection after the other: connect, handshake, the peer's
  verdict (:meth:`LoadClient.confirm`); counted only when the peer accepted;
- ``handshake-concurrent``: the same with N clients at once (threads);
- ``echo-SIZE``: TSEND_C of SIZE bytes and TRCV_C of the peer's echo, round trips on one
  connection per client (the peer must send back what it receives). Every frame differs (its
  number, then a pattern: :func:`echo_frame`), and an echo counts only when the reply is that
  frame byte for byte and no byte more arrived: a peer answering with other bytes is counted as
  ``wrong-reply``, one answering with more bytes than the frame as ``extra-bytes``. A
  connection that fails is counted under its status (or kind) and opened again.

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
    "echo_frame",
    "merge",
    "percentile",
    "row_names",
    "run_load",
    "select_rows",
]

#: Most clients of ``handshake-concurrent`` per process: each is a thread and a socket of its
#: own; more load comes from ``processes``.
MAX_CONCURRENCY = 1024
_JOIN_GRACE = 60.0  # seconds beyond the budget a worker may take before it counts as hung


#: Failure kinds of echo rows that have no PLC status: the peer answered, but not the frame.
WRONG_REPLY = "wrong-reply"
EXTRA_BYTES = "extra-bytes"
_NUMBER = 8  # bytes of a frame's number at its start (fewer in a smaller frame)


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th percentile (0 < q <= 100) by the nearest-rank definition; None when empty.

    The value at rank ``ceil(q / 100 * n)`` (1-based) of the n sorted values: always one of the
    samples, p50 of 10 values is the 5th, p99 of 100 values the 99th (not the maximum).
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = math.ceil(q * len(ordered) / 100) - 1  # q * n is exact: no 0.07 * 100 = 7.000..1
    return ordered[max(0, min(len(ordered) - 1, rank))]


def echo_frame(pattern: bytes, number: int) -> bytes:
    """Frame ``number`` of an echo row: the number (little-endian, its low bytes first, as many
    of 8 as fit) and then ``pattern`` from there on, ``len(pattern)`` bytes in all. Consecutive
    frames differ in their first byte, so a reply of a fixed block, of zeros, or of an earlier
    frame is told apart from the echo."""
    head = (number % (1 << 8 * _NUMBER)).to_bytes(_NUMBER, "little")
    return head[: len(pattern)] + pattern[_NUMBER:]


def _pattern(size: int) -> bytes:
    """The bytes after a frame's number: 0..255 over and over (no run of equal bytes)."""
    return bytes(range(256)) * (size // 256) + bytes(range(size % 256))


def _difference(sent: bytes, got: bytes) -> str:
    """Why a reply of the right length is not the echo of ``sent``: the first byte that differs."""
    at = next(i for i, (a, b) in enumerate(zip(sent, got, strict=True)) if a != b)
    return (
        f"reply differs from what was sent at byte {at} (sent 16#{sent[at]:02X}, got "
        f"16#{got[at]:02X}): the peer does not send back what it receives"
    )


def _ahead(sent: bytes, got: bytes) -> int:
    """How many bytes came before the start of ``sent``'s echo in ``got`` (0: its start is not
    there): the reply began with surplus of an earlier answer, then the echo."""
    head = sent[: min(len(sent), 2 * _NUMBER)]
    at = got.find(head, 1)
    return at if at > 0 and got[at:] == sent[: len(got) - at] else 0


def _surplus(count: int, size: int) -> str:
    return (
        f"{count:,} {'byte' if count == 1 else 'bytes'} more than the {size}-byte frame arrived: "
        "the peer answers a frame with more than one frame's bytes"
    )


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
    back byte for byte); ``failures`` maps each status (``"16#80E2"``) to its count —
    ``"timeout"`` when the client's own time limit ran out (no PLC code), ``"wrong-reply"`` and
    ``"extra-bytes"`` for an echo that was not the frame sent, ``"error"`` for another failure
    without one — and ``reasons`` to the first message seen with it.
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
        self.count(key, exc.message)

    def count(self, key: str, reason: str) -> None:
        """One failure of ``key`` (a status or a kind), ``reason`` kept when it is the first."""
        self.failures[key] += 1
        self.reasons.setdefault(key, reason)

    def percentile(self, q: float) -> float | None:
        """The q-th percentile of the accepted operations' latencies (:func:`percentile`)."""
        return percentile(self.latencies, q)

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
                    # timeout, wrong-reply, extra-bytes, error
                    "kind": "status" if key.startswith("16#") else key,
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


class _Backoff:
    """One client's pause after connections the peer refused: 10 ms after the first refusal,
    doubling to 1 s after each further one in a row, never beyond the row's deadline; reset by
    any connection that got through. Without it a few clients make thousands of attempts a
    second against a closed port, and the row counts attempts, not the peer's behaviour."""

    FIRST = 0.01
    LONGEST = 1.0

    def __init__(self, budget: _Budget) -> None:
        self._budget = budget
        self.delay = 0.0

    def after(self, exc: OucError) -> None:
        """Pause if ``exc`` is a refused connection, else start over."""
        if not _refused(exc):
            self.delay = 0.0
            return
        self.delay = min(self.LONGEST, self.delay * 2 or self.FIRST)
        left = self._budget.deadline - time.monotonic()
        if left > 0:
            time.sleep(min(self.delay, left))  # a pause between attempts, not a synchronisation

    def passed(self) -> None:
        self.delay = 0.0


def _refused(exc: OucError) -> bool:
    """The TCP connect was refused (nothing listens on that port, or its backlog is full)."""
    return isinstance(exc.__cause__, ConnectionRefusedError)


def _fail(row: RowResult, exc: OucError, lock: threading.Lock) -> None:
    """Count ``exc``; a refused connect says so, and that the clients paused between tries."""
    with lock:
        if _refused(exc) and exc.status is not None:
            row.count(format_status(exc.status), f"{exc.message}: {REFUSED}")
        else:
            row.fail(exc)


#: The reason's tail of a refused connect (see :class:`_Backoff`).
REFUSED = (
    "the peer refused connections (nothing listens there, or its backlog is full); each "
    f"client waited {_Backoff.FIRST * 1e3:g} ms, doubling to {_Backoff.LONGEST:g} s, before "
    "trying again"
)


def _handshakes(target: Target, row: RowResult, budget: _Budget, lock: threading.Lock) -> None:
    """Connect, handshake, verdict; again until the budget is spent. Accepted ones count."""
    client = LoadClient(target)
    backoff = _Backoff(budget)
    clock = time.perf_counter
    while budget.take():
        start = clock()
        try:
            client.connect()
            backoff.passed()
            client.confirm()
        except OucError as exc:
            client.abort()
            _fail(row, exc, lock)
            backoff.after(exc)
        else:
            elapsed = clock() - start
            with lock:
                row.ops += 1
                row.latencies.append(elapsed)


def _echoes(
    target: Target, size: int, row: RowResult, budget: _Budget, lock: threading.Lock
) -> None:
    """Round trips of ``size``-byte frames on one connection; a broken one is opened again.

    An echo counts when the reply is the frame sent, byte for byte, and nothing more arrived
    with it: bytes beyond it (seen after the reply, before the next frame, or as the previous
    frame again) are ``extra-bytes``, other bytes ``wrong-reply``; the connection is then
    opened again, as after a failure with a status.
    """
    client = LoadClient(target)
    backoff = _Backoff(budget)
    pattern = _pattern(size)
    clock = time.perf_counter
    up = False
    number = 0
    previous = b""

    def failed(key: str, reason: str) -> None:
        nonlocal up
        client.abort()
        up = False
        with lock:
            row.count(key, reason)

    while budget.take():
        number += 1
        frame = echo_frame(pattern, number)
        try:
            if not up:
                client.connect()
                backoff.passed()
                up = True
                previous = b""
            elif client.pending:  # bytes after the last reply came in since it was read
                failed(EXTRA_BYTES, _surplus(client.pending, size))
                continue
            start = clock()
            client.send(frame)
            got = client.receive(size)
            elapsed = clock() - start
        except OucError as exc:
            client.abort()
            up = False
            _fail(row, exc, lock)
            backoff.after(exc)
            continue
        if got != frame:
            early = size if got == previous else _ahead(frame, got)
            if early:  # bytes came before this frame's echo: the earlier reply was too long
                failed(EXTRA_BYTES, _surplus(early, size))
            else:
                failed(WRONG_REPLY, _difference(frame, got))
        elif client.pending:
            failed(EXTRA_BYTES, _surplus(client.pending, size))
        else:
            previous = frame
            with lock:
                row.ops += 1
                row.latencies.append(elapsed)
    if up:
        try:
            unread = client.confirm()
        except OucError as exc:
            with lock:
                row.fail(exc)
        else:
            if unread:  # more came after the last reply, before the peer's close
                with lock:
                    row.count(EXTRA_BYTES, _surplus(unread, size))


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
    done: Callable[[RowResult], None] | None = None,
) -> list[RowResult]:
    """Run the rows ``names`` against the recipe's target, in ``settings.processes`` processes.

    ``progress`` is called with each row's name before it runs, ``done`` with each row as soon
    as it is measured (so a run stopped with Ctrl-C keeps the rows it finished).

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
            if done is not None:
                done(rows[-1])
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
    reported = 0
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
                # Rows in order, each once all its processes reported (a result may belong
                # to the next row already).
                while reported < len(names) and len(by_name[names[reported]]) == count:
                    if done is not None:
                        done(merge(by_name[names[reported]]))
                    reported += 1
    except KeyboardInterrupt:
        # Ctrl-C: the rows left are not run. Workers that did not get the signal themselves
        # (it was sent to this process alone) stop now rather than after the join's grace.
        for proc in procs:
            proc.terminate()
        raise
    finally:
        for proc in procs:
            proc.join(_JOIN_GRACE)
            if proc.is_alive():
                proc.terminate()
                proc.join(5)
    return [merge(by_name[name]) for name in names]
