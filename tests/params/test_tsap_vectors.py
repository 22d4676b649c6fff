"""The local-TSAP rules (16#80B4) on golden blocks made with struct, independently of ouc's codec.

tests/vectors/tsap/make_vectors.py wrote each ``NAME.bin`` and its ``NAME.txt`` (the device, the
expected finding, the packing expression): one vector per case of TCON's 16#80B4 row in
domain.md §2 and per TSAP-structure rule, and valid blocks at the boundaries.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from ouc.device import Device
from ouc.params import parse, validate

VECTORS = Path(__file__).parents[1] / "vectors" / "tsap"
NAMES = sorted(p.stem for p in VECTORS.glob("*.bin"))


def _note(name: str) -> dict[str, str]:
    lines = (VECTORS / f"{name}.txt").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.startswith(("device: ", "expect: ")))


def test_the_vectors_cover_every_case_of_tcons_80B4_row() -> None:
    expects = [_note(name)["expect"] for name in NAMES]
    assert len(NAMES) >= 14
    assert sum(e.startswith("16#80B4 tsap_invalid") for e in expects) >= 5
    assert sum(e.startswith("16#80B4 tsap_structure") for e in expects) >= 5
    assert expects.count("none") >= 4
    for name in NAMES:
        note = (VECTORS / f"{name}.txt").read_text()
        assert "struct" in note and (VECTORS / f"{name}.bin").read_bytes().hex(" ") in note


@pytest.mark.parametrize("name", NAMES)
def test_vector_gets_its_finding(name: str) -> None:
    note = _note(name)
    family, firmware = note["device"].split()
    findings = validate(
        parse((VECTORS / f"{name}.bin").read_bytes()),
        device=Device.from_text(family, firmware),
    )
    got = [f"{f.status_text} {f.rule} {f.path}" for f in findings]
    assert got == ([] if note["expect"] == "none" else [note["expect"]])
