"""``ouc serve --processes N``: one port served by N worker processes under one supervisor.

Python serves one connection's handshake on one core at a time; a PLC's peers may need more.
The process the user started becomes the supervisor:

* It builds the endpoint's setup once (store, TLS context, behaviour), reserves the port with a
  socket bound with SO_REUSEPORT but not listening (port 0 becomes a real port, and a plain
  ``ouc serve`` on the same port still fails with 16#80A1), then forks the workers. Each worker
  listens on the port with SO_REUSEPORT and runs the chosen driver (no shared accept queue, so
  no worker wakes for a connection another one takes).
* **Which worker takes a connection** (``--spread``): ``cpu`` gives it to the worker of the
  CPU that received it (:mod:`ouc.drivers._reuseport`): on loopback that is the client
  thread's CPU, so a client on this host stays with one warm worker. ``hash`` leaves it to
  the kernel's hash of addresses and ports, which hands one client's connections to the
  workers at random, each waking cold (10–25 % more server CPU per handshake on a 2-core
  machine), but is the only choice that spreads remote peers whatever the network card does
  (its receive queues hash the same way, and a card with one queue delivers everything on one
  CPU). ``auto`` (the default) is ``cpu`` on a loopback address with no more workers than
  CPUs, else ``hash``. One accept queue shared by all workers (the supervisor's socket in
  each worker's epoll with EPOLLEXCLUSIVE) was measured too and cost more: the idle worker is
  woken while the busy one finishes its last connection, and they race for the next
  (benchmarks/RESULTS.md).
* **One merged status stream**: every worker writes its status lines to the inherited stdout,
  each line naming its worker (``[worker 2] PLC_1 TRCV_C ...``, ``"worker": 2`` in JSON), each
  write whole lines of at most ``PIPE_BUF`` bytes so lines never interleave.
* **Connection limit (16#8087)**: the PLC's limit is per CPU, so it holds for the total of all
  workers: a table in shared memory counts each worker's connections, and a worker admits a
  connection only while the total is below ``--max-connections`` (an fcntl record lock makes
  the check and the count one step; the kernel drops it when a worker dies, so a dying worker
  cannot leave it held). The supervisor clears a dead worker's count: its connections died
  with it.
* **Partner check (16#80C9)**: the same in every worker (it depends only on the peer's
  address), so a peer is refused or served whichever worker the kernel hands it to.
* ``--count N`` counts frames across all workers; the worker that reaches N asks the
  supervisor to stop.
* **Stopping**: Ctrl-C or SIGTERM stops every worker (each closes its connections with
  close_notify as a single ``ouc serve`` does), bounded by :data:`STOP_TIMEOUT`, then the
  supervisor prints ``stopped``. A worker that dies is reported and restarted; one that dies
  within :data:`EARLY_DEATH` seconds of starting three times running stops everything (exit 1)
  instead of restarting for ever. Connections waiting in a dead worker's accept queue are
  reset by the kernel.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import fcntl
import gc
import ipaddress
import mmap
import os
import signal
import socket
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable
from typing import IO

from ouc._notation import iso_time
from ouc.cli._printer import Printer
from ouc.cli._serving import INTERRUPTED, ServeJob, WorkerShare, stop_status
from ouc.cli._words import counted
from ouc.drivers._passive_common import default_listen
from ouc.drivers._reuseport import probe_spread
from ouc.drivers._sockio import listen_error
from ouc.errors import ConfigError

__all__ = [
    "EARLY_DEATH",
    "STOP_TIMEOUT",
    "WORKERS_PER_CPU",
    "SharedCounts",
    "parse_processes",
    "serve_processes",
]

_SPREAD = {"cpu": "the CPU that received them", "hash": "the kernel's hash of addresses"}
STOP_TIMEOUT = 10.0  # seconds the workers get to stop before they are killed
EARLY_DEATH = 1.0  # a worker that dies this soon after starting is failing, not unlucky
_EARLY_DEATHS = 3
_PR_SET_PDEATHSIG = 1
_SUPERVISOR_SIGNALS = {
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGUSR1,
    signal.SIGCHLD,
    signal.SIGHUP,
}


#: Workers per usable CPU that ``--processes`` allows: more cannot add capacity (a worker is
#: one Python process, on one core at a time), only memory and start-up time.
WORKERS_PER_CPU = 4


def parse_processes(text: str) -> int:
    """``--processes``: a count from 1 to :data:`WORKERS_PER_CPU` per usable CPU, or ``auto``
    for one per usable CPU."""
    cpus = len(os.sched_getaffinity(0)) or 1
    if text == "auto":
        return cpus
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a process count (1, 2, ... or auto)")
    most = WORKERS_PER_CPU * cpus
    if value > most:
        raise argparse.ArgumentTypeError(
            f"{value} workers on {cpus} usable CPU{'s' if cpus > 1 else ''}: at most {most} "
            f"({WORKERS_PER_CPU} per CPU; more add memory, not capacity); auto gives one per CPU"
        )
    return value


class SharedCounts:
    """Counters in memory shared by the forked workers: each worker's connections, and the
    frames of all. One writer per worker's cell; every read-modify-write holds the lock."""

    def __init__(self, workers: int, limit: int) -> None:
        self.workers = workers
        self.limit = limit
        self._memory = mmap.mmap(-1, 8 * (workers + 1))  # MAP_SHARED: forks see one copy
        self._cells = memoryview(self._memory).cast("q")
        self._file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - the lock's inode
        self._threads = threading.Lock()  # POSIX record locks do not exclude threads

    def _locked(self, update: Callable[[], int]) -> int:
        with self._threads:
            fcntl.lockf(self._file, fcntl.LOCK_EX)
            try:
                return update()
            finally:
                fcntl.lockf(self._file, fcntl.LOCK_UN)

    def take(self, index: int) -> bool:
        cells, workers = self._cells, self.workers

        def update() -> int:
            if sum(cells[:workers]) >= self.limit:
                return 0
            cells[index] += 1
            return 1

        return bool(self._locked(update))

    def give(self, index: int) -> None:
        cells = self._cells

        def update() -> int:
            cells[index] = max(0, cells[index] - 1)
            return 0

        self._locked(update)

    def count_frame(self) -> int:
        cells, workers = self._cells, self.workers

        def update() -> int:
            cells[workers] += 1
            return int(cells[workers])

        return self._locked(update)

    def clear(self, index: int) -> int:
        """A worker died: its connections went with it. Returns how many it held."""
        cells = self._cells

        def update() -> int:
            held = int(cells[index])
            cells[index] = 0
            return held

        return self._locked(update)

    def connections(self) -> int:
        return int(sum(self._cells[: self.workers]))


