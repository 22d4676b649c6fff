"""``ouc serve --processes N``: N worker processes on one port, one merged status stream.

Real TLS clients (Python's ``ssl``, the example's client certificate 11) connect from
127.0.0.2, which ``--map`` makes the partner's plant address 192.168.0.2. Every wait is bounded
(line reads time out, sockets have timeouts); subprocesses are killed at the end.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

import pytest

from ouc.certs import CertStore
from ouc.cli._printer import output_discarded, whole_lines
from ouc.cli._vocabulary import problems as vocabulary_problems
from ouc.cli._workers import WORKERS_PER_CPU, _spread
from ouc.drivers import example_pem, received_data_layout
from ouc.drivers._sockio import RECEIVE_BUFFER, receive_buffer_size

WAIT = 20.0
MAP = ("--map", "192.168.0.2=127.0.0.2")


def client_context(store: CertStore, folder: Path) -> ssl.SSLContext:
    pem = example_pem(store, folder)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False  # certificate 9 names 192.168.0.1, we reach it on loopback
    context.load_verify_locations(pem.ca)
    context.load_cert_chain(pem.client_cert, pem.client_key)
    return context


def tls_connect(context: ssl.SSLContext, port: int) -> ssl.SSLSocket:
    sock = socket.create_connection(
        ("127.0.0.1", port), timeout=WAIT, source_address=("127.0.0.2", 0)
    )
    return context.wrap_socket(sock)


def echo_once(context: ssl.SSLContext, port: int) -> bytes:
    frame = received_data_layout().encode({"Var1": True, "Var2": "Hi"})
    with tls_connect(context, port) as tls:
        tls.sendall(frame)
        received = b""
        while len(received) < len(frame):
            chunk = tls.recv(len(frame) - len(received))
            assert chunk, "the server closed before echoing the frame"
            received += chunk
    return received


def start_workers(serve: Any, *args: str) -> tuple[Any, Any, dict[str, Any], list[dict[str, Any]]]:
    """``ouc serve --processes 2 --json``: the process, its lines, the supervisor's first line
    and the two workers' listening lines."""
    proc, lines = serve.popen("--port", "0", "--json", "--processes", "2", *MAP, *args)
    # The workers may print before the supervisor does: three lines in any order.
    first = [json.loads(lines.next()) for _ in range(3)]
    workers = [doc for doc in first if doc["event"] == "workers"]
    listening = [doc for doc in first if doc["event"] == "listening"]
    assert len(workers) == 1 and len(listening) == 2, first
    assert workers[0]["processes"] == 2
    return proc, lines, workers[0], listening


def read_until(lines: Any, event: str, count: int = 1) -> list[dict[str, Any]]:
    """Lines up to the ``count``-th of ``event`` (bounded: each read times out)."""
    seen: list[dict[str, Any]] = []
    hits = 0
    while hits < count:
        doc = json.loads(lines.next())
        seen.append(doc)
        hits += doc["event"] == event
    return seen


def test_two_processes_serve_one_port_and_name_the_worker(
    store: CertStore, serve: Any, tmp_path: Path
) -> None:
    proc, lines, workers, listening = start_workers(serve, "--echo")
    port = int(workers["local"].rsplit(":", 1)[1])
    assert sorted(doc["worker"] for doc in listening) == [1, 2]
    assert {doc["local"] for doc in listening} == {workers["local"]}
    assert len(set(workers["pids"])) == 2 and proc.pid not in workers["pids"]
    context = client_context(store, tmp_path / "pem")
    frame = received_data_layout().encode({"Var1": True, "Var2": "Hi"})
    for _ in range(12):
        assert echo_once(context, port) == frame
    docs = read_until(lines, "closed", 12)
    served = [doc for doc in docs if doc["event"] in ("connected", "frame", "closed")]
    assert all(doc["worker"] in (1, 2) for doc in docs)
    assert sum(doc["event"] == "connected" for doc in served) == 12
    assert sum(doc["event"] == "frame" for doc in served) == 12
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0
    rest = [json.loads(line) for line in lines.rest()]
    stopped = [doc for doc in rest if doc["event"] == "stopped"]
    # Each worker stops, then the supervisor says so last (it names no worker).
    assert sorted(doc.get("worker", 0) for doc in stopped) == [0, 1, 2]
    assert rest[-1]["event"] == "stopped" and "worker" not in rest[-1]
    # The supervisor's stopped event reads as the workers' do: the block stopped, 16#7000.
    assert {doc["status"] for doc in stopped} == {"16#7000"}
    assert rest[-1]["processes"] == 2 and rest[-1]["time"].endswith("Z")
    assert proc.stderr is not None
    assert proc.stderr.read().count("stopping") == 1  # the supervisor's, once for all


