"""The control socket of a running channel: ``ouc channel set`` / ``status`` from another shell.

Decision: a Unix domain socket (mode 0600) next to the channel's configuration file, not a
loopback TCP port. Only the user who runs the channel (and root) can connect to it, with no
token to manage, and its path follows from the configuration file, so ``--config`` finds it.

The protocol is one JSON object per line each way, one request per connection:

- ``{"op": "status"}`` → ``{"ok": true, "rows": [row, ...]}``
- ``{"op": "set", "tag": "@PLC1@ForceConnectionState", "value": "0", "wait": 5}`` → ``{"ok":
  true, "row": row}`` (``"connection": "PLC1", "variable": "ForceConnectionState"`` instead of
  ``tag`` is the older form, still understood)
- ``{"op": "restart", "keep_values": false, "wait": 5}`` → ``{"ok": true, "rows": [row, ...]}``
- any failure → ``{"ok": false, "error": "ConfigError", "message": ..., "status": 32931,
  "path": ...}``, which :func:`control_request` raises again as that exception.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import stat
import threading
from pathlib import Path
from typing import Any

from ouc.channel._channel import Channel
from ouc.errors import (
    CertError,
    ConfigError,
    OucConnectionError,
    OucError,
    ParamError,
    StoreError,
    TLSError,
)

__all__ = ["ControlServer", "control_request"]

log = logging.getLogger("ouc.channel")

_MAX_LINE = 64 * 1024  # a request or an answer is far smaller
_MAX_PATH = 107  # sun_path holds 108 bytes with the terminating NUL
_READ_TIMEOUT = 10.0  # seconds a client may take to send its request
_MAX_WAIT = 300.0  # seconds a "set ... wait" may keep a connection
_ERRORS: dict[str, type[OucError]] = {
    cls.__name__: cls
    for cls in (ConfigError, OucConnectionError, CertError, StoreError, TLSError, ParamError)
}


def _check_path(path: Path) -> str:
    text = str(path)
    if len(os.fsencode(text)) > _MAX_PATH:
        raise ConfigError(
            f"the control socket path is longer than {_MAX_PATH} bytes (a Unix socket limit); "
            "set a shorter one with 'control' in the configuration or --control",
            path=text,
        )
    return text


def _read_line(sock: socket.socket) -> bytes:
    """One line (without the newline), at most ``_MAX_LINE`` bytes."""
    data = bytearray()
    while b"\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
        if len(data) > _MAX_LINE:
            raise ConfigError("the control message is too long", path="control")
    return bytes(data.split(b"\n", 1)[0])


class ControlServer:
    """Serves a channel's control socket on a thread; one short thread per client.

    Args:
        channel: the running channel.
        path: the socket's path. A stale socket file (no channel answers) is replaced; a live
            one, or a file that is not a socket, is a ConfigError.
    """

    def __init__(self, channel: Channel, path: str | Path) -> None:
        self.channel = channel
        self.path = Path(path)
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._clients: set[threading.Thread] = set()
        self._lock = threading.Lock()

    def start(self) -> ControlServer:
        """Bind and listen; returns self.

        Raises:
            ConfigError: the path is too long, in use by a running channel, or not a socket;
                the socket cannot be created.
        """
        text = _check_path(self.path)
        self._remove_stale(text)
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.bind(text)
            os.chmod(text, 0o600)
            sock.listen(16)
        except OSError as exc:
            sock.close()
            raise ConfigError(
                f"cannot create the control socket: {exc.strerror or exc}", path=text
            ) from exc
        self._sock = sock
        self._thread = threading.Thread(
            target=self._accept, name="ouc-channel-control", daemon=True
        )
        self._thread.start()
        return self

    def _remove_stale(self, text: str) -> None:
        try:
            mode = os.lstat(text).st_mode
        except FileNotFoundError:
            return
        if not stat.S_ISSOCK(mode):
            raise ConfigError("exists and is not a socket; not replacing it", path=text)
        probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            probe.settimeout(1.0)
            probe.connect(text)
        except OSError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(text)  # nobody listens: left over from a channel that died
            return
        finally:
            probe.close()
        raise ConfigError("a channel is already running with this control socket", path=text)

    def stop(self, timeout: float = 5.0) -> None:
        """Stop accepting, wait for the clients being served, remove the socket file."""
        sock, self._sock = self._sock, None
        if sock is None:
            return
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        sock.close()
        with self._lock:
            threads = [t for t in (self._thread, *self._clients) if t is not None]
        for thread in threads:
            thread.join(timeout)
        with contextlib.suppress(OSError):
            os.unlink(self.path)

    def __enter__(self) -> ControlServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while True:
            sock = self._sock
            if sock is None:
                return
            try:
                client, _ = sock.accept()
            except OSError:
                return  # stop() shut the socket down
            thread = threading.Thread(
                target=self._serve, args=(client,), name="ouc-channel-control-client", daemon=True
            )
            with self._lock:
                self._clients = {t for t in self._clients if t.is_alive()}
                self._clients.add(thread)
            thread.start()

    def _serve(self, client: socket.socket) -> None:
        with client:
            try:
                client.settimeout(_READ_TIMEOUT)
                line = _read_line(client)
                answer = self.answer(line)
                client.settimeout(_READ_TIMEOUT)
                client.sendall(json.dumps(answer).encode() + b"\n")
            except (OSError, OucError) as exc:
                log.info("control client failed: %s", exc)

    def answer(self, line: bytes) -> dict[str, Any]:
        """The answer to one request line (errors become ``ok: false`` answers)."""
        try:
            try:
                request = json.loads(line)
            except (UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise ConfigError(f"the request is not JSON: {exc}", path="control") from exc
            if not isinstance(request, dict):
                raise ConfigError("the request is not a JSON object", path="control")
            return {"ok": True, **self._do(request)}
        except OucError as exc:
            return {
                "ok": False,
                "error": type(exc).__name__,
                "message": exc.message,
                "status": exc.status,
                "path": exc.path,
            }

    def _do(self, request: dict[str, Any]) -> dict[str, Any]:
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
    text = _check_path(Path(path))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        try:
            sock.connect(text)
        except OSError as exc:
            raise ConfigError(
                f"no channel answers here ({exc.strerror or exc}); is 'ouc channel run' running?",
                path=text,
            ) from exc
        try:
            sock.sendall(json.dumps(request).encode() + b"\n")
            line = _read_line(sock)
        except OSError as exc:
            raise ConfigError(f"the channel did not answer: {exc}", path=text) from exc
    finally:
        sock.close()
    try:
        answer = json.loads(line)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError("the channel's answer is not JSON", path=text) from exc
    if not isinstance(answer, dict):
        raise ConfigError("the channel's answer is not a JSON object", path=text)
    if not answer.get("ok"):
        cls = _ERRORS.get(str(answer.get("error")), OucError)
        raise cls(
            str(answer.get("message")),
            status=answer.get("status"),
            path=answer.get("path"),
        )
    return answer
