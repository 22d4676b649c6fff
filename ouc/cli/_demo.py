"""``ouc demo``: the standard Secure OUC example end to end, on this host, with nothing prepared.

It builds a temporary certificate store with the example's certificates (CA 3, server
certificate 9 for PLC_1 at 192.168.0.1, client certificate 11 for PLC_2 at 192.168.0.2), starts
PLC_1's passive endpoint from the sample server block (TRCV_C, mutual TLS), connects PLC_2's
active endpoint from the sample client block (TSEND_C), sends ``Send_Data {Var1 := TRUE; Var2 :=
'Hello World!'}`` and reports what a PLC engineer looks at: both blocks' STATUS sequences, the TLS
version, cipher and group, the certificates each side saw, and the server's ``Received_Data``
values. The plant addresses run on loopback (127.0.0.1 and 127.0.0.2). Exit status 0 only when
the values arrived.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import queue
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.serialization import Encoding

from ouc._notation import sequence_text, status_list
from ouc.certs import CertStore
from ouc.cli import _types
from ouc.cli._printer import value_lines
from ouc.conn import FrameReceived
from ouc.drivers import (
    ActiveEndpoint,
    PassiveEndpoint,
    PeerContext,
    RecordKind,
    RecordLog,
    describe_session,
    example_store,
    received_data_layout,
    send_data_layout,
    session_json,
    standard_example,
)
from ouc.errors import ConfigError, OucError, WaitTimeoutError, format_status
from ouc.transport import SessionInfo

__all__ = ["register", "run_demo"]

_VALUES = {"Var1": True, "Var2": "Hello World!"}
#: Seconds the whole demo may take by default: it needs well under one on an idle machine.
TIMEOUT = 60.0


def _cert_id(store: CertStore, der: bytes | None) -> int | None:
    """The store ID of the certificate a peer presented (matched by its DER bytes)."""
    if der is None:
        return None
    for cert_id in store.ids():
        if store.certificate(cert_id).public_bytes(Encoding.DER) == der:
            return cert_id
    return None


def _peer(store: CertStore, info: SessionInfo | None) -> dict[str, Any]:
    if info is None:
        return {}
    return {
        "peer_cert_id": _cert_id(store, info.peer_cert_der),
        "peer_subject": info.peer_subject,
        "peer_anchor_id": info.peer_anchor_id,
        "own_cert_id": info.own_cert_id,
    }


def run_demo(store_dir: Path, *, timeout: float = TIMEOUT) -> dict[str, Any]:
    """Run the example with a new store in ``store_dir``; returns the report as a dict.

    ``timeout`` bounds the whole run, from making the store to the server's last record: each
    wait gets what is left, and a run that is not done in time fails rather than reports.

    Raises:
        WaitTimeoutError: not done within ``timeout`` seconds (``path`` "timeout").
        OucError: a step failed (its status says which); the report is then not complete.
    """
    started = time.monotonic()
    deadline = started + timeout

    def left(step: str) -> float:
        """The seconds left for ``step``; WaitTimeoutError when none are."""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise WaitTimeoutError(
                f"the demo was not done within {timeout:g} s (it was {step}); give it more "
                f"seconds (default {TIMEOUT:g})",
                path="timeout",
            )
        return remaining

    store = example_store(store_dir, now=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5))
    setup = standard_example(store)
    send_layout, receive_layout = send_data_layout(), received_data_layout()
    data = send_layout.encode()
    frames: queue.Queue[tuple[bytes, str]] = queue.Queue()
    server_log, client_log = RecordLog(), RecordLog()

    def receive_area(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        frames.put((frame.data, f"{peer.address}:{peer.port}"))
        return None

    server = PassiveEndpoint(
        setup.server, behaviour=receive_area, address_map=setup.address_map, on_event=server_log
    )
    with server:
        client = ActiveEndpoint(
            setup.client,
            address_map=setup.address_map,
            connect_timeout=left("making the certificate store"),
            reconnect=False,
            on_event=client_log,
        )
        with client:
            client_info = client.info
            client.send(data)
            try:
                received, peer = frames.get(timeout=left("connecting PLC_2 to PLC_1"))
            except queue.Empty:
                raise WaitTimeoutError(
                    f"the server received no frame within {timeout:g} s", path="timeout"
                ) from None
            server_connected = server_log.wait_for(
                RecordKind.CONNECTED, timeout=left("waiting for the frame")
            )
            local = client.local_address
            # CONT 1→0: TSEND_C shows 7003 while the connection is terminated, then 0003.
            client.disconnect()
        server_closed = server_log.wait_for(RecordKind.CLOSED, timeout=left("disconnecting"))
        listening = server_log.of(RecordKind.LISTENING)[0].local
    left("waiting for PLC_1 to see the disconnection")
    values = receive_layout.decode(received)
    sent_lines, sent_json = value_lines(send_layout, data)
    received_lines, received_json = value_lines(receive_layout, received)
    server_info = server_connected.info
    return {
        "ok": values == _VALUES,
        "seconds": round(time.monotonic() - started, 3),
        "store": str(store.path),
        "server": {
            "device": setup.server.name,
            "plant": "192.168.0.1:2000",
            "listening": listening,
            "peer": peer,
            "sees": _peer(store, server_info),
            "sequences": {"TRCV_C": status_list(server_closed.sequences.get("TRCV_C", ""))},
        },
        "client": {
            "device": setup.client.name,
            "plant": "192.168.0.2",
            "local": local,
            "sees": _peer(store, client_info),
            "sequences": {"TSEND_C": status_list(client.format_sequence("TSEND_C"))},
        },
        "tls": session_json(client_info) if client_info is not None else None,
        "tls_text": describe_session(client_info) if client_info is not None else "",
        "sent": {"db": send_layout.name, "len": len(data), "values": sent_json},
        "received": {
            "db": receive_layout.name,
            "rcvd_len": len(received),
            "values": received_json,
        },
        "_lines": {"sent": sent_lines, "received": received_lines},
    }


def _seen(side: dict[str, Any], what: str) -> str:
    sees = side["sees"]
    cert = sees.get("peer_cert_id")
    cert_text = f"certificate {cert}" if cert is not None else "a certificate"
    return (
        f"{side['device']} sees the {what}'s {cert_text} ({sees.get('peer_subject')}), "
        f"trusted through CA {sees.get('peer_anchor_id')}"
    )


def _text(report: dict[str, Any], kept: bool) -> str:
    server, client, tls = report["server"], report["client"], report["tls"] or {}
    lines = report["_lines"]
    store_note = "kept" if kept else "temporary, removed afterwards"
    out = [
        "Secure OUC demo: the standard example (server PLC_1, client PLC_2) on this host",
        "",
        f"  certificate store   {report['store']} ({store_note})",
        "                      CA 3 issued server certificate 9 (PLC_1, IP 192.168.0.1)",
        "                      and client certificate 11 (PLC_2, IP 192.168.0.2)",
        f"  server PLC_1        TRCV_C, passive, {server['plant']} on {server['listening']}",
        f"  client PLC_2        TSEND_C, active, {client['plant']} from {client['local']}",
        "",
        "Connection",
        f"  TLS                 {tls.get('version')}, {tls.get('cipher')}, "
        f"group {tls.get('group')}, mutual authentication",
        f"  client              {_seen(client, 'server')}",
        f"  server              {_seen(server, 'client')}",
        "",
        f"Sent by PLC_2 (TSEND_C, {report['sent']['db']}, LEN {report['sent']['len']})",
        *lines["sent"],
        "",
        f"Received by PLC_1 (TRCV_C, {report['received']['db']}, "
        f"RCVD_LEN {report['received']['rcvd_len']})",
        *lines["received"],
        "",
        "STATUS sequences",
        f"  PLC_2 TSEND_C       {sequence_text(client['sequences']['TSEND_C'])}",
        f"  PLC_1 TRCV_C        {sequence_text(server['sequences']['TRCV_C'])}",
        "",
    ]
    if report["ok"]:
        out.append(f"OK: the values arrived ({report['seconds']:.2f} s in all, store included).")
    else:
        out.append("FAILED: the received values differ from the sent ones.")
    return "\n".join(out)


def _new_folder(folder: Path) -> None:
    """Make the empty folder ``--keep-store`` names (its parent must exist); ConfigError naming
    the flag and the folder when it is not empty or cannot be made or written."""
    try:
        if folder.exists() and any(folder.iterdir()):
            raise ConfigError(
                f"{folder} exists and is not empty; give a new folder for the demo's store",
                path="--keep-store",
            )
        folder.mkdir(exist_ok=True)
        probe = folder / ".ouc-write-test"
        probe.touch()
        probe.unlink()
    except OSError as exc:
        raise ConfigError(
            f"cannot make or write the folder {folder} ({exc.strerror or exc}); give a folder "
            "whose parent exists and that you can write",
            path="--keep-store",
        ) from exc


def _run(args: argparse.Namespace) -> dict[str, Any]:
    if args.keep_store is not None:
        folder = Path(args.keep_store)
        _new_folder(folder)
        return run_demo(folder, timeout=args.timeout)
    with tempfile.TemporaryDirectory(prefix="ouc-demo-") as tmp:
        return run_demo(Path(tmp) / "store", timeout=args.timeout)


def _demo(args: argparse.Namespace) -> int:
    try:
        report = _run(args)
    except OucError as exc:
        if args.json:
            # A script reads ``ok`` whatever happened; the error line goes to stderr as well.
            failed = {
                "ok": False,
                "message": exc.message,
                "status": None if exc.status is None else format_status(exc.status),
                "path": "--timeout" if exc.path == "timeout" else exc.path,
            }
            print(json.dumps(failed, indent=2, ensure_ascii=False), flush=True)
        raise
    if args.json:
        doc = {k: v for k, v in report.items() if not k.startswith("_")}
        doc["kept"] = args.keep_store is not None
        print(json.dumps(doc, indent=2, ensure_ascii=False))
    else:
        print(_text(report, args.keep_store is not None))
        if args.keep_store is not None:
            print(f"Explore the store: ouc certs list --store {args.keep_store}")
    return 0 if report["ok"] else 1


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``ouc demo``."""
    p = sub.add_parser(
        "demo",
        help="the standard Secure OUC example end to end on this host (start here)",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--json", action="store_true", help="the report as JSON")
    p.add_argument(
        "--keep-store", metavar="DIR", help="create the store here and keep it (default: temporary)"
    )
    p.add_argument(
        "--timeout",
        type=_types.seconds,
        default=TIMEOUT,
        metavar="S",
        help=f"seconds the whole demo may take, store included; past them it fails with "
        f"exit 2 (default {TIMEOUT:g})",
    )
    p.set_defaults(func=_demo)
