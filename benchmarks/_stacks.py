"""TLS configurations and the contexts of the raw stacks (pyOpenSSL and Python's ``ssl``).

A :class:`TLSConfig` names one measured configuration (version × key type × server-only or mutual
authentication); both raw stacks build their contexts from it the same way, in the client process
and in the server process alike. The settings follow what a Secure OUC endpoint negotiates
(domain.md §9): one exact TLS version, X25519 pinned (OpenSSL 4.0 would otherwise pay for the
hybrid X25519MLKEM768 share, perf-anchors.md; P-256 stays listed for TLS 1.2 ECDSA), ECDHE
with AES-GCM for TLS 1.2, the peer verified against the run's CA. Host names are not checked
by either stack, since a PLC checks the SAN only with ExtTLSCapabilities bit 0; chain
verification is on everywhere.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass

from OpenSSL import SSL

from benchmarks._certs import CertFiles
from ouc.errors import ConfigError, Status, TLSError
from ouc.tls import _libssl

__all__ = [
    "PINNED_GROUPS",
    "TLS12_CIPHERS",
    "TLSConfig",
    "config_label",
    "pyopenssl_context",
    "session_reused",
    "ssl_context",
    "tls_error",
]

# X25519 is what gets negotiated; P-256 must be listed too, because in TLS 1.2 a server may use
# its ECDSA P-256 certificate only when the client lists that curve (RFC 8422 §5.1).
PINNED_GROUPS = b"X25519:P-256"
TLS12_CIPHERS = "ECDHE+AESGCM"
_SESSION_ID_CONTEXT = b"ouc-bench"
_SHORT_KEY = {"EC-P256": "ecdsa", "RSA-2048": "rsa"}


@dataclass(frozen=True)
class TLSConfig:
    """One handshake configuration (picklable: it travels to the server process).

    Attributes:
        version: "1.2" or "1.3"; both sides are pinned to exactly this version.
        mutual: the server requests and requires a client certificate.
        certs: the PEM files of the key type.
        session_ids: TLS 1.2 resumption by session ID: the server issues no tickets.
    """

    version: str
    mutual: bool
    certs: CertFiles
    session_ids: bool = False

    def __post_init__(self) -> None:
        if self.version not in ("1.2", "1.3"):
            raise ConfigError(f"TLS version {self.version!r} is not 1.2 or 1.3", path="version")

    @property
    def label(self) -> str:
        """Row-name fragment such as ``tls13-ecdsa-mutual``."""
        return config_label(self.version, self.certs.key_type, self.mutual)


def config_label(version: str, key_type: str, mutual: bool) -> str:
    """``("1.3", "EC-P256", True)`` → ``tls13-ecdsa-mutual`` (the row-name fragment)."""
    key = _SHORT_KEY.get(key_type, key_type.lower())
    auth = "mutual" if mutual else "server"
    return f"tls{version.replace('.', '')}-{key}-{auth}"


def tls_error(exc: Exception, during: str) -> TLSError:
    """Translate a pyOpenSSL or ``ssl`` failure into the library's TLSError (16#80E1)."""
    return TLSError(f"{during}: {type(exc).__name__}: {exc}", status=Status.TLS_HANDSHAKE_FAILURE)


def pyopenssl_context(cfg: TLSConfig, *, server: bool) -> SSL.Context:
    """A pyOpenSSL context for one side of ``cfg``; build once and reuse for every connection."""
    ctx = SSL.Context(SSL.TLS_METHOD)
    version = SSL.TLS1_3_VERSION if cfg.version == "1.3" else SSL.TLS1_2_VERSION
    ctx.set_min_proto_version(version)
    ctx.set_max_proto_version(version)
    if cfg.version == "1.2":
        ctx.set_cipher_list(TLS12_CIPHERS.encode())
    # pyOpenSSL has no set_groups; without the pin OpenSSL 4.0 negotiates X25519MLKEM768.
    if _libssl.SSL_CTX_set1_curves_list(_libssl.context_ptr(ctx), PINNED_GROUPS) != 1:
        raise TLSError("cannot pin the X25519 group", status=Status.TLS_HANDSHAKE_FAILURE)
    certs = cfg.certs
    try:
        if server:
            ctx.use_certificate_chain_file(certs.server_cert)
            ctx.use_privatekey_file(certs.server_key)
            ctx.set_session_id(_SESSION_ID_CONTEXT)
            if cfg.mutual:
                ctx.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
                ctx.load_verify_locations(certs.ca)
            if cfg.session_ids:
                ctx.set_options(SSL.OP_NO_TICKET)
        else:
            ctx.set_verify(SSL.VERIFY_PEER)
            ctx.load_verify_locations(certs.ca)
            if cfg.mutual:
                ctx.use_certificate_chain_file(certs.client_cert)
                ctx.use_privatekey_file(certs.client_key)
    except SSL.Error as exc:
        raise tls_error(exc, "loading the benchmark certificates") from exc
    return ctx


def ssl_context(cfg: TLSConfig, *, server: bool) -> ssl.SSLContext:
    """An ``ssl`` module context for one side of ``cfg`` (system OpenSSL 3.0)."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
    version = ssl.TLSVersion.TLSv1_3 if cfg.version == "1.3" else ssl.TLSVersion.TLSv1_2
    ctx.minimum_version = version
    ctx.maximum_version = version
    if cfg.version == "1.2":
        ctx.set_ciphers(TLS12_CIPHERS)
    # No pin needed (and set_ecdh_curve takes one curve only): OpenSSL 3.0 has no hybrid group
    # and its default list starts with X25519, so X25519 is what gets negotiated.
    certs = cfg.certs
    try:
        if server:
            ctx.load_cert_chain(certs.server_cert, certs.server_key)
            if cfg.mutual:
                ctx.verify_mode = ssl.CERT_REQUIRED
                ctx.load_verify_locations(certs.ca)
            if cfg.session_ids:
                ctx.options |= ssl.OP_NO_TICKET
        else:
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_REQUIRED
            ctx.load_verify_locations(certs.ca)
            if cfg.mutual:
                ctx.load_cert_chain(certs.client_cert, certs.client_key)
    except ssl.SSLError as exc:
        raise tls_error(exc, "loading the benchmark certificates") from exc
    return ctx


def session_reused(conn: SSL.Connection) -> bool:
    """Whether a pyOpenSSL connection resumed a session (pyOpenSSL exposes no method for it)."""
    return bool(_libssl.SSL_session_reused(_libssl.connection_ptr(conn)))
