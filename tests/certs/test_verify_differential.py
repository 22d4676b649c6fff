"""ouc's verifier against two independent ones: cryptography's and ``openssl verify``.

``verify_peer_chain`` is hand-written because the PLC needs a status code per failure, the
emulated clock, CRLs and the SHA-1 legacy CA. So every chain hypothesis draws (one fault of
``chains.FAULTS`` on a chain of 0–3 intermediates, for a server or a client peer) is verified by
ouc, by ``cryptography.x509.verification`` (``PolicyBuilder`` with a fixed time) and, when it is
on PATH, by ``openssl verify -attime``. Their verdicts (accept / refuse) must agree, except where
:data:`DIFFERENCES` names a fault on which ouc differs on purpose, with the reason; there the test
asserts that they *do* differ, so the list cannot go stale.

Examples per run: ``OUC_DIFF_EXAMPLES`` (default 60 in the suite; the long mode is e.g.
``OUC_DIFF_EXAMPLES=3000 pytest tests/certs/test_verify_differential.py``).
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from chains import EXPECTED_RULE, FAULTS, SERVER_ONLY, Case, build_case
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.verification import PolicyBuilder, Store, VerificationError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ouc.certs import verify_peer_chain
from ouc.device import Role
from ouc.errors import CertError

EXAMPLES = int(os.environ.get("OUC_DIFF_EXAMPLES", "60"))
OPENSSL = shutil.which("openssl")

#: (fault, verifier) → why ouc's verdict differs from that verifier's on purpose.
DIFFERENCES: dict[tuple[str, str], str] = {
    ("revoked", "cryptography"): "cryptography's verifier takes no CRLs; ouc honours the "
    "CRLs it is given (the PC side's trusted/crl, domain.md §8)",
    ("crl-bad-signature", "cryptography"): "no CRL support in cryptography's verifier (above)",
    ("sha1-legacy-good", "cryptography"): "cryptography forbids SHA-1 outright; a PLC project "
    "still accepts SHA-1 from its legacy CA 1 (domain.md §7)",
    ("sha1-not-legacy", "openssl"): "openssl verify accepts SHA-1 at its default security "
    "level; ouc refuses SHA-1 from any CA but the legacy one (domain.md §7)",
    ("anchor-without-basic-constraints", "openssl"): "openssl trusts a certificate in its "
    "CAfile without asking whether it is a CA; ouc, like cryptography, requires CA:TRUE of "
    "every issuer, anchors included (inference: the certificate manager issues from CAs only)",
    ("leaf-key-usage", "cryptography"): "cryptography's policy does not check an end-entity "
    "KeyUsage; ouc (like openssl's ssl purposes) refuses a KeyUsage unfit for TLS",
}


def _ouc(case: Case) -> str | None:
    crl = case.crl()
    try:
        verify_peer_chain(
            case.leaf,
            anchors=case.anchors,
            intermediates=case.intermediates,
            now=case.now,
            expected_address=case.expected_address,
            crls=[] if crl is None else [crl],
            peer_role=Role.PASSIVE if case.peer_is_server else Role.ACTIVE,
            legacy_anchors=[case.root] if case.legacy_root else [],
        )
    except CertError as exc:
        assert exc.rule is not None
        return exc.rule
    return None


def _cryptography(case: Case) -> str | None:
    builder = PolicyBuilder().store(Store(case.anchors)).time(case.now)
    try:
        if case.peer_is_server:
            address = ipaddress.ip_address(case.expected_address or "0.0.0.0")
            builder.build_server_verifier(x509.IPAddress(address)).verify(
                case.leaf, case.intermediates
            )
        else:
            builder.build_client_verifier().verify(case.leaf, case.intermediates)
    except VerificationError as exc:
        return str(exc)
    return None


def _pem(path: Path, certs: list[x509.Certificate]) -> str:
    path.write_bytes(b"".join(cert.public_bytes(Encoding.PEM) for cert in certs))
    return str(path)


def _openssl(case: Case) -> str | None:
    assert OPENSSL is not None
    with tempfile.TemporaryDirectory() as folder:
        here = Path(folder)
        args = [OPENSSL, "verify", "-attime", str(int(case.now.timestamp()))]
        args += ["-CAfile", _pem(here / "ca.pem", case.anchors)]
        args += ["-purpose", "sslserver" if case.peer_is_server else "sslclient"]
        if case.intermediates:
            args += ["-untrusted", _pem(here / "chain.pem", case.intermediates)]
        if case.pin_leaf:
            args.append("-partial_chain")
        if case.expected_address is not None:
            args += ["-verify_ip", case.expected_address]
        crl = case.crl()
        if crl is not None:
            (here / "crl.pem").write_bytes(crl.public_bytes(Encoding.PEM))
            args += ["-crl_check", "-CRLfile", str(here / "crl.pem")]
        args.append(_pem(here / "leaf.pem", [case.leaf]))
        done = subprocess.run(args, capture_output=True, text=True, timeout=30, check=False)
    return None if done.returncode == 0 else (done.stderr or done.stdout).strip()


def _compare(fault: str, name: str, ours: str | None, theirs: str | None) -> None:
    differs = (ours is None) != (theirs is None)
    reason = DIFFERENCES.get((fault, name))
    if reason is None:
        assert not differs, (
            f"{fault}: ouc says {ours or 'accept'}, {name} says {theirs or 'accept'}"
        )
    else:
        assert differs, f"{fault}: documented difference with {name} no longer holds ({reason})"


_cases = st.builds(
    build_case,
    fault=st.sampled_from(sorted(FAULTS)),
    depth=st.integers(0, 3),
    server=st.booleans(),
)
_SETTINGS = settings(
    max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)


@_SETTINGS
@given(case=_cases)
def test_ouc_agrees_with_cryptography(case: Case) -> None:
    fault = case.fault
    ours = _ouc(case)
    assert ours == EXPECTED_RULE[fault]
    _compare(fault, "cryptography", ours, _cryptography(case))


@pytest.mark.openssl
@pytest.mark.skipif(OPENSSL is None, reason="openssl is not on PATH")
@_SETTINGS
@given(case=_cases)
def test_ouc_agrees_with_openssl_verify(case: Case) -> None:
    fault = case.fault
    ours = _ouc(case)
    assert ours == EXPECTED_RULE[fault]
    _compare(fault, "openssl", ours, _openssl(case))


_EVERY = [(f, s) for f in sorted(FAULTS) for s in (True, False) if s or f not in SERVER_ONLY]


@pytest.mark.parametrize(("fault", "server"), _EVERY)
def test_every_fault_once_against_both(fault: str, server: bool) -> None:
    """Hypothesis may not draw every fault in a short run; this covers each one every time."""
    case = build_case(fault, 1, server=server)
    ours = _ouc(case)
    assert ours == EXPECTED_RULE[fault]
    _compare(fault, "cryptography", ours, _cryptography(case))
    if OPENSSL is not None:
        _compare(fault, "openssl", ours, _openssl(case))


def test_every_documented_difference_names_a_known_fault() -> None:
    assert {fault for fault, _ in DIFFERENCES} <= set(FAULTS)
    assert all(reason for reason in DIFFERENCES.values())