class _Slots:
    """One worker's view of the shared limit (a ``ConnectionSlots`` for its endpoint)."""

    __slots__ = ("_counts", "_index")

    def __init__(self, counts: SharedCounts, index: int) -> None:
        self._counts = counts
        self._index = index

    def take(self) -> bool:
        return self._counts.take(self._index)

    def give(self) -> None:
        self._counts.give(self._index)


def serve_processes(job: ServeJob, processes: int, run: Callable[..., int]) -> int:
    """Run ``run(job, share)`` (a driver's serve function) in ``processes`` forked workers
    until Ctrl-C, SIGTERM or ``--count``; returns the exit status."""
    if threading.current_thread() is not threading.main_thread():
        raise ConfigError("--processes runs from the main thread only", path="--processes")
    listen = job.listen or default_listen(job.spec, job.address_map)
    spread = _spread(job.spread, listen[0], processes)
    how = _SPREAD[spread]
    refused = probe_spread(processes) if spread == "cpu" else None
    if refused is not None:
        why = f"the kernel refused to spread the connections by CPU ({refused.strerror or refused})"
        if job.spread == "cpu":
            raise ConfigError(f"{why}; use --spread hash", path="--spread")
        spread = "hash"  # auto: the kernel's hash, and the workers line says why
        how = f"{_SPREAD[spread]} ({why})"
    reservation = _reserve(listen)
    host, port = reservation.getsockname()[:2]
    worker_job = _with_listen(job, (host, port))
    counts = SharedCounts(processes, job.max_connections)
    by_cpu = processes if spread == "cpu" else 0
    printer = Printer(job.as_json, merged=True)
    name = f"{job.spec.name} {job.spec.block_name}"
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _SUPERVISOR_SIGNALS)
    pids: dict[int, tuple[int, float]] = {}  # pid -> (worker number, start time)
    early = dict.fromkeys(range(1, processes + 1), 0)
    status = 0
    # The workers share the supervisor's objects copy-on-write; the collector must not write
    # to every one of them in each worker (a page copy per object page touched).
    gc.freeze()
    try:
        for number in range(1, processes + 1):
            pids[_fork(worker_job, number, counts, run, reservation, old_mask, by_cpu)] = (
                number,
                time.monotonic(),
            )
        printer.line(
            f"{name} {processes} worker processes on {host}:{port} (pids "
            f"{', '.join(map(str, pids))}), connections spread by {how}, "
            f"max {counted(job.max_connections, 'connection')} in all",
            {
                "event": "workers",
                "device": job.spec.name,
                "block": job.spec.block_name,
                "local": f"{host}:{port}",
                "processes": processes,
                "pids": list(pids),
                "spread": spread,
                "max_connections": job.max_connections,
            },
        )
        while True:
            info = signal.sigwaitinfo(_SUPERVISOR_SIGNALS)
            if info.si_signo == signal.SIGHUP:  # the certificate "download": every worker
                for pid in pids:
                    _signal(pid, signal.SIGHUP)
                continue
            if info.si_signo != signal.SIGCHLD:
                if info.si_signo != signal.SIGUSR1:
                    printer.line(f"{name} stopping", None)
                    status = stop_status(info.si_signo)
                break
            failed = _reap(pids, counts, printer, name, early)
            if failed is not None:
                printer.line(
                    f"{name} worker {failed} died {_EARLY_DEATHS} times within "
                    f"{EARLY_DEATH:g} s of starting; stopping",
                    {"event": "failed", "device": job.spec.name, "worker": failed},
                )
                status = 1
                break
            for number in sorted(set(range(1, processes + 1)) - {n for n, _ in pids.values()}):
                pid = _fork(worker_job, number, counts, run, reservation, old_mask, by_cpu)
                pids[pid] = (number, time.monotonic())
                printer.line(
                    f"{name} worker {number} restarted as pid {pid}",
                    {"event": "restarted", "device": job.spec.name, "worker": number, "pid": pid},
                )
    finally:
        _stop_all(pids)
        reservation.close()
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    # As each worker's own stopped line: the block no longer runs, 16#7000.
    printer.line(
        f"{name} 16#7000 stopped - {processes} worker processes",
        {
            "event": "stopped",
            "device": job.spec.name,
            "block": job.spec.block_name,
            "status": "16#7000",
            "local": f"{host}:{port}",
            "processes": processes,
            "time": iso_time(time.time()),
        },
    )
    return status