def pinned_echoes(cpu: int, context: ssl.SSLContext, port: int, times: int) -> None:
    """``times`` echoes from a thread pinned to ``cpu``: on loopback the kernel processes the
    connections' SYNs on that CPU."""
    failed: list[BaseException] = []

    def run() -> None:
        try:
            os.sched_setaffinity(0, {cpu})  # this thread only
            frame = received_data_layout().encode({"Var1": True, "Var2": "Hi"})
            for _ in range(times):
                assert echo_once(context, port) == frame
        except BaseException as exc:  # reported in the test's thread
            failed.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(WAIT * times)
    assert not thread.is_alive() and not failed, failed


@pytest.mark.parametrize("spread", ["cpu", "hash"])
def test_one_cpu_s_peers_stay_with_one_worker(
    store: CertStore, serve: Any, tmp_path: Path, spread: str
) -> None:
    """--spread cpu (the default): a peer whose connections arrive on one CPU is served by one
    worker throughout, each CPU's by its own; --spread hash is the kernel's choice by
    addresses and ports (not asserted: any worker may take any connection)."""
    option = () if spread == "cpu" else ("--spread", "hash")
    proc, lines, workers, _ = start_workers(serve, "--echo", *option)
    assert workers["spread"] == spread
    port = int(workers["local"].rsplit(":", 1)[1])
    context = client_context(store, tmp_path / "pem")
    taken: dict[int, set[int]] = {}
    for cpu in sorted(os.sched_getaffinity(0))[:2]:
        pinned_echoes(cpu, context, port, 6)
        docs = read_until(lines, "closed", 6)
        taken[cpu] = {doc["worker"] for doc in docs if doc["event"] == "connected"}
        assert sum(doc["event"] == "frame" for doc in docs) == 6
    if spread == "cpu":
        assert all(len(workers_of_cpu) == 1 for workers_of_cpu in taken.values()), taken
        cpus = list(taken)
        if len(cpus) == 2 and cpus[0] % 2 != cpus[1] % 2:  # index CPU mod 2: two workers
            assert taken[cpus[0]] != taken[cpus[1]], taken
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0


def test_the_connection_limit_holds_across_the_workers(
    store: CertStore, serve: Any, tmp_path: Path
) -> None:
    """--max-connections 2 with 2 workers: two held connections fill the PLC, whichever
    worker serves them; the third peer is reset with 16#8087; a slot freed is usable again."""
    proc, lines, workers, _ = start_workers(serve, "--max-connections", "2")
    port = int(workers["local"].rsplit(":", 1)[1])
    context = client_context(store, tmp_path / "pem")
    held = [tls_connect(context, port) for _ in range(2)]
    try:
        with pytest.raises((ConnectionError, ssl.SSLError)):
            refused = tls_connect(context, port)
            refused.recv(1)  # TLS 1.3: the client may finish before the server resets
        docs = read_until(lines, "limit")
        limit = docs[-1]
        assert limit["status"] == "16#8087" and limit["reset"] is True
        held.pop().close()
        read_until(lines, "closed")
        with tls_connect(context, port) as again:
            again.sendall(received_data_layout().encode({"Var1": True, "Var2": "x"}))
        read_until(lines, "frame")
    finally:
        for sock in held:
            sock.close()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0


