"""The benchmark harness: a registry of cases and an interleaving runner that reports ratios.

A :class:`Case` is one measured loop (a raw pyOpenSSL handshake loop, an ``ssl`` echo loop, later an
ouc driver loop) with the name of the baseline it is compared with. The runner groups every case
with its baselines into a *cluster* and runs the cluster in rounds, each round running every member
once (A B C, then C B A, ...), because absolute numbers drift ±20–30 % over minutes on the shared
2-core machines (perf-anchors.md). A row then reports the median of each metric over the rounds and
its ratio to the baseline as the median of the per-round ratios: each ratio compares two runs that
were seconds apart, so slow drift cancels.
"""

from __future__ import annotations

import fnmatch
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field, fields, replace
from enum import Enum
from pathlib import Path
from typing import Any

from ouc.errors import ConfigError, OucError

__all__ = [
    "REGISTRY",
    "TRUST_SPREAD",
    "Budget",
    "Case",
    "Metric",
    "Registry",
    "Result",
    "Row",
    "RunContext",
    "register",
    "run_suite",
]


#: A ratio whose per-round values spread more than this (±10 %) is flagged in the report.
TRUST_SPREAD = 0.10


class Metric(Enum):
    """The Result field a row's ratio compares; ``higher_is_better`` says how to read it."""

    RATE = "rate"  # operations per second
    CPU_US = "cpu_us"  # CPU microseconds per operation, both sides
    MB_S = "mb_s"  # payload megabytes (10^6) per second
    BYTES_PER_CONN = "bytes_per_conn"  # server memory per idle connection

    @property
    def higher_is_better(self) -> bool:
        return self in (Metric.RATE, Metric.MB_S)


@dataclass(frozen=True)
class Result:
    """What one run of a case measured. Fields that do not apply stay None.

    Attributes:
        rate: operations per second (handshakes, round trips, frames).
        cpu_us: CPU microseconds per operation, summed over client and server where both are
            measured (``time.process_time`` in-process; the server process reports its own).
        p50_ms / p99_ms: latency percentiles of single operations by nearest rank (each is one
            of the measured latencies), where latency is meaningful.
        mb_s: payload throughput in MB/s (10^6 bytes; one direction).
        bytes_per_conn: server memory per idle connection (RSS delta / connections).
        ops / seconds: how many operations ran in how much wall time.
        info: facts worth keeping next to the numbers (negotiated group, resumed, version).
    """

    rate: float | None = None
    cpu_us: float | None = None
    p50_ms: float | None = None
    p99_ms: float | None = None
    mb_s: float | None = None
    bytes_per_conn: float | None = None
    ops: int = 0
    seconds: float = 0.0
    info: dict[str, str] = field(default_factory=dict)

    def metric(self, metric: Metric) -> float | None:
        value: float | None = getattr(self, metric.value)
        return value


_NUMERIC = ("rate", "cpu_us", "p50_ms", "p99_ms", "mb_s", "bytes_per_conn", "seconds")


def median_result(results: Sequence[Result]) -> Result:
    """Field-wise median of several runs of one case (ops summed, info from the last run)."""
    if not results:
        return Result()
    values: dict[str, Any] = {}
    for name in _NUMERIC:
        present = [getattr(r, name) for r in results if getattr(r, name) is not None]
        values[name] = statistics.median(present) if present else None
    values["ops"] = sum(r.ops for r in results)
    values["info"] = dict(results[-1].info)
    return Result(**values)


@dataclass(frozen=True)
class Budget:
    """How long one run of a case may take: stop at ``seconds`` of wall time or ``max_ops``.

    Every loop in the suite checks both, so a run is bounded in count and in time even when the
    machine stalls. ``min_ops`` keeps at least a few operations in very short runs.
    """

    seconds: float
    max_ops: int = 1_000_000
    min_ops: int = 1

    def deadline(self) -> float:
        return time.perf_counter() + self.seconds

    def more(self, ops: int, deadline: float) -> bool:
        """True while the loop should run another operation."""
        if ops < self.min_ops:
            return True
        return ops < self.max_ops and time.perf_counter() < deadline


