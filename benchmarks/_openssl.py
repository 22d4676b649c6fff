"""Rows measured with the ``openssl`` command line (system OpenSSL 3.0), when it is on PATH.

- ``openssl s_time -new`` against ``openssl s_server -www``: full handshakes per second with both
  sides in C, the reference the issue quotes. ``-verify`` makes s_time check the server's chain
  like every other client in the suite. The rate is connections divided by the wall time
  of the ``s_time`` process (its ~20 ms start-up included, about 1 % at one second); the CPU adds
  ``s_time``'s own (``RUSAGE_CHILDREN`` delta around its run) and ``s_server``'s (``/proc``).
- ``openssl speed ecdsap256 ecdhx25519``: the crypto floor of a TLS 1.3 ECDSA handshake (two
  X25519 operations, one ECDSA sign, two verifies — perf-anchors.md quotes ≈ 0.32 ms).
"""

from __future__ import annotations

import math
import os
import re
import resource
import shutil
import subprocess
import threading
import time
from queue import Empty, Queue

from benchmarks._harness import Result, RunContext
from benchmarks._stacks import TLS12_CIPHERS, TLSConfig
from ouc.errors import ConfigError, OucConnectionError, WaitTimeoutError

__all__ = ["SServer", "openssl_missing", "s_time_case", "speed_case"]

_STIME = re.compile(r"(\d+) connections in [\d.]+s;")
_ECDSA = re.compile(r"ecdsa \(nistp256\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)")
_X25519 = re.compile(r"ecdh \(X25519\)\s+\S+s\s+([\d.]+)")
_ACCEPT = re.compile(r"ACCEPT\s+\S*:(\d+)")


def openssl_missing() -> str | None:
    """None when the ``openssl`` command is available, else why the rows are skipped."""
    return None if shutil.which("openssl") else "skipped: the openssl command is not on PATH"


def _openssl() -> str:
    path = shutil.which("openssl")
    if path is None:
        raise ConfigError("the openssl command is not on PATH")
    return path


def _version_flag(cfg: TLSConfig) -> str:
    return "-tls1_3" if cfg.version == "1.3" else "-tls1_2"


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a running process, from /proc/PID/stat."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class SServer:
    """An ``openssl s_server -www`` on 127.0.0.1 port 0 for one configuration.

    Its stdout is drained by a thread (the ACCEPT line gives the port), so it never blocks on a
    full pipe. close() terminates this process only, with bounded waits.
    """

    def __init__(self, cfg: TLSConfig, *, start_timeout: float = 15.0) -> None:
        certs = cfg.certs
        args = [
            _openssl(),
            "s_server",
            "-accept",
            "127.0.0.1:0",
            "-www",
            "-groups",
            "X25519:P-256",
            "-cert",
            certs.server_cert,
            "-key",
            certs.server_key,
            _version_flag(cfg),
        ]
        if cfg.version == "1.2":
            args += ["-cipher", TLS12_CIPHERS]
        if cfg.mutual:
            args += ["-Verify", "1", "-CAfile", certs.ca]
        self._proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL
        )
        lines: Queue[str] = Queue()
        threading.Thread(target=self._drain, args=(lines,), daemon=True).start()
        deadline = time.monotonic() + start_timeout
        self.port = 0
        while not self.port:
            try:
                line = lines.get(timeout=max(0.01, deadline - time.monotonic()))
            except Empty:
                self.close()
                raise WaitTimeoutError("openssl s_server did not report its port") from None
            if match := _ACCEPT.search(line):
                self.port = int(match.group(1))
            elif line == "":
                self.close()
                raise OucConnectionError("openssl s_server exited at start-up")

    def _drain(self, lines: Queue[str]) -> None:
        assert self._proc.stdout is not None
        for raw in self._proc.stdout:
            lines.put(raw.decode(errors="replace"))
        lines.put("")

    def cpu(self) -> float:
        return _proc_cpu(self._proc.pid)

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        if self._proc.stdout is not None:
            self._proc.stdout.close()


def s_time_case(ctx: RunContext, cfg: TLSConfig) -> Result:
    """New-connection handshakes per second, ``openssl s_time`` against ``openssl s_server``."""
    server: SServer = ctx.resource(f"s_server-{cfg.label}", lambda: SServer(cfg))
    seconds = max(1, math.ceil(ctx.budget.seconds))
    args = [
        _openssl(),
        "s_time",
        "-connect",
        f"127.0.0.1:{server.port}",
        "-new",
        "-time",
        str(seconds),
        "-verify",
        "2",
        "-CAfile",
        cfg.certs.ca,
        _version_flag(cfg),
    ]
    if cfg.mutual:
        args += ["-cert", cfg.certs.client_cert, "-key", cfg.certs.client_key]
    usage0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    server_cpu0 = server.cpu()
    t0 = time.perf_counter()
    try:
        done = subprocess.run(args, capture_output=True, timeout=seconds + 30, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WaitTimeoutError("openssl s_time did not finish") from exc
    wall = time.perf_counter() - t0
    server_cpu = server.cpu() - server_cpu0
    usage1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    client_cpu = (usage1.ru_utime - usage0.ru_utime) + (usage1.ru_stime - usage0.ru_stime)
    match = _STIME.search(done.stdout.decode(errors="replace"))
    if done.returncode != 0 or match is None or int(match.group(1)) == 0:
        tail = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()[-1:]
        raise OucConnectionError(f"openssl s_time failed: {' '.join(tail) or 'no output'}")
    count = int(match.group(1))
    return Result(
        rate=count / wall,
        cpu_us=(client_cpu + server_cpu) / count * 1e6,
        ops=count,
        seconds=wall,
        info={"openssl": "system", "time_s": str(seconds)},
    )


def speed_case(ctx: RunContext) -> Result:
    """``openssl speed`` for P-256 ECDSA and X25519; the result is the TLS 1.3 crypto floor.

    cpu_us = 2 × X25519 + 1 × sign + 2 × verify (both sides of one handshake), rate = 1e6 / that.
    """
    seconds = max(1, math.ceil(ctx.budget.seconds))
    args = [_openssl(), "speed", "-seconds", str(seconds), "ecdsap256", "ecdhx25519"]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(args, capture_output=True, timeout=3 * seconds + 60, check=False)
    except subprocess.TimeoutExpired as exc:
        raise WaitTimeoutError("openssl speed did not finish") from exc
    text = done.stdout.decode(errors="replace")
    ecdsa, x25519 = _ECDSA.search(text), _X25519.search(text)
    if done.returncode != 0 or ecdsa is None or x25519 is None:
        raise OucConnectionError("openssl speed printed no ecdsap256/ecdhx25519 results")
    sign, verify, dh = float(ecdsa.group(1)), float(ecdsa.group(2)), float(x25519.group(1))
    floor_us = 1e6 * (2 / dh + 1 / sign + 2 / verify)
    return Result(
        rate=1e6 / floor_us,
        cpu_us=floor_us,
        ops=1,
        seconds=time.perf_counter() - t0,
        info={
            "ecdsap256_sign_per_s": f"{sign:.0f}",
            "ecdsap256_verify_per_s": f"{verify:.0f}",
            "x25519_per_s": f"{dh:.0f}",
            "formula": "2*x25519 + sign + 2*verify",
        },
    )