def _spread(asked: str, host: str, processes: int) -> str:
    """``--spread`` resolved: ``auto`` is ``cpu`` for a loopback address with a CPU per
    worker, else ``hash``; ``cpu`` with more workers than CPUs is refused (the rest would
    never serve)."""
    cpus = len(os.sched_getaffinity(0))
    if asked == "cpu" and processes > cpus:
        raise ConfigError(
            f"cpu gives each CPU's connections to one worker: {processes} workers on "
            f"{cpus} CPUs would leave {processes - cpus} without any; use --processes {cpus} "
            "or --spread hash",
            path="--spread",
        )
    if asked != "auto":
        return asked
    try:
        loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        loopback = False
    return "cpu" if loopback and processes <= cpus else "hash"


def _reserve(listen: tuple[str, int]) -> socket.socket:
    """Bind (not listen) the port with SO_REUSEPORT: it is ours, and port 0 gets a number."""
    host, port = listen
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise listen_error(exc, host, port) from exc
    return sock


def _with_listen(job: ServeJob, listen: tuple[str, int]) -> ServeJob:
    return dataclasses.replace(job, listen=listen)


def _fork(
    job: ServeJob,
    number: int,
    counts: SharedCounts,
    run: Callable[..., int],
    reservation: socket.socket,
    mask: set[int | signal.Signals],
    spread: int,
) -> int:
    sys.stdout.flush()
    sys.stderr.flush()
    counts.clear(number - 1)
    supervisor = os.getpid()
    pid = os.fork()
    if pid:
        return pid
    # The worker: default signal dispositions, signals unblocked, serve until told to stop.
    status = 1
    try:
        reservation.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        signal.signal(signal.SIGUSR1, signal.SIG_DFL)
        _die_with(supervisor)
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        share = WorkerShare(
            number=number,
            slots=_Slots(counts, number - 1),
            tally=counts.count_frame,
            reached=lambda: os.kill(supervisor, signal.SIGUSR1),
            spread_by_cpu=spread,
        )
        # A worker stopped by Ctrl-C stopped as asked: the supervisor reports the 130.
        status = run(job, share)
        status = 0 if status == INTERRUPTED else status
    except KeyboardInterrupt:
        status = 0
    except BaseException as exc:  # a worker must never return into the supervisor's code
        print(f"ouc: worker {number}: {exc}", file=sys.stderr)
        if not isinstance(exc, SystemExit | ConfigError):
            traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(status)


