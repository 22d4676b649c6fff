"""The PLC program's controls of a running endpoint, from another shell or thread.

:class:`PlcControl` puts the controls of any endpoint — blocking or asyncio, passive or active —
behind one synchronous, thread-safe call (:meth:`PlcControl.do`); an asyncio endpoint's
coroutines run on its loop. :class:`PlcControlServer` serves them on a control socket, which is
how ``ouc serve --control PATH`` / ``ouc connect --control PATH`` take ``ouc plc`` commands.

Requests (one JSON object per line; see :mod:`ouc.drivers._control_socket`):

- ``{"op": "status"}`` → the CPU's state, CONT, EN_R, the connections, both blocks' STATUS;
- ``{"op": "cont", "value": true}``, ``{"op": "en_r", "value": false}``;
- ``{"op": "req", "data": "<hex>", "len": 0}`` (TSEND_C: send a frame);
- ``{"op": "com_rst"}``, ``{"op": "stop"}``, ``{"op": "run"}`` (the CPU's STOP and RUN);
- ``{"op": "download"}``: certificates renewed or replaced in the store since reach the endpoint
  for its next connections (how a CPU below firmware V3.1 gets them, domain.md §7).
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from ouc.conn import Connection
from ouc.drivers._control_socket import JsonLineServer
from ouc.errors import ConfigError, WaitTimeoutError, format_status

__all__ = ["CONTROL_TIMEOUT", "OPS", "PlcControl", "PlcControlServer"]

#: The control operations and what each does.
OPS = {
    "status": "show the CPU's state, CONT, EN_R and both blocks' STATUS",
    "cont": "CONT 0/1: establish, or close in order (16#7003 → 16#0003)",
    "req": "REQ: TSEND_C sends DATA (hex)",
    "en_r": "EN_R 0/1: TRCV_C receives, or received frames wait (16#7004)",
    "com_rst": "COM_RST: reset the established connection(s), then establish again",
    "stop": "the CPU goes to STOP: every connection ends, a passive port closes",
    "run": "the CPU goes to RUN: listening / connecting again",
    "download": "load certificates renewed or replaced in the store (for the next connections)",
}

#: Seconds one control of an asyncio endpoint may take (an active endpoint re-establishing);
#: then it is cancelled and fails with :class:`~ouc.errors.WaitTimeoutError` (no PLC status). A
#: client waits a little longer for the answer.
CONTROL_TIMEOUT = 30.0


def _flag(value: Any, op: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in (0, 1, "0", "1"):
        return bool(int(value))
    raise ConfigError(f"{op} takes 0 or 1, got {value!r}", path=op)


class PlcControl:
    """The controls of one endpoint, callable from any thread.

    Args:
        endpoint: a :class:`~ouc.drivers.PassiveEndpoint`, :class:`~ouc.drivers.ActiveEndpoint`
            or their asyncio counterparts.
        loop: the event loop an asyncio endpoint runs on (default: the endpoint's ``loop``,
            known once it was started or connected; None for a blocking endpoint).
    """

    def __init__(self, endpoint: Any, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.endpoint = endpoint
        self._loop = loop

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        """The asyncio endpoint's loop (None for a blocking endpoint)."""
        loop = self._loop or getattr(self.endpoint, "loop", None)
        return loop if isinstance(loop, asyncio.AbstractEventLoop) else None

    def _call(self, result: Any) -> Any:
        if not inspect.isawaitable(result):
            return result
        if self.loop is None:
            raise ConfigError("an asyncio endpoint needs its loop for controls", path="loop")
        awaitable: Awaitable[Any] = result
        future = asyncio.run_coroutine_threadsafe(_wrap(awaitable), self.loop)
        try:
            return future.result(CONTROL_TIMEOUT)
        except TimeoutError:
            future.cancel()  # not carried out later, behind the caller's back
            raise WaitTimeoutError(
                f"the control did not finish within {CONTROL_TIMEOUT:g} s; it was cancelled"
            ) from None

    def do(self, op: str, value: Any = None, *, length: int = 0) -> dict[str, Any]:
        """Carry out one control; the state afterwards (:meth:`status`).

        Raises:
            ConfigError: an unknown operation or value.
            OucError: the endpoint refused (16#80A3 for a REQ without a connection, ...).
            WaitTimeoutError: an asyncio endpoint's control took longer than
                :data:`CONTROL_TIMEOUT` (it is cancelled; no PLC status).
        """
        endpoint = self.endpoint
        if op == "cont":
            self._call(endpoint.set_cont(_flag(value, op)))
        elif op == "en_r":
            self._call(endpoint.enable_receive(_flag(value, op)))
        elif op == "req":
            try:
                data = bytes.fromhex(str(value or ""))
            except ValueError as exc:
                raise ConfigError(f"DATA is not hex: {exc}", path="data") from exc
            self._call(endpoint.send(data, length))
        elif op == "com_rst":
            self._call(endpoint.com_rst())
        elif op == "stop":
            self._call(endpoint.cpu_stop())
        elif op == "run":
            self._call(endpoint.cpu_run())
        elif op == "download":
            change = endpoint.spec.reload_certificates()
            state = self.status()
            state["certificates"] = None if change is None else change.line()
            return state
        elif op != "status":
            raise ConfigError(f"unknown operation {op!r}; use {', '.join(OPS)}", path="op")
        return self.status()

    def status(self) -> dict[str, Any]:
        """The CPU's state, CONT, EN_R, the connections, and the blocks' STATUS."""
        if self.loop is not None:
            result: dict[str, Any] = self._call(_as_coroutine(self._status))
            return result
        return self._status()

    def _status(self) -> dict[str, Any]:
        endpoint = self.endpoint
        if hasattr(endpoint, "peers"):
            conns: list[Connection] = [peer.connection for peer in endpoint.peers()]
        else:
            conn = endpoint.connection
            conns = [conn] if conn is not None else []
        return {
            "device": endpoint.spec.name,
            "block": endpoint.spec.block_name,
            "cpu": "RUN" if endpoint.cpu_running else "STOP",
            "cont": bool(endpoint.cont),
            "en_r": bool(endpoint.en_r),
            "connections": [
                {
                    "state": conn.state.value,
                    "TSEND_C": format_status(conn.tsend.STATUS),
                    "TRCV_C": format_status(conn.trcv.STATUS),
                }
                for conn in conns
            ],
        }


async def _wrap(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


async def _as_coroutine(function: Callable[[], Any]) -> Any:
    """Run ``function`` in the loop (an asyncio endpoint's state is read there only)."""
    return function()


class PlcControlServer(JsonLineServer):
    """A control socket for one endpoint (``ouc serve/connect --control PATH``)."""

    def __init__(self, control: PlcControl, path: str | Path, *, name: str) -> None:
        super().__init__(path, name=name)
        self.control = control

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = str(request.get("op"))
        value = request.get("data") if op == "req" else request.get("value")
        length = request.get("len", 0)
        if not isinstance(length, int) or isinstance(length, bool) or length < 0:
            raise ConfigError(f"LEN must be a whole number of bytes, got {length!r}", path="len")
        return {"state": self.control.do(op, value, length=length)}
