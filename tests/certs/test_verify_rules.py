"""Each verification rule alone: the chain breaks that rule and no other, and the test asserts
which rule fired (``CertError.rule``), its PLC status and what the message names — several rules
share one status, so the status alone cannot tell a dropped check from a neighbouring one."""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import ipaddress

import pytest
from chains import (
    DAY,
    EXPECTED_RULE,
    FAULTS,
    LEAF_DNS,
    LEAF_IP,
    NOW,
    SERVER_ONLY,
    Case,
    CertSpec,
    base_case,
    build_case,
    ca_spec,
    make_cert,
    pool_key,
)
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID

import ouc.certs._verify as verify_module
from ouc.certs import VERIFY_RULES, verify_peer_chain
from ouc.certs._sha1 import _elements, _tlv, resign_sha1
from ouc.device import Device, Family, Role
from ouc.errors import CertError


def _verify(case: Case, **kw: object) -> list[x509.Certificate]:
    crl = case.crl()
    args: dict[str, object] = {
        "anchors": case.anchors,
        "intermediates": case.intermediates,
        "now": case.now,
        "expected_address": case.expected_address,
        "crls": [] if crl is None else [crl],
        "peer_role": Role.PASSIVE if case.peer_is_server else Role.ACTIVE,
        "legacy_anchors": [case.root] if case.legacy_root else [],
    }
    args.update(kw)
    return verify_peer_chain(case.leaf, **args)  # type: ignore[arg-type]


def _refused(case: Case, **kw: object) -> CertError:
    with pytest.raises(CertError) as info:
        _verify(case, **kw)
    return info.value


RSA_4096 = rsa.generate_private_key(public_exponent=65537, key_size=4096)

#: What each rule's message must name, for the chain that breaks it (fault → fragment).
MESSAGES = {
    "expired-leaf": "certificate CN=PLC leaf expired 2026-05-31 00:00:00Z",
    "not-yet-valid-leaf": "certificate CN=PLC leaf is not valid before 2026-06-02 00:00:00Z",
    "expired-ca": "certificate CN=Intermediate 1 expired",
    "unknown-ca": "no trusted CA for CN=PLC leaf (issuer CN=Intermediate 1)",
    "self-signed-leaf": "unknown self-signed certificate CN=PLC leaf",
    "wrong-issuer-name": "no trusted CA for CN=PLC leaf (issuer CN=Nobody CA)",
    "bad-signature": "certificate CN=PLC leaf or its chain has a bad signature",
    "issuer-not-ca": "CN=Intermediate 1 signed a certificate but is not a CA",
    "issuer-without-basic-constraints": "CN=Intermediate 1 signed a certificate but is not a CA",
    "anchor-without-basic-constraints": "CN=Root CA signed a certificate but is not a CA",
    "issuer-without-key-cert-sign": "CA CN=Intermediate 1 has no keyCertSign key usage",
    "path-length-exceeded": "CA CN=Intermediate 1 allows 0 intermediate CAs below it",
    "leaf-key-usage": "its KeyUsage does not allow use as a TLS",
    "leaf-wrong-eku": "its ExtendedKeyUsage forbids use as a TLS",
    "san-mismatch": "certificate CN=PLC leaf has no subjectAltName matching 10.9.9.9",
    "unknown-critical-extension": "unsupported critical extension 1.3.6.1.4.1.55555.1",
    "revoked": "certificate CN=PLC leaf (serial",
    "crl-bad-signature": "revocation list of CN=Intermediate 1 has a bad signature",
    "sha1-legacy-bad-signature": "certificate CN=PLC leaf or its chain has a bad signature",
    "sha1-not-legacy": "CN=PLC leaf is SHA-1 signed and its issuer is not the legacy CA",
    "incomplete-chain": "no trusted CA for CN=PLC leaf (issuer CN=Intermediate 1)",
}

_REFUSED = [
    (fault, server)
    for fault in sorted(FAULTS)
    if EXPECTED_RULE[fault] is not None
    for server in (True, False)
    if server or fault not in SERVER_ONLY
]


