"""The TLS context of one endpoint: what a Secure OUC firmware offers, built once and reused.

A :class:`TLSContext` wraps one pyOpenSSL ``Context`` configured from a resolved parameter block
(:class:`~ouc.certs.ResolvedEndpoint`) and the emulated :class:`~ouc.device.Device`: TLS 1.2
always, TLS 1.3 when the firmware has it, the classic groups X25519/P-256/P-384 pinned (OpenSSL 4.0
would otherwise send a post-quantum hybrid share that real CPUs reset on), the three TLS 1.3
suites, ECDHE + AES-GCM for TLS 1.2, no renegotiation, no compression (domain.md §3, §9). A
:class:`~ouc.tls.WireProfile` decides the rest of what the handshake looks like on the wire
(session tickets, the certificate chain sent, the client's key shares).

Building a context costs far more than a connection, so a driver builds one per endpoint and hands
it to every :class:`~ouc.tls.TLSEngine`. Peer verification is not OpenSSL's: its clock is not the
PLC clock and PLC trust is ID-based, so the context installs a verify callback that hands the
peer's certificates to :func:`ouc.certs.verify_peer_chain` (or a ``verifier`` override) with the
engine's ``now``. Layer 2: no sockets, threads or clocks.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any, Protocol

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import rsa
from OpenSSL import SSL

from ouc.certs import ResolvedEndpoint, check_key_supported, describe_key, verify_peer_chain
from ouc.device import Device, Role, TLSVersion
from ouc.errors import CertError, ConfigError, Status, TLSError
from ouc.tls import _libssl as _lib
from ouc.tls._libssl import ffi as _ffi
from ouc.tls._peercert import PeerCert, PeerCertCache, VerdictCache
from ouc.tls._ssl import static_name
from ouc.tls._wire import GROUP_NAMES, Tickets, WireProfile, groups_list, issuing_chain
from ouc.transport import SessionInfo

if TYPE_CHECKING:
    import datetime as dt

    from ouc.tls._engine import TLSEngine

__all__ = [
    "CIPHERS_TLS12",
    "CIPHERS_TLS13",
    "GROUPS",
    "SIGALGS",
    "PeerVerifier",
    "TLSContext",
    "TLSProfile",
    "TLSSession",
]

log = logging.getLogger("ouc.tls")

_INFOS_KEPT = 64  # distinct SessionInfo objects a context shares (see TLSContext.shared_info)

#: Key-exchange groups offered and accepted, in preference order (domain.md §9).
GROUPS = ":".join(GROUP_NAMES)
#: TLS 1.3 cipher suites (the three TIA Portal offers).
CIPHERS_TLS13 = "TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384:TLS_CHACHA20_POLY1305_SHA256"
#: TLS 1.2 cipher suites: ECDHE with AES-GCM, for ECDSA and RSA certificates.
CIPHERS_TLS12 = (
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384"
)
#: Signature algorithms: the classic ECDSA/RSA ones only. OpenSSL 4.0 would also offer ML-DSA
#: and EdDSA, the "exotic signature algorithms" real CPUs are reported to reset on.
SIGALGS = (
    "ECDSA+SHA256:ECDSA+SHA384:ECDSA+SHA512:"
    "rsa_pss_rsae_sha256:rsa_pss_rsae_sha384:rsa_pss_rsae_sha512:"
    "RSA+SHA256:RSA+SHA384:RSA+SHA512"
)

# X.509 error codes set on a refused chain so that OpenSSL sends the matching alert in the
# "compatible" profile (ssl_x509err2alert): expired → certificate_expired, no CA → unknown_ca,
# revoked → certificate_revoked, everything else → bad_certificate.
_X509_ERROR_FOR_STATUS: dict[int, int] = {
    Status.TLS_CERT_EXPIRED: _lib.X509_V_ERR_CERT_HAS_EXPIRED,
    Status.TLS_NO_VALID_CA: _lib.X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
    Status.TLS_CERT_DISCARDED: _lib.X509_V_ERR_CERT_REVOKED,
    Status.TLS_INTEGRITY: _lib.X509_V_ERR_CERT_SIGNATURE_FAILURE,
}
_X509_ERROR_DEFAULT = _lib.X509_V_ERR_CERT_REJECTED


class TLSProfile(Enum):
    """How an endpoint behaves when a handshake or record fails.

    COMPATIBLE: like OpenSSL and most PC software: send the fatal alert, then close.
    STRICT: like the firmware: send nothing, ``Failed(reset=True)`` tells the driver to reset the
    TCP connection (SO_LINGER 0).
    """

    COMPATIBLE = "compatible"
    STRICT = "strict"

    @classmethod
    def parse(cls, value: TLSProfile | str) -> TLSProfile:
        """Accept a member or its name ("strict", "compatible"); ConfigError otherwise."""
        if isinstance(value, TLSProfile):
            return value
        try:
            return cls(str(value).strip().lower())
        except ValueError as exc:
            raise ConfigError(
                f"unknown TLS profile {value!r}; use compatible or strict", path="profile"
            ) from exc


def _check_own_key(resolved: ResolvedEndpoint, device: Device) -> None:
    """The device's own certificate holds a key type it supports, as a partner's must (rule
    ``key-type`` of :func:`~ouc.certs.verify_peer_chain`, domain.md §3): one mock PLC must not
    serve what another would refuse."""
    key = resolved.own_key
    try:
        check_key_supported(key, device)
    except CertError as exc:
        raise CertError(
            f"own certificate has key type {describe_key(key)}, which "
            f"{device.family.value} {device.firmware_text} does not support",
            status=Status.TLS_CERT_INVALID,
            path=f"ID {resolved.own_id}",
        ) from exc


class PeerVerifier(Protocol):
    """Same contract as :func:`ouc.certs.verify_peer_chain`: return the path leaf → anchor, or
    raise :class:`~ouc.errors.CertError` with the PLC's status code."""

    def __call__(
        self,
        leaf: x509.Certificate,
        *,
        anchors: Sequence[x509.Certificate],
        intermediates: Sequence[x509.Certificate],
        now: dt.datetime,
        expected_address: str | None,
        crls: Sequence[x509.CertificateRevocationList],
        peer_role: Role,
        legacy_anchors: Sequence[x509.Certificate],
    ) -> Sequence[x509.Certificate]: ...


