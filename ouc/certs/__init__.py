"""Certificates keyed by numeric IDs, as the engineering tool's certificate manager keeps them.

Layer 1, no sockets or clocks: time is always a ``now`` argument. The pieces:

- :func:`generate_key`, :class:`Template`, :func:`create_certificate`: make keys and certificates.
- :func:`verify_peer_chain`: verify a peer's certificate with the PLC's 16#80Ex codes.
- :class:`CertStore`: the project store on disk (IDs, devices, renew/replace, CRLs, import/export).
- :func:`resolve`: a TCON_*_SEC block + device + time → :class:`ResolvedEndpoint`.
- :func:`build_standard_example`: CA 3, server 9, client 11 of domain.md §1 in a store.
- :class:`DeviceCertStore`: the PC side's trusted/untrusted/crl folders (domain.md §8).
- :class:`BadCertFactory`: expired, not yet valid, wrong SAN, unknown CA, revoked, ... on demand.
"""

from ouc.certs._bad import BadCert, BadCertFactory
from ouc.certs._create import Template, create_certificate
from ouc.certs._devstore import DeviceCertStore
from ouc.certs._example import (
    CLIENT_DEVICE,
    EXAMPLE_CA_ID,
    EXAMPLE_CLIENT_ID,
    EXAMPLE_SERVER_ID,
    SERVER_DEVICE,
    StandardExample,
    build_standard_example,
)
from ouc.certs._keys import (
    HASH_NAMES,
    KEY_TYPES,
    PrivateKey,
    check_key_supported,
    describe_key,
    generate_key,
)
from ouc.certs._listing import CertDetails, CertRow
from ouc.certs._resolve import SecureBlock, resolve
from ouc.certs._resolved import ResolvedEndpoint
from ouc.certs._store import DEFAULT_CA_IDS, MAX_DEVICE_CERTS, CertStore
from ouc.certs._verify import VERIFY_RULES, verify_peer_chain

__all__ = [
    "CLIENT_DEVICE",
    "DEFAULT_CA_IDS",
    "EXAMPLE_CA_ID",
    "EXAMPLE_CLIENT_ID",
    "EXAMPLE_SERVER_ID",
    "HASH_NAMES",
    "KEY_TYPES",
    "MAX_DEVICE_CERTS",
    "SERVER_DEVICE",
    "VERIFY_RULES",
    "BadCert",
    "BadCertFactory",
    "CertDetails",
    "CertRow",
    "CertStore",
    "DeviceCertStore",
    "PrivateKey",
    "ResolvedEndpoint",
    "SecureBlock",
    "StandardExample",
    "Template",
    "build_standard_example",
    "check_key_supported",
    "create_certificate",
    "describe_key",
    "generate_key",
    "resolve",
    "verify_peer_chain",
]
