"""One exception tree for the whole library.

Every exception ouc raises derives from :class:`OucError`. Each carries what a PLC would
report: the ``16#80xx`` status code (``.status`` as an int, ``.status_text`` formatted the way
TIA Portal shows it) and, for parameter and data-block errors, the path of the offending field
(``ConnPara.RemotePort``). Foreign exceptions (construct, OpenSSL, OSError) are translated at the
boundary with ``raise ... from exc``; anything else escaping a parser or state machine is a bug.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = [
    "CertError",
    "ConfigError",
    "DataBlockError",
    "FramingError",
    "OucConnectionError",
    "OucError",
    "ParamError",
    "Status",
    "StoreError",
    "TLSError",
    "WaitTimeoutError",
    "format_status",
]


class Status(IntEnum):
    """The STATUS values of TCON/TSEND_C/TRCV_C that ouc reports (domain.md §2–§4).

    Some codes have more than one documented meaning (16#80B7 covers several port and address
    rules); the member name gives the most common one, the error message the precise one.

    There is no timeout code: neither TCON's nor TSEND_C/TRCV_C's table lists one (16#80C7 is
    in none of them). A handshake that does not finish in time is 16#80C4, an idle or
    unreachable partner 16#80C6 (inferences, see ``ouc.conn.Connection.handle_timer``), and
    an API call that gives up waiting raises :class:`WaitTimeoutError` without a status.
    """

    DONE = 0x0000
    ESTABLISHED = 0x0001
    CLOSED = 0x0003
    NO_JOB = 0x7000
    CONNECTING = 0x7001
    IN_PROGRESS = 0x7002
    DISCONNECTING = 0x7003
    CONNECTED_IDLE = 0x7004
    SENDING = 0x7005
    RECEIVING = 0x7006
    LEN_INVALID = 0x8085
    ID_INVALID = 0x8086
    CONNECTION_LIMIT = 0x8087
    RECEIVE_AREA_TOO_SMALL = 0x8088
    CONNECT_INVALID = 0x8089
    CONNECT_LENGTH = 0x809A
    INTERFACE_ID = 0x809B
    LOCAL_PORT_IN_USE = 0x80A1
    LOCAL_PORT_SYSTEM = 0x80A2
    NO_SUCH_CONNECTION = 0x80A3
    REMOTE_ADDRESS_INVALID = 0x80A4
    RESET_DURING_SEND = 0x80A7
    TSAP_INVALID = 0x80B4
    UDP_ACTIVE = 0x80B5
    CONNECTION_TYPE = 0x80B6
    PORT_OR_ADDRESS = 0x80B7
    ID_MISMATCH = 0x80B8
    TEMPORARY = 0x80C4
    PARTNER_CLOSED = 0x80C5
    NETWORK_ERROR = 0x80C6
    PARTNER_REFUSED = 0x80C9
    QDN_EMPTY = 0x80D0
    QDN_NOT_QUALIFIED = 0x80D1
    QDN_UNRESOLVABLE = 0x80D3
    TLS_BAD_MESSAGE = 0x80E0
    TLS_HANDSHAKE_FAILURE = 0x80E1
    TLS_CERT_INVALID = 0x80E2
    TLS_CERT_DISCARDED = 0x80E3
    TLS_NO_VALID_CA = 0x80E4
    TLS_CERT_EXPIRED = 0x80E5
    TLS_INTEGRITY = 0x80E6
    TLS_UNSUPPORTED_EXTENSION = 0x80E7
    TLS_NO_SERVER_CERT = 0x80E9
    TLS_DTLS_UNSUPPORTED = 0x80EA
    TLS_ACTIVE_REQ_CLIENT_CERT = 0x80EB
    TLS_EXT_CAPABILITIES = 0x80EC
    TLS_CERT_REF_UNKNOWN = 0x80ED


def format_status(status: int) -> str:
    """Format a status word the way TIA Portal shows it: ``0x80b7`` → ``16#80B7``."""
    return f"16#{status:04X}"


class OucError(Exception):
    """Root of every error ouc raises.

    Args:
        message: one sentence a PLC engineer understands.
        status: the 16#xxxx status code a PLC would report, when one applies.
        path: the field path (``ConnPara.RemotePort``, ``Motor.Speed[2]``) or file it concerns.
    """

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.path = path

    @property
    def status_text(self) -> str | None:
        """The status formatted like ``16#80B7``, or None when no PLC code applies."""
        return None if self.status is None else format_status(self.status)

    def __str__(self) -> str:
        message, path = self.message, self.path
        # A message that names its file first already says where (``where: ...``).
        text = f"{path}: {message}" if path and not message.startswith(f"{path}: ") else message
        if self.status is not None:
            text += f" ({format_status(self.status)})"
        return text

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}({self.message!r}, status={self.status_text}, path={self.path!r})"


class ParamError(OucError):
    """A connection description (TCON_* block) that cannot be parsed, built or is invalid."""


class DataBlockError(OucError):
    """A data-block layout declaration, value or byte image that does not fit."""


class FramingError(OucError):
    """Bytes on the wire that do not form valid TSEND_C/TRCV_C or TPKT/COTP frames."""


class CertError(OucError):
    """A certificate that cannot be created, resolved or verified (status 16#80E2..16#80ED).

    ``rule`` names the verification rule that refused a peer certificate (``"expired"``,
    ``"not-a-ca"``, ...; see ``ouc.certs.VERIFY_RULES``): several rules share one PLC status,
    so tools and tests tell them apart by the rule, the PLC by the status.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        path: str | None = None,
        rule: str | None = None,
    ):
        super().__init__(message, status=status, path=path)
        self.rule = rule


class StoreError(CertError):
    """A certificate store on disk that cannot be read or written."""


class TLSError(OucError):
    """A TLS handshake or record failure, mapped to the PLC's 16#80E0..16#80E7 codes."""


class OucConnectionError(OucError):
    """A connection-level failure: refused, closed by the partner, timed out, limit reached."""


class WaitTimeoutError(OucConnectionError, TimeoutError):
    """An API call gave up waiting (``receive(timeout=)``, ``wait_for``, a control's deadline);
    not a PLC status, so ``status`` is None.

    The PLC block would simply keep waiting (TRCV_C stays in 7006, a connection being
    established in 7002): the limit is the caller's, not the CPU's. It is a
    :class:`TimeoutError` too, so ``except TimeoutError`` works as with any Python API.
    """

    def __init__(self, message: str, *, status: int | None = None, path: str | None = None) -> None:
        # ``status`` is accepted so that ``type(exc)(msg, status=exc.status, path=...)`` re-raises
        # work for every OucError; a wait that ran out has no PLC status to carry.
        if status is not None:
            raise ValueError(f"a WaitTimeoutError carries no PLC status, not {status!r}")
        super().__init__(message, path=path)


class ConfigError(OucError):
    """Bad user input outside the PLC's own data: command-line arguments, config files."""