@dataclass(frozen=True, eq=False)
class TLSSession:
    """A session a TLS client may offer to resume (TLS 1.3 ticket or TLS 1.2 ticket).

    Only valid with the :class:`TLSContext` it came from. ``peer_cert`` and ``peer_anchor_id``
    carry what the full handshake verified, so that a resumed connection reports them too and a
    client does not offer a session whose server certificate has expired by the PLC clock.
    """

    context: TLSContext
    _peer: PeerCert | None
    peer_anchor_id: int | None
    version: str
    own_cert_presented: bool
    _session: Any  # the SSL_SESSION pointer (cffi, freed with the object)

    @property
    def peer_cert(self) -> x509.Certificate | None:
        """The server certificate the full handshake verified."""
        return self._peer.cert if self._peer is not None else None


def _peer_certs(store_ctx: Any, cache: PeerCertCache) -> tuple[PeerCert, tuple[PeerCert, ...]]:
    """The peer's leaf and the certificates OpenSSL could chain to it from what the peer sent.

    OpenSSL starts the chain with the leaf before it first calls the verify callback, so the
    leaf is element 0; taking it from there keeps to calls pyOpenSSL itself makes (it has no use
    for ``X509_STORE_CTX_get0_cert``, so cryptography may drop that binding).
    """
    chain = _lib.X509_STORE_CTX_get1_chain(store_ctx)
    if chain == _ffi.NULL:
        raise CertError("OpenSSL passed no peer certificate", status=Status.TLS_CERT_INVALID)
    try:
        count = _lib.sk_X509_num(chain)
        if count < 1:
            raise CertError("OpenSSL passed no peer certificate", status=Status.TLS_CERT_INVALID)
        certs = tuple(cache.from_ptr(_lib.sk_X509_value(chain, i)) for i in range(count))
    finally:
        for index in range(_lib.sk_X509_num(chain)):
            _lib.X509_free(_lib.sk_X509_value(chain, index))
        _lib.sk_X509_free(chain)
    return certs[0], certs[1:]


