"""Where ``ouc serve`` spends its Python work, per handshake or per echo round trip.

``python -m benchmarks.profile_serve [handshake|echo] [--mutual] [--seconds S] [--driver D]``
starts ``ouc serve`` (the standard example, stdout to /dev/null as in ``benchmarks.external``)
in a process whose cProfile is switched on and off by signals, so that only the measured
window is profiled: ``openssl s_time -new -tls1_3`` (handshake) or a Python ``ssl`` client
sending 258-byte frames (echo) drives it. It prints the Python calls per operation (which do
not depend on the load of the machine, unlike times) and the functions with the most calls and
own time. ``--raw`` profiles the raw pyOpenSSL loop of ``benchmarks.external_peers`` instead
(``--floor``: its memory-BIO floor),
for comparison. A diagnostic for RESULTS.md, not part of the suite.
"""

from __future__ import annotations

import argparse
import io
import os
import pstats
import signal
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from benchmarks import external

_INNER = """
import cProfile, os, signal, sys, runpy
profile = cProfile.Profile()
out = sys.argv[1]
def on(signum, frame):
    profile.enable()
def off(signum, frame):
    profile.disable()
    profile.dump_stats(out + ".part")
    os.replace(out + ".part", out)  # the reader sees the whole file or none
signal.signal(signal.SIGUSR1, on)
signal.signal(signal.SIGUSR2, off)
module = sys.argv[2]
sys.argv = [module, *sys.argv[3:]]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def _wrapped(server: external.Server, out: Path) -> external.Server:
    """The same server, started under the signal-driven profiler."""
    argv = server.argv
    assert argv[1] == "-m"
    server.argv = [argv[0], "-c", _INNER, str(out), argv[2], *argv[3:]]
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("what", choices=("handshake", "echo"), nargs="?", default="handshake")
    parser.add_argument("--mutual", action="store_true")
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--driver", default="asyncio")
    parser.add_argument(
        "--clients",
        type=int,
        default=1,
        help="s_time processes at once (handshake; default 1): with 2, one process serves "
        "both and finds events waiting, as when two peers keep it busy",
    )
    parser.add_argument("--raw", action="store_true", help="the raw pyOpenSSL loop instead")
    parser.add_argument(
        "--floor", action="store_true", help="the memory-BIO floor (pyopenssl-bio) instead"
    )
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--callers", metavar="NAME", help="who calls the functions matching NAME")
    parser.add_argument("--keep", metavar="FILE", help="copy the profile here")
    parser.add_argument("--sort", default="tottime")
    parser.add_argument(
        "--per-op", action="store_true", help="calls and µs per operation, most calls first"
    )
    args = parser.parse_args()
    config = "mutual" if args.mutual or args.what == "echo" else "server-auth"
    with tempfile.TemporaryDirectory(prefix="ouc-profile-") as tmp:
        folder = Path(tmp)
        m = external.make_material(folder)
        if args.raw or args.floor:
            server = external.peer_server(m, config, "pyopenssl-bio" if args.floor else "pyopenssl")
        else:
            server = external.ouc_server(m, config, driver=args.driver, echo=args.what == "echo")
        out = folder / "serve.prof"
        with external.running([_wrapped(server, out)]):
            if args.what == "handshake":
                external.s_time(m, config, server.port, 1)  # warm-up
            else:
                external.echo_cpu(m, config, server, 0.5)
            os.kill(server.pid, signal.SIGUSR1)
            time.sleep(0.2)  # the handler runs at the server's next bytecode
            cpu0 = server.cpu()
            if args.what == "handshake":
                with ThreadPoolExecutor(args.clients) as pool:
                    runs = pool.map(
                        lambda _: external.s_time(m, config, server.port, int(args.seconds)),
                        range(args.clients),
                    )
                    ops = sum(runs)
                cpu = server.cpu() - cpu0
            else:
                result = external.echo_cpu(m, config, server, args.seconds)
                ops, cpu = int(result["count"]), result["us"] * result["count"] / 1e6
            os.kill(server.pid, signal.SIGUSR2)
            deadline = time.monotonic() + 30
            while not out.exists() and time.monotonic() < deadline:
                time.sleep(0.1)  # the server writes it and renames it into place when whole
            if not out.exists():
                raise SystemExit("the server wrote no profile within 30 s")
        text = io.StringIO()
        stats = pstats.Stats(str(out), stream=text)
        if args.keep:
            Path(args.keep).write_bytes(out.read_bytes())
        if args.callers:
            stats.print_callers(args.callers)
            print(text.getvalue())
            return
        calls = stats.total_calls  # type: ignore[attr-defined]
        print(f"== {server.name} {config} {args.what}: {ops} operations")
        print(f"Python calls per operation: {calls / ops:.1f}")
        print(f"server CPU per operation (profiler in): {cpu / ops * 1e6:.0f} µs")
        if args.per_op:
            print("calls/op   own µs   cum µs  function (per operation, profiler in)")
            rows = sorted(stats.stats.items(), key=lambda kv: -kv[1][1])  # type: ignore[attr-defined]
            for (path, line, func), (_, ncalls, tottime, cumtime, _) in rows[: args.top]:
                where = f"{Path(path).name}:{line}({func})" if line else func
                own, total = tottime / ops * 1e6, cumtime / ops * 1e6
                print(f"{ncalls / ops:8.2f} {own:8.1f} {total:8.1f}  {where}")
            return
        stats.sort_stats(args.sort).print_stats(args.top)
        lines = text.getvalue().splitlines()
        start = next(i for i, line in enumerate(lines) if "ncalls" in line)
        root = str(external._ROOT) + "/"
        print("\n".join(line.replace(root, "") for line in lines[start:] if line))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
