"""What both drivers share: an endpoint's setup, the plant-to-loopback address map, behaviours.

An :class:`EndpointSpec` is built once per endpoint from a CONNECT block: it resolves the
certificate IDs, builds the TLS context once (style: "build each TLS context once per endpoint and
reuse it") and then makes one sans-I/O :class:`~ouc.conn.Connection` per TCP connection. The
drivers only move bytes between sockets and those connections.
"""

from __future__ import annotations

import datetime as dt
import functools
import ipaddress
import logging
import os
import threading
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ouc.certs import CertStore, ResolvedEndpoint, resolve
from ouc.conn import Connection, ConnectionConfig, FrameReceived
from ouc.device import Device, Role
from ouc.drivers._keepalive import DEFAULT_KEEPALIVE, KeepAlive, parse_keepalive
from ouc.drivers._reload import CertReload, CertsReloaded, reload_mode
from ouc.errors import ConfigError, OucConnectionError, Status
from ouc.params import Block, TconIpV4Sec, TconQdnSec, check
from ouc.tls import PeerVerifier, TLSContext, TLSEngine, TLSProfile, TLSSession, WireProfile
from ouc.transport import PlainTransport, Transport

__all__ = [
    "KEYLOG_ENV",
    "AddressMap",
    "Behaviour",
    "Clock",
    "EndpointSpec",
    "KeyLogFile",
    "PeerContext",
    "ResetConnection",
    "callback",
    "echo",
    "offset_clock",
    "receive_only",
    "reply",
    "split_host_port",
    "system_clock",
]

Clock = Callable[[], dt.datetime]

log = logging.getLogger("ouc.drivers")

#: The environment variable browsers, curl and Wireshark agree on for TLS key logs.
KEYLOG_ENV = "SSLKEYLOGFILE"


def system_clock() -> dt.datetime:
    """The host's clock in UTC: the default emulated PLC clock."""
    return dt.datetime.now(dt.UTC)


def offset_clock(plc_time: dt.datetime) -> Clock:
    """An emulated PLC clock that reads ``plc_time`` now and runs on with the host's clock.

    That is how a CPU whose clock was set to another time behaves: certificates are checked
    against its time, which keeps advancing. A naive ``plc_time`` means UTC.
    """
    start = plc_time if plc_time.tzinfo else plc_time.replace(tzinfo=dt.UTC)
    offset = start - system_clock()

    def clock() -> dt.datetime:
        return system_clock() + offset

    return clock


