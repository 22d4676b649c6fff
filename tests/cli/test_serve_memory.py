"""``ouc serve`` (no driver option, no ticket option) holding 10,000 idle TLS connections: RSS
per connection of the CLI process itself, measured by ``python -m benchmarks.external memory``
(the server is a real ``ouc serve`` process, the client another process holding the
connections open).

Measured as users run it: with the default stateful tickets (two per handshake, as the CPU
sends them), whose two sessions per handshake stay in the server's session cache (~1 KB of the
per-connection figure; benchmarks/RESULTS.md has the breakdown).

Bounded: the benchmark's client gives up after 240 s (10,000 mutual-TLS handshakes on a loaded
2-core machine took more than 120 s), the subprocess after 600 s. Marked slow.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONNECTIONS = 10_000


def idle_memory(tmp_path: Path, config: str) -> dict[str, float]:
    out = tmp_path / "memory.json"
    argv = [sys.executable, "-m", "benchmarks.external", "memory", "--config", config]
    argv += ["--connections", str(CONNECTIONS), "--blocking-connections", "0"]
    argv += ["--json", str(out)]
    subprocess.run(argv, cwd=ROOT, check=True, timeout=600, capture_output=True)
    row: dict[str, float] = json.loads(out.read_text())["memory"][f"ouc-asyncio {config}"]
    return row


@pytest.mark.slow
@pytest.mark.parametrize(("config", "limit"), [("server-auth", 25_000), ("mutual", 30_000)])
def test_ouc_serve_holds_10000_idle_tls_connections_lean(
    tmp_path: Path, config: str, limit: int
) -> None:
    row = idle_memory(tmp_path, config)
    assert (row["held"], row["failed"]) == (CONNECTIONS, 0)
    assert row["bytes_per_connection"] <= limit, row
