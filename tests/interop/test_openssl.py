"""Interoperability with the ``openssl`` command line (system OpenSSL 3.0) in both roles.

- ``openssl s_client`` with and without a client certificate against the passive endpoint
  (in-process) and against ``ouc serve`` (subprocess);
- the active endpoint and ``ouc connect`` against ``openssl s_server -Verify 1`` (which demands
  and verifies the client certificate; ``-rev`` sends every line back reversed).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ouc.certs import CertStore, PrivateKey
from ouc.cli import main
from ouc.conn import FrameReceived
from ouc.drivers import (
    ActiveEndpoint,
    AsyncPassiveEndpoint,
    EndpointRecord,
    EndpointSpec,
    ExamplePem,
    PassiveEndpoint,
    PeerContext,
    RecordKind,
    RecordLog,
    example_pem,
    example_store,
    send_data_layout,
    standard_example,
)
from ouc.errors import Status
from ouc.params import STANDARD_SERVER

WAIT = 15.0
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
OPENSSL = shutil.which("openssl")

pytestmark = [
    pytest.mark.openssl,
    pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not on PATH"),
]


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


@pytest.fixture
def pem(store: CertStore, tmp_path: Path) -> ExamplePem:
    return example_pem(store, tmp_path / "pem")


@contextlib.contextmanager
def reserved_port() -> Iterator[int]:
    """A port for openssl s_server (which cannot report a port 0 it bound), held until it
    listens: bound with SO_REUSEADDR, never listening, so no other bind to port 0 and no
    outgoing connection gets the number meanwhile, while s_server (SO_REUSEADDR too) binds
    it. A probe closed at once would leave the number to a test running in parallel."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", 0))
        yield probe.getsockname()[1]


class Processes:
    """Starts processes and guarantees they are gone at the end of the test."""

    def __init__(self) -> None:
        self._procs: list[subprocess.Popen[bytes]] = []

    def start(self, *args: str, stdin: bool = False) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            list(args),
            stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self._procs.append(proc)
        return proc

    def close(self) -> None:
        for proc in self._procs:
            if proc.poll() is None:
                proc.kill()
            proc.wait(WAIT)
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()


@pytest.fixture
def processes() -> Iterator[Processes]:
    procs = Processes()
    yield procs
    procs.close()


