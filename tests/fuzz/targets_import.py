"""Fuzz targets for what a user imports: certificates (DER, PEM, PKCS#12), keys, CRLs, SCL
data-block sources, and the JSON forms of blocks and layouts (read from a file, as the CLI
does). Merged into ``targets.TARGETS`` (wrapped in its guard there); same contract: a value or
an OucError, nothing else.

Seeds are real: a store made by ouc (the standard example, a revoked certificate's CRL, an
exported .p12) and the repository's samples, so mutations start deep inside valid structures
instead of at the first length byte.

Imported by path from ``targets.py`` (the suite runs in importlib mode).
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from cryptography import x509

from ouc.certs._create import is_ca
from ouc.certs._formats import Bundle, load_bundle, load_crl, load_key
from ouc.certs._keys import describe_key
from ouc.certs._listing import signature_name, used_as
from ouc.certs._verify import signed_by
from ouc.db import load_layout, parse_scl
from ouc.db._forms import layout_to_dict
from ouc.params import build, from_dict, load, parse, to_dict

Target = Callable[[bytes], None]
_T = TypeVar("_T")
ROOT = Path(__file__).parents[2]
NOW = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _reads(bundle: Bundle) -> None:
    """What ``certs list``/``show`` and the resolver read of an imported certificate."""
    for cert in bundle.certs:
        used_as(cert)
        signature_name(cert)
        describe_key(cert.public_key())
        is_ca(cert)
        for ext in cert.extensions:
            if isinstance(ext.value, x509.SubjectAlternativeName):
                assert all(str(name.value) for name in ext.value)
        assert cert.subject.rfc4514_string() is not None
        assert cert.not_valid_before_utc is not None and cert.not_valid_after_utc is not None
    if bundle.key is not None:
        describe_key(bundle.key)
    # The store looks for each certificate's issuer by signature: a chain's next certificate,
    # or the certificate itself (self-signed, the legacy SHA-1 CA by hand).
    for cert, issuer in zip(bundle.certs, (*bundle.certs[1:], bundle.certs[0]), strict=True):
        assert signed_by(cert, issuer) in (True, False, None)


def cert_der(data: bytes) -> None:
    """``load_bundle`` of a ``.der`` file, then everything the listing reads."""
    _reads(load_bundle(data, suffix=".der", where="fuzz.der"))


def _pem(kind: bytes, der: bytes) -> bytes:
    return (
        b"-----BEGIN "
        + kind
        + b"-----\n"
        + base64.encodebytes(der)
        + b"-----END "
        + kind
        + b"-----\n"
    )


def _der_length(data: bytes) -> int:
    """Length of the DER element at the start of ``data`` (header included), or len(data)."""
    if len(data) < 2:
        return len(data)
    first = data[1]
    if first < 0x80:
        return min(len(data), 2 + first)
    count = first & 0x7F
    return min(len(data), 2 + count + int.from_bytes(data[2 : 2 + count], "big"))


def cert_pem(data: bytes) -> None:
    """``load_bundle`` of a ``.pem`` file; the first byte says how the rest becomes one:
    0 raw text (the armour itself is fuzzed), 1 one armoured certificate, 2 a certificate
    and a private key (two DER elements, each armoured), 3 two certificates (a chain)."""
    head, body = (data[0], data[1:]) if data else (0, b"")
    if head % 4 == 0:
        text = body
    elif head % 4 == 1:
        text = _pem(b"CERTIFICATE", body)
    else:
        cut = _der_length(body)
        second = b"PRIVATE KEY" if head % 4 == 2 else b"CERTIFICATE"
        text = _pem(b"CERTIFICATE", body[:cut]) + _pem(second, body[cut:])
    _reads(load_bundle(text, suffix=".pem", where="fuzz.pem"))


def key(data: bytes) -> None:
    """``load_key`` of a key file (PEM or DER, PKCS#8 or traditional), no password given."""
    describe_key(load_key(data, where="fuzz.key"))


def crl(data: bytes) -> None:
    """``load_crl`` of a ``.crl`` file, then what the store reads of it."""
    revocations = load_crl(data, where="fuzz.crl")
    entries = [(f"{r.serial_number:X}", r.revocation_date_utc.isoformat()) for r in revocations]
    assert len(entries) == len(list(revocations))
    revocations.issuer.rfc4514_string()


def p12(data: bytes) -> None:
    """``load_bundle`` of a ``.p12`` file (no password: the seeds are unencrypted, so a mutated
    key-derivation count cannot make one input take minutes)."""
    _reads(load_bundle(data, suffix=".p12", where="fuzz.p12"))


def scl(data: bytes) -> None:
    """``parse_scl`` of any text; a layout it returns encodes its start values and decodes
    them back to the same bytes."""
    layout = parse_scl(data.decode("utf-8", "replace"))
    image = layout.encode()
    assert len(image) == layout.size
    assert layout.encode(layout.decode(image)) == image


# A memory file system when there is one: a disk write per input would be most of the time.
_SCRATCH = (
    Path("/dev/shm") if Path("/dev/shm").is_dir() else Path(tempfile.gettempdir())
) / f"ouc-fuzz-{os.getpid()}"


def _from_file(load_file: Callable[[Path], _T], data: bytes) -> _T:
    """Load the input from a file, as ``ouc params``/``ouc db`` do; the file is removed again
    (libFuzzer ends the process without running exit handlers)."""
    path = _SCRATCH.with_suffix(".json")
    path.write_bytes(data)
    try:
        return load_file(path)
    finally:
        path.unlink(missing_ok=True)


def params_json(data: bytes) -> None:
    """``ouc.params.load`` of a block file (JSON, or binary when it does not parse and has a
    block's size); a block it returns rebuilds and parses back equal."""
    block = _from_file(load, data)
    assert parse(build(block)) == block
    assert from_dict(to_dict(block)) == block


def layout_json(data: bytes) -> None:
    """``ouc.db.load_layout`` of a JSON layout; a layout it returns encodes its start values
    and decodes them back to the same bytes."""
    layout = _from_file(load_layout, data)
    image = layout.encode()
    assert layout.encode(layout.decode(image)) == image


IMPORT_TARGETS: dict[str, Target] = {
    "cert_der": cert_der,
    "cert_pem": cert_pem,
    "key": key,
    "crl": crl,
    "p12": p12,
    "scl": scl,
    "params_json": params_json,
    "layout_json": layout_json,
}


def import_seeds() -> dict[str, list[bytes]]:
    """Real files made by ouc: the standard example's certificates and keys, a CRL, a .p12."""
    from cryptography.hazmat.primitives import serialization

    from ouc.certs import CertStore, build_standard_example, generate_key

    with tempfile.TemporaryDirectory() as folder:
        keys = (generate_key("RSA-2048"), generate_key("RSA-2048"))
        store = CertStore.init(Path(folder) / "store", now=NOW, default_ca_keys=keys)
        build_standard_example(store, now=NOW)
        store.revoke(11, now=NOW)
        certs = [store.certificate(i) for i in store.ids()]
        ders = [c.public_bytes(serialization.Encoding.DER) for c in certs]
        pems = [c.public_bytes(serialization.Encoding.PEM) for c in certs]
        # EC keys load in microseconds, RSA ones (checked on load) in milliseconds: one small
        # RSA key is enough to reach the RSA branches.
        own_keys = [k for k in (store.private_key(i) for i in (3, 9)) if k is not None]
        own_keys.append(generate_key("RSA-1024"))
        plain = serialization.NoEncryption()
        key_files = [
            k.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, plain)
            for k in own_keys
        ] + [
            k.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, plain
            )
            for k in own_keys
        ]
        revoked = store.crl(3)
        assert revoked is not None
        crls = [
            revoked.public_bytes(serialization.Encoding.DER),
            revoked.public_bytes(serialization.Encoding.PEM),
        ]
        from cryptography.hazmat.primitives.serialization import pkcs12

        chain = [store.certificate(3)]
        p12s = [
            pkcs12.serialize_key_and_certificates(b"ouc-9", None, certs[3], chain, plain),
            pkcs12.serialize_key_and_certificates(b"ouc-9", own_keys[1], certs[3], None, plain),
        ]
    samples = ROOT / "samples"
    scl_files = [p.read_bytes() for p in sorted(samples.glob("*.scl"))]
    layout_files = [(samples / "send_data.db.json").read_bytes()] + [
        json.dumps(layout_to_dict(load_layout(p)), indent=1).encode()
        for p in sorted(samples.glob("*.scl"))
    ]
    block_files = [p.read_bytes() for p in sorted(samples.glob("*.json")) if ".db." not in p.name]
    return {
        "cert_der": ders,
        "cert_pem": [b"\x00" + pem for pem in pems]
        + [b"\x01" + der for der in ders]
        + [b"\x02" + ders[3] + key_files[1], b"\x03" + ders[3] + ders[2]],
        "key": key_files,
        "crl": crls,
        "p12": p12s,
        "scl": scl_files,
        "params_json": block_files,
        "layout_json": layout_files,
    }
