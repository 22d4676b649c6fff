"""``ouc bench --target HOST:PORT``: the ouc active endpoint as a load generator for any peer.

Users point it at their own Secure OUC server (a real CPU, a gateway, their own software) and get
the handshake loop (sequential and N concurrent clients) and the record loop (echo of their frame
sizes) of the active side (TSEND_C, TLS client), reported like the rest of the suite. There is no
baseline: nothing of ours runs on the other side.

The parsing, validation and reporting are here; :func:`target_ops` runs the blocking
``ActiveEndpoint`` of :mod:`ouc.drivers`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks._harness import Case, Metric, Result, RunContext
from benchmarks._loops import concurrent_loop, echo_loop, op_loop, to_result
from benchmarks._sockets import Stream
from ouc.device import Device
from ouc.errors import ConfigError, OucConnectionError, Status
from ouc.params import TconIpV4, TconIpV4Sec, TconQdn, TconQdnSec

if TYPE_CHECKING:
    from ouc.drivers import ActiveEndpoint, EndpointSpec

__all__ = ["TargetPlan", "parse_target", "target_cases", "target_ops", "target_spec"]


@dataclass(frozen=True)
class TargetPlan:
    """What ``--target`` measures and how the active endpoint is configured.

    Attributes:
        host / port: the peer (any Secure OUC passive endpoint).
        store: certificate store directory (``ouc certs``); None with ``plain``.
        server_cert_ref: TLSServerCertRef of the active side: ID of the CA (or certificate) that
            validates the server, 0 = every CA assigned to the device.
        client_cert_ref: TLSClientCertRef: ID of our own client certificate, 0 = present none.
        device: the emulated CPU (its TLS versions, key types, largest LEN).
        sizes: frame sizes of the echo loop (each ≤ device.max_send_len).
        plain: ActivateSecureConn FALSE: plain TCP, no TLS.
        insecure: skip verification of the server (explicit, never a fallback).
    """

    host: str
    port: int
    store: Path | None
    server_cert_ref: int
    client_cert_ref: int
    device: Device
    sizes: tuple[int, ...]
    plain: bool = False
    insecure: bool = False

    def __post_init__(self) -> None:
        for size in self.sizes:
            if not 1 <= size <= self.device.max_send_len:
                raise ConfigError(
                    f"frame size {size} is outside 1..{self.device.max_send_len} "
                    f"for {self.device.family.value}",
                    status=Status.LEN_INVALID,
                    path="--size",
                )
        for name, ref in (
            ("--server-cert-ref", self.server_cert_ref),
            ("--client-cert-ref", self.client_cert_ref),
        ):
            if not 0 <= ref <= 0xFFFFFFFF:
                raise ConfigError(f"{ref} is not a UDInt certificate ID", path=name)
        if not self.plain and self.store is None and not self.insecure:
            raise ConfigError(
                "a secure target needs --store (or --plain, or --insecure)", path="--store"
            )


def parse_target(text: str) -> tuple[str, int]:
    """``"192.168.0.1:2000"`` / ``"plc.example.:2000"`` / ``"[::1]:2000"`` → (host, port).

    Raises:
        ConfigError: not HOST:PORT, or the port is outside 1..65535.
    """
    host, sep, port_text = text.strip().rpartition(":")
    if not sep or not host or not port_text:
        raise ConfigError(f"{text!r} is not HOST:PORT", path="--target")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ConfigError(f"{host!r} is not an IPv6 address", path="--target") from exc
    elif ":" in host:
        raise ConfigError(f"{text!r}: write an IPv6 address as [ADDR]:PORT", path="--target")
    try:
        port = int(port_text)
    except ValueError as exc:
        raise ConfigError(f"port {port_text!r} is not a number", path="--target") from exc
    if not 1 <= port <= 65535:
        raise ConfigError(f"port {port} is outside 1..65535", path="--target")
    return host, port


OpFactory = Callable[[], Callable[[], None]]


def _target_block(plan: TargetPlan) -> TconIpV4Sec | TconQdnSec:
    """The active side's CONNECT block: TCON_IP_V4_SEC for an IPv4 target, else TCON_QDN_SEC."""
    secure = not plan.plain
    server_ref = plan.server_cert_ref if secure else 0
    client_ref = plan.client_cert_ref if secure else 0
    try:
        ipaddress.IPv4Address(plan.host)
    except ValueError:
        qdn = TconQdn(
            InterfaceId=64, ID=1, ConnectionType=11, ActiveEstablished=True,
            RemoteQDN=plan.host, RemotePort=plan.port, LocalPort=0,
        )  # fmt: skip
        return TconQdnSec(
            ConnPara=qdn, ActivateSecureConn=secure, TLSServerReqClientCert=False,
            ExtTLSCapabilities=0, TLSServerCertRef=server_ref, TLSClientCertRef=client_ref,
        )  # fmt: skip
    conn = TconIpV4(
        InterfaceId=64, ID=1, ConnectionType=11, ActiveEstablished=True,
        RemoteAddress=plan.host, RemotePort=plan.port, LocalPort=0,
    )  # fmt: skip
    return TconIpV4Sec(
        ConnPara=conn, ActivateSecureConn=secure, TLSServerReqClientCert=False,
        ExtTLSCapabilities=0, TLSServerCertRef=server_ref, TLSClientCertRef=client_ref,
    )  # fmt: skip


