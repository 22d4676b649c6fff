"""Coverage-guided fuzzing of one target of ``targets.py`` with atheris (libFuzzer).

Usage::

    python tests/fuzz/run_atheris.py TARGET [libFuzzer options] [CORPUS_DIR ...]
    python tests/fuzz/run_atheris.py params -max_total_time=600 corpus/params

TARGET is one of ``targets.TARGETS`` (params, layout_standard, layout_nested, tpdu, stream,
cert_der, cert_pem, key, crl, p12, scl); ``campaign.py`` runs them all, one after another.
The ``ouc`` modules are imported under ``atheris.instrument_imports`` so libFuzzer gets coverage
feedback from them; a target raising anything but an OucError is a crash: libFuzzer writes the
input to ``crash-*`` and exits non-zero. Without ``-runs``/``-max_total_time`` it runs forever.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path


def _selftest_crash(data: bytes) -> None:
    """A target with a planted bug, so the suite can prove a crash is reported as one."""
    if data[:1] == b"!":
        raise IndexError("planted bug: this is what a crash looks like")


def main(argv: list[str]) -> int:
    import atheris

    with atheris.instrument_imports(include=["ouc"]):
        spec = importlib.util.spec_from_file_location(
            "ouc_fuzz_targets", Path(__file__).with_name("targets.py")
        )
        assert spec is not None and spec.loader is not None
        targets = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(targets)
    chosen = {**targets.TARGETS, "selftest-crash": _selftest_crash}
    if len(argv) < 2 or argv[1] not in chosen:
        names = ", ".join(targets.TARGETS)
        print(f"usage: {argv[0]} TARGET [options]; TARGET is one of {names}", file=sys.stderr)
        return 2
    atheris.Setup([argv[0], *argv[2:]], chosen[argv[1]])
    atheris.Fuzz()
    return 0  # not reached: libFuzzer exits the process itself


if __name__ == "__main__":
    sys.exit(main(sys.argv))