def test_a_worker_that_dies_is_reported_and_restarted(
    store: CertStore, serve: Any, tmp_path: Path
) -> None:
    proc, lines, workers, _ = start_workers(serve, "--echo")
    port = int(workers["local"].rsplit(":", 1)[1])
    victim = workers["pids"][1]
    os.kill(victim, signal.SIGKILL)
    seen: dict[str, dict[str, Any]] = {}
    while len(seen) < 3:  # the new worker may print before the supervisor: any order
        doc = json.loads(lines.next())
        if doc["event"] in ("worker-died", "restarted", "listening"):
            seen[doc["event"]] = doc
    died, restarted = seen["worker-died"], seen["restarted"]
    assert died["pid"] == victim and died["worker"] == 2
    assert "SIGKILL" in died["how"]
    assert restarted["worker"] == 2 and restarted["pid"] != victim
    assert seen["listening"]["worker"] == 2
    context = client_context(store, tmp_path / "pem")
    frame = received_data_layout().encode({"Var1": True, "Var2": "Hi"})
    for _ in range(6):
        assert echo_once(context, port) == frame
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0


def test_a_dying_worker_s_line_counts_the_connections_it_held(
    store: CertStore, serve: Any, tmp_path: Path
) -> None:
    proc, lines, workers, _ = start_workers(serve, "--echo")
    port = int(workers["local"].rsplit(":", 1)[1])
    context = client_context(store, tmp_path / "pem")
    with tls_connect(context, port) as held:
        held.sendall(received_data_layout().encode({"Var1": True, "Var2": "x"}))
        frame = read_until(lines, "frame")[-1]  # the frame line names the worker holding it
        victim = workers["pids"][frame["worker"] - 1]
        os.kill(victim, signal.SIGKILL)
        died = read_until(lines, "worker-died")[-1]
    assert died["pid"] == victim and died["ended_connections"] == 1
    assert vocabulary_problems(died) == []
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0


def test_count_stops_all_workers(store: CertStore, serve: Any, tmp_path: Path) -> None:
    proc, lines, workers, _ = start_workers(serve, "--echo", "--count", "3", "--driver", "blocking")
    port = int(workers["local"].rsplit(":", 1)[1])
    context = client_context(store, tmp_path / "pem")
    for _ in range(3):
        echo_once(context, port)
    assert proc.wait(WAIT) == 0
    rest = [json.loads(line) for line in lines.rest()]
    assert rest[-1]["event"] == "stopped" and "worker" not in rest[-1]


@pytest.mark.parametrize("driver", ["asyncio", "blocking"])
def test_count_is_exact_when_frames_arrive_in_one_read(
    store: CertStore, serve: Any, tmp_path: Path, driver: str
) -> None:
    """Five frames in one TLS record complete in one read: ``--count 1`` shows and answers
    the first only, then stops."""
    proc, lines, port = serve.start("--echo", "--count", "1", "--driver", driver, "--json", *MAP)
    frame = received_data_layout().encode({"Var1": True, "Var2": "Hi"})
    echoed = b""
    with tls_connect(client_context(store, tmp_path / "pem"), port) as tls:
        tls.sendall(frame * 5)  # one record of 1,290 bytes
        for _ in range(10):  # until the server's close, bounded by the socket timeout
            try:
                chunk = tls.recv(65536)
            except (ssl.SSLError, OSError):
                break
            if not chunk:
                break
            echoed += chunk
    assert echoed == frame
    assert proc.wait(WAIT) == 0
    events = [json.loads(line)["event"] for line in lines.rest()]
    assert events.count("frame") == 1, events


def test_bad_process_counts_are_one_line(serve: Any) -> None:
    too_many = str(WORKERS_PER_CPU * len(os.sched_getaffinity(0)) + 1)
    for bad in ("0", "two", "-1", too_many):
        proc, _ = serve.popen("--processes", bad)
        assert proc.wait(WAIT) == 2
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert err.count("\n") == 1 and "--processes" in err and "Traceback" not in err
    assert f"{too_many} workers on " in err and "auto gives one per CPU" in err


