"""``ouc serve`` (a mock PLC, the passive TRCV_C side) and ``ouc connect`` (the TSEND_C side).

``ouc serve`` listens like the server PLC of a CONNECT block (default: the standard example's
server block, receiving ``Received_Data``) and prints one status line per connection event
(``PLC_1 TRCV_C 192.168.0.2:51234 16#0001 connected TLSv1.3 ...``), per received frame, decoded
with ``--db``, and per TSEND_C job (``sent``: each answer of ``--echo``/``--reply`` and each
REQ of ``ouc plc``). ``ouc connect`` connects like the client PLC (default: the example's client
block, sending ``Send_Data``), sends a data block or raw bytes, optionally waits for the reply,
and prints the STATUS sequences. ``--json`` prints one JSON object per line instead.

Plant addresses (192.168.0.1) run on this host through ``--map PLANT=LOCAL``: a peer connecting
from a mapped local address is seen with its plant address by the partner check.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from ouc.certs import CLIENT_DEVICE, SERVER_DEVICE, CertStore
from ouc.cli import _plc as plc
from ouc.cli import _types
from ouc.cli._connect_output import (
    Program,
    establish,
    no_reply,
    show_event,
    show_reply,
    show_sent,
    show_sequences,
    show_unread,
)
from ouc.cli._inputs import missing_store, one_stdin, read_block, read_layout
from ouc.cli._parser import OldSpelling
from ouc.cli._payloads import answer, check_len, payload
from ouc.cli._printer import Printer
from ouc.cli._serving import (
    ServeJob,
    on_sighup,
    on_sigterm,
    raise_open_files_limit,
    serve_asyncio,
    serve_blocking,
    stop_status,
    watch_certificates,
)
from ouc.cli._workers import parse_processes, serve_processes
from ouc.conn import FrameReceived
from ouc.device import Device, Role
from ouc.drivers import (
    ActiveEndpoint,
    AddressMap,
    EndpointSpec,
    KeepAlive,
    offset_clock,
    parse_keepalive,
    received_data_layout,
    split_host_port,
    system_clock,
)
from ouc.drivers._control_socket import check_socket_path
from ouc.drivers._setup import Clock
from ouc.errors import (
    CertError,
    ConfigError,
    OucError,
    Status,
    WaitTimeoutError,
)
from ouc.params import STANDARD_CLIENT, STANDARD_SERVER, Block
from ouc.tls import WireProfile

__all__ = ["register"]

STORE_PASSWORD_ENV = "OUC_STORE_PASSWORD"


# -- shared setup --------------------------------------------------------------------------------


def load_block(path: str | None, default: Block) -> Block:
    """The ``--block`` file (``-``: stdin), JSON or binary by content, or ``default``."""
    return default if path is None else read_block(path, option="--block")


def open_store(path: str) -> CertStore:
    """The certificate store at ``path``, or a ConfigError that says how to make one."""
    missing = missing_store(path)
    if missing is not None:
        raise missing
    return CertStore(Path(path), password=os.environ.get(STORE_PASSWORD_ENV))


def make_clock(text: str | None) -> Clock:
    """``--now ISO``: the emulated PLC clock (runs on from that time); default: now."""
    if text is None:
        return system_clock
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError as exc:
        raise ConfigError(f"{text!r} is not an ISO date/time", path="--now") from exc
    return offset_clock(moment)


def make_device(args: argparse.Namespace, name: str) -> Device:
    own = tuple(args.own_ip or ())
    if args.family is None and args.firmware is None:
        return Device(name=name, own_addresses=own)
    family = args.family or "S7-1500"
    firmware = args.firmware or ("V4.6" if "1200" in family else "V3.1")
    return Device.from_text(family, firmware, name=name, own_addresses=own)


def make_wire(args: argparse.Namespace) -> WireProfile:
    """``--tickets``, ``--send-chain`` and ``--key-shares`` as a WireProfile; errors name the
    flag."""
    try:
        return WireProfile(
            tickets=args.tickets, send_chain=args.send_chain, key_shares=args.key_shares
        )
    except ConfigError as exc:
        flag = "--" + (exc.path or "wire").replace("_", "-")
        raise ConfigError(exc.message, path=flag) from exc


def make_spec(
    args: argparse.Namespace,
    block: Block,
    default_device: str,
    *,
    receive_len: int | None,
    adhoc: bool | None,
) -> EndpointSpec:
    name = args.device or default_device
    wire = make_wire(args)
    store = open_store(args.store) if block.secure else None
    if args.insecure and block.secure:
        print(insecure_warning(block.role), file=sys.stderr, flush=True)
    try:
        return _spec_from_block(args, block, name, store, wire, receive_len, adhoc)
    except CertError as exc:
        if exc.status != Status.TLS_CERT_REF_UNKNOWN or store is None:
            raise
        hint = _missing_cert_hint(store, args.store, name, getattr(block, exc.path or "", None))
        raise CertError(f"{exc.message}; {hint}", status=exc.status, path=exc.path) from exc


def insecure_warning(role: Role) -> str:
    """What ``--insecure`` switches off, and on the passive side what it leaves on: the partner
    check on RemoteAddress is the PLC's own (16#80C9), not a certificate check."""
    text = (
        "ouc: WARNING: --insecure: the partner's certificate is NOT verified (any certificate "
        "is accepted: its CA, validity and addresses are not checked; one is still required "
        "where the block asks for it)."
    )
    if role is Role.PASSIVE:
        text += " The partner check on RemoteAddress stays on (16#80C9)."
    return text + " Use this for commissioning tests only."


