"""The real suite on a tiny configuration: it proves the loops, servers and outputs work.

Every run here is bounded by ``--max-ops`` (a handful of operations) and ``--seconds``; nothing
asserts a timing, only that rows exist, carry numbers, and that ratios are the ones the samples
imply. Sockets are on 127.0.0.1 port 0, server processes are spawned and stopped by the suite.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from benchmarks import Budget, RunContext, load_registry, main
from benchmarks._memory import transport_echo_loop, transport_handshake_loop
from ouc.cli import main as ouc_main
from ouc.transport import PlainTransport

TINY = ["--rounds", "2", "--seconds", "0.02", "--max-ops", "4"]
REPO = Path(__file__).resolve().parents[2]


def _run(tmp_path: Path, *args: str) -> tuple[int, dict[str, Any]]:
    out = tmp_path / "bench.json"
    status = main([*TINY, "-o", str(out), *args])
    return status, json.loads(out.read_text())


def _rows(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["name"]: row for row in doc["rows"]}


def _paired(row: dict[str, Any], base: dict[str, Any]) -> float:
    metric = row["metric"]
    pairs = zip(row["samples"], base["samples"], strict=True)
    return statistics.median(a[metric] / b[metric] for a, b in pairs)


def test_every_row_has_a_known_baseline_and_a_unique_name() -> None:
    registry = load_registry()
    names = [case.name for case in registry]
    assert len(names) == len(set(names)) and len(names) > 40
    for case in registry:
        assert case.baseline is None or registry.get(case.baseline) is not None, case.name
    quick = registry.select([], quick=True)
    assert {c.group for c in quick} >= {
        "handshake-memory",
        "handshake-socket",
        "handshake-concurrent",
        "record-memory",
        "record-echo",
        "record-oneway",
        "memory-idle",
    }


def test_chart_without_matplotlib_stops_before_the_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    out = tmp_path / "r.json"
    status = main([*TINY, "--only", "rec-echo-tcp-258", "--chart", str(tmp_path / "c.png"),
                   "-o", str(out)])  # fmt: skip
    assert status == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--chart" in err and "matplotlib is not installed" in err
    assert not out.exists()  # nothing ran


def test_json_goes_to_stdout_and_quick_runs_every_target_row(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from benchmarks.targets import target_rows

    assert main([*TINY, "--only", "rec-mem-ssl-258", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)  # the document alone: no table, no progress
    assert [row["name"] for row in doc["rows"]] == ["rec-mem-ssl-258"]
    quick = {c.name for c in load_registry().select([], quick=True, always=target_rows())}
    assert set(target_rows()) <= quick
    assert "hs-sock-ouc-blocking-tls13-rsa-mutual" in quick  # a full-only row with a target
    earlier = tmp_path / "run.json"
    assert main([*TINY, "--only", "rec-mem-ssl-258,rec-mem-pyopenssl-258", "-o", str(earlier)]) == 0
    capsys.readouterr()
    assert main(["--from", str(earlier), "--json"]) == 0  # measures nothing, reports the file
    again = {row["name"]: row for row in json.loads(capsys.readouterr().out)["rows"]}
    first = {row["name"]: row for row in json.loads(earlier.read_text())["rows"]}
    assert again.keys() == first.keys()
    for name, row in first.items():
        assert again[name]["ratio"] == row["ratio"] and again[name]["samples"] == row["samples"]
    assert main(["--from", str(tmp_path / "none.json")]) == 2
    assert "--from" in capsys.readouterr().err
    assert main(["--quick", "--list"]) == 0
    listed = {line.split()[0] for line in capsys.readouterr().out.splitlines()}
    assert set(target_rows()) <= listed


def test_tiny_run_end_to_end(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    chart = tmp_path / "hs.png"
    status, doc = _run(
        tmp_path,
        "--only", "hs-mem-pyopenssl-tls13-ecdsa-server-resumed",
        "--only", "hs-sock-ssl-tls12-ecdsa-server,rec-echo-pyopenssl-258",
        "--only", "rec-oneway-asyncio-4096,rec-mem-pyopenssl-258",
        "--only", "hs-sock-asyncio-tls13-ecdsa-server",
        "--chart", str(chart), "--markdown", str(tmp_path / "r.md"),
    )  # fmt: skip
    assert status == 0
    rows = _rows(doc)
    expected = {
        "hs-mem-pyopenssl-tls13-ecdsa-server",  # baselines come along
        "hs-mem-pyopenssl-tls13-ecdsa-server-resumed",
        "hs-sock-pyopenssl-tls12-ecdsa-server",
        "hs-sock-ssl-tls12-ecdsa-server",
        "hs-sock-pyopenssl-tls13-ecdsa-server",
        "hs-sock-asyncio-tls13-ecdsa-server",
        "rec-echo-tcp-258",
        "rec-echo-ssl-258",
        "rec-echo-pyopenssl-258",
        "rec-oneway-tcp-4096",
        "rec-oneway-ssl-4096",
        "rec-oneway-asyncio-4096",
        "rec-mem-ssl-258",
        "rec-mem-pyopenssl-258",
    }
    assert set(rows) == expected
    for name, row in rows.items():
        assert row["error"] is None, (name, row["error"])
        assert row["rounds"] == 2 and len(row["samples"]) == 2
        assert row[row["metric"]] > 0
        assert all(s["ops"] <= 4 * (512 * 1024 // 4096) for s in row["samples"])
        if row["baseline"] is None:
            assert row["ratio"] is None
        else:
            assert row["ratio"] == pytest.approx(_paired(row, rows[row["baseline"]]))
    resumed = rows["hs-mem-pyopenssl-tls13-ecdsa-server-resumed"]
    assert resumed["info"]["group"] == "x25519"
    done, total = resumed["info"]["resumed"].split("/")
    assert done == total and int(total) > 0
    assert rows["hs-sock-ssl-tls12-ecdsa-server"]["p99_ms"] >= 0
    asyncio_hs = rows["hs-sock-asyncio-tls13-ecdsa-server"]
    assert asyncio_hs["baseline"] == "hs-sock-pyopenssl-tls13-ecdsa-server"
    assert 0 < asyncio_hs["p50_ms"] <= asyncio_hs["p99_ms"]
    assert rows["rec-oneway-asyncio-4096"]["mb_s"] > 0
    captured = capsys.readouterr()  # read once: a second read would find nothing
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = captured.out
    assert "== record-echo" in table and "rec-echo-pyopenssl-258" in table
    markdown = (tmp_path / "r.md").read_text()
    assert "### record-echo" in markdown and "└ rec-echo-pyopenssl-258 |" in markdown


def test_concurrent_handshakes_and_idle_memory(tmp_path: Path) -> None:
    status, doc = _run(
        tmp_path,
        "--only", "hs-conc-ssl-tls13-ecdsa-server,idle-asyncio-tls",
        "--concurrency", "3", "--connections", "6",
    )  # fmt: skip
    assert status == 0
    rows = _rows(doc)
    conc = rows["hs-conc-ssl-tls13-ecdsa-server"]
    assert conc["info"]["clients"] == "3"
    assert conc["p50_ms"] <= conc["p99_ms"]
    idle = rows["idle-asyncio-tls"]
    assert idle["rounds"] == 1 and idle["info"]["connections"] == "6"
    assert idle["bytes_per_conn"] is not None and rows["idle-asyncio-tcp"]["error"] is None
    assert doc["settings"]["connections"] == 6


@pytest.mark.openssl
def test_openssl_rows(tmp_path: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not on PATH")
    status, doc = _run(
        tmp_path, "--rounds", "1", "--only", "hs-stime-openssl-tls13-ecdsa-mutual,crypto-openssl"
    )
    assert status == 0
    rows = _rows(doc)
    stime = rows["hs-stime-openssl-tls13-ecdsa-mutual"]
    assert stime["error"] is None and stime["rate"] > 0 and stime["ratio"] is not None
    floor = rows["crypto-openssl-speed-floor"]
    assert floor["error"] is None and floor["cpu_us"] > 0
    assert float(floor["info"]["x25519_per_s"]) > 0


def test_transport_loops_pump_any_transport_pair(tmp_path: Path) -> None:
    budget = Budget(seconds=0.5, max_ops=5)
    timing = transport_handshake_loop(lambda: (PlainTransport(), PlainTransport()), budget)
    assert timing.ops == 5 and timing.cpu >= 0
    echo = transport_echo_loop(PlainTransport(), PlainTransport(), 258, budget)
    assert echo.ops == 5


def test_bad_input_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--only", "no-such-row"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "matches no benchmark" in err


def test_list_through_a_subprocess() -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--list", "--only", "rec-echo-ssl-258"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "rec-echo-tcp-258"
    assert "rec-echo-ssl-258" in done.stdout


def test_run_context_closes_its_resources(tmp_path: Path) -> None:
    closed: list[str] = []

    class Thing:
        def close(self) -> None:
            closed.append("thing")

    ctx = RunContext(False, Budget(0.01), 1, 1, tmp_path)
    first = ctx.resource("k", Thing)
    assert ctx.resource("k", Thing) is first
    ctx.close()
    assert closed == ["thing"]


def test_server_process_reports_errors_and_stops() -> None:
    from benchmarks._server import ListenSpec, ServerProcess
    from ouc.errors import ConfigError, OucConnectionError

    server = ServerProcess()
    try:
        with pytest.raises(OucConnectionError, match="unknown server kind"):
            server.listen(ListenSpec(kind="nope", mode="echo"))
        port = server.listen(ListenSpec(kind="tcp", mode="echo"))
        assert server.listen(ListenSpec(kind="tcp", mode="echo")) == port  # reused
        assert server.cpu() >= 0 and server.rss() > 0
    finally:
        server.close()
    assert server._proc.exitcode == 0  # stopped politely, not terminated
    with pytest.raises(ConfigError, match="positive unit"):
        ListenSpec(kind="tcp", mode="sink")


def test_pieces_hand_out_frames_whole_or_in_order_pieces() -> None:
    """The blocking ouc stream adapter: a frame that fits is copied whole; a larger one comes
    out over several ``recv_into`` calls, in order, before the next frame is asked for."""
    from benchmarks._ouc import _Pieces

    frames = [b"abc", bytes(range(10)), b"z"]
    pieces = _Pieces(lambda: frames.pop(0))
    buf = bytearray(4)
    view = memoryview(buf)
    got = []
    for _ in range(5):
        n = pieces.recv_into(view)
        got.append(bytes(buf[:n]))
    assert got == [b"abc", bytes(range(4)), bytes(range(4, 8)), bytes(range(8, 10)), b"z"]
    assert frames == []


def test_ouc_bench_says_where_the_suite_moved(capsys: pytest.CaptureFixture[str]) -> None:
    assert ouc_main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "python -m benchmarks" in err and "ouc load" in err
