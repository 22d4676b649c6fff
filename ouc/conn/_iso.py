"""The ISO-on-TCP (RFC 1006) phase of a connection: the CR/CC exchange, then DT messages.

:class:`IsoPhase` is the part of :class:`~ouc.conn.Connection` that speaks COTP once the
transport is up; the connection hands its received plaintext here while the block's CONNECT
is a ``TCON_IP_RFC`` (or ``TCON_Param`` type 18). It moves the connection only through the
connection's own steps (``_establish``, ``_end``, ``_fail``), so the table still decides.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from ouc.conn._config import ConnectionConfig, IsoConfig
from ouc.conn._events import BlockOutputs, ConnectionEvent, ConnState, ReceiveFailed
from ouc.conn._table import BlockEvent, LocalProtocolError
from ouc.device import Role
from ouc.errors import FramingError, Status
from ouc.framing import (
    DR_TSAP_UNKNOWN,
    MALFORMED,
    ConnectionConfirm,
    ConnectionRequest,
    DataTPDU,
    DisconnectRequest,
    ErrorTPDU,
    MessageAssembler,
    Tpdu,
    TpduDecoder,
)
from ouc.transport import EventQueue

__all__ = ["IsoPhase"]

E = BlockEvent
_RECEIVING = int(Status.RECEIVING)


class IsoPhase:
    """COTP class 0 over the connection's transport (mixed into the connection)."""

    __slots__ = ("_assembler", "_decoder", "tpdu_size")

    _assembler: MessageAssembler | None
    _decoder: TpduDecoder | None
    tpdu_size: int | None

    if TYPE_CHECKING:
        config: ConnectionConfig
        trcv: BlockOutputs
        _state: ConnState
        _events: EventQueue[ConnectionEvent]

        def _fail(self, status: int, reason: str) -> None: ...
        def _end(self, event: BlockEvent, status: int, reason: str) -> None: ...
        def _set(self, outputs: BlockOutputs, status: int) -> None: ...
        def _deliver(self, frames: list[bytes]) -> None: ...
        def _send_raw(self, data: bytes) -> None: ...
        def _establish(self, event: BlockEvent, handler: Callable[[bytes], None]) -> None: ...

    def _start_iso(self) -> None:
        """The transport is up: set up COTP and, on the active side, send the CR."""
        iso = self._iso()
        self._decoder = TpduDecoder()
        self._assembler = MessageAssembler(self.config.receive_len)
        if self.config.role is Role.ACTIVE:
            request = ConnectionRequest(
                calling_tsap=iso.local_tsap,
                called_tsap=iso.remote_tsap,
                tpdu_size=iso.tpdu_size,
                src_ref=self.config.conn_id,
            )
            self._send_raw(request.encode())

    def _iso(self) -> IsoConfig:
        iso = self.config.iso
        if iso is None:
            raise LocalProtocolError("ISO-on-TCP on a connection configured for TCP")
        return iso

    def _on_iso_data(self, data: bytes) -> None:
        """ISO-on-TCP: CR/CC while connecting, DT messages once connected."""
        decoder = self._decoder
        if decoder is None:
            raise LocalProtocolError("ISO-on-TCP data before the transport was up")
        decoder.feed(data)
        while self._state in (ConnState.ISO_CONNECTING, ConnState.CONNECTED):
            try:
                tpdu = decoder.next_tpdu()
            except FramingError as exc:
                self._fail(exc.status or MALFORMED, exc.message)
                return
            if tpdu is None:
                return
            self._on_tpdu(tpdu)

    def _on_tpdu(self, tpdu: Tpdu) -> None:
        connected = self._state is ConnState.CONNECTED
        active = self.config.role is Role.ACTIVE
        if isinstance(tpdu, DataTPDU) and connected:
            self._on_dt(tpdu)
        elif isinstance(tpdu, ConnectionRequest) and not connected and not active:
            self._on_cr(tpdu)
        elif isinstance(tpdu, ConnectionConfirm) and not connected and active:
            self._on_cc(tpdu)
        elif isinstance(tpdu, DisconnectRequest):
            if connected:
                self._end(
                    E.PARTNER_CLOSED,
                    int(Status.PARTNER_CLOSED),
                    f"the partner disconnected (DR reason 16#{tpdu.reason:02X})",
                )
            else:
                self._fail(
                    Status.TEMPORARY,
                    f"the partner refused the ISO-on-TCP connection (DR reason "
                    f"16#{tpdu.reason:02X}); check the TSAPs",
                )
        elif isinstance(tpdu, ErrorTPDU):
            self._fail(MALFORMED, f"the partner rejected a TPDU (ER cause 16#{tpdu.cause:02X})")
        else:
            phase = "after" if connected else "before"
            self._fail(
                MALFORMED, f"unexpected COTP {type(tpdu).__name__} {phase} the connection was up"
            )

    def _on_dt(self, tpdu: DataTPDU) -> None:
        assembler = self._assembler
        if assembler is None:
            raise LocalProtocolError("ISO-on-TCP DT before the connection was up")
        # Off by default: the size (the DT header of LI, code and EOT/NR, and the data) is
        # looked at only when the option is on.
        if (
            self._iso().refuse_oversized_dt
            and self.tpdu_size
            and (size := 3 + len(tpdu.data)) > self.tpdu_size
        ):
            # Inference from ISO 8073 (IsoConfig.refuse_oversized_dt); off by default.
            self._fail(
                MALFORMED,
                f"the partner sent a DT TPDU of {size} bytes, more than the negotiated TPDU "
                f"size of {self.tpdu_size}",
            )
            return
        try:
            message = assembler.add(tpdu.data, tpdu.eot)
        except FramingError as exc:
            status = exc.status or Status.RECEIVE_AREA_TOO_SMALL
            self._set(self.trcv, status)
            self._events.append(ReceiveFailed(int(status), exc.message))
            return
        if message is not None:
            self._deliver([message])
        elif self.trcv._status != _RECEIVING:
            self._set(self.trcv, _RECEIVING)

    def _on_cr(self, request: ConnectionRequest) -> None:
        iso = self._iso()
        refusal = None
        if request.called_tsap != iso.local_tsap:
            refusal = (
                f"called TSAP {_tsap_text(request.called_tsap)} is not the local TSAP "
                f"{_tsap_text(iso.local_tsap)}"
            )
        elif iso.remote_tsap and request.calling_tsap != iso.remote_tsap:
            refusal = (
                f"calling TSAP {_tsap_text(request.calling_tsap)} is not the partner TSAP "
                f"{_tsap_text(iso.remote_tsap)}"
            )
        if refusal is not None:
            refuse = DisconnectRequest(
                dst_ref=request.src_ref, src_ref=self.config.conn_id, reason=DR_TSAP_UNKNOWN
            )
            self._send_raw(refuse.encode())
            self._fail(Status.PARTNER_REFUSED, f"refused an ISO-on-TCP connection: {refusal}")
            return
        self.tpdu_size = min(request.negotiated_size, iso.tpdu_size)
        confirm = ConnectionConfirm(
            calling_tsap=request.calling_tsap,
            called_tsap=request.called_tsap,
            tpdu_size=self.tpdu_size,
            src_ref=self.config.conn_id,
            dst_ref=request.src_ref,
        )
        self._send_raw(confirm.encode())
        if self._state is ConnState.ISO_CONNECTING:
            self._establish(E.ESTABLISHED, self._on_iso_data)

    def _on_cc(self, confirm: ConnectionConfirm) -> None:
        iso = self._iso()
        if confirm.dst_ref != self.config.conn_id:
            self._fail(
                MALFORMED,
                f"CC answers reference {confirm.dst_ref}, our CR had {self.config.conn_id}",
            )
            return
        if confirm.class_option >> 4:
            self._fail(
                MALFORMED, f"the partner chose COTP class {confirm.class_option >> 4}, not 0"
            )
            return
        self.tpdu_size = min(confirm.negotiated_size, iso.tpdu_size)
        self._establish(E.ESTABLISHED, self._on_iso_data)


def _tsap_text(tsap: bytes | None) -> str:
    if tsap is None:
        return "none"
    if tsap and all(0x20 <= b < 0x7F for b in tsap):
        return f"'{tsap.decode('ascii')}'"
    return tsap.hex(" ").upper() or "empty"