@dataclass
class RunContext:
    """What every case run receives: the mode, the budgets and shared per-run resources.

    Resources (certificates, the server process, temporary files) are created lazily by the case
    helpers through :meth:`resource` and closed once at the end of the run.

    Attributes:
        quick: the ``--quick`` mode (fewer rounds, shorter runs, fewer connections).
        budget: the budget of one run of one case.
        concurrency: clients in the concurrent handshake cases.
        connections: connections held open in the memory-per-connection cases.
        workdir: a private temporary directory for this run (PEM files for openssl and ssl).
    """

    quick: bool
    budget: Budget
    concurrency: int
    connections: int
    workdir: Path
    _resources: dict[str, Any] = field(default_factory=dict)
    _stack: ExitStack = field(default_factory=ExitStack)

    def resource(self, key: str, factory: Callable[[], Any]) -> Any:
        """The shared resource ``key``, made by ``factory`` on first use and closed at the end."""
        if key not in self._resources:
            value = factory()
            if hasattr(value, "close"):
                self._stack.callback(value.close)
            self._resources[key] = value
        return self._resources[key]

    def close(self) -> None:
        """Close every resource (server processes first-in-last-out)."""
        self._resources.clear()
        self._stack.close()


@dataclass(frozen=True)
class Case:
    """One benchmark: a named loop, its group, the baseline it is compared with.

    Attributes:
        name: unique row name, e.g. ``hs-mem-pyopenssl-tls13-ecdsa-server``.
        group: the table section, e.g. ``handshake-memory``.
        baseline: name of the case this one is compared with (None for a reference row).
        run: one bounded run; returns what it measured.
        metric: the Result field the ratio compares.
        quick: included in ``--quick``.
        max_rounds: run at most this many rounds (expensive cases such as 10,000 connections).
        available: returns None when the case can run here, else the reason it is skipped
            (e.g. ``openssl`` not on PATH).
        warmup: run once, briefly and unrecorded, before the first round (off for runs that
            are long by nature: openssl's fixed seconds, thousands of connections).
        description: one line for ``--list`` and the JSON.
    """

    name: str
    group: str
    baseline: str | None
    run: Callable[[RunContext], Result]
    metric: Metric = Metric.RATE
    quick: bool = True
    max_rounds: int | None = None
    available: Callable[[], str | None] | None = None
    warmup: bool = True
    description: str = ""