def _missing_cert_hint(store: CertStore, where: str, device: str, cert_id: object) -> str:
    """What to do about a certificate ID the block names and the device cannot use."""
    if isinstance(cert_id, int) and cert_id in store:
        return f"assign it with 'ouc certs assign {device} {cert_id} --store {where}'"
    return (
        f"'ouc certs list --store {where}' shows the IDs it holds; create it with "
        f"'ouc certs create ... --id {cert_id} --assign {device}' or choose another ID in the "
        "block (--block)"
    )


def _spec_from_block(
    args: argparse.Namespace,
    block: Block,
    name: str,
    store: CertStore | None,
    wire: WireProfile,
    receive_len: int | None,
    adhoc: bool | None,
) -> EndpointSpec:
    return EndpointSpec.from_block(
        block,
        store=store,
        device=make_device(args, name),
        device_name=name,
        receive_len=receive_len,
        adhoc=adhoc,
        profile=args.profile,
        wire=wire,
        insecure=args.insecure,
        clock=make_clock(args.plc_time),
        handshake_timeout=args.handshake_timeout,
        idle_timeout=args.idle_timeout,
        keylog_file=args.keylog,
        keepalive=args.keepalive,
        cert_reload=args.cert_reload,
        **plc.spec_options(args),
    )


def address_map(args: argparse.Namespace) -> AddressMap:
    return AddressMap.parse(list(args.map or ()))


def host_port(text: str, option: str, default_port: int | None = None) -> tuple[str, int]:
    host, port = split_host_port(text, option)
    if port is None:
        if default_port is None:
            raise ConfigError(f"{text!r} is not HOST:PORT", path=option)
        port = default_port
    return host or "127.0.0.1", port


# -- ouc serve -----------------------------------------------------------------------------------


def _check_control(path: str | None) -> None:
    """``--control`` checked before the endpoint starts (its socket is made after): a path
    that cannot be a socket, or one that a running endpoint answers on, is refused before the
    port opens, so no partner sees a PLC that listens and is gone."""
    if path is None:
        return
    try:
        text = check_socket_path(path)
    except ConfigError as exc:
        raise ConfigError(f"{exc.path}: {exc.message}", path="--control") from exc
    if _answers(text):
        raise ConfigError(
            f"{path}: another ouc serve or ouc connect is running with this control socket "
            f"('ouc plc --control {path} status' shows it); stop it or give another --control",
            path="--control",
        )


def _answers(path: str) -> bool:
    """Whether something accepts connections on the Unix socket ``path`` (a stale socket file
    left by an endpoint that died does not: the endpoint replaces it)."""
    if not os.path.exists(path):
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        try:
            probe.connect(path)
        except OSError:
            return False
    return True


