"""Certificate chains with exactly one fault each, for the verifier's rule and differential tests.

:func:`build_case` makes a well-formed chain (root CA → ``depth`` intermediates → leaf, EC P-256,
SHA-256, critical BasicConstraints, KeyUsage, key identifiers, an IP and a DNS SAN) that every
verifier we compare with accepts, then applies one :data:`FAULTS` entry to it. Built with
cryptography's ``CertificateBuilder`` directly (not ``ouc.certs``), so a bug in ouc's own
certificate factory cannot hide one in the verifier. Keys come from a small pool: EC keys are
cheap, but hypothesis draws hundreds of chains.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ouc.certs._sha1 import resign_sha1

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)
LEAF_IP = "10.0.0.1"
LEAF_DNS = "plc1.example"
SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH
UNKNOWN_OID = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1")


@functools.cache
def pool_key(index: int) -> ec.EllipticCurvePrivateKey:
    """The ``index``-th key of a process-wide pool (P-256)."""
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class CertSpec:
    """What one certificate of a chain carries; each field is one knob a fault turns."""

    name: str
    key: int  # pool index of the subject's key
    ca: bool | None = False  # None: no BasicConstraints at all
    path_length: int | None = None
    key_usage: frozenset[str] | None = frozenset({"digital_signature"})  # None: no KU
    eku: tuple[x509.ObjectIdentifier, ...] | None = (SERVER_AUTH, CLIENT_AUTH)  # None: no EKU
    sans: bool = True
    not_before: dt.datetime = NOW - 30 * DAY
    not_after: dt.datetime = NOW + 365 * DAY
    sha1: bool = False
    unknown_critical: bool = False
    signer_key: int | None = None  # sign with this pool key instead of the issuer's (bad sig)
    issuer_name: str | None = None  # claim this issuer instead of the real one
    serial: int = 0  # 0: derived from the name


_KU_FIELDS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
)


def _name(text: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, text)])


def _key_usage(flags: frozenset[str]) -> x509.KeyUsage:
    values = {name: name in flags for name in _KU_FIELDS}
    return x509.KeyUsage(**values, encipher_only=False, decipher_only=False)


def make_cert(spec: CertSpec, issuer: CertSpec | None) -> x509.Certificate:
    """Build the certificate ``spec`` describes, issued by ``issuer`` (None: self-signed)."""
    subject_key = pool_key(spec.key)
    issuer_spec = issuer or spec
    signer = pool_key(spec.signer_key if spec.signer_key is not None else issuer_spec.key)
    serial = spec.serial or (abs(hash(spec.name)) % (1 << 60)) + 1
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(spec.name))
        .issuer_name(_name(spec.issuer_name or issuer_spec.name))
        .public_key(subject_key.public_key())
        .serial_number(serial)
        .not_valid_before(spec.not_before)
        .not_valid_after(spec.not_after)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(subject_key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                pool_key(issuer_spec.key).public_key()
            ),
            critical=False,
        )
    )
    if spec.ca is not None:
        builder = builder.add_extension(
            x509.BasicConstraints(ca=spec.ca, path_length=spec.path_length if spec.ca else None),
            critical=True,
        )
    if spec.key_usage is not None:
        builder = builder.add_extension(_key_usage(spec.key_usage), critical=True)
    if spec.eku is not None:
        builder = builder.add_extension(x509.ExtendedKeyUsage(list(spec.eku)), critical=False)
    if spec.sans:
        builder = builder.add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(ipaddress.ip_address(LEAF_IP)), x509.DNSName(LEAF_DNS)]
            ),
            critical=False,
        )
    if spec.unknown_critical:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(UNKNOWN_OID, b"\x05\x00"), critical=True
        )
    cert = builder.sign(signer, hashes.SHA256())
    return resign_sha1(cert, signer) if spec.sha1 else cert


def ca_spec(name: str, key: int, **kw: object) -> CertSpec:
    """A CA as the engineering tool makes one: CA:TRUE, keyCertSign + cRLSign, no EKU, no SAN."""
    base = CertSpec(
        name=name,
        key=key,
        ca=True,
        key_usage=frozenset({"digital_signature", "key_cert_sign", "crl_sign"}),
        eku=None,
        sans=False,
        not_before=NOW - 300 * DAY,
        not_after=NOW + 3000 * DAY,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


@dataclass
class Case:
    """A chain to verify: specs from the root down to the leaf, and how to verify it."""

    specs: list[CertSpec]  # [root, intermediates..., leaf]
    peer_is_server: bool = True
    now: dt.datetime = NOW
    expected_address: str | None = LEAF_IP
    revoke_leaf: bool = False
    crl_signer_key: int | None = None  # sign the CRL with another key (bad CRL)
    legacy_root: bool = False  # the root is a legacy (SHA-1 accepted) CA
    pin_leaf: bool = False  # the leaf itself is the anchor
    send_intermediates: bool = True
    extra_anchor: bool = False  # trust only an unrelated CA
    fault: str = "valid"
    certs: list[x509.Certificate] = field(default_factory=list)

    def build(self) -> Case:
        self.certs = []
        issuer: CertSpec | None = None
        for spec in self.specs:
            self.certs.append(make_cert(spec, issuer))
            issuer = spec
        return self

    @property
    def root(self) -> x509.Certificate:
        return self.certs[0]

    @property
    def leaf(self) -> x509.Certificate:
        return self.certs[-1]

    @property
    def intermediates(self) -> list[x509.Certificate]:
        return self.certs[1:-1] if self.send_intermediates else []

    @property
    def anchors(self) -> list[x509.Certificate]:
        if self.pin_leaf:
            return [self.leaf]
        if self.extra_anchor:
            return [make_cert(ca_spec("Unrelated CA", 90), None)]
        return [self.root]

    def crl(self) -> x509.CertificateRevocationList | None:
        """A CRL from the leaf's issuer, revoking the leaf when ``revoke_leaf``."""
        if not self.revoke_leaf and self.crl_signer_key is None:
            return None
        issuer_spec = self.specs[-2]
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(_name(issuer_spec.name))
            .last_update(NOW - DAY)
            .next_update(NOW + 30 * DAY)
        )
        if self.revoke_leaf:
            builder = builder.add_revoked_certificate(
                x509.RevokedCertificateBuilder()
                .serial_number(self.leaf.serial_number)
                .revocation_date(NOW - DAY)
                .build()
            )
        signer = self.crl_signer_key if self.crl_signer_key is not None else issuer_spec.key
        return builder.sign(pool_key(signer), hashes.SHA256())