@pytest.mark.parametrize(("fault", "server"), _REFUSED)
def test_each_fault_fires_its_rule_with_its_status_and_message(fault: str, server: bool) -> None:
    error = _refused(build_case(fault, 1, server=server))
    rule = EXPECTED_RULE[fault]
    assert error.rule == rule
    assert error.status == VERIFY_RULES[rule]
    assert MESSAGES[fault] in error.message
    if fault in ("leaf-key-usage", "leaf-wrong-eku"):
        assert error.message.endswith("TLS server" if server else "TLS client")


@pytest.mark.parametrize("fault", [f for f in sorted(FAULTS) if EXPECTED_RULE[f] is None])
@pytest.mark.parametrize("server", [True, False])
def test_accepted_chains_return_the_path_leaf_to_anchor(fault: str, server: bool) -> None:
    case = build_case(fault, 1, server=server)
    path = _verify(case)
    assert path == ([case.leaf] if case.pin_leaf else [case.leaf, *case.intermediates, case.root])


def test_every_rule_has_a_chain_that_breaks_it_alone() -> None:
    """The rules not reachable from FAULTS are proven by the tests below."""
    by_faults = {rule for rule in EXPECTED_RULE.values() if rule is not None}
    assert set(VERIFY_RULES) - by_faults == {
        "malformed-extensions",
        "signature-algorithm",
        "key-type",
    }


def test_malformed_extensions_alone() -> None:
    """A BasicConstraints extension whose value is not DER: cryptography cannot parse it."""
    case = base_case(0).build()
    bad = (
        x509.CertificateBuilder()
        .subject_name(case.leaf.subject)
        .issuer_name(case.root.subject)
        .public_key(pool_key(20).public_key())
        .serial_number(11)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.UnrecognizedExtension(ExtensionOID.BASIC_CONSTRAINTS, b"\x01"), False)
        .sign(pool_key(0), hashes.SHA256())
    )
    with pytest.raises(CertError) as info:
        verify_peer_chain(bad, anchors=[bad], now=NOW, peer_role=Role.PASSIVE)
    assert info.value.rule == "malformed-extensions"
    assert info.value.status == VERIFY_RULES["malformed-extensions"]
    assert info.value.message.startswith("certificate CN=PLC leaf has malformed extensions: ")


def _with_signature_oid(cert: x509.Certificate, oid_der: bytes) -> x509.Certificate:
    """``cert`` re-encoded with another signature AlgorithmIdentifier (inside and outside)."""
    algorithm = _tlv(0x30, oid_der)
    tbs = _elements(cert.tbs_certificate_bytes)
    tbs[2] = algorithm  # [0] version, serial, signature
    body = _tlv(0x30, b"".join(tbs)) + algorithm + _tlv(0x03, b"\x00" + cert.signature)
    return x509.load_der_x509_certificate(_tlv(0x30, body))


def test_unsupported_signature_algorithm_alone() -> None:
    """A pinned certificate (no signature to check) with an unknown signature algorithm."""
    case = base_case(0).build()
    odd = _with_signature_oid(case.leaf, bytes.fromhex("06092b0601040182dc0101"))
    with pytest.raises(CertError) as info:
        verify_peer_chain(odd, anchors=[odd], now=NOW, peer_role=Role.PASSIVE)
    assert info.value.rule == "signature-algorithm"
    assert info.value.status == VERIFY_RULES["signature-algorithm"]
    assert "CN=PLC leaf uses an unsupported signature algorithm" in info.value.message


# --- Boundaries: each limit is tested on both sides ---------------------------------------


def test_validity_bounds_are_inclusive() -> None:
    case = base_case(0).build()
    _verify(case, now=case.leaf.not_valid_before_utc)
    _verify(case, now=case.leaf.not_valid_after_utc)
    assert _refused(case, now=case.leaf.not_valid_after_utc + dt_second()).rule == "expired"
    assert _refused(case, now=case.leaf.not_valid_before_utc - dt_second()).rule == "not-yet-valid"


def dt_second() -> object:

    return dt.timedelta(seconds=1)


def test_depth_limit_is_six_intermediates() -> None:
    """leaf + 6 intermediates + anchor = 8 certificates is the longest path built."""
    longest = base_case(6).build()
    assert len(_verify(longest)) == 8
    too_long = base_case(7).build()
    error = _refused(too_long)
    assert error.rule == "no-anchor"


