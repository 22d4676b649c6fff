"""The baseline servers of ``python -m benchmarks.external`` really serve: each role handshakes
with TLS 1.3 (server auth and mutual, the client checking the server against the example CA)
and echoes a 258-byte frame byte for byte, so the capacity ratios compare servers that do the
same work. Real processes, real sockets on 127.0.0.1, real certificates made per test."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from benchmarks import external

FRAME = bytes(range(256)) + b"\x01\x02"


@pytest.fixture(scope="module")
def material(tmp_path_factory: pytest.TempPathFactory) -> Iterator[external.Material]:
    yield external.make_material(tmp_path_factory.mktemp("external"))


def echo_once(m: external.Material, config: str, port: int) -> tuple[bytes, str | None]:
    context = external.client_context(m, config)
    with (
        socket.create_connection(("127.0.0.1", port), timeout=20) as raw,
        context.wrap_socket(raw) as tls,
    ):
        tls.sendall(FRAME)
        got = b""
        for _ in range(len(FRAME)):  # bounded: each pass reads at least one byte
            if len(got) == len(FRAME):
                break
            chunk = tls.recv(len(FRAME) - len(got))
            assert chunk, "the server closed during the echo"
            got += chunk
        return got, tls.version()


@pytest.mark.parametrize("role", sorted(external.PEERS))
@pytest.mark.parametrize("config", external.CONFIGS)
def test_each_baseline_server_handshakes_and_echoes(
    material: external.Material, role: str, config: str
) -> None:
    server = external.peer_server(material, config, role)
    with external.running([server]):
        got, version = echo_once(material, config, server.port)
        again, _ = echo_once(material, config, server.port)  # the loop serves the next one too
        assert server.proc is not None and server.proc.poll() is None
    assert (got, again, version) == (FRAME, FRAME, "TLSv1.3")


def test_a_mutual_baseline_refuses_a_client_without_a_certificate(
    material: external.Material,
) -> None:
    for role in sorted(external.PEERS):
        server = external.peer_server(material, "mutual", role)
        with external.running([server]):
            with pytest.raises((OSError, AssertionError)):
                echo_once(material, "server-auth", server.port)  # no client certificate
            got, _ = echo_once(material, "mutual", server.port)  # and it still serves
        assert got == FRAME, role


def test_a_baseline_as_two_processes_shares_the_port_and_ends_whole(
    material: external.Material,
) -> None:
    server = external.peer_server(material, "server-auth", "pyopenssl-bio", processes=2)
    with external.running([server]):
        assert external.listeners(server.port) == 2
        pids = external.tree(server.pid)
        assert len(pids) == 2  # the first and the worker it forked
        for _ in range(4):  # spread by CPU: whichever takes it serves
            got, _ = echo_once(material, "server-auth", server.port)
            assert got == FRAME
    # Terminating the first ends the other (PR_SET_PDEATHSIG): nothing keeps the port.
    for _ in range(200):  # bounded: up to ~10 s for the kernel to deliver and reap
        if external.listeners(server.port) == 0:
            break
        time.sleep(0.05)  # waiting on another process's exit; bounded above
    assert external.listeners(server.port) == 0
