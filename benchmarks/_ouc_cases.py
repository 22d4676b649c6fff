"""The ouc rows of the suite, each registered next to the baseline its target compares it with.

Names follow the baselines' pattern with the stack ``ouc`` (engine pair, in memory),
``ouc-blocking`` (PassiveEndpoint / ActiveEndpoint) or ``ouc-asyncio`` (AsyncPassiveEndpoint /
AsyncActiveEndpoint):

- ``hs-mem-ouc-<config>[-resumed]`` vs ``hs-mem-pyopenssl-<config>[-resumed]`` (CPU µs, both
  sides): every configuration, resumed where the baselines resume (ECDSA, by ticket; the TLS 1.2
  baseline resumes by session ID, ouc by ticket, as the engine keeps no server session cache);
- ``rec-mem-ouc-<size>`` vs ``rec-mem-pyopenssl-<size>`` (CPU µs per round trip);
- ``hs-sock-ouc-{blocking,asyncio}-<config>[-resumed]`` vs ``hs-sock-pyopenssl-<config>``: the
  ``ssl`` and ``openssl s_time`` rows share that baseline, so ours / theirs is the ratio of two
  ratios of the same rounds (see benchmarks/RESULTS.md);
- ``hs-conc-ouc-{blocking,asyncio}-<config>`` vs ``hs-conc-pyopenssl-<config>`` (p50/p99);
- ``rec-{echo,oneway}-ouc-blocking-<size>`` vs ``rec-*-ssl-<size>``, ``...-ouc-asyncio-<size>``
  vs ``rec-*-asyncio-<size>`` (asyncio's own TLS streams);
- ``idle-ouc-asyncio-tls`` vs ``idle-asyncio-tls``: server RSS per idle TLS connection.
"""

from __future__ import annotations

import functools
from dataclasses import replace

from benchmarks import _ouc, _sockets
from benchmarks._cases import (
    AUTHS,
    RECORD_CONFIG,
    SIZES,
    all_configs,
    describe_config,
    tls_config,
)
from benchmarks._harness import Case, Metric, Registry, Result, RunContext
from benchmarks._loops import oneway_batch, server_cpu, to_result
from benchmarks._memory import transport_echo_loop
from benchmarks._ouc_aio import async_handshakes, async_records
from benchmarks._server import ListenSpec
from benchmarks._stacks import TLSConfig, config_label

__all__ = ["ouc_cases", "register_ouc"]

_QUICK_CONFIGS = {("1.3", "EC-P256", False), ("1.3", "EC-P256", True), ("1.2", "EC-P256", False)}
_DRIVERS = ("blocking", "asyncio")


def ouc_pair(ctx: RunContext, cfg: TLSConfig) -> _ouc.OucPair:
    """The run's ouc context pair of ``cfg`` (built once per run, like an endpoint's)."""
    pair: _ouc.OucPair = ctx.resource(f"ouc-pair-{cfg.label}", lambda: _ouc.OucPair(cfg))
    return pair


# -- run functions ------------------------------------------------------------------------------


def _hs_memory(version: str, key_type: str, mutual: bool, resume: bool, ctx: RunContext) -> Result:
    pair = ouc_pair(ctx, tls_config(ctx, version, key_type, mutual))
    loop = _ouc.memory_resumed_loop if resume else _ouc.memory_full_loop
    timing, info = loop(pair, ctx.budget)
    return to_result(timing, info=info)


def _rec_memory(size: int, ctx: RunContext) -> Result:
    client, server = ouc_pair(ctx, tls_config(ctx, *RECORD_CONFIG)).engines()
    return to_result(transport_echo_loop(client, server, size, ctx.budget), payload_per_op=size)


def _hs_socket(
    driver: str,
    version: str,
    key_type: str,
    mutual: bool,
    resume: bool,
    concurrent: bool,
    ctx: RunContext,
) -> Result:
    cfg = tls_config(ctx, version, key_type, mutual)
    n = ctx.concurrency if concurrent else 1
    info = {"clients": str(n)}
    if driver == "asyncio":
        server = _sockets.shared_server(ctx)
        port = server.listen(ListenSpec(kind="ouc-asyncio", mode="echo", tls=cfg, workers=n))
        with server_cpu(server) as spent:
            timing = async_handshakes(cfg, port, n, ctx.budget)
        return to_result(timing, extra_cpu=spent[0], info=info)
    reused = [0]
    make_op = _ouc.blocking_handshake_op(cfg, resume=resume, reused=reused)
    result = _sockets.handshake_case(ctx, "ouc-blocking", cfg, make_op, clients=n, info=info)
    if resume:
        result = replace(result, info={**result.info, "resumed": f"{reused[0]}/{result.ops}"})
    return result