@pytest.mark.parametrize("below", [1, 2])
def test_path_length_allows_exactly_its_count(below: int) -> None:
    """Intermediate 1 with pathLen N accepts N CA certificates below it, refuses N + 1."""
    case = base_case(1 + below)
    case.specs[1] = dataclasses.replace(case.specs[1], path_length=below)
    _verify(case.build())
    case.specs[1] = dataclasses.replace(case.specs[1], path_length=below - 1)
    assert _refused(case.build()).rule == "path-length"


def test_issuer_ca_flag_alone_is_checked() -> None:
    """CA:FALSE but keyCertSign present: only the CA-flag rule can refuse this issuer."""
    case = base_case(1)
    case.specs[1] = dataclasses.replace(case.specs[1], ca=False)
    error = _refused(case.build())
    assert error.rule == "not-a-ca"


def test_issuer_without_key_usage_extension_is_accepted() -> None:
    """RFC 5280: keyCertSign is required only when KeyUsage is present."""
    case = base_case(1)
    case.specs[1] = dataclasses.replace(case.specs[1], key_usage=None)
    _verify(case.build())


@pytest.mark.parametrize(
    ("usage", "server", "ok"),
    [
        ({"digital_signature"}, True, True),
        ({"key_agreement"}, True, True),
        ({"key_encipherment"}, True, True),  # RSA key transport: servers only
        ({"key_encipherment"}, False, False),
        ({"data_encipherment"}, True, False),
        ({"digital_signature"}, False, True),
        ({"key_agreement"}, False, True),
    ],
)
def test_leaf_key_usage_per_role(usage: set[str], server: bool, ok: bool) -> None:
    case = base_case(0, server=server)
    case.specs[-1] = dataclasses.replace(case.specs[-1], key_usage=frozenset(usage))
    if not server:
        case.expected_address = None
    if ok:
        _verify(case.build())
    else:
        assert _refused(case.build()).rule == "key-usage"


@pytest.mark.parametrize("server", [True, False])
def test_any_extended_key_usage_and_no_eku_are_accepted(server: bool) -> None:
    for eku in ((ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE,), None):
        case = base_case(0, server=server)
        case.specs[-1] = dataclasses.replace(case.specs[-1], eku=eku)
        if not server:
            case.expected_address = None
        _verify(case.build())


@pytest.mark.parametrize(
    ("expected", "ok"),
    [
        (LEAF_IP, True),
        (f" {LEAF_IP} ", True),
        (LEAF_DNS, True),
        (LEAF_DNS.upper() + ".", True),
        ("other.example", False),
        ("10.0.0.2", False),
    ],
)
def test_subject_alt_name_matching(expected: str, ok: bool) -> None:
    case = base_case(0).build()
    if ok:
        _verify(case, expected_address=expected)
    else:
        error = _refused(case, expected_address=expected)
        assert error.rule == "subject-alt-name"
        assert f"matching {expected}" in error.message


def test_wildcard_covers_one_label_only() -> None:
    case = base_case(0).build()
    root, leaf_spec = case.specs[0], case.specs[-1]
    wildcard = (
        x509.CertificateBuilder()
        .subject_name(case.leaf.subject)
        .issuer_name(case.root.subject)
        .public_key(pool_key(leaf_spec.key).public_key())
        .serial_number(99)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("*.plant.example")]), False)
        .sign(pool_key(root.key), hashes.SHA256())
    )
    verify_peer_chain(
        wildcard,
        anchors=[case.root],
        now=NOW,
        peer_role=Role.PASSIVE,
        expected_address="plc7.plant.example",
    )
    for wrong in ("a.b.plant.example", "plant.example", "plc7.other.example", "plant"):
        with pytest.raises(CertError) as info:
            verify_peer_chain(
                wildcard,
                anchors=[case.root],
                now=NOW,
                peer_role=Role.PASSIVE,
                expected_address=wrong,
            )
        assert info.value.rule == "subject-alt-name"


