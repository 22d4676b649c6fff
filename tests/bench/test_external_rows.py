"""``python -m benchmarks.external handshakes echo`` runs end to end, as RESULTS.md records it:
every server really serves ``openssl s_time -new`` (server auth and mutual TLS 1.3) and the
258-byte echo, and every ``ouc serve`` row carries its capacity ratios against each baseline
(raw pyOpenSSL loop, ``openssl s_server``, the memory-BIO floor, Python's ``ssl``), and the
``--processes 2`` rows their CPU against one process (two clients at once, and one sequential
client).

One short round: a check that the measurement works, not a performance assertion (the ratios
are read in RESULTS.md, from quiet full runs). Real server processes on 127.0.0.1; bounded by
the benchmark's own timeouts and the subprocess timeout. Marked slow.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.openssl,
    pytest.mark.skipif(
        shutil.which("openssl") is None, reason="the openssl command is not on PATH"
    ),
]

SERVERS = {
    "ouc-asyncio",
    "ouc-blocking",
    "ouc-asyncio-x2",
    "ouc-blocking-x2",
    "openssl-s_server",
    "raw-pyopenssl",
    "pyopenssl-bio",
    "pyopenssl-bio-x2",
    "pyopenssl-sock",
    "ssl-threaded",
}
ECHO_SERVERS = {
    "ouc-asyncio",
    "ouc-blocking",
    "raw-pyopenssl",
    "pyopenssl-bio",
    "pyopenssl-sock",
    "ssl-threaded",
}


def positive(value: dict[str, float]) -> bool:
    return all(math.isfinite(value[k]) and value[k] > 0 for k in ("median", "min", "max"))


def test_the_external_rows_measure_every_server(tmp_path: Path) -> None:
    out = tmp_path / "external.json"
    argv = [sys.executable, "-m", "benchmarks.external", "handshakes", "echo"]
    argv += ["--rounds", "1", "--seconds", "1", "--processes", "2", "--json", str(out)]
    done = subprocess.run(argv, cwd=ROOT, timeout=600, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(out.read_text())
    for config in ("server-auth", "mutual"):
        rows = report["handshakes"][config]
        assert set(rows) == SERVERS, config
        for name, row in rows.items():
            assert positive(row["rate"]) and positive(row["cpu_us"]), (config, name, row)
            if name.startswith("ouc"):
                for ratio in ("vs_raw", "vs_s_server", "vs_bio", "vs_ssl", "vs_sock"):
                    assert positive(row[ratio]), (config, name, ratio)
            if name.startswith("pyopenssl-"):  # each floor against the raw loop
                assert positive(row["vs_raw"]) and positive(row["vs_sock"]), (config, name)
            if name.startswith(("ouc", "pyopenssl-bio")):  # also under two clients at once
                assert positive(row["cpu_us_clients"]) and positive(row["rate_clients"]), name
            if name.endswith("-x2"):
                for ratio in ("cpu_vs_one_process", "cpu_vs_one_process_clients"):
                    assert positive(row[ratio]), (config, name, ratio)
    echo = report["echo"]
    assert set(echo) == ECHO_SERVERS
    for name, row in echo.items():
        assert positive(row["cpu_us"]) and row["rate"]["median"] > 100, (name, row)
        if name.startswith(("ouc", "pyopenssl-")):
            assert positive(row["vs_ssl"]) and positive(row["vs_sock"]), name
        if name.startswith("ouc"):
            assert positive(row["vs_bio"]), name
    assert "vs bio floor" in done.stdout and "vs sock floor" in done.stdout  # the floors' columns
