"""The long fuzz campaign: every target of ``targets.py``, one after another, with atheris.

Usage (from the repository root, with the test extra installed)::

    python tests/fuzz/campaign.py                       # every target, 200,000 inputs each
    python tests/fuzz/campaign.py --runs 1000000 cert_der scl
    python tests/fuzz/campaign.py --list

Each target runs as its own ``run_atheris.py`` process under ``nice`` (the machine is usually
shared), starting from the seed corpus (real certificates, keys, CRLs and .p12 files made by
ouc, the sample blocks, the SCL samples) plus whatever earlier campaigns added to the corpus
folder. A target stops after ``--runs`` inputs or ``--seconds``, whichever comes first. An input
that makes a target raise anything but an OucError (or break one of its invariants) is a crash:
libFuzzer stops that target and writes the input to ``WORK/artifacts/``.

At the end the campaign prints a table (target, inputs, seconds, inputs/s, foreign exceptions)
and writes it to ``WORK/summary.json``; the exit status is 0 only when every target reached
``--runs`` inputs without a crash. The README's "Robustness" figures come from this command.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
_DONE = re.compile(r"Done (\d+) runs in (\d+) second")
_EXCEPTION = re.compile(r"^(?:=== )?Uncaught Python exception: ===\s*$|^\w+(?:Error|Exception):")


def _targets() -> tuple[list[str], dict[str, list[bytes]]]:
    sys.path.insert(0, str(ROOT))
    import importlib.util

    spec = importlib.util.spec_from_file_location("ouc_fuzz_targets", HERE / "targets.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.TARGETS), module.seeds()


def _seed(corpus: Path, seeds: list[bytes]) -> None:
    corpus.mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(seeds):
        (corpus / f"seed-{index:03d}").write_bytes(seed)


def _run(name: str, work: Path, runs: int, seconds: int, niceness: int) -> dict[str, object]:
    corpus, artifacts = work / "corpus" / name, work / "artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    for old in artifacts.glob(f"{name}-*"):
        old.unlink()
    command = [
        sys.executable,
        str(HERE / "run_atheris.py"),
        name,
        f"-runs={runs}",
        f"-max_total_time={seconds}",
        "-timeout=30",  # one input taking longer is a finding too (libFuzzer: timeout-*)
        "-rss_limit_mb=3072",
        "-print_final_stats=1",
        f"-artifact_prefix={artifacts}/{name}-",
        str(corpus),
    ]
    if shutil.which("nice") and niceness:
        command = ["nice", "-n", str(niceness), *command]
    env = dict(
        os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    )
    started = time.monotonic()
    done = subprocess.run(
        command, capture_output=True, text=True, env=env, cwd=work, timeout=seconds + 300
    )
    elapsed = time.monotonic() - started
    output = done.stdout + done.stderr
    (work / f"{name}.log").write_text(output)
    found = _DONE.search(output)
    inputs = int(found.group(1)) if found else 0
    crashes = sorted(p.name for p in artifacts.glob(f"{name}-*"))
    reasons = [line for line in output.splitlines() if _EXCEPTION.match(line)][:3]
    return {
        "target": name,
        "inputs": inputs,
        "seconds": round(elapsed, 1),
        "inputs_per_second": round(inputs / elapsed) if elapsed else 0,
        "foreign_exceptions": len(crashes),
        "artifacts": crashes,
        "exit": done.returncode,
        "reasons": reasons,
        "corpus_files": sum(1 for _ in corpus.iterdir()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("targets", nargs="*", help="targets to run (default: all)")
    parser.add_argument("--runs", type=int, default=200_000, help="inputs per target (200000)")
    parser.add_argument(
        "--seconds", type=int, default=590, help="at most this long per target (590)"
    )
    parser.add_argument(
        "--work", type=Path, default=ROOT / ".fuzz-campaign", help="corpus, logs, crashes"
    )
    parser.add_argument("--nice", type=int, default=10, help="niceness of the fuzzers (10)")
    parser.add_argument("--list", action="store_true", help="list the targets and stop")
    args = parser.parse_args(argv)

    names, seeds = _targets()
    if args.list:
        print("\n".join(names))
        return 0
    unknown = sorted(set(args.targets) - set(names))
    if unknown:
        parser.error(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(names)}")
    chosen = args.targets or names
    work = args.work.resolve()
    results = []
    for name in chosen:
        _seed(work / "corpus" / name, seeds[name])
        print(f"fuzzing {name}: up to {args.runs} inputs or {args.seconds} s ...", flush=True)
        result = _run(name, work, args.runs, args.seconds, args.nice)
        results.append(result)
        print(
            f"  {result['inputs']} inputs in {result['seconds']} s, "
            f"{result['foreign_exceptions']} foreign exceptions",
            flush=True,
        )
    summary = {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "runs_asked": args.runs,
        "results": results,
    }
    (work / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"\n{'target':<16}{'inputs':>10}{'seconds':>10}{'inputs/s':>10}{'foreign':>9}")
    for r in results:
        print(
            f"{r['target']:<16}{r['inputs']:>10}{r['seconds']:>10}"
            f"{r['inputs_per_second']:>10}{r['foreign_exceptions']:>9}"
        )
    failed = [r for r in results if r["foreign_exceptions"] or int(str(r["inputs"])) < args.runs]
    for r in failed:
        print(
            f"{r['target']}: {r['reasons'] or r['artifacts'] or 'stopped early'}", file=sys.stderr
        )
    print(f"summary: {work / 'summary.json'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