def base_case(depth: int = 0, *, server: bool = True) -> Case:
    """Root → ``depth`` intermediates → a leaf for the peer's role: accepted by every verifier."""
    specs = [ca_spec("Root CA", 0)]
    for level in range(depth):
        specs.append(ca_spec(f"Intermediate {level + 1}", 1 + level))
    eku = (SERVER_AUTH,) if server else (CLIENT_AUTH,)
    specs.append(CertSpec(name="PLC leaf", key=20, eku=eku))
    return Case(specs, peer_is_server=server)


def _leaf(case: Case, **kw: object) -> Case:
    case.specs[-1] = replace(case.specs[-1], **kw)  # type: ignore[arg-type]
    return case


def _first_ca_below_root(case: Case, **kw: object) -> Case:
    index = 1 if len(case.specs) > 2 else 0
    case.specs[index] = replace(case.specs[index], **kw)  # type: ignore[arg-type]
    return case


def _issuer_of_leaf(case: Case, **kw: object) -> Case:
    case.specs[-2] = replace(case.specs[-2], **kw)  # type: ignore[arg-type]
    return case


def _self_signed_leaf(case: Case) -> Case:
    leaf = case.specs[-1]
    return Case([replace(leaf, ca=False)], peer_is_server=case.peer_is_server, extra_anchor=True)


def _pinned(case: Case) -> Case:
    leaf = case.specs[-1]
    return Case([leaf], peer_is_server=case.peer_is_server, pin_leaf=True)


def _with(**kw: object) -> Callable[[Case], Case]:
    def apply(case: Case) -> Case:
        return replace(case, **kw)  # type: ignore[arg-type]

    return apply