#: The engine of each live ``SSL`` object, for the callbacks OpenSSL makes with only the
#: ``SSL *`` in hand (the binding has no ex_data calls). A weak-valued map keyed by the cdata
#: pointer: an engine leaves it when it is freed (its ``__del__`` frees the ``SSL`` just before;
#: should another thread's new ``SSL`` get the same address in between, its entry replaces the
#: dead one, and the dead one's removal leaves a live entry alone).
ENGINES: weakref.WeakValueDictionary[Any, TLSEngine] = weakref.WeakValueDictionary()
_engine_of_ssl = ENGINES.get


def _engine_for(store_ctx: Any) -> TLSEngine | None:
    return _engine_of_ssl(
        _lib.X509_STORE_CTX_get_ex_data(store_ctx, _lib.SSL_get_ex_data_X509_STORE_CTX_idx())
    )


def _verify_callback(ok: int, store_ctx: Any) -> int:
    """OpenSSL's verify callback: decide once per handshake, then repeat the verdict.

    OpenSSL calls this for every certificate and every error while it builds its own chain
    (which always fails here: its trust store is empty on purpose). The first call decides: the
    engine verifies the peer's certificates with the PLC rules and clock; every later call repeats
    that verdict. Returning 1 clears OpenSSL's own error so the handshake proceeds.
    """
    try:
        engine = _engine_for(store_ctx)
        hs = engine._hs if engine is not None else None
        if engine is None or hs is None:  # no engine, or past its handshake: refuse
            return 0
        verdict = hs.verdict
        if verdict is None:
            try:
                leaf, extra = _peer_certs(store_ctx, engine._context._certs)
            except CertError as exc:
                verdict = engine._reject(hs, exc)
            else:
                verdict = engine._verify_peer(hs, leaf, extra)
        if verdict:
            _lib.X509_STORE_CTX_set_error(store_ctx, _lib.X509_V_OK)
            return 1
        status = hs.cert_error.status if hs.cert_error is not None else None
        code = _X509_ERROR_FOR_STATUS.get(status or 0, _X509_ERROR_DEFAULT)
        _lib.X509_STORE_CTX_set_error(store_ctx, code)
        return 0
    except BaseException:  # an exception must not unwind through OpenSSL's C stack
        return 0


_VERIFY_CALLBACK = _ffi.callback("int (*)(int, X509_STORE_CTX *)", _verify_callback)


def _cert_callback(ssl: Any, arg: Any) -> int:
    """A client is about to answer a CertificateRequest: note that it presents its certificate.

    Without a request a TLS client presents nothing, so ``SessionInfo.own_cert_id`` must not
    name the configured certificate then. Always returns 1 (carry on with the configured one).
    """
    try:
        engine = _engine_of_ssl(ssl)
        hs = engine._hs if engine is not None else None
        if hs is not None:
            hs.cert_requested = True
    except BaseException:  # an exception must not unwind through OpenSSL's C stack
        pass
    return 1


_CERT_CALLBACK = _ffi.callback("int (*)(SSL *, void *)", _cert_callback)


def _keylog_callback(ssl: Any, line: Any) -> None:
    """OpenSSL's key-log callback: hand the NSS key-log line to the context's ``keylog``."""
    # The callback runs inside OpenSSL; an exception here must not unwind through C.
    try:
        engine = _engine_of_ssl(ssl)
        keylog = engine._context._keylog_ref if engine is not None else None
        if keylog is not None:
            keylog(_ffi.string(line))
    except Exception:
        log.exception("SSLKEYLOGFILE callback failed")


_KEYLOG_CALLBACK = _ffi.callback("void (*)(const SSL *, const char *)", _keylog_callback)


