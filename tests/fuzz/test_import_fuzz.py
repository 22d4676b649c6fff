"""Bounded fuzz runs of the import targets: certificates (DER, PEM, .p12), keys, CRLs, SCL.

Hypothesis mutates the real seed files (bit flips, overwritten, inserted and deleted bytes,
cuts) and also feeds plain random bytes; every target may only raise an OucError. The long,
coverage-guided campaign over the same targets is ``tests/fuzz/campaign.py``.
"""

from __future__ import annotations

from types import ModuleType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ouc.errors import CertError, OucError

IMPORT_NAMES = ("cert_der", "cert_pem", "key", "crl", "p12", "scl", "params_json", "layout_json")
EXAMPLES = {"key": 60, "p12": 80}  # the slower parsers; the rest get 150

_EDIT = st.tuples(st.integers(0, 5), st.integers(0, 2**16), st.integers(0, 255))


def _apply(seed: bytes, edits: list[tuple[int, int, int]]) -> bytes:
    data = bytearray(seed)
    for op, at, value in edits:
        where = at % (len(data) + 1)
        if op == 0 and data:
            data[where % len(data)] = value
        elif op == 1 and data:
            data[where % len(data)] ^= 1 << (value % 8)
        elif op == 2:
            data.insert(where, value)
        elif op == 3:
            del data[where : where + value % 16 + 1]
        elif op == 4:
            del data[where:]
        else:  # a DER length byte made large: the classic way to reach the length checks
            data[where % len(data) if data else 0 : where + 1] = b"\x82\xff\xff"
    return bytes(data)


@pytest.mark.parametrize("name", IMPORT_NAMES)
def test_import_target(targets: ModuleType, name: str) -> None:
    seeds = targets.seeds()[name]
    assert seeds, f"no seeds for {name}"
    mutated = st.builds(_apply, st.sampled_from(seeds), st.lists(_EDIT, min_size=1, max_size=4))
    inputs = st.one_of(mutated, mutated, st.binary(max_size=64))

    @settings(
        max_examples=EXAMPLES.get(name, 150),
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(inputs)
    def run(data: bytes) -> None:
        targets.TARGETS[name](data)

    run()


def test_the_import_seeds_are_real_and_deep(targets: ModuleType) -> None:
    # Every seed passes its target (so mutations start from valid files), and the targets
    # refuse a damaged SAN with the store's own error rather than accepting or crashing.
    seeds = targets.seeds()
    for name in IMPORT_NAMES:
        for seed in seeds[name]:
            targets.TARGETS[name](seed)
    der = seeds["cert_der"][3]  # certificate 9 of the standard example, with an IP SAN
    san = bytes.fromhex("0603551d11")  # the subjectAltName OID
    at = der.index(san) + len(san)
    damaged = der[:at] + der[at:].replace(b"\x30", b"\x31", 1)  # the SAN's SEQUENCE → SET
    from ouc.certs._formats import load_bundle

    with pytest.raises(CertError):
        load_bundle(damaged, suffix=".der")
    with pytest.raises(OucError):
        targets._IMPORTS.scl(b'DATA_BLOCK""{S:=')