def read_until(proc: subprocess.Popen[bytes], marker: bytes, timeout: float = WAIT) -> bytes:
    """Read the process's output until ``marker`` appears (or raise after ``timeout``)."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError(f"no {marker!r} after {timeout:g} s; output: {seen!r}")
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            chunk = os.read(fd, 65536)
            if not chunk:
                raise AssertionError(f"the process ended before {marker!r}; output: {seen!r}")
            seen += chunk
    return seen


def read_all(proc: subprocess.Popen[bytes], timeout: float = WAIT) -> bytes:
    """Wait for the process to end (bounded) and return the rest of its output."""
    assert proc.stdout is not None
    out, _ = proc.communicate(timeout=timeout)
    return out or b""


FRAME = send_data_layout().encode({"Var2": "from openssl"})


def echo_and_close(frame: FrameReceived, peer: PeerContext) -> bytes | None:
    """Send the frame back, then close (so that s_client, which ignores stdin EOF, ends)."""
    peer.connection.send(frame.data, now=time.monotonic())
    peer.connection.close(time.monotonic())
    return None


def s_client(pem: ExamplePem, port: int, *, with_cert: bool) -> list[str]:
    assert OPENSSL is not None
    args = [
        OPENSSL,
        "s_client",
        "-connect",
        f"127.0.0.1:{port}",
        "-CAfile",
        str(pem.ca),
        "-verify_return_error",
        "-verify_ip",
        "192.168.0.1",  # the SAN of server certificate 9 (the plant address)
        "-quiet",
    ]
    if with_cert:
        args += ["-cert", str(pem.client_cert), "-key", str(pem.client_key)]
    return args


def test_s_client_with_certificate_against_the_passive_endpoint(
    store: CertStore, pem: ExamplePem, processes: Processes
) -> None:
    setup = standard_example(store)
    setup.address_map.add("192.168.0.2", None, "127.0.0.1", None)  # s_client's address
    log = RecordLog()
    with PassiveEndpoint(
        setup.server, behaviour=echo_and_close, address_map=setup.address_map, on_event=log
    ) as server:
        client = processes.start(*s_client(pem, server.port, with_cert=True), stdin=True)
        out, _ = client.communicate(FRAME, timeout=WAIT)
        connected = log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
    assert client.returncode == 0
    assert FRAME in out
    assert connected.info is not None
    assert connected.info.peer_subject == "CN=PLC_2" and connected.info.peer_anchor_id == 3


def test_a_key_update_after_the_handshake_reaches_the_key_log(
    store: CertStore, pem: ExamplePem, processes: Processes, tmp_path: Path
) -> None:
    """s_client's ``K`` command: a TLS 1.3 KeyUpdate that also asks the partner to update,
    which the partner does with its next write (here the echo). Both new traffic secrets must
    reach the passive side's key log (OpenSSL logs them as ``*_TRAFFIC_SECRET_N``), or a
    capture stops decrypting at the update."""
    keylog = tmp_path / "server-keys.log"
    setup = standard_example(store, server_options={"keylog_file": keylog})
    setup.address_map.add("192.168.0.2", None, "127.0.0.1", None)  # s_client's address
    log = RecordLog()
    with PassiveEndpoint(
        setup.server, behaviour=echo_and_close, address_map=setup.address_map, on_event=log
    ) as server:
        # Without -quiet (which implies -ign_eof) s_client takes commands from stdin.
        args = [arg for arg in s_client(pem, server.port, with_cert=True) if arg != "-quiet"]
        client = processes.start(*args, stdin=True)
        assert client.stdin is not None
        client.stdin.write(b"K\n")
        client.stdin.flush()
        read_until(client, b"KEYUPDATE")  # done before the frame, which must be a read of its own
        client.stdin.write(FRAME)
        client.stdin.flush()
        read_until(client, b"from openssl")  # the echo, the server's first write after the update
        client.communicate(timeout=WAIT)
        log.wait_for(RecordKind.CLOSED, timeout=WAIT)
    assert client.returncode == 0
    labels = [line.split()[0] for line in keylog.read_text().splitlines()]
    assert labels.count("CLIENT_TRAFFIC_SECRET_0") == 1
    assert labels.count("CLIENT_TRAFFIC_SECRET_N") == 1, labels
    assert labels.count("SERVER_TRAFFIC_SECRET_N") == 1, labels


def test_s_client_with_certificate_against_the_asyncio_passive_endpoint(
    store: CertStore, pem: ExamplePem
) -> None:
    """The asyncio driver's listener and transport (``ouc.drivers._aio_sock``) with a real
    ``openssl s_client``: mutual TLS, the frame echoed, the connection closed by the server."""
    setup = standard_example(store)
    setup.address_map.add("192.168.0.2", None, "127.0.0.1", None)
    records: list[EndpointRecord] = []

    async def main() -> tuple[int | None, bytes]:
        server = AsyncPassiveEndpoint(
            setup.server,
            behaviour=echo_and_close,
            listen=("127.0.0.1", 0),
            address_map=setup.address_map,
            on_event=records.append,
        )
        async with server:
            client = await asyncio.create_subprocess_exec(
                *s_client(pem, server.port, with_cert=True),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            try:
                out, _ = await asyncio.wait_for(client.communicate(FRAME), WAIT)
            finally:
                if client.returncode is None:
                    client.kill()
                    await client.wait()
            return client.returncode, out

    returncode, out = asyncio.run(asyncio.wait_for(main(), 2 * WAIT))
    assert returncode == 0, out
    assert FRAME in out
    connected = [r for r in records if r.kind is RecordKind.CONNECTED]
    assert len(connected) == 1 and connected[0].info is not None
    assert connected[0].info.peer_subject == "CN=PLC_2"
    assert connected[0].info.peer_anchor_id == 3


def test_s_client_without_certificate_is_refused_with_80e2(
    store: CertStore, pem: ExamplePem, processes: Processes
) -> None:
    setup = standard_example(store)
    setup.address_map.add("192.168.0.2", None, "127.0.0.1", None)
    log = RecordLog()
    with PassiveEndpoint(setup.server, address_map=setup.address_map, on_event=log) as server:
        client = processes.start(*s_client(pem, server.port, with_cert=False), stdin=True)
        out, _ = client.communicate(FRAME, timeout=WAIT)
        failed = log.wait_for(RecordKind.FAILED, timeout=WAIT)
    assert failed.status == Status.TLS_CERT_INVALID
    assert client.returncode != 0
    assert b"certificate required" in out  # the alert the server sent (TLS 1.3)


def test_s_client_without_certificate_when_none_is_requested(
    store: CertStore, pem: ExamplePem, processes: Processes
) -> None:
    block = dataclasses.replace(STANDARD_SERVER, TLSServerReqClientCert=False)
    setup = standard_example(store)
    spec = EndpointSpec.from_block(
        block,
        store=store,
        device=setup.server.device,
        device_name="PLC_1",
        receive_len=258,
    )
    setup.address_map.add("192.168.0.2", None, "127.0.0.1", None)
    log = RecordLog()
    with PassiveEndpoint(
        spec, behaviour=echo_and_close, address_map=setup.address_map, on_event=log
    ) as server:
        client = processes.start(*s_client(pem, server.port, with_cert=False), stdin=True)
        out, _ = client.communicate(FRAME, timeout=WAIT)
        connected = log.wait_for(RecordKind.CONNECTED, timeout=WAIT)
    assert client.returncode == 0 and FRAME in out
    assert connected.info is not None and connected.info.peer_subject is None


def test_s_client_against_ouc_serve(
    store: CertStore, pem: ExamplePem, processes: Processes
) -> None:
    serve = processes.start(
        sys.executable,
        "-m",
        "ouc",
        "serve",
        "--store",
        str(store.path),
        "--port",
        "0",
        "--map",
        "192.168.0.2=127.0.0.1",
        "--echo",
        "--count",
        "1",
        "--json",
    )
    first = read_until(serve, b"\n").split(b"\n", 1)[0]
    port = int(json.loads(first)["local"].rsplit(":", 1)[1])
    client = processes.start(*s_client(pem, port, with_cert=True), stdin=True)
    out, _ = client.communicate(FRAME, timeout=WAIT)  # ouc serve stops after one frame
    served = [json.loads(line) for line in read_all(serve).splitlines() if line.strip()]
    assert serve.returncode == 0 and client.returncode == 0
    assert FRAME in out  # --echo
    frame = next(doc for doc in served if doc["event"] == "frame")
    assert frame["values"] == {"Var1": True, "Var2": "from openssl"}


def _s_server(pem: ExamplePem, processes: Processes) -> tuple[int, object]:
    assert OPENSSL is not None
    with reserved_port() as port:
        server = processes.start(
            OPENSSL,
            "s_server",
            "-accept",
            f"127.0.0.1:{port}",
            "-cert",
            pem.server_cert,
            "-key",
            pem.server_key,
            "-CAfile",
            str(pem.ca),
            "-Verify",
            "1",
            "-naccept",
            "1",
            "-rev",
        )
        read_until(server, b"ACCEPT")
    return port, server


def test_active_endpoint_against_s_server_verify(
    store: CertStore, pem: ExamplePem, processes: Processes
) -> None:
    setup = standard_example(store, client_options={"receive_len": None, "adhoc": True})
    port, server = _s_server(pem, processes)
    client = ActiveEndpoint(setup.client, connect_to=("127.0.0.1", port), reconnect=False)
    with client:
        info = client.info
        client.send(b"Hello World!\n")
        reply = client.receive(timeout=WAIT)
    out = read_all(server)  # type: ignore[arg-type]
    assert reply == b"!dlroW olleH\n"
    assert info is not None and info.peer_subject == "CN=PLC_1" and info.own_cert_id == 11
    assert b"Peer certificate: CN = PLC_2" in out and b"Verification: OK" in out


def test_ouc_connect_against_s_server_verify(
    store: CertStore, pem: ExamplePem, processes: Processes, capsys: pytest.CaptureFixture[str]
) -> None:
    port, server = _s_server(pem, processes)
    status = main(
        [
            "connect",
            "--store",
            str(store.path),
            "--to",
            f"127.0.0.1:{port}",
            "--hex",
            b"PLC_2 here\n".hex(),
            "--adhoc",
            "--expect-reply",
            "--json",
        ]
    )
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    out = read_all(server)  # type: ignore[arg-type]
    assert status == 0
    frame = next(doc for doc in docs if doc["event"] == "frame")
    assert bytes.fromhex(frame["hex"]) == b"ereh 2_CLP\n"
    assert b"Peer certificate: CN = PLC_2" in out and b"Verification: OK" in out
