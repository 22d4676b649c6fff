"""The command lines of the diagnostics next to the suite (``benchmarks.external``, ``ab_*``,
``cpu_split``): a zero or negative count is one usage line and exit 2, never a traceback or a
run that measures nothing; ``--help`` gives every default and says what the ratios mean.

Subprocesses from the clone's root (as the scripts are run), each bounded in time; nothing is
measured.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, *argv], cwd=ROOT, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("module", "flag", "value"),
    [
        ("benchmarks.external", "--seconds", "-1"),
        ("benchmarks.external", "--seconds", "0"),
        ("benchmarks.external", "--processes", "0"),
        ("benchmarks.external", "--rounds", "0"),
        ("benchmarks.ab_serve", "--seconds", "0"),
        ("benchmarks.ab_serve", "--rounds", "0"),
        ("benchmarks.ab_wire", "--rounds", "0"),
        ("benchmarks.ab_handshakes", "--seconds", "-0.5"),
    ],
)
def test_a_count_below_1_is_one_usage_line_and_exit_2(module: str, flag: str, value: str) -> None:
    extra = ["echo"] if module == "benchmarks.external" else []
    extra += ["ouc-blocking"] if module == "benchmarks.ab_handshakes" else []
    done = _run("-m", module, *extra, f"{flag}={value}")
    assert done.returncode == 2, (done.stdout[-500:], done.stderr[-1500:])
    last = done.stderr.strip().splitlines()[-1]
    assert "Traceback" not in done.stderr and flag in last and "must be above 0" in last, last


@pytest.mark.parametrize(
    ("argv", "ratio_text"),
    [
        (["-m", "benchmarks.ab_serve"], "new/old is the working tree's server CPU"),
        (["-m", "benchmarks.ab_wire"], "B/A: the default profile's (B)"),
        (["-m", "benchmarks.ab_handshakes"], "ratio: a pair's handshake rate over the first"),
        (["-m", "benchmarks.cpu_split"], "No ratios: total is the --side process's CPU"),
        (["benchmarks/ab_conn.py"], "B/A: revision B's process CPU per operation"),
        (["benchmarks/ab_runtime.py"], "ratio: a variant's process CPU per handshake"),
    ],
)
def test_help_gives_defaults_and_what_the_ratios_mean(argv: list[str], ratio_text: str) -> None:
    done = _run(*argv, "--help")
    assert done.returncode == 0, done.stderr[-1500:]
    text = " ".join(done.stdout.split())
    assert ratio_text in text
    assert "(default: " in text
    for option in ("--rounds", "--seconds"):
        if option in text:
            line = text.split(option, 2)[-1][:160]  # its help, after the usage line
            assert "(default: " in line, (option, line)


@pytest.mark.openssl
@pytest.mark.skipif(shutil.which("openssl") is None, reason="the openssl command is not on PATH")
def test_s_time_without_a_count_is_no_connection_not_a_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """``openssl s_time`` that could not connect prints no count: the round has none."""
    from benchmarks import external

    with socket.socket() as sock:  # a port nobody listens on (held: nobody can meanwhile)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        assert external.s_time(None, "server-auth", port, 1) == 0  # type: ignore[arg-type]
    assert f"s_time on port {port} printed no count" in capsys.readouterr().err