def test_no_subject_alt_name_at_all_fails_the_check() -> None:
    case = base_case(0)
    case.specs[-1] = dataclasses.replace(case.specs[-1], sans=False)
    assert _refused(case.build()).rule == "subject-alt-name"


def test_revocation_list_of_another_ca_is_ignored() -> None:
    """A CRL applies to the certificates its issuer signed, found by name: another CA's list
    that happens to name the leaf's serial changes nothing."""
    case = base_case(1).build()
    foreign = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "Unrelated CA")]))
        .last_update(NOW - DAY)
        .next_update(NOW + DAY)
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(case.leaf.serial_number)
            .revocation_date(NOW - DAY)
            .build()
        )
        .sign(pool_key(90), hashes.SHA256())
    )
    assert len(_verify(case, crls=[foreign])) == 3
    case.revoke_leaf = True
    assert _refused(case).rule == "revoked"


def test_legacy_anchor_must_be_the_issuer_itself() -> None:
    """SHA-1 is accepted only from the legacy CA: a leaf under an intermediate of it is not."""
    case = base_case(1)
    case.specs[-1] = dataclasses.replace(case.specs[-1], sha1=True)
    case.legacy_root = True
    assert _refused(case.build()).rule == "sha1"


def test_the_leaf_and_only_the_leaf_may_be_pinned() -> None:
    case = base_case(1).build()
    assert _verify(case, anchors=[case.leaf]) == [case.leaf]
    # Pinning the intermediate makes it the anchor of a two-certificate path.
    assert _verify(case, anchors=[case.certs[1]]) == [case.leaf, case.certs[1]]


def test_empty_subject_is_named_in_messages() -> None:
    case = base_case(0)
    case.build()
    empty = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(case.root.subject)
        .public_key(pool_key(21).public_key())
        .serial_number(5)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW - DAY / 2)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("x.example")]), False)
        .sign(pool_key(0), hashes.SHA256())
    )
    with pytest.raises(CertError) as info:
        verify_peer_chain(empty, anchors=[case.root], now=NOW, peer_role=Role.PASSIVE)
    assert info.value.message.startswith("certificate <empty subject> expired")


# --- The signature cache -----------------------------------------------------------------


def test_a_bad_signature_is_refused_every_time() -> None:
    """Only successes are cached: the second check of a bad certificate must fail again."""
    case = build_case("bad-signature", 0, server=True)
    for _ in range(2):
        assert _refused(case).rule == "bad-signature"


def test_a_bad_sha1_signature_is_refused_every_time() -> None:
    case = build_case("sha1-legacy-bad-signature", 0, server=True)
    for _ in range(2):
        assert _refused(case).rule == "bad-signature"


def test_signed_by_verdicts() -> None:
    case = base_case(0).build()
    assert verify_module.signed_by(case.leaf, case.root) is True
    forged = build_case("bad-signature", 0, server=True)
    assert verify_module.signed_by(forged.leaf, forged.root) is False
    other = make_cert(ca_spec("Unrelated CA", 90), None)
    # Names differ: cryptography says "not the issuer" (None), not "bad signature".
    assert verify_module.signed_by(case.leaf, other) is None


def test_signature_cache_stays_within_its_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "_VERIFIED", set())
    monkeypatch.setattr(verify_module, "_VERIFIED_MAX", 2)
    root_spec = ca_spec("Root CA", 0)
    root = make_cert(root_spec, None)
    for index in range(3):
        leaf = make_cert(CertSpec(name=f"leaf {index}", key=30 + index), root_spec)
        assert verify_module.signed_by(leaf, root) is True
        assert len(verify_module._VERIFIED) <= 2
    assert len(verify_module._VERIFIED) == 1  # cleared when full, then the newest added


# --- Path building: same-named CAs, self-issued certificates, several CRLs -----------------


def _named(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, text)])


def _issue(
    subject: str, issuer: str, key: int, signer: int, *, ca: bool = True
) -> x509.Certificate:
    builder = (
        x509.CertificateBuilder()
        .subject_name(_named(subject))
        .issuer_name(_named(issuer))
        .public_key(pool_key(key).public_key())
        .serial_number(1000 + key)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LEAF_IP))]), False
        )
    return builder.sign(pool_key(signer), hashes.SHA256())