class TLSContext:
    """One endpoint's TLS configuration; build with :meth:`build`, share between connections.

    Attributes (read-only): ``resolved``, ``device``, ``role``, ``profile``, ``insecure``,
    ``verifier``, ``wire`` (the :class:`WireProfile`), ``session_tickets`` (sessions can be
    resumed), ``versions`` (the TLS versions offered).
    """

    __slots__ = (
        "__weakref__",
        "_callbacks",
        "_certs",
        "_ctx",
        "_info_keys",
        "_infos",
        "_keylog_ref",
        "_verdicts",
        "device",
        "insecure",
        "profile",
        "resolved",
        "role",
        "session_tickets",
        "verifier",
        "versions",
        "wire",
    )

    resolved: ResolvedEndpoint
    device: Device
    role: Role
    profile: TLSProfile
    insecure: bool
    verifier: PeerVerifier
    session_tickets: bool
    wire: WireProfile
    versions: tuple[TLSVersion, ...]
    _ctx: SSL.Context
    _callbacks: bool
    _certs: PeerCertCache
    _verdicts: VerdictCache | None
    _infos: dict[SessionInfo, SessionInfo]
    _info_keys: dict[tuple[Any, ...], SessionInfo]
    _keylog_ref: Callable[[bytes], None] | None

    def __init__(self) -> None:
        raise TypeError("use TLSContext.build(...)")

    @classmethod
    def build(
        cls,
        resolved: ResolvedEndpoint,
        device: Device,
        *,
        profile: TLSProfile | str = TLSProfile.COMPATIBLE,
        insecure: bool = False,
        keylog: Callable[[bytes], None] | None = None,
        verifier: PeerVerifier | None = None,
        session_tickets: bool = True,
        wire: WireProfile | None = None,
    ) -> TLSContext:
        """Build the context of one endpoint.

        Args:
            resolved: certificates and checks resolved from the parameter block.
            device: the emulated CPU; its firmware decides the TLS versions.
            profile: "compatible" (send alerts) or "strict" (reset, like the firmware).
            insecure: accept any peer certificate. For commissioning tests only: logs a WARNING
                every time, and every connection reports ``SessionInfo.insecure``.
            keylog: called with each NSS key-log line (no trailing newline), for SSLKEYLOGFILE.
            verifier: replaces :func:`ouc.certs.verify_peer_chain` (e.g. the PC-side device
                certificate store with manual trust).
            session_tickets: False disables resumption entirely (``wire.tickets`` "off").
            wire: tickets, chain and key shares on the wire (default: ``WireProfile()``, the
                fit to the CPU's capture; ``WireProfile.LEAN`` for OpenSSL's own behaviour).

        Raises:
            CertError: a passive endpoint without a server certificate (16#80E9), or an own
                certificate OpenSSL refuses / that does not match its key / whose key type the
                device does not support (16#80E2; with the PLC rules, no ``verifier``).
            ConfigError: a firmware without Secure OUC, an unknown profile.
        """
        if verifier is None and resolved.own_key is not None:
            _check_own_key(resolved, device)
        self = object.__new__(cls)
        self.resolved = resolved
        self.device = device
        self.role = resolved.role
        self.profile = TLSProfile.parse(profile)
        self.insecure = bool(insecure)
        # The PLC's rules, with the key types this device supports.
        plc_rules = functools.partial(verify_peer_chain, device=device)
        self.verifier = verifier if verifier is not None else plc_rules
        wire = wire if wire is not None else WireProfile()
        if not session_tickets and wire.resumable:
            wire = dataclasses.replace(wire, tickets=Tickets.OFF)
        self.wire = wire
        self.session_tickets = wire.resumable
        self.versions = device.tls_versions
        if not self.versions:
            raise ConfigError(
                f"{device.family.value} {device.firmware_text} has no Secure OUC (TLS)",
                path="firmware",
            )
        self._keylog_ref = keylog
        self._certs = PeerCertCache()
        # Only the default verifier is known to be pure (a replacement may consult state that
        # changes, such as the PC side's manual trust): only its successes are cached.
        self._verdicts = VerdictCache() if verifier is None else None
        self._infos = {}
        self._info_keys = {}
        # Whether OpenSSL may call back for a connection (verify, certificate request, key
        # log), so that the engine has to be found by its SSL pointer (ENGINES). A server that
        # asks for no client certificate and logs no keys: never.
        self._callbacks = (
            self.role is not Role.PASSIVE or self.resolved.require_peer_cert or keylog is not None
        )
        self._ctx = self._make_context()
        if self.insecure:
            log.warning(
                "TLS peer verification is switched OFF for this %s endpoint (insecure=True): "
                "any certificate is accepted; use only for commissioning tests",
                self.role.value,
            )
        return self

    def _make_context(self) -> SSL.Context:
        passive = self.role is Role.PASSIVE
        ctx = SSL.Context(SSL.TLS_SERVER_METHOD if passive else SSL.TLS_CLIENT_METHOD)
        try:
            self._configure_protocol(ctx)
            self._configure_own_cert(ctx)
        except SSL.Error as exc:
            raise TLSError(
                f"OpenSSL refused the TLS configuration: {exc}",
                status=Status.TLS_HANDSHAKE_FAILURE,
            ) from exc
        mode = SSL.VERIFY_PEER
        if passive:
            mode = SSL.VERIFY_NONE
            if self.resolved.require_peer_cert:
                mode = SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT
        _lib.SSL_CTX_set_verify(_lib.context_ptr(ctx), mode, _VERIFY_CALLBACK)
        if not passive and self.resolved.own_cert is not None:
            _lib.SSL_CTX_set_cert_cb(_lib.context_ptr(ctx), _CERT_CALLBACK, _ffi.NULL)
        if self._keylog_ref is not None:
            _lib.SSL_CTX_set_keylog_callback(_lib.context_ptr(ctx), _KEYLOG_CALLBACK)
        return ctx

    def _configure_protocol(self, ctx: SSL.Context) -> None:
        ctx.set_min_proto_version(SSL.TLS1_2_VERSION)
        top = TLSVersion.TLS1_3 in self.versions
        ctx.set_max_proto_version(SSL.TLS1_3_VERSION if top else SSL.TLS1_2_VERSION)
        ciphers = CIPHERS_TLS12
        if self._needs_legacy_keys():
            # OpenSSL's default security level refuses RSA-1024, which the firmware still
            # offers as a legacy key type (domain.md §3); level 1 allows it and nothing weaker.
            ciphers += ":@SECLEVEL=1"
        ctx.set_cipher_list(ciphers.encode())
        ctx.set_tls13_ciphersuites(CIPHERS_TLS13.encode())
        # pyOpenSSL has no set_groups: pin the classic groups through the raw binding; a
        # client marks the groups it sends key shares for.
        groups = groups_list(self.wire.key_shares) if self.role is Role.ACTIVE else GROUPS
        if _lib.SSL_CTX_set1_curves_list(_lib.context_ptr(ctx), groups.encode()) != 1:
            raise SSL.Error("SSL_CTX_set1_curves_list failed")
        if _lib.SSL_CTX_set1_sigalgs_list(_lib.context_ptr(ctx), SIGALGS.encode()) != 1:
            raise SSL.Error("SSL_CTX_set1_sigalgs_list failed")
        options = SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_COMPRESSION
        tickets = self.wire.tickets
        if tickets is not Tickets.STATELESS:
            # Stateful: TLS 1.3 tickets that name a cached session (a client leaves out the
            # TLS 1.2 session_ticket extension, as the capture's ClientHello size suggests).
            options |= SSL.OP_NO_TICKET
        ctx.set_options(options)
        # Stateless tickets need no server-side cache (10,000 connections cost no cache
        # memory); stateful ones live in OpenSSL's bounded internal cache (20,480 sessions,
        # the oldest dropped first). A client keeps its sessions explicitly (TLSSession).
        cache = SSL.SESS_CACHE_OFF
        if tickets is Tickets.STATEFUL and self.role is Role.PASSIVE:
            cache = SSL.SESS_CACHE_SERVER
        ctx.set_session_cache_mode(cache)
        # A server that verifies client certificates must name its session context, else
        # OpenSSL refuses every resumption ("session id context uninitialized").
        ctx.set_session_id(b"ouc-secure-ouc")
        # One SSL_write writes everything: a memory BIO never blocks.
        ctx.clear_mode(_lib.SSL_MODE_ENABLE_PARTIAL_WRITE)
        # Free the record buffers (2 x ~17 KiB) of idle connections: 10,000 idle connections
        # are the mock PLC's normal load.
        ctx.set_mode(SSL.MODE_RELEASE_BUFFERS)

    def _needs_legacy_keys(self) -> bool:
        key = self.resolved.own_key
        return isinstance(key, rsa.RSAPrivateKey) and key.key_size < 2048

    def _configure_own_cert(self, ctx: SSL.Context) -> None:
        resolved = self.resolved
        if resolved.own_cert is None or resolved.own_key is None:
            if self.role is Role.PASSIVE:
                raise CertError(
                    "a passive secure connection needs its own server certificate with key",
                    status=Status.TLS_NO_SERVER_CERT,
                    path="TLSServerCertRef",
                )
            return
        where = "TLSServerCertRef" if self.role is Role.PASSIVE else "TLSClientCertRef"
        try:
            ctx.use_certificate(resolved.own_cert)
            ctx.use_privatekey(resolved.own_key)  # type: ignore[arg-type]
            ctx.check_privatekey()
            for cert in self._chain_to_send():
                ctx.add_extra_chain_cert(cert)
        except (SSL.Error, TypeError, ValueError) as exc:
            raise CertError(
                f"own certificate {resolved.own_id} cannot be used for TLS: {exc}",
                status=Status.TLS_CERT_INVALID,
                path=where,
            ) from exc

    def _chain_to_send(self) -> tuple[x509.Certificate, ...]:
        """The CAs sent after the own certificate: none unless ``wire.send_chain``; then the
        resolved chain, or else the issuers among the CAs the device holds."""
        resolved = self.resolved
        if not self.wire.send_chain or resolved.own_cert is None:
            return ()
        if resolved.chain:
            return resolved.chain
        return issuing_chain(resolved.own_cert, resolved.anchors + resolved.intermediates)

    def shared_info(self, info: SessionInfo) -> SessionInfo:
        """An equal SessionInfo this context handed out before, else ``info`` (kept).

        Every connection of a server-auth endpoint negotiates the same thing; a mock PLC with
        thousands of idle connections keeps one SessionInfo instead of one each (~180 B).
        Bounded: the table starts afresh after _INFOS_KEPT different ones.
        """
        infos = self._infos
        shared = infos.get(info)
        if shared is not None:
            return shared
        if len(infos) >= _INFOS_KEPT:
            infos.clear()
        infos[info] = info
        return info

    def negotiated(
        self,
        ssl: Any,
        resumed: bool,
        peer: PeerCert | None,
        anchor_id: int | None,
        own_presented: bool,
    ) -> SessionInfo:
        """The shared SessionInfo of what connection ``ssl`` negotiated (after its handshake).

        libssl's version, cipher and group names are constant strings: their addresses, with
        the rest, key a table of this context, so a repeated negotiation (every connection of
        a mock PLC) builds nothing. Bounded like :meth:`shared_info`.
        """
        version = _lib.SSL_get_version(ssl)
        cipher = _lib.SSL_get_current_cipher(ssl)
        # SSL_get0_group_name may crash without a session (pyOpenSSL guards it the same way).
        null = _ffi.NULL
        group = null if _lib.SSL_get_session(ssl) == null else _lib.SSL_get0_group_name(ssl)
        der = peer.der if peer is not None else None
        key = (version, cipher, group, resumed, der, anchor_id, own_presented)
        keys = self._info_keys
        info = keys.get(key)
        if info is not None:
            return info
        info = self.shared_info(
            SessionInfo(
                secure=True,
                version=static_name(version),
                cipher=None if cipher == null else static_name(_lib.SSL_CIPHER_get_name(cipher)),
                group=static_name(group),
                peer_subject=peer.subject if peer is not None else None,
                peer_cert_der=der,
                resumed=resumed,
                own_cert_id=self.resolved.own_id if own_presented else None,
                peer_anchor_id=anchor_id,
                insecure=self.insecure,
            )
        )
        if len(keys) >= _INFOS_KEPT:
            keys.clear()
        keys[key] = info
        return info

    @property
    def keylog(self) -> Callable[[bytes], None] | None:
        return self._keylog_ref

    def __repr__(self) -> str:
        versions = "/".join(v.value for v in self.versions)
        flags = " insecure" if self.insecure else ""
        return f"<TLSContext {self.role.value} {versions} {self.profile.value}{flags}>"
