"""The baseline rows: raw loops on pyOpenSSL, Python's ``ssl``, asyncio, plain TCP and openssl.

Row names read ``<family>-<where>-<stack>-<configuration>``: ``hs-mem-pyopenssl-tls13-ecdsa-server``
is a full TLS 1.3 handshake with an ECDSA P-256 server certificate, server authentication only,
both sides in memory. Families: ``hs`` handshakes, ``rec`` records, ``idle`` memory per idle
connection, ``crypto`` the openssl speed floor.

ouc rows register next to these with the same helpers and name the row here as their baseline
(see the package docstring of :mod:`benchmarks` for the exact extension points).
"""

from __future__ import annotations

import functools
from dataclasses import replace

from benchmarks import _memory, _openssl, _sockets
from benchmarks._certs import KEY_TYPES, CertFiles, make_cert_files
from benchmarks._harness import Case, Metric, Registry, Result, RunContext
from benchmarks._loops import to_result
from benchmarks._stacks import TLSConfig, config_label

__all__ = [
    "AUTHS",
    "RECORD_CONFIG",
    "SIZES",
    "VERSIONS",
    "all_configs",
    "describe_config",
    "pyopenssl_pair",
    "register_baselines",
    "tls_config",
]

VERSIONS: tuple[str, ...] = ("1.3", "1.2")
AUTHS: tuple[bool, ...] = (False, True)
SIZES: tuple[int, ...] = (258, 4096, 65536)
#: The record path runs over this configuration: TLS 1.3, ECDSA P-256, server authentication.
RECORD_CONFIG = ("1.3", "EC-P256", False)
_QUICK_CONFIGS = {("1.3", "EC-P256", False), ("1.3", "EC-P256", True), ("1.2", "EC-P256", False)}


def cert_files(ctx: RunContext, key_type: str) -> CertFiles:
    """The run's certificates of ``key_type`` (made once per run)."""
    files: CertFiles = ctx.resource(
        f"certs-{key_type}", lambda: make_cert_files(ctx.workdir, key_type)
    )
    return files


def tls_config(
    ctx: RunContext, version: str, key_type: str, mutual: bool, *, session_ids: bool = False
) -> TLSConfig:
    """A TLSConfig on the run's certificates."""
    return TLSConfig(version, mutual, cert_files(ctx, key_type), session_ids=session_ids)


def pyopenssl_pair(ctx: RunContext, cfg: TLSConfig) -> _memory.PyOpenSSLPair:
    """Client and server pyOpenSSL contexts for ``cfg``, built once per run."""
    pair: _memory.PyOpenSSLPair = ctx.resource(
        f"pair-{cfg.label}-{cfg.session_ids}", lambda: _memory.PyOpenSSLPair(cfg)
    )
    return pair


# -- run functions ------------------------------------------------------------------------------


def _hs_memory(version: str, key_type: str, mutual: bool, resume: bool, ctx: RunContext) -> Result:
    cfg = tls_config(ctx, version, key_type, mutual, session_ids=resume and version == "1.2")
    timing, info = _memory.pyopenssl_handshake_loop(
        pyopenssl_pair(ctx, cfg), ctx.budget, resume=resume
    )
    return to_result(timing, info=info)


def _hs_socket(
    stack: str,
    version: str,
    key_type: str,
    mutual: bool,
    resume: bool,
    concurrent: bool,
    ctx: RunContext,
) -> Result:
    cfg = tls_config(ctx, version, key_type, mutual, session_ids=resume and version == "1.2")
    n = ctx.concurrency if concurrent else 1
    info = {"clients": str(n)}
    if stack == "asyncio":
        return _sockets.asyncio_handshake_case(ctx, cfg)
    if stack == "ssl":
        return _sockets.handshake_case(
            ctx, "ssl", cfg, _sockets.ssl_handshake_op(cfg), clients=n, info=info
        )
    reused = [0]
    make_op = _sockets.pyopenssl_handshake_op(cfg, resume=resume, reused=reused)
    result = _sockets.handshake_case(ctx, "pyopenssl", cfg, make_op, clients=n, info=info)
    if resume:
        result = replace(result, info={**result.info, "resumed": f"{reused[0]}/{result.ops}"})
    return result