def test_renewed_ca_with_a_new_key_beside_the_old_one() -> None:
    """Two anchors share a name (a CA renewed with a new key): the first one tried has the
    wrong key, the search goes on to the second."""
    old, new = _issue("Plant CA", "Plant CA", 40, 40), _issue("Plant CA", "Plant CA", 41, 41)
    leaf = _issue("PLC", "Plant CA", 42, 41, ca=False)
    assert verify_peer_chain(leaf, anchors=[old, new], now=NOW, peer_role=Role.PASSIVE) == [
        leaf,
        new,
    ]


def test_self_issued_intermediate_already_on_the_path_is_skipped() -> None:
    """A key-rollover link certificate A (subject = issuer = X, signed by B's key) and B (X,
    issued by the root): from A the search meets A again (skipped) and then B."""
    root = _issue("Root", "Root", 43, 43)
    b_cert = _issue("X", "Root", 44, 43)
    a_cert = _issue("X", "X", 45, 44)
    leaf = _issue("PLC", "X", 46, 45, ca=False)
    path = verify_peer_chain(
        leaf, anchors=[root], intermediates=[a_cert, b_cert], now=NOW, peer_role=Role.PASSIVE
    )
    assert path == [leaf, a_cert, b_cert, root]


def test_leaf_named_like_its_issuer_is_not_self_signed() -> None:
    """Issuer name = subject name, but signed by the CA's key: a path, not 'self-signed'."""
    ca = _issue("Line 3", "Line 3", 47, 47)
    leaf = _issue("Line 3", "Line 3", 48, 47, ca=False)
    assert verify_peer_chain(leaf, anchors=[ca], now=NOW, peer_role=Role.PASSIVE) == [leaf, ca]


def test_every_crl_is_consulted() -> None:
    case = base_case(1)
    case.revoke_leaf = True
    case.build()
    revoking = case.crl()
    foreign = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(_named("Unrelated CA"))
        .last_update(NOW - DAY)
        .next_update(NOW + DAY)
        .sign(pool_key(90), hashes.SHA256())
    )
    assert _refused(case, crls=[foreign, revoking]).rule == "revoked"


@pytest.mark.parametrize(
    ("san", "expected", "ok"),
    [
        ("gate.box", "GATE.BOX", True),  # a trailing 'X' is a letter, not a dot to strip
        ("gate.box", "gate.box.", True),
        ("ss.example", "\u00df.example", False),  # 'ß'.upper() is 'SS': compare lower case
    ],
)
def test_dns_names_compare_in_lower_case_without_the_root_dot(
    san: str, expected: str, ok: bool
) -> None:
    root = _issue("Root", "Root", 43, 43)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(_named("PLC"))
        .issuer_name(_named("Root"))
        .public_key(pool_key(49).public_key())
        .serial_number(49)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(san)]), False)
        .sign(pool_key(43), hashes.SHA256())
    )
    kw = {"anchors": [root], "now": NOW, "peer_role": Role.PASSIVE, "expected_address": expected}
    if ok:
        assert verify_peer_chain(leaf, **kw) == [leaf, root]  # type: ignore[arg-type]
    else:
        with pytest.raises(CertError) as info:
            verify_peer_chain(leaf, **kw)  # type: ignore[arg-type]
        assert info.value.rule == "subject-alt-name"


# --- SHA-1 under an RSA legacy CA (default CA 1 is RSA 2048, SHA-1) --------------------------


