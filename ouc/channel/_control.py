"""The control socket of a running channel: ``ouc channel set`` / ``status`` from another shell.

A Unix domain socket (mode 0600) next to the channel's configuration file, so ``--config`` finds
it (the socket itself is :class:`ouc.drivers.JsonLineServer`). Requests:

- ``{"op": "status"}`` → ``{"ok": true, "rows": [row, ...]}``
- ``{"op": "set", "tag": "@PLC1@ForceConnectionState", "value": "0", "wait": 5}`` → ``{"ok":
  true, "row": row}`` (``"connection": "PLC1", "variable": "ForceConnectionState"`` instead of
  ``tag`` is the older form, still understood)
- ``{"op": "restart", "keep_values": false, "wait": 5}`` → ``{"ok": true, "rows": [row, ...]}``
- any failure → ``{"ok": false, "error": "ConfigError", "message": ..., "status": 32931,
  "path": ...}``, which :func:`control_request` raises again as that exception.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ouc.channel._channel import Channel
from ouc.drivers import JsonLineServer
from ouc.drivers import control_request as _request
from ouc.errors import ConfigError

__all__ = ["ControlServer", "control_request"]

_MAX_WAIT = 300.0  # seconds a "set ... wait" may keep a connection
_HINT = "set a shorter one with 'control' in the configuration or --control"


class ControlServer(JsonLineServer):
    """Serves a channel's control socket on a thread; one short thread per client.

    Args:
        channel: the running channel.
        path: the socket's path. A stale socket file (no channel answers) is replaced; a live
            one, or a file that is not a socket, is a ConfigError.
    """

    def __init__(self, channel: Channel, path: str | Path) -> None:
        super().__init__(path, name="a channel", hint=_HINT)
        self.channel = channel

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "status":
            return {"rows": [row.to_json() for row in self.channel.status()]}
        if op == "set":
            wait = _wait(request)
            value = request.get("value")
            if request.get("tag") is not None:
                row = self.channel.set(str(request["tag"]), value, wait=wait)
            else:
                connection, variable = request.get("connection"), request.get("variable")
                row = self.channel.set(str(connection), str(variable), value, wait=wait)
            return {"row": row.to_json()}
        if op == "restart":
            keep = request.get("keep_values", False)
            if not isinstance(keep, bool):
                raise ConfigError("keep_values must be true or false", path="keep_values")
            rows = self.channel.restart(keep_values=keep, wait=_wait(request))
            return {"rows": [row.to_json() for row in rows]}
        raise ConfigError(f"unknown operation {op!r}; use status, set or restart", path="op")


def _wait(request: dict[str, Any]) -> float | None:
    wait = request.get("wait")
    if wait is not None and (
        not isinstance(wait, int | float) or isinstance(wait, bool) or not 0 < wait <= _MAX_WAIT
    ):
        raise ConfigError(f"wait must be 0..{_MAX_WAIT:g} seconds", path="wait")
    return None if wait is None else float(wait)


def control_request(
    path: str | Path, request: dict[str, Any], *, timeout: float = 10.0
) -> dict[str, Any]:
    """Send one request to a running channel's control socket; its answer.

    Raises:
        ConfigError: no channel answers at ``path``; the answer is not JSON.
        OucError: the channel refused the request (the same exception class, message, status
            and path as in the channel).
    """
    return _request(
        path,
        request,
        timeout=timeout,
        name="the channel",
        start_hint="is 'ouc channel run' running?",
        hint=_HINT,
    )