def _rec_socket(driver: str, size: int, mode: str, ctx: RunContext) -> Result:
    cfg = tls_config(ctx, *RECORD_CONFIG)
    if driver == "blocking":
        connect = _ouc.blocking_connect(cfg)
        return _sockets.record_case(ctx, "ouc-blocking", cfg, connect, size, mode)
    server = _sockets.shared_server(ctx)
    unit = size * oneway_batch(size)
    spec = ListenSpec(
        kind="ouc-asyncio", mode="sink" if mode == "oneway" else "echo", tls=cfg, unit=unit
    )
    port = server.listen(spec)
    with server_cpu(server) as spent:
        timing = async_records(cfg, port, size, mode, ctx.budget)
    return to_result(timing, extra_cpu=spent[0], payload_per_op=size)


def _idle(ctx: RunContext) -> Result:
    return _sockets.idle_memory_case(ctx, "ouc-asyncio", tls_config(ctx, *RECORD_CONFIG))


# -- registration ---------------------------------------------------------------------------


def _memory_cases() -> list[Case]:
    p = functools.partial
    cases: list[Case] = []
    for v, k, m in all_configs():
        label = config_label(v, k, m)
        cases.append(
            Case(
                f"hs-mem-ouc-{label}",
                "handshake-memory",
                f"hs-mem-pyopenssl-{label}",
                p(_hs_memory, v, k, m, False),
                Metric.CPU_US,
                description=f"ouc client engine + server engine, full: {describe_config(v, k, m)}",
            )
        )
    for v, k, m in all_configs():
        if k == "EC-P256":
            label = config_label(v, k, m)
            cases.append(
                Case(
                    f"hs-mem-ouc-{label}-resumed",
                    "handshake-resumed-memory",
                    f"hs-mem-pyopenssl-{label}-resumed",
                    p(_hs_memory, v, k, m, True),
                    Metric.CPU_US,
                    description=f"ouc engines, resumed by TLS {v} session ticket",
                )
            )
    for size in SIZES:
        cases.append(
            Case(
                f"rec-mem-ouc-{size}",
                "record-memory",
                f"rec-mem-pyopenssl-{size}",
                p(_rec_memory, size),
                Metric.CPU_US,
                description=f"ouc engine pair echo, {size} B, TLS 1.3",
            )
        )
    return cases


def _socket_cases() -> list[Case]:
    p = functools.partial
    cases: list[Case] = []
    for v, k, m in all_configs():
        label, what = config_label(v, k, m), describe_config(v, k, m)
        base = f"hs-sock-pyopenssl-{label}"
        quick = (v, k, m) in _QUICK_CONFIGS
        for driver in _DRIVERS:
            if driver == "asyncio" and k != "EC-P256":
                continue
            cases.append(
                Case(
                    f"hs-sock-ouc-{driver}-{label}",
                    "handshake-socket",
                    base,
                    p(_hs_socket, driver, v, k, m, False, False),
                    quick=quick and (driver == "blocking" or (v, m) == ("1.3", False)),
                    description=f"ouc {driver} driver handshakes, sequential: {what}",
                )
            )
        if k == "EC-P256" and not m:
            cases.append(
                Case(
                    f"hs-sock-ouc-blocking-{label}-resumed",
                    "handshake-socket",
                    f"{base}-resumed",
                    p(_hs_socket, "blocking", v, k, m, True, False),
                    quick=False,
                    description=f"ouc blocking driver handshakes resumed by TLS {v} ticket",
                )
            )
    for m in AUTHS:
        label, what = config_label("1.3", "EC-P256", m), describe_config("1.3", "EC-P256", m)
        for driver in _DRIVERS:
            cases.append(
                Case(
                    f"hs-conc-ouc-{driver}-{label}",
                    "handshake-concurrent",
                    f"hs-conc-pyopenssl-{label}",
                    p(_hs_socket, driver, "1.3", "EC-P256", m, False, True),
                    quick=not m,
                    description=f"ouc {driver}, N concurrent clients (--concurrency): {what}",
                )
            )
    baselines = {"blocking": "ssl", "asyncio": "asyncio"}
    for mode in ("echo", "oneway"):
        for size in SIZES:
            for driver in _DRIVERS:
                what = "echo" if mode == "echo" else "one-way"
                cases.append(
                    Case(
                        f"rec-{mode}-ouc-{driver}-{size}",
                        f"record-{mode}",
                        f"rec-{mode}-{baselines[driver]}-{size}",
                        p(_rec_socket, driver, size, mode),
                        Metric.RATE if mode == "echo" else Metric.MB_S,
                        description=f"ouc {driver} driver {what}, {size} B frames",
                    )
                )
    cases.append(
        Case(
            "idle-ouc-asyncio-tls",
            "memory-idle",
            "idle-asyncio-tls",
            _idle,
            Metric.BYTES_PER_CONN,
            max_rounds=1,
            warmup=False,
            description="ouc AsyncPassiveEndpoint TLS 1.3, RSS per idle connection",
        )
    )
    return cases


def ouc_cases() -> list[Case]:
    """Every ouc row, in table order."""
    return [*_memory_cases(), *_socket_cases()]


def register_ouc(registry: Registry) -> None:
    """Register the ouc rows (after the baselines, which they name)."""
    for case in ouc_cases():
        registry.add(case)