#: Fault name → how to apply it to a base case. "valid" applies nothing. The rule ouc reports
#: for each is in ``EXPECTED_RULE`` (None: accepted).
FAULTS: dict[str, Callable[[Case], Case]] = {
    "valid": lambda case: case,
    "pinned-leaf": _pinned,
    "expired-leaf": lambda c: _leaf(c, not_after=NOW - DAY),
    "not-yet-valid-leaf": lambda c: _leaf(c, not_before=NOW + DAY),
    "expired-ca": lambda c: _issuer_of_leaf(c, not_after=NOW - DAY),
    "unknown-ca": _with(extra_anchor=True),
    "self-signed-leaf": _self_signed_leaf,
    "wrong-issuer-name": lambda c: _leaf(c, issuer_name="Nobody CA"),
    "bad-signature": lambda c: _leaf(c, signer_key=77),
    "issuer-not-ca": lambda c: _issuer_of_leaf(c, ca=False),
    "issuer-without-basic-constraints": lambda c: _issuer_of_leaf(c, ca=None),
    "anchor-without-basic-constraints": lambda c: _issuer_of_leaf(c, ca=None),
    "issuer-without-key-cert-sign": lambda c: _issuer_of_leaf(
        c, key_usage=frozenset({"digital_signature", "crl_sign"})
    ),
    "path-length-exceeded": lambda c: _first_ca_below_root(c, path_length=0),
    "leaf-key-usage": lambda c: _leaf(c, key_usage=frozenset({"crl_sign"})),
    "leaf-wrong-eku": lambda c: _leaf(
        c, eku=(CLIENT_AUTH,) if c.peer_is_server else (SERVER_AUTH,)
    ),
    "san-mismatch": _with(expected_address="10.9.9.9"),
    "unknown-critical-extension": lambda c: _leaf(c, unknown_critical=True),
    "revoked": _with(revoke_leaf=True),
    "crl-bad-signature": _with(crl_signer_key=78),
    "sha1-legacy-good": lambda c: _with(legacy_root=True)(_leaf(c, sha1=True)),
    "sha1-legacy-bad-signature": lambda c: _with(legacy_root=True)(
        _leaf(c, sha1=True, signer_key=79)
    ),
    "sha1-not-legacy": lambda c: _leaf(c, sha1=True),
    "incomplete-chain": _with(send_intermediates=False),
}

#: The rule ouc must report for each fault (None: the chain is accepted).
EXPECTED_RULE: dict[str, str | None] = {
    "valid": None,
    "pinned-leaf": None,
    "expired-leaf": "expired",
    "not-yet-valid-leaf": "not-yet-valid",
    "expired-ca": "expired",
    "unknown-ca": "no-anchor",
    "self-signed-leaf": "self-signed",
    "wrong-issuer-name": "no-anchor",
    "bad-signature": "bad-signature",
    "issuer-not-ca": "not-a-ca",
    "issuer-without-basic-constraints": "not-a-ca",
    "anchor-without-basic-constraints": "not-a-ca",
    "issuer-without-key-cert-sign": "key-cert-sign",
    "path-length-exceeded": "path-length",
    "leaf-key-usage": "key-usage",
    "leaf-wrong-eku": "extended-key-usage",
    "san-mismatch": "subject-alt-name",
    "unknown-critical-extension": "critical-extension",
    "revoked": "revoked",
    "crl-bad-signature": "crl-signature",
    "sha1-legacy-good": None,
    "sha1-legacy-bad-signature": "bad-signature",
    "sha1-not-legacy": "sha1",
    "incomplete-chain": "no-anchor",
}

#: Faults that need at least this many intermediates to mean anything.
MIN_DEPTH = {
    "path-length-exceeded": 2,
    "incomplete-chain": 1,
    "issuer-without-basic-constraints": 1,
}
#: Faults about the legacy CA: only the CA itself may sign with SHA-1, so the leaf sits right
#: under it.
NO_INTERMEDIATES = {
    "sha1-legacy-good",
    "sha1-legacy-bad-signature",
    "anchor-without-basic-constraints",
}
#: Faults that only exist for a server peer (the subjectAltName check is the client's).
SERVER_ONLY = {"san-mismatch"}


def build_case(fault: str, depth: int, *, server: bool) -> Case:
    """A base chain of ``depth`` intermediates for a server or client peer, with ``fault``."""
    depth = 0 if fault in NO_INTERMEDIATES else max(depth, MIN_DEPTH.get(fault, 0))
    server = server or fault in SERVER_ONLY
    case = base_case(depth, server=server)
    if not server:
        case.expected_address = None  # a PLC checks SANs of servers only (ExtTLSCapabilities)
    case = FAULTS[fault](case)
    case.fault = fault
    return case.build()
