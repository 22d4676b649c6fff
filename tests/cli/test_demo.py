"""``ouc demo``: the README's main job, in-process and once as ``python -m ouc demo``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from ouc.certs import CertStore
from ouc.cli import main
from ouc.conn import ALLOWED_STATUS

WAIT = 60.0


def test_demo_report(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo"]) == 0
    out = capsys.readouterr().out
    for expected in (
        "TLSv1.3",
        "group x25519, mutual authentication",
        "PLC_2 sees the server's certificate 9 (CN=PLC_1), trusted through CA 3",
        "PLC_1 sees the client's certificate 11 (CN=PLC_2), trusted through CA 3",
        "Received by PLC_1 (TRCV_C, Received_Data, RCVD_LEN 258)\n"
        "  Var1 = TRUE\n  Var2 = 'Hello World!'",
        "PLC_2 TSEND_C       16#7000 → 16#7001 → 16#7002 → 16#0001 → 16#7004 → 16#7005 → "
        "16#0000 → 16#7003 → 16#0003 → 16#7000",
        "PLC_1 TRCV_C        16#7000 → 16#7001 → 16#7002 → 16#0001 → 16#7006 → 16#0000 → "
        "16#80C5 → 16#80C4",
        "OK: the values arrived",
    ):
        assert expected in out
    # The temporary store is gone afterwards.
    match = re.search(r"certificate store\s+(\S+) \(temporary", out)
    assert match is not None and not Path(match.group(1)).exists()


def test_demo_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is True and doc["kept"] is False
    assert doc["received"] == {
        "db": "Received_Data",
        "rcvd_len": 258,
        "values": {"Var1": True, "Var2": "Hello World!"},
    }
    assert doc["tls"]["version"] == "TLSv1.3" and doc["tls"]["cipher"].startswith("TLS_")
    assert doc["client"]["sees"]["peer_cert_id"] == 9
    assert doc["server"]["sees"] == {
        "peer_cert_id": 11,
        "peer_subject": "CN=PLC_2",
        "peer_anchor_id": 3,
        "own_cert_id": 9,
    }
    assert doc["server"]["peer"].startswith("192.168.0.2:")
    # TIA help (domain.md §4): 7002 while establishing, 0001 when established, 7004 (TSEND_C)
    # or 7006 (TRCV_C, EN_R = 1), 7005 → 0000 per job; CONT 1→0 closes with 7003 → 0003 → 7000.
    # STATUS sequences are lists of 16#xxxx strings.
    tsend = doc["client"]["sequences"]["TSEND_C"]
    trcv = doc["server"]["sequences"]["TRCV_C"]
    at = tsend.index("16#7002")
    assert tsend[at + 1 : at + 3] == ["16#0001", "16#7004"]
    assert tsend[tsend.index("16#7005") + 1] == "16#0000"
    assert tsend[-3:] == ["16#7003", "16#0003", "16#7000"]
    at = trcv.index("16#7002")
    assert trcv[at : at + 4] == ["16#7002", "16#0001", "16#7006", "16#0000"]
    for sequence in (tsend, trcv):
        assert {int(code.removeprefix("16#"), 16) for code in sequence} <= ALLOWED_STATUS


def test_keep_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "kept"
    assert main(["demo", "--keep-store", str(folder)]) == 0
    assert f"ouc certs list --store {folder}" in capsys.readouterr().out
    store = CertStore(folder)
    assert store.ids() == [1, 2, 3, 9, 11]
    assert set(store.device_ids("PLC_1")) == {3, 9}
    # A second run does not overwrite the store it made.
    assert main(["demo", "--keep-store", str(folder)]) == 2
    assert "not empty" in capsys.readouterr().err


def test_python_m_ouc_demo() -> None:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-m", "ouc", "demo"],
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Var2 = 'Hello World!'" in done.stdout and done.stderr == ""
    assert time.monotonic() - started < WAIT


def test_timeout_bounds_the_whole_demo(capsys: pytest.CaptureFixture[str]) -> None:
    """Making the store alone takes longer than a millisecond: the demo must not report OK."""
    assert main(["demo", "--timeout", "0.001"]) == 2
    captured = capsys.readouterr()
    assert "OK" not in captured.out
    err = captured.err
    assert err.startswith("ouc: error: --timeout: the demo was not done within 0.001 s"), err
    assert "give it more seconds" in err and err.count("\n") == 1


def test_keep_store_that_cannot_be_made_names_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "no" / "such" / "folder"
    file = tmp_path / "a-file"
    file.write_text("")
    for folder in (missing, file):
        assert main(["demo", "--keep-store", str(folder)]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"ouc: error: --keep-store: cannot make or write the folder {folder}")
        assert err.count("\n") == 1
    assert not missing.parent.exists()  # no folders made on the way


def test_a_failed_demo_still_prints_its_json_with_ok_false(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """A script reading ``ok`` gets a JSON document on stdout whatever happened; the error
    line is on stderr as ever (exit 2)."""
    assert main(["demo", "--json", "--timeout", "0.001"]) == 2
    out, err = capsys.readouterr()
    doc = json.loads(out)
    assert doc["ok"] is False and doc["path"] == "--timeout" and doc["status"] is None
    assert doc["message"].startswith("the demo was not done within 0.001 s")
    assert err.startswith("ouc: error: --timeout: the demo was not done") and err.count("\n") == 1
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "file").write_text("")
    assert main(["demo", "--json", "--keep-store", str(taken)]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["path"] == "--keep-store" and "not empty" in doc["message"]