def _serve(args: argparse.Namespace) -> int:
    one_stdin(**{"--block": args.block, "--reply": args.reply})
    _check_control(args.control)
    block = load_block(args.block, STANDARD_SERVER)
    if block.role is not Role.PASSIVE:
        raise ConfigError(
            "the block has ActiveEstablished TRUE (the active side): use 'ouc connect'",
            path="--block",
        )
    if args.processes == 1 and args.spread is not None:
        raise ConfigError(
            "it chooses among worker processes and this serve has one: serve with --processes "
            "2 or more, or leave --spread out",
            path="--spread",
        )
    if args.processes > 1 and args.control:
        raise ConfigError(
            "--control takes the commands of one process: serve with --processes 1 to use it",
            path="--processes",
        )
    layout = read_layout(args.db, "--db") if args.db else None
    if layout is None and args.block is None and args.len is None:
        layout = received_data_layout()  # the example's receive area
    receive_len = args.len if args.len is not None else layout.size if layout else None
    adhoc = True if args.adhoc else None
    listen = _listen(args, block)
    reply_with = answer(args, make_device(args, args.device or SERVER_DEVICE))
    spec = make_spec(args, block, SERVER_DEVICE, receive_len=receive_len, adhoc=adhoc)
    raise_open_files_limit()

    def control(endpoint: Any, loop: asyncio.AbstractEventLoop | None) -> Any:
        return plc.start_control(args, endpoint, name="ouc serve", loop=loop)

    job = ServeJob(
        spec=spec,
        layout=layout,
        listen=listen,
        answer=reply_with,
        address_map=address_map(args),
        max_connections=args.max_connections,
        count=args.count,
        as_json=args.json,
        partner=block.remote_address,
        control=control,
        spread=args.spread or "auto",
    )
    run = serve_blocking if args.driver == "blocking" else serve_asyncio
    if args.processes > 1:
        return serve_processes(job, args.processes, run)
    return run(job)


def _listen(args: argparse.Namespace, block: Block) -> tuple[str, int] | None:
    """``--listen HOST[:PORT]`` and ``--port N``: where serve listens (None: the driver's
    default). A port in both is refused rather than one silently winning."""
    if args.listen is None and args.port is None:
        return None
    where, named = split_host_port(args.listen or "127.0.0.1", "--listen")
    host = where or "127.0.0.1"
    if named is not None and args.port is not None:
        raise ConfigError(
            f"--listen {args.listen} names the port already; give the port once: "
            f"--listen {host}:{args.port}, or --listen {host} --port {args.port}",
            path="--port",
        )
    port = args.port if args.port is not None else named
    return host, block.local_port or 0 if port is None else port


# -- ouc connect ---------------------------------------------------------------------------------


def _connect(args: argparse.Namespace) -> int:
    one_stdin(**{"--block": args.block, "--file": args.file})
    _check_control(args.control)
    block = load_block(args.block, STANDARD_CLIENT)
    if block.role is not Role.ACTIVE:
        raise ConfigError(
            "the block has ActiveEstablished FALSE (the passive side): use 'ouc serve'",
            path="--block",
        )
    data, layout = payload(args, make_device(args, args.device or CLIENT_DEVICE))
    reply_layout = read_layout(args.reply_db, "--reply-db") if args.reply_db else layout
    receive_len = args.reply_len
    if receive_len is None and not args.adhoc:
        receive_len = reply_layout.size if reply_layout is not None else len(data) or None
    adhoc = True if args.adhoc or receive_len is None else None
    spec = make_spec(args, block, CLIENT_DEVICE, receive_len=receive_len, adhoc=adhoc)
    check_len(args.len, len(data), spec.device)
    printer = Printer(args.json, insecure=spec.tls is not None and spec.tls.insecure)
    watch_certificates(spec, printer)
    previous_hup = on_sighup(spec)
    connect_to = host_port(args.to, "--to", block.remote_port) if args.to else None
    endpoint = ActiveEndpoint(
        spec,
        address_map=address_map(args),
        connect_to=connect_to,
        bind=args.bind,
        connect_timeout=args.timeout,
        reconnect=args.control is not None,  # CONT stays 1 under the program's control
        on_event=printer.record,
    )
    received: list[Any] = []
    previous = on_sigterm()
    control = None
    status = 0
    late = False  # a reply did not come in full: its error says what arrived of it
    try:
        if args.control is not None:  # before the first attempt: 'cont 0' stops the attempts
            control = plc.start_control(args, Program(endpoint, printer), name="ouc connect")
        connected = establish(endpoint, args, printer)
        for _ in range(args.count if connected else 0):
            endpoint.send(data, args.len or 0)
            show_sent(printer, endpoint, args.len or len(data))
            if args.expect_reply:
                try:
                    event = endpoint.receive_event(timeout=args.timeout)
                except WaitTimeoutError:
                    late = True
                    raise no_reply(printer, endpoint, args) from None
                if not isinstance(event, FrameReceived):
                    raise OucError(event.reason, status=event.status)
                received.append(show_reply(printer, endpoint, event, reply_layout))
        if control is not None:
            printer.line(
                f"{spec.name} {spec.block_name} under control of {args.control} (Ctrl-C ends)",
                {"event": "control", "device": spec.name, "path": args.control},
            )
            # TRCV_C with EN_R = 1 (en_r 0 holds frames): every frame is printed as it comes.
            endpoint.deliver(lambda event: show_event(printer, endpoint, event, reply_layout))
            threading.Event().wait()  # until Ctrl-C or SIGTERM (KeyboardInterrupt)
    except KeyboardInterrupt as exc:
        status = stop_status(exc)
        printer.line(f"{spec.name} {spec.block_name} stopping", None)
    finally:
        if control is not None:
            control.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
        if args.expect_reply and not late:  # without it, replies are not read by design
            show_unread(printer, endpoint, args)
        endpoint.close()
        if previous_hup is not None:
            signal.signal(signal.SIGHUP, previous_hup)
        show_sequences(printer, endpoint)
    return status