def _die_with(supervisor: int) -> None:
    """SIGTERM this worker when the supervisor dies, even by SIGKILL (Linux ``prctl``): a
    worker must never outlive it and keep serving, or hold its stdout open."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    if os.getppid() != supervisor:  # it died before prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _describe(wait_status: int) -> str:
    if os.WIFSIGNALED(wait_status):
        signum = os.WTERMSIG(wait_status)
        return f"killed by signal {signum} ({signal.Signals(signum).name})"
    return f"exited with status {os.waitstatus_to_exitcode(wait_status)}"


def _reap(
    pids: dict[int, tuple[int, float]],
    counts: SharedCounts,
    printer: Printer,
    name: str,
    early: dict[int, int],
) -> int | None:
    """Report the workers that ended; the number of one that keeps dying early, if any."""
    while True:
        try:
            pid, wait_status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return None
        if pid == 0:
            return None
        entry = pids.pop(pid, None)
        if entry is None:
            continue
        number, started = entry
        held = counts.clear(number - 1)
        lived = time.monotonic() - started
        early[number] = early[number] + 1 if lived < EARLY_DEATH else 0
        how = _describe(wait_status)
        lost = f"; its {held} connection{'' if held == 1 else 's'} ended with it" if held else ""
        printer.line(
            f"{name} worker {number} (pid {pid}) {how} after {lived:.1f} s{lost}; restarting",
            {
                "event": "worker-died",
                "worker": number,
                "pid": pid,
                "how": how,
                "ended_connections": held,
            },
        )
        if early[number] >= _EARLY_DEATHS:
            return number


def _stop_all(pids: dict[int, tuple[int, float]]) -> None:
    """SIGTERM to every worker, wait (bounded), SIGKILL what is left, reap all."""
    for pid in pids:
        _signal(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    left = set(pids)
    while left and time.monotonic() < deadline:
        for pid in list(left):
            try:
                done, _ = os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                done = pid
            if done:
                left.discard(pid)
        if left:
            signal.sigtimedwait({signal.SIGCHLD}, 0.05)
    for pid in left:
        _signal(pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, 0)
    pids.clear()


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)