def target_spec(plan: TargetPlan) -> EndpointSpec:
    """The active endpoint's setup for ``plan`` (TLS context built once, shared by every client).

    The block is not checked against TCON's rules (a user's peer may listen on any port, e.g.
    a test server on a port a CPU reserves); the certificate IDs resolve in ``plan.store`` for
    ``plan.device.name``. ``--insecure`` without a store presents no certificate and accepts
    any server (explicit, logged by the TLS engine).

    Raises:
        OucError: the store or the IDs do not resolve (16#80ED, 16#80E4, ...).
    """
    from benchmarks._ouc import CONNECT_TIMEOUT
    from ouc.certs import CertStore, ResolvedEndpoint
    from ouc.device import Role
    from ouc.drivers import EndpointSpec

    block = _target_block(plan)
    store = CertStore(plan.store) if plan.store is not None and not plan.plain else None
    resolved = None
    if not plan.plain and store is None:  # --insecure without a store (checked in the plan)
        resolved = ResolvedEndpoint(
            role=Role.ACTIVE, own_id=None, own_cert=None, own_key=None, chain=(),
            anchor_ids=(), anchors=(),
        )  # fmt: skip
    return EndpointSpec.from_block(
        block,
        device=plan.device,
        store=store,
        resolved=resolved,
        insecure=plan.insecure,
        check_block=False,
        handshake_timeout=CONNECT_TIMEOUT,
    )


def target_ops(plan: TargetPlan) -> tuple[OpFactory, Callable[[], Stream]]:
    """The active endpoint's two loops against ``plan``: (make one handshake op, open a stream).

    ``make_op()`` gives one client (an ActiveEndpoint of its own, sharing the TLS context); one
    op = CONT 0→1 (TCP connect + full handshake, no resumption) then CONT 1→0 (close_notify,
    FIN). No data is exchanged: a peer with a fixed TRCV_C LEN would not answer a probe byte.
    ``connect()`` gives an established client as a Stream for the echo loop (the peer must
    send back what it receives).

    Raises:
        OucError: the plan does not resolve into an endpoint (see :func:`target_spec`).
    """
    from benchmarks._ouc import active_endpoint, stream_of

    spec = target_spec(plan)

    def make_op() -> Callable[[], None]:
        endpoint = active_endpoint(spec, plan.port, host=plan.host)

        def once() -> None:
            _connect(endpoint)
            endpoint.disconnect()

        return once

    def connect() -> Stream:
        endpoint = active_endpoint(spec, plan.port, host=plan.host)
        _connect(endpoint)
        return stream_of(endpoint)

    return make_op, connect


def _connect(endpoint: ActiveEndpoint) -> None:
    """Connect; a reset during the handshake names its most common cause (the partner check)."""
    try:
        endpoint.connect()
    except OucConnectionError as exc:
        if exc.status != Status.PARTNER_CLOSED or endpoint.connections:
            raise
        raise OucConnectionError(
            f"{exc.message}; a PLC resets a partner that is not its RemoteAddress (16#80C9 on "
            f"its side): let the peer accept this host as its partner (for 'ouc serve': --map "
            f"PARTNER_IP=THIS_HOST_IP, e.g. 127.0.0.1 on loopback)",
            status=exc.status,
        ) from exc


def target_cases(plan: TargetPlan, make_op: OpFactory, connect: Callable[[], Stream]) -> list[Case]:
    """The rows of a target run: sequential and concurrent handshakes, echo per frame size."""
    where = f"{plan.host}:{plan.port}"

    def sequential(ctx: RunContext) -> Result:
        return to_result(op_loop(make_op(), ctx.budget), info={"target": where})

    def concurrent(ctx: RunContext) -> Result:
        timing = concurrent_loop(make_op, ctx.concurrency, ctx.budget)
        return to_result(timing, info={"target": where, "clients": str(ctx.concurrency)})

    def echo(size: int) -> Callable[[RunContext], Result]:
        def run(ctx: RunContext) -> Result:
            stream = connect()
            try:
                timing = echo_loop(stream.sendall, stream.recv_into, size, ctx.budget)
            finally:
                stream.close()
            return to_result(timing, payload_per_op=size, info={"target": where})

        return run

    cases = [
        Case(
            "target-hs-sequential",
            "target-handshake",
            None,
            sequential,
            description=f"active endpoint handshakes against {where}, one client",
        ),
        Case(
            "target-hs-concurrent",
            "target-handshake",
            None,
            concurrent,
            description=f"active endpoint handshakes against {where}, N clients",
        ),
    ]
    for size in plan.sizes:
        cases.append(
            Case(
                f"target-echo-{size}",
                "target-record",
                None,
                echo(size),
                Metric.RATE,
                description=f"echo round trips of {size} B against {where}",
            )
        )
    return cases