class KeyLogFile:
    """Appends NSS key-log lines (``SSLKEYLOGFILE``) so Wireshark can decrypt the traffic.

    Each line is one ``O_APPEND`` write of a file opened and closed around it: several
    endpoints and processes may share one file without interleaving, and nothing stays open.
    Only handshakes write key lines (a few per connection), so the cost is off the record path.
    The file is created with mode 0600: whoever reads it can decrypt the recorded traffic.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._append(b"")
        except OSError as exc:
            raise ConfigError(
                f"cannot write the TLS key log: {exc.strerror or exc}", path=str(self.path)
            ) from exc

    def _append(self, data: bytes) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if data:
                os.write(fd, data)
        finally:
            os.close(fd)

    def __call__(self, line: bytes) -> None:
        """Append one key-log line (the TLS engine's ``keylog=`` callback)."""
        with self._lock:
            self._append(line.rstrip(b"\n") + b"\n")

    @classmethod
    def from_env(cls, path: str | os.PathLike[str] | None = None) -> KeyLogFile | None:
        """The key log at ``path``, else at ``$SSLKEYLOGFILE``, else None (no key log).

        Raises:
            ConfigError: ``path`` cannot be written. An unwritable ``$SSLKEYLOGFILE`` only
                logs a warning: an environment variable set for another program must not
                stop the endpoint.
        """
        if path is not None:
            return cls(path)
        from_env = os.environ.get(KEYLOG_ENV)
        if not from_env:
            return None
        try:
            return cls(from_env)
        except ConfigError as exc:
            log.warning("%s is set but unusable, no TLS key log: %s", KEYLOG_ENV, exc)
            return None

    def __repr__(self) -> str:
        return f"KeyLogFile({str(self.path)!r})"


def split_host_port(text: str, what: str) -> tuple[str, int | None]:
    """``"192.168.0.1:2000"`` → ``("192.168.0.1", 2000)``; no port → None (ConfigError if bad)."""
    host, sep, port = text.strip().rpartition(":")
    if not sep:
        return text.strip(), None
    try:
        number = int(port)
    except ValueError:
        raise ConfigError(f"{what} {text!r}: port {port!r} is not a number") from None
    if not 0 <= number <= 65535:
        raise ConfigError(f"{what} {text!r}: port {number} is outside 0..65535")
    return host, number


def _map_side(text: str) -> tuple[str, int | None]:
    """One side of an address map entry; something shaped like an IPv4 address must be one
    (``999.0.0.1`` would otherwise be looked up as a host name, and fail only when used)."""
    host, port = split_host_port(text, "address map")
    if host and all(part.isdigit() for part in host.split(".")):
        try:
            ipaddress.IPv4Address(host)
        except ValueError:
            raise ConfigError(
                f"address map {text.strip()!r}: {host!r} is no IPv4 address"
            ) from None
    return host, port


@dataclass(frozen=True)
class AddressMap:
    """Maps plant addresses (192.168.0.1) to where they really run (127.0.0.1 on this host).

    Entries map an address or ``address:port`` to an address or ``address:port``; a port-level
    entry wins over an address-level one. Names (for TCON_QDN's RemoteQDN) map the same way.
    Addresses with no entry are used as they are. The reverse direction turns a connecting
    peer's real address back into its plant address, for the passive side's partner check.
    """

    entries: Mapping[tuple[str, int | None], tuple[str, int | None]] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: list[str] | tuple[str, ...]) -> AddressMap:
        """Parse ``PLANT=LOCAL`` items such as ``192.168.0.1:2000=127.0.0.1:40123``."""
        entries: dict[tuple[str, int | None], tuple[str, int | None]] = {}
        for item in items:
            plant, sep, local = item.partition("=")
            if not sep or not plant.strip() or not local.strip():
                raise ConfigError(
                    f"address map entry {item!r} is not PLANT=LOCAL, "
                    "e.g. 192.168.0.1=127.0.0.1 or 192.168.0.1:2000=127.0.0.1:40123"
                )
            entries[_map_side(plant)] = _map_side(local)
        return cls(entries)

    def add(self, plant: str, plant_port: int | None, local: str, local_port: int | None) -> None:
        """Add an entry (used when a server bound port 0 and learnt its real port)."""
        assert isinstance(self.entries, dict)
        self.entries[(plant, plant_port)] = (local, local_port)

    def to_local(self, host: str, port: int) -> tuple[str, int]:
        """Where to really connect for the plant address ``host:port``."""
        hit = self.entries.get((host, port)) or self.entries.get((host, None))
        if hit is None:
            return host, port
        return hit[0], port if hit[1] is None else hit[1]

    def to_plant(self, host: str, *, exclude: Collection[str] = ()) -> str:
        """The plant address of a peer that connected from ``host`` (itself when unmapped).

        ``exclude`` lists plant addresses that cannot be the peer's (the endpoint's own): when
        the server and its partner both run on 127.0.0.1, the partner's entry must win.
        Port-level entries (``192.168.0.1:2000=127.0.0.1:40123``) say where a listener runs,
        not where a peer connects from (its source port is ephemeral), so they never count.
        """
        for (plant, plant_port), (local, _) in self.entries.items():
            if plant_port is None and local == host and plant not in exclude:
                return plant
        return host


@dataclass(frozen=True)
class PeerContext:
    """Who a passive endpoint is talking to, handed to behaviours with each frame."""

    address: str  # the peer's plant address (after the address map)
    port: int
    connection: Connection
    serial: int = 0  # the connection's number within the endpoint (``connection`` in records)


Behaviour = Callable[[FrameReceived, PeerContext], bytes | None]
"""What a passive endpoint does with each received frame: return bytes to send back, or None."""


