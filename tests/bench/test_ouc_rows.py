"""The ouc rows and ``ouc bench --target`` on a tiny configuration (never asserting timings).

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

import pytest

from benchmarks import Budget, RunContext, load_registry, main
from benchmarks._ouc import OucPair, memory_resumed_loop
from benchmarks._target import TargetPlan, target_ops
from ouc.certs import CertStore, PrivateKey, generate_key
from ouc.device import Device
from ouc.drivers import AddressMap, PassiveEndpoint, echo, example_store, standard_example
from ouc.errors import OucError

TINY = ["--rounds", "1", "--seconds", "0.05", "--max-ops", "4", "--concurrency", "2"]
NOW = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)


def _run(tmp_path: Path, *args: str) -> tuple[int, dict[str, dict[str, Any]]]:
    out = tmp_path / "bench.json"
    status = main([*TINY, "--json", str(out), *args])
    doc = json.loads(out.read_text())
    return status, {row["name"]: row for row in doc["rows"]}


def test_every_ouc_row_names_the_baseline_issue_6_compares_it_with() -> None:
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
    status, rows = _run(tmp_path, "--connections", "20", *only)
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


# -- ouc bench --target ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ca_keys() -> tuple[PrivateKey, PrivateKey]:
    return generate_key("RSA-2048"), generate_key("RSA-2048")


@pytest.fixture
def store(tmp_path: Path, ca_keys: tuple[PrivateKey, PrivateKey]) -> CertStore:
    return example_store(tmp_path / "store", now=NOW, default_ca_keys=ca_keys)


@pytest.fixture
def example_server(store: CertStore) -> Any:
    """PLC_1 of the standard example (echo), reached from 127.0.0.1 as PLC_2's plant address."""
    setup = standard_example(store, receive_len=258)
    endpoint = PassiveEndpoint(
        setup.server,
        behaviour=echo(),
        listen=("127.0.0.1", 0),
        address_map=AddressMap.parse(["192.168.0.2=127.0.0.1"]),
    )
    with endpoint:
        yield endpoint


def _as_plc_2(store: CertStore) -> tuple[str, ...]:
    """``ouc bench --target`` options: the example's client PLC_2 (certificate 11, CA 3)."""
    return ("--store", str(store.path), "--server-cert-ref", "3", "--client-cert-ref", "11",
            "--device-name", "PLC_2")  # fmt: skip


def test_target_runs_the_active_endpoint_against_a_passive_endpoint(
    tmp_path: Path, store: CertStore, example_server: PassiveEndpoint
) -> None:
    where = f"127.0.0.1:{example_server.port}"
    status, rows = _run(tmp_path, "--target", where, *_as_plc_2(store))
    assert status == 0, {n: r["error"] for n, r in rows.items()}
    assert set(rows) == {"target-hs-sequential", "target-hs-concurrent", "target-echo-258"}
    for row in rows.values():
        assert row["error"] is None and row["ops"] >= 1 and row["info"]["target"] == where
    assert rows["target-hs-concurrent"]["info"]["clients"] == "2"
    handshakes = rows["target-hs-sequential"]["ops"] + rows["target-hs-concurrent"]["ops"]
    # every handshake and the echo connection were served by the passive endpoint (warm-up too)
    assert example_server.served_total >= handshakes + 1
    assert example_server.refused == 0


def test_target_ops_fail_cleanly_on_an_unresolvable_certificate(store: CertStore) -> None:
    plan = TargetPlan(
        host="127.0.0.1",
        port=2000,
        store=store.path,
        server_cert_ref=3,
        client_cert_ref=4242,  # no such certificate
        device=Device(name="PLC_2"),
        sizes=(258,),
    )
    with pytest.raises(OucError) as info:
        target_ops(plan)
    assert info.value.status is not None


def test_target_against_a_closed_port_reports_the_error_in_the_row(tmp_path: Path) -> None:
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    status, rows = _run(tmp_path, "--target", f"127.0.0.1:{port}", "--plain")
    assert status == 1
    assert all(row["error"] for row in rows.values())
    assert "80C4" in rows["target-hs-sequential"]["error"] or "refused" in (
        rows["target-hs-sequential"]["error"].lower()
    )


def test_target_refused_by_the_partner_check_says_what_to_do(
    tmp_path: Path, store: CertStore
) -> None:
    """A peer that resets this host as a partner it does not expect (16#80C9 on its side):
    every row fails with the reset, and says that the partner check is the likely cause."""
    setup = standard_example(store, receive_len=258)
    strict = PassiveEndpoint(setup.server, behaviour=echo(), listen=("127.0.0.1", 0))
    with strict:  # RemoteAddress 192.168.0.2, and no --map makes 127.0.0.1 that partner
        status, rows = _run(tmp_path, "--target", f"127.0.0.1:{strict.port}", *_as_plc_2(store))
        assert strict.refused >= 1
    assert status == 1
    for row in rows.values():
        assert "(16#80C5)" in row["error"]
        assert "RemoteAddress (16#80C9 on its side)" in row["error"], row["error"]
