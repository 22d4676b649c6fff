"""Smoke runs of the fuzz harness: every target, fed by hypothesis and (when installed) atheris.

The same target functions run two ways: a bounded number of hypothesis inputs built from the
public strategies (always), and a few seconds of coverage-guided atheris per target (when
atheris is importable). Either way a target may only raise OucError subclasses.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ouc.errors import DataBlockError, FramingError, OucError, ParamError
from ouc.framing import encode_message
from ouc.params import build
from ouc.strategies import (
    byte_images,
    frames_split,
    layout_values,
    mutated_bytes,
    tpkt_garbage,
    valid_blocks,
)

NAMES = (
    "params",
    "layout_standard",
    "layout_nested",
    "tpdu",
    "stream",
    "cert_der",
    "cert_pem",
    "key",
    "crl",
    "p12",
    "scl",
    "params_json",
    "layout_json",
)
ATHERIS_SECONDS = 1  # per target; the five run in parallel
HAVE_ATHERIS = importlib.util.find_spec("atheris") is not None
NO_ATHERIS = (
    "atheris is not installed (pip install atheris: manylinux wheels for CPython 3.11 x86-64); "
    "the coverage-guided runs are skipped, the hypothesis runs of the same targets still run"
)


def test_the_targets_are_the_promised_ones(targets: ModuleType) -> None:
    assert tuple(targets.TARGETS) == NAMES
    assert set(targets.seeds()) == set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_seed_corpus_passes_its_target(targets: ModuleType, name: str) -> None:
    seeds = targets.seeds()[name]
    assert seeds
    for seed in seeds:
        targets.TARGETS[name](seed)


def test_the_guard_lets_bugs_through_and_parser_errors_not(targets: ModuleType) -> None:
    def parser_error(data: bytes) -> None:
        raise FramingError("bad packet", status=0x80C6)

    def bug(data: bytes) -> None:
        raise IndexError("a bug")

    def silent_error(data: bytes) -> None:
        raise ParamError("")

    targets._only_ouc_errors(parser_error)(b"")
    with pytest.raises(IndexError):
        targets._only_ouc_errors(bug)(b"")
    with pytest.raises(AssertionError, match="without a message"):
        targets._only_ouc_errors(silent_error)(b"")


def test_the_layout_targets_reach_the_decoder(targets: ModuleType) -> None:
    # A target whose inputs all die at the length check would fuzz nothing: check that a
    # zero-prefixed, sized input decodes and a value error comes from deep inside.
    standard = targets.layout("standard")
    assert standard.size == 258
    assert targets._sized(b"\x01" + standard.encode(), 258) == standard.encode()
    bad = bytearray(standard.encode())
    bad[3] = 255  # String current length beyond its maximum of 254
    with pytest.raises(DataBlockError) as info:
        standard.decode(bytes(bad))
    assert info.value.path == "Var2"


@settings(max_examples=150)
@given(st.one_of(mutated_bytes(), valid_blocks().map(build), st.binary(max_size=300)))
def test_params_target(targets: ModuleType, data: bytes) -> None:
    targets.TARGETS["params"](data)


def _mutated(image: bytes, edits: list[tuple[int, int]]) -> bytes:
    data = bytearray(image)
    for at, value in edits:
        data[at % len(data)] = value
    return bytes(data)


def _layout_inputs(targets: ModuleType, name: str) -> st.SearchStrategy[bytes]:
    plan = targets.layout(name)
    edits = st.lists(st.tuples(st.integers(0, plan.size - 1), st.integers(0, 255)), max_size=4)
    encoded = st.builds(_mutated, layout_values(plan).map(plan.encode), edits)
    return st.one_of(
        st.builds(lambda image: b"\x01" + image, encoded),
        st.builds(lambda image: b"\x01" + image, byte_images(plan)),
        st.binary(max_size=plan.size + 8),
    )


@pytest.mark.parametrize("name", ["layout_standard", "layout_nested"])
def test_layout_targets(targets: ModuleType, name: str) -> None:
    @settings(max_examples=120)
    @given(_layout_inputs(targets, name))
    def run(data: bytes) -> None:
        targets.TARGETS[name](data)

    run()


_ISO = st.one_of(
    tpkt_garbage(),
    st.builds(encode_message, st.binary(max_size=400), st.sampled_from([128, 256, 1024])),
)


@settings(max_examples=150)
@given(st.integers(0, 255), _ISO)
def test_tpdu_target(targets: ModuleType, head: int, stream: bytes) -> None:
    targets.TARGETS["tpdu"](bytes([head]) + stream)


@settings(max_examples=100)
@given(st.integers(0, 255), st.binary(max_size=200).flatmap(lambda b: frames_split([b])))
def test_stream_target(targets: ModuleType, head: int, chunks: list[bytes]) -> None:
    targets.TARGETS["stream"](bytes([head]) + b"".join(chunks))


def test_only_ouc_errors_escape_the_raw_parsers() -> None:
    # The guard must not hide that parse errors really are OucErrors with a status.
    from ouc.params import parse

    with pytest.raises(OucError) as info:
        parse(b"\x00" * 3)
    assert info.value.status is not None


# --------------------------------------------------------------------------- atheris


def _run_atheris(fuzz_dir: Path, name: str, corpus: Path, *options: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(fuzz_dir / "run_atheris.py"), name, *options, str(corpus)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=corpus.parent,
    )


@pytest.mark.skipif(not HAVE_ATHERIS, reason=NO_ATHERIS)
def test_atheris_runs_every_target_briefly(
    targets: ModuleType, fuzz_dir: Path, tmp_path: Path
) -> None:
    runs: dict[str, subprocess.Popen[str]] = {}
    for name in NAMES:
        corpus = tmp_path / name
        corpus.mkdir()
        for index, seed in enumerate(targets.seeds()[name]):
            (corpus / f"seed-{index}").write_bytes(seed)
        runs[name] = _run_atheris(
            fuzz_dir,
            name,
            corpus,
            f"-max_total_time={ATHERIS_SECONDS}",
            "-runs=200000",
            f"-artifact_prefix={tmp_path}/{name}-",
        )
    deadline = time.monotonic() + 180  # eleven processes start at once on a busy machine
    failures = []
    for name, proc in runs.items():
        try:
            output, _ = proc.communicate(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            output, _ = proc.communicate()
            failures.append(f"{name}: did not stop in time")
            continue
        if proc.returncode != 0 or "Done" not in output:
            failures.append(f"{name}: exit {proc.returncode}\n{output[-3000:]}")
    assert not failures, "\n".join(failures)
    assert not list(tmp_path.glob("*crash-*"))


@pytest.mark.skipif(not HAVE_ATHERIS, reason=NO_ATHERIS)
def test_atheris_reports_a_crash(fuzz_dir: Path, tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "seed").write_bytes(b"!")
    proc = _run_atheris(
        fuzz_dir, "selftest-crash", corpus, "-runs=100", f"-artifact_prefix={tmp_path}/"
    )
    output, _ = proc.communicate(timeout=60)
    assert proc.returncode != 0
    assert "planted bug" in output
    assert list(tmp_path.glob("crash-*"))
