"""What one TSEND_C/TRCV_C connection is configured with, and how a parameter block becomes that.

:class:`ConnectionConfig` gathers what the state machine needs from the CONNECT block (role, ID,
ISO-on-TCP TSAPs), from the blocks' own inputs (the receive LEN, ADHOC) and from the driver
(timeouts, the emulated device). The parameter-block classes live in ``ouc.params``; this module
only relies on the attributes every block has (``role``, ``secure``, ``conn_id``, ``type_name``,
``protocol``) plus the TSAPs of ISO-on-TCP blocks, described here as :class:`typing.Protocol` so
that this layer-2 module does not depend on the block classes themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from ouc.device import Device, Role
from ouc.errors import ConfigError, ParamError, Status
from ouc.framing import TPDU_SIZES

__all__ = ["BlockLike", "ConnectionConfig", "IsoConfig", "TSelectorLike"]

#: The TPDU size an ISO-on-TCP endpoint proposes unless told otherwise (C0 = 0A, as S7 stacks do).
DEFAULT_ISO_TPDU_SIZE = 1024
TSEL_MAX = 32
#: What the partner sees on COM_RST / STOP: a TCP reset or an orderly close.
WIRE_CHOICES = ("rst", "fin")
#: What happens to frames that came before the partner's close_notify.
HALF_CLOSE_CHOICES = ("drop", "answer")


class TSelectorLike(Protocol):
    """A ``TCON_IP_RFC`` T selector: ``{TSelLength UInt; TSel Array[1..32] of Byte}``."""

    @property
    def TSelLength(self) -> int: ...

    @property
    def TSel(self) -> Sequence[int]: ...


class BlockLike(Protocol):
    """What :meth:`ConnectionConfig.from_block` reads from any ``ouc.params`` block."""

    @property
    def role(self) -> Role: ...

    @property
    def secure(self) -> bool: ...

    @property
    def conn_id(self) -> int: ...

    @property
    def type_name(self) -> str: ...


@dataclass(frozen=True)
class IsoConfig:
    """ISO-on-TCP (RFC 1006) settings of one endpoint.

    Attributes:
        local_tsap: our TSAP: the calling TSAP of our CR (active side), the TSAP a CR must call
            (passive side).
        remote_tsap: the partner's TSAP: the called TSAP of our CR (active side); on the passive
            side the calling TSAP a CR must carry, or empty to accept any calling TSAP.
        tpdu_size: the largest TPDU we propose/accept (128..8192); the smaller of both sides wins.
        refuse_oversized_dt: end the connection as for any other COTP protocol error
            (``ouc.framing.MALFORMED``) when the partner sends a DT TPDU larger than the
            negotiated TPDU size. Inference
            from ISO 8073 (the negotiated size is the largest TPDU either side may send);
            domain.md §6 is silent, so it is off by default and such a DT is accepted.
    """

    local_tsap: bytes
    remote_tsap: bytes = b""
    tpdu_size: int = DEFAULT_ISO_TPDU_SIZE
    refuse_oversized_dt: bool = False

    def __post_init__(self) -> None:
        if self.tpdu_size not in TPDU_SIZES:
            raise ConfigError(
                f"TPDU size {self.tpdu_size} is not a power of two in 128..8192", path="tpdu_size"
            )
        for name in ("local_tsap", "remote_tsap"):
            if len(getattr(self, name)) > TSEL_MAX:
                raise ConfigError(
                    f"a TSAP has at most {TSEL_MAX} bytes", status=Status.PORT_OR_ADDRESS, path=name
                )


@dataclass(frozen=True)
class ConnectionConfig:
    """Everything the sans-I/O connection needs to behave like TSEND_C/TRCV_C.

    Attributes:
        role: ACTIVE (TSEND_C side, TLS client) or PASSIVE (TRCV_C side, TLS server).
        receive_len: TRCV_C LEN (the DATA size when LEN is 0): the frame length with ``adhoc``
            FALSE, the largest piece with ``adhoc`` TRUE, the receive area for ISO-on-TCP.
        adhoc: TRCV_C ADHOC. Ignored for ISO-on-TCP, where one receive is one message.
        iso: ISO-on-TCP settings, None for TCP (plain or TLS).
        handshake_timeout: seconds from ``connect()`` until the connection must be established
            (TLS handshake and CR/CC), None for no limit. Expiry is 16#80C4 (inference).
        idle_timeout: seconds without data in either direction before the connection is dropped
            (16#80C6, inference), None for no limit.
        close_timeout: seconds ``close()`` waits for the partner to close its side.
        device: the emulated CPU (its largest LEN).
        conn_id: the CONNECT block's ID; also the COTP source reference.
        secure: whether the block asked for TLS (informational: the transport decides).
        type_name: the CONNECT block's type, for messages.
        enable_receive: TRCV_C's EN_R at the start (True: the receive job waits, 7006).
        com_rst: what the partner sees on COM_RST: "rst" (the TCP connection is reset) or
            "fin" (close_notify and an orderly close). The help does not say; "rst" for an
            abort is an inference.
        stop: what the partner sees when the CPU goes to STOP: "fin" or "rst" (the help does
            not say; "fin", the CPU closing its connections in order, is an inference).
        half_close: after the partner's close_notify, "drop" sends nothing more (frames that
            came with it are not answered, whatever the timing) and "answer" answers the frames
            that arrived before it, then closes (RFC 8446 §6.1 allows it). What the CPU does is
            not documented; "drop", a mock at least as strict, is an inference.
    """

    role: Role
    receive_len: int
    adhoc: bool = False
    iso: IsoConfig | None = None
    handshake_timeout: float | None = 10.0
    idle_timeout: float | None = None
    close_timeout: float = 5.0
    device: Device = field(default_factory=Device)
    conn_id: int = 1
    secure: bool = False
    type_name: str = ""
    enable_receive: bool = True
    com_rst: str = "rst"
    stop: str = "fin"
    half_close: str = "drop"

    def __post_init__(self) -> None:
        for name, choices in (
            ("com_rst", WIRE_CHOICES),
            ("stop", WIRE_CHOICES),
            ("half_close", HALF_CLOSE_CHOICES),
        ):
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}",
                    path=name,
                )
        limit = self.device.max_send_len
        if not 1 <= self.receive_len <= limit:
            raise ConfigError(
                f"receive LEN {self.receive_len} is outside 1..{limit} for "
                f"{self.device.family.value}",
                status=Status.LEN_INVALID,
                path="receive_len",
            )
        for name in ("handshake_timeout", "idle_timeout", "close_timeout"):
            value = getattr(self, name)
            if value is not None and not value > 0:
                raise ConfigError(f"{name} must be positive seconds, got {value}", path=name)
        if self.iso is not None and self.secure:
            raise ConfigError("ISO-on-TCP has no secure variant (domain.md §2)", path="iso")

    @classmethod
    def from_block(
        cls,
        block: BlockLike,
        device: Device,
        *,
        receive_len: int,
        adhoc: bool = False,
        handshake_timeout: float | None = 10.0,
        idle_timeout: float | None = None,
        close_timeout: float = 5.0,
        tpdu_size: int = DEFAULT_ISO_TPDU_SIZE,
        half_close: str = "drop",
        com_rst: str = "rst",
        stop: str = "fin",
    ) -> ConnectionConfig:
        """Configure a connection from a CONNECT block (any ``ouc.params`` type).

        ISO-on-TCP is chosen when the block's protocol is ISO-on-TCP (``TCON_IP_RFC``, or
        ``TCON_Param`` with connection type 18); its TSAPs come from ``local_tsap`` /
        ``remote_tsap`` or, failing those, from ``LocalTSelector`` / ``RemoteTSelector``.

        Raises:
            ParamError: a T selector that cannot be read (16#80B7 when longer than 32 bytes).
            ConfigError: UDP blocks, a bad LEN (16#8085) or timeout.
        """
        protocol = getattr(getattr(block, "protocol", None), "name", None)
        if protocol == "UDP":
            raise ConfigError(
                f"{block.type_name} describes a UDP connection; TSEND_C/TRCV_C over UDP is "
                "not emulated",
                status=Status.CONNECTION_TYPE,
                path="ConnectionType",
            )
        iso = None
        if protocol == "ISO_ON_TCP" or block.type_name == "TCON_IP_RFC":
            iso = IsoConfig(
                local_tsap=_tsap(block, "local_tsap", "LocalTSelector"),
                remote_tsap=_tsap(block, "remote_tsap", "RemoteTSelector"),
                tpdu_size=tpdu_size,
            )
        return cls(
            role=block.role,
            receive_len=receive_len,
            adhoc=adhoc,
            iso=iso,
            handshake_timeout=handshake_timeout,
            idle_timeout=idle_timeout,
            close_timeout=close_timeout,
            device=device,
            conn_id=block.conn_id,
            secure=block.secure,
            type_name=block.type_name,
            half_close=half_close,
            com_rst=com_rst,
            stop=stop,
        )


def _tsap(block: object, attribute: str, selector_name: str) -> bytes:
    """The significant TSAP bytes of an ISO-on-TCP block: its T selector, else ``attribute``."""
    selector: TSelectorLike | None = getattr(block, selector_name, None)
    if selector is None:
        value = getattr(block, attribute, b"")
        if not isinstance(value, bytes | bytearray) or len(value) > TSEL_MAX:
            raise ParamError(
                f"TSAP {value!r} is not at most {TSEL_MAX} bytes",
                status=Status.PORT_OR_ADDRESS,
                path=attribute,
            )
        return bytes(value)
    try:
        length = int(selector.TSelLength)
        raw = bytes(selector.TSel)
    except (TypeError, ValueError) as exc:
        raise ParamError(
            f"T selector is not readable: {exc}", status=Status.CONNECT_INVALID, path=selector_name
        ) from exc
    if not 0 <= length <= TSEL_MAX:
        raise ParamError(
            f"TSelLength {length} is outside 0..{TSEL_MAX}",
            status=Status.PORT_OR_ADDRESS,
            path=f"{selector_name}.TSelLength",
        )
    if length > len(raw):
        raise ParamError(
            f"TSelLength {length} is longer than the {len(raw)} bytes of TSel",
            status=Status.CONNECT_INVALID,
            path=f"{selector_name}.TSelLength",
        )
    return raw[:length]