# -- parser --------------------------------------------------------------------------------------


def _common(parser: argparse.ArgumentParser, role: str) -> None:
    device = SERVER_DEVICE if role == "passive" else CLIENT_DEVICE
    sample = "standard_server" if role == "passive" else "standard_client"
    parser.add_argument(
        "--block",
        metavar="FILE",
        help=f"CONNECT block, JSON or binary, - for stdin (default: {sample})",
    )
    parser.add_argument(
        "--store", default="ouc-store", metavar="DIR", help="certificate store (./ouc-store)"
    )
    parser.add_argument(
        "--device",
        type=_types.device_name,
        metavar="NAME",
        help=f"whose certificates count (default {device})",
    )
    parser.add_argument(
        "--family", type=_types.family, help="emulated CPU: S7-1500 (default) or S7-1200"
    )
    parser.add_argument(
        "--firmware", type=_types.firmware, help="firmware, e.g. V3.1 (decides TLS 1.2 / 1.3)"
    )
    parser.add_argument(
        "--own-ip", action="append", metavar="IP", help="the device's own plant address"
    )
    parser.add_argument(
        "--map",
        action="append",
        metavar="PLANT=LOCAL",
        help="run a plant address here, e.g. 192.168.0.2=127.0.0.1 (repeatable)",
    )
    if role == "passive":
        size = received_data_layout().size
        length = (
            "TRCV_C LEN: the frame length (default: the --db layout's size; without --db and "
            f"--block, the standard example's Received_Data, {size} bytes; with --block alone, "
            "ad hoc)"
        )
    else:
        length = "TSEND_C LEN: bytes of the data to send (default: all)"
    parser.add_argument("--len", type=_types.length, metavar="N", help=length)
    parser.add_argument(
        "--adhoc", action="store_true", help="receive ad hoc: what arrived, with RCVD_LEN"
    )
    parser.add_argument(
        "--profile",
        choices=("compatible", "strict"),
        default="compatible",
        help="strict: reset instead of sending TLS alerts, like the firmware",
    )
    parser.add_argument(
        "--tickets",
        choices=("stateful", "stateless", "off"),
        default="stateful",
        help="session tickets: stateful (default, small like the CPU's), stateless, off",
    )
    parser.add_argument(
        "--send-chain",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="send the issuing CA certificates after the own one (default: yes, like the CPU)",
    )
    parser.add_argument(
        "--key-shares",
        default="X25519:P-256",
        metavar="GROUPS",
        help="groups the client sends key shares for, of X25519:P-256:P-384 (X25519:P-256)",
    )
    parser.add_argument(
        "--insecure", action="store_true", help="do NOT verify peer certificates (loud)"
    )
    parser.add_argument(
        "--now",
        "--plc-time",
        dest="plc_time",
        action=OldSpelling,
        type=_types.moment,
        metavar="ISO",
        help="the emulated PLC clock's time now (--plc-time: the older spelling)",
    )
    parser.add_argument(
        "--handshake-timeout",
        type=_types.seconds,
        default=10.0,
        metavar="S",
        help="seconds (10) to establish a connection; then it fails with 16#80C4 (inference)",
    )
    parser.add_argument(
        "--idle-timeout",
        type=_types.seconds,
        metavar="S",
        help="seconds (none) without data; then the connection fails with 16#80C6 (inference)",
    )
    parser.add_argument(
        "--keylog", metavar="FILE", help="append TLS key-log lines (default $SSLKEYLOGFILE)"
    )
    parser.add_argument(
        "--keepalive",
        type=_keepalive,
        default="30,10,3",
        metavar="IDLE[,INTERVAL,COUNT]",
        help="TCP keep-alive: first probe after IDLE s without traffic (30, as the CPU in the "
        "seed capture), then every INTERVAL s, COUNT unanswered probes end the connection "
        "(10 and 3: inferred); 'off' for none (default 30,10,3)",
    )
    parser.add_argument(
        "--cert-reload",
        choices=("auto", "live", "download"),
        default="auto",
        help="certificates renewed or replaced in the store while running: live = the next "
        "connections use them (within 1 s), download = only after SIGHUP (kill -HUP PID), "
        "auto = live on S7-1500 from V3.1, download below, like the CPU (default auto)",
    )
    plc.add_options(parser)
    parser.add_argument("--json", action="store_true", help="JSON lines for scripts")