def _s_time(version: str, key_type: str, mutual: bool, ctx: RunContext) -> Result:
    return _openssl.s_time_case(ctx, tls_config(ctx, version, key_type, mutual))


def _rec_memory(stack: str, size: int, ctx: RunContext) -> Result:
    cfg = tls_config(ctx, *RECORD_CONFIG)
    if stack == "ssl":
        timing = _memory.ssl_memory_echo(cfg, size, ctx.budget)
    else:
        timing = _memory.pyopenssl_echo(pyopenssl_pair(ctx, cfg), size, ctx.budget)
    return to_result(timing, payload_per_op=size)


def _rec_socket(stack: str, size: int, mode: str, ctx: RunContext) -> Result:
    if stack == "tcp":
        return _sockets.record_case(ctx, "tcp", None, _sockets.tcp_connect, size, mode)
    cfg = tls_config(ctx, *RECORD_CONFIG)
    if stack == "asyncio":
        return _sockets.asyncio_record_case(ctx, cfg, size, mode)
    connect = _sockets.ssl_connect(cfg) if stack == "ssl" else _sockets.pyopenssl_connect(cfg)
    return _sockets.record_case(ctx, stack, cfg, connect, size, mode)


def _idle(tls: bool, ctx: RunContext) -> Result:
    cfg = tls_config(ctx, *RECORD_CONFIG) if tls else None
    return _sockets.idle_memory_case(ctx, "asyncio-tls" if tls else "asyncio-tcp", cfg)


def _speed(ctx: RunContext) -> Result:
    return _openssl.speed_case(ctx)


# -- registration ---------------------------------------------------------------------------


def all_configs() -> list[tuple[str, str, bool]]:
    """Every (version, key type, mutual) the handshake rows measure, in table order."""
    return [(v, k, m) for k in KEY_TYPES for v in VERSIONS for m in AUTHS]


def describe_config(version: str, key_type: str, mutual: bool) -> str:
    """``TLS 1.3, EC-P256 certificates, server auth, X25519`` (for row descriptions)."""
    auth = "mutual auth" if mutual else "server auth"
    return f"TLS {version}, {key_type} certificates, {auth}, X25519"


def _resumed_by(version: str) -> str:
    return "TLS 1.3 ticket" if version == "1.3" else "TLS 1.2 session ID"


# Record-path rows: (stack, the stack of its baseline, what it is). Echo and one-way rows of a
# size form one interleaved cluster each; ouc's blocking and asyncio drivers join them later.
_ECHO = (
    ("tcp", None, "plain TCP blocking echo"),
    ("ssl", "tcp", "ssl blocking echo"),
    ("pyopenssl", "ssl", "raw pyOpenSSL blocking echo"),
    ("asyncio", "ssl", "asyncio TLS streams echo"),
)
_ONEWAY = (
    ("tcp", None, "plain TCP one-way"),
    ("ssl", "tcp", "ssl blocking one-way"),
    ("asyncio", "ssl", "asyncio TLS streams one-way"),
)