def test_spread_options_that_cannot_work_are_one_line(serve: Any) -> None:
    too_many = str(len(os.sched_getaffinity(0)) + 1)
    for argv in (("--spread", "hash"), ("--spread", "cpu", "--processes", too_many)):
        proc, _ = serve.popen("--port", "0", *argv)
        assert proc.wait(WAIT) == 2
        assert proc.stderr is not None
        err = proc.stderr.read()
        assert err.count("\n") == 1 and "--spread" in err and "Traceback" not in err, err


REFUSING_KERNEL = "from ouc.drivers import _reuseport\n_reuseport.SO_ATTACH_REUSEPORT_CBPF = 0x7FFF"


def test_a_kernel_that_refuses_the_program_means_hash_for_auto_and_an_error_for_cpu(
    serve: Any,
) -> None:
    """As on a kernel before 4.5 or under a seccomp filter (an option it does not know)."""
    proc, lines = serve.popen("--port", "0", "--json", "--processes", "2", first=REFUSING_KERNEL)
    first = [json.loads(lines.next()) for _ in range(3)]
    workers = [doc for doc in first if doc["event"] == "workers"]
    assert len(workers) == 1 and workers[0]["spread"] == "hash", first
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0
    proc, _ = serve.popen("--processes", "2", "--spread", "cpu", first=REFUSING_KERNEL)
    assert proc.wait(WAIT) == 2
    assert proc.stderr is not None
    err = proc.stderr.read()
    assert err.count("\n") == 1 and "--spread: the kernel refused" in err, err
    assert "--spread hash" in err and "Traceback" not in err
    proc, lines = serve.popen("--port", "0", "--processes", "2", first=REFUSING_KERNEL)
    first_lines = [lines.next() for _ in range(3)]  # the workers may speak first
    (text,) = [line for line in first_lines if "worker processes" in line]
    assert "spread by the kernel's hash of addresses (the kernel refused" in text, text
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(WAIT) == 0


def test_auto_spreads_by_cpu_on_loopback_with_a_cpu_per_worker_else_by_hash() -> None:
    cpus = len(os.sched_getaffinity(0))
    assert _spread("auto", "127.0.0.1", cpus) == "cpu"
    assert _spread("auto", "::1", 1) == "cpu"
    assert _spread("auto", "127.0.0.1", cpus + 1) == "hash"
    assert _spread("auto", "0.0.0.0", 1) == "hash"  # remote peers too
    assert _spread("auto", "192.0.2.10", 1) == "hash"
    assert _spread("auto", "plc.example", 1) == "hash"
    assert _spread("hash", "127.0.0.1", 1) == "hash"
    assert _spread("cpu", "192.0.2.10", 1) == "cpu"  # asked for: as asked


def test_merged_writes_never_split_a_line() -> None:
    texts = [f"line {i}\n" * (i % 7 + 1) for i in range(200)]
    chunks = list(whole_lines(texts, 512))
    assert b"".join(chunks) == "".join(texts).encode()
    assert all(len(chunk) <= 512 for chunk in chunks)
    ends = {len(b"".join(chunks[: i + 1])) for i in range(len(chunks))}
    boundaries = {len("".join(texts[: i + 1]).encode()) for i in range(len(texts))}
    assert ends <= boundaries  # every chunk ends where a text ends
    assert list(whole_lines(["x" * 600], 512)) == [b"x" * 600]  # too long: alone


def test_output_to_dev_null_is_recognised(tmp_path: Path) -> None:
    with open(os.devnull, "w") as null, open(tmp_path / "out", "w") as file:
        assert output_discarded(null)
        assert not output_discarded(file)
    assert not output_discarded(object())


def test_the_blocking_receive_buffer_is_sized_to_the_frame() -> None:
    assert receive_buffer_size(258) == 20 * 1024  # one full TLS record, page-rounded
    assert receive_buffer_size(65535) == 68 * 1024  # a 64 KiB frame's records in one read
    assert receive_buffer_size(10**6) == RECEIVE_BUFFER