def _keepalive(text: str) -> KeepAlive | None:
    """``--keepalive IDLE[,INTERVAL,COUNT]`` or ``off``, checked where it is typed."""
    try:
        return parse_keepalive(text)
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(exc.message) from None


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc serve`` and ``ouc connect``."""
    p = sub.add_parser(
        "serve",
        help="a mock PLC: the passive side (TRCV_C, TLS server) of a CONNECT block",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, "passive")
    p.add_argument(
        "--listen",
        metavar="HOST[:PORT]",
        help="where to listen (127.0.0.1:LocalPort); the port here or in --port, not both",
    )
    p.add_argument(
        "--port",
        type=_types.port_or_zero,
        metavar="N",
        help="listen port (0: any free port; default the block's LocalPort)",
    )
    p.add_argument("--db", metavar="LAYOUT", help="decode each frame with this data-block layout")
    answer = p.add_mutually_exclusive_group()
    answer.add_argument("--echo", action="store_true", help="send every frame back")
    answer.add_argument(
        "--reply", metavar="FILE", help="answer every frame with this file (- for stdin)"
    )
    answer.add_argument(
        "--reply-hex",
        type=_types.hex_bytes,
        metavar="HEX",
        help="answer every frame with these bytes",
    )
    p.add_argument(
        "--max-connections",
        type=_types.positive_int,
        default=64,
        metavar="N",
        help="connections served at once, beyond them 16#8087 and a reset (64: a mock for many "
        "peers). A CPU's block serves one connection: 1 refuses a second one as it would, "
        "though the CPU's peer sees its connect refused rather than a reset",
    )
    p.add_argument(
        "--count", type=_types.positive_int, metavar="N", help="stop after N received frames"
    )
    p.add_argument(
        "--driver",
        choices=("asyncio", "blocking"),
        default="asyncio",
        help="asyncio (default): one event loop, ~25 KB per idle TLS connection; blocking: a "
        "thread per connection, for comparison with embedders of PassiveEndpoint",
    )
    p.add_argument(
        "--processes",
        type=parse_processes,
        default=1,
        metavar="N",
        help="serve the port from N worker processes (auto: one per core; at most 4 per core); "
        "the connection limit counts across all of them, every status line names its worker",
    )
    p.add_argument(
        "--spread",
        choices=("auto", "cpu", "hash"),
        help="with --processes, which worker takes a connection: cpu: the worker of the CPU "
        "that received it, so a client on this host stays with one worker; hash: the kernel's "
        "hash of addresses and ports, which spreads remote peers whatever the network card "
        "does; auto (default): cpu on a loopback address with no more workers than CPUs, "
        "else hash",
    )
    p.set_defaults(func=_serve)

    p = sub.add_parser(
        "connect",
        help="the active side (TSEND_C, TLS client): send a data block, print the reply",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _common(p, "active")
    p.add_argument(
        "--to",
        type=_types.ipv4_target,
        metavar="HOST:PORT",
        help="connect here instead of RemoteAddress:RemotePort (an IPv4 address, as a PLC's)",
    )
    p.add_argument(
        "--bind",
        type=_types.bind_address,
        metavar="HOST[:PORT]",
        help="local address to connect from: an IPv4 address of this host",
    )
    p.add_argument("--db", metavar="LAYOUT", help="the data block to send (default: Send_Data)")
    p.add_argument("--set", action="append", metavar="PATH=VALUE", help="a value, e.g. Var2='Hi'")
    p.add_argument(
        "--hex",
        type=_types.hex_bytes,
        metavar="HEX",
        help="send these bytes instead of a data block",
    )
    p.add_argument("--file", metavar="FILE", help="send this file's bytes (- for stdin)")
    p.add_argument(
        "--count", type=_types.positive_int, default=1, metavar="N", help="send N times (1)"
    )
    p.add_argument(
        "--expect-reply", action="store_true", help="wait for a frame back after each send"
    )
    p.add_argument("--reply-db", metavar="LAYOUT", help="decode replies with this layout")
    p.add_argument("--reply-len", type=_types.length, metavar="N", help="TRCV_C LEN of the reply")
    p.add_argument("--timeout", type=_types.seconds, default=10.0, metavar="S", help="seconds (10)")
    p.set_defaults(func=_connect)