def _handshake_cases() -> list[Case]:
    p = functools.partial
    cases: list[Case] = []
    for v, k, m in all_configs():
        label, what = config_label(v, k, m), describe_config(v, k, m)
        cases.append(
            Case(
                f"hs-mem-pyopenssl-{label}",
                "handshake-memory",
                None,
                p(_hs_memory, v, k, m, False),
                Metric.CPU_US,
                description=f"raw pyOpenSSL memory-BIO full handshake, both sides: {what}",
            )
        )
    for v, k, m in all_configs():
        if k == "EC-P256":
            label = config_label(v, k, m)
            cases.append(
                Case(
                    f"hs-mem-pyopenssl-{label}-resumed",
                    "handshake-resumed-memory",
                    f"hs-mem-pyopenssl-{label}",
                    p(_hs_memory, v, k, m, True),
                    Metric.CPU_US,
                    description=f"raw pyOpenSSL memory-BIO handshake resumed by {_resumed_by(v)}",
                )
            )
    for v, k, m in all_configs():
        label, what = config_label(v, k, m), describe_config(v, k, m)
        quick = (v, k, m) in _QUICK_CONFIGS
        base = f"hs-sock-pyopenssl-{label}"
        cases.append(
            Case(
                base,
                "handshake-socket",
                None,
                p(_hs_socket, "pyopenssl", v, k, m, False, False),
                quick=quick,
                description=f"raw pyOpenSSL socket handshakes, sequential: {what}",
            )
        )
        cases.append(
            Case(
                f"hs-sock-ssl-{label}",
                "handshake-socket",
                base,
                p(_hs_socket, "ssl", v, k, m, False, False),
                quick=quick,
                description=f"Python ssl socket handshakes, sequential: {what}",
            )
        )
        if k != "EC-P256":
            continue
        cases.append(
            Case(
                f"hs-sock-asyncio-{label}",
                "handshake-socket",
                base,
                p(_hs_socket, "asyncio", v, k, m, False, False),
                quick=False,
                description=f"asyncio TLS streams (ssl module) handshakes, sequential: {what}",
            )
        )
        cases.append(
            Case(
                f"hs-stime-openssl-{label}",
                "handshake-socket",
                base,
                p(_s_time, v, k, m),
                quick=(v, m) == ("1.3", False),
                available=_openssl.openssl_missing,
                warmup=False,
                description=f"openssl s_time -new vs s_server (system OpenSSL): {what}",
            )
        )
        if not m:
            cases.append(
                Case(
                    f"{base}-resumed",
                    "handshake-socket",
                    base,
                    p(_hs_socket, "pyopenssl", v, k, m, True, False),
                    quick=False,
                    description=f"raw pyOpenSSL socket handshakes resumed by {_resumed_by(v)}",
                )
            )
    for m in AUTHS:
        label, what = config_label("1.3", "EC-P256", m), describe_config("1.3", "EC-P256", m)
        base = f"hs-conc-pyopenssl-{label}"
        for stack, baseline in (("pyopenssl", None), ("ssl", base)):
            cases.append(
                Case(
                    f"hs-conc-{stack}-{label}",
                    "handshake-concurrent",
                    baseline,
                    p(_hs_socket, stack, "1.3", "EC-P256", m, False, True),
                    quick=not m,
                    description=f"{stack}, N concurrent clients (--concurrency): {what}",
                )
            )
    return cases


def _record_cases() -> list[Case]:
    p = functools.partial
    cases = [
        Case(
            "crypto-openssl-speed-floor",
            "crypto",
            None,
            _speed,
            Metric.CPU_US,
            quick=False,
            max_rounds=1,
            available=_openssl.openssl_missing,
            warmup=False,
            description="openssl speed: 2 X25519 + 1 ECDSA P-256 sign + 2 verifies",
        )
    ]
    for size in SIZES:
        cases.append(
            Case(
                f"rec-mem-ssl-{size}",
                "record-memory",
                None,
                p(_rec_memory, "ssl", size),
                Metric.CPU_US,
                description=f"ssl SSLObject+MemoryBIO echo, {size} B, TLS 1.3",
            )
        )
        cases.append(
            Case(
                f"rec-mem-pyopenssl-{size}",
                "record-memory",
                f"rec-mem-ssl-{size}",
                p(_rec_memory, "pyopenssl", size),
                Metric.CPU_US,
                description=f"raw pyOpenSSL memory-BIO echo, {size} B, TLS 1.3",
            )
        )
    for mode, rows, metric in (("echo", _ECHO, Metric.RATE), ("oneway", _ONEWAY, Metric.MB_S)):
        for size in SIZES:
            for stack, base, what in rows:
                baseline = None if base is None else f"rec-{mode}-{base}-{size}"
                cases.append(
                    Case(
                        f"rec-{mode}-{stack}-{size}",
                        f"record-{mode}",
                        baseline,
                        p(_rec_socket, stack, size, mode),
                        metric,
                        description=f"{what}, {size} B frames",
                    )
                )
    for tls, base in ((False, None), (True, "idle-asyncio-tcp")):
        what = "(ssl=...) TLS 1.3" if tls else " plain TCP"
        cases.append(
            Case(
                f"idle-asyncio-{'tls' if tls else 'tcp'}",
                "memory-idle",
                base,
                p(_idle, tls),
                Metric.BYTES_PER_CONN,
                max_rounds=1,
                warmup=False,
                description=f"asyncio.start_server{what}, RSS per idle connection",
            )
        )
    return cases


def register_baselines(registry: Registry) -> None:
    """Register every baseline row, in table order."""
    for case in (*_handshake_cases(), *_record_cases()):
        registry.add(case)
