"""Key types and hashes the engineering tool offers, and what an emulated device accepts.

The certificate manager names key types as "RSA 2048" or "EC P-256" (domain.md §3, §7). This
module turns those names into real keys (``cryptography``), describes existing keys the same way
for the listing ("key length" column) and refuses what a :class:`~ouc.device.Device` would not
load. Pure functions, no I/O (layer 1).
"""

from __future__ import annotations

from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ouc.device import Device
from ouc.errors import CertError, ConfigError, Status

__all__ = [
    "HASH_NAMES",
    "KEY_TYPES",
    "PrivateKey",
    "PublicKey",
    "check_key_supported",
    "check_key_type",
    "describe_key",
    "generate_key",
    "hash_algorithm",
]

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey


@dataclass(frozen=True)
class _KeySpec:
    """One offered key type: ``kind`` "RSA" or "EC", RSA size or curve."""

    name: str
    kind: str
    bits: int
    curve: type[ec.EllipticCurve] | None = None


_SPECS: dict[str, _KeySpec] = {
    spec.name: spec
    for spec in (
        _KeySpec("RSA-1024", "RSA", 1024),
        _KeySpec("RSA-2048", "RSA", 2048),
        _KeySpec("RSA-3072", "RSA", 3072),
        _KeySpec("RSA-4096", "RSA", 4096),
        _KeySpec("EC-P256", "EC", 256, ec.SECP256R1),
        _KeySpec("EC-P384", "EC", 384, ec.SECP384R1),
    )
}

#: Key type names accepted by :func:`generate_key`, in the order the tool lists them.
KEY_TYPES: tuple[str, ...] = tuple(_SPECS)

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "SHA1": hashes.SHA1,
    "SHA256": hashes.SHA256,
    "SHA384": hashes.SHA384,
    "SHA512": hashes.SHA512,
}

#: Hash names accepted by :func:`hash_algorithm` (SHA1 only for the legacy CA and bad-cert tests).
HASH_NAMES: tuple[str, ...] = tuple(_HASHES)

_CURVE_NAMES = {"secp256r1": "EC-P256", "secp384r1": "EC-P384"}


def _spec(key_type: str) -> _KeySpec:
    # Accept the tool's spellings too: "RSA 2048", "ec-p256", "EC P-256".
    norm = key_type.strip().upper().replace(" ", "-").replace("P-", "P")
    spec = _SPECS.get(norm)
    if spec is None:
        raise ConfigError(
            f"unknown key type {key_type!r}; use one of {', '.join(KEY_TYPES)}", path="key_type"
        )
    return spec


def generate_key(key_type: str) -> PrivateKey:
    """Generate a fresh private key of ``key_type`` ("RSA-2048", "EC-P256", ...).

    Raises:
        ConfigError: the name is not one of :data:`KEY_TYPES`.
    """
    spec = _spec(key_type)
    if spec.kind == "RSA":
        return rsa.generate_private_key(public_exponent=65537, key_size=spec.bits)
    assert spec.curve is not None
    return ec.generate_private_key(spec.curve())


def describe_key(key: PrivateKey | PublicKey | object) -> str:
    """The key type name of a private or public key ("RSA-2048", "EC-P256", "RSA-1536").

    Keys outside the offered set still get a readable name ("EC-secp521r1", "Ed25519Public...").
    """
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return f"RSA-{key.key_size}"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return _CURVE_NAMES.get(key.curve.name, f"EC-{key.curve.name}")
    return type(key).__name__.lstrip("_")


def check_key_supported(key: PrivateKey | PublicKey | object, device: Device | None) -> None:
    """Refuse a key the emulated device would not load, saying why (16#80E2).

    Args:
        key: a private or public key.
        device: the emulated device; None accepts every offered key type.
    """
    name = describe_key(key)
    if name not in _SPECS:
        raise CertError(
            f"key type {name} is not offered by the certificate manager "
            f"(use {', '.join(KEY_TYPES)})",
            status=Status.TLS_CERT_INVALID,
            path="key_type",
        )
    check_key_type(name, device)


def check_key_type(key_type: str, device: Device | None) -> None:
    """Refuse a key type name the emulated device does not support, before generating a key.

    Raises:
        ConfigError: an unknown key type; CertError (16#80E2): unsupported by ``device``.
    """
    spec = _spec(key_type)
    if device is None:
        return
    where = f"{device.family.value} {device.firmware_text}"
    if spec.kind == "RSA" and spec.bits not in device.rsa_key_sizes:
        sizes = ", ".join(str(s) for s in sorted(device.rsa_key_sizes))
        raise CertError(
            f"{where} does not support {spec.name} (RSA sizes: {sizes}; 4096 needs an S7-1500)",
            status=Status.TLS_CERT_INVALID,
            path="key_type",
        )
    if spec.kind == "EC":
        assert spec.curve is not None
        if spec.curve.name not in device.ec_curves:
            raise CertError(
                f"{where} does not support curve {spec.curve.name}",
                status=Status.TLS_CERT_INVALID,
                path="key_type",
            )


def hash_algorithm(hash_name: str) -> hashes.HashAlgorithm:
    """The hash for a name like "SHA256" / "sha-384"; raises ConfigError when unknown."""
    norm = hash_name.strip().upper().replace("-", "")
    cls = _HASHES.get(norm)
    if cls is None:
        raise ConfigError(
            f"unknown hash {hash_name!r}; use one of {', '.join(HASH_NAMES)}", path="hash_name"
        )
    return cls()