class ResetConnection(OucConnectionError):  # noqa: N818 - a request, not an error
    """Raised by a behaviour to end its connection the hard way, like a partner that dies
    mid-frame: the blocking driver sends ``partial`` (as one TSEND_C, through TLS when the
    connection is secure), then resets the TCP connection (RST) and records FAILED with
    ``status`` (default 16#80C6) and ``reset``. For fault injection (``ouc.pytest_plugin``'s
    ``Faults(reset_mid_frame=True)``); the asyncio driver records it as a failed behaviour.
    """

    def __init__(
        self,
        partial: bytes = b"",
        *,
        reason: str = "the behaviour reset the connection",
        status: int = Status.NETWORK_ERROR,
    ) -> None:
        super().__init__(reason, status=status)
        self.partial = bytes(partial)


def receive_only() -> Behaviour:
    """TRCV_C only: take every frame, answer nothing."""

    def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        return None

    return behaviour


def echo() -> Behaviour:
    """Send every received frame straight back (the classic loop-back test partner)."""

    def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        return frame.data

    return behaviour


def reply(data: bytes) -> Behaviour:
    """Answer every received frame with the same data block image ``data``."""
    answer = bytes(data)

    def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        return answer

    return behaviour


def callback(function: Callable[[bytes, PeerContext], bytes | None]) -> Behaviour:
    """A user function per received frame: it gets the frame's bytes and the peer, and returns
    the bytes to send back (or None). Equivalent to writing a :data:`Behaviour` directly."""

    def behaviour(frame: FrameReceived, peer: PeerContext) -> bytes | None:
        return function(frame.data, peer)

    return behaviour


def _len(receive_len: object, device: Device) -> int:
    """TRCV_C's LEN as given to :meth:`EndpointSpec.from_block`: 1..the device's largest LEN.

    0 is refused, as ``--len 0`` on the command line: it is no shorthand for the largest LEN
    (None is). Outside the device's range it is 16#8085, as TRCV_C reports it.
    """
    limit = device.max_send_len
    if isinstance(receive_len, bool) or not isinstance(receive_len, int):
        raise ConfigError(
            f"receive_len must be a whole number of bytes, got {receive_len!r}",
            path="receive_len",
        )
    if not 1 <= receive_len <= limit:
        # The text names no argument: the CLI puts its flag (--len, --reply-len) in front.
        hint = f" (None, not 0, receives ad hoc up to {limit} bytes)" if receive_len == 0 else ""
        raise ConfigError(
            f"LEN {receive_len} is outside 1..{limit} on an {device.family.value}{hint}",
            status=Status.LEN_INVALID,
            path="receive_len",
        )
    return receive_len


