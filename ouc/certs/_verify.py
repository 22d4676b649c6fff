"""Peer-certificate verification with the PLC's status codes (domain.md §3).

The TLS engine calls :func:`verify_peer_chain` from inside every handshake, so it works on already
parsed ``x509.Certificate`` objects, checks signatures with ``verify_directly_issued_by`` and never
re-encodes anything. It raises :class:`~ouc.errors.CertError` carrying the 16#80Ex code the PLC
would report; it never returns a bool (style rule 6).

Order of checks, so that a certificate with several faults gets a stable code: path building
(16#80E4 no anchor / unknown self-signed, 16#80E6 bad signature), then per certificate from the
leaf up: unhandled critical extension 16#80E7, validity 16#80E2/16#80E5, SHA-1 16#80E2, CA
constraints 16#80E4; then, given the emulated device, each certificate's key type 16#80E2; then
the leaf's KeyUsage/EKU for the peer's role 16#80E2, revocation 16#80E3, subjectAltName 16#80E1.

Every refusal names the rule that fired in ``CertError.rule`` (the keys of :data:`VERIFY_RULES`):
several rules share one PLC status, and tests prove each rule by its name.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import itertools
from collections.abc import Sequence
from typing import TypeVar

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, ExtensionOID, SignatureAlgorithmOID

from ouc.certs._create import as_utc
from ouc.certs._keys import check_key_supported, describe_key
from ouc.device import Device, Role
from ouc.errors import CertError, Status

__all__ = ["VERIFY_RULES", "signed_by", "verify_peer_chain"]

#: Each rule :func:`verify_peer_chain` applies, with the PLC status it refuses with.
VERIFY_RULES: dict[str, Status] = {
    "self-signed": Status.TLS_NO_VALID_CA,  # an unknown self-signed peer certificate
    "no-anchor": Status.TLS_NO_VALID_CA,  # no path to a trusted certificate within the depth
    "bad-signature": Status.TLS_INTEGRITY,  # a name matches but the signature does not verify
    "malformed-extensions": Status.TLS_CERT_INVALID,  # duplicate or unparsable extensions
    "critical-extension": Status.TLS_UNSUPPORTED_EXTENSION,  # an unknown critical extension
    "not-yet-valid": Status.TLS_CERT_INVALID,
    "expired": Status.TLS_CERT_EXPIRED,
    "signature-algorithm": Status.TLS_CERT_INVALID,  # a signature algorithm we cannot check
    "sha1": Status.TLS_CERT_INVALID,  # SHA-1 signed by anything but a legacy CA
    "not-a-ca": Status.TLS_NO_VALID_CA,  # the issuer lacks BasicConstraints CA:TRUE
    "path-length": Status.TLS_NO_VALID_CA,  # more intermediates than pathLenConstraint allows
    "key-cert-sign": Status.TLS_NO_VALID_CA,  # the issuer's KeyUsage lacks keyCertSign
    "key-usage": Status.TLS_CERT_INVALID,  # the leaf's KeyUsage does not fit its TLS role
    "extended-key-usage": Status.TLS_CERT_INVALID,  # the leaf's EKU forbids its TLS role
    "crl-signature": Status.TLS_INTEGRITY,  # a revocation list not signed by its CA
    "revoked": Status.TLS_CERT_DISCARDED,
    "subject-alt-name": Status.TLS_HANDSHAKE_FAILURE,  # no SAN matches the address
    "key-type": Status.TLS_CERT_INVALID,  # a key the emulated CPU does not support (device=)
}

# Longest path leaf → anchor we build (leaf, up to 6 intermediates, anchor).
_MAX_DEPTH = 8

# Extensions this verifier understands; any other extension marked critical is 16#80E7.
_HANDLED = frozenset(
    {
        ExtensionOID.BASIC_CONSTRAINTS,
        ExtensionOID.KEY_USAGE,
        ExtensionOID.EXTENDED_KEY_USAGE,
        ExtensionOID.SUBJECT_ALTERNATIVE_NAME,
        ExtensionOID.ISSUER_ALTERNATIVE_NAME,
        ExtensionOID.SUBJECT_KEY_IDENTIFIER,
        ExtensionOID.AUTHORITY_KEY_IDENTIFIER,
    }
)

_ANY_EKU = ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE
_SHA1_OIDS = frozenset({SignatureAlgorithmOID.RSA_WITH_SHA1, SignatureAlgorithmOID.ECDSA_WITH_SHA1})


def _refuse(rule: str, message: str) -> CertError:
    return CertError(message, status=VERIFY_RULES[rule], rule=rule)


def _check_key_type(cert: x509.Certificate, device: Device) -> None:
    """A key the CPU does not support: 16#80E2, "certificate unsupported" in TCON's table. The
    keys a CPU supports are EC P-256 and P-384 and RSA 1024, 2048 and (S7-1500 only) 4096
    (domain.md §3, as :meth:`~ouc.device.Device.rsa_key_sizes` and ``ec_curves`` model
    them); that the CPU refuses a partner's certificate with another key at verification,
    with this code rather than a reset, is an inference."""
    try:
        check_key_supported(cert.public_key(), device)
    except CertError as exc:
        raise _refuse(
            "key-type",
            f"certificate {_name(cert)} has key type {describe_key(cert.public_key())}, which "
            f"{device.family.value} {device.firmware_text} does not support",
        ) from exc


def _name(cert: x509.Certificate) -> str:
    return cert.subject.rfc4514_string() or "<empty subject>"


def _stamp(moment: dt.datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}Z"


def _extensions(cert: x509.Certificate) -> x509.Extensions:
    try:
        return cert.extensions
    except ValueError as exc:  # duplicate or malformed extensions
        raise _refuse(
            "malformed-extensions", f"certificate {_name(cert)} has malformed extensions: {exc}"
        ) from exc


_E = TypeVar("_E", bound=x509.ExtensionType)


def _ext(cert: x509.Certificate, cls: type[_E]) -> _E | None:
    try:
        return _extensions(cert).get_extension_for_class(cls).value
    except x509.ExtensionNotFound:
        return None


# Signatures already found valid, keyed by (certificate TBS, its signature, issuer TBS): a peer
# presents the same certificate on every handshake and the signature check is most of the cost.
# Only successes are cached; the cache is emptied when it reaches its bound.
_VERIFIED: set[tuple[bytes, bytes, bytes]] = set()
_VERIFIED_MAX = 512


def signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """True: valid signature; False: names match but the signature is bad; None: not the issuer."""
    key = (cert.tbs_certificate_bytes, cert.signature, issuer.tbs_certificate_bytes)
    if key in _VERIFIED:
        return True
    verdict = _check_signature(cert, issuer)
    if verdict:
        if len(_VERIFIED) >= _VERIFIED_MAX:
            _VERIFIED.clear()  # simple and safe when several threads verify at once
        _VERIFIED.add(key)
    return verdict


def _check_signature(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    try:
        cert.verify_directly_issued_by(issuer)
    except InvalidSignature:
        return False
    except TypeError:
        return None  # an issuer key type that cannot sign certificates
    except ValueError:
        # cryptography refuses SHA-1 here; the legacy CA needs it, so check those by hand.
        if cert.signature_algorithm_oid not in _SHA1_OIDS or cert.issuer != issuer.subject:
            return None
        return _sha1_signed_by(cert, issuer)
    return True


def _sha1_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    key = issuer.public_key()
    try:
        if isinstance(key, rsa.RSAPublicKey):
            key.verify(
                cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(), hashes.SHA1()
            )
        elif isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(cert.signature, cert.tbs_certificate_bytes, ec.ECDSA(hashes.SHA1()))
        else:
            return None
    except InvalidSignature:
        return False
    return True


class _PathSearch:
    """Depth-bounded search for a path from a certificate up to one of the anchors."""

    def __init__(
        self, anchors: Sequence[x509.Certificate], intermediates: Sequence[x509.Certificate]
    ) -> None:
        self.anchors = anchors
        self.intermediates = intermediates
        self.bad_signature = False

    def _candidates(self, issuer: x509.Name, deeper: bool) -> list[tuple[x509.Certificate, bool]]:
        """Certificates named ``issuer``: anchors first, then (when ``deeper``) the others."""
        found = [(a, True) for a in self.anchors if a.subject == issuer]
        if deeper:
            found += [
                (c, False)
                for c in self.intermediates
                if c.subject == issuer and c not in self.anchors
            ]
        return found

    def up_from(
        self, cert: x509.Certificate, seen: list[x509.Certificate]
    ) -> list[x509.Certificate] | None:
        """The certificates above ``cert`` (issuer first, anchor last), or None."""
        # An intermediate adds one certificate below the anchor still to come.
        deeper = len(seen) + 1 < _MAX_DEPTH
        for cand, is_anchor in self._candidates(cert.issuer, deeper):
            if cand in seen:
                continue
            verdict = signed_by(cert, cand)
            if verdict is False:
                self.bad_signature = True
            if not verdict:
                continue
            if is_anchor:
                return [cand]
            rest = self.up_from(cand, [*seen, cand])
            if rest is not None:
                return [cand, *rest]
        return None


def _build_path(
    leaf: x509.Certificate,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate],
) -> list[x509.Certificate]:
    if any(anchor == leaf for anchor in anchors):
        return [leaf]  # pinned: the peer's own certificate is the anchor
    if leaf.issuer == leaf.subject and signed_by(leaf, leaf):
        raise _refuse("self-signed", f"unknown self-signed certificate {_name(leaf)}")
    search = _PathSearch(anchors, intermediates)
    above = search.up_from(leaf, [leaf])
    if above is not None:
        return [leaf, *above]
    if search.bad_signature:
        raise _refuse(
            "bad-signature", f"certificate {_name(leaf)} or its chain has a bad signature"
        )
    raise _refuse(
        "no-anchor", f"no trusted CA for {_name(leaf)} (issuer {leaf.issuer.rfc4514_string()})"
    )


def _check_generic(
    cert: x509.Certificate,
    issuer: x509.Certificate | None,
    now: dt.datetime,
    legacy_anchors: Sequence[x509.Certificate],
) -> None:
    for ext in _extensions(cert):
        if ext.critical and ext.oid not in _HANDLED:
            raise _refuse(
                "critical-extension",
                f"certificate {_name(cert)} has an unsupported critical extension "
                f"{ext.oid.dotted_string}",
            )
    if now < cert.not_valid_before_utc:
        raise _refuse(
            "not-yet-valid",
            f"certificate {_name(cert)} is not valid before {_stamp(cert.not_valid_before_utc)}",
        )
    if now > cert.not_valid_after_utc:
        raise _refuse(
            "expired", f"certificate {_name(cert)} expired {_stamp(cert.not_valid_after_utc)}"
        )
    try:
        sha1 = isinstance(cert.signature_hash_algorithm, hashes.SHA1)
    except UnsupportedAlgorithm as exc:
        raise _refuse(
            "signature-algorithm",
            f"certificate {_name(cert)} uses an unsupported signature algorithm",
        ) from exc
    if sha1 and issuer is not None and not any(issuer == old for old in legacy_anchors):
        raise _refuse(
            "sha1",
            f"certificate {_name(cert)} is SHA-1 signed and its issuer is not the legacy CA",
        )


def _check_issuer(ca: x509.Certificate, below: int) -> None:
    """``ca`` signed a path of ``below`` certificates under it (the first being the leaf)."""
    bc = _ext(ca, x509.BasicConstraints)
    if bc is None or not bc.ca:
        raise _refuse("not-a-ca", f"{_name(ca)} signed a certificate but is not a CA")
    # path_length counts the non-self-issued intermediates allowed below this CA.
    if bc.path_length is not None and below - 1 > bc.path_length:
        raise _refuse(
            "path-length", f"CA {_name(ca)} allows {bc.path_length} intermediate CAs below it"
        )
    ku = _ext(ca, x509.KeyUsage)
    if ku is not None and not ku.key_cert_sign:
        raise _refuse("key-cert-sign", f"CA {_name(ca)} has no keyCertSign key usage")


def _check_leaf_usage(leaf: x509.Certificate, peer_role: Role) -> None:
    server = peer_role is Role.PASSIVE
    purpose = "TLS server" if server else "TLS client"
    ku = _ext(leaf, x509.KeyUsage)
    if ku is not None:
        ok = ku.digital_signature or ku.key_agreement or (server and ku.key_encipherment)
        if not ok:
            raise _refuse(
                "key-usage",
                f"certificate {_name(leaf)}: its KeyUsage does not allow use as a {purpose}",
            )
    eku = _ext(leaf, x509.ExtendedKeyUsage)
    if eku is not None:
        wanted = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        if wanted not in eku and _ANY_EKU not in eku:
            raise _refuse(
                "extended-key-usage",
                f"certificate {_name(leaf)}: its ExtendedKeyUsage forbids use as a {purpose}",
            )


def _check_revocation(
    path: list[x509.Certificate], crls: Sequence[x509.CertificateRevocationList]
) -> None:
    for cert, issuer in itertools.pairwise(path):
        for crl in crls:
            if crl.issuer != issuer.subject:
                continue
            if not crl.is_signature_valid(issuer.public_key()):  # type: ignore[arg-type]
                raise _refuse(
                    "crl-signature", f"revocation list of {_name(issuer)} has a bad signature"
                )
            if crl.get_revoked_certificate_by_serial_number(cert.serial_number) is not None:
                raise _refuse(
                    "revoked",
                    f"certificate {_name(cert)} (serial {cert.serial_number:X}) is revoked",
                )


def _normalise_dns(name: str) -> str:
    return name.strip().rstrip(".").lower()


def _check_san(leaf: x509.Certificate, expected: str) -> None:
    san = _ext(leaf, x509.SubjectAlternativeName)
    if san is not None:
        try:
            address = ipaddress.ip_address(expected.strip())
        except ValueError:
            want = _normalise_dns(expected)
            for dns in san.get_values_for_type(x509.DNSName):
                got = _normalise_dns(dns)
                if got == want:
                    return
                # A wildcard covers exactly one left-most label.
                if got.startswith("*.") and "." in want and want.split(".", 1)[1] == got[2:]:
                    return
        else:
            if address in san.get_values_for_type(x509.IPAddress):
                return
    raise _refuse(
        "subject-alt-name", f"certificate {_name(leaf)} has no subjectAltName matching {expected}"
    )


def verify_peer_chain(
    leaf: x509.Certificate,
    *,
    anchors: Sequence[x509.Certificate],
    intermediates: Sequence[x509.Certificate] = (),
    now: dt.datetime,
    expected_address: str | None = None,
    crls: Sequence[x509.CertificateRevocationList] = (),
    peer_role: Role,
    legacy_anchors: Sequence[x509.Certificate] = (),
    device: Device | None = None,
) -> list[x509.Certificate]:
    """Verify the certificate a peer presented; return the path leaf → anchor.

    Args:
        leaf: the peer's end-entity certificate.
        anchors: trusted certificates: CAs, or the peer's own certificate (pinning).
        intermediates: further CA certificates (the peer's chain and the device's own CAs).
        now: the emulated clock time (naive = UTC).
        expected_address: IP or DNS name the leaf's subjectAltName must match (no CN fallback).
        crls: revocation lists to honour; a CRL is used for the CA whose subject is its issuer.
        peer_role: the peer's role: PASSIVE peers need serverAuth, ACTIVE peers clientAuth.
        legacy_anchors: CAs (such as default CA 1) whose SHA-1 signatures are still accepted;
            every other SHA-1 signature is refused.
        device: the emulated CPU: every key on the path must be a type it supports (rule
            ``key-type``); None: any key type (a PC-side or library check).

    Raises:
        CertError: with status 16#80E4 (no path / unknown CA / unknown self-signed / issuer not a
            CA), 16#80E6 (bad signature), 16#80E7 (unsupported critical extension), 16#80E2 (not
            yet valid, SHA-1, an unsupported key type, wrong usage), 16#80E5 (expired), 16#80E3
            (revoked), 16#80E1 (SAN).
    """
    moment = as_utc(now)
    path = _build_path(leaf, anchors, intermediates)
    for index, cert in enumerate(path):
        issuer = path[index + 1] if index + 1 < len(path) else None
        _check_generic(cert, issuer, moment, legacy_anchors)
        if index > 0:
            _check_issuer(cert, index)
    if device is not None:
        for cert in path:
            _check_key_type(cert, device)
    _check_leaf_usage(leaf, peer_role)
    if crls:
        _check_revocation(path, crls)
    if expected_address is not None:
        _check_san(leaf, expected_address)
    return path
