"""The ouc rows on a tiny configuration (never asserting timings).

Every run is bounded by ``--max-ops`` and ``--seconds``; the assertions check that the ouc rows
measured something real (operations, a ratio to the right baseline, resumptions that resumed,
connections that were held) and that the load generator talks to a real PassiveEndpoint on
127.0.0.1 port 0.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from benchmarks import Budget, RunContext, load_registry, main
from benchmarks._ouc import OucPair, memory_resumed_loop

TINY = ["--rounds", "1", "--seconds", "0.05", "--max-ops", "4", "--concurrency", "2"]
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def _run(tmp_path: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    out = tmp_path / "bench.json"
    status = main([*TINY, "-o", str(out), *args])
    doc = json.loads(out.read_text())
    return status, {row["name"]: row for row in doc["rows"]}


def test_every_ouc_row_names_the_baseline_it_is_compared_with() -> None:
    registry = load_registry()
    ouc = {c.name: c for c in registry if "-ouc-" in c.name or c.name.startswith("idle-ouc")}
    assert ouc["hs-mem-ouc-tls13-ecdsa-server"].baseline == "hs-mem-pyopenssl-tls13-ecdsa-server"
    assert ouc["hs-sock-ouc-blocking-tls12-rsa-mutual"].baseline == (
        "hs-sock-pyopenssl-tls12-rsa-mutual"
    )
    assert ouc["rec-echo-ouc-blocking-258"].baseline == "rec-echo-ssl-258"
    assert ouc["rec-oneway-ouc-blocking-65536"].baseline == "rec-oneway-ssl-65536"
    # every configuration of the in-memory baselines has its ouc row
    memory = [c.name for c in registry if c.name.startswith("hs-mem-pyopenssl-")]
    assert len(memory) == 12
    for name in memory:
        assert name.replace("pyopenssl", "ouc") in ouc
    assert ouc["rec-echo-ouc-asyncio-258"].baseline == "rec-echo-asyncio-258"
    assert ouc["idle-ouc-asyncio-tls"].baseline == "idle-asyncio-tls"


def test_resumed_engine_handshakes_really_resume(tmp_path: Path) -> None:
    from benchmarks._cases import tls_config

    ctx = RunContext(
        quick=True, budget=Budget(0.05, max_ops=5), concurrency=1, connections=1, workdir=tmp_path
    )
    try:
        for version in ("1.3", "1.2"):
            pair = OucPair(tls_config(ctx, version, "EC-P256", True))
            timing, info = memory_resumed_loop(pair, ctx.budget)
            assert timing.ops >= 1
            assert info["resumed"] == f"{timing.ops}/{timing.ops}"
            assert info["version"] == f"TLSv{version}"
    finally:
        ctx.close()


def test_tiny_run_of_the_ouc_rows(tmp_path: Path) -> None:
    rows_wanted = [
        "hs-mem-ouc-tls13-ecdsa-mutual",
        "hs-mem-ouc-tls12-rsa-server",
        "hs-mem-ouc-tls13-ecdsa-server-resumed",
        "rec-mem-ouc-4096",
        "hs-sock-ouc-blocking-tls13-ecdsa-mutual",
        "hs-sock-ouc-blocking-tls12-ecdsa-server-resumed",
        "hs-conc-ouc-blocking-tls13-ecdsa-server",
        "rec-echo-ouc-blocking-258",
        "rec-oneway-ouc-blocking-65536",
        "hs-sock-ouc-asyncio-tls13-ecdsa-server",
        "hs-conc-ouc-asyncio-tls13-ecdsa-mutual",
        "rec-echo-ouc-asyncio-4096",
        "rec-oneway-ouc-asyncio-258",
        "idle-ouc-asyncio-tls",
    ]
    only = [arg for name in rows_wanted for arg in ("--only", name)]
    # --max-ops 4 ends each run; the longer budget only keeps a loaded machine from ending a
    # run after one connection (the resumed row needs two).
    status, rows = _run(tmp_path, "--connections", "20", "--seconds", "1", *only)
    assert status == 0, {n: r["error"] for n, r in rows.items() if r["error"]}
    for name in rows_wanted:
        row = rows[name]
        assert row["error"] is None and row["ops"] >= 1, name
        assert row["baseline"] in rows and row["ratio"] is not None and row["ratio"] > 0, name
    assert rows["hs-mem-ouc-tls12-rsa-server"]["info"]["version"] == "TLSv1.2"
    resumed = rows["hs-sock-ouc-blocking-tls12-ecdsa-server-resumed"]["info"]["resumed"]
    done, total = map(int, resumed.split("/"))
    assert total >= 2 and done == total - 1  # every connection after the first resumed
    assert rows["rec-oneway-ouc-blocking-65536"]["mb_s"] > 0
    assert rows["idle-ouc-asyncio-tls"]["info"]["connections"] == "20"
    assert rows["idle-ouc-asyncio-tls"]["bytes_per_conn"] is not None