@dataclass(frozen=True)
class EndpointSpec:
    """One endpoint's fixed configuration, and the factory of its per-TCP-connection machines.

    Build with :meth:`from_block`. ``tls`` is None for plain TCP (ActivateSecureConn FALSE) and
    ISO-on-TCP.
    """

    block: Block
    device: Device
    config: ConnectionConfig
    tls: TLSContext | None
    clock: Clock
    resolved: ResolvedEndpoint | None = None
    device_name: str | None = None
    keylog: KeyLogFile | None = None
    keepalive: KeepAlive | None = DEFAULT_KEEPALIVE
    certs: CertReload | None = None
    # Wraps each connection's TLS engine (fault injection: ``ouc.drivers._handshake_faults``).
    wrap_transport: Callable[[TLSEngine], Transport] | None = None

    @property
    def role(self) -> Role:
        return self.config.role

    @property
    def name(self) -> str:
        """The emulated device's name, as status lines show it (``PLC_1``)."""
        return self.device_name or self.device.name

    @property
    def block_name(self) -> str:
        """The block this endpoint plays: TRCV_C (passive) or TSEND_C (active)."""
        return "TRCV_C" if self.role is Role.PASSIVE else "TSEND_C"

    @property
    def plant_address(self) -> str | None:
        """The device's own plant address (the first of ``device.own_addresses``), if known."""
        own = self.device.own_addresses
        return own[0] if own else None

    @classmethod
    def from_block(
        cls,
        block: Block,
        *,
        device: Device | None = None,
        store: CertStore | None = None,
        device_name: str | None = None,
        receive_len: int | None = None,
        adhoc: bool | None = None,
        profile: TLSProfile | str = TLSProfile.COMPATIBLE,
        insecure: bool = False,
        keylog: Callable[[bytes], None] | Literal[False] | None = None,
        verifier: PeerVerifier | None = None,
        clock: Clock = system_clock,
        handshake_timeout: float | None = 10.0,
        idle_timeout: float | None = None,
        resolved: ResolvedEndpoint | None = None,
        session_tickets: bool = True,
        wire: WireProfile | None = None,
        keylog_file: str | os.PathLike[str] | None = None,
        check_block: bool = True,
        keepalive: KeepAlive | str | None = DEFAULT_KEEPALIVE,
        half_close: str = "drop",
        com_rst: str = "rst",
        stop: str = "fin",
        cert_reload: str = "auto",
    ) -> EndpointSpec:
        """Set up an endpoint from its CONNECT block.

        Args:
            block: any ``ouc.params`` block; its ActiveEstablished decides the role.
            device: the emulated CPU (default: S7-1500 V3.1).
            store: the project certificate store, needed when the block is secure (unless
                ``resolved`` is given).
            device_name: whose certificate assignments count (default ``device.name``).
            receive_len: TRCV_C LEN: the fixed frame length, or the largest ad hoc piece,
                1..the device's largest LEN (0 is refused, 16#8085). When None, receive ad hoc
                up to the device's largest LEN.
            adhoc: TRCV_C ADHOC; default: True when ``receive_len`` is None, else False.
            profile / insecure / keylog / verifier / session_tickets / wire: see
                ``TLSContext.build``.
            clock: the emulated PLC clock that certificates are checked against.
            handshake_timeout / idle_timeout: seconds; expiry is 16#80C4 / 16#80C6 (inferences,
                see ``Connection.handle_timer``).
            resolved: certificates already resolved (skips the store).
            keylog_file: append NSS key-log lines here (for Wireshark). When neither this nor
                ``keylog`` is given, the ``SSLKEYLOGFILE`` environment variable is honoured;
                ``keylog=False`` means no key log whatever the environment says (and no
                callback into Python during handshakes).
            check_block: first check the block the way TCON does (``ouc.params.check`` on
                ``device``), so a mock PLC refuses what the CPU refuses (16#80B7, 16#80A2, ...).
            keepalive: TCP keep-alive on this endpoint's sockets, accepted and connected: a
                :class:`KeepAlive`, its text (``"30,10,3"``) or None / ``"off"`` for none.
                Default: 30 s idle, as the CPU in the seed capture (domain.md §4).
            half_close / com_rst / stop: the inferred behaviours of ``ConnectionConfig``: frames
                before the partner's close_notify ("drop" or "answer"), and what the partner
                sees on COM_RST and STOP ("rst" or "fin").
            cert_reload: how certificates renewed or replaced in ``store`` reach the running
                endpoint (``ouc.drivers._reload``): "live" (the next connections, within a
                second), "download" (only at :meth:`reload_certificates`), "auto" (live on an
                S7-1500 from V3.1, like the CPU; download below). Only with ``store``.

        Raises:
            OucError: the block breaks a TCON rule (its status and field), the block's
                certificates do not resolve (16#80E9, 16#80ED, ...), the device has no Secure
                OUC, LEN is out of range (16#8085).
        """
        device = device or Device()
        keylog_writer: KeyLogFile | None = None
        if check_block:
            check(block, device=device)
        if adhoc is None:
            adhoc = receive_len is None
        config = ConnectionConfig.from_block(
            block,
            device,
            receive_len=device.max_send_len if receive_len is None else _len(receive_len, device),
            adhoc=adhoc,
            handshake_timeout=handshake_timeout,
            idle_timeout=idle_timeout,
            half_close=half_close,
            com_rst=com_rst,
            stop=stop,
        )
        tls = None
        certs = None
        if block.secure:
            assert isinstance(block, TconIpV4Sec | TconQdnSec)  # only these types can be secure
            if resolved is None:
                if store is None:
                    raise ConfigError(
                        "the block has ActivateSecureConn TRUE: give a certificate store "
                        "(--store DIR; create one with 'ouc certs init')",
                        path="ActivateSecureConn",
                    )
                resolved = resolve(store, block, device=device_name or device.name, now=clock())
                from_store: CertStore | None = store
            else:
                from_store = None
            if keylog is None:
                keylog_writer = KeyLogFile.from_env(keylog_file)
                keylog = keylog_writer
            build = functools.partial(
                TLSContext.build,
                device=device,
                profile=profile,
                insecure=insecure,
                keylog=keylog or None,
                verifier=verifier,
                session_tickets=session_tickets,
                wire=wire,
            )
            tls = build(resolved)
            if from_store is not None:
                certs = CertReload(
                    from_store,
                    block,
                    device_name=device_name or device.name,
                    clock=clock,
                    build=build,
                    resolved=resolved,
                    tls=tls,
                    mode=reload_mode(cert_reload, device),
                )
        return cls(
            block=block,
            device=device,
            config=config,
            tls=tls,
            clock=clock,
            resolved=resolved,
            device_name=device_name,
            keylog=keylog_writer,
            keepalive=parse_keepalive(keepalive, "keepalive"),
            certs=certs,
        )

    @functools.cached_property
    def _any_partner(self) -> bool:
        """RemoteAddress is 0.0.0.0 (or absent): parsed once, not per accepted connection."""
        remote = self.block.remote_address
        return remote is None or ipaddress.IPv4Address(remote) == ipaddress.IPv4Address(0)

    def partner_allowed(self, plant_address: str) -> bool:
        """The passive side's partner check: RemoteAddress 0.0.0.0 accepts anyone (16#80C9)."""
        return self._any_partner or plant_address == self.block.remote_address

    def new_connection(
        self, *, peer_address: str | None = None, session: TLSSession | None = None
    ) -> Connection:
        """A fresh sans-I/O connection (call ``connect(now)`` once the TCP link is up).

        Args:
            peer_address: the partner's plant address (the SAN check of the active side uses
                the address it connected to).
            session: a TLS session to offer for resumption (active side only).
        """
        return self.new_connection_and_engine(peer_address=peer_address, session=session)[0]

    def new_connection_and_engine(
        self, *, peer_address: str | None = None, session: TLSSession | None = None
    ) -> tuple[Connection, TLSEngine | None]:
        """Like :meth:`new_connection`, and also the TLS engine under it (None for plain TCP).

        An active endpoint needs the engine for :attr:`TLSEngine.session` (resumption on the
        next connection); the Connection does not expose its transport.
        """
        certs = self.certs
        tls = self.tls if certs is None else certs.context()
        if tls is None:
            return Connection(self.config, PlainTransport()), None
        if session is not None and session.context is not tls:
            session = None  # made with certificates since reloaded: a full handshake
        engine = TLSEngine(tls, now=self.clock, peer_address=peer_address, session=session)
        wrap = self.wrap_transport
        return Connection(self.config, engine if wrap is None else wrap(engine)), engine

    def reload_certificates(self) -> CertsReloaded | None:
        """The "download": take the block's certificates from the store again, now.

        Connections set up afterwards use them; established ones keep theirs. Returns what
        changed (None: nothing did). A CPU below firmware V3.1 gets new certificates only so
        (domain.md §7); from V3.1 the endpoint also notices changes by itself.

        Raises:
            ConfigError: the endpoint's certificates did not come from a store.
            OucError: they no longer resolve or cannot be used; the endpoint keeps its own.
        """
        if self.certs is None:
            raise ConfigError(
                "this endpoint's certificates did not come from a certificate store: nothing "
                "to reload",
                path="store",
            )
        return self.certs.reload()

    def request_certificate_reload(self) -> None:
        """Ask for :meth:`reload_certificates` at the next connection (signal-handler safe)."""
        if self.certs is not None:
            self.certs.request()


def refused_status() -> int:
    """The status a passive endpoint reports for a partner that is not its RemoteAddress."""
    return int(Status.PARTNER_REFUSED)