@dataclass(frozen=True)
class Row:
    """One output line: a case's median result and its ratio to its baseline in this run.

    ``ratio`` is the median over rounds of ``metric(this run) / metric(baseline run of the same
    round)``; None when there is no baseline or one side has no value. ``error`` holds the one-line
    reason when the case failed or was skipped (``skipped`` True) instead of measuring.
    """

    name: str
    group: str
    baseline: str | None
    metric: Metric
    result: Result
    ratio: float | None
    rounds: int
    description: str = ""
    error: str | None = None
    skipped: bool = False
    samples: tuple[Result, ...] = ()
    ratios: tuple[float, ...] = ()  # the per-round ratios the median ``ratio`` is taken of
    medians_ratio: float | None = None  # this row's median metric / the baseline's median

    @property
    def ratio_spread(self) -> float | None:
        """Noise of the ratio over its rounds: (max - min) / 2 / median, e.g. 0.04 for ±4 %."""
        if len(self.ratios) < 2 or not self.ratio:
            return None
        return (max(self.ratios) - min(self.ratios)) / 2 / self.ratio

    @property
    def warning(self) -> str | None:
        """Why this row's ratio should not be trusted at a glance, or None.

        - the per-round ratios fall on both sides of 1: the run does not say which is faster;
        - the ratio of the medians points the other way than the median of the ratios;
          (both only when the ratio in question is more than 2 % away from 1)
        - the ratio's spread is above ±10 % (:data:`TRUST_SPREAD`);
        - it comes from fewer than two rounds: one sample has no spread to judge it by.
        """
        ratio, ratios = self.ratio, self.ratios
        if ratio is None:
            return None
        if len(ratios) < 2:
            return f"{len(ratios) or 'no'} round{'' if len(ratios) == 1 else 's'}: no spread"
        if len(ratios) >= 2 and min(ratios) < 1 < max(ratios) and abs(ratio - 1) > 0.02:
            return f"rounds disagree: {min(ratios):.2f}x to {max(ratios):.2f}x"
        medians = self.medians_ratio
        if medians is not None and (ratio - 1) * (medians - 1) < 0 and abs(medians - 1) > 0.02:
            return f"ratio of medians is {medians:.2f}x"
        spread = self.ratio_spread
        if spread is not None and spread > TRUST_SPREAD:
            return f"ratio noisy: ±{spread * 100:.0f}%"
        return None

    @property
    def spread(self) -> float | None:
        """Noise of the row's metric over its rounds: (max - min) / 2 / median, e.g. 0.05 for
        ±5 %; None with fewer than two rounds."""
        values = [v for s in self.samples if (v := s.metric(self.metric)) is not None]
        if len(values) < 2 or not statistics.median(values):
            return None
        return (max(values) - min(values)) / 2 / statistics.median(values)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (the format of ``--json``)."""
        result = {f.name: getattr(self.result, f.name) for f in fields(Result)}
        return {
            "name": self.name,
            "group": self.group,
            "baseline": self.baseline,
            "metric": self.metric.value,
            "higher_is_better": self.metric.higher_is_better,
            "ratio": self.ratio,
            "ratio_spread": self.ratio_spread,
            "ratios": list(self.ratios),
            "medians_ratio": self.medians_ratio,
            "warning": self.warning,
            "spread": self.spread,
            "rounds": self.rounds,
            "description": self.description,
            "error": self.error,
            "skipped": self.skipped,
            **result,
            "samples": [
                {name: getattr(s, name) for name in (*_NUMERIC, "ops")} for s in self.samples
            ],
        }


class Registry:
    """Ordered collection of cases; registration order is the table order."""

    def __init__(self) -> None:
        self._cases: dict[str, Case] = {}

    def add(self, case: Case) -> Case:
        if case.name in self._cases:
            raise ConfigError(f"benchmark case {case.name!r} is registered twice")
        self._cases[case.name] = case
        return case

    def __iter__(self) -> Iterator[Case]:
        return iter(self._cases.values())

    def __len__(self) -> int:
        return len(self._cases)

    def get(self, name: str) -> Case | None:
        return self._cases.get(name)

    def select(
        self, patterns: Sequence[str] = (), *, quick: bool = False, always: Sequence[str] = ()
    ) -> list[Case]:
        """Cases matching any pattern (glob, or substring when it has no wildcard), plus the
        baselines they need, transitively, in registration order. Without patterns: every case
        (``quick``: the quick ones and the names in ``always``, e.g. the rows with targets).

        Raises:
            ConfigError: a pattern matches nothing, or a baseline names an unknown case.
        """
        chosen: set[str] = set()
        for pattern in patterns:
            glob = pattern if any(ch in pattern for ch in "*?[") else f"*{pattern}*"
            hits = [
                c.name
                for c in self
                if fnmatch.fnmatchcase(c.name, glob) or fnmatch.fnmatchcase(c.group, glob)
            ]
            if not hits:
                raise ConfigError(f"--only {pattern!r} matches no benchmark (see --list)")
            chosen.update(hits)
        if not patterns:
            keep = set(always)
            chosen = {c.name for c in self if c.quick or not quick or c.name in keep}
        todo = list(chosen)
        while todo:
            case = self._cases[todo.pop()]
            if case.baseline is None or case.baseline in chosen:
                continue
            if case.baseline not in self._cases:
                raise ConfigError(f"case {case.name!r} names unknown baseline {case.baseline!r}")
            chosen.add(case.baseline)
            todo.append(case.baseline)
        return [c for c in self if c.name in chosen]


#: The suite's registry; ``benchmarks._cases`` fills it with the baselines, ouc rows add theirs.
REGISTRY = Registry()


def register(case: Case) -> Case:
    """Add ``case`` to :data:`REGISTRY` (the one extension point for new rows)."""
    return REGISTRY.add(case)


def clusters(cases: Sequence[Case]) -> list[list[Case]]:
    """Split cases into groups linked by baseline edges (union-find), in registration order."""
    parent = {c.name: c.name for c in cases}

    def find(name: str) -> str:
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for case in cases:
        if case.baseline is not None and case.baseline in parent:
            parent[find(case.name)] = find(case.baseline)
    out: dict[str, list[Case]] = {}
    for case in cases:
        out.setdefault(find(case.name), []).append(case)
    return list(out.values())


def _skip_reason(case: Case) -> str | None:
    return case.available() if case.available is not None else None


ProgressHook = Callable[[str], None]


def run_suite(
    cases: Sequence[Case],
    ctx: RunContext,
    *,
    rounds: int,
    progress: ProgressHook | None = None,
) -> list[Row]:
    """Run ``cases`` interleaved cluster by cluster and return one row per case.

    Within a cluster, round ``r`` runs the members forward when ``r`` is even and backward when
    odd (A B, B A, ...), so a steady drift does not favour whichever case runs first. Before the
    first round every member with ``warmup`` runs once for a tenth of the budget, unrecorded: the
    first run after a listener, a thread or a context appears is reliably slower. A case that
    raises an :class:`OucError` or ``OSError`` gets a row with the error and the suite moves on.

    Args:
        cases: what to run (baselines included; see :meth:`Registry.select`).
        ctx: budgets and shared resources (not closed here).
        rounds: rounds per cluster (cases with ``max_rounds`` run fewer).
        progress: called with the case name before each run (for the progress bar).
    """
    samples: dict[str, list[Result]] = {c.name: [] for c in cases}
    errors: dict[str, str] = {}
    skipped: set[str] = set()
    for case in cases:
        reason = _skip_reason(case)
        if reason is not None:
            errors[case.name] = reason
            skipped.add(case.name)
    warm = replace(ctx, budget=replace(ctx.budget, seconds=ctx.budget.seconds / 10))

    def attempt(case: Case, run_ctx: RunContext) -> Result | None:
        try:
            return case.run(run_ctx)
        except (OucError, OSError) as exc:
            errors[case.name] = f"{type(exc).__name__}: {exc}"
            return None

    for cluster in clusters(cases):
        for case in cluster:
            if case.warmup and case.name not in errors:
                attempt(case, warm)
        for r in range(rounds):
            order = cluster if r % 2 == 0 else list(reversed(cluster))
            for case in order:
                if progress is not None:
                    progress(case.name)
                if case.name in errors or (case.max_rounds is not None and r >= case.max_rounds):
                    continue
                result = attempt(case, ctx)
                if result is not None:
                    samples[case.name].append(result)
    return [_row(case, samples, errors, skipped) for case in cases]


def steps(cases: Sequence[Case], rounds: int) -> int:
    """How many progress ticks :func:`run_suite` makes (one per case per round)."""
    return len(cases) * rounds


def paired_ratios(
    metric: Metric, subject: Sequence[Result], baseline: Sequence[Result]
) -> list[float]:
    ratios: list[float] = []
    for mine, theirs in zip(subject, baseline, strict=False):
        a, b = mine.metric(metric), theirs.metric(metric)
        if a is not None and b:
            ratios.append(a / b)
    return ratios


def _row(
    case: Case, samples: dict[str, list[Result]], errors: dict[str, str], skipped: set[str]
) -> Row:
    mine = samples[case.name]
    ratios: list[float] = []
    medians = None
    if case.baseline is not None and case.baseline in samples:
        theirs = samples[case.baseline]
        ratios = paired_ratios(case.metric, mine, theirs)
        if mine and theirs:
            a = median_result(mine).metric(case.metric)
            b = median_result(theirs).metric(case.metric)
            medians = a / b if a is not None and b else None
    return Row(
        name=case.name,
        group=case.group,
        baseline=case.baseline,
        metric=case.metric,
        result=median_result(mine),
        ratio=statistics.median(ratios) if ratios else None,
        rounds=len(mine),
        description=case.description,
        error=errors.get(case.name),
        skipped=case.name in skipped,
        samples=tuple(mine),
        ratios=tuple(ratios),
        medians_ratio=medians,
    )