@functools.cache
def _rsa_key(index: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _rsa_sha1_leaf(signer: rsa.RSAPrivateKey, root: x509.Certificate) -> x509.Certificate:
    cert = (
        x509.CertificateBuilder()
        .subject_name(_named("Legacy PLC"))
        .issuer_name(root.subject)
        .public_key(pool_key(50).public_key())
        .serial_number(50)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .sign(signer, hashes.SHA256())
    )
    return resign_sha1(cert, signer)


def test_rsa_legacy_ca_sha1_signature_is_checked() -> None:
    key = _rsa_key(0)
    root = (
        x509.CertificateBuilder()
        .subject_name(_named("Legacy CA 1"))
        .issuer_name(_named("Legacy CA 1"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + DAY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    kw = {"anchors": [root], "now": NOW, "peer_role": Role.ACTIVE, "legacy_anchors": [root]}
    good = _rsa_sha1_leaf(key, root)
    assert verify_peer_chain(good, **kw) == [good, root]  # type: ignore[arg-type]
    forged = _rsa_sha1_leaf(_rsa_key(1), root)
    for _ in range(2):
        with pytest.raises(CertError) as info:
            verify_peer_chain(forged, **kw)  # type: ignore[arg-type]
        assert info.value.rule == "bad-signature"


def test_signed_by_a_sha1_certificate_and_a_stranger_is_not_the_issuer() -> None:
    """SHA-1 certificates take the hand-made signature path; it too must say "not the issuer"
    (None), not "bad signature" (False), for a CA of another name."""
    case = build_case("sha1-legacy-good", 0, server=True)
    stranger = make_cert(ca_spec("Unrelated CA", 90), None)
    assert verify_module.signed_by(case.leaf, stranger) is None
    assert verify_module.signed_by(case.leaf, case.root) is True


def test_a_good_signature_is_checked_once(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verify_module, "_VERIFIED", set())
    case = base_case(0).build()
    assert verify_module.signed_by(case.leaf, case.root) is True

    def checked_again(*args: object) -> None:
        raise AssertionError("a cached signature was checked again")

    monkeypatch.setattr(verify_module, "_check_signature", checked_again)
    assert verify_module.signed_by(case.leaf, case.root) is True


def _leaf_with_key(case: Case, key: object) -> x509.Certificate:
    """The case's leaf (depth 0) again, with another subject key, signed by the root."""
    leaf = case.leaf
    builder = (
        x509.CertificateBuilder()
        .subject_name(leaf.subject)
        .issuer_name(leaf.issuer)
        .public_key(key.public_key())  # type: ignore[attr-defined]
        .serial_number(leaf.serial_number + 1)
        .not_valid_before(leaf.not_valid_before_utc)
        .not_valid_after(leaf.not_valid_after_utc)
    )
    for extension in leaf.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    return builder.sign(pool_key(0), hashes.SHA256())


S7_1500 = Device(Family.S7_1500, (3, 1))
S7_1200 = Device(Family.S7_1200, (4, 6))


@pytest.mark.parametrize(
    ("key", "device", "name"),
    [
        (ec.generate_private_key(ec.SECP521R1()), S7_1500, "EC-secp521r1"),
        (ed25519.Ed25519PrivateKey.generate(), S7_1500, "Ed25519PublicKey"),
        (rsa.generate_private_key(public_exponent=65537, key_size=1536), S7_1500, "RSA-1536"),
        (RSA_4096, S7_1200, "RSA-4096"),
    ],
)
def test_key_type_alone(key: object, device: Device, name: str) -> None:
    """A key the emulated CPU does not support (domain.md §3: EC P-256/P-384, RSA 1024/2048,
    4096 on S7-1500 only): refused with the device, accepted without one (a PC-side check)."""
    case = base_case(0).build()
    leaf = _leaf_with_key(case, key)
    kw = {"anchors": [case.root], "now": NOW, "peer_role": Role.PASSIVE}
    assert verify_peer_chain(leaf, **kw) == [leaf, case.root]  # type: ignore[arg-type]
    with pytest.raises(CertError) as info:
        verify_peer_chain(leaf, device=device, **kw)  # type: ignore[arg-type]
    assert info.value.rule == "key-type"
    assert info.value.status == VERIFY_RULES["key-type"] == 0x80E2
    family = device.family.value
    assert f"CN=PLC leaf has key type {name}, which {family} " in info.value.message


def test_supported_keys_pass_the_key_type_rule() -> None:
    case = base_case(0).build()
    kw = {"anchors": [case.root], "now": NOW, "peer_role": Role.PASSIVE}
    for key in (ec.generate_private_key(ec.SECP384R1()), RSA_4096):
        leaf = _leaf_with_key(case, key)
        assert verify_peer_chain(leaf, device=S7_1500, **kw) == [leaf, case.root]  # type: ignore[arg-type]
